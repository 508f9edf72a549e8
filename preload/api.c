/*
 * api.c: the table include/refsweep.h finds with dlsym("refsweep_api_v1"),
 * the gc-module analogue for native programs. Each entry is a thin door
 * into the sweep, the arena or the writer.
 *
 * Must never: change the order or meaning of an existing field (programs
 * compiled against an older header index the table), or run a sweep for a
 * process that is not ours (a vfork child shares our memory).
 */
#define _GNU_SOURCE
#include "config.h"
#include "arena.h"
#include "lifecycle.h"
#include "options.h"
#include "sweep.h"
#include "writer.h"
#include "refsweep.h"
#include "refsweep-events.h"

static bool usable(void)
{
	return rs_ready && prim_getpid() == rs_pid;
}

/* The program's stack pointer when it called us: the shim is built with
 * frame pointers, so the caller's frame starts two words above ours. */
#define CALLER_SP() ((uintptr_t)__builtin_frame_address(0) + 16)

static long api_collect(void)
{
	return usable() ? sweep_collect(CALLER_SP()) : -1;
}

static int api_get_thresholds(struct rs_thresholds *t)
{
	if (!t)
		return -1;
	t->growth_percent = rs_opt.sweep_growth;
	t->every_allocations = rs_opt.sweep_every;
	t->every_ms = rs_opt.sweep_interval_ms;
	return 0;
}

static int api_set_thresholds(const struct rs_thresholds *t)
{
	if (!t)
		return -1;
	rs_opt.sweep_growth = t->growth_percent;
	rs_opt.sweep_every = t->every_allocations;
	rs_opt.sweep_interval_ms = t->every_ms;
	return 0;
}

static void api_disable(void) { sweep_set_periodic(false); }
static void api_enable(void) { sweep_set_periodic(true); }
static int api_is_enabled(void) { return sweep_periodic(); }

static int set_ignored(const void *p, bool on)
{
	struct arena_block b;

	if (!p || !arena_block_at(p, &b))
		return -1;
	if (on)
		__atomic_fetch_or(&b.meta->flags, BLOCK_IGNORED,
				  __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&b.meta->flags, (uint8_t)~BLOCK_IGNORED,
				   __ATOMIC_RELAXED);
	return 0;
}

static int api_ignore(const void *p) { return set_ignored(p, true); }
static int api_unignore(const void *p) { return set_ignored(p, false); }

static int api_register_root(const void *p, size_t n)
{
	return sweep_register_root(p, n);
}

static int api_unregister_root(const void *p)
{
	return sweep_unregister_root(p);
}

static int api_get_refcount(const void *p, struct rs_refcount *out)
{
	uint64_t s, i;

	if (!out || !p || !usable() ||
	    sweep_refcount(p, CALLER_SP(), &s, &i) != 0)
		return -1;
	out->start = s;
	out->interior = i;
	return 0;
}

static int api_get_stats(struct rs_stats *out)
{
	struct arena_stats st;

	if (!out)
		return -1;
	arena_get_stats(&st);
	out->live_blocks = st.live_blocks;
	out->live_bytes = st.live_bytes;
	out->peak_blocks = st.peak_blocks;
	out->peak_bytes = st.peak_bytes;
	out->total_allocations = st.allocations;
	out->total_frees = st.frees;
	out->invalid_frees = st.invalid_frees;
	sweep_stats(&out->sweeps, &out->last_unreachable_blocks,
		    &out->last_unreachable_bytes);
	return 0;
}

static int api_checkpoint(const char *name)
{
	char mem[1024];
	struct jbuf jb;

	if (!name || !usable())
		return -1;
	rs_enter();
	jb_begin(&jb, mem, sizeof(mem), RS_EV_CHECKPOINT);
	jb_str(&jb, "name", name);
	jb_end(&jb);
	writer_emit(&jb);
	rs_leave();
	return 0;
}

__attribute__((visibility("default")))
const struct rs_api_v1 refsweep_api_v1 = {
	.size = sizeof(struct rs_api_v1),
	.collect = api_collect,
	.get_thresholds = api_get_thresholds,
	.set_thresholds = api_set_thresholds,
	.disable = api_disable,
	.enable = api_enable,
	.is_enabled = api_is_enabled,
	.ignore = api_ignore,
	.unignore = api_unignore,
	.register_root = api_register_root,
	.unregister_root = api_unregister_root,
	.get_refcount = api_get_refcount,
	.get_stats = api_get_stats,
	.checkpoint = api_checkpoint,
};
