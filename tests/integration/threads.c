/* Roots in other threads. At exit, one thread is still running (blocked on
 * a pipe) with a pointer only on its stack, another's pointer sits in its
 * TLS, a third's in a pthread_setspecific value; a fourth thread leaked
 * its block and ended. */
#include <pthread.h>
#include <unistd.h>
#include "common.h"

static int pipe_fds[2];
static pthread_key_t key;
/* Not static: the compiler would drop a store nobody reads. */
__thread struct obj *tls_ptr;
static pthread_barrier_t ready;

static NOINLINE void *on_stack(void *arg)
{
	struct obj *volatile mine = new_obj();
	escape((void *)&mine);
	pthread_barrier_wait(&ready);
	char c;
	while (read(pipe_fds[0], &c, 1) < 0)
		;
	return NULL;
}

static NOINLINE void *in_tls(void *arg)
{
	tls_ptr = new_obj();
	pthread_setspecific(key, new_obj());
	pthread_barrier_wait(&ready);
	for (;;)
		pause();
	return NULL;
}

static NOINLINE void *leaker(void *arg)
{
	new_obj();
	return NULL;
}

int main(void)
{
	pthread_t t;
	if (pipe(pipe_fds) != 0)
		return 1;
	pthread_key_create(&key, NULL);
	pthread_barrier_init(&ready, NULL, 3);
	pthread_create(&t, NULL, on_stack, NULL);
	pthread_create(&t, NULL, in_tls, NULL);
	pthread_barrier_wait(&ready);
	pthread_create(&t, NULL, leaker, NULL);
	pthread_join(t, NULL);
	return 0;
}
