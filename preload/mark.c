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
 * A heap bigger than the caches makes marking a chain of dependent cache
 * misses (a block's words name the next blocks), so the cost is memory
 * latency, not instructions; three choices keep it down (docs/sweep.md has
 * the figures):
 * - the mark state is one byte per slot index in scratch of our own, which
 *   also carries the block's slack, so that no pass after the first reads a
 *   reachable block's metadata (a million blocks' marks fit in the cache,
 *   and a snapshot writes them without copy-on-write faults);
 * - reference counts are kept only for references to blocks that are not
 *   reachable at the time, minus the start pointer that makes one so: only
 *   possible and unreachable blocks have their counts reported, and every
 *   reference to them is counted, because they never turn reachable;
 * - two FIFOs keep misses in flight: words that name a slot wait in one
 *   while their mark byte is prefetched, blocks popped from the mark stack
 *   wait in the other while their first line is, so that many independent
 *   chains are fetched at once.
 *
 * Mark states (the low bits of the byte): FREE (no live block: the scratch
 * starts zeroed), NONE, REACHABLE, POSSIBLE, MAYBE (an interior pointer was
 * seen while start chains were still being followed; becomes POSSIBLE
 * unless a start chain arrives).
 *
 * Must never: allocate, call anything but the arena's lookup and iteration
 * and the depot's lock-free frame lookup, or write a block's metadata other
 * than its BLOCK_REPORTED flag.
 */
#include "config.h"
#include "mark.h"
#include "arena.h"
#include "classify.h"
#include "roots.h"
#include "unwind.h"

enum { M_FREE, M_NONE, M_REACHABLE, M_POSSIBLE, M_MAYBE };

/* A mark byte: the state in the low bits, whether an earlier sweep
 * reported the block, and the block's slack (slot size minus requested
 * size) when it fits, so that no pass after the first one has to fetch
 * the metadata of a reachable block. */
#define STATE_MASK 7u
#define WAS_REPORTED 8u
#define SLACK_SHIFT 4
#define SLACK_IN_META 15u /* the slack is too big for the byte */

/* Blocks in flight between the mark stack and their scan: enough to cover
 * a memory latency with the few nanoseconds a small block's scan takes. */
#define RING 16

struct refs {
	uint32_t start, interior;
};

struct item {
	uintptr_t start;
	uint64_t size;
};

/* Words that name a slot, waiting for their mark byte. */
#define CRING 16

struct cand {
	uintptr_t v;
	struct arena_slot s;
};

