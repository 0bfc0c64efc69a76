/*
 * node.c: trellisd's loop: it wires the client API, the partner links,
 * the PBFT replica and the ledger together.
 *
 * Threads. NNG's workers run the API callbacks (api.c) and the link has a
 * receive thread (p2p/link.c); both only decode and queue. The record
 * checkers (check.c) check signatures and pass jobs on. The node thread
 * owns everything else: the ledger, the mempool, consensus, and the
 * replies. The two job queues (mutex + condition variable each) and the
 * per-peer byte counts are the only shared state.
 *
 * The node thread, each turn (STYLE.md rule 14):
 *   1. takes the queued jobs: status requests are answered; submits are
 *      de-duplicated (ledger and mempool) and enter the mempool whole or
 *      are refused whole, then are gossiped once to every partner; gossip
 *      from partners enters the mempool; consensus messages go to
 *      pbft_step();
 *   2. every NODE_TICK_MS, pbft_tick();
 *   3. when this replica is the primary with nothing in flight and the
 *      mempool holds records, it cuts a block and pbft_propose()s it;
 *   4. after every consensus call it carries out the actions in order:
 *      PERSIST (durable), then SEND / BROADCAST / FETCH, COMMIT (block +
 *      certificate + indexes in one durable LMDB transaction, then the
 *      clients whose records are all committed are answered), SERVE.
 * A client is never answered before its record is durable.
 */
#include "node/node_internal.h"

#include "consensus/pbft_wire.h"
#include "ledger/query.h"
#include "proto/link.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define NODE_TICK_MS 50

int node_home_path(char *out, size_t outlen, const char *home, const char *file)
{
	int n = snprintf(out, outlen, "%s/%s", home, file);
	return n < 0 || (size_t)n >= outlen ? TR_ETOOBIG : TR_OK;
}

/* ==== Jobs ==== */

void node_job_free(job *j)
{
	if (j->req)
		pbft_wire_free(&j->req->base);
	free(j->bytes);
	for (size_t i = 0; j->recs && i < j->nrec; i++)
		free(j->recs[i]);
	free(j->recs);
	free(j->lens);
	free(j->ids);
	for (size_t i = 0; i < j->nframes; i++)
		p2p_buf_free(j->frames[i]);
	free(j->frames);
	free(j);
}

static size_t job_source(const job *j)
{
	return j->kind == JOB_API ? TR_PARTNERS_MAX : j->peer;
}

void node_job_push(node *nd, job *j)
{
	size_t src = job_source(j);
	TR_ASSERT(src < NODE_SOURCES);
	pthread_mutex_lock(&nd->mu);
	j->next = NULL;
	j->seq = ++nd->jobs_pushed;
	if (nd->jobs[src].tail)
		nd->jobs[src].tail->next = j;
	else
		nd->jobs[src].head = j;
	nd->jobs[src].tail = j;
	nd->jobs_count++;
	pthread_cond_signal(&nd->cv);
	pthread_mutex_unlock(&nd->mu);
}

bool node_jobs_queued(const node *nd)
{
	return nd->jobs_count > 0;
}

job *node_jobs_take(node *nd)
{
	job *head = NULL, **tail = &head;
	size_t taken = 0;
	for (bool more = true; more; taken++) {
		more = false;
		for (size_t src = 0; src < NODE_SOURCES && taken < NODE_TURN_JOBS; src++) {
			job *j = nd->jobs[src].head;
			if (!j)
				continue;
			nd->jobs[src].head = j->next;
			if (!j->next)
				nd->jobs[src].tail = NULL;
			j->next = NULL;
			*tail = j;
			tail = &j->next;
			nd->jobs_count--;
			more = true;
			node_peer_uncharge(nd, j); /* taken: no longer queued */
		}
	}
	return head;
}

/* Link receive thread: copy and queue what a partner sent, charged to
 * that partner, through the checkers (check.c: they check gossip and keep
 * each partner's order). */
static void on_peer_frame(void *ctx, uint32_t peer, uint32_t kind, const uint8_t *payload,
			  size_t len)
{
	node *nd = ctx;
	job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->peer = peer;
	if (kind == P2P_KIND_HEIGHT) {
		if (len != 8) {
			free(j);
			return;
		}
		j->kind = JOB_HEIGHT;
		j->height = tr_be64_get(payload);
	} else {
		j->kind = kind == P2P_KIND_CONSENSUS ? JOB_CONSENSUS : JOB_GOSSIP;
		j->len = len;
	}
	if (!node_peer_charge(nd, j)) {
		node_job_free(j);
		return;
	}
	if (j->kind != JOB_HEIGHT) {
		j->bytes = malloc(len ? len : 1);
		if (!j->bytes) {
			node_peer_release(nd, j);
			node_job_free(j);
			return;
		}
		memcpy(j->bytes, payload, len);
	}
	if (j->kind == JOB_CONSENSUS && pbft_wire_is_vote(j->bytes, j->len))
		node_job_push(nd, j); /* votes need no order behind gossip (check.c) */
	else
		node_check_push(nd, j); /* in order behind this partner's gossip */
}

/* Link receive thread: hold partner peer's gossip back while half its
 * share of the queue is taken. A batch is at most P2P_FRAME_MAX, so what
 * it still has in flight fits the other half, and its gossip waits at its
 * end (its link queue, then TR_EFULL) instead of being dropped here; its
 * consensus frames still come. */
static bool on_peer_hold(void *ctx, uint32_t peer)
{
	node *nd = ctx;
	bool hold;
	pthread_mutex_lock(&nd->mu);
	hold = nd->peer_bytes[peer] > NODE_PEER_QUEUE_BYTES_MAX / 2;
	pthread_mutex_unlock(&nd->mu);
	return hold;
}

/* ==== Replies ==== */

static void waiter_free(waiter *w)
{
	free(w->ids);
	free(w->heights);
	free(w->positions);
	free(w);
}

static void waiter_finish(waiter *w)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	Trellis__SubmitResult *res = calloc(w->n, sizeof(*res));
	Trellis__SubmitResult **resp = calloc(w->n, sizeof(*resp));

	if (!res || !resp) {
		api_reply_error(w->ctx, TR_ENOMEM, "out of memory building the reply");
	} else {
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
		api_reply(w->ctx, &rep);
	}
	free(res);
	free(resp);
	waiter_free(w);
}

static void do_status(node *nd, job *j)
{
	Trellis__ApiReply rep = TRELLIS__API_REPLY__INIT;
	Trellis__StatusReply st = TRELLIS__STATUS_REPLY__INIT;
	Trellis__PeerStatus peers[TR_PARTNERS_MAX], *pp[TR_PARTNERS_MAX];
	uint8_t head[TR_HASH_LEN];

	pbft_head(nd->cons, head);
	st.node = nd->c->partners[nd->self].name;
	st.chain_id.data = nd->c->chain_id;
	st.chain_id.len = TR_HASH_LEN;
	st.height = pbft_height(nd->cons);
	st.head.data = head;
	st.head.len = TR_HASH_LEN;
	st.view = pbft_view(nd->cons);
	st.mode = (char *)(uintptr_t)pbft_mode_name(pbft_get_mode(nd->cons));
	st.mempool = (uint32_t)nd->mp.count;
	st.partners = nd->c->n;
	st.f = nd->c->f;
	for (uint32_t i = 0; i < nd->c->n; i++) {
		trellis__peer_status__init(&peers[i]);
		peers[i].name = nd->c->partners[i].name;
		peers[i].address = nd->c->partners[i].address;
		peers[i].state = (char *)(uintptr_t)(nd->link ? p2p_link_peer_state(nd->link, i)
							      : (i == nd->self ? "self" : "down"));
		pp[i] = &peers[i];
	}
	st.n_peers = nd->c->n;
	st.peers = pp;
	rep.status = &st;
	api_reply(j->ctx, &rep);
}

/* ==== Submits and gossip ==== */

p2p_buf *node_gossip_pack(const ProtobufCBinaryData *recs, size_t n, bool again)
{
	Link__Gossip g = LINK__GOSSIP__INIT;
	p2p_buf *buf;
	g.n_records = n;
	g.records = (ProtobufCBinaryData *)(uintptr_t)recs;
	g.again = again;
	buf = p2p_buf_new(link__gossip__get_packed_size(&g));
	if (buf)
		link__gossip__pack(&g, p2p_buf_data(buf));
	return buf;
}

size_t node_gossip_frame_end(const ProtobufCBinaryData *recs, size_t first, size_t n)
{
	size_t bytes = 0, i;
	for (i = first; i < n; i++) {
		size_t cost = recs[i].len + 16; /* field tag and length */
		if (i > first && bytes + cost > NODE_GOSSIP_FRAME_BYTES)
			break;
		bytes += cost;
	}
	return i;
}

