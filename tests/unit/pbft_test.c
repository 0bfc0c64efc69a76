/*
 * pbft_test.c: unit tests of consensus/ that the simulator does not cover:
 * a one-partner network commits a proposal at once with a certificate of
 * its own vote; the action order is PERSIST before the PRE-PREPARE leaves;
 * garbage and oversized input is dropped with an error, never an abort;
 * bad configs and corrupt persisted state are refused; on a four-replica
 * network in memory, a replica far behind catches up at about one batch a
 * tick, and one liar claiming far heights cannot keep the others fetching,
 * nor make one behind commit a certificate padded past what the ledger
 * stores;
 * validate() is never asked about a block before the harness has carried
 * out the COMMIT of the block below it (the node validates against its
 * ledger, which only holds what it committed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/consortium.h"
#include "common/crypto.h"
#include "common/merkle.h"
#include "consensus/pbft.h"
#include "consensus/pbft_wire.h"
#include "ledger/ledger.h"

#include <string.h>

static int accept_all(void *ctx, const uint8_t *block, size_t len, uint64_t height,
		      const uint8_t prev_hash[TR_HASH_LEN])
{
	(void)ctx;
	(void)block;
	(void)len;
	(void)height;
	(void)prev_hash;
	return 0;
}

typedef struct {
	tr_consortium c;
	tr_key *keys[4];
} net;

static void net_init(net *nt, uint32_t n)
{
	memset(nt, 0, sizeof *nt);
	assert_int_equal(tr_crypto_init(), 0);
	nt->c.n = n;
	nt->c.f = (n - 1) / 3;
	nt->c.params = tr_params_default();
	tr_sha256(nt->c.chain_id, "pbft_test", 9);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t seed[TR_SEED_LEN] = {0};
		seed[0] = (uint8_t)(i + 1);
		assert_int_equal(tr_key_from_seed(TR_ALG_ED25519, seed, &nt->keys[i]), 0);
		nt->c.partners[i].alg = TR_ALG_ED25519;
		memcpy(nt->c.partners[i].key, tr_key_public(nt->keys[i]), TR_PUBKEY_LEN);
	}
}

static void net_fini(net *nt)
{
	for (uint32_t i = 0; i < nt->c.n; i++)
		tr_key_free(nt->keys[i]);
}

static void make_block(const net *nt, uint64_t height, const uint8_t prev[TR_HASH_LEN],
		       uint64_t view, uint32_t proposer, uint8_t **out, size_t *len)
{
	Trellis__BlockHeader h = TRELLIS__BLOCK_HEADER__INIT;
	Trellis__Block b = TRELLIS__BLOCK__INIT;
	uint8_t root[TR_HASH_LEN];
	uint8_t *hb;
	size_t hl;
	assert_int_equal(tr_merkle_root(NULL, 0, root), 0);
	h.chain_id.data = (uint8_t *)(uintptr_t)nt->c.chain_id;
	h.chain_id.len = TR_HASH_LEN;
	h.height = height;
	h.prev_hash.data = (uint8_t *)(uintptr_t)prev;
	h.prev_hash.len = TR_HASH_LEN;
	h.records_root.data = root;
	h.records_root.len = TR_HASH_LEN;
	h.view = view;
	h.proposer = proposer;
	assert_int_equal(pbft_wire_pack(&h.base, &hb, &hl), 0);
	b.header.data = hb;
	b.header.len = hl;
	assert_int_equal(pbft_wire_pack(&b.base, out, len), 0);
	free(hb);
}

static pbft *replica(net *nt, uint32_t self)
{
	pbft_config cfg;
	pbft *p = NULL;
	memset(&cfg, 0, sizeof cfg);
	cfg.consortium = &nt->c;
	cfg.self.v = self;
	cfg.key = nt->keys[self];
	cfg.tick_ms = 100;
	cfg.validate = accept_all;
	assert_int_equal(pbft_new(&cfg, &p), 0);
	return p;
}

/* A PERSIST blob names the prepared block by hash, without its bytes. */
static void blob_without_block(const uint8_t *blob, size_t len)
{
	Pbft__VoteState *vs = pbft__vote_state__unpack(NULL, len, blob);
	assert_non_null(vs);
	assert_int_equal(vs->prepared_block.len, 0);
	pbft__vote_state__free_unpacked(vs, NULL);
}

static void test_single_partner_commits_at_once(void **state)
{
	net nt;
	pbft *p;
	pbft_action a;
	uint8_t *blk, head[TR_HASH_LEN];
	size_t bl;
	int kinds[8], nk = 0;
	(void)state;
	net_init(&nt, 1);
	p = replica(&nt, 0);
	assert_true(pbft_is_primary(p));
	assert_true(pbft_can_propose(p));
	for (uint64_t h = 1; h <= 3; h++) {
		pbft_head(p, head);
		make_block(&nt, h, head, pbft_view(p), 0, &blk, &bl);
		assert_int_equal(pbft_propose(p, blk, bl), 0);
		nk = 0;
		while (pbft_pop(p, &a) == 0) {
			if (nk < 8)
				kinds[nk++] = (int)a.kind;
			/* the prepared block beside the second blob, once; no
			 * blob carries it */
			if (a.kind == PBFT_ACT_PERSIST && nk == 2) {
				assert_non_null(a.block);
				assert_int_equal(a.block_height, h);
				assert_int_equal(a.block_len, bl);
				assert_memory_equal(a.block, blk, bl);
			} else {
				assert_null(a.block);
			}
			if (a.kind == PBFT_ACT_PERSIST)
				blob_without_block(a.bytes, a.len);
			if (a.kind == PBFT_ACT_COMMIT) {
				uint64_t ch;
				assert_int_equal(a.height, h);
				assert_int_equal(pbft_cert_check(&nt.c, a.cert, a.cert_len, NULL, NULL,
								 &ch, NULL),
						 0);
				assert_int_equal(ch, h);
			}
			pbft_action_fini(&a);
		}
		/* PERSIST (prepare), PERSIST (commit), COMMIT: nothing to send */
		assert_int_equal(nk, 3);
		assert_int_equal(kinds[0], PBFT_ACT_PERSIST);
		assert_int_equal(kinds[1], PBFT_ACT_PERSIST);
		assert_int_equal(kinds[2], PBFT_ACT_COMMIT);
		assert_int_equal(pbft_height(p), h);
		free(blk);
	}
	pbft_free(p);
	net_fini(&nt);
}

static void test_persist_before_pre_prepare(void **state)
{
	net nt;
	pbft *p;
	pbft_action a;
	uint8_t *blk, head[TR_HASH_LEN];
	size_t bl;
	(void)state;
	net_init(&nt, 4);
	p = replica(&nt, 0);
	pbft_head(p, head);
	make_block(&nt, 1, head, 0, 0, &blk, &bl);
	/* wrong proposer and wrong height are refused */
	{
		uint8_t *bad;
		size_t badl;
		make_block(&nt, 1, head, 0, 2, &bad, &badl);
		assert_int_equal(pbft_propose(p, bad, badl), TR_EINVAL);
		free(bad);
		make_block(&nt, 2, head, 0, 0, &bad, &badl);
		assert_int_equal(pbft_propose(p, bad, badl), TR_EINVAL);
		free(bad);
	}
	assert_int_equal(pbft_propose(p, blk, bl), 0);
	assert_int_equal(pbft_pop(p, &a), 0);
	assert_int_equal(a.kind, PBFT_ACT_PERSIST);
	assert_int_equal(a.vote, PBFT_VOTE_PREPARE);
	pbft_action_fini(&a);
	assert_int_equal(pbft_pop(p, &a), 0);
	assert_int_equal(a.kind, PBFT_ACT_BROADCAST);
	pbft_action_fini(&a);
	assert_int_equal(pbft_pop(p, &a), TR_ENOTFOUND);
	assert_false(pbft_can_propose(p));
	assert_int_equal(pbft_propose(p, blk, bl), TR_ESTATE);
	free(blk);
	pbft_free(p);
	net_fini(&nt);
}

