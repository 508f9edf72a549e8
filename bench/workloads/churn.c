/*
 * churn: single-thread allocation churn of random sizes. Stresses the
 * allocator's fast paths (thread cache, size classes, reuse of freed
 * blocks) and, under a leak finder, the cost of recording a stack per
 * allocation. Blocks come from a few call sites a handful of frames deep,
 * so stack capture has realistic work.
 *
 * Usage: churn OPS [SLOTS]   (deterministic: a fixed-seed xorshift PRNG)
 * Prints a checksum that does not depend on the allocator.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mostly small blocks, some medium, a few large: roughly the mix of a
 * program that builds strings and small objects. */
static size_t pick_size(void)
{
	uint64_t r = next();
	unsigned k = r & 127;

	if (k < 100)
		return 8 + (r >> 8) % 248;
	if (k < 124)
		return 256 + (r >> 8) % 3840;
	return 4096 + (r >> 8) % 61440;
}

__attribute__((noinline)) static char *make_small(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, (int)(n & 0xff), n < 64 ? n : 64);
	return p;
}

__attribute__((noinline)) static char *make_big(size_t n)
{
	char *p = malloc(n);
	if (p)
		memset(p, (int)(n & 0xff), 64);
	return p;
}

__attribute__((noinline)) static char *make_zeroed(size_t n)
{
	return calloc(1, n);
}

__attribute__((noinline)) static char *grow(char *p, size_t n)
{
	char *q = realloc(p, n);
	return q ? q : p;
}

__attribute__((noinline)) static uint64_t step(char **slot, size_t *len)
{
	uint64_t r = next();

	if (*slot) {
		uint64_t sum = (unsigned char)(*slot)[0] + *len;
		if ((r & 15) == 0 && *len < 8192) {
			*len *= 2;
			*slot = grow(*slot, *len);
		} else {
			free(*slot);
			*slot = NULL;
		}
		return sum;
	}
	*len = pick_size();
	if ((r & 31) == 0)
		*slot = make_zeroed(*len);
	else if (*len > 4096)
		*slot = make_big(*len);
	else
		*slot = make_small(*len);
	return 0;
}

__attribute__((noinline)) static uint64_t run(uint64_t ops, size_t nslots)
{
	char **slot = calloc(nslots, sizeof *slot);
	size_t *len = calloc(nslots, sizeof *len);
	uint64_t sum = 0;

	if (!slot || !len)
		return 0;
	for (uint64_t i = 0; i < ops; i++) {
		size_t k = next() % nslots;
		sum += step(&slot[k], &len[k]);
	}
	for (size_t k = 0; k < nslots; k++)
		free(slot[k]);
	free(slot);
	free(len);
	return sum;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: churn OPS [SLOTS]\n");
		return 2;
	}
	uint64_t ops = strtoull(argv[1], NULL, 10);
	size_t nslots = argc > 2 ? strtoull(argv[2], NULL, 10) : 8192;
	if (nslots == 0)
		nslots = 1;
	printf("churn %llu ops, checksum %llu\n", (unsigned long long)ops,
	       (unsigned long long)run(ops, nslots));
	return 0;
}
