/*
 * report_text.c: the report a person reads (`report -f text`, and what
 * `run` prints on stderr). Each leak group is one header line (class,
 * bytes, blocks, processes) and its stack, biggest first; each leaked
 * cycle is listed as a unit with its members; a summary closes it.
 *
 * Colour only on a terminal, and never when NO_COLOR is set
 * (https://no-color.org).
 *
 * Must never: print reachable blocks one by one (they are counted only).
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs.h"

/* Frames shown per stack; the JSON report has them all. */
#define TEXT_MAX_FRAMES 16
/* Cycles listed member by member; the rest are summed. */
#define TEXT_MAX_CYCLES 20
#define TEXT_MAX_MEMBERS 8

bool want_color(FILE *out)
{
	const char *nc = getenv("NO_COLOR");

	if (nc && *nc)
		return false;
	return isatty(fileno(out));
}

struct pal {
	const char *bold, *red, *yellow, *dim, *off;
};

static const struct pal color = { "\033[1m", "\033[1;31m", "\033[1;33m",
				  "\033[2m", "\033[0m" };
static const struct pal plain = { "", "", "", "", "" };

static const char *kind_color(const struct pal *p, int kind)
{
	return kind == RS_K_DEFINITE || kind == RS_K_CYCLE ? p->red
							    : p->yellow;
}

static void print_frames(FILE *out, const struct pal *p,
			 const struct rs_symframe *f, size_t n, const char *ind)
{
	char buf[64];

	for (size_t i = 0; i < n && i < TEXT_MAX_FRAMES; i++) {
		fprintf(out, "%s#%-2zu %s", ind, i,
			frame_label(&f[i], buf, sizeof(buf)));
		if (f[i].file)
			fprintf(out, " %s%s:%lld%s", p->dim, f[i].file,
				(long long)f[i].line, p->off);
		if (f[i].module && f[i].function)
			fprintf(out, " %s(%s)%s", p->dim,
				path_base(f[i].module), p->off);
		if (f[i].inlined)
			fprintf(out, " %s[inlined]%s", p->dim, p->off);
		fputc('\n', out);
	}
	if (n > TEXT_MAX_FRAMES)
		fprintf(out, "%s... %zu more frames (see -f json)\n", ind,
			n - TEXT_MAX_FRAMES);
	if (!n)
		fprintf(out, "%s(no stack recorded)\n", ind);
}

static void print_pids(FILE *out, const struct rs_group *g)
{
	if (g->npids == 1) {
		fprintf(out, " in pid %lld", (long long)g->pids[0]);
		return;
	}
	fprintf(out, " in %zu processes (pid %lld", g->npids,
		(long long)g->pids[0]);
	for (size_t i = 1; i < g->npids && i < 5; i++)
		fprintf(out, ", %lld", (long long)g->pids[i]);
	fputs(g->npids > 5 ? ", ...)" : ")", out);
}

static void print_group(FILE *out, const struct pal *p,
			const struct rs_group *g)
{
	size_t n;
	const struct rs_symframe *f = group_frames(g, &n);

	fprintf(out, "%s%s%s leak: %s%llu bytes%s in %llu block%s",
		kind_color(p, g->kind), rs_kind_names[g->kind], p->off, p->bold,
		(unsigned long long)g->c.bytes, p->off,
		(unsigned long long)g->c.blocks, g->c.blocks == 1 ? "" : "s");
	print_pids(out, g);
	if (g->baselined)
		fputs(" [in baseline]", out);
	fputs(", allocated at:\n", out);
	print_frames(out, p, f, n, "    ");
	fputc('\n', out);
}

