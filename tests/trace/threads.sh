#!/bin/sh
# A multi-threaded program (trace=all): one valid trace with a thread start
# and a thread exit event for each of 4 threads, and allocations from all
# five threads.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run,trace=all" "$tracee" threads 4
[ $status -eq 0 ] || fail "tracee threads exited $status: $(cat "$work/err")"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --strict-modules --first-frame-main --count start=1
starts=$(grep -c '"ev":"thread".*"op":"start"' "$f")
exits=$(grep -c '"ev":"thread".*"op":"exit"' "$f")
# the main thread's start, and the 4 threads' start and exit
[ "$starts" -eq 5 ] || fail "$starts thread start events, expected 5"
[ "$exits" -ge 4 ] || fail "$exits thread exit events, expected 4"
tids=$(grep '"ev":"alloc"' "$f" | sed 's/.*"tid":\([0-9]*\).*/\1/' | sort -u | wc -l)
[ "$tids" -ge 4 ] || fail "allocations from $tids threads, expected at least 4"
finish
