/*
 * pbft.c: the PBFT state machine of trellis (see pbft.h for the contract
 * with the node, docs/consensus.md for the protocol).
 *
 * What it owns: the slot of the next height (height+1) in the current view
 * (the primary's PRE-PREPARE, one PREPARE and one COMMIT per replica), the
 * highest prepared certificate for that height, the latest VIEW-CHANGE of
 * each replica, the NEW-VIEW constraint of the current view, the catch-up
 * state and buffer, a bounded buffer of messages for later heights or
 * views, cached copies of what it last sent (for retransmission), and the
 * action queue.
 *
 * Invariants:
 *   - everything below the last committed height is dropped: the slot is
 *     cleared by every commit, so the log is bounded by n per phase;
 *   - a vote leaves only after the PERSIST action that records it;
 *   - my_prep / my_commit are never overwritten with a different hash for
 *     the same (view, height);
 *   - a COMMIT action's certificate holds 2f+1 distinct verified votes.
 */
#include "consensus/pbft.h"
#include "consensus/pbft_wire.h"

#include <string.h>

#define N_MAX TR_PARTNERS_MAX
#define FUTURE_PER_PEER 4
#define FUTURE_MAX (PBFT_FUTURE_MAX)
#define BLOCK_SLACK (64u << 10)
#define FETCH_TRIES_MAX 8

_Static_assert(PBFT_FETCH_SPAN_MAX <= PBFT_CATCHUP_MAX, "a fetch fits the catch-up buffer");

/* ==== State ==== */

typedef struct {
	bool have;
	uint64_t view;
	uint8_t hash[TR_HASH_LEN];
	uint8_t sig[TR_SIG_LEN];
} vote;

typedef struct {
	bool have;
	uint64_t view;
	uint8_t hash[TR_HASH_LEN];
	bool who[N_MAX];
	uint8_t sigs[N_MAX][TR_SIG_LEN];
	uint8_t *block; /* owned, may be NULL after a restart without it */
	size_t len;
	bool block_unsaved; /* not yet in a PERSIST action */
} prepared_cert;

/* The latest VIEW-CHANGE of one replica. */
typedef struct {
	bool have;
	bool checked; /* certificates verified */
	uint64_t new_view;
	uint64_t height;
	bool has_prepared;
	uint64_t pview;
	uint8_t phash[TR_HASH_LEN];
	uint8_t head[TR_HASH_LEN]; /* hash certified at height */
	uint8_t *body;             /* signed body bytes (owned) */
	size_t body_len;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *block; /* prepared block, checked against phash (owned) */
	size_t block_len;
} vc_info;

typedef struct {
	bool have;
	uint64_t height;
	uint8_t *block, *cert;
	size_t len, cert_len;
} buffered_block;

typedef struct {
	bool have;
	uint32_t from;
	uint64_t height, view;
	uint8_t *msg;
	size_t len;
} future_msg;

/* What a NEW-VIEW decided from its VIEW-CHANGEs. */
typedef struct {
	uint64_t base;     /* highest committed height proved */
	uint32_t base_from; /* a replica that proved it */
	bool fixed;        /* base+1 must be this block */
	uint8_t hash[TR_HASH_LEN];
	int block_from;    /* VC index holding the block, or -1 */
} nv_decision;

struct pbft {
	const tr_consortium *c;
	uint32_t n, f, q, self;
	const tr_key *key;
	pbft_validate_fn validate;
	void *validate_ctx;
	pbft_verify_fn verify;
	void *verify_ctx;
	size_t block_max, msg_max;
	uint32_t base_ticks, retx_ticks, fetch_ticks;

	/* Committed chain head. */
	uint64_t height;
	uint8_t head[TR_HASH_LEN];
	uint8_t *head_cert;
	size_t head_cert_len;

	/* View. In view-change mode `view` is the view being entered. */
	uint64_t view;
	bool vc_mode;
	bool vc_armed; /* 2f+1 VIEW-CHANGEs seen for `view`: timer runs */

	/* Slot height+1 in `view`. */
	bool have_pp;
	uint8_t pp_hash[TR_HASH_LEN];
	uint8_t *pp_block;
	size_t pp_len;
	vote prep[N_MAX]; /* in `view` only */
	vote com[N_MAX];  /* any view, latest per replica */
	bool slot_prepared;

	/* What this replica voted (persisted). */
	struct {
		uint64_t view, height;
		uint8_t hash[TR_HASH_LEN];
		bool have;
	} my_prep, my_commit;
	prepared_cert pc; /* for height+1 */

	vc_info vc[N_MAX];

	/* The NEW-VIEW constraint of `view`. */
	struct {
		bool have;
		uint64_t view, base;
		bool fixed;
		uint8_t hash[TR_HASH_LEN];
		uint8_t *block;
		size_t len;
		uint8_t sig[TR_SIG_LEN];
		uint8_t *msg; /* the NEW-VIEW bytes, resent to laggards */
		size_t msg_len;
		bool committed_in_view;
	} nv;

	/* Timers (in ticks). */
	uint64_t now, timer_start, last_retx;
	uint64_t slot_at;      /* last progress in the slot (or view change) */
	uint64_t committed_at; /* last commit */
	uint32_t backoff;
	bool pending;
	/* the node's records of some partner wait while blocks commit without
	 * them (pbft_note_starved): since starved_at, in starved_view */
	bool starved;
	uint64_t starved_at, starved_view;
	/* per sender, the hash of the last NEW-VIEW refused after its
	 * VIEW-CHANGEs' signatures were checked: the same bytes again are
	 * dropped unchecked (a replay cost ~15 signature checks a copy) */
	uint8_t nv_refused[N_MAX][TR_HASH_LEN];
	bool nv_refused_have[N_MAX];

	/* Catch-up. */
	struct {
		bool active;
		uint64_t target, last;
		uint32_t peer;
		uint64_t sent_at;
		uint32_t tries;
		uint64_t from;        /* our height when the request left */
		uint64_t got_at;      /* when a fetched block last came, or the request left */
		uint64_t progress_at; /* when the fetch began or a fetched block last came */
	} fetch;
	uint64_t claim[N_MAX]; /* highest height each partner showed, unchecked */
	uint64_t proved;       /* highest height a checked certificate showed */
	buffered_block buf[PBFT_CATCHUP_MAX];
	future_msg fut[FUTURE_MAX];
	uint64_t serve_at[N_MAX]; /* rate limits, in ticks (+1, 0 = never) */
	/* A FETCH request that came within the tick of the previous answer
	 * to that peer: answered on the next tick (one kept per peer, the
	 * latest wins), so the limit holds without making an honest peer
	 * that took its blocks quickly wait for its fetch timeout. */
	struct {
		bool have;
		uint64_t first, last;
	} serve_next[N_MAX];
	uint64_t push_at[N_MAX];

	/* Cached outgoing messages (for retransmission). */
	uint8_t *out_pp, *out_prep, *out_commit, *out_vc;
	size_t out_pp_len, out_prep_len, out_commit_len, out_vc_len;

	/* Progress loop guard. */
	bool in_progress, progress_again;
	/* COMMIT actions queued and not popped yet. validate() answers from
	 * the node's ledger, which holds only the commits it carried out, so
	 * nothing is validated while one is pending: a PRE-PREPARE that became
	 * current meanwhile is kept and taken up at the pop after the last
	 * of them (resume). */
	uint32_t unapplied;
	/* The last COMMIT action was popped: at the next pbft_pop the node
	 * has carried it out, and what waited for it goes on there. */
	bool resume;

	/* Actions. */
	pbft_action *q_act;
	size_t q_head, q_count;

	pbft_stats st;
};

/* ==== Small helpers ==== */

static uint8_t *memdup(const uint8_t *b, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);
	if (d && len)
		memcpy(d, b, len);
	return d;
}

static void set_bytes(uint8_t **dst, size_t *dlen, uint8_t *src, size_t len)
{
	free(*dst);
	*dst = src;
	*dlen = len;
}

static uint32_t primary_of(const pbft *p, uint64_t view)
{
	return (uint32_t)(view % p->n);
}

static uint64_t timeout_ticks(const pbft *p)
{
	uint32_t b = p->backoff > PBFT_BACKOFF_MAX ? PBFT_BACKOFF_MAX : p->backoff;
	return (uint64_t)p->base_ticks << b;
}

static int verify_sig(pbft *p, uint32_t who, const char *tag, const uint8_t *bytes, size_t len,
		      const uint8_t *sig)
{
	const tr_partner *pt = &p->c->partners[who];
	p->st.sigs_checked++;
	if (p->verify)
		return p->verify(p->verify_ctx, pt->alg, pt->key, tag, p->c->chain_id, bytes, len,
				 sig);
	return tr_verify_tagged(pt->alg, pt->key, tag, p->c->chain_id, bytes, len, sig);
}

static int verify_prepare(pbft *p, uint32_t who, uint64_t view, uint64_t height,
			  const uint8_t hash[TR_HASH_LEN], const uint8_t *sig)
{
	uint8_t pl[PBFT_PREPARE_PAYLOAD_LEN];
	pbft_wire_prepare_payload(pl, view, height, hash);
	return verify_sig(p, who, TR_TAG_PBFT, pl, sizeof pl, sig);
}

static int verify_commit(pbft *p, uint32_t who, uint64_t view, uint64_t height,
			 const uint8_t hash[TR_HASH_LEN], const uint8_t *sig)
{
	uint8_t pl[TR_VOTE_PAYLOAD_LEN];
	tr_vote_payload(pl, view, height, hash);
	return verify_sig(p, who, TR_TAG_COMMIT, pl, sizeof pl, sig);
}

/* ==== Action queue ==== */

static pbft_action *act_push(pbft *p, pbft_action_kind kind)
{
	pbft_action *a;
	/* The node drains after every call; one call queues at most a few
	 * actions per replica and per buffered block. */
	TR_ASSERT(p->q_count < PBFT_ACTIONS_MAX);
	a = &p->q_act[(p->q_head + p->q_count) % PBFT_ACTIONS_MAX];
	p->q_count++;
	memset(a, 0, sizeof *a);
	a->kind = kind;
	return a;
}

/* The act_* functions take ownership of `bytes`. */
static void act_send(pbft *p, uint32_t to, uint8_t *bytes, size_t len)
{
	pbft_action *a = act_push(p, PBFT_ACT_SEND);
	a->peer.v = to;
	a->bytes = bytes;
	a->len = len;
	p->st.msgs_out++;
}

static void act_broadcast(pbft *p, uint8_t *bytes, size_t len)
{
	pbft_action *a;
	if (p->n == 1) {
		free(bytes);
		return;
	}
	a = act_push(p, PBFT_ACT_BROADCAST);
	a->bytes = bytes;
	a->len = len;
	p->st.msgs_out += p->n - 1;
}

/* Broadcast a copy of a cached message. */
static void rebroadcast(pbft *p, const uint8_t *msg, size_t len)
{
	uint8_t *d;
	if (!msg || p->n == 1)
		return;
	d = memdup(msg, len);
	if (d)
		act_broadcast(p, d, len);
}

static void fill_cert_msg(Pbft__PreparedCert *pcm, Pbft__ReplicaSig *rs, Pbft__ReplicaSig **rsp,
			  const prepared_cert *pc, uint64_t height, uint32_t n)
{
	size_t k = 0;
	pcm->view = pc->view;
	pcm->height = height;
	pcm->block_hash.data = (uint8_t *)(uintptr_t)pc->hash;
	pcm->block_hash.len = TR_HASH_LEN;
	for (uint32_t i = 0; i < n; i++) {
		if (!pc->who[i])
			continue;
		pbft__replica_sig__init(&rs[k]);
		rs[k].replica = i;
		rs[k].signature.data = (uint8_t *)(uintptr_t)pc->sigs[i];
		rs[k].signature.len = TR_SIG_LEN;
		rsp[k] = &rs[k];
		k++;
	}
	pcm->n_sigs = k;
	pcm->sigs = rsp;
}

