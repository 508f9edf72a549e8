/*
 * known.c: programs with a known answer for every class and every root
 * kind (issue 4 "Acceptance"). Run as `known SCENARIO`; tests/sweep/known.sh
 * holds the expected counts and compares refsweep, valgrind and
 * LeakSanitizer.
 *
 * Every block is written in full after allocation (mk), as real programs
 * write the memory they ask for, so what a test measures is the pointers
 * the program stored, nothing else. Pointers are kept in volatile objects
 * so that the answer does not depend on the optimisation level.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refsweep.h"

struct node {
	struct node *next;
	struct node *other;
	long pad[2];
};

static __attribute__((noinline)) void *mk(size_t n)
{
	void *p = malloc(n);

	memset(p, 0x5a, n);
	if (n >= sizeof(struct node)) {
		struct node *x = p;
		x->next = x->other = NULL;
	}
	return p;
}

static struct node *nd(void)
{
	return mk(sizeof(struct node));
}

static __attribute__((noinline)) void drop(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* Wipes the part of the stack below the caller that earlier calls used,
 * so no dead frame keeps a stale copy of a pointer. */
static __attribute__((noinline)) void scrub(void)
{
	volatile char buf[16384];

	memset((char *)buf, 0, sizeof(buf));
}

static struct node *volatile g_list;
static void *volatile g_interior;
static struct node *volatile g_chain;
static char g_unaligned[32];
static void *volatile g_zero;
static void *volatile g_extra;

/* Every class: see known.sh for the expected counts. */
static void classes(void)
{
	struct node *a, *b, *c, *ring[10], *x;
	void *u;

	/* reachable: a list of five from a global */
	for (int i = 0; i < 5; i++) {
		a = nd();
		a->next = g_list;
		g_list = a;
	}
	g_zero = malloc(0);
	/* definite: dropped */
	drop(mk(24));
	/* tree lost at its root: 1 definite, 3 indirect */
	a = nd();
	a->next = nd();
	a->other = nd();
	a->next->next = nd();
	drop(a);
	/* cycles of 2, 3 and 10, and a self loop */
	a = nd(), b = nd();
	a->next = b, b->next = a;
	a = nd(), b = nd(), c = nd();
	a->next = b, b->next = c, c->next = a;
	for (int i = 0; i < 10; i++)
		ring[i] = nd();
	for (int i = 0; i < 10; i++)
		ring[i]->next = ring[(i + 1) % 10];
	a = nd();
	a->next = a;
	/* a lost block pointing into a cycle: 1 definite, 2 indirect */
	x = nd(), a = nd(), b = nd();
	a->next = b, b->next = a, x->next = a;
	/* a cycle pointing out at a block: 2 cycle, 1 indirect */
	a = nd(), b = nd();
	a->next = b, b->next = a, a->other = nd();
	/* interior pointer only from a root: possible */
	g_interior = (char *)mk(64) + 16;
	/* start chain to A, interior from A to B, start from B to C: B and C
	 * possible, A reachable */
	a = nd(), b = nd(), c = nd();
	a->other = (struct node *)((char *)b + 8);
	b->next = c;
	g_chain = a;
	/* an unaligned pointer is no pointer: definite */
	u = mk(48);
	memcpy(g_unaligned + 1, &u, sizeof(u));
	a = b = c = x = u = NULL;
	memset(ring, 0, sizeof(ring));
	scrub();
}

/* A pointer in a local of a main that calls exit() is reachable; one in a
 * main that returned is not. */
static int exit_local(bool do_exit)
{
	void *volatile keep = mk(40);

	drop(mk(8)); /* a control: definite */
	scrub();
	if (do_exit)
		exit(0);
	return keep != NULL ? 0 : 1;
}

/* Roots in TLS and thread-specific data, in the main thread and in a
 * thread blocked at exit. */
static __thread void *volatile tls_slot;
static pthread_key_t low_key, high_key;
static int block_pipe[2];
static pthread_barrier_t ready;

static void *tls_thread(void *arg)
{
	char c;

	tls_slot = mk(72);
	pthread_setspecific(low_key, mk(88));
	pthread_setspecific(high_key, mk(104));
	pthread_barrier_wait(&ready);
	if (read(block_pipe[0], &c, 1) < 0)
		perror("read");
	return NULL;
}

static void tls(void)
{
	pthread_key_t spare[40];
	pthread_t t;

	pthread_key_create(&low_key, NULL);
	for (int i = 0; i < 40; i++)
		pthread_key_create(&spare[i], NULL);
	pthread_key_create(&high_key, NULL); /* above 32: a second level */
	tls_slot = mk(64);
	pthread_setspecific(low_key, mk(80));
	pthread_setspecific(high_key, mk(96));
	if (pipe(block_pipe))
		exit(2);
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&t, NULL, tls_thread, NULL);
	pthread_barrier_wait(&ready);
	drop(mk(8)); /* control: definite */
	scrub();
	exit(0);
}

/* In a thread: meets the main thread, then blocks in read() for good. */
static void meet_and_block(void)
{
	char c;

	pthread_barrier_wait(&ready);
	if (read(block_pipe[0], &c, 1) < 0)
		perror("read");
}

