/*
 * diff.c: `refsweep diff OLD NEW`: the leak groups that appeared, vanished,
 * grew or shrank between two runs. OLD and NEW are run directories, trace
 * files, or baselines written by `check --write-baseline`. Groups are
 * matched by identity (class and symbolized frames), never by address.
 *
 * Exit 1 when a group of a failing class (definite, indirect, cycle by
 * default, --fail-on) appeared or grew; 0 otherwise; 2 on errors.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "rs.h"

static const char diff_usage[] =
	"Usage: refsweep diff [OPTIONS] OLD NEW\n"
	"Leak groups that appeared, vanished, grew or shrank from OLD to NEW "
	"(run\n"
	"directories, trace files, or baselines from check "
	"--write-baseline).\n"
	"\n"
	"  -f, --format FMT   text (default) or json\n"
	"  --fail-on LIST     classes whose new or grown groups exit 1 "
	"(default\n"
	"                     definite,indirect,cycle)\n"
	"  --no-symbolize     do not read debug info\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status: 0 nothing new or grown, 1 new or grown leaks, 2 error.\n";

struct dent {
	char *id, *top;
	int kind;
	struct rs_count c;
};

struct side {
	struct strmap map;   /* identity -> struct dent */
	struct dent **v;
	size_t n;
};

static void add(struct side *s, const char *id, int kind, uint64_t blocks,
		uint64_t bytes, const char *top)
{
	bool created;
	void **slot = strmap_slot(&s->map, id, &created);

	if (created) {
		struct dent *d = xcalloc(1, sizeof(*d));

		d->id = xstrdup(id);
		d->top = xstrdup(top);
		d->kind = kind;
		*slot = d;
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		s->v[s->n++] = d;
	}
	struct dent *d = *slot;

	d->c.blocks += blocks;
	d->c.bytes += bytes;
}

static bool load_baseline_side(const char *path, struct side *s)
{
	json_t *doc = json_load_file(path, 0, NULL);
	json_t *leaks = json_object_get(doc, "leaks"), *v;
	size_t i;

	if (!json_is_integer(json_object_get(doc, "refsweep_baseline")) ||
	    !json_is_array(leaks)) {
		json_decref(doc);
		return false;
	}
	json_array_foreach(leaks, i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *kind = json_string_value(json_object_get(v, "kind"));
		const char *top = json_string_value(json_object_get(v, "top"));
		json_int_t bl = json_integer_value(json_object_get(v, "blocks"));
		json_int_t by = json_integer_value(json_object_get(v, "bytes"));
		int k = kind ? kind_from_name(kind) : -1;

		if (!id || k < 0 || bl < 0 || by < 0) {
			rs_note("%s: leak %zu of the baseline is incomplete; "
				"skipped", path, i);
			continue;
		}
		add(s, id, k, (uint64_t)bl, (uint64_t)by, top ? top : "?");
	}
	json_decref(doc);
	return true;
}

static bool load_side(const char *path, struct side *s)
{
	char *err = NULL;
	struct rs_result *r;
	char buf[64];
	size_t len = strlen(path);

	if (len > 5 && !strcmp(path + len - 5, ".json") &&
	    load_baseline_side(path, s))
		return true;
	r = result_load(path, &err);
	if (!r) {
		rs_err("%s", err);
		free(err);
		return false;
	}
	result_finish(r);
	for (size_t i = 0; i < r->ng; i++) {
		const struct rs_symframe *top = group_top(r->g[i]);

		add(s, r->g[i]->identity, r->g[i]->kind, r->g[i]->c.blocks,
		    r->g[i]->c.bytes,
		    top ? frame_label(top, buf, sizeof(buf)) : "?");
	}
	result_free(r);
	return true;
}

static void dent_free(void *p)
{
	struct dent *d = p;

	free(d->id);
	free(d->top);
	free(d);
}

static json_t *dent_json(const struct dent *d, const struct dent *old)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", d->id, "kind",
			      rs_kind_names[d->kind], "top", d->top, "blocks",
			      (json_int_t)d->c.blocks, "bytes",
			      (json_int_t)d->c.bytes);

	if (old) {
		json_object_set_new(o, "old_blocks",
				    json_integer((json_int_t)old->c.blocks));
		json_object_set_new(o, "old_bytes",
				    json_integer((json_int_t)old->c.bytes));
	}
	return o;
}

