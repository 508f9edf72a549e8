# report.sh: `report -f json` and `-f text` on traces of a program with
# known leaks (tracegen), against golden files: classes, sizes, grouping,
# symbolized top frames, cycles, late frees, fork and exec trees.
. "$top_srcdir/tests/analyzer/lib.sh"

norm() { jq -S -f "$top_srcdir/tests/analyzer/norm.jq" "$1"; }

for scen in basic fork exec; do
	rc 23 "$RS" run -q --shim "$SHIM" -o "$T/$scen" -- "$TG" "$scen"
	rc 0 "$RS" report -f json "$T/$scen"
	norm "$T/out" >"$T/$scen.norm"
	t "golden $scen.json" same "$T/$scen.norm" "$GOLDEN/$scen.json"
done

# The SPEC.md names, exactly.
rc 0 "$RS" report -f json "$T/basic"
t "SPEC.md shape" jq -e '
  (.summary | keys) as $k | ["cycle","definite","indirect","possible","reachable","suppressed"] - $k == []
  and ([.summary[] | .blocks, .bytes | numbers] | length) >= 12
  and all(.leaks[]; (.kind | test("^(definite|indirect|cycle|possible)$")) and (.blocks|type)=="number"
      and (.bytes|type)=="number" and all(.stack[]; (.address | test("^0x[0-9a-f]+$"))
      and has("function") and has("file") and has("line") and has("module")))
  and all(.processes[]; has("pid") and has("exe") and has("exit_status"))' "$T/out"
t "biggest first" jq -e '[.leaks[].bytes] as $b | $b == ($b | sort | reverse)' "$T/out"
t "allocator frame dropped" jq -e 'all(.leaks[]; .stack[0].function != "tracked")' "$T/out"

# Text: one header per group, biggest first, the cycle as a unit.
rc 0 "$RS" report "$T/basic"
sed -n 's/ in pid [0-9]*,/,/p; /^leaked reference cycle/s/ in pid [0-9]*//p; /^SUMMARY/p; /^freed after/p' "$T/out" | sed 's/ in pid [0-9]*//' >"$T/text.norm"
t "golden basic.txt" same "$T/text.norm" "$GOLDEN/basic.txt"
t "frames under each header" has "$T/out" "^    #0  make_definite .*tracegen.c:[0-9]+"
t "no colour off a terminal" not_colored "$T/out"
rc 0 "$RS" report --color=always "$T/basic"
t "colour on demand" has "$T/out" "$(printf '\033')\\["
NO_COLOR=1 rc 0 "$RS" report --color=auto "$T/basic"
t "NO_COLOR respected" not_colored "$T/out"

# --no-symbolize: module+offset frames, same numbers.
rc 0 "$RS" report -f json --no-symbolize "$T/basic"
t "unsymbolized" jq -e '.leaks[0].stack[0].function == null and .summary.definite.bytes == 64' "$T/out"

# C++: names demangled, operator new dropped from the top of the stack,
# but still seen by suppressions.
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/cxx" -- "$TG" cxx
rc 0 "$RS" report -f json "$T/cxx"
t "demangled, allocator dropped" jq -e '.leaks[0].stack[0].function == "ns::Node::make()"' "$T/out"
printf 'leak:^operator new(unsigned long)$\n' >"$T/supp"
rc 0 "$RS" report -f json --suppressions "$T/supp" "$T/cxx"
t "suppressions see allocator frames" jq -e '.summary.suppressed.bytes == 56' "$T/out"

# A binary rebuilt since the run is not trusted: warning, no names from it.
cp "$TG" "$T/tg"
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/changed" -- "$T/tg" basic
cp "$top_builddir/tests/analyzer/leaky" "$T/tg"
rc 0 "$RS" report -f json "$T/changed"
t "build-id change warned" jq -e 'any(.warnings[]; test("tg: build-id [0-9a-f]+ differs from the one in the trace"))' "$T/out"
t "no names from the changed binary" jq -e '.leaks[0].stack[0].function == null and .leaks[0].stack[0].module != null' "$T/out"
rm -f "$T/tg"
rc 0 "$RS" report -f json "$T/changed"
t "missing binary warned" jq -e 'any(.warnings[]; test("tg: cannot read symbols"))' "$T/out"

# Separate debug info: a stripped binary with a .gnu_debuglink to its
# symbols and DWARF still gives functions, files and lines.
if command -v objcopy >/dev/null && command -v strip >/dev/null; then
	mkdir "$T/sd"
	cp "$TG" "$T/sd/tg"
	objcopy --only-keep-debug "$T/sd/tg" "$T/sd/tg.debug"
	strip --strip-all "$T/sd/tg"
	objcopy --add-gnu-debuglink="$T/sd/tg.debug" "$T/sd/tg"
	t "stripped for real" sh -c "! nm '$T/sd/tg' >/dev/null 2>&1 || [ -z \"\$(nm '$T/sd/tg' 2>/dev/null)\" ]"
	rc 23 "$RS" run -q --shim "$SHIM" -o "$T/stripped" -- "$T/sd/tg" basic
	rc 0 "$RS" report -f json "$T/stripped"
	t "separate debug info used" jq -e '[.leaks[].stack[0] | .function + "@" + (.file | split("/") | last)]
	  | index("make_definite@tracegen.c") != null' "$T/out"
else
	echo "note: objcopy/strip missing, separate debug info not tested"
fi

# -o FILE writes the report there.
rc 0 "$RS" report -f json -o "$T/r.json" "$T/basic"
t "-o FILE" jq -e '.summary.cycle.bytes == 96' "$T/r.json"
finish
