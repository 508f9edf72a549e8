/*
 * mark.c: marking and reference counting over the stopped heap (mark.h).
 *
 * Every word is read exactly once: each root range once (roots_finish
 * merged overlaps), each reachable or possible block once while marking,
 * each unreachable block once while building the graph. So the reference
 * counts are exact for the words seen, and the mark stacks never hold a
 * block twice per phase: they are sized by the number of block slots and
 * cannot overflow, whatever the heap's shape.
 *
 * Mark byte values (block_meta.mark): 0 unvisited, REACHABLE, POSSIBLE,
 * MAYBE (an interior pointer was seen while start chains were still being
 * followed; becomes POSSIBLE unless a start chain arrives).
 *
 * Must never: allocate, call anything but the arena's lookup and iteration
 * and the depot's lock-free frame lookup, or leave a mark byte set.
 */
#include "config.h"
#include "mark.h"
#include "arena.h"
#include "classify.h"
#include "roots.h"
#include "unwind.h"

enum { M_NONE, M_REACHABLE, M_POSSIBLE, M_MAYBE };

struct refs {
	uint32_t start, interior;
};

struct item {
	uintptr_t start;
	uint64_t size;
};

struct ctx {
	struct refs *refs;
	struct item *stack, *maybe;
	uint64_t sp, msp;
	uintptr_t lo, hi;          /* the arena region: a cheap first filter */
	uint64_t scanned;
	bool phase2;
	/* the unreachable graph */
	uint32_t *uid;             /* per slot index: 1 + node, 0 = none */
	uint32_t *succ;
	uint64_t nsucc, cap_succ;
	uint32_t self_node;        /* node being scanned, for edges */
	bool edges;
};

static void *grab(struct mark_result *res, int slot, size_t len)
{
	len = (len + 4095) & ~(size_t)4095;
	if (!len)
		len = 4096;
	res->mem[slot] = prim_map(len, true);
	res->len[slot] = res->mem[slot] ? len : 0;
	return res->mem[slot];
}

void mark_free(struct mark_result *res)
{
	for (int i = 0; i < MARK_SCRATCH; i++) {
		if (res->mem[i])
			prim_unmap(res->mem[i], res->len[i]);
		res->mem[i] = NULL;
	}
}

static inline void push(struct ctx *c, const struct arena_block *b)
{
	c->stack[c->sp++] = (struct item){ b->start, b->size };
}

/* One word that may point into the heap. */
static inline void visit(struct ctx *c, uintptr_t v)
{
	struct arena_block b;
	uint8_t *mark;

	if (v < c->lo || v >= c->hi || !arena_lookup(v, &b))
		return;
	if (v == b.start)
		c->refs[b.index].start++;
	else
		c->refs[b.index].interior++;
	if (c->edges) {
		uint32_t to = c->uid[b.index];

		if (to && c->nsucc < c->cap_succ)
			c->succ[c->nsucc++] = to - 1;
		return;
	}
	mark = &b.meta->mark;
	if (c->phase2) {
		if (*mark == M_NONE || *mark == M_MAYBE) {
			*mark = M_POSSIBLE;
			push(c, &b);
		}
	} else if (v == b.start) {
		if (*mark != M_REACHABLE) {
			*mark = M_REACHABLE;
			push(c, &b);
		}
	} else if (*mark == M_NONE) {
		*mark = M_MAYBE;
		c->maybe[c->msp++] = (struct item){ b.start, b.size };
	}
}

static void scan(struct ctx *c, uintptr_t s, uintptr_t e)
{
	s = (s + 7) & ~(uintptr_t)7;
	if (e < s + 8)
		return;
	c->scanned += e - s;
	for (; s + 8 <= e; s += 8)
		visit(c, *(const uintptr_t *)s);
}

static void drain(struct ctx *c)
{
	while (c->sp) {
		struct item it = c->stack[--c->sp];

		scan(c, it.start, it.start + it.size);
	}
}

/* Blocks the dynamic loader allocated (link maps of dlopen'd objects,
 * scope arrays) hang off memory of its own allocator that is no root;
 * like LeakSanitizer, they count as roots. One verdict per stack id. */
#define LOADER_CACHE 4096
static struct {
	uint32_t id;
	uint8_t verdict; /* 1 loader, 2 not */
} loader_cache[LOADER_CACHE];

static bool from_loader(uint32_t stack)
{
	uint32_t h = (stack * 2654435761u) % LOADER_CACHE, n = 0;
	const uintptr_t *frames;

	if (!stack)
		return false;
	if (loader_cache[h].id == stack && loader_cache[h].verdict)
		return loader_cache[h].verdict == 1;
	frames = stackdepot_frames(stack, &n);
	loader_cache[h].id = stack;
	loader_cache[h].verdict =
		frames && n && roots_in_loader(frames[0] - 1) ? 1 : 2;
	return loader_cache[h].verdict == 1;
}

static struct leak_rec *record(struct mark_result *res,
			       const struct arena_block *b, uint8_t cls)
{
	struct leak_rec *l = &res->recs[res->nrecs++];

	l->addr = b->start;
	l->size = b->size;
	l->stack = b->meta->stack;
	l->comp = 0;
	l->cls = cls;
	l->inherited = (b->meta->flags & BLOCK_INHERITED) != 0;
	return l;
}

bool mark_run(const struct roots *r, bool judge, uintptr_t query,
	      struct mark_result *res)
{
	struct arena_ranges ar;
	struct arena_iter it = { 0, 0 };
	struct arena_block b;
	struct ctx c;
	uint64_t nidx, nun = 0, words = 0, npos;
	uint64_t *off;
	uint32_t *slot_of; /* node -> record */
	uint8_t *cls;
	uint32_t *comp;

