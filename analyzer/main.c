/*
 * main.c: the `refsweep` command: verb dispatch, --help and --version, and
 * the two verbs that only read traces and print: `report` and `check`.
 * `run` lives in run.c, `diff` in diff.c. docs/cli.md and docs/refsweep.1
 * describe every option and exit code here; change them together.
 *
 * Must never: print anything but the report on stdout, or exit with a
 * status docs/cli.md does not list.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rs.h"

static const char main_usage[] =
	"Usage: refsweep VERB [OPTIONS] ...\n"
	"Find leaks and leaked reference cycles in native Linux programs.\n"
	"\n"
	"Verbs:\n"
	"  run [OPTIONS] -- PROGRAM [ARGS...]   run PROGRAM under the shim, "
	"report leaks\n"
	"  report [-f FORMAT] [-o FILE] PATH    print the report of a run\n"
	"  check [GATE OPTIONS] PATH            CI gate: exit 0 pass, 1 fail, "
	"2 error\n"
	"  diff OLD NEW                         leak groups that appeared, "
	"vanished, grew\n"
	"\n"
	"'refsweep VERB --help' describes a verb; 'man refsweep' all of it.\n"
	"  --version   print the version\n";

static const char report_usage[] =
	"Usage: refsweep report [OPTIONS] PATH\n"
	"Print the leak report of PATH: the directory given to 'run -o', or "
	"one trace file.\n"
	"\n"
	"  -f, --format FMT       text (default), json, sarif, junit, html, "
	"collapsed\n"
	"  -o, --output FILE      write to FILE instead of stdout\n"
	"  --suppressions FILE    move leaks matching 'leak:PATTERN' lines to "
	"\"suppressed\"\n"
	"  (and every gate option of 'refsweep check': they decide which leaks "
	"JUnit,\n"
	"  SARIF and JSON mark as failing)\n"
	"  --color WHEN           auto (default: on a terminal, unless "
	"NO_COLOR), always, never\n"
	"  --source-root DIR      sarif: make file paths relative to DIR "
	"(default: cwd)\n"
	"  --no-symbolize         show module+offset, do not read debug info\n"
	"  -q, --quiet            no notes on stderr\n"
	"  -h, --help             this help\n"
	"\n"
	"Exit status: 0 report written, 2 bad usage or unreadable input.\n";

static const char check_usage_head[] =
	"Usage: refsweep check [OPTIONS] PATH\n"
	"The CI gate: print the leaks that fail the gate and exit 0 (pass), "
	"1 (fail)\n"
	"or 2 (bad usage, unreadable input). Under GitHub Actions "
	"(GITHUB_ACTIONS=true)\n"
	"each failing leak is also an ::error annotation.\n"
	"\n"
	"  -f, --format FMT       text (default) or json, on stdout\n"
	"  --no-symbolize         do not read debug info\n"
	"  -q, --quiet            print nothing, only the exit status\n"
	"  -h, --help             this help\n";

/* Options shared by report and check. */
struct common {
	const char *format;
	const char *output;
	const char *srcroot;
	int color;           /* -1 auto, 0 never, 1 always */
	bool symbolize;
	bool quiet;
	const char *path;
};

/* "--long VALUE", "--long=VALUE" or "-s VALUE": 1 and *out set (NULL
 * when the value is missing), 0 when argv[*i] is another option. */
static int val_opt(const char *lng, const char *shrt, int argc, char **argv,
		   int *i, const char **out)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);

	if (!strcmp(a, lng) || (shrt && !strcmp(a, shrt))) {
		*out = *i + 1 < argc ? argv[++*i] : NULL;
		return 1;
	}
	if (!strncmp(a, lng, n) && a[n] == '=') {
		*out = a + n + 1;
		return 1;
	}
	return 0;
}