static void test_garbage_is_dropped(void **state)
{
	net nt;
	pbft *p;
	pbft_action a;
	uint8_t junk[512];
	pbft_replica one = {1}, self = {0}, stranger = {9};
	pbft_stats st;
	(void)state;
	net_init(&nt, 4);
	p = replica(&nt, 0);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	for (size_t len = 0; len < sizeof junk; len += 17)
		assert_true(pbft_step(p, one, junk, len) < 0);
	assert_int_equal(pbft_step(p, self, junk, 10), TR_EINVAL);
	assert_int_equal(pbft_step(p, stranger, junk, 10), TR_EINVAL);
	while (pbft_pop(p, &a) == 0)
		pbft_action_fini(&a);
	pbft_get_stats(p, &st);
	assert_true(st.dropped_malformed > 0);
	assert_int_equal(pbft_height(p), 0);
	pbft_free(p);
	net_fini(&nt);
}

static void test_bad_config_and_state(void **state)
{
	net nt;
	pbft_config cfg;
	pbft *p = NULL;
	static const uint8_t corrupt[] = {0x08, 0x07, 0xff};
	(void)state;
	net_init(&nt, 4);
	memset(&cfg, 0, sizeof cfg);
	cfg.consortium = &nt.c;
	cfg.self.v = 1;
	cfg.key = nt.keys[0]; /* not partner 1's key */
	cfg.tick_ms = 100;
	cfg.validate = accept_all;
	assert_int_equal(pbft_new(&cfg, &p), TR_EINVAL);
	assert_null(p);
	cfg.key = nt.keys[1];
	cfg.state = corrupt;
	cfg.state_len = sizeof corrupt;
	assert_int_equal(pbft_new(&cfg, &p), TR_EINVAL);
	assert_null(p);
	/* a state whose NEW-VIEW does not enter again (here: not a message)
	 * still starts, in its view, and counts it */
	{
		Pbft__VoteState vs = PBFT__VOTE_STATE__INIT;
		uint8_t junk[40] = {0x0a, 0x03}, *blob;
		size_t blen;
		pbft_stats st;
		vs.version = 1;
		vs.view = 2;
		vs.new_view.data = junk;
		vs.new_view.len = sizeof junk;
		assert_int_equal(pbft_wire_pack(&vs.base, &blob, &blen), 0);
		cfg.state = blob;
		cfg.state_len = blen;
		assert_int_equal(pbft_new(&cfg, &p), 0);
		assert_int_equal(pbft_view(p), 2);
		assert_true(pbft_get_mode(p) == PBFT_MODE_NORMAL);
		pbft_get_stats(p, &st);
		assert_int_equal(st.dropped_wrong, 1);
		pbft_free(p);
		p = NULL;
		free(blob);
	}
	cfg.state = NULL;
	cfg.height = 3; /* a head without a certificate */
	assert_int_equal(pbft_new(&cfg, &p), TR_EINVAL);
	assert_null(p);
	net_fini(&nt);
}

/* Votes are told apart from PRE-PREPAREs and signed messages by their
 * tags; cut or garbled bytes are not votes. */
/* A partner sending validly signed votes for heights far ahead: the first
 * FUTURE_PER_PEER (4) are checked and kept for later; the rest find no
 * room and are dropped before their signature is checked (before, each
 * cost a check only to be dropped then). The same bytes again cost
 * nothing either. */
static void test_future_votes_unchecked(void **state)
{
	net nt;
	pbft *p;
	pbft_stats st0, st1;
	uint8_t hash[TR_HASH_LEN] = {1}, sig[TR_SIG_LEN], *bytes = NULL;
	size_t len = 0;
	(void)state;
	net_init(&nt, 4);
	p = replica(&nt, 0);
	pbft_get_stats(p, &st0);
	for (uint64_t h = 3; h < 3 + 24; h++) {
		Pbft__Vote v = PBFT__VOTE__INIT;
		assert_int_equal(pbft_wire_sign_prepare(nt.keys[1], nt.c.chain_id, 0, h, hash, sig), 0);
		v.view = 0;
		v.height = h;
		v.block_hash.data = hash;
		v.block_hash.len = TR_HASH_LEN;
		v.signature.data = sig;
		v.signature.len = TR_SIG_LEN;
		free(bytes);
		assert_int_equal(pbft_wire_message(1, NULL, &v, NULL, NULL, &bytes, &len), 0);
		assert_int_equal(pbft_step(p, (pbft_replica){1}, bytes, len), 0);
	}
	assert_int_equal(pbft_step(p, (pbft_replica){1}, bytes, len), 0); /* once more */
	pbft_get_stats(p, &st1);
	assert_int_equal(st1.sigs_checked - st0.sigs_checked, 4);
	assert_int_equal(st1.dropped_future - st0.dropped_future, 21);
	assert_int_equal(st1.dropped_badsig, st0.dropped_badsig);
	free(bytes);
	pbft_free(p);
	net_fini(&nt);
}

static void test_is_vote(void **state)
{
	Pbft__Vote v = PBFT__VOTE__INIT;
	Pbft__PrePrepare pp = PBFT__PRE_PREPARE__INIT;
	Pbft__Signed sg = PBFT__SIGNED__INIT;
	uint8_t hash[TR_HASH_LEN] = {1}, sig[TR_SIG_LEN] = {2}, block[300] = {3};
	uint8_t *m;
	size_t len;
	(void)state;
	v.view = 7;
	v.height = 300;
	v.block_hash.data = hash;
	v.block_hash.len = sizeof hash;
	v.signature.data = sig;
	v.signature.len = sizeof sig;
	pp.view = 7;
	pp.block.data = block;
	pp.block.len = sizeof block;
	pp.signature.data = sig;
	pp.signature.len = sizeof sig;
	sg.body.data = block;
	sg.body.len = 40;
	sg.signature.data = sig;
	sg.signature.len = sizeof sig;

	for (int kind = 0; kind < 4; kind++) {
		assert_int_equal(pbft_wire_message(2, kind == 0 ? &pp : NULL, kind == 1 ? &v : NULL,
						   kind == 2 ? &v : NULL, kind == 3 ? &sg : NULL,
						   &m, &len),
				 0);
		assert_int_equal(pbft_wire_is_vote(m, len), kind == 1 || kind == 2);
		/* every cut of a vote ends inside a field, or before its oneof */
		for (size_t k = 0; k < len; k++)
			assert_false(pbft_wire_is_vote(m, k));
		if (kind == 1) {
			m[0] = 0x0f; /* the first key: field 1, wire type 7 (none such) */
			assert_false(pbft_wire_is_vote(m, len));
		}
		free(m);
	}
	assert_false(pbft_wire_is_vote((const uint8_t *)"", 0));
	assert_false(pbft_wire_is_vote((const uint8_t *)"\x22\x80", 2));
}

/* A block in other bytes than protobuf-c packs it (a junk header field
 * in front: the last one wins) has the same header hash, and is refused:
 * a partner serving catch-up blocks cannot make nodes hold other bytes. */
