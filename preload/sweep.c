/*
 * sweep.c: one sweep from start to end, and when sweeps run.
 *
 * A sweep: gather what needs the loader (module segments) while holding
 * the loader lock (we run inside a dl_iterate_phdr callback, so no stopped
 * thread can hold it), take the shim's sweep-side locks, stop the world,
 * snapshot /proc/self/maps, collect thread roots, mark and classify (in
 * place, or for big heaps in a forked copy after the world has resumed),
 * let the world go, and only then write events (the writer and the stack
 * depot take locks a stopped thread may hold).
 *
 * Triggers: exit (lifecycle), growth, count and interval (polled from the
 * allocation path every POLL_EVERY allocations of a thread), a signal (its
 * handler only raises a flag the next poll sees) and the API. Growth
 * sweeps, the only periodic ones on by default, are held to a budget: never
 * more than 1/BUDGET_RATIO of the time since the previous sweep ended,
 * which keeps the default cost, the exit sweep's included, under 5% of the
 * run. Count and interval sweeps happen when the user asked for them.
 *
 * Must never: allocate from the program's heap, write an event or call
 * libc while the world is stopped, run a sweep from a signal handler, or
 * report a block it could not judge.
 */
#define _GNU_SOURCE
#include "config.h"
#include "sweep.h"
#include "arena.h"
#include "lifecycle.h"
#include "mark.h"
#include "options.h"
#include "roots.h"
#include "stop.h"
#include "unwind.h"
#include "writer.h"
#include "refsweep-events.h"

#include <link.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define BUDGET_RATIO 40     /* periodic sweeps cost at most 2.5%: the exit
			       sweep comes on top, and the total must stay
			       under 5% (bench/compare, python3) */
#define GROWTH_MIN (1u << 20)
#define RED_ZONE 128
#define MAX_REGIONS 1024
#define ADDRS_PER_EVENT 128
#define EVENT_BUF 16384

static struct prim_lock sweep_lock = PRIM_LOCK_INIT;
static struct prim_lock regions_lock = PRIM_LOCK_INIT;
static struct prim_lock late_lock = PRIM_LOCK_INIT;

static bool periodic_on = true;
static int signal_raised;
static uint64_t seq;
static uint64_t last_end_ns, last_cost_ns, last_allocs, last_live;
static uint64_t last_unreachable_blocks, last_unreachable_bytes;

static struct {
	uintptr_t start;
	size_t len;
} regions[MAX_REGIONS];
static uint32_t nregions;

/* ---- late frees: which sweep reported a block, and as what ----------- */

struct late_entry {
	uintptr_t addr; /* 0 = empty */
	uint32_t seq;
	uint8_t cls;
};

static struct late_entry *late_tab;
static size_t late_cap, late_len;

