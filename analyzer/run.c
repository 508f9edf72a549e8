/*
 * run.c: `refsweep run [OPTIONS] -- PROGRAM [ARGS...]`. Makes the run
 * directory, preloads the shim into PROGRAM through LD_PRELOAD (after
 * nothing, before what the user had), hands the shim its options through
 * REFSWEEP_OPTIONS (the user's first, run's flags after, dir= last),
 * makes CPython allocate with malloc unless told otherwise,
 * forwards the signals a user sends to stop it, waits, writes run.json (how
 * the root process ended, which the traces cannot say when it was killed),
 * prints the report on stderr and exits with the status docs/cli.md gives.
 *
 * The shim is found without any environment: the build tree's when this
 * binary lives in the build tree, <exe dir>/../lib/refsweep/ for a
 * relocated install, else the configured pkglibdir; --shim overrides.
 *
 * Must never: swallow the program's exit status or a signal meant for it,
 * or mix the traces of two runs in one directory.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rs.h"

#define SHIM_NAME "librefsweep.so"

static const char run_usage[] =
	"Usage: refsweep run [OPTIONS] -- PROGRAM [ARGS...]\n"
	"Run PROGRAM with the refsweep shim preloaded; every process of its "
	"tree\n"
	"writes a trace into the run directory; the leak report is printed on\n"
	"stderr when PROGRAM ends.\n"
	"\n"
	"  -o, --output DIR        run directory (default: "
	"refsweep-PROGRAM-PID.d)\n"
	"  -q, --quiet             no report and no notes on stderr\n"
	"  --leak-exit-code N      exit status when the gate fails and PROGRAM "
	"exited 0\n"
	"                          (default 23)\n"
	"  --shim PATH             preload this librefsweep.so\n"
	"  --no-symbolize          report module+offset, without debug info\n"
	"Shim options (see docs/options.md; --shim-option passes any other):\n"
	"  --trace leaks|all       record every allocation and free too "
	"(trace=all)\n"
	"  --stack-depth N         frames per allocation stack (1..256)\n"
	"  --unwind MODE           auto, fp, libunwind, none\n"
	"  --no-exit-sweep         no sweep at exit\n"
	"  --sweep-growth PERCENT  sweep when the heap grew by PERCENT\n"
	"  --sweep-every N         sweep every N allocations\n"
	"  --sweep-interval-ms T   sweep every T milliseconds\n"
	"  --sweep-signal SIG      sweep when SIG is received\n"
	"  --stop MODE             auto, ptrace, signal\n"
	"  --max-cycle-members N   members listed per leaked cycle\n"
	"  --shim-option KEY=VAL   any shim option, passed as is "
	"(repeatable)\n"
	"\n"
	"Exit status: PROGRAM's; 128+N if it died of signal N; the leak exit "
	"code\n"
	"when the gate fails and PROGRAM exited 0; 126 PROGRAM not executable,\n"
	"127 PROGRAM not found, 2 bad usage.\n";

/* run's flags that become shim options: flag, option key, takes a value. */
static const struct {
	const char *flag, *key;
	bool value;
} shim_flags[] = {
	{ "--trace", "trace", true },
	{ "--stack-depth", "stack_depth", true },
	{ "--unwind", "unwind", true },
	{ "--no-exit-sweep", "exit_sweep=0", false },
	{ "--sweep-growth", "sweep_growth", true },
	{ "--sweep-every", "sweep_every", true },
	{ "--sweep-interval-ms", "sweep_interval_ms", true },
	{ "--sweep-signal", "sweep_signal", true },
	{ "--stop", "stop", true },
	{ "--max-cycle-members", "max_cycle_members", true },
};

static volatile pid_t child_pid;

static void forward(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	/* A terminal's ^C already reached the whole foreground group. */
	if (si && si->si_code == SI_KERNEL)
		return;
	if (child_pid > 0)
		kill(child_pid, sig);
}

