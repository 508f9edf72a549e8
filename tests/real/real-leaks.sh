#!/bin/sh
# refsweep's leak counts on real programs agree with the peers':
#   perl -e 'print 1': definite + cycle blocks and bytes equal valgrind's
#     "definitely lost" (valgrind names one member of a cycle "definitely
#     lost"), and indirect equals valgrind's "indirectly lost";
#   gcc --version: definite blocks and bytes equal LeakSanitizer's total;
#   sort -n, tr, tar xzf (coreutils and tar leak a few blocks at exit, some
#     of them holding others): definite blocks and bytes equal valgrind's
#     "definitely lost" and LeakSanitizer's direct leaks, indirect equal
#     "indirectly lost" and LeakSanitizer's indirect leaks
#     (tests/real/crosscheck.sh found these exact and stable).
# A peer that is not installed fails in CI and is skipped elsewhere.
set -u
rs="$top_builddir/refsweep"
[ -x "$rs" ] || { echo "real-leaks: refsweep not built" >&2; exit 99; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-leaks.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 skip=0
lsan=/usr/lib/x86_64-linux-gnu/liblsan.so.0

need() {
	if command -v "$1" >/dev/null 2>&1 || [ -e "$1" ]; then return 0; fi
	if [ -n "${CI:-}" ]; then echo "FAIL: $1 not installed" >&2; fail=$((fail + 1))
	else echo "SKIP: $1 not installed" >&2; skip=$((skip + 1)); fi
	return 1
}

# summary FIELD...: blocks and bytes of the sum of the named classes
summary() {
	"$rs" report -f json "$work/t" | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
print(sum(s[k]["blocks"] for k in sys.argv[1:]), sum(s[k]["bytes"] for k in sys.argv[1:]))' "$@"
}

check() { # what, got, want
	if [ "$2" = "$3" ]; then pass=$((pass + 1))
	else fail=$((fail + 1)); echo "FAIL: $1: refsweep '$2', peer '$3'" >&2; fi
}

valgrind_lost() { # label, command...
	label=$1; shift
	valgrind --leak-check=full "$@" 2>&1 >/dev/null | sed -n "s/.*$label: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p" | tr -d , | head -n 1
}

if need perl && need valgrind; then
	rm -rf "$work/t"
	"$rs" run -q -o "$work/t" -- perl -e 'print 1' >/dev/null 2>&1
	check "perl definite+cycle" "$(summary definite cycle)" "$(valgrind_lost 'definitely lost' perl -e 'print 1')"
	check "perl indirect" "$(summary indirect)" "$(valgrind_lost 'indirectly lost' perl -e 'print 1')"
fi
if need gcc && need "$lsan"; then
	rm -rf "$work/t"
	"$rs" run -q -o "$work/t" -- gcc --version >/dev/null 2>&1
	want=$(LD_PRELOAD="$lsan" gcc --version 2>&1 >/dev/null |
		sed -n 's/.*LeakSanitizer: \([0-9]*\) byte(s) leaked in \([0-9]*\) allocation.*/\2 \1/p')
	check "gcc definite" "$(summary definite)" "${want:-0 0}"
fi
# lsan_lost KIND, command...: blocks and bytes of LeakSanitizer's KIND
# ("Direct" or "Indirect") leaks over every process of the command. The
# report goes to log_path files: coreutils close stderr before exiting.
lsan_lost() {
	kind=$1; shift
	rm -f "$work"/lsan.*
	LD_PRELOAD="$lsan" LSAN_OPTIONS="exitcode=0:log_path=$work/lsan" "$@" >/dev/null 2>&1
	cat "$work"/lsan.* 2>/dev/null |
		sed -n "s/^$kind leak of \([0-9]*\) byte(s) in \([0-9]*\) object.*/\2 \1/p" |
		awk '{ n += $1; b += $2 } END { print n + 0, b + 0 }'
}

printf '%s\n' 3 banana 10 1 >"$work/data.txt"
mkdir "$work/tree" && cp "$work/data.txt" "$work/tree/" &&
	(cd "$work" && tar czf tree.tgz tree) && rm -rf "$work/tree"
for c in "sort -n data.txt" "tr a-z A-Z" "tar xzf tree.tgz"; do
	set -- $c
	need "$1" && need valgrind && need "$lsan" || continue
	cd "$work" || exit 99
	rm -rf "$work/t" "$work/tree"
	"$rs" run -q -o "$work/t" -- "$@" <data.txt >/dev/null 2>&1
	rm -rf "$work/tree"
	check "$1 definite+cycle" "$(summary definite cycle)" "$(valgrind_lost 'definitely lost' "$@" <data.txt)"
	check "$1 indirect" "$(summary indirect)" "$(valgrind_lost 'indirectly lost' "$@" <data.txt)"
	rm -rf "$work/tree"
	check "$1 definite (LeakSanitizer)" "$(summary definite)" "$(lsan_lost Direct "$@" <data.txt)"
	rm -rf "$work/tree"
	check "$1 indirect+cycle (LeakSanitizer)" "$(summary indirect cycle)" "$(lsan_lost Indirect "$@" <data.txt)"
	cd - >/dev/null || exit 99
done
echo "real-leaks: $pass passed, $fail failed, $skip skipped" >&2
[ $fail -eq 0 ] || exit 1
[ $pass -gt 0 ] || exit 77
