/*
 * unwind.c: capturing the stack of a thread that called the allocator.
 *
 * Two ways, chosen per capture (docs/stacks.md):
 * - a frame-pointer walk, when the code the allocator returns into keeps
 *   frame pointers (dl.c decides per object from its eh_frame). The walk
 *   stays inside the thread's stack mapping, needs each frame above the
 *   last and 8-aligned, stops at a zero return address, and stops after
 *   the first frame that returns into code without frame pointers (its
 *   saved frame pointer would be garbage);
 * - libunwind's unw_backtrace (local-only, its own per-thread cache;
 *   opened by load_libunwind) everywhere else, in front of which each
 *   thread remembers recent stacks with the stack slots their return
 *   addresses sit in (see cached_stack: exact for frames whose layout
 *   depends on rsp alone).
 * Either way the frames inside the shim are dropped: a stack starts at the
 * allocator's return address in the program.
 *
 * Must never: be entered with a shim lock held (libunwind takes the loader
 * lock), let libunwind's own mallocs be tracked (rs_enter), change errno,
 * or read memory outside the current stack mapping during a walk.
 */
#define _GNU_SOURCE
#include "config.h"
#include "unwind.h"
#include "options.h"
#include "lifecycle.h"
#include "writer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define MAX_FRAMES 256
#define SHIM_FRAMES 8       /* at most this many frames inside the shim */
#define MAX_STACK_REFRESH 64 /* per thread; beyond, stacks it cannot place
			      * (coroutines) go to libunwind */

/* The mapping that holds this thread's stack, from /proc/self/maps. */
static RS_TLS uintptr_t stack_lo, stack_hi;
static RS_TLS unsigned stack_refreshes;

/* Finds the mapping containing addr with raw reads of /proc/self/maps. */
static bool find_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	char buf[4096];
	size_t have = 0;
	bool found = false, eof = false;
	int fd = prim_open("/proc/self/maps", O_RDONLY, 0);

	if (fd < 0)
		return false;
	while (!found) {
		ssize_t r = 0;
		if (!eof) {
			r = prim_read(fd, buf + have, sizeof buf - have);
			if (r <= 0)
				eof = true;
			else
				have += (size_t)r;
		}
		size_t line = 0, i;
		for (i = 0; i < have && !found; i++) {
			if (buf[i] != '\n')
				continue;
			uintptr_t a = 0, b = 0;
			size_t k = line;
			for (; k < i && buf[k] != '-'; k++)
				a = a * 16 + (uintptr_t)(buf[k] <= '9' ?
					buf[k] - '0' : (buf[k] | 0x20) - 'a' + 10);
			for (k++; k < i && buf[k] != ' '; k++)
				b = b * 16 + (uintptr_t)(buf[k] <= '9' ?
					buf[k] - '0' : (buf[k] | 0x20) - 'a' + 10);
			if (addr >= a && addr < b) {
				*lo = a;
				*hi = b;
				found = true;
			}
			line = i + 1;
		}
		if (found || (eof && line == 0))
			break;
		prim_memcpy(buf, buf + line, have - line);
		have -= line;
		if (eof && !have)
			break;
		if (have == sizeof buf) /* a line longer than the buffer */
			have = 0;
	}
	prim_close(fd);
	return found;
}

/* The end of the mapping the current stack pointer is in, or 0. */
static uintptr_t stack_top(uintptr_t sp)
{
	if (RS_LIKELY(sp >= stack_lo && sp < stack_hi))
		return stack_hi;
	if (stack_refreshes >= MAX_STACK_REFRESH)
		return 0;
	uintptr_t old_hi = stack_hi;
	if (!find_mapping(sp, &stack_lo, &stack_hi)) {
		stack_lo = stack_hi = 0;
		stack_refreshes++;
		return 0;
	}
	/* The same stack grown down is not a new stack. */
	if (stack_hi != old_hi)
		stack_refreshes++;
	return stack_hi;
}

/* A frame the walk may read two words of: above the previous one, inside
 * the stack mapping, 8-aligned. Compared with hi - 16, not f + 16 with hi:
 * a garbage frame pointer near 2^64 would wrap. */
