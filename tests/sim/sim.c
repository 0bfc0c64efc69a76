/*
 * sim.c: the deterministic consensus simulator (DESIGN.md, STYLE.md rule 15).
 *
 * N replicas of consensus/pbft.c run in one process over a fake network
 * driven by one seeded PRNG: messages are delayed, dropped (up to 30%),
 * duplicated and reordered; the network partitions and heals; replicas
 * crash (even between a PERSIST and the send it guards) and restart from
 * their simulated durable state (committed chain + last PERSIST blob); up
 * to f replicas are Byzantine (equivocating primary, bad signatures, votes
 * for other hashes, garbage, silence, forged NEW-VIEWs, forged catch-up
 * blocks). Nothing reads the clock or rand(): a seed replays bit for bit.
 *
 * Checked after every step: no two honest replicas commit different blocks
 * at one height; every commit carries a valid certificate for the block's
 * header hash and links to the previous block; no honest replica ever
 * sends two different votes for one (kind, view, height). Checked at the
 * end: once faults stop, every honest replica commits new blocks within a
 * bounded number of ticks. With f+1 replicas down nothing commits beyond
 * what was in flight, and progress resumes when they return.
 *
 * The harness plays the node: it carries out the actions in order, keeps
 * the durable state, answers SERVE from its chain, and caches signature
 * checks (a speed-up only: results are identical without it).
 */
#include "common/consortium.h"
#include "common/crypto.h"
#include "common/merkle.h"
#include "consensus/pbft.h"
#include "consensus/pbft_wire.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>

#define SIM_NMAX 13
#define SIM_NET_MAX 200000       /* messages in flight */
#define SIM_VOTES_MAX 8192       /* recorded votes per replica */
#define SIM_CHAIN_MAX 4096       /* committed blocks per replica */
#define SIM_FORGED_MAX 64
#define VCACHE_BITS 17
#define TICK_MS 100
#define VC_TIMEOUT_MS 1000       /* 10 ticks */

/* ==== PRNG: splitmix64 seeding xoshiro256** ==== */

typedef struct {
	uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

static uint32_t rng_below(rng *r, uint32_t n)
{
	return n ? (uint32_t)(rng_next(r) % n) : 0;
}

static bool rng_permille(rng *r, uint32_t pm)
{
	return rng_below(r, 1000) < pm;
}

/* ==== Scenarios ==== */

enum byz_kind {
	BYZ_SILENT,
	BYZ_BADSIG,
	BYZ_WRONGHASH,
	BYZ_GARBAGE,
	BYZ_EQUIVOCATE,
	BYZ_BADNV,
	BYZ_LIAR,
	BYZ_KINDS
};
static const char *const byz_names[BYZ_KINDS] = {"silent",	"badsig", "wronghash", "garbage",
						  "equivocate", "badnv",  "liar"};

typedef struct {
	const char *name;
	uint32_t n;
	uint32_t byz;        /* Byzantine replicas */
	uint32_t crash;      /* at most this many crashed at once */
	bool partition;
	bool fplus1;         /* take f+1 down for a while */
	uint32_t drop_max;   /* permille */
	uint32_t fault_ticks;
	uint32_t rate;       /* a new block is wanted every `rate` ticks */
	int byz_kind;        /* -1: a random behaviour per Byzantine replica */
	bool byz_next;       /* Byzantine replicas are the primaries of views 1.. */
} scenario;

static const scenario scenarios[] = {
	{"calm4", 4, 0, 0, false, false, 300, 150, 6, -1, false},
	{"crash4", 4, 0, 1, false, false, 200, 200, 6, -1, false},
	{"byz4", 4, 1, 0, false, false, 200, 200, 6, -1, false},
	{"partition4", 4, 0, 0, true, false, 150, 200, 6, -1, false},
	{"calm7", 7, 0, 0, false, false, 300, 100, 8, -1, false},
	{"crash7", 7, 0, 2, false, false, 200, 150, 8, -1, false},
	{"byz7", 7, 2, 0, false, false, 200, 150, 8, -1, false},
	{"partition7", 7, 0, 0, true, false, 150, 150, 8, -1, false},
	{"mixed7", 7, 1, 1, true, false, 200, 150, 8, -1, false},
	{"fplus1_4", 4, 0, 0, false, true, 100, 200, 6, -1, false},
	{"fplus1_7", 7, 0, 0, false, true, 100, 200, 8, -1, false},
	/* Byzantine primaries-in-waiting that forge NEW-VIEWs, with cuts
	 * that leave a commit on one side only. */
	{"nvattack4", 4, 1, 0, true, false, 200, 200, 6, BYZ_BADNV, true},
	{"nvattack7", 7, 2, 0, true, false, 200, 150, 8, BYZ_BADNV, true},
	/* consortia of other sizes than 3f+1: 2f+1 votes made two blocks at
	 * one height in a partition (n = 2: one partner alone, n = 6: each
	 * half), until the quorum became ceil((n+f+1)/2) */
	{"partition2", 2, 0, 0, true, false, 150, 200, 6, -1, false},
	{"partition3", 3, 0, 0, true, false, 150, 200, 6, -1, false},
	{"partition5", 5, 0, 0, true, false, 150, 150, 8, -1, false},
	{"partition6", 6, 0, 0, true, false, 150, 150, 8, -1, false},
	{"crash6", 6, 0, 1, false, false, 200, 150, 8, -1, false},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

/* ==== Signature cache (harness only) ==== */

typedef struct {
	uint8_t key[TR_HASH_LEN];
	int8_t have, result;
} vcache_entry;

static vcache_entry *vcache;
static uint64_t g_verifies, g_vcache_hits, g_forged_nv, g_forged_blocks;

static int cached_verify(void *ctx, tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const char *tag,
			 const uint8_t chain_id[TR_HASH_LEN], const uint8_t *bytes, size_t len,
			 const uint8_t sig[TR_SIG_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t k[TR_HASH_LEN];
	uint8_t a = (uint8_t)alg;
	vcache_entry *e;
	(void)ctx;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &a, 1);
	crypto_hash_sha256_update(&st, pub, TR_PUBKEY_LEN);
	crypto_hash_sha256_update(&st, (const uint8_t *)tag, strlen(tag) + 1);
	crypto_hash_sha256_update(&st, chain_id, TR_HASH_LEN);
	crypto_hash_sha256_update(&st, bytes, len);
	crypto_hash_sha256_update(&st, sig, TR_SIG_LEN);
	crypto_hash_sha256_final(&st, k);
	e = &vcache[tr_be32_get(k) >> (32 - VCACHE_BITS)];
	if (e->have && !memcmp(e->key, k, TR_HASH_LEN)) {
		g_vcache_hits++;
		return e->result;
	}
	g_verifies++;
	e->result = (int8_t)tr_verify_tagged(alg, pub, tag, chain_id, bytes, len, sig);
	e->have = 1;
	memcpy(e->key, k, TR_HASH_LEN);
	return e->result;
}

/* ==== World ==== */

typedef struct {
	uint8_t *block, *cert;
	size_t len, cert_len;
	uint8_t hash[TR_HASH_LEN];
} sblock;

typedef struct {
	uint64_t key; /* kind<<62 | view<<32 | height (folded) */
	uint64_t view, height;
	uint8_t kind;
	uint8_t hash[TR_HASH_LEN];
	bool have;
} vote_rec;

typedef struct {
	pbft *p;
	bool up;
	int byz; /* -1 honest, else enum byz_kind */
	tr_key *key;
	sblock *chain;
	uint64_t height;
	uint8_t *state;
	size_t state_len;
	/* the prepared block a PERSIST carried, kept as the node's store
	 * keeps it: at height + 1 only, given back at a restart */
	uint8_t *prep;
	size_t prep_len;
	uint64_t prep_h;
	uint64_t restart_at;
	vote_rec *votes;
	uint32_t nvotes;
	uint64_t forged_for[SIM_NMAX]; /* LIAR: last height forged per peer */
} replica;

typedef struct {
	uint64_t at, seq;
	uint32_t from, to;
	uint8_t *msg;
	size_t len;
} event;

/* validate()'s context: the world (a world *) and the replica asking. */
typedef struct {
	void *w;
	uint32_t i;
} vctx;

typedef struct {
	uint64_t seed;
	const scenario *sc;
	rng r;
	tr_consortium *c;
	uint32_t n, f, q;
	replica rep[SIM_NMAX];
	vctx vc[SIM_NMAX];
	event **heap;
	size_t nheap;
	uint64_t seq, now;
	/* network */
	uint32_t drop, dup, delay_max;
	int side[SIM_NMAX]; /* partition side; all 0 when healed */
	uint64_t part_until;
	bool faults;
	/* checker */
	uint8_t (*decided)[TR_HASH_LEN];
	bool *decided_have;
	uint64_t max_decided;
	char fail[256];
	bool failed;
	/* figures */
	uint64_t msgs_sent, first_commit_after;
	bool crash_primary_probe;
	uint64_t probe_at, probe_height;
	uint64_t probe_ticks;
	bool probe_done;
	bool quiet_faults; /* figures: no faults at all */
	/* nvattack: the colluders' victim and its companions */
	uint32_t victim;
	bool in_s[SIM_NMAX];
	int attack_stage; /* 1: selective PRE-PREPARE sent; 2: victim committed, cut off */
	uint64_t want_blocks;
} world;

static bool g_verbose;

static void failf(world *w, const char *fmt, ...) TR_PRINTF(2, 3);
static void failf(world *w, const char *fmt, ...)
{
	va_list ap;
	if (w->failed)
		return;
	w->failed = true;
	va_start(ap, fmt);
	vsnprintf(w->fail, sizeof w->fail, fmt, ap);
	va_end(ap);
}

/* ==== Network ==== */

static void heap_push(world *w, event *e)
{
	size_t i = w->nheap++;
	w->heap[i] = e;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		event *a = w->heap[up], *b = w->heap[i];
		if (a->at < b->at || (a->at == b->at && a->seq < b->seq))
			break;
		w->heap[up] = b;
		w->heap[i] = a;
		i = up;
	}
}

static event *heap_pop(world *w)
{
	event *top = w->heap[0];
	size_t i = 0;
	w->heap[0] = w->heap[--w->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->nheap && (w->heap[l]->at < w->heap[m]->at ||
				     (w->heap[l]->at == w->heap[m]->at && w->heap[l]->seq < w->heap[m]->seq)))
			m = l;
		if (r < w->nheap && (w->heap[r]->at < w->heap[m]->at ||
				     (w->heap[r]->at == w->heap[m]->at && w->heap[r]->seq < w->heap[m]->seq)))
			m = r;
		if (m == i)
			break;
		event *t = w->heap[m];
		w->heap[m] = w->heap[i];
		w->heap[i] = t;
		i = m;
	}
	return top;
}

