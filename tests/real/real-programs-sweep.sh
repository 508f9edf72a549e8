#!/bin/sh
# The real programs again, with a sweep every 10 ms.
REFSWEEP_REAL_MODE=sweep10ms exec sh "$top_srcdir/tests/real/real-programs.sh"