static int common_option(struct common *c, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v = NULL;

	if (val_opt("--format", "-f", argc, argv, i, &v)) {
		c->format = v;
	} else if (val_opt("--output", "-o", argc, argv, i, &v)) {
		c->output = v;
	} else if (val_opt("--source-root", NULL, argc, argv, i, &v)) {
		c->srcroot = v;
	} else if (val_opt("--color", NULL, argc, argv, i, &v)) {
		if (v && !strcmp(v, "auto"))
			c->color = -1;
		else if (v && !strcmp(v, "always"))
			c->color = 1;
		else if (v && !strcmp(v, "never"))
			c->color = 0;
		else {
			rs_err("--color: expected auto, always or never");
			return -1;
		}
	} else if (!strcmp(a, "--no-symbolize")) {
		c->symbolize = false;
		return 1;
	} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
		c->quiet = true;
		return 1;
	} else {
		return 0;
	}
	if (!v) {
		rs_err("%s needs a value", a);
		return -1;
	}
	return 1;
}

/* Parses report/check options; returns -1 to exit 2, 0 to go on, 1 when
 * --help was printed. */
static int parse(int argc, char **argv, struct common *c, struct rs_gate *g,
		 const char *usage, bool gate_opts)
{
	c->format = "text";
	c->color = -1;
	c->symbolize = true;
	gate_defaults(g);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			if (gate_opts)
				fputs(gate_usage(), stdout);
			return 1;
		}
		if ((rc = common_option(c, argc, argv, &i)) != 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		if (gate_opts || !strncmp(a, "--suppressions", 14)) {
			rc = gate_option(g, argc, argv, &i);
			if (rc < 0)
				return -1;
			if (rc)
				continue;
		}
		if (!strcmp(a, "--") && i + 1 < argc) {
			a = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			rs_err("unknown option '%s' (see --help)", a);
			return -1;
		}
		if (c->path) {
			rs_err("one PATH only ('%s' and '%s')", c->path, a);
			return -1;
		}
		c->path = a;
	}
	if (!c->path) {
		rs_err("missing PATH (see --help)");
		return -1;
	}
	rs_quiet_notes = c->quiet;
	return 0;
}

static struct rs_result *load(const struct common *c, struct rs_gate *g)
{
	char *err = NULL;
	struct rs_result *r;

	symbolizer_init(c->symbolize);
	r = result_load(c->path, &err);
	if (!r) {
		rs_err("%s", err);
		free(err);
		return NULL;
	}
	result_finish(r);
	if (gate_apply(g, r) < 0) {
		result_free(r);
		return NULL;
	}
	return r;
}

static int write_format(const struct common *c, const struct rs_result *r,
			FILE *out, bool only_failing)
{
	const char *f = c->format;

	if (!strcmp(f, "text"))
		return report_text(r, out,
				   c->color < 0 ? want_color(out) : c->color,
				   only_failing);
	if (!strcmp(f, "json"))
		return report_json(r, out);
	if (!strcmp(f, "sarif"))
		return report_sarif(r, out, c->srcroot);
	if (!strcmp(f, "junit"))
		return report_junit(r, out);
	if (!strcmp(f, "html"))
		return report_html(r, out);
	if (!strcmp(f, "collapsed"))
		return report_collapsed(r, out);
	return -1;
}

static bool known_format(const char *f, bool check)
{
	static const char *const all[] = { "text", "json", "sarif", "junit",
					   "html", "collapsed" };

	for (size_t i = 0; i < (check ? 2 : 6); i++)
		if (!strcmp(f, all[i]))
			return true;
	return false;
}

static int report_main(int argc, char **argv, struct rs_gate *gp);
static int check_main(int argc, char **argv, struct rs_gate *gp);

int cmd_report(int argc, char **argv)
{
	struct rs_gate g;
	int rc = report_main(argc, argv, &g);

	gate_free(&g);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	struct rs_gate g;
	int rc = check_main(argc, argv, &g);

	gate_free(&g);
	return rc;
}

