/*
 * arena.c: the tracked arena. Owns every heap block of the
 * process, the thread caches in front of it, and the tables that answer
 * "which live block contains this address" in O(1).
 *
 * Layout (arena.h has the picture): one reserved region of 64 KiB slices,
 * spans of slices holding one size class, a span descriptor per first slice,
 * a slice map from any slice to its span, and 8 bytes of metadata per block
 * slot in a second region, found through the span descriptor (docs/design.md
 * says which spans get a fixed place and which a packed chunk). Thread
 * caches and the malloc/free fast paths sit in front. Free slots keep their
 * free-list link in band;
 * whether a slot is live is only ever decided by its out-of-band flags, so a
 * double or wild free is detected and ignored instead of corrupting a list.
 *
 * Must never: call libc beyond prim.h, block on a lock while another layer
 * runs, hold a lock across a system call that can wait (mmap/madvise happen
 * after unlocking where the data allows it), or touch errno.
 */
#define _GNU_SOURCE
#include "config.h"
#include "arena.h"

/* ---- size classes ------------------------------------------------------ */

/* 16..256 by 16, then eight classes per doubling up to 128 KiB: at most
 * 1/8 of a block is rounding (four per doubling cost Python 26% more
 * resident memory than glibc). Larger requests get a span of their own. */
#define NCLASSES 88
#define LINEAR_MAX 256
#define SMALL_MAX ((size_t)128 << 10)
#define CLASS_LARGE 0xfe
/* slot = (offset * magic) >> MAGIC_SHIFT is exact for offsets below 2 MiB
 * and sizes below 2 MiB, which bounds a span to 32 slices. */
#define MAGIC_SHIFT 42
#define SPAN_MAX_SLICES 32
#define XFER_MAX 8 /* batches a class's transfer cache can hold (classes_init needs 8) */
#define CACHE_BYTES 4096
#define XFER_BYTES 8192
#define UNCACHED_MIN 4096

struct size_class {
	uint32_t size;
	uint32_t slices;    /* slices per span */
	uint32_t slots;     /* slots per span */
	uint32_t cache_cap; /* most blocks a thread may cache; 0: uncached */
	uint32_t xfer_cap;  /* most batches parked in the central transfer cache */
	uint64_t magic;
};

static struct size_class classes[NCLASSES];

/* The classes malloc's fast path serves: every class up to ARENA_FAST_MAX
 * (16 linear, then 8 per doubling from 2^8 to 2^13) has one-slice spans,
 * so a block's slot follows from its slice alone. fast_class maps a size
 * in 16-byte steps to its class with one load instead of class_of's
 * branch and bit scan. */
#define FAST_CLASSES (16 + (13 - 8) * 8)
_Static_assert(ARENA_FAST_MAX == 1 << 13, "FAST_CLASSES counts classes up to 2^13");
static uint8_t fast_class[ARENA_FAST_MAX / 16 + 1];

static inline unsigned class_of(size_t size)
{
	if (size <= LINEAR_MAX)
		return (unsigned)((size - (size != 0)) >> 4);
	unsigned k = 63 - (unsigned)__builtin_clzll(size - 1);
	unsigned sub = (unsigned)((size - 1 - ((size_t)1 << k)) >> (k - 3));
	return 16 + (k - 8) * 8 + sub;
}

static void classes_init(void)
{
	for (unsigned c = 0; c < NCLASSES; c++) {
		struct size_class *sc = &classes[c];
		if (c < 16) {
			sc->size = 16 * (c + 1);
		} else {
			unsigned k = 8 + (c - 16) / 8, sub = (c - 16) % 8;
			sc->size = (1u << k) + (sub + 1) * (1u << (k - 3));
		}
		/* Enough slices for eight blocks, so a span is worth its
		 * descriptor; one slice for everything up to 8 KiB. */
		uint64_t want = (uint64_t)sc->size * 8;
		sc->slices = (uint32_t)((want + ARENA_SLICE_SIZE - 1) >> ARENA_SLICE_SHIFT);
		if (sc->slices > SPAN_MAX_SLICES)
			sc->slices = SPAN_MAX_SLICES;
		sc->slots = (uint32_t)(((uint64_t)sc->slices << ARENA_SLICE_SHIFT) / sc->size);
		sc->magic = ((1ull << MAGIC_SHIFT) + sc->size - 1) / sc->size;
		/* Caches are resident memory the program does not use, and
		 * every cached block pins its span: 4 KiB per class in each
		 * thread, 8 KiB parked per class. Between 1+2 KiB and 4+8 KiB
		 * prodcons' peak RSS moved less than its run-to-run noise and
		 * smaller ones cost time; a 64 KiB transfer cache made
		 * binary-trees 3% faster. */
		uint32_t cap = (uint32_t)(CACHE_BYTES / sc->size);
		sc->cache_cap = cap < 2 ? 2 : cap > 128 ? 128 : cap;
		uint32_t xfer = XFER_BYTES / (sc->cache_cap / 2 * sc->size);
		sc->xfer_cap = xfer < 1 ? 1 : xfer > XFER_MAX ? XFER_MAX : xfer;
		/* Above this, a cached block is more memory than a trip to
		 * its span costs time: a random churn parked 1 to 3 blocks
		 * of up to 64 KiB per class in caches (UNCACHED_MIN). */
		if (sc->size > UNCACHED_MIN)
			sc->cache_cap = sc->xfer_cap = 0;
	}
	for (size_t i = 0; i < RS_ARRAY_LEN(fast_class); i++)
		fast_class[i] = (uint8_t)class_of(i * 16);
}

/* The largest power of two dividing every block start of a class (spans
 * start on slice boundaries). */
static inline size_t class_align(unsigned c)
{
	size_t a = (size_t)1 << __builtin_ctz(classes[c].size);
	return a > ARENA_SLICE_SIZE ? ARENA_SLICE_SIZE : a;
}

/* ---- region, tables, spans --------------------------------------------- */

enum span_state { SPAN_UNUSED, SPAN_IN_USE, SPAN_FREE, SPAN_FREE_TAIL };
/* A class's spans with slots given back, and those with only never-used
 * slots left (struct central). */
enum span_listed { LISTED_NONE, LISTED_PARTIAL, LISTED_FRESH };

struct span {
	uint32_t nslices;
	uint8_t cls;   /* size class, or CLASS_LARGE */
	uint8_t state; /* enum span_state */
	uint8_t listed;/* LISTED_*: which of its class's lists it is on */
	uint8_t dirty; /* SPAN_FREE: pages may hold old data and count in RSS */
	uint32_t bump; /* slots at or above this index were never handed out */
	uint32_t used; /* slots handed out (live, or in some thread's cache) */
	void *free;    /* in-band list of slots given back to the span */
	uint32_t next, prev; /* list links: slice index + 1, 0 = none */
	uint32_t head;       /* SPAN_FREE_TAIL: first slice of the run */
	uint32_t ndirty;     /* SPAN_FREE: of its slices, how many count as dirty */
	uint64_t large_size;  /* requested size of a large block */
	uint64_t sweep_base;  /* arena_index_blocks */
	struct block_meta *meta; /* SPAN_IN_USE: its slots' metadata chunk */
};

static uintptr_t region;      /* first slice, 64 KiB aligned */
static size_t region_len;
static uint64_t nslices_total;
static uintptr_t meta_region; /* metadata: fixed places, then packed chunks */
static size_t meta_len;
#define META_PAGE 4096
/* Every packed chunk is below a page and its span at least a slice long. */
#define META_PACKED_PER_SLICE META_PAGE
static uintptr_t packed_region;
static size_t packed_len;
static uint32_t *slice_map;   /* slice -> first slice of its span + 1 */
static uint8_t *slice_cls;    /* slice -> size class of its span + 1, 0 = none */
static struct span *spans;    /* descriptor at each span's first slice */
static uintptr_t tables;
static size_t tables_len;

