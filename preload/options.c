/*
 * options.c: the one table of shim options (docs/options.md is its prose
 * twin) and the parser of REFSWEEP_OPTIONS.
 *
 * Owns rs_opt and the warnings a bad option leaves behind until the writer
 * can put them in the trace.
 *
 * Must never: allocate, call libc beyond prim.h, print more than one line
 * per bad option, or refuse to start: a bad key or value keeps the default.
 */
#include "config.h"
#include "options.h"
#include "writer.h"

#include <signal.h>

struct rs_options rs_opt RS_HIDDEN = {
	.output = "refsweep.%e.%p.rsj",
	.fd = -1,
	.trace = RS_TRACE_LEAKS,
	.stack_depth = 32,
	.unwind = RS_UNWIND_AUTO,
	.exit_sweep = true,
	.sweep_growth = 100,
	.stop = RS_STOP_AUTO,
	.max_cycle_members = 64,
};

/* Set when `output` came from the environment, not the default: a fork
 * child of an fd=N process writes there (see writer.c). */
bool rs_opt_output_set RS_HIDDEN;

enum opt_type { T_STR, T_FD, T_BOOL, T_U32, T_U64, T_MS, T_SIG, T_ENUM };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	uint64_t min, max;        /* numbers */
	const char *const *names; /* T_ENUM, indexed by the enum value */
};

static const char *const trace_names[] = { "leaks", "all", NULL };
static const char *const unwind_names[] = { "auto", "fp", "libunwind", "none",
					    NULL };
static const char *const stop_names[] = { "auto", "ptrace", "signal", NULL };

#define OFF(f) __builtin_offsetof(struct rs_options, f)
static const struct opt table[] = {
	{ "output", T_STR, OFF(output), 0, 0, NULL },
	{ "dir", T_STR, OFF(dir), 0, 0, NULL },
	{ "fd", T_FD, OFF(fd), 0, 1 << 20, NULL },
	{ "trace", T_ENUM, OFF(trace), 0, 0, trace_names },
	{ "stack_depth", T_U32, OFF(stack_depth), 1, 256, NULL },
	{ "unwind", T_ENUM, OFF(unwind), 0, 0, unwind_names },
	{ "exit_sweep", T_BOOL, OFF(exit_sweep), 0, 0, NULL },
	{ "sweep_growth", T_U32, OFF(sweep_growth), 0, 100000, NULL },
	{ "sweep_every", T_U64, OFF(sweep_every), 0, UINT64_MAX, NULL },
	{ "sweep_interval_ms", T_MS, OFF(sweep_interval_ms), 0,
	  UINT64_MAX / 1000, NULL },
	{ "sweep_signal", T_SIG, OFF(sweep_signal), 0, 64, NULL },
	{ "stop", T_ENUM, OFF(stop), 0, 0, stop_names },
	{ "quiet", T_BOOL, OFF(quiet), 0, 0, NULL },
	{ "max_cycle_members", T_U32, OFF(max_cycle_members), 1, 65536, NULL },
};

/* Signal names for sweep_signal, with or without "SIG". Only signals a
 * program can spare; SIGKILL/SIGSTOP cannot be caught and the fatal ones
 * are the program's. */
static const struct { const char *name; int sig; } signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "ALRM", SIGALRM },
	{ "TERM", SIGTERM }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

/* Kept until the writer is open. Past MAX_WARNINGS the rest are counted
 * and summed up in one last warning. */
#define MAX_WARNINGS 16
#define WARNING_LEN 200
static char warnings[MAX_WARNINGS][WARNING_LEN];
static unsigned n_warnings, n_lost_warnings;
static bool warnings_emitted;

