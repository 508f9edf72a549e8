# librefsweep.so: the preloaded shim. This fragment owns the library itself
# and its lowest layers (primitives, arena, interposition, lifecycle); the
# other preload fragments add their sources with +=.
pkglib_LTLIBRARIES += librefsweep.la
librefsweep_la_SOURCES = \
	preload/prim.c preload/prim.h \
	preload/arena.c preload/arena.h \
	preload/intercept.c \
	preload/lifecycle.c preload/lifecycle.h
librefsweep_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBUNWIND_CFLAGS)
# The shim runs inside programs it knows nothing about: initial-exec TLS,
# hidden symbols (only preload/exports.map leaves the library), and no
# compiler rewriting of malloc+memset into calloc inside calloc itself.
librefsweep_la_CFLAGS = $(AM_CFLAGS) $(SHIM_SAN_CFLAGS) -fvisibility=hidden \
	-ftls-model=initial-exec -fno-builtin-malloc -fno-builtin-calloc \
	-fno-builtin-realloc -fno-builtin-free -fno-tree-loop-distribute-patterns \
	-fno-omit-frame-pointer -fno-plt -O2 -flto
# LTO lets the arena's fast paths inline into malloc and free: without it
# the call boundary alone cost a binary-trees run 7% more instructions. One
# partition keeps top-level asm (the sweep's signal restorer) beside its users.
librefsweep_la_LDFLAGS = -module -avoid-version -shared -no-undefined -Wc,-flto -Wc,-O2 \
	-Wc,-flto-partition=one \
	-Wl,--version-script=$(top_srcdir)/preload/exports.map -Wl,-z,nodelete \
	-Wl,-z,now
# libunwind is dlopen'ed (preload/unwind.c): only its headers are used here.
librefsweep_la_LIBADD = -lpthread
EXTRA_DIST += preload/exports.map

# The shim is preloaded, never linked against: its libtool archive is noise.
# Without the archive libtool's uninstall no longer knows the library's name.
install-exec-hook:
	rm -f $(DESTDIR)$(pkglibdir)/librefsweep.la
uninstall-hook:
	rm -f $(DESTDIR)$(pkglibdir)/librefsweep.so