static size_t late_hash(uintptr_t a, size_t cap)
{
	return (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static const char *const class_name[MC_COUNT] = {
	RS_KIND_REACHABLE, RS_KIND_DEFINITE, RS_KIND_INDIRECT, RS_KIND_CYCLE,
	RS_KIND_POSSIBLE,
};

/* Replaces the table with this sweep's unreachable blocks. late_lock is
 * held. */
static void late_rebuild(const struct mark_result *res, uint32_t s)
{
	uint64_t n = 0;
	size_t cap = 1024, len;
	struct late_entry *t;

	for (uint64_t i = 0; i < res->nrecs; i++)
		n += res->recs[i].cls != MC_POSSIBLE;
	while (cap < 2 * n)
		cap *= 2;
	len = cap * sizeof(*t);
	t = prim_map(len, true);
	if (!t)
		return; /* keep the old table: kinds may be stale, not lost */
	for (uint64_t i = 0; i < res->nrecs; i++) {
		const struct leak_rec *l = &res->recs[i];
		size_t h;

		if (l->cls == MC_POSSIBLE)
			continue;
		for (h = late_hash(l->addr, cap); t[h].addr;
		     h = (h + 1) & (cap - 1))
			;
		t[h] = (struct late_entry){ l->addr, s, l->cls };
	}
	if (late_tab)
		prim_unmap(late_tab, late_len);
	late_tab = t;
	late_cap = cap;
	late_len = len;
}

void sweep_late_free(const struct arena_block *b)
{
	char mem[512];
	struct jbuf jb;
	struct late_entry found = { 0, 0, 0 };

	prim_lock(&late_lock);
	if (late_tab) {
		for (size_t h = late_hash(b->start, late_cap); late_tab[h].addr;
		     h = (h + 1) & (late_cap - 1))
			if (late_tab[h].addr == b->start) {
				found = late_tab[h];
				break;
			}
	}
	prim_unlock(&late_lock);
	rs_enter();
	if (b->meta && b->meta->stack && b->meta->stack != ARENA_STACK_UNTRACKED)
		stackdepot_emit(b->meta->stack);
	jb_begin(&jb, mem, sizeof(mem), RS_EV_LATE_FREE);
	jb_hex(&jb, "address", b->start);
	jb_u64(&jb, "size", b->size);
	jb_u64(&jb, "stack", b->meta ? b->meta->stack : 0);
	if (found.addr) {
		jb_str(&jb, "kind", class_name[found.cls]);
		jb_u64(&jb, "sweep", found.seq);
	}
	jb_end(&jb);
	writer_emit(&jb);
	rs_leave();
}

/* ---- one sweep --------------------------------------------------------- */

struct job {
	const char *trigger;
	bool at_exit;
	uintptr_t from_sp;  /* the sweeping thread's live stack starts here */
	uintptr_t query;
	bool stopped, partial;
	const char *reason, *method;
	uint32_t threads, threads_stopped, threads_blocked;
	bool periodic;      /* leave EINTR-prone threads alone */
	uint64_t t0, pause0, pause_ns;
	struct roots roots;
	struct mark_result res;
	bool marked;
	bool entered; /* outer_cb ran */
	/* marking in a forked snapshot (big heaps) */
	struct snap *snap;
	size_t snap_len;
	uint64_t snap_cap;
	long child;
	uint64_t child_cpu_ns;
};

/* Callee-saved registers of the sweeping thread: whatever the program had
 * in them when it called into the shim is here or in a frame above. */
static RS_NOINLINE void spill(uintptr_t *out)
{
	__asm__ volatile("mov %%rbx, 0(%0)\n\t"
			 "mov %%rbp, 8(%0)\n\t"
			 "mov %%r12, 16(%0)\n\t"
			 "mov %%r13, 24(%0)\n\t"
			 "mov %%r14, 32(%0)\n\t"
			 "mov %%r15, 40(%0)\n\t"
			 :
			 : "r"(out)
			 : "memory");
}

/* ---- marking in a snapshot --------------------------------------------
 * Above SNAPSHOT_BLOCKS live blocks the mark (20-35 ns a block) would be
 * most of the pause. Then the stopped world is copied with a raw fork (no
 * atfork handlers, no exit signal), the world resumes at once, and the
 * copy marks and writes its results into shared memory; the sweeping
 * thread waits for it, every other thread runs (paying copy-on-write
 * faults on the pages it writes meanwhile). Flags are applied afterwards
 * to blocks still live with the same size and stack. */

#define SNAPSHOT_BLOCKS 200000

struct snap {
	int ok;
	struct mark_result res; /* pointers inside are the child's */
	uint64_t nrecs, ncleared;
	/* then nrecs leak_rec, then ncleared addresses */
};

static struct leak_rec *snap_recs(struct snap *sn)
{
	return (struct leak_rec *)(sn + 1);
}

static uintptr_t *snap_cleared(struct snap *sn, uint64_t cap)
{
	return (uintptr_t *)(snap_recs(sn) + cap);
}

static bool snap_map(struct job *j, uint64_t live_blocks)
{
	long r;

	j->snap_cap = live_blocks * 2 + 65536;
	j->snap_len = sizeof(struct snap) +
		      j->snap_cap * (sizeof(struct leak_rec) + sizeof(uintptr_t));
	j->snap_len = (j->snap_len + 4095) & ~(size_t)4095;
	r = prim_syscall6(SYS_mmap, 0, (long)j->snap_len, 3 /* RW */,
			  0x01 | 0x20 | 0x4000 /* SHARED|ANON|NORESERVE */, -1,
			  0);
	if (r < 0 && r > -4096)
		return false;
	j->snap = (struct snap *)r;
	return true;
}

static void snap_unmap(struct job *j)
{
	if (j->snap)
		prim_unmap(j->snap, j->snap_len);
	j->snap = NULL;
}

static RS_NOINLINE void snapshot_child(struct job *j)
{
	uint64_t all = ~0ull;
	struct snap *sn = j->snap;
	struct mark_result res;

	prim_syscall(SYS_rt_sigprocmask, 0 /* SIG_BLOCK */, &all, 8);
	prim_syscall(SYS_prctl, 1 /* PR_SET_PDEATHSIG */, 9 /* SIGKILL */, 0);
	if (mark_run(&j->roots, !j->partial, 0, &res) &&
	    res.nrecs <= j->snap_cap && res.ncleared <= j->snap_cap) {
		prim_memcpy(snap_recs(sn), res.recs,
			    res.nrecs * sizeof(struct leak_rec));
		prim_memcpy(snap_cleared(sn, j->snap_cap), res.cleared,
			    res.ncleared * sizeof(uintptr_t));
		sn->res = res;
		sn->nrecs = res.nrecs;
		sn->ncleared = res.ncleared;
		__atomic_store_n(&sn->ok, 1, __ATOMIC_RELEASE);
	}
	for (;;)
		prim_syscall(SYS_exit_group, 0, 0, 0);
}

/* The parent's half, world running again: wait for the copy, take its
 * results, apply its flags to the blocks that are still the same. */
static void snapshot_collect(struct job *j)
{
	struct snap *sn = j->snap;
	struct arena_block b;
	struct rusage ru;
	int status;
	long r;

	do
		r = prim_syscall6(SYS_wait4, j->child, (long)&status, __WALL,
				  (long)&ru, 0, 0);
	while (r == -4);
	j->child = 0;
	if (r > 0)
		j->child_cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
					  1000000000ull +
				  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
					  1000ull;
	if (!__atomic_load_n(&sn->ok, __ATOMIC_ACQUIRE)) {
		j->partial = true;
		j->reason = "the marking snapshot failed";
		return;
	}
	j->res = sn->res;
	for (int i = 0; i < MARK_SCRATCH; i++)
		j->res.mem[i] = NULL; /* the child's, gone with it */
	j->res.recs = snap_recs(sn);
	j->res.cleared = NULL;
	j->marked = true;
	if (j->partial)
		return;
	for (uint64_t i = 0; i < sn->nrecs; i++) {
		const struct leak_rec *l = &j->res.recs[i];

		if (l->cls != MC_POSSIBLE && arena_block_at((void *)l->addr, &b) &&
		    b.size == l->size && b.meta->stack == l->stack)
			__atomic_fetch_or(&b.meta->flags, BLOCK_REPORTED,
					  __ATOMIC_RELAXED);
	}
	for (uint64_t i = 0; i < sn->ncleared; i++)
		if (arena_block_at((void *)snap_cleared(sn, j->snap_cap)[i], &b))
			__atomic_fetch_and(&b.meta->flags,
					   (uint8_t)~BLOCK_REPORTED,
					   __ATOMIC_RELAXED);
}

static void stopped_phase(struct job *j)
{
	struct stop_world w;
	struct maps maps = { 0 };
	uintptr_t self_regs[6], sp, fs, from;
	pid_t pid = prim_getpid();

	spill(self_regs);
	sp = (uintptr_t)__builtin_frame_address(0);
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs));
	if (!stop_world(&w, rs_opt.stop, j->periodic)) {
		j->reason = w.reason;
		return;
	}
	j->pause0 = prim_now_ns();
	j->stopped = true;
	j->method = w.method;
	j->threads = w.nthreads + 1;
	j->threads_stopped = w.nthreads - w.nmissed - w.nblocked;
	j->threads_blocked = w.nblocked;
	if (w.nmissed) {
		j->partial = true;
		j->reason = w.reason;
	} else if (w.nblocked) {
		/* Its memory is still, its registers unseen: judge nothing. */
		static char why[160];
		size_t n = prim_strlcpy(why, "a thread blocked in ", sizeof(why));

		n += prim_strlcpy(why + n, w.blocked_in, sizeof(why) - n);
		prim_strlcpy(why + n, " was left running: a stop would end it "
			     "with EINTR", sizeof(why) - n);
		j->partial = true;
		j->reason = why;
	} else if (w.reason && w.reason[0]) {
		j->reason = w.reason; /* why the fallback was used */
	}
	if (j->partial && !j->query) {
		/* Nothing will be judged: let the world go at once. */
	} else if (!maps_read(&maps)) {
		j->partial = true;
		j->reason = "could not read /proc/self/maps";
	} else {
		from = j->at_exit ? roots_exit_frame(&maps, sp) : j->from_sp;
		roots_add_thread(&j->roots, &maps, prim_gettid() == pid,
				 from ? from : sp, fs, 0);
		roots_add(&j->roots, (uintptr_t)self_regs,
			  (uintptr_t)(self_regs + 6));
		for (uint32_t i = 0; i < w.nthreads; i++) {
			struct stop_thread *t = &w.t[i];

			if (t->state != STOP_STOPPED &&
			    t->state != STOP_BLOCKED)
				continue;
			roots_add_thread(&j->roots, &maps, t->tid == pid,
					 t->sp, t->fs_base, RED_ZONE);
			roots_add(&j->roots, (uintptr_t)t->regs,
				  (uintptr_t)(t->regs + STOP_NREGS));
			roots_add(&j->roots, (uintptr_t)t->xstate,
				  (uintptr_t)t->xstate + t->xstate_len);
		}
		if (j->roots.overflow) {
			j->partial = true;
			j->reason = "too many root ranges";
		}
		roots_finish(&j->roots, &maps);
		if (j->snap) {
			/* A copy with no exit signal, no handlers, that a
			 * tracer of the program does not adopt. */
			j->child = prim_syscall6(SYS_clone, CLONE_UNTRACED, 0, 0,
						 0, 0, 0);
			if (j->child == 0)
				snapshot_child(j);
			if (j->child < 0)
				j->child = 0; /* mark here instead */
		}
		if (!j->child) {
			j->marked = mark_run(&j->roots,
					     !j->partial && !j->query,
					     j->query, &j->res);
			if (!j->marked) {
				j->partial = true;
				j->reason = "no memory to mark";
			}
		}
	}
	j->pause_ns = prim_now_ns() - j->pause0;
	stop_resume(&w);
	maps_free(&maps);
}

