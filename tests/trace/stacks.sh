#!/bin/sh
# Stack capture: on a program built with frame pointers the automatic
# choice walks frame pointers, and its frames are the first frames
# libunwind finds; unwind=none records no stacks; stack_depth cuts and
# marks stacks truncated; the executable is recognised as keeping frame
# pointers; a frame pointer holding garbage ends a walk without a fault;
# the per-thread stack cache in front of libunwind tells callers apart;
# libunwind is loaded only by the modes that may use it, and a libunwind
# that cannot be loaded leaves the program running with one-frame stacks
# and a warning in the trace.
. "$top_srcdir/tests/trace/lib.sh"
norandom=1
# stack_of OPTIONS: runs tracee leak; $f is its trace, $frames the definite
# leak's frames.
stack_of() {
	rm -rf "$work/run"
	run_shim "dir=$work/run,$1" "$tracee" leak
	[ $status -eq 0 ] || fail "tracee leak ($1) exited $status"
	f=$work/run/$(traces "$work/run" | head -1)
	valid "$f" --exit return
	frames=$("$validate" --leak-stacks "$f" | awk '$1 == "definite" { $1 = ""; $2 = ""; print }' | head -1)
	frames=$(echo $frames)
}
stack_of unwind=auto; auto=$frames
[ "$(get "$f" module.frame_pointers)" = true ] || fail "the executable is not seen as keeping frame pointers"
stack_of unwind=fp; fp=$frames
stack_of unwind=libunwind; unw=$frames
[ -n "$auto" ] || fail "no stack with unwind=auto"
[ "$auto" = "$fp" ] || fail "auto ($auto) differs from fp ($fp)"
set -- $fp
[ $# -ge 4 ] || fail "frame-pointer stack too short: $fp"
case "$unw " in
	"$fp "*) ;;
	*) fail "frame-pointer stack ($fp) is not a prefix of libunwind's ($unw)" ;;
esac
stack_of unwind=none
[ -z "$frames" ] || fail "unwind=none recorded frames: $frames"
grep -q '"ev":"stack"' "$f" && fail "unwind=none wrote stack events"
stack_of stack_depth=2
set -- $frames
[ $# -eq 2 ] || fail "stack_depth=2 gave $# frames"
grep '"ev":"stack"' "$f" | grep -q '"truncated":true' || fail "cut stack not marked truncated"
# Without frame pointers (libunwind and the per-thread stack cache): one
# allocation site reached in turn through two callers whose frames leave
# the stack pointer at the same place gets two stacks, in turn, never one
# for both.
rm -rf "$work/run"
run_shim "dir=$work/run,trace=all" "$top_builddir/tests/trace/tracee_nofp" callers 2000
[ $status -eq 0 ] || fail "callers: status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --pairs
grep '"ev":"module".*"main":true' "$f" | grep -q '"frame_pointers":false' ||
	fail "tracee_nofp is seen as keeping frame pointers"
grep '"ev":"alloc".*"n":1[67],' "$f" | sed 's/.*"n":\([0-9]*\),"s":\([0-9]*\).*/\1 \2/' |
	sort | uniq -c >"$work/pairs"
[ "$(wc -l <"$work/pairs")" -eq 2 ] || fail "callers: size/stack pairs: $(cat "$work/pairs")"
[ "$(awk '{ print $3 }' "$work/pairs" | sort -u | wc -l)" -eq 2 ] ||
	fail "callers: both callers got the same stack: $(cat "$work/pairs")"
awk '$1 != 2000 { exit 1 }' "$work/pairs" || fail "callers: counts: $(cat "$work/pairs")"

# Garbage in rbp (code that uses it as a register) ends a walk; it never
# faults, whatever the unwinder.
for u in auto fp libunwind; do
	rm -rf "$work/run"
	run_shim "dir=$work/run,unwind=$u" "$tracee" badfp
	[ $status -eq 0 ] || fail "badfp with unwind=$u: status $status"
	f=$work/run/$(traces "$work/run" | head -1)
	valid "$f" --exit return --expect stack
done

# Only auto and libunwind load libunwind (the shim opens it itself).
for u in auto libunwind fp none; do
	run_shim "dir=$work/maps,unwind=$u" cat /proc/self/maps
	[ $status -eq 0 ] || fail "cat /proc/self/maps with unwind=$u: status $status"
	case $u in
	auto|libunwind) grep -q 'libunwind' "$work/out" || fail "unwind=$u: libunwind not loaded" ;;
	*) grep -q 'libunwind\|liblzma' "$work/out" && fail "unwind=$u loaded $(grep -o 'lib[a-z]*\.so[.0-9]*' "$work/out" | sort -u | tr '\n' ' ')" ;;
	esac
done

# libunwind unreadable (a private mount namespace hides it; root only):
# the program runs on, the trace warns, stacks through code without frame
# pointers keep their one sure frame.
run_shim "dir=$work/maps,unwind=auto" cat /proc/self/maps
libunw=$(grep -o '/[^ ]*libunwind[^ ]*' "$work/out" | head -1)
if [ -n "$libunw" ] && unshare -m true 2>/dev/null; then
	rm -rf "$work/run"
	REFSWEEP_OPTIONS="dir=$work/run,unwind=auto" timeout 20 unshare -m sh -c \
		'mount --bind /dev/null "$0" && LD_PRELOAD="$1" exec "$2" leak' \
		"$libunw" "$shim" "$top_builddir/tests/trace/tracee_nofp" >"$work/out" 2>"$work/err"
	status=$?
	[ $status -eq 0 ] || fail "without libunwind: status $status ($(head -3 "$work/err"))"
	grep -q 'tracee leak done' "$work/out" || fail "without libunwind: no output"
	f=$work/run/$(traces "$work/run" | head -1)
	valid "$f" --exit return
	grep '"ev":"warning"' "$f" | grep -q '"what":"unwind"' ||
		fail "without libunwind: no unwind warning in the trace"
	frames=$("$validate" --leak-stacks "$f" | awk '$1 == "definite" { $1 = ""; $2 = ""; print }' | head -1)
	set -- $frames
	[ $# -eq 1 ] || fail "without libunwind: the leak's stack has $# frames, not 1: $frames"
else
	echo "note: not root or no mount namespaces: the missing-libunwind case was not run" >&2
fi
finish
