/*
 * prim.c: raw system calls and the tiny libc behind prim.h.
 *
 * Must never: set errno (the shim runs inside the program's malloc and free,
 * whose callers read errno), allocate, or call into libc beyond what the
 * compiler may emit for memcpy/memset.
 */
#define _GNU_SOURCE
#include "config.h"
#include "prim.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

long prim_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

void *prim_map(size_t len, bool reserve)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve ? MAP_NORESERVE : 0);
	long r = prim_syscall6(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
			       flags, -1, 0);

	return (r < 0 && r > -4096) ? NULL : (void *)r;
}

int prim_unmap(void *addr, size_t len)
{
	return (int)prim_syscall(SYS_munmap, addr, len, 0);
}

int prim_discard(void *addr, size_t len)
{
	return (int)prim_syscall(SYS_madvise, addr, len, MADV_DONTNEED);
}

int prim_open(const char *path, int flags, int mode)
{
	return (int)prim_syscall6(SYS_openat, AT_FDCWD, (long)path,
				  flags | O_CLOEXEC, mode, 0, 0);
}

int prim_close(int fd)
{
	return (int)prim_syscall(SYS_close, fd, 0, 0);
}

ssize_t prim_read(int fd, void *buf, size_t n)
{
	long r;

	do
		r = prim_syscall(SYS_read, fd, buf, n);
	while (r == -4 /* EINTR */);
	return r;
}

ssize_t prim_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	size_t left = n;

	while (left > 0) {
		long r = prim_syscall(SYS_write, fd, p, left);
		if (r == -4 /* EINTR */)
			continue;
		if (r < 0)
			return r;
		if (r == 0)
			return -5; /* EIO: a zero-length write would loop */
		p += r;
		left -= (size_t)r;
	}
	return (ssize_t)n;
}

int prim_mkdir(const char *path, int mode)
{
	return (int)prim_syscall(SYS_mkdirat, AT_FDCWD, path, mode);
}

ssize_t prim_read_file(const char *path, char *buf, size_t cap)
{
	int fd = prim_open(path, O_RDONLY, 0);
	size_t len = 0;

	if (fd < 0)
		return fd;
	while (len + 1 < cap) {
		ssize_t r = prim_read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			prim_close(fd);
			return r;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	prim_close(fd);
	return (ssize_t)len;
}

pid_t prim_getpid(void)
{
	return (pid_t)prim_syscall(SYS_getpid, 0, 0, 0);
}

pid_t prim_getppid(void)
{
	return (pid_t)prim_syscall(SYS_getppid, 0, 0, 0);
}

pid_t prim_gettid(void)
{
	return (pid_t)prim_syscall(SYS_gettid, 0, 0, 0);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	/* clock_gettime goes through the vDSO: no lock, no errno on success,
	 * and these clocks cannot fail. */
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t prim_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t prim_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }
uint64_t prim_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

void prim_futex_wait(int *addr, int val, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	prim_syscall6(SYS_futex, (long)addr, FUTEX_WAIT_PRIVATE, val,
		      timeout_ns ? (long)&ts : 0, 0, 0);
}

void prim_futex_wake(int *addr, int count)
{
	prim_syscall6(SYS_futex, (long)addr, FUTEX_WAKE_PRIVATE, count, 0, 0, 0);
}

void prim_lock_slow(struct prim_lock *l)
{
	/* Spin briefly: shim critical sections are a few hundred instructions. */
	for (int i = 0; i < 100; i++) {
		if (prim_trylock(l))
			return;
		__builtin_ia32_pause();
	}
	while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
		prim_futex_wait(&l->state, 2, 0);
}

void prim_unlock_slow(struct prim_lock *l)
{
	prim_futex_wake(&l->state, 1);
}

size_t prim_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int prim_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int prim_strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i] || !a[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
	}
	return 0;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool prim_streq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

size_t prim_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t len = prim_strlen(src);

	if (cap) {
		size_t n = len < cap - 1 ? len : cap - 1;
		prim_memcpy(dst, src, n);
		dst[n] = 0;
	}
	return len;
}

void prim_memcpy(void *dst, const void *src, size_t n)
{
	__builtin_memcpy(dst, src, n);
}

void prim_memset(void *dst, int c, size_t n)
{
	__builtin_memset(dst, c, n);
}

size_t prim_fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
	return n;
}

size_t prim_fmt_i64(char *buf, int64_t v)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + prim_fmt_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
	}
	return prim_fmt_u64(buf, (uint64_t)v);
}

size_t prim_fmt_hex(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v);
	buf[0] = '0';
	buf[1] = 'x';
	for (size_t i = 0; i < n; i++)
		buf[2 + i] = tmp[n - 1 - i];
	buf[2 + n] = 0;
	return 2 + n;
}

bool prim_parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		char c = lower(s[i]);
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

extern char **__environ;

const char *prim_getenv(const char *name)
{
	size_t len = prim_strlen(name);

	if (!__environ)
		return NULL;
	for (char **e = __environ; *e; e++) {
		if (prim_strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	}
	return NULL;
}

void prim_notice(const char *msg, const char *detail)
{
	char line[512];
	size_t n = prim_strlcpy(line, "refsweep: ", sizeof line);

	n += prim_strlcpy(line + n, msg, sizeof line - n);
	if (n >= sizeof line)
		n = sizeof line - 1;
	if (detail && n + 2 < sizeof line) {
		n += prim_strlcpy(line + n, ": ", sizeof line - n);
		if (n < sizeof line)
			n += prim_strlcpy(line + n, detail, sizeof line - n);
		if (n >= sizeof line)
			n = sizeof line - 1;
	}
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	prim_write_all(2, line, n);
}

size_t prim_safe_copy(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n };
	struct iovec remote = { (void *)src, n };
	long r;

	/* process_vm_readv on ourselves reads through the page tables and
	 * reports a hole as a short count instead of a fault. */
	r = prim_syscall6(SYS_process_vm_readv, prim_getpid(), (long)&local, 1,
			  (long)&remote, 1, 0);
	return r > 0 ? (size_t)r : 0;
}
