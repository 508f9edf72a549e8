/*
 * check.h: the smallest test harness. CHECK(cond, fmt, ...) counts and
 * reports a failed condition with its line; check_done() prints the counts
 * and returns the exit status automake expects (0 pass, 1 fail).
 */
#ifndef RS_TEST_CHECK_H
#define RS_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (cond) {                                                   \
			check_passed++;                                       \
		} else {                                                      \
			check_failed++;                                       \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,  \
				__LINE__, #cond);                             \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

static inline int check_done(const char *name)
{
	fprintf(stderr, "%s: %d checks passed, %d failed\n", name, check_passed,
		check_failed);
	return check_failed ? 1 : 0;
}

#endif