static void test_block_canonical(void **state)
{
	net nt;
	uint8_t prev[TR_HASH_LEN] = {0}, *blk, *padded;
	size_t len;
	pbft_wire_header h;
	(void)state;
	net_init(&nt, 4);
	make_block(&nt, 1, prev, 0, 0, &blk, &len);
	assert_int_equal(pbft_wire_block_header(blk, len, 1u << 20, &h), 0);
	assert_int_equal(pbft_wire_block_body_ok(blk, len, 1u << 20), 0);
	padded = malloc(len + 6);
	assert_non_null(padded);
	memcpy(padded, "\x0a\x04junk", 6);
	memcpy(padded + 6, blk, len);
	assert_int_equal(pbft_wire_block_header(padded, len + 6, 1u << 20, &h), TR_EINVAL);
	assert_int_equal(pbft_wire_block_body_ok(padded, len + 6, 1u << 20), TR_EINVAL);
	free(padded);
	free(blk);
	net_fini(&nt);
}

/* ==== A four-replica network in memory, for catch-up ====
 *
 * The harness plays the node for every replica it drives: it carries the
 * actions out in order, keeps each replica's committed blocks and answers
 * SERVE from them. Messages go through one FIFO and are all delivered
 * within the tick that sent them: a LAN whose round trip is far shorter
 * than a tick, as with the node's 50 ms tick. Time is counted in ticks,
 * never read from a clock. A replica left NULL is played by the test. */

#define CU_N 4
#define CU_CHAIN_MAX 400
#define CU_QUEUE_MAX 8192
#define CU_HELD_MAX 64

typedef struct {
	uint8_t *block, *cert;
	size_t len, cert_len;
} cu_entry;

typedef struct {
	uint32_t from, to;
	uint8_t *bytes;
	size_t len;
} cu_msg;

typedef struct cluster cluster;

/* What validate() gets as its context: the replica and its harness. */
typedef struct {
	cluster *cl;
	uint32_t i;
} cu_ctx;

struct cluster {
	net nt;
	pbft *r[CU_N];
	cu_ctx ctx[CU_N];
	cu_entry store[CU_N][CU_CHAIN_MAX + 1];
	uint64_t top[CU_N];     /* the highest block each replica's store holds */
	uint64_t early;         /* validate() calls for a block not on top of the store */
	uint64_t validated[CU_N]; /* the last height each replica's validate() accepted */
	uint64_t fetches[CU_N]; /* FETCH actions each replica issued */
	cu_msg q[CU_QUEUE_MAX];
	size_t q_head, q_count;
	int hold;               /* a replica whose COMMITs cu_deliver holds back, or -1 */
	bool mute_serve;        /* SERVE actions are dropped (peers that do not answer) */
	uint32_t serve_max;     /* blocks sent per SERVE action (as a full link queue); 0: all */
	cu_msg held[CU_HELD_MAX];
	size_t n_held;
	/* when set, sees each message before delivery: false drops it; it may
	 * replace m->bytes (malloc'd) */
	bool (*filter)(cluster *cl, cu_msg *m);
	unsigned flags; /* the filter's own */
	/* each replica's last PERSIST blob (what a restart reads), and the
	 * prepared block a PERSIST carried, kept as the node's store keeps it
	 * (at top + 1 only) */
	uint8_t *state[CU_N];
	size_t state_len[CU_N];
	uint8_t *prep[CU_N];
	size_t prep_len[CU_N];
	uint64_t prep_h[CU_N];
};

/* cluster.flags bit: restarts are not given the prepared block (a store
 * that lost it) */
#define CU_FORGET_PREPARED (1u << 30)

/* Like the node's validate_cb, which checks a block against its ledger:
 * the block must go on top of what the store holds. */
static int cu_validate(void *ctx, const uint8_t *block, size_t len, uint64_t height,
		       const uint8_t prev_hash[TR_HASH_LEN])
{
	cu_ctx *c = ctx;
	(void)block;
	(void)len;
	(void)prev_hash;
	if (height != c->cl->top[c->i] + 1) {
		c->cl->early++;
		return TR_EVERIFY;
	}
	c->cl->validated[c->i] = height;
	return 0;
}

static void cu_send(cluster *cl, uint32_t from, uint32_t to, const uint8_t *b, size_t len)
{
	cu_msg *m;
	assert_true(cl->q_count < CU_QUEUE_MAX);
	m = &cl->q[(cl->q_head + cl->q_count++) % CU_QUEUE_MAX];
	m->from = from;
	m->to = to;
	m->len = len;
	m->bytes = malloc(len ? len : 1);
	assert_non_null(m->bytes);
	memcpy(m->bytes, b, len);
}

static void cu_store(cluster *cl, uint32_t i, uint64_t h, const uint8_t *b, size_t len,
		     const uint8_t *cert, size_t cert_len)
{
	cu_entry *e;
	assert_true(h >= 1 && h <= CU_CHAIN_MAX);
	e = &cl->store[i][h];
	assert_null(e->block);
	e->block = malloc(len);
	e->cert = malloc(cert_len);
	assert_non_null(e->block);
	assert_non_null(e->cert);
	memcpy(e->block, b, len);
	memcpy(e->cert, cert, cert_len);
	e->len = len;
	e->cert_len = cert_len;
	if (h > cl->top[i])
		cl->top[i] = h;
}

static void cu_actions(cluster *cl, uint32_t i)
{
	pbft_action a;
	while (pbft_pop(cl->r[i], &a) == 0) {
		switch (a.kind) {
		case PBFT_ACT_PERSIST:
			free(cl->state[i]);
			cl->state[i] = a.bytes;
			cl->state_len[i] = a.len;
			a.bytes = NULL;
			if (a.block && a.block_height == cl->top[i] + 1) {
				free(cl->prep[i]);
				cl->prep[i] = a.block;
				cl->prep_len[i] = a.block_len;
				cl->prep_h[i] = a.block_height;
				a.block = NULL;
			}
			break;
		case PBFT_ACT_SEND:
			cu_send(cl, i, a.peer.v, a.bytes, a.len);
			break;
		case PBFT_ACT_BROADCAST:
			for (uint32_t j = 0; j < CU_N; j++)
				if (j != i)
					cu_send(cl, i, j, a.bytes, a.len);
			break;
		case PBFT_ACT_COMMIT:
			cu_store(cl, i, a.height, a.bytes, a.len, a.cert, a.cert_len);
			break;
		case PBFT_ACT_FETCH:
			cl->fetches[i]++;
			cu_send(cl, i, a.peer.v, a.bytes, a.len);
			break;
		case PBFT_ACT_SERVE:
			for (uint64_t h = a.first; h <= a.last && h <= CU_CHAIN_MAX && !cl->mute_serve &&
						   (!cl->serve_max || h < a.first + cl->serve_max);
			     h++) {
				const cu_entry *e = &cl->store[i][h];
				if (!e->block)
					break;
				assert_int_equal(pbft_serve(cl->r[i], a.peer, h, e->block, e->len,
							    e->cert, e->cert_len),
						 0);
			}
			break;
		default:
			break;
		}
		pbft_action_fini(&a);
	}
}

static bool is_commit(const uint8_t *b, size_t len)
{
	Pbft__Message *m = pbft__message__unpack(NULL, len, b);
	bool commit = m && m->kind_case == PBFT__MESSAGE__KIND_COMMIT;
	if (m)
		pbft__message__free_unpacked(m, NULL);
	return commit;
}

