#!/bin/sh
# Figures for the trace layer (not a test: timings depend on the machine).
#   top_builddir=BUILD sh tests/trace/measure.sh [OPS]
# 1. stacks-on cost: tracee churn (built with frame pointers), python3 and
#    sqlite3, native vs the shim with unwind=none, auto and libunwind; CPU
#    seconds (user+sys), best of 3; the exit sweep is off to time stacks.
# 2. trace=all on tracee churn OPS (default 5000000: a free and a malloc
#    each, ten million operations): bytes per event, events per second,
#    gzip'd bytes per event.
set -u
b=${top_builddir:?set top_builddir to the build directory}
src=$(cd "$(dirname "$0")/../.." && pwd)
shim=$b/.libs/librefsweep.so
tracee=$b/tests/trace/tracee
ops=${1:-5000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-measure.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src/tests/real/workload.py" "$work/"
sed 's/i < 20000/i < 200000/' "$src/tests/real/workload.sql" >"$work/big.sql"

# cpu PRELOAD CMD...: the best user+sys seconds of 3 runs of CMD, with
# LD_PRELOAD=PRELOAD (empty: native) given to CMD alone, not to time(1).
cpu() {
	pre=$1; shift
	best=
	for i in 1 2 3; do
		/usr/bin/time -f '%U %S' -o "$work/t" sh -c \
			'[ -n "$0" ] && export LD_PRELOAD="$0"; exec "$@"' "$pre" "$@" \
			>/dev/null 2>&1 </dev/null
		t=$(awk '{ printf "%.3f", $1 + $2 }' "$work/t")
		best=$(echo "${best:-$t} $t" | awk '{ print ($2 < $1) ? $2 : $1 }')
	done
	echo "$best"
}
row() { # NAME CMD...
	name=$1; shift
	native=$(cpu "" "$@")
	line="$name: native ${native}s"
	for u in none auto libunwind; do
		rm -rf "$work/run"
		t=$(REFSWEEP_OPTIONS="dir=$work/run,exit_sweep=0,unwind=$u" \
			cpu "$shim" "$@")
		line="$line, $u ${t}s ($(echo "$t $native" | awk '{ printf "%.2f", $1 / $2 }')x)"
	done
	echo "$line"
}
echo "== stacks-on cost (CPU s, best of 3; ratio to native)"
cd "$work"
row "churn 20M (frame pointers)" "$tracee" churn 20000000
row "python3 workload.py" /usr/bin/python3 workload.py
PYTHONMALLOC=malloc row "python3 workload.py, PYTHONMALLOC=malloc" /usr/bin/python3 workload.py
row "sqlite3 200k rows" sqlite3 -init big.sql :memory: .quit

echo "== trace=all, churn $ops (a free and a malloc each)"
rm -rf "$work/run"
s=$(date +%s.%N)
REFSWEEP_OPTIONS="dir=$work/run,trace=all,exit_sweep=0" LD_PRELOAD="$shim" \
	"$tracee" churn "$ops" >/dev/null
e=$(date +%s.%N)
rm -rf "$work/t.run"
shimcpu=$(REFSWEEP_OPTIONS="dir=$work/t.run,trace=all,exit_sweep=0" cpu "$shim" "$tracee" churn "$ops")
f=$(ls "$work"/run/*.rsj)
bytes=$(wc -c <"$f")
events=$(grep -c -E '"ev":"(alloc|free|realloc)"' "$f")
gz=$(gzip -c "$f" | wc -c)
native=$(cpu "" "$tracee" churn "$ops")
echo "events $events, bytes $bytes, $(echo "$bytes $events" | awk '{ printf "%.1f", $1 / $2 }') bytes/event," \
	"gzip $(echo "$gz $events" | awk '{ printf "%.2f", $1 / $2 }') bytes/event," \
	"$(echo "$events $s $e" | awk '{ printf "%.1f", $1 / ($3 - $2) / 1e6 }') M events/s wall" \
	"(CPU: native ${native}s, trace=all ${shimcpu}s)"
grep -o '"events_dropped":[0-9]*' "$f"
