/*
 * report_formats.c: the reports for other tools: SARIF 2.1.0 (GitHub code
 * scanning), JUnit XML (a test case per process, a failure per leak
 * group), collapsed stacks (flamegraph.pl, speedscope) and a standalone
 * HTML page.
 *
 * Must never: emit a SARIF result without a location GitHub can place (a
 * leak without source falls back to the module as its artifact), or emit
 * text into XML/HTML without escaping it.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs.h"

static const char *const kind_text[RS_K_COUNT] = {
	"a block that nothing points at",
	"blocks lost because a leaked block or cycle pointed at them",
	"a leaked reference cycle: blocks that only keep each other alive",
	"blocks reachable only through pointers into their middle",
	"reachable blocks",
};

/* ---- SARIF ---- */

static const char *sarif_level(const struct rs_group *g)
{
	if (g->failing)
		return "error";
	return g->kind == RS_K_POSSIBLE ? "note" : "warning";
}

static json_t *sarif_location(const struct rs_symframe *f, const char *root)
{
	json_t *art, *phys, *loc;

	if (f->file) {
		const char *file = f->file, *rel = path_below(file, root);

		if (rel) {
			art = json_pack("{s:s, s:s}", "uri", rel,
					"uriBaseId", "%SRCROOT%");
		} else if (file[0] == '/') {
			char *uri = xasprintf("file://%s", file);

			art = json_pack("{s:s}", "uri", uri);
			free(uri);
		} else {
			art = json_pack("{s:s, s:s}", "uri", file, "uriBaseId",
					"%SRCROOT%");
		}
		phys = json_pack("{s:o}", "artifactLocation", art);
		if (f->line > 0)
			json_object_set_new(phys, "region",
					    json_pack("{s:I}", "startLine",
						      (json_int_t)f->line));
	} else {
		char *uri = xasprintf("file://%s",
				      f->module ? f->module : "/unknown");
		char addr[32];

		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)f->offset);
		phys = json_pack("{s:{s:s}, s:{s:s}}", "artifactLocation",
				 "uri", uri, "address", "absoluteAddress",
				 addr);
		free(uri);
		/* absoluteAddress is an integer in SARIF: use it. */
		json_object_set_new(json_object_get(phys, "address"),
				    "absoluteAddress",
				    json_integer((json_int_t)f->address));
	}
	loc = json_pack("{s:o}", "physicalLocation", phys);
	if (f->function)
		json_object_set_new(
			loc, "logicalLocations",
			json_pack("[{s:s, s:s}]", "fullyQualifiedName",
				  f->function, "kind", "function"));
	return loc;
}

int report_sarif(const struct rs_result *r, FILE *out, const char *srcroot)
{
	json_t *rules = json_array(), *results = json_array();
	char cwd[PATH_MAX];
	char buf[64];
	char *root = canonical_path(srcroot ? srcroot
				    : getcwd(cwd, sizeof(cwd)));

	for (int k = 0; k < RS_K_REACHABLE; k++) {
		char *id = xasprintf("refsweep/%s", rs_kind_names[k]);

		json_array_append_new(
			rules,
			json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}}",
				  "id", id, "name", rs_kind_names[k],
				  "shortDescription", "text", kind_text[k],
				  "fullDescription", "text", kind_text[k],
				  "defaultConfiguration", "level",
				  k == RS_K_POSSIBLE ? "note" : "error"));
		free(id);
	}
	for (size_t i = 0; i < r->ng; i++) {
		const struct rs_group *g = r->g[i];
		size_t n;
		const struct rs_symframe *f = group_frames(g, &n);
		const struct rs_symframe *top = group_top(g);
		json_t *frames = json_array(), *locs = json_array();
		char *msg, *rid;

		if (g->suppressed)
			continue;
		for (size_t j = 0; j < n; j++)
			json_array_append_new(
				frames, json_pack("{s:o}", "location",
						  sarif_location(&f[j], root)));
		if (top)
			json_array_append_new(locs, sarif_location(top, root));
		else
			json_array_append_new(
				locs,
				json_pack("{s:{s:{s:s}}}", "physicalLocation",
					  "artifactLocation", "uri",
					  "file:///unknown"));
		msg = xasprintf("%s leak: %llu bytes in %llu blocks allocated "
				"at %s", rs_kind_names[g->kind],
				(unsigned long long)g->c.bytes,
				(unsigned long long)g->c.blocks,
				top ? frame_label(top, buf, sizeof(buf)) : "?");
		rid = xasprintf("refsweep/%s", rs_kind_names[g->kind]);
		json_t *res = json_pack(
			"{s:s, s:i, s:s, s:{s:s}, s:o, s:{s:s}, s:[{s:{s:s}, "
			"s:o}]}",
			"ruleId", rid, "ruleIndex", g->kind, "level",
			sarif_level(g), "message", "text", msg, "locations",
			locs, "partialFingerprints", "refsweepLeak/v1",
			g->identity, "stacks", "message", "text", "allocation stack",
			"frames", frames);

		json_object_set_new(res, "properties",
				    json_pack("{s:I, s:I}", "blocks",
					      (json_int_t)g->c.blocks, "bytes",
					      (json_int_t)g->c.bytes));
		json_array_append_new(results, res);
		free(msg);
		free(rid);
	}
	json_t *run = json_pack(
		"{s:{s:{s:s, s:s, s:o}}, s:o, s:s}", "tool", "driver", "name",
		"refsweep", "version", PACKAGE_VERSION, "rules", rules,
		"results", results, "columnKind", "unicodeCodePoints");

	if (root) {
		char *uri = xasprintf("file://%s/", root);

		json_object_set_new(run, "originalUriBaseIds",
				    json_pack("{s:{s:s}}", "%SRCROOT%", "uri",
					      uri));
		free(uri);
	}
	json_t *doc = json_pack("{s:s, s:s, s:[o]}", "$schema",
				"https://json.schemastore.org/sarif-2.1.0.json",
				"version", "2.1.0", "runs", run);
	int rc = json_dumpf(doc, out, JSON_INDENT(2));

	fputc('\n', out);
	json_decref(doc);
	free(root);
	return rc ? -1 : 0;
}

