/*
 * roots.c: the root set (roots.h) and the /proc/self/maps snapshot that
 * keeps the scan from touching memory that is not there.
 *
 * Decisions (docs/sweep.md): RELRO stays in (LeakSanitizer keeps it, it is
 * small, and ld.so writes heap pointers there before sealing it); the
 * shim's own writable segments are out (they hold no program pointers, and
 * scanning them could hide a leak); the thread descriptor is scanned whole,
 * which covers pthread_setspecific values (keys below 32 inline, the rest
 * in blocks it points at) and thread arguments; the DTV, pointed at by an
 * interior pointer from the descriptor, is made a root of its own so that
 * dynamic TLS blocks (its start pointers) stay reachable.
 *
 * Must never: allocate, or call the loader while the world is stopped
 * (roots_add_modules runs before the stop).
 */
#define _GNU_SOURCE
#include "config.h"
#include "roots.h"

#include <link.h>
#include <stdlib.h>

#define TCB_SPAN 4096        /* struct pthread is about 2.3 KiB in 2.36 */
#define DTV_MAX_LEN 65536
#define MAPS_FIRST_CAP (256 * 1024)

extern void _dl_get_tls_static_info(size_t *size, size_t *align)
	__attribute__((weak));

static size_t tls_static_size = 4096;
static uintptr_t loader_lo, loader_hi;
static uintptr_t exit_addr;

static int loader_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t probe = (uintptr_t)arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    probe >= lo && probe < lo + ph->p_memsz) {
			loader_lo = lo;
			loader_hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

void roots_init_static(void)
{
	size_t size = 0, align = 0;

	exit_addr = (uintptr_t)&exit;
	if (_dl_get_tls_static_info) {
		_dl_get_tls_static_info(&size, &align);
		if (size)
			tls_static_size = size;
		dl_iterate_phdr(loader_cb, (void *)_dl_get_tls_static_info);
	}
}

bool roots_in_loader(uintptr_t pc)
{
	return pc >= loader_lo && pc < loader_hi;
}

/* ---- the maps snapshot ------------------------------------------------- */

static const char *hex(const char *s, uintptr_t *out)
{
	uintptr_t v = 0;

	for (;; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		v = v << 4 | (uintptr_t)d;
	}
	*out = v;
	return s;
}

static bool starts(const char *s, const char *prefix)
{
	return prim_strncmp(s, prefix, prim_strlen(prefix)) == 0;
}

static void parse_maps(struct maps *m, char *text, size_t len)
{
	char *s = text, *end = text + len;

	m->n = 0;
	while (s < end) {
		struct maps_entry *e = &m->e[m->n];
		char *eol = s;
		const char *p;
		int field = 0;

		while (eol < end && *eol != '\n')
			eol++;
		*eol = 0;
		p = hex(s, &e->start);
		if (*p == '-') {
			p = hex(p + 1, &e->end);
			e->flags = 0;
			if (p[0] == ' ' && p[1] == 'r')
				e->flags |= MAPS_R;
			if (p[0] == ' ' && p[2] == 'w')
				e->flags |= MAPS_W;
			if (p[0] == ' ' && p[3] == 'x')
				e->flags |= MAPS_X;
			/* The path is the sixth field. */
			while (*p && field < 5) {
				while (*p == ' ')
					p++;
				field++;
				if (field < 5)
					while (*p && *p != ' ')
						p++;
			}
			if (starts(p, "[stack]"))
				e->flags |= MAPS_STACK;
			else if (starts(p, "[vvar") || starts(p, "[vsyscall]") ||
				 starts(p, "/dev/"))
				e->flags |= MAPS_SKIP;
			m->n++;
		}
		s = eol + 1;
	}
}

bool maps_read(struct maps *m)
{
	size_t cap = MAPS_FIRST_CAP;

	for (int attempt = 0; attempt < 6; attempt++, cap *= 4) {
		size_t entries = (cap / 24 + 1) * sizeof(struct maps_entry);
		ssize_t len;

		m->mem_len = cap + entries;
		m->mem = prim_map(m->mem_len, true);
		if (!m->mem)
			return false;
		/* thread-self: once the main thread has called pthread_exit,
		 * /proc/self/maps reads nothing. */
		len = prim_read_file("/proc/thread-self/maps", m->mem, cap);
		if (len <= 0)
			len = prim_read_file("/proc/self/maps", m->mem, cap);
		if (len > 0 && (size_t)len < cap - 1) {
			m->e = (struct maps_entry *)((char *)m->mem + cap);
			parse_maps(m, m->mem, (size_t)len);
			return true;
		}
		prim_unmap(m->mem, m->mem_len);
		m->mem = NULL;
		if (len <= 0)
			return false;
	}
	return false;
}

void maps_free(struct maps *m)
{
	if (m->mem)
		prim_unmap(m->mem, m->mem_len);
	m->mem = NULL;
	m->n = 0;
}

const struct maps_entry *maps_find(const struct maps *m, uintptr_t addr)
{
	uint32_t lo = 0, hi = m->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (addr < m->e[mid].start)
			hi = mid;
		else if (addr >= m->e[mid].end)
			lo = mid + 1;
		else
			return &m->e[mid];
	}
	return NULL;
}

