/*
 * writer.c: the event stream. Owns the JSON line builder, the trace file
 * (its name, its safe creation, its descriptor), the two buffers events
 * wait in, and getting them to the kernel.
 *
 * How it avoids blocking the program: there is no writer thread (a thread
 * of ours would change what the program sees: fork, thread counts, the
 * sweep's stop). Instead events are appended under a short lock to an
 * in-buffer; whoever finds the in-buffer worth writing (any event but the
 * trace=all bulk, leak, cycle and stack events, or 64 KiB of those) and
 * can take the I/O lock swaps it with the out-buffer and writes that. A regular file is written with
 * plain writes (bounded by the disk). A pipe is written through a
 * non-blocking descriptor of its own (reopened via /proc/self/fd), a socket
 * with MSG_DONTWAIT: a reader that stalls fills the buffers and further
 * events are dropped and counted, never waited for, except at the very end
 * (writer_flush waits at most FLUSH_WAIT_NS without progress).
 *
 * Must never: allocate from the program's heap, raise SIGPIPE or SIGXFSZ,
 * block on a stalled reader, or lose an event without counting it.
 */
#define _GNU_SOURCE
#include "config.h"
#include "writer.h"
#include "options.h"
#include "unwind.h"
#include "arena.h"
#include "lifecycle.h"
#include "refsweep-events.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define BUF_CAP ((size_t)1 << 20)
#define FLUSH_AT ((size_t)64 << 10)
#define FLUSH_WAIT_NS 1000000000ull
#define BLOCKED_NS 10000000ull
#define START_CAP ((size_t)256 << 10)
#define ARGV_CAP ((size_t)64 << 10)
#define PATH_CAP 4096

/* ------------------------------------------------------------------ */
/* JSON lines                                                          */

static uint64_t t0; /* monotonic time of the start event */
static bool t_on;   /* "t" is added once the start event is out */

static void jb_raw(struct jbuf *jb, const char *s, size_t n)
{
	if (jb->len + n + 2 > jb->cap) { /* keep room for "}\n" */
		jb->overflow = true;
		return;
	}
	prim_memcpy(jb->p + jb->len, s, n);
	jb->len += n;
}

