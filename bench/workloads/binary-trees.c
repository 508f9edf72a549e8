/*
 * binary-trees: the classic allocation benchmark (Computer Language
 * Benchmarks Game), single-threaded. A long-lived tree of the maximum depth
 * stays live for the whole run while many short-lived trees are built,
 * walked and freed. Stresses the allocation of many tiny blocks (16-byte
 * nodes {left,right}: per-block overhead shows directly in peak RSS) with a
 * large live heap, which a leak finder must also keep metadata for and, when
 * it sweeps, scan.
 *
 * Usage: binary-trees MAXDEPTH   (output is the benchmark's usual text)
 */
#include <stdio.h>
#include <stdlib.h>

struct node {
	struct node *left, *right;
};

__attribute__((noinline)) static struct node *make(int depth)
{
	struct node *n = malloc(sizeof *n);
	if (!n)
		abort();
	if (depth > 0) {
		n->left = make(depth - 1);
		n->right = make(depth - 1);
	} else {
		n->left = n->right = NULL;
	}
	return n;
}

static long check(const struct node *n)
{
	return 1 + (n->left ? check(n->left) + check(n->right) : 0);
}

static void release(struct node *n)
{
	if (n->left) {
		release(n->left);
		release(n->right);
	}
	free(n);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: binary-trees MAXDEPTH\n");
		return 2;
	}
	int min_depth = 4, max_depth = atoi(argv[1]);
	if (max_depth < min_depth + 2)
		max_depth = min_depth + 2;

	struct node *stretch = make(max_depth + 1);
	printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1,
	       check(stretch));
	release(stretch);

	struct node *long_lived = make(max_depth);
	for (int d = min_depth; d <= max_depth; d += 2) {
		long iterations = 1L << (max_depth - d + min_depth), sum = 0;
		for (long i = 0; i < iterations; i++) {
			struct node *t = make(d);
			sum += check(t);
			release(t);
		}
		printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d,
		       sum);
	}
	printf("long lived tree of depth %d\t check: %ld\n", max_depth,
	       check(long_lived));
	release(long_lived);
	return 0;
}