static bool readable(const struct maps *m, uintptr_t a, size_t n)
{
	const struct maps_entry *e = maps_find(m, a);

	return e && (e->flags & MAPS_R) && !(e->flags & MAPS_SKIP) &&
	       a + n <= e->end;
}

/* ---- collecting ranges -------------------------------------------------- */

#define ROOTS_CAP (1u << 20)
#define BLOCKS_CAP (1u << 16)

bool roots_init(struct roots *r)
{
	prim_memset(r, 0, sizeof(*r));
	r->mem_len = ROOTS_CAP * sizeof(struct root_range) +
		     BLOCKS_CAP * sizeof(uintptr_t);
	r->mem = prim_map(r->mem_len, true);
	if (!r->mem)
		return false;
	r->r = r->mem;
	r->cap = ROOTS_CAP;
	r->blocks = (uintptr_t *)(r->r + ROOTS_CAP);
	r->cap_blocks = BLOCKS_CAP;
	return true;
}

void roots_free(struct roots *r)
{
	if (r->mem)
		prim_unmap(r->mem, r->mem_len);
	r->mem = NULL;
}

void roots_exclude(struct roots *r, uintptr_t start, uintptr_t end)
{
	if (start < end && r->nex < ROOTS_MAX_EXCLUDE)
		r->ex[r->nex++] = (struct root_range){ start, end };
}

void roots_add(struct roots *r, uintptr_t start, uintptr_t end)
{
	if (start >= end)
		return;
	if (r->n == r->cap) {
		r->overflow = true;
		return;
	}
	r->r[r->n++] = (struct root_range){ start, end };
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct roots *r = arg;
	uintptr_t self = (uintptr_t)&roots_add;
	bool shim = false;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && self >= lo &&
		    self < lo + ph->p_memsz)
			shim = true;
	}
	if (shim)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
			roots_add(r, lo, lo + ph->p_memsz);
	}
	return 0;
}

void roots_add_modules(struct roots *r)
{
	dl_iterate_phdr(module_cb, r);
}

static uintptr_t umin(uintptr_t a, uintptr_t b) { return a < b ? a : b; }
static uintptr_t umax(uintptr_t a, uintptr_t b) { return a > b ? a : b; }

static void add_dtv(struct roots *r, const struct maps *m, uintptr_t fs)
{
	uintptr_t dtv;
	size_t len;

	if (!readable(m, fs + 8, 8))
		return;
	dtv = *(const uintptr_t *)(fs + 8);
	if (dtv >= r->heap_lo && dtv < r->heap_hi) {
		if (r->nblocks < r->cap_blocks)
			r->blocks[r->nblocks++] = dtv;
		else
			r->overflow = true;
		return;
	}
	/* The main thread's first DTV comes from the loader's own allocator:
	 * its entries (length in dtv[-1]) are the roots. */
	if (!readable(m, dtv - 16, 16))
		return;
	len = *(const size_t *)(dtv - 16);
	if (len < DTV_MAX_LEN && readable(m, dtv - 16, 16 * (len + 2)))
		roots_add(r, dtv - 16, dtv + 16 * (len + 1));
}

void roots_add_thread(struct roots *r, const struct maps *m, bool is_main,
		      uintptr_t sp, uintptr_t fs, size_t redzone)
{
	const struct maps_entry *se = sp ? maps_find(m, sp) : NULL;
	const struct maps_entry *own = NULL, *fe = fs ? maps_find(m, fs) : NULL;

	if (is_main) {
		for (uint32_t i = 0; i < m->n; i++)
			if (m->e[i].flags & MAPS_STACK)
				own = &m->e[i];
	} else {
		own = fe;
	}
	if (se) {
		uintptr_t top = se->end;

		/* A thread's descriptor sits at the top of its stack: stop
		 * there rather than run into a mapping merged above it. */
		if (!is_main && se == own && fs > sp)
			top = umin(fs + TCB_SPAN, se->end);
		roots_add(r, umax(sp - redzone, se->start), top);
	}
	/* Running elsewhere (sigaltstack, swapcontext): its own stack may hold
	 * live frames anywhere, so all of it counts. */
	if (own && own != se)
		roots_add(r, own->start,
			  is_main || !fs ? own->end
					 : umin(fs + TCB_SPAN, own->end));
	if (fe) {
		/* glibc's static TLS size counts the descriptor too (it lies
		 * above fs), so fs - size reaches about 2.3 KiB below the TLS
		 * block: on a thread's own stack that is stack below the TLS,
		 * and below SP a dead frame's stale pointer would hide a leak
		 * (known threads: a leaked block's address left there by the
		 * allocator's frames was read). Nothing of the TLS lies below
		 * SP's red zone on the thread's own stack. */
		uintptr_t lo = umax(fs - tls_static_size, fe->start);
		if (se == fe && sp < fs)
			lo = umax(lo, sp - redzone);
		roots_add(r, lo, umin(fs + TCB_SPAN, fe->end));
		add_dtv(r, m, fs);
	}
}