static void kept_pop(node *nd)
{
	kept_frame *k = nd->kept_head;
	nd->kept_head = k->next;
	if (!nd->kept_head)
		nd->kept_tail = NULL;
	nd->kept_bytes -= p2p_buf_len(k->buf);
	p2p_link_buf_release(nd->link, k->buf);
	free(k);
}

/* One gossip frame (buf, taken) to the partners: queued for every partner
 * without a copy each. A partner whose queue is full (a submit larger
 * than its room) gets it later: the frame is kept and offered again as
 * the queue drains (gossip_feed). Before, it was lost for that partner,
 * and the primary got such records only by re-sends, 2,000 at a time. */
static void gossip_send(node *nd, p2p_buf *buf, uint32_t primary)
{
	uint64_t to = UINT64_MAX, full;
	kept_frame *k;
	size_t len;
	if (!buf)
		return;
	if (nd->test_gossip_only >= 0)
		to = (uint64_t)1 << nd->test_gossip_only;
	len = p2p_buf_len(buf);
	p2p_link_multicast_keep(nd->link, to, P2P_KIND_GOSSIP, buf, &full, false);
	if (full && nd->kept_bytes + len <= NODE_GOSSIP_KEPT_BYTES_MAX &&
	    (k = malloc(sizeof(*k)))) {
		*k = (kept_frame){.buf = buf, .peers = full, .since_ms = tr_mono_ms()};
		if (nd->kept_tail)
			nd->kept_tail->next = k;
		else
			nd->kept_head = k;
		nd->kept_tail = k;
		nd->kept_bytes += len;
		nd->gossip_kept++;
		return;
	}
	/* the primary's queue refusing it, not kept, is what regossip() acts on */
	if (full & ((uint64_t)1 << primary))
		nd->gossip_refused = true;
	p2p_link_buf_release(nd->link, buf);
}

/* Offer the kept frames again, oldest first, each to the partners still
 * to get it; stop at one whose partners' queues are still full (the
 * later ones would be refused too). A partner no longer reachable is
 * dropped from a frame (catch-up and the re-send serve it). A frame kept
 * for NODE_GOSSIP_KEPT_MS (a stalled link) is given up, and the re-send
 * takes over. */
static void gossip_feed(node *nd)
{
	uint64_t now, primary_bit;
	if (!nd->kept_head)
		return;
	now = tr_mono_ms();
	primary_bit = (uint64_t)1 << pbft_primary_of(nd->cons, pbft_view(nd->cons)).v;
	while (nd->kept_head) {
		kept_frame *k = nd->kept_head;
		uint64_t full;
		if (now - k->since_ms > NODE_GOSSIP_KEPT_MS) {
			if (k->peers & primary_bit)
				nd->gossip_refused = true;
			kept_pop(nd);
			continue;
		}
		if (p2p_link_multicast_keep(nd->link, k->peers, P2P_KIND_GOSSIP, k->buf, &full, true))
			nd->gossip_fed++;
		k->peers = full;
		if (k->peers)
			break;
		kept_pop(nd);
	}
}

/* A submit's records to the partners, in frames of at most
 * NODE_GOSSIP_FRAME_BYTES: a submit may be larger than a link frame
 * (P2P_FRAME_MAX), which the link would refuse whole. The checkers have
 * packed them already (j->frames) unless they ran out of memory. */
static void gossip(node *nd, job *j, const ProtobufCBinaryData *recs, size_t n)
{
	uint32_t primary;
	if (!nd->link || (nd->test_lose_gossip && nd->test_gossip_only < 0))
		return;
	primary = pbft_primary_of(nd->cons, pbft_view(nd->cons)).v;
	if (!j->frames_failed && j->packed_n == n) {
		for (size_t i = 0; i < j->nframes; i++) {
			gossip_send(nd, j->frames[i], primary);
			j->frames[i] = NULL;
		}
		j->nframes = 0;
		return;
	}
	for (size_t first = 0, end; first < n; first = end) {
		end = node_gossip_frame_end(recs, first, n);
		gossip_send(nd, node_gossip_pack(recs + first, end - first, false), primary);
	}
}

/* The smallest index whose event id already appeared earlier in ids; n
 * when all are distinct; SIZE_MAX when out of memory. */
static size_t first_repeat(const uint8_t (*ids)[TR_HASH_LEN], size_t n)
{
	ldg_dupkey *k = malloc((n ? n : 1) * sizeof(*k));
	size_t *first = malloc((n ? n : 1) * sizeof(*first));
	size_t repeat = k && first ? n : SIZE_MAX;
	if (k && first) {
		for (size_t i = 0; i < n; i++)
			k[i] = (ldg_dupkey){.key = ids[i], .len = TR_HASH_LEN, .idx = i};
		ldg_first_dups(k, n, first);
		for (size_t i = 0; i < n && repeat == n; i++)
			if (first[i] != SIZE_MAX)
				repeat = i;
	}
	free(k);
	free(first);
	return repeat;
}

/* Whose share of a block a checked record takes: its Record.signer (field
 * 2, read from the wire without unpacking the record). A checked record
 * has a partner there; anything else counts as partner 0's. */
static uint32_t record_signer(const node *nd, const uint8_t *rec, size_t len)
{
	uint64_t s;
	if (!tr_pb_varint_field(rec, len, 2, &s) || s >= nd->c->n)
		return 0;
	return (uint32_t)s;
}

/* The records of a submit that mempool entries adopted are theirs now:
 * taken out of the request (protobuf-c allocated each bytes field apart,
 * with malloc, and frees only those left), and adopted freed. */
static void disown(Trellis__SubmitRequest *s, bool *adopted)
{
	for (size_t i = 0; i < s->n_records; i++)
		if (adopted[i]) {
			s->records[i].data = NULL;
			s->records[i].len = 0;
		}
	free(adopted);
}