/* Starts n threads running fn; returns once each has met the barrier. */
static void start_blocked(int n, void *(*fn)(void *))
{
	pthread_t t;

	if (pipe(block_pipe))
		exit(2);
	pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++)
		pthread_create(&t, NULL, fn, NULL);
	pthread_barrier_wait(&ready);
}

/* Leaks in threads, and blocks kept alive by blocked threads' stacks. */
static void *leaky_thread(void *arg)
{
	void *volatile keep = mk(56);

	drop(mk(24)); /* definite */
	scrub();
	meet_and_block();
	return (void *)keep;
}

static void threads(void)
{
	start_blocked(4, leaky_thread);
	exit(0);
}

/* A leaked block's address left only in dead stack just below a blocked
 * thread's SP, close under its static TLS: the TLS root range must stop at
 * the live stack (glibc's static TLS size counts the thread descriptor,
 * and reaching that far below fs read these dead frames). */
static __attribute__((noinline)) void plant_deeper(void)
{
	void *volatile slots[64];
	void *p = mk(40);

	for (int i = 0; i < 64; i++)
		slots[i] = p;
	(void)slots;
}

/* The copies go 400 bytes further down, below the frames the thread has
 * when it blocks (SP - 128 and up is live), still within 2.3 KiB of the
 * TLS. */
static __attribute__((noinline)) void plant(void)
{
	volatile char pad[400];

	pad[0] = 0;
	plant_deeper();
	pad[1] = pad[0];
}

static void *dead_stack_thread(void *arg)
{
	plant();
	/* The address may be left in scratch registers too: they are roots. */
	__asm__ volatile("xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\t"
			 "xor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
			 "xor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
			 "xor %%esi, %%esi\n\txor %%edi, %%edi\n\t"
			 "xor %%eax, %%eax\n\tvzeroall"
			 : : : "r8", "r9", "r10", "r11", "rcx", "rdx", "rsi",
			   "rdi", "rax", "memory");
	meet_and_block();
	return arg;
}

static void dead_stack(void)
{
	start_blocked(2, dead_stack_thread);
	/* Let both reach read(). */
	usleep(100000);
	exit(0);
}

/* Registered root regions, unregistered mappings, ignored blocks. */
static void regions(void)
{
	void **seen = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **unseen = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct node *ign = nd();

	seen[7] = mk(32);     /* reachable: registered */
	unseen[7] = mk(32);   /* definite: nobody scans a private mapping */
	rs_register_root(seen, 4096);
	ign->next = nd();     /* reachable through an ignored block */
	rs_ignore(ign);
	ign = NULL;
	scrub();
}

/* The API: collect, refcount, late free, checkpoint. */
static void api(void)
{
	struct rs_refcount rc = { 99, 99 };
	struct rs_stats st;
	void *lost[3];
	long n;

	for (int i = 0; i < 3; i++)
		lost[i] = mk(16);
	g_list = nd();
	g_interior = (char *)g_list + 8;
	g_chain = g_list;
	/* Hide the pointers the way a program hides one in the kernel. */
	for (int i = 0; i < 3; i++)
		lost[i] = (void *)((uintptr_t)lost[i] ^ 0x5a5a000000000000ull);
	scrub();
	n = rs_collect();
	printf("collect %ld\n", n);
	/* The caller's own registers and frame may hold copies too, so the
	 * check is on what the globals add: one more start pointer. */
	if (rs_get_refcount(g_list, &rc) == 0) {
		struct rs_refcount rc2 = { 0, 0 };

		g_extra = g_list;
		rs_get_refcount(g_list, &rc2);
		printf("refcount start>=2 %s interior %llu one more %s\n",
		       rc.start >= 2 ? "yes" : "no",
		       (unsigned long long)rc.interior,
		       rc2.start == rc.start + 1 ? "yes" : "no");
	}
	rs_checkpoint("after collect");
	/* Found again and freed: a late free. */
	free((void *)((uintptr_t)lost[0] ^ 0x5a5a000000000000ull));
	if (rs_get_stats(&st) == 0)
		printf("sweeps %llu unreachable %llu\n",
		       (unsigned long long)st.sweeps,
		       (unsigned long long)st.last_unreachable_blocks);
}

/* A fork child's own leak is its own; its parent's is not. */
static void forked(void)
{
	pid_t pid;
	int st;

	drop(mk(24)); /* the parent's: definite, once */
	scrub();
	pid = fork();
	if (pid == 0) {
		drop(mk(40)); /* the child's: definite */
		scrub();
		exit(0);
	}
	waitpid(pid, &st, 0);
}

/* A thread that blocks every signal cannot be stopped by the signal
 * fallback: that sweep must say it is partial and report nothing. */
static void *deaf_thread(void *arg)
{
	sigset_t all;
	char c;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_barrier_wait(&ready);
	if (read(block_pipe[0], &c, 1) < 0)
		perror("read");
	return NULL;
}

static void deaf(void)
{
	pthread_t t;

	if (pipe(block_pipe))
		exit(2);
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&t, NULL, deaf_thread, NULL);
	pthread_barrier_wait(&ready);
	drop(mk(8)); /* definite, if it can be judged */
	scrub();
	exit(0);
}