static void warn(const char *a, const char *b, size_t blen, const char *c)
{
	char *w;
	size_t n;

	if (n_warnings == MAX_WARNINGS) {
		n_lost_warnings++;
		return;
	}
	w = warnings[n_warnings++];
	n = prim_strlcpy(w, a, WARNING_LEN);
	if (blen > 64)
		blen = 64;
	if (n + blen + 1 < WARNING_LEN) {
		prim_memcpy(w + n, b, blen);
		n += blen;
		w[n] = 0;
	}
	if (n < WARNING_LEN)
		prim_strlcpy(w + n, c, WARNING_LEN - n);
}

static bool parse_bool(const char *v, size_t n, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (prim_strlen(yes[i]) == n && prim_streq_nocase(v, yes[i], n)) {
			*out = true;
			return true;
		}
		if (prim_strlen(no[i]) == n && prim_streq_nocase(v, no[i], n)) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* A count with an optional decimal suffix k, m or g (sweep_every=1m is a
 * million allocations). */
static bool parse_count(const char *v, size_t n, uint64_t *out)
{
	uint64_t mul = 1;

	if (n > 1) {
		switch (v[n - 1] | 0x20) {
		case 'k': mul = 1000; break;
		case 'm': mul = 1000000; break;
		case 'g': mul = 1000000000; break;
		}
		if (mul != 1)
			n--;
	}
	if (!prim_parse_u64(v, n, out) || (*out && UINT64_MAX / *out < mul))
		return false;
	*out *= mul;
	return true;
}

/* Milliseconds, or seconds with an "s" suffix ("ms" also accepted). */
static bool parse_ms(const char *v, size_t n, uint64_t *out)
{
	uint64_t mul = 1;

	if (n > 2 && prim_streq_nocase(v + n - 2, "ms", 2))
		n -= 2;
	else if (n > 1 && (v[n - 1] | 0x20) == 's') {
		n--;
		mul = 1000;
	}
	if (!prim_parse_u64(v, n, out) || (*out && UINT64_MAX / *out < mul))
		return false;
	*out *= mul;
	return true;
}

static bool parse_signal(const char *v, size_t n, uint64_t *out)
{
	if (prim_parse_u64(v, n, out))
		return true;
	if (n > 3 && prim_streq_nocase(v, "SIG", 3)) {
		v += 3;
		n -= 3;
	}
	for (size_t i = 0; i < RS_ARRAY_LEN(signals); i++) {
		if (prim_strlen(signals[i].name) == n &&
		    prim_streq_nocase(v, signals[i].name, n)) {
			*out = (uint64_t)signals[i].sig;
			return true;
		}
	}
	if (n > 5 && prim_streq_nocase(v, "RTMIN", 5)) {
		uint64_t k = 0;
		if (n == 5 || (v[5] == '+' && prim_parse_u64(v + 6, n - 6, &k))) {
			*out = (uint64_t)SIGRTMIN + k;
			return true;
		}
	}
	return false;
}

/* Copies a value, removing the backslashes that escape ',', ':' and '\'
 * (paths given to dir= and output= may contain the separators). */
static bool copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n)
			i++;
		if (j + 1 >= cap)
			return false;
		dst[j++] = v[i];
	}
	dst[j] = 0;
	return true;
}

static void set_option(const struct opt *o, const char *v, size_t n)
{
	char *field = (char *)&rs_opt + o->off;
	uint64_t u = 0;
	bool b, ok = true;

	switch (o->type) {
	case T_STR: {
		char tmp[sizeof rs_opt.output];
		ok = n > 0 && copy_value(tmp, sizeof tmp, v, n);
		if (ok) {
			prim_memcpy(field, tmp, sizeof tmp);
			if (field == rs_opt.output)
				rs_opt_output_set = true;
		}
		break;
	}
	case T_BOOL:
		ok = parse_bool(v, n, &b);
		if (ok)
			*(bool *)field = b;
		break;
	case T_ENUM:
		ok = false;
		for (unsigned i = 0; o->names[i]; i++) {
			if (prim_strlen(o->names[i]) == n &&
			    prim_streq_nocase(v, o->names[i], n)) {
				*(int *)field = (int)i;
				ok = true;
			}
		}
		break;
	case T_FD:
	case T_U32:
	case T_U64:
	case T_MS:
	case T_SIG:
		if (o->type == T_MS)
			ok = parse_ms(v, n, &u);
		else if (o->type == T_SIG)
			ok = parse_signal(v, n, &u);
		else
			ok = parse_count(v, n, &u);
		ok = ok && u >= o->min && u <= o->max;
		if (!ok)
			break;
		if (o->type == T_U64 || o->type == T_MS)
			*(uint64_t *)field = u;
		else if (o->type == T_U32)
			*(uint32_t *)field = (uint32_t)u;
		else
			*(int *)field = (int)u;
		break;
	}
	if (!ok) {
		char what[64];
		size_t k = prim_strlcpy(what, "bad value for ", sizeof what);
		prim_strlcpy(what + k, o->name, sizeof what - k);
		k = prim_strlen(what);
		prim_strlcpy(what + k, ": '", sizeof what - k);
		warn(what, v, n, "' ignored, default kept");
	}
}

