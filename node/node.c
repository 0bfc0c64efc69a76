/*
 * node.c: trellisd's loop: client API, mempool, blocks, consensus actions.
 *
 * Threads. NNG runs the API contexts' callbacks on its own worker threads.
 * A callback decodes a request, checks every record's form and signature
 * (the costly part, so it runs in parallel), and queues a job for the one
 * node thread. The node thread owns everything else: the ledger, the
 * mempool, consensus, and the replies. The job queue is the only shared
 * state (mutex + condition variable).
 *
 * The node thread, each turn:
 *   1. takes the queued jobs: status requests are answered; submits are
 *      de-duplicated (ledger and mempool) and enter the mempool whole or
 *      are refused whole;
 *   2. while the mempool holds records, cuts a block (up to the
 *      consortium's max records / bytes) and hands it to consensus;
 *   3. carries out the actions in order: PERSIST (durable vote record),
 *      then COMMIT (block + certificate + indexes in one durable LMDB
 *      transaction), then answers each client whose records are all
 *      committed.
 * Blocks are cut as soon as the previous one is durable, so under load
 * records pile up during a commit and the next block takes them all (group
 * commit); block_max_wait_ms is never exceeded.
 */
#include "node/node.h"

#include "common/consortium.h"
#include "ledger/ledger.h"
#include "node/solo.h"
#include "proto/trellis.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

typedef struct node node;
typedef struct api_ctx api_ctx;

/* A client's submit waiting for its records to commit. */
typedef struct {
	api_ctx *ctx;
	size_t n, remaining;
	int error;
	char reason[256];
	uint8_t (*ids)[TR_HASH_LEN];
	uint64_t *heights;
	uint32_t *positions;
} waiter;

typedef struct job {
	struct job *next;
	api_ctx *ctx;
	Trellis__ApiRequest *req;      /* owned */
	uint8_t (*ids)[TR_HASH_LEN];   /* submit: event id of each record */
} job;

enum { CTX_RECV, CTX_WAIT, CTX_SEND };

struct api_ctx {
	node *nd;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
};

typedef struct {
	const uint8_t *rec; /* borrowed from the job's request, kept alive by its waiter */
	size_t len;
	uint8_t id[TR_HASH_LEN];
	waiter *w;
	size_t idx;
	Trellis__ApiRequest *owner; /* freed with the waiter's last entry */
} mp_entry;

struct node {
	const node_options *opt;
	tr_consortium *c;
	tr_key *key;
	ldg *ledger;
	solo seq;
	uint32_t self;
	int lock_fd;
	char api_url[600];

	nng_socket sock;
	bool sock_open;
	api_ctx ctxs[NODE_API_CONTEXTS];
	size_t nctx;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	job *jobs_head, *jobs_tail;
	bool stopping;

	/* mempool: FIFO ring + open-addressing set of ids (node thread only) */
	mp_entry *mp;
	size_t mp_head, mp_count, mp_bytes;
	uint8_t (*set)[TR_HASH_LEN];
	uint8_t *set_used;
	size_t set_cap;

	uint64_t height;
	uint8_t head[TR_HASH_LEN];
	uint64_t committed_records;
};

int node_home_path(char *out, size_t outlen, const char *home, const char *file)
{
	int n = snprintf(out, outlen, "%s/%s", home, file);
	return n < 0 || (size_t)n >= outlen ? TR_ETOOBIG : TR_OK;
}

/* ==== Mempool id set: linear probing, backward-shift deletion ==== */

static size_t set_slot(const node *nd, const uint8_t id[TR_HASH_LEN])
{
	uint64_t h = tr_be64_get(id);
	return (size_t)(h & (nd->set_cap - 1));
}

static bool set_has(const node *nd, const uint8_t id[TR_HASH_LEN])
{
	for (size_t i = set_slot(nd, id); nd->set_used[i]; i = (i + 1) & (nd->set_cap - 1))
		if (memcmp(nd->set[i], id, TR_HASH_LEN) == 0)
			return true;
	return false;
}

