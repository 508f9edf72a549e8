/*
 * stackdepot.c: every distinct allocation stack, stored once, named by a
 * 32-bit id (0 = none), and written to the trace once per trace before
 * the first event that names it.
 *
 * Lookups walk hash chains without a lock (records are immutable once
 * published; a chain head is published with a release store); inserts
 * take one lock. Memory comes from prim_map, reserved up front and
 * touched as it fills; the depot never frees.
 *
 * Must never: allocate from the program's heap, call the writer with its
 * lock held (the fork lock order puts the writer first), or hand out an
 * id whose record is not complete.
 */
#include "config.h"
#include "unwind.h"
#include "writer.h"
#include "lifecycle.h"
#include "refsweep-events.h"

#define MAX_STACKS ((uint32_t)1 << 22)
#define N_BUCKETS ((uint32_t)1 << 20)
#define POOL_SIZE ((size_t)1 << 30)
#define IN_PROGRESS 0x80000000u

struct rec {
	uint32_t hash;
	uint32_t next;    /* id of the next record in the bucket, 0 = end */
	uint32_t emitted; /* trace generation that has it; | IN_PROGRESS */
	uint16_t n;
	bool truncated;
	uintptr_t frames[];
};

static uint32_t *heads;
static struct rec **index_of; /* id -> record */
static char *pool;
static size_t pool_used;
static uint32_t count;
static struct prim_lock lock = PRIM_LOCK_INIT;
static bool ready, broken, said_full;
/* A fork child's trace is new: records from older generations are not in
 * it. Never has the IN_PROGRESS bit. */
static uint32_t gen = 1;

/* Most allocations repeat a stack the same thread had moments ago: the
 * thread keeps the ids of its recent stacks under their 64-bit hash and
 * skips the depot's shared (and, in a busy program, cache-cold) chains.
 * A wrong answer needs two stacks with the same 64-bit hash. */
#define RECENT 16
static RS_TLS struct {
	uint64_t hash;
	uint32_t id;
} recent[RECENT];

/* Four independent lanes: one chain of multiplies over 32 frames was a
 * visible share of a capture. Each lane step is a bijection; the final
 * mix folds high bits into the low ones the buckets use. */
/* Cheaper still: the very stack this thread had last time, compared
 * frame by frame (exact) before any hashing. */
#define LAST_MAX 32
static RS_TLS struct {
	uint32_t id, n;
	bool truncated;
	uintptr_t frames[LAST_MAX];
} last;

static void remember_last(const uintptr_t *frames, uint32_t n,
			  bool truncated, uint32_t id)
{
	if (n > LAST_MAX)
		return;
	/* A signal handler in this thread must not find it half written. */
	last.id = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (uint32_t i = 0; i < n; i++)
		last.frames[i] = frames[i];
	last.n = n;
	last.truncated = truncated;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	last.id = id;
}