/* Put one copy of msg on the wire from -> to (copied). */
static void net_send(world *w, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	int copies = 1;
	w->msgs_sent++;
	if (w->side[from] != w->side[to])
		return;
	if (w->drop && rng_permille(&w->r, w->drop))
		return;
	if (w->dup && rng_permille(&w->r, w->dup))
		copies = 2;
	for (int k = 0; k < copies; k++) {
		event *e;
		if (w->nheap >= SIM_NET_MAX)
			return;
		e = malloc(sizeof *e);
		TR_ASSERT(e);
		e->msg = malloc(len ? len : 1);
		TR_ASSERT(e->msg);
		memcpy(e->msg, msg, len);
		e->len = len;
		e->from = from;
		e->to = to;
		e->at = w->now + 1 + rng_below(&w->r, w->delay_max);
		e->seq = w->seq++;
		heap_push(w, e);
	}
}

/* ==== Blocks ==== */

static int sim_validate(void *ctx, const uint8_t *block, size_t len, uint64_t height,
			const uint8_t prev_hash[TR_HASH_LEN])
{
	Trellis__Block *b;
	Trellis__BlockHeader *h = NULL;
	uint8_t(*leaves)[TR_HASH_LEN] = NULL;
	uint8_t root[TR_HASH_LEN];
	int rc = TR_EINVAL;
	const vctx *vc = ctx;
	world *w = vc->w;
	const replica *r = &w->rep[vc->i];
	/* The node checks a block against its ledger, which holds what it
	 * committed: the harness carries out every action before it calls
	 * in again, so the block must go on top of the harness's chain. */
	if (height != r->height + 1 ||
	    memcmp(prev_hash, r->height ? r->chain[r->height - 1].hash : w->c->chain_id,
		   TR_HASH_LEN)) {
		failf(w, "replica %u asked to validate height %" PRIu64 " on a chain at %" PRIu64,
		      vc->i, height, r->height);
		return TR_EINVAL;
	}
	b = (Trellis__Block *)pbft_wire_unpack(&trellis__block__descriptor, block, len);
	if (!b)
		return TR_EINVAL;
	h = (Trellis__BlockHeader *)pbft_wire_unpack(&trellis__block_header__descriptor,
						      b->header.data, b->header.len);
	if (!h || h->height != height || h->prev_hash.len != TR_HASH_LEN ||
	    memcmp(h->prev_hash.data, prev_hash, TR_HASH_LEN) || h->records_root.len != TR_HASH_LEN ||
	    h->record_count != b->n_records || b->n_records > 16)
		goto done;
	leaves = calloc(b->n_records + 1, TR_HASH_LEN);
	if (!leaves)
		goto done;
	for (size_t i = 0; i < b->n_records; i++)
		tr_merkle_leaf(leaves[i], b->records[i].data, b->records[i].len);
	if (tr_merkle_root((const uint8_t(*)[TR_HASH_LEN])leaves, b->n_records, root) ||
	    memcmp(root, h->records_root.data, TR_HASH_LEN))
		goto done;
	rc = 0;
done:
	free(leaves);
	pbft_wire_free((ProtobufCMessage *)h);
	pbft_wire_free(&b->base);
	return rc;
}

/* Make a block; `bad_root` makes one validate() refuses. */
static void make_block(world *w, uint64_t height, const uint8_t prev[TR_HASH_LEN], uint64_t view,
		       uint32_t proposer, uint64_t salt, bool bad_root, uint8_t **out, size_t *len)
{
	Trellis__BlockHeader h = TRELLIS__BLOCK_HEADER__INIT;
	Trellis__Block b = TRELLIS__BLOCK__INIT;
	ProtobufCBinaryData recs[4];
	uint8_t rb[4][40];
	uint8_t leaves[4][TR_HASH_LEN];
	uint8_t root[TR_HASH_LEN];
	uint8_t *hb;
	size_t hl;
	uint32_t nrec = 1 + rng_below(&w->r, 3);
	for (uint32_t i = 0; i < nrec; i++) {
		snprintf((char *)rb[i], sizeof rb[i], "rec h=%" PRIu64 " i=%u s=%" PRIu64, height, i,
			 salt);
		recs[i].data = rb[i];
		recs[i].len = strlen((char *)rb[i]);
		tr_merkle_leaf(leaves[i], recs[i].data, recs[i].len);
	}
	TR_ASSERT(tr_merkle_root((const uint8_t(*)[TR_HASH_LEN])leaves, nrec, root) == 0);
	if (bad_root)
		root[0] ^= 1;
	h.chain_id.data = w->c->chain_id;
	h.chain_id.len = TR_HASH_LEN;
	h.height = height;
	h.prev_hash.data = (uint8_t *)(uintptr_t)prev;
	h.prev_hash.len = TR_HASH_LEN;
	h.records_root.data = root;
	h.records_root.len = TR_HASH_LEN;
	h.record_count = nrec;
	h.view = view;
	h.proposer = proposer;
	h.time_ms = w->now * TICK_MS + salt;
	TR_ASSERT(pbft_wire_pack(&h.base, &hb, &hl) == 0);
	b.header.data = hb;
	b.header.len = hl;
	b.n_records = nrec;
	b.records = recs;
	TR_ASSERT(pbft_wire_pack(&b.base, out, len) == 0);
	free(hb);
}

