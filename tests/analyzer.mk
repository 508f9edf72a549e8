# The analyzer's tests: traces from a program with known leaks (tracegen,
# which writes its own trace, so these tests do not need the shim), golden
# reports for every format, the gate, run's plumbing, diff, and the reader
# on broken input. The fuzz runner (tests/fuzz/run-fuzz.sh) is not part of
# make check: CI calls it with a time bound.
check_PROGRAMS += tests/analyzer/tracegen
tests_analyzer_tracegen_SOURCES = tests/analyzer/tracegen.c
# Frames must be real: the make_* functions are noinline, and the build's
# CFLAGS come after these (automake), so -O0 is a wish, not a guarantee.
tests_analyzer_tracegen_CFLAGS = $(AM_CFLAGS) -g -O0 -fno-omit-frame-pointer

check_PROGRAMS += tests/analyzer/leaky
tests_analyzer_leaky_SOURCES = tests/analyzer/leaky.c
tests_analyzer_leaky_CFLAGS = $(AM_CFLAGS) -g -O0 -fno-omit-frame-pointer

check_LTLIBRARIES += tests/analyzer/libfakeshim.la
tests_analyzer_libfakeshim_la_SOURCES = tests/analyzer/fakeshim.c
tests_analyzer_libfakeshim_la_LDFLAGS = -module -avoid-version -shared \
	-rpath /nowhere

ANALYZER_TESTS = \
	tests/analyzer/reader.sh \
	tests/analyzer/report.sh \
	tests/analyzer/formats.sh \
	tests/analyzer/check.sh \
	tests/analyzer/run.sh \
	tests/analyzer/diff.sh \
	tests/analyzer/shim.sh
TESTS += $(ANALYZER_TESTS)
EXTRA_DIST += $(ANALYZER_TESTS) tests/analyzer/lib.sh tests/analyzer/golden \
	tests/analyzer/junit.xsd tests/analyzer/sarif-validate.py \
	tests/analyzer/get-sarif-schema.sh tests/analyzer/norm.jq \
	tests/fuzz/fuzz_reader.c tests/fuzz/run-fuzz.sh tests/fuzz/corpus

# configure --enable-valgrind: every refsweep the analyzer's tests start
# runs under memcheck (tests/analyzer/lib.sh reads RS_VALGRIND).
if ENABLE_VALGRIND
AM_TESTS_ENVIRONMENT += RS_VALGRIND=1; export RS_VALGRIND;
endif