static void parse_item(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && s[k] != '=')
		k++;
	if (k == n) {
		warn("malformed option '", s, n, "' ignored (want key=value)");
		return;
	}
	for (size_t i = 0; i < RS_ARRAY_LEN(table); i++) {
		if (prim_strlen(table[i].name) == k &&
		    prim_streq_nocase(s, table[i].name, k)) {
			set_option(&table[i], s + k + 1, n - k - 1);
			return;
		}
	}
	warn("unknown option '", s, k, "' ignored");
}

void options_init(void)
{
	const char *s = prim_getenv(RS_ENV_OPTIONS);

	if (!s)
		return;
	while (*s) {
		size_t n = 0;

		while (s[n] && s[n] != ',' && s[n] != ':') {
			if (s[n] == '\\' && s[n + 1])
				n++;
			n++;
		}
		/* Empty items (",,", a trailing ',') are harmless. */
		if (n)
			parse_item(s, n);
		s += n;
		if (*s)
			s++;
	}
	if (!rs_opt.quiet) {
		for (unsigned i = 0; i < n_warnings; i++)
			prim_notice(warnings[i], NULL);
		if (n_lost_warnings)
			prim_notice("more bad options ignored", NULL);
	}
}

void options_emit_warnings(void)
{
	char mem[512];
	struct jbuf jb;

	if (warnings_emitted)
		return;
	warnings_emitted = true;
	for (unsigned i = 0; i < n_warnings; i++) {
		jb_begin(&jb, mem, sizeof mem, RS_EV_WARNING);
		jb_str(&jb, "what", "option");
		jb_str(&jb, "detail", warnings[i]);
		jb_end(&jb);
		writer_emit(&jb);
	}
	if (n_lost_warnings) {
		jb_begin(&jb, mem, sizeof mem, RS_EV_WARNING);
		jb_str(&jb, "what", "option");
		jb_str(&jb, "detail", "more bad options ignored");
		jb_u64(&jb, "count", n_lost_warnings);
		jb_end(&jb);
		writer_emit(&jb);
	}
}

void options_to_json(struct jbuf *jb)
{
	jb_open_obj(jb, "options");
	for (size_t i = 0; i < RS_ARRAY_LEN(table); i++) {
		const struct opt *o = &table[i];
		const char *field = (const char *)&rs_opt + o->off;

		switch (o->type) {
		case T_STR:
			jb_str(jb, o->name, field);
			break;
		case T_BOOL:
			jb_bool(jb, o->name, *(const bool *)field);
			break;
		case T_ENUM:
			jb_str(jb, o->name, o->names[*(const int *)field]);
			break;
		case T_FD:
		case T_SIG:
			jb_i64(jb, o->name, *(const int *)field);
			break;
		case T_U32:
			jb_u64(jb, o->name, *(const uint32_t *)field);
			break;
		case T_U64:
		case T_MS:
			jb_u64(jb, o->name, *(const uint64_t *)field);
			break;
		}
	}
	jb_close_obj(jb);
}
