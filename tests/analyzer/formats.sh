# formats.sh: `report -f sarif|junit|collapsed|html` on tracegen's known
# leaks. SARIF is validated against the 2.1.0 JSON schema when the schema
# (tests/analyzer/get-sarif-schema.sh) and python3-jsonschema are there,
# and checked for what GitHub code scanning needs in every case; JUnit is
# validated with xmllint against tests/analyzer/junit.xsd.
. "$top_srcdir/tests/analyzer/lib.sh"

rc 23 "$RS" run -q --shim "$SHIM" -o "$T/basic" -- "$TG" basic
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/fork" -- "$TG" fork

# SARIF
rc 0 "$RS" report -f sarif --source-root "$top_srcdir" -o "$T/r.sarif" "$T/basic"
schema=${SARIF_SCHEMA:-${XDG_CACHE_HOME:-$HOME/.cache}/refsweep/sarif-2.1.0.json}
if [ -s "$schema" ] && python3 -c 'import jsonschema' 2>/dev/null; then
	t "SARIF valid against the 2.1.0 schema" python3 "$top_srcdir/tests/analyzer/sarif-validate.py" "$schema" "$T/r.sarif"
else
	echo "note: SARIF schema validation skipped (no schema at $schema or no python3-jsonschema)"
fi
t "SARIF: version, tool, rules" jq -e '.version == "2.1.0" and .runs[0].tool.driver.name == "refsweep"
  and ([.runs[0].tool.driver.rules[].id] == ["refsweep/definite","refsweep/indirect","refsweep/cycle","refsweep/possible"])' "$T/r.sarif"
t "SARIF: one result per group, ruleIndex matches" jq -e '.runs[0] as $r | ($r.results | length) == 5
  and all($r.results[]; $r.tool.driver.rules[.ruleIndex].id == .ruleId)' "$T/r.sarif"
t "SARIF: repo-relative locations with lines" jq -e 'all(.runs[0].results[];
  .locations[0].physicalLocation.artifactLocation.uri == "tests/analyzer/tracegen.c"
  and .locations[0].physicalLocation.artifactLocation.uriBaseId == "%SRCROOT%"
  and .locations[0].physicalLocation.region.startLine > 0
  and (.partialFingerprints | length) == 1 and (.stacks[0].frames | length) > 0)' "$T/r.sarif"
t "SARIF: levels" jq -e '[.runs[0].results[] | .level] | sort == ["error","error","error","error","note"]' "$T/r.sarif"
jq -S '[.runs[0].results[] | {ruleId, level, message: .message.text,
  uri: .locations[0].physicalLocation.artifactLocation.uri,
  line: .locations[0].physicalLocation.region.startLine,
  frames: [.stacks[0].frames[].location.logicalLocations[0].fullyQualifiedName | select(. != null)][0:2]}]' \
	"$T/r.sarif" >"$T/sarif.norm"
t "golden basic.sarif" same "$T/sarif.norm" "$GOLDEN/basic.sarif.json"

# JUnit: a test case per process, a failure per failing leak group.
rc 0 "$RS" report -f junit -o "$T/r.xml" "$T/fork"
if command -v xmllint >/dev/null; then
	t "JUnit valid against junit.xsd" xmllint --noout --schema "$top_srcdir/tests/analyzer/junit.xsd" "$T/r.xml"
else
	echo "note: xmllint missing, JUnit schema validation skipped"
fi
t "JUnit: two processes" [ "$(grep -c '<testcase ' "$T/r.xml")" = 2 ]
t "JUnit: two failures" [ "$(grep -c '<failure ' "$T/r.xml")" = 2 ]
sed -e 's/pid [0-9]* [^"]*tracegen"/pid N tracegen"/' -e 's/#\([0-9]*\) \([^ ]*\) .*\/\([^/]*:[0-9]*\)$/#\1 \2 \3/' "$T/r.xml" | grep -v '^#[2-9]' >"$T/junit.norm"
t "golden fork.junit.xml" same "$T/junit.norm" "$GOLDEN/fork.junit.xml"
t "JUnit: counts" has "$T/r.xml" '<testsuite name="refsweep leaks" tests="2" failures="2"'
rc 0 "$RS" report -f junit --fail-on none "$T/fork"
t "JUnit follows the gate options" [ "$(grep -c '<failure ' "$T/out")" = 0 ]
rc 0 "$RS" report -f json --fail-on cycle "$T/basic"
t "JSON marks what fails the gate" jq -e '[.leaks[] | select(.fails_gate) | .kind] == ["cycle"]' "$T/out"
t "JUnit: failure names the leak" has "$T/r.xml" 'message="definite leak: 64 bytes in 1 blocks at make_child_leak"'

# Collapsed stacks: outermost first, the class as leaf, bytes last.
rc 0 "$RS" report -f collapsed "$T/basic"
sed 's/^.*;main;/main;/' "$T/out" >"$T/collapsed"
t "golden basic.collapsed" same "$T/collapsed" "$GOLDEN/basic.collapsed"
t "collapsed: flamegraph.pl line format" awk '!/^[^ ].* [0-9]+$/ { exit 1 }' "$T/out"

# HTML: a page that parses, escapes, and lists every group.
rc 0 "$RS" report -f html -o "$T/r.html" "$T/basic"
if command -v xmllint >/dev/null; then
	t "HTML is well-formed (XHTML syntax)" xmllint --noout "$T/r.html"
fi
t "HTML: five groups" [ "$(grep -c '<details class=' "$T/r.html")" = 5 ]
t "HTML: summary table" has "$T/r.html" '<tr><th>cycle</th><td>96</td><td>3</td></tr>'
grep -E '^<tr><th>|<summary>' "$T/r.html" | sed 's/<pre>.*//' >"$T/html.norm"
t "golden basic.html" same "$T/html.norm" "$GOLDEN/basic.html.txt"
finish
