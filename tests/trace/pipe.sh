#!/bin/sh
# Output to a pipe (fd=3): a reader that exits early neither kills the
# program (no SIGPIPE) nor stalls it, and the loss is said once; a reader
# that stops reading does not stall it past the bounded wait at exit.
. "$top_srcdir/tests/trace/lib.sh"
REFSWEEP_OPTIONS=fd=3,trace=all timeout 20 sh -c \
	'LD_PRELOAD="$4" "$0" spam 300000 3>&1 >"$1" 2>"$2"; echo $? >"$3"' \
	"$tracee" "$work/out" "$work/err" "$work/status" "$shim" | head -c 1000 >/dev/null
[ "$(cat "$work/status")" = 0 ] || fail "program status $(cat "$work/status") with an early-exiting reader"
grep -q "tracee spam done" "$work/out" || fail "program did not finish"
[ "$(grep -c 'refsweep: ' "$work/err")" -eq 1 ] || fail "expected one notice: $(cat "$work/err")"
grep -q EPIPE "$work/err" || fail "notice does not say EPIPE: $(cat "$work/err")"

# A reader that never reads: the program ends within seconds anyway.
start=$(date +%s)
REFSWEEP_OPTIONS=fd=3,trace=all timeout 20 sh -c \
	'LD_PRELOAD="$5" "$0" spam 300000 3>&1 >"$1" 2>"$2"; echo $? >"$3"; date +%s >"$4"' \
	"$tracee" "$work/out" "$work/err" "$work/status" "$work/end" "$shim" | sleep 5
[ "$(cat "$work/status")" = 0 ] || fail "program status $(cat "$work/status") with a stalled reader"
took=$(( $(cat "$work/end") - start ))
[ "$took" -le 3 ] || fail "program took ${took}s with a stalled reader (bound: flush wait 1s)"
finish