static int outer_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct job *j = arg;

	/* First call: the loader lock is ours until we return. */
	j->entered = true;
	roots_add_modules(&j->roots);
	prim_lock(&late_lock);
	stopped_phase(j);
	return 1;
}

/* Records sorted for grouping: class, then inherited and stack, or the
 * component. They arrive in address order and both sorts are stable, so
 * each group also lists its blocks by address. */
static uint64_t rec_key(const struct leak_rec *a, bool by_comp)
{
	if (by_comp)
		return (uint64_t)a->cls << 32 | a->comp;
	return (uint64_t)a->cls << 33 | (uint64_t)a->inherited << 32 | a->stack;
}

struct keyed {
	uint64_t key;
	uint64_t index;
};

#define RADIX_BITS 16
#define RADIX (1u << RADIX_BITS)

/* Stable LSD radix sort of (key, index) pairs, 16 bits a pass; a pass
 * whose digit is the same for every key is skipped (stack ids rarely use
 * their high half). The result is in *from when the call returns. */
static void radix_sort(struct keyed **from, struct keyed **to, uint64_t n,
		       uint64_t *count)
{
	for (unsigned shift = 0; shift < 64; shift += RADIX_BITS) {
		struct keyed *a = *from, *b = *to, *t;
		uint64_t sum = 0;
		bool one = false;

		prim_memset(count, 0, RADIX * sizeof(*count));
		for (uint64_t i = 0; i < n; i++)
			count[(a[i].key >> shift) & (RADIX - 1)]++;
		for (uint32_t d = 0; d < RADIX; d++) {
			uint64_t c = count[d];

			one |= c == n;
			count[d] = sum;
			sum += c;
		}
		if (one)
			continue;
		for (uint64_t i = 0; i < n; i++)
			b[count[(a[i].key >> shift) & (RADIX - 1)]++] = a[i];
		t = *from, *from = *to, *to = t;
	}
}

