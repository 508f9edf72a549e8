/*
 * demo.c: the quick start's demo, a program whose leaks are known.
 *
 *   - a lost block: 100 bytes whose only pointer is overwritten  -> definite
 *   - a lost tree: a root with two children and four grandchildren; only the
 *     root's pointer is dropped                                  -> 1 definite,
 *                                                                   6 indirect
 *   - a leaked reference cycle one -> two -> three -> one, the garbage that
 *     reference counting alone never frees                       -> 3 cycle
 *   - a block still referenced from a global at exit             -> reachable
 *
 * Every structure is built in a function of its own so that no pointer to
 * it is left in main's frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *left, *right;
	char name[16];
};

struct refcounted {
	int refs;
	struct refcounted *next;
	char name[8];
};

/* Not static: the compiler would drop a store nobody reads. */
char *still_here;

static struct node *tree(int depth, const char *name)
{
	struct node *n = calloc(1, sizeof *n);
	snprintf(n->name, sizeof n->name, "%s", name);
	if (depth > 1) {
		n->left = tree(depth - 1, "left");
		n->right = tree(depth - 1, "right");
	}
	return n;
}

__attribute__((noinline)) static void lose_a_block(void)
{
	char *buf = malloc(100);
	strcpy(buf, "nobody frees me");
	printf("block: %s\n", buf);
}

__attribute__((noinline)) static void lose_a_tree(void)
{
	struct node *root = tree(3, "root");
	printf("tree: %s has %s and %s\n", root->name, root->left->name,
	       root->right->name);
}

__attribute__((noinline)) static void leak_a_cycle(void)
{
	struct refcounted *one = calloc(1, sizeof *one);
	struct refcounted *two = calloc(1, sizeof *two);
	struct refcounted *three = calloc(1, sizeof *three);

	strcpy(one->name, "one");
	strcpy(two->name, "two");
	strcpy(three->name, "three");
	one->next = two;
	two->next = three;
	three->next = one;
	one->refs = two->refs = three->refs = 1;
	printf("cycle: %s -> %s -> %s -> %s\n", one->name, one->next->name,
	       one->next->next->name, one->next->next->next->name);
}

int main(void)
{
	still_here = strdup("reachable from a global");
	lose_a_block();
	lose_a_tree();
	leak_a_cycle();
	return 0;
}
