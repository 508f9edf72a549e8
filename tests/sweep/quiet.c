/*
 * quiet.c: sweeps every 10 ms must not change what blocked threads see
 * (issue 4, "Stopping the world"). Threads sit in epoll_wait, recv on a
 * socket with SO_RCVTIMEO, nanosleep, poll, read on a pipe and
 * pthread_cond_wait while the main thread allocates (which is when
 * periodic sweeps run), or, with a second argument "api", calls
 * rs_collect() every 10 ms (a full stop, which interrupts and then
 * restarts the calls that would fail with EINTR). Prints how often each
 * thread saw EINTR, how many timed waits completed, and whether the
 * blocking ones woke when told to.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "refsweep.h"

enum { EPOLL, RECV, SLEEP, POLL, READ, COND, N };
static const char *const names[N] = { "epoll_wait", "recv", "nanosleep",
				      "poll", "read", "cond_wait" };
static int eintr[N], rounds[N], woke[N];
static volatile int stop;
static int ep, sv[2], pfd[2], pfd2[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;

static void *worker(void *arg)
{
	long k = (long)arg;
	struct epoll_event ev;
	struct timespec ts = { 0, 20000000 };
	struct pollfd p = { pfd2[0], POLLIN, 0 };
	char c;
	int r = 0;

	if (k == READ) {
		r = (int)read(pfd[0], &c, 1);
		if (r < 0 && errno == EINTR)
			eintr[k]++;
		woke[k] = r == 1;
		return NULL;
	}
	if (k == COND) {
		pthread_mutex_lock(&mu);
		while (!cond_flag)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		woke[k] = 1;
		return NULL;
	}
	while (!stop) {
		switch (k) {
		case EPOLL: r = epoll_wait(ep, &ev, 1, 50); break;
		case RECV: r = (int)recv(sv[0], &c, 1, 0); break;
		case SLEEP: r = nanosleep(&ts, NULL); break;
		case POLL: r = poll(&p, 1, 50); break;
		}
		if (r < 0 && errno == EINTR)
			eintr[k]++;
		else
			rounds[k]++;
	}
	woke[k] = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.5;
	int api = argc > 2 && !strcmp(argv[2], "api");
	struct timeval tv = { 0, 50000 };
	struct epoll_event ev = { EPOLLIN, { 0 } };
	pthread_t t[N];
	struct timespec t0, now;
	void **live = calloc(4096, sizeof(void *));
	unsigned long i = 0;
	int bad = 0;

	if (pipe(pfd) || pipe(pfd2) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 2;
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd2[0], &ev);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (long k = 0; k < N; k++)
		pthread_create(&t[k], NULL, worker, (void *)k);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* Churn: this is where periodic sweeps are polled. */
		free(live[i % 4096]);
		live[i % 4096] = malloc(16 + i % 200);
		if (++i % 1024 == 0)
			usleep(1000);
		if (api && i % 8192 == 0) {
			usleep(10000);
			rs_collect();
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 <
		 secs);
	stop = 1;
	if (write(pfd[1], "x", 1) != 1)
		return 2;
	pthread_mutex_lock(&mu);
	cond_flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	for (int k = 0; k < N; k++)
		pthread_join(t[k], NULL);
	for (int k = 0; k < N; k++) {
		printf("%s eintr %d rounds %d woke %d\n", names[k], eintr[k],
		       rounds[k], woke[k]);
		bad |= eintr[k] || !woke[k];
	}
	for (i = 0; i < 4096; i++)
		free(live[i]);
	free(live);
	return bad;
}
