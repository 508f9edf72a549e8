/*
 * mark.h: the conservative mark of a stopped world. Scans the roots and
 * every live block once, word by word, counting start and interior
 * references per block; marks reachable (start-pointer chains) and
 * possible (chains with an interior pointer) blocks with an explicit
 * stack; builds the graph among the rest and classifies it (classify.h).
 *
 * Must never: allocate (scratch comes from prim_map and is returned by
 * mark_free), recurse, read a word outside the root ranges or a live
 * block, or write block metadata other than the BLOCK_REPORTED flag.
 */
#ifndef RS_MARK_H
#define RS_MARK_H

#include "prim.h"
#include "roots.h"

/* Classes as the sweep counts them (the first three are enum cls_class). */
enum mark_class {
	MC_REACHABLE = 0,
	MC_DEFINITE = 1,
	MC_INDIRECT = 2,
	MC_CYCLE = 3,
	MC_POSSIBLE = 4,
	MC_COUNT = 5,
};

/* One reported block (possible or unreachable), copied out of the heap
 * while the world is stopped so events can be written after it resumes. */
struct leak_rec {
	uintptr_t addr;
	uint64_t size;
	uint32_t stack;
	uint32_t comp;      /* component id, for cycles */
	uint32_t refs_start, refs_interior;
	uint8_t cls;        /* enum mark_class */
	uint8_t inherited;  /* allocated by the parent of a fork child */
};

#define MARK_SCRATCH 10

struct mark_result {
	uint64_t blocks, bytes;           /* live blocks seen */
	uint64_t bytes_scanned, roots_bytes;
	uint64_t nblocks[MC_COUNT], nbytes[MC_COUNT];
	struct leak_rec *recs;            /* possible and unreachable */
	uint64_t nrecs;
	uint32_t ncomp;                   /* components (cycles use ids) */
	/* mark_run's answer for `query` (rs_get_refcount) */
	bool query_found;
	uint32_t query_start, query_interior;
	/* blocks whose BLOCK_REPORTED flag was cleared (found reachable
	 * again), for a caller that must apply flags elsewhere (snapshot) */
	uintptr_t *cleared;
	uint64_t ncleared;
	/* private */
	void *mem[MARK_SCRATCH];
	size_t len[MARK_SCRATCH];
};

/* The world is stopped. `judge` false: count every live block reachable,
 * report nothing and leave every flag alone (a partial sweep, or one that
 * only counts references); true: classify and flag the unreachable ones
 * BLOCK_REPORTED (and clear it on blocks found reachable again). `query` (may be 0) asks for one block's reference counts.
 * False when scratch memory could not be had. */
bool mark_run(const struct roots *r, bool judge, uintptr_t query,
	      struct mark_result *res) RS_HIDDEN;
void mark_free(struct mark_result *res) RS_HIDDEN;

#endif /* RS_MARK_H */
