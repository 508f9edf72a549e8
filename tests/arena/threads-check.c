/*
 * threads-check.c: the arena across threads and processes. Two threads
 * free each other's blocks; threads come and go leaving blocks behind;
 * a thread forks while another allocates, then parent and child both
 * allocate. Every block carries a pattern that is checked when it is freed,
 * so a slot handed out twice shows up as a corrupted pattern.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"

#define RING 1024

struct ring {
	void *slot[RING];
	atomic_uint head, tail;
};

static struct ring to_b, to_a;
static atomic_int corrupted;

static void stamp(unsigned char *p, size_t n, uint32_t tag)
{
	memcpy(p, &tag, 4);
	for (size_t i = 4; i < n; i++)
		p[i] = (unsigned char)(tag + i);
}

static void verify_free(unsigned char *p)
{
	size_t n = malloc_usable_size(p);
	uint32_t tag;

	memcpy(&tag, p, 4);
	for (size_t i = 4; i < n; i++) {
		if (p[i] != (unsigned char)(tag + i)) {
			atomic_fetch_add(&corrupted, 1);
			break;
		}
	}
	free(p);
}

static void push(struct ring *r, void *p)
{
	while (atomic_load(&r->head) - atomic_load(&r->tail) >= RING)
		sched_yield();
	r->slot[atomic_load(&r->head) % RING] = p;
	atomic_fetch_add(&r->head, 1);
}

static void *pop(struct ring *r)
{
	while (atomic_load(&r->head) == atomic_load(&r->tail))
		sched_yield();
	void *p = r->slot[atomic_load(&r->tail) % RING];
	atomic_fetch_add(&r->tail, 1);
	return p;
}

#define EXCHANGES 200000

static void *exchanger(void *arg)
{
	struct ring *out = arg == &to_b ? &to_b : &to_a;
	struct ring *in = out == &to_b ? &to_a : &to_b;
	unsigned seed = out == &to_b ? 1 : 2;

	for (int i = 0; i < EXCHANGES; i++) {
		size_t n = 4 + rand_r(&seed) % 600;
		unsigned char *p = malloc(n);
		stamp(p, n, (uint32_t)rand_r(&seed));
		push(out, p);
		verify_free(pop(in));
	}
	return NULL;
}

static void *leaver(void *arg)
{
	void **keep = arg;
	for (int i = 0; i < 50; i++)
		free(malloc(32 + i));
	*keep = malloc(100);
	stamp(*keep, 100, 77);
	return NULL;
}

static atomic_int stop_alloc;

static void *allocator(void *arg)
{
	unsigned seed = 9;
	void *hold[64] = { 0 };
	while (!atomic_load(&stop_alloc)) {
		int k = rand_r(&seed) % 64;
		free(hold[k]);
		hold[k] = malloc(1 + rand_r(&seed) % 5000);
	}
	for (int k = 0; k < 64; k++)
		free(hold[k]);
	return NULL;
}

static void *forker(void *arg)
{
	int *ok = arg;
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			/* The child's arena must work although the allocating
			 * thread vanished in the middle of whatever it did. */
			int bad = 0;
			for (int k = 0; k < 2000; k++) {
				unsigned char *p = malloc(1 + k % 3000);
				stamp(p, malloc_usable_size(p), (uint32_t)k);
				verify_free(p);
			}
			bad = atomic_load(&corrupted);
			_exit(bad ? 3 : 0);
		}
		for (int k = 0; k < 500; k++)
			free(malloc(1 + k));
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			*ok = 0;
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, exchanger, &to_b);
	pthread_create(&b, NULL, exchanger, &to_a);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK(atomic_load(&corrupted) == 0, "%d corrupted blocks after exchange",
	      atomic_load(&corrupted));

	void *kept[200];
	for (int i = 0; i < 200; i++) {
		pthread_t t;
		pthread_create(&t, NULL, leaver, &kept[i]);
		pthread_join(t, NULL);
	}
	for (int i = 0; i < 200; i++)
		verify_free(kept[i]);
	CHECK(atomic_load(&corrupted) == 0, "blocks of exited threads corrupted");

	pthread_t alloc_thread, fork_thread;
	int fork_ok = 1;
	pthread_create(&alloc_thread, NULL, allocator, NULL);
	pthread_create(&fork_thread, NULL, forker, &fork_ok);
	pthread_join(fork_thread, NULL);
	atomic_store(&stop_alloc, 1);
	pthread_join(alloc_thread, NULL);
	CHECK(fork_ok, "a fork child failed to allocate or found corruption");
	for (int k = 0; k < 1000; k++)
		free(malloc(1 + k));
	return check_done("threads-check");
}
