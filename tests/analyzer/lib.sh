# lib.sh: shared by the analyzer's tests (sourced). Paths to the programs,
# a scratch directory removed on exit, and assertion helpers that count
# passes and failures; `finish` prints "N passed, N failed" and sets the
# exit status. `RS_VALGRIND=1 make check` runs refsweep under valgrind.
set -u
: "${top_builddir:?run through make check}" "${top_srcdir:?}"
RS="$top_builddir/refsweep"
TG="$top_builddir/tests/analyzer/tracegen"
SHIM="$top_builddir/tests/analyzer/.libs/libfakeshim.so"
GOLDEN="$top_srcdir/tests/analyzer/golden"
T=$(mktemp -d "${TMPDIR:-/tmp}/rs-analyzer.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
unset NO_COLOR GITHUB_ACTIONS GITHUB_WORKSPACE REFSWEEP_OPTIONS LD_PRELOAD
export LC_ALL=C
# An --enable-asan refsweep must accept the LD_PRELOAD a test hands it.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS
passes=0
fails=0

command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }

# RS_VALGRIND=1 runs every refsweep under valgrind memcheck: an error or
# a definite/indirect leak in the analyzer becomes exit 99 and fails.
RS_BIN="$RS"
if [ -n "${RS_VALGRIND:-}" ]; then
	command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
	cat >"$T/refsweep-vg" <<EOF
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect "$RS_BIN" "\$@"
EOF
	chmod +x "$T/refsweep-vg"
	RS="$T/refsweep-vg"
fi

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# t DESCRIPTION COMMAND...: the command must succeed.
t() {
	local d=$1; shift
	if "$@" >/dev/null; then pass; else fail "$d"; fi
}

# rc WANT COMMAND...: runs COMMAND (bounded in time), output in $T/out and
# $T/err; checks its exit status.
rc() {
	local want=$1 got; shift
	timeout 60 "$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		pass
	else
		fail "$* exited $got, expected $want; stderr: $(head -c 600 "$T/err")"
	fi
}

# has FILE PATTERN: FILE contains the extended regex.
has() { grep -Eq -- "$2" "$1" || { echo "  ($1 lacks /$2/)" >&2; return 1; }; }

# same GOT WANT: files equal (shows the diff).
same() { diff -u "$2" "$1" >&2; }

# jqv FILE FILTER: prints jq's raw result.
jqv() { jq -r "$2" "$1"; }

not_colored() { ! grep -q "$(printf "\033")" "$1"; }

finish() {
	echo "$passes passed, $fails failed"
	[ "$fails" -eq 0 ]
}