static void print_cycle(FILE *out, const struct pal *p,
			const struct rs_rcycle *rc)
{
	char buf[64];

	fprintf(out, "%sleaked reference cycle%s: %s%llu bytes%s in %llu "
		"blocks in pid %lld, members:\n", p->red, p->off, p->bold,
		(unsigned long long)rc->c->bytes, p->off,
		(unsigned long long)rc->c->blocks, (long long)rc->im->pid);
	for (size_t i = 0; i < rc->c->n && i < TEXT_MAX_MEMBERS; i++) {
		const struct rs_member *m = &rc->c->m[i];
		struct rs_stack *st = image_stack(rc->im, m->stack);
		const struct rs_symframe *top = NULL;

		if (st) {
			struct rs_symstack *s = stack_symbolize(rc->im, st);

			for (size_t j = s->skip; j < s->n && !top; j++)
				if (s->f[j].file)
					top = &s->f[j];
			if (!top && s->n)
				top = &s->f[s->skip];
		}
		fprintf(out, "    0x%llx  %llu bytes  from %s",
			(unsigned long long)m->addr,
			(unsigned long long)m->size,
			top ? frame_label(top, buf, sizeof(buf)) : "?");
		if (top && top->file)
			fprintf(out, " %s%s:%lld%s", p->dim, top->file,
				(long long)top->line, p->off);
		fputc('\n', out);
	}
	if (rc->c->n > TEXT_MAX_MEMBERS || rc->c->truncated)
		fprintf(out, "    ... %llu members in all\n",
			(unsigned long long)rc->c->blocks);
	fputc('\n', out);
}

static void print_count(FILE *out, const char *name,
			const struct rs_count *c, bool first)
{
	fprintf(out, "%s%s %llu bytes in %llu block%s", first ? "" : ", ",
		name, (unsigned long long)c->bytes,
		(unsigned long long)c->blocks, c->blocks == 1 ? "" : "s");
}

int report_text(const struct rs_result *r, FILE *out, bool use_color,
		bool only_failing)
{
	const struct pal *p = use_color ? &color : &plain;
	size_t shown = 0, i;
	json_t *v;

	for (i = 0; i < r->ng; i++) {
		const struct rs_group *g = r->g[i];

		if (g->suppressed || (only_failing && !g->failing))
			continue;
		print_group(out, p, g);
		shown++;
	}
	for (i = 0; i < r->ncy && i < TEXT_MAX_CYCLES && !only_failing; i++)
		print_cycle(out, p, &r->cy[i]);
	if (r->ncy > TEXT_MAX_CYCLES && !only_failing)
		fprintf(out, "... %zu more leaked cycles (see -f json)\n\n",
			r->ncy - TEXT_MAX_CYCLES);
	if (r->freed_after.blocks)
		fprintf(out, "freed after it was reported unreachable: %llu "
			"bytes in %llu block%s (not counted as leaked)\n",
			(unsigned long long)r->freed_after.bytes,
			(unsigned long long)r->freed_after.blocks,
			r->freed_after.blocks == 1 ? "" : "s");
	json_array_foreach(r->warnings, i, v)
		fprintf(out, "%swarning:%s %s\n", p->yellow, p->off,
			json_string_value(v));
	for (i = 0; i < r->nim; i++) {
		size_t j;

		json_array_foreach(r->im[i]->warnings, j, v)
			fprintf(out, "%swarning:%s pid %lld: %s: %s\n",
				p->yellow, p->off, (long long)r->im[i]->pid,
				json_string_value(json_object_get(v, "what")),
				json_string_value(json_object_get(v,
								  "detail")));
	}
	fprintf(out, "%sSUMMARY:%s ", p->bold, p->off);
	print_count(out, "definite", &r->summary[RS_K_DEFINITE], true);
	print_count(out, "indirect", &r->summary[RS_K_INDIRECT], false);
	print_count(out, "cycle", &r->summary[RS_K_CYCLE], false);
	print_count(out, "possible", &r->summary[RS_K_POSSIBLE], false);
	print_count(out, "reachable", &r->summary[RS_K_REACHABLE], false);
	if (r->suppressed.blocks)
		print_count(out, "suppressed", &r->suppressed, false);
	fprintf(out, "; %zu process%s", r->nprocs,
		r->nprocs == 1 ? "" : "es");
	fputc('\n', out);
	if (only_failing && !shown)
		fputs("no leak fails the gate\n", out);
	return 0;
}
