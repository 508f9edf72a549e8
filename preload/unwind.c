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
 * - libunwind's unw_backtrace (local-only, its own per-thread cache)
 *   everywhere else.
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
 * *more is set when frames remained past max. */
static uint32_t fp_walk(uintptr_t *out, uint32_t max, uintptr_t *fp,
			uintptr_t hi, bool checked, bool *more)
{
	uint32_t n = 1;

	*more = false;
	for (;;) {
		/* fp[0] is the saved frame pointer of the function out[n-1]
		 * returns into: only meaningful if that function keeps one. */
		if (checked && dl_pc_keeps_fp(out[n - 1]) != 1)
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

/* out has room for max + SHIM_FRAMES entries. */
static RS_NOINLINE uint32_t unw_capture(uintptr_t *out, uint32_t max,
					uintptr_t ra, bool *more)
{
	int want = (int)(max + SHIM_FRAMES), got, i;
	int saved = errno;

	got = unw_backtrace((void **)out, want);
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

RS_NOINLINE uint32_t unwind_capture(void *ra_ptr)
{
	uintptr_t frames[MAX_FRAMES + SHIM_FRAMES];
	uintptr_t ra = (uintptr_t)ra_ptr;
	uint32_t max = rs_opt.stack_depth, n = 0;
	enum rs_unwind_mode mode = rs_opt.unwind;
	bool more = false, fresh;
	uint32_t id;

	if (mode == RS_UNWIND_NONE || rs_in_shim || !ra)
		return 0;
	if (max > MAX_FRAMES)
		max = MAX_FRAMES;
	rs_enter();
	if (mode != RS_UNWIND_LIBUNWIND &&
	    (mode == RS_UNWIND_FP || dl_pc_keeps_fp(ra) == 1)) {
		uintptr_t *fp = __builtin_frame_address(0);
		uintptr_t hi = stack_top((uintptr_t)fp);
		uintptr_t *entry = hi ? entry_frame(fp, ra, hi) : NULL;
		if (entry) {
			frames[0] = ra;
			n = fp_walk(frames, max, entry, hi,
				    mode != RS_UNWIND_FP, &more);
		}
	}
	if (!n) {
		if (mode == RS_UNWIND_FP) {
			frames[0] = ra;
			n = 1;
		} else {
			n = unw_capture(frames, max, ra, &more);
		}
	}
	id = stackdepot_intern(frames, n, more, &fresh);
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

void unwind_init(void)
{
	/* The main thread's stack mapping, found before the program runs. */
	stack_top((uintptr_t)__builtin_frame_address(0));
}
