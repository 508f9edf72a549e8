# Sourced by the trace tests: paths, a scratch directory, and helpers.
# run_shim OPTIONS CMD...: runs CMD with the shim preloaded and
# REFSWEEP_OPTIONS=OPTIONS, bounded to 20 s; stdout/stderr go to
# $work/out and $work/err, the status to $status.
set -u
shim="$top_builddir/.libs/librefsweep.so"
validate="$top_builddir/tests/trace/validate"
tracee="$top_builddir/tests/trace/tracee"
plugin="$top_builddir/tests/trace/.libs/libtraceplug.so"
[ -f "$shim" ] || { echo "$0: shim not built: $shim" >&2; exit 99; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-trace.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# With norandom=1, address-space randomisation is off (same addresses
# from run to run).
run_shim() {
	opts=$1; shift
	# Only CMD gets the shim: not timeout, not this sh.
	REFSWEEP_OPTIONS="$opts" timeout 20 \
		${norandom:+setarch "$(uname -m)" -R} \
		sh -c 'LD_PRELOAD="$0" exec "$@"' \
		"$shim" "$@" >"$work/out" 2>"$work/err"
	status=$?
}

# valid FILE ARGS...: the trace validates (with the validator's ARGS).
valid() {
	f=$1; shift
	"$validate" "$@" "$f" >"$work/validate.out" 2>"$work/validate.err" ||
		fail "$(basename "$f") does not validate: $(head -5 "$work/validate.err")"
}

# get FILE EV.KEY: one field of the first event of a kind.
get() {
	"$validate" --get "$2" "$1" 2>/dev/null
}

# traces DIR: the trace files in DIR, one a line, in name order.
traces() {
	ls "$1" 2>/dev/null | grep '\.rsj$' | sort
}

finish() {
	if [ $failures -ne 0 ]; then
		echo "$0: $failures failure(s)" >&2
		exit 1
	fi
	exit 0
}