static void do_submit(node *nd, job *j)
{
	const Trellis__SubmitRequest *s = j->req->submit;
	char why[384], hex[2 * TR_HASH_LEN + 1];
	size_t add_n[TR_PARTNERS_MAX] = {0}, add_b[TR_PARTNERS_MAX] = {0};
	uint32_t who = 0;
	size_t repeat = first_repeat((const uint8_t(*)[TR_HASH_LEN])j->ids, s->n_records);
	waiter *w;
	bool *adopted;
	ldg_rule *rules = NULL; /* per record, once the rules passed */

	if (repeat == SIZE_MAX)
		goto nomem;

	for (size_t i = 0; i < s->n_records; i++) {
		uint64_t h;
		uint32_t p;
		bool dup = i == repeat;
		if (ldg_event_find(nd->ledger, j->ids[i], &h, &p) == TR_OK) {
			snprintf(why, sizeof(why),
				 "record %zu: duplicate event id %s (committed at height %llu position %u)",
				 i, tr_hex(hex, j->ids[i], TR_HASH_LEN), (unsigned long long)h, p);
			goto refuse;
		}
		if (dup) {
			snprintf(why, sizeof(why), "record %zu: duplicate event id %s (twice in one submit)",
				 i, tr_hex(hex, j->ids[i], TR_HASH_LEN));
			goto refuse;
		}
		{
			const mp_entry *pe = mp_find(&nd->mp, j->ids[i]);
			if (!pe) {
				uint32_t sg = record_signer(nd, s->records[i].data, s->records[i].len);
				add_n[sg]++;
				add_b[sg] += s->records[i].len;
			} else if (pe->len != s->records[i].len ||
				   memcmp(pe->rec, s->records[i].data, pe->len) != 0) {
				/* the same event is pending under another signature:
				 * this client's record is not the one that will commit */
				snprintf(why, sizeof(why),
					 "record %zu: duplicate event id %s (already pending, signed by another record)",
					 i, tr_hex(hex, j->ids[i], TR_HASH_LEN));
				goto refuse;
			}
		}
	}
	{
		const uint8_t **recs = malloc(s->n_records * sizeof(*recs));
		size_t *lens = malloc(s->n_records * sizeof(*lens));
		int rc = recs && lens ? TR_OK : TR_ENOMEM;
		rules = calloc(s->n_records, sizeof(*rules));
		if (!rules)
			rc = TR_ENOMEM;
		if (rc)
			snprintf(why, sizeof(why), "out of memory");
		for (size_t i = 0; rc == TR_OK && i < s->n_records; i++) {
			recs[i] = s->records[i].data;
			lens[i] = s->records[i].len;
		}
		if (rc == TR_OK)
			rc = ldg_events_admissible_keyed(nd->ledger, recs, lens, s->n_records, rules,
							 why, sizeof(why));
		free(recs);
		free(lens);
		if (rc) {
			TR_LOG(TR_LOG_INFO, "msg=\"rejected submit\" reason=\"%s\"", why);
			api_reply_error(j->ctx, rc, why);
			free(rules);
			return;
		}
	}
	/* A record with the rule key of another pending record (the same GS1
	 * event hash, or a second retraction of one event): at most one of
	 * them can commit, and this client's would wait for nothing. */
	for (size_t i = 0; i < s->n_records; i++) {
		const mp_entry *pe;
		if (!rules[i].has_key || mp_find(&nd->mp, j->ids[i]) ||
		    !(pe = mp_find_rule(&nd->mp, rules[i].key)))
			continue;
		snprintf(why, sizeof(why),
			 "record %zu: duplicate of pending event %s (same GS1 event hash, or both retract one event: at most one can commit)",
			 i, tr_hex(hex, pe->id, TR_HASH_LEN));
		goto refuse;
	}
	if (!mp_fits(&nd->mp, add_n, add_b, &who)) {
		snprintf(why, sizeof(why),
			 "node is busy: no mempool room for %zu more records signed by %s (%zu of at most %zu pending here are theirs; each partner keeps %zu for its own), retry later",
			 add_n[who], nd->c->partners[who].name, nd->mp.scount[who], nd->mp.max_records,
			 nd->mp.keep_records);
		TR_LOG(TR_LOG_WARN, "msg=\"mempool full\" signer=%s adding=%zu theirs=%zu records=%zu",
		       nd->c->partners[who].name, add_n[who], nd->mp.scount[who], nd->mp.count);
		api_reply_error(j->ctx, TR_ETOOBIG, why);
		free(rules);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->heights = calloc(s->n_records, sizeof(*w->heights));
	w->positions = calloc(s->n_records, sizeof(*w->positions));
	if (!w->heights || !w->positions) {
		waiter_free(w);
		goto nomem;
	}
	if (!(adopted = calloc(s->n_records, sizeof(*adopted)))) {
		waiter_free(w);
		goto nomem;
	}
	w->ctx = j->ctx;
	w->n = s->n_records;
	w->ids = j->ids;
	j->ids = NULL;
	for (size_t i = 0; i < s->n_records; i++) {
		/* a record already pending (gossip, or another client) gets one more waiter */
		mp_entry *e = mp_find(&nd->mp, w->ids[i]);
		if (!e) {
			/* the entry takes the request's own copy of the record (it
			 * stays in the request, for the gossip below, until disown) */
			e = mp_adopt(&nd->mp, w->ids[i], s->records[i].data, s->records[i].len,
				     record_signer(nd, s->records[i].data, s->records[i].len),
				     nd->self);
			adopted[i] = e != NULL;
			if (e && rules[i].has_key)
				mp_set_rule(&nd->mp, e, rules[i].key);
		}
		if (!e || mp_attach(e, w, i) != TR_OK) {
			/* out of memory half-way: the attached entries stay pending, and
			 * this client is told; its records may still commit */
			TR_LOG(TR_LOG_ERROR, "msg=\"out of memory adding a submit\"");
			disown(j->req->submit, adopted);
			w->ctx = NULL; /* answered here; attached entries keep w alive */
			if (w->remaining == 0) {
				waiter_free(w);
				goto nomem;
			}
			api_reply_late(j->ctx, TR_ENOMEM, "out of memory");
			free(rules);
			return;
		}
		w->remaining++;
	}
	gossip(nd, j, s->records, s->n_records);
	disown(j->req->submit, adopted);
	free(rules);
	return;
refuse:
	TR_LOG(TR_LOG_INFO, "msg=\"rejected submit\" reason=\"%s\"", why);
	api_reply_error(j->ctx, TR_EEXIST, why);
	free(rules);
	return;
nomem:
	api_reply_error(j->ctx, TR_ENOMEM, "out of memory");
	free(rules);
}

/* Records a partner forwarded (signature already checked by a checker).
 * Each record's own EPCIS rules are checked against the chain, and a
 * record whose rule key another pending record has is left out: only the
 * primary drops what breaks them (cut()), so a backup kept such records
 * (a partner's duplicate of a committed event, an event at another
 * partner's location, the second of two pending records with one GS1
 * event hash) until it became primary, with a view change each time its
 * timer ran out on them. The rules of records together (in one block) are
 * the primary's and every replica's when it validates a block. */
static void do_gossip(node *nd, job *j)
{
	size_t dropped = 0, broke = 0, n = 0;
	const uint8_t **recs = malloc((j->nrec ? j->nrec : 1) * sizeof(*recs));
	size_t *lens = malloc((j->nrec ? j->nrec : 1) * sizeof(*lens)),
	       *at = malloc((j->nrec ? j->nrec : 1) * sizeof(*at));
	ldg_rule *rules = calloc(j->nrec ? j->nrec : 1, sizeof(*rules));
	if (!recs || !lens || !at || !rules)
		goto out;
	for (size_t i = 0; i < j->nrec; i++) {
		if (mp_find(&nd->mp, j->ids[i]))
			continue;
		recs[n] = j->recs[i];
		lens[n] = j->lens[i];
		at[n++] = i;
	}
	if (n && ldg_records_rules(nd->ledger, recs, lens, n, rules) != TR_OK)
		goto out; /* out of memory, or the store failed: as if lost on the way */
	for (size_t r = 0; r < n; r++) {
		size_t i = at[r];
		mp_entry *e;
		uint64_t h;
		uint32_t p;
		if (mp_find(&nd->mp, j->ids[i]))
			continue; /* twice in this frame */
		/* A committed record's event hash is stored, so its rules fail
		 * (TR_EEXIST); only then (or for a record without an event hash
		 * key, which checked records do not have) is the events index
		 * asked whether it is this very record, skipped like a pending
		 * one: one lookup per record fewer in the common case. */
		if ((rules[r].rc == TR_EEXIST || !rules[r].has_key) &&
		    ldg_event_find(nd->ledger, j->ids[i], &h, &p) == TR_OK)
			continue;
		if (rules[r].rc != TR_OK ||
		    (rules[r].has_key && mp_find_rule(&nd->mp, rules[r].key))) {
			broke++;
			continue;
		}
		uint32_t sg = record_signer(nd, j->recs[i], j->lens[i]);
		if (!mp_fits_one(&nd->mp, sg, j->lens[i])) {
			/* past its signer's room; another signer's may still fit */
			if (!dropped++)
				TR_LOG(TR_LOG_WARN,
				       "msg=\"mempool full: gossip dropped\" peer=%s signer=%s",
				       nd->c->partners[j->peer].name, nd->c->partners[sg].name);
			continue;
		}
		if (!(e = mp_adopt(&nd->mp, j->ids[i], j->recs[i], j->lens[i], sg, j->peer)))
			goto out;
		j->recs[i] = NULL; /* the entry's now */
		if (rules[r].has_key)
			mp_set_rule(&nd->mp, e, rules[r].key);
	}
out:
	if (broke) {
		nd->gossip_ruled_out += broke;
		TR_LOG(TR_LOG_INFO,
		       "msg=\"gossip left out\" peer=%s records=%zu reason=\"EPCIS rules: committed or pending duplicate, or another partner's location\"",
		       nd->c->partners[j->peer].name, broke);
	}
	free(recs);
	free(lens);
	free(at);
	free(rules);
}

/* A partner's re-sent gossip (its regossip(); the checkers passed it on
 * unchecked): the records this node holds, pending or committed, are
 * dropped without the signature check (the usual case: they were only
 * slow to commit, and under load every backup re-sends thousands of
 * them); the rest go back through the checkers as plain gossip. */
static void do_gossip_again(node *nd, job *j)
{
	Link__Gossip *g = link__gossip__unpack(NULL, j->len, j->bytes);
	Link__Gossip rest = LINK__GOSSIP__INIT;
	job *k = NULL;
	if (!g)
		return;
	rest.records = malloc(g->n_records * sizeof(*rest.records));
	if (!rest.records)
		goto out;
	for (size_t i = 0; i < g->n_records; i++) {
		const ProtobufCBinaryData *r = &g->records[i];
		uint8_t id[TR_HASH_LEN];
		uint64_t h;
		uint32_t p;
		if (ldg_record_event_id(r->data, r->len, id) == TR_OK &&
		    (mp_find(&nd->mp, id) || ldg_event_find(nd->ledger, id, &h, &p) == TR_OK)) {
			nd->again_held++;
			continue;
		}
		rest.records[rest.n_records++] = *r;
	}
	if (rest.n_records == 0)
		goto out;
	if (!(k = calloc(1, sizeof(*k))))
		goto out;
	k->kind = JOB_GOSSIP;
	k->peer = j->peer;
	k->len = link__gossip__get_packed_size(&rest);
	if (!(k->bytes = malloc(k->len)))
		goto out;
	link__gossip__pack(&rest, k->bytes);
	if (node_peer_charge(nd, k)) {
		nd->again_checked += rest.n_records;
		node_check_push(nd, k);
		k = NULL;
	}
out:
	if (k)
		node_job_free(k);
	free(rest.records);
	link__gossip__free_unpacked(g, NULL);
}

/* Gossip is sent once, and it can be lost: the link refuses it when the
 * partner's queue is full (a partner slower than the load),
 * or the connection breaks with a batch in flight. A record whose gossip
 * was lost on the way to the primary would wait here until a view change
 * made this node primary, and a view change needs 2f+1 replicas with
 * pending records. So this node's clients' records (those with waiters)
 * pending half the view-change timeout since they were last sent go again,
 * oldest first and at most NODE_REGOSSIP_RECORDS_MAX per scan, to the
 * primary only: it is the one that must hold them, it gets them before
 * this node's view-change timer runs out, and the others are not loaded.
 * Records that reached this node by gossip go too, after three quarters
 * of the timeout: after their own node's re-send (unless it died before
 * its gossip reached the primary), and before this node's view-change
 * timer, which alone could not change the view. The primary drops the
 * copies it already holds before any check (do_gossip_again). */
/* Send the records in recs[0..n) to the primary pr as one gossip frame. */
static void regossip_send(node *nd, pbft_replica pr, ProtobufCBinaryData *recs, size_t n,
			  const char *why)
{
	if (n == 0)
		return;
	/* packed in place, as gossip(): p2p_link_send would copy it again */
	if (p2p_link_multicast(nd->link, (uint64_t)1 << pr.v, P2P_KIND_GOSSIP,
			       node_gossip_pack(recs, n, true), NULL)) {
		nd->regossiped += n;
		TR_LOG(TR_LOG_INFO,
		       "msg=\"pending records sent again to the primary\" peer=%s records=%zu why=%s",
		       nd->c->partners[pr.v].name, n, why);
	}
}

/* Add e to recs[n], unless the frame would pass block_max_bytes. */
static bool regossip_take(node *nd, ProtobufCBinaryData *recs, size_t *n, size_t *bytes,
			  const mp_entry *e)
{
	if (*n > 0 && *bytes + e->len > nd->c->params.block_max_bytes)
		return false;
	recs[*n].data = e->rec;
	recs[*n].len = e->len;
	*bytes += e->len;
	(*n)++;
	return true;
}

static void regossip(node *nd)
{
	uint64_t now = tr_mono_ms(), after = nd->c->params.view_change_timeout_ms / 2;
	uint64_t since = nd->regossip_check;
	pbft_replica pr;
	ProtobufCBinaryData *recs;
	size_t n = 0, bytes = 0;
	p2p_link_stats ls = {0};
	bool lost;
	nd->regossip_check = now;
	if (!nd->link || !nd->mp.head || nd->test_gossip_only >= 0)
		return;
	/* The primary's link queue refused a gossip frame (gossip()), or NNG
	 * discarded a message (none, by the link's flow control, but it is
	 * NNG's count): the loss is of a frame sent since the last call.
	 * Records this node's clients sent in that window go to the primary
	 * at once (the latency tail); older ones wait for the rule below. */
	p2p_link_get_stats(nd->link, &ls);
	lost = nd->gossip_refused || ls.tx_dropped != nd->lost_seen;
	nd->gossip_refused = false;
	nd->lost_seen = ls.tx_dropped;
	if (pbft_is_primary(nd->cons))
		return;
	pr = pbft_primary_of(nd->cons, pbft_view(nd->cons));
	recs = malloc(NODE_REGOSSIP_RECORDS_MAX * sizeof(*recs));
	if (!recs)
		return;
	if (lost) {
		for (mp_entry *e = nd->mp.tail; e && e->sent_ms >= since &&
						n < NODE_REGOSSIP_RECORDS_MAX; e = e->prev) {
			if (e->waiters && !regossip_take(nd, recs, &n, &bytes, e))
				break;
		}
		regossip_send(nd, pr, recs, n, "frame-lost");
		n = bytes = 0;
	}
	/* Records waiting half the view-change timeout since they were last
	 * sent (this node's clients'), or three quarters of it (the others),
	 * or due within a tick (a submit's records keep together), that the
	 * primary passed over or whose stream has stalled (mp_take_resend):
	 * under a bulk submit every node used to send the primary its whole
	 * backlog again and again (~400,000 records in one 100,000-record
	 * bench-bulk run), and the votes waited behind it. Four scans per half
	 * timeout. */
	if (now - nd->regossip_at >= after / 4) {
		mp_entry **due = malloc(NODE_REGOSSIP_RECORDS_MAX * sizeof(*due));
		size_t k = due ? mp_take_resend(&nd->mp, now + NODE_TICK_MS, after, after * 3 / 2,
						NODE_REGOSSIP_RECORDS_MAX,
						nd->c->params.block_max_bytes, due)
			       : 0;
		nd->regossip_at = now;
		for (size_t i = 0; i < k; i++) {
			(void)regossip_take(nd, recs, &n, &bytes, due[i]);
			due[i]->sent_ms = now;
		}
		free(due);
		regossip_send(nd, pr, recs, n, "waited");
	}
	free(recs);
}

/* ==== Consensus ==== */

/* Fault injection for tests/integration/t0370 (TRELLIS_TEST_LIE): what a
 * lying primary's proposals get wrong, in a block otherwise well formed
 * and signed. */
enum { LIE_NONE, LIE_SIGNATURE, LIE_DUPLICATE, LIE_REPLAY, LIE_CENSOR };
static const char *const lie_names[] = {"", "signature", "duplicate", "replay", "censor"};

static int validate_cb(void *ctx, const uint8_t *block, size_t len, uint64_t height,
		       const uint8_t prev_hash[TR_HASH_LEN])
{
	node *nd = ctx;
	char err[512];
	uint64_t t0 = tr_mono_ms();

	/* Our own proposal, byte for byte (not just its header: after a view
	 * change a faulty primary could pair our header with other records):
	 * built a moment ago from checked mempool records whose EPCIS rules
	 * cut() checked together against this same head. */
	if (nd->proposed && len == nd->proposed_len && memcmp(block, nd->proposed, len) == 0 &&
	    ldg_block_bytes_hash(block, len, nd->validated) == TR_OK) {
		nd->have_validated = true;
		return TR_OK;
	}
	/* records this node checked already (gossip, an earlier proposal)
	 * are found in nd->checked and not checked again; the rest are */
	int rc = ldg_check_block(nd->ledger, block, len, NULL, 0, 0, err, sizeof(err));
	(void)prev_hash;
	TR_LOG(TR_LOG_DEBUG, "msg=\"validated proposal\" height=%llu ms=%llu",
	       (unsigned long long)height, (unsigned long long)(tr_mono_ms() - t0));
	if (rc) {
		TR_LOG(TR_LOG_WARN, "msg=\"refused proposal\" height=%llu reason=\"%s\"",
		       (unsigned long long)height, err);
		return rc;
	}
	nd->have_validated = ldg_block_bytes_hash(block, len, nd->validated) == TR_OK;
	return TR_OK;
}

/* Committed records that were not pending here (committed(), below). */
typedef struct {
	const uint8_t **recs;
	size_t *lens, *pos, n, cap;
	bool failed; /* out of memory: some are missing */
} others;

static void others_add(others *o, const uint8_t *rec, size_t len, size_t pos)
{
	if (o->failed)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		const uint8_t **r = realloc(o->recs, cap * sizeof(*r));
		if (r)
			o->recs = r;
		size_t *l = r ? realloc(o->lens, cap * sizeof(*l)) : NULL;
		if (l)
			o->lens = l;
		size_t *ps = l ? realloc(o->pos, cap * sizeof(*ps)) : NULL;
		if (!ps) {
			o->failed = true;
			return;
		}
		o->pos = ps;
		o->cap = cap;
	}
	o->recs[o->n] = rec;
	o->lens[o->n] = len;
	o->pos[o->n++] = pos;
}

