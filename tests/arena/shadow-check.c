/*
 * shadow-check.c: random operations on the malloc family checked against a
 * shadow model. The model remembers every live block's size, alignment and
 * the seed of the pattern written into it; each operation first verifies
 * the block it touches, so an overlap, a lost write, a wrong size or a
 * misaligned block is caught at the next operation on either block.
 *
 * usage: shadow-check [operations] [seed]   (default 10,000,000 and 1)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

#define SLOTS 8192

struct shadow {
	unsigned char *p;
	size_t size, align;
	uint64_t seed;
};

static struct shadow live[SLOTS];
static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic for a given seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static size_t random_size(void)
{
	uint64_t r = rng() % 1000;
	if (r < 5)
		return 0;
	if (r < 800)
		return 1 + rng() % 256;
	if (r < 980)
		return 257 + rng() % 8000;
	return 8257 + rng() % 400000;
}

/* The pattern covers the first and last 64 bytes and one byte every 4 KiB
 * between: enough to catch overlaps without large blocks dominating. */
static size_t next_index(size_t i, size_t n)
{
	if (n <= 192 || i < 63 || i >= n - 64)
		return i + 1;
	size_t next = (i + 4096) & ~(size_t)4095;
	return next < n - 64 ? next : n - 64;
}

/* Writes or checks the pattern of s, in the index sequence of its size, at
 * indexes below limit. */
static void pattern_upto(struct shadow *s, int write, size_t limit)
{
	for (size_t i = 0; i < limit; i = next_index(i, s->size)) {
		unsigned char want = (unsigned char)(s->seed + i * 131);
		if (write) {
			s->p[i] = want;
		} else if (s->p[i] != want) {
			CHECK(0, "block %p size %zu byte %zu is %u, want %u",
			      (void *)s->p, s->size, i, s->p[i], want);
			return;
		}
	}
}

static void pattern(struct shadow *s, int write)
{
	pattern_upto(s, write, s->size);
}

static void verify(struct shadow *s)
{
	CHECK(((uintptr_t)s->p & (s->align - 1)) == 0, "alignment %zu of %p", s->align,
	      (void *)s->p);
	CHECK(malloc_usable_size(s->p) == s->size, "usable %zu, want %zu",
	      malloc_usable_size(s->p), s->size);
	pattern(s, 0);
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 10000000;
	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	long done[6] = { 0 };

	for (long op = 0; op < ops && check_failed < 20; op++) {
		struct shadow *s = &live[rng() % SLOTS];
		if (s->p)
			verify(s);
		unsigned kind = (unsigned)(rng() % 100);
		if (s->p && kind < 40) {
			free(s->p);
			s->p = NULL;
			done[0]++;
			continue;
		}
		if (s->p && kind < 60) {
			size_t n = random_size();
			size_t keep = n < s->size ? n : s->size;
			unsigned char *q = realloc(s->p, n);
			if (n == 0) {
				CHECK(q == NULL, "realloc(p, 0) returned %p", (void *)q);
				s->p = NULL;
				continue;
			}
			CHECK(q != NULL, "realloc to %zu failed", n);
			struct shadow old = *s;
			old.p = q;
			pattern_upto(&old, 0, keep);
			s->p = q;
			s->size = n;
			s->align = 16;
			s->seed = rng();
			pattern(s, 1);
			done[1]++;
			continue;
		}
		if (s->p)
			free(s->p);
		size_t n = random_size();
		s->align = 16;
		s->seed = rng();
		if (kind < 70) {
			s->p = calloc(1, n);
			CHECK(s->p != NULL, "calloc %zu", n);
			for (size_t i = 0; i < n; i += 61)
				CHECK(s->p[i] == 0, "calloc byte %zu not zero", i);
			done[2]++;
		} else if (kind < 78) {
			s->align = (size_t)1 << (4 + rng() % 10);
			void *p = NULL;
			CHECK(posix_memalign(&p, s->align, n) == 0, "posix_memalign");
			s->p = p;
			done[3]++;
		} else {
			s->p = malloc(n);
			CHECK(s->p != NULL, "malloc %zu", n);
			done[4]++;
		}
		s->size = n;
		pattern(s, 1);
	}
	for (int i = 0; i < SLOTS; i++) {
		if (live[i].p) {
			verify(&live[i]);
			free(live[i].p);
		}
	}
	fprintf(stderr, "shadow-check: %ld ops: %ld free, %ld realloc, %ld calloc, "
		"%ld memalign, %ld malloc\n", ops, done[0], done[1], done[2], done[3],
		done[4]);
	return check_done("shadow-check");
}
