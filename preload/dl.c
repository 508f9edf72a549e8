/*
 * dl.c: the loaded objects and the calls that change them.
 *
 * Owns the module table (every object seen by dl_iterate_phdr: range,
 * build-id, whether its code keeps frame pointers), the lock-free "does
 * this pc keep frame pointers" answer the unwinder asks for every frame
 * (cached per thread), and the interposed dlopen, dlclose and exec family.
 *
 * dlopen is a bare tail jump to the real one: glibc finds the caller's
 * RUNPATH and namespace from dlopen's return address, which a wrapper
 * that returns through the shim would replace with the shim's. The
 * objects it loads are announced later, by whichever comes first: a new
 * stack through them, a dlclose, or the exit event. dlclose and exec are
 * ordinary wrappers.
 *
 * Must never: call dl_iterate_phdr with a lock held that anyone waits for,
 * allocate from the program's heap, touch the trace from a vfork child
 * (exec), or change errno on a successful call.
 */
#define _GNU_SOURCE
#include "config.h"
#include "unwind.h"
#include "writer.h"
#include "lifecycle.h"
#include "options.h"
#include "refsweep-events.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The interposed functions leave the library (preload/exports.map). */
#define EXPORT __attribute__((visibility("default")))

#define MAX_MODULES 8192
#define STRINGS_SIZE ((size_t)4 << 20)
#define MAX_ENV 4096
#define MAX_ARGS 65536

static struct rs_module *mods;
static uint32_t n_mods;
static uint32_t *seen;
static char *strings;
static size_t strings_used;
static uint32_t epoch;

/* The unwinder asks "does this pc keep frame pointers" for every frame:
 * each thread keeps the last few answers as address ranges (an object's
 * range, or one page of code in no object). cache_gen changes whenever
 * the table does, which invalidates every thread's entries at once. */
#define RANGES 4
static RS_TLS struct {
	uintptr_t lo, hi;
	uint32_t gen;
	int state; /* 1 keeps frame pointers, 0 not, -1 in no object */
} ranges[RANGES];
static RS_TLS unsigned next_range;
static uint32_t cache_gen = 1;

/* dl_frame_rule's answers by return address: ra << 17 | off << 1 | 1, with
 * off 0xffff for "not rsp-based". */
#define RULES 8192
static uint64_t rules[RULES];
/* Whether any rule was stored: clearing an untouched table would make its
 * 64 KiB resident in every process for nothing. */
static bool rules_used;

/* ------------------------------------------------------------------ */
/* Frame pointers, from the eh_frame                                   */

struct cursor {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t uleb(struct cursor *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (c->p < c->end) {
		uint8_t b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
	c->bad = true;
	return 0;
}

static void skip(struct cursor *c, size_t n)
{
	if ((size_t)(c->end - c->p) < n) {
		c->bad = true;
		c->p = c->end;
	} else {
		c->p += n;
	}
}

static uint64_t fixed(struct cursor *c, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(c->end - c->p) < n) {
		c->bad = true;
		return 0;
	}
	prim_memcpy(&v, c->p, n);
	c->p += n;
	if (n < 8 && (v >> (n * 8 - 1)))
		v |= ~(uint64_t)0 << (n * 8); /* sign-extend; callers
					       * that want udata mask it */
	return v;
}

/* Reads a DW_EH_PE-encoded value (pcrel and datarel applied). */
static bool encoded(struct cursor *c, uint8_t enc, uintptr_t datarel,
		    uintptr_t *out)
{
	uintptr_t here = (uintptr_t)c->p;
	uint64_t v;

	if (enc == 0xff)
		return false;
	switch (enc & 0x0f) {
	case 0x00: case 0x04: case 0x0c: v = fixed(c, 8); break;
	case 0x01: v = uleb(c); break;
	case 0x02: v = fixed(c, 2) & 0xffff; break;
	case 0x03: v = fixed(c, 4) & 0xffffffffu; break;
	case 0x0a: v = fixed(c, 2); break;
	case 0x0b: v = fixed(c, 4); break;
	default: return false;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += here; break;
	case 0x30: v += datarel; break;
	default: return false;
	}
	if (enc & 0x80) /* indirect */
		return false;
	*out = (uintptr_t)v;
	return !c->bad;
}

/* One FDE with its CIE, as far as the frame rules need them. */
struct fde_info {
	const uint8_t *cie_insns, *cie_end; /* the CIE's initial rules */
	const uint8_t *insns, *end;         /* the FDE's own rules */
	uintptr_t pc_begin, pc_range;
	uint64_t code_align;
	int64_t data_align;
	bool signal;                        /* 'S': a signal trampoline */
};

static int64_t sleb(struct cursor *c)
{
	int64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (c->p >= c->end) {
			c->bad = true;
			return 0;
		}
		b = *c->p++;
		if (shift < 64)
			v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40))
		v |= -((int64_t)1 << shift);
	return v;
}

