#!/bin/sh
# Blocks a program never writes must not point anywhere: three dropped
# malloc(16) are three definite leaks, and the cycle allocated after them is
# a cycle. The arena's free-list link lives in the first word of a free
# slot; were it left there when the slot is handed out, it would point at
# the next free slot, usually the next block allocated, and a conservative
# scan cannot tell it from a pointer the program stored.
: "${top_builddir:=.}"
prog="$top_builddir/tests/sweep/known"
rs="$top_builddir/refsweep"
work="$top_builddir/tests/traces/untouched.$$"
command -v python3 >/dev/null 2>&1 || exit 77
[ -x "$prog" ] && [ -x "$rs" ] || { echo "untouched: not built" >&2; exit 99; }
rm -rf "$work" && mkdir -p "$work"
timeout 60 "$rs" run -o "$work/t" -- "$prog" untouched >/dev/null 2>&1
got=$("$rs" report -f json "$work/t" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
print(" ".join(str(s[k]["blocks"]) for k in ("definite", "indirect", "cycle", "possible")))')
rm -rf "$work"
echo "untouched: got '$got', want '3 0 2 0' (definite indirect cycle possible)"
[ "$got" = "3 0 2 0" ]
