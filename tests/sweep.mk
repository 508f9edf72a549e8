# Tests of the sweep: classification with known answers, and programs with
# known leaks of every class and root kind run under the shim (both stop
# methods, strace -f, EINTR-prone threads, every trigger, in-place and
# snapshot marking), cross-checked against valgrind and LeakSanitizer.
check_PROGRAMS += tests/sweep/classify-check
tests_sweep_classify_check_SOURCES = tests/sweep/classify-check.c \
	preload/classify.c
tests_sweep_classify_check_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/preload \
	-I$(top_srcdir)/tests

TESTS += tests/sweep/classify-check

# Programs with known leaks, run under the shim (built without it).
check_PROGRAMS += tests/sweep/known
tests_sweep_known_LDADD = -lpthread
TESTS += tests/sweep/known.sh
EXTRA_DIST += tests/sweep/known.sh

# Blocked threads under sweeps every 10 ms.
check_PROGRAMS += tests/sweep/quiet
tests_sweep_quiet_LDADD = -lpthread
TESTS += tests/sweep/quiet.sh
EXTRA_DIST += tests/sweep/quiet.sh

# A library known.c dlopens: data and TLS (small and large) of a late object.
check_LTLIBRARIES += tests/sweep/libknown-dl.la
tests_sweep_libknown_dl_la_SOURCES = tests/sweep/known-dl.c
tests_sweep_libknown_dl_la_LDFLAGS = -module -avoid-version -shared \
	-rpath /nowhere
tests_sweep_known_LDADD += -ldl

# Sweep pause and cost against heap size (docs/sweep.md "Measurements"),
# run small as a test of both marking paths (in place and snapshot).
check_PROGRAMS += tests/sweep/bench-sweep
TESTS += tests/sweep/bench.sh
EXTRA_DIST += tests/sweep/bench.sh

# Every trigger, and rs_disable.
TESTS += tests/sweep/triggers.sh
EXTRA_DIST += tests/sweep/triggers.sh

# Untouched blocks: fails until the arena clears its free-list link word
# (see the script).
TESTS += tests/sweep/untouched.sh
EXTRA_DIST += tests/sweep/untouched.sh
