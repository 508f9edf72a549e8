/* A dlopen'ed object that allocates: its blocks' stacks start in it. */
#include <stdlib.h>

void *plug_alloc(size_t n);

__attribute__((noinline)) void *plug_alloc(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory"); /* no tail call: keep our frame */
	return p;
}
