/*
 * check.c: the record checkers, and the per-peer bound on queued work.
 *
 * Checking a record's signature is the costly part of taking it in
 * (~70 us for Ed25519 here), so it runs neither in NNG's callbacks nor on
 * the link's receive thread:
 *   - an API callback runs on one of NNG's few task threads (2 per core in
 *     NNG 1.5); checking a 100,000-record submit there would hold one for
 *     seconds, and a handful of such submits would stall every socket of
 *     the process, the partner links included;
 *   - the link's receive thread also carries consensus messages, which
 *     must not wait behind a large gossip batch.
 * So the callback and the receive thread only queue the job here, and
 * the checker threads (one per core, at most NODE_CHECKERS_MAX) check it
 * and hand it to the node thread (node_job_push), or answer the client /
 * drop the gossip with its reason.
 *
 * Order per partner. Every frame of a partner but its votes passes
 * through here, its other consensus messages too (they need no check), in
 * one FIFO per partner, and at most one checker works on a partner at a
 * time: the node thread sees each partner's frames in the order they were
 * sent. That matters: a PRE-PREPARE follows the gossip of its records, and
 * a replica that already holds those records checked skips their
 * signatures when it validates the block on its one thread. PREPARE and
 * COMMIT votes (pbft_wire_is_vote) go straight to the node thread: behind
 * a partner's gossip under load they waited hundreds of milliseconds and
 * held every block's commit back, and PBFT takes votes in any order.
 * Partners are served round-robin, client submits (their own FIFO)
 * between them, NODE_CHECK_SLICE records of a submit per turn. Bounds:
 * API jobs are at most NODE_API_CONTEXTS (one per context); peer jobs are
 * charged to their peer, in bytes, from the moment
 * the link hands them over until the node thread takes them
 * (node_peer_charge). Past half of NODE_PEER_QUEUE_BYTES_MAX the link
 * holds the partner's gossip back (node.c on_peer_hold: it sends only
 * consensus frames and heights; the batch it may still have in flight is
 * at most P2P_FRAME_MAX); past all of it the frame is dropped, counted
 * and logged, so one partner cannot fill this node's memory, and the
 * others' frames still get in. PBFT retransmits what is dropped; a dropped gossip
 * batch is re-sent to the primary by the node it was submitted to
 * (regossip).
 */
#include "node/node_internal.h"

#include "proto/link.pb-c.h"

#include <string.h>
#include <unistd.h>

size_t node_job_cost(const job *j)
{
	return sizeof(*j) + j->len;
}

bool node_peer_charge(node *nd, job *j)
{
	size_t cost = node_job_cost(j);
	uint64_t dropped;
	size_t queued;
	TR_ASSERT(j->peer < TR_PARTNERS_MAX);
	pthread_mutex_lock(&nd->mu);
	queued = nd->peer_bytes[j->peer];
	if (queued + cost <= NODE_PEER_QUEUE_BYTES_MAX && nd->peer_jobs[j->peer] < NODE_PEER_JOBS_MAX &&
	    nd->jobs_count < NODE_JOBS_MAX) {
		nd->peer_bytes[j->peer] = queued + cost;
		nd->peer_jobs[j->peer]++;
		j->charged = cost;
		pthread_mutex_unlock(&nd->mu);
		return true;
	}
	dropped = ++nd->peer_dropped[j->peer];
	pthread_mutex_unlock(&nd->mu);
	if (dropped == 1 || dropped % 1000 == 0) /* bounded logging under a flood */
		TR_LOG(TR_LOG_WARN,
		       "msg=\"peer queue full: dropped a frame\" peer=%s kind=%d bytes=%zu queued_bytes=%zu dropped=%llu",
		       nd->c->partners[j->peer].name, j->kind, j->len, queued,
		       (unsigned long long)dropped);
	return false;
}

void node_peer_uncharge(node *nd, job *j)
{
	if (!j->charged)
		return;
	TR_ASSERT(nd->peer_bytes[j->peer] >= j->charged && nd->peer_jobs[j->peer] > 0);
	nd->peer_bytes[j->peer] -= j->charged;
	nd->peer_jobs[j->peer]--;
	j->charged = 0;
}

void node_peer_release(node *nd, job *j)
{
	if (!j->charged)
		return;
	pthread_mutex_lock(&nd->mu);
	node_peer_uncharge(nd, j);
	pthread_mutex_unlock(&nd->mu);
}

/* ==== Checking ==== */

/* Pack the gossip frames of the submit's checked records: each full
 * frame (NODE_GOSSIP_FRAME_BYTES) as soon as its records are checked, the
 * rest with the last slice. Packing a 50,000-record submit (~57 MB, most
 * of it first touches of fresh memory) was ~40% of the node thread's time
 * taking it in, during which it neither voted nor committed; here it runs
 * beside the other checks, and the node thread only sends the frames (if
 * it takes the submit; a refused one's are freed). */
