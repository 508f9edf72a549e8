/*
 * known-dl.c: a library that tests/sweep/known.c dlopens to check the roots
 * a loaded-later object brings: its writable data, a small TLS variable
 * (glibc may place it in the static TLS surplus) and a large TLS block
 * (always allocated on first use and reachable only through the DTV).
 */
#include <stdlib.h>
#include <string.h>

/* Exported, so the compiler keeps the stores. */
void *known_dl_global;
__thread void *known_dl_small;
__thread void *known_dl_large[16384];

void known_dl_keep(void *g, void *s, void *l);
void known_dl_keep(void *g, void *s, void *l)
{
	if (g)
		known_dl_global = g;
	known_dl_small = s;
	known_dl_large[12345] = l;
}
