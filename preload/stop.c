/*
 * stop.c: stops every thread of the process but the caller and lets them
 * go again (stop.h says how and why).
 *
 * The ptrace helper is a task of its own thread group sharing our memory:
 * it runs on a stack from prim_map, shares the caller's TLS pointer (it
 * touches no TLS), and talks to the caller through futex words in static
 * memory. Its exit signal is 0, so the program's SIGCHLD handler and its
 * wait() calls never see it, and it is made CLONE_UNTRACED so that a
 * tracer of the program (strace -f) does not adopt it.
 *
 * Must never: allocate, call libc (the helper has no libc state of its
 * own), leave a thread stopped or a signal lost, or wait without a bound.
 */
#define _GNU_SOURCE
#include "config.h"
#include "stop.h"
#include "options.h"

#include <elf.h>
#include <linux/ptrace.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define HELPER_STACK (256 * 1024)
#define MAX_THREADS 8192
#define WAIT_SLICE_NS 50000000ull        /* 50 ms between liveness checks */
#define HELPER_TIMEOUT_NS 20000000000ull /* give up on a stuck helper */
#define SIGNAL_TIMEOUT_NS 500000000ull   /* a thread that never answers */

#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#define PTRACE_INTERRUPT 0x4207
#define PTRACE_EVENT_STOP 128
#endif
#define RS_PTRACE_GETREGSET 0x4204
#define RS_PTRACE_DETACH 17
#define RS_NT_X86_XSTATE 0x202

enum { PH_START, PH_STOPPED, PH_RESUME };

/* The helper's half of the conversation. One sweep at a time (the sweep
 * lock), so static storage is enough. */
static struct {
	int phase;       /* futex word */
	int exited;      /* CLONE_CHILD_CLEARTID word: 0 once the helper is gone */
	int failed;      /* ptrace refused: nothing is stopped */
	int go;          /* futex word: the helper may start */
	pid_t pid, caller;
	struct stop_world *w;
	const char *reason;
	char dirbuf[8192];
} H;

static long sys(long nr, long a, long b, long c, long d)
{
	return prim_syscall6(nr, a, b, c, d, 0, 0);
}

static void set_reason(struct stop_world *w, const char *why)
{
	if (!w->reason || !w->reason[0])
		w->reason = why;
}

/* "/proc/<pid>/task[/<tid>/<leaf>]" into buf. */
static void task_path(char *buf, pid_t pid, pid_t tid, const char *leaf)
{
	size_t n = 0;

	prim_memcpy(buf, "/proc/", 6);
	n = 6;
	n += prim_fmt_u64(buf + n, (uint64_t)pid);
	prim_memcpy(buf + n, "/task", 6);
	n += 5;
	if (tid) {
		buf[n++] = '/';
		n += prim_fmt_u64(buf + n, (uint64_t)tid);
		buf[n++] = '/';
		prim_strlcpy(buf + n, leaf, 32);
	}
}

static bool known(const struct stop_world *w, pid_t tid)
{
	for (uint32_t i = 0; i < w->nthreads; i++)
		if (w->t[i].tid == tid)
			return true;
	return false;
}

/* Calls fn for every thread id of the process not yet in w->t; returns
 * how many of them fn recorded (a dying thread, a zombie leader, is not).
 * Reads the directory with raw getdents64. */
static uint32_t each_new_task(struct stop_world *w,
			      bool (*fn)(struct stop_world *, pid_t))
{
	char path[64];
	uint32_t seen = 0;
	int fd;

	task_path(path, H.pid, 0, NULL);
	fd = prim_open(path, 0 /* O_RDONLY */ | 0200000 /* O_DIRECTORY */, 0);
	if (fd < 0)
		return 0;
	for (;;) {
		long n = sys(SYS_getdents64, fd, (long)H.dirbuf,
			     sizeof(H.dirbuf), 0);
		long off = 0;

		if (n <= 0)
			break;
		while (off < n) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(H.dirbuf + off);
			uint64_t tid;

			off += d->reclen;
			if (!prim_parse_u64(d->name, prim_strlen(d->name),
					    &tid) || (pid_t)tid == H.caller ||
			    known(w, (pid_t)tid))
				continue;
			seen += fn(w, (pid_t)tid);
		}
	}
	prim_close(fd);
	return seen;
}