static void cu_deliver(cluster *cl)
{
	while (cl->q_count) {
		cu_msg m = cl->q[cl->q_head];
		cl->q_head = (cl->q_head + 1) % CU_QUEUE_MAX;
		cl->q_count--;
		if (cl->filter && !cl->filter(cl, &m)) {
			free(m.bytes);
			continue;
		}
		if ((int)m.to == cl->hold && is_commit(m.bytes, m.len)) {
			assert_true(cl->n_held < CU_HELD_MAX);
			cl->held[cl->n_held++] = m;
			continue;
		}
		if (cl->r[m.to]) {
			(void)pbft_step(cl->r[m.to], (pbft_replica){m.from}, m.bytes, m.len);
			cu_actions(cl, m.to);
		}
		free(m.bytes);
	}
}

static void cu_tick(cluster *cl)
{
	for (uint32_t i = 0; i < CU_N; i++)
		if (cl->r[i]) {
			pbft_tick(cl->r[i]);
			cu_actions(cl, i);
		}
	cu_deliver(cl);
}

/* A certificate of replicas 0, 1 and 2 for (view, height, hash). */
static void make_cert(const net *nt, uint64_t view, uint64_t height,
		      const uint8_t hash[TR_HASH_LEN], uint8_t **out, size_t *len)
{
	static const uint32_t replicas[3] = {0, 1, 2};
	uint8_t sigs[3][TR_SIG_LEN];
	for (uint32_t k = 0; k < 3; k++)
		assert_int_equal(pbft_wire_sign_commit(nt->keys[k], nt->c.chain_id, view, height,
						       hash, sigs[k]),
				 0);
	assert_int_equal(ldg_cert_build(view, height, hash, replicas,
					(const uint8_t(*)[TR_SIG_LEN])sigs, 3, out, len),
			 TR_OK);
}

/* Start replica i from what its store and its last PERSIST blob hold, as
 * the node does (a first start, or a restart after pbft_free). */
static void cu_start(cluster *cl, uint32_t i)
{
	pbft_config cfg;
	uint64_t k = cl->top[i];
	memset(&cfg, 0, sizeof cfg);
	cfg.consortium = &cl->nt.c;
	cfg.self.v = i;
	cfg.key = cl->nt.keys[i];
	cfg.tick_ms = 100; /* base 20 ticks: a fetch times out after 10 */
	cl->ctx[i] = (cu_ctx){cl, i};
	cfg.validate = cu_validate;
	cfg.validate_ctx = &cl->ctx[i];
	if (k > 0) {
		pbft_wire_header hd;
		assert_int_equal(pbft_wire_block_header(cl->store[i][k].block, cl->store[i][k].len,
							1u << 20, &hd),
				 0);
		cfg.height = k;
		memcpy(cfg.head, hd.hash, TR_HASH_LEN);
		cfg.head_cert = cl->store[i][k].cert;
		cfg.head_cert_len = cl->store[i][k].cert_len;
	}
	cfg.state = cl->state[i];
	cfg.state_len = cl->state_len[i];
	if (cl->prep[i] && cl->prep_h[i] == k + 1 && !(cl->flags & CU_FORGET_PREPARED)) {
		cfg.prepared_block = cl->prep[i];
		cfg.prepared_block_len = cl->prep_len[i];
	}
	assert_int_equal(pbft_new(&cfg, &cl->r[i]), 0);
}

/* Replicas in `ahead` start at height k of one certified chain (which
 * their stores hold), the others with an empty chain; NULL ones in
 * `played` are left to the test. */
static cluster *cu_new(uint64_t k, const bool ahead[CU_N], const bool played[CU_N])
{
	cluster *cl = calloc(1, sizeof *cl);
	uint8_t head[TR_HASH_LEN];
	assert_non_null(cl);
	assert_true(k <= CU_CHAIN_MAX);
	cl->hold = -1;
	net_init(&cl->nt, CU_N);
	memcpy(head, cl->nt.c.chain_id, TR_HASH_LEN);
	for (uint64_t h = 1; h <= k; h++) {
		uint8_t *blk, *cert;
		size_t bl, cl_len;
		pbft_wire_header hd;
		make_block(&cl->nt, h, head, 0, 0, &blk, &bl);
		assert_int_equal(pbft_wire_block_header(blk, bl, 1u << 20, &hd), 0);
		make_cert(&cl->nt, 0, h, hd.hash, &cert, &cl_len);
		for (uint32_t i = 0; i < CU_N; i++)
			if (ahead[i])
				cu_store(cl, i, h, blk, bl, cert, cl_len);
		memcpy(head, hd.hash, TR_HASH_LEN);
		free(blk);
		free(cert);
	}
	for (uint32_t i = 0; i < CU_N; i++)
		if (!played[i])
			cu_start(cl, i);
	return cl;
}

static void cu_free(cluster *cl)
{
	cu_deliver(cl);
	for (size_t i = 0; i < cl->n_held; i++)
		free(cl->held[i].bytes);
	for (uint32_t i = 0; i < CU_N; i++) {
		pbft_free(cl->r[i]);
		free(cl->state[i]);
		free(cl->prep[i]);
		for (uint64_t h = 0; h <= CU_CHAIN_MAX; h++) {
			free(cl->store[i][h].block);
			free(cl->store[i][h].cert);
		}
	}
	net_fini(&cl->nt);
	free(cl);
}

/* Replica i, the primary, cuts one empty block when it may. */
static void cu_propose_by(cluster *cl, uint32_t i)
{
	uint8_t head[TR_HASH_LEN], *blk;
	size_t bl;
	pbft *p = cl->r[i];
	if (!pbft_can_propose(p) || pbft_height(p) >= CU_CHAIN_MAX)
		return;
	pbft_head(p, head);
	make_block(&cl->nt, pbft_height(p) + 1, head, pbft_view(p), i, &blk, &bl);
	assert_int_equal(pbft_propose(p, blk, bl), 0);
	free(blk);
	cu_actions(cl, i);
	cu_deliver(cl);
}

static void cu_propose(cluster *cl)
{
	cu_propose_by(cl, 0);
}

/* An honest replica 4*32 blocks behind, while the others keep committing
 * one block a tick, catches up at one batch of PBFT_FETCH_SPAN_MAX blocks
 * per tick or so: its next request must not wait for the fetch timeout
 * because it reached the serving peer within the tick that peer answered
 * the previous one. */
static void test_catch_up_pace(void **state)
{
	const uint64_t k = 4 * PBFT_FETCH_SPAN_MAX;
	const bool ahead[CU_N] = {true, true, true, false}, played[CU_N] = {false};
	cluster *cl;
	uint32_t ticks = 0;
	(void)state;
	cl = cu_new(k, ahead, played);
	while (pbft_height(cl->r[3]) < k && ticks < 200) {
		cu_propose(cl);
		cu_tick(cl);
		ticks++;
	}
	/* one tick per batch, a few to start; the fetch timeout is 10 */
	assert_true(pbft_height(cl->r[3]) >= k);
	assert_in_range(ticks, 1, k / PBFT_FETCH_SPAN_MAX + 4);
	/* and it keeps up with the head, then stops fetching */
	for (uint32_t t = 0; t < 20; t++) {
		cu_propose(cl);
		cu_tick(cl);
	}
	assert_int_equal(pbft_height(cl->r[3]), pbft_height(cl->r[0]));
	assert_int_equal(pbft_get_mode(cl->r[3]), PBFT_MODE_NORMAL);
	cu_free(cl);
}

/* A Byzantine replica (3) keeps claiming heights far beyond the chain
 * (VIEW-CHANGEs, which carry a height, and PREPAREs for far heights).
 * The honest replicas, all at one height, must not report catching-up
 * nor send FETCH requests beyond a bounded start. */
