#!/bin/sh
# Smoke test of bench/compare: every workload builds and runs at a tiny size
# natively and under the shim with default options, gives the same output
# both ways, and its sweeps are read from the trace. compare exits 1 when a
# run under refsweep (or natively) fails or changes the output.
set -u
if [ ! -x /usr/bin/python3 ] || ! command -v gcc >/dev/null 2>&1; then
	echo "compare-quick: needs /usr/bin/python3 and gcc" >&2
	exit 77
fi
out=$(mktemp "${TMPDIR:-/tmp}/rs-compare-quick.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT
/usr/bin/python3 "$top_srcdir/bench/compare" --quick --builddir "$top_builddir" >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || exit 1
# The leak-check workload must have been swept through rs_collect: its row
# under refsweep reports sweeps and what the check returned.
grep -q '^sweep-1e5 *refsweep .*check returned' "$out" || {
	echo "compare-quick: no rs_collect result in the sweep-1e5 row" >&2
	exit 1
}
exit 0