static void drop_entry(node *nd, mp_entry *e, int code, const char *why);

/* A record pending here whose rule key one of the block's records has
 * (the same GS1 event hash under other bytes, or a second retraction of
 * one event) can never commit now: drop it on every node, telling its
 * clients, as the primary's cut() would. Before, only the primary did,
 * so backups kept it, reported work pending, and changed view. The
 * records pending here are the usual case and were removed above (each
 * key is pending at most once); only the others are opened here. */
static void drop_ruled_out(node *nd, others *o, uint64_t height)
{
	ldg_rule *rules = NULL;
	if (o->failed)
		TR_LOG(TR_LOG_ERROR, "msg=\"out of memory: pending duplicates of block %llu not looked for\"",
		       (unsigned long long)height);
	if (o->n && nd->mp.count && (rules = calloc(o->n, sizeof(*rules))) &&
	    ldg_records_rules(nd->ledger, o->recs, o->lens, o->n, rules) == TR_OK) {
		for (size_t k = 0; k < o->n; k++) {
			mp_entry *e;
			uint8_t id[TR_HASH_LEN];
			char why[300], hex[2 * TR_HASH_LEN + 1];
			if (!rules[k].has_key || !(e = mp_find_rule(&nd->mp, rules[k].key)) ||
			    ldg_record_event_id(o->recs[k], o->lens[k], id) != TR_OK)
				continue;
			snprintf(why, sizeof(why),
				 "duplicate of event %s committed at height %llu position %zu (same GS1 event hash, or both retract one event)",
				 tr_hex(hex, id, TR_HASH_LEN), (unsigned long long)height, o->pos[k]);
			drop_entry(nd, e, TR_EEXIST, why);
			nd->dup_dropped++;
		}
	}
	free(rules);
	free(o->recs);
	free(o->lens);
	free(o->pos);
}