/* Allocation churn for the periodic triggers: 40 rounds of 5000 blocks
 * kept (the heap grows to about 6 MB) over about 0.4 s, a SIGUSR2 to
 * ourselves half way when the shim handles it (sweep_signal), and with
 * "churn-disabled" periodic sweeps turned off through the API first. */
static void churn(bool quiet)
{
	static void *keep[40][5000];
	struct sigaction old;

	if (quiet)
		rs_disable();
	for (int r = 0; r < 40; r++) {
		for (int i = 0; i < 5000; i++)
			keep[r][i] = mk(16 + (size_t)(i * 8) % 256);
		if (r == 20 && sigaction(SIGUSR2, NULL, &old) == 0 &&
		    old.sa_handler != SIG_DFL)
			raise(SIGUSR2);
		usleep(10000);
	}
	printf("periodic %s\n", rs_is_enabled() ? "on" : "off");
	for (int r = 0; r < 40; r++)
		for (int i = 0; i < 5000; i++)
			free(keep[r][i]);
}

/* The process ends with the last thread's pthread_exit (main left first):
 * main's block, the thread's dropped block and the one left in a local of
 * the thread function that returned are all lost. */
static void *last_thread(void *arg)
{
	void *volatile local = mk(40);

	drop(mk(8));
	usleep(50000);
	return local == NULL ? arg : NULL;
}

static void main_exits_first(void)
{
	pthread_t t;

	pthread_create(&t, NULL, last_thread, NULL);
	drop(mk(16));
	scrub();
	pthread_exit(NULL);
}

/* A thread parked in a signal handler on an alternate stack: its own stack,
 * where the interrupted code keeps a block, is scanned whole. */
static void on_alt(int sig)
{
	char c;

	pthread_barrier_wait(&ready);
	if (read(block_pipe[0], &c, 1) < 0)
		perror("read");
}

static void *alt_thread(void *arg)
{
	void *volatile keep = mk(32);
	stack_t ss = { .ss_size = 65536, .ss_flags = 0 };
	struct sigaction sa;

	ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alt;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	return (void *)keep;
}

static void altstack(void)
{
	pthread_t t;

	if (pipe(block_pipe))
		exit(2);
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&t, NULL, alt_thread, NULL);
	pthread_barrier_wait(&ready);
	drop(mk(8)); /* control: definite */
	scrub();
	exit(0);
}

/* Blocks the program never writes: three dropped 16-byte blocks, then a
 * leaked cycle of two. Their content is whatever the allocator left in
 * them, which must not read as a pointer (tests/sweep/untouched.sh). */
static void untouched(void)
{
	struct node *a, *b;

	for (int i = 0; i < 3; i++)
		drop(malloc(16));
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	a->next = b;
	b->next = a;
	drop(a);
	drop(b);
	a = b = NULL;
	scrub();
}

/* Roots a dlopen'd library brings: its data, small and large TLS, in the
 * main thread and in a thread blocked at exit. */
static void (*dl_keep)(void *, void *, void *);

static void *dl_thread(void *arg)
{
	char c;

	dl_keep(NULL, mk(40), mk(56));
	pthread_barrier_wait(&ready);
	if (read(block_pipe[0], &c, 1) < 0)
		perror("read");
	return NULL;
}

static void dl(const char *path)
{
	void *h = dlopen(path, RTLD_NOW);
	pthread_t t;

	if (!h || !(dl_keep = (void (*)(void *, void *, void *))dlsym(
			    h, "known_dl_keep"))) {
		fprintf(stderr, "known: %s\n", dlerror());
		exit(2);
	}
	dl_keep(mk(16), mk(32), mk(48));
	if (pipe(block_pipe))
		exit(2);
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&t, NULL, dl_thread, NULL);
	pthread_barrier_wait(&ready);
	drop(mk(8)); /* control: definite */
	scrub();
	exit(0);
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";

	if (!strcmp(s, "classes"))
		classes();
	else if (!strcmp(s, "exit-local"))
		return exit_local(true);
	else if (!strcmp(s, "return-local"))
		return exit_local(false);
	else if (!strcmp(s, "tls"))
		tls();
	else if (!strcmp(s, "threads"))
		threads();
	else if (!strcmp(s, "dead-stack"))
		dead_stack();
	else if (!strcmp(s, "regions"))
		regions();
	else if (!strcmp(s, "api"))
		api();
	else if (!strcmp(s, "fork"))
		forked();
	else if (!strcmp(s, "churn"))
		churn(false);
	else if (!strcmp(s, "churn-disabled"))
		churn(true);
	else if (!strcmp(s, "untouched"))
		untouched();
	else if (!strcmp(s, "altstack"))
		altstack();
	else if (!strcmp(s, "pthread-exit"))
		main_exits_first();
	else if (!strcmp(s, "deaf"))
		deaf();
	else if (!strcmp(s, "dlopen") && argc > 2)
		dl(argv[2]);
	else {
		fprintf(stderr, "usage: known SCENARIO\n");
		return 2;
	}
	return 0;
}