/* Record what this replica voted; the node stores it before anything
 * queued after it. */
static int act_persist(pbft *p, pbft_vote_kind kind, uint64_t view, uint64_t height,
		       const uint8_t *hash)
{
	Pbft__VoteState s = PBFT__VOTE_STATE__INIT;
	Pbft__PreparedCert pcm = PBFT__PREPARED_CERT__INIT;
	Pbft__ReplicaSig rs[N_MAX];
	Pbft__ReplicaSig *rsp[N_MAX];
	pbft_action *a;
	uint8_t *bytes, *block = NULL;
	size_t len;
	int rc;

	s.version = 1;
	s.view = p->view;
	s.view_change = p->vc_mode;
	if (p->my_prep.have) {
		s.prep_view = p->my_prep.view;
		s.prep_height = p->my_prep.height;
		s.prep_hash.data = p->my_prep.hash;
		s.prep_hash.len = TR_HASH_LEN;
	}
	if (p->my_commit.have) {
		s.commit_view = p->my_commit.view;
		s.commit_height = p->my_commit.height;
		s.commit_hash.data = p->my_commit.hash;
		s.commit_hash.len = TR_HASH_LEN;
	}
	/* the NEW-VIEW of this view while what it constrains (heights up to
	 * its base + 1) is still ahead: usually one block after a view change,
	 * so the blob is large only then */
	if (p->nv.have && p->nv.msg && p->nv.view == p->view && !p->vc_mode &&
	    p->height <= p->nv.base && p->nv.msg_len <= p->msg_max) {
		s.new_view.data = p->nv.msg;
		s.new_view.len = p->nv.msg_len;
	}
	if (p->pc.have) {
		fill_cert_msg(&pcm, rs, rsp, &p->pc, p->height + 1, p->n);
		s.prepared = &pcm;
	}
	/* the prepared block goes beside the blob, once (the blob names it
	 * by hash): not copied into every blob and written again each time */
	if (p->pc.have && p->pc.block && p->pc.block_unsaved) {
		block = memdup(p->pc.block, p->pc.len);
		if (!block)
			return TR_ENOMEM;
	}
	rc = pbft_wire_pack(&s.base, &bytes, &len);
	if (rc) {
		free(block);
		return rc;
	}
	a = act_push(p, PBFT_ACT_PERSIST);
	if (block) {
		a->block = block;
		a->block_len = p->pc.len;
		a->block_height = p->height + 1;
		p->pc.block_unsaved = false;
	}
	a->vote = kind;
	a->view = view;
	a->height = height;
	if (hash)
		memcpy(a->hash, hash, TR_HASH_LEN);
	a->bytes = bytes;
	a->len = len;
	return 0;
}

static void progress(pbft *p);

int pbft_pop(pbft *p, pbft_action *out)
{
	/* The node carries out each action it pops before it calls in again:
	 * the COMMITs popped before are stored now, so a PRE-PREPARE kept for
	 * them is validated here, not at the next message or tick (under a
	 * light load, up to a tick later). */
	if (p->resume) {
		p->resume = false;
		if (p->unapplied == 0)
			progress(p);
	}
	if (p->q_count == 0)
		return TR_ENOTFOUND;
	*out = p->q_act[p->q_head];
	if (out->kind == PBFT_ACT_COMMIT) {
		TR_ASSERT(p->unapplied > 0);
		p->resume = --p->unapplied == 0;
	}
	memset(&p->q_act[p->q_head], 0, sizeof p->q_act[p->q_head]);
	p->q_head = (p->q_head + 1) % PBFT_ACTIONS_MAX;
	p->q_count--;
	return 0;
}

void pbft_action_fini(pbft_action *a)
{
	if (!a)
		return;
	free(a->bytes);
	free(a->cert);
	free(a->block);
	memset(a, 0, sizeof *a);
}

/* ==== Slot ==== */

static void clear_slot(pbft *p, bool keep_commits)
{
	p->have_pp = false;
	free(p->pp_block);
	p->pp_block = NULL;
	p->pp_len = 0;
	p->slot_prepared = false;
	memset(p->prep, 0, sizeof p->prep);
	if (!keep_commits)
		memset(p->com, 0, sizeof p->com);
	set_bytes(&p->out_pp, &p->out_pp_len, NULL, 0);
	set_bytes(&p->out_prep, &p->out_prep_len, NULL, 0);
	if (!keep_commits)
		set_bytes(&p->out_commit, &p->out_commit_len, NULL, 0);
}

static void clear_pc(pbft *p)
{
	free(p->pc.block);
	memset(&p->pc, 0, sizeof p->pc);
}

static void clear_vc(vc_info *v)
{
	free(v->body);
	free(v->block);
	memset(v, 0, sizeof *v);
}

static void clear_nv(pbft *p)
{
	free(p->nv.block);
	free(p->nv.msg);
	memset(&p->nv, 0, sizeof p->nv);
}

static void clear_future(future_msg *m)
{
	free(m->msg);
	memset(m, 0, sizeof *m);
}

/* ==== Forward declarations ==== */

static int start_view_change(pbft *p, uint64_t new_view);
static void arm_check(pbft *p);
static int step_message(pbft *p, uint32_t from, const uint8_t *msg, size_t len);
static void try_new_view(pbft *p);

/* ==== Catch-up ==== */

static void issue_fetch(pbft *p, uint32_t peer)
{
	Pbft__Body body = PBFT__BODY__INIT;
	Pbft__FetchRequest fr = PBFT__FETCH_REQUEST__INIT;
	uint8_t *bytes;
	size_t len;
	pbft_action *a;
	if (p->n == 1 || peer == p->self)
		return;
	fr.first = p->height + 1;
	fr.last = p->fetch.target;
	if (fr.last - fr.first + 1 > PBFT_FETCH_SPAN_MAX)
		fr.last = fr.first + PBFT_FETCH_SPAN_MAX - 1;
	body.kind_case = PBFT__BODY__KIND_FETCH_REQUEST;
	body.fetch_request = &fr;
	if (pbft_wire_signed_message(p->key, p->c->chain_id, p->self, &body, NULL, 0, &bytes,
				     &len))
		return;
	p->st.sigs_made++;
	a = act_push(p, PBFT_ACT_FETCH);
	a->peer.v = peer;
	a->first = fr.first;
	a->last = fr.last;
	a->bytes = bytes;
	a->len = len;
	p->st.msgs_out++;
	p->fetch.active = true;
	p->fetch.peer = peer;
	p->fetch.last = fr.last;
	p->fetch.sent_at = p->now;
	p->fetch.from = p->height;
	p->fetch.got_at = p->now;
}

/* How far to fetch: the highest height that something this replica can
 * trust vouches for, at most PBFT_CATCHUP_MAX beyond its head. One
 * partner's claim (a message for a far height, the height of a
 * VIEW-CHANGE, whose certificate is not checked on arrival) may be a lie
 * that would keep this replica "catching-up" and asking honest peers for
 * blocks that do not exist; a height that f+1 distinct partners claim
 * has an honest one among them, and a checked certificate (2f+1 COMMITs,
 * a NEW-VIEW's base) is proof on its own. Bounded: n * n steps. */
static uint64_t fetch_goal(const pbft *p)
{
	uint64_t goal = p->proved;
	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t at_least = 0;
		if (p->claim[i] <= goal)
			continue;
		for (uint32_t j = 0; j < p->n; j++)
			if (p->claim[j] >= p->claim[i])
				at_least++;
		if (at_least >= p->f + 1)
			goal = p->claim[i];
	}
	if (goal > p->height + PBFT_CATCHUP_MAX)
		goal = p->height + PBFT_CATCHUP_MAX;
	return goal;
}

/* The partner to ask after `from`: the next one that claimed a height
 * beyond ours (one always has while the goal is beyond it), else the
 * next one. */
static uint32_t next_fetch_peer(const pbft *p, uint32_t from)
{
	uint32_t next;
	for (uint32_t k = 1; k < p->n; k++) {
		uint32_t i = (from + k) % p->n;
		if (i != p->self && p->claim[i] > p->height)
			return i;
	}
	next = (from + 1) % p->n;
	return next == p->self ? (next + 1) % p->n : next;
}

/* Partner `peer` shows it has committed up to `target` (`proven`: by a
 * checked certificate): fetch what we miss, as far as fetch_goal() lets. */
static void want(pbft *p, uint64_t target, uint32_t peer, bool proven)
{
	uint64_t goal;
	bool news = false;
	if (target <= p->height || peer >= p->n || peer == p->self)
		return;
	if (target > p->claim[peer]) {
		p->claim[peer] = target;
		news = true;
	}
	if (proven && target > p->proved) {
		p->proved = target;
		news = true;
	}
	if (p->fetch.active && !news)
		return;
	goal = fetch_goal(p);
	if (goal <= p->height)
		return;
	if (!p->fetch.active) {
		p->fetch.target = goal;
		p->fetch.tries = 0;
		p->fetch.progress_at = p->now;
		issue_fetch(p, peer);
	} else if (goal > p->fetch.target) {
		p->fetch.target = goal;
	}
}

/* Answer a FETCH request of `peer` for first..last (first <= height):
 * at most PBFT_FETCH_SPAN_MAX blocks, one answer per peer per tick. */
static void serve_request(pbft *p, uint32_t peer, uint64_t first, uint64_t last)
{
	pbft_action *a;
	p->serve_at[peer] = p->now + 1;
	a = act_push(p, PBFT_ACT_SERVE);
	a->peer.v = peer;
	a->first = first;
	a->last = last < p->height ? last : p->height;
	if (a->last - a->first + 1 > PBFT_FETCH_SPAN_MAX)
		a->last = a->first + PBFT_FETCH_SPAN_MAX - 1;
}

/* A peer showed it is behind (at `their`): push blocks from their+1,
 * at most once per retransmission interval. */
static void push_blocks(pbft *p, uint32_t peer, uint64_t their)
{
	pbft_action *a;
	if (peer >= p->n || peer == p->self || their >= p->height)
		return;
	if (p->push_at[peer] && p->now < p->push_at[peer] - 1 + p->retx_ticks)
		return;
	p->push_at[peer] = p->now + 1;
	a = act_push(p, PBFT_ACT_SERVE);
	a->peer.v = peer;
	a->first = their + 1;
	a->last = p->height;
	if (a->last - a->first + 1 > PBFT_FETCH_SPAN_MAX)
		a->last = a->first + PBFT_FETCH_SPAN_MAX - 1;
}

/* ==== Committing ==== */