/* The block at height is durable: drop its records from the mempool and
 * answer the clients whose records are now all committed, and the
 * pending records that can no longer commit (drop_ruled_out). */
static void committed(node *nd, uint64_t height, const uint8_t *block, size_t len)
{
	const uint8_t *p = block, *end = block + len, *rec;
	size_t i, rlen, nids = 0;
	uint64_t now = tr_mono_ms();
	others o = {0};
	/* the ids the append computed (no SHA-256 here) */
	const uint8_t(*ids)[TR_HASH_LEN] = ldg_appended_ids(nd->ledger, height, &nids);
	/* the block's records read in place (it passed ldg_append) */
	for (i = 0; ldg_block_record_next(&p, end, &rec, &rlen) == TR_OK; i++) {
		uint8_t id[TR_HASH_LEN];
		wref *r;
		mp_entry *e;
		bool same;
		if (ids && i < nids)
			memcpy(id, ids[i], TR_HASH_LEN);
		else if (ldg_record_event_id(rec, rlen, id) != TR_OK)
			continue;
		if (!(e = mp_find(&nd->mp, id))) {
			others_add(&o, rec, rlen, i);
			continue;
		}
		/* the very bytes pending here, or the same event from another
		 * partner's record */
		same = mp_find_exact(&nd->mp, id, rec, rlen) == e;
		mp_committed(&nd->mp, e, now);
		nd->starve_from[e->signer] = height;
		mp_remove(&nd->mp, e, &r);
		while (r) {
			wref *next = r->next;
			waiter *w = r->w;
			w->heights[r->idx] = height;
			w->positions[r->idx] = (uint32_t)i;
			if (!same && w->ctx) {
				/* the same event committed, but from another partner's record */
				char msg[300], hex[2 * TR_HASH_LEN + 1];
				snprintf(msg, sizeof(msg),
					 "record %zu: duplicate event id %s (committed at height %llu position %zu from another partner's record)",
					 r->idx, tr_hex(hex, id, TR_HASH_LEN), (unsigned long long)height, i);
				api_reply_late(w->ctx, TR_EEXIST, msg);
				w->ctx = NULL;
			}
			if (--w->remaining == 0) {
				if (w->ctx)
					waiter_finish(w);
				else
					waiter_free(w);
			}
			free(r);
			r = next;
		}
	}
	nd->committed_records += i;
	drop_ruled_out(nd, &o, height);
	p = block;
	if (nd->test_lie == LIE_REPLAY && ldg_block_record_next(&p, end, &rec, &rlen) == TR_OK) {
		uint8_t *copy = malloc(rlen);
		if (copy) {
			memcpy(copy, rec, rlen);
			free(nd->test_replay);
			nd->test_replay = copy;
			nd->test_replay_len = rlen;
		}
	}
	TR_LOG(TR_LOG_DEBUG, "msg=\"committed block\" height=%llu records=%zu",
	       (unsigned long long)height, i);
}

static void set_fatal(node *nd, const char *what, const char *detail)
{
	if (nd->fatal)
		return;
	nd->fatal = true;
	snprintf(nd->fatal_why, sizeof(nd->fatal_why), "%s: %.400s", what, detail);
	TR_LOG(TR_LOG_ERROR, "msg=\"stopping\" reason=\"%s\"", nd->fatal_why);
}

uint64_t node_serve(node *nd, pbft_replica peer, uint64_t first, uint64_t last)
{
	uint64_t served = 0;
	/* what waits for peer now, plus what this call queues (the SEND
	 * actions leave after it returns) */
	size_t queued = nd->link ? p2p_link_queued(nd->link, peer.v, P2P_KIND_CONSENSUS) : SIZE_MAX;
	for (uint64_t h = first; h <= last && h >= 1 && queued < NODE_SERVE_QUEUED_MAX; h++) {
		uint8_t *blk, *cert;
		size_t bl, cl;
		int rc;
		if (ldg_block_get(nd->ledger, h, &blk, &bl, &cert, &cl) != TR_OK)
			break;
		/* one block goes alone whatever its size */
		rc = queued > 0 && bl + cl > NODE_SERVE_QUEUED_MAX - queued
			     ? TR_EFULL
			     : pbft_serve(nd->cons, peer, h, blk, bl, cert, cl);
		free(blk);
		free(cert);
		if (rc)
			break;
		queued += bl + cl;
		nd->served_blocks++;
		nd->served_bytes += bl + cl;
		served = h;
	}
	return served;
}

/* Height announcements: every second each node tells its peers its
 * height; a node that hears of a peer that was behind it at the peer's
 * last announcement too and has not moved since pushes it the next
 * certified blocks (at most every half second per peer), and goes on while
 * the peer takes them, so a node that comes back while nothing is being
 * committed still catches up (t0320). */
#define HEIGHT_EVERY_MS 1000

static void announce_height(node *nd)
{
	uint8_t h[8];
	if (!nd->link)
		return;
	tr_be64_put(h, pbft_height(nd->cons));
	p2p_link_broadcast(nd->link, P2P_KIND_HEIGHT, h, sizeof(h));
}

static void push_to_laggard(node *nd, uint32_t peer, uint64_t their)
{
	uint64_t ours = pbft_height(nd->cons), now = tr_mono_ms(), was_theirs, was_ours;
	pbft_action a;
	/* one push per half second at most: announcements come every second,
	 * the half leaves room for their jitter */
	if (peer >= nd->c->n || now - nd->pushed_ms[peer] < HEIGHT_EVERY_MS / 2)
		return;
	was_theirs = nd->heard_theirs[peer];
	was_ours = nd->heard_ours[peer];
	nd->heard_theirs[peer] = their;
	nd->heard_ours[peer] = ours;
	/* Only a peer that is stuck (behind us at its last announcement too,
	 * and no higher since), or one that has just reached the last block we
	 * pushed it and is still behind. Under load a live peer is often a
	 * block behind at the moment it announces; pushing it that block
	 * (signed, encrypted, ~1 MB) only to see it dropped as stale cost as
	 * many bytes as the proposals themselves (bench/RESULTS.md, run 43). */
	if (their >= ours ||
	    !((their == was_theirs && was_ours > their) || their == nd->pushed_last[peer])) {
		nd->pushed_last[peer] = 0;
		return;
	}
	nd->pushed_ms[peer] = now;
	memset(&a, 0, sizeof(a));
	a.peer.v = peer;
	a.first = their + 1;
	a.last = ours - their > PBFT_FETCH_SPAN_MAX ? their + PBFT_FETCH_SPAN_MAX : ours;
	nd->pushed_last[peer] = node_serve(nd, a.peer, a.first, a.last);
}

/* Say when this replica leaves a view or enters one (once per change;
 * not each catch-up): an operator reading one node's log sees when and
 * at which height it suspected its primary, and which view it joined. */
static void log_view(node *nd)
{
	pbft_mode m = pbft_get_mode(nd->cons);
	uint64_t v = pbft_view(nd->cons);
	bool in_vc = m == PBFT_MODE_VIEW_CHANGE;
	if (v == nd->logged_view && in_vc == nd->logged_vc)
		return;
	if (in_vc)
		TR_LOG(TR_LOG_WARN, "msg=\"view change\" to_view=%llu height=%llu",
		       (unsigned long long)v, (unsigned long long)pbft_height(nd->cons));
	else
		TR_LOG(TR_LOG_INFO, "msg=\"new view\" view=%llu primary=%s height=%llu",
		       (unsigned long long)v,
		       nd->c->partners[pbft_primary_of(nd->cons, v).v].name,
		       (unsigned long long)pbft_height(nd->cons));
	nd->logged_view = v;
	nd->logged_vc = in_vc;
}

