/*
 * classify.h: the classification of unreachable blocks (SPEC.md
 * "Classification"), as a pure function over a graph so it can be tested
 * with known answers apart from any heap.
 *
 * Must never: allocate (the caller hands in scratch memory), recurse (a
 * chain of ten million blocks is one component per block), or look at
 * anything but the graph it is given.
 */
#ifndef RS_CLASSIFY_H
#define RS_CLASSIFY_H

#include "prim.h"

/* The pointers between unreachable blocks (start or interior), in
 * compressed rows: node u points at succ[off[u]] .. succ[off[u+1]-1].
 * A node may list a target more than once, and itself. */
struct cls_graph {
	uint32_t n;
	const uint64_t *off; /* n + 1 entries */
	const uint32_t *succ;
};

enum cls_class {
	CLS_DEFINITE = 1, /* a leak root: one block, not pointing at itself */
	CLS_INDIRECT = 2, /* lost only because a leak root is lost */
	CLS_CYCLE = 3,    /* member of a leak root with a cycle in it */
};

/* Bytes of scratch memory classify needs for n nodes. */
size_t classify_scratch_bytes(uint32_t n) RS_HIDDEN;

/* Fills cls[u] (an enum cls_class) and comp[u] (strongly connected
 * component id, dense from 0, same id = same component) for every node.
 * Returns the number of components. Scratch needs no initialisation. */
uint32_t classify(const struct cls_graph *g, uint8_t *cls, uint32_t *comp,
		  void *scratch) RS_HIDDEN;

#endif /* RS_CLASSIFY_H */
