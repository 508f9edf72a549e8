/*
 * validate: checks a trace against docs/trace-format.md, line by line.
 *
 *   validate [--exit HOW] [--expect EV]... [--count EV=N]... [--strict-modules]
 *            [--first-frame-main] [--get EV.KEY[.SUB]]... [--leak-stacks]
 *            [--allow-truncated] [--pairs] FILE
 *
 * Always checked: every line is one complete JSON object with "ev"; the
 * first is a start event with the schema name, major version 1 and every
 * option; each kind's fields have the documented types; every stack id is
 * emitted once, before any event names it; an exit event, if any, is the
 * last line (an exit how=exec may be followed by a warning what=exec: the
 * exec failed and the image went on). --exit HOW requires one with that "how". --strict-modules: every
 * frame of every stack lies in a module announced before it. --first-frame-main: every leak's stack starts in the main
 * executable. --get prints a field of the first event of a kind;
 * --leak-stacks prints "kind blocks frame frame..." per leak event.
 * --exit any accepts every "how". --pairs: for every address, trace=all
 * events alternate alloc and free (a realloc allocates "a"; when it moved
 * the block, a free event for "from" follows).
 * --allow-truncated accepts a last line without its newline (a process
 * killed in the middle of a write; docs/trace-format.md says readers skip
 * it). Exit status 0 valid, 1 invalid, 2 bad usage or unreadable file.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refsweep-events.h"

#define MAX_MODS 4096
#define MAX_STACKS (1u << 20)

static const char *file;
static unsigned long lineno;
static int errors;

static struct { uint64_t base, lo, hi; bool main, live; } mods[MAX_MODS];
static int n_mods;
static unsigned char *stack_seen; /* id -> 1 */
static uint64_t *stack_first;     /* id -> frames[0] */
static json_t **stack_frames;     /* id -> frames, for --leak-stacks */

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (++errors > 20)
		return;
	fprintf(stderr, "%s:%lu: ", file, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool is_hex(json_t *v, uint64_t *out)
{
	const char *s = json_string_value(v);
	char *end;

	if (!s || strncmp(s, "0x", 2) || !s[2])
		return false;
	for (const char *p = s + 2; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	if (out)
		*out = strtoull(s + 2, &end, 16);
	return true;
}

static json_t *need(json_t *o, const char *key, const char *ev)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		fail("%s: missing \"%s\"", ev, key);
	return v;
}

static void need_int(json_t *o, const char *key, const char *ev, bool positive)
{
	json_t *v = need(o, key, ev);

	if (v && (!json_is_integer(v) || json_integer_value(v) < (positive ? 1 : 0)))
		fail("%s: \"%s\" is not a %s integer", ev, key,
		     positive ? "positive" : "non-negative");
}

static void need_str(json_t *o, const char *key, const char *ev)
{
	json_t *v = need(o, key, ev);

	if (v && !json_is_string(v))
		fail("%s: \"%s\" is not a string", ev, key);
}

static void need_bool(json_t *o, const char *key, const char *ev)
{
	json_t *v = need(o, key, ev);

	if (v && !json_is_boolean(v))
		fail("%s: \"%s\" is not a boolean", ev, key);
}

static void need_hex(json_t *o, const char *key, const char *ev)
{
	json_t *v = need(o, key, ev);

	if (v && !is_hex(v, NULL))
		fail("%s: \"%s\" is not a lower-case hex address", ev, key);
}

static void need_one_of(json_t *o, const char *key, const char *ev,
			const char *const *set)
{
	json_t *v = need(o, key, ev);
	const char *s = json_string_value(v);

	if (!v)
		return;
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return;
	fail("%s: \"%s\" has an undocumented value", ev, key);
}

/* A stack id that an event names must have been emitted already. */
static void need_stack_ref(json_t *o, const char *key, const char *ev)
{
	json_t *v = need(o, key, ev);
	json_int_t id;

	if (!v)
		return;
	if (!json_is_integer(v) || (id = json_integer_value(v)) < 0 ||
	    id >= MAX_STACKS) {
		fail("%s: \"%s\" is not a stack id", ev, key);
		return;
	}
	if (id && !stack_seen[id])
		fail("%s: stack %lld used before its stack event", ev,
		     (long long)id);
}

/* The newest module announced so far that holds pc, live or unloaded (a
 * leak found at exit may come from an object dlclose'd long before). */
/* --pairs: the state of every address trace=all events named, in an
 * open-addressing table (1 live, 2 freed). */
static struct { uint64_t a; int state; } *addrs;
static size_t addrs_cap, addrs_used;

static int *addr_state(uint64_t a)
{
	if (addrs_used * 2 >= addrs_cap) {
		size_t old = addrs_cap;
		__typeof__(addrs) prev = addrs;
		addrs_cap = old ? old * 2 : 1 << 16;
		addrs = calloc(addrs_cap, sizeof *addrs);
		if (!addrs)
			exit(2);
		addrs_used = 0;
		for (size_t i = 0; i < old; i++)
			if (prev[i].state)
				*addr_state(prev[i].a) = prev[i].state;
		free(prev);
	}
	size_t i = (a * 0x9e3779b97f4a7c15ull >> 20) & (addrs_cap - 1);
	while (addrs[i].state && addrs[i].a != a)
		i = (i + 1) & (addrs_cap - 1);
	if (!addrs[i].state) {
		addrs[i].a = a;
		addrs_used++;
	}
	return &addrs[i].state;
}

static void pair_event(const char *ev, json_t *o)
{
	uint64_t a = 0, from = 0;
	int *st;

	if (!is_hex(json_object_get(o, "a"), &a))
		return;
	if (!strcmp(ev, RS_EV_FREE)) {
		st = addr_state(a);
		if (*st == 2)
			fail("free of 0x%llx, which the trace already freed",
			     (unsigned long long)a);
		*st = 2;
		return;
	}
	/* A realloc that moves the block leaves "from" to its own free
	 * event, which follows. */
	if (!strcmp(ev, RS_EV_REALLOC) &&
	    is_hex(json_object_get(o, "from"), &from) && from != a &&
	    *addr_state(from) == 2)
		fail("realloc from 0x%llx, which the trace already freed",
		     (unsigned long long)from);
	st = addr_state(a);
	if (*st == 1 && !(from == a && !strcmp(ev, RS_EV_REALLOC)))
		fail("%s of 0x%llx, which is live (no free between)", ev,
		     (unsigned long long)a);
	*st = 1;
}

static int module_of(uint64_t pc)
{
	for (int i = n_mods - 1; i >= 0; i--)
		if (pc >= mods[i].lo && pc < mods[i].hi)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	const char *want_exit = NULL;
	const char *expect[32], *count_ev[32], *gets[32];
	long count_n[32], count_seen[32] = { 0 };
	int n_expect = 0, n_count = 0, n_gets = 0;
	bool expect_seen[32] = { false };
	bool strict_modules = false, first_main = false, leak_stacks = false;
	bool allow_truncated = false, pairs = false;
	bool got_printed[32] = { false };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool seen_exit = false, exit_exec = false, any_exit = false;
	bool first = true;
	char last_how[32] = "";
	int i;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--exit"))
			want_exit = argv[++i];
		else if (!strcmp(argv[i], "--expect") && n_expect < 32)
			expect[n_expect++] = argv[++i];
		else if (!strcmp(argv[i], "--count") && n_count < 32) {
			char *eq = strchr(argv[++i], '=');
			if (!eq)
				return 2;
			*eq = 0;
			count_ev[n_count] = argv[i];
			count_n[n_count++] = atol(eq + 1);
		} else if (!strcmp(argv[i], "--strict-modules"))
			strict_modules = true;
		else if (!strcmp(argv[i], "--first-frame-main"))
			first_main = true;
		else if (!strcmp(argv[i], "--pairs"))
			pairs = true;
		else if (!strcmp(argv[i], "--allow-truncated"))
			allow_truncated = true;
		else if (!strcmp(argv[i], "--leak-stacks"))
			leak_stacks = true;
		else if (!strcmp(argv[i], "--get") && n_gets < 32)
			gets[n_gets++] = argv[++i];
		else {
			fprintf(stderr, "validate: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: validate [options] TRACE\n");
		return 2;
	}
	file = argv[i];
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return 2;
	}
	stack_seen = calloc(MAX_STACKS, 1);
	stack_first = calloc(MAX_STACKS, sizeof *stack_first);
	stack_frames = calloc(MAX_STACKS, sizeof *stack_frames);
	if (!stack_seen || !stack_first || !stack_frames)
		return 2;

	static const char *const options[] = {
		"output", "dir", "fd", "trace", "stack_depth", "unwind",
		"exit_sweep", "sweep_growth", "sweep_every", "sweep_interval_ms",
		"sweep_signal", "stop", "quiet", "max_cycle_members", NULL };
	static const char *const hows[] = { RS_EXIT_RETURN, RS_EXIT_UNDERSCORE,
		RS_EXIT_LAST_THREAD, RS_EXIT_SIGNAL, RS_EXIT_EXEC, NULL };
	static const char *const kinds[] = { RS_KIND_POSSIBLE, RS_KIND_DEFINITE,
		RS_KIND_INDIRECT, RS_KIND_CYCLE, NULL };
	static const char *const triggers[] = { RS_TRIGGER_EXIT,
		RS_TRIGGER_GROWTH, RS_TRIGGER_COUNT, RS_TRIGGER_INTERVAL,
		RS_TRIGGER_SIGNAL, RS_TRIGGER_API, NULL };
	static const char *const ops[] = { "start", "exit", NULL };
	static const char *const counters[] = { "allocations", "frees",
		"bytes_allocated", "live_blocks", "live_bytes", "peak_blocks",
		"peak_bytes", "invalid_frees", "double_frees", "foreign_frees",
		"events_dropped", "stacks", "sweeps", NULL };

	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t err;
		json_t *o;
		const char *ev;

		lineno++;
		if (line[len - 1] != '\n') {
			/* A process killed mid-write; readers skip it. */
			if (!allow_truncated)
				fail("last line is incomplete (no newline)");
			break;
		}
		o = json_loadb(line, (size_t)len, 0, &err);
		/* Only a failed exec continues after its exit event, with a
		 * warning first. */
		if (seen_exit && !(exit_exec && o && strstr(line, "\"ev\":\"warning\"") &&
				   strstr(line, "\"what\":\"exec\"")))
			fail("a line follows the exit event");
		seen_exit = false;
		if (!o || !json_is_object(o)) {
			fail("not a JSON object: %s", o ? "" : err.text);
			json_decref(o);
			continue;
		}
		ev = json_string_value(json_object_get(o, "ev"));
		if (!ev) {
			fail("no \"ev\" string");
			json_decref(o);
			continue;
		}
		json_t *t = json_object_get(o, "t");
		if (t && (!json_is_integer(t) || json_integer_value(t) < 0))
			fail("%s: \"t\" is not a non-negative integer", ev);
		if (first != !strcmp(ev, RS_EV_START))
			fail(first ? "first line is not a start event"
				   : "a second start event");
		first = false;

		if (!strcmp(ev, RS_EV_START)) {
			const char *schema = json_string_value(json_object_get(o, "schema"));
			const char *version = json_string_value(json_object_get(o, "version"));
			if (!schema || strcmp(schema, RS_SCHEMA_NAME))
				fail("start: wrong schema name");
			if (!version || strncmp(version, "1.", 2))
				fail("start: version is not 1.x");
			need_str(o, "tool", ev);
			need_int(o, "pid", ev, true);
			need_int(o, "ppid", ev, false);
			need_str(o, "exe", ev);
			need_int(o, "time", ev, true);
			json_t *av = need(o, "argv", ev), *x;
			size_t k;
			if (av && !json_is_array(av))
				fail("start: argv is not an array");
			json_array_foreach(av, k, x)
				if (!json_is_string(x))
					fail("start: argv[%zu] is not a string", k);
			json_t *opts = need(o, "options", ev);
			for (const char *const *p = options; opts && *p; p++)
				if (!json_object_get(opts, *p))
					fail("start: option %s missing", *p);
		} else if (!strcmp(ev, RS_EV_MODULE)) {
			uint64_t base = 0;
			need_str(o, "path", ev);
			if (!is_hex(json_object_get(o, "base"), &base))
				fail("module: bad base");
			need_int(o, "size", ev, false);
			json_t *b = json_object_get(o, "build_id");
			if (b && !json_is_string(b))
				fail("module: build_id is not a string");
			if (n_mods < MAX_MODS) {
				uint64_t start = base;
				if (!is_hex(json_object_get(o, "start"), &start))
					fail("module: bad start");
				mods[n_mods].lo = start;
				mods[n_mods].hi = start + (uint64_t)json_integer_value(json_object_get(o, "size"));
				mods[n_mods].base = base;
				mods[n_mods].main = json_is_true(json_object_get(o, "main"));
				mods[n_mods].live = true;
				n_mods++;
			}
		} else if (!strcmp(ev, RS_EV_UNLOAD)) {
			uint64_t base = 0;
			need_str(o, "path", ev);
			if (!is_hex(json_object_get(o, "base"), &base))
				fail("unload: bad base");
			bool known = false;
			for (int m = 0; m < n_mods; m++)
				if (mods[m].base == base && mods[m].live) {
					mods[m].live = false;
					known = true;
				}
			if (!known)
				fail("unload: no module at that base");
		} else if (!strcmp(ev, RS_EV_STACK)) {
			json_t *idv = need(o, "id", ev), *fr = need(o, "frames", ev), *x;
			json_int_t id = json_integer_value(idv);
			size_t k;
			need_bool(o, "truncated", ev);
			if (!json_is_integer(idv) || id <= 0 || id >= MAX_STACKS) {
				fail("stack: bad id");
			} else {
				if (stack_seen[id])
					fail("stack: id %lld emitted twice", (long long)id);
				stack_seen[id] = 1;
				if (leak_stacks && fr && !stack_frames[id])
					stack_frames[id] = json_incref(fr);
			}
			if (!json_is_array(fr) || !json_array_size(fr))
				fail("stack: frames is not a non-empty array");
			json_array_foreach(fr, k, x) {
				uint64_t pc;
				if (!is_hex(x, &pc)) {
					fail("stack: frame %zu is not hex", k);
					continue;
				}
				if (k == 0 && id > 0 && id < MAX_STACKS)
					stack_first[id] = pc;
				if (strict_modules && module_of(pc) < 0)
					fail("stack %lld: frame %s is in no module announced before",
					     (long long)id, json_string_value(x));
			}
		} else if (!strcmp(ev, RS_EV_THREAD)) {
			need_one_of(o, "op", ev, ops);
			need_int(o, "tid", ev, true);
		} else if (!strcmp(ev, RS_EV_SWEEP)) {
			need_int(o, "seq", ev, true);
			need_one_of(o, "trigger", ev, triggers);
			need_bool(o, "partial", ev);
			json_t *cl = need(o, "classes", ev);
			static const char *const all[] = { RS_KIND_REACHABLE,
				RS_KIND_POSSIBLE, RS_KIND_DEFINITE,
				RS_KIND_INDIRECT, RS_KIND_CYCLE, NULL };
			for (const char *const *p = all; cl && *p; p++) {
				json_t *c = json_object_get(cl, *p);
				if (!c) {
					fail("sweep: class %s missing", *p);
					continue;
				}
				need_int(c, "blocks", ev, false);
				need_int(c, "bytes", ev, false);
			}
		} else if (!strcmp(ev, RS_EV_LEAK)) {
			need_int(o, "sweep", ev, true);
			need_one_of(o, "kind", ev, kinds);
			need_stack_ref(o, "stack", ev);
			need_int(o, "blocks", ev, true);
			need_int(o, "bytes", ev, false);
			need_hex(o, "sample", ev);
			json_int_t id = json_integer_value(json_object_get(o, "stack"));
			if (first_main && id > 0 && id < MAX_STACKS) {
				int m = module_of(stack_first[id]);
				if (m < 0 || !mods[m].main)
					fail("leak: stack %lld does not start in the main executable",
					     (long long)id);
			}
			if (leak_stacks) {
				json_t *x;
				size_t k;
				printf("%s %lld", json_string_value(json_object_get(o, "kind")),
				       (long long)json_integer_value(json_object_get(o, "blocks")));
				if (id > 0 && id < MAX_STACKS)
					json_array_foreach(stack_frames[id], k, x)
						printf(" %s", json_string_value(x));
				printf("\n");
			}
		} else if (!strcmp(ev, RS_EV_CYCLE)) {
			json_t *mem = need(o, "members", ev), *x;
			size_t k;
			json_array_foreach(mem, k, x) {
				need_hex(x, "address", ev);
				need_int(x, "size", ev, false);
				need_stack_ref(x, "stack", ev);
			}
		} else if (!strcmp(ev, RS_EV_LATE_FREE)) {
			need_hex(o, "address", ev);
			need_int(o, "size", ev, false);
			need_stack_ref(o, "stack", ev);
		} else if (!strcmp(ev, RS_EV_CHECKPOINT)) {
			need_str(o, "name", ev);
		} else if (!strcmp(ev, RS_EV_WARNING)) {
			need_str(o, "what", ev);
			need_str(o, "detail", ev);
		} else if (!strcmp(ev, RS_EV_ALLOC) || !strcmp(ev, RS_EV_REALLOC)) {
			need_hex(o, "a", ev);
			need_int(o, "n", ev, false);
			need_stack_ref(o, "s", ev);
			need_int(o, "tid", ev, true);
			if (!strcmp(ev, RS_EV_REALLOC))
				need_hex(o, "from", ev);
			if (pairs)
				pair_event(ev, o);
		} else if (!strcmp(ev, RS_EV_FREE)) {
			need_hex(o, "a", ev);
			need_int(o, "tid", ev, true);
			if (pairs)
				pair_event(ev, o);
		} else if (!strcmp(ev, RS_EV_EXIT)) {
			seen_exit = any_exit = true;
			need_one_of(o, "how", ev, hows);
			need_int(o, "signal", ev, false);
			json_t *st = need(o, "status", ev);
			if (st && !json_is_integer(st))
				fail("exit: status is not an integer");
			for (const char *const *p = counters; *p; p++)
				need_int(o, *p, ev, false);
			const char *how = json_string_value(json_object_get(o, "how"));
			exit_exec = how && !strcmp(how, RS_EXIT_EXEC);
			snprintf(last_how, sizeof last_how, "%s", how ? how : "");
		}
		for (int k = 0; k < n_expect; k++)
			if (!strcmp(expect[k], ev))
				expect_seen[k] = true;
		for (int k = 0; k < n_count; k++)
			if (!strcmp(count_ev[k], ev))
				count_seen[k]++;
		for (int k = 0; k < n_gets; k++) {
			char key[256];
			snprintf(key, sizeof key, "%s", gets[k]);
			char *dot = strchr(key, '.');
			if (got_printed[k] || !dot)
				continue;
			*dot = 0;
			if (strcmp(key, ev))
				continue;
			json_t *v = o;
			for (char *part = strtok(dot + 1, "."); v && part;
			     part = strtok(NULL, "."))
				v = json_object_get(v, part);
			got_printed[k] = true;
			if (json_is_string(v))
				printf("%s\n", json_string_value(v));
			else if (v) {
				char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				printf("%s\n", s);
				free(s);
			} else
				printf("(none)\n");
		}
		json_decref(o);
	}
	if (first)
		fail("empty trace");
	if (want_exit && !any_exit)
		fail("no exit event (expected how=%s)", want_exit);
	else if (want_exit && !seen_exit)
		fail("the last line is not an exit event (expected how=%s)", want_exit);
	else if (want_exit && strcmp(want_exit, "any") && strcmp(last_how, want_exit))
		fail("exit: how is %s, expected %s", last_how, want_exit);
	for (int k = 0; k < n_expect; k++)
		if (!expect_seen[k])
			fail("no %s event", expect[k]);
	for (int k = 0; k < n_count; k++)
		if (count_seen[k] != count_n[k])
			fail("%ld %s events, expected %ld", count_seen[k],
			     count_ev[k], count_n[k]);
	for (int k = 0; k < n_gets; k++)
		if (!got_printed[k])
			printf("(none)\n");
	free(line);
	fclose(f);
	if (errors)
		fprintf(stderr, "%s: %d problem%s\n", file, errors,
			errors == 1 ? "" : "s");
	return errors ? 1 : 0;
}