/* Commit block height+1 (already checked). Takes copies. */
static int advance(pbft *p, const uint8_t *block, size_t len, const uint8_t hash[TR_HASH_LEN],
		   const uint8_t *cert, size_t cert_len, uint64_t cert_view)
{
	pbft_action *a;
	uint8_t *bcopy = memdup(block, len), *ccopy = memdup(cert, cert_len),
		*hc = memdup(cert, cert_len);
	if (!bcopy || !ccopy || !hc) {
		free(bcopy);
		free(ccopy);
		free(hc);
		return TR_ENOMEM;
	}
	a = act_push(p, PBFT_ACT_COMMIT);
	p->unapplied++;
	a->height = p->height + 1;
	memcpy(a->hash, hash, TR_HASH_LEN);
	a->bytes = bcopy;
	a->len = len;
	a->cert = ccopy;
	a->cert_len = cert_len;

	p->height++;
	p->committed_at = p->now;
	p->slot_at = p->now;
	memcpy(p->head, hash, TR_HASH_LEN);
	set_bytes(&p->head_cert, &p->head_cert_len, hc, cert_len);
	clear_slot(p, false);
	clear_pc(p);
	p->st.commits++;
	p->backoff = 0;
	p->timer_start = p->now;
	if (cert_view == p->view)
		p->nv.committed_in_view = true;
	/* A certificate of view w proves 2f+1 replicas were in w: a replica
	 * that missed the NEW-VIEW of w (or is still asking to leave an older
	 * view) can safely join w. */
	if (cert_view > p->view || (p->vc_mode && cert_view >= p->view)) {
		p->view = cert_view;
		p->vc_mode = false;
		p->vc_armed = false;
		clear_nv(p);
		p->nv.committed_in_view = true;
		set_bytes(&p->out_vc, &p->out_vc_len, NULL, 0);
		for (uint32_t i = 0; i < p->n; i++)
			if (p->vc[i].have && p->vc[i].new_view <= p->view)
				clear_vc(&p->vc[i]);
	}
	if (p->vc_mode) {
		/* Still leaving the view: the next resend tells the new height. */
		set_bytes(&p->out_vc, &p->out_vc_len, NULL, 0);
	}
	if (p->fetch.active) {
		/* Progress: FETCH_TRIES_MAX counts timeouts in a row
		 * without a block, not over a whole long catch-up. (The
		 * timeout itself still runs from the request, so a peer
		 * that drips blocks is left at the next timeout.) */
		p->fetch.tries = 0;
		if (p->height >= p->fetch.target) {
			/* the goal may reach further now (PBFT_CATCHUP_MAX) */
			p->fetch.target = fetch_goal(p);
			if (p->height >= p->fetch.target)
				p->fetch.active = false;
		}
	}
	p->progress_again = true;
	return 0;
}

static int build_cert(pbft *p, uint64_t view, const uint8_t hash[TR_HASH_LEN], uint8_t **out,
		      size_t *len)
{
	Trellis__CommitCertificate cc = TRELLIS__COMMIT_CERTIFICATE__INIT;
	Trellis__CommitVote votes[N_MAX];
	Trellis__CommitVote *vp[N_MAX];
	size_t k = 0;
	cc.view = view;
	cc.height = p->height + 1;
	cc.block_hash.data = (uint8_t *)(uintptr_t)hash;
	cc.block_hash.len = TR_HASH_LEN;
	for (uint32_t i = 0; i < p->n && k < p->q; i++) {
		vote *v = &p->com[i];
		if (!v->have || v->view != view || memcmp(v->hash, hash, TR_HASH_LEN))
			continue;
		trellis__commit_vote__init(&votes[k]);
		votes[k].replica = i;
		votes[k].signature.data = v->sig;
		votes[k].signature.len = TR_SIG_LEN;
		vp[k] = &votes[k];
		k++;
	}
	TR_ASSERT(k == p->q);
	cc.n_votes = k;
	cc.votes = vp;
	return pbft_wire_pack(&cc.base, out, len);
}

/* Do 2f+1 COMMITs agree on one (view, hash)? Then commit, if we hold the
 * block; otherwise fetch it from one of the voters. */
static void check_committed(pbft *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		const vote *v = &p->com[i];
		uint32_t cnt = 0;
		const uint8_t *block = NULL;
		size_t len = 0;
		uint8_t *cert;
		size_t cert_len;
		uint64_t cview;
		uint8_t hash[TR_HASH_LEN];
		if (!v->have)
			continue;
		for (uint32_t j = 0; j < p->n; j++)
			if (p->com[j].have && p->com[j].view == v->view &&
			    !memcmp(p->com[j].hash, v->hash, TR_HASH_LEN))
				cnt++;
		if (cnt < p->q)
			continue;
		if (p->have_pp && !memcmp(p->pp_hash, v->hash, TR_HASH_LEN)) {
			block = p->pp_block;
			len = p->pp_len;
		} else if (p->pc.have && p->pc.block && !memcmp(p->pc.hash, v->hash, TR_HASH_LEN)) {
			block = p->pc.block;
			len = p->pc.len;
		} else if (p->nv.have && p->nv.fixed && p->nv.base == p->height &&
			   !memcmp(p->nv.hash, v->hash, TR_HASH_LEN)) {
			block = p->nv.block;
			len = p->nv.len;
		}
		if (!block) {
			want(p, p->height + 1, i == p->self ? (p->self + 1) % p->n : i, true);
			return;
		}
		cview = v->view;
		memcpy(hash, v->hash, TR_HASH_LEN);
		if (build_cert(p, cview, hash, &cert, &cert_len))
			return;
		(void)advance(p, block, len, hash, cert, cert_len, cview);
		free(cert);
		return;
	}
}

/* ==== Normal case ==== */

static int send_commit(pbft *p)
{
	Pbft__Vote vm = PBFT__VOTE__INIT;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *bytes;
	size_t len;
	int rc;
	/* Never two different COMMITs for one (view, height). */
	if (p->my_commit.have && p->my_commit.view == p->view &&
	    p->my_commit.height == p->height + 1 &&
	    memcmp(p->my_commit.hash, p->pp_hash, TR_HASH_LEN))
		return TR_ESTATE;
	rc = pbft_wire_sign_commit(p->key, p->c->chain_id, p->view, p->height + 1, p->pp_hash, sig);
	if (rc)
		return rc;
	p->st.sigs_made++;
	p->my_commit.have = true;
	p->my_commit.view = p->view;
	p->my_commit.height = p->height + 1;
	memcpy(p->my_commit.hash, p->pp_hash, TR_HASH_LEN);
	rc = act_persist(p, PBFT_VOTE_COMMIT, p->view, p->height + 1, p->pp_hash);
	if (rc)
		return rc;
	p->com[p->self].have = true;
	p->com[p->self].view = p->view;
	memcpy(p->com[p->self].hash, p->pp_hash, TR_HASH_LEN);
	memcpy(p->com[p->self].sig, sig, TR_SIG_LEN);
	vm.view = p->view;
	vm.height = p->height + 1;
	vm.block_hash.data = p->pp_hash;
	vm.block_hash.len = TR_HASH_LEN;
	vm.signature.data = sig;
	vm.signature.len = TR_SIG_LEN;
	rc = pbft_wire_message(p->self, NULL, NULL, &vm, NULL, &bytes, &len);
	if (rc)
		return rc;
	set_bytes(&p->out_commit, &p->out_commit_len, bytes, len);
	rebroadcast(p, bytes, len);
	return 0;
}

/* Pre-prepare plus 2f+1 matching prepare signatures (the primary's is in
 * its PRE-PREPARE): prepared. Keep the certificate, vote COMMIT. */
static void check_prepared(pbft *p)
{
	uint32_t cnt = 0;
	if (!p->have_pp || p->slot_prepared)
		return;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->prep[i].have && !memcmp(p->prep[i].hash, p->pp_hash, TR_HASH_LEN))
			cnt++;
	if (cnt < p->q)
		return;
	clear_pc(p);
	p->pc.have = true;
	p->pc.view = p->view;
	memcpy(p->pc.hash, p->pp_hash, TR_HASH_LEN);
	for (uint32_t i = 0, k = 0; i < p->n && k < p->q; i++) {
		if (p->prep[i].have && !memcmp(p->prep[i].hash, p->pp_hash, TR_HASH_LEN)) {
			p->pc.who[i] = true;
			memcpy(p->pc.sigs[i], p->prep[i].sig, TR_SIG_LEN);
			k++;
		}
	}
	p->pc.block = memdup(p->pp_block, p->pp_len);
	p->pc.len = p->pc.block ? p->pp_len : 0;
	p->pc.block_unsaved = p->pc.block != NULL;
	p->slot_prepared = true;
	p->slot_at = p->now;
	if (send_commit(p) == 0)
		check_committed(p);
}

/* Is this block acceptable at height+1 apart from who proposed it? */
static int check_block(pbft *p, const uint8_t *block, size_t len, pbft_wire_header *h)
{
	int rc = pbft_wire_block_header(block, len, p->block_max, h);
	if (rc)
		return rc;
	if (memcmp(h->chain_id, p->c->chain_id, TR_HASH_LEN) || h->height != p->height + 1 ||
	    memcmp(h->prev_hash, p->head, TR_HASH_LEN))
		return TR_EINVAL;
	return 0;
}

/* A PRE-PREPARE of `view` for height+1 whose signature has been checked.
 * Accept it, vote PREPARE (after persisting the vote). */
static int accept_pre_prepare(pbft *p, const uint8_t *block, size_t len,
			      const uint8_t hash[TR_HASH_LEN], const uint8_t *sig)
{
	uint32_t prim = primary_of(p, p->view);
	int rc;
	if (p->have_pp) {
		if (!memcmp(p->pp_hash, hash, TR_HASH_LEN))
			return 0;
		/* Two PRE-PREPAREs signed by the primary for one (view,
		 * height): it equivocates. */
		p->st.dropped_wrong++;
		return start_view_change(p, p->view + 1);
	}
	/* A NEW-VIEW may force the block at base+1. */
	if (p->nv.have && p->nv.view == p->view) {
		if (p->height < p->nv.base)
			return TR_ESTATE;
		if (p->height == p->nv.base && p->nv.fixed &&
		    memcmp(p->nv.hash, hash, TR_HASH_LEN)) {
			p->st.dropped_wrong++;
			return start_view_change(p, p->view + 1);
		}
	}
	/* Never prepare two blocks in one (view, height), not even across a
	 * restart. */
	if (p->my_prep.have && p->my_prep.view == p->view && p->my_prep.height == p->height + 1 &&
	    memcmp(p->my_prep.hash, hash, TR_HASH_LEN)) {
		p->st.dropped_wrong++;
		return TR_ESTATE;
	}
	if (p->validate(p->validate_ctx, block, len, p->height + 1, p->head) != 0) {
		p->st.dropped_wrong++;
		return start_view_change(p, p->view + 1);
	}
	p->pp_block = memdup(block, len);
	if (!p->pp_block)
		return TR_ENOMEM;
	p->pp_len = len;
	p->have_pp = true;
	p->slot_at = p->now;
	memcpy(p->pp_hash, hash, TR_HASH_LEN);
	p->prep[prim].have = true;
	p->prep[prim].view = p->view;
	memcpy(p->prep[prim].hash, hash, TR_HASH_LEN);
	memcpy(p->prep[prim].sig, sig, TR_SIG_LEN);
	/* Drop prepares for other hashes collected before the PRE-PREPARE:
	 * they never count (check_prepared compares hashes). */
	if (p->self != prim) {
		Pbft__Vote vm = PBFT__VOTE__INIT;
		uint8_t mysig[TR_SIG_LEN];
		uint8_t *bytes;
		size_t blen;
		rc = pbft_wire_sign_prepare(p->key, p->c->chain_id, p->view, p->height + 1, hash,
					    mysig);
		if (rc)
			return rc;
		p->st.sigs_made++;
		p->my_prep.have = true;
		p->my_prep.view = p->view;
		p->my_prep.height = p->height + 1;
		memcpy(p->my_prep.hash, hash, TR_HASH_LEN);
		rc = act_persist(p, PBFT_VOTE_PREPARE, p->view, p->height + 1, hash);
		if (rc)
			return rc;
		p->prep[p->self].have = true;
		p->prep[p->self].view = p->view;
		memcpy(p->prep[p->self].hash, hash, TR_HASH_LEN);
		memcpy(p->prep[p->self].sig, mysig, TR_SIG_LEN);
		vm.view = p->view;
		vm.height = p->height + 1;
		vm.block_hash.data = (uint8_t *)(uintptr_t)hash;
		vm.block_hash.len = TR_HASH_LEN;
		vm.signature.data = mysig;
		vm.signature.len = TR_SIG_LEN;
		rc = pbft_wire_message(p->self, NULL, &vm, NULL, NULL, &bytes, &blen);
		if (rc)
			return rc;
		set_bytes(&p->out_prep, &p->out_prep_len, bytes, blen);
		rebroadcast(p, bytes, blen);
	}
	check_prepared(p);
	return 0;
}

