/*
 * close.c: nng_close with a time bound (close.h).
 */
#include "p2p/close.h"

#include "common/tr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_bool gave_up; /* a bounded close gave up (p2p_close_gave_up) */

typedef struct {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
} closer;

static void closer_free(closer *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *close_main(void *arg)
{
	closer *c = arg;
	bool abandoned;
	tr_thread_name("tr-close");
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) /* the waiter gave up: the closer is ours */
		closer_free(c);
	return NULL;
}

bool p2p_close_bounded(nng_socket s, unsigned wait_ms)
{
	closer *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	pthread_t t;
	struct timespec ts;
	bool done;
	if (!c || pthread_mutex_init(&c->mu, NULL)) {
		free(c);
		nng_close(s);
		return true;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&c->cv, &ca)) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&c->mu);
		free(c);
		nng_close(s);
		return true;
	}
	pthread_condattr_destroy(&ca);
	c->sock = s;
	if (pthread_create(&t, NULL, close_main, c) != 0) {
		nng_close(s);
		c->done = true;
	} else {
		pthread_detach(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			break;
	done = c->done;
	c->abandoned = !done;
	pthread_mutex_unlock(&c->mu);
	if (done)
		closer_free(c);
	else
		atomic_store(&gave_up, true);
	return done;
}

bool p2p_close_gave_up(void)
{
	return atomic_load(&gave_up);
}
