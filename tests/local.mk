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
	tests/real/real-programs-sweep.sh
EXTRA_DIST += tests/checksrc.sh tests/arena/with-shim.sh tests/arena/api.sh \
	tests/arena/threads.sh tests/arena/shadow.sh tests/real/real-programs.sh \
	tests/real/real-programs-sweep.sh tests/real/workload.py \
	tests/real/workload.sql tests/real/workload.c
CLEANFILES += -r tests/traces

# The quick start's demo: known leaks of every class.
check_PROGRAMS += tests/integration/demo
tests_integration_demo_CFLAGS = $(AM_CFLAGS) -O1 -g
