#!/bin/sh
# threads-check under the shim (see threads-check.c).
exec "$top_srcdir/tests/arena/with-shim.sh" "$top_builddir/tests/arena/threads-check"
