#!/bin/sh
# Known answers for every class and root kind (tests/sweep/known.c), read
# the way the acceptance tests read them: `refsweep run -o DIR` then
# `refsweep report -f json DIR`. Then the same programs under valgrind and
# LeakSanitizer, whose totals must agree where their definitions agree
# (docs/sweep.md explains each difference); a peer that is not installed is
# skipped with a note. Also: the signal fallback, and a run under strace -f.
: "${top_builddir:=.}" "${top_srcdir:=.}"
prog="$top_builddir/tests/sweep/known"
rs="$top_builddir/refsweep"
shim="$top_builddir/.libs/librefsweep.so"
work="$top_builddir/tests/traces/known.$$"
fail=0

command -v python3 >/dev/null 2>&1 || { echo "known: python3 needed to read JSON" >&2; exit 77; }
[ -x "$prog" ] && [ -x "$rs" ] && [ -f "$shim" ] || { echo "known: not built" >&2; exit 99; }
rm -rf "$work" && mkdir -p "$work"

# summary DIR -> "definite indirect cycle possible" (blocks)
summary() {
	"$rs" report -f json "$1" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
print(" ".join(str(s[k]["blocks"]) for k in ("definite", "indirect", "cycle", "possible")))'
}

# expect SCENARIO "D I C P" [ENV...]
expect() {
	scen=$1 want=$2
	shift 2
	dir="$work/${scen%% *}.$#"
	env "$@" timeout 60 "$rs" run -o "$dir" -- "$prog" $scen >/dev/null 2>&1
	got=$(summary "$dir")
	if [ "$got" = "$want" ]; then
		echo "ok   $scen $* -> $got"
	else
		echo "FAIL $scen $* -> got '$got', want '$want' (definite indirect cycle possible)"
		fail=1
	fi
	# No sweep may be partial in these programs.
	if grep -h '"ev":"sweep"' "$dir"/*.rsj | grep -q '"partial":true'; then
		echo "FAIL $scen $*: a partial sweep"
		fail=1
	fi
}

expect classes "4 6 18 3"
expect exit-local "1 0 0 0"
expect return-local "2 0 0 0"
expect tls "1 0 0 0"
expect threads "4 0 0 0"
expect dead-stack "2 0 0 0"
expect regions "1 0 0 0"
expect api "2 0 0 0"
expect fork "2 0 0 0"
expect pthread-exit "3 0 0 0"
expect altstack "1 0 0 0"
dlib="$top_builddir/tests/sweep/.libs/libknown-dl.so"
expect "dlopen $dlib" "1 0 0 0"
# The fallback stop, forced.
expect classes "4 6 18 3" REFSWEEP_OPTIONS=stop=signal
expect threads "4 0 0 0" REFSWEEP_OPTIONS=stop=signal

# ptrace stops a thread that blocks every signal; the signal fallback
# cannot, and then the sweep is partial, says why, and reports nothing.
expect deaf "1 0 0 0"
dir="$work/deaf-signal"
REFSWEEP_OPTIONS=stop=signal timeout 60 "$rs" run -o "$dir" -- "$prog" deaf >/dev/null 2>&1
got=$(summary "$dir")
if [ "$got" = "0 0 0 0" ] &&
   grep -h '"ev":"sweep"' "$dir"/*.rsj | grep -q '"partial":true,"reason":"a thread blocks the stop signal"'; then
	echo "ok   deaf stop=signal -> partial, nothing reported"
else
	echo "FAIL deaf stop=signal -> '$got'"; grep -h '"ev":"sweep"' "$dir"/*.rsj; fail=1
fi

# The API scenario's own view: collect found the three hidden blocks, the
# reference count is exact, and the one freed later is a late free.
out=$(REFSWEEP_OPTIONS=dir=$work/api-out LD_PRELOAD=$shim timeout 60 "$prog" api 2>/dev/null)
for line in "collect 3" "refcount start>=2 yes interior 1 one more yes" "sweeps 1 unreachable 3"; do
	case "$out" in
	*"$line"*) echo "ok   api prints '$line'" ;;
	*) echo "FAIL api: no '$line' in: $out"; fail=1 ;;
	esac
done
if grep -h '"ev":"late_free"' "$work"/api-out/*.rsj | grep -q '"kind":"definite","sweep":1'; then
	echo "ok   api late_free event"
else
	echo "FAIL api: no late_free event"; fail=1
fi
# The fork child lists its parent's block as inherited, with its address.
if grep -h '"inherited":true' "$work"/fork.0/*.rsj | grep -q '"addresses":\["0x'; then
	echo "ok   fork child's inherited group"
else
	echo "FAIL fork: no inherited group in the child's trace"; fail=1
fi

# Under strace -f ptrace is taken: the sweep says it used the fallback.
if command -v strace >/dev/null 2>&1; then
	dir="$work/strace"
	timeout 60 strace -f -o /dev/null "$rs" run -o "$dir" -- "$prog" threads >/dev/null 2>&1
	got=$(summary "$dir")
	if [ "$got" = "4 0 0 0" ] && grep -q '"stop":"signal"' "$dir"/*.rsj; then
		echo "ok   threads under strace -f -> $got, stop=signal"
	else
		echo "FAIL threads under strace -f -> '$got'"; fail=1
	fi
else
	echo "skip strace -f: strace is not installed"
fi

# Peers. valgrind's definitely+indirectly lost is our definite+indirect+
# cycle, its possibly lost our possible; LeakSanitizer counts interior
# pointers as references, so its leaks are our unreachable blocks.
vg_counts() {
	timeout 120 valgrind --leak-check=full "$prog" "$1" "$dlib" 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
def n(k):
    m = re.search(k + r": [\d,]+ bytes in ([\d,]+) blocks", t)
    return int(m.group(1).replace(",", "")) if m else -1
print(n("definitely lost") + n("indirectly lost"), n("possibly lost"))'
}
lsan_count() {
	LD_PRELOAD=liblsan.so.0 timeout 60 "$prog" "$1" "$dlib" 2>&1 | python3 -c '
import re, sys
m = re.search(r"leaked in (\d+) allocation", sys.stdin.read())
print(m.group(1) if m else 0)'
}
# scenario, unreachable blocks, possible blocks (valgrind), as refsweep says
for row in "classes 28 3" "exit-local 1 -" "return-local 2 -" "tls 1 -" "threads 4 -" "dead-stack 2 -" "dlopen 1 -" "altstack 1 -"; do
	set -- $row
	if command -v valgrind >/dev/null 2>&1; then
		got=$(vg_counts "$1")
		lost=${got% *} poss=${got#* }
		if [ "$lost" = "$2" ] && { [ "$3" = - ] || [ "$poss" = "$3" ]; }; then
			echo "ok   valgrind agrees on $1: $lost lost, ${poss} possible"
		else
			echo "FAIL valgrind on $1: lost $lost possible $poss, refsweep $2 $3"; fail=1
		fi
	else
		echo "skip valgrind: not installed"
	fi
	if [ -e /usr/lib/x86_64-linux-gnu/liblsan.so.0 ] || ldconfig -p 2>/dev/null | grep -q liblsan.so.0; then
		got=$(lsan_count "$1")
		if [ "$got" = "$2" ]; then
			echo "ok   LeakSanitizer agrees on $1: $got"
		else
			echo "FAIL LeakSanitizer on $1: $got, refsweep $2"; fail=1
		fi
	else
		echo "skip LeakSanitizer: liblsan.so.0 not installed"
	fi
done

[ $fail = 0 ] && rm -rf "$work"
exit $fail