static void set_add(node *nd, const uint8_t id[TR_HASH_LEN])
{
	size_t i = set_slot(nd, id);
	while (nd->set_used[i])
		i = (i + 1) & (nd->set_cap - 1);
	memcpy(nd->set[i], id, TR_HASH_LEN);
	nd->set_used[i] = 1;
}

static void set_del(node *nd, const uint8_t id[TR_HASH_LEN])
{
	size_t mask = nd->set_cap - 1, i = set_slot(nd, id), j;
	while (nd->set_used[i] && memcmp(nd->set[i], id, TR_HASH_LEN) != 0)
		i = (i + 1) & mask;
	if (!nd->set_used[i])
		return;
	nd->set_used[i] = 0;
	for (j = (i + 1) & mask; nd->set_used[j]; j = (j + 1) & mask) {
		size_t k = set_slot(nd, nd->set[j]);
		/* move j back to i when its home slot k is not in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			memcpy(nd->set[i], nd->set[j], TR_HASH_LEN);
			nd->set_used[i] = 1;
			nd->set_used[j] = 0;
			i = j;
		}
	}
}

/* ==== Replies ==== */

static void ctx_send_reply(api_ctx *a, Trellis__ApiReply *rep)
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

static void reply_error(api_ctx *a, int code, const char *reason)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	rep.error = code;
	rep.reason = (char *)(uintptr_t)reason;
	ctx_send_reply(a, &rep);
}

static void waiter_finish(waiter *w)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	Trellis__SubmitResult *res = NULL, **resp = NULL;

	if (w->error) {
		reply_error(w->ctx, w->error, w->reason);
		goto out;
	}
	res = calloc(w->n, sizeof(*res));
	resp = calloc(w->n, sizeof(*resp));
	if (!res || !resp) {
		reply_error(w->ctx, TR_ENOMEM, "out of memory building the reply");
		goto out;
	}
	for (size_t i = 0; i < w->n; i++) {
		trellis__submit_result__init(&res[i]);
		res[i].event_id.data = w->ids[i];
		res[i].event_id.len = TR_HASH_LEN;
		res[i].height = w->heights[i];
		res[i].position = w->positions[i];
		resp[i] = &res[i];
	}
	rep.n_results = w->n;
	rep.results = resp;
	ctx_send_reply(w->ctx, &rep);
out:
	free(res);
	free(resp);
	free(w->ids);
	free(w->heights);
	free(w->positions);
	free(w);
}

/* ==== API callbacks (NNG worker threads) ==== */

static void job_push(node *nd, job *j)
{
	pthread_mutex_lock(&nd->mu);
	j->next = NULL;
	if (nd->jobs_tail)
		nd->jobs_tail->next = j;
	else
		nd->jobs_head = j;
	nd->jobs_tail = j;
	pthread_cond_signal(&nd->cv);
	pthread_mutex_unlock(&nd->mu);
}