static void jb_ch(struct jbuf *jb, char c)
{
	jb_raw(jb, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Paths and argv are bytes, the trace is UTF-8: bytes that are not valid
 * UTF-8 become U+FFFD. */
static void jb_quoted(struct jbuf *jb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	jb_ch(jb, '"');
	for (size_t i = 0; i < n && !jb->overflow;) {
		unsigned char c = u[i];
		size_t run = i;

		while (run < n && u[run] >= 0x20 && u[run] < 0x80 &&
		       u[run] != '"' && u[run] != '\\')
			run++;
		if (run > i) {
			jb_raw(jb, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			jb_raw(jb, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				      hex[c & 15] };
			if (c == '\n')
				jb_raw(jb, "\\n", 2);
			else if (c == '\t')
				jb_raw(jb, "\\t", 2);
			else
				jb_raw(jb, e, 6);
			i++;
		} else {
			size_t l = utf8_len(u + i, n - i);
			if (l) {
				jb_raw(jb, s + i, l);
				i += l;
			} else {
				jb_raw(jb, "\xef\xbf\xbd", 3);
				i++;
			}
		}
	}
	jb_ch(jb, '"');
}

static void jb_key(struct jbuf *jb, const char *key)
{
	if (jb->need_comma)
		jb_ch(jb, ',');
	jb->need_comma = true;
	if (key) {
		jb_ch(jb, '"');
		jb_raw(jb, key, prim_strlen(key));
		jb_raw(jb, "\":", 2);
	}
}

void jb_begin(struct jbuf *jb, char *mem, size_t cap, const char *ev)
{
	jb->p = mem;
	jb->len = 0;
	jb->cap = cap;
	jb->overflow = false;
	jb->need_comma = false;
	jb_ch(jb, '{');
	jb_str(jb, "ev", ev);
	if (t_on)
		jb_u64(jb, "t", prim_now_ns() - t0);
}

void jb_str(struct jbuf *jb, const char *key, const char *val)
{
	jb_key(jb, key);
	jb_quoted(jb, val, prim_strlen(val));
}

static void jb_strn(struct jbuf *jb, const char *key, const char *val,
		    size_t n)
{
	jb_key(jb, key);
	jb_quoted(jb, val, n);
}

void jb_u64(struct jbuf *jb, const char *key, uint64_t val)
{
	char b[24];

	jb_key(jb, key);
	jb_raw(jb, b, prim_fmt_u64(b, val));
}

void jb_i64(struct jbuf *jb, const char *key, int64_t val)
{
	char b[24];

	jb_key(jb, key);
	jb_raw(jb, b, prim_fmt_i64(b, val));
}

void jb_hex(struct jbuf *jb, const char *key, uint64_t val)
{
	char b[24];
	size_t n = prim_fmt_hex(b + 1, val);

	b[0] = '"';
	b[n + 1] = '"';
	jb_key(jb, key);
	jb_raw(jb, b, n + 2);
}

void jb_bool(struct jbuf *jb, const char *key, bool val)
{
	jb_key(jb, key);
	if (val)
		jb_raw(jb, "true", 4);
	else
		jb_raw(jb, "false", 5);
}

void jb_open_obj(struct jbuf *jb, const char *key)
{
	jb_key(jb, key);
	jb_ch(jb, '{');
	jb->need_comma = false;
}

void jb_close_obj(struct jbuf *jb)
{
	jb_ch(jb, '}');
	jb->need_comma = true;
}

void jb_open_arr(struct jbuf *jb, const char *key)
{
	jb_key(jb, key);
	jb_ch(jb, '[');
	jb->need_comma = false;
}

void jb_close_arr(struct jbuf *jb)
{
	jb_ch(jb, ']');
	jb->need_comma = true;
}

void jb_end(struct jbuf *jb)
{
	/* jb_raw kept two bytes for this. */
	jb->p[jb->len++] = '}';
	jb->p[jb->len++] = '\n';
}

/* ------------------------------------------------------------------ */
/* The stream                                                          */

enum out_kind { K_FILE, K_FIFO, K_SOCKET };

static struct {
	struct prim_lock lock;   /* in, in_len, urgent */
	struct prim_lock io;     /* out, out_off, out_len, the descriptor */
	pid_t lock_owner;        /* tid holding `lock`, `io`: a signal */
	pid_t io_owner;          /* handler that interrupted it must not wait */
	char *in, *out;
	size_t in_len, out_off, out_len;
	bool urgent;             /* a non-bulk event waits in `in` */
	int fd;
	bool own_fd;             /* we opened it (not the fd=N descriptor) */
	dev_t dev;               /* what it was opened on: a program that */
	ino_t ino;               /* closes it may get the number back */
	enum out_kind kind;
	bool nonblock;           /* fd is ours and O_NONBLOCK */
	bool guard_signals;      /* SIGPIPE/SIGXFSZ possible on write */
	bool open;               /* events are accepted */
	bool dead;               /* the output failed for good */
	bool ended;              /* this image wrote its exit event */
	bool opened;             /* a trace was opened (not failed) */
	bool gave_up;            /* a flush timed out on a stalled reader */
	uint64_t blocked_until;  /* output full: no new try before then */
	pid_t pid;               /* the process this stream belongs to */
	uint64_t dropped;
	uint64_t sweeps;         /* sweep events written */
	char name[PATH_CAP];     /* the trace file's path, "" for fd=N */
	char *start_mem;         /* START_CAP bytes, for the start event */
} w = { .fd = -1 };

static RS_TLS pid_t my_tid;

static pid_t tid(void)
{
	if (RS_UNLIKELY(!my_tid))
		my_tid = prim_gettid();
	return my_tid;
}

static void count_dropped(uint64_t n)
{
	__atomic_fetch_add(&w.dropped, n, __ATOMIC_RELAXED);
}

/* `lock` with its holder recorded; false (nothing taken) when this very
 * thread holds it already: a signal handler interrupted it there. */
static bool wlock(void)
{
	pid_t me = tid();

	if (__atomic_load_n(&w.lock_owner, __ATOMIC_RELAXED) == me)
		return false;
	prim_lock(&w.lock);
	__atomic_store_n(&w.lock_owner, me, __ATOMIC_RELAXED);
	return true;
}

static void wunlock(void)
{
	__atomic_store_n(&w.lock_owner, 0, __ATOMIC_RELAXED);
	prim_unlock(&w.lock);
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

static const char *errno_name(long e)
{
	switch (e) {
	case EACCES: return "permission denied (EACCES)";
	case EPERM: return "operation not permitted (EPERM)";
	case EROFS: return "read-only file system (EROFS)";
	case ENOENT: return "no such directory (ENOENT)";
	case ENOTDIR: return "not a directory (ENOTDIR)";
	case EEXIST: return "file exists (EEXIST)";
	case ELOOP: return "is a symbolic link (ELOOP)";
	case ENOSPC: return "no space left on device (ENOSPC)";
	case EDQUOT: return "disk quota exceeded (EDQUOT)";
	case EIO: return "input/output error (EIO)";
	case EPIPE: return "reader went away (EPIPE)";
	case EBADF: return "descriptor closed or not writable (EBADF)";
	case ENAMETOOLONG: return "name too long (ENAMETOOLONG)";
	case EFBIG: return "file too large (EFBIG)";
	case ENXIO: return "no reader (ENXIO)";
	case EMFILE: return "too many open files (EMFILE)";
	default: return "system error";
	}
}

/* One write of at most n bytes. SIGPIPE and SIGXFSZ are blocked around it
 * and, if this write raised one that was not already pending, consumed:
 * the program never sees a signal of ours. */
static long raw_write(const char *p, size_t n)
{
	struct stat st;

	/* Our descriptor closed by the program (daemons close every fd)
	 * and its number reused: never write into the program's file. */
	if (w.own_fd && (prim_syscall(SYS_fstat, w.fd, &st, 0) != 0 ||
			 st.st_dev != w.dev || st.st_ino != w.ino))
		return -EBADF;
	const uint64_t pipe_bit = 1ull << (SIGPIPE - 1);
	const uint64_t fsz_bit = 1ull << (SIGXFSZ - 1);
	uint64_t set = pipe_bit | fsz_bit, old = 0, pend = 0;
	long r;

	if (w.kind == K_SOCKET) {
		do
			r = prim_syscall6(SYS_sendto, w.fd, (long)p, (long)n,
					  MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
		while (r == -EINTR);
		return r;
	}
	if (!w.nonblock && w.kind == K_FIFO) {
		/* A shared blocking pipe: write only what poll says fits
		 * (one free pipe buffer takes PIPE_BUF bytes at once). */
		struct pollfd pfd = { .fd = w.fd, .events = POLLOUT };
		struct timespec zero = { 0, 0 };
		r = prim_syscall6(SYS_ppoll, (long)&pfd, 1, (long)&zero, 0, 0, 0);
		if (r == 0)
			return -EAGAIN;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return -EPIPE;
		if (n > 4096)
			n = 4096;
	}
	if (w.guard_signals) {
		prim_syscall6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set,
			      (long)&old, 8, 0, 0);
		prim_syscall(SYS_rt_sigpending, &pend, 8, 0);
	}
	do
		r = prim_syscall(SYS_write, w.fd, p, n);
	while (r == -EINTR);
	if (w.guard_signals) {
		struct timespec zero = { 0, 0 };
		uint64_t one;
		if (r == -EPIPE && !(pend & pipe_bit)) {
			one = pipe_bit;
			prim_syscall6(SYS_rt_sigtimedwait, (long)&one, 0,
				      (long)&zero, 8, 0, 0);
		}
		if (r == -EFBIG && !(pend & fsz_bit)) {
			one = fsz_bit;
			prim_syscall6(SYS_rt_sigtimedwait, (long)&one, 0,
				      (long)&zero, 8, 0, 0);
		}
		prim_syscall6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0,
			      8, 0, 0);
	}
	return r;
}

static bool said_output_failed;

/* The output is gone for good: count what can no longer be written. */
static void output_failed(long err)
{
	w.dead = true;
	count_dropped(count_lines(w.out + w.out_off, w.out_len - w.out_off));
	w.out_off = w.out_len = 0;
	if (!said_output_failed) {
		said_output_failed = true;
		if (!rs_opt.quiet)
			prim_notice("trace output failed, later events are "
				    "counted as dropped", errno_name(-err));
	}
}

/* With `io` held: writes the out-buffer, then swaps in the in-buffer,
 * until both are empty or the output would block. Returns false when it
 * would block. */
static bool drain_locked(void)
{
	for (;;) {
		while (w.out_off < w.out_len && !w.dead) {
			long r = raw_write(w.out + w.out_off,
					   w.out_len - w.out_off);
			if (r == -EAGAIN) {
				w.blocked_until = prim_now_ns() + BLOCKED_NS;
				return false;
			}
			w.blocked_until = 0;
			if (r <= 0) {
				output_failed(r ? r : -EIO);
				break;
			}
			w.out_off += (size_t)r;
		}
		w.out_off = w.out_len = 0;
		if (!wlock())
			return true;
		if (!w.in_len) {
			wunlock();
			return true;
		}
		char *t = w.out;
		w.out = w.in;
		w.in = t;
		w.out_len = w.in_len;
		w.in_len = 0;
		w.urgent = false;
		wunlock();
		if (w.dead) {
			count_dropped(count_lines(w.out, w.out_len));
			w.out_len = 0;
		}
	}
}

/* Writes what waits, if no other thread is already doing it. A regular
 * file may be waited for (`wait`); a pipe or socket never. */
static bool io_lock(bool wait)
{
	if (__atomic_load_n(&w.io_owner, __ATOMIC_RELAXED) == tid())
		return false;
	if (wait)
		prim_lock(&w.io);
	else if (!prim_trylock(&w.io))
		return false;
	__atomic_store_n(&w.io_owner, tid(), __ATOMIC_RELAXED);
	return true;
}

static void io_unlock(void)
{
	__atomic_store_n(&w.io_owner, 0, __ATOMIC_RELAXED);
	prim_unlock(&w.io);
}

static void pump(bool wait)
{
	/* A full pipe is not retried on every event (a failing write per
	 * event would slow the program down more than the loss). */
	uint64_t until = __atomic_load_n(&w.blocked_until, __ATOMIC_RELAXED);
	if ((!wait || w.kind != K_FILE) && until && prim_now_ns() < until)
		return;
	for (;;) {
		if (!io_lock(wait && w.kind == K_FILE))
			return;
		bool drained = drain_locked();
		io_unlock();
		/* An event queued while we held `io` found it taken: take
		 * it again for that event, unless the output is stalled. */
		if (!drained ||
		    !__atomic_load_n(&w.urgent, __ATOMIC_ACQUIRE))
			return;
	}
}

/* Appends one line. bulk lines (trace=all) are written in batches. */
static void append(const char *line, size_t n, bool bulk)
{
	if (RS_UNLIKELY(!w.open || w.dead || n > BUF_CAP)) {
		count_dropped(1);
		return;
	}
	for (int attempt = 0;; attempt++) {
		if (!wlock()) {
			count_dropped(1);
			return;
		}
		if (w.in_len + n <= BUF_CAP)
			break;
		wunlock();
		/* A file is waited for (other threads may refill the buffer
		 * while this one waits its turn at the disk); a stalled pipe
		 * or socket is given one chance. */
		if (attempt == (w.kind == K_FILE ? 64 : 1)) {
			count_dropped(1);
			return;
		}
		pump(true);
	}
	prim_memcpy(w.in + w.in_len, line, n);
	w.in_len += n;
	size_t pending = w.in_len;
	if (!bulk)
		__atomic_store_n(&w.urgent, true, __ATOMIC_RELEASE);
	wunlock();
	if (!bulk || pending >= FLUSH_AT)
		pump(false);
}

/* Events that come in bursts and are not complete on their own: a
 * sweep's leak and cycle events (its sweep event, written at once,
 * carries them out) and stack events (written before the event that
 * names them). They wait in the buffer like bulk events instead of
 * costing a write each. */
static bool is_kind(const struct jbuf *jb, const char *kind)
{
	const char *ev = jb->p + 7; /* after {"ev":" */
	size_t n = prim_strlen(kind);

	return jb->len > 9 + n && !prim_strncmp(ev, kind, n) && ev[n] == '"';
}

static bool deferred(const struct jbuf *jb)
{
	return is_kind(jb, RS_EV_LEAK) || is_kind(jb, RS_EV_CYCLE) ||
	       is_kind(jb, RS_EV_STACK);
}

void writer_emit(const struct jbuf *jb)
{
	if (jb->overflow) {
		count_dropped(1);
		return;
	}
	/* The exit event says how many sweeps this trace holds. */
	if (is_kind(jb, RS_EV_SWEEP))
		__atomic_fetch_add(&w.sweeps, 1, __ATOMIC_RELAXED);
	append(jb->p, jb->len, deferred(jb));
}

void writer_flush(void)
{
	uint64_t last_progress = prim_now_ns();

	/* A child made without fork handlers (vfork, raw clone) shares or
	 * copied this state but must not write the parent's trace. */
	if (!w.open || w.pid != prim_getpid())
		return;
	for (;;) {
		if (!io_lock(true))
			return;
		size_t before = w.out_off + w.in_len;
		bool drained = drain_locked();
		size_t after = w.out_off + w.in_len;
		io_unlock();
		if (drained || w.dead)
			return;
		if (after != before)
			last_progress = prim_now_ns();
		/* A reader that stopped reading: give up, counted, and do
		 * not wait for it again (the exit path flushes more than
		 * once). */
		if (w.gave_up ||
		    prim_now_ns() - last_progress > FLUSH_WAIT_NS) {
			w.gave_up = true;
			if (!io_lock(true))
				return;
			if (wlock()) {
				count_dropped(count_lines(w.out + w.out_off,
							  w.out_len - w.out_off) +
					      count_lines(w.in, w.in_len));
				w.out_off = w.out_len = w.in_len = 0;
				w.urgent = false;
				wunlock();
			}
			io_unlock();
			return;
		}
		struct pollfd pfd = { .fd = w.fd, .events = POLLOUT };
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		prim_syscall6(SYS_ppoll, (long)&pfd, 1, (long)&ts, 0, 0, 0);
	}
}

uint64_t writer_dropped(void)
{
	return __atomic_load_n(&w.dropped, __ATOMIC_RELAXED);
}

const char *writer_trace_name(void)
{
	const char *base = w.name;

	for (const char *p = w.name; *p; p++)
		if (*p == '/')
			base = p + 1;
	return base;
}

/* ------------------------------------------------------------------ */
/* Opening the trace                                                   */

static struct prim_lock sync_lock = PRIM_LOCK_INIT;
static bool resync;
static uint32_t gen = 1; /* trace generation: a fork child starts the next */
static char *argv_mem;   /* ARGV_CAP bytes for /proc/self/cmdline */

static size_t exe_path(char *buf, size_t cap)
{
	long r = prim_syscall(SYS_readlink, "/proc/self/exe", buf, cap - 1);

	if (r <= 0)
		r = 0;
	buf[r] = 0;
	return (size_t)r;
}

static const char *basename_of(const char *p)
{
	const char *b = p;

	for (; *p; p++)
		if (*p == '/')
			b = p + 1;
	return b;
}

/* Appends s to buf (NUL-terminated, capacity cap); false if it did not fit. */
static bool cat(char *buf, size_t cap, const char *s)
{
	size_t n = prim_strlen(buf);

	return prim_strlcpy(buf + n, s, cap - n) < cap - n;
}

static bool cat_u64(char *buf, size_t cap, uint64_t v)
{
	char d[24];

	prim_fmt_u64(d, v);
	return cat(buf, cap, d);
}

static int create_excl(const char *path)
{
	return prim_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
}

/* Parses "<anything>.<pid>.<n>.rsj"; returns n, or 0 if name is not one
 * of pid's traces. */
static uint64_t trace_index(const char *name, pid_t pid)
{
	size_t len = prim_strlen(name), sl = sizeof RS_TRACE_SUFFIX - 1;
	size_t end, dot;
	uint64_t n, p;

	if (len <= sl || prim_strcmp(name + len - sl, RS_TRACE_SUFFIX))
		return 0;
	end = len - sl;
	for (dot = end; dot > 0 && name[dot - 1] != '.'; dot--)
		;
	if (dot == 0 || !prim_parse_u64(name + dot, end - dot, &n))
		return 0;
	end = dot - 1;
	for (dot = end; dot > 0 && name[dot - 1] != '.'; dot--)
		;
	if (dot == 0 || !prim_parse_u64(name + dot, end - dot, &p) ||
	    p != (uint64_t)pid)
		return 0;
	return n;
}

/* The highest image number pid already has in dir, and that file's name:
 * after exec, the previous image of this pid. */
static uint64_t last_image(const char *dir, pid_t pid, char *prev, size_t cap)
{
	char buf[4096] __attribute__((aligned(8)));
	uint64_t best = 0;
	int fd = prim_open(dir, O_RDONLY | O_DIRECTORY, 0);

	prev[0] = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		long r = prim_syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (r <= 0)
			break;
		for (long off = 0; off < r;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2,
			 * type 1, name */
			unsigned short reclen;
			prim_memcpy(&reclen, buf + off + 16, 2);
			const char *name = buf + off + 19;
			uint64_t n = trace_index(name, pid);
			if (n > best) {
				best = n;
				prim_strlcpy(prev, name, cap);
			}
			off += reclen;
		}
	}
	prim_close(fd);
	return best;
}

/* Expands an output pattern: %p pid, %e executable basename, %n image
 * counter, %% a percent sign. */
static bool expand(char *out, size_t cap, const char *pat, const char *exe,
		   pid_t pid, uint64_t n)
{
	out[0] = 0;
	for (const char *p = pat; *p; p++) {
		char lit[2] = { *p, 0 };
		bool ok;
		if (*p != '%' || !p[1]) {
			ok = cat(out, cap, lit);
		} else {
			p++;
			if (*p == 'p')
				ok = cat_u64(out, cap, (uint64_t)pid);
			else if (*p == 'e')
				ok = cat(out, cap, exe);
			else if (*p == 'n')
				ok = cat_u64(out, cap, n);
			else if (*p == '%')
				ok = cat(out, cap, "%");
			else {
				lit[0] = '%';
				ok = cat(out, cap, lit);
				lit[0] = *p;
				ok = ok && cat(out, cap, lit);
			}
		}
		if (!ok)
			return false;
	}
	return true;
}

static bool has_n(const char *pat)
{
	for (const char *p = pat; *p; p++) {
		if (*p == '%' && p[1] == 'n')
			return true;
		if (*p == '%' && p[1])
			p++;
	}
	return false;
}

static void open_failed(const char *path, long err)
{
	char msg[PATH_CAP + 64] = "cannot create trace ";

	if (path == rs_opt.dir)
		prim_strlcpy(msg, "cannot create trace directory ", sizeof msg);

	cat(msg, sizeof msg, path);
	cat(msg, sizeof msg, ", running without a trace");
	if (!rs_opt.quiet)
		prim_notice(msg, errno_name(-err));
}

/* Creates this image's trace file; exec_from receives the previous image's
 * file name when dir= shows one. Returns the descriptor or -errno. */
static int create_trace(char *exec_from, size_t cap)
{
	char exe[PATH_CAP];
	const char *base;
	pid_t pid = w.pid;
	long fd = -EEXIST;

	exec_from[0] = 0;
	exe_path(exe, sizeof exe);
	base = exe[0] ? basename_of(exe) : "unknown";
	if (rs_opt.dir[0]) {
		uint64_t n;
		int r = prim_mkdir(rs_opt.dir, 0700);
		if (r < 0 && r != -EEXIST) {
			open_failed(rs_opt.dir, r);
			return r;
		}
		n = last_image(rs_opt.dir, pid, exec_from, cap);
		/* Another process with this pid left files here before (pid
		 * reuse): the first free n still keeps both. */
		for (int tries = 0; tries < 1000 && fd == -EEXIST; tries++) {
			w.name[0] = 0;
			if (!cat(w.name, sizeof w.name, rs_opt.dir) ||
			    !cat(w.name, sizeof w.name, "/") ||
			    !cat(w.name, sizeof w.name, base) ||
			    !cat(w.name, sizeof w.name, ".") ||
			    !cat_u64(w.name, sizeof w.name, (uint64_t)pid) ||
			    !cat(w.name, sizeof w.name, ".") ||
			    !cat_u64(w.name, sizeof w.name, ++n) ||
			    !cat(w.name, sizeof w.name, RS_TRACE_SUFFIX))
				return -ENAMETOOLONG;
			fd = create_excl(w.name);
		}
		if (fd < 0)
			open_failed(w.name, fd);
		return (int)fd;
	}
	/* output=: with %n the first free image number; without, an existing
	 * file (another process's trace) is kept and ".<k>" is inserted
	 * before the suffix. */
	bool counter = has_n(rs_opt.output);
	for (uint64_t k = 1; k <= 1000 && fd == -EEXIST; k++) {
		if (!expand(w.name, sizeof w.name, rs_opt.output, base, pid,
			    counter ? k : 1))
			return -ENAMETOOLONG;
		if (k > 1 && !counter) {
			char tail[16] = "";
			size_t len = prim_strlen(w.name);
			size_t sl = sizeof RS_TRACE_SUFFIX - 1;
			if (len > sl &&
			    !prim_strcmp(w.name + len - sl, RS_TRACE_SUFFIX)) {
				prim_strlcpy(tail, RS_TRACE_SUFFIX, sizeof tail);
				w.name[len - sl] = 0;
			}
			if (!cat(w.name, sizeof w.name, ".") ||
			    !cat_u64(w.name, sizeof w.name, k) ||
			    !cat(w.name, sizeof w.name, tail))
				return -ENAMETOOLONG;
		}
		fd = create_excl(w.name);
	}
	if (fd < 0)
		open_failed(w.name, fd);
	return (int)fd;
}

/* A descriptor of the shim's own leaves the low numbers to the program
 * (some programs expect open() to give 3). */
static int move_high(int fd)
{
	struct rlimit lim = { 0, 0 };
	long want = 1000, nfd;

	prim_syscall6(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&lim, 0, 0);
	if (lim.rlim_cur != RLIM_INFINITY && (long)lim.rlim_cur <= want)
		want = (long)lim.rlim_cur / 2;
	if (fd >= want)
		return fd;
	nfd = prim_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, want);
	if (nfd < 0)
		return fd;
	prim_close(fd);
	return (int)nfd;
}

/* Decides how to write to fd: see the banner. */
static void set_output(int fd, bool own)
{
	struct stat st;
	struct rlimit lim = { RLIM_INFINITY, RLIM_INFINITY };

	w.fd = own ? move_high(fd) : fd;
	w.own_fd = own;
	w.nonblock = false;
	w.kind = K_FILE;
	if (prim_syscall(SYS_fstat, fd, &st, 0) == 0) {
		if (S_ISSOCK(st.st_mode))
			w.kind = K_SOCKET;
		else if (S_ISFIFO(st.st_mode))
			w.kind = K_FIFO;
	}
	if (w.kind == K_FIFO) {
		char path[40] = "/proc/self/fd/";
		int nfd;
		cat_u64(path, sizeof path, (uint64_t)fd);
		nfd = prim_open(path, O_WRONLY | O_NONBLOCK, 0);
		if (nfd >= 0) {
			w.fd = move_high(nfd);
			w.own_fd = true;
			w.nonblock = true;
		}
	}
	if (prim_syscall(SYS_fstat, w.fd, &st, 0) == 0) {
		w.dev = st.st_dev;
		w.ino = st.st_ino;
	}
	prim_syscall6(SYS_prlimit64, 0, RLIMIT_FSIZE, 0, (long)&lim, 0, 0);
	w.guard_signals = w.kind == K_FIFO || lim.rlim_cur != RLIM_INFINITY;
}

static void write_start(pid_t forked_from, const char *parent_image,
			const char *exec_from)
{
	struct jbuf jb;
	char exe[PATH_CAP];
	char version[48] = "";
	ssize_t n;

	cat_u64(version, sizeof version, RS_SCHEMA_MAJOR);
	cat(version, sizeof version, ".");
	cat_u64(version, sizeof version, RS_SCHEMA_MINOR);
	t_on = false;
	jb_begin(&jb, w.start_mem, START_CAP, RS_EV_START);
	jb_str(&jb, "schema", RS_SCHEMA_NAME);
	jb_str(&jb, "version", version);
	jb_str(&jb, "tool", PACKAGE_NAME " " PACKAGE_VERSION);
	jb_i64(&jb, "pid", w.pid);
	jb_i64(&jb, "ppid", prim_getppid());
	exe_path(exe, sizeof exe);
	jb_str(&jb, "exe", exe);
	jb_open_arr(&jb, "argv");
	n = prim_read_file("/proc/self/cmdline", argv_mem, ARGV_CAP);
	for (ssize_t i = 0; i < n;) {
		size_t len = prim_strlen(argv_mem + i);
		jb_strn(&jb, NULL, argv_mem + i, len);
		i += (ssize_t)len + 1;
	}
	jb_close_arr(&jb);
	if (n >= (ssize_t)ARGV_CAP - 1)
		jb_bool(&jb, "argv_truncated", true);
	jb_u64(&jb, "time", prim_realtime_ns());
	if (forked_from) {
		jb_i64(&jb, "forked_from", forked_from);
		if (parent_image[0])
			jb_str(&jb, "parent_image", parent_image);
	}
	if (exec_from[0])
		jb_str(&jb, "exec_from", exec_from);
	options_to_json(&jb);
	jb_end(&jb);
	t0 = prim_now_ns();
	writer_emit(&jb);
	t_on = true;
}

static void emit_module(const struct rs_module *m)
{
	char mem[PATH_CAP + 512];
	struct jbuf jb;

	jb_begin(&jb, mem, sizeof mem, RS_EV_MODULE);
	jb_str(&jb, "path", m->path);
	jb_hex(&jb, "base", m->base);
	jb_hex(&jb, "start", m->lo);
	jb_u64(&jb, "size", m->hi - m->lo);
	if (m->build_id[0])
		jb_str(&jb, "build_id", m->build_id);
	if (m->main)
		jb_bool(&jb, "main", true);
	jb_bool(&jb, "frame_pointers", m->fp);
	jb_end(&jb);
	writer_emit(&jb);
}

static void emit_unload(const struct rs_module *m)
{
	char mem[PATH_CAP + 256];
	struct jbuf jb;

	jb_begin(&jb, mem, sizeof mem, RS_EV_UNLOAD);
	jb_str(&jb, "path", m->path);
	jb_hex(&jb, "base", m->base);
	jb_end(&jb);
	writer_emit(&jb);
}

/* Module events for records this trace has not announced, unload events
 * for announced ones that died. Called with sync_lock held. */
static void emit_modules(void)
{
	uint32_t n = dl_count();

	for (uint32_t i = 0; i < n; i++) {
		struct rs_module *m = dl_module(i);
		if (!m->dead && m->emitted_gen != gen) {
			m->emitted_gen = gen;
			emit_module(m);
		} else if (m->dead && m->emitted_gen == gen &&
			   m->unload_gen != gen) {
			m->unload_gen = gen;
			emit_unload(m);
		}
	}
}

void writer_sync_modules(void)
{
	/* Concurrent callers leave the work to whoever holds sync_lock; it
	 * goes round again for them. sync_lock is only ever tried, never
	 * waited for, so holding it across dl_iterate_phdr (the loader lock)
	 * cannot deadlock anyone. */
	__atomic_store_n(&resync, true, __ATOMIC_RELEASE);
	while (__atomic_load_n(&resync, __ATOMIC_ACQUIRE) &&
	       prim_trylock(&sync_lock)) {
		__atomic_store_n(&resync, false, __ATOMIC_RELEASE);
		dl_sync();
		emit_modules();
		prim_unlock(&sync_lock);
	}
}

/* Opens this image's stream; false (and a notice) if no trace can be
 * written. */
static bool open_stream(pid_t forked_from, const char *parent_image)
{
	char exec_from[256];
	int fd;

	exec_from[0] = 0;
	w.in_len = w.out_len = w.out_off = 0;
	w.urgent = w.dead = w.ended = w.gave_up = false;
	w.blocked_until = 0;
	if (rs_opt.fd >= 0 && !forked_from) {
		long fl = prim_syscall(SYS_fcntl, rs_opt.fd, F_GETFL, 0);
		w.name[0] = 0;
		if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
			char msg[64] = "cannot write trace to fd=";
			cat_u64(msg, sizeof msg, (uint64_t)rs_opt.fd);
			cat(msg, sizeof msg, ", running without a trace");
			if (!rs_opt.quiet)
				prim_notice(msg, errno_name(fl < 0 ? -fl : EBADF));
			return false;
		}
		set_output(rs_opt.fd, false);
	} else {
		/* fd=N is the parent's: a fork child writes only where
		 * output= says (docs/options.md). */
		if (rs_opt.fd >= 0 && !rs_opt_output_set)
			return false;
		fd = create_trace(exec_from, sizeof exec_from);
		if (fd < 0)
			return false;
		set_output(fd, true);
	}
	w.open = w.opened = true;
	write_start(forked_from, parent_image, exec_from);
	return true;
}

