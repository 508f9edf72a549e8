/*
 * intercept.c: the malloc family the program calls, with glibc's semantics
 * (alignment, malloc(0), realloc(p, 0), overflow, errno), as a thin veneer
 * over the arena. It captures the allocation stack before any lock is
 * taken, and hands the rare events (trace=all, late frees, sweep triggers)
 * to their layers.
 *
 * Must never: abort, print, take a lock itself, or leave errno changed on
 * success. A pointer the arena does not own is never written to.
 */
#define _GNU_SOURCE
#include "config.h"
#include "arena.h"
#include "lifecycle.h"
#include "options.h"
#include "sweep.h"
#include "unwind.h"
#include "writer.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))
#define PAGE_SIZE_ 4096

/* How often the allocation path offers the sweep a chance to run (a few
 * loads per call is all a poll may cost on the fast path). */
#define POLL_EVERY 256
/* Starts at 1 so that each thread's first allocation takes the slow path,
 * where the thread is introduced to the lifecycle. */
static RS_TLS uint32_t poll_countdown = 1;

/* Out of line: inlined, its errno dance and call made every malloc save
 * six registers, stacks on or off. */
static RS_NOINLINE uint32_t capture_stack(void *ra)
{
	int saved = errno;
	uint32_t id = unwind_capture(ra);

	errno = saved;
	return id;
}

static inline uint32_t capture(void *ra)
{
	if (rs_in_shim)
		return ARENA_STACK_UNTRACKED;
	if (!rs_ready || rs_opt.unwind == RS_UNWIND_NONE)
		return 0;
	return capture_stack(ra);
}

static RS_NOINLINE void after_alloc_slow(void *p, const void *from, size_t n,
					 uint32_t stack)
{
	if (rs_opt.trace == RS_TRACE_ALL && stack != ARENA_STACK_UNTRACKED) {
		int saved = errno;
		if (from)
			writer_realloc_event(p, from, n, stack);
		else
			writer_alloc_event(p, n, stack);
		errno = saved;
	}
	if (--poll_countdown == 0) {
		poll_countdown = POLL_EVERY;
		if (RS_UNLIKELY(!rs_thread_seen) && rs_ready && !rs_in_shim)
			rs_thread_first_seen();
		if (!rs_in_shim) {
			int saved = errno;
			sweep_poll();
			errno = saved;
		}
	}
}

static inline void after_alloc(void *p, const void *from, size_t n,
			       uint32_t stack)
{
	/* trace=all and polling share one slow function, reached on every
	 * call with trace=all and every POLL_EVERY calls otherwise: the fast
	 * path pays a global load and a thread-local decrement. */
	if (RS_UNLIKELY(rs_opt.trace == RS_TRACE_ALL) ||
	    RS_UNLIKELY(poll_countdown <= 1))
		after_alloc_slow(p, from, n, stack);
	else
		poll_countdown--;
}

