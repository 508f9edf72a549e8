/*
 * prim.h: the shim's only door to the operating system, and its tiny libc.
 *
 * Owns: raw system calls (no errno, no libc locks, no allocation), a futex
 * lock, clocks, the environment scan, number formatting and the one-line
 * stderr notice. Everything in preload/ that needs the kernel goes through
 * here, so that every other file can run inside malloc, before libc is ready,
 * and in a stopped world.
 *
 * Must never: touch errno, call stdio or the malloc family, take a lock
 * the program may hold, or call anything that does.
 */
#ifndef RS_PRIM_H
#define RS_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#define RS_HIDDEN __attribute__((visibility("hidden")))
#define RS_NOINLINE __attribute__((noinline))
#define RS_LIKELY(x) __builtin_expect(!!(x), 1)
#define RS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RS_TLS __thread __attribute__((tls_model("initial-exec")))
#define RS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Raw system call: returns the kernel's answer, -errno on failure. */
long prim_syscall6(long nr, long a, long b, long c, long d, long e, long f)
	RS_HIDDEN;
#define prim_syscall(nr, a, b, c) prim_syscall6((nr), (long)(a), (long)(b), \
						 (long)(c), 0, 0, 0)

/* Memory from the kernel. prim_map returns NULL on failure; `reserve` asks
 * for address space only (MAP_NORESERVE). */
void *prim_map(size_t len, bool reserve) RS_HIDDEN;
int prim_unmap(void *addr, size_t len) RS_HIDDEN;
/* Give pages back: the range reads as zeros afterwards. */
int prim_discard(void *addr, size_t len) RS_HIDDEN;

/* Files. All return -errno on failure. */
int prim_open(const char *path, int flags, int mode) RS_HIDDEN;
int prim_close(int fd) RS_HIDDEN;
ssize_t prim_read(int fd, void *buf, size_t n) RS_HIDDEN;
/* Writes all of buf, retrying short writes and EINTR; -errno on failure. */
ssize_t prim_write_all(int fd, const void *buf, size_t n) RS_HIDDEN;
int prim_mkdir(const char *path, int mode) RS_HIDDEN;
/* Reads a whole small file (a /proc entry) into buf, NUL-terminated;
 * returns its length or -errno. */
ssize_t prim_read_file(const char *path, char *buf, size_t cap) RS_HIDDEN;

pid_t prim_getpid(void) RS_HIDDEN;
pid_t prim_getppid(void) RS_HIDDEN;
pid_t prim_gettid(void) RS_HIDDEN;
uint64_t prim_now_ns(void) RS_HIDDEN;      /* CLOCK_MONOTONIC */
uint64_t prim_realtime_ns(void) RS_HIDDEN; /* CLOCK_REALTIME */
uint64_t prim_thread_cpu_ns(void) RS_HIDDEN;

/* A futex mutex that never allocates and can be re-initialised in a fork
 * child (where its holder may no longer exist). */
struct prim_lock {
	int state; /* 0 free, 1 held, 2 held with waiters */
};
#define PRIM_LOCK_INIT { 0 }
void prim_lock_slow(struct prim_lock *l) RS_HIDDEN;
void prim_unlock_slow(struct prim_lock *l) RS_HIDDEN;
static inline void prim_lock(struct prim_lock *l)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&l->state, &expected, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		prim_lock_slow(l);
}
static inline bool prim_trylock(struct prim_lock *l)
{
	int expected = 0;
	return __atomic_compare_exchange_n(&l->state, &expected, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
static inline void prim_unlock(struct prim_lock *l)
{
	if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
		prim_unlock_slow(l);
}
static inline void prim_lock_reinit(struct prim_lock *l) { l->state = 0; }

/* Futex wait/wake on a 32-bit word (private). Wait returns when *addr !=
 * val, on a wake, or after timeout_ns (0 = forever). */
void prim_futex_wait(int *addr, int val, uint64_t timeout_ns) RS_HIDDEN;
void prim_futex_wake(int *addr, int count) RS_HIDDEN;

/* The tiny libc. */
size_t prim_strlen(const char *s) RS_HIDDEN;
int prim_strcmp(const char *a, const char *b) RS_HIDDEN;
int prim_strncmp(const char *a, const char *b, size_t n) RS_HIDDEN;
bool prim_streq_nocase(const char *a, const char *b, size_t n) RS_HIDDEN;
/* Copies at most cap-1 bytes and always terminates; returns strlen(src). */
size_t prim_strlcpy(char *dst, const char *src, size_t cap) RS_HIDDEN;
void prim_memcpy(void *dst, const void *src, size_t n) RS_HIDDEN;
void prim_memset(void *dst, int c, size_t n) RS_HIDDEN;
/* Decimal and hex (with "0x") into buf; return the length written (no NUL
 * counted; buf gets a NUL). buf needs 21 bytes for u64/i64, 19 for hex. */
size_t prim_fmt_u64(char *buf, uint64_t v) RS_HIDDEN;
size_t prim_fmt_i64(char *buf, int64_t v) RS_HIDDEN;
size_t prim_fmt_hex(char *buf, uint64_t v) RS_HIDDEN;
/* Parses a decimal (or 0x hex) unsigned number from s[0..n); false if not a
 * whole number or it overflows. */
bool prim_parse_u64(const char *s, size_t n, uint64_t *out) RS_HIDDEN;

/* The environment as the process started with it, read without libc's
 * getenv (which is not safe before libc is initialised). NULL if unset. */
const char *prim_getenv(const char *name) RS_HIDDEN;

/* One line on stderr, prefixed "refsweep: ". The shim's only output on the
 * program's streams; callers make sure each message is said once. */
void prim_notice(const char *msg, const char *detail) RS_HIDDEN;

/* Copies n bytes from src to dst without faulting: an unreadable source
 * page ends the copy. Returns the number of bytes copied. */
size_t prim_safe_copy(void *dst, const void *src, size_t n) RS_HIDDEN;

#endif /* RS_PRIM_H */