static uint64_t hash_frames(const uintptr_t *f, uint32_t n, bool truncated)
{
	uint64_t l[4] = { 0x9e3779b97f4a7c15ull ^ n, 0xbf58476d1ce4e5b9ull,
			  0x94d049bb133111ebull ^ truncated,
			  0x2545f4914f6cdd1dull };
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
			l[k] = (l[k] ^ f[i + (uint32_t)k]) *
			       0xff51afd7ed558ccdull;
	for (int k = 0; i < n; i++, k++)
		l[k] = (l[k] ^ f[i]) * 0xff51afd7ed558ccdull;
	uint64_t h = l[0] ^ ((l[1] << 17) | (l[1] >> 47)) ^
		     ((l[2] << 31) | (l[2] >> 33)) ^
		     ((l[3] << 47) | (l[3] >> 17));
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

static bool same(const struct rec *r, uint32_t h, const uintptr_t *f,
		 uint32_t n, bool truncated)
{
	if (r->hash != h || r->n != n || r->truncated != truncated)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (r->frames[i] != f[i])
			return false;
	return true;
}

static uint32_t find(uint32_t head, uint32_t h, const uintptr_t *f,
		     uint32_t n, bool truncated)
{
	for (uint32_t id = head; id; id = index_of[id]->next)
		if (same(index_of[id], h, f, n, truncated))
			return id;
	return 0;
}

/* With the lock held. */
static bool init_locked(void)
{
	if (ready || broken)
		return ready;
	heads = prim_map(N_BUCKETS * sizeof *heads, true);
	index_of = prim_map((size_t)MAX_STACKS * sizeof *index_of, true);
	pool = prim_map(POOL_SIZE, true);
	if (!heads || !index_of || !pool) {
		broken = true;
		return false;
	}
	__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
	return true;
}

uint32_t stackdepot_intern(const uintptr_t *frames, uint32_t n,
			   bool truncated, bool *fresh)
{
	*fresh = false;
	if (last.id && last.n == n && last.truncated == truncated) {
		uint32_t i = 0;
		while (i < n && last.frames[i] == frames[i])
			i++;
		if (i == n)
			return last.id;
	}
	uint64_t h64 = hash_frames(frames, n, truncated);
	uint32_t h = (uint32_t)h64;
	uint32_t b = h & (N_BUCKETS - 1), id;
	size_t size = sizeof(struct rec) + n * sizeof(uintptr_t);
	bool full = false;
	unsigned slot = (unsigned)(h64 >> 40) % RECENT;

	if (RS_LIKELY(recent[slot].hash == h64 && recent[slot].id)) {
		remember_last(frames, n, truncated, recent[slot].id);
		return recent[slot].id;
	}
	if (RS_LIKELY(__atomic_load_n(&ready, __ATOMIC_ACQUIRE))) {
		id = find(__atomic_load_n(&heads[b], __ATOMIC_ACQUIRE), h,
			  frames, n, truncated);
		if (id) {
			recent[slot].hash = h64;
			recent[slot].id = id;
			remember_last(frames, n, truncated, id);
			return id;
		}
	}
	prim_lock(&lock);
	if (!init_locked()) {
		prim_unlock(&lock);
		return 0;
	}
	id = find(heads[b], h, frames, n, truncated);
	if (!id) {
		if (count + 1 >= MAX_STACKS || pool_used + size > POOL_SIZE) {
			full = !said_full;
			said_full = true;
		} else {
			struct rec *r = (struct rec *)(pool + pool_used);
			pool_used += (size + 7) & ~(size_t)7;
			r->hash = h;
			r->n = (uint16_t)n;
			r->truncated = truncated;
			r->emitted = 0;
			prim_memcpy(r->frames, frames, n * sizeof *frames);
			id = count + 1;
			r->next = heads[b];
			index_of[id] = r;
			__atomic_store_n(&count, id, __ATOMIC_RELEASE);
			__atomic_store_n(&heads[b], id, __ATOMIC_RELEASE);
			*fresh = true;
		}
	}
	prim_unlock(&lock);
	if (id) {
		recent[slot].hash = h64;
		recent[slot].id = id;
		remember_last(frames, n, truncated, id);
	}
	if (full)
		rs_degrade("unwind", "stack depot full: later new stacks "
			   "are recorded as 0 (no stack)");
	return id;
}

const uintptr_t *stackdepot_frames(uint32_t id, uint32_t *n)
{
	if (!id || id > __atomic_load_n(&count, __ATOMIC_ACQUIRE))
		return NULL;
	*n = index_of[id]->n;
	return index_of[id]->frames;
}

uint32_t stackdepot_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_ACQUIRE);
}

static void write_stack(uint32_t id, const struct rec *r)
{
	char mem[256 * 24 + 128];
	struct jbuf jb;

	jb_begin(&jb, mem, sizeof mem, RS_EV_STACK);
	jb_u64(&jb, "id", id);
	jb_open_arr(&jb, "frames");
	for (uint32_t i = 0; i < r->n; i++)
		jb_hex(&jb, NULL, r->frames[i]);
	jb_close_arr(&jb);
	jb_bool(&jb, "truncated", r->truncated);
	jb_end(&jb);
	writer_emit(&jb);
}

void stackdepot_emit(uint32_t id)
{
	struct rec *r;
	uint32_t g = __atomic_load_n(&gen, __ATOMIC_RELAXED), e;

	if (!id || id > __atomic_load_n(&count, __ATOMIC_ACQUIRE))
		return;
	r = index_of[id];
	e = __atomic_load_n(&r->emitted, __ATOMIC_ACQUIRE);
	if (RS_LIKELY(e == g))
		return;
	for (int waits = 0; e != g; e = __atomic_load_n(&r->emitted,
							 __ATOMIC_ACQUIRE)) {
		if (e == (g | IN_PROGRESS)) {
			/* Another thread is writing it; a signal handler
			 * that interrupted that very thread must not wait
			 * forever, so the wait is bounded. */
			if (++waits > 20)
				return;
			prim_futex_wait((int *)&r->emitted, (int)e, 1000000);
			continue;
		}
		if (__atomic_compare_exchange_n(&r->emitted, &e,
						g | IN_PROGRESS, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	if (e == g)
		return;
	/* Objects dlopen'ed since the last sync come before the stacks
	 * that name them. */
	for (uint32_t i = 0; i < r->n; i++) {
		if (dl_pc_keeps_fp(r->frames[i]) < 0) {
			writer_sync_modules();
			break;
		}
	}
	write_stack(id, r);
	__atomic_store_n(&r->emitted, g, __ATOMIC_RELEASE);
	prim_futex_wake((int *)&r->emitted, 1 << 30);
}

void stackdepot_fork_prepare(void)
{
	prim_lock(&lock);
}

void stackdepot_fork_parent(void)
{
	prim_unlock(&lock);
}

void stackdepot_fork_child(void)
{
	prim_lock_reinit(&lock);
	gen = (gen + 1) & ~IN_PROGRESS;
	if (!gen)
		gen = 1;
}
