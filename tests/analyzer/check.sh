# check.sh: the CI gate on tracegen's known leaks (definite 64 B in 3
# blocks, indirect 80 B, cycle 96 B, possible 100 B): failing classes,
# thresholds, suppressions, baselines, GitHub annotations, exit codes.
. "$top_srcdir/tests/analyzer/lib.sh"

rc 23 "$RS" run -q --shim "$SHIM" -o "$T/basic" -- "$TG" basic
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/fork" -- "$TG" fork
rc 0 "$RS" run -q --shim "$SHIM" -o "$T/clean" -- "$TG" exit 0
B="$T/basic"

rc 1 "$RS" check "$B"
t "failing leaks listed, possible not" sh -c "grep -q '^definite leak: 48 bytes' '$T/out' && ! grep -q '^possible' '$T/out'"
t "verdict on stderr" has "$T/err" "check failed: 240 bytes in 8 blocks"
rc 0 "$RS" check "$T/clean"
t "pass said" has "$T/err" "check passed"
rc 0 "$RS" check --fail-on none "$B"
rc 1 "$RS" check --fail-on possible "$B"
rc 0 "$RS" check --fail-on=indirect --max-bytes 80 "$B"
rc 1 "$RS" check --fail-on=indirect --max-bytes 79 "$B"
rc 0 "$RS" check --max-bytes 240 "$B"
rc 1 "$RS" check --max-blocks 7 "$B"
rc 0 "$RS" check --max-blocks 8 "$B"
rc 0 "$RS" check --max-group-bytes 96 "$B"
rc 1 "$RS" check --max-group-bytes 95 "$B"
rc 1 "$RS" check --max-group-blocks 2 "$B"
rc 0 "$RS" check --max-group-blocks 3 "$B"
rc 2 "$RS" check --fail-on bogus "$B"
rc 2 "$RS" check --max-bytes -5 "$B"
rc 2 "$RS" check "$T/nowhere"
rc 2 "$RS" check
rc 0 "$RS" check -q --fail-on none "$B"
t "quiet prints nothing" sh -c "[ ! -s '$T/out' ] && [ ! -s '$T/err' ]"

# Suppressions: LeakSanitizer's leak: lines, '*' wildcards, '^' '$'
# anchors, matched against function, module and file names.
cat >"$T/supp" <<EOF
# comment
leak:make_definite
leak:^make_tree*\$
race:ignored_type
leak:make_cycle_node
EOF
rc 0 "$RS" check --suppressions "$T/supp" "$B"
t "not-leak kinds noted" has "$T/err" "supp:4: 'race' suppressions are not about leaks"
rc 0 "$RS" report -f json --suppressions "$T/supp" "$B"
t "suppressed counted apart" jq -e '.summary.suppressed == {"blocks":8,"bytes":240}
  and .summary.definite.bytes == 0 and ([.leaks[].kind] == ["possible"])
  and (.suppressed_leaks | length) == 4' "$T/out"
printf 'leak:tracegen.c\n' >"$T/supp-file"
rc 0 "$RS" check --fail-on definite,indirect,cycle,possible --suppressions "$T/supp-file" "$B"
printf 'leak:*/tests/analyzer/tracegen\n' >"$T/supp-module"
rc 0 "$RS" check --suppressions "$T/supp-module" "$B"
printf 'leak:^tracegen$\n' >"$T/supp-anchor"
rc 1 "$RS" check --suppressions "$T/supp-anchor" "$B"
printf 'leak:make_tree\n' >"$T/supp-part"
rc 1 "$RS" check --suppressions "$T/supp-part" "$B"
t "substring match: tree and children" has "$T/err" "check failed: 144 bytes in 5 blocks"
printf 'leak:ok\nthis line is wrong\n' >"$T/supp-bad"
rc 2 "$RS" check --suppressions "$T/supp-bad" "$B"
t "bad suppression line named" has "$T/err" "supp-bad:2: expected 'leak:PATTERN'"
rc 2 "$RS" check --suppressions "$T/nowhere" "$B"

# Baselines: identities without addresses, so a second run matches.
rc 0 "$RS" check --write-baseline "$T/base.json" "$B"
t "baseline written" jq -e '.refsweep_baseline == 1 and (.leaks | length) == 5
  and all(.leaks[]; (.id | test("0x") | not))' "$T/base.json"
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/basic2" -- "$TG" basic
rc 0 "$RS" check --baseline "$T/base.json" "$T/basic2"
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/exec" -- "$TG" exec
rc 0 "$RS" check --baseline "$T/base.json" "$T/exec"
jq 'del(.leaks[] | select(.top == "make_tree"))' "$T/base.json" >"$T/base-less.json"
rc 1 "$RS" check --baseline "$T/base-less.json" "$B"
t "only the leak absent from the baseline fails" [ "$(grep -c 'leak: ' "$T/out")" = 1 ]
t "... and it is make_tree's" has "$T/out" "^definite leak: 16 bytes in 1 block"
echo '{"x":1}' >"$T/notbase.json"
rc 2 "$RS" check --baseline "$T/notbase.json" "$B"
t "bad baseline named" has "$T/err" "notbase.json: not a refsweep baseline"

# GitHub Actions annotations.
GITHUB_ACTIONS=true GITHUB_WORKSPACE="$top_srcdir" rc 1 "$RS" check "$B"
t "annotation per failing group" [ "$(grep -c '^::error ' "$T/out")" = 4 ]
t "annotation names file and line" has "$T/out" '^::error file=tests/analyzer/tracegen.c,line=[0-9]+,title=refsweep%3A definite leak::48 bytes in 2 blocks allocated at make_definite$'
rc 1 "$RS" check "$B"
t "no annotations elsewhere" sh -c "! grep -q '^::' '$T/out'"

# JSON output of check.
rc 1 "$RS" check -f json "$B"
t "check -f json" jq -e '.summary.cycle.bytes == 96' "$T/out"
finish
