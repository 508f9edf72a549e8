/*
 * stop.h: stopping every thread of the process but the caller, and letting
 * them go again, with each stopped thread's registers (general and vector).
 *
 * Method (docs/sweep.md): a helper task made with a raw clone (same memory,
 * its own thread group, its own stack) attaches to every thread with
 * PTRACE_SEIZE + PTRACE_INTERRUPT, which sleeping, reading, polling and
 * condition-waiting threads do not notice; a signal caught while stopping
 * is handed back on detach. When ptrace is refused (the program is already
 * traced by strace or gdb, or is not dumpable) a real-time signal whose
 * handler parks the thread is the fallback, and the result says so.
 *
 * Must never: allocate, take a lock, call libc, or leave a thread stopped.
 */
#ifndef RS_STOP_H
#define RS_STOP_H

#include "prim.h"

/* user_regs_struct, as PTRACE_GETREGSET NT_PRSTATUS returns it. */
#define STOP_NREGS 27
#define STOP_REG_RSP 19
#define STOP_REG_FS_BASE 21
#define STOP_XSTATE_MAX 4096

enum stop_state {
	STOP_STOPPED = 1, /* stopped; registers valid */
	STOP_PARKED,      /* signal method: parked in the handler; sp valid */
	STOP_MISSED,      /* alive but could not be stopped */
	STOP_BLOCKED,     /* left running-blocked in a call a stop would
			     interrupt with EINTR; sp from /proc */
};

struct stop_thread {
	pid_t tid;
	int state;            /* enum stop_state */
	int pending_signal;   /* handed back on detach */
	uint32_t xstate_len;  /* bytes of xstate filled */
	uintptr_t sp, fs_base;
	uint64_t regs[STOP_NREGS];
	uint8_t xstate[STOP_XSTATE_MAX];
};

struct stop_world {
	/* filled by stop_world() */
	const char *method;   /* "ptrace", "signal", or "alone" (the caller is
				 the only thread: nothing to stop) */
	const char *reason;   /* why some thread was missed, or "" */
	uint32_t nthreads;    /* entries in t[] (the caller is not one) */
	uint32_t nmissed;
	uint32_t nblocked;    /* threads left STOP_BLOCKED */
	const char *blocked_in; /* the call one of them was blocked in */
	struct stop_thread *t;
	/* private */
	uint32_t cap;
	void *mem;
	size_t mem_len;
	int helper;
	uint8_t *helper_stack;
};

/* Stops every other thread. `mode` is an enum rs_stop_mode. False when
 * nothing could be stopped (reason says why); then stop_resume need not
 * be called. Threads it could not stop are listed as STOP_MISSED. With
 * `leave_blocked`, a thread blocked in a call that any stop would end with
 * EINTR (epoll_wait, semop, sigtimedwait, io_getevents, socket calls with
 * a timeout) is not touched and is listed STOP_BLOCKED: its memory is
 * still, but its registers are unknown, so such a sweep cannot judge. */
bool stop_world(struct stop_world *w, int mode, bool leave_blocked) RS_HIDDEN;
void stop_resume(struct stop_world *w) RS_HIDDEN;

#endif /* RS_STOP_H */
