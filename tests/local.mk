# Tests of the arena and the interposition, the real-program comparison and
# the source checker. Test programs are built without the shim and run with
# it preloaded (tests/arena/with-shim.sh).
check_PROGRAMS += tests/arena/api-check tests/arena/threads-check \
	tests/arena/shadow-check
tests_arena_api_check_CFLAGS = $(AM_CFLAGS) -Wno-alloc-size-larger-than \
	-Wno-free-nonheap-object -Wno-use-after-free
tests_arena_threads_check_LDADD = -lpthread
noinst_HEADERS += tests/check.h

TESTS += tests/checksrc.sh tests/arena/api.sh tests/arena/threads.sh \
	tests/arena/shadow.sh tests/real/real-programs.sh \
	tests/real/real-programs-sweep.sh tests/real/real-leaks.sh
EXTRA_DIST += tests/checksrc.sh tests/arena/with-shim.sh tests/arena/api.sh \
	tests/arena/threads.sh tests/arena/shadow.sh tests/real/real-programs.sh \
	tests/real/real-programs-sweep.sh tests/real/real-leaks.sh tests/real/workload.py \
	tests/real/workload.sql tests/real/workload.c tests/real/crosscheck.sh
CLEANFILES += -r tests/traces

# The quick start's demo: known leaks of every class.
check_PROGRAMS += tests/integration/demo
tests_integration_demo_CFLAGS = $(KNOWN_ANSWER_CFLAGS)

# Known-answer programs, run end to end: `refsweep run -o` then
# `refsweep report -f json`, compared with NAME.expect, and cross-checked
# with valgrind and LeakSanitizer on the same program.
known_answer_progs = tests/integration/cycles tests/integration/into-cycle \
	tests/integration/interior tests/integration/exit-paths \
	tests/integration/threads tests/integration/fork
check_PROGRAMS += $(known_answer_progs)
# No sibling calls: a tail call would take its caller's frame out of every
# stack, and the cases name the functions their leaks come from.
KNOWN_ANSWER_CFLAGS = $(AM_CFLAGS) -O1 -g -fno-optimize-sibling-calls
tests_integration_cycles_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
tests_integration_into_cycle_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
tests_integration_interior_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
tests_integration_exit_paths_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
tests_integration_threads_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
tests_integration_threads_LDADD = -lpthread
tests_integration_fork_CFLAGS = $(KNOWN_ANSWER_CFLAGS)
noinst_HEADERS += tests/integration/common.h
TEST_EXTENSIONS += .expect
EXPECT_LOG_COMPILER = python3 $(top_srcdir)/tests/integration/run-expect.py
known_answer_cases = tests/integration/demo.expect tests/integration/cycles.expect \
	tests/integration/into-cycle.expect tests/integration/interior.expect \
	tests/integration/exit-paths.expect tests/integration/exit-paths-exit.expect \
	tests/integration/exit-paths-_exit.expect tests/integration/threads.expect \
	tests/integration/fork.expect
TESTS += $(known_answer_cases)
EXTRA_DIST += $(known_answer_cases) tests/integration/run-expect.py

# The host must not notice the shim: signals, blocking calls, vfork,
# posix_spawn, fork from threads, dlopen/dlclose, swapcontext, errno.
check_PROGRAMS += tests/host/host-check
tests_host_host_check_LDADD = -lpthread -ldl
TESTS += tests/host/host.sh
EXTRA_DIST += tests/host/host.sh
