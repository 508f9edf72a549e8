/*
 * options.h: the shim's options, one table read from REFSWEEP_OPTIONS
 * (key=value pairs separated by ',' or ':'), parsed once without allocating.
 * docs/options.md documents every entry; keep them together.
 *
 * Must never: allocate, print more than once per bad option, or refuse to
 * start: a bad value keeps the default and becomes a warning event.
 */
#ifndef RS_OPTIONS_H
#define RS_OPTIONS_H

#include "prim.h"
#include "refsweep-events.h"

enum rs_unwind_mode { RS_UNWIND_AUTO, RS_UNWIND_FP, RS_UNWIND_LIBUNWIND,
		      RS_UNWIND_NONE };
enum rs_trace_mode { RS_TRACE_LEAKS, RS_TRACE_ALL };
enum rs_stop_mode { RS_STOP_AUTO, RS_STOP_PTRACE, RS_STOP_SIGNAL };

struct rs_options {
	char output[1024];          /* output=PATTERN: %p pid, %e exe, %n image */
	char dir[1024];             /* dir=PATH: run directory (refsweep run -o) */
	int fd;                     /* fd=N: inherited descriptor, -1 = none */
	enum rs_trace_mode trace;   /* trace=leaks|all */
	uint32_t stack_depth;       /* stack_depth=N, 1..256, default 32 */
	enum rs_unwind_mode unwind; /* unwind=auto|fp|libunwind|none */
	bool exit_sweep;            /* exit_sweep=1|0, default 1 */
	uint32_t sweep_growth;      /* sweep_growth=PERCENT, 0 = off */
	uint64_t sweep_every;       /* sweep_every=N allocations, 0 = off */
	uint64_t sweep_interval_ms; /* sweep_interval_ms=T, 0 = off */
	int sweep_signal;           /* sweep_signal=SIG (name or number), 0 = none */
	enum rs_stop_mode stop;     /* stop=auto|ptrace|signal */
	bool quiet;                 /* quiet=1: no notices on stderr */
	uint32_t max_cycle_members; /* max_cycle_members=N, default 64 */
};

extern struct rs_options rs_opt RS_HIDDEN;

/* Reads REFSWEEP_OPTIONS into rs_opt. Called once, from the constructor;
 * warnings are kept until options_emit_warnings can write them. */
void options_init(void) RS_HIDDEN;
void options_emit_warnings(void) RS_HIDDEN;
/* Appends "options":{...}, every option with its effective value (for the
 * start event). */
struct jbuf;
void options_to_json(struct jbuf *jb) RS_HIDDEN;

/* Added by the trace layer. */
/* True when output= came from REFSWEEP_OPTIONS rather than the default. */
extern bool rs_opt_output_set RS_HIDDEN;

#endif /* RS_OPTIONS_H */