/* Where msg of `from`, for a later height or view, would be kept: a free
 * place, or -1 when these bytes are kept already or there is no room (the
 * sender's FUTURE_PER_PEER places or all FUTURE_MAX taken: counted). Asked
 * before the signature is checked, so a partner sending validly signed
 * votes far ahead costs a signature check only for the few that are kept. */
static int future_slot(pbft *p, uint32_t from, const uint8_t *msg, size_t len)
{
	int free_slot = -1;
	uint32_t mine = 0;
	for (int i = 0; i < FUTURE_MAX; i++) {
		if (!p->fut[i].have) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (p->fut[i].from == from)
			mine++;
		if (p->fut[i].from == from && p->fut[i].len == len &&
		    !memcmp(p->fut[i].msg, msg, len))
			return -1;
	}
	if (mine >= FUTURE_PER_PEER || free_slot < 0 || len > p->msg_max) {
		p->st.dropped_future++;
		return -1;
	}
	return free_slot;
}

/* Keep a message for a later height or view at the place future_slot gave. */
static void keep_future(pbft *p, int slot, uint32_t from, uint64_t height, uint64_t view,
			const uint8_t *msg, size_t len)
{
	p->fut[slot].msg = memdup(msg, len);
	if (!p->fut[slot].msg)
		return;
	p->fut[slot].have = true;
	p->fut[slot].from = from;
	p->fut[slot].height = height;
	p->fut[slot].view = view;
	p->fut[slot].len = len;
}

/* Where a consensus message for (view, height) belongs: 0 now, 1 later
 * (kept), -1 never. Catch-up and pushes are triggered here. */
static int place(pbft *p, uint32_t from, uint64_t view, uint64_t height, bool is_commit)
{
	if (height <= p->height) {
		/* The sender was at height-1. Help it, unless this is just a
		 * late vote for the block we committed a moment ago. */
		p->st.dropped_stale++;
		if (height < p->height || p->now - p->committed_at >= p->retx_ticks)
			push_blocks(p, from, height - 1);
		return -1;
	}
	if (height > p->height + 1) {
		/* The sender committed up to height-1 at least. */
		want(p, height - 1, from, false);
		return 1;
	}
	if (is_commit)
		return 0; /* COMMITs count in any view */
	if (p->vc_mode)
		return view >= p->view ? 1 : -1;
	if (view < p->view) {
		p->st.dropped_stale++;
		return -1;
	}
	return view > p->view ? 1 : 0;
}

static int on_pre_prepare(pbft *p, uint32_t from, const Pbft__PrePrepare *m, const uint8_t *raw,
			  size_t raw_len)
{
	pbft_wire_header h;
	int where, rc, slot = -1;
	if (m->signature.len != TR_SIG_LEN || from != primary_of(p, m->view)) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	rc = pbft_wire_block_header(m->block.data, m->block.len, p->block_max, &h);
	if (rc || h.height != m->height) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	where = place(p, from, m->view, m->height, false);
	if (where < 0)
		return 0;
	if (p->have_pp && where == 0 && !memcmp(p->pp_hash, h.hash, TR_HASH_LEN) &&
	    !memcmp(p->prep[from].sig, m->signature.data, TR_SIG_LEN))
		return 0; /* a retransmission */
	if ((where > 0 || p->unapplied) && (slot = future_slot(p, from, raw, raw_len)) < 0)
		return 0;
	if (verify_prepare(p, from, m->view, m->height, h.hash, m->signature.data)) {
		p->st.dropped_badsig++;
		return TR_EBADSIG;
	}
	if (where > 0 || p->unapplied) {
		keep_future(p, slot, from, m->height, m->view, raw, raw_len);
		return 0;
	}
	rc = check_block(p, m->block.data, m->block.len, &h);
	if (rc) {
		/* The primary signed a block that cannot follow our head. */
		p->st.dropped_wrong++;
		return start_view_change(p, p->view + 1);
	}
	return accept_pre_prepare(p, m->block.data, m->block.len, h.hash, m->signature.data);
}

static int on_vote(pbft *p, uint32_t from, const Pbft__Vote *m, bool commit, const uint8_t *raw,
		   size_t raw_len)
{
	vote *slot;
	int where, kept_at = -1;
	if (m->signature.len != TR_SIG_LEN || m->block_hash.len != TR_HASH_LEN || m->height == 0) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	where = place(p, from, m->view, m->height, commit);
	if (where < 0)
		return 0;
	slot = commit ? &p->com[from] : &p->prep[from];
	if (where == 0 && slot->have) {
		if (slot->view == m->view && !memcmp(slot->hash, m->block_hash.data, TR_HASH_LEN))
			return 0; /* already counted */
		if (!commit || slot->view >= m->view) {
			/* A second vote of one replica for one slot: keep the
			 * first (it may be lying; it counts at most once). */
			p->st.dropped_wrong++;
			return 0;
		}
	}
	if (where > 0 && (kept_at = future_slot(p, from, raw, raw_len)) < 0)
		return 0;
	if ((commit ? verify_commit : verify_prepare)(p, from, m->view, m->height,
						      m->block_hash.data, m->signature.data)) {
		p->st.dropped_badsig++;
		return TR_EBADSIG;
	}
	if (where > 0) {
		keep_future(p, kept_at, from, m->height, m->view, raw, raw_len);
		return 0;
	}
	slot->have = true;
	slot->view = m->view;
	memcpy(slot->hash, m->block_hash.data, TR_HASH_LEN);
	memcpy(slot->sig, m->signature.data, TR_SIG_LEN);
	if (commit)
		check_committed(p);
	else
		check_prepared(p);
	return 0;
}

/* ==== View change ==== */

/* Verify a prepared certificate for `height` below `before_view`. */
static int check_prepared_cert(pbft *p, const Pbft__PreparedCert *pc, uint64_t height,
			       uint64_t before_view)
{
	bool seen[N_MAX] = {false};
	uint32_t good = 0;
	if (pc->height != height || pc->view >= before_view || pc->block_hash.len != TR_HASH_LEN ||
	    pc->n_sigs > p->n)
		return TR_EINVAL;
	for (size_t i = 0; i < pc->n_sigs; i++) {
		const Pbft__ReplicaSig *s = pc->sigs[i];
		if (s->replica >= p->n || seen[s->replica] || s->signature.len != TR_SIG_LEN)
			return TR_EINVAL;
		if (verify_prepare(p, s->replica, pc->view, pc->height, pc->block_hash.data,
				   s->signature.data))
			return TR_EBADSIG;
		seen[s->replica] = true;
		good++;
	}
	return good >= p->q ? 0 : TR_EVERIFY;
}

static int cert_check(pbft *p, const uint8_t *cert, size_t len, uint64_t *view, uint64_t *height,
		      uint8_t hash[TR_HASH_LEN])
{
	Trellis__CommitCertificate *cc;
	uint64_t v;
	bool canonical;
	int rc;
	if (len > PBFT_OVERHEAD_MAX)
		return TR_EINVAL;
	cc = (Trellis__CommitCertificate *)pbft_wire_unpack(
		&trellis__commit_certificate__descriptor, cert, len);
	if (!cc)
		return TR_EINVAL;
	/* The exact bytes protobuf-c packs, as for blocks: the votes do not
	 * cover the encoding, and a partner serving catch-up could otherwise
	 * pad the certificate past what the ledger stores
	 * (LDG_CERT_BYTES_MAX), and the node stops when its store refuses a
	 * committed block. Packed, 2f+1..n votes take a few KiB. */
	canonical = tr_pb_canonical(&cc->base, cert, len);
	v = cc->view;
	pbft_wire_free(&cc->base);
	if (!canonical)
		return TR_EINVAL;
	rc = pbft_cert_check(p->c, cert, len, p->verify, p->verify_ctx, height, hash);
	if (rc)
		return rc;
	/* Counted as checked in bulk: q signatures. */
	p->st.sigs_checked += p->q;
	*view = v;
	return 0;
}

/* Parse a signed VIEW-CHANGE. Always checks the signature; with `full`
 * also its certificates and the attached block. On success fills *out
 * (body and block copied). */
static int parse_vc(pbft *p, const Pbft__Signed *s, bool full, vc_info *out)
{
	Pbft__Body *body;
	const Pbft__ViewChange *vc;
	int rc = TR_EINVAL;
	if (s->replica >= p->n || s->signature.len != TR_SIG_LEN || s->body.len > p->msg_max)
		return TR_EINVAL;
	if (verify_sig(p, s->replica, TR_TAG_PBFT, s->body.data, s->body.len, s->signature.data))
		return TR_EBADSIG;
	body = (Pbft__Body *)pbft_wire_unpack(&pbft__body__descriptor, s->body.data, s->body.len);
	if (!body)
		return TR_EINVAL;
	if (body->kind_case != PBFT__BODY__KIND_VIEW_CHANGE)
		goto fail;
	vc = body->view_change;
	memset(out, 0, sizeof *out);
	out->new_view = vc->new_view;
	out->height = vc->height;
	if (vc->height == 0 ? vc->committed.len != 0 : vc->committed.len == 0)
		goto fail;
	if (vc->prepared) {
		if (vc->prepared->block_hash.len != TR_HASH_LEN)
			goto fail;
		out->has_prepared = true;
		out->pview = vc->prepared->view;
		memcpy(out->phash, vc->prepared->block_hash.data, TR_HASH_LEN);
	}
	if (vc->height == 0)
		memcpy(out->head, p->c->chain_id, TR_HASH_LEN);
	if (full) {
		if (vc->height > 0) {
			uint64_t cv, ch;
			rc = cert_check(p, vc->committed.data, vc->committed.len, &cv, &ch, out->head);
			if (rc || ch != vc->height) {
				rc = rc ? rc : TR_EVERIFY;
				goto fail;
			}
		}
		if (vc->prepared) {
			rc = check_prepared_cert(p, vc->prepared, vc->height + 1, vc->new_view);
			if (rc)
				goto fail;
		}
		out->checked = true;
	}
	if (s->block.len && out->has_prepared) {
		pbft_wire_header h;
		if (pbft_wire_block_header(s->block.data, s->block.len, p->block_max, &h) == 0 &&
		    !memcmp(h.hash, out->phash, TR_HASH_LEN) && h.height == vc->height + 1 &&
		    pbft_wire_block_body_ok(s->block.data, s->block.len, p->block_max) == 0) {
			out->block = memdup(s->block.data, s->block.len);
			out->block_len = out->block ? s->block.len : 0;
		}
	}
	out->body = memdup(s->body.data, s->body.len);
	if (!out->body) {
		free(out->block);
		rc = TR_ENOMEM;
		goto fail;
	}
	out->body_len = s->body.len;
	memcpy(out->sig, s->signature.data, TR_SIG_LEN);
	out->have = true;
	rc = 0;
fail:
	pbft_wire_free(&body->base);
	return rc;
}

/* The decision a NEW-VIEW must follow, from checked VIEW-CHANGEs: base =
 * highest certified height; at base+1, the block of the prepared
 * certificate with the highest view among those at base, if any. */
