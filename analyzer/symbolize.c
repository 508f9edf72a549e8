/*
 * symbolize.c: offline symbolization with elfutils libdw: function names
 * (ELF symbols, DWARF for inlined calls), source file and line, inlined
 * frames, C++ names demangled with __cxa_demangle from libstdc++.
 *
 * Each module (path + build-id) is opened once in its own Dwfl at load bias
 * 0, so one open serves every process that mapped it at any address; every
 * (module, offset) is resolved once. The build-id recorded in the trace is
 * checked against the file: a binary rebuilt since the run is not trusted
 * (a warning says so) and the copy under /usr/lib/debug/.build-id/ is used
 * when there is one. Separate debug info is found by libdw's standard
 * search (.gnu_debuglink, /usr/lib/debug, build-id directories).
 *
 * Must never: guess a name from a binary whose build-id differs, or fail a
 * report because symbols are missing (frames then show module+offset).
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs.h"

/* libstdc++'s demangler (the analyzer links -lstdc++). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

struct symres {
	size_t n;
	struct rs_symframe *f;   /* address and module left unset */
};

struct dwmod {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	struct u64map cache;     /* offset -> struct symres */
};

static bool sym_enabled = true;
static struct strmap mods;       /* "path\nbuild-id" -> struct dwmod */
static struct strmap warned;
static json_t *warnings;

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

void symbolizer_init(bool enabled)
{
	sym_enabled = enabled;
	/* Offline means offline: libdw would otherwise ask debuginfod
	 * servers over the network for what is not on disk. */
	unsetenv("DEBUGINFOD_URLS");
	if (!warnings)
		warnings = json_array();
}

static void symres_free(void *p)
{
	struct symres *s = p;

	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].function);
		free(s->f[i].file);
	}
	free(s->f);
	free(s);
}

static void dwmod_free(void *p)
{
	struct dwmod *m = p;

	if (m->dwfl)
		dwfl_end(m->dwfl);
	u64map_free(&m->cache, symres_free);
	free(m);
}

void symbolizer_end(void)
{
	strmap_free(&mods, dwmod_free);
	strmap_free(&warned, NULL);
	json_decref(warnings);
	warnings = NULL;
}

json_t *symbolizer_warnings(void)
{
	if (!warnings)
		warnings = json_array();
	return warnings;
}

/* Takes msg. */
static void warn_once(const char *key, char *msg)
{
	bool created;

	strmap_slot(&warned, key, &created);
	if (created)
		json_array_append_new(symbolizer_warnings(), json_string(msg));
	free(msg);
}

char *rs_demangle(const char *name)
{
	int status = -1;
	char *d = NULL;
	const char *at = strchr(name, '@');

	/* Symbol versions (memcpy@@GLIBC_2.14) name the same function. */
	if (at && at != name) {
		char *bare = xstrndup(name, (size_t)(at - name));

		d = rs_demangle(bare);
		free(bare);
		return d;
	}

	if (name[0] == '_' && name[1] == 'Z')
		d = __cxa_demangle(name, NULL, NULL, &status);
	if (d && status == 0) {
		char *r = xstrdup(d);

		free(d);
		return r;
	}
	free(d);
	return xstrdup(name);
}

static char *file_build_id(Dwfl_Module *mod)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(mod, &bits, &vaddr);

	if (n <= 0)
		return NULL;
	char *hex = xmalloc((size_t)n * 2 + 1);

	for (int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	return hex;
}

static Dwfl_Module *open_file(Dwfl **dwflp, const char *path)
{
	Dwfl *dwfl = dwfl_begin(&callbacks);
	Dwfl_Module *mod;
	int fd;

	if (!dwfl)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dwfl_end(dwfl);
		return NULL;
	}
	/* dwfl owns fd from here on, success or not. */
	mod = dwfl_report_elf(dwfl, path_base(path), path, fd, 0, false);
	if (!mod || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		dwfl_end(dwfl);
		return NULL;
	}
	*dwflp = dwfl;
	return mod;
}

