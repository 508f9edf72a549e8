#!/bin/sh
# Every case of host-check, with and without the shim sweeping every 10 ms,
# must print the same stdout and stderr and exit the same way; the cases
# that block, fork or use threads run once more under `strace -f`, where
# the shim cannot use ptrace to stop the world.
set -u
prog="$top_builddir/tests/host/host-check"
shim="$top_builddir/.libs/librefsweep.so"
[ -x "$prog" ] && [ -f "$shim" ] || { echo "host: not built" >&2; exit 99; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-host.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

compare() { # name, then the command for the shim side
	name=$1; shift
	"$prog" "$case" >"$work/n.out" 2>"$work/n.err"; echo $? >"$work/n.st"
	REFSWEEP_OPTIONS="dir=$work/traces,sweep_interval_ms=10" "$@" \
		>"$work/s.out" 2>"$work/s.err"; echo $? >"$work/s.st"
	if [ -n "${allow_race:-}" ] && ! cmp -s "$work/n.out" "$work/s.out"; then
		# The signal fallback's one documented race (docs/sweep.md,
		# "EINTR"): a thread entering nanosleep or poll in the
		# microseconds between the /proc check and the stop signal sees
		# EINTR. Everything else must still match.
		grep -v '^EINTR in nanosleep or poll:' "$work/s.out" >"$work/s.tmp"
		grep -v '^EINTR in nanosleep or poll:' "$work/n.out" >"$work/n.tmp"
		if cmp -s "$work/n.tmp" "$work/s.tmp"; then
			echo "note: $name: $(grep '^EINTR in nanosleep' "$work/s.out") (the documented race)" >&2
			mv "$work/s.tmp" "$work/s.out"; mv "$work/n.tmp" "$work/n.out"
		fi
	fi
	if cmp -s "$work/n.out" "$work/s.out" && cmp -s "$work/n.err" "$work/s.err" &&
	   cmp -s "$work/n.st" "$work/s.st"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name" >&2
		for f in out err st; do
			diff "$work/n.$f" "$work/s.$f" >&2 | head -10
		done
	fi
}

for case in $("$prog" list); do
	compare "$case" env LD_PRELOAD="$shim" "$prog" "$case"
done
if command -v strace >/dev/null 2>&1; then
	allow_race=1
	for case in blocking fork_threads children; do
		compare "$case under strace -f" strace -f -qq -o /dev/null \
			env LD_PRELOAD="$shim" "$prog" "$case"
	done
	allow_race=""
else
	echo "host: strace not installed: traced cases skipped" >&2
fi
echo "host: $pass passed, $fail failed" >&2
[ $fail -eq 0 ]