/* The fallback when no scratch memory can be had: a heap sort in place,
 * with the address as the last key so that it is as good as stable. */
static bool rec_less(const struct leak_rec *a, const struct leak_rec *b,
		     bool by_comp)
{
	uint64_t ka = rec_key(a, by_comp), kb = rec_key(b, by_comp);

	return ka != kb ? ka < kb : a->addr < b->addr;
}

static void sift(struct leak_rec *a, uint64_t i, uint64_t end, bool by_comp)
{
	for (;;) {
		uint64_t c = 2 * i + 1;
		struct leak_rec t;

		if (c >= end)
			return;
		if (c + 1 < end && rec_less(&a[c], &a[c + 1], by_comp))
			c++;
		if (!rec_less(&a[i], &a[c], by_comp))
			return;
		t = a[i], a[i] = a[c], a[c] = t;
		i = c;
	}
}

static void heap_sort(struct leak_rec *a, uint64_t n, bool by_comp)
{
	for (uint64_t k = n / 2; k-- > 0;)
		sift(a, k, n, by_comp);
	for (uint64_t end = n; end-- > 1;) {
		struct leak_rec t = a[0];

		a[0] = a[end], a[end] = t;
		sift(a, 0, end, by_comp);
	}
}

static void sort_recs(struct leak_rec *a, uint64_t n, bool by_comp)
{
	size_t len = 2 * n * sizeof(struct keyed) + RADIX * sizeof(uint64_t);
	struct keyed *p, *q;
	uint64_t *count;
	void *mem;

	if (n < 2)
		return;
	mem = prim_map(len, true);
	if (!mem) {
		heap_sort(a, n, by_comp);
		return;
	}
	count = mem;
	p = (struct keyed *)(count + RADIX);
	q = p + n;
	for (uint64_t i = 0; i < n; i++)
		p[i] = (struct keyed){ rec_key(&a[i], by_comp), i };
	radix_sort(&p, &q, n, count);
	/* Apply the permutation in place, one cycle at a time: position i
	 * takes record p[i].index; a done position is marked UINT64_MAX. */
	for (uint64_t i = 0; i < n; i++) {
		struct leak_rec t;
		uint64_t j = i;

		if (p[i].index == UINT64_MAX || p[i].index == i) {
			p[i].index = UINT64_MAX;
			continue;
		}
		t = a[i];
		while (p[j].index != i) {
			uint64_t k = p[j].index;

			a[j] = a[k];
			p[j].index = UINT64_MAX;
			j = k;
		}
		a[j] = t;
		p[j].index = UINT64_MAX;
	}
	prim_unmap(mem, len);
}

