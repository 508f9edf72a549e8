/*
 * api-check.c: every function of the malloc family under the shim, with the
 * edge cases where glibc's behaviour is the contract: alignment, malloc(0),
 * realloc with NULL and 0, overflow and impossible sizes, errno, and frees
 * of things that are not live blocks. Run by api.sh with the shim preloaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* Resident memory of this process in KiB, from /proc/self/statm. */
static long resident_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void fill_check(unsigned char *p, size_t n, const char *what)
{
	memset(p, 0xab, n);
	for (size_t i = 0; i < n; i += 97)
		CHECK(p[i] == 0xab, "%s byte %zu", what, i);
}

int main(void)
{
	/* Only the shim answers the requested size here; glibc says 24. */
	void *probe = malloc(5);
	CHECK(malloc_usable_size(probe) == 5, "shim not active (usable %zu)",
	      malloc_usable_size(probe));
	free(probe);

	/* Alignment of at least 16 for every size. */
	for (size_t n = 0; n < 70000; n = n * 2 + 1) {
		void *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu)", n);
		CHECK(aligned(p, 16), "malloc(%zu) = %p", n, p);
		fill_check(p, n, "malloc");
		free(p);
	}

	/* malloc(0) gives unique, freeable pointers. */
	void *z1 = malloc(0), *z2 = malloc(0);
	CHECK(z1 && z2 && z1 != z2, "malloc(0) %p %p", z1, z2);
	free(z1);
	free(z2);

	/* calloc zeroes, also memory that was used before. */
	for (int round = 0; round < 2; round++) {
		unsigned char *c = calloc(100, 33);
		CHECK(c != NULL, "calloc");
		int nonzero = 0;
		for (size_t i = 0; i < 3300; i++)
			nonzero |= c[i];
		CHECK(!nonzero, "calloc memory not zero (round %d)", round);
		memset(c, 0xff, 3300);
		free(c);
	}
	unsigned char *big = calloc(1, 5 << 20);
	CHECK(big && big[0] == 0 && big[(5 << 20) - 1] == 0, "large calloc");
	free(big);

	/* Overflow and impossible sizes: NULL and ENOMEM, no abort. */
	errno = 0;
	CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow");
	errno = 0;
	CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM, "malloc(SIZE_MAX)");
	errno = 0;
	CHECK(malloc(PTRDIFF_MAX - 100) == NULL && errno == ENOMEM, "malloc(huge)");
	errno = 0;
	CHECK(reallocarray(NULL, SIZE_MAX / 4, 8) == NULL && errno == ENOMEM,
	      "reallocarray overflow");

	/* realloc: NULL acts as malloc, 0 frees and returns NULL, contents
	 * survive growth and shrinking, in place or moved. */
	char *r = realloc(NULL, 10);
	CHECK(r != NULL, "realloc(NULL, 10)");
	memcpy(r, "abcdefghi", 10);
	for (size_t n = 11; n < (1 << 22); n = n * 3) {
		r = realloc(r, n);
		CHECK(r && memcmp(r, "abcdefghi", 10) == 0, "realloc grow %zu", n);
		CHECK(malloc_usable_size(r) == n, "usable after realloc %zu", n);
	}
	r = realloc(r, 12);
	CHECK(r && memcmp(r, "abcdefghi", 10) == 0, "realloc shrink");
	CHECK(realloc(r, 0) == NULL, "realloc(p, 0) returns NULL");

	/* Aligned allocation at every power of two up to 1 MiB. */
	for (size_t a = 1; a <= (1 << 20); a <<= 1) {
		void *p = NULL;
		int rc = posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, 100);
		CHECK(rc == 0 && aligned(p, a), "posix_memalign(%zu) %p", a, p);
		free(p);
		p = aligned_alloc(a, 3 * a);
		CHECK(p && aligned(p, a), "aligned_alloc(%zu)", a);
		fill_check(p, 3 * a, "aligned_alloc");
		free(p);
		p = memalign(a, 1);
		CHECK(p && aligned(p, a), "memalign(%zu)", a);
		free(p);
	}
	void *bad = (void *)1;
	CHECK(posix_memalign(&bad, 24, 10) == EINVAL && bad == (void *)1,
	      "posix_memalign bad alignment");
	CHECK(posix_memalign(&bad, 4, 10) == EINVAL, "posix_memalign below void*");
	errno = 0;
	CHECK(aligned_alloc(48, 96) == NULL && errno == EINVAL,
	      "aligned_alloc bad alignment");
	void *m48 = memalign(48, 10);
	CHECK(m48 && aligned(m48, 64), "memalign rounds 48 up to 64");
	free(m48);
	void *v = valloc(1);
	CHECK(v && aligned(v, 4096), "valloc");
	free(v);
	void *pv = pvalloc(1);
	CHECK(pv && aligned(pv, 4096) && malloc_usable_size(pv) == 4096, "pvalloc");
	free(pv);

	/* The rest of the family answers sensibly. */
	CHECK(malloc_usable_size(NULL) == 0, "usable(NULL)");
	CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1, "mallopt");
	/* volatile: the compiler may otherwise drop an unused malloc/free pair */
	void *volatile keep = malloc(1000);
	struct mallinfo2 mi = mallinfo2();
	CHECK(mi.uordblks >= 1000, "mallinfo2 in use %zu", mi.uordblks);
	free(keep);
	malloc_trim(0);
	FILE *devnull = fopen("/dev/null", "w");
	CHECK(devnull && malloc_info(0, devnull) == 0, "malloc_info");
	errno = 0;
	CHECK(malloc_info(1, devnull) == -1 && errno == EINVAL, "malloc_info options");
	fclose(devnull);

	/* Large frees give memory back to the kernel: 256 MiB touched and
	 * freed must not stay resident (the arena keeps at most 8 MiB of
	 * released runs). */
	long before = resident_kib();
	void *chunks[64];
	for (int i = 0; i < 64; i++) {
		chunks[i] = malloc((4 << 20) + i * 4096);
		memset(chunks[i], 1, (4 << 20) + i * 4096);
	}
	long peak = resident_kib();
	for (int i = 0; i < 64; i++)
		free(chunks[i]);
	long after = resident_kib();
	CHECK(peak - before > 200 * 1024, "touching 256 MiB raised RSS by %ld KiB",
	      peak - before);
	CHECK(after - before < 16 * 1024, "RSS still %ld KiB above the start after "
	      "freeing", after - before);

	/* So do small ones, metadata included: 4 million 16-byte blocks are
	 * 64 MiB of slots and 32 MiB of metadata chunks. */
	enum { NSMALL = 4 << 20 };
	void **small = malloc(NSMALL * sizeof *small);
	memset(small, 1, NSMALL * sizeof *small); /* not 0: malloc+memset(0) may become calloc */
	before = resident_kib();
	for (int i = 0; i < NSMALL; i++) {
		small[i] = malloc(16);
		memset(small[i], 7, 16);
	}
	peak = resident_kib();
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	after = resident_kib();
	free(small);
	CHECK(peak - before > 80 * 1024, "4M small blocks raised RSS by %ld KiB",
	      peak - before);
	CHECK(after - before < 16 * 1024, "RSS still %ld KiB above the start after "
	      "freeing the small blocks", after - before);

	/* A large block at the end of the heap grows in place, as mremap
	 * would, and keeps its contents; the first step may move it there. */
	char *grow = malloc(1 << 20);
	memset(grow, 0x5a, 1 << 20);
	int moved = 0;
	for (size_t n = 2 << 20; n <= (32 << 20); n *= 2) {
		char *q = realloc(grow, n);
		CHECK(q != NULL, "realloc to %zu failed", n);
		if (!q)
			break;
		moved += q != grow;
		grow = q;
		CHECK(grow[0] == 0x5a && grow[(1 << 20) - 1] == 0x5a,
		      "realloc to %zu lost the contents", n);
		memset(grow + n / 2, 0x5a, n / 2);
	}
	CHECK(moved <= 1, "a growing large block moved %d times of 5", moved);
	free(grow);

	/* Blocks above the cached sizes (5 KiB to 128 KiB) go straight back
	 * to their spans: a churn over them reuses the same few slots. */
	void *seen[8];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 8; i++) {
			void *p = malloc(60000 + i);
			if (round)
				CHECK(p == seen[i], "uncached block %d not reused", i);
			seen[i] = p;
			free(p);
		}
	}

	/* free keeps errno; frees of non-blocks are survived. */
	void *e = malloc(10);
	errno = 1234;
	free(e);
	CHECK(errno == 1234, "free changed errno to %d", errno);
	char *d = malloc(40);
	free(d);
	free(d);             /* double free */
	char *in = malloc(64);
	free(in + 16);       /* interior */
	int local;
	free(&local);        /* not heap */
	free((void *)0x1234); /* junk */
	CHECK(in[0] == in[0], "survived bad frees");
	/* The slot of the double-freed block is handed out once, not twice. */
	void *a1 = malloc(40), *a2 = malloc(40);
	CHECK(a1 != a2, "double free put a slot on a list twice");
	free(a1);
	free(a2);
	free(in);
	return check_done("api-check");
}