/* Reads the FDE at fde (and its CIE) within [lo, hi). */
static bool read_fde(const uint8_t *fde, uintptr_t lo, uintptr_t hi,
		     struct fde_info *out)
{
	struct cursor c = { fde, (const uint8_t *)hi, false };
	uint32_t len, cie_off, clen;
	uint8_t fde_enc = 0;
	bool z = false;

	if ((uintptr_t)fde < lo || (uintptr_t)fde + 8 > hi)
		return false;
	len = (uint32_t)fixed(&c, 4);
	if (len == 0 || len == 0xffffffffu || (uintptr_t)fde + 4 + len > hi)
		return false;
	c.end = fde + 4 + len;
	cie_off = (uint32_t)fixed(&c, 4);
	const uint8_t *cie = fde + 4 - cie_off;
	if ((uintptr_t)cie < lo || (uintptr_t)cie + 9 > hi)
		return false;
	struct cursor k = { cie, (const uint8_t *)hi, false };
	clen = (uint32_t)fixed(&k, 4);
	if (clen == 0 || clen == 0xffffffffu || (uintptr_t)cie + 4 + clen > hi)
		return false;
	k.end = cie + 4 + clen;
	if ((uint32_t)fixed(&k, 4) != 0)
		return false;
	uint8_t version = (uint8_t)fixed(&k, 1);
	const char *aug = (const char *)k.p;
	while (k.p < k.end && *k.p)
		k.p++;
	skip(&k, 1);
	out->code_align = uleb(&k);
	out->data_align = sleb(&k);
	out->signal = false;
	if (version == 1)
		skip(&k, 1);
	else
		uleb(&k);
	if (aug[0] == 'z') {
		z = true;
		uint64_t alen = uleb(&k);
		struct cursor a = { k.p, k.p + alen, false };
		if (a.end > k.end)
			return false;
		for (const char *s = aug + 1; *s; s++) {
			uintptr_t ignored;
			if (*s == 'R') {
				fde_enc = (uint8_t)fixed(&a, 1);
			} else if (*s == 'P') {
				uint8_t penc = (uint8_t)fixed(&a, 1);
				if (!encoded(&a, penc & 0x7f, 0, &ignored))
					return false;
			} else if (*s == 'L') {
				skip(&a, 1);
			} else if (*s == 'S') {
				out->signal = true;
			} else {
				return false;
			}
		}
		if (a.bad)
			return false;
		k.p = a.end;
	} else if (aug[0]) {
		return false;
	}
	if (k.bad)
		return false;
	out->cie_insns = k.p;
	out->cie_end = k.end;
	if (!encoded(&c, fde_enc, 0, &out->pc_begin) ||
	    !encoded(&c, fde_enc & 0x0f, 0, &out->pc_range))
		return false;
	if (z)
		skip(&c, uleb(&c));
	out->insns = c.p;
	out->end = c.end;
	return !c.bad;
}

/* 1 if the FDE's CFA is ever defined on rbp (the function sets up a frame
 * pointer), 0 if it makes a frame on rsp only, 2 if it makes none (leaf
 * code, PLT stubs: no saved frame pointer to misread), -1 if it cannot be
 * read. */