bool writer_init(void)
{
	if (w.in)
		return w.open;
	w.pid = prim_getpid();
	w.in = prim_map(BUF_CAP, true);
	w.out = prim_map(BUF_CAP, true);
	w.start_mem = prim_map(START_CAP + ARGV_CAP, true);
	if (!w.in || !w.out || !w.start_mem) {
		if (!rs_opt.quiet)
			prim_notice("no memory for the trace buffers, running "
				    "without a trace", NULL);
		w.in = w.out = NULL;
		return false;
	}
	argv_mem = w.start_mem + START_CAP;
	/* Relative run directories would move with the program's chdir. */
	if (rs_opt.dir[0] && rs_opt.dir[0] != '/') {
		char abs[sizeof rs_opt.dir];
		long r = prim_syscall(SYS_getcwd, abs, sizeof abs, 0);
		if (r > 0 && cat(abs, sizeof abs, "/") &&
		    cat(abs, sizeof abs, rs_opt.dir))
			prim_memcpy(rs_opt.dir, abs, sizeof abs);
	}
	dl_init();
	if (!open_stream(0, ""))
		return false;
	writer_sync_modules();
	options_emit_warnings();
	return true;
}

void writer_warning(const char *what, const char *detail)
{
	char mem[1024];
	struct jbuf jb;

	jb_begin(&jb, mem, sizeof mem, RS_EV_WARNING);
	jb_str(&jb, "what", what);
	jb_str(&jb, "detail", detail);
	jb_end(&jb);
	writer_emit(&jb);
}

