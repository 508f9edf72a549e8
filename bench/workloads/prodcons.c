/*
 * prodcons: two threads, the producer allocates and the consumer frees, so
 * every free is a cross-thread free. Stresses the allocator's remote-free
 * path (blocks going back to the thread that owns their page) and the
 * memory a thread cache can strand; under a leak finder, also the cost of
 * recording stacks from a second thread.
 *
 * Usage: prodcons BLOCKS    (deterministic sizes; a bounded single-producer
 * single-consumer ring, so at most RING blocks are in flight)
 * Prints a checksum that does not depend on the allocator or scheduling.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 4096

struct msg {
	size_t len;
	uint64_t seq;
	unsigned char data[];
};

static struct msg *ring[RING];
static uint64_t head; /* written by the producer */
static uint64_t tail; /* written by the consumer */
static uint64_t total;

static void wait_turn(unsigned *spins)
{
	/* Two cores: spin briefly, then let the other thread run. */
	if (++*spins > 64) {
		*spins = 0;
		sched_yield();
	}
}

__attribute__((noinline)) static struct msg *make_msg(uint64_t seq, uint64_t r)
{
	size_t len = 16 + r % 496;
	struct msg *m = malloc(sizeof *m + len);
	if (!m)
		return NULL;
	m->len = len;
	m->seq = seq;
	memset(m->data, (int)(seq & 0xff), len < 32 ? len : 32);
	return m;
}

static void *producer(void *arg)
{
	uint64_t n = *(uint64_t *)arg, r = 88172645463325252ull;
	unsigned spins = 0;

	for (uint64_t i = 0; i < n; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		struct msg *m = make_msg(i, r);
		if (!m)
			abort();
		while (i - __atomic_load_n(&tail, __ATOMIC_ACQUIRE) >= RING)
			wait_turn(&spins);
		ring[i % RING] = m;
		__atomic_store_n(&head, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t n = *(uint64_t *)arg, sum = 0;
	unsigned spins = 0;

	for (uint64_t i = 0; i < n; i++) {
		while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) == i)
			wait_turn(&spins);
		struct msg *m = ring[i % RING];
		sum += m->len + m->data[0] + (m->seq == i);
		free(m);
		__atomic_store_n(&tail, i + 1, __ATOMIC_RELEASE);
	}
	total = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: prodcons BLOCKS\n");
		return 2;
	}
	uint64_t n = strtoull(argv[1], NULL, 10);
	pthread_t p, c;
	if (pthread_create(&c, NULL, consumer, &n) ||
	    pthread_create(&p, NULL, producer, &n)) {
		fprintf(stderr, "prodcons: pthread_create failed\n");
		return 1;
	}
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	printf("prodcons %llu blocks, checksum %llu\n", (unsigned long long)n,
	       (unsigned long long)total);
	return 0;
}
