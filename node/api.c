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

#include "consensus/pbft_wire.h"
#include "p2p/close.h"

#include <errno.h>
#include <nng/protocol/reqrep0/rep.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void api_reply(api_ctx *a, Trellis__ApiReply *rep)
{
	nng_msg *m;
	size_t n = trellis__api_reply__get_packed_size(rep);
	if (nng_msg_alloc(&m, n) != 0) {
		TR_LOG(TR_LOG_ERROR, "msg=\"cannot allocate reply\"");
		a->state = CTX_RECV;
		nng_aio_set_timeout(a->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	trellis__api_reply__pack(rep, nng_msg_body(m));
	nng_aio_set_msg(a->aio, m);
	a->state = CTX_SEND;
	nng_aio_set_timeout(a->aio, NODE_API_SEND_TIMEOUT_MS);
	nng_ctx_send(a->ctx, a->aio);
}

void api_reply_error(api_ctx *a, int code, const char *reason)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	rep.error = code;
	rep.reason = (char *)(uintptr_t)reason;
	api_reply(a, &rep);
}

void api_reply_late(api_ctx *a, int code, const char *reason)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	rep.error = code;
	rep.reason = (char *)(uintptr_t)reason;
	rep.accepted = true;
	api_reply(a, &rep);
}

int node_check_count(size_t n, uint8_t (**ids)[TR_HASH_LEN], char *why, size_t whylen)
{
	if (n == 0 || n > NODE_REQUEST_RECORDS_MAX) {
		snprintf(why, whylen, "a submit carries 1..%d records, not %zu",
			 NODE_REQUEST_RECORDS_MAX, n);
		return TR_EINVAL;
	}
	*ids = malloc(n * TR_HASH_LEN);
	if (!*ids) {
		snprintf(why, whylen, "out of memory checking %zu records", n);
		return TR_ENOMEM;
	}
	return TR_OK;
}

int node_check_range(const tr_consortium *c, ldg_checked *k, const ProtobufCBinaryData *recs,
		     size_t from, size_t to, uint8_t (*ids)[TR_HASH_LEN], char *why, size_t whylen)
{
	char r[256];
	for (size_t i = from; i < to; i++) {
		int rc = ldg_record_check_once(c, k, recs[i].data, recs[i].len, 0, ids[i], r,
					       sizeof(r));
		if (rc) {
			snprintf(why, whylen, "record %zu: %s", i, r);
			return rc;
		}
	}
	return TR_OK;
}

int node_check_records(const tr_consortium *c, ldg_checked *k, const ProtobufCBinaryData *recs,
		       size_t n, uint8_t (**ids)[TR_HASH_LEN], char *why, size_t whylen)
{
	uint8_t(*v)[TR_HASH_LEN];
	int rc = node_check_count(n, &v, why, whylen);
	if (rc)
		return rc;
	rc = node_check_range(c, k, recs, 0, n, v, why, whylen);
	if (rc) {
		free(v);
		return rc;
	}
	*ids = v;
	return TR_OK;
}