static int fde_keeps_fp(const uint8_t *fde, uintptr_t lo, uintptr_t hi)
{
	struct fde_info f;

	if (!read_fde(fde, lo, hi, &f))
		return -1;
	struct cursor c = { f.insns, f.end, false };
	bool frame = false;
	while (c.p < c.end && !c.bad) {
		uint8_t op = *c.p++;
		uint64_t reg;
		switch (op >> 6) {
		case 1: continue;                 /* advance_loc */
		case 2: uleb(&c); continue;       /* offset */
		case 3: continue;                 /* restore */
		}
		switch (op) {
		case 0x00: case 0x0a: case 0x0b: break;
		case 0x01: return -1;             /* set_loc: rare, give up */
		case 0x0e: case 0x13:             /* def_cfa_offset(_sf) */
			uleb(&c);
			frame = true;
			break;
		case 0x02: skip(&c, 1); break;
		case 0x03: skip(&c, 2); break;
		case 0x04: skip(&c, 4); break;
		case 0x05: case 0x09: case 0x11: case 0x14: case 0x15:
		case 0x2f:
			uleb(&c);
			uleb(&c);
			break;
		case 0x06: case 0x07: case 0x08: case 0x2e:
			uleb(&c);
			break;
		case 0x0c: case 0x12:             /* def_cfa(_sf) */
			reg = uleb(&c);
			uleb(&c);
			if (reg == 6)
				return 1;
			frame = true;
			break;
		case 0x0d:                        /* def_cfa_register */
			if (uleb(&c) == 6)
				return 1;
			break;
		case 0x0f: /* def_cfa_expression: PLT stubs, no frame */
			return 2;
		case 0x10: case 0x16:
			uleb(&c);
			skip(&c, uleb(&c));
			break;
		default:
			return -1;
		}
	}
	return c.bad ? -1 : frame ? 0 : 2;
}

/* The CFA rule in force at pc: true if it is rsp + *off (the frame's
 * layout then depends on rsp alone). Runs the CIE's and the FDE's rules up
 * to pc; anything unusual (expressions, set_loc, deep state stacks)
 * answers false. */
static bool cfa_rule(const struct fde_info *f, uintptr_t pc, int64_t *off)
{
	struct { uint64_t reg; int64_t off; } cfa = { 7, 8 }, saved[8];
	unsigned depth = 0;
	uintptr_t loc = f->pc_begin;

	for (int part = 0; part < 2; part++) {
		struct cursor c = { part ? f->insns : f->cie_insns,
				    part ? f->end : f->cie_end, false };
		while (c.p < c.end && !c.bad) {
			uint8_t op = *c.p++;
			uint64_t delta = 0;
			switch (op >> 6) {
			case 1: delta = op & 0x3f; break;
			case 2: uleb(&c); continue;
			case 3: continue;
			}
			if (!delta) {
				switch (op) {
				case 0x00: break;
				case 0x02: delta = fixed(&c, 1) & 0xff; break;
				case 0x03: delta = fixed(&c, 2) & 0xffff; break;
				case 0x04: delta = fixed(&c, 4) & 0xffffffffu; break;
				case 0x05: case 0x09: case 0x14: case 0x2f:
					uleb(&c);
					uleb(&c);
					break;
				case 0x11: case 0x15:
					uleb(&c);
					sleb(&c);
					break;
				case 0x06: case 0x07: case 0x08: case 0x2e:
					uleb(&c);
					break;
				case 0x0a:
					if (depth == 8)
						return false;
					saved[depth++] = cfa;
					break;
				case 0x0b:
					if (!depth)
						return false;
					cfa = saved[--depth];
					break;
				case 0x0c:
					cfa.reg = uleb(&c);
					cfa.off = (int64_t)uleb(&c);
					break;
				case 0x0d:
					cfa.reg = uleb(&c);
					break;
				case 0x0e:
					cfa.off = (int64_t)uleb(&c);
					break;
				case 0x12:
					cfa.reg = uleb(&c);
					cfa.off = sleb(&c) * f->data_align;
					break;
				case 0x13:
					cfa.off = sleb(&c) * f->data_align;
					break;
				case 0x10: case 0x16:
					uleb(&c);
					skip(&c, uleb(&c));
					break;
				default: /* set_loc, def_cfa_expression, ... */
					return false;
				}
			}
			if (delta) {
				loc += delta * f->code_align;
				if (loc > pc)
					goto done;
			}
		}
		if (c.bad)
			return false;
	}
done:
	*off = cfa.off;
	return cfa.reg == 7 && cfa.off >= 8 && cfa.off < 0xffff;
}

