#!/bin/sh
# The whole test suite: installs what is missing, builds, runs `make check`
# in _build/ and ends with one line "N passed, N failed". See README.md.
. "$(dirname "$0")/scripts/setup.sh"
cd "$build"
set +e
make -j2 check >"$build/check.out" 2>&1
status=$?
set -e
grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP|XFAIL):' "$build/check.out" || true
# Automake's summary says how many of each; failures print their logs.
count() { sed -n "s/^# $1: *//p" "$build/check.out" | tail -n 1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); xpass=$(count XPASS)
skip=$(count SKIP)
pass=${pass:-0}; fail=$((${fail:-0} + ${err:-0} + ${xpass:-0}))
if [ "$status" != 0 ] && [ "$fail" = 0 ]; then
	# make itself failed (a build error): show it and count it.
	tail -n 40 "$build/check.out" >&2
	fail=1
fi
for log in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find tests bench -name '*.trs' 2>/dev/null) 2>/dev/null); do
	echo "---- ${log%.trs}.log" >&2
	tail -n 30 "${log%.trs}.log" >&2
done
echo "${pass} passed, ${fail} failed, ${skip:-0} skipped"
[ "$fail" = 0 ]
