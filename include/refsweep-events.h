/*
 * refsweep-events.h: the trace schema, defined once for the shim (which
 * writes it) and the analyzer (which reads it). docs/trace-format.md is the
 * prose version of this file; change both together.
 *
 * A trace is JSON lines, one object per line, each with "ev" naming its kind.
 * The first line is a start event. Readers skip kinds and fields they do not
 * know; a reader accepts any minor version of its major version.
 *
 * Conventions: addresses are strings "0x..." in lower-case hex (a 64-bit
 * value does not survive every JSON reader as a number); sizes, counts and
 * times are JSON integers; times are nanoseconds unless the field name says
 * otherwise.
 */
#ifndef REFSWEEP_EVENTS_H
#define REFSWEEP_EVENTS_H

#define RS_SCHEMA_NAME "refsweep-trace"
#define RS_SCHEMA_MAJOR 1
#define RS_SCHEMA_MINOR 0

/* Event kinds, the value of "ev". */
#define RS_EV_START "start"           /* first line of every trace */
#define RS_EV_MODULE "module"         /* a loaded object */
#define RS_EV_UNLOAD "unload"         /* a dlclose'd object */
#define RS_EV_STACK "stack"           /* an interned allocation stack */
#define RS_EV_THREAD "thread"         /* a thread started or ended */
#define RS_EV_SWEEP "sweep"           /* one sweep's totals */
#define RS_EV_LEAK "leak"             /* one leak group of one sweep */
#define RS_EV_CYCLE "cycle"           /* one leaked reference cycle */
#define RS_EV_LATE_FREE "late_free"   /* a block freed after it was reported */
#define RS_EV_CHECKPOINT "checkpoint" /* rs_checkpoint() */
#define RS_EV_WARNING "warning"       /* something the shim could not do */
#define RS_EV_ALLOC "alloc"           /* trace=all only */
#define RS_EV_REALLOC "realloc"       /* trace=all only */
#define RS_EV_FREE "free"             /* trace=all only */
#define RS_EV_EXIT "exit"             /* last line of a process that ended */

/* Leak classes, the value of "kind" in leak events and of the keys in a
 * sweep's "classes" object. */
#define RS_KIND_REACHABLE "reachable"
#define RS_KIND_POSSIBLE "possible"
#define RS_KIND_DEFINITE "definite"
#define RS_KIND_INDIRECT "indirect"
#define RS_KIND_CYCLE "cycle"

/* Sweep triggers, the value of "trigger" in sweep events. */
#define RS_TRIGGER_EXIT "exit"
#define RS_TRIGGER_GROWTH "growth"
#define RS_TRIGGER_COUNT "count"
#define RS_TRIGGER_INTERVAL "interval"
#define RS_TRIGGER_SIGNAL "signal"
#define RS_TRIGGER_API "api"

/* How a process ended, the value of "how" in exit events. */
#define RS_EXIT_RETURN "return"         /* returned from main or exit() */
#define RS_EXIT_UNDERSCORE "_exit"      /* _exit()/_Exit() */
#define RS_EXIT_LAST_THREAD "last_thread" /* the last thread's pthread_exit */
#define RS_EXIT_SIGNAL "signal"         /* a fatal signal */
#define RS_EXIT_EXEC "exec"             /* the image was replaced by execve */

/* The environment the shim reads its options from (key=value list,
 * separated by ',' or ':'), and the one `refsweep run` uses to hand it the
 * trace directory. */
#define RS_ENV_OPTIONS "REFSWEEP_OPTIONS"

/* Names of trace files inside a run's output directory:
 * "<exe basename>.<pid>.<n>.rsj" where n counts the images of one pid
 * (exec). The analyzer reads every *.rsj file in a directory. */
#define RS_TRACE_SUFFIX ".rsj"

#endif /* REFSWEEP_EVENTS_H */
