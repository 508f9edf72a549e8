#!/bin/sh
# Sweeps every 10 ms leave blocked threads undisturbed (tests/sweep/quiet.c):
# no EINTR anywhere, every blocking thread wakes when told, timed waits keep
# their period, and the sweeps did run. Then the same with rs_collect() every
# 10 ms (full stops): still no EINTR.
: "${top_builddir:=.}"
prog="$top_builddir/tests/sweep/quiet"
rs="$top_builddir/refsweep"
work="$top_builddir/tests/traces/quiet.$$"
fail=0
[ -x "$prog" ] && [ -x "$rs" ] || { echo "quiet: not built" >&2; exit 99; }
rm -rf "$work" && mkdir -p "$work"

out=$(REFSWEEP_OPTIONS=sweep_interval_ms=10 timeout 60 "$rs" run -o "$work/p" -- "$prog" 1.5 2>/dev/null)
st=$?
echo "$out"
[ $st = 0 ] || { echo "FAIL periodic: EINTR seen or a thread did not wake (status $st)"; fail=1; }
sweeps=$(cat "$work"/p/*.rsj | grep -c '"ev":"sweep"')
[ "$sweeps" -ge 20 ] || { echo "FAIL periodic: only $sweeps sweeps"; fail=1; }
# 1.5 s of 50 ms timeouts is 30 rounds; sweeps must not stretch them.
rounds=$(echo "$out" | sed -n 's/^epoll_wait eintr [0-9]* rounds \([0-9]*\).*/\1/p')
[ "${rounds:-0}" -ge 20 ] || { echo "FAIL periodic: epoll_wait timed out only ${rounds:-0} times"; fail=1; }
echo "periodic: $sweeps sweeps, epoll_wait $rounds rounds"

out=$(timeout 60 "$rs" run -o "$work/a" -- "$prog" 1 api 2>/dev/null)
st=$?
echo "$out"
[ $st = 0 ] || { echo "FAIL api: EINTR seen or a thread did not wake (status $st)"; fail=1; }
sweeps=$(cat "$work"/a/*.rsj | grep -c '"ev":"sweep"')
[ "$sweeps" -ge 10 ] || { echo "FAIL api: only $sweeps sweeps"; fail=1; }
if grep -h '"ev":"sweep"' "$work"/a/*.rsj | grep -q '"partial":true'; then
	echo "FAIL api: a full stop was partial"; fail=1
fi

[ $fail = 0 ] && rm -rf "$work"
exit $fail