static void block_hash(const uint8_t *block, size_t len, uint8_t out[TR_HASH_LEN])
{
	pbft_wire_header h;
	TR_ASSERT(pbft_wire_block_header(block, len, SIZE_MAX / 4, &h) == 0);
	memcpy(out, h.hash, TR_HASH_LEN);
}

/* ==== Checker ==== */

static bool is_honest(const world *w, uint32_t i)
{
	return w->rep[i].byz < 0;
}

static void check_commit(world *w, uint32_t i, const pbft_action *a)
{
	replica *r = &w->rep[i];
	pbft_wire_header h;
	uint64_t ch;
	uint8_t chash[TR_HASH_LEN];
	const uint8_t *prev = r->height ? r->chain[r->height - 1].hash : w->c->chain_id;
	if (a->height != r->height + 1 || a->height > SIM_CHAIN_MAX) {
		failf(w, "replica %u committed height %" PRIu64 " after %" PRIu64, i, a->height,
		      r->height);
		return;
	}
	if (pbft_wire_block_header(a->bytes, a->len, SIZE_MAX / 4, &h) || h.height != a->height ||
	    memcmp(h.prev_hash, prev, TR_HASH_LEN) || memcmp(h.hash, a->hash, TR_HASH_LEN)) {
		failf(w, "replica %u committed a block at %" PRIu64 " that does not link", i,
		      a->height);
		return;
	}
	if (pbft_cert_check(w->c, a->cert, a->cert_len, cached_verify, NULL, &ch, chash) ||
	    ch != a->height || memcmp(chash, h.hash, TR_HASH_LEN)) {
		failf(w, "replica %u committed height %" PRIu64 " without a valid certificate", i,
		      a->height);
		return;
	}
	if (g_verbose) {
		char hx[9];
		printf("  t=%" PRIu64 " r%u commit h=%" PRIu64 " view=%" PRIu64 " %s\n", w->now, i,
		       a->height, pbft_view(r->p), tr_hex(hx, h.hash, 4));
	}
	if (!is_honest(w, i))
		return;
	if (w->decided_have[a->height]) {
		if (memcmp(w->decided[a->height], h.hash, TR_HASH_LEN))
			failf(w, "SAFETY: replica %u committed a different block at height %" PRIu64,
			      i, a->height);
	} else {
		w->decided_have[a->height] = true;
		memcpy(w->decided[a->height], h.hash, TR_HASH_LEN);
		if (a->height > w->max_decided)
			w->max_decided = a->height;
	}
}

/* Record a vote an honest replica sends; two different hashes for one
 * (kind, view, height) is a double vote (persist-before-send broken). */
static void record_vote(world *w, uint32_t i, uint8_t kind, uint64_t view, uint64_t height,
			const uint8_t *hash)
{
	replica *r = &w->rep[i];
	for (uint32_t k = 0; k < r->nvotes; k++) {
		vote_rec *v = &r->votes[k];
		if (v->kind == kind && v->view == view && v->height == height) {
			if (memcmp(v->hash, hash, TR_HASH_LEN))
				failf(w,
				      "DOUBLE VOTE: replica %u sent two %s votes for view %" PRIu64
				      " height %" PRIu64,
				      i, kind == 1 ? "prepare" : "commit", view, height);
			return;
		}
	}
	if (r->nvotes >= SIM_VOTES_MAX)
		return;
	r->votes[r->nvotes].kind = kind;
	r->votes[r->nvotes].view = view;
	r->votes[r->nvotes].height = height;
	memcpy(r->votes[r->nvotes].hash, hash, TR_HASH_LEN);
	r->nvotes++;
}

static void inspect_outgoing(world *w, uint32_t i, const uint8_t *msg, size_t len)
{
	Pbft__Message *m;
	if (!is_honest(w, i))
		return;
	m = (Pbft__Message *)pbft_wire_unpack(&pbft__message__descriptor, msg, len);
	if (!m) {
		failf(w, "replica %u sent an undecodable message", i);
		return;
	}
	if (m->kind_case == PBFT__MESSAGE__KIND_PREPARE)
		record_vote(w, i, 1, m->prepare->view, m->prepare->height, m->prepare->block_hash.data);
	else if (m->kind_case == PBFT__MESSAGE__KIND_COMMIT)
		record_vote(w, i, 2, m->commit->view, m->commit->height, m->commit->block_hash.data);
	else if (m->kind_case == PBFT__MESSAGE__KIND_PRE_PREPARE) {
		uint8_t hh[TR_HASH_LEN];
		block_hash(m->pre_prepare->block.data, m->pre_prepare->block.len, hh);
		record_vote(w, i, 1, m->pre_prepare->view, m->pre_prepare->height, hh);
	} else if (m->kind_case == PBFT__MESSAGE__KIND_SIGNED) {
		Pbft__Body *b = (Pbft__Body *)pbft_wire_unpack(
			&pbft__body__descriptor, m->signed_->body.data, m->signed_->body.len);
		if (b && b->kind_case == PBFT__BODY__KIND_NEW_VIEW && b->new_view->pre_prepare) {
			Pbft__PrePrepare *pp = b->new_view->pre_prepare;
			uint8_t hh[TR_HASH_LEN];
			block_hash(pp->block.data, pp->block.len, hh);
			record_vote(w, i, 1, pp->view, pp->height, hh);
		}
		pbft_wire_free((ProtobufCMessage *)b);
	}
	pbft_wire_free(&m->base);
}

/* ==== Byzantine behaviour ==== */

static void byz_sign_vote(world *w, uint32_t i, bool commit, uint64_t view, uint64_t height,
			  const uint8_t hash[TR_HASH_LEN], uint8_t **out, size_t *len)
{
	Pbft__Vote v = PBFT__VOTE__INIT;
	uint8_t sig[TR_SIG_LEN];
	if (commit)
		TR_ASSERT(pbft_wire_sign_commit(w->rep[i].key, w->c->chain_id, view, height, hash,
						sig) == 0);
	else
		TR_ASSERT(pbft_wire_sign_prepare(w->rep[i].key, w->c->chain_id, view, height, hash,
						 sig) == 0);
	v.view = view;
	v.height = height;
	v.block_hash.data = (uint8_t *)(uintptr_t)hash;
	v.block_hash.len = TR_HASH_LEN;
	v.signature.data = sig;
	v.signature.len = TR_SIG_LEN;
	TR_ASSERT(pbft_wire_message(i, NULL, commit ? NULL : &v, commit ? &v : NULL, NULL, out,
				    len) == 0);
}

/* An alternative block at the same height and parent: a fork candidate. */
static void alt_block(world *w, const uint8_t *block, size_t len, uint32_t proposer,
		      uint8_t **out, size_t *olen)
{
	pbft_wire_header h;
	TR_ASSERT(pbft_wire_block_header(block, len, SIZE_MAX / 4, &h) == 0);
	make_block(w, h.height, h.prev_hash, h.view, proposer, 1 + rng_below(&w->r, 1000000),
		   false, out, olen);
}