static inline bool frame_ok(uintptr_t f, uintptr_t prev, uintptr_t hi)
{
	return f > prev && f <= hi - 2 * sizeof(uintptr_t) && !(f & 7);
}

/* The frame-pointer walk. `fp` is the allocator entry's frame (the one
 * whose return address is out[0]); fills out[1..] and returns the count.
 * checked: follow a frame only out of code that keeps frame pointers, out[0]
 * being known to. *more is set when frames remained past max. */
static uint32_t fp_walk(uintptr_t *out, uint32_t max, uintptr_t *fp,
			uintptr_t hi, bool checked, bool *more)
{
	uint32_t n = 1;

	*more = false;
	for (;;) {
		/* fp[0] is the saved frame pointer of the function out[n-1]
		 * returns into: only meaningful if that function keeps one
		 * (for out[0] the caller has asked already). */
		if (checked && n > 1 && dl_pc_keeps_fp(out[n - 1]) != 1)
			return n;
		uintptr_t *next = (uintptr_t *)fp[0];
		if (!frame_ok((uintptr_t)next, (uintptr_t)fp, hi))
			return n;
		if (!next[1])
			return n;
		if (n == max) {
			*more = true;
			return n;
		}
		out[n++] = next[1];
		fp = next;
	}
}

/* The allocator entry's frame: the first frame (from ours up) whose
 * return address is ra. NULL if the shim's frames do not chain to it. */
static uintptr_t *entry_frame(uintptr_t *fp, uintptr_t ra, uintptr_t hi)
{
	uintptr_t prev = 0;

	for (int i = 0; i < SHIM_FRAMES; i++) {
		if (!frame_ok((uintptr_t)fp, prev, hi))
			return NULL;
		if (fp[1] == ra)
			return fp;
		prev = (uintptr_t)fp;
		fp = (uintptr_t *)fp[0];
	}
	return NULL;
}

/* A fork while another thread is inside libunwind leaves libunwind's locks
 * held for good in the child, whose first unwind then waits forever (seen
 * with gdb: a child stuck on libunwind's mutex, owned by the parent's thread
 * that was unwinding at the fork). So a fork closes a gate: no thread enters
 * libunwind while it is closed (a capture then keeps the one sure frame),
 * the fork waits a bounded time for those inside to leave, and a child
 * forked with one still inside never calls libunwind. */
#define UNW_DRAIN_NS 200000000ull
static int unw_inside;       /* threads inside libunwind: a futex word */
static int unw_gate_closed;  /* a fork is under way */
static bool unw_unusable;    /* this process was forked mid-unwind */

/* NULL until load_libunwind found it, and for good when it did not. */
static __typeof__(unw_backtrace) *unw_backtrace_fn;

static bool unw_enter(void)
{
	if (__atomic_load_n(&unw_gate_closed, __ATOMIC_ACQUIRE) || unw_unusable ||
	    !unw_backtrace_fn)
		return false;
	__atomic_fetch_add(&unw_inside, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&unw_gate_closed, __ATOMIC_SEQ_CST))
		return true;
	if (__atomic_sub_fetch(&unw_inside, 1, __ATOMIC_SEQ_CST) == 0)
		prim_futex_wake(&unw_inside, 1);
	return false;
}

static void unw_leave(void)
{
	if (__atomic_sub_fetch(&unw_inside, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&unw_gate_closed, __ATOMIC_SEQ_CST))
		prim_futex_wake(&unw_inside, 1);
}

void unwind_fork_prepare(void)
{
	uint64_t t0 = prim_now_ns(), now = t0;
	int n;

	__atomic_store_n(&unw_gate_closed, 1, __ATOMIC_SEQ_CST);
	while ((n = __atomic_load_n(&unw_inside, __ATOMIC_SEQ_CST)) != 0 &&
	       (now = prim_now_ns()) - t0 < UNW_DRAIN_NS)
		prim_futex_wait(&unw_inside, n, UNW_DRAIN_NS - (now - t0));
}

