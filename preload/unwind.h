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
/* fork: prepare keeps threads out of libunwind and waits (bounded) for
 * those inside; the child's call says whether one was still inside, in
 * which case that process never uses libunwind (frame pointers only). */
void unwind_fork_prepare(void) RS_HIDDEN;
void unwind_fork_parent(void) RS_HIDDEN;
bool unwind_fork_child(void) RS_HIDDEN;
void stackdepot_fork_prepare(void) RS_HIDDEN;
void stackdepot_fork_parent(void) RS_HIDDEN;
/* The child's trace is new: every stack must be emitted again. */
void stackdepot_fork_child(void) RS_HIDDEN;

/* Added by the trace layer. */
/* The depot's half of unwind_capture: interns frames[0..n) (n >= 1) and
 * returns its id, 0 when the depot is full or unusable. *fresh is set when
 * the stack was not in the depot before. */
uint32_t stackdepot_intern(const uintptr_t *frames, uint32_t n,
			   bool truncated, bool *fresh) RS_HIDDEN;
/* How many distinct stacks the depot holds. */
uint32_t stackdepot_count(void) RS_HIDDEN;

/* The loaded objects (dl.c): a table of every object ever seen, scanned
 * with dl_iterate_phdr, never shrunk (a dlclose'd object is marked dead).
 * Records are written once before they are published, so readers need no
 * lock. */
struct rs_module {
	uintptr_t base;         /* load bias (dlpi_addr) */
	uintptr_t lo, hi;       /* lowest PT_LOAD start, highest end */
	const char *path;       /* real path; the executable's from /proc */
	char build_id[129];     /* hex GNU build-id, "" when none */
	bool main;              /* the executable */
	bool fp;                /* its code keeps frame pointers (eh_frame) */
	bool dead;              /* dlclose'd */
	const uint8_t *eh_hdr;  /* .eh_frame_hdr, NULL when none */
	size_t eh_len;
	uintptr_t seg_lo, seg_hi; /* the segment that holds it */
	/* writer bookkeeping, per trace generation */
	uint32_t emitted_gen, unload_gen;
};
/* Rescans the loaded objects. Takes the loader lock: no shim lock may be
 * held by the caller. Returns true if anything changed. */
bool dl_sync(void) RS_HIDDEN;
uint32_t dl_count(void) RS_HIDDEN;
struct rs_module *dl_module(uint32_t i) RS_HIDDEN;
/* Does the code at pc keep frame pointers? 1 yes, 0 no, -1 pc is in no
 * known object. Lock-free, cached per thread. */
int dl_pc_keeps_fp(uintptr_t pc) RS_HIDDEN;
/* For a return address ra: true if the caller's frame at the call is
 * rsp + *off (its layout depends on rsp alone, from its unwind tables).
 * Lock-free, cached. */
bool dl_frame_rule(uintptr_t ra, uint32_t *off) RS_HIDDEN;
/* Changes whenever the module table does. */
uint32_t dl_generation(void) RS_HIDDEN;
/* Resolves the real exec/dlopen functions and remembers the preload
 * environment; called from writer_init. */
void dl_init(void) RS_HIDDEN;

#endif /* RS_UNWIND_H */