static void byz_pre_prepare(world *w, uint32_t i, uint64_t view, uint64_t height,
			    const uint8_t *block, size_t len, uint8_t **out, size_t *olen)
{
	Pbft__PrePrepare pp = PBFT__PRE_PREPARE__INIT;
	uint8_t hh[TR_HASH_LEN], sig[TR_SIG_LEN];
	block_hash(block, len, hh);
	TR_ASSERT(pbft_wire_sign_prepare(w->rep[i].key, w->c->chain_id, view, height, hh, sig) == 0);
	pp.view = view;
	pp.height = height;
	pp.block.data = (uint8_t *)(uintptr_t)block;
	pp.block.len = len;
	pp.signature.data = sig;
	pp.signature.len = TR_SIG_LEN;
	TR_ASSERT(pbft_wire_message(i, &pp, NULL, NULL, NULL, out, olen) == 0);
}

/* Send msg from Byzantine replica i to `to` after its behaviour has had
 * its way with it. */
static void byz_send(world *w, uint32_t i, uint32_t to, const uint8_t *msg, size_t len,
		     const Pbft__Message *m, const uint8_t *alt_pp, size_t alt_pp_len,
		     const uint8_t *alt_nv, size_t alt_nv_len)
{
	replica *r = &w->rep[i];
	switch (r->byz) {
	case BYZ_SILENT:
		return;
	case BYZ_BADSIG: {
		uint8_t *c = malloc(len);
		TR_ASSERT(c);
		memcpy(c, msg, len);
		/* signatures sit near the end of every kind */
		if (len > 70 && rng_below(&w->r, 2))
			c[len - 1 - rng_below(&w->r, 64)] ^= (uint8_t)(1u << rng_below(&w->r, 8));
		net_send(w, i, to, c, len);
		free(c);
		return;
	}
	case BYZ_GARBAGE: {
		uint8_t junk[300];
		size_t jl = rng_below(&w->r, sizeof junk);
		for (size_t k = 0; k < jl; k++)
			junk[k] = (uint8_t)rng_next(&w->r);
		if (rng_below(&w->r, 3) == 0) { /* a truncated real message */
			jl = rng_below(&w->r, (uint32_t)len);
			net_send(w, i, to, msg, jl);
		} else {
			net_send(w, i, to, junk, jl);
		}
		if (rng_below(&w->r, 2))
			net_send(w, i, to, msg, len);
		return;
	}
	case BYZ_WRONGHASH:
		if (m && (m->kind_case == PBFT__MESSAGE__KIND_PREPARE ||
			  m->kind_case == PBFT__MESSAGE__KIND_COMMIT)) {
			const Pbft__Vote *v = m->kind_case == PBFT__MESSAGE__KIND_PREPARE ? m->prepare
											  : m->commit;
			uint8_t hh[TR_HASH_LEN];
			uint8_t *o;
			size_t ol;
			for (int k = 0; k < TR_HASH_LEN; k++)
				hh[k] = (uint8_t)rng_next(&w->r);
			byz_sign_vote(w, i, m->kind_case == PBFT__MESSAGE__KIND_COMMIT, v->view,
				      v->height, hh, &o, &ol);
			net_send(w, i, to, o, ol);
			free(o);
			return;
		}
		net_send(w, i, to, msg, len);
		return;
	case BYZ_EQUIVOCATE:
		if (alt_pp && (to % 2) == 1) {
			net_send(w, i, to, alt_pp, alt_pp_len);
			return;
		}
		net_send(w, i, to, msg, len);
		return;
	case BYZ_BADNV:
		/* Collude so that one honest replica (the victim) commits
		 * while the others only prepare, then hide that behind a
		 * forged NEW-VIEW. */
		if (alt_nv) {
			net_send(w, i, to, alt_nv, alt_nv_len);
			return;
		}
		if (m && (m->kind_case == PBFT__MESSAGE__KIND_PRE_PREPARE ||
			  m->kind_case == PBFT__MESSAGE__KIND_PREPARE)) {
			if (w->in_s[to] || !is_honest(w, to))
				net_send(w, i, to, msg, len);
			return;
		}
		if (m && m->kind_case == PBFT__MESSAGE__KIND_COMMIT) {
			if (to == w->victim || !is_honest(w, to))
				net_send(w, i, to, msg, len);
			return;
		}
		net_send(w, i, to, msg, len);
		return;
	default:
		net_send(w, i, to, msg, len);
		return;
	}
}

/* A NEW-VIEW from Byzantine i built from the 2f+1 VIEW-CHANGEs with the
 * lowest heights (a primary may pick any 2f+1), re-proposing a fresh block
 * instead of the one they force; every colluder votes for it. */
static void forge_new_view(world *w, uint32_t i, const Pbft__Message *m, uint8_t **out,
			   size_t *olen)
{
	Pbft__Body *b;
	Pbft__NewView *nv;
	Pbft__PrePrepare pp = PBFT__PRE_PREPARE__INIT;
	Pbft__PrePrepare *old_pp;
	Pbft__Signed *keep[SIM_NMAX];
	Pbft__Signed **old_vcs;
	size_t old_n;
	uint64_t hs[SIM_NMAX], base = 0;
	bool prepared[SIM_NMAX] = {false}, forced = false;
	size_t nk = 0;
	uint8_t *ab;
	size_t al;
	uint8_t hh[TR_HASH_LEN], sig[TR_SIG_LEN];
	const uint8_t *prev;
	*out = NULL;
	if (w->attack_stage != 2)
		return; /* play honest until a commit is there to hide */
	b = (Pbft__Body *)pbft_wire_unpack(&pbft__body__descriptor, m->signed_->body.data,
					   m->signed_->body.len);
	if (!b || b->kind_case != PBFT__BODY__KIND_NEW_VIEW) {
		pbft_wire_free((ProtobufCMessage *)b);
		return;
	}
	nv = b->new_view;
	for (size_t k = 0; k < nv->n_view_changes && k < SIM_NMAX; k++) {
		Pbft__Body *vb = (Pbft__Body *)pbft_wire_unpack(&pbft__body__descriptor,
							       nv->view_changes[k]->body.data,
							       nv->view_changes[k]->body.len);
		hs[k] = vb && vb->kind_case == PBFT__BODY__KIND_VIEW_CHANGE ? vb->view_change->height
									       : UINT64_MAX;
		prepared[k] = vb && vb->kind_case == PBFT__BODY__KIND_VIEW_CHANGE &&
			      vb->view_change->prepared;
		pbft_wire_free((ProtobufCMessage *)vb);
	}
	/* the q lowest */
	while (nk < w->q) {
		size_t best = SIZE_MAX;
		for (size_t k = 0; k < nv->n_view_changes && k < SIM_NMAX; k++)
			if (hs[k] != UINT64_MAX - 1 && (best == SIZE_MAX || hs[k] < hs[best]))
				best = k;
		if (best == SIZE_MAX || hs[best] == UINT64_MAX)
			break;
		keep[nk++] = nv->view_changes[best];
		if (hs[best] > base)
			base = hs[best];
		hs[best] = UINT64_MAX - 1;
	}
	/* a prepared certificate at base+1 among the kept: they force a block */
	for (size_t k = 0; k < nv->n_view_changes && k < SIM_NMAX; k++)
		for (size_t j = 0; j < nk; j++)
			if (keep[j] == nv->view_changes[k] && prepared[k]) {
				Pbft__Body *vb = (Pbft__Body *)pbft_wire_unpack(
					&pbft__body__descriptor, keep[j]->body.data, keep[j]->body.len);
				if (vb && vb->view_change->height == base)
					forced = true;
				pbft_wire_free((ProtobufCMessage *)vb);
			}
	if (nk < w->q || !forced || base > w->rep[i].height) {
		pbft_wire_free(&b->base);
		return;
	}
	prev = base == 0 ? w->c->chain_id : w->rep[i].chain[base - 1].hash;
	make_block(w, base + 1, prev, nv->view, i, 4242 + rng_below(&w->r, 1000), false, &ab, &al);
	block_hash(ab, al, hh);
	TR_ASSERT(pbft_wire_sign_prepare(w->rep[i].key, w->c->chain_id, nv->view, base + 1, hh,
					 sig) == 0);
	pp.view = nv->view;
	pp.height = base + 1;
	pp.block.data = ab;
	pp.block.len = al;
	pp.signature.data = sig;
	pp.signature.len = TR_SIG_LEN;
	old_pp = nv->pre_prepare;
	old_vcs = nv->view_changes;
	old_n = nv->n_view_changes;
	nv->pre_prepare = &pp;
	nv->view_changes = keep;
	nv->n_view_changes = nk;
	TR_ASSERT(pbft_wire_signed_message(w->rep[i].key, w->c->chain_id, i, b, NULL, 0, out,
					   olen) == 0);
	nv->pre_prepare = old_pp;
	nv->view_changes = old_vcs;
	nv->n_view_changes = old_n;
	g_forged_nv++;
	if (g_verbose)
		printf("  t=%" PRIu64 " r%u forges NEW-VIEW %" PRIu64 " base %" PRIu64 "\n", w->now, i,
		       nv->view, base);
	/* every colluder votes for the fresh block */
	for (uint32_t k = 0; k < w->n; k++) {
		if (is_honest(w, k))
			continue;
		for (int c = 0; c < 2; c++) {
			uint8_t *o;
			size_t ol;
			byz_sign_vote(w, k, c == 1, pp.view, pp.height, hh, &o, &ol);
			for (uint32_t to = 0; to < w->n; to++)
				if (to != k)
					net_send(w, k, to, o, ol);
			free(o);
		}
	}
	free(ab);
	pbft_wire_free(&b->base);
}