struct ctx {
	struct cand cand[CRING];
	unsigned chead, cn;
	uint8_t *mark;
	struct refs *refs;
	struct item *stack, *maybe;
	uint64_t sp, msp;
	uintptr_t lo, len;         /* the arena region: a cheap first filter */
	uint64_t scanned;
	bool phase2;
	uintptr_t query;           /* rs_get_refcount's block, counted always */
	uint32_t query_start, query_interior;
	/* the unreachable graph */
	uint32_t *uid;             /* per slot index: 1 + node, 0 = none */
	uint32_t *succ;
	uint64_t nsucc, cap_succ;
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

static inline uint8_t mark_byte(uint8_t state, bool large,
				const struct block_meta *m)
{
	uint32_t slack = large ? 0 : m->slack;

	return (uint8_t)(state |
			 (m->flags & BLOCK_REPORTED ? WAS_REPORTED : 0) |
			 (slack < SLACK_IN_META ? slack : SLACK_IN_META)
				 << SLACK_SHIFT);
}

static inline void set_state(uint8_t *mark, uint8_t state)
{
	*mark = (uint8_t)((*mark & ~STATE_MASK) | state);
}

/* The requested size of a located live slot. */
static inline uint64_t block_size(const struct arena_slot *s, uint8_t mark)
{
	uint32_t slack = mark >> SLACK_SHIFT;

	if (s->large)
		return s->slot_size;
	return s->slot_size - (slack != SLACK_IN_META ? slack : s->meta->slack);
}

/* A word that names a slot: what it means for the block's mark and
 * counts. */
static inline void decide(struct ctx *c, uintptr_t v,
			  const struct arena_slot *sp)
{
	struct arena_slot s = *sp;
	uint8_t *mark, state;
	uint64_t size;
	bool at_start;

	mark = &c->mark[s.index];
	state = *mark & STATE_MASK;
	/* Most words name nothing or a block already reachable, whose counts
	 * are never reported; a query counts its block whatever it is. */
	if (state == M_FREE || (state == M_REACHABLE && RS_LIKELY(!c->query)))
		return;
	/* Past the requested size (a zero-size block counts as 1 byte) is
	 * slack the program never had: no reference. */
	size = block_size(&s, *mark);
	at_start = v == s.start;
	if (!at_start && v - s.start >= (size ? size : 1))
		return;
	if (RS_UNLIKELY(s.start == c->query)) {
		c->query_start += at_start;
		c->query_interior += !at_start;
	}
	if (state == M_REACHABLE)
		return;
	/* A start pointer in the first phase makes the block reachable:
	 * leave its counts alone. */
	if (!at_start)
		c->refs[s.index].interior++;
	else if (c->phase2 || c->edges)
		c->refs[s.index].start++;
	if (c->edges) {
		uint32_t to = c->uid[s.index];

		if (to && c->nsucc < c->cap_succ)
			c->succ[c->nsucc++] = to - 1;
		return;
	}
	if (c->phase2) {
		if (state == M_NONE || state == M_MAYBE) {
			set_state(mark, M_POSSIBLE);
			c->stack[c->sp++] = (struct item){ s.start, size };
		}
	} else if (at_start) {
		set_state(mark, M_REACHABLE);
		c->stack[c->sp++] = (struct item){ s.start, size };
	} else if (state == M_NONE) {
		set_state(mark, M_MAYBE);
		c->maybe[c->msp++] = (struct item){ s.start, size };
	}
}

static void decide_oldest(struct ctx *c)
{
	struct cand *k = &c->cand[c->chead];

	c->chead = (c->chead + 1) % CRING;
	c->cn--;
	decide(c, k->v, &k->s);
}

/* One word that may point into the heap. While marking, its mark byte is
 * prefetched and the decision taken CRING words later; the graph's rows
 * must be filled in scan order, so edges are decided at once. */
static inline void visit(struct ctx *c, uintptr_t v)
{
	struct cand *k;

	if (v - c->lo >= c->len)
		return;
	if (c->edges) {
		struct arena_slot s;

		if (arena_locate(v, &s))
			decide(c, v, &s);
		return;
	}
	if (c->cn == CRING)
		decide_oldest(c);
	k = &c->cand[(c->chead + c->cn) % CRING];
	if (!arena_locate(v, &k->s))
		return;
	k->v = v;
	__builtin_prefetch(&c->mark[k->s.index]);
	c->cn++;
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
	struct item ring[RING];
	unsigned head = 0, n = 0;

	for (;;) {
		while (n < RING && c->sp) {
			struct item it = c->stack[--c->sp];

			__builtin_prefetch((const void *)it.start);
			ring[(head + n) % RING] = it;
			n++;
		}
		if (!n) {
			if (!c->cn)
				return;
			decide_oldest(c);
			continue;
		}
		struct item it = ring[head];

		head = (head + 1) % RING;
		n--;
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

static RS_NOINLINE bool from_loader_slow(uint32_t stack)
{
	uint32_t h = (stack * 2654435761u) % LOADER_CACHE, n = 0;
	const uintptr_t *frames;

	if (loader_cache[h].id == stack && loader_cache[h].verdict)
		return loader_cache[h].verdict == 1;
	frames = stackdepot_frames(stack, &n);
	loader_cache[h].id = stack;
	loader_cache[h].verdict =
		frames && n && roots_in_loader(frames[0] - 1) ? 1 : 2;
	return loader_cache[h].verdict == 1;
}

/* Neighbouring blocks mostly share their stack: remember the last one. */
static inline bool from_loader(uint32_t stack, uint32_t *last, bool *verdict)
{
	if (stack != *last) {
		*last = stack;
		*verdict = stack && from_loader_slow(stack);
	}
	return *verdict;
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

/* Every live block: its mark, the totals, and the blocks that are roots
 * (ignored and shim-owned blocks, loader blocks). One tight loop per span:
 * this pass reads every block's metadata. */
static void first_pass(struct ctx *c, struct mark_result *res)
{
	struct arena_span_view v;
	uint64_t cursor = 0, blocks = 0, bytes = 0;
	uint32_t last_stack = 0;
	bool loader = false;

	/* Locals throughout: every store through the byte pointer could
	 * alias the context, and would reload it. */
	while (arena_next_span(&cursor, &v)) {
		uint8_t *mark = c->mark + v.index;

		for (uint64_t i = 0; i < v.slots; i++) {
			const struct block_meta *m = &v.meta[i];
			uint64_t size;

			/* The metadata of a slice sits in its own pages, too
			 * short a run for the hardware to prefetch. */
			__builtin_prefetch(m + 64);
			if (!(m->flags & BLOCK_LIVE))
				continue;
			size = v.large ? v.slot_size : v.slot_size - m->slack;
			blocks++;
			bytes += size;
			if (RS_UNLIKELY(m->flags &
					(BLOCK_IGNORED | BLOCK_UNTRACKED)) ||
			    from_loader(m->stack, &last_stack, &loader)) {
				mark[i] = mark_byte(M_REACHABLE, v.large, m);
				c->stack[c->sp++] = (struct item){
					v.start + i * v.slot_size, size };
			} else {
				mark[i] = mark_byte(M_NONE, v.large, m);
			}
		}
	}
	res->blocks = blocks;
	res->bytes = bytes;
}

/* After marking: record the possible and unreachable blocks (the
 * unreachable ones numbered as graph nodes, in address order), flag them
 * BLOCK_REPORTED, and clear the flag on reported blocks found reachable
 * again. Returns the number of nodes; *words bounds their edges. */
static uint64_t judge_pass(struct ctx *c, struct mark_result *res,
			   uint64_t *words)
{
	struct arena_span_view v;
	uint64_t cursor = 0, nun = 0;

	while (arena_next_span(&cursor, &v)) {
		for (uint64_t i = 0; i < v.slots; i++) {
			uint8_t mk = c->mark[v.index + i];
			struct block_meta *m = &v.meta[i];
			struct arena_block b;

			if ((mk & STATE_MASK) == M_FREE ||
			    (mk & (STATE_MASK | WAS_REPORTED)) == M_REACHABLE)
				continue;
			mk &= STATE_MASK;
			b.start = v.start + i * v.slot_size;
			b.size = v.large ? v.slot_size : v.slot_size - m->slack;
			b.meta = m;
			b.index = v.index + i;
			b.stack = m->stack;
			b.flags = m->flags;
			if (mk == M_NONE) {
				c->uid[b.index] = (uint32_t)++nun;
				record(res, &b, MC_DEFINITE);
				*words += b.size / 8;
				__atomic_fetch_or(&m->flags, BLOCK_REPORTED,
						  __ATOMIC_RELAXED);
				continue;
			}
			if (m->flags & BLOCK_REPORTED) {
				__atomic_fetch_and(&m->flags,
						   (uint8_t)~BLOCK_REPORTED,
						   __ATOMIC_RELAXED);
				res->cleared[res->ncleared++] = b.start;
			}
			if (mk == M_POSSIBLE)
				record(res, &b, MC_POSSIBLE);
		}
	}
	return nun;
}

bool mark_run(const struct roots *r, bool judge, uintptr_t query,
	      struct mark_result *res)
{
	struct arena_ranges ar;
	struct arena_block b;
	struct ctx c;
	uint64_t nidx, nun = 0, words = 0;
	uint64_t *off;
	uint32_t *slot_of; /* node -> record */
	uint8_t *cls;
	uint32_t *comp;

	prim_memset(res, 0, sizeof(*res));
	prim_memset(&c, 0, sizeof(c));
	arena_get_ranges(&ar);
	c.lo = ar.region;
	c.len = ar.region_len;
	c.query = query;
	nidx = arena_index_blocks();
	c.refs = grab(res, 0, nidx * sizeof(struct refs));
	c.stack = grab(res, 1, nidx * sizeof(struct item));
	c.maybe = grab(res, 2, nidx * sizeof(struct item));
	c.uid = grab(res, 3, nidx * sizeof(uint32_t));
	res->recs = grab(res, 4, nidx * sizeof(struct leak_rec));
	res->cleared = grab(res, 8, nidx * sizeof(uintptr_t));
	c.mark = grab(res, 9, nidx);
	if (!c.refs || !c.stack || !c.maybe || !c.uid || !res->recs ||
	    !res->cleared || !c.mark) {
		mark_free(res);
		return false;
	}

	first_pass(&c, res);
	for (uint32_t i = 0; i < r->nblocks; i++)
		if (arena_lookup(r->blocks[i], &b) &&
		    (c.mark[b.index] & STATE_MASK) != M_REACHABLE) {
			set_state(&c.mark[b.index], M_REACHABLE);
			c.stack[c.sp++] = (struct item){ b.start, b.size };
		}
	for (uint32_t i = 0; i < r->n; i++) {
		scan(&c, r->r[i].start, r->r[i].end);
		res->roots_bytes += r->r[i].end - r->r[i].start;
	}
	drain(&c);
	c.phase2 = true;
	while (c.msp) {
		struct item m = c.maybe[--c.msp];

		if (arena_lookup(m.start, &b) &&
		    (c.mark[b.index] & STATE_MASK) == M_MAYBE) {
			set_state(&c.mark[b.index], M_POSSIBLE);
			c.stack[c.sp++] = m;
		}
	}
	drain(&c);

	if (judge)
		nun = judge_pass(&c, res, &words);
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
	res->nblocks[MC_REACHABLE] = res->blocks;
	res->nbytes[MC_REACHABLE] = res->bytes;
	for (int k = MC_REACHABLE + 1; k < MC_COUNT; k++) {
		res->nblocks[MC_REACHABLE] -= res->nblocks[k];
		res->nbytes[MC_REACHABLE] -= res->nbytes[k];
	}
	if (query && arena_block_at((const void *)query, &b)) {
		res->query_found = true;
		res->query_start = c.query_start;
		res->query_interior = c.query_interior;
	}
	return true;
}