static void test_far_claim_of_one_liar(void **state)
{
	const bool ahead[CU_N] = {true, true, true, false},
		   played[CU_N] = {false, false, false, true};
	const uint32_t bound = 100, total = 300;
	cluster *cl;
	uint64_t fetches_at_bound[CU_N] = {0};
	(void)state;
	cl = cu_new(5, ahead, played);
	for (uint32_t t = 1; t <= total; t++) {
		if (t % 2 == 0) {
			Pbft__Body body = PBFT__BODY__INIT;
			Pbft__ViewChange vc = PBFT__VIEW_CHANGE__INIT;
			Pbft__Vote v = PBFT__VOTE__INIT;
			uint8_t junk[16] = {7}, hash[TR_HASH_LEN] = {9}, sig[TR_SIG_LEN];
			uint8_t *m;
			size_t len;
			vc.new_view = 1;
			vc.height = 1000 + t; /* a new body each time: never a duplicate */
			vc.committed.data = junk;
			vc.committed.len = sizeof junk;
			body.kind_case = PBFT__BODY__KIND_VIEW_CHANGE;
			body.view_change = &vc;
			assert_int_equal(pbft_wire_signed_message(cl->nt.keys[3], cl->nt.c.chain_id,
								  3, &body, NULL, 0, &m, &len),
					 0);
			for (uint32_t j = 0; j < 3; j++)
				cu_send(cl, 3, j, m, len);
			free(m);
			assert_int_equal(pbft_wire_sign_prepare(cl->nt.keys[3], cl->nt.c.chain_id, 0,
								2000 + t, hash, sig),
					 0);
			v.view = 0;
			v.height = 2000 + t;
			v.block_hash.data = hash;
			v.block_hash.len = TR_HASH_LEN;
			v.signature.data = sig;
			v.signature.len = TR_SIG_LEN;
			assert_int_equal(pbft_wire_message(3, NULL, &v, NULL, NULL, &m, &len), 0);
			for (uint32_t j = 0; j < 3; j++)
				cu_send(cl, 3, j, m, len);
			free(m);
		}
		cu_tick(cl);
		if (t == bound)
			memcpy(fetches_at_bound, cl->fetches, sizeof fetches_at_bound);
		if (t < bound)
			continue;
		for (uint32_t j = 0; j < 3; j++) {
			assert_int_equal(pbft_get_mode(cl->r[j]), PBFT_MODE_NORMAL);
			assert_int_equal(pbft_height(cl->r[j]), 5);
		}
	}
	for (uint32_t j = 0; j < 3; j++)
		assert_int_equal(cl->fetches[j], fetches_at_bound[j]);
	cu_free(cl);
}

/* A backup (3) hears the PRE-PREPARE of block 2 before the COMMITs of
 * block 1 (votes and proposals travel different queues in the node), so
 * it keeps the PRE-PREPARE for later. The COMMITs then commit block 1, and
 * the kept PRE-PREPARE is now current: it must wait until the COMMIT
 * action has been carried out. Asked at once, in the same call, the node's
 * validate() found its ledger one block short ("wrong height 2, expected
 * 1"), refused a valid block, and the backup asked for a view change that
 * the others never joined (seen in the chaos soak, tests/chaos). */
static void test_validate_after_commit_is_carried_out(void **state)
{
	const bool ahead[CU_N] = {false}, played[CU_N] = {false};
	cluster *cl;
	pbft_stats st;
	(void)state;
	cl = cu_new(0, ahead, played);
	cl->hold = 3;
	cu_propose(cl); /* block 1: 0, 1, 2 commit it, 3 only prepares it */
	assert_int_equal(pbft_height(cl->r[0]), 1);
	assert_int_equal(pbft_height(cl->r[3]), 0);
	cu_propose(cl); /* block 2: its PRE-PREPARE reaches 3, kept for later */
	assert_int_equal(pbft_height(cl->r[0]), 2);
	cl->hold = -1;
	/* The held COMMITs one at a time, until 3 commits block 1: the kept
	 * PRE-PREPARE of block 2 is validated at the pop after that COMMIT
	 * action (pbft_pop's resume), with no further message or tick. */
	for (size_t i = 0; i < cl->n_held; i++) {
		cu_send(cl, cl->held[i].from, cl->held[i].to, cl->held[i].bytes, cl->held[i].len);
		free(cl->held[i].bytes);
		cl->held[i].bytes = NULL;
		if (cl->top[3] == 0)
			cu_deliver(cl);
		if (cl->top[3] == 1 && cl->validated[3] < 2) {
			assert_int_equal(pbft_height(cl->r[3]), 1);
			fail_msg("block 2 waits for another message after block 1's commit");
		}
	}
	cl->n_held = 0;
	cu_deliver(cl);
	for (uint32_t t = 0; t < 5; t++)
		cu_tick(cl);
	assert_int_equal(cl->early, 0);
	assert_int_equal(pbft_height(cl->r[3]), 2);
	assert_int_equal(pbft_view(cl->r[3]), 0);
	assert_int_equal(pbft_get_mode(cl->r[3]), PBFT_MODE_NORMAL);
	pbft_get_stats(cl->r[3], &st);
	assert_int_equal(st.view_changes, 0);
	assert_int_equal(st.dropped_wrong, 0);
	cu_free(cl);
}

/* What a message is: a Message kind, or for a signed one its Body kind
 * (as PBFT__BODY__KIND_* + 100). */
static int msg_kind(const uint8_t *b, size_t len)
{
	Pbft__Message *m = pbft__message__unpack(NULL, len, b);
	int k = -1;
	if (!m)
		return -1;
	k = (int)m->kind_case;
	if (m->kind_case == PBFT__MESSAGE__KIND_SIGNED) {
		Pbft__Body *body = pbft__body__unpack(NULL, m->signed_->body.len,
						       m->signed_->body.data);
		if (body) {
			k = 100 + (int)body->kind_case;
			pbft__body__free_unpacked(body, NULL);
		}
	}
	pbft__message__free_unpacked(m, NULL);
	return k;
}

/* Replica 3 alone prepares block 1 of view 0: the PRE-PREPARE reaches 1 and
 * 3, 1's PREPARE reaches 3 only, 3's votes nobody. */
static bool only_3_prepares(cluster *cl, cu_msg *m)
{
	int k = msg_kind(m->bytes, m->len);
	(void)cl;
	if (k == PBFT__MESSAGE__KIND_PRE_PREPARE)
		return m->to == 1 || m->to == 3;
	if (k == PBFT__MESSAGE__KIND_PREPARE)
		return m->from == 1 && m->to == 3;
	if (k == PBFT__MESSAGE__KIND_COMMIT)
		return m->from != 3;
	return true;
}

/* Then 3 acts faulty: its VIEW-CHANGEs claim its prepared certificate but
 * carry no block, each replica hears 3's first VIEW-CHANGE before the
 * others', and as a primary 3 sends no NEW-VIEW. */
