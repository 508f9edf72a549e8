/*
 * sweep.h: the reachability sweep. Owns stopping the world, the root set,
 * marking with reference counts, classification (reachable, possible,
 * definite, indirect, cycle), the sweep triggers, late-free tracking, and
 * the program-facing API table (refsweep_api_v1, include/refsweep.h).
 *
 * Must never: call anything that may take a lock a stopped thread holds
 * while the world is stopped (no malloc, no writer, no libunwind, no
 * dl_iterate_phdr), change what the program observes (EINTR, signals,
 * wake-ups), or report a block it could not judge.
 */
#ifndef RS_SWEEP_H
#define RS_SWEEP_H

#include "prim.h"

struct arena_block;

void sweep_init(void) RS_HIDDEN;
/* Called by the allocation path every so often (no lock held): runs a
 * sweep when a growth, count or interval threshold is due. Cheap when not. */
void sweep_poll(void) RS_HIDDEN;
/* The program freed a block flagged BLOCK_REPORTED. */
void sweep_late_free(const struct arena_block *b) RS_HIDDEN;
/* The exit sweep (lifecycle calls it after every destructor). */
void sweep_at_exit(void) RS_HIDDEN;

void sweep_fork_prepare(void) RS_HIDDEN;
void sweep_fork_parent(void) RS_HIDDEN;
void sweep_fork_child(void) RS_HIDDEN;

/* For the API (api.c). caller_sp is the program's stack pointer at the
 * call into the shim: the sweeping thread's stack is scanned from there
 * up, so the shim's own frames (which hold copies of the argument) do not
 * count. */
long sweep_collect(uintptr_t caller_sp) RS_HIDDEN;
/* References to the live block starting at p, from a sweep of its own
 * (not written to the trace). 0, or -1 if p is not a live block start. */
int sweep_refcount(const void *p, uintptr_t caller_sp, uint64_t *start,
		   uint64_t *interior) RS_HIDDEN;
/* Periodic sweeps (growth, count, interval) on or off. */
void sweep_set_periodic(bool on) RS_HIDDEN;
bool sweep_periodic(void) RS_HIDDEN;
/* Root regions: [p, p+n) is scanned by every sweep until unregistered. */
int sweep_register_root(const void *p, size_t n) RS_HIDDEN;
int sweep_unregister_root(const void *p) RS_HIDDEN;
/* Sweeps so far and what the last complete one found unreachable. */
void sweep_stats(uint64_t *sweeps, uint64_t *unreachable_blocks,
		 uint64_t *unreachable_bytes) RS_HIDDEN;

#endif /* RS_SWEEP_H */
