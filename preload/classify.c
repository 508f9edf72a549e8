/*
 * classify.c: leak roots, cycles and indirect leaks among unreachable
 * blocks. An iterative Tarjan pass finds the strongly connected components
 * (libmemunreachable's LeakFolding idea, without its recursion, which once
 * overflowed its helper's stack); a component that no other component
 * points into is a leak root.
 *
 * Must never: allocate, recurse, or depend on anything outside the graph.
 */
#include "config.h"
#include "classify.h"

#define UNSEEN UINT32_MAX

/* Scratch layout, one slot per node in each array. */
struct scratch {
	uint32_t *order;  /* Tarjan discovery index, UNSEEN before */
	uint32_t *low;
	uint32_t *stack;  /* the component stack */
	uint32_t *call;   /* the explicit call stack: nodes */
	uint64_t *edge;   /* per call frame: the next edge to look at */
	uint32_t *size;   /* per component: members; later reused as flags */
};

size_t classify_scratch_bytes(uint32_t n)
{
	return (size_t)n * (5 * sizeof(uint32_t) + sizeof(uint64_t)) + 64;
}

static void carve(void *mem, uint32_t n, struct scratch *s)
{
	uint64_t *w = (uint64_t *)(((uintptr_t)mem + 7) & ~(uintptr_t)7);

	s->edge = w;
	s->order = (uint32_t *)(w + n);
	s->low = s->order + n;
	s->stack = s->low + n;
	s->call = s->stack + n;
	s->size = s->call + n;
}

/* Components come out in reverse topological order; ids are assigned as
 * they are closed. comp[] doubles as the "on stack" test: a node is on the
 * component stack while it has an order but no component. */
static uint32_t tarjan(const struct cls_graph *g, uint32_t *comp,
		       struct scratch *s)
{
	uint32_t n = g->n, next = 0, ncomp = 0, sp = 0, cp;

	for (uint32_t u = 0; u < n; u++) {
		s->order[u] = UNSEEN;
		comp[u] = UNSEEN;
	}
	for (uint32_t root = 0; root < n; root++) {
		if (s->order[root] != UNSEEN)
			continue;
		cp = 0;
		s->call[cp] = root;
		s->edge[cp] = g->off[root];
		cp++;
		s->order[root] = s->low[root] = next++;
		s->stack[sp++] = root;
		while (cp) {
			uint32_t u = s->call[cp - 1];
			uint64_t e = s->edge[cp - 1];

			if (e < g->off[u + 1]) {
				uint32_t v = g->succ[e];

				s->edge[cp - 1] = e + 1;
				if (s->order[v] == UNSEEN) {
					s->order[v] = s->low[v] = next++;
					s->stack[sp++] = v;
					s->call[cp] = v;
					s->edge[cp] = g->off[v];
					cp++;
				} else if (comp[v] == UNSEEN &&
					   s->order[v] < s->low[u]) {
					s->low[u] = s->order[v];
				}
				continue;
			}
			cp--;
			if (s->low[u] == s->order[u]) {
				uint32_t v, members = 0;

				do {
					v = s->stack[--sp];
					comp[v] = ncomp;
					members++;
				} while (v != u);
				s->size[ncomp++] = members;
			}
			if (cp) {
				uint32_t parent = s->call[cp - 1];

				if (s->low[u] < s->low[parent])
					s->low[parent] = s->low[u];
			}
		}
	}
	return ncomp;
}

#define F_INCOMING 0x80000000u /* another component points into it */
#define F_LOOP 0x40000000u     /* a single block pointing at itself */
#define F_SIZE 0x3fffffffu

uint32_t classify(const struct cls_graph *g, uint8_t *cls, uint32_t *comp,
		  void *scratch)
{
	struct scratch s;
	uint32_t ncomp;

	if (g->n == 0)
		return 0;
	carve(scratch, g->n, &s);
	ncomp = tarjan(g, comp, &s);
	/* Component sizes above 2^30 only lose the "single block" test's
	 * precision, and no heap has that many blocks in one cycle. */
	for (uint32_t c = 0; c < ncomp; c++)
		if (s.size[c] > F_SIZE)
			s.size[c] = F_SIZE;
	for (uint32_t u = 0; u < g->n; u++) {
		for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++) {
			uint32_t v = g->succ[e];

			if (comp[v] != comp[u])
				s.size[comp[v]] |= F_INCOMING;
			else if (v == u)
				s.size[comp[u]] |= F_LOOP;
		}
	}
	for (uint32_t u = 0; u < g->n; u++) {
		uint32_t f = s.size[comp[u]];

		if (f & F_INCOMING)
			cls[u] = CLS_INDIRECT;
		else if ((f & F_SIZE) > 1 || (f & F_LOOP))
			cls[u] = CLS_CYCLE;
		else
			cls[u] = CLS_DEFINITE;
	}
	return ncomp;
}