static bool vc_without_block(cluster *cl, cu_msg *m)
{
	int k = msg_kind(m->bytes, m->len);
	if (k == 100 + PBFT__BODY__KIND_NEW_VIEW)
		return m->from != 3; /* as primary (view 3, 7, ...) it says nothing */
	if (k != 100 + PBFT__BODY__KIND_VIEW_CHANGE)
		return only_3_prepares(cl, m); /* and the votes of view 0 stay lost */
	if (m->from == 3) {
		Pbft__Message *msg = pbft__message__unpack(NULL, m->len, m->bytes);
		assert_non_null(msg);
		assert_true(msg->signed_->block.len > 0); /* the honest code sends it */
		msg->signed_->block.len = 0;
		free(m->bytes);
		m->len = pbft__message__get_packed_size(msg);
		m->bytes = malloc(m->len);
		assert_non_null(m->bytes);
		pbft__message__pack(msg, m->bytes);
		pbft__message__free_unpacked(msg, NULL);
		cl->flags |= 1u << m->to;
		return true;
	}
	return (cl->flags >> m->to) & 1u; /* the others' come after 3's */
}

/* One faulty replica's VIEW-CHANGE holds a prepared certificate nobody
 * else holds, without the block. Counted, it forced that hash, no other
 * VIEW-CHANGE carried the block, and the new primary waited for it until
 * the view timed out, in every view where the faulty VIEW-CHANGE came
 * early (a review's harness: 60,000 ticks, height 0; here view 1 never
 * starts, and on the old code this test ends in view 2). The primary now
 * leaves such a VIEW-CHANGE out and builds its NEW-VIEW from the others. */
static void test_vc_prepared_without_block(void **state)
{
	const bool ahead[CU_N] = {false}, played[CU_N] = {false};
	cluster *cl;
	uint32_t t;
	(void)state;
	cl = cu_new(0, ahead, played);
	cl->filter = only_3_prepares;
	cu_propose(cl);
	for (uint32_t i = 0; i < CU_N; i++)
		assert_int_equal(pbft_height(cl->r[i]), 0);
	cl->filter = vc_without_block;
	for (uint32_t i = 0; i < CU_N; i++)
		pbft_note_pending(cl->r[i], true);
	for (t = 0; t < 400 && !(pbft_view(cl->r[1]) >= 1 &&
				 pbft_get_mode(cl->r[1]) == PBFT_MODE_NORMAL);
	     t++)
		cu_tick(cl);
	assert_true(cl->flags & 2u); /* 3's VIEW-CHANGE reached 1 without its block */
	assert_true(t < 400);  /* and a NEW-VIEW came all the same */
	assert_int_equal(pbft_view(cl->r[1]), 1);
	cu_free(cl);
}

/* VIEW-CHANGEs for view 1 are kept here (their Message bytes, one per
 * sender) and none reaches replica 2, nor any NEW-VIEW. */
static uint8_t *nv_vcs[CU_N];
static size_t nv_vc_len[CU_N];

static bool keep_vcs(cluster *cl, cu_msg *m)
{
	int k = msg_kind(m->bytes, m->len);
	(void)cl;
	if (k == 100 + PBFT__BODY__KIND_VIEW_CHANGE && !nv_vcs[m->from]) {
		nv_vcs[m->from] = malloc(m->len);
		assert_non_null(nv_vcs[m->from]);
		memcpy(nv_vcs[m->from], m->bytes, m->len);
		nv_vc_len[m->from] = m->len;
	}
	if (m->to != 2)
		return true;
	return k != 100 + PBFT__BODY__KIND_VIEW_CHANGE && k != 100 + PBFT__BODY__KIND_NEW_VIEW;
}

/* A NEW-VIEW refused after its VIEW-CHANGEs' signatures were checked,
 * sent again byte for byte, is dropped without checking them again: a
 * faulty primary replaying one cost a replica q signature checks a copy
 * (a review: ~40,000 copies fit a partner's 48 MiB share). */
static void test_new_view_replay_unchecked(void **state)
{
	const bool ahead[CU_N] = {false}, played[CU_N] = {false};
	Pbft__Message *vm[CU_N] = {NULL};
	Pbft__Signed *sg[CU_N];
	Pbft__Body body = PBFT__BODY__INIT;
	Pbft__NewView nv = PBFT__NEW_VIEW__INIT;
	Pbft__PrePrepare bogus = PBFT__PRE_PREPARE__INIT;
	uint8_t sig[TR_SIG_LEN] = {0}, *bytes;
	size_t len, k = 0;
	pbft_stats st0, st1, st2;
	cluster *cl;
	(void)state;
	cl = cu_new(0, ahead, played);
	cl->filter = keep_vcs;
	for (uint32_t i = 0; i < CU_N; i++)
		pbft_note_pending(cl->r[i], true);
	for (uint32_t t = 0; t < 200 && !(nv_vcs[0] && nv_vcs[1] && nv_vcs[3]); t++)
		cu_tick(cl);
	assert_true(pbft_get_mode(cl->r[2]) == PBFT_MODE_VIEW_CHANGE);
	assert_int_equal(pbft_view(cl->r[2]), 1);
	for (uint32_t i = 0; i < CU_N; i++) {
		if (i == 2 || !nv_vcs[i])
			continue;
		vm[i] = pbft__message__unpack(NULL, nv_vc_len[i], nv_vcs[i]);
		assert_non_null(vm[i]);
		sg[k++] = vm[i]->signed_;
	}
	assert_int_equal(k, 3);
	/* three good VIEW-CHANGEs that force nothing, and a pre-prepare all
	 * the same: wrong only once they are checked */
	bogus.view = 1;
	bogus.height = 1;
	bogus.signature.data = sig;
	bogus.signature.len = TR_SIG_LEN;
	nv.view = 1;
	nv.n_view_changes = k;
	nv.view_changes = sg;
	nv.pre_prepare = &bogus;
	body.kind_case = PBFT__BODY__KIND_NEW_VIEW;
	body.new_view = &nv;
	assert_int_equal(pbft_wire_signed_message(cl->nt.keys[1], cl->nt.c.chain_id, 1, &body, NULL,
						  0, &bytes, &len),
			 0);
	pbft_get_stats(cl->r[2], &st0);
	assert_int_not_equal(pbft_step(cl->r[2], (pbft_replica){1}, bytes, len), 0);
	pbft_get_stats(cl->r[2], &st1);
	assert_true(st1.sigs_checked >= st0.sigs_checked + 3); /* checked once */
	for (int r = 0; r < 5; r++)
		assert_int_not_equal(pbft_step(cl->r[2], (pbft_replica){1}, bytes, len), 0);
	pbft_get_stats(cl->r[2], &st2);
	assert_true(st2.sigs_checked <= st1.sigs_checked + 5); /* the outer signature at most */
	assert_int_equal(st2.dropped_wrong, st1.dropped_wrong + 5);
	assert_int_equal(pbft_view(cl->r[2]), 1);
	assert_true(pbft_get_mode(cl->r[2]) == PBFT_MODE_VIEW_CHANGE);
	free(bytes);
	for (uint32_t i = 0; i < CU_N; i++) {
		if (vm[i])
			pbft__message__free_unpacked(vm[i], NULL);
		free(nv_vcs[i]);
		nv_vcs[i] = NULL;
	}
	cl->filter = NULL;
	cu_free(cl);
}

/* While flag 1 is set, replica 2 hears no VIEW-CHANGE and no NEW-VIEW. */
static bool cut_2_from_views(cluster *cl, cu_msg *m)
{
	int k = msg_kind(m->bytes, m->len);
	if (m->to != 2 || !(cl->flags & 1u))
		return true;
	return k != 100 + PBFT__BODY__KIND_VIEW_CHANGE && k != 100 + PBFT__BODY__KIND_NEW_VIEW;
}