#define META_PER_SLICE (ARENA_SLICE_SIZE / 2)

static inline struct block_meta *meta_of(uint32_t first, uint64_t slot)
{
	return spans[first].meta + slot;
}

static inline uintptr_t span_start(uint32_t first)
{
	return region + ((uintptr_t)first << ARENA_SLICE_SHIFT);
}

/* Free runs of slices, binned by length (the last bin takes the rest).
 * Released runs stay dirty (resident) until more than dirty_limit() slices
 * are; then they are discarded. Discarding every release made a large-block
 * churn spend two thirds of its time in madvise; keeping 8 MiB cost Python
 * a third more resident memory than glibc. The limit is a sixteenth of the
 * slices in use, between 2 and 32 (2 MiB): a fixed 2 MiB was most of a
 * small program's heap (prodcons held up to three released slices, 10% of
 * its arena). */
#define RUN_BINS 64
#define DIRTY_LIMIT 32 /* slices: 2 MiB */
#define DIRTY_MIN 2
struct run_pool {
	struct prim_lock lock;
	uint32_t bins[RUN_BINS]; /* first slice + 1 */
	uint64_t hwm;            /* slices below this belong to some run */
	uint64_t dirty_slices;
};
static struct run_pool pool = { PRIM_LOCK_INIT, { 0 }, 0, 0 };

/* Whole batches of free blocks on their way between thread caches: a
 * thread that frees more than its cache holds parks a batch here in O(1),
 * and a thread that runs dry takes one back, without visiting the spans
 * (a binary-trees workload spent a third of its time doing that). */
struct batch {
	void *head;
	uint32_t count;
};

struct central {
	struct prim_lock lock;
	uint32_t partial; /* spans with slots given back: first slice + 1 */
	uint32_t fresh;   /* the others with never-used slots */
	uint32_t empty;   /* one fully free span kept for reuse, or 0 */
	uint32_t nxfer;
	struct batch xfer[XFER_MAX];
} __attribute__((aligned(64)));
static struct central centrals[NCLASSES];

/* ---- counters ---------------------------------------------------------- */

struct counters {
	uint64_t allocations, frees, bytes_allocated, bytes_freed;
	uint64_t peak_blocks, peak_bytes;
	uint64_t invalid_frees, double_frees, foreign_frees;
	uint64_t mapped_slices;
};
static struct counters totals;

/* ---- thread cache ------------------------------------------------------ */

/* limit: the free path flushes when count exceeds it. A thread's bin of a
 * class it allocates from (refill ran since the last flush) may hold the
 * class's cache_cap blocks; one that only frees there (a consumer fed by
 * another thread) drains to an eighth of that (flush_full_bin): blocks
 * cached by a thread that will not reuse them are memory no thread can
 * use (prodcons' consumer held about 100 KiB that way). 0 before the
 * bin's first use. */
struct bin {
	void *head;
	uint32_t count;
	uint32_t limit;
};

struct tcache {
	struct bin bins[NCLASSES];
	uint8_t draining[NCLASSES]; /* flushes in a row with no refill between */
	/* per-thread counts folded into totals on the slow path; live counts
	 * are their differences */
	uint64_t allocations, frees, bytes_allocated, bytes_freed;
	bool dead; /* thread exit ran: bypass the cache from now on */
};
static RS_TLS struct tcache tc;

static void fold_counters(struct tcache *t)
{
	uint64_t a = __atomic_add_fetch(&totals.allocations, t->allocations, __ATOMIC_RELAXED);
	uint64_t f = __atomic_add_fetch(&totals.frees, t->frees, __ATOMIC_RELAXED);
	uint64_t ba = __atomic_add_fetch(&totals.bytes_allocated, t->bytes_allocated, __ATOMIC_RELAXED);
	uint64_t bf = __atomic_add_fetch(&totals.bytes_freed, t->bytes_freed, __ATOMIC_RELAXED);
	t->allocations = t->frees = t->bytes_allocated = t->bytes_freed = 0;
	/* Peaks are as exact as the folding: good enough for a report. */
	if (a > f && a - f > totals.peak_blocks)
		totals.peak_blocks = a - f;
	if (ba > bf && ba - bf > totals.peak_bytes)
		totals.peak_bytes = ba - bf;
}

/* The cache refills and flushes fold only once enough has happened: four
 * atomic additions per batch of a 16-byte class were 2% of a binary-trees
 * run. Peaks and the sweep's growth trigger are off by at most this much
 * per thread. */
#define FOLD_OPS 1024
#define FOLD_BYTES ((uint64_t)256 << 10)
static inline void maybe_fold(struct tcache *t)
{
	if (t->allocations + t->frees >= FOLD_OPS ||
	    t->bytes_allocated + t->bytes_freed >= FOLD_BYTES)
		fold_counters(t);
}

/* ---- initialisation ---------------------------------------------------- */

static int init_state; /* 0 none, 1 running, 2 done, 3 failed */

