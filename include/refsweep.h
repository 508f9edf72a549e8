/*
 * refsweep.h: the program-facing API of refsweep, the gc module for native
 * programs.
 *
 * A program compiled with this header runs unchanged without refsweep and
 * needs no extra library: every function looks the shim up at run time
 * (dlsym of "refsweep_api_v1", which is in libc from glibc 2.34 on; older
 * glibc needs -ldl) and, when it is absent, does nothing and returns the
 * value documented as "without the shim".
 *
 * Ownership: nothing here allocates memory that the caller must free, and
 * nothing keeps a pointer the caller passed beyond the call, except the root
 * regions and ignored objects the caller registers (they stay registered
 * until unregistered or freed).
 *
 * Thread safety: every call may be made from any thread at any time except
 * from a signal handler.
 */
#ifndef REFSWEEP_H
#define REFSWEEP_H

#include <stddef.h>
#include <stdint.h>

#ifndef _GNU_SOURCE
#define RS__UNDEF_GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#ifdef RS__UNDEF_GNU_SOURCE
#undef _GNU_SOURCE
#undef RS__UNDEF_GNU_SOURCE
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* When periodic sweeps run; 0 turns a trigger off. Like gc.set_threshold. */
struct rs_thresholds {
	/* sweep when the live heap has grown by this many percent since the
	 * last sweep (and by at least 1 MiB) */
	uint32_t growth_percent;
	/* sweep every this many allocations */
	uint64_t every_allocations;
	/* sweep every this many milliseconds */
	uint64_t every_ms;
};

/* Heap statistics, as the shim sees them at the moment of the call. */
struct rs_stats {
	uint64_t live_blocks, live_bytes;
	uint64_t peak_blocks, peak_bytes;
	uint64_t total_allocations, total_frees;
	uint64_t sweeps;
	/* blocks found unreachable by the last sweep (every class but
	 * reachable and possible) */
	uint64_t last_unreachable_blocks, last_unreachable_bytes;
	uint64_t invalid_frees;
};

/* References to one block, counted by a fresh sweep. */
struct rs_refcount {
	uint64_t start;    /* aligned words equal to the block's first byte */
	uint64_t interior; /* aligned words pointing strictly inside it */
};

/* The table the shim exports. Fields are only ever appended; `size` tells
 * how many the running shim has. */
struct rs_api_v1 {
	size_t size;
	long (*collect)(void);
	int (*get_thresholds)(struct rs_thresholds *);
	int (*set_thresholds)(const struct rs_thresholds *);
	void (*disable)(void);
	void (*enable)(void);
	int (*is_enabled)(void);
	int (*ignore)(const void *);
	int (*unignore)(const void *);
	int (*register_root)(const void *, size_t);
	int (*unregister_root)(const void *);
	int (*get_refcount)(const void *, struct rs_refcount *);
	int (*get_stats)(struct rs_stats *);
	int (*checkpoint)(const char *);
};

static inline const struct rs_api_v1 *rs__api(void)
{
	static const struct rs_api_v1 *api;
	static int looked;

	if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
		api = (const struct rs_api_v1 *)dlsym(RTLD_DEFAULT,
						      "refsweep_api_v1");
		__atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
	}
	return api;
}

#define RS__HAS(field) \
	(rs__api() && rs__api()->size >= offsetof(struct rs_api_v1, field) + \
	 sizeof(rs__api()->field))

/* Is the program running under refsweep? 1 if so, 0 without the shim. */
static inline int rs_present(void) { return rs__api() != NULL; }

/* Stop the world, sweep now and write the result to the trace, like
 * gc.collect(). Returns how many unreachable blocks (definite, indirect and
 * cycle) the sweep found, or -1 without the shim or when no sweep could be
 * made (the trace says why). */
static inline long rs_collect(void)
{
	return RS__HAS(collect) ? rs__api()->collect() : -1;
}

/* Read or change the periodic sweep thresholds. 0 on success, -1 without the
 * shim. */
static inline int rs_get_thresholds(struct rs_thresholds *t)
{
	return RS__HAS(get_thresholds) ? rs__api()->get_thresholds(t) : -1;
}
static inline int rs_set_thresholds(const struct rs_thresholds *t)
{
	return RS__HAS(set_thresholds) ? rs__api()->set_thresholds(t) : -1;
}

/* Turn periodic sweeps off and on, like gc.disable()/gc.enable(). Sweeps
 * asked for by rs_collect and the exit sweep still run. */
static inline void rs_disable(void)
{
	if (RS__HAS(disable))
		rs__api()->disable();
}
static inline void rs_enable(void)
{
	if (RS__HAS(enable))
		rs__api()->enable();
}
/* 1 if periodic sweeps are on, 0 if off or without the shim. */
static inline int rs_is_enabled(void)
{
	return RS__HAS(is_enabled) ? rs__api()->is_enabled() : 0;
}

/* Treat a heap block as a root (never reported, and what it points at is
 * reachable), or stop doing so. `p` is the block's start. 0 on success, -1 if
 * p is not a live block or without the shim. */
static inline int rs_ignore(const void *p)
{
	return RS__HAS(ignore) ? rs__api()->ignore(p) : -1;
}
static inline int rs_unignore(const void *p)
{
	return RS__HAS(unignore) ? rs__api()->unignore(p) : -1;
}

/* Scan [p, p+n) as a root from now on (memory the shim cannot see: a custom
 * mmap, a GPU mapping). Unregister with the same p. 0 on success, -1 on
 * error or without the shim. */
static inline int rs_register_root(const void *p, size_t n)
{
	return RS__HAS(register_root) ? rs__api()->register_root(p, n) : -1;
}
static inline int rs_unregister_root(const void *p)
{
	return RS__HAS(unregister_root) ? rs__api()->unregister_root(p) : -1;
}

/* Count the references to the block that starts at p (a sweep of its own,
 * not written to the trace), like sys.getrefcount. 0 on success, -1 if p is
 * not a live block or without the shim. */
static inline int rs_get_refcount(const void *p, struct rs_refcount *out)
{
	return RS__HAS(get_refcount) ? rs__api()->get_refcount(p, out) : -1;
}

/* Heap statistics. 0 on success, -1 without the shim. */
static inline int rs_get_stats(struct rs_stats *out)
{
	return RS__HAS(get_stats) ? rs__api()->get_stats(out) : -1;
}

/* Write a named checkpoint event into the trace. 0 on success, -1 without
 * the shim. */
static inline int rs_checkpoint(const char *name)
{
	return RS__HAS(checkpoint) ? rs__api()->checkpoint(name) : -1;
}

#undef RS__HAS

#ifdef __cplusplus
}
#endif

#endif /* REFSWEEP_H */
