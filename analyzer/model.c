/*
 * model.c: turns the traces of one run (a directory of *.rsj files and its
 * run.json, or one trace file) into the run-wide result every report
 * prints: the final state of each process image, blocks a fork child
 * inherited and its parent already reported dropped, leak groups merged
 * across processes by (class, stack), the process list with exit statuses.
 *
 * Rules (docs/trace-format.md, SPEC.md): an image's final state is its last
 * complete sweep, less the blocks freed after it (late_free, applied by the
 * reader); an image replaced by exec contributes no leaks; a block counts
 * once across the tree.
 *
 * Must never: fail on a run directory that is merely incomplete (a trace
 * with no sweep, a killed process): those become warnings in the report.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rs.h"

void result_warn(struct rs_result *r, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = NULL;
	va_end(ap);
	if (p) {
		json_array_append_new(r->warnings, json_string(p));
		free(p);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

static bool add_image(struct rs_result *r, const char *file, char **errmsg)
{
	FILE *f = fopen(file, "r");
	struct rs_image *im;

	if (!f) {
		*errmsg = xasprintf("%s: cannot open: %s", file,
				    strerror(errno));
		return false;
	}
	im = image_read(file, f, errmsg);
	fclose(f);
	if (!im)
		return false;
	if (im->empty) {
		result_warn(r, "%s: no start event (the process wrote nothing "
			    "readable); skipped", file);
		image_free(im);
		return true;
	}
	if (im->truncated)
		result_warn(r, "%s:%llu: last line is truncated (the process "
			    "was killed while writing it); ignored", file,
			    (unsigned long long)im->nlines);
	result_add_image(r, im);
	return true;
}

static bool load_dir(struct rs_result *r, const char *path, char **errmsg)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	bool ok = true;

	if (!d) {
		*errmsg = xasprintf("%s: cannot open directory: %s", path,
				    strerror(errno));
		return false;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !ends_with(de->d_name,
						       RS_TRACE_SUFFIX))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (ok && !add_image(r, names[i], errmsg))
			ok = false;
		free(names[i]);
	}
	free(names);
	if (!ok)
		return false;

	char *rj = xasprintf("%s/run.json", path);
	struct stat st;

	if (stat(rj, &st) == 0) {
		json_error_t jerr;

		r->run = json_load_file(rj, 0, &jerr);
		if (!r->run || !json_is_object(r->run)) {
			result_warn(r, "%s:%d: unreadable run record (%s); "
				    "ignored", rj, jerr.line, jerr.text);
			json_decref(r->run);
			r->run = NULL;
		}
	}
	free(rj);
	if (!r->nim && !r->run) {
		*errmsg = xasprintf("%s: no trace files (*%s) and no run.json "
				    "in this directory", path,
				    RS_TRACE_SUFFIX);
		return false;
	}
	if (!r->nim)
		result_warn(r, "%s: no trace files: the shim wrote nothing "
			    "(a static binary, or one that clears LD_PRELOAD?)",
			    path);
	return true;
}

static struct rs_image *image_by_name(struct rs_result *r, const char *name)
{
	for (size_t i = 0; i < r->nim; i++)
		if (!strcmp(r->im[i]->name, name))
			return r->im[i];
	return NULL;
}

/* The image of pid that was not replaced by a later exec. */
static struct rs_image *last_image_of(struct rs_result *r, int64_t pid)
{
	struct rs_image *last = NULL;

	for (size_t i = 0; i < r->nim; i++) {
		struct rs_image *im = r->im[i];
		bool replaced = false;

		if (im->pid != pid)
			continue;
		for (size_t j = 0; j < r->nim; j++)
			if (r->im[j]->pid == pid && r->im[j]->exec_from &&
			    !strcmp(r->im[j]->exec_from, im->name))
				replaced = true;
		if (!replaced || !last)
			last = im;
	}
	return last;
}

static void link_images(struct rs_result *r)
{
	for (size_t i = 0; i < r->nim; i++) {
		struct rs_image *im = r->im[i];

		im->contributes = !(im->has_exit && !strcmp(im->how,
							    RS_EXIT_EXEC));
		for (size_t j = 0; j < r->nim; j++)
			if (r->im[j]->exec_from &&
			    !strcmp(r->im[j]->exec_from, im->name))
				im->contributes = false;
		if (im->forked_from < 0)
			continue;
		if (im->parent_image)
			im->parent = image_by_name(r, im->parent_image);
		if (!im->parent)
			im->parent = last_image_of(r, im->forked_from);
	}
}

/* Drops from a fork child the inherited blocks its parent reports leaked.
 * The parent names addresses only for samples, cycle members and its own
 * inherited blocks; past those, a parent group with the same stack stands
 * for as many blocks as it holds. */