/* Samples up to 256 functions of the object through its eh_frame_hdr
 * search table: the object keeps frame pointers if at least 90% of those
 * that make a frame define it on rbp. An object whose tables cannot be read is
 * treated as not keeping them (libunwind is then used). */
static bool probe_fp(const uint8_t *hdr, size_t hdr_len, uintptr_t lo,
		     uintptr_t hi)
{
	struct cursor c = { hdr, hdr + hdr_len, false };
	uintptr_t eh_frame, n_fdes;
	unsigned yes = 0, total = 0;

	if (hdr_len < 12 || hdr[0] != 1 || hdr[3] != 0x3b)
		return false;
	uint8_t ptr_enc = hdr[1], count_enc = hdr[2];
	skip(&c, 4);
	if (!encoded(&c, ptr_enc, (uintptr_t)hdr, &eh_frame) ||
	    !encoded(&c, count_enc, (uintptr_t)hdr, &n_fdes) || !n_fdes)
		return false;
	const uint8_t *table = c.p;
	if ((uintptr_t)table + n_fdes * 8 > (uintptr_t)hdr + hdr_len)
		return false;
	uint64_t samples = n_fdes < 256 ? n_fdes : 256;
	for (uint64_t i = 0; i < samples; i++) {
		int32_t off;
		prim_memcpy(&off, table + (i * n_fdes / samples) * 8 + 4, 4);
		int r = fde_keeps_fp(hdr + off, lo, hi);
		if (r == 0 || r == 1) {
			total++;
			yes += (unsigned)r;
		}
	}
	return total && yes * 10 >= total * 9;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

static void hex_id(char *out, const uint8_t *id, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * n] = 0;
}

static void build_id(struct rs_module *m, const struct dl_phdr_info *info)
{
	m->build_id[0] = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr +
						     ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof *nh;
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
			const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !prim_strncmp((const char *)name, "GNU", 4)) {
				hex_id(m->build_id, desc, nh->n_descsz);
				return;
			}
			p = next;
		}
	}
}

static const char *keep_string(const char *a, const char *b)
{
	size_t la = prim_strlen(a), lb = prim_strlen(b);

	if (strings_used + la + lb + 1 > STRINGS_SIZE)
		return "";
	char *s = strings + strings_used;
	prim_memcpy(s, a, la);
	prim_memcpy(s + la, b, lb + 1);
	strings_used += la + lb + 1;
	return s;
}

static bool has_slash(const char *s)
{
	for (; *s; s++)
		if (*s == '/')
			return true;
	return false;
}

struct sync_state {
	unsigned index;
	bool changed;
};

