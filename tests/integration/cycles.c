/* Leaked reference cycles of 2, 3 and 10 blocks, a block pointing at
 * itself, and a lost chain a -> b -> c for contrast. */
#include "common.h"

static NOINLINE void ring(int n)
{
	struct obj *first = new_obj(), *o = first;
	for (int i = 1; i < n; i++) {
		o->next = new_obj();
		o = o->next;
	}
	o->next = first;
}

static NOINLINE void self_loop(void)
{
	struct obj *o = new_obj();
	o->next = o;
}

static NOINLINE void chain(void)
{
	struct obj *a = new_obj();
	a->next = new_obj();
	a->next->next = new_obj();
}

int main(void)
{
	ring(2);
	ring(3);
	ring(10);
	self_loop();
	chain();
	return 0;
}