Trellis__ApiRequest *node_api_decode(const uint8_t *buf, size_t len)
{
	return (Trellis__ApiRequest *)pbft_wire_unpack(&trellis__api_request__descriptor, buf, len);
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
		if (rv == NNG_ETIMEDOUT)
			TR_LOG(TR_LOG_WARN, "msg=\"reply dropped: the client did not take it within %d ms\"",
			       NODE_API_SEND_TIMEOUT_MS);
		a->state = CTX_RECV;
		nng_aio_set_timeout(a->aio, NNG_DURATION_INFINITE);
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
	req = node_api_decode(nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	if (!req || req->version != 1 ||
	    (req->body_case != TRELLIS__API_REQUEST__BODY_SUBMIT &&
	     req->body_case != TRELLIS__API_REQUEST__BODY_STATUS)) {
		pbft_wire_free((ProtobufCMessage *)req);
		TR_LOG(TR_LOG_WARN, "msg=\"rejected request\" reason=malformed");
		api_reply_error(a, TR_EINVAL,
				"malformed request (not a version-1 ApiRequest of known fields, "
				"or submit.records too small to be records)");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pbft_wire_free(&req->base);
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

/* ==== Listener watchdog ==== */

/*
 * NNG 1.5.2's ipc listener stops handing connections to the socket for good
 * when a client hangs up before NNG has negotiated its connection: the
 * failed negotiation's NNG_ECLOSED reaches the listener as if it had been
 * closed itself (nng issue #1518, fixed in 1.6.0). It still accepts and
 * sends its SP header, but no request is ever read again, while the node
 * runs on. A paused node (SIGSTOP) meets it as soon as one `trellis status
 * --timeout 1` gives up. So the node thread connects to its own ipc
 * listener every API_PROBE_EVERY_MS as a REQ peer and waits for a
 * connection of that listener to reach the socket (NNG_PIPE_EV_ADD_POST:
 * its own or any client's). None within API_PROBE_TICKS node ticks
 * (running time: a paused node is not a deaf listener), or a refused
 * connection, and the node listens again: it unlinks the socket's path
 * and listens on it anew. The deaf listener is left open: closing it would
 * also close the connections of clients still waiting for their submits.
 */
#define API_PROBE_EVERY_MS 1000
#define API_PROBE_TICKS 40

static void on_pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	node *nd = arg;
	(void)ev;
	if ((uint32_t)nng_listener_id(nng_pipe_listener(p)) == atomic_load(&nd->api_listener))
		atomic_fetch_add(&nd->api_ipc_pipes, 1);
}

/* Listen on the API URL; an ipc listener's id goes to nd->api_listener. */
static int api_listen(node *nd)
{
	nng_listener l;
	int rv = nng_listen(nd->sock, nd->api_url, &l, 0);
	if (rv == 0)
		atomic_store(&nd->api_listener, (uint32_t)nng_listener_id(l));
	return rv;
}

static void probe_end(node *nd)
{
	close(nd->probe_fd);
	nd->probe_fd = -1;
}

static void api_relisten(node *nd, const char *path, const char *why)
{
	int rv;
	nd->api_relistens++;
	unlink(path);
	rv = api_listen(nd);
	TR_LOG(rv ? TR_LOG_ERROR : TR_LOG_WARN,
	       "msg=\"API listener does not accept: listening again\" api=%s why=%s result=\"%s\"",
	       nd->api_url, why, rv ? nng_strerror(rv) : "ok");
}

void api_watch(node *nd)
{
	static const uint8_t req_header[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0}; /* REQ v0 */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = nd->api_url + 6;
	uint64_t now;
	int e;

	if (!nd->sock_open || strncmp(nd->api_url, "ipc://", 6) != 0 ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	if (nd->probe_fd >= 0) {
		/* a connection came through: its negotiation is over, so hanging up is safe */
		if (atomic_load(&nd->api_ipc_pipes) != nd->probe_pipes) {
			probe_end(nd);
		} else if (++nd->probe_ticks >= API_PROBE_TICKS) {
			probe_end(nd);
			api_relisten(nd, path, "silent");
		}
		return;
	}
	now = tr_mono_ms();
	if (now < nd->probe_next_ms)
		return;
	nd->probe_next_ms = now + API_PROBE_EVERY_MS;
	nd->probe_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (nd->probe_fd < 0)
		return;
	nd->probe_pipes = atomic_load(&nd->api_ipc_pipes);
	nd->probe_ticks = 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(nd->probe_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		probe_end(nd);
		if (e == ECONNREFUSED || e == ENOENT)
			api_relisten(nd, path, "refused");
		return; /* EAGAIN: the backlog is full, so it is busy, not deaf */
	}
	if (write(nd->probe_fd, req_header, sizeof(req_header)) != (ssize_t)sizeof(req_header))
		probe_end(nd);
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
	nng_pipe_notify(nd->sock, NNG_PIPE_EV_ADD_POST, on_pipe_added, nd);
	if ((rv = api_listen(nd)) != 0) {
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

void api_stop(node *nd)
{
	if (nd->probe_fd >= 0)
		probe_end(nd);
	/* NNG 1.5.2's nng_close sometimes never returns (p2p/close.h) */
	if (nd->sock_open && !p2p_close_bounded(nd->sock, 3000)) {
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