void node_check_pack(job *j)
{
	const Trellis__SubmitRequest *sub = j->req->submit;
	size_t n = sub->n_records;
	while (!j->frames_failed && j->packed_n < j->checked_n) {
		size_t end = node_gossip_frame_end(sub->records, j->packed_n, j->checked_n);
		p2p_buf *b;
		if (end == j->checked_n && j->checked_n < n)
			break; /* the frame may take records of the next slice */
		if (j->nframes == j->frames_cap) {
			size_t cap = j->frames_cap ? 2 * j->frames_cap : 4;
			p2p_buf **f = realloc(j->frames, cap * sizeof(*f));
			if (!f) {
				j->frames_failed = true;
				break;
			}
			j->frames = f;
			j->frames_cap = cap;
		}
		if (!(b = node_gossip_pack(sub->records + j->packed_n, end - j->packed_n, false))) {
			j->frames_failed = true;
			break;
		}
		j->frames[j->nframes++] = b;
		j->packed_n = end;
	}
}

/* A client's submit, NODE_CHECK_SLICE records at a time: when more are
 * left, the job goes back to the end of the clients' FIFO, so partners'
 * frames and other submits get a checker between slices (a 100,000-record
 * submit held one for ~7 s). When all are checked the job goes to the
 * node thread; at the first bad record the client is answered. */
static void check_submit(node *nd, job *j)
{
	const Trellis__SubmitRequest *sub = j->req->submit;
	size_t n = sub->n_records, to;
	char why[384];
	int rc = j->ids ? TR_OK : node_check_count(n, &j->ids, why, sizeof(why));
	if (!rc) {
		to = n - j->checked_n > NODE_CHECK_SLICE ? j->checked_n + NODE_CHECK_SLICE : n;
		rc = node_check_range(nd->c, nd->checked, sub->records, j->checked_n, to, j->ids,
				      why, sizeof(why));
		j->checked_n = to;
	}
	if (rc) {
		TR_LOG(TR_LOG_WARN, "msg=\"rejected submit\" reason=\"%s\"", why);
		api_reply_error(j->ctx, rc, why);
		node_job_free(j);
		return;
	}
	if (nd->c->n > 1)
		node_check_pack(j);
	if (j->checked_n < n) {
		node_check_push(nd, j);
		return;
	}
	j->nrec = n;
	node_job_push(nd, j);
}

bool node_again_fits(const tr_params *p, size_t len, size_t nrec)
{
	/* regossip() sends records up to block_max_bytes (the first always,
	 * at most record_max_bytes), each framed by a tag and a length of at
	 * most 6 bytes, and the again flag */
	return nrec <= NODE_REGOSSIP_RECORDS_MAX &&
	       len <= (size_t)p->block_max_bytes + p->record_max_bytes +
			      6 * (size_t)NODE_REGOSSIP_RECORDS_MAX + 16;
}

/* A partner's gossip (j->bytes, a link.Gossip): checked records go into
 * j->recs; the raw bytes are freed. */
static void check_gossip(node *nd, job *j)
{
	/* bounded, and unknown fields refused, before protobuf-c allocates
	 * an entry for each */
	long nrec = tr_pb_count_field(j->bytes, j->len, 1, TR_PB_FIELD(1) | TR_PB_FIELD(2), 0);
	Link__Gossip *g = nrec > 0 && nrec <= NODE_REQUEST_RECORDS_MAX
				  ? link__gossip__unpack(NULL, j->len, j->bytes)
				  : NULL;
	char why[384] = "malformed or unknown fields";
	/* a re-send is at most what regossip() sends, in records and bytes
	 * (a partner could mark 24 MiB frames so, and their unpacking and
	 * hashing would hold the node thread); a larger one is checked here
	 * like any gossip, not on the node thread */
	if (g && !g->base.n_unknown_fields && g->again &&
	    node_again_fits(&nd->c->params, j->len, g->n_records)) {
		/* the node thread drops what it holds, and sends the rest back
		 * here as plain gossip */
		link__gossip__free_unpacked(g, NULL);
		j->again = true;
		node_job_push(nd, j);
		return;
	}
	if (!g || g->base.n_unknown_fields ||
	    node_check_records(nd->c, nd->checked, g->records, g->n_records, &j->ids, why,
			       sizeof(why)) != TR_OK) {
		if (!g && nrec > NODE_REQUEST_RECORDS_MAX)
			snprintf(why, sizeof(why), "%ld records, over %d", nrec,
				 NODE_REQUEST_RECORDS_MAX);
		else if (!g)
			snprintf(why, sizeof(why), "malformed");
		TR_LOG(TR_LOG_WARN, "msg=\"dropped gossip\" peer=%s reason=\"%s\"",
		       nd->c->partners[j->peer].name, why);
		goto drop;
	}
	j->nrec = g->n_records;
	j->recs = calloc(j->nrec, sizeof(*j->recs));
	j->lens = calloc(j->nrec, sizeof(*j->lens));
	if (!j->recs || !j->lens)
		goto drop;
	for (size_t i = 0; i < j->nrec; i++) {
		/* taken from the unpacked message, not copied: protobuf-c
		 * allocated each record apart (malloc, the default allocator)
		 * and frees only those left; an empty one has no buffer */
		if (!(j->recs[i] = g->records[i].data) && !(j->recs[i] = malloc(1)))
			goto drop;
		j->lens[i] = g->records[i].len;
		g->records[i].data = NULL;
		g->records[i].len = 0;
	}
	link__gossip__free_unpacked(g, NULL);
	free(j->bytes);
	j->bytes = NULL;
	node_job_push(nd, j);
	return;
drop:
	if (g)
		link__gossip__free_unpacked(g, NULL);
	node_peer_release(nd, j);
	node_job_free(j);
}

