/*
 * rs.h: the analyzer's internal interfaces. One header for the whole
 * `refsweep` CLI: the trace model the reader fills (images, stacks, final
 * sweeps), the run-wide result the reports print (leak groups, cycles,
 * processes), the symbolizer, the gate, and the verbs.
 *
 * Ownership: every string and array hanging off these structs is owned by
 * the struct that holds it and freed with it (image_free, result_free).
 * Memory is bounded by distinct stacks, leak groups and modules, never by
 * the length of a trace: trace=all events are counted, not kept.
 */
#ifndef RS_ANALYZER_H
#define RS_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "refsweep-events.h"

/* Exit codes shared by every verb (docs/cli.md). */
#define RS_EXIT_OK 0
#define RS_EXIT_FAIL 1     /* check: gate failed; diff: new or grown leaks */
#define RS_EXIT_USAGE 2    /* bad usage, unreadable or corrupt input */

/* ---- util.c ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Messages on stderr prefixed with "refsweep: ". */
void rs_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rs_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool rs_quiet_notes;

struct strbuf {
	char *p;
	size_t len, cap;
};
void sb_add(struct strbuf *sb, const char *s, size_t n);
void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *sb);

/* Open-addressing hash of string keys (owned copies) to pointers. */
struct strmap {
	char **keys;
	void **vals;
	size_t n, cap;
};
void **strmap_slot(struct strmap *m, const char *key, bool *created);
void *strmap_get(const struct strmap *m, const char *key);
void strmap_free(struct strmap *m, void (*free_val)(void *));

/* Hash of 64-bit keys to pointers (key 0 is allowed). */
struct u64map {
	uint64_t *keys;
	void **vals;
	unsigned char *used;
	size_t n, cap;
};
void **u64map_slot(struct u64map *m, uint64_t key, bool *created);
void *u64map_get(const struct u64map *m, uint64_t key);
void u64map_free(struct u64map *m, void (*free_val)(void *));

const char *path_base(const char *path);
bool parse_u64(const char *s, uint64_t *out);
bool parse_hex_addr(const char *s, uint64_t *out);

/* ---- the trace model (reader.c) ---- */
enum rs_kind {
	RS_K_DEFINITE,
	RS_K_INDIRECT,
	RS_K_CYCLE,
	RS_K_POSSIBLE,
	RS_K_REACHABLE,
	RS_K_COUNT
};
extern const char *const rs_kind_names[RS_K_COUNT];
int kind_from_name(const char *s);

struct rs_count {
	uint64_t blocks, bytes;
};

struct rs_module {
	char *path;
	uint64_t base, size;
	char *build_id;     /* hex, or NULL */
	bool main;
	bool gone;          /* unloaded: later stacks do not resolve to it */
};

struct rs_stack {
	uint32_t id;
	uint32_t n;
	bool truncated;
	uint64_t *pc;
	int32_t *mod;       /* index into image->modules, -1 = none */
	char *key;          /* module basename+offset per frame: ASLR-free */
	struct rs_symstack *sym; /* filled lazily by stack_symbolize */
};

struct rs_lgroup {
	int kind;
	uint32_t stack;
	uint64_t blocks, bytes;
	uint64_t refs_start, refs_interior;
	uint64_t sample, sample_size;
	bool inherited;
	uint64_t *addrs;
	size_t naddrs;
};

struct rs_member {
	uint64_t addr, size;
	uint32_t stack;
};

struct rs_cycle {
	int64_t id;
	uint64_t blocks, bytes;
	bool truncated;
	struct rs_member *m;
	size_t n;
};

struct rs_sweep {
	int64_t seq;
	char *trigger;
	bool partial;
	char *reason;
	int64_t t;
	struct rs_count classes[RS_K_COUNT];
	struct rs_lgroup *g;
	size_t ng, capg;
	struct rs_cycle *c;
	size_t nc, capc;
};

/* Blocks freed after a sweep reported them (late_free), aggregated by
 * (kind, stack) so memory stays bounded. */
struct rs_latefree {
	int kind;
	uint32_t stack;
	int64_t sweep;          /* the last one's */
	uint64_t blocks, bytes;
};

/* One trace file: one process image (an exec starts a new one). */
struct rs_image {
	char *file;          /* as opened */
	char *name;          /* basename */
	int64_t pid, ppid, forked_from;
	char *parent_image, *exec_from;
	char *exe;
	json_t *argv;
	char *version;
	struct rs_module *mods;
	size_t nmods, capmods;
	int32_t *live;                  /* live modules sorted by base */
	size_t nlive;
	int32_t zero;                   /* a live module at bias 0, or -1 */
	bool mods_dirty;                /* live needs rebuilding */
	struct u64map stacks;           /* id -> struct rs_stack */
	struct rs_sweep *pending;       /* leaks/cycles of a sweep not yet closed */
	struct rs_sweep *final;         /* the last complete sweep */
	int64_t nsweeps, npartial;
	struct rs_latefree *lf;
	size_t nlf, caplf;
	struct u64map lfidx;            /* (stack, kind) -> index + 1 in lf */
	bool has_exit;
	char *how;
	int64_t status, signal;
	json_t *exit_ev;                /* the exit event, for its totals */
	json_t *warnings;               /* array of {what, detail} */
	uint64_t nevents, nalloc_events;
	uint64_t nlines;
	bool truncated;                 /* last line without newline */
	bool empty;                     /* no start event: nothing to read */
	/* model.c state */
	bool contributes;
	struct rs_image *parent;
};

