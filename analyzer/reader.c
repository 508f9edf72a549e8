/*
 * reader.c: reads one trace file (one process image) into struct rs_image,
 * streaming, one line at a time, following docs/trace-format.md.
 *
 * Keeps only what the final report needs: modules, distinct stacks, the
 * leak groups and cycles of the last complete sweep (and of the sweep being
 * written), late frees aggregated by (kind, stack), the exit event. trace=all
 * events are counted without being parsed.
 *
 * Must never: keep per-event state that grows with the trace's length,
 * crash or hang on any input (tests/fuzz exercises it), or accept a line it
 * could not understand without saying where ("PATH:LINE: ...").
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rs.h"

const char *const rs_kind_names[RS_K_COUNT] = {
	RS_KIND_DEFINITE, RS_KIND_INDIRECT, RS_KIND_CYCLE, RS_KIND_POSSIBLE,
	RS_KIND_REACHABLE,
};

int kind_from_name(const char *s)
{
	for (int k = 0; k < RS_K_COUNT; k++)
		if (!strcmp(s, rs_kind_names[k]))
			return k;
	return -1;
}

/* Warnings kept per image; past this many only the count grows. */
#define MAX_KEPT_WARNINGS 100

struct rd {
	const char *path;
	uint64_t line;
	char *err;
	struct rs_image *im;
	uint64_t warnings_seen;
};

static bool fail(struct rd *rd, const char *what, const char *key)
{
	if (!rd->err)
		rd->err = key ? xasprintf("%s:%llu: %s '%s'", rd->path,
					  (unsigned long long)rd->line, what, key)
			      : xasprintf("%s:%llu: %s", rd->path,
					  (unsigned long long)rd->line, what);
	return false;
}

/* Field readers: absent optional fields keep *out; a field of the wrong
 * type is an error naming it. */
static bool get_int(struct rd *rd, json_t *o, const char *key, bool req,
		    int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return req ? fail(rd, "missing field", key) : true;
	if (!json_is_integer(v))
		return fail(rd, "expected an integer in field", key);
	*out = json_integer_value(v);
	return true;
}

static bool get_uint(struct rd *rd, json_t *o, const char *key, bool req,
		     uint64_t *out)
{
	int64_t v = (int64_t)*out;

	if (!get_int(rd, o, key, req, &v))
		return false;
	if (v < 0)
		return fail(rd, "expected a non-negative integer in field", key);
	*out = (uint64_t)v;
	return true;
}

static bool get_str(struct rd *rd, json_t *o, const char *key, bool req,
		    const char **out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return req ? fail(rd, "missing field", key) : true;
	if (!json_is_string(v))
		return fail(rd, "expected a string in field", key);
	*out = json_string_value(v);
	return true;
}

static bool get_bool(struct rd *rd, json_t *o, const char *key, bool *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return true;
	if (!json_is_boolean(v))
		return fail(rd, "expected true or false in field", key);
	*out = json_is_true(v);
	return true;
}

static bool addr_of(struct rd *rd, json_t *v, const char *key, uint64_t *out)
{
	if (!json_is_string(v) || !parse_hex_addr(json_string_value(v), out))
		return fail(rd, "expected an address \"0x...\" in field", key);
	return true;
}

