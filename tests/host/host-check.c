/*
 * host-check.c: behaviours a wrapped program must keep, whatever the shim
 * does around it. Each case prints what it observed; host.sh runs every
 * case with and without the shim (sweeping every 10 ms) and compares
 * stdout, stderr and the exit status byte for byte.
 *
 * usage: host-check CASE    (host-check list prints the cases)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

extern char **environ;

/* No signal handler and no blocked signal the program did not set up. */
static int signals(void)
{
	int changed = 0;
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;
		if (sigaction(s, NULL, &sa) != 0)
			continue;
		if (sa.sa_handler != SIG_DFL && !(s == SIGPIPE && sa.sa_handler == SIG_IGN))
			changed++;
	}
	sigset_t mask;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	int blocked = 0;
	for (int s = 1; s < NSIG; s++)
		blocked += sigismember(&mask, s) == 1;
	printf("handlers changed: %d, signals blocked: %d\n", changed, blocked);
	return 0;
}

static volatile sig_atomic_t got;
static void on_usr1(int s) { got++; }

/* The program's own handlers see every signal it is sent, during sweeps. */
static int own_handler(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 200; i++) {
		free(malloc(1000 + i));
		kill(getpid(), SIGUSR1);
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	printf("SIGUSR1 delivered %d times\n", (int)got);
	return 0;
}

/* Calls the kernel restarts after a handler (read on a pipe, SA_RESTART)
 * and calls it never restarts after one (nanosleep, poll): under the
 * signal fallback only the second kind has a documented race. */
static int eintr_restartable, eintr_not_restartable;

static void *blocked_reader(void *arg)
{
	int fd = *(int *)arg;
	char c;
	if (read(fd, &c, 1) < 0 && errno == EINTR)
		__atomic_fetch_add(&eintr_restartable, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec ts = { 0, 300000000 };
	if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
		__atomic_fetch_add(&eintr_not_restartable, 1, __ATOMIC_RELAXED);
	struct pollfd p = { -1, 0, 0 };
	if (poll(&p, 1, 200) < 0 && errno == EINTR)
		__atomic_fetch_add(&eintr_not_restartable, 1, __ATOMIC_RELAXED);
	return NULL;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_ready;

static void *cond_waiter(void *arg)
{
	pthread_mutex_lock(&mu);
	while (!cond_ready)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Threads parked in read, nanosleep, poll and pthread_cond_wait while the
 * main thread allocates (and the shim sweeps): no EINTR, no lost wake-up. */
static int blocking(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	pthread_t r, s, c;
	pthread_create(&r, NULL, blocked_reader, &fds[0]);
	pthread_create(&s, NULL, sleeper, NULL);
	pthread_create(&c, NULL, cond_waiter, NULL);
	void *keep[512] = { 0 };
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 512; i++) {
			free(keep[i]);
			keep[i] = malloc(64 + i);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 600);
	if (write(fds[1], "x", 1) != 1)
		return 1;
	pthread_mutex_lock(&mu);
	cond_ready = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(r, NULL);
	pthread_join(s, NULL);
	pthread_join(c, NULL);
	for (int i = 0; i < 512; i++)
		free(keep[i]);
	printf("EINTR in read: %d\n", eintr_restartable);
	printf("EINTR in nanosleep or poll: %d\n", eintr_not_restartable);
	return 0;
}

/* vfork children that exec and that _exit, and posix_spawn. */
static int children(void)
{
	for (int i = 0; i < 20; i++) {
		pid_t pid = vfork();
		if (pid == 0) {
			if (i % 2)
				_exit(i);
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("vfork %d: status %d\n", i, WEXITSTATUS(st));
	}
	pid_t pid;
	char *argv[] = { "sh", "-c", "echo spawned; exit 3", NULL };
	/* Our buffered lines first, or the child's echo races them. */
	fflush(stdout);
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		return 1;
	int st;
	waitpid(pid, &st, 0);
	printf("posix_spawn: status %d\n", WEXITSTATUS(st));
	return 0;
}

static void *forking_thread(void *arg)
{
	for (int i = 0; i < 10; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *p = malloc(100);
			snprintf(p, 100, "child %d", i);
			_exit(strlen(p) == 7 ? 0 : 1);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WEXITSTATUS(st) != 0)
			printf("fork child %d failed\n", i);
	}
	return NULL;
}

static void *churner(void *arg)
{
	for (int i = 0; i < 200000; i++)
		free(malloc(16 + i % 500));
	return NULL;
}

/* fork from a thread while another allocates. */
static int fork_threads(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, churner, NULL);
	pthread_create(&b, NULL, forking_thread, NULL);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	printf("fork from a thread: done\n");
	return 0;
}

/* dlopen/dlclose again and again, calling into the library. */
static int dl(void)
{
	for (int i = 0; i < 50; i++) {
		void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
		if (!h)
			return 1;
		double (*cosine)(double) = (double (*)(double))dlsym(h, "cos");
		if (!cosine || cosine(0.0) != 1.0)
			return 2;
		dlclose(h);
	}
	printf("dlopen/dlclose: 50 rounds\n");
	return 0;
}

static ucontext_t main_ctx, co_ctx;
static int co_steps;

static void coroutine(void)
{
	for (;;) {
		char *p = malloc(256);
		snprintf(p, 256, "step %d", co_steps);
		co_steps++;
		free(p);
		swapcontext(&co_ctx, &main_ctx);
	}
}

/* A coroutine on a malloc'd stack, switched to and fro. */
static int context(void)
{
	size_t size = 256 * 1024;
	void *stack = malloc(size);
	getcontext(&co_ctx);
	co_ctx.uc_stack.ss_sp = stack;
	co_ctx.uc_stack.ss_size = size;
	co_ctx.uc_link = &main_ctx;
	makecontext(&co_ctx, coroutine, 0);
	for (int i = 0; i < 1000; i++) {
		swapcontext(&main_ctx, &co_ctx);
		free(malloc(100));
	}
	printf("swapcontext: %d steps\n", co_steps);
	free(stack);
	return 0;
}

/* errno across the allocator. */
static int errno_kept(void)
{
	int bad = 0;
	for (int i = 0; i < 1000; i++) {
		errno = 1000 + i;
		void *p = malloc(i * 37);
		if (errno != 1000 + i)
			bad++;
		errno = 2000 + i;
		free(p);
		if (errno != 2000 + i)
			bad++;
	}
	printf("errno changed %d times\n", bad);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(void);
} cases[] = {
	{ "signals", signals },       { "own_handler", own_handler },
	{ "blocking", blocking },     { "children", children },
	{ "fork_threads", fork_threads }, { "dl", dl },
	{ "context", context },       { "errno", errno_kept },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: host-check CASE|list\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (strcmp(argv[1], "list") == 0)
			printf("%s\n", cases[i].name);
		else if (strcmp(argv[1], cases[i].name) == 0)
			return cases[i].run();
	}
	return strcmp(argv[1], "list") == 0 ? 0 : 2;
}
