#!/bin/sh
# Quick start: install what is missing, build refsweep in _build/, and run
# it on the bundled demo (a lost block, a lost tree and a leaked reference
# cycle one -> two -> three -> one). See README.md.
. "$(dirname "$0")/scripts/setup.sh"
trace="$build/demo-trace"
rm -rf "$trace"
echo "\$ refsweep run -o _build/demo-trace -- _build/tests/integration/demo" >&2
set +e
"$build/refsweep" run -o "$trace" -- "$build/tests/integration/demo"
status=$?
set -e
if [ "$status" = 23 ]; then
	echo "quickstart: refsweep exited 23, its leak exit code: the demo leaks, as it should." >&2
	echo "quickstart: the JSON report: _build/refsweep report -f json _build/demo-trace" >&2
	exit 0
fi
echo "quickstart: refsweep exited $status, expected 23 (leaks found)" >&2
exit 1