static bool get_addr(struct rd *rd, json_t *o, const char *key, bool req,
		     uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return req ? fail(rd, "missing field", key) : true;
	return addr_of(rd, v, key, out);
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

static void add_warning(struct rd *rd, const char *what, const char *detail)
{
	struct rs_image *im = rd->im;

	if (++rd->warnings_seen > MAX_KEPT_WARNINGS)
		return;
	json_array_append_new(im->warnings,
			      json_pack("{s:s, s:s}", "what", what, "detail",
					detail ? detail : ""));
}

static bool ev_start(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	const char *schema = NULL, *version = NULL, *s;
	unsigned major, minor;
	char tail;

	if (!get_str(rd, o, "schema", false, &schema) ||
	    !get_str(rd, o, "version", true, &version))
		return false;
	if (schema && strcmp(schema, RS_SCHEMA_NAME))
		return fail(rd, "not a refsweep trace: schema is", schema);
	/* "MAJOR.MINOR", anything after that (a patch level) ignored. */
	int nv = sscanf(version, "%u.%u%c", &major, &minor, &tail);

	if (nv < 2 || (nv == 3 && tail != '.'))
		return fail(rd, "unreadable schema version", version);
	if (major != RS_SCHEMA_MAJOR) {
		rd->err = xasprintf("%s:%llu: trace schema version %s is not "
				    "%d.x, the major version this refsweep "
				    "reads; use a refsweep that matches the "
				    "shim that wrote it", rd->path,
				    (unsigned long long)rd->line, version,
				    RS_SCHEMA_MAJOR);
		return false;
	}
	set_str(&im->version, version);
	if (!get_int(rd, o, "pid", true, &im->pid) ||
	    !get_int(rd, o, "ppid", false, &im->ppid) ||
	    !get_int(rd, o, "forked_from", false, &im->forked_from))
		return false;
	s = NULL;
	if (!get_str(rd, o, "exe", false, &s))
		return false;
	set_str(&im->exe, s ? s : "?");
	s = NULL;
	if (!get_str(rd, o, "parent_image", false, &s))
		return false;
	set_str(&im->parent_image, s);
	s = NULL;
	if (!get_str(rd, o, "exec_from", false, &s))
		return false;
	set_str(&im->exec_from, s);
	json_t *argv = json_object_get(o, "argv");

	if (argv) {
		if (!json_is_array(argv))
			return fail(rd, "expected an array in field", "argv");
		json_decref(im->argv);
		im->argv = json_incref(argv);
	}
	return true;
}

static bool ev_module(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	const char *path = NULL, *bid = NULL;
	uint64_t base = 0, size = 0;
	bool main = false;

	if (!get_str(rd, o, "path", true, &path) ||
	    !get_addr(rd, o, "base", true, &base) ||
	    !get_uint(rd, o, "size", false, &size) ||
	    !get_str(rd, o, "build_id", false, &bid) ||
	    !get_bool(rd, o, "main", &main))
		return false;
	im->mods_dirty = true;
	/* A library dlopen'ed again at the same place is the same module:
	 * the list stays as long as the distinct objects, not the loads. */
	for (size_t i = 0; i < im->nmods; i++) {
		struct rs_module *m = &im->mods[i];

		if (m->gone && m->base == base && m->size == size &&
		    !strcmp(m->path, path) &&
		    !strcmp(m->build_id ? m->build_id : "", bid ? bid : "")) {
			m->gone = false;
			return true;
		}
	}
	if (im->nmods == im->capmods) {
		im->capmods = im->capmods ? im->capmods * 2 : 16;
		im->mods = xrealloc(im->mods, im->capmods * sizeof(*im->mods));
	}
	struct rs_module *m = &im->mods[im->nmods++];

	memset(m, 0, sizeof(*m));
	m->path = xstrdup(path);
	m->base = base;
	m->size = size;
	m->build_id = bid ? xstrdup(bid) : NULL;
	m->main = main;
	return true;
}

static bool ev_unload(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	const char *path = NULL;
	uint64_t base = 0;

	if (!get_str(rd, o, "path", true, &path) ||
	    !get_addr(rd, o, "base", true, &base))
		return false;
	for (size_t i = 0; i < im->nmods; i++)
		if (!im->mods[i].gone && im->mods[i].base == base &&
		    !strcmp(im->mods[i].path, path))
			im->mods[i].gone = true;
	im->mods_dirty = true;
	return true;
}

static const struct rs_image *sort_im;

static int cmp_base(const void *a, const void *b)
{
	uint64_t x = sort_im->mods[*(const int32_t *)a].base;
	uint64_t y = sort_im->mods[*(const int32_t *)b].base;

	return x < y ? -1 : x > y;
}

/* The live modules by base, rebuilt after module and unload events, so a
 * stack resolves in log time however many objects were loaded. */
static void index_modules(struct rs_image *im)
{
	im->nlive = 0;
	im->zero = -1;
	im->live = xrealloc(im->live, (im->nmods + 1) * sizeof(*im->live));
	for (size_t i = 0; i < im->nmods; i++) {
		if (im->mods[i].gone)
			continue;
		if (im->mods[i].base == 0 && im->zero < 0)
			im->zero = (int32_t)i;
		im->live[im->nlive++] = (int32_t)i;
	}
	sort_im = im;
	if (im->nlive)
		qsort(im->live, im->nlive, sizeof(*im->live), cmp_base);
	im->mods_dirty = false;
}

/* The module an address falls in, among those loaded now: the one with
 * the highest base at or below it whose size covers it. A non-PIE
 * executable has load bias 0 and its segments far above it, so a module
 * at bias 0 takes what no range holds. */
static int32_t module_of(struct rs_image *im, uint64_t pc)
{
	size_t lo = 0, hi;

	if (im->mods_dirty)
		index_modules(im);
	hi = im->nlive;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (im->mods[im->live[mid]].base <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo) {
		const struct rs_module *m = &im->mods[im->live[lo - 1]];

		if (pc - m->base < m->size)
			return im->live[lo - 1];
	}
	return im->zero;
}

static void stack_free(void *p)
{
	struct rs_stack *st = p;

	if (!st)
		return;
	free(st->pc);
	free(st->mod);
	free(st->key);
	if (st->sym) {
		for (size_t i = 0; i < st->sym->n; i++) {
			free(st->sym->f[i].function);
			free(st->sym->f[i].file);
			free(st->sym->f[i].module);
		}
		free(st->sym->f);
		free(st->sym->identity);
		free(st->sym);
	}
	free(st);
}

static bool ev_stack(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	uint64_t id = 0;
	bool trunc = false, created;
	json_t *frames = json_object_get(o, "frames");

	if (!get_uint(rd, o, "id", true, &id) ||
	    !get_bool(rd, o, "truncated", &trunc))
		return false;
	if (!json_is_array(frames))
		return fail(rd, "expected an array in field", "frames");
	if (id == 0 || id > UINT32_MAX)
		return fail(rd, "stack id out of range", "id");
	void **slot = u64map_slot(&im->stacks, id, &created);

	if (!created)
		return true;	/* emitted once per trace; keep the first */
	struct rs_stack *st = xcalloc(1, sizeof(*st));
	struct strbuf key = { 0 };
	size_t n = json_array_size(frames);

	*slot = st;
	st->id = (uint32_t)id;
	st->truncated = trunc;
	st->pc = xcalloc(n, sizeof(*st->pc));
	st->mod = xcalloc(n, sizeof(*st->mod));
	for (size_t i = 0; i < n; i++) {
		if (!addr_of(rd, json_array_get(frames, i), "frames",
			     &st->pc[i])) {
			sb_free(&key);
			return false;
		}
		st->n++;
		st->mod[i] = module_of(im, st->pc[i]);
		if (st->mod[i] >= 0) {
			const struct rs_module *m = &im->mods[st->mod[i]];

			sb_printf(&key, "%s+%llx;", path_base(m->path),
				  (unsigned long long)(st->pc[i] - m->base));
		} else {
			sb_printf(&key, "?+%llx;",
				  (unsigned long long)st->pc[i]);
		}
	}
	st->key = key.p ? key.p : xstrdup("");
	return true;
}

static void sweep_free(struct rs_sweep *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ng; i++)
		free(s->g[i].addrs);
	free(s->g);
	for (size_t i = 0; i < s->nc; i++)
		free(s->c[i].m);
	free(s->c);
	free(s->trigger);
	free(s->reason);
	free(s);
}

