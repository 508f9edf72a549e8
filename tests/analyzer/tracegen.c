/*
 * tracegen.c: a program with known leaks that writes its own trace, as the
 * shim would (docs/trace-format.md), so the analyzer's tests do not depend
 * on the shim: real modules, real build-ids, real allocation stacks to
 * symbolize, and leak classes that are known because this program made
 * them. `refsweep run --shim` preloads a do-nothing library and this
 * program finds the run directory in REFSWEEP_OPTIONS as the shim does.
 *
 *   tracegen SCENARIO [TRACE]
 *   basic     definite, indirect, cycle, possible leaks; an earlier sweep;
 *             a block freed after the final sweep (late_free)
 *   fork      a leak made before fork, reported by parent and child
 *   exec      an image with a leak that execs `tracegen basic`
 *   killed    a sweep, then SIGTERM to itself (no exit event)
 *   exit N    no leaks, exits with status N
 *   cxx       a leak allocated through a function named like C++'s
 *             operator new, from one with a mangled C++ name
 *
 * Line numbers of the make_ functions appear in the goldens
 * update the goldens when moving them.
 */
#define _GNU_SOURCE 1
#include <elf.h>
#include <execinfo.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXF 32
#define MAXS 64

struct stk {
	void *f[MAXF];
	int n;
	int printed;
};

static struct stk stacks[MAXS];
static int nstacks;
static FILE *out;
static char trace_name[256];

static int intern(void **f, int n)
{
	for (int i = 0; i < nstacks; i++)
		if (stacks[i].n == n && !memcmp(stacks[i].f, f, n * sizeof(*f)))
			return i + 1;
	memcpy(stacks[nstacks].f, f, n * sizeof(*f));
	stacks[nstacks].n = n;
	return ++nstacks;
}

/* The allocator stand-in: frames[0] is the return address in its caller,
 * as the shim records it. */
static __attribute__((noinline)) void *tracked(size_t n, int *stack)
{
	void *buf[MAXF + 1];
	int k = backtrace(buf, MAXF + 1);

	*stack = intern(buf + 1, k - 1);
	return calloc(1, n);
}

struct blk {
	void *p;
	size_t n;
	int stack;
};

