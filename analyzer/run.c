/*
 * run.c: `refsweep run [OPTIONS] -- PROGRAM [ARGS...]`. Makes the run
 * directory, preloads the shim into PROGRAM through LD_PRELOAD (after
 * nothing, before what the user had), hands the shim its options through
 * REFSWEEP_OPTIONS (the user's first, run's flags after, dir= last),
 * forwards the signals a user sends to stop it, waits, writes run.json (how
 * the root process ended, which the traces cannot say when it was killed),
 * prints the report on stderr and exits with the status docs/cli.md gives.
 *
 * The shim is found without any environment: the build tree's when this
 * binary lives in the build tree, <exe dir>/../lib/refsweep/ for a
 * relocated install, else the configured pkglibdir; --shim overrides.
 *
 * Must never: swallow the program's exit status or a signal meant for it,
 * or write into a directory that already holds traces of another run.
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

static bool dir_has_traces(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		found = n > 4 && !strcmp(de->d_name + n - 4, RS_TRACE_SUFFIX);
	}
	closedir(d);
	return found;
}

static int make_dir(const char *path)
{
	struct stat st;

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
	if (dir_has_traces(path)) {
		rs_err("%s: already holds traces (*%s) of another run; remove "
		       "them or choose another -o", path, RS_TRACE_SUFFIX);
		return -1;
	}
	return 0;
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

int cmd_run(int argc, char **argv)
{
	struct rs_gate gate;
	struct strbuf opts = { 0 };
	const char *outdir = NULL;
	char *shim = NULL, *defdir = NULL;
	bool quiet = false, symbolize = true;
	int i, rc;

	gate_defaults(&gate);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool done = false;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(run_usage, stdout);
			fputs(gate_usage(), stdout);
			return RS_EXIT_OK;
		}
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if (!strcmp(a, "--no-symbolize")) {
			symbolize = false;
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t alen = eq ? (size_t)(eq - a) : strlen(a);
		const char *val = NULL;

#define NEEDS_VALUE()                                                      \
	do {                                                               \
		if (eq)                                                    \
			val = eq + 1;                                      \
		else if (i + 1 < argc)                                     \
			val = argv[++i];                                   \
		else {                                                     \
			rs_err("%s needs a value", a);                     \
			return RS_EXIT_USAGE;                              \
		}                                                          \
	} while (0)
		if ((alen == 2 && !strncmp(a, "-o", 2)) ||
		    (alen == 8 && !strncmp(a, "--output", 8))) {
			NEEDS_VALUE();
			outdir = val;
			continue;
		}
		if (alen == 6 && !strncmp(a, "--shim", 6)) {
			NEEDS_VALUE();
			free(shim);
			shim = xstrdup(val);
			continue;
		}
		if (alen == 16 && !strncmp(a, "--leak-exit-code", 16)) {
			uint64_t v;

			NEEDS_VALUE();
			if (!parse_u64(val, &v) || v > 255) {
				rs_err("--leak-exit-code: '%s' is not 0..255",
				       val);
				return RS_EXIT_USAGE;
			}
			gate.leak_exit_code = (int)v;
			continue;
		}
		if (alen == 13 && !strncmp(a, "--shim-option", 13)) {
			NEEDS_VALUE();
			if (!strchr(val, '=') || strchr(val, ',')) {
				rs_err("--shim-option: expected KEY=VALUE "
				       "without ','");
				return RS_EXIT_USAGE;
			}
			sb_printf(&opts, "%s,", val);
			continue;
		}
		for (size_t k = 0; k < sizeof(shim_flags) / sizeof(*shim_flags);
		     k++) {
			if (strlen(shim_flags[k].flag) != alen ||
			    strncmp(a, shim_flags[k].flag, alen))
				continue;
			if (!shim_flags[k].value) {
				sb_printf(&opts, "%s,", shim_flags[k].key);
			} else {
				NEEDS_VALUE();
				if (strchr(val, ',') || !*val) {
					rs_err("%s: bad value '%s'", a, val);
					return RS_EXIT_USAGE;
				}
				sb_printf(&opts, "%s=%s,", shim_flags[k].key,
					  val);
			}
			done = true;
			break;
		}
#undef NEEDS_VALUE
		if (done)
			continue;
		rc = gate_option(&gate, argc, argv, &i);
		if (rc < 0)
			return RS_EXIT_USAGE;
		if (rc)
			continue;
		rs_err("unknown option '%s' (see refsweep run --help)", a);
		return RS_EXIT_USAGE;
	}
	if (i >= argc) {
		rs_err("missing PROGRAM (refsweep run [OPTIONS] -- PROGRAM "
		       "[ARGS...])");
		return RS_EXIT_USAGE;
	}
	char **prog = argv + i;

	rs_quiet_notes = quiet;
	if (!shim)
		shim = find_shim();
	if (access(shim, R_OK) < 0) {
		rs_err("%s: cannot read the shim: %s (use --shim PATH)", shim,
		       strerror(errno));
		return RS_EXIT_USAGE;
	}
	if (!outdir)
		outdir = defdir = xasprintf("refsweep-%s-%d.d",
					    path_base(prog[0]), (int)getpid());
	if (make_dir(outdir) < 0)
		return RS_EXIT_USAGE;
	char *absdir = realpath(outdir, NULL);
	char *absshim = realpath(shim, NULL);

	if (!absdir || !absshim) {
		rs_err("%s: %s", absdir ? shim : outdir, strerror(errno));
		return RS_EXIT_USAGE;
	}
	if (strchr(absdir, ',') || strchr(absdir, ':')) {
		rs_err("%s: the shim's options cannot carry a path with ',' "
		       "or ':'; choose another -o", absdir);
		return RS_EXIT_USAGE;
	}
	/* The user's REFSWEEP_OPTIONS first, run's flags after, dir= last:
	 * later keys win in the shim. */
	const char *old_opts = getenv(RS_ENV_OPTIONS);
	char *envopts = xasprintf("%s%s%sdir=%s",
				  old_opts && *old_opts ? old_opts : "",
				  old_opts && *old_opts ? "," : "",
				  opts.p ? opts.p : "", absdir);
	const char *old_pre = getenv("LD_PRELOAD");
	char *preload = xasprintf("%s%s%s", absshim,
				  old_pre && *old_pre ? ":" : "",
				  old_pre && *old_pre ? old_pre : "");

	sb_free(&opts);
	/* The exec error travels back through a close-on-exec pipe: it is
	 * closed unread when exec succeeds. */
	int pfd[2];
	struct timespec t0, t1;
	struct sigaction sa = { 0 }, old_sa[4];

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rs_err("pipe: %s", strerror(errno));
		return RS_EXIT_USAGE;
	}
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < 4; k++)
		sigaction(fwd_signals[k], &sa, &old_sa[k]);
	clock_gettime(CLOCK_REALTIME, &t0);
	fflush(NULL);
	pid_t pid = fork();

	if (pid < 0) {
		rs_err("fork: %s", strerror(errno));
		return RS_EXIT_USAGE;
	}
	if (pid == 0) {
		int e;

		for (size_t k = 0; k < 4; k++)
			sigaction(fwd_signals[k], &old_sa[k], NULL);
		close(pfd[0]);
		setenv("LD_PRELOAD", preload, 1);
		setenv(RS_ENV_OPTIONS, envopts, 1);
		execvp(prog[0], prog);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	close(pfd[1]);
	int exec_errno = 0;
	ssize_t got;

	do
		got = read(pfd[0], &exec_errno, sizeof(exec_errno));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_REALTIME, &t1);
	for (size_t k = 0; k < 4; k++)
		sigaction(fwd_signals[k], &old_sa[k], NULL);
	if (got == (ssize_t)sizeof(exec_errno)) {
		int code = exec_errno == ENOENT ? 127 : 126;

		rs_err("%s: %s", prog[0], exec_errno == ENOENT ?
						  "command not found" :
						  strerror(exec_errno));
		write_run_json(absdir, prog, pid, status, strerror(exec_errno),
			       absshim, envopts, &t0, &t1);
		return code;
	}
	write_run_json(absdir, prog, pid, status, NULL, absshim, envopts, &t0,
		       &t1);
	int prog_rc = WIFEXITED(status)	  ? WEXITSTATUS(status) :
		      WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
					    RS_EXIT_USAGE;

	/* The report. */
	char *err = NULL;
	struct rs_result *r;
	struct rs_count tot;

	symbolizer_init(symbolize);
	r = result_load(absdir, &err);
	if (!r) {
		rs_err("%s", err);
		rs_err("the traces in %s could not be analysed", absdir);
		free(err);
		return prog_rc ? prog_rc : RS_EXIT_USAGE;
	}
	result_finish(r);
	if (gate_apply(&gate, r) < 0) {
		result_free(r);
		return prog_rc ? prog_rc : RS_EXIT_USAGE;
	}
	bool fails = gate_eval(&gate, r, &tot);

	if (gate.write_baseline)
		gate_write_baseline(r, gate.write_baseline);
	if (!quiet) {
		fflush(stdout);
		report_text(r, stderr, want_color(stderr), false);
		fprintf(stderr, "refsweep: traces in %s\n", absdir);
		if (fails && prog_rc == 0)
			fprintf(stderr, "refsweep: leaks fail the gate: exit "
				"%d\n", gate.leak_exit_code);
	}
	result_free(r);
	symbolizer_end();
	free(absdir);
	free(absshim);
	free(envopts);
	free(preload);
	free(shim);
	free(defdir);
	gate_free(&gate);
	if (prog_rc == 0 && fails)
		return gate.leak_exit_code;
	return prog_rc;
}