static void decide(const vc_info *vcs, const bool *use, uint32_t n, nv_decision *d)
{
	int best = -1;
	memset(d, 0, sizeof *d);
	d->block_from = -1;
	for (uint32_t i = 0; i < n; i++)
		if (use[i] && vcs[i].height >= d->base) {
			d->base = vcs[i].height;
			d->base_from = i;
		}
	for (uint32_t i = 0; i < n; i++) {
		if (!use[i] || vcs[i].height != d->base || !vcs[i].has_prepared)
			continue;
		if (best < 0 || vcs[i].pview > vcs[best].pview ||
		    (vcs[i].pview == vcs[best].pview &&
		     memcmp(vcs[i].phash, vcs[best].phash, TR_HASH_LEN) < 0))
			best = (int)i;
	}
	if (best < 0)
		return;
	d->fixed = true;
	memcpy(d->hash, vcs[best].phash, TR_HASH_LEN);
	for (uint32_t i = 0; i < n; i++)
		if (use[i] && vcs[i].block && vcs[i].height == d->base && vcs[i].has_prepared &&
		    !memcmp(vcs[i].phash, d->hash, TR_HASH_LEN)) {
			d->block_from = (int)i;
			break;
		}
}

/* Build and sign our VIEW-CHANGE for p->view; keep it for resending. */
static int send_view_change(pbft *p)
{
	Pbft__Body body = PBFT__BODY__INIT;
	Pbft__ViewChange vc = PBFT__VIEW_CHANGE__INIT;
	Pbft__PreparedCert pcm = PBFT__PREPARED_CERT__INIT;
	Pbft__ReplicaSig rs[N_MAX];
	Pbft__ReplicaSig *rsp[N_MAX];
	Pbft__Signed sg = PBFT__SIGNED__INIT;
	vc_info mine;
	uint8_t *bytes, *bb = NULL;
	size_t len, bl;
	int rc;
	memset(&mine, 0, sizeof mine);
	vc.new_view = p->view;
	vc.height = p->height;
	if (p->height > 0) {
		vc.committed.data = p->head_cert;
		vc.committed.len = p->head_cert_len;
	}
	if (p->pc.have) {
		fill_cert_msg(&pcm, rs, rsp, &p->pc, p->height + 1, p->n);
		vc.prepared = &pcm;
	}
	body.kind_case = PBFT__BODY__KIND_VIEW_CHANGE;
	body.view_change = &vc;
	rc = pbft_wire_pack(&body.base, &bb, &bl);
	if (rc)
		return rc;
	rc = tr_sign_tagged(p->key, TR_TAG_PBFT, p->c->chain_id, bb, bl, mine.sig);
	if (rc)
		goto fail;
	p->st.sigs_made++;
	sg.replica = p->self;
	sg.body.data = bb;
	sg.body.len = bl;
	sg.signature.data = mine.sig;
	sg.signature.len = TR_SIG_LEN;
	if (p->pc.have && p->pc.block) {
		sg.block.data = p->pc.block;
		sg.block.len = p->pc.len;
	}
	rc = pbft_wire_message(p->self, NULL, NULL, NULL, &sg, &bytes, &len);
	if (rc)
		goto fail;
	/* Keep our own VIEW-CHANGE like anyone else's. */
	mine.have = mine.checked = true;
	mine.new_view = p->view;
	mine.height = p->height;
	memcpy(mine.head, p->head, TR_HASH_LEN);
	if (p->pc.have) {
		mine.has_prepared = true;
		mine.pview = p->pc.view;
		memcpy(mine.phash, p->pc.hash, TR_HASH_LEN);
		if (p->pc.block) {
			mine.block = memdup(p->pc.block, p->pc.len);
			mine.block_len = mine.block ? p->pc.len : 0;
		}
	}
	mine.body = bb;
	mine.body_len = bl;
	bb = NULL;
	clear_vc(&p->vc[p->self]);
	p->vc[p->self] = mine;
	set_bytes(&p->out_vc, &p->out_vc_len, bytes, len);
	rebroadcast(p, bytes, len);
fail:
	free(bb);
	return rc;
}

static int start_view_change(pbft *p, uint64_t new_view)
{
	int rc;
	if (new_view <= p->view)
		return 0;
	p->view = new_view;
	p->vc_mode = true;
	p->vc_armed = false;
	p->slot_at = p->now;
	if (p->backoff < PBFT_BACKOFF_MAX)
		p->backoff++;
	p->timer_start = p->now;
	p->st.view_changes++;
	clear_slot(p, true);
	clear_nv(p);
	rc = act_persist(p, PBFT_VOTE_VIEW, p->view, p->height, NULL);
	if (rc)
		return rc;
	rc = send_view_change(p);
	if (rc)
		return rc;
	arm_check(p);
	try_new_view(p);
	return 0;
}

/* Count the VIEW-CHANGEs for the view being entered; arm the timer at
 * 2f+1 (Castro-Liskov: a replica does not give up on a view before 2f+1
 * replicas want it). */
static uint32_t vc_count(const pbft *p, uint64_t view)
{
	uint32_t cnt = 0;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->vc[i].have && p->vc[i].new_view == view)
			cnt++;
	return cnt;
}

static void arm_check(pbft *p)
{
	if (p->vc_mode && !p->vc_armed && vc_count(p, p->view) >= p->q) {
		p->vc_armed = true;
		p->timer_start = p->now;
	}
}

/* f+1 replicas want views above ours: join the highest view that f+1 of
 * them want at least. */
static void maybe_join(pbft *p)
{
	uint64_t vs[N_MAX];
	uint32_t k = 0;
	for (uint32_t i = 0; i < p->n; i++)
		if (i != p->self && p->vc[i].have && p->vc[i].new_view > p->view)
			vs[k++] = p->vc[i].new_view;
	if (k < p->f + 1)
		return;
	/* the (f+1)-th largest */
	for (uint32_t a = 0; a < k; a++)
		for (uint32_t b = a + 1; b < k; b++)
			if (vs[b] > vs[a]) {
				uint64_t t = vs[a];
				vs[a] = vs[b];
				vs[b] = t;
			}
	(void)start_view_change(p, vs[p->f]);
}

static int enter_view(pbft *p, uint64_t view, const nv_decision *d, const uint8_t *block,
		      size_t len, const uint8_t *sig, const uint8_t *nv_msg, size_t nv_len)
{
	int rc;
	p->view = view;
	p->vc_mode = false;
	p->vc_armed = false;
	p->timer_start = p->now;
	clear_slot(p, true);
	clear_nv(p);
	set_bytes(&p->out_vc, &p->out_vc_len, NULL, 0);
	for (uint32_t i = 0; i < p->n; i++)
		if (p->vc[i].have && p->vc[i].new_view <= view)
			clear_vc(&p->vc[i]);
	p->nv.have = true;
	p->nv.view = view;
	p->nv.base = d->base;
	p->nv.fixed = d->fixed;
	if (d->fixed) {
		memcpy(p->nv.hash, d->hash, TR_HASH_LEN);
		memcpy(p->nv.sig, sig, TR_SIG_LEN);
		p->nv.block = memdup(block, len);
		if (!p->nv.block)
			return TR_ENOMEM;
		p->nv.len = len;
	}
	p->nv.msg = memdup(nv_msg, nv_len);
	p->nv.msg_len = p->nv.msg ? nv_len : 0;
	rc = act_persist(p, PBFT_VOTE_VIEW, view, p->height, NULL);
	if (rc)
		return rc;
	if (p->height < d->base)
		want(p, d->base, d->base_from, true);
	p->progress_again = true;
	return 0;
}

/* As the primary of the view being entered: with 2f+1 checked
 * VIEW-CHANGEs that carry the block of their prepared certificate, if
 * they have one, send NEW-VIEW. */
static void try_new_view(pbft *p)
{
	Pbft__Body body = PBFT__BODY__INIT;
	Pbft__NewView nvm = PBFT__NEW_VIEW__INIT;
	Pbft__PrePrepare ppm = PBFT__PRE_PREPARE__INIT;
	Pbft__Signed sg[N_MAX];
	Pbft__Signed *sgp[N_MAX];
	bool use[N_MAX] = {false};
	uint32_t cnt = 0, k = 0;
	nv_decision d;
	const uint8_t *block = NULL;
	size_t blen = 0;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *bytes;
	size_t len;

	if (!p->vc_mode || primary_of(p, p->view) != p->self)
		return;
	for (uint32_t i = 0; i < p->n; i++) {
		vc_info *v = &p->vc[i];
		if (!v->have || v->new_view != p->view)
			continue;
		if (!v->checked) {
			Pbft__Signed s = PBFT__SIGNED__INIT;
			vc_info full;
			s.replica = i;
			s.body.data = v->body;
			s.body.len = v->body_len;
			s.signature.data = v->sig;
			s.signature.len = TR_SIG_LEN;
			if (v->block) {
				s.block.data = v->block;
				s.block.len = v->block_len;
			}
			if (parse_vc(p, &s, true, &full) != 0) {
				p->st.dropped_wrong++;
				clear_vc(v);
				continue;
			}
			clear_vc(v);
			*v = full;
		}
		/* A prepared certificate without its block: an honest replica
		 * always sends the block with it (it persists it), so this one
		 * is faulty. Counted, it could force a hash whose block nobody
		 * sends, and this primary would wait for it in every view from
		 * now on; any q other VIEW-CHANGEs make a safe NEW-VIEW. */
		if (v->has_prepared && !v->block)
			continue;
		use[i] = true;
		cnt++;
	}
	if (cnt < p->q)
		return;
	decide(p->vc, use, p->n, &d);
	if (d.fixed) {
		if (d.block_from < 0)
			return; /* wait for a VIEW-CHANGE that carries the block */
		block = p->vc[d.block_from].block;
		blen = p->vc[d.block_from].block_len;
		if (pbft_wire_sign_prepare(p->key, p->c->chain_id, p->view, d.base + 1, d.hash, sig))
			return;
		p->st.sigs_made++;
		p->my_prep.have = true;
		p->my_prep.view = p->view;
		p->my_prep.height = d.base + 1;
		memcpy(p->my_prep.hash, d.hash, TR_HASH_LEN);
		ppm.view = p->view;
		ppm.height = d.base + 1;
		ppm.block.data = (uint8_t *)(uintptr_t)block;
		ppm.block.len = blen;
		ppm.signature.data = sig;
		ppm.signature.len = TR_SIG_LEN;
		nvm.pre_prepare = &ppm;
	}
	for (uint32_t i = 0; i < p->n; i++) {
		if (!use[i])
			continue;
		pbft__signed__init(&sg[k]);
		sg[k].replica = i;
		sg[k].body.data = p->vc[i].body;
		sg[k].body.len = p->vc[i].body_len;
		sg[k].signature.data = p->vc[i].sig;
		sg[k].signature.len = TR_SIG_LEN;
		sgp[k] = &sg[k];
		k++;
	}
	nvm.view = p->view;
	nvm.n_view_changes = k;
	nvm.view_changes = sgp;
	body.kind_case = PBFT__BODY__KIND_NEW_VIEW;
	body.new_view = &nvm;
	/* The PRE-PREPARE vote inside is persisted before it leaves. */
	if (d.fixed && act_persist(p, PBFT_VOTE_PREPARE, p->view, d.base + 1, d.hash))
		return;
	if (pbft_wire_signed_message(p->key, p->c->chain_id, p->self, &body, NULL, 0, &bytes,
				     &len))
		return;
	p->st.sigs_made++;
	{
		/* enter_view frees the VIEW-CHANGEs the block points into. */
		uint8_t *bcopy = block ? memdup(block, blen) : NULL;
		if (block && !bcopy) {
			free(bytes);
			return;
		}
		(void)enter_view(p, p->view, &d, bcopy, blen, sig, bytes, len);
		free(bcopy);
	}
	act_broadcast(p, bytes, len);
}