static __attribute__((noinline)) struct blk make_definite(void)
{
	struct blk b = { 0, 24, 0 };

	b.p = tracked(24, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_tree_child(void)
{
	struct blk b = { 0, 40, 0 };

	b.p = tracked(40, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_tree(void)
{
	struct blk b = { 0, 16, 0 };

	b.p = tracked(16, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_cycle_node(void)
{
	struct blk b = { 0, 32, 0 };

	b.p = tracked(32, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_possible(void)
{
	struct blk b = { 0, 100, 0 };

	b.p = tracked(100, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_hidden(void)
{
	struct blk b = { 0, 48, 0 };

	b.p = tracked(48, &b.stack);
	return b;
}

static __attribute__((noinline)) struct blk make_child_leak(void)
{
	struct blk b = { 0, 64, 0 };

	b.p = tracked(64, &b.stack);
	return b;
}

/* C++ names without a C++ compiler: the symbols are what g++ would emit
 * for operator new(unsigned long) and ns::Node::make(). */
void *cxx_new(size_t n, int *stack) __asm__("_Znwm");
struct blk cxx_make(void) __asm__("_ZN2ns4Node4makeEv");

__attribute__((noinline)) void *cxx_new(size_t n, int *stack)
{
	void *p = tracked(n, stack);

	__asm__ volatile("" ::: "memory");	/* no tail call: keep the frame */
	return p;
}

__attribute__((noinline)) struct blk cxx_make(void)
{
	struct blk b = { 0, 56, 0 };

	b.p = cxx_new(56, &b.stack);
	return b;
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *path = info->dlpi_name;
	char exe[PATH_MAX];
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	char bid[129] = "";
	int main = 0;

	(void)size;
	(void)data;
	if (!path || !*path) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n <= 0)
			return 0;
		exe[n] = 0;
		path = exe;
		main = 1;
	}
	if (!strncmp(path, "linux-vdso", 10))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD) {
			if (ph->p_vaddr < lo)
				lo = ph->p_vaddr;
			if (ph->p_vaddr + ph->p_memsz > hi)
				hi = ph->p_vaddr + ph->p_memsz;
		}
		if (ph->p_type == PT_NOTE) {
			const char *p = (const char *)(info->dlpi_addr +
						       ph->p_vaddr);
			const char *end = p + ph->p_memsz;

			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *nh = (const void *)p;
				const unsigned char *desc =
					(const unsigned char *)(nh + 1) +
					((nh->n_namesz + 3) & ~3u);

				if (nh->n_type == NT_GNU_BUILD_ID &&
				    nh->n_descsz <= 64)
					for (unsigned j = 0; j < nh->n_descsz;
					     j++)
						sprintf(bid + 2 * j, "%02x",
							desc[j]);
				p = (const char *)desc +
				    ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	fprintf(out, "{\"ev\":\"module\",\"path\":\"%s\",\"base\":\"0x%lx\","
		"\"size\":%lu%s%s%s%s}\n", path, (unsigned long)info->dlpi_addr,
		(unsigned long)hi, *bid ? ",\"build_id\":\"" : "", bid,
		*bid ? "\"" : "", main ? ",\"main\":true" : "");
	return 0;
}

static void json_env(const char *key, const char *name)
{
	const char *v = getenv(name);

	fprintf(out, ",\"%s\":\"", key);
	for (; v && *v; v++)
		fprintf(out, *v == '"' || *v == '\\' ? "\\%c" : "%c", *v);
	fputc('"', out);
}

static void open_trace(const char *explicit, int image, const char *scen,
		       const char *parent, const char *exec_from)
{
	const char *opts = getenv("REFSWEEP_OPTIONS");
	const char *dir = opts ? strstr(opts, "dir=") : NULL;
	char path[PATH_MAX];

	snprintf(trace_name, sizeof(trace_name), "tracegen.%d.%d.rsj",
		 (int)getpid(), image);
	if (explicit)
		snprintf(path, sizeof(path), "%s", explicit);
	else if (dir)
		snprintf(path, sizeof(path), "%.*s/%s",
			 (int)strcspn(dir + 4, ",:"), dir + 4, trace_name);
	else
		snprintf(path, sizeof(path), "%s", trace_name);
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		exit(3);
	}
	fprintf(out, "{\"ev\":\"start\",\"schema\":\"refsweep-trace\","
		"\"version\":\"1.0\",\"tool\":\"tracegen\",\"pid\":%d,"
		"\"ppid\":%d,\"exe\":\"tracegen\",\"argv\":[\"tracegen\","
		"\"%s\"],\"time\":1", (int)getpid(), (int)getppid(), scen);
	if (parent)
		fprintf(out, ",\"forked_from\":%d,\"parent_image\":\"%s\"",
			(int)getppid(), parent);
	if (exec_from)
		fprintf(out, ",\"exec_from\":\"%s\"", exec_from);
	fputs(",\"options\":{\"trace\":\"leaks\"", out);
	json_env("env_options", "REFSWEEP_OPTIONS");
	json_env("env_preload", "LD_PRELOAD");
	fputs("}}\n", out);
	dl_iterate_phdr(module_cb, NULL);
	for (int i = 0; i < nstacks; i++)
		stacks[i].printed = 0;
	fflush(out);
}

static void emit_stacks(void)
{
	for (int i = 0; i < nstacks; i++) {
		if (stacks[i].printed)
			continue;
		fprintf(out, "{\"ev\":\"stack\",\"id\":%d,\"frames\":[", i + 1);
		for (int j = 0; j < stacks[i].n; j++)
			fprintf(out, "%s\"%p\"", j ? "," : "", stacks[i].f[j]);
		fputs("],\"truncated\":false}\n", out);
		stacks[i].printed = 1;
	}
}

static void leak(int sweep, const char *kind, struct blk *b, int n,
		 int inherited)
{
	fprintf(out, "{\"ev\":\"leak\",\"sweep\":%d,\"kind\":\"%s\","
		"\"stack\":%d,\"blocks\":%d,\"bytes\":%zu,\"sample\":\"%p\","
		"\"sample_size\":%zu,\"refs_start\":0,\"refs_interior\":0,"
		"\"inherited\":%s", sweep, kind, b[0].stack, n, b[0].n * n,
		b[0].p, b[0].n, inherited ? "true" : "false");
	if (inherited) {
		fputs(",\"addresses\":[", out);
		for (int i = 0; i < n; i++)
			fprintf(out, "%s\"%p\"", i ? "," : "", b[i].p);
		fputc(']', out);
	}
	fputs("}\n", out);
}

static void sweep(int seq, const char *trigger, const char *classes)
{
	fprintf(out, "{\"ev\":\"sweep\",\"seq\":%d,\"trigger\":\"%s\","
		"\"t\":%d,\"pause_ns\":1000,\"duration_ns\":2000,"
		"\"partial\":false,\"reason\":\"\",\"classes\":{%s}}\n", seq,
		trigger, seq * 1000, classes);
}

static void exit_ev(const char *how, int status)
{
	fprintf(out, "{\"ev\":\"exit\",\"how\":\"%s\",\"status\":%d,"
		"\"signal\":0,\"allocations\":10,\"frees\":1,"
		"\"events_dropped\":0}\n", how, status);
	fclose(out);
}

static __attribute__((noinline)) void scenario_basic(void)
{
	struct blk d[2], tree, kids[2], cyc[3], poss, hid, early;

	early = make_definite();
	emit_stacks();
	leak(1, "definite", &early, 1, 0);
	sweep(1, "count", "\"definite\":{\"blocks\":1,\"bytes\":24}");
	free(early.p);
	for (int i = 0; i < 2; i++)
		d[i] = make_definite();
	tree = make_tree();
	for (int i = 0; i < 2; i++)
		kids[i] = make_tree_child();
	for (int i = 0; i < 3; i++)
		cyc[i] = make_cycle_node();
	poss = make_possible();
	hid = make_hidden();
	emit_stacks();
	leak(2, "definite", d, 2, 0);
	leak(2, "definite", &tree, 1, 0);
	leak(2, "definite", &hid, 1, 0);
	leak(2, "indirect", kids, 2, 0);
	leak(2, "cycle", cyc, 3, 0);
	leak(2, "possible", &poss, 1, 0);
	fprintf(out, "{\"ev\":\"cycle\",\"sweep\":2,\"id\":1,\"blocks\":3,"
		"\"bytes\":96,\"members\":[");
	for (int i = 0; i < 3; i++)
		fprintf(out, "%s{\"address\":\"%p\",\"size\":32,\"stack\":%d}",
			i ? "," : "", cyc[i].p, cyc[i].stack);
	fputs("],\"members_truncated\":false}\n", out);
	sweep(2, "exit", "\"reachable\":{\"blocks\":10,\"bytes\":1000},"
	      "\"possible\":{\"blocks\":1,\"bytes\":100},"
	      "\"definite\":{\"blocks\":4,\"bytes\":112},"
	      "\"indirect\":{\"blocks\":2,\"bytes\":80},"
	      "\"cycle\":{\"blocks\":3,\"bytes\":96}");
	fprintf(out, "{\"ev\":\"late_free\",\"address\":\"%p\",\"size\":48,"
		"\"stack\":%d,\"kind\":\"definite\",\"sweep\":2,\"t\":5000}\n",
		hid.p, hid.stack);
	exit_ev("return", 0);
}

static __attribute__((noinline)) void scenario_fork(void)
{
	struct blk inh = make_definite();
	char parent[256];
	pid_t pid;
	int st;

	snprintf(parent, sizeof(parent), "%s", trace_name);
	fflush(out);
	pid = fork();
	if (pid == 0) {
		struct blk own = make_child_leak();

		open_trace(NULL, 1, "fork", parent, NULL);
		emit_stacks();
		leak(1, "definite", &inh, 1, 1);
		leak(1, "definite", &own, 1, 0);
		sweep(1, "exit", "\"definite\":{\"blocks\":2,\"bytes\":88}");
		exit_ev("return", 0);
		exit(0);
	}
	waitpid(pid, &st, 0);
	emit_stacks();
	leak(1, "definite", &inh, 1, 0);
	sweep(1, "exit", "\"definite\":{\"blocks\":1,\"bytes\":24}");
	exit_ev("return", 0);
}

int main(int argc, char **argv)
{
	const char *scen = argc > 1 ? argv[1] : "basic";
	const char *explicit = argc > 2 && strcmp(scen, "exit") ? argv[2]
							       : NULL;
	const char *ef = getenv("TRACEGEN_EXEC_FROM");
	int image = ef ? 2 : 1;

	open_trace(explicit, image, scen, NULL, ef);
	unsetenv("TRACEGEN_EXEC_FROM");
	if (!strcmp(scen, "basic")) {
		scenario_basic();
	} else if (!strcmp(scen, "fork")) {
		scenario_fork();
	} else if (!strcmp(scen, "exec")) {
		struct blk b = make_definite();

		emit_stacks();
		leak(1, "definite", &b, 1, 0);
		sweep(1, "api", "\"definite\":{\"blocks\":1,\"bytes\":24}");
		exit_ev("exec", 0);
		setenv("TRACEGEN_EXEC_FROM", trace_name, 1);
		execl("/proc/self/exe", "tracegen", "basic", (char *)NULL);
		perror("exec");
		return 3;
	} else if (!strcmp(scen, "killed")) {
		struct blk b = make_definite();

		emit_stacks();
		leak(1, "definite", &b, 1, 0);
		sweep(1, "interval", "\"definite\":{\"blocks\":1,\"bytes\":24}");
		fflush(out);
		raise(SIGTERM);
		return 3;
	} else if (!strcmp(scen, "cxx")) {
		struct blk b = cxx_make();

		emit_stacks();
		leak(1, "definite", &b, 1, 0);
		sweep(1, "exit", "\"definite\":{\"blocks\":1,\"bytes\":56}");
		exit_ev("return", 0);
	} else if (!strcmp(scen, "exit")) {
		int code = argc > 2 ? atoi(argv[2]) : 0;

		sweep(1, "exit", "\"reachable\":{\"blocks\":1,\"bytes\":8}");
		exit_ev("return", code);
		return code;
	} else {
		fprintf(stderr, "tracegen: unknown scenario %s\n", scen);
		return 3;
	}
	return 0;
}