	prim_memset(res, 0, sizeof(*res));
	prim_memset(&c, 0, sizeof(c));
	arena_get_ranges(&ar);
	c.lo = ar.region;
	c.hi = ar.region + ar.region_len;
	nidx = arena_index_blocks();
	c.refs = grab(res, 0, nidx * sizeof(struct refs));
	c.stack = grab(res, 1, nidx * sizeof(struct item));
	c.maybe = grab(res, 2, nidx * sizeof(struct item));
	c.uid = grab(res, 3, nidx * sizeof(uint32_t));
	res->recs = grab(res, 4, nidx * sizeof(struct leak_rec));
	res->cleared = grab(res, 8, nidx * sizeof(uintptr_t));
	if (!c.refs || !c.stack || !c.maybe || !c.uid || !res->recs ||
	    !res->cleared) {
		mark_free(res);
		return false;
	}

	/* Roots: ignored and shim-owned blocks, loader blocks, DTVs. */
	while (arena_next_live(&it, &b)) {
		b.meta->mark = M_NONE;
		if ((b.meta->flags & (BLOCK_IGNORED | BLOCK_UNTRACKED)) ||
		    from_loader(b.meta->stack)) {
			b.meta->mark = M_REACHABLE;
			push(&c, &b);
		}
	}
	for (uint32_t i = 0; i < r->nblocks; i++)
		if (arena_lookup(r->blocks[i], &b) &&
		    b.meta->mark != M_REACHABLE) {
			b.meta->mark = M_REACHABLE;
			push(&c, &b);
		}
	for (uint32_t i = 0; i < r->n; i++) {
		scan(&c, r->r[i].start, r->r[i].end);
		res->roots_bytes += r->r[i].end - r->r[i].start;
	}
	drain(&c);
	c.phase2 = true;
	while (c.msp) {
		struct item m = c.maybe[--c.msp];

		if (arena_lookup(m.start, &b) && b.meta->mark == M_MAYBE) {
			b.meta->mark = M_POSSIBLE;
			push(&c, &b);
		}
	}
	drain(&c);

	/* Every live block once more: count, reset marks, number the
	 * unreachable ones (their records first, in node order). */
	it = (struct arena_iter){ 0, 0 };
	while (arena_next_live(&it, &b)) {
		uint8_t m = b.meta->mark;

		b.meta->mark = M_NONE;
		res->blocks++;
		res->bytes += b.size;
		if (m == M_NONE && judge) {
			c.uid[b.index] = (uint32_t)++nun;
			record(res, &b, MC_DEFINITE);
			words += b.size / 8;
			__atomic_fetch_or(&b.meta->flags, BLOCK_REPORTED,
					  __ATOMIC_RELAXED);
			continue;
		}
		if (judge && (b.meta->flags & BLOCK_REPORTED)) {
			__atomic_fetch_and(&b.meta->flags,
					   (uint8_t)~BLOCK_REPORTED,
					   __ATOMIC_RELAXED);
			res->cleared[res->ncleared++] = b.start;
		}
		if (m == M_POSSIBLE && judge) {
			record(res, &b, MC_POSSIBLE);
			continue;
		}
		res->nblocks[MC_REACHABLE]++;
		res->nbytes[MC_REACHABLE] += b.size;
	}
	npos = res->nrecs - nun;

	/* The graph among unreachable blocks, in compressed rows. The
	 * possible records were interleaved; move them after the nodes. */
	slot_of = grab(res, 5, (nun + 1) * sizeof(uint32_t) +
				       (nun + 1) * sizeof(uint64_t) + 8);
	c.cap_succ = words;
	c.succ = grab(res, 6, words * sizeof(uint32_t));
	if (!slot_of || !c.succ) {
		mark_free(res);
		return false;
	}
	off = (uint64_t *)(slot_of + nun + 1);
	off = (uint64_t *)(((uintptr_t)off + 7) & ~(uintptr_t)7);
	{
		/* Stable partition: unreachable first, possible after. */
		uint64_t u = 0;

		for (uint64_t i = 0; i < res->nrecs; i++)
			if (res->recs[i].cls != MC_POSSIBLE)
				slot_of[u++] = (uint32_t)i;
	}
	c.edges = true;
	for (uint64_t u = 0; u < nun; u++) {
		const struct leak_rec *l = &res->recs[slot_of[u]];

		off[u] = c.nsucc;
		scan(&c, l->addr, l->addr + l->size);
	}
	off[nun] = c.nsucc;
	res->bytes_scanned = c.scanned;

	cls = grab(res, 7, nun + nun * sizeof(uint32_t) +
				   classify_scratch_bytes((uint32_t)nun) + 16);
	if (!cls) {
		mark_free(res);
		return false;
	}
	comp = (uint32_t *)(((uintptr_t)(cls + nun) + 3) & ~(uintptr_t)3);
	{
		struct cls_graph g = { (uint32_t)nun, off, c.succ };

		res->ncomp = classify(&g, cls, comp, comp + nun);
	}
	for (uint64_t u = 0; u < nun; u++) {
		struct leak_rec *l = &res->recs[slot_of[u]];

		l->cls = cls[u];
		l->comp = comp[u];
	}
	for (uint64_t i = 0; i < res->nrecs; i++) {
		struct leak_rec *l = &res->recs[i];

		if (arena_lookup(l->addr, &b)) {
			l->refs_start = c.refs[b.index].start;
			l->refs_interior = c.refs[b.index].interior;
		}
		res->nblocks[l->cls]++;
		res->nbytes[l->cls] += l->size;
	}
	(void)npos;
	if (query && arena_lookup(query, &b) && b.start == query) {
		res->query_found = true;
		res->query_start = c.refs[b.index].start;
		res->query_interior = c.refs[b.index].interior;
	}
	return true;
}
