/* A lost block pointing into a cycle (the cycle is lost only because of
 * it: the block is definite, the cycle's members indirect), and a lost cycle
 * pointing at a block outside it (cycle, and an indirect tail). */
#include "common.h"

static NOINLINE void head_into_cycle(void)
{
	struct obj *head = new_obj();
	struct obj *b = new_obj(), *c = new_obj();
	b->next = c;
	c->next = b;
	head->next = b;
}

static NOINLINE void cycle_with_tail(void)
{
	struct obj *d = new_obj(), *e = new_obj();
	d->next = e;
	e->next = d;
	e->other = new_obj();
}

int main(void)
{
	head_into_cycle();
	cycle_with_tail();
	return 0;
}
