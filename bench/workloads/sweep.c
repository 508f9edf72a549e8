/*
 * sweep: the cost of one leak check on a large live heap. Builds N live
 * blocks (a linked list in shuffled order, so marking chases pointers all
 * over the heap, with a side array of every 64th node as extra start
 * pointers), loses N/100 more blocks as two-block reference cycles, then
 * asks for a full check several times and prints how long each took on
 * stderr ("collect I NS RESULT"). Under refsweep the check is rs_collect();
 * under LeakSanitizer __lsan_do_recoverable_leak_check(); under valgrind
 * VALGRIND_DO_QUICK_LEAK_CHECK; natively nothing (the timing is then the
 * call overhead). Stresses the stop, the root scan and the mark of the live
 * heap: the pause a program sees.
 *
 * With a third argument `lose`, the shuffled list is closed into a ring and
 * every root of it dropped before the checks: N blocks lost as one
 * reference cycle in no address order, the worst case for classifying.
 *
 * Usage: sweep N [COLLECTS [lose]]   (default 5 collects)
 * stdout holds only what does not depend on the tool.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "refsweep.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* Present only when liblsan is preloaded (or linked). */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

struct node {
	struct node *next;
	uint64_t payload[2];
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Globals (not static, and read at the end) so that the compiler keeps them:
 * they are the roots of the live heap. */
struct node *bench_list;
struct node **bench_side;

__attribute__((noinline)) static void build(size_t n)
{
	struct node **all = malloc(n * sizeof *all);
	if (!all)
		abort();
	for (size_t i = 0; i < n; i++) {
		all[i] = malloc(sizeof(struct node));
		if (!all[i])
			abort();
		all[i]->payload[0] = i;
		all[i]->payload[1] = next();
	}
	/* Link in a shuffled order: the mark follows pointers across the
	 * whole heap rather than through consecutive addresses. */
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = next() % (i + 1);
		struct node *t = all[i];
		all[i] = all[j];
		all[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		all[i]->next = i + 1 < n ? all[i + 1] : NULL;
	bench_list = all[0];
	bench_side = malloc((n / 64 + 1) * sizeof *bench_side);
	if (!bench_side)
		abort();
	for (size_t i = 0; i < n; i += 64)
		bench_side[i / 64] = all[i];
	free(all);
}

__attribute__((noinline)) static void lose_cycles(size_t pairs)
{
	for (size_t i = 0; i < pairs; i++) {
		struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b);
		if (!a || !b)
			abort();
		a->next = b;
		b->next = a;
		a->payload[0] = b->payload[0] = 0;
	}
}

static long check_once(void)
{
	if (rs_present())
		return rs_collect();
	if (__lsan_do_recoverable_leak_check)
		return __lsan_do_recoverable_leak_check();
#ifdef HAVE_MEMCHECK
	if (RUNNING_ON_VALGRIND) {
		unsigned long leaked = 0, dubious = 0, reachable = 0, supp = 0;
		VALGRIND_DO_QUICK_LEAK_CHECK;
		VALGRIND_COUNT_LEAK_BLOCKS(leaked, dubious, reachable, supp);
		(void)dubious, (void)reachable, (void)supp;
		return (long)leaked;
	}
#endif
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (argc > 3 && strcmp(argv[3], "lose") != 0)) {
		fprintf(stderr, "usage: sweep N [COLLECTS [lose]]\n");
		return 2;
	}
	size_t n = strtoull(argv[1], NULL, 10);
	int collects = argc > 2 ? atoi(argv[2]) : 5;
	bool lose = argc > 3;
	if (n < 2)
		n = 2;
	build(n);
	lose_cycles(n / 200);
	if (lose) {
		struct node *last = bench_list;

		while (last->next)
			last = last->next;
		last->next = bench_list;
		bench_list = NULL;
		free(bench_side);
		bench_side = NULL;
	}
	for (int i = 0; i < collects; i++) {
		uint64_t t0 = now_ns();
		long r = check_once();
		fprintf(stderr, "collect %d %llu %ld\n", i,
			(unsigned long long)(now_ns() - t0), r);
	}
	uint64_t sum = 0;
	size_t len = 0;
	for (struct node *p = bench_list; p; p = p->next, len++)
		sum += p->payload[0];
	for (size_t i = 0; bench_side && i < n; i += 64)
		sum += bench_side[i / 64]->payload[0] & 1;
	printf("sweep %zu live blocks, %zu lost in cycles, list %zu sum %llu\n",
	       n, n / 200 * 2, len, (unsigned long long)sum);
	return 0;
}
