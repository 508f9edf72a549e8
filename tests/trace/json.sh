#!/bin/sh
# Strings in events are valid JSON and UTF-8 whatever bytes the program
# has: a program path with a quote, a backslash, control characters and a
# byte that is not UTF-8 comes back intact, the bad byte as U+FFFD.
. "$top_srcdir/tests/trace/lib.sh"
name=$(printf 'we"ird\\na\tme\001\377x')
ln -s "$tracee" "$work/$name"
run_shim "dir=$work/run" "$work/$name" leak
[ $status -eq 0 ] || fail "status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return
want=$(printf '%s/we"ird\\na\tme\001\357\277\275x' "$work")
got=$("$validate" --get start.argv "$f" | sed 's/^\["//; s/",".*//')
# --get prints argv as JSON: decode it with the validator's own reader.
got=$(printf '{"ev":"start","x":"%s"}\n' "$got" >"$work/one.json"; "$validate" --get start.x "$work/one.json" 2>/dev/null)
[ "$got" = "$want" ] || fail "argv[0] came back as $(printf '%s' "$got" | od -c | head -3)"
finish
