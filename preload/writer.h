/*
 * writer.h: the event stream. Owns the trace file (its name, its creation,
 * its descriptor), the buffer events wait in, and getting them to the kernel
 * without blocking the program for long. Also the small JSON line builder
 * every layer uses to make events.
 *
 * Must never: allocate from the program's heap, block the program on a
 * stalled reader, raise SIGPIPE, or lose an event silently (dropped events
 * are counted and the count is written in the exit event).
 */
#ifndef RS_WRITER_H
#define RS_WRITER_H

#include "prim.h"

/* A JSON object being built in caller-provided memory (usually the stack).
 * On overflow the line is marked and writer_emit drops it, counting it. */
struct jbuf {
	char *p;
	size_t len, cap;
	bool overflow;
	bool need_comma;
};

/* Starts `{"ev":"<ev>"` and, when the writer is open, `"t":<ns>`. */
void jb_begin(struct jbuf *jb, char *mem, size_t cap, const char *ev) RS_HIDDEN;
void jb_str(struct jbuf *jb, const char *key, const char *val) RS_HIDDEN;
void jb_u64(struct jbuf *jb, const char *key, uint64_t val) RS_HIDDEN;
void jb_i64(struct jbuf *jb, const char *key, int64_t val) RS_HIDDEN;
void jb_hex(struct jbuf *jb, const char *key, uint64_t val) RS_HIDDEN;
void jb_bool(struct jbuf *jb, const char *key, bool val) RS_HIDDEN;
/* Nesting: key may be NULL inside arrays. */
void jb_open_obj(struct jbuf *jb, const char *key) RS_HIDDEN;
void jb_close_obj(struct jbuf *jb) RS_HIDDEN;
void jb_open_arr(struct jbuf *jb, const char *key) RS_HIDDEN;
void jb_close_arr(struct jbuf *jb) RS_HIDDEN;
/* Closes the object and adds the newline. */
void jb_end(struct jbuf *jb) RS_HIDDEN;

/* Opens the trace and writes the start and module events. False if no
 * trace could be opened (the shim runs on, counting every event dropped). */
bool writer_init(void) RS_HIDDEN;
/* Queues one finished line. Thread-safe; never blocks for long; may be
 * called with no shim lock held only. */
void writer_emit(const struct jbuf *jb) RS_HIDDEN;
/* Writes everything queued before returning (exit, exec, fatal signal). */
void writer_flush(void) RS_HIDDEN;
/* Module events for objects loaded since the last call (after dlopen) and
 * unload events for those gone (after dlclose). */
void writer_sync_modules(void) RS_HIDDEN;
uint64_t writer_dropped(void) RS_HIDDEN;

void writer_fork_prepare(void) RS_HIDDEN;
void writer_fork_parent(void) RS_HIDDEN;
/* The child opens its own trace (start event with forked_from). */
void writer_fork_child(void) RS_HIDDEN;

/* trace=all events. */
void writer_alloc_event(const void *p, size_t n, uint32_t stack) RS_HIDDEN;
void writer_realloc_event(const void *p, const void *from, size_t n,
			  uint32_t stack) RS_HIDDEN;
void writer_free_event(const void *p) RS_HIDDEN;

/* Added by the trace layer. */
/* A thread event: op is "start" or "exit". */
void writer_thread_event(const char *op, pid_t tid) RS_HIDDEN;
/* The exit event, with the arena's counters and the dropped-event count,
 * then a flush. how is an RS_EXIT_* string; status is the exit status, or
 * the signal number when how is RS_EXIT_SIGNAL. Written once per image:
 * later calls do nothing. */
void writer_exit_event(const char *how, int status) RS_HIDDEN;
/* A warning event (what: a short stable word, see docs/trace-format.md). */
void writer_warning(const char *what, const char *detail) RS_HIDDEN;
/* exec: writes the exit event (how "exec") and flushes; true if this
 * process owns the trace (false in a vfork child, which must not touch
 * it). writer_exec_failed reopens the stream after a failed exec. */
bool writer_exec_prepare(void) RS_HIDDEN;
void writer_exec_failed(int err) RS_HIDDEN;
/* The trace file's basename ("" for fd=N or no trace). */
const char *writer_trace_name(void) RS_HIDDEN;

#endif /* RS_WRITER_H */