/* The length of the NEW-VIEW in replica i's last PERSIST blob. */
static size_t persisted_nv_len(const cluster *cl, uint32_t i)
{
	Pbft__VoteState *vs = pbft__vote_state__unpack(NULL, cl->state_len[i], cl->state[i]);
	size_t n;
	assert_non_null(vs);
	n = vs->new_view.len;
	pbft__vote_state__free_unpacked(vs, NULL);
	return n;
}

/* The NEW-VIEW a replica entered survives its restart. Replicas 0, 1 and
 * 3 enter view 1 while replica 2 hears none of it; then 0, 1 and 3
 * restart from their durable state. Replica 2 still asks for view 1, and
 * one of them shows it the NEW-VIEW again, so it enters view 1 and commits
 * with the others. Before, a restarted replica held no NEW-VIEW: nobody
 * could answer, and 2 stayed out (here for good: no block commits to let
 * it join by a certificate). The blob carries the NEW-VIEW only until the
 * block at its base + 1 commits. */
static void test_new_view_survives_restart(void **state)
{
	const bool ahead[CU_N] = {false}, played[CU_N] = {false};
	cluster *cl;
	uint32_t t;
	(void)state;
	cl = cu_new(0, ahead, played);
	cl->filter = cut_2_from_views;
	cl->flags = 1u;
	for (uint32_t i = 0; i < CU_N; i++)
		pbft_note_pending(cl->r[i], true);
	for (t = 0; t < 400; t++) {
		bool in = true;
		for (uint32_t i = 0; i < CU_N; i++)
			if (i != 2 && (pbft_view(cl->r[i]) != 1 ||
				       pbft_get_mode(cl->r[i]) != PBFT_MODE_NORMAL))
				in = false;
		if (in)
			break;
		cu_tick(cl);
	}
	assert_true(t < 400);
	assert_true(pbft_get_mode(cl->r[2]) == PBFT_MODE_VIEW_CHANGE);
	assert_int_equal(pbft_view(cl->r[2]), 1);
	for (uint32_t i = 0; i < CU_N; i++) {
		if (i == 2)
			continue;
		assert_true(persisted_nv_len(cl, i) > 0);
		pbft_free(cl->r[i]);
		cl->r[i] = NULL;
		cu_start(cl, i);
		cu_actions(cl, i);
		assert_int_equal(pbft_view(cl->r[i]), 1);
		assert_true(pbft_get_mode(cl->r[i]) == PBFT_MODE_NORMAL);
	}
	cl->flags = 0;
	for (t = 0; t < 200 && pbft_get_mode(cl->r[2]) != PBFT_MODE_NORMAL; t++)
		cu_tick(cl);
	assert_true(pbft_get_mode(cl->r[2]) == PBFT_MODE_NORMAL);
	assert_int_equal(pbft_view(cl->r[2]), 1);
	/* view 1 commits with all four; the votes for the block after the
	 * NEW-VIEW's base + 1 no longer carry it */
	for (uint64_t h = 1; h <= 2; h++) {
		cu_propose_by(cl, 1);
		for (t = 0; t < 20 && pbft_height(cl->r[2]) < h; t++)
			cu_tick(cl);
		for (uint32_t i = 0; i < CU_N; i++)
			assert_int_equal(pbft_height(cl->r[i]), h);
	}
	for (uint32_t i = 0; i < CU_N; i++)
		assert_int_equal(persisted_nv_len(cl, i), 0);
	cl->filter = NULL;
	cu_free(cl);
}

/* Every replica prepares block 1 and votes COMMIT, no COMMIT arrives, and
 * all four restart. The PERSIST blobs name the block by hash only; the
 * block came beside them once and the store gives it back: the view
 * changes and block 1 commits, the same block. Restarted without it (a
 * store that lost it), every VIEW-CHANGE holds a prepared certificate
 * without its block and no NEW-VIEW can be built. */
static bool drop_commits(cluster *cl, cu_msg *m)
{
	(void)cl;
	return msg_kind(m->bytes, m->len) != PBFT__MESSAGE__KIND_COMMIT;
}

static void prepared_restart(bool forget, uint64_t *height_out, uint8_t head[TR_HASH_LEN],
			     uint8_t prepared[TR_HASH_LEN])
{
	const bool ahead[CU_N] = {false}, played[CU_N] = {false};
	cluster *cl;
	pbft_wire_header hd;
	uint32_t t;
	cl = cu_new(0, ahead, played);
	cl->filter = drop_commits;
	cu_propose(cl);
	for (t = 0; t < 3; t++)
		cu_tick(cl);
	for (uint32_t i = 0; i < CU_N; i++) {
		assert_int_equal(pbft_height(cl->r[i]), 0);
		assert_non_null(cl->prep[i]);
		assert_int_equal(cl->prep_h[i], 1);
		blob_without_block(cl->state[i], cl->state_len[i]);
	}
	assert_int_equal(pbft_wire_block_header(cl->prep[0], cl->prep_len[0], 1u << 20, &hd), 0);
	memcpy(prepared, hd.hash, TR_HASH_LEN);
	cl->filter = NULL;
	if (forget)
		cl->flags |= CU_FORGET_PREPARED;
	for (uint32_t i = 0; i < CU_N; i++) {
		pbft_free(cl->r[i]);
		cl->r[i] = NULL;
	}
	for (uint32_t i = 0; i < CU_N; i++) {
		cu_start(cl, i);
		cu_actions(cl, i);
		pbft_note_pending(cl->r[i], true);
	}
	for (t = 0; t < 400 && pbft_height(cl->r[0]) < 1; t++)
		cu_tick(cl);
	*height_out = pbft_height(cl->r[0]);
	pbft_head(cl->r[0], head);
	cu_free(cl);
}

static void test_prepared_block_beside_state(void **state)
{
	uint64_t h;
	uint8_t head[TR_HASH_LEN], prepared[TR_HASH_LEN];
	(void)state;
	prepared_restart(false, &h, head, prepared);
	assert_int_equal(h, 1);
	assert_memory_equal(head, prepared, TR_HASH_LEN);
	prepared_restart(true, &h, head, prepared);
	assert_int_equal(h, 0);
}

/* A replica 64 blocks behind, whose partners answer each FETCH with one
 * block only (the node serves what fits in the partner's link queue: one
 * full block under load), catches up at about a block every tick or two,
 * while the others keep committing one block every other tick: it asks
 * again a tick after the last block came instead of waiting for the fetch
 * timeout (10 ticks), which under load left it a block a second behind a
 * chain growing faster (bench-bulk). */
static void test_catch_up_when_served_short(void **state)
{
	const uint64_t k = 64;
	const bool ahead[CU_N] = {true, true, true, false}, played[CU_N] = {false};
	cluster *cl;
	uint32_t ticks = 0;
	(void)state;
	cl = cu_new(k, ahead, played);
	cl->serve_max = 1;
	while (pbft_height(cl->r[3]) < pbft_height(cl->r[0]) && ticks < 400) {
		if (ticks % 2 == 0)
			cu_propose(cl);
		cu_tick(cl);
		ticks++;
	}
	/* 64 blocks and those committed meanwhile: with the timeout as the
	 * only re-ask it took ~10 ticks a block and never caught up */
	assert_int_equal(pbft_height(cl->r[3]), pbft_height(cl->r[0]));
	print_message("# caught up %llu blocks behind in %u ticks\n", (unsigned long long)k, ticks);
	assert_in_range(ticks, 1, 3 * k);
	/* one request per block at most, not one per tick regardless */
	assert_true(cl->fetches[3] <= pbft_height(cl->r[3]) + 8);
	cu_free(cl);
}

