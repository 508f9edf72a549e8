#!/bin/sh
# Real programs from the distribution give the same stdout and exit status
# with the shim preloaded as without it. REFSWEEP_REAL_MODE picks the shim's
# options: "plain" (defaults) or "sweep10ms" (a sweep every 10 ms).
# A program that is not installed is a failure in CI (.ci/run installs them
# all) and a skip elsewhere, said once on stderr.
set -u
srcdir="$top_srcdir/tests/real"
shim="$top_builddir/.libs/librefsweep.so"
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-real.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -f "$shim" ] || { echo "real-programs: shim not built: $shim" >&2; exit 99; }
mode=${REFSWEEP_REAL_MODE:-plain}
case $mode in
	plain) opts="dir=$work/traces" ;;
	sweep10ms) opts="dir=$work/traces,sweep_interval_ms=10" ;;
	*) echo "real-programs: unknown mode $mode" >&2; exit 99 ;;
esac
pass=0 fail=0 skip=0

# run NAME COMMAND...: runs the command twice (native, shim) in fresh
# copies of the same directory and compares stdout and status.
run() {
	name=$1; shift
	if ! command -v "$1" >/dev/null 2>&1; then
		if [ -n "${CI:-}" ]; then
			echo "FAIL: $name: $1 not installed" >&2; fail=$((fail + 1))
		else
			echo "SKIP: $name: $1 not installed" >&2; skip=$((skip + 1))
		fi
		return
	fi
	for side in native shim; do
		rm -rf "$work/$side"; mkdir -p "$work/$side"
		cp "$srcdir"/workload.* "$work/$side/"
		if [ $side = shim ]; then
			(cd "$work/$side" && LD_PRELOAD="$shim" REFSWEEP_OPTIONS="$opts" "$@") \
				>"$work/$side.out" 2>"$work/$side.err" </dev/null
		else
			(cd "$work/$side" && "$@") >"$work/$side.out" 2>"$work/$side.err" </dev/null
		fi
		echo $? >"$work/$side.status"
	done
	if cmp -s "$work/native.out" "$work/shim.out" &&
	   cmp -s "$work/native.status" "$work/shim.status"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name ($mode): status $(cat "$work/native.status") vs $(cat "$work/shim.status")" >&2
		diff "$work/native.out" "$work/shim.out" | head -20 >&2
		head -20 "$work/shim.err" >&2
	fi
}

export PYTHONMALLOC=malloc PYTHONHASHSEED=0
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t
export GIT_COMMITTER_EMAIL=t@example.invalid GIT_AUTHOR_DATE='2026-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 HOME="$work"

run python3 /usr/bin/python3 workload.py
run perl perl -e 'my %h; for my $i (1..50000) { $h{"k$i"} = [$i, "v" x ($i % 40)] }
	my @k = sort { $h{$a}[0] <=> $h{$b}[0] } keys %h; my $s = 0; $s += length($h{$_}[1]) for @k;
	my $r = { self => undef }; $r->{self} = $r; print scalar(@k), " $s\n"; exit 3'
run sqlite3 sh -c 'sqlite3 db.sqlite < workload.sql && sqlite3 db.sqlite "PRAGMA integrity_check"'
run gcc sh -c 'gcc -O2 -g0 -o prog workload.c && ./prog && gcc -O2 -g0 -c -o w.o workload.c && od -An -tx1 w.o | md5sum'
run git sh -c 'git init -q -b main r && cd r && cp ../workload.* . && git add . &&
	git commit -qm "first" && echo more >>workload.c && git commit -qam second &&
	git log --format="%H %s" && git status --short && git gc -q && git fsck 2>&1 | wc -l'
run bash bash -c 'set -o pipefail; f() { local x; x=$(seq 1 200 | paste -sd+ | bc 2>/dev/null || seq 1 200 | awk "{s+=\$1} END {print s}"); echo "$x"; };
	f; echo $( (echo a; (echo b; echo c) | tr a-z A-Z) | sort -r | head -2 ); for i in 1 2 3; do (exit $i) || echo "sub $?"; done;
	{ echo x; false; } | cat; echo "pipe $?"; exit 4'
run tclsh sh -c 'echo "set d [dict create]; for {set i 0} {\$i < 30000} {incr i} { dict set d k\$i [string repeat x [expr {\$i % 50}]] };
	puts [dict size \$d]; puts [string length [join [lsort [dict keys \$d]] ,]]" | tclsh'

echo "real-programs ($mode): $pass passed, $fail failed, $skip skipped" >&2
[ $fail -eq 0 ] || exit 1
[ $pass -gt 0 ] || exit 77
exit 0
