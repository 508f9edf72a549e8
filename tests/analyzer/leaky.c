/*
 * leaky.c: a real program with known leaks, for the analyzer's end-to-end
 * test with the real shim (tests/analyzer/shim.sh): a definite leak made
 * before fork (the child inherits it: it must count once), a leaked
 * two-block cycle, a leak of the fork child's own. Blocks are zeroed so
 * no stale bytes look like pointers. `leaky N` leaks nothing and exits N.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct node {
	struct node *other;
	char pad[56];
};

static void *volatile sink;

static __attribute__((noinline)) void leak_definite(void)
{
	sink = calloc(1, 100);
	sink = NULL;
}

static __attribute__((noinline)) void make_pair(void)
{
	struct node *a = calloc(1, sizeof(*a));
	struct node *b = calloc(1, sizeof(*b));

	a->other = b;
	b->other = a;
	sink = a;
	sink = NULL;
}

static __attribute__((noinline)) void child_leak(void)
{
	sink = calloc(1, 200);
	sink = NULL;
}

int main(int argc, char **argv)
{
	pid_t pid;
	int st;

	if (argc > 1)
		return atoi(argv[1]);
	leak_definite();
	make_pair();
	pid = fork();
	if (pid == 0) {
		child_leak();
		return 0;
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 3;
	return 0;
}