static int sync_one(struct dl_phdr_info *info, size_t size, void *data)
{
	struct sync_state *st = data;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	const uint8_t *eh = NULL;
	size_t eh_len = 0;
	bool is_main = st->index++ == 0;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD) {
			if (a < lo)
				lo = a;
			if (a + ph->p_memsz > hi)
				hi = a + ph->p_memsz;
		} else if (ph->p_type == PT_GNU_EH_FRAME) {
			eh = (const uint8_t *)a;
			eh_len = ph->p_memsz;
		}
	}
	if (lo >= hi)
		return 0;
	/* The tables are read within the segment that holds eh_frame_hdr
	 * (eh_frame sits beside it): an object's whole range may have
	 * unreadable gaps between its segments. */
	uintptr_t seg_lo = 0, seg_hi = 0;
	for (int i = 0; eh && i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (uintptr_t)eh >= a &&
		    (uintptr_t)eh + eh_len <= a + ph->p_memsz) {
			seg_lo = a;
			seg_hi = a + ph->p_filesz;
		}
	}
	for (uint32_t i = n_mods; i-- > 0;) {
		struct rs_module *m = &mods[i];
		if (!m->dead && m->base == info->dlpi_addr && m->lo == lo &&
		    m->hi == hi) {
			seen[i] = epoch;
			return 0;
		}
	}
	if (n_mods == MAX_MODULES)
		return 0;
	struct rs_module *m = &mods[n_mods];
	char exe[4096];
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	if (is_main) {
		long r = prim_syscall(SYS_readlink, "/proc/self/exe", exe,
				      sizeof exe - 1);
		exe[r > 0 ? r : 0] = 0;
		m->path = keep_string(exe, "");
	} else if (name[0] && name[0] != '/' && has_slash(name)) {
		/* "./plugin.so" as dlopen was given it: relative to the
		 * working directory, best known now. */
		long r = prim_syscall(SYS_getcwd, exe, sizeof exe - 1, 0);
		size_t k = r > 0 ? prim_strlen(exe) : 0;
		if (k)
			exe[k++] = '/';
		exe[k] = 0;
		m->path = keep_string(exe, name);
	} else {
		m->path = keep_string(name, "");
	}
	m->base = info->dlpi_addr;
	m->lo = lo;
	m->hi = hi;
	m->main = is_main;
	m->dead = false;
	m->emitted_gen = m->unload_gen = 0;
	build_id(m, info);
	/* Probing reads hundreds of unwind-table entries, which would make
	 * pages of every library resident in a process that takes no stacks. */
	m->fp = seg_hi && rs_opt.unwind != RS_UNWIND_NONE &&
		probe_fp(eh, eh_len, seg_lo, seg_hi);
	m->eh_hdr = seg_hi ? eh : NULL;
	m->eh_len = eh_len;
	m->seg_lo = seg_lo;
	m->seg_hi = seg_hi;
	seen[n_mods] = epoch;
	__atomic_store_n(&n_mods, n_mods + 1, __ATOMIC_RELEASE);
	st->changed = true;
	return 0;
}

static bool table_ready(void)
{
	if (mods)
		return true;
	mods = prim_map(MAX_MODULES * sizeof *mods, true);
	seen = prim_map(MAX_MODULES * sizeof *seen, true);
	strings = prim_map(STRINGS_SIZE, true);
	return mods && seen && strings;
}

/* The loader's load and unload counters, read from the first object
 * (dl_iterate_phdr stops when the callback returns non-zero). */
static int peek_counters(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *c = data;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) +
		    sizeof info->dlpi_subs) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
	}
	return 1;
}

bool dl_sync(void)
{
	static unsigned long long last[2] = { ~0ull, ~0ull };
	unsigned long long now[2] = { 0, 0 };
	struct sync_state st = { 0, false };

	if (!table_ready())
		return false;
	rs_enter();
	/* Frames in code of no object (JIT) would otherwise rescan the
	 * whole list for every new stack. */
	dl_iterate_phdr(peek_counters, now);
	if (now[0] && now[0] == last[0] && now[1] == last[1]) {
		rs_leave();
		return false;
	}
	last[0] = now[0];
	last[1] = now[1];
	epoch++;
	dl_iterate_phdr(sync_one, &st);
	for (uint32_t i = 0; i < n_mods; i++) {
		if (!mods[i].dead && seen[i] != epoch) {
			__atomic_store_n(&mods[i].dead, true, __ATOMIC_RELEASE);
			st.changed = true;
		}
	}
	if (st.changed && __atomic_load_n(&rules_used, __ATOMIC_RELAXED)) {
		/* Code may now live where other code was. */
		for (size_t i = 0; i < RULES; i++)
			__atomic_store_n(&rules[i], 0, __ATOMIC_RELAXED);
	}
	if (st.changed) {
		__atomic_store_n(&cache_gen, cache_gen + 1, __ATOMIC_RELEASE);
	}
	rs_leave();
	return st.changed;
}

