/*
 * util.c: the analyzer's small toolbox: checked allocation, messages,
 * a growable string, two hash maps, number and address parsing, paths
 * relative to a root.
 *
 * Must never: return NULL from an allocation (out of memory ends the
 * process with exit 2 and a message), or print on stdout.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rs.h"

bool rs_quiet_notes;

static void oom(void)
{
	fputs("refsweep: out of memory\n", stderr);
	exit(RS_EXIT_USAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	va_end(ap);
	return p;
}

void rs_err(const char *fmt, ...)
{
	va_list ap;

	fputs("refsweep: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void rs_note(const char *fmt, ...)
{
	va_list ap;

	if (rs_quiet_notes)
		return;
	fputs("refsweep: note: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void sb_add(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap * 2 : 64;

		while (cap < sb->len + n + 1)
			cap *= 2;
		sb->p = xrealloc(sb->p, cap);
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = 0;
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	sb_add(sb, p, (size_t)n);
	free(p);
}

void sb_free(struct strbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void strmap_grow(struct strmap *m)
{
	struct strmap n = { 0 };

	n.cap = m->cap ? m->cap * 2 : 16;
	n.keys = xcalloc(n.cap, sizeof(*n.keys));
	n.vals = xcalloc(n.cap, sizeof(*n.vals));
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = hash_str(m->keys[i]) & (n.cap - 1);

		while (n.keys[j])
			j = (j + 1) & (n.cap - 1);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
	}
	n.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = n;
}

void **strmap_slot(struct strmap *m, const char *key, bool *created)
{
	if ((m->n + 1) * 2 > m->cap)
		strmap_grow(m);
	size_t j = hash_str(key) & (m->cap - 1);

	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key)) {
			*created = false;
			return &m->vals[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->keys[j] = xstrdup(key);
	m->vals[j] = NULL;
	m->n++;
	*created = true;
	return &m->vals[j];
}

void *strmap_get(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t j = hash_str(key) & (m->cap - 1);

	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key))
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

void strmap_free(struct strmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		free(m->keys[i]);
		if (free_val)
			free_val(m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static void u64map_grow(struct u64map *m)
{
	struct u64map n = { 0 };

	n.cap = m->cap ? m->cap * 2 : 64;
	n.keys = xcalloc(n.cap, sizeof(*n.keys));
	n.vals = xcalloc(n.cap, sizeof(*n.vals));
	n.used = xcalloc(n.cap, 1);
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t j = hash_u64(m->keys[i]) & (n.cap - 1);

		while (n.used[j])
			j = (j + 1) & (n.cap - 1);
		n.used[j] = 1;
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
	}
	n.n = m->n;
	free(m->keys);
	free(m->vals);
	free(m->used);
	*m = n;
}

void **u64map_slot(struct u64map *m, uint64_t key, bool *created)
{
	if ((m->n + 1) * 2 > m->cap)
		u64map_grow(m);
	size_t j = hash_u64(key) & (m->cap - 1);

	while (m->used[j]) {
		if (m->keys[j] == key) {
			*created = false;
			return &m->vals[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->used[j] = 1;
	m->keys[j] = key;
	m->vals[j] = NULL;
	m->n++;
	*created = true;
	return &m->vals[j];
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	size_t j = hash_u64(key) & (m->cap - 1);

	while (m->used[j]) {
		if (m->keys[j] == key)
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

void u64map_free(struct u64map *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->used[i] && free_val)
			free_val(m->vals[i]);
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

const char *path_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool parse_hex_addr(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	for (s += 2; *s; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		if (n >= 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (!n)
		return false;
	*out = v;
	return true;
}

/* p's canonical form (an out-of-tree build names the source tree "../.."
 * from its own directory, while symbolized paths are absolute and
 * normalized), or a copy of p when it cannot be resolved; NULL for NULL. */
char *canonical_path(const char *p)
{
	char *canon = p ? realpath(p, NULL) : NULL;

	return canon ? canon : p ? xstrdup(p) : NULL;
}

/* file's path below root (canonical_path's), or NULL. */
const char *path_below(const char *file, const char *root)
{
	size_t n = root ? strlen(root) : 0;

	while (n && root[n - 1] == '/')
		n--; /* "/" itself becomes "", and every absolute path is below */
	if (root && !strncmp(file, root, n) && file[n] == '/')
		return file + n + 1;
	return NULL;
}
