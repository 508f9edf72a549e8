/*
 * spawn: runs one command and reports its wall time, exit status and peak
 * RSS for bench/compare. Exists because ru_maxrss is inherited across
 * exec: a child forked from the Python script starts with the script's
 * resident set as its high-water mark, so peak RSS must come from a child
 * forked by this small process instead.
 *
 * Usage: spawn FD PROGRAM [ARGS...]
 * Writes "wall_ns status maxrss_kb utime_us stime_us" on descriptor FD,
 * status being the exit status or -signal; exits 0 when it could report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawn FD PROGRAM [ARGS...]\n");
		return 2;
	}
	int fd = atoi(argv[1]);
	long long t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("spawn: fork");
		return 2;
	}
	if (pid == 0) {
		close(fd);
		execvp(argv[2], argv + 2);
		perror("spawn: exec");
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		;
	long long wall = now_ns() - t0;
	FILE *out = fdopen(fd, "w");
	if (!out)
		return 2;
	fprintf(out, "%lld %d %ld %ld %ld\n", wall,
		WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status),
		ru.ru_maxrss, ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
		ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
	return fclose(out) == 0 ? 0 : 2;
}