static int on_view_change(pbft *p, uint32_t from, const Pbft__Signed *s)
{
	vc_info v;
	int rc;
	/* Stale and duplicate VIEW-CHANGEs cost no signature check. */
	if (p->vc[from].have && p->vc[from].body_len == s->body.len &&
	    !memcmp(p->vc[from].body, s->body.data, s->body.len))
		return 0;
	rc = parse_vc(p, s, false, &v);
	if (rc) {
		if (rc == TR_EBADSIG)
			p->st.dropped_badsig++;
		else
			p->st.dropped_malformed++;
		return rc;
	}
	if (v.height > p->height)
		want(p, v.height, from, false); /* certificate not checked yet */
	else if (v.height < p->height)
		push_blocks(p, from, v.height);
	if (v.new_view < p->view || (!p->vc_mode && v.new_view == p->view)) {
		/* The sender wants a view we have already entered: show it the
		 * NEW-VIEW (rate-limited with pushes). */
		if (!p->vc_mode && v.new_view == p->view && p->nv.have && p->nv.msg &&
		    p->self == primary_of(p, p->view) &&
		    (!p->serve_at[from] || p->now >= p->serve_at[from] - 1 + p->retx_ticks)) {
			uint8_t *d = memdup(p->nv.msg, p->nv.msg_len);
			p->serve_at[from] = p->now + 1;
			if (d)
				act_send(p, from, d, p->nv.msg_len);
		}
		p->st.dropped_stale++;
		clear_vc(&v);
		return 0;
	}
	if (p->vc[from].have && p->vc[from].new_view > v.new_view) {
		clear_vc(&v);
		return 0;
	}
	clear_vc(&p->vc[from]);
	p->vc[from] = v;
	maybe_join(p);
	arm_check(p);
	try_new_view(p);
	return 0;
}

static int on_new_view(pbft *p, uint32_t from, const Pbft__NewView *m, const uint8_t *raw,
		       size_t raw_len)
{
	vc_info *vcs = NULL;
	bool use[N_MAX] = {false};
	uint32_t cnt = 0;
	nv_decision d;
	pbft_wire_header h;
	uint8_t raw_hash[TR_HASH_LEN];
	int rc = TR_EINVAL;
	if (from != primary_of(p, m->view) || m->n_view_changes > p->n) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	if (m->view < p->view || (!p->vc_mode && m->view == p->view)) {
		p->st.dropped_stale++;
		return 0;
	}
	/* cheap checks first: distinct senders, enough of them */
	for (size_t i = 0; i < m->n_view_changes; i++) {
		uint32_t r = m->view_changes[i]->replica;
		if (r >= p->n || use[r]) {
			p->st.dropped_malformed++;
			return TR_EINVAL;
		}
		use[r] = true;
	}
	memset(use, 0, sizeof use);
	if (m->n_view_changes < p->q) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	tr_sha256(raw_hash, raw, raw_len);
	if (p->nv_refused_have[from] && !memcmp(p->nv_refused[from], raw_hash, TR_HASH_LEN)) {
		p->st.dropped_wrong++;
		return TR_EINVAL;
	}
	vcs = calloc(p->n, sizeof *vcs);
	if (!vcs)
		return TR_ENOMEM;
	for (size_t i = 0; i < m->n_view_changes; i++) {
		const Pbft__Signed *s = m->view_changes[i];
		vc_info v;
		int vr;
		if (s->replica >= p->n || use[s->replica])
			goto bad;
		if ((vr = parse_vc(p, s, true, &v)) == TR_ENOMEM) {
			rc = vr; /* not the message's fault: not remembered */
			goto done;
		}
		if (vr != 0)
			goto bad;
		if (v.new_view != m->view) {
			clear_vc(&v);
			goto bad;
		}
		vcs[s->replica] = v;
		use[s->replica] = true;
		cnt++;
	}
	if (cnt < p->q)
		goto bad;
	decide(vcs, use, p->n, &d);
	/* The NEW-VIEW must re-propose exactly what its VIEW-CHANGEs force,
	 * and nothing when they force nothing. */
	if (d.fixed) {
		const Pbft__PrePrepare *pp = m->pre_prepare;
		if (!pp || pp->view != m->view || pp->height != d.base + 1 ||
		    pp->signature.len != TR_SIG_LEN ||
		    pbft_wire_block_header(pp->block.data, pp->block.len, p->block_max, &h) ||
		    memcmp(h.hash, d.hash, TR_HASH_LEN) || h.height != d.base + 1 ||
		    pbft_wire_block_body_ok(pp->block.data, pp->block.len, p->block_max) ||
		    verify_prepare(p, from, m->view, d.base + 1, d.hash, pp->signature.data))
			goto bad;
		rc = enter_view(p, m->view, &d, pp->block.data, pp->block.len, pp->signature.data,
				raw, raw_len);
	} else {
		if (m->pre_prepare)
			goto bad;
		rc = enter_view(p, m->view, &d, NULL, 0, NULL, raw, raw_len);
	}
	goto done;
bad:
	p->st.dropped_wrong++;
	memcpy(p->nv_refused[from], raw_hash, TR_HASH_LEN);
	p->nv_refused_have[from] = true;
	rc = TR_EINVAL;
done:
	for (uint32_t i = 0; i < p->n; i++)
		clear_vc(&vcs[i]);
	free(vcs);
	return rc;
}

/* ==== Catch-up answers ==== */

static void drop_buffered(buffered_block *b)
{
	free(b->block);
	free(b->cert);
	memset(b, 0, sizeof *b);
}

int pbft_deliver_block(pbft *p, uint64_t height, const uint8_t *block, size_t len,
		       const uint8_t *cert, size_t cert_len)
{
	pbft_wire_header h;
	uint64_t cv, ch;
	uint8_t chash[TR_HASH_LEN];
	buffered_block *slot;
	int rc;
	if (height <= p->height)
		return TR_EEXIST;
	if (height > p->height + PBFT_CATCHUP_MAX)
		return TR_EFULL;
	slot = &p->buf[height % PBFT_CATCHUP_MAX];
	if (slot->have && slot->height == height)
		return TR_EEXIST;
	rc = pbft_wire_block_header(block, len, p->block_max, &h);
	if (rc)
		return rc;
	if (h.height != height || memcmp(h.chain_id, p->c->chain_id, TR_HASH_LEN))
		return TR_EINVAL;
	rc = cert_check(p, cert, cert_len, &cv, &ch, chash);
	if (rc)
		return rc;
	if (ch != height || memcmp(chash, h.hash, TR_HASH_LEN))
		return TR_EVERIFY;
	/* the certificate covers the header only: the records must be the
	 * ones the header commits to, or a peer could swap them */
	rc = pbft_wire_block_body_ok(block, len, p->block_max);
	if (rc)
		return rc;
	if (height == p->height + 1) {
		if (memcmp(h.prev_hash, p->head, TR_HASH_LEN))
			return TR_EVERIFY;
		rc = advance(p, block, len, h.hash, cert, cert_len, cv);
		if (rc)
			return rc;
		p->st.caught_up++;
		p->fetch.got_at = p->fetch.progress_at = p->now;
		progress(p);
		return 0;
	}
	drop_buffered(slot);
	slot->block = memdup(block, len);
	slot->cert = memdup(cert, cert_len);
	if (!slot->block || !slot->cert) {
		drop_buffered(slot);
		return TR_ENOMEM;
	}
	slot->have = true;
	slot->height = height;
	slot->len = len;
	slot->cert_len = cert_len;
	return 0;
}

int pbft_serve(pbft *p, pbft_replica to, uint64_t height, const uint8_t *block, size_t len,
	       const uint8_t *cert, size_t cert_len)
{
	Pbft__Body body = PBFT__BODY__INIT;
	Pbft__FetchReply fr = PBFT__FETCH_REPLY__INIT;
	uint8_t *bytes;
	size_t blen;
	int rc;
	if (to.v >= p->n || to.v == p->self || height == 0)
		return TR_EINVAL;
	if (len > p->block_max || cert_len > PBFT_OVERHEAD_MAX)
		return TR_ETOOBIG;
	fr.height = height;
	fr.block.data = (uint8_t *)(uintptr_t)block;
	fr.block.len = len;
	fr.certificate.data = (uint8_t *)(uintptr_t)cert;
	fr.certificate.len = cert_len;
	body.kind_case = PBFT__BODY__KIND_FETCH_REPLY;
	body.fetch_reply = &fr;
	rc = pbft_wire_signed_message(p->key, p->c->chain_id, p->self, &body, NULL, 0, &bytes,
				      &blen);
	if (rc)
		return rc;
	p->st.sigs_made++;
	act_send(p, to.v, bytes, blen);
	return 0;
}

static int on_signed(pbft *p, uint32_t from, const Pbft__Signed *s, const uint8_t *raw,
		     size_t raw_len)
{
	Pbft__Body *body;
	int rc = 0;
	if (s->replica != from || s->signature.len != TR_SIG_LEN) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	/* VIEW-CHANGE verifies itself (and skips duplicates first). */
	body = (Pbft__Body *)pbft_wire_unpack(&pbft__body__descriptor, s->body.data, s->body.len);
	if (!body) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	if (body->kind_case == PBFT__BODY__KIND_VIEW_CHANGE) {
		rc = on_view_change(p, from, s);
		goto done;
	}
	if (verify_sig(p, from, TR_TAG_PBFT, s->body.data, s->body.len, s->signature.data)) {
		p->st.dropped_badsig++;
		rc = TR_EBADSIG;
		goto done;
	}
	switch (body->kind_case) {
	case PBFT__BODY__KIND_NEW_VIEW:
		rc = on_new_view(p, from, body->new_view, raw, raw_len);
		break;
	case PBFT__BODY__KIND_FETCH_REQUEST: {
		const Pbft__FetchRequest *fr = body->fetch_request;
		if (fr->first == 0 || fr->first > fr->last) {
			p->st.dropped_malformed++;
			rc = TR_EINVAL;
			break;
		}
		if (fr->first > p->height)
			break;
		/* One answer per peer per tick: a flood costs us nothing. A
		 * request within the tick of the last answer waits for the
		 * next tick (it replaces any waiting one): an honest peer
		 * asks again as soon as it took the previous batch, often
		 * within the tick, and must not wait for its fetch timeout. */
		if (p->serve_at[from] == p->now + 1) {
			if (p->serve_next[from].have)
				p->st.dropped_stale++;
			p->serve_next[from].have = true;
			p->serve_next[from].first = fr->first;
			p->serve_next[from].last = fr->last;
			break;
		}
		p->serve_next[from].have = false;
		serve_request(p, from, fr->first, fr->last);
		break;
	}
	case PBFT__BODY__KIND_FETCH_REPLY: {
		const Pbft__FetchReply *fr = body->fetch_reply;
		rc = pbft_deliver_block(p, fr->height, fr->block.data, fr->block.len,
					fr->certificate.data, fr->certificate.len);
		if (rc == TR_EEXIST)
			rc = 0;
		else if (rc)
			p->st.dropped_wrong++;
		break;
	}
	default:
		p->st.dropped_malformed++;
		rc = TR_EINVAL;
	}
done:
	pbft_wire_free(&body->base);
	return rc;
}

/* ==== Progress: buffered blocks, NEW-VIEW block, kept messages ==== */

