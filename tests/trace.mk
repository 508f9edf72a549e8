# Tests of the trace layer: every trace validates against the schema
# (tests/trace/validate), for single-threaded, multi-threaded, forking,
# exec'ing and dlopen'ing programs; bad outputs and bad options leave the
# program running. The programs are built without the shim and run with it
# preloaded.
check_PROGRAMS += tests/trace/validate tests/trace/tracee
tests_trace_validate_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_trace_validate_LDADD = $(JANSSON_LIBS)
tests_trace_tracee_CFLAGS = $(AM_CFLAGS) -O1 -g -fno-omit-frame-pointer
tests_trace_tracee_LDFLAGS = -Wl,--enable-new-dtags -Wl,-rpath,'$$ORIGIN/.libs'
tests_trace_tracee_LDADD = -ldl -lpthread
check_PROGRAMS += tests/trace/tracee_nofp
tests_trace_tracee_nofp_SOURCES = tests/trace/tracee.c
tests_trace_tracee_nofp_CFLAGS = $(AM_CFLAGS) -O2 -g -fomit-frame-pointer
tests_trace_tracee_nofp_LDFLAGS = $(tests_trace_tracee_LDFLAGS)
tests_trace_tracee_nofp_LDADD = $(tests_trace_tracee_LDADD)
check_LTLIBRARIES += tests/trace/libtraceplug.la
tests_trace_libtraceplug_la_SOURCES = tests/trace/plugin.c
tests_trace_libtraceplug_la_CFLAGS = $(AM_CFLAGS) -O1 -fno-omit-frame-pointer
tests_trace_libtraceplug_la_LDFLAGS = -module -avoid-version -rpath /nowhere
# The same plugin without frame pointers: its stacks need libunwind.
check_LTLIBRARIES += tests/trace/libtraceplug_nofp.la
tests_trace_libtraceplug_nofp_la_SOURCES = tests/trace/plugin.c
tests_trace_libtraceplug_nofp_la_CFLAGS = $(AM_CFLAGS) -O2 -fomit-frame-pointer
tests_trace_libtraceplug_nofp_la_LDFLAGS = -module -avoid-version -rpath /nowhere

TRACE_TESTS = tests/trace/single.sh tests/trace/threads.sh \
	tests/trace/fork.sh tests/trace/exec.sh tests/trace/dlopen.sh \
	tests/trace/stacks.sh tests/trace/pipe.sh tests/trace/output.sh \
	tests/trace/options.sh tests/trace/all.sh tests/trace/json.sh \
	tests/trace/real.sh
TESTS += $(TRACE_TESTS)
EXTRA_DIST += $(TRACE_TESTS) tests/trace/lib.sh tests/trace/measure.sh
