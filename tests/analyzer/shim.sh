# shim.sh: end to end with the real shim: `refsweep run` on a program with
# known leaks (tests/analyzer/leaky), then `report -f json` as the
# acceptance tests read it. Skipped when the shim is not built.
. "$top_srcdir/tests/analyzer/lib.sh"

REAL="$top_builddir/.libs/librefsweep.so"
LEAKY="$top_builddir/tests/analyzer/leaky"
[ -r "$REAL" ] || { echo "SKIP: $REAL not built"; exit 77; }

rc 23 "$RS" run -o "$T/r" -- "$LEAKY"
t "report on stderr" has "$T/err" "^SUMMARY: "
rc 0 "$RS" report -f json "$T/r"
cp "$T/out" "$T/r.json"
t "two processes, both exited 0" jq -e '(.processes | length) == 2 and all(.processes[]; .exit_status == 0)' "$T/r.json"
t "leak before fork counted once" jq -e '[.leaks[] | select(.stack[0].function == "leak_definite")]
  | length == 1 and .[0].kind == "definite" and .[0].bytes == 100 and .[0].blocks == 1' "$T/r.json"
t "child's own leak" jq -e '[.leaks[] | select(.stack[0].function == "child_leak")]
  | length == 1 and .[0].bytes == 200' "$T/r.json"
t "the cycle, as a unit" jq -e '.summary.cycle.blocks >= 2 and
  any(.cycles[]; (.members | length) == 2 and all(.members[]; .stack[0].function == "make_pair"))' "$T/r.json"
t "frames carry file and line" jq -e 'all(.leaks[]; .stack[0].file != null and .stack[0].line > 0
  and (.stack[0].file | endswith("leaky.c")))' "$T/r.json"
rc 7 "$RS" run -q -o "$T/r7" -- "$LEAKY" 7
finish
