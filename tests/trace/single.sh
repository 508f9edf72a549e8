#!/bin/sh
# A single-threaded program: one trace in the run directory, named
# <exe>.<pid>.1.rsj with mode 0600, that validates, ends with exit
# how=return, announces the executable as main, and whose leak stack starts
# in the program (leak_c) with the frames above it, no shim frames.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "dir=$work/run" "$tracee" leak
[ $status -eq 0 ] || fail "tracee leak exited $status: $(cat "$work/err")"
grep -q "tracee leak done" "$work/out" || fail "program output lost"
[ -s "$work/err" ] && fail "unexpected stderr: $(cat "$work/err")"
n=$(traces "$work/run" | wc -l)
[ "$n" -eq 1 ] || fail "$n traces, expected 1"
f=$work/run/$(traces "$work/run" | head -1)
case $(basename "$f") in
	tracee.[0-9]*.1.rsj) ;;
	*) fail "trace name $(basename "$f") is not tracee.<pid>.1.rsj" ;;
esac
[ "$(stat -c %a "$f")" = 600 ] || fail "trace mode $(stat -c %a "$f"), expected 600"
[ "$(stat -c %a "$work/run")" = 700 ] || fail "run directory mode $(stat -c %a "$work/run")"
valid "$f" --exit return --strict-modules --first-frame-main --expect module \
	--expect stack --expect leak --count start=1
[ "$(get "$f" start.argv)" = "[\"$tracee\",\"leak\"]" ] ||
	fail "start argv is $(get "$f" start.argv)"
[ "$(get "$f" start.exe)" = "$(readlink -f "$tracee")" ] || fail "start exe is $(get "$f" start.exe)"
[ "$(get "$f" module.main)" = true ] || fail "first module is not the main executable"
[ "$(get "$f" exit.sweeps)" = "$(grep -c '"ev":"sweep"' "$f")" ] ||
	fail "exit says $(get "$f" exit.sweeps) sweeps"
pid=$(get "$f" start.pid)
case $(basename "$f") in tracee.$pid.1.rsj) ;; *) fail "pid $pid not in the name" ;; esac
# The definite leak's stack: leak_c, leak_b, leak_a, main, in that order.
"$validate" --leak-stacks "$f" 2>/dev/null | grep '^definite' | head -1 >"$work/stack"
set -- $(cat "$work/stack")
[ $# -ge 6 ] || fail "leak stack too short: $*"
shift 2
i=0
for fn in leak_c leak_b leak_a main; do
	pc=$(($1 - $(get "$f" module.base) - 1))
	sym=$(addr2line -f -e "$tracee" "$(printf '0x%x' $pc)" | head -1)
	[ "$sym" = $fn ] || fail "frame $i is $sym, expected $fn"
	i=$((i + 1))
	shift
done
finish
