#!/bin/sh
# trace=all: one alloc and one free event per malloc/free pair, one realloc
# event per realloc, each stack
# emitted before the first alloc that names it, nothing dropped on a file;
# a process killed by SIGKILL leaves a readable trace.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run,trace=all" "$tracee" spam 20000
[ $status -eq 0 ] || fail "status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --expect alloc --expect free --pairs
allocs=$(grep -c '"ev":"alloc"' "$f")
frees=$(grep -c '"ev":"free"' "$f")
[ "$allocs" -ge 20000 ] || fail "$allocs alloc events for 20000 mallocs"
[ "$frees" -ge 20000 ] || fail "$frees free events for 20000 frees"
[ "$(get "$f" exit.events_dropped)" = 0 ] || fail "events dropped on a file: $(get "$f" exit.events_dropped)"

# realloc events name both addresses; the validator checks their stacks.
rm -rf "$work/run"
run_shim "dir=$work/run,trace=all" "$tracee" grow 2000
[ $status -eq 0 ] || fail "grow: status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --expect realloc --pairs
n=$(grep -c '"ev":"realloc"' "$f")
[ "$n" -eq 2000 ] || fail "$n realloc events for 2000 reallocs"

# Killed without warning in the middle of it: every line but a last one cut
# by the kill is whole and valid.
rm -rf "$work/run"
REFSWEEP_OPTIONS="dir=$work/run,trace=all" LD_PRELOAD="$shim" \
	"$tracee" spam 1000000000 >/dev/null &
pid=$!
# a few MiB into it (a bigger trace only makes validating slower)
for i in $(seq 100); do
	[ "$(cat "$work"/run/*.rsj 2>/dev/null | wc -c)" -gt 4000000 ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null
f=$work/run/$(traces "$work/run" | head -1)
[ -s "$f" ] || fail "killed process left no trace"
valid "$f" --expect alloc --allow-truncated
finish