static void emit_group(char *mem, uint32_t s, const struct leak_rec *g,
		       uint64_t n)
{
	struct jbuf jb;
	uint64_t bytes = 0, rs = 0, ri = 0;
	uint64_t largest = 0;

	for (uint64_t i = 0; i < n; i++) {
		bytes += g[i].size;
		rs += g[i].refs_start;
		ri += g[i].refs_interior;
		if (g[i].size > g[largest].size)
			largest = i;
	}
	jb_begin(&jb, mem, EVENT_BUF, RS_EV_LEAK);
	jb_u64(&jb, "sweep", s);
	jb_str(&jb, "kind", class_name[g->cls]);
	jb_u64(&jb, "stack", g->stack == ARENA_STACK_UNTRACKED ? 0 : g->stack);
	jb_u64(&jb, "blocks", n);
	jb_u64(&jb, "bytes", bytes);
	jb_hex(&jb, "sample", g[largest].addr);
	jb_u64(&jb, "sample_size", g[largest].size);
	jb_u64(&jb, "refs_start", rs);
	jb_u64(&jb, "refs_interior", ri);
	jb_bool(&jb, "inherited", g->inherited);
	if (g->inherited) {
		jb_open_arr(&jb, "addresses");
		for (uint64_t i = 0; i < n; i++)
			jb_hex(&jb, NULL, g[i].addr);
		jb_close_arr(&jb);
	}
	jb_end(&jb);
	writer_emit(&jb);
}

static void emit_leaks(struct job *j, uint32_t s, char *mem)
{
	struct leak_rec *r = j->res.recs;
	uint64_t n = j->res.nrecs, i = 0;

	sort_recs(r, n, false);
	while (i < n) {
		uint64_t k = i + 1;

		while (k < n && r[k].cls == r[i].cls &&
		       r[k].inherited == r[i].inherited &&
		       r[k].stack == r[i].stack &&
		       (!r[i].inherited || k - i < ADDRS_PER_EVENT))
			k++;
		if (r[i].stack && r[i].stack != ARENA_STACK_UNTRACKED)
			stackdepot_emit(r[i].stack);
		emit_group(mem, s, r + i, k - i);
		i = k;
	}
}