struct rs_image *image_read(const char *path, FILE *f, char **errmsg);
struct rs_image *image_read_mem(const char *name, const char *buf, size_t len,
				char **errmsg);
void image_free(struct rs_image *im);
struct rs_stack *image_stack(const struct rs_image *im, uint32_t id);

/* ---- symbolize.c ---- */
struct rs_symframe {
	uint64_t address;
	char *function;   /* demangled, or NULL */
	char *file;       /* or NULL */
	int64_t line;     /* 0 = unknown */
	char *module;     /* path, or NULL */
	uint64_t offset;  /* address - module base */
	bool inlined;     /* an inlined call inside the next frame's address */
};
struct rs_symstack {
	struct rs_symframe *f;
	size_t n;
	size_t skip;      /* leading allocator frames dropped from reports */
	char *identity;   /* kind-free identity: function/module per frame */
};
/* Symbolizes (once) and returns the stack's frames. */
struct rs_symstack *stack_symbolize(struct rs_image *im, struct rs_stack *st);
void symbolizer_init(bool enabled);
void symbolizer_end(void);
/* Warnings the symbolizer raised (binary changed, not found...). */
json_t *symbolizer_warnings(void);
char *rs_demangle(const char *name);

/* ---- model.c: the run as a whole ---- */
struct rs_group {
	int kind;
	struct rs_count c;
	uint64_t refs_start, refs_interior;
	struct rs_image *im;      /* first image it was seen in (symbols) */
	struct rs_stack *st;      /* NULL when the stack id was never emitted */
	uint64_t sample;
	int64_t *pids;
	size_t npids;
	bool suppressed;
	bool baselined;           /* present in --baseline: does not fail */
	bool failing;             /* set by the gate */
	char *suppressed_by;
	char *identity;           /* kind + frames, stable across runs */
};

struct rs_rcycle {
	struct rs_image *im;
	struct rs_cycle *c;
};

struct rs_process {
	int64_t pid, ppid;
	const char *exe;
	bool has_status;
	int64_t exit_status;
	int64_t signal;
	const char *how;
	int nimages;
	struct rs_image *last;
};

struct rs_result {
	char *path;
	struct rs_image **im;
	size_t nim;
	json_t *run;              /* run.json, or NULL */
	struct rs_count summary[RS_K_COUNT];
	struct rs_count suppressed;
	struct rs_count freed_after;
	struct rs_group **g;
	size_t ng;
	struct rs_rcycle *cy;
	size_t ncy;
	struct rs_process *procs;
	size_t nprocs;
	json_t *warnings;         /* array of strings */
	int64_t partial_sweeps;
	uint64_t events;
	uint64_t inherited_dropped; /* fork children's blocks the parent had */
};

/* Reads PATH (run directory or one trace). NULL and a message on error. */
struct rs_result *result_load(const char *path, char **errmsg);
void result_free(struct rs_result *r);
/* The steps of result_load, for callers with images in memory (the fuzz
 * target): an empty result, images added in file order, then the model. */
struct rs_result *result_new(const char *path);
void result_add_image(struct rs_result *r, struct rs_image *im);
void result_build(struct rs_result *r);
/* Symbolizes every group, sets identities, sorts biggest first. */
void result_finish(struct rs_result *r);
void result_warn(struct rs_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Frames of a group for reports (allocator frames already dropped). */
const struct rs_symframe *group_frames(const struct rs_group *g, size_t *n);
/* The frame that best names where a leak came from: the first frame with
 * a file, else the first. NULL for an empty stack. */
const struct rs_symframe *group_top(const struct rs_group *g);
const char *frame_label(const struct rs_symframe *f, char *buf, size_t len);

/* ---- gate.c ---- */
struct rs_gate {
	bool fail_on[RS_K_COUNT];
	int64_t max_bytes, max_blocks;          /* -1 = not set */
	int64_t max_group_bytes, max_group_blocks;
	const char **supp_files;
	size_t nsupp;
	const char *baseline;
	const char *write_baseline;
	int leak_exit_code;
};
void gate_defaults(struct rs_gate *g);
void gate_free(struct rs_gate *g);
/* Parses one gate option at argv[*i]; returns 1 if consumed, 0 if not a
 * gate option, -1 on error (message printed). */
int gate_option(struct rs_gate *g, int argc, char **argv, int *i);
const char *gate_usage(void);
/* Applies suppressions and baseline (marks groups); -1 on error. */
int gate_apply(struct rs_gate *g, struct rs_result *r);
/* Marks failing groups; returns true when the gate fails. */
bool gate_eval(const struct rs_gate *g, struct rs_result *r,
	       struct rs_count *failing);
int gate_write_baseline(const struct rs_result *r, const char *file);
void gate_github_annotations(const struct rs_result *r, FILE *out);
/* "leak:PATTERN" matching as LeakSanitizer does (see docs/cli.md). */
bool supp_match(const char *pattern, const char *text);

/* ---- reports ---- */
json_t *report_json_doc(const struct rs_result *r);
int report_json(const struct rs_result *r, FILE *out);
int report_text(const struct rs_result *r, FILE *out, bool color,
		bool only_failing);
int report_sarif(const struct rs_result *r, FILE *out, const char *srcroot);
int report_junit(const struct rs_result *r, FILE *out);
int report_html(const struct rs_result *r, FILE *out);
int report_collapsed(const struct rs_result *r, FILE *out);
json_t *frame_json(const struct rs_symframe *f);
char *canonical_path(const char *p);
const char *path_below(const char *file, const char *root);
void xml_escape(FILE *out, const char *s);
bool want_color(FILE *out);

/* ---- verbs ---- */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif /* RS_ANALYZER_H */