static int report_main(int argc, char **argv, struct rs_gate *gp)
{
	struct common c = { 0 };
	struct rs_result *r;
	FILE *out = stdout;
	int rc = parse(argc, argv, &c, gp, report_usage, true);

	if (rc)
		return rc < 0 ? RS_EXIT_USAGE : RS_EXIT_OK;
	if (!known_format(c.format, false)) {
		rs_err("unknown format '%s' (text, json, sarif, junit, html, "
		       "collapsed)", c.format);
		return RS_EXIT_USAGE;
	}
	if (gp->write_baseline) {
		rs_err("--write-baseline belongs to check");
		return RS_EXIT_USAGE;
	}
	r = load(&c, gp);
	if (!r)
		return RS_EXIT_USAGE;
	gate_eval(gp, r, &(struct rs_count){ 0 });
	if (c.output && !(out = fopen(c.output, "w"))) {
		rs_err("%s: cannot write: %s", c.output, strerror(errno));
		result_free(r);
		return RS_EXIT_USAGE;
	}
	rc = write_format(&c, r, out, false);
	if (fflush(out) || ferror(out))
		rc = -1;
	if (out != stdout)
		fclose(out);
	if (rc)
		rs_err("%s: write error", c.output ? c.output : "stdout");
	result_free(r);
	symbolizer_end();
	return rc ? RS_EXIT_USAGE : RS_EXIT_OK;
}

static int check_main(int argc, char **argv, struct rs_gate *gp)
{
	struct common c = { 0 };
	struct rs_result *r;
	struct rs_count tot;
	int rc = parse(argc, argv, &c, gp, check_usage_head, true);
	bool fails;

	if (rc)
		return rc < 0 ? RS_EXIT_USAGE : RS_EXIT_OK;
	if (!known_format(c.format, true)) {
		rs_err("check prints text or json, not '%s'", c.format);
		return RS_EXIT_USAGE;
	}
	r = load(&c, gp);
	if (!r)
		return RS_EXIT_USAGE;
	if (!r->nim) {
		rs_err("%s: no traces to judge", c.path);
		result_free(r);
		return RS_EXIT_USAGE;
	}
	if (gp->write_baseline) {
		rc = gate_write_baseline(r, gp->write_baseline);
		if (!rc && !c.quiet)
			rs_note("baseline of %zu leak groups written to %s",
				r->ng, gp->write_baseline);
		result_free(r);
		symbolizer_end();
		return rc ? RS_EXIT_USAGE : RS_EXIT_OK;
	}
	fails = gate_eval(gp, r, &tot);
	if (!c.quiet) {
		write_format(&c, r, stdout, true);
		const char *gh = getenv("GITHUB_ACTIONS");

		if (gh && !strcmp(gh, "true"))
			gate_github_annotations(r, stdout);
		if (fails)
			rs_err("check failed: %llu bytes in %llu blocks of "
			       "failing leaks", (unsigned long long)tot.bytes,
			       (unsigned long long)tot.blocks);
		else
			fputs("refsweep: check passed\n", stderr);
	}
	fflush(stdout);
	result_free(r);
	symbolizer_end();
	return fails ? RS_EXIT_FAIL : RS_EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;

	if (!verb) {
		fputs(main_usage, stderr);
		return RS_EXIT_USAGE;
	}
	if (!strcmp(verb, "--version") || !strcmp(verb, "version")) {
		printf("refsweep %s (trace schema %d.%d)\n", PACKAGE_VERSION,
		       RS_SCHEMA_MAJOR, RS_SCHEMA_MINOR);
		return RS_EXIT_OK;
	}
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h") ||
	    !strcmp(verb, "help")) {
		fputs(main_usage, stdout);
		return RS_EXIT_OK;
	}
	if (!strcmp(verb, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(verb, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(verb, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(verb, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	rs_err("unknown verb '%s' (run, report, check, diff; see --help)",
	       verb);
	return RS_EXIT_USAGE;
}