static void dedup_inherited(struct rs_result *r, struct rs_image *im)
{
	struct rs_image *p = im->parent;
	struct u64map addrs = { 0 };
	struct strmap budget = { 0 };
	bool created;

	if (!im->final || !p || !p->contributes || !p->final)
		return;
	for (size_t i = 0; i < p->final->ng; i++) {
		struct rs_lgroup *g = &p->final->g[i];
		struct rs_stack *st = image_stack(p, g->stack);

		if (g->sample)
			*u64map_slot(&addrs, g->sample, &created) = g;
		for (size_t j = 0; j < g->naddrs; j++)
			*u64map_slot(&addrs, g->addrs[j], &created) = g;
		if (st) {
			void **b = strmap_slot(&budget, st->key, &created);

			*b = (void *)((uintptr_t)*b + g->blocks);
		}
	}
	for (size_t i = 0; i < p->final->nc; i++)
		for (size_t j = 0; j < p->final->c[i].n; j++)
			*u64map_slot(&addrs, p->final->c[i].m[j].addr,
				     &created) = &addrs;

	uint64_t dropped_blocks = 0;

	for (size_t i = 0; i < im->final->ng; i++) {
		struct rs_lgroup *g = &im->final->g[i];
		struct rs_stack *st = image_stack(im, g->stack);
		void **b = st ? strmap_slot(&budget, st->key, &created) : NULL;
		uint64_t drop = 0;

		if (!g->inherited || !g->blocks)
			continue;
		if (g->naddrs) {
			for (size_t j = 0; j < g->naddrs; j++) {
				bool named = u64map_get(&addrs, g->addrs[j]);

				/* A named block uses up its group's share, so
				 * the stack rule cannot count it twice. */
				if (named || (b && (uintptr_t)*b))
					drop++;
				if (b && (uintptr_t)*b)
					*b = (void *)((uintptr_t)*b - 1);
			}
		} else if (b) {
			drop = (uintptr_t)*b;
			*b = (void *)(uintptr_t)(drop > g->blocks ?
						 drop - g->blocks : 0);
		}
		if (drop > g->blocks)
			drop = g->blocks;
		if (!drop)
			continue;
		g->bytes -= drop == g->blocks ? g->bytes
					      : g->bytes / g->blocks * drop;
		g->blocks -= drop;
		dropped_blocks += drop;
	}
	for (size_t i = 0; i < im->final->nc; i++) {
		struct rs_cycle *c = &im->final->c[i];
		size_t in = 0;

		for (size_t j = 0; j < c->n; j++)
			in += u64map_get(&addrs, c->m[j].addr) != NULL;
		if (c->n && in == c->n)
			c->blocks = c->bytes = 0;
	}
	u64map_free(&addrs, NULL);
	strmap_free(&budget, NULL);
	r->inherited_dropped += dropped_blocks;
}

static void add_pid(struct rs_group *g, int64_t pid)
{
	for (size_t i = 0; i < g->npids; i++)
		if (g->pids[i] == pid)
			return;
	g->pids = xrealloc(g->pids, (g->npids + 1) * sizeof(*g->pids));
	g->pids[g->npids++] = pid;
}

static void group_images(struct rs_result *r)
{
	struct strmap groups = { 0 };
	bool created;

	for (size_t i = 0; i < r->nim; i++) {
		struct rs_image *im = r->im[i];
		struct rs_sweep *f = im->final;

		if (!im->contributes)
			continue;
		if (!f) {
			result_warn(r, "%s: pid %lld (%s) has no complete sweep; "
				    "its leaks are unknown", im->name,
				    (long long)im->pid, im->exe);
			continue;
		}
		if (f->partial)
			result_warn(r, "%s: the final sweep of pid %lld was "
				    "partial (%s): blocks it could not judge "
				    "are not reported", im->name,
				    (long long)im->pid,
				    f->reason ? f->reason : "no reason given");
		r->partial_sweeps += im->npartial;
		r->summary[RS_K_REACHABLE].blocks +=
			f->classes[RS_K_REACHABLE].blocks;
		r->summary[RS_K_REACHABLE].bytes +=
			f->classes[RS_K_REACHABLE].bytes;
		for (size_t j = 0; j < f->ng; j++) {
			struct rs_lgroup *lg = &f->g[j];
			struct rs_stack *st = image_stack(im, lg->stack);
			char *key;

			if (!lg->blocks)
				continue;
			if (lg->stack && !st)
				result_warn(r, "%s: stack %u is used but never "
					    "defined", im->name, lg->stack);
			key = xasprintf("%d|%s", lg->kind,
					st ? st->key : "-");
			void **slot = strmap_slot(&groups, key, &created);

			free(key);
			if (created) {
				struct rs_group *g = xcalloc(1, sizeof(*g));

				g->kind = lg->kind;
				g->im = im;
				g->st = st;
				g->sample = lg->sample;
				*slot = g;
				r->g = xrealloc(r->g,
						(r->ng + 1) * sizeof(*r->g));
				r->g[r->ng++] = g;
			}
			struct rs_group *g = *slot;

			g->c.blocks += lg->blocks;
			g->c.bytes += lg->bytes;
			g->refs_start += lg->refs_start;
			g->refs_interior += lg->refs_interior;
			add_pid(g, im->pid);
			r->summary[g->kind].blocks += lg->blocks;
			r->summary[g->kind].bytes += lg->bytes;
		}
		for (size_t j = 0; j < f->nc; j++) {
			if (!f->c[j].blocks)
				continue;
			r->cy = xrealloc(r->cy, (r->ncy + 1) * sizeof(*r->cy));
			r->cy[r->ncy++] = (struct rs_rcycle){ im, &f->c[j] };
		}
		for (size_t j = 0; j < im->nlf; j++) {
			r->freed_after.blocks += im->lf[j].blocks;
			r->freed_after.bytes += im->lf[j].bytes;
		}
	}
	strmap_free(&groups, NULL);
}