static const int fwd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static char *find_shim(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t bl = strlen(RS_ABS_BUILDDIR);

	if (n > 0) {
		exe[n] = 0;
		if (!strncmp(exe, RS_ABS_BUILDDIR, bl) && exe[bl] == '/')
			return xstrdup(RS_ABS_BUILDDIR "/.libs/" SHIM_NAME);
		char *slash = strrchr(exe, '/');

		if (slash) {
			*slash = 0;
			char *p = xasprintf("%s/../lib/refsweep/" SHIM_NAME,
					    exe);

			if (access(p, R_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(RS_PKGLIBDIR "/" SHIM_NAME);
}

/* A directory reused for a new run: the previous run's traces and run
 * record would mix with the new ones, so they go (only those files). */
static int clear_previous_run(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d) {
		rs_err("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		bool trace = len > 4 && !strcmp(de->d_name + len - 4,
						RS_TRACE_SUFFIX);

		if (!trace && strcmp(de->d_name, "run.json"))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			rs_err("%s/%s: cannot remove the previous run's file: "
			       "%s", path, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		n += trace;
	}
	closedir(d);
	if (n)
		rs_note("%s: replaced the %d traces of a previous run", path, n);
	return 0;
}

/* mkdir -p for the directories above the run directory. */
static void make_parents(const char *path)
{
	char *p = xstrdup(path);

	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	free(p);
}

static int make_dir(const char *path)
{
	struct stat st;

	make_parents(path);
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		rs_err("%s: cannot create the run directory: %s", path,
		       strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rs_err("%s: exists and is not a directory", path);
		return -1;
	}
	return clear_previous_run(path);
}

static void write_run_json(const char *dir, char **argv, pid_t pid,
			   int status, const char *exec_error,
			   const char *shim, const char *options,
			   struct timespec *t0, struct timespec *t1)
{
	json_t *av = json_array();
	char *tmp = xasprintf("%s/.run.json.tmp", dir);
	char *fin = xasprintf("%s/run.json", dir);
	json_t *doc;

	for (char **a = argv; *a; a++)
		json_array_append_new(av, json_string(*a));
	doc = json_pack("{s:i, s:s, s:o, s:I, s:s, s:s, s:I, s:I}",
			"refsweep_run", 1, "tool", "refsweep " PACKAGE_VERSION,
			"argv", av, "pid", (json_int_t)pid, "shim", shim,
			"options", options, "start_ns",
			(json_int_t)t0->tv_sec * 1000000000 + t0->tv_nsec,
			"duration_ns",
			(json_int_t)((t1->tv_sec - t0->tv_sec) * 1000000000 +
				     (t1->tv_nsec - t0->tv_nsec)));
	if (exec_error) {
		json_object_set_new(doc, "exec_error", json_string(exec_error));
	} else {
		json_object_set_new(doc, "wait_status", json_integer(status));
		json_object_set_new(doc, "exit_status",
				    WIFEXITED(status) ?
					    json_integer(WEXITSTATUS(status)) :
					    json_null());
		json_object_set_new(doc, "signal",
				    json_integer(WIFSIGNALED(status) ?
							 WTERMSIG(status) : 0));
		json_object_set_new(doc, "core_dumped",
				    json_boolean(WIFSIGNALED(status) &&
						 WCOREDUMP(status)));
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0600);

	if (fd < 0 || json_dumpfd(doc, fd, JSON_INDENT(2)) < 0 ||
	    write(fd, "\n", 1) != 1 || rename(tmp, fin) < 0)
		rs_err("%s: cannot write the run record: %s", fin,
		       strerror(errno));
	if (fd >= 0)
		close(fd);
	json_decref(doc);
	free(tmp);
	free(fin);
}

/* Everything run owns, freed once by run_free whatever path it took. */
struct run {
	struct rs_gate gate;
	struct strbuf opts;      /* shim options from run's flags, "k=v," */
	const char *outdir;
	char **prog;
	char *shim, *defdir, *absdir, *absshim, *envopts, *preload;
	bool quiet, symbolize;
};

static void run_free(struct run *c)
{
	gate_free(&c->gate);
	sb_free(&c->opts);
	free(c->shim);
	free(c->defdir);
	free(c->absdir);
	free(c->absshim);
	free(c->envopts);
	free(c->preload);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *val (NULL and a
 * message when missing), 0 when argv[*i] is not --name. */
static int flag_value(const char *name, int argc, char **argv, int *i,
		      const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) || (a[n] && a[n] != '='))
		return 0;
	if (a[n] == '=')
		*val = a + n + 1;
	else if (*i + 1 < argc)
		*val = argv[++*i];
	else {
		rs_err("%s needs a value", name);
		*val = NULL;
	}
	return 1;
}

/* 0 to go on, 1 after --help, -1 on bad usage (message printed). */
static int run_parse(struct run *c, int argc, char **argv)
{
	int i;

	gate_defaults(&c->gate);
	c->symbolize = true;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		bool done = false;
		uint64_t v;
		int rc;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(run_usage, stdout);
			fputs(gate_usage(), stdout);
			return 1;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			c->quiet = true;
			continue;
		}
		if (!strcmp(a, "--no-symbolize")) {
			c->symbolize = false;
			continue;
		}
		if (flag_value("-o", argc, argv, &i, &val) ||
		    flag_value("--output", argc, argv, &i, &val)) {
			if (!val)
				return -1;
			c->outdir = val;
			continue;
		}
		if (flag_value("--shim", argc, argv, &i, &val)) {
			if (!val)
				return -1;
			free(c->shim);
			c->shim = xstrdup(val);
			continue;
		}
		if (flag_value("--leak-exit-code", argc, argv, &i, &val)) {
			if (!val)
				return -1;
			if (!parse_u64(val, &v) || v > 255) {
				rs_err("--leak-exit-code: '%s' is not 0..255",
				       val);
				return -1;
			}
			c->gate.leak_exit_code = (int)v;
			continue;
		}
		if (flag_value("--shim-option", argc, argv, &i, &val)) {
			if (!val)
				return -1;
			if (!strchr(val, '=') || strchr(val, ',')) {
				rs_err("--shim-option: expected KEY=VALUE "
				       "without ','");
				return -1;
			}
			sb_printf(&c->opts, "%s,", val);
			continue;
		}
		for (size_t k = 0; k < sizeof(shim_flags) / sizeof(*shim_flags);
		     k++) {
			if (!shim_flags[k].value) {
				if (strcmp(a, shim_flags[k].flag))
					continue;
				sb_printf(&c->opts, "%s,", shim_flags[k].key);
				done = true;
				break;
			}
			if (!flag_value(shim_flags[k].flag, argc, argv, &i,
					&val))
				continue;
			if (!val)
				return -1;
			if (!*val || strchr(val, ',')) {
				rs_err("%s: bad value '%s'", a, val);
				return -1;
			}
			sb_printf(&c->opts, "%s=%s,", shim_flags[k].key, val);
			done = true;
			break;
		}
		if (done)
			continue;
		rc = gate_option(&c->gate, argc, argv, &i);
		if (rc < 0)
			return -1;
		if (rc)
			continue;
		rs_err("unknown option '%s' (see refsweep run --help)", a);
		return -1;
	}
	if (i >= argc) {
		rs_err("missing PROGRAM (refsweep run [OPTIONS] -- PROGRAM "
		       "[ARGS...])");
		return -1;
	}
	c->prog = argv + i;
	return 0;
}

/* Makes the directory and the program's environment. */

/* The shim splits REFSWEEP_OPTIONS at ',' and ':' and reads a backslash as
 * "the next character is part of the value" (docs/options.md). */
static char *escape_option_value(const char *v)
{
	char *out = xmalloc(2 * strlen(v) + 1), *o = out;

	for (; *v; v++) {
		if (*v == ',' || *v == ':' || *v == '\\')
			*o++ = '\\';
		*o++ = *v;
	}
	*o = 0;
	return out;
}

static int run_prepare(struct run *c)
{
	if (!c->shim)
		c->shim = find_shim();
	if (access(c->shim, R_OK) < 0) {
		rs_err("%s: cannot read the shim: %s (use --shim PATH)",
		       c->shim, strerror(errno));
		return -1;
	}
	if (!c->outdir)
		c->outdir = c->defdir = xasprintf("refsweep-%s-%d.d",
						  path_base(c->prog[0]),
						  (int)getpid());
	if (make_dir(c->outdir) < 0)
		return -1;
	c->absdir = realpath(c->outdir, NULL);
	c->absshim = realpath(c->shim, NULL);
	if (!c->absdir || !c->absshim) {
		rs_err("%s: %s", c->absdir ? c->shim : c->outdir,
		       strerror(errno));
		return -1;
	}
	/* The user's REFSWEEP_OPTIONS first, run's flags after, dir= last:
	 * later keys win in the shim. */
	const char *old_opts = getenv(RS_ENV_OPTIONS);
	const char *old_pre = getenv("LD_PRELOAD");
	bool uo = old_opts && *old_opts, up = old_pre && *old_pre;

	char *dir = escape_option_value(c->absdir);
	c->envopts = xasprintf("%s%s%sdir=%s", uo ? old_opts : "",
			       uo ? "," : "", c->opts.p ? c->opts.p : "", dir);
	free(dir);
	c->preload = xasprintf("%s%s%s", c->absshim, up ? ":" : "",
			       up ? old_pre : "");
	return 0;
}

/* Runs the program; its wait status in *status. 0, or the exit code for
 * an exec failure (126, 127), or -1. */
static int run_program(struct run *c, int *status, struct timespec *t0,
		       struct timespec *t1)
{
	struct sigaction sa = { 0 }, old_sa[4];
	int pfd[2], exec_errno = 0;
	ssize_t got;
	pid_t pid;

	/* The exec error travels back through a close-on-exec pipe: it is
	 * closed unread when exec succeeds. */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rs_err("pipe: %s", strerror(errno));
		return -1;
	}
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < 4; k++)
		sigaction(fwd_signals[k], &sa, &old_sa[k]);
	clock_gettime(CLOCK_REALTIME, t0);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rs_err("fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int e;

		for (size_t k = 0; k < 4; k++)
			sigaction(fwd_signals[k], &old_sa[k], NULL);
		close(pfd[0]);
		setenv("LD_PRELOAD", c->preload, 1);
		setenv(RS_ENV_OPTIONS, c->envopts, 1);
		/* CPython keeps small objects in anonymous maps that are no
		 * roots, so blocks only they point at would look lost; with
		 * malloc every object is a block the sweep sees. The user's
		 * own setting wins (docs/cli.md). */
		setenv("PYTHONMALLOC", "malloc", 0);
		execvp(c->prog[0], c->prog);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	close(pfd[1]);
	do
		got = read(pfd[0], &exec_errno, sizeof(exec_errno));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_REALTIME, t1);
	for (size_t k = 0; k < 4; k++)
		sigaction(fwd_signals[k], &old_sa[k], NULL);
	if (got == (ssize_t)sizeof(exec_errno)) {
		rs_err("%s: %s", c->prog[0], exec_errno == ENOENT ?
						     "command not found" :
						     strerror(exec_errno));
		write_run_json(c->absdir, c->prog, pid, *status,
			       strerror(exec_errno), c->absshim, c->envopts,
			       t0, t1);
		return exec_errno == ENOENT ? 127 : 126;
	}
	write_run_json(c->absdir, c->prog, pid, *status, NULL, c->absshim,
		       c->envopts, t0, t1);
	return 0;
}

