#!/bin/sh
# trace=all: one alloc and one free event per malloc/free pair, each stack
# emitted before the first alloc that names it, nothing dropped on a file.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run,trace=all" "$tracee" spam 20000
[ $status -eq 0 ] || fail "status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --expect alloc --expect free
allocs=$(grep -c '"ev":"alloc"' "$f")
frees=$(grep -c '"ev":"free"' "$f")
[ "$allocs" -ge 20000 ] || fail "$allocs alloc events for 20000 mallocs"
[ "$frees" -ge 20000 ] || fail "$frees free events for 20000 frees"
[ "$(get "$f" exit.events_dropped)" = 0 ] || fail "events dropped on a file: $(get "$f" exit.events_dropped)"
finish