/* A backup (3) with records pending is 64 blocks behind the others, who
 * keep committing, and each FETCH is answered with one block: catching up
 * takes far longer than the view-change timeout (20 ticks). It must not
 * suspect the primary while the blocks come (each one it commits restarts
 * the timer, and it asks again at once): a lone VIEW-CHANGE only took it
 * out until the others changed view too (seen with bench/bulk.sh, where a
 * 50,000-record submit held its node thread for 4 s). The grace a fetch
 * gives beyond that is test_suspects_when_fetch_brings_nothing's. */
static void test_no_suspicion_while_fetching(void **state)
{
	const bool ahead[CU_N] = {true, true, true, false}, played[CU_N] = {false};
	cluster *cl;
	pbft_stats st;
	uint32_t ticks = 0;
	(void)state;
	cl = cu_new(64, ahead, played);
	cl->serve_max = 1;
	pbft_note_pending(cl->r[3], true);
	while (pbft_height(cl->r[3]) < pbft_height(cl->r[0]) && ticks < 400) {
		if (ticks % 2 == 0)
			cu_propose(cl);
		cu_tick(cl);
		ticks++;
		if (pbft_get_mode(cl->r[3]) == PBFT_MODE_VIEW_CHANGE)
			fail_msg("replica 3 suspected the primary at tick %u while catching up", ticks);
	}
	assert_true(ticks > 3 * 20); /* well past the timeout */
	assert_int_equal(pbft_height(cl->r[3]), pbft_height(cl->r[0]));
	for (uint32_t t = 0; t < 5; t++) {
		cu_propose(cl);
		cu_tick(cl);
	}
	assert_int_equal(pbft_view(cl->r[3]), 0);
	assert_int_equal(pbft_get_mode(cl->r[3]), PBFT_MODE_NORMAL);
	pbft_get_stats(cl->r[3], &st);
	assert_int_equal(st.view_changes, 0);
	cu_free(cl);
}

/* The same backup, but nobody answers its FETCH (as when a primary showed
 * a block to some replicas only and the COMMITs to the others: 2f+1
 * COMMITs do not mean an honest replica can serve it). A fetch gives it
 * one timeout of grace without a block (the timer does not run while a
 * fetch has brought a block within a timeout, or has just begun), then
 * the timer runs again: it suspects at 2 timeouts, not at 1 (no grace)
 * nor never (a fetch that could hold it forever). */
static void test_suspects_when_fetch_brings_nothing(void **state)
{
	const bool ahead[CU_N] = {true, true, true, false}, played[CU_N] = {false};
	cluster *cl;
	uint32_t t;
	bool fetched = false;
	(void)state;
	cl = cu_new(10, ahead, played);
	cl->mute_serve = true;
	pbft_note_pending(cl->r[3], true);
	for (t = 1; t <= 200 && pbft_get_mode(cl->r[3]) != PBFT_MODE_VIEW_CHANGE; t++) {
		cu_propose(cl);
		cu_tick(cl);
		fetched |= pbft_get_mode(cl->r[3]) == PBFT_MODE_CATCHING_UP;
	}
	assert_true(fetched);
	assert_int_equal(pbft_get_mode(cl->r[3]), PBFT_MODE_VIEW_CHANGE);
	/* one timeout of fetching without a block, then one of the timer:
	 * before the fetch's 8 timeouts run out */
	print_message("# suspected at tick %u\n", t);
	assert_in_range(t, 2 * 20, 4 * 20);
	cu_free(cl);
}

/* A lying partner (1) serves block 1 to a replica behind (3) with the
 * true certificate in other bytes: a 70,000-byte block_hash field in
 * front of it (the last one wins, so it still verifies). The ledger takes
 * certificates of at most LDG_CERT_BYTES_MAX, and the node stops when its
 * store refuses a block consensus committed: the replica must refuse the
 * padded certificate (as it refuses a padded block, test_block_canonical)
 * and catch up from the honest replicas, every certificate it commits one
 * that ldg_cert_check, which ldg_append runs, accepts. */
static void test_catch_up_cert_canonical(void **state)
{
	const bool ahead[CU_N] = {true, true, true, false}, played[CU_N] = {false};
	const size_t pad = 70000;
	cluster *cl;
	cu_entry *e;
	uint8_t *padded;
	size_t plen = 0, v;
	pbft_wire_header hd;
	pbft_stats st;
	char why[256];
	(void)state;
	cl = cu_new(3, ahead, played);
	e = &cl->store[1][1];
	padded = malloc(pad + 8 + e->cert_len);
	assert_non_null(padded);
	padded[plen++] = 0x1a; /* field 3, length-delimited */
	for (v = pad; v >= 0x80; v >>= 7)
		padded[plen++] = (uint8_t)((v & 0x7f) | 0x80);
	padded[plen++] = (uint8_t)v;
	memset(padded + plen, 0xee, pad);
	plen += pad;
	memcpy(padded + plen, e->cert, e->cert_len);
	plen += e->cert_len;
	/* the votes verify; the ledger refuses its size */
	assert_int_equal(pbft_wire_block_header(e->block, e->len, 1u << 20, &hd), 0);
	assert_int_equal(pbft_cert_check(&cl->nt.c, padded, plen, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ldg_cert_check(&cl->nt.c, padded, plen, 1, hd.hash, why, sizeof why),
			 TR_ETOOBIG);
	assert_int_equal(pbft_serve(cl->r[1], (pbft_replica){3}, 1, e->block, e->len, padded, plen), 0);
	free(padded);
	cu_actions(cl, 1);
	cu_deliver(cl);
	if (pbft_height(cl->r[3]) != 0)
		fail_msg("replica 3 committed block 1 with the padded certificate");
	pbft_get_stats(cl->r[3], &st);
	assert_int_equal(st.dropped_wrong, 1);
	for (uint32_t t = 0; t < 100 && pbft_height(cl->r[3]) < pbft_height(cl->r[0]); t++) {
		cu_propose(cl);
		cu_tick(cl);
	}
	assert_true(pbft_height(cl->r[3]) >= 3);
	for (uint64_t h = 1; h <= cl->top[3]; h++) {
		const cu_entry *c = &cl->store[3][h];
		assert_int_equal(pbft_wire_block_header(c->block, c->len, 1u << 20, &hd), 0);
		if (ldg_cert_check(&cl->nt.c, c->cert, c->cert_len, h, hd.hash, why, sizeof why))
			fail_msg("replica 3 committed block %llu with a certificate its ledger refuses: %s",
				 (unsigned long long)h, why);
	}
	cu_free(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_partner_commits_at_once),
		cmocka_unit_test(test_persist_before_pre_prepare),
		cmocka_unit_test(test_garbage_is_dropped),
		cmocka_unit_test(test_bad_config_and_state),
		cmocka_unit_test(test_is_vote),
		cmocka_unit_test(test_block_canonical),
		cmocka_unit_test(test_catch_up_pace),
		cmocka_unit_test(test_vc_prepared_without_block),
		cmocka_unit_test(test_new_view_replay_unchecked),
		cmocka_unit_test(test_new_view_survives_restart),
		cmocka_unit_test(test_prepared_block_beside_state),
		cmocka_unit_test(test_future_votes_unchecked),
		cmocka_unit_test(test_far_claim_of_one_liar),
		cmocka_unit_test(test_catch_up_cert_canonical),
		cmocka_unit_test(test_no_suspicion_while_fetching),
		cmocka_unit_test(test_suspects_when_fetch_brings_nothing),
		cmocka_unit_test(test_catch_up_when_served_short),
		cmocka_unit_test(test_validate_after_commit_is_carried_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