int cmd_diff(int argc, char **argv)
{
	struct rs_gate g;
	const char *paths[2] = { 0 }, *format = "text";
	size_t np = 0;
	bool symbolize = true;

	gate_defaults(&g);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(diff_usage, stdout);
			return RS_EXIT_OK;
		}
		if (!strcmp(a, "-f") || !strcmp(a, "--format")) {
			if (i + 1 >= argc) {
				rs_err("%s needs a value", a);
				return RS_EXIT_USAGE;
			}
			format = argv[++i];
			continue;
		}
		if (!strncmp(a, "--format=", 9)) {
			format = a + 9;
			continue;
		}
		if (!strcmp(a, "--no-symbolize")) {
			symbolize = false;
			continue;
		}
		if (!strncmp(a, "--fail-on", 9)) {
			if (gate_option(&g, argc, argv, &i) < 0)
				return RS_EXIT_USAGE;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			rs_err("unknown option '%s' (see refsweep diff --help)",
			       a);
			return RS_EXIT_USAGE;
		}
		if (np == 2) {
			rs_err("diff takes two paths, OLD and NEW");
			return RS_EXIT_USAGE;
		}
		paths[np++] = a;
	}
	if (np != 2) {
		rs_err("diff takes two paths, OLD and NEW (see --help)");
		return RS_EXIT_USAGE;
	}
	if (strcmp(format, "text") && strcmp(format, "json")) {
		rs_err("diff prints text or json, not '%s'", format);
		return RS_EXIT_USAGE;
	}
	struct side old = { 0 }, new = { 0 };

	symbolizer_init(symbolize);
	if (!load_side(paths[0], &old) || !load_side(paths[1], &new)) {
		strmap_free(&old.map, dent_free);
		strmap_free(&new.map, dent_free);
		free(old.v);
		free(new.v);
		return RS_EXIT_USAGE;
	}
	json_t *appeared = json_array(), *vanished = json_array();
	json_t *grew = json_array(), *shrank = json_array();
	bool worse = false;

	for (size_t i = 0; i < new.n; i++) {
		struct dent *d = new.v[i];
		struct dent *o = strmap_get(&old.map, d->id);

		if (!o) {
			json_array_append_new(appeared, dent_json(d, NULL));
			worse |= g.fail_on[d->kind];
		} else if (d->c.bytes > o->c.bytes ||
			   d->c.blocks > o->c.blocks) {
			json_array_append_new(grew, dent_json(d, o));
			worse |= g.fail_on[d->kind];
		} else if (d->c.bytes < o->c.bytes ||
			   d->c.blocks < o->c.blocks) {
			json_array_append_new(shrank, dent_json(d, o));
		}
	}
	for (size_t i = 0; i < old.n; i++)
		if (!strmap_get(&new.map, old.v[i]->id))
			json_array_append_new(vanished,
					      dent_json(old.v[i], NULL));
	json_t *doc = json_pack("{s:o, s:o, s:o, s:o}", "appeared", appeared,
				"grew", grew, "vanished", vanished, "shrank",
				shrank);

	if (!strcmp(format, "json")) {
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		static const char *const sections[] = { "appeared", "grew",
							"shrank", "vanished" };

		for (size_t s = 0; s < 4; s++) {
			json_t *arr = json_object_get(doc, sections[s]), *v;
			size_t i;

			json_array_foreach(arr, i, v) {
				printf("%-9s %s leak: %lld bytes in %lld "
				       "blocks at %s",
				       sections[s],
				       json_string_value(
					       json_object_get(v, "kind")),
				       json_integer_value(
					       json_object_get(v, "bytes")),
				       json_integer_value(
					       json_object_get(v, "blocks")),
				       json_string_value(
					       json_object_get(v, "top")));
				if (json_object_get(v, "old_bytes"))
					printf(" (was %lld bytes in %lld "
					       "blocks)",
					       json_integer_value(json_object_get(
						       v, "old_bytes")),
					       json_integer_value(json_object_get(
						       v, "old_blocks")));
				putchar('\n');
			}
		}
		printf("diff: %zu appeared, %zu grew, %zu shrank, %zu "
		       "vanished\n", json_array_size(appeared),
		       json_array_size(grew), json_array_size(shrank),
		       json_array_size(vanished));
	}
	json_decref(doc);
	strmap_free(&old.map, dent_free);
	strmap_free(&new.map, dent_free);
	free(old.v);
	free(new.v);
	symbolizer_end();
	return worse ? RS_EXIT_FAIL : RS_EXIT_OK;
}