/* The sweep that leak and cycle events with this seq belong to. */
static struct rs_sweep *pending(struct rs_image *im, int64_t seq)
{
	if (im->pending && im->pending->seq != seq) {
		sweep_free(im->pending);
		im->pending = NULL;
	}
	if (!im->pending) {
		im->pending = xcalloc(1, sizeof(*im->pending));
		im->pending->seq = seq;
	}
	return im->pending;
}

static bool ev_leak(struct rd *rd, json_t *o)
{
	struct rs_lgroup g = { 0 };
	int64_t seq = 0;
	const char *kind = NULL;
	json_t *addrs;

	if (!get_int(rd, o, "sweep", true, &seq) ||
	    !get_str(rd, o, "kind", true, &kind))
		return false;
	g.kind = kind_from_name(kind);
	if (g.kind < 0 || g.kind == RS_K_REACHABLE) {
		add_warning(rd, "analyzer", "leak event of an unknown kind "
			    "skipped");
		return true;
	}
	uint64_t stack = 0;

	if (!get_uint(rd, o, "stack", true, &stack) ||
	    !get_uint(rd, o, "blocks", true, &g.blocks) ||
	    !get_uint(rd, o, "bytes", true, &g.bytes) ||
	    !get_addr(rd, o, "sample", false, &g.sample) ||
	    !get_uint(rd, o, "sample_size", false, &g.sample_size) ||
	    !get_uint(rd, o, "refs_start", false, &g.refs_start) ||
	    !get_uint(rd, o, "refs_interior", false, &g.refs_interior) ||
	    !get_bool(rd, o, "inherited", &g.inherited))
		return false;
	if (stack > UINT32_MAX)
		return fail(rd, "stack id out of range", "stack");
	g.stack = (uint32_t)stack;
	addrs = json_object_get(o, "addresses");
	if (addrs) {
		if (!json_is_array(addrs))
			return fail(rd, "expected an array in field",
				    "addresses");
		g.naddrs = json_array_size(addrs);
		g.addrs = xcalloc(g.naddrs, sizeof(*g.addrs));
		for (size_t i = 0; i < g.naddrs; i++)
			if (!addr_of(rd, json_array_get(addrs, i), "addresses",
				     &g.addrs[i])) {
				free(g.addrs);
				return false;
			}
	}
	struct rs_sweep *s = pending(rd->im, seq);

	if (s->ng == s->capg) {
		s->capg = s->capg ? s->capg * 2 : 16;
		s->g = xrealloc(s->g, s->capg * sizeof(*s->g));
	}
	s->g[s->ng++] = g;
	return true;
}