/* Write a held PERSIST blob (see run_actions). */
static void flush_persist(node *nd, pbft_action *held)
{
	int rc;
	if (!held->bytes)
		return;
	rc = ldg_state_put(nd->ledger, held->bytes, held->len, held->block_height, held->block,
			   held->block_len);
	if (rc == TR_EFULL) /* the vote, with the block it prepared */
		set_fatal(nd, "cannot persist consensus state",
			  "the ledger map is full (LMDB map size reached): vote not written");
	else if (rc)
		set_fatal(nd, "cannot persist consensus state", tr_strerror(rc));
	pbft_action_fini(held);
}

void node_persist_hold(pbft_action *held, pbft_action *a)
{
	if (!a->block && held->block) {
		a->block = held->block;
		a->block_len = held->block_len;
		a->block_height = held->block_height;
		held->block = NULL;
	}
	pbft_action_fini(held);
	*held = *a;
	memset(a, 0, sizeof(*a));
}

/* Each PERSIST replaces the previous blob, so of several PERSISTs in a row
 * only the last needs writing: a PERSIST is held until the next action of
 * another kind (or the end of the queue) and written, durably, before it,
 * with the prepared block of an earlier one it replaced (a PERSIST carries
 * it only once). Persist-before-send holds: nothing leaves before the blob
 * it follows is durable. */
static void run_actions(node *nd)
{
	pbft_action a, held;
	memset(&held, 0, sizeof(held));
	while (pbft_pop(nd->cons, &a) == TR_OK) {
		char err[512];
		int rc;
		if (a.kind == PBFT_ACT_PERSIST && !nd->fatal) {
			node_persist_hold(&held, &a);
			continue;
		}
		flush_persist(nd, &held);
		if (nd->fatal) { /* nothing leaves after a failed persist */
			pbft_action_fini(&a);
			continue;
		}
		switch (a.kind) {
		case PBFT_ACT_PERSIST:
			break;
		case PBFT_ACT_SEND:
		case PBFT_ACT_FETCH:
			if (nd->link)
				(void)p2p_link_send(nd->link, a.peer.v, P2P_KIND_CONSENSUS, a.bytes, a.len);
			break;
		case PBFT_ACT_BROADCAST:
			if (nd->link)
				p2p_link_broadcast(nd->link, P2P_KIND_CONSENSUS, a.bytes, a.len);
			break;
		case PBFT_ACT_COMMIT: {
			uint8_t hash[TR_HASH_LEN];
			unsigned flags = 0;
			/* validated by this node on this same head: one block is in
			 * flight at a time, so nothing was appended in between */
			if (ldg_block_bytes_hash(a.bytes, a.len, hash) == TR_OK && nd->have_validated &&
			    memcmp(hash, nd->validated, TR_HASH_LEN) == 0)
				flags = LDG_RECORDS_VERIFIED | LDG_RULES_CHECKED;
			uint64_t t0 = tr_mono_ms();
			rc = ldg_append(nd->ledger, a.bytes, a.len, a.cert, a.cert_len, flags, err,
					sizeof(err));
			TR_LOG(TR_LOG_DEBUG, "msg=\"appended\" height=%llu verified=%d ms=%llu",
			       (unsigned long long)a.height, flags != 0,
			       (unsigned long long)(tr_mono_ms() - t0));
			if (rc) /* consensus decided it; the store cannot take it */
				set_fatal(nd, "cannot store a committed block", err);
			else
				committed(nd, a.height, a.bytes, a.len);
			break;
		}
		case PBFT_ACT_SERVE:
			node_serve(nd, a.peer, a.first, a.last);
			break;
		}
		pbft_action_fini(&a);
	}
	flush_persist(nd, &held);
	pbft_action_fini(&held);
	log_view(nd);
}

bool node_starved(node *nd)
{
	uint64_t h = pbft_height(nd->cons);
	bool starved = false;
	for (uint32_t s = 0; s < nd->mp.partners; s++) {
		if (nd->mp.scount[s] == 0 || nd->starve_from[s] > h)
			nd->starve_from[s] = h;
		else if (h - nd->starve_from[s] >= NODE_STARVE_BLOCKS)
			starved = true;
	}
	return starved;
}

/* Drop one pending record that can no longer be committed (its EPCIS
 * rules fail against what was committed since it arrived): its clients
 * are told why; their other records stay pending. */
static void drop_entry(node *nd, mp_entry *e, int code, const char *why)
{
	wref *r;
	char hex[2 * TR_HASH_LEN + 1];
	TR_LOG(TR_LOG_WARN, "msg=\"dropped pending record\" event=%s reason=\"%s\"",
	       tr_hex(hex, e->id, TR_HASH_LEN), why);
	mp_remove(&nd->mp, e, &r);
	while (r) {
		wref *next = r->next;
		waiter *w = r->w;
		if (w->ctx) {
			char msg[600];
			snprintf(msg, sizeof(msg), "record %zu not committed: %s", r->idx, why);
			api_reply_late(w->ctx, code, msg);
			w->ctx = NULL;
		}
		if (--w->remaining == 0)
			waiter_free(w);
		free(r);
		r = next;
	}
}

#define PROPOSE_RETRIES_MAX 16

/* The records of the next block: the mempool's, shared fairly among their
 * signers (mp_take_fair, up to the consortium's limits), whose EPCIS rules
 * hold together against the chain; records that fail are dropped. The
 * signers take turns opening a block. Returns the count, with recs/lens
 * borrowed from the mempool entries; ents (as large as recs) is scratch. */
static size_t cut(node *nd, const uint8_t **recs, size_t *lens, mp_entry **ents)
{
	const tr_params *p = &nd->c->params;
	char err[512];
	for (int tries = 0; tries < PROPOSE_RETRIES_MAX; tries++) {
		size_t k, bad;
		int rc;
		k = mp_take_fair(&nd->mp, nd->cut_first, p->block_max_records, p->block_max_bytes,
				 ents);
		if (k == 0)
			return 0;
		for (size_t i = 0; i < k; i++) {
			recs[i] = ents[i]->rec;
			lens[i] = ents[i]->len;
		}
		rc = ldg_events_admissible(nd->ledger, recs, lens, k, err, sizeof(err));
		if (rc == TR_OK) {
			nd->cut_first = (ents[0]->signer + 1) % TR_PARTNERS_MAX;
			return k;
		}
		if (sscanf(err, "record %zu", &bad) != 1 || bad >= k) {
			TR_LOG(TR_LOG_ERROR, "msg=\"cannot check a block's records\" reason=\"%s\"", err);
			return 0;
		}
		drop_entry(nd, ents[bad], rc, err);
	}
	return 0;
}

/* Make the block about to be built a lie; *copy (free it after the
 * build) holds a record it changed. Logged when the lie could be told
 * (a replay needs a block committed since the start). */
static void lie(node *nd, const uint8_t **recs, size_t *lens, size_t *k, uint8_t **copy)
{
	bool told = false;
	*copy = NULL;
	switch (nd->test_lie) {
	case LIE_SIGNATURE: /* the last byte of record 0 is its signature's */
		if ((*copy = malloc(lens[0]))) {
			memcpy(*copy, recs[0], lens[0]);
			(*copy)[lens[0] - 1] ^= 1;
			recs[0] = *copy;
			told = true;
		}
		break;
	case LIE_DUPLICATE: /* record 0 once more */
		if (*k < nd->c->params.block_max_records) {
			recs[*k] = recs[0];
			lens[*k] = lens[0];
			(*k)++;
			told = true;
		} else if (*k > 1) {
			recs[*k - 1] = recs[0];
			lens[*k - 1] = lens[0];
			told = true;
		}
		break;
	case LIE_REPLAY: /* a record already on the chain, again */
		if (nd->test_replay) {
			recs[0] = nd->test_replay;
			lens[0] = nd->test_replay_len;
			told = true;
		}
		break;
	case LIE_CENSOR: { /* the next partner's records left out, the rest honest */
		uint32_t victim = (nd->self + 1) % nd->c->n;
		size_t w = 0;
		for (size_t i = 0; i < *k; i++)
			if (record_signer(nd, recs[i], lens[i]) != victim) {
				recs[w] = recs[i];
				lens[w++] = lens[i];
			}
		told = w < *k;
		*k = w;
		break;
	}
	}
	if (told)
		TR_LOG(TR_LOG_WARN, "msg=\"TRELLIS_TEST_LIE: proposing a lie\" lie=%s",
		       lie_names[nd->test_lie]);
}