void unwind_fork_parent(void)
{
	__atomic_store_n(&unw_gate_closed, 0, __ATOMIC_RELEASE);
}

bool unwind_fork_child(void)
{
	bool stuck = __atomic_load_n(&unw_inside, __ATOMIC_RELAXED) != 0;

	if (stuck)
		unw_unusable = true;
	unw_inside = 0;
	__atomic_store_n(&unw_gate_closed, 0, __ATOMIC_RELEASE);
	return stuck;
}

/* out has room for max + SHIM_FRAMES entries. */
static RS_NOINLINE uint32_t unw_capture(uintptr_t *out, uint32_t max,
					uintptr_t ra, bool *more)
{
	int want = (int)(max + SHIM_FRAMES), got = 0, i;
	int saved = errno;

	if (unw_enter()) {
		got = unw_backtrace_fn((void **)out, want);
		unw_leave();
	}
	errno = saved;
	for (i = 0; i < got && i < SHIM_FRAMES; i++)
		if (out[i] == ra)
			break;
	if (i >= got || i == SHIM_FRAMES) {
		/* The shim's frames did not chain to ra: keep what is sure. */
		out[0] = ra;
		*more = false;
		return 1;
	}
	uint32_t n = (uint32_t)(got - i);
	*more = got == want || n > max;
	if (n > max)
		n = max;
	for (uint32_t k = 0; k < n; k++)
		out[k] = out[(uint32_t)i + k];
	return n;
}

/* Stacks libunwind found, remembered per thread by (return address,
 * stack pointer of the caller) with where each return address sits
 * relative to that stack pointer. A hit re-reads those slots: if every
 * one still holds the same return address, libunwind would find the same
 * stack, because every frame of it computes its canonical frame address
 * from rsp alone (dl_frame_rule, from the unwind tables), so the same pc
 * at the same rsp puts the next return address in the same slot. Stacks
 * through any other kind of frame are never remembered. */
#define CACHED 32
#define MAX_CACHED_FRAMES 32
static RS_TLS struct cached_stack {
	uintptr_t ra, sp0;
	uintptr_t last;       /* what the slot after the last frame held */
	uint32_t id, gen;
	uint16_t n;
	bool has_last;        /* off[n] and last are to be checked */
	uint32_t off[MAX_CACHED_FRAMES + 1];
} cached[CACHED];

static struct cached_stack *cache_slot(uintptr_t ra, uintptr_t sp0)
{
	uint64_t h = (ra ^ (sp0 << 7)) * 0x9e3779b97f4a7c15ull;

	return &cached[h >> 59 & (CACHED - 1)];
}

static uint32_t cache_find(uintptr_t ra, uintptr_t sp0, uintptr_t hi)
{
	struct cached_stack *e = cache_slot(ra, sp0);
	const uintptr_t *f;
	uint32_t n;

	if (e->ra != ra || e->sp0 != sp0 || !e->id ||
	    e->gen != dl_generation())
		return 0;
	f = stackdepot_frames(e->id, &n);
	if (!f || n != e->n)
		return 0;
	for (uint32_t i = 1; i <= n; i++) {
		if (i == n && !e->has_last)
			break;
		uintptr_t slot = sp0 + e->off[i];
		if (slot > hi - sizeof(uintptr_t))
			return 0;
		if (*(const uintptr_t *)slot != (i < n ? f[i] : e->last))
			return 0;
	}
	return e->id;
}