static bool ev_cycle(struct rd *rd, json_t *o)
{
	struct rs_cycle c = { 0 };
	int64_t seq = 0;
	json_t *mem = json_object_get(o, "members");

	if (!get_int(rd, o, "sweep", true, &seq) ||
	    !get_int(rd, o, "id", false, &c.id) ||
	    !get_uint(rd, o, "blocks", true, &c.blocks) ||
	    !get_uint(rd, o, "bytes", true, &c.bytes) ||
	    !get_bool(rd, o, "members_truncated", &c.truncated))
		return false;
	if (mem && !json_is_array(mem))
		return fail(rd, "expected an array in field", "members");
	c.n = json_array_size(mem);
	c.m = xcalloc(c.n, sizeof(*c.m));
	for (size_t i = 0; i < c.n; i++) {
		json_t *m = json_array_get(mem, i);
		uint64_t st = 0;

		if (!json_is_object(m)) {
			free(c.m);
			return fail(rd, "expected objects in field", "members");
		}
		if (!get_addr(rd, m, "address", true, &c.m[i].addr) ||
		    !get_uint(rd, m, "size", false, &c.m[i].size) ||
		    !get_uint(rd, m, "stack", false, &st)) {
			free(c.m);
			return false;
		}
		if (st > UINT32_MAX) {
			free(c.m);
			return fail(rd, "stack id out of range", "stack");
		}
		c.m[i].stack = (uint32_t)st;
	}
	struct rs_sweep *s = pending(rd->im, seq);

	if (s->nc == s->capc) {
		s->capc = s->capc ? s->capc * 2 : 8;
		s->c = xrealloc(s->c, s->capc * sizeof(*s->c));
	}
	s->c[s->nc++] = c;
	return true;
}

static bool ev_sweep(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	int64_t seq = 0, t = 0;
	const char *trigger = NULL, *reason = NULL;
	bool partial = false;
	json_t *classes = json_object_get(o, "classes");

	if (!get_int(rd, o, "seq", true, &seq) ||
	    !get_int(rd, o, "t", false, &t) ||
	    !get_str(rd, o, "trigger", false, &trigger) ||
	    !get_str(rd, o, "reason", false, &reason) ||
	    !get_bool(rd, o, "partial", &partial))
		return false;
	if (classes && !json_is_object(classes))
		return fail(rd, "expected an object in field", "classes");
	struct rs_sweep *s = pending(im, seq);

	for (int k = 0; k < RS_K_COUNT; k++) {
		json_t *c = json_object_get(classes, rs_kind_names[k]);

		if (!c)
			continue;
		if (!json_is_object(c))
			return fail(rd, "expected an object in field",
				    rs_kind_names[k]);
		if (!get_uint(rd, c, "blocks", false, &s->classes[k].blocks) ||
		    !get_uint(rd, c, "bytes", false, &s->classes[k].bytes))
			return false;
	}
	s->trigger = xstrdup(trigger ? trigger : "?");
	s->reason = reason && *reason ? xstrdup(reason) : NULL;
	s->partial = partial;
	s->t = t;
	sweep_free(im->final);
	im->final = s;
	im->pending = NULL;
	im->nsweeps++;
	if (partial)
		im->npartial++;
	return true;
}

