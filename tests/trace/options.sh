#!/bin/sh
# REFSWEEP_OPTIONS: each bad key or value gives one line on stderr and one
# warning event, and the default stays; good values (any case, suffixes,
# signal names, escaped separators) reach the start event; quiet=1
# silences stderr but not the trace.
. "$top_srcdir/tests/trace/lib.sh"
run_shim "bogus=1,stack_depth=9999,dir=$work/run,trace=ALL,unwind=Fp,novalue,exit_sweep=off" "$tracee" leak
[ $status -eq 0 ] || fail "status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --count warning=3
[ "$(grep -c '^refsweep: ' "$work/err")" -eq 3 ] || fail "expected 3 notices: $(cat "$work/err")"
[ "$(wc -l <"$work/err")" -eq 3 ] || fail "stray stderr: $(cat "$work/err")"
grep -q "unknown option 'bogus'" "$work/err" || fail "bogus not named: $(cat "$work/err")"
grep -q "stack_depth: '9999'" "$work/err" || fail "stack_depth not named"
grep -q "'novalue'" "$work/err" || fail "novalue not named"
[ "$(get "$f" start.options.stack_depth)" = 32 ] || fail "stack_depth default not kept"
[ "$(get "$f" start.options.trace)" = all ] || fail "trace=ALL not applied"
[ "$(get "$f" start.options.unwind)" = fp ] || fail "unwind=Fp not applied"
[ "$(get "$f" start.options.exit_sweep)" = false ] || fail "exit_sweep=off not applied"
grep -q '"ev":"sweep"' "$f" && fail "exit_sweep=off still swept"
[ "$(grep '"ev":"warning"' "$f" | grep -c '"what":"option"')" -eq 3 ] || fail "expected 3 option warnings"

rm -rf "$work/run"
run_shim "quiet=1,bogus=2,dir=$work/run" "$tracee" leak
[ -s "$work/err" ] && fail "quiet=1 still printed: $(cat "$work/err")"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --count warning=1

run_shim 'dir='"$work"'/a\,b\:c,sweep_every=2k,sweep_interval_ms=2s,sweep_signal=SIGUSR2,sweep_growth=0' "$tracee" leak
f="$work/a,b:c/$(traces "$work/a,b:c" | head -1)"
[ -f "$f" ] || fail "escaped separators in dir: $(ls "$work")"
[ -f "$f" ] && {
	[ "$(get "$f" start.options.sweep_every)" = 2000 ] || fail "sweep_every=2k"
	[ "$(get "$f" start.options.sweep_interval_ms)" = 2000 ] || fail "sweep_interval_ms=2s"
	[ "$(get "$f" start.options.sweep_signal)" = 12 ] || fail "sweep_signal=SIGUSR2"
	[ "$(get "$f" start.options.sweep_growth)" = 0 ] || fail "sweep_growth=0"
	valid "$f" --count warning=0
}
# Out of range, overflowing and non-numeric values: each one warned
# about, each default kept.
rm -rf "$work/run"
run_shim "dir=$work/run,stack_depth=0,sweep_every=99999999999999999999k,fd=abc,sweep_signal=SIGNOPE,max_cycle_members=-1" "$tracee" leak
[ $status -eq 0 ] || fail "bad numbers: status $status"
f=$work/run/$(traces "$work/run" | head -1)
valid "$f" --exit return --count warning=5
[ "$(grep -c '^refsweep: bad value' "$work/err")" -eq 5 ] || fail "bad numbers: $(cat "$work/err")"
[ "$(get "$f" start.options.stack_depth)" = 32 ] || fail "stack_depth=0 not refused"
[ "$(get "$f" start.options.sweep_every)" = 0 ] || fail "overflowing sweep_every not refused"
[ "$(get "$f" start.options.fd)" = -1 ] || fail "fd=abc not refused"
[ "$(get "$f" start.options.max_cycle_members)" = 64 ] || fail "max_cycle_members=-1 not refused"
finish
