/*
 * bench-sweep.c: sweep pause and cost against live heap size. Builds a
 * linked list of N 32-byte blocks (the deepest heap shape there is: a
 * recursive marker would need N frames), keeps it reachable from a
 * global, loses one block in every 1000, then asks for three sweeps.
 * The figures are in the trace's sweep events (pause_ns, duration_ns,
 * cpu_ns); this program prints the wall time of each rs_collect() call
 * and the unreachable count it returned, which must be N/1000.
 *
 * Afterwards it frees one lost block whose address it kept hidden: the
 * trace must show it as a late free (the sweep flagged it, in place or in
 * a snapshot).
 *
 * Usage: bench-sweep N   (run under the shim: refsweep run -- ...)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "refsweep.h"

struct node {
	struct node *next;
	long payload[3];
};

static struct node *volatile head;
static volatile uintptr_t hidden; /* a lost block, XOR-ed */
#define HIDE 0x5a5a000000000000ull

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000, lost = 0;
	struct node *tail = NULL;
	int bad = 0;

	for (long i = 0; i < n; i++) {
		struct node *x = malloc(sizeof(*x));

		x->next = NULL;
		x->payload[0] = x->payload[1] = x->payload[2] = i;
		if (i % 1000 == 999) {
			lost++; /* never linked */
			if (!hidden)
				hidden = (uintptr_t)x ^ HIDE;
			continue;
		}
		if (tail)
			tail->next = x;
		else
			head = x;
		tail = x;
	}
	tail = NULL;
	for (int r = 0; r < 3; r++) {
		double t0 = now();
		long found = rs_collect();

		printf("blocks %ld sweep %d: %.1f ms, %ld unreachable\n", n, r,
		       (now() - t0) * 1e3, found);
		bad |= found != lost;
	}
	free((void *)(hidden ^ HIDE));
	return bad;
}
