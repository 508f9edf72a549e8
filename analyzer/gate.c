/*
 * gate.c: what makes `check` (and `run`) fail: the classes that fail,
 * thresholds on totals and per group, suppressions in LeakSanitizer's
 * `leak:PATTERN` format, a baseline of known leaks, and GitHub Actions
 * annotations. docs/cli.md documents every rule here.
 *
 * Must never: match on raw addresses (ASLR moves them between runs), or
 * let an unreadable suppression or baseline file pass silently.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rs.h"

void gate_defaults(struct rs_gate *g)
{
	memset(g, 0, sizeof(*g));
	g->fail_on[RS_K_DEFINITE] = true;
	g->fail_on[RS_K_INDIRECT] = true;
	g->fail_on[RS_K_CYCLE] = true;
	g->max_bytes = g->max_blocks = -1;
	g->max_group_bytes = g->max_group_blocks = -1;
	g->leak_exit_code = 23;
}

void gate_free(struct rs_gate *g)
{
	free(g->supp_files);
	g->supp_files = NULL;
	g->nsupp = 0;
}

const char *gate_usage(void)
{
	return "Gate options:\n"
	       "  --fail-on LIST          classes that fail, comma-separated:\n"
	       "                          definite,indirect,cycle,possible "
	       "(default:\n"
	       "                          definite,indirect,cycle; 'none' "
	       "fails nothing)\n"
	       "  --max-bytes N           fail only when failing leaks exceed "
	       "N bytes\n"
	       "  --max-blocks N          fail only when failing leaks exceed "
	       "N blocks\n"
	       "  --max-group-bytes N     ignore leak groups of at most N "
	       "bytes\n"
	       "  --max-group-blocks N    ignore leak groups of at most N "
	       "blocks\n"
	       "  --suppressions FILE     LeakSanitizer-style 'leak:PATTERN' "
	       "lines (repeatable)\n"
	       "  --baseline FILE         only leaks absent from FILE fail\n"
	       "  --write-baseline FILE   write the current leaks as a "
	       "baseline\n";
}

/* "--name VALUE" or "--name=VALUE". */
static const char *opt_value(const char *name, int argc, char **argv, int *i,
			     bool *matched)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	*matched = false;
	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=') {
		*matched = true;
		return a + n + 1;
	}
	if (a[n])
		return NULL;
	*matched = true;
	if (*i + 1 >= argc) {
		rs_err("%s needs a value", name);
		return NULL;
	}
	return argv[++*i];
}

static int num_opt(const char *name, const char *v, int64_t *out)
{
	uint64_t u;

	if (!parse_u64(v, &u) || u > INT64_MAX) {
		rs_err("%s: '%s' is not a non-negative integer", name, v);
		return -1;
	}
	*out = (int64_t)u;
	return 1;
}

int gate_option(struct rs_gate *g, int argc, char **argv, int *i)
{
	static const char *const nums[] = { "--max-bytes", "--max-blocks",
					    "--max-group-bytes",
					    "--max-group-blocks" };
	int64_t *targets[] = { &g->max_bytes, &g->max_blocks,
			       &g->max_group_bytes, &g->max_group_blocks };
	bool m;
	const char *v;

	for (size_t k = 0; k < 4; k++) {
		v = opt_value(nums[k], argc, argv, i, &m);
		if (m)
			return v ? num_opt(nums[k], v, targets[k]) : -1;
	}
	v = opt_value("--fail-on", argc, argv, i, &m);
	if (m) {
		if (!v)
			return -1;
		char *dup = xstrdup(v), *save = NULL;

		memset(g->fail_on, 0, sizeof(g->fail_on));
		for (char *t = strtok_r(dup, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			int k = kind_from_name(t);

			if (!strcmp(t, "none"))
				continue;
			if (k < 0 || k == RS_K_REACHABLE) {
				rs_err("--fail-on: unknown class '%s' (use "
				       "definite, indirect, cycle, possible "
				       "or none)", t);
				free(dup);
				return -1;
			}
			g->fail_on[k] = true;
		}
		free(dup);
		return 1;
	}
	v = opt_value("--suppressions", argc, argv, i, &m);
	if (m) {
		if (!v)
			return -1;
		g->supp_files = xrealloc(g->supp_files, (g->nsupp + 1) *
							   sizeof(char *));
		g->supp_files[g->nsupp++] = v;
		return 1;
	}
	v = opt_value("--baseline", argc, argv, i, &m);
	if (m) {
		g->baseline = v;
		return v ? 1 : -1;
	}
	v = opt_value("--write-baseline", argc, argv, i, &m);
	if (m) {
		g->write_baseline = v;
		return v ? 1 : -1;
	}
	return 0;
}

/* LeakSanitizer's template match: '*' is any run of characters, '^' and
 * '$' anchor; without anchors the pattern may match anywhere. */
static bool match_here(const char *p, const char *t)
{
	for (;;) {
		if (!*p)
			return true;
		if (*p == '$' && !p[1])
			return !*t;
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return true;
			for (; *t; t++)
				if (match_here(p, t))
					return true;
			return match_here(p, t);
		}
		if (!*t || *p != *t)
			return false;
		p++;
		t++;
	}
}

