/*
 * roots.h: the root set of a sweep (SPEC.md "Classification"): writable
 * segments of every loaded object, each thread's stack from its stack
 * pointer up, its registers, static TLS and the thread descriptor (where
 * pthread_setspecific values live), the DTV that holds dynamic TLS, and
 * regions the program registered. Also the /proc/self/maps snapshot that
 * every range is checked against before a word of it is read.
 *
 * Must never: allocate (memory comes from prim_map), call the loader or
 * libc while the world is stopped, or hand out a range that is not
 * readable in the snapshot.
 */
#ifndef RS_ROOTS_H
#define RS_ROOTS_H

#include "prim.h"

#define MAPS_R 0x01
#define MAPS_W 0x02
#define MAPS_X 0x04
#define MAPS_STACK 0x08 /* the main thread's [stack] */
#define MAPS_SKIP 0x10  /* [vvar], [vsyscall]: reading may fault */

struct maps_entry {
	uintptr_t start, end;
	uint32_t flags;
};

struct maps {
	struct maps_entry *e;
	uint32_t n;
	void *mem;
	size_t mem_len;
};

/* Snapshot of /proc/self/maps (safe while stopped: no libc). */
bool maps_read(struct maps *m) RS_HIDDEN;
void maps_free(struct maps *m) RS_HIDDEN;
const struct maps_entry *maps_find(const struct maps *m, uintptr_t addr)
	RS_HIDDEN;

struct root_range {
	uintptr_t start, end;
};

#define ROOTS_MAX_EXCLUDE 16

struct roots {
	struct root_range *r;
	uint32_t n, cap;
	/* blocks that act as roots, by an address inside them (DTVs) */
	uintptr_t *blocks;
	uint32_t nblocks, cap_blocks;
	struct root_range ex[ROOTS_MAX_EXCLUDE];
	uint32_t nex;
	uintptr_t heap_lo, heap_hi; /* the arena region */
	bool overflow;
	void *mem;
	size_t mem_len;
};

bool roots_init(struct roots *r) RS_HIDDEN;
void roots_free(struct roots *r) RS_HIDDEN;
/* Never scanned, even when inside a root range (the arena, the shim). */
void roots_exclude(struct roots *r, uintptr_t start, uintptr_t end) RS_HIDDEN;
void roots_add(struct roots *r, uintptr_t start, uintptr_t end) RS_HIDDEN;
/* Writable PT_LOAD segments of every loaded object but the shim itself.
 * Call before the world is stopped (it takes the loader lock). */
void roots_add_modules(struct roots *r) RS_HIDDEN;
/* One thread: stack from sp - redzone up, the whole stack when sp lies
 * outside it, static TLS and descriptor around fs, its DTV. */
void roots_add_thread(struct roots *r, const struct maps *m, bool is_main,
		      uintptr_t sp, uintptr_t fs, size_t redzone) RS_HIDDEN;
/* Clips every range to readable mappings minus exclusions, sorts and
 * merges them so that no word is read twice. */
void roots_finish(struct roots *r, const struct maps *m) RS_HIDDEN;

/* The exiting thread's live stack starts where the frame that called
 * exit() was: finds the return address of that call at or above sp.
 * Returns the caller's stack pointer, or 0 if none was found. */
uintptr_t roots_exit_frame(const struct maps *m, uintptr_t sp) RS_HIDDEN;

/* Looks up what roots need from the loader; call once, not stopped. */
void roots_init_static(void) RS_HIDDEN;
/* The dynamic loader's text, for telling its allocations apart. */
bool roots_in_loader(uintptr_t pc) RS_HIDDEN;

#endif /* RS_ROOTS_H */
