/*
 * lifecycle.c: the order of things in the shim's life (see lifecycle.h).
 *
 * Initialisation: the arena maps itself on the first allocation, which
 * usually comes from the dynamic loader long before our constructor; the
 * constructor then reads options, opens the trace and registers the fork,
 * thread-exit and exit hooks. Everything the constructor allocates is the
 * shim's own (rs_in_shim), so never reported.
 *
 * Exit: on_exit() called from the constructor runs after every atexit
 * handler and every destructor (the dynamic loader's _dl_fini was registered
 * after us, and exit handlers run last-registered first;
 * research/sweep-bench/exit-order measured it), and it receives the status.
 *
 * Must never: run anything in a vfork child (it shares the parent's memory
 * and the parent is suspended) or in a child made without fork's handlers:
 * both are recognised by a pid that is not ours.
 */
#define _GNU_SOURCE
#include "config.h"
#include "lifecycle.h"
#include "arena.h"
#include "options.h"
#include "sweep.h"
#include "unwind.h"
#include "writer.h"
#include "refsweep-events.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

RS_TLS int rs_in_shim;
bool rs_ready;
pid_t rs_pid;

static pthread_key_t thread_key;
static bool thread_key_ok;
RS_TLS bool rs_thread_seen;
static bool exit_done;

static bool ours(void)
{
	return prim_getpid() == rs_pid;
}

void rs_degrade(const char *what, const char *detail)
{
	char mem[768];
	struct jbuf jb;

	if (!rs_opt.quiet)
		prim_notice(what, detail);
	jb_begin(&jb, mem, sizeof mem, "warning");
	jb_str(&jb, "what", what);
	if (detail)
		jb_str(&jb, "detail", detail);
	jb_end(&jb);
	writer_emit(&jb);
}

static void thread_exit_cb(void *unused)
{
	rs_enter();
	writer_thread_event("exit", prim_gettid());
	rs_leave();
	arena_thread_exit();
}

void rs_thread_first_seen(void)
{
	rs_thread_seen = true;
	if (!thread_key_ok || !ours())
		return;
	rs_enter();
	/* A non-NULL value makes the destructor run at this thread's exit. */
	pthread_setspecific(thread_key, (void *)1);
	writer_thread_event("start", prim_gettid());
	rs_leave();
}

static void fork_prepare(void)
{
	/* First: a thread leaving libunwind may still need the locks below. */
	unwind_fork_prepare();
	writer_fork_prepare();
	stackdepot_fork_prepare();
	sweep_fork_prepare();
	arena_fork_prepare();
}

static void fork_parent(void)
{
	arena_fork_parent();
	sweep_fork_parent();
	stackdepot_fork_parent();
	writer_fork_parent();
	unwind_fork_parent();
}

static void fork_child(void)
{
	rs_pid = prim_getpid();
	arena_fork_child();
	sweep_fork_child();
	stackdepot_fork_child();
	writer_fork_child();
	if (unwind_fork_child())
		rs_degrade("unwind", "forked while another thread was inside "
			   "libunwind: stacks in this process come from frame "
			   "pointers only");
}

/* The end of a process that ends normally: the exit sweep, then the exit
 * event, then everything flushed. Runs once, whichever way comes first. */
static void finish(const char *how, int status)
{
	if (__atomic_exchange_n(&exit_done, true, __ATOMIC_ACQ_REL))
		return;
	rs_enter();
	if (rs_opt.exit_sweep)
		sweep_at_exit();
	writer_exit_event(how, status);
	writer_flush();
	rs_leave();
}

static void on_exit_cb(int status, void *unused)
{
	if (ours())
		finish(RS_EXIT_RETURN, status);
}

__attribute__((constructor(101))) static void rs_constructor(void)
{
	rs_enter();
	arena_init();
	rs_pid = prim_getpid();
	options_init();
	writer_init();
	/* After the writer: a libunwind that cannot be loaded is a warning. */
	unwind_init();
	sweep_init();
	thread_key_ok = pthread_key_create(&thread_key, thread_exit_cb) == 0;
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		rs_degrade("fork", "pthread_atfork failed: fork children are not followed");
	if (on_exit(on_exit_cb, NULL) != 0)
		rs_degrade("exit", "on_exit failed: no exit sweep");
	rs_ready = true;
	rs_leave();
	rs_thread_first_seen();
}

/* _exit ends the process without exit handlers, but it is still a normal
 * end the user wants swept (SPEC.md, "When sweeps run"). */
__attribute__((visibility("default"), noreturn)) void _exit(int status)
{
	if (rs_ready && ours())
		finish(RS_EXIT_UNDERSCORE, status);
	for (;;)
		prim_syscall(SYS_exit_group, status, 0, 0);
}

__attribute__((visibility("default"), noreturn)) void _Exit(int status)
{
	_exit(status);
}