/* Cut a block and propose it. */
static void propose(node *nd)
{
	const uint8_t **recs;
	mp_entry **ents;
	size_t *lens, k, max = nd->c->params.block_max_records;
	uint8_t *block = NULL, *lied, hash[TR_HASH_LEN], head[TR_HASH_LEN];
	uint64_t height;
	size_t blen;
	int rc;

	recs = malloc(max * sizeof(*recs));
	lens = malloc(max * sizeof(*lens));
	ents = malloc(max * sizeof(*ents));
	if (!recs || !lens || !ents) {
		free(recs);
		free(lens);
		free(ents);
		return;
	}
	uint64_t t0 = tr_mono_ms();
	k = cut(nd, recs, lens, ents);
	free(ents);
	TR_LOG(TR_LOG_DEBUG, "msg=\"cut block\" records=%zu ms=%llu", k,
	       (unsigned long long)(tr_mono_ms() - t0));
	if (k == 0) {
		free(recs);
		free(lens);
		return;
	}
	pbft_head(nd->cons, head);
	height = pbft_height(nd->cons) + 1;
	lie(nd, recs, lens, &k, &lied);
	if (k == 0) { /* all of it censored (TRELLIS_TEST_LIE=censor) */
		free(lied);
		free(recs);
		free(lens);
		return;
	}
	rc = ldg_block_build(nd->c->chain_id, height, head,
			     pbft_view(nd->cons), nd->self, tr_wall_ms(), recs, lens, k, &block,
			     &blen, hash);
	free(lied);
	free(recs);
	free(lens);
	if (rc == TR_OK) {
		/* kept (not hashed: a memcmp of the block is ~50x cheaper than
		 * libsodium's SHA-256 of it) for validate_cb to recognise */
		free(nd->proposed);
		nd->proposed = block;
		nd->proposed_len = blen;
		rc = pbft_propose(nd->cons, block, blen);
	}
	if (rc)
		TR_LOG(TR_LOG_ERROR, "msg=\"cannot propose\" height=%llu reason=\"%s\"",
		       (unsigned long long)(pbft_height(nd->cons) + 1), tr_strerror(rc));
	run_actions(nd);
	/* The PRE-PREPARE is out. While the backups validate it, parse the
	 * block here as well: ldg_check_block keeps the parse, and the append
	 * at commit takes it instead of parsing on the commit path. Its
	 * records came from the mempool (checked) and passed the rules at
	 * cut. Not when the block already committed (one partner). */
	if (rc == TR_OK && pbft_height(nd->cons) + 1 == height) {
		char err[256];
		if (ldg_check_block(nd->ledger, nd->proposed, nd->proposed_len, NULL, 0,
				    LDG_RECORDS_VERIFIED | LDG_RULES_CHECKED, err, sizeof(err)))
			TR_LOG(TR_LOG_WARN, "msg=\"own proposal does not check\" reason=\"%s\"", err);
	}
}

/* ==== Startup ==== */

