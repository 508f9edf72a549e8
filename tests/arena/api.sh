#!/bin/sh
# api-check under the shim (see api-check.c).
exec "$top_srcdir/tests/arena/with-shim.sh" "$top_builddir/tests/arena/api-check"
