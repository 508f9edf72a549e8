/*
 * lifecycle.h: the order of things in the shim's life. Owns initialisation
 * (constructor and first malloc, whichever comes first), the per-thread
 * recursion guard, fork handlers in one fixed lock order, thread exit, exec,
 * and the exit sweep hook that runs after every destructor.
 *
 * Must never: let a layer initialise itself; every layer's init and fork
 * handler is called from here, in the order written here.
 */
#ifndef RS_LIFECYCLE_H
#define RS_LIFECYCLE_H

#include "prim.h"

/* Non-zero while the current thread runs shim code that may call back into
 * malloc (the unwinder, the writer, a sweep). Allocations made meanwhile are
 * served untracked: no stack, flagged BLOCK_UNTRACKED, never reported. */
extern RS_TLS int rs_in_shim RS_HIDDEN;

static inline void rs_enter(void) { rs_in_shim++; }
static inline void rs_leave(void) { rs_in_shim--; }

/* True once the constructor finished: options are read and the writer is
 * open. Before that, allocations are tracked without stacks. */
extern bool rs_ready RS_HIDDEN;

/* The pid the shim's state belongs to. A different answer from getpid()
 * means a vfork child or a child made without fork's handlers: such a child
 * must not touch the trace or the sweep. */
extern pid_t rs_pid RS_HIDDEN;

/* Each thread's first allocation reaches here (the intercept's slow path):
 * thread start event and thread-exit hook. */
extern RS_TLS bool rs_thread_seen RS_HIDDEN;
void rs_thread_first_seen(void) RS_HIDDEN;

/* A layer that cannot go on calls this once: the feature is turned off, the
 * reason goes to the trace and (once) to stderr, the program runs on. */
void rs_degrade(const char *what, const char *detail) RS_HIDDEN;

#endif /* RS_LIFECYCLE_H */
