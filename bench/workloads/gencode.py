# gencode: writes a C translation unit of FUNCS generated functions for the
# gcc workload (gcc -O2 -c). Stresses a real compiler: cc1 builds trees,
# GIMPLE and RTL for every function (a large, pointer-rich live heap with
# much churn, no frame pointers), then as and the driver run as children.
# Deterministic: the same FUNCS gives the same file.
#
# Usage: python3 gencode.py FUNCS OUTPUT.c
import sys

HEAD = """#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rec { int64_t id; double w[4]; char name[24]; struct rec *next; };
static inline uint64_t mix(uint64_t x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdull; return x ^ (x >> 29); }
"""

BODY = """
uint64_t f{i}(struct rec *r, size_t n, const char *s)
{{
	uint64_t acc = {i}u;
	double w = 0;
	for (size_t k = 0; k < n; k++) {{
		struct rec *p = &r[k];
		switch ((p->id + k) % 6) {{
		case 0: acc += mix(p->id * {a}u); break;
		case 1: w += p->w[k & 3] * {b}.5; break;
		case 2: acc ^= strlen(p->name) + {c}u; break;
		case 3: for (int j = 0; j < 4; j++) p->w[j] = p->w[(j + {a}) & 3] + j; break;
		case 4: if (p->next) acc += f{prev}(p->next, k & 7, s); break;
		default: acc = acc * 31 + (unsigned char)s[k % {c}u];
		}}
		if (acc & {mask}u)
			memcpy(p->name, s + (acc % 8), 8);
	}}
	for (int j = 0; j < {a} % 5 + 2; j++)
		acc += (uint64_t)(w * j) ^ mix(acc + j);
	return acc + (uint64_t)w;
}}
"""


def main():
    funcs = int(sys.argv[1])
    with open(sys.argv[2], "w") as out:
        out.write(HEAD)
        for i in range(funcs):
            if i:
                out.write("uint64_t f%d(struct rec *, size_t, const char *);\n" % (i - 1))
            out.write(BODY.format(i=i, prev=max(i - 1, 0), a=i * 7 % 97 + 1,
                                  b=i % 13, c=i % 23 + 1, mask=1 << (i % 16)))


main()