static int64_t proc_root;

/* The root process first, then by pid. */
static int cmp_proc(const void *a, const void *b)
{
	const struct rs_process *x = a, *y = b;

	if ((x->pid == proc_root) != (y->pid == proc_root))
		return x->pid == proc_root ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void add_processes(struct rs_result *r)
{
	json_t *run = r->run;
	int64_t root = -1;

	if (run && json_is_integer(json_object_get(run, "pid")))
		root = json_integer_value(json_object_get(run, "pid"));
	for (size_t i = 0; i < r->nim; i++) {
		struct rs_image *im = r->im[i];
		struct rs_process *p = NULL;

		for (size_t j = 0; j < r->nprocs; j++)
			if (r->procs[j].pid == im->pid)
				p = &r->procs[j];
		if (!p) {
			r->procs = xrealloc(r->procs, (r->nprocs + 1) *
							      sizeof(*r->procs));
			p = &r->procs[r->nprocs++];
			memset(p, 0, sizeof(*p));
			p->pid = im->pid;
			p->ppid = im->forked_from >= 0 ? im->forked_from
						       : im->ppid;
			p->last = last_image_of(r, im->pid);
		}
		p->nimages++;
	}
	if (root >= 0) {
		bool seen = false;

		for (size_t j = 0; j < r->nprocs; j++)
			seen |= r->procs[j].pid == root;
		if (!seen) {
			r->procs = xrealloc(r->procs, (r->nprocs + 1) *
							      sizeof(*r->procs));
			memset(&r->procs[r->nprocs], 0, sizeof(*r->procs));
			r->procs[r->nprocs].pid = root;
			r->procs[r->nprocs].ppid = -1;
			r->nprocs++;
		}
	}
	proc_root = root;
	if (r->nprocs)
		qsort(r->procs, r->nprocs, sizeof(*r->procs), cmp_proc);
	for (size_t j = 0; j < r->nprocs; j++) {
		struct rs_process *p = &r->procs[j];
		struct rs_image *im = p->last;

		p->exe = im ? im->exe : NULL;
		if (im && im->has_exit && strcmp(im->how, RS_EXIT_EXEC)) {
			p->has_status = true;
			p->how = im->how;
			p->signal = im->signal;
			p->exit_status = !strcmp(im->how, RS_EXIT_SIGNAL) ?
						 128 + im->signal : im->status;
		}
		/* The wait status run saw is the truth for the root: it also
		 * covers a kill that left no exit event. */
		if (p->pid == root) {
			json_t *es = json_object_get(run, "exit_status");
			json_t *sig = json_object_get(run, "signal");
			json_t *argv = json_object_get(run, "argv");

			if (json_is_integer(sig) && json_integer_value(sig)) {
				p->has_status = true;
				p->signal = json_integer_value(sig);
				p->exit_status = 128 + p->signal;
				p->how = RS_EXIT_SIGNAL;
			} else if (json_is_integer(es)) {
				p->has_status = true;
				p->exit_status = json_integer_value(es);
				if (!p->how)
					p->how = RS_EXIT_RETURN;
			}
			if (!p->exe && json_is_string(json_array_get(argv, 0)))
				p->exe = json_string_value(
					json_array_get(argv, 0));
		}
		json_int_t dropped = json_integer_value(
			json_object_get(im ? im->exit_ev : NULL,
					"events_dropped"));

		if (dropped > 0)
			result_warn(r, "pid %lld (%s) dropped %lld trace events: "
				    "its report may be incomplete",
				    (long long)p->pid, p->exe ? p->exe : "?",
				    (long long)dropped);
		if (!p->has_status && im && !im->has_exit)
			result_warn(r, "pid %lld (%s) left no exit event: it "
				    "was killed or is still running",
				    (long long)p->pid, p->exe ? p->exe : "?");
	}
}

struct rs_result *result_load(const char *path, char **errmsg)
{
	struct rs_result *r = result_new(path);
	struct stat st;
	bool ok;

	if (stat(path, &st) < 0) {
		*errmsg = xasprintf("%s: %s", path, strerror(errno));
		result_free(r);
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
		ok = load_dir(r, path, errmsg);
	else
		ok = add_image(r, path, errmsg);
	if (ok && !S_ISDIR(st.st_mode) && !r->nim) {
		*errmsg = xasprintf("%s: not a refsweep trace (no start event)",
				    path);
		ok = false;
	}
	if (!ok) {
		result_free(r);
		return NULL;
	}
	result_build(r);
	return r;
}

struct rs_result *result_new(const char *path)
{
	struct rs_result *r = xcalloc(1, sizeof(*r));

	r->path = xstrdup(path);
	r->warnings = json_array();
	return r;
}

void result_add_image(struct rs_result *r, struct rs_image *im)
{
	r->im = xrealloc(r->im, (r->nim + 1) * sizeof(*r->im));
	r->im[r->nim++] = im;
	r->events += im->nevents;
}

void result_build(struct rs_result *r)
{
	link_images(r);
	for (size_t i = 0; i < r->nim; i++)
		dedup_inherited(r, r->im[i]);
	group_images(r);
	add_processes(r);
}

void result_free(struct rs_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ng; i++) {
		free(r->g[i]->pids);
		free(r->g[i]->identity);
		free(r->g[i]->suppressed_by);
		free(r->g[i]);
	}
	free(r->g);
	for (size_t i = 0; i < r->nim; i++)
		image_free(r->im[i]);
	free(r->im);
	free(r->cy);
	free(r->procs);
	json_decref(r->run);
	json_decref(r->warnings);
	free(r->path);
	free(r);
}

static int cmp_group(const void *a, const void *b)
{
	const struct rs_group *x = *(struct rs_group *const *)a;
	const struct rs_group *y = *(struct rs_group *const *)b;

	if (x->c.bytes != y->c.bytes)
		return x->c.bytes > y->c.bytes ? -1 : 1;
	if (x->c.blocks != y->c.blocks)
		return x->c.blocks > y->c.blocks ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return strcmp(x->identity, y->identity);
}

static int cmp_cycle(const void *a, const void *b)
{
	const struct rs_rcycle *x = a, *y = b;

	if (x->c->bytes != y->c->bytes)
		return x->c->bytes > y->c->bytes ? -1 : 1;
	if (x->im->pid != y->im->pid)
		return x->im->pid < y->im->pid ? -1 : 1;
	return x->c->id < y->c->id ? -1 : x->c->id > y->c->id;
}

void result_finish(struct rs_result *r)
{
	for (size_t i = 0; i < r->ng; i++) {
		struct rs_group *g = r->g[i];
		struct rs_symstack *s = g->st ? stack_symbolize(g->im, g->st)
					      : NULL;

		g->identity = xasprintf("%s|%s", rs_kind_names[g->kind],
					s ? s->identity : "");
	}
	if (r->ng)
		qsort(r->g, r->ng, sizeof(*r->g), cmp_group);
	if (r->ncy)
		qsort(r->cy, r->ncy, sizeof(*r->cy), cmp_cycle);
	json_t *sw = symbolizer_warnings();
	size_t i;
	json_t *v;

	json_array_foreach(sw, i, v)
		json_array_append(r->warnings, v);
}

const struct rs_symframe *group_frames(const struct rs_group *g, size_t *n)
{
	if (!g->st || !g->st->sym) {
		*n = 0;
		return NULL;
	}
	*n = g->st->sym->n - g->st->sym->skip;
	return g->st->sym->f + g->st->sym->skip;
}

const struct rs_symframe *group_top(const struct rs_group *g)
{
	size_t n;
	const struct rs_symframe *f = group_frames(g, &n);

	for (size_t i = 0; i < n; i++)
		if (f[i].file && f[i].line)
			return &f[i];
	return n ? f : NULL;
}

const char *frame_label(const struct rs_symframe *f, char *buf, size_t len)
{
	if (f->function)
		return f->function;
	snprintf(buf, len, "%s+0x%llx",
		 f->module ? path_base(f->module) : "?",
		 (unsigned long long)f->offset);
	return buf;
}