uint32_t dl_count(void)
{
	return __atomic_load_n(&n_mods, __ATOMIC_ACQUIRE);
}

struct rs_module *dl_module(uint32_t i)
{
	return &mods[i];
}

int dl_pc_keeps_fp(uintptr_t pc)
{
	uint32_t g = __atomic_load_n(&cache_gen, __ATOMIC_ACQUIRE);
	uintptr_t lo = pc & ~(uintptr_t)4095, hi = lo + 4096;
	int state = -1;

	for (unsigned i = 0; i < RANGES; i++)
		if (pc >= ranges[i].lo && pc < ranges[i].hi &&
		    ranges[i].gen == g)
			return ranges[i].state;
	for (uint32_t i = dl_count(); i-- > 0;) {
		const struct rs_module *m = &mods[i];
		if (pc >= m->lo && pc < m->hi &&
		    !__atomic_load_n(&m->dead, __ATOMIC_ACQUIRE)) {
			state = m->fp;
			lo = m->lo;
			hi = m->hi;
			break;
		}
	}
	unsigned k = next_range++ % RANGES;
	ranges[k].lo = lo;
	ranges[k].hi = hi;
	ranges[k].gen = g;
	ranges[k].state = state;
	return state;
}

uint32_t dl_generation(void)
{
	return __atomic_load_n(&cache_gen, __ATOMIC_ACQUIRE);
}

/* The FDE covering pc, by binary search of the eh_frame_hdr table. */
static bool find_fde(const struct rs_module *m, uintptr_t pc,
		     struct fde_info *f)
{
	const uint8_t *hdr = m->eh_hdr;
	struct cursor c = { hdr, hdr + m->eh_len, false };
	uintptr_t eh_frame, n;

	if (!hdr || m->eh_len < 12 || hdr[0] != 1 || hdr[3] != 0x3b)
		return false;
	skip(&c, 4);
	if (!encoded(&c, hdr[1], (uintptr_t)hdr, &eh_frame) ||
	    !encoded(&c, hdr[2], (uintptr_t)hdr, &n) || !n ||
	    (uintptr_t)c.p + n * 8 > (uintptr_t)hdr + m->eh_len)
		return false;
	const uint8_t *table = c.p;
	int64_t want = (int64_t)(pc - (uintptr_t)hdr);
	uint64_t lo = 0, hi = n;
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;
		int32_t start;
		prim_memcpy(&start, table + mid * 8, 4);
		if (start <= want)
			lo = mid;
		else
			hi = mid;
	}
	int32_t start, off;
	prim_memcpy(&start, table + lo * 8, 4);
	prim_memcpy(&off, table + lo * 8 + 4, 4);
	if (start > want || !read_fde(hdr + off, m->seg_lo, m->seg_hi, f))
		return false;
	return pc >= f->pc_begin && pc < f->pc_begin + f->pc_range &&
	       !f->signal;
}

bool dl_frame_rule(uintptr_t ra, uint32_t *off)
{
	uint64_t *slot = &rules[(ra ^ (ra >> 13)) & (RULES - 1)];
	uint64_t e = __atomic_load_n(slot, __ATOMIC_RELAXED);
	int64_t k = 0xffff;

	if (RS_UNLIKELY((e >> 17) != ra || !(e & 1))) {
		struct fde_info f;
		for (uint32_t i = dl_count(); i-- > 0;) {
			const struct rs_module *m = &mods[i];
			if (ra >= m->lo && ra < m->hi &&
			    !__atomic_load_n(&m->dead, __ATOMIC_ACQUIRE)) {
				/* ra - 1: the call, not what follows it */
				if (!find_fde(m, ra - 1, &f) ||
				    !cfa_rule(&f, ra - 1, &k))
					k = 0xffff;
				break;
			}
		}
		e = (uint64_t)ra << 17 | (uint64_t)k << 1 | 1;
		__atomic_store_n(&rules_used, true, __ATOMIC_RELAXED);
		__atomic_store_n(slot, e, __ATOMIC_RELAXED);
	}
	*off = (uint32_t)((e >> 1) & 0xffff);
	return *off != 0xffff;
}

