#!/bin/sh
# fork: the child writes its own trace (forked_from the parent's pid,
# parent_image the parent's file), starts with its own start and module
# events, and re-emits every stack it uses; both validate.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run" "$tracee" fork
[ $status -eq 0 ] || fail "tracee fork exited $status: $(cat "$work/err")"
[ "$(traces "$work/run" | wc -l)" -eq 2 ] || fail "expected 2 traces: $(traces "$work/run")"
parent= child=
for t in $(traces "$work/run"); do
	if [ "$(get "$work/run/$t" start.forked_from)" = "(none)" ]; then
		parent=$t
	else
		child=$t
	fi
done
[ -n "$parent" ] && [ -n "$child" ] || fail "no parent/child pair: $(traces "$work/run")"
if [ -n "$parent" ] && [ -n "$child" ]; then
	valid "$work/run/$parent" --exit return --strict-modules --expect leak
	valid "$work/run/$child" --exit return --strict-modules --expect module --expect leak
	[ "$(get "$work/run/$child" start.forked_from)" = "$(get "$work/run/$parent" start.pid)" ] ||
		fail "forked_from is not the parent's pid"
	[ "$(get "$work/run/$child" start.parent_image)" = "$parent" ] ||
		fail "parent_image is $(get "$work/run/$child" start.parent_image), expected $parent"
	[ "$(get "$work/run/$child" start.pid)" != "$(get "$work/run/$parent" start.pid)" ] ||
		fail "child trace has the parent's pid"
fi
finish
