/*
 * classify-check.c: classification as a pure function over graphs with
 * known answers (SPEC.md "Classification"): cycles of 2, 3 and 10 blocks,
 * a block pointing at itself, a tree lost at its root, a cycle with a lost
 * block pointing into it, a block pointing into a cycle, and a chain of a
 * million blocks (no recursion may overflow).
 */
#include "classify.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define MAXE 4096

struct g {
	uint32_t n;
	uint32_t from[MAXE], to[MAXE];
	uint32_t ne;
};

static void edge(struct g *g, uint32_t a, uint32_t b)
{
	g->from[g->ne] = a;
	g->to[g->ne++] = b;
}

/* Builds compressed rows and classifies; cls and comp are returned. */
static void run(const struct g *g, uint8_t *cls, uint32_t *comp)
{
	uint64_t *off = calloc(g->n + 1, sizeof(*off));
	uint32_t *succ = calloc(g->ne + 1, sizeof(*succ));
	uint64_t *fill = calloc(g->n + 1, sizeof(*fill));
	void *scratch = malloc(classify_scratch_bytes(g->n));

	for (uint32_t e = 0; e < g->ne; e++)
		off[g->from[e] + 1]++;
	for (uint32_t u = 0; u < g->n; u++)
		off[u + 1] += off[u];
	for (uint32_t e = 0; e < g->ne; e++)
		succ[off[g->from[e]] + fill[g->from[e]]++] = g->to[e];
	struct cls_graph cg = { g->n, off, succ };
	classify(&cg, cls, comp, scratch);
	free(off), free(succ), free(fill), free(scratch);
}

static const char *name(int c)
{
	return c == CLS_DEFINITE ? "definite" : c == CLS_INDIRECT ? "indirect"
	       : c == CLS_CYCLE ? "cycle" : "?";
}

#define EXPECT(u, c) CHECK(cls[u] == (c), "node %u is %s, want %s", (u), \
			   name(cls[u]), name(c))

static void cycles(void)
{
	/* 0<->1; 2->3->4->2; 5..14 a ring of ten; 15->15; 16 alone */
	struct g g = { .n = 17 };
	uint8_t cls[17];
	uint32_t comp[17];

	edge(&g, 0, 1), edge(&g, 1, 0);
	edge(&g, 2, 3), edge(&g, 3, 4), edge(&g, 4, 2);
	for (uint32_t i = 0; i < 10; i++)
		edge(&g, 5 + i, 5 + (i + 1) % 10);
	edge(&g, 15, 15);
	run(&g, cls, comp);
	for (uint32_t u = 0; u < 16; u++)
		EXPECT(u, CLS_CYCLE);
	EXPECT(16u, CLS_DEFINITE);
	CHECK(comp[0] == comp[1] && comp[0] != comp[2], "2-cycle component");
	CHECK(comp[2] == comp[3] && comp[3] == comp[4], "3-cycle component");
	for (uint32_t i = 1; i < 10; i++)
		CHECK(comp[5] == comp[5 + i], "10-cycle component %u", i);
	CHECK(comp[15] != comp[5] && comp[15] != comp[16], "self loop alone");
}

static void trees(void)
{
	/* tree: 0 -> 1, 2; 1 -> 3, 4 (interior or start alike).
	 * lost block into a cycle: 5 -> 6 <-> 7.
	 * cycle pointing out: 8 <-> 9 -> 10 -> 11. */
	struct g g = { .n = 12 };
	uint8_t cls[12];
	uint32_t comp[12];

	edge(&g, 0, 1), edge(&g, 0, 2), edge(&g, 1, 3), edge(&g, 1, 4);
	edge(&g, 5, 6), edge(&g, 6, 7), edge(&g, 7, 6);
	edge(&g, 8, 9), edge(&g, 9, 8), edge(&g, 9, 10), edge(&g, 10, 11);
	edge(&g, 1, 3); /* a second pointer to the same block */
	run(&g, cls, comp);
	EXPECT(0u, CLS_DEFINITE);
	for (uint32_t u = 1; u <= 4; u++)
		EXPECT(u, CLS_INDIRECT);
	EXPECT(5u, CLS_DEFINITE);
	EXPECT(6u, CLS_INDIRECT);
	EXPECT(7u, CLS_INDIRECT);
	EXPECT(8u, CLS_CYCLE);
	EXPECT(9u, CLS_CYCLE);
	EXPECT(10u, CLS_INDIRECT);
	EXPECT(11u, CLS_INDIRECT);
}

static void nested(void)
{
	/* Two cycles, one pointing into the other: only the first is a root.
	 * 0<->1 -> 2<->3; and a self-loop 4 pointing at 5 which points back
	 * at 4: one component {4,5}, a cycle. */
	struct g g = { .n = 6 };
	uint8_t cls[6];
	uint32_t comp[6];

	edge(&g, 0, 1), edge(&g, 1, 0), edge(&g, 1, 2), edge(&g, 2, 3),
		edge(&g, 3, 2);
	edge(&g, 4, 4), edge(&g, 4, 5), edge(&g, 5, 4);
	run(&g, cls, comp);
	EXPECT(0u, CLS_CYCLE);
	EXPECT(1u, CLS_CYCLE);
	EXPECT(2u, CLS_INDIRECT);
	EXPECT(3u, CLS_INDIRECT);
	EXPECT(4u, CLS_CYCLE);
	EXPECT(5u, CLS_CYCLE);
}

static void long_chain(void)
{
	/* A million-block list lost at its head, and the same list closed
	 * into one big cycle. */
	uint32_t n = 1000000;
	uint64_t *off = malloc((n + 1) * sizeof(*off));
	uint32_t *succ = malloc(n * sizeof(*succ));
	uint8_t *cls = malloc(n);
	uint32_t *comp = malloc(n * sizeof(*comp));
	void *scratch = malloc(classify_scratch_bytes(n));
	uint32_t bad = 0;

	for (uint32_t u = 0; u <= n; u++)
		off[u] = u < n - 1 ? u : n - 1;
	for (uint32_t u = 0; u + 1 < n; u++)
		succ[u] = u + 1;
	struct cls_graph g = { n, off, succ };
	uint32_t nc = classify(&g, cls, comp, scratch);
	CHECK(nc == n, "chain: %u components", nc);
	CHECK(cls[0] == CLS_DEFINITE, "chain head is %s", name(cls[0]));
	for (uint32_t u = 1; u < n; u++)
		bad += cls[u] != CLS_INDIRECT;
	CHECK(bad == 0, "chain: %u tail blocks not indirect", bad);

	for (uint32_t u = 0; u <= n; u++)
		off[u] = u;
	for (uint32_t u = 0; u < n; u++)
		succ[u] = (u + 1) % n;
	nc = classify(&g, cls, comp, scratch);
	CHECK(nc == 1, "ring: %u components", nc);
	bad = 0;
	for (uint32_t u = 0; u < n; u++)
		bad += cls[u] != CLS_CYCLE;
	CHECK(bad == 0, "ring: %u blocks not in the cycle", bad);
	free(off), free(succ), free(cls), free(comp), free(scratch);
}

int main(void)
{
	cycles();
	trees();
	nested();
	long_chain();
	return check_done("classify-check");
}