static void cache_fill(uintptr_t ra, uintptr_t sp0, uintptr_t hi,
		       const uintptr_t *f, uint32_t n, bool more, uint32_t id)
{
	struct cached_stack *e = cache_slot(ra, sp0);
	uintptr_t sp = sp0;

	if (!id || n > MAX_CACHED_FRAMES)
		return;
	/* A signal handler in this thread must not find it half written. */
	e->id = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	e->has_last = false;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k;
		if (!dl_frame_rule(f[i], &k)) {
			/* libunwind stopped at a frame it could not read:
			 * the same pc stops it again. */
			if (i == n - 1 && !more)
				break;
			return;
		}
		uintptr_t slot = sp + k - sizeof(uintptr_t);
		if (slot < sp0 || slot > hi - sizeof(uintptr_t))
			return;
		uintptr_t v = *(const uintptr_t *)slot;
		if (i + 1 < n && v != f[i + 1])
			return; /* not how libunwind saw it: leave it */
		e->off[i + 1] = (uint32_t)(slot - sp0);
		if (i + 1 == n) {
			e->last = v;
			e->has_last = true;
		}
		sp = slot + sizeof(uintptr_t);
	}
	e->ra = ra;
	e->sp0 = sp0;
	e->n = (uint16_t)n;
	e->gen = dl_generation();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	e->id = id;
}

RS_NOINLINE uint32_t unwind_capture(void *ra_ptr)
{
	uintptr_t frames[MAX_FRAMES + SHIM_FRAMES];
	uintptr_t ra = (uintptr_t)ra_ptr;
	uint32_t max = rs_opt.stack_depth, n = 0;
	enum rs_unwind_mode mode = rs_opt.unwind;
	bool more = false, fresh, unw = false;
	uint32_t id;

	if (mode == RS_UNWIND_NONE || rs_in_shim || !ra)
		return 0;
	if (max > MAX_FRAMES)
		max = MAX_FRAMES;
	rs_enter();
	uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t hi = stack_top((uintptr_t)fp);
	uintptr_t *entry = hi ? entry_frame(fp, ra, hi) : NULL;
	/* The caller's stack pointer once the allocator has returned. */
	uintptr_t sp0 = entry ? (uintptr_t)(entry + 2) : 0;
	if (mode != RS_UNWIND_LIBUNWIND &&
	    (mode == RS_UNWIND_FP || dl_pc_keeps_fp(ra) == 1) && entry) {
		frames[0] = ra;
		n = fp_walk(frames, max, entry, hi, mode != RS_UNWIND_FP,
			    &more);
	}
	if (!n && mode == RS_UNWIND_FP) {
		frames[0] = ra;
		n = 1;
	}
	if (!n) {
		if (entry && (id = cache_find(ra, sp0, hi))) {
			rs_leave();
			return id;
		}
		n = unw_capture(frames, max, ra, &more);
		unw = true;
	}
	id = stackdepot_intern(frames, n, more, &fresh);
	if (unw && entry && n > 1)
		cache_fill(ra, sp0, hi, frames, n, more, id);
	/* A new stack through an object loaded since the last look (dlopen
	 * is not wrapped): record the object now, while it is loaded. */
	if (fresh) {
		for (uint32_t i = 0; i < n; i++) {
			if (dl_pc_keeps_fp(frames[i]) < 0) {
				writer_sync_modules();
				break;
			}
		}
	}
	rs_leave();
	return id;
}

/* libunwind is opened here rather than linked: a process that never needs
 * it (unwind=none or fp) does not carry it and liblzma, about 110 KiB of
 * resident memory, and with local scope its own `backtrace` and
 * `_Unwind_Backtrace` can never interpose the program's (linked, they
 * were in the global scope ahead of a libgcc_s the program only reaches
 * indirectly). When it cannot be
 * opened, stacks keep what frame pointers give, and the trace says why. */
static void load_libunwind(void)
{
	void *h = dlopen(LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *f = h ? dlsym(h, "unw_backtrace") : NULL;

	if (!f) {
		/* checksrc: allow: the constructor, the shim's own allocations. */
		const char *why = dlerror();
		rs_degrade("unwind", why ? why : "no unw_backtrace in " LIBUNWIND_SONAME);
		return;
	}
	unw_backtrace_fn = (__typeof__(unw_backtrace) *)f;
}

void unwind_init(void)
{
	/* The main thread's stack mapping, found before the program runs. */
	stack_top((uintptr_t)__builtin_frame_address(0));
	if (rs_opt.unwind == RS_UNWIND_AUTO || rs_opt.unwind == RS_UNWIND_LIBUNWIND)
		load_libunwind();
}
