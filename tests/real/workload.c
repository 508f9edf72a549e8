/* A C file for the gcc test: a few functions and a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct entry { const char *key; int value; };
static int cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}
int main(void)
{
	struct entry table[] = { { "pear", 3 }, { "apple", 1 }, { "fig", 7 }, { "kiwi", 2 } };
	qsort(table, 4, sizeof table[0], cmp);
	for (int i = 0; i < 4; i++)
		printf("%s=%d\n", table[i].key, table[i].value);
	return 0;
}
