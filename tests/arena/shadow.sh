#!/bin/sh
# shadow-check under the shim (see shadow-check.c): with the default options, then
# with no stacks captured, where malloc and free take the arena's leaf fast
# paths (arena_alloc_fast, arena_free_fast) instead of the capturing ones.
traces="${top_builddir:-.}/tests/traces"
"$top_srcdir/tests/arena/with-shim.sh" "$top_builddir/tests/arena/shadow-check" || exit $?
REFSWEEP_OPTIONS="dir=$traces,unwind=none,exit_sweep=0" \
	exec "$top_srcdir/tests/arena/with-shim.sh" "$top_builddir/tests/arena/shadow-check"