/* Check a request's records; on success *ids holds their event ids. */
static int check_submit(node *nd, const Trellis__SubmitRequest *s, uint8_t (**ids)[TR_HASH_LEN],
			char *why, size_t whylen)
{
	char r[256];
	uint8_t(*v)[TR_HASH_LEN];
	if (s->n_records == 0 || s->n_records > NODE_REQUEST_RECORDS_MAX) {
		snprintf(why, whylen, "a submit carries 1..%d records, not %zu",
			 NODE_REQUEST_RECORDS_MAX, s->n_records);
		return TR_EINVAL;
	}
	v = malloc(s->n_records * TR_HASH_LEN);
	if (!v)
		return TR_ENOMEM;
	for (size_t i = 0; i < s->n_records; i++) {
		int rc = ldg_record_check(nd->c, s->records[i].data, s->records[i].len, 0, v[i], r,
					  sizeof(r));
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
	char why[384];
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
	if (!req || req->version != 1) {
		if (req)
			trellis__api_request__free_unpacked(req, NULL);
		TR_LOG(TR_LOG_WARN, "msg=\"rejected request\" reason=malformed");
		reply_error(a, TR_EINVAL, "malformed request (not a version-1 ApiRequest)");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		trellis__api_request__free_unpacked(req, NULL);
		reply_error(a, TR_ENOMEM, "out of memory");
		return;
	}
	j->ctx = a;
	j->req = req;
	if (req->body_case == TRELLIS__API_REQUEST__BODY_SUBMIT) {
		int rc = check_submit(nd, req->submit, &j->ids, why, sizeof(why));
		if (rc) {
			TR_LOG(TR_LOG_WARN, "msg=\"rejected submit\" reason=\"%s\"", why);
			trellis__api_request__free_unpacked(req, NULL);
			free(j);
			reply_error(a, rc, why);
			return;
		}
	} else if (req->body_case != TRELLIS__API_REQUEST__BODY_STATUS) {
		trellis__api_request__free_unpacked(req, NULL);
		free(j);
		reply_error(a, TR_EINVAL, "unknown request");
		return;
	}
	a->state = CTX_WAIT;
	job_push(nd, j);
}

/* ==== Node thread: jobs ==== */

static void job_free(job *j)
{
	if (j->req)
		trellis__api_request__free_unpacked(j->req, NULL);
	free(j->ids);
	free(j);
}

static void do_status(node *nd, job *j)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	Trellis__StatusReply st = TRELLIS__STATUS_REPLY__INIT;
	st.node = nd->c->partners[nd->self].name;
	st.chain_id.data = nd->c->chain_id;
	st.chain_id.len = TR_HASH_LEN;
	st.height = nd->height;
	st.head.data = nd->head;
	st.head.len = TR_HASH_LEN;
	st.view = nd->seq.view;
	st.mode = (char *)(uintptr_t) "normal";
	st.mempool = (uint32_t)nd->mp_count;
	st.partners = nd->c->n;
	st.f = nd->c->f;
	rep.status = &st;
	ctx_send_reply(j->ctx, &rep);
	job_free(j);
}