void writer_thread_event(const char *op, pid_t t)
{
	char mem[128];
	struct jbuf jb;

	jb_begin(&jb, mem, sizeof mem, RS_EV_THREAD);
	jb_str(&jb, "op", op);
	jb_i64(&jb, "tid", t);
	jb_end(&jb);
	writer_emit(&jb);
}

void writer_exit_event(const char *how, int status)
{
	struct arena_stats st;
	char mem[1024];
	struct jbuf jb;
	bool sig = !prim_strcmp(how, RS_EXIT_SIGNAL);

	if (!w.open || w.pid != prim_getpid() ||
	    __atomic_exchange_n(&w.ended, true, __ATOMIC_ACQ_REL))
		return;
	/* dlopen is not wrapped (see dl.c): objects it loaded that no stack
	 * named yet are announced now (not from a fatal signal's handler:
	 * the loader lock may be held). */
	if (!sig)
		writer_sync_modules();
	arena_get_stats(&st);
	/* Flush first so the count below includes a stalled reader's loss. */
	writer_flush();
	jb_begin(&jb, mem, sizeof mem, RS_EV_EXIT);
	jb_str(&jb, "how", how);
	jb_i64(&jb, "status", sig ? 128 + status : status);
	jb_i64(&jb, "signal", sig ? status : 0);
	jb_u64(&jb, "allocations", st.allocations);
	jb_u64(&jb, "frees", st.frees);
	jb_u64(&jb, "bytes_allocated", st.bytes_allocated);
	jb_u64(&jb, "live_blocks", st.live_blocks);
	jb_u64(&jb, "live_bytes", st.live_bytes);
	jb_u64(&jb, "peak_blocks", st.peak_blocks);
	jb_u64(&jb, "peak_bytes", st.peak_bytes);
	jb_u64(&jb, "invalid_frees", st.invalid_frees);
	jb_u64(&jb, "double_frees", st.double_frees);
	jb_u64(&jb, "foreign_frees", st.foreign_frees);
	jb_u64(&jb, "events_dropped", writer_dropped());
	jb_u64(&jb, "stacks", stackdepot_count());
	jb_u64(&jb, "sweeps", __atomic_load_n(&w.sweeps, __ATOMIC_RELAXED));
	jb_end(&jb);
	append(jb.p, jb.len, false);
	writer_flush();
	/* Nothing follows the exit line; later events are only counted. */
	w.open = false;
}