/* LIAR: tell a replica that is at `height-1` about a forged block at
 * `height` with a forged certificate. */
static void liar_forge(world *w, uint32_t i, uint32_t to, uint64_t height)
{
	replica *r = &w->rep[i];
	Trellis__CommitCertificate cc = TRELLIS__COMMIT_CERTIFICATE__INIT;
	Trellis__CommitVote votes[SIM_NMAX], *vp[SIM_NMAX];
	uint8_t sigs[SIM_NMAX][TR_SIG_LEN];
	const uint8_t *prev;
	uint8_t *blk, *cert, hh[TR_HASH_LEN];
	size_t bl, cl;
	pbft_replica dest = {to};
	if (height == 0 || height > r->height + 1 || r->forged_for[to] >= height || !r->p)
		return;
	r->forged_for[to] = height;
	g_forged_blocks++;
	prev = height == 1 ? w->c->chain_id : r->chain[height - 2].hash;
	make_block(w, height, prev, 0, i, 7777 + rng_below(&w->r, 1000), false, &blk, &bl);
	block_hash(blk, bl, hh);
	cc.view = 0;
	cc.height = height;
	cc.block_hash.data = hh;
	cc.block_hash.len = TR_HASH_LEN;
	for (uint32_t k = 0; k < w->q; k++) {
		trellis__commit_vote__init(&votes[k]);
		votes[k].replica = k;
		if (k == i)
			TR_ASSERT(pbft_wire_sign_commit(r->key, w->c->chain_id, 0, height, hh, sigs[k]) ==
				  0);
		else
			for (int b = 0; b < TR_SIG_LEN; b++)
				sigs[k][b] = (uint8_t)rng_next(&w->r);
		votes[k].signature.data = sigs[k];
		votes[k].signature.len = TR_SIG_LEN;
		vp[k] = &votes[k];
	}
	cc.n_votes = w->q;
	cc.votes = vp;
	TR_ASSERT(pbft_wire_pack(&cc.base, &cert, &cl) == 0);
	if (pbft_serve(r->p, dest, height, blk, bl, cert, cl) == 0) {
		pbft_action a;
		/* send exactly what was queued last (the forged reply) */
		while (pbft_pop(r->p, &a) == 0) {
			if (a.kind == PBFT_ACT_SEND)
				net_send(w, i, a.peer.v, a.bytes, a.len);
			pbft_action_fini(&a);
		}
	}
	free(blk);
	free(cert);
}

/* ==== Replicas: the node's side ==== */

static void crash(world *w, uint32_t i, uint64_t restart_at)
{
	replica *r = &w->rep[i];
	pbft_free(r->p);
	r->p = NULL;
	r->up = false;
	r->restart_at = restart_at;
	if (g_verbose)
		printf("  t=%" PRIu64 " crash %u until %" PRIu64 "\n", w->now, i, restart_at);
}

static void start(world *w, uint32_t i)
{
	replica *r = &w->rep[i];
	pbft_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.consortium = w->c;
	cfg.self.v = i;
	cfg.key = r->key;
	cfg.tick_ms = TICK_MS;
	cfg.validate = sim_validate;
	w->vc[i] = (vctx){w, i};
	cfg.validate_ctx = &w->vc[i];
	cfg.verify = cached_verify;
	cfg.height = r->height;
	if (r->height) {
		memcpy(cfg.head, r->chain[r->height - 1].hash, TR_HASH_LEN);
		cfg.head_cert = r->chain[r->height - 1].cert;
		cfg.head_cert_len = r->chain[r->height - 1].cert_len;
	}
	cfg.state = r->state;
	cfg.state_len = r->state_len;
	if (r->prep && r->prep_h == r->height + 1) {
		cfg.prepared_block = r->prep;
		cfg.prepared_block_len = r->prep_len;
	}
	if (pbft_new(&cfg, &r->p) != 0) {
		failf(w, "replica %u cannot restart from its durable state", i);
		return;
	}
	r->up = true;
}

static int faulty_now(const world *w)
{
	int k = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if (!is_honest(w, i) || !w->rep[i].up)
			k++;
	return k;
}

/* Carry out replica i's actions in order, as the node would. May crash it
 * between two actions (after a PERSIST, before the send it guards). */