static void progress(pbft *p)
{
	if (p->in_progress) {
		p->progress_again = true;
		return;
	}
	p->in_progress = true;
	do {
		p->progress_again = false;
		/* Certified blocks that now follow the head. */
		for (;;) {
			buffered_block *b = &p->buf[(p->height + 1) % PBFT_CATCHUP_MAX];
			pbft_wire_header h;
			uint64_t cv = 0, ch;
			uint8_t chash[TR_HASH_LEN];
			if (!b->have || b->height != p->height + 1)
				break;
			if (pbft_wire_block_header(b->block, b->len, p->block_max, &h) ||
			    memcmp(h.prev_hash, p->head, TR_HASH_LEN) ||
			    cert_check(p, b->cert, b->cert_len, &cv, &ch, chash)) {
				p->st.dropped_wrong++;
				drop_buffered(b);
				break;
			}
			if (advance(p, b->block, b->len, h.hash, b->cert, b->cert_len, cv))
				break;
			p->st.caught_up++;
			p->fetch.got_at = p->fetch.progress_at = p->now;
			drop_buffered(b);
		}
		for (int i = 0; i < PBFT_CATCHUP_MAX; i++)
			if (p->buf[i].have && p->buf[i].height <= p->height)
				drop_buffered(&p->buf[i]);
		/* Catch-up: next range, or done. */
		if (p->fetch.active && p->height >= p->fetch.last && p->height < p->fetch.target)
			issue_fetch(p, p->fetch.peer);
		/* The block a NEW-VIEW forces at its base + 1. */
		if (p->nv.have && p->nv.view == p->view && !p->vc_mode && p->nv.fixed &&
		    p->height == p->nv.base && !p->have_pp && !p->unapplied) {
			pbft_wire_header h;
			if (check_block(p, p->nv.block, p->nv.len, &h) == 0)
				(void)accept_pre_prepare(p, p->nv.block, p->nv.len, h.hash,
							 p->nv.sig);
		}
		/* Kept messages that are now current. */
		for (int i = 0; i < FUTURE_MAX; i++) {
			future_msg *fm = &p->fut[i];
			if (!fm->have)
				continue;
			if (fm->height <= p->height) {
				clear_future(fm);
				continue;
			}
			if (fm->height == p->height + 1 && !p->vc_mode && fm->view <= p->view &&
			    !p->unapplied) {
				future_msg taken = *fm;
				memset(fm, 0, sizeof *fm);
				(void)step_message(p, taken.from, taken.msg, taken.len);
				free(taken.msg);
			}
		}
	} while (p->progress_again);
	p->in_progress = false;
}

/* ==== Input ==== */

static int step_message(pbft *p, uint32_t from, const uint8_t *msg, size_t len)
{
	Pbft__Message *m;
	int rc;
	m = (Pbft__Message *)pbft_wire_unpack(&pbft__message__descriptor, msg, len);
	if (!m) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	if (m->version != PBFT_WIRE_VERSION || m->sender != from) {
		p->st.dropped_malformed++;
		rc = TR_EINVAL;
		goto done;
	}
	switch (m->kind_case) {
	case PBFT__MESSAGE__KIND_PRE_PREPARE:
		rc = on_pre_prepare(p, from, m->pre_prepare, msg, len);
		break;
	case PBFT__MESSAGE__KIND_PREPARE:
		rc = on_vote(p, from, m->prepare, false, msg, len);
		break;
	case PBFT__MESSAGE__KIND_COMMIT:
		rc = on_vote(p, from, m->commit, true, msg, len);
		break;
	case PBFT__MESSAGE__KIND_SIGNED:
		rc = on_signed(p, from, m->signed_, msg, len);
		break;
	default:
		p->st.dropped_malformed++;
		rc = TR_EINVAL;
	}
done:
	pbft_wire_free(&m->base);
	return rc;
}

int pbft_step(pbft *p, pbft_replica from, const uint8_t *msg, size_t len)
{
	int rc;
	p->st.msgs_in++;
	if (from.v >= p->n || from.v == p->self) {
		p->st.dropped_malformed++;
		return TR_EINVAL;
	}
	if (len > p->msg_max) {
		p->st.dropped_malformed++;
		return TR_ETOOBIG;
	}
	rc = step_message(p, from.v, msg, len);
	progress(p);
	return rc;
}

void pbft_tick(pbft *p)
{
	bool work;
	p->now++;
	/* Requests that came too soon after the previous answer. */
	for (uint32_t i = 0; i < p->n; i++) {
		if (!p->serve_next[i].have)
			continue;
		p->serve_next[i].have = false;
		if (p->serve_next[i].first <= p->height)
			serve_request(p, i, p->serve_next[i].first, p->serve_next[i].last);
	}
	/* Catch-up: ask someone else when the answer is late (counted from
	 * the first request to that partner: one that drips a block now and
	 * then is still left). */
	if (p->fetch.active && p->now - p->fetch.sent_at >= p->fetch_ticks) {
		if (++p->fetch.tries >= FETCH_TRIES_MAX || p->n == 1) {
			p->fetch.active = false;
			p->fetch.target = p->height;
		} else {
			issue_fetch(p, next_fetch_peer(p, p->fetch.peer));
		}
	}
	/* A partner answers with what fits in its link queue, often one block
	 * of a full chain, not the whole range asked. When blocks of the last
	 * request came and then none for a tick, ask the same partner again
	 * from here instead of waiting for the timeout: under load a replica
	 * behind caught up one block a second, slower than the chain grew
	 * (bench-bulk). */
	else if (p->fetch.active && p->height > p->fetch.from && p->height < p->fetch.last &&
		 p->now - p->fetch.got_at >= 1) {
		uint64_t first_sent = p->fetch.sent_at;
		issue_fetch(p, p->fetch.peer);
		p->fetch.sent_at = first_sent;
	}
	/* View-change timer. */
	if (p->vc_mode) {
		if (p->vc_armed && p->now - p->timer_start >= timeout_ticks(p))
			(void)start_view_change(p, p->view + 1);
	} else {
		/* While it fetches certified blocks it lacks and they come, a
		 * replica waits on itself, not on the primary: the chain has grown
		 * past it. Suspecting the primary then only took this replica out
		 * alone (a lone VIEW-CHANGE the others never follow) after a large
		 * submit had held its node thread for seconds (bench-bulk). A fetch
		 * that brings nothing for a timeout stops this: 2f+1 COMMITs do not
		 * mean an honest replica can serve the block (a primary may have
		 * shown it to some only), and then suspecting is right. */
		bool fetching = p->fetch.active && p->now - p->fetch.progress_at < timeout_ticks(p);
		work = (p->pending || p->have_pp) && !fetching;
		if (!work)
			p->timer_start = p->now;
		else if (p->now - p->timer_start >= timeout_ticks(p))
			(void)start_view_change(p, p->view + 1);
		/* A primary that commits the others' records and never a
		 * partner's: commits reset the timer above, so this one counts
		 * from when the node first saw that partner passed over in this
		 * view, and gives the primary twice the timeout (the re-send
		 * brings it records it lacked within one). */
		else if (p->starved && !fetching) {
			if (p->starved_view != p->view) {
				p->starved_view = p->view;
				p->starved_at = p->now;
			} else if (p->now - p->starved_at >= 2 * timeout_ticks(p)) {
				p->st.starved_suspicions++;
				(void)start_view_change(p, p->view + 1);
			}
		}
	}
	/* Retransmission of what this replica said in a round that has been
	 * stuck for a while (lost messages). */
	if (p->now - p->last_retx >= p->retx_ticks && p->now - p->slot_at >= p->retx_ticks) {
		p->last_retx = p->now;
		if (p->vc_mode) {
			if (!p->out_vc)
				(void)send_view_change(p);
			else
				rebroadcast(p, p->out_vc, p->out_vc_len);
		} else {
			if (p->nv.have && p->nv.view == p->view && !p->nv.committed_in_view &&
			    primary_of(p, p->view) == p->self)
				rebroadcast(p, p->nv.msg, p->nv.msg_len);
			rebroadcast(p, p->out_pp, p->out_pp_len);
			rebroadcast(p, p->out_prep, p->out_prep_len);
			rebroadcast(p, p->out_commit, p->out_commit_len);
		}
	}
	progress(p);
}

void pbft_note_starved(pbft *p, bool starved)
{
	if (starved && !p->starved) {
		p->starved_at = p->now;
		p->starved_view = p->view;
	}
	p->starved = starved;
}

void pbft_note_pending(pbft *p, bool pending)
{
	if (pending && !p->pending)
		p->timer_start = p->now;
	p->pending = pending;
}

bool pbft_can_propose(const pbft *p)
{
	if (p->vc_mode || primary_of(p, p->view) != p->self || p->have_pp || p->unapplied)
		return false;
	/* Proposed here before a restart: only that block may go here. A
	 * vote further up in this view (the block a NEW-VIEW it sent forced
	 * at base+1 while it was still below base; the NEW-VIEW's base is
	 * not persisted) forbids proposing below it too: the PERSIST of a
	 * proposal would replace that vote, and back at its height this
	 * replica could then sign another block there. */
	if (p->my_prep.have && p->my_prep.view == p->view && p->my_prep.height > p->height)
		return false;
	if (p->nv.have && p->nv.view == p->view &&
	    (p->height < p->nv.base || (p->height == p->nv.base && p->nv.fixed)))
		return false;
	return true;
}

int pbft_propose(pbft *p, const uint8_t *block, size_t len)
{
	Pbft__PrePrepare ppm = PBFT__PRE_PREPARE__INIT;
	pbft_wire_header h;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *bytes;
	size_t blen;
	int rc;
	if (!pbft_can_propose(p))
		return TR_ESTATE;
	rc = check_block(p, block, len, &h);
	if (rc)
		return rc;
	if (h.view != p->view || h.proposer != p->self)
		return TR_EINVAL;
	if (p->my_prep.have && p->my_prep.view == p->view && p->my_prep.height == p->height + 1 &&
	    memcmp(p->my_prep.hash, h.hash, TR_HASH_LEN))
		return TR_ESTATE; /* proposed another block here before a restart */
	rc = p->validate(p->validate_ctx, block, len, p->height + 1, p->head);
	if (rc)
		return rc;
	rc = pbft_wire_sign_prepare(p->key, p->c->chain_id, p->view, p->height + 1, h.hash, sig);
	if (rc)
		return rc;
	p->st.sigs_made++;
	p->pp_block = memdup(block, len);
	if (!p->pp_block)
		return TR_ENOMEM;
	p->pp_len = len;
	p->have_pp = true;
	p->slot_at = p->now;
	memcpy(p->pp_hash, h.hash, TR_HASH_LEN);
	p->prep[p->self].have = true;
	p->prep[p->self].view = p->view;
	memcpy(p->prep[p->self].hash, h.hash, TR_HASH_LEN);
	memcpy(p->prep[p->self].sig, sig, TR_SIG_LEN);
	p->my_prep.have = true;
	p->my_prep.view = p->view;
	p->my_prep.height = p->height + 1;
	memcpy(p->my_prep.hash, h.hash, TR_HASH_LEN);
	rc = act_persist(p, PBFT_VOTE_PREPARE, p->view, p->height + 1, h.hash);
	if (rc)
		return rc;
	ppm.view = p->view;
	ppm.height = p->height + 1;
	ppm.block.data = (uint8_t *)(uintptr_t)block;
	ppm.block.len = len;
	ppm.signature.data = sig;
	ppm.signature.len = TR_SIG_LEN;
	rc = pbft_wire_message(p->self, &ppm, NULL, NULL, NULL, &bytes, &blen);
	if (rc)
		return rc;
	set_bytes(&p->out_pp, &p->out_pp_len, bytes, blen);
	rebroadcast(p, bytes, blen);
	check_prepared(p);
	progress(p);
	return 0;
}

