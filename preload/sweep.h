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
/* A full sweep written to the trace; trigger is an RS_TRIGGER_* string.
 * Returns the number of unreachable blocks found, or -1 when none could be
 * made. */
long sweep_run(const char *trigger) RS_HIDDEN;
/* The program freed a block flagged BLOCK_REPORTED. */
void sweep_late_free(const struct arena_block *b) RS_HIDDEN;
/* The exit sweep (lifecycle calls it after every destructor). */
void sweep_at_exit(void) RS_HIDDEN;

void sweep_fork_prepare(void) RS_HIDDEN;
void sweep_fork_parent(void) RS_HIDDEN;
void sweep_fork_child(void) RS_HIDDEN;

#endif /* RS_SWEEP_H */