static void drain(world *w, uint32_t i)
{
	replica *r = &w->rep[i];
	pbft_action a;
	while (r->up && pbft_pop(r->p, &a) == 0) {
		switch (a.kind) {
		case PBFT_ACT_PERSIST:
			free(r->state);
			r->state = a.bytes;
			r->state_len = a.len;
			a.bytes = NULL;
			if (a.block && a.block_height == r->height + 1) {
				free(r->prep);
				r->prep = a.block;
				r->prep_len = a.block_len;
				r->prep_h = a.block_height;
				a.block = NULL;
			}
			/* crash right after the write, before the send */
			if (w->faults && w->sc->crash && is_honest(w, i) && rng_permille(&w->r, 10) &&
			    faulty_now(w) < (int)w->sc->crash) {
				pbft_action_fini(&a);
				crash(w, i, w->now + 5 + rng_below(&w->r, 40));
				return;
			}
			break;
		case PBFT_ACT_COMMIT:
			check_commit(w, i, &a);
			if (w->faults && w->sc->partition && !w->part_until && is_honest(w, i) &&
			    rng_permille(&w->r, 150)) {
				/* an adversarial cut: the first to commit is cut off
				 * before its COMMITs reach the others */
				memset(w->side, 0, sizeof w->side);
				w->side[i] = 1;
				w->part_until = w->now + 15 + rng_below(&w->r, 45);
			}
			if (w->attack_stage == 1 && i == w->victim && w->faults) {
				/* the network helps: cut the victim off */
				memset(w->side, 0, sizeof w->side);
				w->side[i] = 1;
				w->part_until = w->now + 30 + rng_below(&w->r, 30);
				w->attack_stage = 2;
				if (g_verbose)
					printf("  t=%" PRIu64 " victim %u cut off\n", w->now, i);
			}
			if (r->height < SIM_CHAIN_MAX && a.height == r->height + 1) {
				sblock *b = &r->chain[r->height++];
				b->block = a.bytes;
				b->len = a.len;
				b->cert = a.cert;
				b->cert_len = a.cert_len;
				memcpy(b->hash, a.hash, TR_HASH_LEN);
				a.bytes = a.cert = NULL;
			}
			if (w->crash_primary_probe && w->probe_at && !w->probe_done &&
			    is_honest(w, i) && a.height > w->probe_height) {
				w->probe_ticks = w->now - w->probe_at;
				w->probe_done = true;
			}
			break;
		case PBFT_ACT_SEND:
		case PBFT_ACT_FETCH:
		case PBFT_ACT_BROADCAST: {
			Pbft__Message *m = NULL;
			uint8_t *alt_pp = NULL, *alt_nv = NULL;
			size_t alt_pp_len = 0, alt_nv_len = 0;
			inspect_outgoing(w, i, a.bytes, a.len);
			if (!is_honest(w, i)) {
				m = (Pbft__Message *)pbft_wire_unpack(&pbft__message__descriptor,
								      a.bytes, a.len);
				if (m && m->kind_case == PBFT__MESSAGE__KIND_PRE_PREPARE &&
				    r->byz == BYZ_BADNV && w->sc->byz_next)
					w->attack_stage = w->attack_stage ? w->attack_stage : 1;
				if (m && m->kind_case == PBFT__MESSAGE__KIND_PRE_PREPARE &&
				    r->byz == BYZ_EQUIVOCATE) {
					uint8_t *ab;
					size_t al;
					alt_block(w, m->pre_prepare->block.data,
						  m->pre_prepare->block.len, i, &ab, &al);
					byz_pre_prepare(w, i, m->pre_prepare->view,
							m->pre_prepare->height, ab, al, &alt_pp,
							&alt_pp_len);
					/* collude: vote for both blocks everywhere */
					for (int both = 0; both < 2; both++) {
						uint8_t hh[TR_HASH_LEN], *o;
						size_t ol;
						if (both)
							block_hash(ab, al, hh);
						else
							block_hash(m->pre_prepare->block.data,
								   m->pre_prepare->block.len, hh);
						byz_sign_vote(w, i, true, m->pre_prepare->view,
							      m->pre_prepare->height, hh, &o, &ol);
						for (uint32_t to = 0; to < w->n; to++)
							if (to != i)
								net_send(w, i, to, o, ol);
						free(o);
					}
					free(ab);
				}
				if (m && m->kind_case == PBFT__MESSAGE__KIND_SIGNED &&
				    r->byz == BYZ_BADNV)
					forge_new_view(w, i, m, &alt_nv, &alt_nv_len);
			}
			if (a.kind == PBFT_ACT_BROADCAST) {
				for (uint32_t to = 0; to < w->n; to++) {
					if (to == i)
						continue;
					if (is_honest(w, i))
						net_send(w, i, to, a.bytes, a.len);
					else
						byz_send(w, i, to, a.bytes, a.len, m, alt_pp,
							 alt_pp_len, alt_nv, alt_nv_len);
				}
			} else if (is_honest(w, i)) {
				net_send(w, i, a.peer.v, a.bytes, a.len);
			} else {
				byz_send(w, i, a.peer.v, a.bytes, a.len, m, alt_pp, alt_pp_len,
					 alt_nv, alt_nv_len);
			}
			free(alt_pp);
			free(alt_nv);
			pbft_wire_free((ProtobufCMessage *)m);
			break;
		}
		case PBFT_ACT_SERVE:
			for (uint64_t h = a.first; h <= a.last && h <= r->height; h++) {
				sblock *b = &r->chain[h - 1];
				if (pbft_serve(r->p, a.peer, h, b->block, b->len, b->cert, b->cert_len))
					break;
			}
			break;
		}
		pbft_action_fini(&a);
	}
}

/* Byzantine LIAR: look at what arrives and answer with forged blocks. */
static void liar_watch(world *w, uint32_t i, uint32_t from, const uint8_t *msg, size_t len)
{
	Pbft__Message *m = (Pbft__Message *)pbft_wire_unpack(&pbft__message__descriptor, msg, len);
	uint64_t h = 0;
	if (!m)
		return;
	if (m->kind_case == PBFT__MESSAGE__KIND_PREPARE)
		h = m->prepare->height;
	else if (m->kind_case == PBFT__MESSAGE__KIND_COMMIT)
		h = m->commit->height;
	pbft_wire_free(&m->base);
	if (h)
		liar_forge(w, i, from, h);
}

static void deliver(world *w, event *e)
{
	replica *r = &w->rep[e->to];
	pbft_replica from = {e->from};
	if (!r->up || w->side[e->from] != w->side[e->to])
		return;
	if (r->byz == BYZ_LIAR)
		liar_watch(w, e->to, e->from, e->msg, e->len);
	(void)pbft_step(r->p, from, e->msg, e->len);
	drain(w, e->to);
}

/* ==== Faults ==== */

static void pick_byzantine(world *w)
{
	uint32_t placed = 0;
	if (w->sc->byz_next) {
		uint32_t s_size = w->q - w->sc->byz, got = 0;
		for (uint32_t k = 0; k < w->sc->byz; k++)
			w->rep[1 + k].byz = w->sc->byz_kind;
		w->victim = 0;
		for (uint32_t k = 0; k < w->n && got < s_size; k++)
			if (is_honest(w, k)) {
				w->in_s[k] = true;
				got++;
			}
		return;
	}
	while (placed < w->sc->byz) {
		/* replica 0 is the first primary: make it Byzantine half the time */
		uint32_t i = placed == 0 && rng_below(&w->r, 2) ? 0 : rng_below(&w->r, w->n);
		if (w->rep[i].byz >= 0)
			continue;
		w->rep[i].byz = w->sc->byz_kind >= 0 ? w->sc->byz_kind
						     : (int)rng_below(&w->r, BYZ_KINDS);
		placed++;
	}
}

static void faults_step(world *w)
{
	const scenario *sc = w->sc;
	/* restarts */
	for (uint32_t i = 0; i < w->n; i++)
		if (!w->rep[i].up && w->rep[i].restart_at && w->now >= w->rep[i].restart_at) {
			start(w, i);
			drain(w, i);
		}
	if (!w->faults)
		return;
	if (sc->crash && rng_permille(&w->r, 30) && faulty_now(w) < (int)sc->crash) {
		uint32_t i = rng_below(&w->r, w->n);
		/* the primary more often: view changes are where bugs live */
		if (rng_below(&w->r, 2)) {
			for (uint32_t k = 0; k < w->n; k++)
				if (w->rep[k].up && pbft_is_primary(w->rep[k].p))
					i = k;
		}
		if (w->rep[i].up && is_honest(w, i))
			crash(w, i, w->now + 5 + rng_below(&w->r, 60));
	}
	if (sc->partition) {
		if (w->part_until && w->now >= w->part_until) {
			memset(w->side, 0, sizeof w->side);
			w->part_until = 0;
		} else if (!w->part_until && rng_permille(&w->r, 20)) {
			/* a random cut: sometimes a minority alone, sometimes a
			 * majority without the primary */
			uint32_t k = 1 + rng_below(&w->r, w->n - 1);
			memset(w->side, 0, sizeof w->side);
			for (uint32_t j = 0; j < k; j++)
				w->side[rng_below(&w->r, w->n)] = 1;
			w->part_until = w->now + 10 + rng_below(&w->r, 60);
		}
	}
	if (rng_permille(&w->r, 20)) {
		w->drop = rng_below(&w->r, sc->drop_max + 1);
		w->dup = rng_below(&w->r, 100);
		w->delay_max = 1 + rng_below(&w->r, 4);
	}
}

static void heal(world *w)
{
	w->faults = false;
	memset(w->side, 0, sizeof w->side);
	w->part_until = 0;
	w->drop = 0;
	w->dup = 0;
	w->delay_max = 2;
	for (uint32_t i = 0; i < w->n; i++)
		if (!w->rep[i].up) {
			start(w, i);
			drain(w, i);
		}
}