/* ------------------------------------------------------------------ */
/* dlopen, dlclose                                                     */

/* Read by the dlopen trampoline below: global (hidden) and `used` so that
 * link-time optimisation keeps them under these names. */
void *real_dlopen __asm__("rs_real_dlopen") RS_HIDDEN __attribute__((used));
static int (*real_dlclose)(void *);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_execveat)(int, const char *, char *const[], char *const[],
			    int);

void *rs_resolve_dlopen(void) __asm__("rs_resolve_dlopen") RS_HIDDEN
	__attribute__((used, noinline));
void *rs_resolve_dlopen(void)
{
	if (!real_dlopen) {
		rs_enter();
		real_dlopen = dlsym(RTLD_NEXT, "dlopen");
		rs_leave();
	}
	return real_dlopen;
}

/* dlopen(file, mode): jump to the real one with the caller's return
 * address in place (see the banner). */
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	endbr64\n"
	"	mov rs_real_dlopen(%rip), %rax\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	jmp *%rax\n"
	"1:	push %rdi\n"
	"	push %rsi\n"
	"	sub $8, %rsp\n"
	"	call rs_resolve_dlopen\n"
	"	add $8, %rsp\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	test %rax, %rax\n"
	"	jz 2f\n"
	"	jmp *%rax\n"
	"2:	ret\n"
	".size dlopen, .-dlopen\n");

static void resolve(void **slot, const char *name)
{
	if (!__atomic_load_n(slot, __ATOMIC_ACQUIRE)) {
		rs_enter();
		__atomic_store_n(slot, dlsym(RTLD_NEXT, name), __ATOMIC_RELEASE);
		rs_leave();
	}
}

EXPORT int dlclose(void *handle)
{
	int r, e;

	resolve((void **)&real_dlclose, "dlclose");
	if (!real_dlclose)
		return -1;
	r = real_dlclose(handle);
	e = errno;
	writer_sync_modules();
	errno = e;
	return r;
}

/* ------------------------------------------------------------------ */
/* exec                                                                */

/* The environment the shim was started with: an exec whose environment
 * lost them gets them back, so the new image is traced too. */
static char preload_env[4096 + 16];
static char options_env[sizeof preload_env + 1024];

static void keep_env(char *dst, size_t cap, const char *name)
{
	const char *v = prim_getenv(name);
	size_t n;

	dst[0] = 0;
	if (!v)
		return;
	n = prim_strlcpy(dst, name, cap);
	if (n + 1 >= cap)
		goto too_long;
	dst[n++] = '=';
	if (prim_strlcpy(dst + n, v, cap - n) >= cap - n)
		goto too_long;
	return;
too_long:
	dst[0] = 0;
}

void dl_init(void)
{
	keep_env(preload_env, sizeof preload_env, "LD_PRELOAD");
	keep_env(options_env, sizeof options_env, RS_ENV_OPTIONS);
	rs_resolve_dlopen();
	resolve((void **)&real_dlclose, "dlclose");
	resolve((void **)&real_execve, "execve");
	resolve((void **)&real_execvpe, "execvpe");
	resolve((void **)&real_fexecve, "fexecve");
	resolve((void **)&real_execveat, "execveat");
}

static bool env_has(char *const envp[], size_t n, const char *entry)
{
	size_t k = 0;

	while (entry[k] != '=')
		k++;
	for (size_t i = 0; i < n; i++)
		if (!prim_strncmp(envp[i], entry, k + 1))
			return true;
	return false;
}

enum exec_kind { X_VE, X_VPE, X_FD, X_AT };

