#!/bin/sh
# Every trigger of SPEC.md "When sweeps run" produces sweeps named after it,
# and rs_disable() stops the periodic ones (not the signal, API or exit).
: "${top_builddir:=.}"
prog="$top_builddir/tests/sweep/known"
rs="$top_builddir/refsweep"
work="$top_builddir/tests/traces/triggers.$$"
fail=0
[ -x "$prog" ] && [ -x "$rs" ] || { echo "triggers: not built" >&2; exit 99; }
rm -rf "$work" && mkdir -p "$work"

# count OPTIONS SCENARIO TRIGGER -> how many sweeps had that trigger
count() {
	dir="$work/$(echo "$1$2" | tr -c 'a-z0-9' _)"
	REFSWEEP_OPTIONS="$1" timeout 60 "$rs" run -o "$dir" -- "$prog" "$2" >/dev/null 2>&1
	cat "$dir"/*.rsj | grep '"ev":"sweep"' | grep -c "\"trigger\":\"$3\""
}
check() { # what got op want
	if [ "$2" "$3" "$4" ]; then
		echo "ok   $1: $2 $3 $4"
	else
		echo "FAIL $1: $2, want $3 $4"; fail=1
	fi
}

# 200000 allocations polled every 256 per thread: about ten count sweeps.
check "sweep_every=20000 -> count" "$(count sweep_every=20000,sweep_growth=0 churn count)" -ge 8
check "sweep_interval_ms=50 -> interval" "$(count sweep_interval_ms=50,sweep_growth=0 churn interval)" -ge 3
check "sweep_growth=20 -> growth" "$(count sweep_growth=20 churn growth)" -ge 1
check "sweep_signal=SIGUSR2 -> signal" "$(count sweep_signal=SIGUSR2,sweep_growth=0 churn signal)" -eq 1
check "exit sweep" "$(count sweep_growth=0 churn exit)" -eq 1
check "exit_sweep=0 -> no exit sweep" "$(count exit_sweep=0,sweep_growth=0 churn exit)" -eq 0
check "rs_disable -> no count sweeps" "$(count sweep_every=20000,sweep_growth=0 churn-disabled count)" -eq 0
check "rs_disable -> signal still runs" "$(count sweep_signal=SIGUSR2,sweep_every=20000,sweep_growth=0 churn-disabled signal)" -eq 1

[ $fail = 0 ] && rm -rf "$work"
exit $fail