/* ==== One run ==== */

typedef struct {
	uint64_t blocks, view_changes, msgs, sigs_made, sigs_checked, ticks;
	uint64_t probe_ticks;
	bool probe_done;
} run_result;

static void propose_if_primary(world *w, uint32_t i)
{
	replica *r = &w->rep[i];
	uint64_t h;
	uint8_t head[TR_HASH_LEN];
	uint8_t *blk;
	size_t bl;
	int rc;
	if (!r->up || !pbft_can_propose(r->p))
		return;
	h = pbft_height(r->p);
	if (h + 1 > w->want_blocks)
		return;
	pbft_head(r->p, head);
	make_block(w, h + 1, head, pbft_view(r->p), i, rng_below(&w->r, 1000),
		   r->byz == BYZ_EQUIVOCATE && rng_below(&w->r, 4) == 0, &blk, &bl);
	rc = pbft_propose(r->p, blk, bl);
	if (rc && !(r->byz == BYZ_EQUIVOCATE && rc == TR_EINVAL))
		failf(w, "replica %u could not propose: %s", i, tr_strerror(rc));
	free(blk);
	drain(w, i);
}

static void world_free(world *w)
{
	for (uint32_t i = 0; i < w->n; i++) {
		replica *r = &w->rep[i];
		pbft_free(r->p);
		tr_key_free(r->key);
		for (uint64_t k = 0; k < r->height; k++) {
			free(r->chain[k].block);
			free(r->chain[k].cert);
		}
		free(r->chain);
		free(r->state);
		free(r->prep);
		free(r->votes);
	}
	while (w->nheap) {
		event *e = heap_pop(w);
		free(e->msg);
		free(e);
	}
	free(w->heap);
	free(w->decided);
	free(w->decided_have);
	if (w->c) {
		free(w->c);
	}
}

static uint64_t min_honest_height(const world *w)
{
	uint64_t m = UINT64_MAX;
	for (uint32_t i = 0; i < w->n; i++)
		if (is_honest(w, i) && w->rep[i].height < m)
			m = w->rep[i].height;
	return m;
}

static uint64_t max_honest_height(const world *w)
{
	uint64_t m = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if (is_honest(w, i) && w->rep[i].height > m)
			m = w->rep[i].height;
	return m;
}

/* Run one seed of one scenario. Returns 0 or 1 (failed; w.fail says why). */
static int run(uint64_t seed, const scenario *sc, bool figures, uint32_t fig_blocks,
	       bool probe, run_result *res, char *why, size_t whylen)
{
	world w;
	uint64_t heal_at, deadline, need = 0, outage_from = 0, outage_until = 0, outage_height = 0;
	uint32_t base_ticks = VC_TIMEOUT_MS / TICK_MS;
	uint64_t liveness_ticks = 3 * ((uint64_t)base_ticks << PBFT_BACKOFF_MAX) + 150;
	char cid[64];

	memset(&w, 0, sizeof w);
	w.seed = seed;
	w.sc = sc;
	rng_seed(&w.r, seed * 0x100000001b3ull + (uint64_t)(sc - scenarios));
	w.n = sc->n;
	w.f = (sc->n - 1) / 3;
	w.c = calloc(1, sizeof *w.c);
	w.heap = calloc(SIM_NET_MAX, sizeof *w.heap);
	w.decided = calloc(SIM_CHAIN_MAX + 2, TR_HASH_LEN);
	w.decided_have = calloc(SIM_CHAIN_MAX + 2, sizeof(bool));
	TR_ASSERT(w.c && w.heap && w.decided && w.decided_have);
	w.c->n = w.n;
	w.c->f = w.f;
	w.q = tr_consortium_quorum(w.c);
	w.c->params = tr_params_default();
	w.c->params.view_change_timeout_ms = VC_TIMEOUT_MS;
	w.c->params.block_max_bytes = 64u << 10;
	snprintf(cid, sizeof cid, "trellis-sim n=%u", w.n);
	tr_sha256(w.c->chain_id, cid, strlen(cid));
	for (uint32_t i = 0; i < w.n; i++) {
		uint8_t s[TR_SEED_LEN] = {0};
		replica *r = &w.rep[i];
		s[0] = (uint8_t)(i + 1);
		s[1] = 0x5e;
		TR_ASSERT(tr_key_from_seed(TR_ALG_ED25519, s, &r->key) == 0);
		w.c->partners[i].alg = TR_ALG_ED25519;
		memcpy(w.c->partners[i].key, tr_key_public(r->key), TR_PUBKEY_LEN);
		snprintf(w.c->partners[i].name, sizeof w.c->partners[i].name, "r%u", i);
		r->byz = -1;
		r->chain = calloc(SIM_CHAIN_MAX, sizeof *r->chain);
		r->votes = calloc(SIM_VOTES_MAX, sizeof *r->votes);
		TR_ASSERT(r->chain && r->votes);
	}
	w.faults = !figures;
	w.delay_max = figures ? 2 : 1 + rng_below(&w.r, 4);
	if (!figures) {
		w.drop = rng_below(&w.r, sc->drop_max + 1);
		w.dup = rng_below(&w.r, 100);
		pick_byzantine(&w);
	}
	for (uint32_t i = 0; i < w.n; i++)
		start(&w, i);

	heal_at = figures ? UINT64_MAX : sc->fault_ticks;
	deadline = figures ? 100000 : heal_at + liveness_ticks;
	if (sc->fplus1) {
		outage_from = 20 + rng_below(&w.r, 60);
		outage_until = outage_from + 40 + rng_below(&w.r, 80);
	}
	if (probe)
		w.crash_primary_probe = true;

	for (w.now = 1; w.now <= deadline && !w.failed; w.now++) {
		/* the workload: one more block wanted every `rate` ticks */
		w.want_blocks = figures ? fig_blocks : 1 + w.now / sc->rate;
		if (w.now == heal_at) {
			heal(&w);
			need = max_honest_height(&w) + 2;
			if (g_verbose)
				printf("  t=%" PRIu64 " heal, need height %" PRIu64 "\n", w.now, need);
		}
		if (sc->fplus1 && w.faults) {
			if (w.now == outage_from) {
				/* f+1 honest replicas down together */
				uint32_t down = 0;
				for (uint32_t k = rng_below(&w.r, w.n); down < w.f + 1; k = (k + 1) % w.n)
					if (w.rep[k].up) {
						crash(&w, k, outage_until);
						down++;
					}
				outage_height = max_honest_height(&w);
			} else if (w.now > outage_from && w.now < outage_until) {
				/* in-flight commits of the height being voted may land */
				if (max_honest_height(&w) > outage_height + 1)
					failf(&w, "PROGRESS with f+1 down: height %" PRIu64
						  " after %" PRIu64,
					      max_honest_height(&w), outage_height);
			}
		}
		while (w.nheap && w.heap[0]->at <= w.now && !w.failed) {
			event *e = heap_pop(&w);
			deliver(&w, e);
			free(e->msg);
			free(e);
		}
		if (!sc->fplus1 || !w.faults || w.now < outage_from || w.now >= outage_until)
			faults_step(&w);
		else
			faults_step(&w); /* restarts at outage_until happen here */
		for (uint32_t i = 0; i < w.n && !w.failed; i++) {
			replica *r = &w.rep[i];
			if (!r->up)
				continue;
			pbft_note_pending(r->p, pbft_height(r->p) < w.want_blocks);
			if (g_verbose) {
				static uint64_t lastv[SIM_NMAX], lastm[SIM_NMAX];
				uint64_t v = pbft_view(r->p), md = pbft_get_mode(r->p);
				if (v != lastv[i] || md != lastm[i])
					printf("  t=%" PRIu64 " r%u view=%" PRIu64 " %s h=%" PRIu64 "\n",
					       w.now, i, v, pbft_mode_name((pbft_mode)md),
					       pbft_height(r->p));
				lastv[i] = v;
				lastm[i] = md;
			}
			pbft_tick(r->p);
			drain(&w, i);
			propose_if_primary(&w, i);
		}
		if (probe && !w.probe_at && w.now > 30 && max_honest_height(&w) >= 3) {
			/* crash the primary, then time the next commit */
			for (uint32_t k = 0; k < w.n; k++)
				if (w.rep[k].up && pbft_is_primary(w.rep[k].p)) {
					crash(&w, k, UINT64_MAX);
					w.probe_at = w.now;
					/* the block in flight may still commit without
					 * it: time the first one after that */
					w.probe_height = max_honest_height(&w) + 1;
					break;
				}
		}
		if (figures && !probe && min_honest_height(&w) >= fig_blocks)
			break;
		if (probe && w.probe_done)
			break;
		if (!figures && w.now > heal_at && min_honest_height(&w) >= need)
			break;
	}
	if (!w.failed && !figures && min_honest_height(&w) < need)
		failf(&w, "LIVENESS: %" PRIu64 " ticks after the faults stopped, an honest replica is at height %" PRIu64 ", wanted %" PRIu64,
		      liveness_ticks, min_honest_height(&w), need);
	if (!w.failed && figures && !probe && min_honest_height(&w) < fig_blocks)
		failf(&w, "figures run did not finish");
	memset(res, 0, sizeof *res);
	res->blocks = max_honest_height(&w);
	res->ticks = w.now;
	res->msgs = w.msgs_sent;
	res->probe_ticks = w.probe_ticks;
	res->probe_done = w.probe_done;
	for (uint32_t i = 0; i < w.n; i++) {
		pbft_stats st;
		if (!w.rep[i].p)
			continue;
		pbft_get_stats(w.rep[i].p, &st);
		res->view_changes += st.view_changes;
		res->sigs_made += st.sigs_made;
		res->sigs_checked += st.sigs_checked;
	}
	snprintf(why, whylen, "%s", w.fail);
	{
		int failed = w.failed;
		if (failed && g_verbose) {
			for (uint32_t i = 0; i < w.n; i++)
				printf("  replica %u: %s byz=%s height=%" PRIu64 "\n", i,
				       w.rep[i].up ? "up" : "down",
				       w.rep[i].byz < 0 ? "-" : byz_names[w.rep[i].byz],
				       w.rep[i].height);
		}
		world_free(&w);
		return failed;
	}
}

