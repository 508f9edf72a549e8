# run.sh: `refsweep run` plumbing with a do-nothing shim (--shim) and
# tracegen writing the traces: the run directory and its policy, the
# environment the shim gets (LD_PRELOAD, REFSWEEP_OPTIONS), run.json, exit
# statuses (program's, 128+signal, leak exit code, 126, 127, 2), signal
# forwarding, the report on stderr.
. "$top_srcdir/tests/analyzer/lib.sh"

cd "$T" || exit 99
start_env() { head -n 1 "$(ls "$1"/*.rsj | head -n 1)" | jq -r ".options.$2"; }

# Leaks and a clean exit: the gate's leak exit code; the report on stderr.
rc 23 "$RS" run --shim "$SHIM" -o d1 -- "$TG" basic
t "report on stderr" has "$T/err" "^SUMMARY: definite 64 bytes in 3 blocks"
t "stdout left to the program" [ ! -s "$T/out" ]
t "directory mode 0700" [ "$(stat -c %a d1)" = 700 ]
t "run.json" jq -e '.exit_status == 0 and .signal == 0 and .argv[1] == "basic" and (.pid > 0)' d1/run.json
t "dir= is absolute and last" [ "$(start_env d1 env_options)" = "dir=$T/d1" ]
t "shim preloaded" [ "$(start_env d1 env_preload)" = "$(readlink -f "$SHIM")" ]

# The user's REFSWEEP_OPTIONS first, run's flags after, dir last; the
# user's LD_PRELOAD kept after the shim.
REFSWEEP_OPTIONS=quiet=1 LD_PRELOAD="$SHIM" rc 23 "$RS" run -q --shim "$SHIM" \
	--trace all --stack-depth 8 --no-exit-sweep --sweep-every 100 \
	--shim-option unwind=fp -o d2 -- "$TG" basic
t "options composed" [ "$(start_env d2 env_options)" = "quiet=1,trace=all,stack_depth=8,exit_sweep=0,sweep_every=100,unwind=fp,dir=$T/d2" ]
t "LD_PRELOAD kept" [ "$(start_env d2 env_preload)" = "$(readlink -f "$SHIM"):$SHIM" ]
t "quiet" [ ! -s "$T/err" ]

# Exit statuses.
rc 42 "$RS" run -q --leak-exit-code 42 --shim "$SHIM" -o d3 -- "$TG" basic
rc 5 "$RS" run -q --shim "$SHIM" -o d4 -- "$TG" exit 5
rc 0 "$RS" run -q --shim "$SHIM" -o d5 -- "$TG" exit 0
rc 0 "$RS" run -q --fail-on none --shim "$SHIM" -o d6 -- "$TG" basic
rc 143 "$RS" run -q --shim "$SHIM" -o d7 -- "$TG" killed
t "killed: run.json has the signal" jq -e '.signal == 15 and .exit_status == null' d7/run.json
rc 0 "$RS" report -f json d7
t "killed: status 143 and the last sweep's leak" jq -e '.processes[0].exit_status == 143
  and .summary.definite.bytes == 24' "$T/out"
rc 127 "$RS" run -q --shim "$SHIM" -o d8 -- ./no-such-program
t "127 says not found" has "$T/err" "no-such-program: command not found"
printf '#!/bin/sh\n' >notexec
chmod 644 notexec
rc 126 "$RS" run -q --shim "$SHIM" -o d9 -- ./notexec
t "126 says why" has "$T/err" "notexec: Permission denied"

# Directory policy.
: >afile
rc 2 "$RS" run -q --shim "$SHIM" -o afile -- "$TG" exit 0
t "not a directory" has "$T/err" "afile: exists and is not a directory"
echo keep >d1/notes.txt
rc 0 "$RS" run --shim "$SHIM" -o d1 -- "$TG" exit 0
t "previous run replaced" has "$T/err" "d1: replaced the 1 traces of a previous run"
t "only the new run left" sh -c "[ \$(ls d1/*.rsj | wc -l) = 1 ] && jq -e '.argv[1] == \"exit\"' d1/run.json >/dev/null"
t "other files kept" [ -f d1/notes.txt ]
mkdir empty
rc 0 "$RS" run -q --shim "$SHIM" -o empty -- "$TG" exit 0
rc 0 "$RS" run -q --shim "$SHIM" -o new/parent/dir -- "$TG" exit 0
t "parents made, run directory 0700" [ "$(stat -c %a new/parent/dir)" = 700 ]
rc 2 "$RS" run -q --shim "$T/no-shim.so" -o d10 -- "$TG" exit 0
t "missing shim named" has "$T/err" "no-shim.so: cannot read the shim"
rc 2 "$RS" run -q --shim "$SHIM"
rc 2 "$RS" run --bogus -- true
rc 0 "$RS" run --help
mkdir dflt && (cd dflt && timeout 30 "$RS" run -q --shim "$SHIM" -- "$TG" exit 0)
t "default directory name" sh -c "ls -d dflt/refsweep-tracegen-*.d"

# A relocated install finds its shim in ../lib/refsweep/ beside it.
mkdir -p inst/bin inst/lib/refsweep
cp "$RS_BIN" inst/bin/refsweep
cp "$SHIM" inst/lib/refsweep/librefsweep.so
rc 23 inst/bin/refsweep run -q -o d13 -- "$TG" basic
t "relocated shim used" [ "$(start_env d13 env_preload)" = "$T/inst/lib/refsweep/librefsweep.so" ]

# A program the shim wrote nothing for: warned, not failed.
rc 0 "$RS" run --shim "$SHIM" -o d11 -- true
t "no traces warned" has "$T/err" "no trace files"

# Signals sent to run reach the program.
timeout 60 "$RS" run -q --shim "$SHIM" -o d12 -- sleep 30 &
rspid=$!
# $! is timeout's pid; wait for run's child (sleep) so run's handlers are
# in place, then signal timeout, which passes SIGTERM on to run.
for _ in $(seq 100); do
	rs=$(pgrep -P "$rspid") && pgrep -P "$rs" >/dev/null && break
	sleep 0.1
done
kill -TERM "$rspid"
wait "$rspid"
t "SIGTERM forwarded: 128+15" [ $? -eq 143 ]
t "run.json of the forwarded kill" jq -e '.signal == 15' d12/run.json
finish