/* The report and the gate; returns run's exit status. */
static int run_report(struct run *c, int prog_rc)
{
	char *err = NULL;
	struct rs_result *r;
	struct rs_count tot;
	bool fails;

	symbolizer_init(c->symbolize);
	r = result_load(c->absdir, &err);
	if (!r) {
		rs_err("%s", err);
		rs_err("the traces in %s could not be analysed", c->absdir);
		free(err);
		symbolizer_end();
		return prog_rc ? prog_rc : RS_EXIT_USAGE;
	}
	result_finish(r);
	if (gate_apply(&c->gate, r) < 0) {
		result_free(r);
		symbolizer_end();
		return prog_rc ? prog_rc : RS_EXIT_USAGE;
	}
	fails = gate_eval(&c->gate, r, &tot);
	if (c->gate.write_baseline)
		gate_write_baseline(r, c->gate.write_baseline);
	if (!c->quiet) {
		fflush(stdout);
		report_text(r, stderr, want_color(stderr), false);
		fprintf(stderr, "refsweep: traces in %s\n", c->absdir);
		if (fails && prog_rc == 0)
			fprintf(stderr, "refsweep: leaks fail the gate: exit "
				"%d\n", c->gate.leak_exit_code);
	}
	result_free(r);
	symbolizer_end();
	return prog_rc == 0 && fails ? c->gate.leak_exit_code : prog_rc;
}

int cmd_run(int argc, char **argv)
{
	struct run c = { 0 };
	struct timespec t0, t1;
	int status = 0, rc;

	rc = run_parse(&c, argc, argv);
	if (rc) {
		run_free(&c);
		return rc < 0 ? RS_EXIT_USAGE : RS_EXIT_OK;
	}
	rs_quiet_notes = c.quiet;
	if (run_prepare(&c) < 0) {
		run_free(&c);
		return RS_EXIT_USAGE;
	}
	rc = run_program(&c, &status, &t0, &t1);
	if (rc) {
		run_free(&c);
		return rc < 0 ? RS_EXIT_USAGE : rc;
	}
	rc = run_report(&c, WIFEXITED(status)	? WEXITSTATUS(status) :
			    WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
						  RS_EXIT_USAGE);
	run_free(&c);
	return rc;
}
