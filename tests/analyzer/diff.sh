# diff.sh: `refsweep diff OLD NEW` between runs and baselines: groups that
# appeared, vanished, grew, shrank; exit 1 only for new or grown groups of
# failing classes.
. "$top_srcdir/tests/analyzer/lib.sh"

rc 23 "$RS" run -q --shim "$SHIM" -o "$T/basic" -- "$TG" basic
rc 23 "$RS" run -q --shim "$SHIM" -o "$T/exec" -- "$TG" exec
rc 0 "$RS" run -q --shim "$SHIM" -o "$T/clean" -- "$TG" exit 0

rc 1 "$RS" diff "$T/clean" "$T/basic"
t "five appeared" [ "$(grep -c '^appeared ' "$T/out")" = 5 ]
t "closing count" has "$T/out" "^diff: 5 appeared, 0 grew, 0 shrank, 0 vanished$"
rc 0 "$RS" diff "$T/basic" "$T/clean"
t "five vanished" [ "$(grep -c '^vanished ' "$T/out")" = 5 ]
rc 0 "$RS" diff "$T/basic" "$T/exec"
t "same leaks across runs (ASLR)" has "$T/out" "^diff: 0 appeared, 0 grew, 0 shrank, 0 vanished$"
rc 0 "$RS" diff --fail-on none "$T/clean" "$T/basic"

# Growth, against a baseline with smaller numbers.
rc 0 "$RS" check --write-baseline "$T/base.json" "$T/basic"
jq '(.leaks[] | select(.top == "make_definite") | .bytes) = 24 | (.leaks[] | select(.top == "make_definite") | .blocks) = 1' "$T/base.json" >"$T/smaller.json"
rc 1 "$RS" diff "$T/smaller.json" "$T/basic"
t "grew, with old numbers" has "$T/out" "^grew      definite leak: 48 bytes in 2 blocks at make_definite \(was 24 bytes in 1 blocks\)$"
rc 0 "$RS" diff -f json "$T/basic" "$T/smaller.json"
t "shrank in json" jq -e '(.shrank | length) == 1 and .shrank[0].old_bytes == 48' "$T/out"

rc 2 "$RS" diff "$T/basic"
rc 2 "$RS" diff "$T/basic" "$T/nowhere"
rc 2 "$RS" diff -f xml "$T/basic" "$T/basic"

# Every verb has --help (exit 0, on stdout); --version; bad verbs.
for verb in run report check diff; do
	rc 0 "$RS" "$verb" --help
	t "$verb --help" has "$T/out" "^Usage: refsweep $verb "
done
rc 0 "$RS" --version
t "--version" has "$T/out" "^refsweep [0-9]+\.[0-9]+\.[0-9]+ \(trace schema 1\.[0-9]+\)$"
rc 2 "$RS" frobnicate
t "unknown verb said" has "$T/err" "unknown verb 'frobnicate'"
rc 2 "$RS"
finish