bool supp_match(const char *pattern, const char *text)
{
	if (!text)
		return false;
	if (*pattern == '^')
		return match_here(pattern + 1, text);
	for (const char *t = text;; t++) {
		if (match_here(pattern, t))
			return true;
		if (!*t)
			return false;
	}
}

struct supp {
	char *pattern;
	char *where;     /* "FILE:LINE" */
};

static int load_supp(const char *file, struct supp **out, size_t *n)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;

	if (!f) {
		rs_err("%s: cannot open suppressions: %s", file,
		       strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e;

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
			       line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		e = strchr(s, ':');
		if (!e || e == s || !e[1]) {
			rs_err("%s:%zu: expected 'leak:PATTERN'", file, lineno);
			free(line);
			fclose(f);
			return -1;
		}
		if (strncmp(s, "leak:", 5)) {
			rs_note("%s:%zu: '%.*s' suppressions are not about "
				"leaks; ignored", file, lineno, (int)(e - s), s);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[*n].pattern = xstrdup(e + 1);
		(*out)[*n].where = xasprintf("%s:%zu", file, lineno);
		(*n)++;
	}
	free(line);
	fclose(f);
	return 0;
}

static const char *group_suppressed(const struct rs_group *g,
				    const struct supp *s, size_t ns)
{
	const struct rs_symstack *ss = g->st ? g->st->sym : NULL;

	if (!ss)
		return NULL;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = 0; i < ss->n; i++) {
			const struct rs_symframe *f = &ss->f[i];

			if (supp_match(s[k].pattern, f->function) ||
			    supp_match(s[k].pattern, f->module) ||
			    supp_match(s[k].pattern, f->file))
				return s[k].where;
		}
	return NULL;
}

static int load_baseline(const char *file, struct strmap *ids)
{
	json_error_t jerr;
	json_t *doc = json_load_file(file, 0, &jerr);
	json_t *leaks, *v;
	size_t i;
	bool created;

	if (!doc) {
		rs_err("%s:%d: cannot read baseline: %s", file, jerr.line,
		       jerr.text);
		return -1;
	}
	leaks = json_object_get(doc, "leaks");
	if (!json_is_integer(json_object_get(doc, "refsweep_baseline")) ||
	    !json_is_array(leaks)) {
		rs_err("%s: not a refsweep baseline (write one with "
		       "--write-baseline)", file);
		json_decref(doc);
		return -1;
	}
	json_array_foreach(leaks, i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));

		if (!id) {
			rs_err("%s: leak %zu of the baseline has no \"id\"",
			       file, i);
			json_decref(doc);
			return -1;
		}
		*strmap_slot(ids, id, &created) = leaks;	/* any non-NULL */
	}
	json_decref(doc);
	return 0;
}

int gate_apply(struct rs_gate *g, struct rs_result *r)
{
	struct supp *s = NULL;
	size_t ns = 0;
	int rc = 0;

	for (size_t i = 0; i < g->nsupp && !rc; i++)
		rc = load_supp(g->supp_files[i], &s, &ns);
	for (size_t i = 0; i < r->ng && !rc && ns; i++) {
		struct rs_group *grp = r->g[i];
		const char *by = group_suppressed(grp, s, ns);

		if (!by)
			continue;
		grp->suppressed = true;
		grp->suppressed_by = xstrdup(by);
		r->summary[grp->kind].blocks -= grp->c.blocks;
		r->summary[grp->kind].bytes -= grp->c.bytes;
		r->suppressed.blocks += grp->c.blocks;
		r->suppressed.bytes += grp->c.bytes;
	}
	for (size_t i = 0; i < ns; i++) {
		free(s[i].pattern);
		free(s[i].where);
	}
	free(s);
	if (!rc && g->baseline) {
		struct strmap ids = { 0 };

		rc = load_baseline(g->baseline, &ids);
		for (size_t i = 0; i < r->ng && !rc; i++)
			r->g[i]->baselined =
				strmap_get(&ids, r->g[i]->identity) != NULL;
		strmap_free(&ids, NULL);
	}
	return rc;
}

