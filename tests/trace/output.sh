#!/bin/sh
# Where traces go: output= patterns (%p %e), mode 0600, no clobbering of an
# existing trace, no following a planted symlink, fd=N, and an output the
# shim cannot create or keep (read-only directory, bad descriptor, a full
# disk, its descriptor closed and reused by the program): the program runs on with
# exactly one notice on stderr.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "output=$work/t.%e.%p.rsj" "$tracee" leak
[ $status -eq 0 ] || fail "output pattern: status $status"
set -- "$work"/t.tracee.*.rsj
[ -f "$1" ] || fail "output pattern not expanded: $(ls "$work")"
[ -f "$1" ] && valid "$1" --exit return
[ -f "$1" ] && [ "$(stat -c %a "$1")" = 600 ] || fail "mode is not 0600"

run_shim "output=$work/fixed.rsj" "$tracee" leak
pid1=$(get "$work/fixed.rsj" start.pid)
run_shim "output=$work/fixed.rsj" "$tracee" leak
[ "$(get "$work/fixed.rsj" start.pid)" = "$pid1" ] || fail "second run clobbered the first trace"
[ -f "$work/fixed.2.rsj" ] || fail "second trace not written beside: $(ls "$work")"

ln -s "$work/target" "$work/link.rsj"
run_shim "output=$work/link.rsj" "$tracee" leak
[ -e "$work/target" ] && fail "the shim followed a planted symlink"
[ -f "$work/link.2.rsj" ] || fail "no trace beside the symlink"

REFSWEEP_OPTIONS=fd=5 sh -c 'LD_PRELOAD="$2" exec "$0" leak 5>"$1"' \
	"$tracee" "$work/fd.rsj" "$shim" >/dev/null || fail "fd=5: status $?"
valid "$work/fd.rsj" --exit return --expect leak

# A full disk (ENOSPC): the program runs on, the loss is said once.
REFSWEEP_OPTIONS=fd=5 sh -c 'LD_PRELOAD="$1" exec "$0" leak 5>/dev/full' \
	"$tracee" "$shim" >"$work/out" 2>"$work/err" || fail "ENOSPC: status $?"
grep -q "tracee leak done" "$work/out" || fail "ENOSPC: program output lost"
[ "$(wc -l <"$work/err")" -eq 1 ] && grep -q ENOSPC "$work/err" ||
	fail "ENOSPC: expected one notice naming it: $(cat "$work/err")"

run_shim "fd=77" "$tracee" leak
[ $status -eq 0 ] || fail "bad fd: status $status"
grep -q "tracee leak done" "$work/out" || fail "bad fd: program output lost"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "bad fd: expected one notice: $(cat "$work/err")"

# A program that closes every descriptor and reuses the numbers: the
# shim's writes must never land in the program's file.
run_shim "dir=$work/cf" "$tracee" closefds "$work/victim"
[ $status -eq 0 ] || fail "closefds: status $status"
[ -s "$work/victim" ] && fail "trace written into the program's file: $(head -c 200 "$work/victim")"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "closefds: expected one notice: $(cat "$work/err")"

# A directory the shim may not write in. root ignores permissions, so as
# root a directory under read-only sysfs stands in for it.
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$work/ro"; chmod 555 "$work/ro"; ro=$work/ro/run
else
	ro=/sys/kernel/refsweep-test
fi
run_shim "dir=$ro" "$tracee" leak
[ $status -eq 0 ] || fail "read-only dir: status $status"
grep -q "tracee leak done" "$work/out" || fail "read-only dir: program output lost"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "read-only dir: expected one line: $(cat "$work/err")"
grep -q "refsweep: cannot create trace directory $ro, running without a trace: " "$work/err" ||
	fail "read-only dir: unclear message: $(cat "$work/err")"
finish