/* ---- XML helpers ---- */

void xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
				fputc('?', out);
			else
				fputc(c, out);
		}
	}
}

static void frames_plain(FILE *out, const struct rs_group *g, bool xml)
{
	size_t n;
	const struct rs_symframe *f = group_frames(g, &n);
	char buf[64], line[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%lld", (long long)f[i].line);
		fprintf(out, "#%zu ", i);
		if (xml)
			xml_escape(out, frame_label(&f[i], buf, sizeof(buf)));
		else
			fputs(frame_label(&f[i], buf, sizeof(buf)), out);
		if (f[i].file) {
			fputc(' ', out);
			if (xml)
				xml_escape(out, f[i].file);
			else
				fputs(f[i].file, out);
			fprintf(out, ":%s", line);
		}
		fputc('\n', out);
	}
}

static bool group_in_pid(const struct rs_group *g, int64_t pid)
{
	for (size_t i = 0; i < g->npids; i++)
		if (g->pids[i] == pid)
			return true;
	return false;
}

/* A group fails a JUnit test when it fails the gate; with no gate run
 * (report), the default classes fail. */
static bool junit_fails(const struct rs_group *g)
{
	return !g->suppressed && g->failing;
}

int report_junit(const struct rs_result *r, FILE *out)
{
	size_t failures = 0;
	char buf[64];

	for (size_t p = 0; p < r->nprocs; p++)
		for (size_t i = 0; i < r->ng; i++)
			failures += junit_fails(r->g[i]) &&
				    group_in_pid(r->g[i], r->procs[p].pid);
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<testsuites name=\"refsweep\" tests=\"%zu\" failures=\"%zu\">\n"
		"  <testsuite name=\"refsweep leaks\" tests=\"%zu\" "
		"failures=\"%zu\" errors=\"0\" skipped=\"0\">\n",
		r->nprocs, failures, r->nprocs, failures);
	for (size_t p = 0; p < r->nprocs; p++) {
		const struct rs_process *pr = &r->procs[p];

		fputs("    <testcase classname=\"refsweep.", out);
		xml_escape(out, pr->exe ? path_base(pr->exe) : "unknown");
		fprintf(out, "\" name=\"pid %lld ", (long long)pr->pid);
		xml_escape(out, pr->exe ? pr->exe : "?");
		fputs("\">\n", out);
		for (size_t i = 0; i < r->ng; i++) {
			const struct rs_group *g = r->g[i];
			const struct rs_symframe *top = group_top(g);

			if (!junit_fails(g) || !group_in_pid(g, pr->pid))
				continue;
			fprintf(out, "      <failure type=\"%s\" message=\"%s "
				"leak: %llu bytes in %llu blocks at ",
				rs_kind_names[g->kind], rs_kind_names[g->kind],
				(unsigned long long)g->c.bytes,
				(unsigned long long)g->c.blocks);
			xml_escape(out, top ? frame_label(top, buf, sizeof(buf))
					    : "?");
			fputs("\">", out);
			frames_plain(out, g, true);
			fputs("</failure>\n", out);
		}
		fputs("    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	return 0;
}

/* ---- collapsed stacks ---- */

static void collapsed_name(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc(*s == ';' ? ':' : *s == '\n' ? ' ' : *s, out);
}

int report_collapsed(const struct rs_result *r, FILE *out)
{
	char buf[64];

	for (size_t i = 0; i < r->ng; i++) {
		const struct rs_group *g = r->g[i];
		size_t n;
		const struct rs_symframe *f = group_frames(g, &n);

		if (g->suppressed || !g->c.bytes)
			continue;
		/* Outermost caller first, as flamegraph.pl reads them; the
		 * class is the leaf so each flame ends in what leaked. */
		for (size_t j = n; j-- > 0;) {
			collapsed_name(out, frame_label(&f[j], buf,
							sizeof(buf)));
			fputc(';', out);
		}
		fprintf(out, "[%s] %llu\n", rs_kind_names[g->kind],
			(unsigned long long)g->c.bytes);
	}
	return 0;
}

/* ---- HTML ---- */

int report_html(const struct rs_result *r, FILE *out)
{
	char buf[64];

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
	      "<title>refsweep report</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:2em;color:#222}"
	      "table{border-collapse:collapse}"
	      "td,th{padding:.2em .8em;text-align:right;border-bottom:1px solid "
	      "#ddd}"
	      "details{margin:.4em 0;border-left:4px solid #c33;padding-left:"
	      ".6em}"
	      "details.indirect,details.possible{border-color:#d90}"
	      "summary{cursor:pointer}pre{margin:.3em 0 .3em 1em;color:#444}"
	      "\n</style></head><body>\n<h1>refsweep report</h1>\n<p>", out);
	xml_escape(out, r->path);
	fputs("</p>\n<table><tr><th>class</th><th>bytes</th><th>blocks</th>"
	      "</tr>\n", out);
	for (int k = 0; k < RS_K_COUNT; k++)
		fprintf(out, "<tr><th>%s</th><td>%llu</td><td>%llu</td></tr>\n",
			rs_kind_names[k],
			(unsigned long long)r->summary[k].bytes,
			(unsigned long long)r->summary[k].blocks);
	fprintf(out, "<tr><th>suppressed</th><td>%llu</td><td>%llu</td></tr>"
		"\n</table>\n<h2>Leaks, biggest first</h2>\n",
		(unsigned long long)r->suppressed.bytes,
		(unsigned long long)r->suppressed.blocks);
	for (size_t i = 0; i < r->ng; i++) {
		const struct rs_group *g = r->g[i];
		const struct rs_symframe *top = group_top(g);

		if (g->suppressed)
			continue;
		fprintf(out, "<details class=\"%s\"><summary><b>%s</b> %llu "
			"bytes in %llu blocks at ", rs_kind_names[g->kind],
			rs_kind_names[g->kind], (unsigned long long)g->c.bytes,
			(unsigned long long)g->c.blocks);
		xml_escape(out, top ? frame_label(top, buf, sizeof(buf)) : "?");
		fputs("</summary><pre>", out);
		frames_plain(out, g, true);
		fputs("</pre></details>\n", out);
	}
	if (r->ncy) {
		fputs("<h2>Leaked reference cycles</h2>\n<ul>\n", out);
		for (size_t i = 0; i < r->ncy; i++)
			fprintf(out, "<li>pid %lld: %llu blocks, %llu bytes"
				"</li>\n", (long long)r->cy[i].im->pid,
				(unsigned long long)r->cy[i].c->blocks,
				(unsigned long long)r->cy[i].c->bytes);
		fputs("</ul>\n", out);
	}
	fputs("<h2>Processes</h2>\n<table><tr><th>pid</th><th>exe</th>"
	      "<th>exit status</th></tr>\n", out);
	for (size_t i = 0; i < r->nprocs; i++) {
		fprintf(out, "<tr><td>%lld</td><td>",
			(long long)r->procs[i].pid);
		xml_escape(out, r->procs[i].exe ? r->procs[i].exe : "?");
		if (r->procs[i].has_status)
			fprintf(out, "</td><td>%lld</td></tr>\n",
				(long long)r->procs[i].exit_status);
		else
			fputs("</td><td>?</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	if (json_array_size(r->warnings)) {
		size_t i;
		json_t *v;

		fputs("<h2>Warnings</h2>\n<ul>\n", out);
		json_array_foreach(r->warnings, i, v) {
			fputs("<li>", out);
			xml_escape(out, json_string_value(v));
			fputs("</li>\n", out);
		}
		fputs("</ul>\n", out);
	}
	fputs("</body></html>\n", out);
	return 0;
}
