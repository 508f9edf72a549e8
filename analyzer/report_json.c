/*
 * report_json.c: `report -f json`, the machine-readable report. The names
 * in SPEC.md ("The command line") are a contract with tests no developer
 * sees: summary.<class>.{blocks,bytes}, leaks[].{kind,blocks,bytes,stack[]
 * of {address,function,file,line,module}}, processes[].{pid,exe,
 * exit_status}. Everything else is added alongside, never renamed.
 *
 * Must never: list a suppressed group among leaks[] (they have their own
 * array), or print a raw pointer where SPEC.md says "0x..." strings.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <string.h>

#include "rs.h"

static json_t *count_json(const struct rs_count *c)
{
	return json_pack("{s:I, s:I}", "blocks", (json_int_t)c->blocks,
			 "bytes", (json_int_t)c->bytes);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *frame_json(const struct rs_symframe *f)
{
	char addr[32];
	json_t *o;

	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)f->address);
	o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "address", addr,
		      "function", str_or_null(f->function), "file",
		      str_or_null(f->file), "line",
		      f->line ? json_integer(f->line) : json_null(), "module",
		      str_or_null(f->module));
	if (f->inlined)
		json_object_set_new(o, "inlined", json_true());
	return o;
}

static json_t *frames_json(const struct rs_symframe *f, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, frame_json(&f[i]));
	return a;
}

static json_t *stack_json(struct rs_image *im, uint32_t id)
{
	struct rs_stack *st = image_stack(im, id);
	struct rs_symstack *s;

	if (!st)
		return json_array();
	s = stack_symbolize(im, st);
	return frames_json(s->f + s->skip, s->n - s->skip);
}

static json_t *group_json(const struct rs_group *g)
{
	size_t n;
	const struct rs_symframe *f = group_frames(g, &n);
	json_t *pids = json_array();
	json_t *o;

	for (size_t i = 0; i < g->npids; i++)
		json_array_append_new(pids, json_integer(g->pids[i]));
	o = json_pack("{s:s, s:I, s:I, s:o, s:I, s:o, s:s, s:I, s:I, s:b}",
		      "kind", rs_kind_names[g->kind], "blocks",
		      (json_int_t)g->c.blocks, "bytes", (json_int_t)g->c.bytes,
		      "stack", frames_json(f, n), "pid",
		      (json_int_t)(g->npids ? g->pids[0] : -1), "pids", pids,
		      "id", g->identity, "refs_start",
		      (json_int_t)g->refs_start, "refs_interior",
		      (json_int_t)g->refs_interior, "stack_truncated",
		      g->st && g->st->truncated);
	if (g->sample) {
		char a[32];

		snprintf(a, sizeof(a), "0x%llx", (unsigned long long)g->sample);
		json_object_set_new(o, "sample", json_string(a));
	}
	json_object_set_new(o, "fails_gate", json_boolean(g->failing));
	if (g->baselined)
		json_object_set_new(o, "in_baseline", json_true());
	if (g->suppressed_by)
		json_object_set_new(o, "suppressed_by",
				    json_string(g->suppressed_by));
	return o;
}

static json_t *cycle_json(const struct rs_rcycle *rc)
{
	json_t *mem = json_array();
	char a[32];

	for (size_t i = 0; i < rc->c->n; i++) {
		const struct rs_member *m = &rc->c->m[i];

		snprintf(a, sizeof(a), "0x%llx", (unsigned long long)m->addr);
		json_array_append_new(
			mem, json_pack("{s:s, s:I, s:o}", "address", a, "size",
				       (json_int_t)m->size, "stack",
				       stack_json(rc->im, m->stack)));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:b}", "pid",
			 (json_int_t)rc->im->pid, "id", (json_int_t)rc->c->id,
			 "blocks", (json_int_t)rc->c->blocks, "bytes",
			 (json_int_t)rc->c->bytes, "members", mem,
			 "members_truncated", rc->c->truncated);
}

json_t *report_json_doc(const struct rs_result *r)
{
	json_t *summary = json_object();
	json_t *leaks = json_array(), *supp = json_array();
	json_t *cycles = json_array(), *procs = json_array();
	json_t *freed = json_array(), *warn = json_array();
	json_t *v;
	size_t i;

	for (int k = 0; k < RS_K_COUNT; k++)
		json_object_set_new(summary, rs_kind_names[k],
				    count_json(&r->summary[k]));
	json_object_set_new(summary, "suppressed", count_json(&r->suppressed));
	json_object_set_new(summary, "freed_after_reported",
			    count_json(&r->freed_after));
	for (i = 0; i < r->ng; i++)
		json_array_append_new(r->g[i]->suppressed ? supp : leaks,
				      group_json(r->g[i]));
	for (i = 0; i < r->ncy; i++)
		json_array_append_new(cycles, cycle_json(&r->cy[i]));
	for (i = 0; i < r->nprocs; i++) {
		const struct rs_process *p = &r->procs[i];
		json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:I, s:o, s:i}",
				      "pid", (json_int_t)p->pid, "ppid",
				      (json_int_t)p->ppid, "exe",
				      str_or_null(p->exe), "exit_status",
				      p->has_status ?
					      json_integer(p->exit_status) :
					      json_null(),
				      "signal", (json_int_t)p->signal, "how",
				      str_or_null(p->how), "images",
				      p->nimages);

		if (p->last && p->last->exit_ev) {
			json_t *ex = json_deep_copy(p->last->exit_ev);

			json_object_del(ex, "ev");
			json_object_set_new(o, "exit", ex);
		}
		json_array_append_new(procs, o);
	}
	for (i = 0; i < r->nim; i++) {
		struct rs_image *im = r->im[i];
		size_t j;

		for (j = 0; j < im->nlf; j++) {
			const struct rs_latefree *l = &im->lf[j];

			json_array_append_new(
				freed,
				json_pack("{s:I, s:s, s:I, s:I, s:I, s:o}",
					  "pid", (json_int_t)im->pid, "kind",
					  l->kind >= 0 ? rs_kind_names[l->kind]
						       : "?",
					  "sweep", (json_int_t)l->sweep,
					  "blocks", (json_int_t)l->blocks,
					  "bytes", (json_int_t)l->bytes,
					  "stack", stack_json(im, l->stack)));
		}
		json_array_foreach(im->warnings, j, v) {
			json_t *w = json_deep_copy(v);

			json_object_set_new(w, "pid", json_integer(im->pid));
			json_array_append_new(warn, w);
		}
	}
	json_t *doc = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:O, s:o, s:{s:I, "
		"s:I}}",
		"tool", "refsweep " PACKAGE_VERSION, "path", r->path, "summary",
		summary, "leaks", leaks, "suppressed_leaks", supp, "cycles",
		cycles, "processes", procs, "freed_after_reported", freed,
		"warnings", r->warnings, "trace_warnings", warn, "traces",
		"files", (json_int_t)r->nim, "events", (json_int_t)r->events);

	json_object_set_new(json_object_get(doc, "traces"), "partial_sweeps",
			    json_integer(r->partial_sweeps));
	json_int_t allocs = 0;

	for (i = 0; i < r->nim; i++)
		allocs += (json_int_t)r->im[i]->nalloc_events;
	json_object_set_new(json_object_get(doc, "traces"),
			    "alloc_free_events", json_integer(allocs));
	json_object_set_new(json_object_get(doc, "traces"),
			    "inherited_blocks_counted_as_parents",
			    json_integer((json_int_t)r->inherited_dropped));
	return doc;
}

int report_json(const struct rs_result *r, FILE *out)
{
	json_t *doc = report_json_doc(r);
	int rc = json_dumpf(doc, out, JSON_INDENT(2));

	json_decref(doc);
	fputc('\n', out);
	return rc ? -1 : 0;
}