static struct dwmod *module_open(const struct rs_module *m)
{
	char *key = xasprintf("%s\n%s", m->path,
			      m->build_id ? m->build_id : "");
	bool created;
	void **slot = strmap_slot(&mods, key, &created);

	free(key);
	if (!created)
		return *slot;
	struct dwmod *dm = xcalloc(1, sizeof(*dm));

	*slot = dm;
	dm->mod = open_file(&dm->dwfl, m->path);
	if (dm->mod && m->build_id) {
		char *bid = file_build_id(dm->mod);

		if (bid && strcmp(bid, m->build_id)) {
			warn_once(m->path,
				  xasprintf("%s: build-id %s differs from the "
					    "one in the trace: the binary "
					    "changed since the run; its frames "
					    "are not symbolized from it",
					    m->path, bid));
			dwfl_end(dm->dwfl);
			dm->dwfl = NULL;
			dm->mod = NULL;
		}
		free(bid);
	}
	if (!dm->mod && m->build_id && strlen(m->build_id) > 2) {
		char *dbg = xasprintf("/usr/lib/debug/.build-id/%.2s/%s.debug",
				      m->build_id, m->build_id + 2);

		if (access(dbg, R_OK) == 0)
			dm->mod = open_file(&dm->dwfl, dbg);
		free(dbg);
	}
	if (!dm->mod)
		warn_once(m->path, xasprintf("%s: cannot read symbols; its "
					     "frames show module+offset",
					     m->path));
	return dm;
}

static char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute at;
	const char *s;

	s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name,
						  &at));
	if (!s)
		s = dwarf_formstring(dwarf_attr_integrate(
			die, DW_AT_MIPS_linkage_name, &at));
	if (s)
		return rs_demangle(s);
	s = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &at));
	return s ? xstrdup(s) : NULL;
}

/* A source path as a reader can open it: a name the compiler recorded
 * relative to its working directory (an out-of-tree build's
 * "../../src/x.c") is joined with the unit's DW_AT_comp_dir, and "." and
 * ".." segments are folded. */
static char *source_path(Dwarf_Die *cu, const char *file)
{
	Dwarf_Attribute at;
	const char *dir;
	char *joined, *out, *o;

	if (!file)
		return NULL;
	dir = cu ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &at)) : NULL;
	if (file[0] == '/' || !dir || dir[0] != '/')
		return xstrdup(file);
	joined = xasprintf("%s/%s", dir, file);
	out = o = xmalloc(strlen(joined) + 2);
	for (const char *p = joined; *p;) {
		const char *seg = p;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > out && *--o != '/')
				;
			continue;
		}
		*o++ = '/';
		memcpy(o, seg, n);
		o += n;
	}
	if (o == out)
		*o++ = '/';
	*o = 0;
	free(joined);
	return out;
}

static void push(struct symres *r, char *fn, char *file, int64_t line,
		 bool inlined)
{
	r->f = xrealloc(r->f, (r->n + 1) * sizeof(*r->f));
	memset(&r->f[r->n], 0, sizeof(r->f[r->n]));
	r->f[r->n].function = fn;
	r->f[r->n].file = file;
	r->f[r->n].line = line;
	r->f[r->n].inlined = inlined;
	r->n++;
}

/* Frames for one code address (module coordinates, bias 0): the innermost
 * inlined call first, the containing function last. */
