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
# in_range FILE PLUGIN: the first leak stack that starts in PLUGIN's range,
# as "frame frame ..." (empty if none does).
in_range() {
	set -- $(grep '"ev":"module".*'"$2" "$1" |
		sed 's/.*"start":"\(0x[0-9a-f]*\)".*"size":\([0-9]*\).*/\1 \2/')
	lo=$(($1)); hi=$(($1 + $2))
	"$validate" --leak-stacks "$f" | while read kind blocks first rest; do
		[ $((first)) -ge $lo ] && [ $((first)) -lt $hi ] && echo "$first $rest"
	done | head -1
}
frames=$(in_range "$f" libtraceplug.so)
[ -n "$frames" ] || fail "no leak stack starts in the plugin"
grep '"ev":"module".*libtraceplug.so"' "$f" | grep -q '"frame_pointers":true' ||
	fail "the frame-pointer plugin is not seen as keeping them"

# The same without frame pointers: found as such, unwound by libunwind
# through the plugin into the program's main.
rm -rf "$work/run"
run_shim "dir=$work/run" "$tracee" dlopen libtraceplug_nofp.so
[ $status -eq 0 ] || fail "tracee dlopen nofp exited $status: $(cat "$work/err")"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --strict-modules --expect unload --expect leak
grep '"ev":"module".*libtraceplug_nofp.so"' "$f" | grep -q '"frame_pointers":false' ||
	fail "the plugin without frame pointers is seen as keeping them"
set -- $(in_range "$f" libtraceplug_nofp.so)
[ $# -ge 3 ] || fail "stack through the plugin without frame pointers is too short: $*"
if [ $# -ge 2 ]; then
	pc=$(($2 - $(get "$f" module.base) - 1))
	sym=$(addr2line -f -e "$tracee" "$(printf '0x%x' $pc)" | head -1)
	[ "$sym" = main ] || fail "the plugin's caller is $sym, expected main"
fi
finish