static bool ev_late_free(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	uint64_t addr = 0, size = 0, stack = 0;
	int64_t seq = -1;
	const char *kind = NULL;

	if (!get_addr(rd, o, "address", true, &addr) ||
	    !get_uint(rd, o, "size", false, &size) ||
	    !get_uint(rd, o, "stack", false, &stack) ||
	    !get_str(rd, o, "kind", false, &kind) ||
	    !get_int(rd, o, "sweep", false, &seq))
		return false;
	int k = kind ? kind_from_name(kind) : -1;
	struct rs_sweep *f = im->final;

	if (stack > UINT32_MAX)
		return fail(rd, "stack id out of range", "stack");
	/* Only a free after the final sweep changes the final counts; one
	 * reported against an older sweep is gone from the newer one. */
	if (f && f->seq == seq) {
		for (size_t i = 0; i < f->ng; i++) {
			struct rs_lgroup *g = &f->g[i];

			if (g->kind != k || g->stack != stack || !g->blocks)
				continue;
			g->blocks--;
			g->bytes -= size < g->bytes ? size : g->bytes;
			break;
		}
		for (size_t i = 0; i < f->nc; i++) {
			struct rs_cycle *c = &f->c[i];

			for (size_t j = 0; j < c->n; j++) {
				if (c->m[j].addr != addr)
					continue;
				c->m[j] = c->m[--c->n];
				if (c->blocks)
					c->blocks--;
				c->bytes -= size < c->bytes ? size : c->bytes;
				break;
			}
		}
	}
	/* Aggregated by (kind, stack): memory stays bounded by stacks. */
	bool created;
	uint64_t key = (uint64_t)stack << 3 | (uint64_t)(k < 0 ? 7 : k);
	void **slot = u64map_slot(&im->lfidx, key, &created);

	if (created) {
		if (im->nlf == im->caplf) {
			im->caplf = im->caplf ? im->caplf * 2 : 8;
			im->lf = xrealloc(im->lf, im->caplf * sizeof(*im->lf));
		}
		im->lf[im->nlf] = (struct rs_latefree){ k, (uint32_t)stack,
							seq, 0, 0 };
		*slot = (void *)(uintptr_t)(im->nlf++ + 1);
	}
	struct rs_latefree *l = &im->lf[(uintptr_t)*slot - 1];

	l->blocks++;
	l->bytes += size;
	l->sweep = seq;
	return true;
}

static bool ev_exit(struct rd *rd, json_t *o)
{
	struct rs_image *im = rd->im;
	const char *how = NULL;

	if (!get_str(rd, o, "how", false, &how) ||
	    !get_int(rd, o, "status", false, &im->status) ||
	    !get_int(rd, o, "signal", false, &im->signal))
		return false;
	set_str(&im->how, how ? how : RS_EXIT_RETURN);
	im->has_exit = true;
	json_decref(im->exit_ev);
	im->exit_ev = json_incref(o);
	return true;
}

static bool ev_warning(struct rd *rd, json_t *o)
{
	const char *what = NULL, *detail = NULL;

	if (!get_str(rd, o, "what", false, &what) ||
	    !get_str(rd, o, "detail", false, &detail))
		return false;
	add_warning(rd, what ? what : "?", detail);
	return true;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
	size_t pn = strlen(p);

	return n >= pn && !memcmp(s, p, pn);
}

