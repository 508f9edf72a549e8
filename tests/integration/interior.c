/* Interior and unaligned pointers. A global points into the middle of x,
 * and x holds a start pointer to y: both are reached only through a chain
 * with an interior pointer, so both are "possible". z's only pointer is
 * stored at an unaligned address, which a scan of aligned words never
 * sees: z is definite. */
#include <string.h>
#include "common.h"

struct obj *into_x;
struct __attribute__((packed)) { char pad; struct obj *ptr; } unaligned_z;

static NOINLINE void setup(void)
{
	struct obj *x = new_obj();
	x->next = new_obj();
	into_x = (struct obj *)((char *)x + 8);
	struct obj *z = new_obj();
	memcpy((char *)&unaligned_z + 1, &z, sizeof z);
}

int main(void)
{
	setup();
	return 0;
}
