/*
 * unwind.h: allocation stacks. Owns capturing the calling thread's stack
 * (libunwind's unw_backtrace, or a checked frame-pointer walk where that is
 * safe) and the stack depot that interns each distinct stack once and gives
 * it a 32-bit id.
 *
 * Must never: be called with a shim lock held (libunwind takes the loader
 * lock through dl_iterate_phdr), allocate from the program's heap, or
 * return a stack that starts inside the shim.
 */
#ifndef RS_UNWIND_H
#define RS_UNWIND_H

#include "prim.h"

/* Captures the stack of the thread calling the allocator. `ra` is the
 * allocator entry's __builtin_return_address(0): frames above it (inside
 * the shim) are dropped. Returns the interned id, 0 when no stack could be
 * taken (the block is still tracked). Re-entrancy guarded. */
uint32_t unwind_capture(void *ra) RS_HIDDEN;

/* The frames of a stack id (NULL when unknown). Valid forever: the depot
 * never frees. */
const uintptr_t *stackdepot_frames(uint32_t id, uint32_t *n) RS_HIDDEN;

/* Writes the stack event for id unless this trace already has it. Call
 * before emitting any event that names the id. No lock held by the caller. */
void stackdepot_emit(uint32_t id) RS_HIDDEN;

void unwind_init(void) RS_HIDDEN;
void stackdepot_fork_prepare(void) RS_HIDDEN;
void stackdepot_fork_parent(void) RS_HIDDEN;
/* The child's trace is new: every stack must be emitted again. */
void stackdepot_fork_child(void) RS_HIDDEN;

#endif /* RS_UNWIND_H */
