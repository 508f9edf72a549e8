#!/bin/sh
# The bench program as a correctness test, small enough for make check:
# 100000 blocks (marked in place) and 300000 (marked in a forked snapshot).
# Each sweep must find exactly the lost blocks, and a lost block freed
# afterwards must be a late free. Prints the sweep figures.
: "${top_builddir:=.}"
prog="$top_builddir/tests/sweep/bench-sweep"
rs="$top_builddir/refsweep"
work="$top_builddir/tests/traces/bench.$$"
fail=0
[ -x "$prog" ] && [ -x "$rs" ] || { echo "bench: not built" >&2; exit 99; }
rm -rf "$work" && mkdir -p "$work"
for n in 100000 300000; do
	out=$(REFSWEEP_OPTIONS=sweep_growth=0 timeout 120 "$rs" run -o "$work/$n" -- "$prog" $n 2>/dev/null)
	echo "$out"
	# run exits 23 (leaks found); the program's own verdict is its output.
	good=$(echo "$out" | grep -c ", $((n / 1000)) unreachable$")
	[ "$good" = 3 ] || { echo "FAIL $n: wrong unreachable counts"; fail=1; }
	grep -h '"ev":"sweep"' "$work"/$n/*.rsj | grep -o '"trigger":"[a-z]*","pause_ns":[0-9]*,"duration_ns":[0-9]*,"cpu_ns":[0-9]*'
	if grep -h '"ev":"late_free"' "$work"/$n/*.rsj | grep -q '"kind":"definite"'; then
		echo "ok   $n: late free"
	else
		echo "FAIL $n: no late free"; fail=1
	fi
done
[ $fail = 0 ] && rm -rf "$work"
exit $fail