static int home_open(node *nd, char *err, size_t errlen)
{
	const char *home = nd->opt->home;
	char path[600];
	int rc, idx;

	/* a folder that is no home (no key file) gets no lock file either */
	if (node_home_path(path, sizeof(path), home, "key"))
		goto toolong;
	if (access(path, F_OK) != 0) {
		snprintf(err, errlen, "cannot open home '%s': not a trellis home (key: %s; see trellis init)",
			 home, strerror(errno));
		return TR_EIO;
	}
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
	if (idx < 0 || nd->c->partners[idx].alg != tr_key_alg(nd->key)) {
		snprintf(err, errlen, "the key of home '%s' is not a partner in '%s'", home, path);
		return TR_EINVAL;
	}
	nd->self = (uint32_t)idx;
	/* Fault injection for tests/integration/t0360: this node's clients'
	 * records are gossiped to nobody, as if every frame were lost (any
	 * value); or, with a partner's name, to that partner only and never
	 * sent again, as if this node died just after. */
	{
		const char *lg = getenv("TRELLIS_TEST_LOSE_GOSSIP");
		nd->test_lose_gossip = lg != NULL;
		nd->test_gossip_only = lg ? tr_consortium_find_name(nd->c, lg) : -1;
		if (nd->test_gossip_only >= 0)
			TR_LOG(TR_LOG_WARN,
			       "msg=\"TRELLIS_TEST_LOSE_GOSSIP is set: submitted records go to %s only, once\"",
			       lg);
		else if (lg)
			TR_LOG(TR_LOG_WARN,
			       "msg=\"TRELLIS_TEST_LOSE_GOSSIP is set: submitted records are not gossiped\"");
	}
	{
		const char *lv = getenv("TRELLIS_TEST_LIE");
		nd->test_lie = LIE_NONE;
		for (int i = LIE_SIGNATURE; lv && i <= LIE_CENSOR; i++)
			if (strcmp(lv, lie_names[i]) == 0)
				nd->test_lie = i;
		if (lv && nd->test_lie == LIE_NONE) {
			snprintf(err, errlen,
				 "TRELLIS_TEST_LIE: unknown lie '%.40s' (signature, duplicate, replay or censor)", lv);
			return TR_EINVAL;
		}
		if (lv)
			TR_LOG(TR_LOG_WARN, "msg=\"TRELLIS_TEST_LIE is set: this node's proposals lie\" lie=%s", lv);
	}
	tr_log_set_node(nd->c->partners[idx].name);
	if (node_home_path(path, sizeof(path), home, "data"))
		goto toolong;
	{
		ldg_options lo = {.map_size = nd->opt->map_size, .readonly = false};
		rc = ldg_open(path, nd->c, &lo, &nd->ledger, err, errlen);
		if (rc)
			return rc;
		if (ldg_checked_new(nd->c, &nd->checked) != TR_OK) {
			snprintf(err, errlen, "out of memory");
			return TR_ENOMEM;
		}
		ldg_use_checked(nd->ledger, nd->checked);
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

static int consensus_open(node *nd, char *err, size_t errlen)
{
	pbft_config pc = {0};
	uint8_t *state = NULL, *blk = NULL, *cert = NULL, *prepared = NULL;
	size_t state_len = 0, bl, cl = 0, prepared_len = 0;
	int rc;

	pc.consortium = nd->c;
	pc.self.v = nd->self;
	pc.key = nd->key;
	pc.tick_ms = NODE_TICK_MS;
	pc.validate = validate_cb;
	pc.validate_ctx = nd;
	rc = ldg_head(nd->ledger, &pc.height, pc.head);
	if (rc) {
		snprintf(err, errlen, "cannot read the ledger's head");
		return rc;
	}
	if (pc.height > 0) {
		rc = ldg_block_get(nd->ledger, pc.height, &blk, &bl, &cert, &cl);
		if (rc) {
			snprintf(err, errlen, "cannot read block %llu", (unsigned long long)pc.height);
			return rc;
		}
		pc.head_cert = cert;
		pc.head_cert_len = cl;
	}
	rc = ldg_state_get(nd->ledger, &state, &state_len);
	if (rc && rc != TR_ENOTFOUND) {
		snprintf(err, errlen, "cannot read the consensus state: %s", tr_strerror(rc));
		goto out;
	}
	pc.state = state;
	pc.state_len = state_len;
	/* the block this node prepared, stored above the head */
	rc = ldg_prepared_block(nd->ledger, &prepared, &prepared_len);
	if (rc && rc != TR_ENOTFOUND) {
		snprintf(err, errlen, "cannot read the prepared block: %s", tr_strerror(rc));
		goto out;
	}
	pc.prepared_block = prepared;
	pc.prepared_block_len = prepared_len;
	rc = pbft_new(&pc, &nd->cons);
	if (rc)
		snprintf(err, errlen, "cannot start consensus: %s (damaged consensus state?)",
			 tr_strerror(rc));
out:
	free(prepared);
	free(state);
	free(blk);
	free(cert);
	return rc;
}

static void node_free(node *nd)
{
	job *j, *next;
	/* the checkers first: they call into the API contexts and the queue */
	node_checkers_stop(nd);
	api_stop(nd);
	while (nd->kept_head)
		kept_pop(nd);
	p2p_link_close(nd->link);
	node_checks_free(nd);
	for (size_t src = 0; src < NODE_SOURCES; src++)
		for (j = nd->jobs[src].head; j; j = next) {
			next = j->next;
			node_job_free(j);
		}
	mp_fini(&nd->mp);
	free(nd->proposed);
	free(nd->test_replay);
	pbft_free(nd->cons);
	ldg_close(nd->ledger);
	ldg_checked_free(nd->checked);
	tr_consortium_free(nd->c);
	tr_key_free(nd->key);
	if (nd->lock_fd >= 0)
		close(nd->lock_fd);
	pthread_cond_destroy(&nd->cv);
	pthread_mutex_destroy(&nd->mu);
	pthread_cond_destroy(&nd->check_cv);
	pthread_mutex_destroy(&nd->check_mu);
}

/* Tell every client still waiting that its records will not be answered
 * by this run of the node (they may still commit later, elsewhere). */
static void fail_waiters(node *nd, int code, const char *why)
{
	bool any = false;
	for (mp_entry *e = nd->mp.head; e; e = e->next)
		for (wref *r = e->waiters; r; r = r->next)
			if (r->w->ctx) {
				api_reply_late(r->w->ctx, code, why);
				r->w->ctx = NULL;
				any = true;
			}
	if (any) /* let the replies leave before the socket closes */
		usleep(200 * 1000);
}

/* ==== The loop ==== */

/* CPU time of the calling thread, in microseconds (for debug lines: on a
 * busy machine a step's wall time says little about its own cost) */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void handle_job(node *nd, job *j)
{
	uint64_t t0, c0;
	switch (j->kind) {
	case JOB_API:
		if (j->req->body_case == TRELLIS__API_REQUEST__BODY_STATUS) {
			do_status(nd, j);
			break;
		}
		t0 = tr_mono_ms();
		c0 = thread_cpu_us();
		do_submit(nd, j);
		TR_LOG(TR_LOG_DEBUG, "msg=\"submit taken\" records=%zu ms=%llu cpu_ms=%llu",
		       j->req->submit->n_records, (unsigned long long)(tr_mono_ms() - t0),
		       (unsigned long long)((thread_cpu_us() - c0) / 1000));
		break;
	case JOB_CONSENSUS:
		(void)pbft_step(nd->cons, (pbft_replica){j->peer}, j->bytes, j->len);
		run_actions(nd);
		break;
	case JOB_GOSSIP:
		t0 = tr_mono_ms();
		if (j->again)
			do_gossip_again(nd, j);
		else
			do_gossip(nd, j);
		TR_LOG(TR_LOG_DEBUG, "msg=\"gossip taken\" peer=%s records=%zu ms=%llu",
		       nd->c->partners[j->peer].name, j->nrec,
		       (unsigned long long)(tr_mono_ms() - t0));
		break;
	case JOB_HEIGHT:
		push_to_laggard(nd, j->peer, j->height);
		run_actions(nd);
		break;
	}
	node_job_free(j);
}

int node_run(const node_options *o, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	node nd;
	pthread_condattr_t ca;
	char hex[2 * TR_HASH_LEN + 1];
	uint8_t head[TR_HASH_LEN];
	int rc;

	memset(&nd, 0, sizeof(nd));
	nd.opt = o;
	nd.lock_fd = -1;
	nd.probe_fd = -1;
	pthread_mutex_init(&nd.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nd.cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&nd.check_mu, NULL);
	pthread_cond_init(&nd.check_cv, NULL);

	rc = home_open(&nd, err, errlen);
	if (rc)
		goto out;
	rc = mp_init(&nd.mp, o->mempool_records ? o->mempool_records : NODE_MEMPOOL_RECORDS_MAX,
		     NODE_MEMPOOL_BYTES_MAX, nd.c->n);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = consensus_open(&nd, err, errlen);
	if (rc)
		goto out;
	rc = node_checkers_start(&nd, err, errlen);
	if (rc)
		goto out;
	if (nd.c->n > 1) {
		p2p_link_config lc = {.c = nd.c, .self = nd.self, .key = nd.key,
				      .recv = on_peer_frame, .hold = on_peer_hold, .recv_ctx = &nd};
		rc = p2p_link_open(&lc, &nd.link, err, errlen);
		if (rc)
			goto out;
	}
	/* what pbft_new queued (a persist; a FETCH when a restored NEW-VIEW's
	 * base is above the ledger): with the link open, a send waits in its
	 * queue for the partner instead of being dropped */
	run_actions(&nd);
	rc = api_start(&nd, err, errlen);
	if (rc)
		goto out;
	pbft_head(nd.cons, head);
	TR_LOG(TR_LOG_INFO,
	       "msg=\"node started\" api=%s listen=%s partners=%u f=%u view=%llu height=%llu head=%s",
	       nd.api_url, nd.c->partners[nd.self].address, nd.c->n, nd.c->f,
	       (unsigned long long)pbft_view(nd.cons), (unsigned long long)pbft_height(nd.cons),
	       tr_hex(hex, head, TR_HASH_LEN));
	nd.logged_view = pbft_view(nd.cons); /* log_view(): changes from here on */
	nd.logged_vc = pbft_get_mode(nd.cons) == PBFT_MODE_VIEW_CHANGE;

	nd.last_tick_ms = tr_mono_ms();
	while (!*stop && !nd.fatal) {
		job *jobs;
		struct timespec ts;
		uint64_t now;

		pthread_mutex_lock(&nd.mu);
		if (!node_jobs_queued(&nd)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += NODE_TICK_MS / 5 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&nd.cv, &nd.mu, &ts);
		}
		jobs = node_jobs_take(&nd);
		pthread_mutex_unlock(&nd.mu);
		while (jobs) {
			job *j = jobs;
			jobs = j->next;
			handle_job(&nd, j);
		}
		now = tr_mono_ms();
		if (now - nd.last_tick_ms >= NODE_TICK_MS) {
			nd.last_tick_ms = now;
			pbft_note_pending(nd.cons, nd.mp.count > 0);
			pbft_note_starved(nd.cons, node_starved(&nd));
			pbft_tick(nd.cons);
			run_actions(&nd);
			regossip(&nd);
			api_watch(&nd);
		}
		if (now - nd.last_height_ms >= HEIGHT_EVERY_MS) {
			nd.last_height_ms = now;
			announce_height(&nd);
		}
		gossip_feed(&nd);
		if (nd.mp.count > 0 && pbft_can_propose(nd.cons))
			propose(&nd);
	}
	{
		pbft_stats ps;
		p2p_link_stats ls = {0};
		unsigned long long qdrop = 0;
		uint64_t ck_hits, ck_misses;
		ldg_checked_stats(nd.checked, &ck_hits, &ck_misses);
		pthread_mutex_lock(&nd.mu);
		for (uint32_t i = 0; i < nd.c->n; i++)
			qdrop += nd.peer_dropped[i];
		pthread_mutex_unlock(&nd.mu);
		pbft_get_stats(nd.cons, &ps);
		if (nd.link)
			p2p_link_get_stats(nd.link, &ls);
		TR_LOG(TR_LOG_INFO,
		       "msg=\"node stopping\" height=%llu committed_records=%llu view_changes=%llu "
		       "starved_suspicions=%llu "
		       "dropped_malformed=%llu dropped_badsig=%llu dropped_stale=%llu dropped_future=%llu "
		       "dropped_wrong=%llu frames_in=%llu frames_out=%llu send_dropped=%llu "
		       "links_refused=%llu handshakes_evicted=%llu bad_frames=%llu queue_dropped=%llu "
		       "tx_dropped=%llu send_full=%llu batches_out=%llu links_stalled=%llu "
		       "regossiped=%llu regossip_held=%llu regossip_checked=%llu checked_hits=%llu "
		       "checked_misses=%llu api_relistens=%llu served_blocks=%llu served_bytes=%llu "
		       "gossip_kept=%llu gossip_fed=%llu gossip_ruled_out=%llu dup_dropped=%llu",
		       (unsigned long long)pbft_height(nd.cons), (unsigned long long)nd.committed_records,
		       (unsigned long long)ps.view_changes, (unsigned long long)ps.starved_suspicions,
		       (unsigned long long)ps.dropped_malformed,
		       (unsigned long long)ps.dropped_badsig, (unsigned long long)ps.dropped_stale,
		       (unsigned long long)ps.dropped_future, (unsigned long long)ps.dropped_wrong,
		       (unsigned long long)ls.frames_in, (unsigned long long)ls.frames_out,
		       (unsigned long long)ls.send_dropped, (unsigned long long)ls.refused,
		       (unsigned long long)ls.evicted, (unsigned long long)ls.bad_frames, qdrop,
		       (unsigned long long)ls.tx_dropped, (unsigned long long)ls.send_full,
		       (unsigned long long)ls.batches_out, (unsigned long long)ls.stalled,
		       (unsigned long long)nd.regossiped, (unsigned long long)nd.again_held,
		       (unsigned long long)nd.again_checked, (unsigned long long)ck_hits,
		       (unsigned long long)ck_misses, (unsigned long long)nd.api_relistens,
		       (unsigned long long)nd.served_blocks, (unsigned long long)nd.served_bytes,
		       (unsigned long long)nd.gossip_kept, (unsigned long long)nd.gossip_fed,
		       (unsigned long long)nd.gossip_ruled_out, (unsigned long long)nd.dup_dropped);
	}
	if (nd.fatal) {
		fail_waiters(&nd, TR_EIO, nd.fatal_why);
		snprintf(err, errlen, "%s", nd.fatal_why);
		rc = TR_EIO;
	} else {
		fail_waiters(&nd, TR_EUNREACH,
			     "the node stopped before they were committed; they may still commit");
		rc = TR_OK;
	}
out:
	node_free(&nd);
	return rc;
}