/* ==== Life cycle ==== */

/* *nv_msg (malloc'd) gets the persisted NEW-VIEW, if any. */
static int load_state(pbft *p, const pbft_config *cfg, uint8_t **nv_msg, size_t *nv_len)
{
	const uint8_t *state = cfg->state;
	size_t len = cfg->state_len;
	Pbft__VoteState *s;
	int rc = TR_EINVAL;
	s = (Pbft__VoteState *)pbft_wire_unpack(&pbft__vote_state__descriptor, state, len);
	if (!s)
		return TR_EINVAL;
	if (s->new_view.len && s->new_view.len <= p->msg_max) {
		*nv_msg = memdup(s->new_view.data, s->new_view.len);
		if (!*nv_msg) {
			rc = TR_ENOMEM;
			goto fail;
		}
		*nv_len = s->new_view.len;
	}
	if (s->version != 1 || (s->prep_hash.len && s->prep_hash.len != TR_HASH_LEN) ||
	    (s->commit_hash.len && s->commit_hash.len != TR_HASH_LEN))
		goto fail;
	p->view = s->view;
	p->vc_mode = s->view_change;
	if (s->prep_hash.len) {
		p->my_prep.have = true;
		p->my_prep.view = s->prep_view;
		p->my_prep.height = s->prep_height;
		memcpy(p->my_prep.hash, s->prep_hash.data, TR_HASH_LEN);
	}
	if (s->commit_hash.len) {
		p->my_commit.have = true;
		p->my_commit.view = s->commit_view;
		p->my_commit.height = s->commit_height;
		memcpy(p->my_commit.hash, s->commit_hash.data, TR_HASH_LEN);
	}
	if (s->prepared && s->prepared->height == p->height + 1) {
		const Pbft__PreparedCert *pc = s->prepared;
		if (pc->block_hash.len != TR_HASH_LEN || pc->n_sigs > p->n)
			goto fail;
		p->pc.have = true;
		p->pc.view = pc->view;
		memcpy(p->pc.hash, pc->block_hash.data, TR_HASH_LEN);
		for (size_t i = 0; i < pc->n_sigs; i++) {
			if (pc->sigs[i]->replica >= p->n || pc->sigs[i]->signature.len != TR_SIG_LEN)
				goto fail;
			p->pc.who[pc->sigs[i]->replica] = true;
			memcpy(p->pc.sigs[pc->sigs[i]->replica], pc->sigs[i]->signature.data,
			       TR_SIG_LEN);
		}
		/* in the blob until 2026-12-03; now stored beside it */
		const uint8_t *pb = s->prepared_block.data;
		size_t pbl = s->prepared_block.len;
		pbft_wire_header h;
		if (!pbl && cfg->prepared_block &&
		    pbft_wire_block_header(cfg->prepared_block, cfg->prepared_block_len, p->block_max,
					   &h) == 0 &&
		    !memcmp(h.hash, p->pc.hash, TR_HASH_LEN) &&
		    pbft_wire_block_body_ok(cfg->prepared_block, cfg->prepared_block_len,
					    p->block_max) == 0) {
			pb = cfg->prepared_block;
			pbl = cfg->prepared_block_len;
		}
		if (pbl) {
			p->pc.block = memdup(pb, pbl);
			if (!p->pc.block) {
				rc = TR_ENOMEM;
				goto fail;
			}
			p->pc.len = pbl;
		}
	}
	rc = 0;
fail:
	pbft_wire_free(&s->base);
	return rc;
}

/* After load_state: enter the persisted NEW-VIEW of the current view
 * again (its VIEW-CHANGEs are checked again, as when it came), so that the
 * replica follows what it forces and, as the primary, can show it to a
 * partner that missed it (once its base + 1 has committed here, it is no
 * longer broadcast: committed_in_view). A NEW-VIEW of another view is
 * left. One that does not enter again (it
 * cannot: the replica wrote it itself after checking it) is left too, as
 * before NEW-VIEWs were persisted, and counted (dropped_wrong): the
 * replica must still start. */
static int restore_new_view(pbft *p, const uint8_t *msg, size_t len)
{
	Pbft__Message *m = (Pbft__Message *)pbft_wire_unpack(&pbft__message__descriptor, msg, len);
	uint64_t view = 0;
	bool ours = false, vc_mode = p->vc_mode;
	int rc;
	if (!m) {
		p->st.dropped_wrong++;
		return 0;
	}
	if (m->kind_case == PBFT__MESSAGE__KIND_SIGNED && m->signed_->body.len <= p->msg_max) {
		Pbft__Body *b = (Pbft__Body *)pbft_wire_unpack(
			&pbft__body__descriptor, m->signed_->body.data, m->signed_->body.len);
		if (b && b->kind_case == PBFT__BODY__KIND_NEW_VIEW) {
			view = b->new_view->view;
			ours = true;
		}
		if (b)
			pbft_wire_free(&b->base);
	}
	if (!ours || m->sender >= p->n || view != p->view || vc_mode) {
		if (!ours || m->sender >= p->n)
			p->st.dropped_wrong++;
		pbft_wire_free(&m->base);
		return 0;
	}
	/* as if the NEW-VIEW came while the view was being entered */
	p->vc_mode = true;
	rc = step_message(p, m->sender, msg, len);
	pbft_wire_free(&m->base);
	if (rc == TR_ENOMEM)
		return rc;
	if (rc || !p->nv.have || p->nv.view != view || p->vc_mode) {
		p->vc_mode = vc_mode;
		p->st.dropped_wrong++;
		return 0;
	}
	/* what it forces is behind us already */
	if (p->height > p->nv.base)
		p->nv.committed_in_view = true;
	return 0;
}

int pbft_new(const pbft_config *cfg, pbft **out)
{
	const tr_consortium *c = cfg->consortium;
	pbft *p;
	int rc = TR_EINVAL;
	if (!c || !cfg->key || !cfg->validate || cfg->tick_ms == 0 || c->n == 0 ||
	    c->n > TR_PARTNERS_MAX || cfg->self.v >= c->n ||
	    tr_key_alg(cfg->key) != c->partners[cfg->self.v].alg ||
	    memcmp(tr_key_public(cfg->key), c->partners[cfg->self.v].key, TR_PUBKEY_LEN))
		return TR_EINVAL;
	p = calloc(1, sizeof *p);
	if (!p)
		return TR_ENOMEM;
	p->q_act = calloc(PBFT_ACTIONS_MAX, sizeof *p->q_act);
	if (!p->q_act) {
		rc = TR_ENOMEM;
		goto fail;
	}
	p->c = c;
	p->n = c->n;
	p->f = (c->n - 1) / 3;
	p->q = tr_consortium_quorum(c);
	if (p->q > p->n)
		goto fail;
	p->self = cfg->self.v;
	p->key = cfg->key;
	p->validate = cfg->validate;
	p->validate_ctx = cfg->validate_ctx;
	p->verify = cfg->verify;
	p->verify_ctx = cfg->verify_ctx;
	p->block_max = (size_t)c->params.block_max_bytes + BLOCK_SLACK;
	p->msg_max = p->block_max + PBFT_OVERHEAD_MAX;
	p->base_ticks = c->params.view_change_timeout_ms / cfg->tick_ms;
	if (p->base_ticks < 8)
		p->base_ticks = 8;
	p->retx_ticks = p->base_ticks / 3;
	p->fetch_ticks = p->base_ticks / 2;
	p->height = cfg->height;
	if (cfg->height == 0) {
		memcpy(p->head, c->chain_id, TR_HASH_LEN);
	} else {
		uint64_t ch;
		uint8_t chash[TR_HASH_LEN];
		if (!cfg->head_cert ||
		    pbft_cert_check(c, cfg->head_cert, cfg->head_cert_len, NULL, NULL, &ch, chash) ||
		    ch != cfg->height || memcmp(chash, cfg->head, TR_HASH_LEN))
			goto fail;
		memcpy(p->head, cfg->head, TR_HASH_LEN);
		p->head_cert = memdup(cfg->head_cert, cfg->head_cert_len);
		if (!p->head_cert) {
			rc = TR_ENOMEM;
			goto fail;
		}
		p->head_cert_len = cfg->head_cert_len;
	}
	if (cfg->state) {
		uint8_t *nv_msg = NULL;
		size_t nv_len = 0;
		rc = load_state(p, cfg, &nv_msg, &nv_len);
		if (rc == 0 && nv_msg)
			rc = restore_new_view(p, nv_msg, nv_len);
		free(nv_msg);
		if (rc)
			goto fail;
	}
	/* After a restart in a view change, our VIEW-CHANGE is resent on the
	 * first retransmission tick; the timer runs again at 2f+1. */
	p->vc_armed = false;
	if (p->my_commit.have && p->pc.have && p->my_commit.height == p->height + 1 &&
	    p->my_commit.view == p->pc.view && !memcmp(p->my_commit.hash, p->pc.hash, TR_HASH_LEN)) {
		/* Our COMMIT vote (same vote, signed again) counts again. */
		uint8_t sig[TR_SIG_LEN];
		if (pbft_wire_sign_commit(p->key, c->chain_id, p->my_commit.view, p->my_commit.height,
					  p->my_commit.hash, sig) == 0) {
			p->com[p->self].have = true;
			p->com[p->self].view = p->my_commit.view;
			memcpy(p->com[p->self].hash, p->my_commit.hash, TR_HASH_LEN);
			memcpy(p->com[p->self].sig, sig, TR_SIG_LEN);
		}
	}
	*out = p;
	return 0;
fail:
	pbft_free(p);
	return rc;
}

void pbft_free(pbft *p)
{
	if (!p)
		return;
	while (p->q_act && p->q_count) {
		pbft_action a;
		if (pbft_pop(p, &a) == 0)
			pbft_action_fini(&a);
	}
	free(p->q_act);
	clear_slot(p, false);
	clear_pc(p);
	clear_nv(p);
	for (uint32_t i = 0; i < N_MAX; i++)
		clear_vc(&p->vc[i]);
	for (int i = 0; i < PBFT_CATCHUP_MAX; i++)
		drop_buffered(&p->buf[i]);
	for (int i = 0; i < FUTURE_MAX; i++)
		clear_future(&p->fut[i]);
	free(p->out_vc);
	free(p->head_cert);
	free(p);
}

/* ==== Getters ==== */

uint64_t pbft_view(const pbft *p)
{
	return p->view;
}

pbft_mode pbft_get_mode(const pbft *p)
{
	if (p->vc_mode)
		return PBFT_MODE_VIEW_CHANGE;
	if (p->fetch.active)
		return PBFT_MODE_CATCHING_UP;
	return PBFT_MODE_NORMAL;
}

uint64_t pbft_height(const pbft *p)
{
	return p->height;
}

void pbft_head(const pbft *p, uint8_t out[TR_HASH_LEN])
{
	memcpy(out, p->head, TR_HASH_LEN);
}

bool pbft_is_primary(const pbft *p)
{
	return !p->vc_mode && primary_of(p, p->view) == p->self;
}

pbft_replica pbft_primary_of(const pbft *p, uint64_t view)
{
	pbft_replica r = {primary_of(p, view)};
	return r;
}

void pbft_get_stats(const pbft *p, pbft_stats *out)
{
	*out = p->st;
}

const char *pbft_mode_name(pbft_mode m)
{
	switch (m) {
	case PBFT_MODE_NORMAL:
		return "normal";
	case PBFT_MODE_VIEW_CHANGE:
		return "view-change";
	case PBFT_MODE_CATCHING_UP:
		return "catching-up";
	}
	return "unknown";
}