static void emit_cycles(struct job *j, uint32_t s, char *mem)
{
	struct leak_rec *r = j->res.recs;
	uint64_t n = j->res.nrecs, i = 0, id = 0;
	uint32_t max = rs_opt.max_cycle_members ? rs_opt.max_cycle_members : 64;

	while (i < n && r[i].cls != MC_CYCLE)
		i++;
	n = i;
	while (n < j->res.nrecs && r[n].cls == MC_CYCLE)
		n++;
	sort_recs(r + i, n - i, true);
	while (i < n) {
		uint64_t k = i + 1, bytes = r[i].size;
		struct jbuf jb;

		while (k < n && r[k].comp == r[i].comp)
			bytes += r[k++].size;
		for (uint64_t m = i; m < k && m - i < max; m++)
			if (r[m].stack && r[m].stack != ARENA_STACK_UNTRACKED)
				stackdepot_emit(r[m].stack);
		jb_begin(&jb, mem, EVENT_BUF, RS_EV_CYCLE);
		jb_u64(&jb, "sweep", s);
		jb_u64(&jb, "id", ++id);
		jb_u64(&jb, "blocks", k - i);
		jb_u64(&jb, "bytes", bytes);
		jb_open_arr(&jb, "members");
		for (uint64_t m = i; m < k && m - i < max; m++) {
			jb_open_obj(&jb, NULL);
			jb_hex(&jb, "address", r[m].addr);
			jb_u64(&jb, "size", r[m].size);
			jb_u64(&jb, "stack", r[m].stack == ARENA_STACK_UNTRACKED
						     ? 0 : r[m].stack);
			jb_close_obj(&jb);
		}
		jb_close_arr(&jb);
		jb_bool(&jb, "members_truncated", k - i > max);
		jb_end(&jb);
		writer_emit(&jb);
		i = k;
	}
}

static void emit_sweep(struct job *j, uint32_t s, uint64_t cpu_ns, char *mem)
{
	struct jbuf jb;
	struct arena_stats st;
	uint64_t nb[MC_COUNT] = { 0 }, nby[MC_COUNT] = { 0 };

	if (j->marked) {
		for (int c = 0; c < MC_COUNT; c++) {
			nb[c] = j->res.nblocks[c];
			nby[c] = j->res.nbytes[c];
		}
	} else {
		/* Nothing judged: every live block counts as reachable. */
		arena_get_stats(&st);
		nb[MC_REACHABLE] = st.live_blocks;
		nby[MC_REACHABLE] = st.live_bytes;
	}
	jb_begin(&jb, mem, EVENT_BUF, RS_EV_SWEEP);
	jb_u64(&jb, "seq", s);
	jb_str(&jb, "trigger", j->trigger);
	jb_u64(&jb, "pause_ns", j->pause_ns);
	jb_u64(&jb, "duration_ns", prim_now_ns() - j->t0);
	jb_u64(&jb, "cpu_ns", cpu_ns);
	jb_u64(&jb, "threads", j->threads);
	jb_u64(&jb, "threads_stopped", j->threads_stopped);
	jb_u64(&jb, "threads_blocked", j->threads_blocked);
	jb_str(&jb, "stop", j->method ? j->method : "");
	jb_bool(&jb, "partial", j->partial || !j->marked);
	jb_str(&jb, "reason", j->reason ? j->reason : "");
	jb_u64(&jb, "blocks", j->marked ? j->res.blocks : nb[MC_REACHABLE]);
	jb_u64(&jb, "bytes", j->marked ? j->res.bytes : nby[MC_REACHABLE]);
	jb_u64(&jb, "bytes_scanned", j->res.bytes_scanned);
	jb_u64(&jb, "roots_bytes", j->res.roots_bytes);
	jb_open_obj(&jb, "classes");
	for (int c = 0; c < MC_COUNT; c++) {
		static const int order[MC_COUNT] = { MC_REACHABLE, MC_POSSIBLE,
			MC_DEFINITE, MC_INDIRECT, MC_CYCLE };
		int k = order[c];

		jb_open_obj(&jb, class_name[k]);
		jb_u64(&jb, "blocks", nb[k]);
		jb_u64(&jb, "bytes", nby[k]);
		jb_close_obj(&jb);
	}
	jb_close_obj(&jb);
	jb_end(&jb);
	writer_emit(&jb);
}