static RS_NOINLINE bool init_slow(void)
{
	int expected = 0;

	if (!__atomic_compare_exchange_n(&init_state, &expected, 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* Another thread is mapping the region; it takes microseconds. */
		while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 1)
			__builtin_ia32_pause();
		return init_state == 2;
	}
	classes_init();
	/* Address space only: pages cost nothing until touched. Ask for less
	 * when the kernel refuses (strict overcommit, a small RLIMIT_AS). */
	static const unsigned shifts[] = { 40, 38, 36, 34, 32 };
	for (unsigned i = 0; i < RS_ARRAY_LEN(shifts) && !region; i++) {
		size_t len = (size_t)1 << shifts[i];
		size_t slices = len >> ARENA_SLICE_SHIFT;
		size_t mlen = slices * (META_PER_SLICE + META_PACKED_PER_SLICE);
		size_t tlen = slices * (sizeof(uint32_t) + sizeof(struct span) + 1);
		size_t align = (size_t)2 << 20;
		void *r = prim_map(len + align, true);
		if (!r)
			continue;
		void *m = prim_map(mlen, true);
		void *t = prim_map(tlen, true);
		if (!m || !t) {
			prim_unmap(r, len + align);
			if (m)
				prim_unmap(m, mlen);
			if (t)
				prim_unmap(t, tlen);
			continue;
		}
		region = ((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1);
		region_len = len;
		nslices_total = slices;
		meta_region = (uintptr_t)m;
		meta_len = mlen;
		packed_region = meta_region + slices * META_PER_SLICE;
		packed_len = slices * META_PACKED_PER_SLICE;
		tables = (uintptr_t)t;
		tables_len = tlen;
		slice_map = (uint32_t *)t;
		spans = (struct span *)((uintptr_t)t + slices * sizeof(uint32_t));
		slice_cls = (uint8_t *)(spans + slices);
	}
	__atomic_store_n(&init_state, region ? 2 : 3, __ATOMIC_RELEASE);
	return region != 0;
}

bool arena_init(void)
{
	if (RS_LIKELY(__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 2))
		return true;
	return init_slow();
}

/* ---- slice runs (pool lock held) --------------------------------------- */

static inline unsigned run_bin(uint64_t n)
{
	return n >= RUN_BINS ? RUN_BINS - 1 : (unsigned)n - 1;
}

static void list_push(uint32_t *head, uint32_t first)
{
	struct span *s = &spans[first];

	s->prev = 0;
	s->next = *head;
	if (*head)
		spans[*head - 1].prev = first + 1;
	*head = first + 1;
}

static void list_remove(uint32_t *head, uint32_t first)
{
	struct span *s = &spans[first];

	if (s->prev)
		spans[s->prev - 1].next = s->next;
	else
		*head = s->next;
	if (s->next)
		spans[s->next - 1].prev = s->prev;
	s->next = s->prev = 0;
}

/* ndirty: how many of the n slices were released since their last discard.
 * A merged run is dirty as a whole (purge discards all of it, cheaply for
 * pages never touched again) but counts only its dirty slices against
 * DIRTY_LIMIT: counting it whole, a small release beside a large clean run
 * purged at once, and sqlite3 discarded 12 GB in 1,500 madvise calls. */
static void run_insert(uint32_t first, uint64_t n, uint64_t ndirty)
{
	struct span *s = &spans[first];

	s->state = SPAN_FREE;
	s->nslices = (uint32_t)n;
	s->dirty = ndirty != 0;
	s->ndirty = (uint32_t)(ndirty < n ? ndirty : n);
	pool.dirty_slices += s->ndirty;
	if (n > 1) {
		spans[first + n - 1].state = SPAN_FREE_TAIL;
		spans[first + n - 1].head = first;
	}
	list_push(&pool.bins[run_bin(n)], first);
}

static void run_take(uint32_t first)
{
	struct span *s = &spans[first];

	list_remove(&pool.bins[run_bin(s->nslices)], first);
	pool.dirty_slices -= s->ndirty;
	if (s->nslices > 1)
		spans[first + s->nslices - 1].state = SPAN_UNUSED;
	s->state = SPAN_UNUSED;
}

/* A run of n slices whose start is a multiple of align_slices, or
 * UINT32_MAX. *dirty says whether its pages may hold old data; fresh and
 * purged ones read as zero. */
static uint32_t run_alloc(uint64_t n, uint64_t align_slices, bool *dirty)
{
	uint64_t want = n + align_slices - 1;

	for (unsigned b = run_bin(want); b < RUN_BINS; b++) {
		for (uint32_t i = pool.bins[b]; i; i = spans[i - 1].next) {
			uint32_t first = i - 1;
			uint64_t len = spans[first].nslices;
			uint64_t start = (first + align_slices - 1) / align_slices * align_slices;
			if (start + n > first + len)
				continue;
			bool was_dirty = spans[first].dirty;
			uint32_t nd = spans[first].ndirty;
			run_take(first);
			/* Where in the run its dirty slices were is unknown:
			 * each piece may have all of them. */
			if (start > first)
				run_insert(first, start - first, nd);
			if (first + len > start + n)
				run_insert((uint32_t)(start + n), first + len - start - n, nd);
			*dirty = was_dirty;
			return (uint32_t)start;
		}
	}
	uint64_t start = (pool.hwm + align_slices - 1) / align_slices * align_slices;
	if (start + n > nslices_total)
		return UINT32_MAX;
	if (start > pool.hwm)
		run_insert((uint32_t)pool.hwm, start - pool.hwm, 0);
	pool.hwm = start + n;
	*dirty = false;
	return (uint32_t)start;
}

/* Returns a run to the pool, merging it with free neighbours. */
static void run_free(uint32_t first, uint64_t n, bool dirty)
{
	uint64_t nd = dirty ? n : 0;

	if (first > 0) {
		struct span *before = &spans[first - 1];
		uint32_t head = before->state == SPAN_FREE_TAIL ? before->head
			      : before->state == SPAN_FREE ? first - 1 : UINT32_MAX;
		if (head != UINT32_MAX && spans[head].state == SPAN_FREE) {
			n += spans[head].nslices;
			nd += spans[head].ndirty;
			run_take(head);
			first = head;
		}
	}
	if (first + n < pool.hwm && spans[first + n].state == SPAN_FREE) {
		uint32_t after = (uint32_t)(first + n);
		n += spans[after].nslices;
		nd += spans[after].ndirty;
		run_take(after);
	}
	run_insert(first, n, nd);
}

/* ---- metadata places (pool lock held) --------------------------------- */

/* A span's metadata, 8 bytes per slot, is found through its descriptor.
 * Where a span needs a page of it or more (classes up to 128 bytes) it has
 * a fixed place per first slice, discarded with the span's run (purge).
 * The rest is packed: a fixed place per slice gave every span a page of
 * its own, where a 2 KiB block's slice needs 256 bytes and a large
 * block's 8, and a random churn spent 600 KiB of resident memory on
 * metadata. Packed chunks are never discarded (at most 1/16 of the
 * largest heap their classes had); released ones wait on a list per class
 * (the last list: large blocks) for the next span of the same size, so a
 * heap whose class mix keeps changing could exhaust their space: an
 * allocation failure, never a crash. */
#define META_KEYS (NCLASSES + 1)
static uintptr_t packed_hwm;           /* bytes of it ever handed out */
static void *packed_lists[META_KEYS];  /* in-band lists of released chunks */

static inline unsigned meta_key(unsigned cls)
{
	return cls == CLASS_LARGE ? NCLASSES : cls;
}

static inline size_t meta_bytes(unsigned key)
{
	return (key == NCLASSES ? 1 : classes[key].slots) * sizeof(struct block_meta);
}

static inline struct block_meta *meta_fixed(uint32_t first)
{
	return (struct block_meta *)(meta_region + (uintptr_t)first * META_PER_SLICE);
}

/* Gives n slices' pages and their fixed metadata places back to the
 * kernel: they read as zero after, every flag clear. No lock may be held
 * (a system call), and nobody may reach the slices meanwhile. */
static void discard_run(uint32_t first, uint64_t n)
{
	prim_discard((void *)span_start(first), n << ARENA_SLICE_SHIFT);
	prim_discard(meta_fixed(first), n * META_PER_SLICE);
}

/* The metadata place for a span of class `key` starting at `first`, or
 * NULL; *clear says how many of its first bytes may hold old data. */
static struct block_meta *meta_take(unsigned key, uint32_t first, bool dirty,
				    size_t *clear)
{
	size_t n = meta_bytes(key);

	if (n >= META_PAGE) {
		*clear = dirty ? n : 0;
		return meta_fixed(first);
	}
	void *m = packed_lists[key];
	if (m) {
		packed_lists[key] = *(void **)m;
		*clear = n;
		return m;
	}
	if (packed_hwm + n > packed_len)
		return NULL;
	m = (void *)(packed_region + packed_hwm);
	packed_hwm += n;
	*clear = 0;
	return m;
}

static void meta_give(unsigned key, struct block_meta *m)
{
	if (meta_bytes(key) >= META_PAGE)
		return;
	*(void **)m = packed_lists[key];
	packed_lists[key] = m;
}

static uint32_t run_alloc(uint64_t n, uint64_t align_slices, bool *dirty);
static void run_free(uint32_t first, uint64_t n, bool dirty);

/* A run of n slices and a metadata place for class cls, both or neither.
 * Every slot's flags start clear, so the free path may trust them without
 * asking the span which slots were ever handed out. */
static uint32_t run_and_meta(uint64_t n, uint64_t align_slices, unsigned cls,
			     bool *dirty_out, struct block_meta **meta_out)
{
	size_t clear = 0;
	bool dirty = false, foreign = false;

	prim_lock(&pool.lock);
	uint32_t first = run_alloc(n, align_slices, &dirty);
	struct block_meta *m = NULL;
	if (first != UINT32_MAX) {
		/* The class of the span that last started here (stale when
		 * the slice was inside a longer run: then it only errs
		 * towards a discard). */
		foreign = dirty && n == 1 && cls != CLASS_LARGE &&
			  spans[first].cls != cls;
		m = meta_take(meta_key(cls), first, dirty && !foreign, &clear);
		if (!m) {
			run_free(first, n, dirty);
			first = UINT32_MAX;
		}
	}
	prim_unlock(&pool.lock);
	/* A released slice that another class used: this class touches
	 * only as far as its own blocks reach, and the pages beyond would
	 * stay resident for nobody. On prodcons, where borrowing empties
	 * about 15 spans a second, in-use spans held 0.3-0.4 MB of pages
	 * their blocks did not reach. The same class taking its slice back
	 * (binary-trees freeing and rebuilding trees) keeps it as it is:
	 * discarding every release doubled binary-trees' page faults. */
	if (foreign && first != UINT32_MAX) {
		discard_run(first, 1);
		dirty = false;
	}
	if (clear)
		prim_memset(m, 0, clear);
	if (dirty_out)
		*dirty_out = dirty;
	*meta_out = m;
	return first;
}

/* Maps a run as a span: descriptor at its first slice, every slice of it
 * pointing there. The slice map is written last so lookups never see a
 * half-made span. */
static void span_publish(uint32_t first, uint64_t n, uint8_t cls,
			 uint64_t large_size, struct block_meta *meta)
{
	struct span *s = &spans[first];

	s->meta = meta;
	s->nslices = (uint32_t)n;
	s->cls = cls;
	s->listed = LISTED_NONE;
	s->bump = 0;
	s->used = 0;
	s->free = NULL;
	s->next = s->prev = 0;
	s->large_size = large_size;
	s->sweep_base = 0;
	__atomic_store_n(&s->state, SPAN_IN_USE, __ATOMIC_RELEASE);
	for (uint64_t i = 0; i < n; i++) {
		__atomic_store_n(&slice_map[first + i], first + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&slice_cls[first + i], (uint8_t)(cls + 1), __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&totals.mapped_slices, n, __ATOMIC_RELAXED);
}

static void span_unpublish(uint32_t first)
{
	struct span *s = &spans[first];

	for (uint64_t i = 0; i < s->nslices; i++) {
		__atomic_store_n(&slice_cls[first + i], 0, __ATOMIC_RELEASE);
		__atomic_store_n(&slice_map[first + i], 0, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&s->state, SPAN_UNUSED, __ATOMIC_RELEASE);
	__atomic_fetch_sub(&totals.mapped_slices, s->nslices, __ATOMIC_RELAXED);
}

static inline uint64_t dirty_limit(void)
{
	uint64_t n = __atomic_load_n(&totals.mapped_slices, __ATOMIC_RELAXED) / 16;

	return n < DIRTY_MIN ? DIRTY_MIN : n > DIRTY_LIMIT ? DIRTY_LIMIT : n;
}

/* Discards dirty runs until at most half the limit is left. The runs are
 * taken out of the pool while their pages go back to the kernel, so the
 * system calls run without the lock. */
static RS_NOINLINE void purge(void)
{
	for (;;) {
		uint32_t batch[16];
		uint64_t len[16];
		unsigned k = 0;

		prim_lock(&pool.lock);
		if (pool.dirty_slices <= dirty_limit() / 2) {
			prim_unlock(&pool.lock);
			return;
		}
		for (unsigned b = RUN_BINS; b-- > 0 && k < RS_ARRAY_LEN(batch);) {
			for (uint32_t i = pool.bins[b]; i && k < RS_ARRAY_LEN(batch);) {
				uint32_t first = i - 1;
				i = spans[first].next;
				if (!spans[first].dirty)
					continue;
				len[k] = spans[first].nslices;
				run_take(first);
				batch[k++] = first;
			}
		}
		prim_unlock(&pool.lock);
		if (k == 0)
			return;
		for (unsigned j = 0; j < k; j++)
			discard_run(batch[j], len[j]);
		prim_lock(&pool.lock);
		for (unsigned j = 0; j < k; j++)
			run_free(batch[j], len[j], false);
		prim_unlock(&pool.lock);
	}
}


/* Gives a span's slices back to the pool. Called without any lock held:
 * the span is already unreachable from every list and from the slice map. */
static void span_release(uint32_t first, uint64_t n)
{
	unsigned key = meta_key(spans[first].cls);
	struct block_meta *m = spans[first].meta;

	prim_lock(&pool.lock);
	meta_give(key, m);
	run_free(first, n, true);
	bool over = pool.dirty_slices > dirty_limit();
	prim_unlock(&pool.lock);
	if (over)
		purge();
}

/* ---- central free lists (class lock held) ------------------------------ */

static inline uint32_t span_of(uintptr_t p, uint64_t *slot_out)
{
	uintptr_t off = p - region;

	if (RS_UNLIKELY(off >= region_len))
		return UINT32_MAX;
	uint32_t first = __atomic_load_n(&slice_map[off >> ARENA_SLICE_SHIFT], __ATOMIC_ACQUIRE);
	if (!first)
		return UINT32_MAX;
	first--;
	struct span *s = &spans[first];
	if (s->cls == CLASS_LARGE) {
		*slot_out = 0;
	} else {
		uint64_t x = p - span_start(first);
		*slot_out = (x * classes[s->cls].magic) >> MAGIC_SHIFT;
	}
	return first;
}

static uint32_t central_new_span(unsigned c)
{
	struct block_meta *m;
	uint32_t first = run_and_meta(classes[c].slices, 1, c, NULL, &m);

	if (first == UINT32_MAX)
		return first;
	span_publish(first, classes[c].slices, (uint8_t)c, 0, m);
	return first;
}

/* Moves up to `want` free slots of class c onto list *out; returns how
 * many. Takes and drops the class lock. Slots given back come first and
 * never-used ones last (none at all unless `grow`: refill grows a class
 * only when nothing is given back), so no span is touched further while
 * slots already touched sit free. */
static uint32_t central_take(unsigned c, uint32_t want, bool grow, void **out)
{
	struct central *ce = &centrals[c];
	const struct size_class *sc = &classes[c];
	uint32_t got = 0;
	void *list = NULL;

	prim_lock(&ce->lock);
	while (got < want && ce->partial) {
		uint32_t first = ce->partial - 1;
		struct span *s = &spans[first];
		while (got < want && s->free) {
			void *b = s->free;
			s->free = *(void **)b;
			*(void **)b = list;
			list = b;
			got++;
			s->used++;
		}
		if (!s->free) {
			list_remove(&ce->partial, first);
			s->listed = LISTED_NONE;
			if (s->bump < sc->slots) {
				list_push(&ce->fresh, first);
				s->listed = LISTED_FRESH;
			}
		}
	}
	while (grow && got < want) {
		if (!ce->fresh) {
			uint32_t first;
			if (ce->empty) {
				first = ce->empty - 1;
				ce->empty = 0;
			} else {
				/* The pool lock nests inside a class lock: always
				 * in this order. */
				first = central_new_span(c);
				if (first == UINT32_MAX)
					break;
			}
			list_push(&ce->fresh, first);
			spans[first].listed = LISTED_FRESH;
		}
		uint32_t first = ce->fresh - 1;
		struct span *s = &spans[first];
		while (got < want && s->bump < sc->slots) {
			void *b = (void *)(span_start(first) + (uintptr_t)s->bump * sc->size);
			s->bump++;
			*(void **)b = list;
			list = b;
			got++;
			s->used++;
		}
		if (s->bump == sc->slots) {
			list_remove(&ce->fresh, first);
			s->listed = LISTED_NONE;
		}
	}
	prim_unlock(&ce->lock);
	*out = list;
	return got;
}

/* Gives one slot back to its span; returns the first slice of a span that
 * became empty and must be released (or, with *park set, discarded and
 * kept) by the caller after unlocking, or UINT32_MAX. Class lock held. */
static uint32_t central_put_locked(struct central *ce, uint32_t first, void *b,
				   bool *park)
{
	struct span *s = &spans[first];

	*(void **)b = s->free;
	s->free = b;
	s->used--;
	if (s->listed != LISTED_PARTIAL) {
		if (s->listed == LISTED_FRESH)
			list_remove(&ce->fresh, first);
		list_push(&ce->partial, first);
		s->listed = LISTED_PARTIAL;
	}
	if (s->used)
		return UINT32_MAX;
	/* Empty: keep one per class (park_empty) so a steady churn does not
	 * map and unmap a span per batch, but only a one-slice span: a
	 * multi-slice one is up to 2 MiB of address space to keep track of. */
	list_remove(&ce->partial, first);
	s->listed = LISTED_NONE;
	s->free = NULL;
	s->bump = 0;
	if (!ce->empty && s->nslices == 1) {
		*park = true;
		return first;
	}
	span_unpublish(first);
	return first;
}

/* Keeps an emptied one-slice span as its class's spare, its pages given
 * back first: a class whose count dips keeps its spare for the next rise,
 * and 64 KiB resident for nobody until then made every dip cost the whole
 * slice (prodcons: its median peak anonymous memory 1.76 → 1.66 MB over 20
 * runs; binary-trees 5% more page faults, 2.5% more time). The span is on
 * no list and holds no block while its pages go: nobody can reach it. */
static void park_empty(struct central *ce, uint32_t first)
{
	bool kept;

	discard_run(first, 1);
	prim_lock(&ce->lock);
	kept = !ce->empty;
	if (kept)
		ce->empty = first + 1;
	else
		span_unpublish(first);
	prim_unlock(&ce->lock);
	if (!kept)
		span_release(first, 1);
}

static void central_put_list(unsigned c, void *list)
{
	struct central *ce = &centrals[c];
	uint32_t release[8];
	unsigned nrelease = 0;
	uint32_t park = UINT32_MAX;

	while (list) {
		prim_lock(&ce->lock);
		while (list && nrelease < RS_ARRAY_LEN(release) &&
		       park == UINT32_MAX) {
			void *b = list;
			uint64_t slot;
			bool to_park = false;
			list = *(void **)b;
			uint32_t first = span_of((uintptr_t)b, &slot);
			uint32_t r = central_put_locked(ce, first, b, &to_park);
			if (to_park)
				park = r;
			else if (r != UINT32_MAX)
				release[nrelease++] = r;
		}
		prim_unlock(&ce->lock);
		for (unsigned i = 0; i < nrelease; i++)
			span_release(release[i], classes[c].slices);
		nrelease = 0;
		if (park != UINT32_MAX) {
			park_empty(ce, park);
			park = UINT32_MAX;
		}
	}
}

/* ---- allocation -------------------------------------------------------- */

static inline void meta_set_live(struct block_meta *m, uint32_t stack,
				 uint32_t slack)
{
	bool untracked = stack == ARENA_STACK_UNTRACKED;
	uint64_t flags = BLOCK_LIVE | (untracked ? BLOCK_UNTRACKED : 0);
	/* One 8-byte store: built field by field, the compiler wrote the
	 * constant parts separately on malloc's fast path. */
	uint64_t v = (uint64_t)(untracked ? 0 : stack) | (uint64_t)(uint16_t)slack << 32 |
		     flags << 48;
	__builtin_memcpy(m, &v, sizeof v);
}
_Static_assert(sizeof(struct block_meta) == 8 &&
	       __builtin_offsetof(struct block_meta, slack) == 4 &&
	       __builtin_offsetof(struct block_meta, flags) == 6,
	       "meta_set_live writes block_meta as one little-endian word");

static RS_NOINLINE void *alloc_large(size_t size, size_t align, uint32_t stack,
				     bool zero)
{
	uint64_t n = (size + ARENA_SLICE_SIZE - 1) >> ARENA_SLICE_SHIFT;
	uint64_t align_slices = align > ARENA_SLICE_SIZE ? align >> ARENA_SLICE_SHIFT : 1;
	struct block_meta *m;
	uint32_t first;
	bool dirty;

	if (size > region_len || n == 0)
		return NULL;
	first = run_and_meta(n, align_slices, CLASS_LARGE, &dirty, &m);
	if (first == UINT32_MAX)
		return NULL;
	if (zero && dirty)
		prim_memset((void *)span_start(first), 0, size);
	span_publish(first, n, CLASS_LARGE, size, m);
	spans[first].bump = 1;
	spans[first].used = 1;
	meta_set_live(meta_of(first, 0), stack, 0);
	return (void *)span_start(first);
}

/* One free block of class c that this thread caches or some thread gave
 * back (a transfer batch or a span's free list), or NULL: never a slot not
 * yet touched. */
static void *take_given_back(unsigned c)
{
	struct central *ce = &centrals[c];
	struct bin *b = &tc.bins[c];
	void *p = b->head;

	if (p) {
		b->head = *(void **)p;
		b->count--;
		return p;
	}
	/* A peek without the lock first: a class with nothing to lend (most
	 * refills of a growing heap) costs no lock round trip. */
	if (!__atomic_load_n(&ce->nxfer, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&ce->partial, __ATOMIC_RELAXED))
		return NULL;
	prim_lock(&ce->lock);
	if (ce->nxfer) {
		struct batch *x = &ce->xfer[ce->nxfer - 1];
		p = x->head;
		x->head = *(void **)p;
		if (--x->count == 0)
			ce->nxfer--;
	}
	prim_unlock(&ce->lock);
	if (!p)
		central_take(c, 1, false, &p);
	return p;
}

/* Refills the bin of class *cls and returns one block; *cls is the class
 * of the block returned. When the class has nothing given back and would
 * have to touch new slots, and `borrow` allows it (16-byte alignment, so
 * any class will do), one block of the next class serves instead if one
 * sits free: classes peak at different times, and on prodcons each one
 * keeping its own peak's slots cost about 20% of the live heap (a model
 * of its 24 classes: 1.52 MB of slots for a peak of 1.23 MB live, 1.40 MB
 * borrowing from the next class for 0.8% of the allocations). The block
 * costs at most an eighth more than asked (the classes' spacing). */
static RS_NOINLINE void *refill(unsigned *cls, bool borrow)
{
	unsigned c = *cls;
	struct bin *b = &tc.bins[c];
	struct central *ce = &centrals[c];
	void *list = NULL;
	uint32_t got = 0;

	if (!tc.dead) {
		prim_lock(&ce->lock);
		if (ce->nxfer) {
			struct batch *x = &ce->xfer[--ce->nxfer];
			list = x->head;
			got = x->count;
		}
		prim_unlock(&ce->lock);
	}
	if (!got) {
		uint32_t want = tc.dead || !classes[c].cache_cap ? 1
				: (classes[c].cache_cap + 1) / 2;
		/* Slots given back first, even fewer than wanted: the class
		 * grows only when none are left. */
		got = central_take(c, want, false, &list);
		/* None given back: borrow before growing, unless the class
		 * keeps a spare span (borrowing is a slow path per allocation,
		 * the spare a whole batch at once). */
		if (!got && borrow && c + 1 < FAST_CLASSES && !tc.dead &&
		    !__atomic_load_n(&ce->empty, __ATOMIC_RELAXED)) {
			void *p = take_given_back(c + 1);
			if (p) {
				*cls = c + 1;
				return p;
			}
		}
		if (!got)
			got = central_take(c, want, true, &list);
	}
	maybe_fold(&tc);
	if (!got)
		return NULL;
	void *p = list;
	b->head = *(void **)p;
	b->count = got - 1;
	b->limit = classes[c].cache_cap;
	tc.draining[c] = 0;
	return p;
}

/* one_slice: the caller knows c < FAST_CLASSES. */
static inline void *finish_small(void *p, unsigned c, size_t size, uint32_t stack,
				 bool zero, bool one_slice)
{
	uintptr_t off = (uintptr_t)p - region;
	uint32_t first = (uint32_t)(off >> ARENA_SLICE_SHIFT);
	uint64_t slot;

	if (one_slice || RS_LIKELY(classes[c].slices == 1)) {
		slot = ((off & (ARENA_SLICE_SIZE - 1)) * classes[c].magic) >> MAGIC_SHIFT;
	} else {
		first = slice_map[first] - 1;
		slot = ((uintptr_t)p - span_start(first)) * classes[c].magic >> MAGIC_SHIFT;
	}
	meta_set_live(meta_of(first, slot), stack, classes[c].size - (uint32_t)size);
	tc.allocations++;
	tc.bytes_allocated += size;
	/* The free-list link must not outlive the free list: in a block the
	 * program never writes it would point at whatever block comes next,
	 * and the sweep would believe it. */
	if (zero)
		prim_memset(p, 0, size);
	else
		*(void **)p = NULL;
	return p;
}

/* Everything but a small, 16-aligned block found in the thread cache:
 * first use, alignment, large blocks, an empty cache. */
static RS_NOINLINE void *alloc_slow(size_t size, size_t align, uint32_t stack,
				    bool zero)
{
	unsigned c;
	void *p;

	if (!arena_init())
		return NULL;
	if (align <= ARENA_MIN_ALIGN && size <= SMALL_MAX) {
		c = class_of(size);
	} else if (size <= SMALL_MAX && align <= ARENA_SLICE_SIZE) {
		/* A class whose every block start is aligned enough; it exists
		 * for any power of two up to a slice. */
		c = class_of(size < align ? align : size);
		while (c < NCLASSES && class_align(c) < align)
			c++;
		/* The slack must fit its 16 bits. */
		if (c == NCLASSES || classes[c].size - size > UINT16_MAX)
			goto large;
	} else {
		goto large;
	}
	struct bin *b = &tc.bins[c];
	p = b->head;
	if (p) {
		b->head = *(void **)p;
		b->count--;
	} else {
		p = refill(&c, align <= ARENA_MIN_ALIGN);
		if (!p)
			return NULL;
	}
	return finish_small(p, c, size, stack, zero, false);

large:
	p = alloc_large(size, align, stack, zero);
	if (p) {
		tc.allocations++;
		tc.bytes_allocated += size;
		fold_counters(&tc);
	}
	return p;
}

/* always_inline: with LTO the fast path lands inside malloc itself. */
__attribute__((always_inline)) inline void *
arena_alloc(size_t size, size_t align, uint32_t stack, bool zero)
{
	/* Before the region exists every thread cache is empty, so the first
	 * allocation of all falls into alloc_slow and maps it. */
	if (RS_LIKELY(size <= SMALL_MAX && align <= ARENA_MIN_ALIGN)) {
		unsigned c = class_of(size);
		struct bin *b = &tc.bins[c];
		void *p = b->head;
		if (RS_LIKELY(p != NULL)) {
			b->head = *(void **)p;
			b->count--;
			return finish_small(p, c, size, stack, zero, false);
		}
	}
	return alloc_slow(size, align, stack, zero);
}

__attribute__((always_inline)) inline void *arena_alloc_fast(size_t size)
{
	unsigned c = fast_class[(size + 15) >> 4];
	struct bin *b = &tc.bins[c];
	void *p = b->head;

	if (RS_UNLIKELY(p == NULL))
		return NULL;
	b->head = *(void **)p;
	b->count--;
	return finish_small(p, c, size, 0, false, true);
}

/* ---- lookup ------------------------------------------------------------ */

/* Resolves p to its slot without checking liveness. */
static inline bool resolve(uintptr_t p, uint32_t *first_out, uint64_t *slot_out,
			   uintptr_t *start_out, size_t *size_out,
			   struct block_meta **meta_out)
{
	uint64_t slot;
	uint32_t first = span_of(p, &slot);

	if (first == UINT32_MAX)
		return false;
	struct span *s = &spans[first];
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SPAN_IN_USE)
		return false;
	if (slot >= s->bump)
		return false;
	struct block_meta *m = meta_of(first, slot);
	if (s->cls == CLASS_LARGE) {
		*start_out = span_start(first);
		*size_out = s->large_size;
	} else {
		*start_out = span_start(first) + slot * classes[s->cls].size;
		*size_out = classes[s->cls].size - m->slack;
	}
	*first_out = first;
	*slot_out = slot;
	*meta_out = m;
	return true;
}

bool arena_lookup(uintptr_t addr, struct arena_block *out)
{
	uint32_t first;
	uint64_t slot;
	uintptr_t start;
	size_t size;
	struct block_meta *m;

	if (!resolve(addr, &first, &slot, &start, &size, &m))
		return false;
	if (!(m->flags & BLOCK_LIVE))
		return false;
	if (addr - start >= (size ? size : 1))
		return false;
	out->start = start;
	out->size = size;
	out->meta = m;
	out->index = spans[first].sweep_base + slot;
	out->stack = m->stack;
	out->flags = m->flags;
	return true;
}

bool arena_locate(uintptr_t addr, struct arena_slot *out)
{
	uint64_t slot;
	uint32_t first = span_of(addr, &slot);

	if (first == UINT32_MAX)
		return false;
	struct span *s = &spans[first];
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SPAN_IN_USE ||
	    slot >= s->bump)
		return false;
	out->meta = meta_of(first, slot);
	out->index = s->sweep_base + slot;
	out->large = s->cls == CLASS_LARGE;
	if (out->large) {
		out->start = span_start(first);
		out->slot_size = s->large_size;
	} else {
		out->slot_size = classes[s->cls].size;
		out->start = span_start(first) + slot * out->slot_size;
	}
	return true;
}

bool arena_block_at(const void *p, struct arena_block *out)
{
	return arena_lookup((uintptr_t)p, out) && out->start == (uintptr_t)p;
}

/* ---- free -------------------------------------------------------------- */

static RS_NOINLINE void flush_bin(unsigned c, uint32_t keep)
{
	struct bin *b = &tc.bins[c];
	struct central *ce = &centrals[c];
	uint32_t n = b->count - keep;
	void *list = b->head, *last = list;

	for (uint32_t i = 1; i < n; i++)
		last = *(void **)last;
	b->head = *(void **)last;
	b->count = keep;
	*(void **)last = NULL;
	maybe_fold(&tc);
	prim_lock(&ce->lock);
	/* A draining bin flushes small lists: joined into batches of the
	 * size a refill takes, they keep the transfer cache as deep in blocks
	 * as before (binary-trees frees whole trees: 4% more time when its
	 * small batches overflowed to the spans). */
	struct batch *top = ce->nxfer ? &ce->xfer[ce->nxfer - 1] : NULL;
	if (top && top->count + n <= (classes[c].cache_cap + 1) / 2) {
		*(void **)last = top->head;
		top->head = list;
		top->count += n;
		list = NULL;
	} else if (ce->nxfer < classes[c].xfer_cap) {
		ce->xfer[ce->nxfer].head = list;
		ce->xfer[ce->nxfer].count = n;
		ce->nxfer++;
		list = NULL;
	}
	prim_unlock(&ce->lock);
	if (list)
		central_put_list(c, list);
}

/* The bin, not the class, comes from the fast path: one register fewer
 * there keeps free from saving any. An uncached class's block goes
 * straight back to its span. */
static RS_NOINLINE void flush_full_bin(struct bin *b)
{
	unsigned c = (unsigned)(b - tc.bins);
	uint32_t cap = classes[c].cache_cap;

	if (!cap) {
		void *p = b->head;
		b->head = NULL;
		b->count = 0;
		maybe_fold(&tc);
		central_put_list(c, p);
		return;
	}
	/* Each flush with no refill since the one before halves the bin, down
	 * to an eighth: a thread that only frees the class ends there, one
	 * whose frees outrun its allocations for a while (a random churn)
	 * keeps most of its cache. */
	if (tc.draining[c] < 4)
		tc.draining[c]++;
	uint32_t limit = cap >> (tc.draining[c] - 1);
	b->limit = limit = limit ? limit : 1;
	if (b->count > limit)
		flush_bin(c, limit / 2);
}

static RS_NOINLINE void free_large(uint32_t first)
{
	span_unpublish(first);
	span_release(first, spans[first].nslices);
}

/* The block stops being live: the caller learns what it was. */
static inline void retire(void *ptr, struct block_meta *m, size_t size,
			  struct arena_block *out)
{
	out->start = (uintptr_t)ptr;
	out->size = size;
	out->meta = m;
	out->stack = m->stack;
	out->flags = m->flags;
	m->flags = 0;
	tc.frees++;
	tc.bytes_freed += size;
}

static inline void cache_push(unsigned c, void *ptr)
{
	struct bin *b = &tc.bins[c];

	*(void **)ptr = b->head;
	b->head = ptr;
	if (RS_UNLIKELY(++b->count > b->limit))
		flush_full_bin(b);
}

/* Any pointer: what arena_free_fast declines (large blocks, multi-slice
 * spans, a dead thread's cache, reported blocks) and what is not a live
 * block start at all. */
enum arena_free_result arena_free(void *ptr, struct arena_block *out)
{
	uintptr_t p = (uintptr_t)ptr;
	uint32_t first;
	uint64_t slot;
	uintptr_t start;
	size_t size;
	struct block_meta *m;

	if (!resolve(p, &first, &slot, &start, &size, &m)) {
		if (p - region >= region_len) {
			__atomic_fetch_add(&totals.foreign_frees, 1, __ATOMIC_RELAXED);
			return ARENA_NOT_OURS;
		}
		__atomic_fetch_add(&totals.invalid_frees, 1, __ATOMIC_RELAXED);
		return ARENA_INTERIOR;
	}
	if (start != p) {
		__atomic_fetch_add(&totals.invalid_frees, 1, __ATOMIC_RELAXED);
		return ARENA_INTERIOR;
	}
	/* Liveness lives out of band: a second free of the same pointer finds
	 * the flag clear and is turned away before it can reach a list. */
	if (!(m->flags & BLOCK_LIVE)) {
		__atomic_fetch_add(&totals.double_frees, 1, __ATOMIC_RELAXED);
		return ARENA_DOUBLE;
	}
	retire(ptr, m, size, out);

	unsigned c = spans[first].cls;
	if (c == CLASS_LARGE) {
		fold_counters(&tc);
		free_large(first);
	} else if (tc.dead) {
		*(void **)ptr = NULL;
		fold_counters(&tc);
		central_put_list(c, ptr);
	} else {
		cache_push(c, ptr);
	}
	return ARENA_FREED;
}

/* The common case in four loads: the slice's class, the class's geometry,
 * the span's metadata chunk, the slot's metadata. Spans start clean
 * (run_and_meta), so a slot never handed out has no live flag; an
 * unpublished slice has class 0, which wraps past FAST_CLASSES. */
__attribute__((always_inline)) inline bool arena_free_fast(void *ptr)
{
	uintptr_t off = (uintptr_t)ptr - region;

	if (RS_UNLIKELY(off >= region_len))
		return false;
	unsigned c = (unsigned)slice_cls[off >> ARENA_SLICE_SHIFT] - 1;
	if (RS_UNLIKELY(c >= FAST_CLASSES || tc.dead))
		return false;
	const struct size_class *sc = &classes[c];
	uint64_t in = off & (ARENA_SLICE_SIZE - 1);
	uint64_t slot = (in * sc->magic) >> MAGIC_SHIFT;
	struct block_meta *m = spans[off >> ARENA_SLICE_SHIFT].meta + slot;
	/* A reported block needs its late-free event: arena_free tells. */
	if (RS_UNLIKELY(slot * sc->size != in ||
			(m->flags & (BLOCK_LIVE | BLOCK_REPORTED)) != BLOCK_LIVE))
		return false;
	m->flags = 0;
	tc.frees++;
	tc.bytes_freed += sc->size - m->slack;
	struct bin *b = &tc.bins[c];
	*(void **)ptr = b->head;
	b->head = ptr;
	if (RS_UNLIKELY(++b->count > b->limit))
		flush_full_bin(b);
	return true;
}

/* Grows a large block's run by `extra` slices when the slices after it are
 * free, as mremap would: sqlite's sorter doubles a buffer with realloc, and
 * copying it into fresh pages at every step gave sqlite3 twice glibc's page
 * faults. */
static bool large_grow(uint32_t first, uint64_t extra)
{
	struct span *s = &spans[first];
	uint64_t end = first + s->nslices;
	bool ok = false;

	prim_lock(&pool.lock);
	if (end == pool.hwm) {
		ok = end + extra <= nslices_total;
		if (ok)
			pool.hwm = end + extra;
	} else if (spans[end].state == SPAN_FREE) {
		uint64_t len = spans[end].nslices;
		uint32_t nd = spans[end].ndirty;
		ok = len >= extra || (end + len == pool.hwm && end + extra <= nslices_total);
		if (ok) {
			run_take((uint32_t)end);
			if (len > extra)
				run_insert((uint32_t)(end + extra), len - extra, nd);
			else if (end + extra > pool.hwm)
				pool.hwm = end + extra;
		}
	}
	if (ok) {
		for (uint64_t i = end; i < end + extra; i++) {
			__atomic_store_n(&slice_map[i], first + 1, __ATOMIC_RELEASE);
			__atomic_store_n(&slice_cls[i], (uint8_t)(CLASS_LARGE + 1), __ATOMIC_RELEASE);
		}
		s->nslices += (uint32_t)extra;
		__atomic_fetch_add(&totals.mapped_slices, extra, __ATOMIC_RELAXED);
	}
	prim_unlock(&pool.lock);
	return ok;
}

bool arena_resize_in_place(void *ptr, size_t new_size)
{
	uint32_t first;
	uint64_t slot;
	uintptr_t start;
	size_t size;
	struct block_meta *m;

	if (!resolve((uintptr_t)ptr, &first, &slot, &start, &size, &m))
		return false;
	struct span *s = &spans[first];
	if (s->cls == CLASS_LARGE) {
		uint64_t cap = (uint64_t)s->nslices << ARENA_SLICE_SHIFT;
		/* Shrinking a large block far below its run keeps memory the
		 * program gave up: move it instead. */
		if (new_size < cap / 2)
			return false;
		if (new_size > cap &&
		    (new_size > region_len ||
		     !large_grow(first, ((new_size + ARENA_SLICE_SIZE - 1) >> ARENA_SLICE_SHIFT) -
					s->nslices)))
			return false;
		s->large_size = new_size;
	} else {
		uint32_t slot_size = classes[s->cls].size;
		if (new_size > slot_size || class_of(new_size) + 2 < s->cls)
			return false;
		m->slack = (uint16_t)(slot_size - new_size);
	}
	if (new_size > size)
		tc.bytes_allocated += new_size - size;
	else
		tc.bytes_freed += size - new_size;
	return true;
}

/* ---- sweep support ----------------------------------------------------- */

static inline uint64_t span_slots(const struct span *s)
{
	return s->cls == CLASS_LARGE ? 1 : classes[s->cls].slots;
}

uint64_t arena_index_blocks(void)
{
	uint64_t total = 0, hwm = pool.hwm;

	for (uint64_t i = 0; i < hwm;) {
		struct span *s = &spans[i];
		if (s->state == SPAN_IN_USE) {
			s->sweep_base = total;
			total += span_slots(s);
			i += s->nslices;
		} else if (s->state == SPAN_FREE) {
			i += s->nslices;
		} else {
			i++;
		}
	}
	return total;
}

bool arena_next_span(uint64_t *cursor, struct arena_span_view *out)
{
	uint64_t hwm = pool.hwm;

	while (*cursor < hwm) {
		uint32_t first = (uint32_t)*cursor;
		struct span *s = &spans[first];

		if (s->state != SPAN_IN_USE) {
			*cursor += s->state == SPAN_FREE ? s->nslices : 1;
			continue;
		}
		*cursor += s->nslices;
		out->start = span_start(first);
		out->meta = meta_of(first, 0);
		out->index = s->sweep_base;
		out->slots = s->bump;
		out->large = s->cls == CLASS_LARGE;
		out->slot_size = out->large ? s->large_size : classes[s->cls].size;
		return true;
	}
	return false;
}

/* Iterates live blocks in address order. Start with it = {0}. */
struct arena_iter {
	uint64_t slice;
	uint64_t slot;
};

static bool next_live(struct arena_iter *it, struct arena_block *out)
{
	uint64_t hwm = pool.hwm;

	while (it->slice < hwm) {
		struct span *s = &spans[it->slice];
		if (s->state != SPAN_IN_USE) {
			it->slice += s->state == SPAN_FREE ? s->nslices : 1;
			it->slot = 0;
			continue;
		}
		uint32_t first = (uint32_t)it->slice;
		while (it->slot < s->bump) {
			uint64_t slot = it->slot++;
			struct block_meta *m = meta_of(first, slot);
			if (!(m->flags & BLOCK_LIVE))
				continue;
			if (s->cls == CLASS_LARGE) {
				out->start = span_start(first);
				out->size = s->large_size;
			} else {
				out->start = span_start(first) + slot * classes[s->cls].size;
				out->size = classes[s->cls].size - m->slack;
			}
			out->meta = m;
			out->index = s->sweep_base + slot;
			out->stack = m->stack;
			out->flags = m->flags;
			return true;
		}
		it->slice += s->nslices;
		it->slot = 0;
	}
	return false;
}

void arena_get_ranges(struct arena_ranges *out)
{
	out->region = region;
	out->region_len = region_len;
	out->meta = meta_region;
	out->meta_len = meta_len;
	out->tables = tables;
	out->tables_len = tables_len;
}

void arena_get_stats(struct arena_stats *out)
{
	fold_counters(&tc);
	out->allocations = __atomic_load_n(&totals.allocations, __ATOMIC_RELAXED);
	out->frees = __atomic_load_n(&totals.frees, __ATOMIC_RELAXED);
	out->bytes_allocated = __atomic_load_n(&totals.bytes_allocated, __ATOMIC_RELAXED);
	uint64_t bf = __atomic_load_n(&totals.bytes_freed, __ATOMIC_RELAXED);
	out->live_blocks = out->allocations > out->frees ? out->allocations - out->frees : 0;
	out->live_bytes = out->bytes_allocated > bf ? out->bytes_allocated - bf : 0;
	out->peak_blocks = totals.peak_blocks;
	out->peak_bytes = totals.peak_bytes;
	out->invalid_frees = __atomic_load_n(&totals.invalid_frees, __ATOMIC_RELAXED);
	out->double_frees = __atomic_load_n(&totals.double_frees, __ATOMIC_RELAXED);
	out->foreign_frees = __atomic_load_n(&totals.foreign_frees, __ATOMIC_RELAXED);
	out->mapped_bytes = __atomic_load_n(&totals.mapped_slices, __ATOMIC_RELAXED)
			    << ARENA_SLICE_SHIFT;
}

uint64_t arena_live_bytes_approx(void)
{
	uint64_t in = __atomic_load_n(&totals.bytes_allocated, __ATOMIC_RELAXED) + tc.bytes_allocated;
	uint64_t out = __atomic_load_n(&totals.bytes_freed, __ATOMIC_RELAXED) + tc.bytes_freed;
	return in > out ? in - out : 0;
}

bool arena_trim(void)
{
	bool released = false;

	for (unsigned c = 0; c < NCLASSES; c++) {
		struct central *ce = &centrals[c];
		uint32_t first = UINT32_MAX;
		for (;;) {
			void *list = NULL;
			prim_lock(&ce->lock);
			if (ce->nxfer)
				list = ce->xfer[--ce->nxfer].head;
			prim_unlock(&ce->lock);
			if (!list)
				break;
			central_put_list(c, list);
		}
		prim_lock(&ce->lock);
		if (ce->empty) {
			first = ce->empty - 1;
			ce->empty = 0;
			span_unpublish(first);
		}
		prim_unlock(&ce->lock);
		if (first != UINT32_MAX) {
			span_release(first, classes[c].slices);
			released = true;
		}
	}
	return released;
}

/* ---- threads and fork -------------------------------------------------- */

void arena_thread_exit(void)
{
	for (unsigned c = 0; c < NCLASSES; c++) {
		if (tc.bins[c].count)
			flush_bin(c, 0);
	}
	tc.dead = true;
	fold_counters(&tc);
}

void arena_fork_prepare(void)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		prim_lock(&centrals[c].lock);
	prim_lock(&pool.lock);
}