/* Every exec ends this image's trace first (exit event, flush); if the
 * exec fails the image goes on writing after a warning event. The new
 * environment lives on this stack frame: nothing to free, and safe in a
 * vfork child. */
static int do_exec(enum exec_kind kind, int fd, const char *path,
		   char *const argv[], char *const envp[], int flags)
{
	static char *const empty[] = { NULL };
	size_t n = 0;
	int r, e;

	if (!envp)
		envp = empty;
	while (envp[n] && n < MAX_ENV)
		n++;
	char *env[envp[n] ? 1 : n + 3];
	char *const *use = envp;
	if (!envp[n]) {
		size_t k = n;
		prim_memcpy(env, envp, n * sizeof *env);
		if (preload_env[0] && !env_has(envp, n, preload_env))
			env[k++] = preload_env;
		if (options_env[0] && !env_has(envp, n, options_env))
			env[k++] = options_env;
		env[k] = NULL;
		use = env;
	}
	switch (kind) {
	case X_VE: resolve((void **)&real_execve, "execve"); break;
	case X_VPE: resolve((void **)&real_execvpe, "execvpe"); break;
	case X_FD: resolve((void **)&real_fexecve, "fexecve"); break;
	case X_AT: resolve((void **)&real_execveat, "execveat"); break;
	}
	/* The commonest failure, a missing or non-executable file, is found
	 * before the trace is ended for nothing. */
	bool doomed = (kind == X_VE || (kind == X_VPE && has_slash(path))) &&
		      prim_syscall6(SYS_faccessat, AT_FDCWD, (long)path, X_OK,
				    0, 0, 0) != 0;
	bool owner = !doomed && writer_exec_prepare();
	switch (kind) {
	case X_VE:
		r = real_execve ? real_execve(path, argv, use) : (errno = ENOSYS, -1);
		break;
	case X_VPE:
		r = real_execvpe ? real_execvpe(path, argv, use) : (errno = ENOSYS, -1);
		break;
	case X_FD:
		r = real_fexecve ? real_fexecve(fd, argv, use) : (errno = ENOSYS, -1);
		break;
	default:
		r = real_execveat ? real_execveat(fd, path, argv, use, flags)
				  : (errno = ENOSYS, -1);
		break;
	}
	e = errno;
	if (owner)
		writer_exec_failed(e);
	errno = e;
	return r;
}

extern char **environ;

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return do_exec(X_VE, -1, path, argv, envp, 0);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return do_exec(X_VE, -1, path, argv, environ, 0);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return do_exec(X_VPE, -1, file, argv, envp, 0);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return do_exec(X_VPE, -1, file, argv, environ, 0);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	return do_exec(X_FD, fd, NULL, argv, envp, 0);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[],
	     char *const envp[], int flags)
{
	return do_exec(X_AT, dirfd, path, argv, envp, flags);
}

/* The execl family: argv gathered on the stack, as glibc does. Leaves ap
 * just past the terminating NULL (execle's envp follows). */
#define GATHER_ARGS(first, ap, argv)                                      \
	size_t argc_ = 1;                                                 \
	va_start(ap, first);                                              \
	while (argc_ < MAX_ARGS && va_arg(ap, char *))                    \
		argc_++;                                                  \
	va_end(ap);                                                       \
	if (argc_ == MAX_ARGS) {                                          \
		errno = E2BIG;                                            \
		return -1;                                                \
	}                                                                 \
	char *argv[argc_ + 1];                                            \
	argv[0] = (char *)(first);                                        \
	va_start(ap, first);                                              \
	for (size_t i_ = 1; i_ <= argc_; i_++)                            \
		argv[i_] = va_arg(ap, char *)

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;

	GATHER_ARGS(arg, ap, argv);
	va_end(ap);
	return do_exec(X_VE, -1, path, argv, environ, 0);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;

	GATHER_ARGS(arg, ap, argv);
	va_end(ap);
	return do_exec(X_VPE, -1, file, argv, environ, 0);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;

	GATHER_ARGS(arg, ap, argv);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return do_exec(X_VE, -1, path, argv, envp, 0);
}