static bool do_line(struct rd *rd, const char *buf, size_t len)
{
	struct rs_image *im = rd->im;
	json_error_t jerr;
	json_t *o;
	const char *ev;
	bool ok = true;

	/* trace=all lines are the bulk of such a trace and carry nothing the
	 * report uses: count them without parsing. */
	if (im->version && (has_prefix(buf, len, "{\"ev\":\"alloc\"") ||
			    has_prefix(buf, len, "{\"ev\":\"free\"") ||
			    has_prefix(buf, len, "{\"ev\":\"realloc\""))) {
		im->nalloc_events++;
		im->nevents++;
		return true;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		rd->err = xasprintf("%s:%llu:%d: not valid JSON: %s", rd->path,
				    (unsigned long long)rd->line, jerr.column,
				    jerr.text);
		return false;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return fail(rd, "expected a JSON object", NULL);
	}
	json_t *evj = json_object_get(o, "ev");

	if (!json_is_string(evj)) {
		json_decref(o);
		return fail(rd, "missing field", "ev");
	}
	ev = json_string_value(evj);
	im->nevents++;
	if (!im->version) {
		if (strcmp(ev, RS_EV_START))
			ok = fail(rd, "not a refsweep trace: the first event "
				  "is not start but", ev);
		else
			ok = ev_start(rd, o);
	} else if (!strcmp(ev, RS_EV_START)) {
		ok = fail(rd, "a second start event", NULL);
	} else if (!strcmp(ev, RS_EV_MODULE)) {
		ok = ev_module(rd, o);
	} else if (!strcmp(ev, RS_EV_UNLOAD)) {
		ok = ev_unload(rd, o);
	} else if (!strcmp(ev, RS_EV_STACK)) {
		ok = ev_stack(rd, o);
	} else if (!strcmp(ev, RS_EV_LEAK)) {
		ok = ev_leak(rd, o);
	} else if (!strcmp(ev, RS_EV_CYCLE)) {
		ok = ev_cycle(rd, o);
	} else if (!strcmp(ev, RS_EV_SWEEP)) {
		ok = ev_sweep(rd, o);
	} else if (!strcmp(ev, RS_EV_LATE_FREE)) {
		ok = ev_late_free(rd, o);
	} else if (!strcmp(ev, RS_EV_EXIT)) {
		ok = ev_exit(rd, o);
	} else if (!strcmp(ev, RS_EV_WARNING)) {
		ok = ev_warning(rd, o);
	} else if (!strcmp(ev, RS_EV_ALLOC) || !strcmp(ev, RS_EV_REALLOC) ||
		   !strcmp(ev, RS_EV_FREE)) {
		im->nalloc_events++;
	}
	/* thread, checkpoint and kinds this version does not know: skipped. */
	json_decref(o);
	return ok;
}

void image_free(struct rs_image *im)
{
	if (!im)
		return;
	free(im->file);
	free(im->name);
	free(im->parent_image);
	free(im->exec_from);
	free(im->exe);
	free(im->version);
	free(im->how);
	json_decref(im->argv);
	json_decref(im->exit_ev);
	json_decref(im->warnings);
	for (size_t i = 0; i < im->nmods; i++) {
		free(im->mods[i].path);
		free(im->mods[i].build_id);
	}
	free(im->mods);
	free(im->live);
	u64map_free(&im->stacks, stack_free);
	sweep_free(im->pending);
	sweep_free(im->final);
	free(im->lf);
	u64map_free(&im->lfidx, NULL);
	free(im);
}

struct rs_stack *image_stack(const struct rs_image *im, uint32_t id)
{
	return id ? u64map_get(&im->stacks, id) : NULL;
}

struct rs_image *image_read(const char *path, FILE *f, char **errmsg)
{
	struct rs_image *im = xcalloc(1, sizeof(*im));
	struct rd rd = { .path = path, .im = im };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	im->file = xstrdup(path);
	im->name = xstrdup(path_base(path));
	im->warnings = json_array();
	im->pid = im->ppid = im->forked_from = -1;
	im->zero = -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		rd.line++;
		if (line[n - 1] != '\n') {
			/* A process killed mid-write leaves this; the format
			 * says to drop it with a note. */
			im->truncated = true;
			break;
		}
		n--;
		if (n && line[n - 1] == '\r')
			n--;
		if (!n)
			continue;
		if (!do_line(&rd, line, (size_t)n))
			break;
	}
	if (!rd.err && ferror(f))
		rd.err = xasprintf("%s: read error: %s", path, strerror(errno));
	free(line);
	im->nlines = rd.line;
	if (rd.warnings_seen > MAX_KEPT_WARNINGS) {
		char *d = xasprintf("%llu more warnings not kept",
				    (unsigned long long)(rd.warnings_seen -
							 MAX_KEPT_WARNINGS));

		json_array_append_new(im->warnings,
				      json_pack("{s:s, s:s}", "what",
						"analyzer", "detail", d));
		free(d);
	}
	if (rd.err) {
		*errmsg = rd.err;
		image_free(im);
		return NULL;
	}
	if (!im->version)
		im->empty = true;
	/* Leaks and cycles of a sweep whose sweep line never came are not a
	 * complete sweep: the final state stays the last complete one. */
	sweep_free(im->pending);
	im->pending = NULL;
	return im;
}

struct rs_image *image_read_mem(const char *name, const char *buf, size_t len,
				char **errmsg)
{
	FILE *f = len ? fmemopen((void *)buf, len, "r") : NULL;
	struct rs_image *im;

	if (!f) {
		im = xcalloc(1, sizeof(*im));
		im->file = xstrdup(name);
		im->name = xstrdup(name);
		im->warnings = json_array();
		im->empty = true;
		return im;
	}
	im = image_read(name, f, errmsg);
	fclose(f);
	return im;
}
