#!/bin/sh
# dlopen by bare name resolves through the program's RUNPATH (dlopen is not
# wrapped, see preload/dl.c); the object gets a module event before the
# stack that names it, and an unload event after dlclose; the leak made
# inside it starts in it.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run" "$tracee" dlopen libtraceplug.so
[ $status -eq 0 ] || fail "tracee dlopen exited $status: $(cat "$work/err")"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --strict-modules --expect unload --expect leak
grep '"ev":"module"' "$f" | grep -q 'libtraceplug.so"' || fail "no module event for the plugin"
grep '"ev":"unload"' "$f" | grep -q 'libtraceplug.so"' || fail "no unload event for the plugin"
mod=$(grep -n '"ev":"module".*libtraceplug' "$f" | cut -d: -f1)
unl=$(grep -n '"ev":"unload".*libtraceplug' "$f" | cut -d: -f1)
[ -n "$mod" ] && [ -n "$unl" ] && [ "$mod" -lt "$unl" ] || fail "module event does not precede unload"
# The 72-byte leak: its first frame is inside the plugin's range.
base=$(grep '"ev":"module".*libtraceplug' "$f" | sed 's/.*"start":"\(0x[0-9a-f]*\)".*"size":\([0-9]*\).*/\1 \2/')
set -- $base
lo=$(($1)); hi=$(($1 + $2))
first=$("$validate" --leak-stacks "$f" | awk '{ print $3 }' | while read pc; do
	[ $((pc)) -ge $lo ] && [ $((pc)) -lt $hi ] && echo in; done | head -1)
[ "$first" = in ] || fail "no leak stack starts in the plugin"
finish