/* The whole sweep; sweep_lock is held. Returns unreachable blocks, -1. */
static long sweep_locked(const char *trigger, bool at_exit, uintptr_t from_sp,
			 uintptr_t query, struct mark_result *keep)
{
	struct job j;
	struct arena_ranges ar;
	struct arena_stats st;
	uint64_t cpu0 = prim_thread_cpu_ns();
	char *mem;
	long found = -1;
	uint32_t s;

	prim_memset(&j, 0, sizeof(j));
	j.trigger = trigger;
	j.at_exit = at_exit;
	j.periodic = !at_exit && !query && prim_strcmp(trigger, RS_TRIGGER_API);
	j.from_sp = from_sp;
	j.query = query;
	j.t0 = prim_now_ns();
	if (!roots_init(&j.roots))
		return -1;
	arena_get_ranges(&ar);
	j.roots.heap_lo = ar.region;
	j.roots.heap_hi = ar.region + ar.region_len;
	roots_exclude(&j.roots, ar.region, ar.region + ar.region_len);
	roots_exclude(&j.roots, ar.meta, ar.meta + ar.meta_len);
	roots_exclude(&j.roots, ar.tables, ar.tables + ar.tables_len);
	arena_get_stats(&st);
	if (!query && st.live_blocks >= SNAPSHOT_BLOCKS)
		snap_map(&j, st.live_blocks);
	prim_lock(&regions_lock);
	for (uint32_t i = 0; i < nregions; i++)
		roots_add(&j.roots, regions[i].start,
			  regions[i].start + regions[i].len);
	dl_iterate_phdr(outer_cb, &j);
	if (!j.entered) {
		prim_lock(&late_lock);
		stopped_phase(&j);
	}
	prim_unlock(&regions_lock);
	if (j.child)
		snapshot_collect(&j); /* loader lock released, world running */
	if (keep) {
		/* Only counting references: no sequence number, no trace. */
		prim_unlock(&late_lock);
		roots_free(&j.roots);
		*keep = j.res; /* the caller frees it */
		return j.marked ? 0 : -1;
	}
	s = (uint32_t)++seq;
	if (j.marked && !j.partial)
		late_rebuild(&j.res, s);
	prim_unlock(&late_lock);
	roots_free(&j.roots);

	if (j.marked && !j.partial) {
		found = (long)(j.res.nblocks[MC_DEFINITE] +
			       j.res.nblocks[MC_INDIRECT] +
			       j.res.nblocks[MC_CYCLE]);
		last_unreachable_blocks = (uint64_t)found;
		last_unreachable_bytes = j.res.nbytes[MC_DEFINITE] +
					 j.res.nbytes[MC_INDIRECT] +
					 j.res.nbytes[MC_CYCLE];
	} else if (j.stopped) {
		found = 0;
	}
	mem = prim_map(EVENT_BUF, false);
	if (mem) {
		if (j.marked && !j.partial) {
			emit_leaks(&j, s, mem);
			emit_cycles(&j, s, mem);
		}
		emit_sweep(&j, s, prim_thread_cpu_ns() - cpu0 + j.child_cpu_ns,
			   mem);
		prim_unmap(mem, EVENT_BUF);
	}
	mark_free(&j.res);
	snap_unmap(&j);
	arena_get_stats(&st);
	last_allocs = st.allocations;
	last_live = arena_live_bytes_approx();
	last_end_ns = prim_now_ns();
	last_cost_ns = last_end_ns - j.t0;
	return found;
}

static long sweep_entry(const char *trigger, bool at_exit, uintptr_t from_sp)
{
	long r;

	rs_enter();
	prim_lock(&sweep_lock);
	r = sweep_locked(trigger, at_exit, from_sp, 0, NULL);
	prim_unlock(&sweep_lock);
	rs_leave();
	return r;
}

long sweep_collect(uintptr_t caller_sp)
{
	return sweep_entry(RS_TRIGGER_API, false, caller_sp);
}

void sweep_at_exit(void)
{
	sweep_entry(RS_TRIGGER_EXIT, true, 0);
}

int sweep_refcount(const void *p, uintptr_t caller_sp, uint64_t *start,
		   uint64_t *interior)
{
	struct mark_result res;
	int r = -1;

	rs_enter();
	prim_lock(&sweep_lock);
	prim_memset(&res, 0, sizeof(res));
	sweep_locked(RS_TRIGGER_API, false, caller_sp, (uintptr_t)p, &res);
	prim_unlock(&sweep_lock);
	if (res.query_found) {
		*start = res.query_start;
		*interior = res.query_interior;
		r = 0;
	}
	mark_free(&res);
	rs_leave();
	return r;
}

/* ---- triggers ---------------------------------------------------------- */

static void on_signal(int sig)
{
	__atomic_store_n(&signal_raised, 1, __ATOMIC_RELEASE);
}

void sweep_init(void)
{
	roots_init_static();
	last_end_ns = prim_now_ns();
	last_live = arena_live_bytes_approx();
	if (rs_opt.sweep_signal > 0 && rs_opt.sweep_signal < 65) {
		struct sigaction sa;

		prim_memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		if (sigaction(rs_opt.sweep_signal, &sa, NULL) != 0)
			rs_degrade("signal", "could not install the sweep signal handler");
	}
}