/* Heapsort (no recursion, no allocation, n log n): moves a[i] down the
 * max-heap a[0..end). */
static void sift_down(struct root_range *a, uint32_t i, uint32_t end)
{
	for (;;) {
		uint32_t c = 2 * i + 1;
		struct root_range t;

		if (c >= end)
			return;
		if (c + 1 < end && a[c + 1].start > a[c].start)
			c++;
		if (a[c].start <= a[i].start)
			return;
		t = a[i], a[i] = a[c], a[c] = t;
		i = c;
	}
}

static void sort_ranges(struct root_range *a, uint32_t n)
{
	for (uint32_t k = n; k-- > 0;)
		sift_down(a, k, n);
	for (uint32_t end = n; end-- > 1;) {
		struct root_range t = a[0];

		a[0] = a[end], a[end] = t;
		sift_down(a, 0, end);
	}
}

/* Appends [s, e) minus every exclusion at the end of the array. */
static void emit_clipped(struct roots *r, uint32_t *out, uintptr_t s,
			 uintptr_t e)
{
	for (uint32_t i = 0; i < r->nex && s < e; i++) {
		uintptr_t xs = r->ex[i].start, xe = r->ex[i].end;

		if (xe <= s || xs >= e)
			continue;
		if (xs > s)
			emit_clipped(r, out, s, xs); /* depth <= nex */
		s = xe;
	}
	if (s < e && *out < r->cap)
		r->r[(*out)++] = (struct root_range){ s, e };
	else if (s < e)
		r->overflow = true;
}

void roots_finish(struct roots *r, const struct maps *m)
{
	uint32_t raw = r->n, out;

	/* Clip in place: pieces go after the raw ranges, then move down. */
	out = raw;
	for (uint32_t i = 0; i < raw; i++) {
		uintptr_t s = r->r[i].start & ~(uintptr_t)7, e = r->r[i].end;

		while (s < e) {
			const struct maps_entry *me = maps_find(m, s);

			if (!me) {
				/* Skip to the next mapping above s. */
				uintptr_t next = e;

				for (uint32_t j = 0; j < m->n; j++)
					if (m->e[j].start > s) {
						next = m->e[j].start;
						break;
					}
				s = next;
				continue;
			}
			if ((me->flags & MAPS_R) && !(me->flags & MAPS_SKIP))
				emit_clipped(r, &out, s, umin(e, me->end));
			s = me->end;
		}
	}
	for (uint32_t i = raw; i < out; i++)
		r->r[i - raw] = r->r[i];
	r->n = out - raw;
	sort_ranges(r->r, r->n);
	out = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		if (out && r->r[i].start <= r->r[out - 1].end) {
			if (r->r[i].end > r->r[out - 1].end)
				r->r[out - 1].end = r->r[i].end;
		} else {
			r->r[out++] = r->r[i];
		}
	}
	r->n = out;
}

/* ---- the exiting thread ------------------------------------------------- */

static int32_t rel32(uintptr_t a)
{
	int32_t v;

	prim_memcpy(&v, (const void *)a, 4);
	return v;
}

static bool slot_is_exit(const struct maps *m, uintptr_t slot)
{
	return readable(m, slot, 8) && *(const uintptr_t *)slot == exit_addr;
}

/* Is the call that returns to ra a call of exit()? Direct, through a PLT
 * entry (with or without IBT), or through the GOT (-fno-plt). */
static bool calls_exit(const struct maps *m, uintptr_t ra)
{
	const struct maps_entry *e = maps_find(m, ra - 6);
	const uint8_t *c = (const uint8_t *)ra;

	if (!e || !(e->flags & MAPS_X) || !(e->flags & MAPS_R) ||
	    ra > e->end || e->flags & MAPS_SKIP)
		return false;
	if (c[-5] == 0xe8) {
		uintptr_t t = ra + (uintptr_t)(intptr_t)rel32(ra - 4);
		const uint8_t *p = (const uint8_t *)t;

		if (t == exit_addr)
			return true;
		if (!readable(m, t, 16))
			return false;
		if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
			p += 4;
		if (p[0] == 0xf2)
			p++;
		return p[0] == 0xff && p[1] == 0x25 &&
		       slot_is_exit(m, (uintptr_t)p + 6 +
					       (uintptr_t)(intptr_t)rel32(
						       (uintptr_t)p + 2));
	}
	if (c[-6] == 0xff && c[-5] == 0x15)
		return slot_is_exit(m, ra + (uintptr_t)(intptr_t)rel32(ra - 4));
	return false;
}

uintptr_t roots_exit_frame(const struct maps *m, uintptr_t sp)
{
	const struct maps_entry *se = maps_find(m, sp);

	if (!se || !exit_addr)
		return 0;
	for (uintptr_t w = (sp + 7) & ~(uintptr_t)7; w + 8 <= se->end; w += 8) {
		uintptr_t v = *(const uintptr_t *)w;

		if (v > 4096 && calls_exit(m, v))
			return w + 8;
	}
	return 0;
}