static inline void *alloc(size_t n, size_t align, bool zero, void *ra)
{
	if (RS_UNLIKELY(n > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	uint32_t stack = capture(ra);
	void *p = arena_alloc(n, align, stack, zero);
	if (RS_UNLIKELY(!p)) {
		errno = ENOMEM;
		return NULL;
	}
	after_alloc(p, NULL, n, stack);
	return p;
}

/* trace=all: the free event must be written while the block is still
 * ours, or another thread handed the same address could write its alloc
 * event first. */
static RS_NOINLINE void trace_free(void *p)
{
	struct arena_block b;
	int saved = errno;

	if (arena_block_at(p, &b) && !(b.flags & BLOCK_UNTRACKED))
		writer_free_event(p);
	errno = saved;
}

/* Invalid, double and foreign frees are counted by the arena and reported
 * in the exit event; the program runs on as if the free had not happened.
 * What is left here is a block a sweep had reported lost. */
static RS_NOINLINE void late_free(const struct arena_block *b)
{
	int saved = errno;

	sweep_late_free(b);
	errno = saved;
}

static inline void release(void *p)
{
	struct arena_block b;

	if (RS_UNLIKELY(rs_opt.trace == RS_TRACE_ALL))
		trace_free(p);
	if (RS_UNLIKELY(arena_free(p, &b) == ARENA_FREED && (b.flags & BLOCK_REPORTED)))
		late_free(&b);
}

/* True when an allocation may skip everything but the thread cache: no
 * stack to capture (unwind=none, and not the shim's own allocation, which
 * must be flagged untracked), no trace=all event, no poll due. Only then
 * is the fast path a leaf: any call in it makes malloc save registers. */
static inline bool fast_alloc_ok(void)
{
	return rs_opt.unwind == RS_UNWIND_NONE && rs_opt.trace != RS_TRACE_ALL &&
	       !rs_in_shim && poll_countdown > 1;
}

static RS_NOINLINE void *malloc_slow(size_t n, void *ra)
{
	return alloc(n, ARENA_MIN_ALIGN, false, ra);
}

static RS_NOINLINE void free_slow(void *p)
{
	if (p)
		release(p);
}

EXPORT void *malloc(size_t n)
{
	if (RS_LIKELY(n <= ARENA_FAST_MAX) && RS_LIKELY(fast_alloc_ok())) {
		void *p = arena_alloc_fast(n);
		if (RS_LIKELY(p != NULL)) {
			poll_countdown--;
			return p;
		}
	}
	return malloc_slow(n, __builtin_return_address(0));
}

EXPORT void free(void *p)
{
	/* NULL and every pointer the arena does not own fail the fast test. */
	if (RS_LIKELY(rs_opt.trace != RS_TRACE_ALL) && RS_LIKELY(arena_free_fast(p)))
		return;
	free_slow(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;

	if (RS_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc(total, ARENA_MIN_ALIGN, true, __builtin_return_address(0));
}

static void *resize(void *p, size_t n, void *ra)
{
	struct arena_block b;

	if (!p)
		return alloc(n, ARENA_MIN_ALIGN, false, ra);
	/* glibc frees and returns NULL for realloc(p, 0). */
	if (n == 0) {
		release(p);
		return NULL;
	}
	if (RS_UNLIKELY(n > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!arena_block_at(p, &b)) {
		struct arena_ranges r;
		arena_get_ranges(&r);
		if ((uintptr_t)p - r.region < r.region_len) {
			/* Inside the arena but not a live block: glibc would
			 * abort; the program gets an allocation failure. */
			release(p);
			errno = ENOMEM;
			return NULL;
		}
		/* Not ours (the loader's early blocks): its size is unknown,
		 * so copy what is readable up to the new size, and leave the
		 * old block to whoever owns it. */
		void *q = alloc(n, ARENA_MIN_ALIGN, false, ra);
		if (q)
			prim_safe_copy(q, p, n);
		return q;
	}
	if (arena_resize_in_place(p, n)) {
		if (RS_UNLIKELY(rs_opt.trace == RS_TRACE_ALL))
			after_alloc_slow(p, p, n, b.stack);
		return p;
	}
	uint32_t stack = capture(ra);
	void *q = arena_alloc(n, ARENA_MIN_ALIGN, stack, false);
	if (!q) {
		errno = ENOMEM;
		return NULL;
	}
	prim_memcpy(q, p, b.size < n ? b.size : n);
	after_alloc(q, p, n, stack);
	release(p);
	return q;
}

EXPORT void *realloc(void *p, size_t n)
{
	return resize(p, n, __builtin_return_address(0));
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return resize(p, total, __builtin_return_address(0));
}

static inline bool power_of_two(size_t a)
{
	return a && !(a & (a - 1));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!power_of_two(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = alloc(n, align < ARENA_MIN_ALIGN ? ARENA_MIN_ALIGN : align,
			false, __builtin_return_address(0));
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc(n, align < ARENA_MIN_ALIGN ? ARENA_MIN_ALIGN : align, false,
		     __builtin_return_address(0));
}

static void *memalign_at(size_t align, size_t n, void *ra)
{
	/* glibc rounds a bad alignment up to the next power of two, and
	 * refuses one so large it cannot be represented. */
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!power_of_two(align))
		align = align < ARENA_MIN_ALIGN ? ARENA_MIN_ALIGN
						: (size_t)1 << (64 - __builtin_clzll(align));
	return alloc(n, align < ARENA_MIN_ALIGN ? ARENA_MIN_ALIGN : align, false, ra);
}

EXPORT void *memalign(size_t align, size_t n)
{
	return memalign_at(align, n, __builtin_return_address(0));
}

EXPORT void *valloc(size_t n)
{
	return memalign_at(PAGE_SIZE_, n, __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t n)
{
	size_t rounded;

	if (__builtin_add_overflow(n, PAGE_SIZE_ - 1, &rounded)) {
		errno = ENOMEM;
		return NULL;
	}
	rounded &= ~(size_t)(PAGE_SIZE_ - 1);
	return memalign_at(PAGE_SIZE_, rounded ? rounded : PAGE_SIZE_,
			   __builtin_return_address(0));
}

/* The requested size, not the slot's: memory past it is never scanned by a
 * sweep, so a program that used the slack for pointers would make its
 * blocks look lost. glibc's contract allows any value >= the request. */
EXPORT size_t malloc_usable_size(void *p)
{
	struct arena_block b;

	if (!p || !arena_block_at(p, &b))
		return 0;
	return b.size;
}

EXPORT int malloc_trim(size_t pad)
{
	return arena_trim() ? 1 : 0;
}

/* Every tuning knob is accepted and ignored: the arena has its own. */
EXPORT int mallopt(int param, int value)
{
	return 1;
}

EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };
	struct arena_stats s;

	arena_get_stats(&s);
	mi.arena = s.mapped_bytes;
	mi.ordblks = 1;
	mi.uordblks = s.live_bytes;
	mi.fordblks = s.mapped_bytes > s.live_bytes ? s.mapped_bytes - s.live_bytes : 0;
	mi.keepcost = 0;
	return mi;
}

static int clamp_int(size_t v)
{
	return v > INT32_MAX ? INT32_MAX : (int)v;
}

EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi = { 0 };

	mi.arena = clamp_int(m2.arena);
	mi.ordblks = clamp_int(m2.ordblks);
	mi.uordblks = clamp_int(m2.uordblks);
	mi.fordblks = clamp_int(m2.fordblks);
	return mi;
}

static size_t stats_line(char *buf, const char *label, uint64_t v)
{
	size_t n = prim_strlcpy(buf, label, 64);
	n += prim_fmt_u64(buf + n, v);
	buf[n++] = '\n';
	return n;
}

/* glibc prints these on stderr; a program that calls it asked for it. */
EXPORT void malloc_stats(void)
{
	struct arena_stats s;
	char buf[256];
	size_t n = 0;

	arena_get_stats(&s);
	n += stats_line(buf + n, "Arena 0:\nsystem bytes     = ", s.mapped_bytes);
	n += stats_line(buf + n, "in use bytes     = ", s.live_bytes);
	n += stats_line(buf + n, "max mmap regions = ", 0);
	prim_write_all(2, buf, n);
}

EXPORT int malloc_info(int options, FILE *fp)
{
	struct arena_stats s;
	char buf[512];
	size_t n;

	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	arena_get_stats(&s);
	n = prim_strlcpy(buf, "<malloc version=\"1\">\n<heap nr=\"0\">\n"
			 "<system type=\"current\" size=\"", sizeof buf);
	n += prim_fmt_u64(buf + n, s.mapped_bytes);
	n += prim_strlcpy(buf + n, "\"/>\n<total type=\"inuse\" size=\"", sizeof buf - n);
	n += prim_fmt_u64(buf + n, s.live_bytes);
	n += prim_strlcpy(buf + n, "\"/>\n</heap>\n</malloc>\n", sizeof buf - n);
	/* checksrc: allow stdio: the program handed us its FILE. */
	return fputs(buf, fp) < 0 ? -1 : 0;
}

/* glibc's own names for the same functions, called directly by some
 * programs and preloaded tools. */
EXPORT void *__libc_malloc(size_t n) __attribute__((alias("malloc"), copy(malloc)));
EXPORT void __libc_free(void *p) __attribute__((alias("free"), copy(free)));
EXPORT void *__libc_calloc(size_t n, size_t s) __attribute__((alias("calloc"), copy(calloc)));
EXPORT void *__libc_realloc(void *p, size_t n) __attribute__((alias("realloc"), copy(realloc)));
EXPORT void *__libc_memalign(size_t a, size_t n) __attribute__((alias("memalign"), copy(memalign)));
EXPORT void *__libc_valloc(size_t n) __attribute__((alias("valloc"), copy(valloc)));
EXPORT void *__libc_pvalloc(size_t n) __attribute__((alias("pvalloc"), copy(pvalloc)));
EXPORT int __posix_memalign(void **o, size_t a, size_t n)
	__attribute__((alias("posix_memalign"), copy(posix_memalign)));