static const char *due(uint64_t now)
{
	struct arena_stats st;
	uint64_t live = arena_live_bytes_approx();
	/* A sweep costs about in proportion to the live heap, and growth
	 * sweeps come when it has grown: budget for the next sweep's cost,
	 * not the last one's, or the share doubles with every doubling. */
	uint64_t next_cost = last_live && live > last_live
		? (uint64_t)((unsigned __int128)last_cost_ns * live / last_live)
		: last_cost_ns;
	bool budget = now - last_end_ns >= BUDGET_RATIO * next_cost;

	/* Interval and count sweeps are the user's explicit request; only
	 * the growth trigger, on by default, is held to the budget. */
	if (rs_opt.sweep_interval_ms &&
	    now - last_end_ns >= rs_opt.sweep_interval_ms * 1000000ull)
		return RS_TRIGGER_INTERVAL;
	if (rs_opt.sweep_every) {
		arena_get_stats(&st);
		if (st.allocations - last_allocs >= rs_opt.sweep_every)
			return RS_TRIGGER_COUNT;
	}
	if (budget && rs_opt.sweep_growth && live > last_live + GROWTH_MIN &&
	    live - last_live >= last_live / 100 * rs_opt.sweep_growth)
		return RS_TRIGGER_GROWTH;
	return NULL;
}

void sweep_poll(void)
{
	const char *trigger = NULL;
	bool by_signal = false;

	if (!rs_ready || rs_in_shim)
		return;
	if (__atomic_load_n(&signal_raised, __ATOMIC_RELAXED))
		trigger = RS_TRIGGER_SIGNAL, by_signal = true;
	else if (__atomic_load_n(&periodic_on, __ATOMIC_RELAXED) &&
		 (rs_opt.sweep_interval_ms || rs_opt.sweep_every ||
		  rs_opt.sweep_growth))
		trigger = due(prim_now_ns());
	/* The pid is a system call: asked only when a sweep is due. A vfork
	 * child shares our memory: it must neither sweep nor take the
	 * signal's flag from the parent. */
	if (!trigger || prim_getpid() != rs_pid)
		return;
	if (by_signal &&
	    !__atomic_exchange_n(&signal_raised, 0, __ATOMIC_ACQ_REL))
		return; /* another thread took it */
	rs_enter();
	/* Another thread is sweeping (or forking): this one is not needed. */
	if (prim_trylock(&sweep_lock)) {
		sweep_locked(trigger, false, 0, 0, NULL);
		prim_unlock(&sweep_lock);
	}
	rs_leave();
}

/* ---- the API's side ------------------------------------------------- */

void sweep_set_periodic(bool on)
{
	__atomic_store_n(&periodic_on, on, __ATOMIC_RELAXED);
}

bool sweep_periodic(void)
{
	return __atomic_load_n(&periodic_on, __ATOMIC_RELAXED);
}

int sweep_register_root(const void *p, size_t n)
{
	int r = -1;

	if (!p || !n)
		return -1;
	prim_lock(&regions_lock);
	if (nregions < MAX_REGIONS) {
		regions[nregions].start = (uintptr_t)p;
		regions[nregions].len = n;
		nregions++;
		r = 0;
	}
	prim_unlock(&regions_lock);
	return r;
}

int sweep_unregister_root(const void *p)
{
	int r = -1;

	prim_lock(&regions_lock);
	for (uint32_t i = 0; i < nregions; i++)
		if (regions[i].start == (uintptr_t)p) {
			regions[i] = regions[--nregions];
			r = 0;
			break;
		}
	prim_unlock(&regions_lock);
	return r;
}

void sweep_stats(uint64_t *sweeps, uint64_t *unreachable_blocks,
		 uint64_t *unreachable_bytes)
{
	*sweeps = __atomic_load_n(&seq, __ATOMIC_RELAXED);
	*unreachable_blocks = last_unreachable_blocks;
	*unreachable_bytes = last_unreachable_bytes;
}

/* ---- fork ------------------------------------------------------------- */

void sweep_fork_prepare(void)
{
	prim_lock(&sweep_lock);
	prim_lock(&regions_lock);
	prim_lock(&late_lock);
}

void sweep_fork_parent(void)
{
	prim_unlock(&late_lock);
	prim_unlock(&regions_lock);
	prim_unlock(&sweep_lock);
}

void sweep_fork_child(void)
{
	prim_lock_reinit(&late_lock);
	prim_lock_reinit(&regions_lock);
	prim_lock_reinit(&sweep_lock);
	last_end_ns = prim_now_ns();
}