/* A task whose attach was refused may simply be dying. */
static bool is_dead(pid_t tid)
{
	char path[96], buf[512];
	const char *s;

	task_path(path, H.pid, tid, "stat");
	if (prim_read_file(path, buf, sizeof(buf)) <= 0)
		return true;
	s = buf;
	while (*s && *s != ')')
		s++;
	while (*s == ')' || *s == ' ')
		s++;
	return *s == 'Z' || *s == 'X';
}

static struct stop_thread *add_thread(struct stop_world *w, pid_t tid)
{
	struct stop_thread *t;

	if (w->nthreads == w->cap) {
		set_reason(w, "too many threads");
		w->nmissed++;
		return NULL;
	}
	t = &w->t[w->nthreads++];
	t->tid = tid;
	t->state = STOP_MISSED;
	t->pending_signal = 0;
	t->xstate_len = 0;
	t->sp = t->fs_base = 0;
	return t;
}

/* ---- threads better left alone (docs/sweep.md, "EINTR") ------------- */

static bool leave_blocked;

/* Is fd a socket with a receive or send timeout? Then the kernel ends
 * its blocking calls with EINTR on any stop, SA_RESTART or not. */
static bool socket_with_timeout(long fd)
{
	long tv[2];
	uint32_t len;

	for (int opt = 20 /* SO_RCVTIMEO */; opt <= 21; opt++) {
		len = sizeof(tv);
		tv[0] = tv[1] = 0;
		if (prim_syscall6(SYS_getsockopt, fd, 1 /* SOL_SOCKET */, opt,
				  (long)tv, (long)&len, 0) == 0 &&
		    (tv[0] || tv[1]))
			return true;
	}
	return false;
}

/* Under the signal fallback a handler runs, and then the kernel does not
 * restart these either, SA_RESTART or not (signal(7)). a[] are the six
 * arguments. */
static const char *prone_to_signals(long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_nanosleep: return "nanosleep";
	case SYS_clock_nanosleep: return "clock_nanosleep";
	case SYS_poll: return "poll";
	case SYS_ppoll: return "ppoll";
	case SYS_select: return "select";
	case SYS_pselect6: return "pselect6";
	case SYS_pause: return "pause";
	case SYS_rt_sigsuspend: return "sigsuspend";
	case SYS_msgrcv: return "msgrcv";
	case SYS_msgsnd: return "msgsnd";
	case SYS_futex: return a[3] ? "a timed futex wait" : NULL;
	default:
		return NULL;
	}
}

static bool signal_mode;

static const char *prone_call(long nr, const uint64_t *a)
{
	long fd = (long)a[0];

	if (signal_mode) {
		const char *why = prone_to_signals(nr, a);

		if (why)
			return why;
	}
	switch (nr) {
	case SYS_epoll_wait: return "epoll_wait";
	case SYS_epoll_pwait: return "epoll_pwait";
	case 441: return "epoll_pwait2";
	case SYS_semop: return "semop";
	case SYS_semtimedop: return "semtimedop";
	case SYS_rt_sigtimedwait: return "rt_sigtimedwait";
	case SYS_io_getevents: return "io_getevents";
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg:
	case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
	case SYS_accept: case SYS_accept4: case SYS_connect:
		return socket_with_timeout(fd) ? "a socket call with a timeout"
					       : NULL;
	default:
		return NULL;
	}
}

/* /proc/<pid>/task/<tid>/syscall of a blocked thread reads
 * "nr arg1 .. arg6 sp pc"; of a running one, "running". */