static job *lane_pop(node *nd, size_t i)
{
	check_fifo *q = &nd->checks[i];
	job *j = q->head;
	q->head = j->next;
	if (!q->head)
		q->tail = NULL;
	if (j->kind == JOB_CONSENSUS)
		q->consensus--;
	if (i < nd->c->n)
		q->busy = true; /* one checker per partner: keeps its order */
	j->next = NULL;
	return j;
}

/* The next job to work on (check_mu held), or NULL: the head of the next
 * partner FIFO (round-robin) that no other checker is working on, else a
 * client submit. Every other pop first serves a partner whose FIFO holds
 * a consensus frame (a PRE-PREPARE behind that partner's gossip), so the
 * block reaches the node thread sooner; the pops between stay round-robin,
 * so a partner sending consensus frames gets at most half of the
 * checkers' turns. Sets *lane to the FIFO it came from. */
static job *check_pop(node *nd, size_t *lane)
{
	size_t nl = (size_t)nd->c->n + 1; /* partners, then clients */
	if (!nd->check_urgent_last) {
		for (size_t k = 0; k + 1 < nl; k++) {
			size_t i = (nd->check_next + k) % nl;
			if (i >= nd->c->n || !nd->checks[i].head || nd->checks[i].busy ||
			    !nd->checks[i].consensus)
				continue;
			nd->check_urgent_last = true;
			*lane = i;
			return lane_pop(nd, i);
		}
	}
	for (size_t k = 0; k < nl; k++) {
		size_t i = (nd->check_next + k) % nl;
		if (!nd->checks[i].head || nd->checks[i].busy)
			continue;
		nd->check_next = (i + 1) % nl;
		nd->check_urgent_last = false;
		*lane = i;
		return lane_pop(nd, i);
	}
	return NULL;
}

static void *checker_main(void *arg)
{
	node *nd = arg;
	tr_thread_name("tr-check");
	for (;;) {
		job *j = NULL;
		size_t lane = 0;
		pthread_mutex_lock(&nd->check_mu);
		while (!nd->check_stop && !(j = check_pop(nd, &lane)))
			pthread_cond_wait(&nd->check_cv, &nd->check_mu);
		if (nd->check_stop) {
			pthread_mutex_unlock(&nd->check_mu);
			return NULL;
		}
		pthread_mutex_unlock(&nd->check_mu);
		if (j->kind == JOB_API)
			check_submit(nd, j);
		else if (j->kind == JOB_GOSSIP)
			check_gossip(nd, j);
		else
			node_job_push(nd, j); /* nothing to check; keeps its place */
		pthread_mutex_lock(&nd->check_mu);
		nd->checks[lane].busy = false;
		if (nd->checks[lane].head) /* the partner's next frame may go */
			pthread_cond_signal(&nd->check_cv);
		pthread_mutex_unlock(&nd->check_mu);
	}
}

void node_check_push(node *nd, job *j)
{
	check_fifo *q;
	TR_ASSERT(j->kind == JOB_API || j->peer < nd->c->n);
	j->next = NULL;
	pthread_mutex_lock(&nd->check_mu);
	q = &nd->checks[j->kind == JOB_API ? nd->c->n : j->peer];
	if (j->kind == JOB_CONSENSUS)
		q->consensus++;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&nd->check_cv);
	pthread_mutex_unlock(&nd->check_mu);
}

int node_checkers_start(node *nd, char *err, size_t errlen)
{
	long cores = nd->checkers_want ? (long)nd->checkers_want : sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = cores < 1 ? 1 : cores > NODE_CHECKERS_MAX ? NODE_CHECKERS_MAX : (size_t)cores;
	for (size_t i = 0; i < want; i++) {
		if (pthread_create(&nd->checkers[i], NULL, checker_main, nd) != 0) {
			snprintf(err, errlen, "cannot start the record checkers");
			return TR_EIO;
		}
		nd->ncheckers++;
	}
	return TR_OK;
}

void node_checkers_stop(node *nd)
{
	pthread_mutex_lock(&nd->check_mu);
	nd->check_stop = true;
	pthread_cond_broadcast(&nd->check_cv);
	pthread_mutex_unlock(&nd->check_mu);
	for (size_t i = 0; i < nd->ncheckers; i++)
		pthread_join(nd->checkers[i], NULL);
	nd->ncheckers = 0;
}

void node_checks_free(node *nd)
{
	for (size_t i = 0; i <= TR_PARTNERS_MAX; i++) {
		job *j = nd->checks[i].head, *next;
		for (; j; j = next) {
			next = j->next;
			node_job_free(j);
		}
		nd->checks[i].head = nd->checks[i].tail = NULL;
		nd->checks[i].consensus = 0;
	}
}
