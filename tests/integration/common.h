/*
 * common.h: helpers for the known-answer programs. Pointers built in a
 * noinline function and dropped on return leave no copy in a live frame;
 * escape() makes the compiler keep a value in memory.
 */
#ifndef RS_IT_COMMON_H
#define RS_IT_COMMON_H

#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

struct obj {
	struct obj *next;
	struct obj *other;
	long payload[2];
};

static inline void escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

/* A fresh zeroed object; every test object is 32 bytes. */
static NOINLINE struct obj *new_obj(void)
{
	struct obj *o = calloc(1, sizeof *o);
	escape(o);
	return o;
}

#endif