/* ==== Figures ==== */

static void figures(void)
{
	static const uint32_t ns[] = {4, 7, 10, 13};
	printf("| n | f | blocks | messages / block | signatures made / block | signatures checked / block | ticks from primary crash to the first commit of a new block (mean of 5; tick = %d ms, view-change timeout %d ticks) |\n",
	       TICK_MS, VC_TIMEOUT_MS / TICK_MS);
	printf("|---|---|---|---|---|---|---|\n");
	for (size_t k = 0; k < TR_ARRAY_LEN(ns); k++) {
		scenario sc = {"figures", ns[k], 0, 0, false, false, 0, 0, 1, -1, false};
		run_result r;
		char why[256];
		uint64_t probe_sum = 0, probes = 0;
		const uint32_t blocks = 20;
		if (run(1, &sc, true, blocks, false, &r, why, sizeof why)) {
			printf("figures n=%u failed: %s\n", ns[k], why);
			continue;
		}
		for (uint64_t s = 1; s <= 5; s++) {
			run_result pr;
			if (run(100 + s, &sc, true, 1000, true, &pr, why, sizeof why) == 0 &&
			    pr.probe_done) {
				probe_sum += pr.probe_ticks;
				probes++;
			}
		}
		printf("| %u | %u | %" PRIu64 " | %.1f | %.1f | %.1f | %.1f |\n", ns[k], (ns[k] - 1) / 3,
		       r.blocks, (double)r.msgs / (double)r.blocks,
		       (double)r.sigs_made / (double)r.blocks,
		       (double)r.sigs_checked / (double)r.blocks,
		       probes ? (double)probe_sum / (double)probes : -1.0);
	}
}

/* ==== Main ==== */

static const scenario *scenario_named(const char *name)
{
	for (size_t i = 0; i < NSCEN; i++)
		if (!strcmp(scenarios[i].name, name))
			return &scenarios[i];
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: sim [--seeds N] [--first S] [--seed S] [--scenario NAME] "
			"[--keep-going] [--verbose] [--figures]\n"
			"  a seed picks its scenario (seed mod %zu) unless --scenario is given\n",
		NSCEN);
}

int main(int argc, char **argv)
{
	uint64_t first = 1, count = 1000;
	const scenario *only = NULL;
	bool keep_going = false, do_figures = false;
	uint64_t fails = 0, runs = 0;
	uint64_t per_runs[NSCEN] = {0}, per_blocks[NSCEN] = {0}, per_vc[NSCEN] = {0};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			count = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 10);
			count = 1;
		} else if (!strcmp(argv[i], "--scenario") && i + 1 < argc) {
			only = scenario_named(argv[++i]);
			if (!only) {
				fprintf(stderr, "sim: unknown scenario '%s'\n", argv[i]);
				return 1;
			}
		} else if (!strcmp(argv[i], "--keep-going")) {
			keep_going = true;
		} else if (!strcmp(argv[i], "--verbose")) {
			g_verbose = true;
		} else if (!strcmp(argv[i], "--figures")) {
			do_figures = true;
		} else {
			usage();
			return 1;
		}
	}
	if (tr_crypto_init() != 0) {
		fprintf(stderr, "sim: cannot initialise crypto\n");
		return 1;
	}
	vcache = calloc((size_t)1 << VCACHE_BITS, sizeof *vcache);
	TR_ASSERT(vcache);
	if (do_figures) {
		figures();
		free(vcache);
		return 0;
	}
	for (uint64_t s = first; s < first + count; s++) {
		const scenario *sc = only ? only : &scenarios[s % NSCEN];
		run_result r;
		char why[256];
		size_t si = (size_t)(sc - scenarios);
		runs++;
		if (run(s, sc, false, 0, false, &r, why, sizeof why)) {
			fails++;
			printf("FAIL seed=%" PRIu64 " scenario=%s: %s\n", s, sc->name, why);
			printf("  replay: make sim SEED=%" PRIu64 "%s\n", s,
			       only ? " (with --scenario)" : "");
			fflush(stdout);
			if (!keep_going)
				break;
			continue;
		}
		per_runs[si]++;
		per_blocks[si] += r.blocks;
		per_vc[si] += r.view_changes;
		if (count == 1)
			printf("seed=%" PRIu64 " scenario=%s ok: %" PRIu64 " blocks, %" PRIu64
			       " view changes, %" PRIu64 " ticks\n",
			       s, sc->name, r.blocks, r.view_changes, r.ticks);
	}
	if (count > 1) {
		for (size_t i = 0; i < NSCEN; i++)
			if (per_runs[i])
				printf("  %-11s %5" PRIu64 " seeds ok  %6.1f blocks/seed  %5.1f view changes/seed\n",
				       scenarios[i].name, per_runs[i],
				       (double)per_blocks[i] / (double)per_runs[i],
				       (double)per_vc[i] / (double)per_runs[i]);
		printf("sim: %" PRIu64 " seeds from %" PRIu64 ", %" PRIu64 " failed (%" PRIu64
		       " signature checks, %" PRIu64 " cached; forged: %" PRIu64
		       " NEW-VIEWs, %" PRIu64 " catch-up blocks)\n",
		       runs, first, fails, g_verifies, g_vcache_hits, g_forged_nv, g_forged_blocks);
	}
	free(vcache);
	return fails ? 1 : 0;
}