bool gate_eval(const struct rs_gate *g, struct rs_result *r,
	       struct rs_count *tot)
{
	memset(tot, 0, sizeof(*tot));
	for (size_t i = 0; i < r->ng; i++) {
		struct rs_group *grp = r->g[i];

		grp->failing = false;
		if (!g->fail_on[grp->kind] || grp->suppressed ||
		    grp->baselined)
			continue;
		if (g->max_group_bytes >= 0 &&
		    grp->c.bytes <= (uint64_t)g->max_group_bytes)
			continue;
		if (g->max_group_blocks >= 0 &&
		    grp->c.blocks <= (uint64_t)g->max_group_blocks)
			continue;
		grp->failing = true;
		tot->blocks += grp->c.blocks;
		tot->bytes += grp->c.bytes;
	}
	bool fails;

	if (g->max_bytes < 0 && g->max_blocks < 0)
		fails = tot->blocks > 0;
	else
		fails = (g->max_bytes >= 0 &&
			 tot->bytes > (uint64_t)g->max_bytes) ||
			(g->max_blocks >= 0 &&
			 tot->blocks > (uint64_t)g->max_blocks);
	if (!fails)
		for (size_t i = 0; i < r->ng; i++)
			r->g[i]->failing = false;
	return fails;
}

static int cmp_id(const void *a, const void *b)
{
	const struct rs_group *x = *(struct rs_group *const *)a;
	const struct rs_group *y = *(struct rs_group *const *)b;

	return strcmp(x->identity, y->identity);
}

int gate_write_baseline(const struct rs_result *r, const char *file)
{
	struct rs_group **v = xcalloc(r->ng, sizeof(*v));
	size_t n = 0;
	json_t *leaks = json_array();
	char buf[64];

	for (size_t i = 0; i < r->ng; i++)
		if (!r->g[i]->suppressed)
			v[n++] = r->g[i];
	qsort(v, n, sizeof(*v), cmp_id);
	for (size_t i = 0; i < n; i++) {
		const struct rs_symframe *top = group_top(v[i]);

		json_array_append_new(
			leaks,
			json_pack("{s:s, s:s, s:I, s:I, s:s}", "id",
				  v[i]->identity, "kind",
				  rs_kind_names[v[i]->kind], "blocks",
				  (json_int_t)v[i]->c.blocks, "bytes",
				  (json_int_t)v[i]->c.bytes, "top",
				  top ? frame_label(top, buf, sizeof(buf))
				      : "?"));
	}
	free(v);
	json_t *doc = json_pack("{s:i, s:o}", "refsweep_baseline", 1, "leaks",
				leaks);
	int rc = json_dump_file(doc, file, JSON_INDENT(2) | JSON_SORT_KEYS);

	json_decref(doc);
	if (rc) {
		rs_err("%s: cannot write baseline: %s", file, strerror(errno));
		return -1;
	}
	return 0;
}

/* Workflow command escaping (data, and the stricter property form). */
static void gh_escape(FILE *out, const char *s, bool prop)
{
	for (; *s; s++) {
		if (*s == '%')
			fputs("%25", out);
		else if (*s == '\r')
			fputs("%0D", out);
		else if (*s == '\n')
			fputs("%0A", out);
		else if (prop && *s == ':')
			fputs("%3A", out);
		else if (prop && *s == ',')
			fputs("%2C", out);
		else
			fputc(*s, out);
	}
}

void gate_github_annotations(const struct rs_result *r, FILE *out)
{
	char *ws = canonical_path(getenv("GITHUB_WORKSPACE"));
	char buf[64];

	for (size_t i = 0; i < r->ng; i++) {
		const struct rs_group *g = r->g[i];
		const struct rs_symframe *top = group_top(g);

		if (!g->failing)
			continue;
		fputs("::error ", out);
		if (top && top->file) {
			const char *file = top->file, *rel;

			if ((rel = path_below(file, ws)))
				file = rel;
			fputs("file=", out);
			gh_escape(out, file, true);
			fprintf(out, ",line=%lld,", (long long)top->line);
		}
		fputs("title=", out);
		gh_escape(out, "refsweep: ", true);
		gh_escape(out, rs_kind_names[g->kind], true);
		gh_escape(out, " leak", true);
		fprintf(out, "::%llu bytes in %llu blocks allocated at ",
			(unsigned long long)g->c.bytes,
			(unsigned long long)g->c.blocks);
		gh_escape(out, top ? frame_label(top, buf, sizeof(buf)) : "?",
			  false);
		fputc('\n', out);
	}
	free(ws);
}
