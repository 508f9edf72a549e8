/*
 * arena.h: the tracked arena. Owns every heap block of the process: where it
 * lives, how big the program asked for, its allocation stack id, and the
 * out-of-band flags the sweep reads and sets.
 *
 * Layout: one reserved region of 64 KiB slices. A span is a run of slices
 * holding blocks of one size class (or one large block). Block metadata sits
 * in a second region, found through the span's descriptor, so "which live
 * block contains this address" is a subtraction, two table loads and a
 * multiply, for any 64-bit value.
 *
 * Must never: call into libc beyond prim.h, hold a lock while calling
 * another layer, or crash on a bad pointer from the program (a free of
 * something that is not a live block is counted and ignored).
 */
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include "prim.h"

#define ARENA_SLICE_SHIFT 16
#define ARENA_SLICE_SIZE ((size_t)1 << ARENA_SLICE_SHIFT)
#define ARENA_MIN_ALIGN 16

/* Block flags (block_meta.flags). */
#define BLOCK_LIVE 0x01      /* handed to the program and not yet freed */
#define BLOCK_IGNORED 0x02   /* rs_ignore(): a root, never reported */
#define BLOCK_INHERITED 0x04 /* in a fork child: allocated by the parent */
#define BLOCK_REPORTED 0x08  /* a sweep reported it unreachable */
#define BLOCK_UNTRACKED 0x10 /* allocated by the shim's own layers */

/* Out-of-band metadata, 8 bytes per block slot. */
struct block_meta {
	uint32_t stack; /* allocation stack id, 0 = none */
	uint16_t slack; /* slot size minus requested size (not for large) */
	uint8_t flags;  /* BLOCK_* */
	uint8_t spare;  /* unused: the sweep keeps its marks in scratch of its
			   own, which a snapshot writes without copy-on-write */
};

/* A live block as the sweep sees it. */
struct arena_block {
	uintptr_t start;
	size_t size;             /* requested size; 0-size blocks say 0 */
	struct block_meta *meta;
	uint64_t index;          /* dense slot index from arena_index_blocks */
	uint32_t stack;          /* copies of the metadata, still valid */
	uint8_t flags;           /* after arena_free has cleared it */
};

/* The stack argument of arena_alloc for the shim's own allocations (made
 * while rs_in_shim): no stack, flagged BLOCK_UNTRACKED, never reported. */
#define ARENA_STACK_UNTRACKED UINT32_MAX

/* Address ranges the arena owns: never scanned as roots. */
struct arena_ranges {
	uintptr_t region, region_len;
	uintptr_t meta, meta_len;
	uintptr_t tables, tables_len;
};

/* Counters, summed over threads at the moment of the call. */
struct arena_stats {
	uint64_t live_blocks, live_bytes, peak_blocks, peak_bytes;
	uint64_t allocations, frees, bytes_allocated;
	uint64_t invalid_frees, double_frees, foreign_frees;
	uint64_t mapped_bytes;
};

enum arena_free_result {
	ARENA_FREED,
	ARENA_NOT_OURS,   /* not in the region (ld.so's early blocks, or junk) */
	ARENA_DOUBLE,     /* a slot that is not live */
	ARENA_INTERIOR,   /* inside a block but not its start */
};

/* First call maps the region; safe to call from any thread, any time, before
 * libc is initialised. False when no memory could be reserved. */
bool arena_init(void) RS_HIDDEN;

/* A block of at least `size` bytes aligned to `align` (a power of two, at
 * least 16), marked live with the given stack. NULL when out of memory.
 * `zero` asks for zeroed memory. */
void *arena_alloc(size_t size, size_t align, uint32_t stack, bool zero)
	RS_HIDDEN;
/* Frees p; `out` receives the block as it was (when the result is
 * ARENA_FREED), so callers can write late-free events after the call. */
enum arena_free_result arena_free(void *p, struct arena_block *out) RS_HIDDEN;
/* The fast paths for the malloc family when no stack is captured: no lock,
 * no call on the common path, inlined into malloc and free (LTO).
 * arena_alloc_fast serves size <= ARENA_FAST_MAX from the thread's cache
 * with stack 0, or returns NULL (cache empty: call arena_alloc).
 * arena_free_fast frees p if it is the start of a live, never-reported
 * block of a one-slice span; false leaves everything to arena_free (which
 * also takes NULL, foreign, double and late frees). */
#define ARENA_FAST_MAX 8192
void *arena_alloc_fast(size_t size) RS_HIDDEN;
bool arena_free_fast(void *p) RS_HIDDEN;
/* Resizes in place when the new size fits the block's slot; false if the
 * caller must move it. p must be a live block start. */
bool arena_resize_in_place(void *p, size_t new_size) RS_HIDDEN;

/* The live block whose first byte is p, or false. */
bool arena_block_at(const void *p, struct arena_block *out) RS_HIDDEN;

/* The live block containing addr (within its requested size, a zero-size
 * block counting as 1 byte), or false. O(1); never faults for any value.
 * `index` is meaningful only after arena_index_blocks. */
bool arena_lookup(uintptr_t addr, struct arena_block *out) RS_HIDDEN;

/* A slot as the sweep's pipelined mark needs it: found from the span
 * tables alone, without reading the slot's metadata, so the caller can
 * prefetch that metadata (and the block) before deciding anything. The
 * slot may be free: liveness and the requested size are in *meta. */
struct arena_slot {
	uintptr_t start;
	uint64_t index;          /* as arena_lookup's, after arena_index_blocks */
	struct block_meta *meta;
	uint64_t slot_size;      /* the class size, or a large block's size */
	bool large;              /* slot_size is then the requested size */
};
bool arena_locate(uintptr_t addr, struct arena_slot *out) RS_HIDDEN;

/* Sweep support, world stopped: give every slot of every span a dense
 * index (returned by arena_lookup, arena_locate and arena_next_span) and
 * return how many indexes exist. */
uint64_t arena_index_blocks(void) RS_HIDDEN;

/* The in-use spans in address order, for the sweep's loops over their
 * slots. Start with *cursor = 0. */
struct arena_span_view {
	uintptr_t start;          /* the first slot */
	struct block_meta *meta;  /* the first slot's metadata */
	uint64_t index;           /* the first slot's dense index */
	uint64_t slots;           /* slots ever handed out (the rest never were) */
	uint64_t slot_size;       /* the class size, or a large block's size */
	bool large;
};
bool arena_next_span(uint64_t *cursor, struct arena_span_view *out)
	RS_HIDDEN;

void arena_get_ranges(struct arena_ranges *out) RS_HIDDEN;
void arena_get_stats(struct arena_stats *out) RS_HIDDEN;
/* Releases cached empty spans to the kernel; true if any was released. */
bool arena_trim(void) RS_HIDDEN;

/* fork: prepare takes every arena lock, parent releases them, child
 * re-initialises them and marks every live block BLOCK_INHERITED. */
void arena_fork_prepare(void) RS_HIDDEN;
void arena_fork_parent(void) RS_HIDDEN;
void arena_fork_child(void) RS_HIDDEN;
/* A thread is ending: return its cached blocks. Later calls from the same
 * thread bypass the cache. */
void arena_thread_exit(void) RS_HIDDEN;

/* Live bytes, cheap and approximate (per-thread counts are folded in on
 * each thread's slow path): for the sweep's growth trigger. */
uint64_t arena_live_bytes_approx(void) RS_HIDDEN;

#endif /* RS_ARENA_H */
