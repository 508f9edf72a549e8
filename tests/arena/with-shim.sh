#!/bin/sh
# Runs a command with the build tree's shim preloaded, its traces kept under
# tests/traces in the build tree. Fails loudly when the shim is missing, so
# a test can never pass by testing glibc instead.
shim="${top_builddir:-.}/.libs/librefsweep.so"
if [ ! -f "$shim" ]; then
	echo "with-shim: $shim not built" >&2
	exit 99
fi
traces="${top_builddir:-.}/tests/traces"
mkdir -p "$traces"
REFSWEEP_OPTIONS="${REFSWEEP_OPTIONS:-dir=$traces}" \
LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}" exec "$@"
