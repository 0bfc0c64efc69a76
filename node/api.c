/*
 * api.c: the client API of trellisd: NNG req/rep with NODE_API_CONTEXTS
 * contexts, so many clients are served at once.
 *
 * A context's callback runs on an NNG worker thread: it only decodes the
 * request and queues it, a submit for the record checkers (check.c: the
 * signature checks must not hold NNG's few task threads), a status for
 * the node thread, which answers later through api_reply(). A context is
 * RECV (waiting for a request), WAIT (a checker or the node thread has its
 * job) or SEND. At most NODE_API_CONTEXTS requests are queued at once.
 */
#include "node/node_internal.h"

#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void api_reply(api_ctx *a, Trellis__ApiReply *rep)
{
	nng_msg *m;
	size_t n = trellis__api_reply__get_packed_size(rep);
	if (nng_msg_alloc(&m, n) != 0) {
		TR_LOG(TR_LOG_ERROR, "msg=\"cannot allocate reply\"");
		a->state = CTX_RECV;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	trellis__api_reply__pack(rep, nng_msg_body(m));
	nng_aio_set_msg(a->aio, m);
	a->state = CTX_SEND;
	nng_ctx_send(a->ctx, a->aio);
}

void api_reply_error(api_ctx *a, int code, const char *reason)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	rep.error = code;
	rep.reason = (char *)(uintptr_t)reason;
	api_reply(a, &rep);
}

int node_check_records(const tr_consortium *c, const ProtobufCBinaryData *recs, size_t n,
		       uint8_t (**ids)[TR_HASH_LEN], char *why, size_t whylen)
{
	char r[256];
	uint8_t(*v)[TR_HASH_LEN];
	if (n == 0 || n > NODE_REQUEST_RECORDS_MAX) {
		snprintf(why, whylen, "a submit carries 1..%d records, not %zu",
			 NODE_REQUEST_RECORDS_MAX, n);
		return TR_EINVAL;
	}
	v = malloc(n * TR_HASH_LEN);
	if (!v) {
		snprintf(why, whylen, "out of memory checking %zu records", n);
		return TR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = ldg_record_check(c, recs[i].data, recs[i].len, 0, v[i], r, sizeof(r));
		if (rc) {
			snprintf(why, whylen, "record %zu: %s", i, r);
			free(v);
			return rc;
		}
	}
	*ids = v;
	return TR_OK;
}

static void ctx_cb(void *arg)
{
	api_ctx *a = arg;
	node *nd = a->nd;
	nng_msg *m;
	Trellis__ApiRequest *req;
	job *j;
	int rv = nng_aio_result(a->aio);

	if (a->state == CTX_SEND) {
		if (rv != 0) {
			m = nng_aio_get_msg(a->aio);
			if (m)
				nng_msg_free(m);
		}
		if (rv == NNG_ECLOSED)
			return;
		a->state = CTX_RECV;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	if (a->state != CTX_RECV)
		return;
	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	m = nng_aio_get_msg(a->aio);
	req = trellis__api_request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (!req || req->version != 1 ||
	    (req->body_case != TRELLIS__API_REQUEST__BODY_SUBMIT &&
	     req->body_case != TRELLIS__API_REQUEST__BODY_STATUS)) {
		if (req)
			trellis__api_request__free_unpacked(req, NULL);
		TR_LOG(TR_LOG_WARN, "msg=\"rejected request\" reason=malformed");
		api_reply_error(a, TR_EINVAL, "malformed request (not a version-1 ApiRequest)");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		trellis__api_request__free_unpacked(req, NULL);
		api_reply_error(a, TR_ENOMEM, "out of memory");
		return;
	}
	j->kind = JOB_API;
	j->ctx = a;
	j->req = req;
	a->state = CTX_WAIT;
	if (req->body_case == TRELLIS__API_REQUEST__BODY_SUBMIT)
		node_check_push(nd, j);
	else
		node_job_push(nd, j);
}

int api_start(node *nd, char *err, size_t errlen)
{
	int rv;
	if ((rv = nng_rep0_open(&nd->sock)) != 0) {
		snprintf(err, errlen, "cannot open the API socket: %s", nng_strerror(rv));
		return TR_EIO;
	}
	nd->sock_open = true;
	nng_socket_set_size(nd->sock, NNG_OPT_RECVMAXSZ, NODE_REQUEST_BYTES_MAX);
	for (size_t i = 0; i < NODE_API_CONTEXTS; i++) {
		api_ctx *a = &nd->ctxs[i];
		a->nd = nd;
		if ((rv = nng_aio_alloc(&a->aio, ctx_cb, a)) != 0 ||
		    (rv = nng_ctx_open(&a->ctx, nd->sock)) != 0) {
			if (a->aio)
				nng_aio_free(a->aio);
			a->aio = NULL;
			snprintf(err, errlen, "cannot open API contexts: %s", nng_strerror(rv));
			return TR_EIO;
		}
		nd->nctx++;
	}
	if ((rv = nng_listen(nd->sock, nd->api_url, NULL, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", nd->api_url, nng_strerror(rv));
		return TR_EIO;
	}
	if (nd->opt->tcp_url && (rv = nng_listen(nd->sock, nd->opt->tcp_url, NULL, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", nd->opt->tcp_url,
			 nng_strerror(rv));
		return TR_EIO;
	}
	for (size_t i = 0; i < nd->nctx; i++) {
		nd->ctxs[i].state = CTX_RECV;
		nng_ctx_recv(nd->ctxs[i].ctx, nd->ctxs[i].aio);
	}
	return TR_OK;
}

typedef struct {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
} api_closer;

static void *api_close_main(void *arg)
{
	api_closer *c = arg;
	bool abandoned;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) { /* api_stop gave up waiting: the closer is ours */
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
	return NULL;
}

/* nng_close, waiting at most 3 s: NNG 1.5.2's nng_close sometimes never
 * returns (seen once on the API socket of a node whose link was refusing
 * pipes, t0350, and on link sockets: p2p/link.c). Returns false when it
 * did not return in time; the socket and its contexts are then left to
 * the process exit. */
static bool api_close_bounded(nng_socket sock)
{
	api_closer *c = calloc(1, sizeof(*c));
	pthread_t t;
	struct timespec ts;
	bool done;
	pthread_condattr_t ca;
	if (!c || pthread_mutex_init(&c->mu, NULL)) {
		free(c);
		nng_close(sock);
		return true;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&c->cv, &ca)) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&c->mu);
		free(c);
		nng_close(sock);
		return true;
	}
	pthread_condattr_destroy(&ca);
	c->sock = sock;
	if (pthread_create(&t, NULL, api_close_main, c) != 0) {
		nng_close(sock);
		c->done = true;
	} else {
		pthread_detach(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			break;
	done = c->done;
	c->abandoned = !done;
	pthread_mutex_unlock(&c->mu);
	if (done) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
	return done;
}

void api_stop(node *nd)
{
	if (nd->sock_open && !api_close_bounded(nd->sock)) {
		TR_LOG(TR_LOG_WARN, "msg=\"API socket did not close in time; exiting without it\"");
		nd->nctx = 0;
		nd->sock_open = false;
		return;
	}
	for (size_t i = 0; i < nd->nctx; i++) {
		nng_aio_stop(nd->ctxs[i].aio);
		nng_aio_free(nd->ctxs[i].aio);
	}
	nd->nctx = 0;
	nd->sock_open = false;
}