bool writer_exec_prepare(void)
{
	if (w.pid != prim_getpid())
		return false;
	writer_exit_event(RS_EXIT_EXEC, 0);
	return true;
}

void writer_exec_failed(int err)
{
	char detail[96] = "exec failed: ";

	if (w.pid != prim_getpid() || w.dead || !w.in || !__atomic_load_n(&w.ended, __ATOMIC_ACQUIRE))
		return;
	cat(detail, sizeof detail, errno_name(err));
	cat(detail, sizeof detail, "; the image goes on");
	w.open = true;
	__atomic_store_n(&w.ended, false, __ATOMIC_RELEASE);
	writer_warning("exec", detail);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

void writer_fork_prepare(void)
{
	prim_lock(&w.io);
	prim_lock(&w.lock);
}

void writer_fork_parent(void)
{
	prim_unlock(&w.lock);
	prim_unlock(&w.io);
}

void writer_fork_child(void)
{
	char parent_image[256];
	pid_t parent = w.pid;
	/* A parent that could not open its trace said so once; its children
	 * would only fail the same way, and say it again. */
	bool had = w.in != NULL && w.opened;

	my_tid = 0;
	prim_lock_reinit(&w.lock);
	prim_lock_reinit(&w.io);
	prim_lock_reinit(&sync_lock);
	w.lock_owner = w.io_owner = 0;
	w.pid = prim_getpid();
	prim_strlcpy(parent_image, writer_trace_name(), sizeof parent_image);
	if (w.own_fd && w.fd >= 0)
		prim_close(w.fd);
	w.fd = -1;
	w.open = false;
	w.dropped = w.sweeps = 0;
	gen++;
	if (!had)
		return;
	/* The parent's queued events are the parent's to write. */
	if (!open_stream(parent, parent_image))
		return;
	/* The table is the parent's, and right: no dl_iterate_phdr here. */
	emit_modules();
}

/* ------------------------------------------------------------------ */
/* trace=all                                                           */

/* Bulk lines carry no "t" and are formatted by hand: they are most of a
 * trace=all trace, and the generic builder was most of its cost. Each
 * thread keeps the end of its lines (",\"tid\":N}\n") ready. */
static RS_TLS char tid_tail[32];
static RS_TLS size_t tid_tail_len;

#define PUT(q, lit) (__builtin_memcpy((q), (lit), sizeof(lit) - 1), \
		     (q) + sizeof(lit) - 1)