static struct symres *resolve(struct dwmod *dm, uint64_t a)
{
	struct symres *r = xcalloc(1, sizeof(*r));
	const char *sym = dwfl_module_addrname(dm->mod, a);
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *dl = dwfl_module_getsrc(dm->mod, a);
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(dm->mod, a, &bias);
	Dwarf_Die *scopes = NULL;
	int ns = cu ? dwarf_getscopes(cu, a - bias, &scopes) : 0;

	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	for (int i = 0; i < ns; i++) {
		int tag = dwarf_tag(&scopes[i]);
		Dwarf_Attribute at;
		Dwarf_Word cf = 0, cl = 0;

		if (tag == DW_TAG_subprogram) {
			char *fn = sym ? rs_demangle(sym)
				       : die_name(&scopes[i]);

			push(r, fn, source_path(cu, file), line, false);
			break;
		}
		if (tag != DW_TAG_inlined_subroutine)
			continue;
		push(r, die_name(&scopes[i]), source_path(cu, file), line, true);
		/* The caller's location is where this call was inlined. */
		Dwarf_Files *files;
		size_t nfiles;

		file = NULL;
		line = 0;
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file,
					       &at), &cf) == 0 &&
		    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 &&
		    cf < nfiles)
			file = dwarf_filesrc(files, cf, NULL, NULL);
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line,
					       &at), &cl) == 0)
			line = (int)cl;
	}
	free(scopes);
	if (!r->n || r->f[r->n - 1].inlined)
		push(r, sym ? rs_demangle(sym) : NULL, source_path(cu, file), line,
		     false);
	return r;
}

static const struct symres *lookup(const struct rs_module *m, uint64_t off)
{
	struct dwmod *dm = module_open(m);
	bool created;

	if (!dm->mod)
		return NULL;
	void **slot = u64map_slot(&dm->cache, off, &created);

	if (created)
		*slot = resolve(dm, off);
	return *slot;
}

static bool is_allocator(const struct rs_symframe *f)
{
	static const char *const exact[] = {
		"malloc", "calloc", "realloc", "reallocarray", "free",
		"aligned_alloc", "memalign", "posix_memalign", "valloc",
		"pvalloc", "strdup", "strndup", "__strdup", "__strndup",
		"wcsdup", "asprintf", "vasprintf", "__vasprintf_internal",
	};
	const char *fn = f->function;

	if (f->module && !strncmp(path_base(f->module), "librefsweep", 11))
		return true;
	if (!fn)
		return false;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(fn, exact[i]))
			return true;
	return !strncmp(fn, "__libc_", 7) || !strncmp(fn, "operator new", 12) ||
	       !strncmp(fn, "_Znwm", 5) || !strncmp(fn, "_Znam", 5) ||
	       !strncmp(fn, "__GI___libc_", 12);
}

struct rs_symstack *stack_symbolize(struct rs_image *im, struct rs_stack *st)
{
	struct rs_symstack *s;
	struct strbuf id = { 0 };
	char buf[64];

	if (st->sym)
		return st->sym;
	s = st->sym = xcalloc(1, sizeof(*s));
	for (uint32_t i = 0; i < st->n; i++) {
		const struct rs_module *m = st->mod[i] >= 0 ?
						    &im->mods[st->mod[i]] : NULL;
		uint64_t off = m ? st->pc[i] - m->base : st->pc[i];
		/* Return addresses: the call is the instruction before. */
		const struct symres *r = m && sym_enabled && off ?
						 lookup(m, off - 1) : NULL;
		size_t nf = r ? r->n : 1;

		s->f = xrealloc(s->f, (s->n + nf) * sizeof(*s->f));
		for (size_t j = 0; j < nf; j++) {
			struct rs_symframe *f = &s->f[s->n++];

			memset(f, 0, sizeof(*f));
			f->address = st->pc[i];
			f->offset = off;
			f->module = m ? xstrdup(m->path) : NULL;
			if (r) {
				f->function = r->f[j].function ?
						      xstrdup(r->f[j].function) :
						      NULL;
				f->file = r->f[j].file ? xstrdup(r->f[j].file)
						       : NULL;
				f->line = r->f[j].line;
				f->inlined = r->f[j].inlined;
			}
		}
	}
	while (s->skip + 1 < s->n && is_allocator(&s->f[s->skip]))
		s->skip++;
	for (size_t i = s->skip; i < s->n; i++) {
		const struct rs_symframe *f = &s->f[i];

		/* Names, not addresses: identities survive ASLR and rebuilds
		 * that do not touch the leaking code. */
		sb_printf(&id, "%s%s@%s", i > s->skip ? ";" : "",
			  frame_label(f, buf, sizeof(buf)),
			  f->module ? path_base(f->module) : "?");
	}
	s->identity = id.p ? id.p : xstrdup("");
	return s;
}
