#!/bin/sh
# shadow-check under the shim (see shadow-check.c).
exec "$top_srcdir/tests/arena/with-shim.sh" "$top_builddir/tests/arena/shadow-check"
