#!/bin/sh
# exec: the first image's trace ends with exit how=exec; the new image
# writes <exe>.<pid>.2.rsj with exec_from naming the first. An exec with
# an empty environment is still traced; a failed exec leaves a warning and
# the image goes on to its normal end.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run" "$tracee" exec "$tracee" leak
[ $status -eq 0 ] || fail "tracee exec exited $status: $(cat "$work/err")"
set -- $(traces "$work/run")
[ $# -eq 2 ] || fail "expected 2 traces, got: $*"
first=$(ls "$work/run" | grep '\.1\.rsj$')
second=$(ls "$work/run" | grep '\.2\.rsj$')
valid "$work/run/$first" --exit exec
valid "$work/run/$second" --exit return --expect leak
[ "$(get "$work/run/$second" start.exec_from)" = "$first" ] ||
	fail "exec_from is $(get "$work/run/$second" start.exec_from), expected $first"
[ "$(get "$work/run/$first" start.pid)" = "$(get "$work/run/$second" start.pid)" ] ||
	fail "the two images have different pids"

rm -rf "$work/run"
run_shim "dir=$work/run" "$tracee" execenv "$tracee"
[ "$(traces "$work/run" | wc -l)" -eq 2 ] ||
	fail "exec with an empty environment was not traced: $(traces "$work/run")"

# A missing program: found before the trace is ended, nothing to say.
rm -rf "$work/run"
run_shim "dir=$work/run" "$tracee" execfail /nonexistent/program
[ $status -eq 0 ] || fail "tracee execfail (missing) exited $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --expect leak --count exit=1
# An executable file the kernel refuses (ENOEXEC): the image ended its
# trace, then says the exec failed and goes on to its normal end.
printf '\177ELF garbage' >"$work/bad"
chmod 755 "$work/bad"
rm -rf "$work/run"
run_shim "dir=$work/run" "$tracee" execfail "$work/bad"
[ $status -eq 0 ] || fail "tracee execfail (ENOEXEC) exited $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --expect leak --count exit=2
grep '"ev":"warning"' "$f" | grep -q '"what":"exec"' || fail "no exec warning after a failed exec"
finish
