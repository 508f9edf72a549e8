/*
 * tracee: the program the trace tests run under the shim. Built with frame
 * pointers (and once more without, as tracee_nofp), with RUNPATH
 * $ORIGIN/.libs (where the test plugin is).
 *
 *   tracee leak              one definite leak through leak_a -> leak_b -> leak_c
 *   tracee threads N         N threads, each leaks one block
 *   tracee fork              parent and child each leak one block
 *   tracee exec PROG ARG...  leaks, then execv(PROG, ARG...)
 *   tracee execenv PROG      execve(PROG) with an empty environment
 *   tracee execfail PATH     an exec of PATH that must fail, then a leak
 *   tracee dlopen LIB        dlopen(LIB), a leak from inside it, dlclose
 *   tracee spam N            N malloc/free pairs (trace=all volume)
 *   tracee grow N            one block reallocated N times, then freed
 *   tracee churn N           N operations on a pool of live blocks
 *   tracee callers N         N rounds of one allocation site reached through
 *                            two callers with the same frame size, in turn
 *   tracee badfp             calls malloc with rbp holding garbage (hand-written
 *                            code that uses rbp as a register), leaks
 *   tracee closefds PATH     closes every descriptor from 3 on, then makes
 *                            3..1100 all refer to PATH (opened empty), leaks
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) static void *leak_c(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void *leak_b(size_t n)
{
	void *p = leak_c(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void leak_a(size_t n)
{
	void *p = leak_b(n);

	__asm__ volatile("" ::: "memory");
	memset(p, 0x5a, n);
	/* Through a volatile store the allocation cannot be optimised away;
	 * overwritten, no pointer to the block survives. */
	sink = p;
	sink = NULL;
}

/* Code that uses rbp as an ordinary register, as hand-written assembly
 * may, calling malloc with a value near 2^64 in it: a frame-pointer walk
 * must not follow it. */
__attribute__((noinline)) static void *garbage_rbp_malloc(size_t n)
{
	void *p;

	__asm__ volatile("mov %%rsp, %%rbx\n\t"
			 "sub $128, %%rsp\n\t" /* past the red zone */
			 "and $-16, %%rsp\n\t"
			 "push %%rbp\n\t"
			 "push %%rbp\n\t"
			 "mov $-16, %%rbp\n\t"
			 "call malloc@PLT\n\t"
			 "pop %%rbp\n\t"
			 "pop %%rbp\n\t"
			 "mov %%rbx, %%rsp\n\t"
			 : "=a"(p), "+D"(n)
			 :
			 : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
			   "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
			   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
			   "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
	return p;
}

/* One allocation site, two callers that leave the stack pointer at the
 * same place: the unwinder's stack cache must still tell them apart. */
__attribute__((noinline)) static void *site(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void *via_a(size_t n)
{
	void *p = site(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) static void *via_b(size_t n)
{
	void *p = site(n + 1);

	__asm__ volatile("" ::: "memory");
	return p;
}

static void *thread_main(void *arg)
{
	leak_a(48 + (size_t)arg);
	for (int i = 0; i < 1000; i++) {
		void *p = malloc(16 + (size_t)(i % 200));
		sink = p;
		free(p);
	}
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "tracee: bad arguments\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "leak")) {
		leak_a(40);
	} else if (!strcmp(mode, "threads") && argc == 3) {
		int n = atoi(argv[2]);
		pthread_t t[64];
		if (n < 1 || n > 64)
			return usage();
		for (long i = 0; i < n; i++)
			if (pthread_create(&t[i], NULL, thread_main, (void *)i))
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
	} else if (!strcmp(mode, "fork")) {
		leak_a(40);
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			leak_a(56);
			return 0;
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			return 1;
	} else if (!strcmp(mode, "exec") && argc >= 3) {
		leak_a(40);
		execv(argv[2], argv + 2);
		perror("execv");
		return 1;
	} else if (!strcmp(mode, "execenv") && argc == 3) {
		char *env[] = { NULL };
		char *av[] = { argv[2], NULL };
		leak_a(40);
		execve(argv[2], av, env);
		perror("execve");
		return 1;
	} else if (!strcmp(mode, "execfail") && argc == 3) {
		char *av[] = { argv[2], NULL };
		if (execv(argv[2], av) != -1)
			return 1;
		leak_a(24);
	} else if (!strcmp(mode, "dlopen") && argc == 3) {
		void *h = dlopen(argv[2], RTLD_NOW);
		if (!h) {
			fprintf(stderr, "tracee: %s\n", dlerror());
			return 1;
		}
		void *(*alloc)(size_t) = (void *(*)(size_t))dlsym(h, "plug_alloc");
		if (!alloc)
			return 1;
		memset(alloc(72), 1, 72);
		if (dlclose(h))
			return 1;
	} else if (!strcmp(mode, "spam") && argc == 3) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++) {
			void *p = malloc(32);
			sink = p;
			free(p);
		}
	} else if (!strcmp(mode, "grow") && argc == 3) {
		long n = atol(argv[2]);
		void *p = malloc(16);
		for (long i = 0; i < n && p; i++)
			p = realloc(p, 16 + (size_t)(i * 37 % 4000));
		free(p);
	} else if (!strcmp(mode, "churn") && argc == 3) {
		enum { POOL = 4096 };
		static void *pool[POOL];
		long n = atol(argv[2]);
		unsigned x = 12345;
		for (long i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			unsigned k = (x >> 8) % POOL;
			free(pool[k]);
			pool[k] = malloc(16 + (x >> 20) % 512);
		}
		for (int k = 0; k < POOL; k++)
			free(pool[k]);
	} else if (!strcmp(mode, "callers") && argc == 3) {
		long n = atol(argv[2]);
		for (long i = 0; i < n; i++) {
			free(via_a(16));
			free(via_b(16));
		}
	} else if (!strcmp(mode, "badfp")) {
		void *p = garbage_rbp_malloc(24);
		memset(p, 1, 24);
		sink = p;
		sink = NULL;
	} else if (!strcmp(mode, "closefds") && argc == 3) {
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return 1;
		for (int k = 3; k <= 1100; k++)
			if (k != fd && dup2(fd, k) < 0)
				return 1;
		leak_a(40);
	} else {
		return usage();
	}
	printf("tracee %s done\n", mode);
	return 0;
}