static void do_submit(node *nd, job *j)
{
	const Trellis__SubmitRequest *s = j->req->submit;
	char why[384], hex[2 * TR_HASH_LEN + 1];
	size_t add_bytes = 0;
	waiter *w;

	for (size_t i = 0; i < s->n_records; i++) {
		uint64_t h;
		uint32_t p;
		int rc = ldg_event_find(nd->ledger, j->ids[i], &h, &p);
		bool dup = false;
		if (rc == TR_OK) {
			snprintf(why, sizeof(why),
				 "record %zu: duplicate event id %s (committed at height %llu position %u)",
				 i, tr_hex(hex, j->ids[i], TR_HASH_LEN), (unsigned long long)h, p);
			goto refuse_exist;
		}
		if (set_has(nd, j->ids[i])) {
			snprintf(why, sizeof(why), "record %zu: duplicate event id %s (already pending)",
				 i, tr_hex(hex, j->ids[i], TR_HASH_LEN));
			goto refuse_exist;
		}
		for (size_t k = 0; k < i && !dup; k++)
			dup = memcmp(j->ids[k], j->ids[i], TR_HASH_LEN) == 0;
		if (dup) {
			snprintf(why, sizeof(why), "record %zu: duplicate event id %s (twice in one submit)",
				 i, tr_hex(hex, j->ids[i], TR_HASH_LEN));
			goto refuse_exist;
		}
		add_bytes += s->records[i].len;
	}
	if (nd->mp_count + s->n_records > NODE_MEMPOOL_RECORDS_MAX ||
	    nd->mp_bytes + add_bytes > NODE_MEMPOOL_BYTES_MAX) {
		TR_LOG(TR_LOG_WARN, "msg=\"mempool full\" records=%zu", nd->mp_count);
		reply_error(j->ctx, TR_ETOOBIG, "node is busy: mempool full, retry later");
		job_free(j);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->heights = calloc(s->n_records, sizeof(*w->heights));
	w->positions = calloc(s->n_records, sizeof(*w->positions));
	if (!w->heights || !w->positions) {
		free(w->heights);
		free(w->positions);
		free(w);
		goto nomem;
	}
	w->ctx = j->ctx;
	w->n = w->remaining = s->n_records;
	w->ids = j->ids;
	j->ids = NULL;
	for (size_t i = 0; i < s->n_records; i++) {
		mp_entry *e = &nd->mp[(nd->mp_head + nd->mp_count) % NODE_MEMPOOL_RECORDS_MAX];
		e->rec = s->records[i].data;
		e->len = s->records[i].len;
		memcpy(e->id, w->ids[i], TR_HASH_LEN);
		e->w = w;
		e->idx = i;
		e->owner = i == s->n_records - 1 ? j->req : NULL;
		set_add(nd, e->id);
		nd->mp_count++;
		nd->mp_bytes += e->len;
	}
	j->req = NULL; /* now owned by the last mempool entry */
	job_free(j);
	return;
refuse_exist:
	TR_LOG(TR_LOG_INFO, "msg=\"rejected submit\" reason=\"%s\"", why);
	reply_error(j->ctx, TR_EEXIST, why);
	job_free(j);
	return;
nomem:
	reply_error(j->ctx, TR_ENOMEM, "out of memory");
	job_free(j);
}

/* ==== Node thread: blocks ==== */

/* Remove the first k mempool entries; committed says whether they made it
 * into the ledger at (height, position = their index). */
static void mempool_pop(node *nd, size_t k, bool committed, uint64_t height, int err,
			const char *why)
{
	for (size_t i = 0; i < k; i++) {
		mp_entry *e = &nd->mp[nd->mp_head];
		waiter *w = e->w;
		if (committed) {
			w->heights[e->idx] = height;
			w->positions[e->idx] = (uint32_t)i;
		} else if (!w->error) {
			w->error = err;
			snprintf(w->reason, sizeof(w->reason), "record %zu not committed: %s", e->idx,
				 why);
		}
		set_del(nd, e->id);
		nd->mp_bytes -= e->len;
		nd->mp_head = (nd->mp_head + 1) % NODE_MEMPOOL_RECORDS_MAX;
		nd->mp_count--;
		if (--w->remaining == 0)
			waiter_finish(w);
		/* the request that owns the record bytes goes with its last entry */
		if (e->owner)
			trellis__api_request__free_unpacked(e->owner, NULL);
		memset(e, 0, sizeof(*e));
	}
}

/* Carry out the consensus actions: persist, then commit. */
static int run_actions(node *nd, size_t nrec, char *err, size_t errlen)
{
	solo_action a;
	int rc = TR_OK;
	while (solo_next(&nd->seq, &a) == TR_OK) {
		if (rc) {
			solo_action_free(&a);
			continue;
		}
		if (a.kind == SOLO_ACT_PERSIST) {
			rc = ldg_vote_put(nd->ledger, a.height, 2, a.bytes, a.len);
			if (rc)
				snprintf(err, errlen, "cannot persist vote for height %llu: %s",
					 (unsigned long long)a.height, tr_strerror(rc));
		} else if (a.kind == SOLO_ACT_COMMIT) {
			rc = ldg_append(nd->ledger, a.bytes, a.len, a.cert, a.cert_len,
					LDG_RECORDS_VERIFIED, err, errlen);
			if (rc == TR_OK) {
				rc = ldg_head(nd->ledger, &nd->height, nd->head);
				nd->committed_records += nrec;
				TR_LOG(TR_LOG_DEBUG, "msg=\"committed block\" height=%llu records=%zu",
				       (unsigned long long)a.height, nrec);
			}
		}
		solo_action_free(&a);
	}
	return rc;
}

static int cut_block(node *nd)
{
	const tr_params *p = &nd->c->params;
	size_t k = 0, bytes = 0;
	const uint8_t **recs;
	size_t *lens;
	uint8_t *block = NULL, hash[TR_HASH_LEN];
	size_t blen;
	char err[512];
	int rc;

	while (k < nd->mp_count && k < p->block_max_records) {
		mp_entry *e = &nd->mp[(nd->mp_head + k) % NODE_MEMPOOL_RECORDS_MAX];
		if (k > 0 && bytes + e->len > p->block_max_bytes)
			break;
		bytes += e->len;
		k++;
	}
	recs = malloc(k * sizeof(*recs));
	lens = malloc(k * sizeof(*lens));
	if (!recs || !lens) {
		free(recs);
		free(lens);
		return TR_ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		mp_entry *e = &nd->mp[(nd->mp_head + i) % NODE_MEMPOOL_RECORDS_MAX];
		recs[i] = e->rec;
		lens[i] = e->len;
	}
	rc = ldg_block_build(nd->c->chain_id, nd->height + 1, nd->head, nd->seq.view, nd->self,
			     tr_wall_ms(), recs, lens, k, &block, &blen, hash);
	free(recs);
	free(lens);
	if (rc == TR_OK) {
		rc = solo_propose(&nd->seq, nd->height + 1, block, blen, hash);
		if (rc)
			free(block);
	}
	if (rc == TR_OK)
		rc = run_actions(nd, k, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "cannot build block %llu: %s",
			 (unsigned long long)(nd->height + 1), tr_strerror(rc));
	if (rc) {
		TR_LOG(TR_LOG_ERROR, "msg=\"block not committed\" height=%llu reason=\"%s\"",
		       (unsigned long long)(nd->height + 1), err);
		mempool_pop(nd, k, false, 0, rc, err);
		return rc;
	}
	mempool_pop(nd, k, true, nd->height, 0, NULL);
	return TR_OK;
}

/* ==== Startup and the loop ==== */

static int api_start(node *nd, char *err, size_t errlen)
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

static void api_stop(node *nd)
{
	if (nd->sock_open)
		nng_close(nd->sock);
	for (size_t i = 0; i < nd->nctx; i++) {
		nng_aio_stop(nd->ctxs[i].aio);
		nng_aio_free(nd->ctxs[i].aio);
	}
	nd->nctx = 0;
	nd->sock_open = false;
}

static int home_open(node *nd, char *err, size_t errlen)
{
	const char *home = nd->opt->home;
	char path[600];
	int rc, idx;

	if (node_home_path(path, sizeof(path), home, "trellisd.lock"))
		goto toolong;
	nd->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (nd->lock_fd < 0) {
		snprintf(err, errlen, "cannot open home '%s': %s", home, strerror(errno));
		return TR_EIO;
	}
	if (flock(nd->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "another trellisd is running on home '%s'", home);
		return TR_ESTATE;
	}
	if (node_home_path(path, sizeof(path), home, "key"))
		goto toolong;
	rc = tr_key_load(path, &nd->key, err, errlen);
	if (rc)
		return rc;
	if (node_home_path(path, sizeof(path), home, "consortium.json"))
		goto toolong;
	rc = tr_consortium_load(path, &nd->c, err, errlen);
	if (rc)
		return rc;
	idx = tr_consortium_find_key(nd->c, tr_key_public(nd->key));
	if (idx < 0) {
		snprintf(err, errlen, "the key of home '%s' is not a partner in '%s'", home, path);
		return TR_EINVAL;
	}
	nd->self = (uint32_t)idx;
	if (nd->c->partners[idx].alg != tr_key_alg(nd->key)) {
		snprintf(err, errlen, "the key of home '%s' is %s, the consortium says %s", home,
			 tr_alg_name(tr_key_alg(nd->key)), tr_alg_name(nd->c->partners[idx].alg));
		return TR_EINVAL;
	}
	tr_log_set_node(nd->c->partners[idx].name);
	if (nd->c->n != 1) {
		snprintf(err, errlen,
			 "'%s' lists %u partners: this trellisd runs one-partner networks only (the multi-partner network is not built yet)",
			 path, nd->c->n);
		return TR_ESTATE;
	}
	if (node_home_path(path, sizeof(path), home, "data"))
		goto toolong;
	{
		ldg_options lo = {.map_size = nd->opt->map_size, .readonly = false};
		rc = ldg_open(path, nd->c, &lo, &nd->ledger, err, errlen);
		if (rc)
			return rc;
	}
	rc = ldg_head(nd->ledger, &nd->height, nd->head);
	if (rc) {
		snprintf(err, errlen, "cannot read the head of '%s'", path);
		return rc;
	}
	rc = solo_init(&nd->seq, nd->c, nd->key);
	if (rc) {
		snprintf(err, errlen, "cannot start the sequencer");
		return rc;
	}
	if (nd->opt->api_url)
		snprintf(nd->api_url, sizeof(nd->api_url), "%s", nd->opt->api_url);
	else if (snprintf(nd->api_url, sizeof(nd->api_url), "ipc://%s/api.sock", home) >=
		 (int)sizeof(nd->api_url))
		goto toolong;
	return TR_OK;
toolong:
	snprintf(err, errlen, "home path too long: '%s'", home);
	return TR_ETOOBIG;
}

static void node_free(node *nd)
{
	job *j, *next;
	api_stop(nd);
	for (j = nd->jobs_head; j; j = next) {
		next = j->next;
		job_free(j);
	}
	/* abandon waiting clients: free the mempool's waiters and requests */
	while (nd->mp && nd->mp_count) {
		mp_entry *e = &nd->mp[nd->mp_head];
		waiter *w = e->w;
		if (--w->remaining == 0) {
			free(w->ids);
			free(w->heights);
			free(w->positions);
			free(w);
		}
		if (e->owner)
			trellis__api_request__free_unpacked(e->owner, NULL);
		nd->mp_head = (nd->mp_head + 1) % NODE_MEMPOOL_RECORDS_MAX;
		nd->mp_count--;
	}
	solo_fini(&nd->seq);
	ldg_close(nd->ledger);
	tr_consortium_free(nd->c);
	tr_key_free(nd->key);
	free(nd->mp);
	free(nd->set);
	free(nd->set_used);
	if (nd->lock_fd >= 0)
		close(nd->lock_fd);
	pthread_cond_destroy(&nd->cv);
	pthread_mutex_destroy(&nd->mu);
}

int node_run(const node_options *o, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	node nd;
	pthread_condattr_t ca;
	char hex[2 * TR_HASH_LEN + 1];
	int rc;

	memset(&nd, 0, sizeof(nd));
	nd.opt = o;
	nd.lock_fd = -1;
	pthread_mutex_init(&nd.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nd.cv, &ca);
	pthread_condattr_destroy(&ca);

	nd.set_cap = 1;
	while (nd.set_cap < 2 * NODE_MEMPOOL_RECORDS_MAX)
		nd.set_cap <<= 1;
	nd.mp = calloc(NODE_MEMPOOL_RECORDS_MAX, sizeof(*nd.mp));
	nd.set = calloc(nd.set_cap, TR_HASH_LEN);
	nd.set_used = calloc(nd.set_cap, 1);
	if (!nd.mp || !nd.set || !nd.set_used) {
		snprintf(err, errlen, "out of memory");
		rc = TR_ENOMEM;
		goto out;
	}
	rc = home_open(&nd, err, errlen);
	if (rc)
		goto out;
	rc = api_start(&nd, err, errlen);
	if (rc)
		goto out;
	TR_LOG(TR_LOG_INFO, "msg=\"node started\" api=%s partners=%u f=%u height=%llu head=%s",
	       nd.api_url, nd.c->n, nd.c->f, (unsigned long long)nd.height,
	       tr_hex(hex, nd.head, TR_HASH_LEN));

	while (!*stop) {
		job *jobs;
		struct timespec ts;
		pthread_mutex_lock(&nd.mu);
		if (!nd.jobs_head && nd.mp_count == 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += 50 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&nd.cv, &nd.mu, &ts);
		}
		jobs = nd.jobs_head;
		nd.jobs_head = nd.jobs_tail = NULL;
		pthread_mutex_unlock(&nd.mu);
		while (jobs) {
			job *j = jobs;
			jobs = j->next;
			if (j->req->body_case == TRELLIS__API_REQUEST__BODY_STATUS)
				do_status(&nd, j);
			else
				do_submit(&nd, j);
		}
		if (nd.mp_count > 0)
			(void)cut_block(&nd);
	}
	TR_LOG(TR_LOG_INFO, "msg=\"node stopping\" height=%llu committed_records=%llu",
	       (unsigned long long)nd.height, (unsigned long long)nd.committed_records);
	rc = TR_OK;
out:
	node_free(&nd);
	return rc;
}