static bool left_blocked(struct stop_world *w, pid_t tid)
{
	char path[96], buf[256];
	const char *s = buf, *why;
	uint64_t v[9];
	int n = 0;

	task_path(path, H.pid, tid, "syscall");
	if (prim_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	while (n < 9 && *s >= '0' && *s <= '9') {
		const char *e = s;

		while (*e && *e != ' ' && *e != '\n')
			e++;
		if (!prim_parse_u64(s, (size_t)(e - s), &v[n]))
			return false;
		n++;
		s = *e ? e + 1 : e;
	}
	if (n != 9 || !(why = prone_call((long)v[0], v + 1)))
		return false;
	struct stop_thread *t = add_thread(w, tid);
	if (!t)
		return true;
	t->state = STOP_BLOCKED;
	t->sp = v[7];
	/* The arguments are the registers we can see. */
	prim_memset(t->regs, 0, sizeof(t->regs));
	for (int i = 0; i < 6; i++)
		t->regs[i] = v[1 + i];
	t->regs[STOP_REG_RSP] = v[7];
	w->nblocked++;
	w->blocked_in = why;
	return true;
}

static bool seize(struct stop_world *w, pid_t tid)
{
	struct stop_thread *t;
	long r;

	if (H.failed)
		return false;
	if (leave_blocked && left_blocked(w, tid))
		return true;
	r = sys(SYS_ptrace, PTRACE_SEIZE, tid, 0, 0);
	if (r == -3 /* ESRCH */)
		return false;
	if (r < 0) {
		if (is_dead(tid))
			return false;
		H.failed = 1;
		H.reason = r == -1 /* EPERM */
			? "ptrace refused (already traced, or not dumpable)"
			: "ptrace failed";
		return false;
	}
	t = add_thread(w, tid);
	if (!t) {
		sys(SYS_ptrace, RS_PTRACE_DETACH, tid, 0, 0);
		return false;
	}
	t->state = STOP_PARKED; /* seized, not yet known to be stopped */
	if (sys(SYS_ptrace, PTRACE_INTERRUPT, tid, 0, 0) < 0)
		t->state = STOP_MISSED;
	return true;
}

#define UREG_RAX 10
#define UREG_ORIG_RAX 15
#define UREG_RIP 16
#define RS_PTRACE_SETREGSET 0x4205

/* Our interrupt ended a system call that the kernel does not restart
 * (epoll_wait, semop, a socket call with a timeout...): it is about to
 * return EINTR. With no signal of the program's own pending, that EINTR is
 * ours alone, so the call is put back to be made again on resume, as the
 * kernel does for restartable calls. A stop taken in user mode has
 * orig_rax -1 and is left alone. What remains: the call starts its
 * relative timeout again (docs/sweep.md). connect is not redone: an
 * interrupted connect goes on in the background. */
static void rewind_eintr(struct stop_thread *t)
{
	struct iovec io = { t->regs, sizeof(t->regs) };
	long nr = (long)t->regs[UREG_ORIG_RAX];

	if (t->pending_signal || nr < 0 || nr == SYS_connect ||
	    (long)t->regs[UREG_RAX] != -4 /* EINTR */)
		return;
	t->regs[UREG_RAX] = (uint64_t)nr;
	t->regs[UREG_RIP] -= 2; /* the syscall instruction */
	if (sys(SYS_ptrace, RS_PTRACE_SETREGSET, t->tid, NT_PRSTATUS,
		(long)&io) < 0) {
		t->regs[UREG_RAX] = (uint64_t)-4;
		t->regs[UREG_RIP] += 2;
	}
}

static void collect(struct stop_thread *t)
{
	struct iovec io = { t->regs, sizeof(t->regs) };
	struct iovec xio = { t->xstate, sizeof(t->xstate) };
	int status = 0;
	long r;

	do
		r = sys(SYS_wait4, t->tid, (long)&status, __WALL, 0);
	while (r == -4 /* EINTR */);
	if (r != t->tid || !WIFSTOPPED(status)) {
		t->state = STOP_MISSED;
		t->tid = -t->tid; /* gone: nothing to scan, nothing to detach */
		return;
	}
	/* Not an event stop: a signal was on its way in; hand it back. */
	if ((status >> 16) == 0)
		t->pending_signal = WSTOPSIG(status);
	if (sys(SYS_ptrace, RS_PTRACE_GETREGSET, t->tid, NT_PRSTATUS,
		(long)&io) < 0) {
		t->state = STOP_MISSED;
		return;
	}
	if (sys(SYS_ptrace, RS_PTRACE_GETREGSET, t->tid, RS_NT_X86_XSTATE,
		(long)&xio) == 0)
		t->xstate_len = (uint32_t)xio.iov_len;
	rewind_eintr(t);
	t->sp = t->regs[STOP_REG_RSP];
	t->fs_base = t->regs[STOP_REG_FS_BASE];
	t->state = STOP_STOPPED;
}

static void detach_all(struct stop_world *w)
{
	for (uint32_t i = 0; i < w->nthreads; i++) {
		struct stop_thread *t = &w->t[i];

		if (t->tid <= 0 || t->state == STOP_BLOCKED)
			continue;
		sys(SYS_ptrace, RS_PTRACE_DETACH, t->tid, 0,
		    t->state == STOP_MISSED ? 0 : t->pending_signal);
	}
}

static int helper_main(void *arg)
{
	struct stop_world *w = arg;
	uint32_t first = 0;

	/* If the sweeping thread dies (the process is killed, another thread
	 * execs), go with it: our tracees are released when we are gone. */
	sys(SYS_prctl, PR_SET_PDEATHSIG, 9 /* SIGKILL */, 0, 0);
	/* Wait until the caller has made us its tracer (Yama). */
	while (!__atomic_load_n(&H.go, __ATOMIC_ACQUIRE))
		prim_futex_wait(&H.go, 0, 0);

	/* Threads may be created until every thread that could create one is
	 * stopped: list again until a pass finds nobody new. */
	while (!H.failed && each_new_task(w, seize)) {
		for (uint32_t i = first; i < w->nthreads; i++)
			if (w->t[i].state == STOP_PARKED)
				collect(&w->t[i]);
		first = w->nthreads;
	}
	if (H.failed) {
		detach_all(w);
		__atomic_store_n(&H.phase, PH_STOPPED, __ATOMIC_RELEASE);
		prim_futex_wake(&H.phase, 1);
		return 0;
	}
	__atomic_store_n(&H.phase, PH_STOPPED, __ATOMIC_RELEASE);
	prim_futex_wake(&H.phase, 1);
	while (__atomic_load_n(&H.phase, __ATOMIC_ACQUIRE) != PH_RESUME)
		prim_futex_wait(&H.phase, PH_STOPPED, 0);
	detach_all(w);
	return 0;
}

/* clone(2) without libc: the child pops its function and argument from
 * the new stack, runs it and exits with raw syscalls. */
static long helper_clone(unsigned long flags, uint8_t *stack_top, int *ctid,
			 int (*fn)(void *), void *arg)
{
	void **sp = (void **)((uintptr_t)stack_top & ~(uintptr_t)15);
	register long r10 __asm__("r10") = (long)ctid;
	register long r8 __asm__("r8") = 0;
	long ret;

	*--sp = arg;
	*--sp = (void *)fn;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "pop %%rax\n\t"
			 "pop %%rdi\n\t"
			 "and $-16, %%rsp\n\t"
			 "call *%%rax\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov $60, %%eax\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(ret)
			 : "a"(SYS_clone), "D"(flags), "S"(sp), "d"(0),
			   "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static int yama_scope(void)
{
	static int scope = -2; /* not read yet */
	char buf[16];

	if (scope == -2)
		scope = prim_read_file("/proc/sys/kernel/yama/ptrace_scope",
				       buf, sizeof(buf)) > 0
				? buf[0] - '0' : -1;
	return scope;
}

static void reap_helper(struct stop_world *w)
{
	int status;
	long r;

	do
		r = sys(SYS_wait4, w->helper, (long)&status, __WALL, 0);
	while (r == -4);
	prim_unmap(w->helper_stack, HELPER_STACK);
	w->helper = 0;
	if (yama_scope() == 1)
		sys(SYS_prctl, PR_SET_PTRACER, 0, 0, 0);
}

static bool stop_ptrace(struct stop_world *w)
{
	unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES |
			      CLONE_UNTRACED | CLONE_CHILD_CLEARTID;
	uint64_t t0 = prim_now_ns();
	long pid;

	w->helper_stack = prim_map(HELPER_STACK, false);
	if (!w->helper_stack) {
		w->reason = "no memory for the stop helper";
		return false;
	}
	H.phase = PH_START;
	H.exited = 1;
	H.failed = 0;
	H.go = 0;
	H.reason = "";
	H.w = w;
	pid = helper_clone(flags, w->helper_stack + HELPER_STACK, &H.exited,
			   helper_main, w);
	if (pid < 0) {
		prim_unmap(w->helper_stack, HELPER_STACK);
		w->reason = "clone of the stop helper failed";
		return false;
	}
	w->helper = (int)pid;
	/* Under Yama's ptrace_scope 1 only a declared tracer may attach to a
	 * non-descendant. This replaces any tracer the program declared; the
	 * setting is cleared again at resume. */
	if (yama_scope() == 1)
		sys(SYS_prctl, PR_SET_PTRACER, pid, 0, 0);
	__atomic_store_n(&H.go, 1, __ATOMIC_RELEASE);
	prim_futex_wake(&H.go, 1);
	while (__atomic_load_n(&H.phase, __ATOMIC_ACQUIRE) == PH_START) {
		if (!__atomic_load_n(&H.exited, __ATOMIC_ACQUIRE) ||
		    prim_now_ns() - t0 > HELPER_TIMEOUT_NS) {
			/* Died or stuck: whatever it attached is released when
			 * it is gone (it is a thread group of its own, so the
			 * kill ends it alone). */
			sys(SYS_kill, pid, 9 /* SIGKILL */, 0, 0);
			reap_helper(w);
			w->reason = "the stop helper did not answer";
			w->nthreads = 0;
			return false;
		}
		prim_futex_wait(&H.phase, PH_START, WAIT_SLICE_NS);
	}
	if (H.failed) {
		reap_helper(w);
		w->reason = H.reason;
		w->nthreads = 0;
		return false;
	}
	w->method = "ptrace";
	for (uint32_t i = 0; i < w->nthreads; i++)
		if (w->t[i].state == STOP_MISSED && w->t[i].tid > 0) {
			w->nmissed++;
			set_reason(w, "a thread could not be stopped");
		}
	return true;
}

/* The signal fallback. */

#define SIG_SLOTS 1024
#define RS_SA_RESTORER 0x04000000

struct ksigaction {
	void *handler;
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static struct {
	int gen, resume_gen; /* a stop is on while they differ */
	int acks;            /* futex word */
	int sig;             /* the signal we own, 0 = none yet */
	struct {
		pid_t tid;
		int ready;
		uintptr_t sp, fs;
	} slot[SIG_SLOTS];
} S;

void rs_stop_restorer(void) RS_HIDDEN;
__asm__(".text\n"
	".p2align 4\n"
	"rs_stop_restorer:\n\t"
	"mov $15, %eax\n\t"
	"syscall\n\t"
	"hlt\n");

static void park(int sig, siginfo_t *info, void *uc)
{
	int gen = __atomic_load_n(&S.gen, __ATOMIC_ACQUIRE);
	volatile uintptr_t here = 0;
	uintptr_t fs;
	int i;

	if (gen == __atomic_load_n(&S.resume_gen, __ATOMIC_ACQUIRE))
		return; /* a late signal from a stop that is over */
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs));
	i = __atomic_fetch_add(&S.acks, 1, __ATOMIC_ACQ_REL);
	if (i < SIG_SLOTS) {
		S.slot[i].tid = prim_gettid();
		/* Everything the interrupted code had, its registers in the
		 * signal frame included, lies above this frame. */
		S.slot[i].sp = (uintptr_t)&here;
		S.slot[i].fs = fs;
		__atomic_store_n(&S.slot[i].ready, 1, __ATOMIC_RELEASE);
	}
	prim_futex_wake(&S.acks, 1);
	while (__atomic_load_n(&S.resume_gen, __ATOMIC_ACQUIRE) != gen)
		prim_futex_wait(&S.resume_gen, __atomic_load_n(&S.resume_gen,
				__ATOMIC_ACQUIRE), 0);
}

static bool own_signal(void)
{
	struct ksigaction sa, old;

	if (S.sig) {
		if (sys(SYS_rt_sigaction, S.sig, 0, (long)&old, 8) == 0 &&
		    old.handler == (void *)park)
			return true;
		S.sig = 0; /* the program took it over: find another */
	}
	/* The handler stays installed for good: a thread that blocked the
	 * signal may take it much later, and the default action would kill. */
	for (int sig = 64; sig >= 40; sig--) {
		if (sys(SYS_rt_sigaction, sig, 0, (long)&old, 8) != 0 ||
		    old.handler != SIG_DFL)
			continue;
		sa.handler = (void *)park;
		sa.flags = SA_SIGINFO | SA_RESTART | RS_SA_RESTORER;
		sa.restorer = rs_stop_restorer;
		sa.mask = ~0ull;
		if (sys(SYS_rt_sigaction, sig, (long)&sa, 0, 8) == 0) {
			S.sig = sig;
			return true;
		}
	}
	return false;
}

static bool blocks_signal(pid_t tid, int sig)
{
	char path[96], buf[2048];
	const char *s;
	uint64_t mask = 0;

	task_path(path, H.pid, tid, "status");
	if (prim_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	for (s = buf; *s; s++)
		if (prim_strncmp(s, "SigBlk:", 7) == 0)
			break;
	if (!*s)
		return false;
	for (s += 7; *s == ' ' || *s == '\t'; s++)
		;
	for (; *s && *s != '\n'; s++) {
		int d = *s >= 'a' ? *s - 'a' + 10 : *s - '0';
		mask = mask << 4 | (uint64_t)d;
	}
	return (mask >> (sig - 1)) & 1;
}

static uint32_t sig_sent;

static bool send_stop(struct stop_world *w, pid_t tid)
{
	struct stop_thread *t;

	if (is_dead(tid))
		return false;
	if (blocks_signal(tid, S.sig)) {
		if (add_thread(w, tid))
			set_reason(w, "a thread blocks the stop signal");
		return true;
	}
	/* Look at the thread last, right before the signal: a thread that
	 * enters a call like nanosleep between the two still gets EINTR. */
	if (leave_blocked && left_blocked(w, tid))
		return true;
	t = add_thread(w, tid);
	if (!t)
		return false;
	if (sys(SYS_tgkill, H.pid, tid, S.sig, 0) == 0) {
		t->state = STOP_PARKED;
		sig_sent++;
	} else {
		t->tid = -tid; /* gone */
	}
	return true;
}

static bool stop_signal(struct stop_world *w)
{
	uint64_t t0;

	if (!own_signal()) {
		set_reason(w, "no free real-time signal to stop threads with");
		return false;
	}
	sig_sent = 0;
	signal_mode = true;
	__atomic_store_n(&S.acks, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < SIG_SLOTS; i++)
		S.slot[i].ready = 0;
	__atomic_fetch_add(&S.gen, 1, __ATOMIC_ACQ_REL);
	t0 = prim_now_ns();
	for (;;) {
		uint32_t fresh = each_new_task(w, send_stop);
		int acks;

		while ((uint32_t)(acks = __atomic_load_n(&S.acks,
					__ATOMIC_ACQUIRE)) < sig_sent &&
		       prim_now_ns() - t0 < SIGNAL_TIMEOUT_NS)
			prim_futex_wait(&S.acks, acks, 10000000ull);
		if (!fresh || (uint32_t)acks < sig_sent)
			break;
	}
	w->method = "signal";
	/* Match each parked slot to its thread. */
	for (int i = 0; i < SIG_SLOTS; i++) {
		if (!__atomic_load_n(&S.slot[i].ready, __ATOMIC_ACQUIRE))
			continue;
		for (uint32_t j = 0; j < w->nthreads; j++) {
			struct stop_thread *t = &w->t[j];

			if (t->tid != S.slot[i].tid)
				continue;
			t->state = STOP_STOPPED;
			t->sp = S.slot[i].sp;
			t->fs_base = S.slot[i].fs;
			prim_memset(t->regs, 0, sizeof(t->regs));
			t->regs[STOP_REG_RSP] = t->sp;
			t->regs[STOP_REG_FS_BASE] = t->fs_base;
		}
	}
	for (uint32_t j = 0; j < w->nthreads; j++) {
		if (w->t[j].tid > 0 && w->t[j].state != STOP_STOPPED &&
		    w->t[j].state != STOP_BLOCKED) {
			w->t[j].state = STOP_MISSED;
			w->nmissed++;
			set_reason(w, "a thread did not answer the stop signal");
		}
	}
	return true;
}

static bool count_task(struct stop_world *w, pid_t tid)
{
	return !is_dead(tid);
}

bool stop_world(struct stop_world *w, int mode, bool leave)
{
	w->method = "";
	w->reason = "";
	w->blocked_in = "";
	w->nthreads = w->nmissed = w->nblocked = 0;
	leave_blocked = leave;
	signal_mode = false;
	w->helper = 0;
	w->mem_len = (size_t)MAX_THREADS * sizeof(struct stop_thread);
	w->mem = prim_map(w->mem_len, true);
	if (!w->mem) {
		w->reason = "no memory to stop the world";
		return false;
	}
	w->t = w->mem;
	w->cap = MAX_THREADS;
	H.pid = prim_getpid();
	H.caller = prim_gettid();
	/* Alone: nobody to stop, and nobody else can start a thread. */
	if (!each_new_task(w, count_task)) {
		w->method = "alone";
		return true;
	}
	if (mode != RS_STOP_SIGNAL && stop_ptrace(w))
		return true;
	if (mode != RS_STOP_PTRACE) {
		const char *why = w->reason;

		w->reason = "";
		w->nthreads = w->nmissed = w->nblocked = 0;
		if (stop_signal(w)) {
			if (!w->reason[0] && why && why[0])
				w->reason = why; /* why ptrace was not used */
			return true;
		}
	}
	prim_unmap(w->mem, w->mem_len);
	w->mem = NULL;
	return false;
}

void stop_resume(struct stop_world *w)
{
	if (!prim_strcmp(w->method, "alone")) {
		/* nothing was stopped */
	} else if (w->helper) {
		__atomic_store_n(&H.phase, PH_RESUME, __ATOMIC_RELEASE);
		prim_futex_wake(&H.phase, 1);
		reap_helper(w);
	} else {
		__atomic_store_n(&S.resume_gen,
				 __atomic_load_n(&S.gen, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		prim_futex_wake(&S.resume_gen, 1 << 30);
	}
	if (w->mem)
		prim_unmap(w->mem, w->mem_len);
	w->mem = NULL;
	w->t = NULL;
}