static char *put_hex(char *q, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	int n = v ? (67 - __builtin_clzll(v)) / 4 : 1;

	for (int i = n - 1; i >= 0; i--, v >>= 4)
		q[i] = digits[v & 15];
	return q + n;
}

static char *put_dec(char *q, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*q++ = tmp[--n];
	return q;
}

static char *put_tail(char *q)
{
	if (RS_UNLIKELY(!tid_tail_len || !my_tid)) {
		char *t = PUT(tid_tail, ",\"tid\":");
		t = put_dec(t, (uint64_t)tid());
		t = PUT(t, "}\n");
		tid_tail_len = (size_t)(t - tid_tail);
	}
	__builtin_memcpy(q, tid_tail, sizeof tid_tail);
	return q + tid_tail_len;
}

/* alloc and realloc events: the same fields, realloc adding "from". */
static void alloc_event(const void *p, const void *from, size_t n,
			uint32_t stack)
{
	char line[160], *q = line;

	if (!w.open) {
		count_dropped(1);
		return;
	}
	if (stack)
		stackdepot_emit(stack);
	if (from)
		q = PUT(q, "{\"ev\":\"" RS_EV_REALLOC "\",\"a\":\"0x");
	else
		q = PUT(q, "{\"ev\":\"" RS_EV_ALLOC "\",\"a\":\"0x");
	q = put_hex(q, (uintptr_t)p);
	if (from) {
		q = PUT(q, "\",\"from\":\"0x");
		q = put_hex(q, (uintptr_t)from);
	}
	q = PUT(q, "\",\"n\":");
	q = put_dec(q, n);
	q = PUT(q, ",\"s\":");
	q = put_dec(q, stack);
	q = put_tail(q);
	append(line, (size_t)(q - line), true);
}

void writer_alloc_event(const void *p, size_t n, uint32_t stack)
{
	alloc_event(p, NULL, n, stack);
}

void writer_realloc_event(const void *p, const void *from, size_t n,
			  uint32_t stack)
{
	alloc_event(p, from, n, stack);
}

void writer_free_event(const void *p)
{
	char line[96], *q = line;

	if (!w.open) {
		count_dropped(1);
		return;
	}
	q = PUT(q, "{\"ev\":\"" RS_EV_FREE "\",\"a\":\"0x");
	q = put_hex(q, (uintptr_t)p);
	q = PUT(q, "\"");
	q = put_tail(q);
	append(line, (size_t)(q - line), true);
}