void arena_fork_parent(void)
{
	prim_unlock(&pool.lock);
	for (unsigned c = NCLASSES; c-- > 0;)
		prim_unlock(&centrals[c].lock);
}

void arena_fork_child(void)
{
	prim_lock_reinit(&pool.lock);
	for (unsigned c = 0; c < NCLASSES; c++)
		prim_lock_reinit(&centrals[c].lock);
	if (init_state != 2)
		return;
	/* Every block alive now is the parent's: the child must not report
	 * the parent's losses as its own. Counting them here also repairs the
	 * live totals that the vanished threads had not folded in. */
	struct arena_iter it = { 0, 0 };
	struct arena_block b;
	uint64_t blocks = 0, bytes = 0;
	while (next_live(&it, &b)) {
		b.meta->flags |= BLOCK_INHERITED;
		blocks++;
		bytes += b.size;
	}
	/* Threads that do not exist here never folded their counts: take the
	 * live totals as the truth and make the others agree with them. */
	fold_counters(&tc);
	if (totals.allocations < blocks)
		totals.allocations = blocks;
	if (totals.bytes_allocated < bytes)
		totals.bytes_allocated = bytes;
	totals.frees = totals.allocations - blocks;
	totals.bytes_freed = totals.bytes_allocated - bytes;
}
