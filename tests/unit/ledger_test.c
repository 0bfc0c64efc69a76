/*
 * ledger_test.c: cmocka unit tests of the ledger (ledger/ledger.h).
 *
 * Each test gets a fresh home under /tmp (mkdtemp) with a ledger in
 * HOME/data, a consortium of 1 or 4 partners made the way `trellis
 * consortium create` makes it (partner lines -> JSON -> parse) and the
 * partners' keys, so that tests can sign records and COMMIT votes. In the
 * 4-partner consortium (f = 1, quorum 3) the last partner signs with
 * secp256k1, the others with Ed25519. The teardown closes the ledger and
 * removes the home.
 *
 * Covered: genesis and the head; appending and reading blocks, records and
 * the events index; every reason ldg_append refuses a block (each refusal
 * must leave the head unchanged and the store verifiable, and
 * ldg_check_block must agree); ldg_verify finding bytes changed behind the
 * ledger's back (LMDB edited directly); a full LMDB map; the consensus state blob;
 * ldg_cert_check on its own.
 *
 * Every refusal is checked twice: the return code, and that the error text
 * names the problem. Every event made by a fixture is new (fx->seq), so a
 * duplicate only appears where a test makes one on purpose.
 */
#include "ledger/epcis_map.h"
#include "ledger/ledger.h"
#include "ledger/ledger_internal.h"
#include "ledger/query.h"
#include "proto/trellis.pb-c.h"

#include <dirent.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/test_util.h"

#define PARTNERS_MAX 4           /* largest consortium the tests make */
#define BATCH_MAX 8              /* records in one test block */
#define VOTES_MAX 8              /* votes in one test certificate */
#define RECORDS_PER_BLOCK 4      /* with 4 partners, one of them is the secp256k1 partner */
#define TEST_MAP_BYTES ((size_t)64 << 20) /* the usual map: small, so valgrind can map it */
#define TINY_MAP_BYTES ((size_t)128 << 10) /* genesis fits, a 200 KiB block does not */
#define BIG_PAD (50u << 10)      /* 4 records of this = a ~200 KiB block */
#define SMALL_PAD (2u << 10)     /* blocks that fill the tiny map a few at a time */
#define FILL_BLOCKS_MAX 32       /* bound of the fill loop */

/* ==== Fixture: a home, a consortium, its keys, an open ledger ==== */

typedef struct {
	char home[64];
	char data[96];
	uint32_t n;
	tr_key *keys[PARTNERS_MAX];
	tr_consortium *c;
	ldg *l;
	uint32_t seq; /* number of the next event made */
} fixture;

static const ldg_options test_opts = {.map_size = TEST_MAP_BYTES};

/* A consortium of n partners p0.. with fresh keys (keys[i] is partner i's;
 * the caller frees them). With more than one partner, the last one signs
 * with secp256k1. */
static tr_consortium *consortium_new(uint32_t n, tr_key **keys)
{
	char lines[PARTNERS_MAX][256];
	const char *lp[PARTNERS_MAX];
	char err[256] = "";
	char *json = NULL;
	tr_consortium *c = NULL;

	assert_in_range(n, 1, PARTNERS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		tr_partner p = {.alg = n > 1 && i == n - 1 ? TR_ALG_SECP256K1 : TR_ALG_ED25519};
		assert_int_equal(tr_key_generate(p.alg, &keys[i]), TR_OK);
		snprintf(p.name, sizeof(p.name), "p%u", i);
		snprintf(p.address, sizeof(p.address), "127.0.0.1:%u", 7000 + i);
		memcpy(p.key, tr_key_public(keys[i]), TR_PUBKEY_LEN);
		assert_int_equal(tr_partner_line_format(&p, lines[i], sizeof(lines[i])), TR_OK);
		lp[i] = lines[i];
	}
	if (tr_consortium_create(lp, n, &json, err, sizeof(err)) != TR_OK)
		fail_msg("tr_consortium_create: %s", err);
	if (tr_consortium_parse((const uint8_t *)json, strlen(json), &c, err, sizeof(err)) != TR_OK)
		fail_msg("tr_consortium_parse: %s", err);
	free(json);
	assert_int_equal(c->n, n);
	assert_int_equal(c->f, (n - 1) / 3);
	assert_int_equal(tr_consortium_quorum(c), 2 * c->f + 1);
	return c;
}

static void keys_free(tr_key **keys, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		tr_key_free(keys[i]);
}

static void ledger_open(fixture *fx)
{
	char err[512] = "";
	if (ldg_open(fx->data, fx->c, &test_opts, &fx->l, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_open: %s", err);
}

static void ledger_close(fixture *fx)
{
	ldg_close(fx->l);
	fx->l = NULL;
}

static int setup(void **state, uint32_t n)
{
	fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->home, sizeof(fx->home), "/tmp/ledger_test.XXXXXX");
	assert_non_null(mkdtemp(fx->home));
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->home);
	fx->n = n;
	fx->c = consortium_new(n, fx->keys);
	ledger_open(fx);
	*state = fx;
	return 0;
}

static int setup1(void **state)
{
	return setup(state, 1);
}

static int setup4(void **state)
{
	return setup(state, 4);
}

static int teardown(void **state)
{
	fixture *fx = *state;
	ldg_close(fx->l);
	tr_consortium_free(fx->c);
	keys_free(fx->keys, fx->n);
	tu_rm_rf(fx->home);
	free(fx);
	return 0;
}

/* ==== Checks shared by the tests ==== */

static void err_names(const char *err, const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' does not name '%s'", err, want);
}

static void head_is(fixture *fx, uint64_t height, const uint8_t hash[TR_HASH_LEN])
{
	uint64_t h = 99;
	uint8_t hh[TR_HASH_LEN];
	assert_int_equal(ldg_head(fx->l, &h, hh), TR_OK);
	assert_int_equal(h, height);
	assert_memory_equal(hh, hash, TR_HASH_LEN);
}

/* ldg_verify (full or not) passes and checks `blocks` blocks. */
static void verify_one_ok(fixture *fx, bool full, uint64_t blocks)
{
	uint64_t bad = 0, checked = 99;
	char err[512] = "";
	if (ldg_verify(fx->l, full, &bad, &checked, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_verify(full=%d): %s", full, err);
	assert_int_equal(checked, blocks);
}

/* ldg_verify passes, full and not. */
static void verify_ok(fixture *fx, uint64_t blocks)
{
	verify_one_ok(fx, false, blocks);
	verify_one_ok(fx, true, blocks);
}

/* ldg_verify (full or not) fails, naming height and want; returns its code. */
static int verify_bad(fixture *fx, bool full, uint64_t height, const char *want)
{
	uint64_t bad = 0, checked = 99;
	char err[512] = "";
	int rc = ldg_verify(fx->l, full, &bad, &checked, err, sizeof(err));
	assert_int_not_equal(rc, TR_OK);
	assert_int_equal(bad, height);
	assert_int_equal(checked, height - 1);
	err_names(err, want);
	return rc;
}

/* ==== Events and records ==== */

/* A serialised Event, mapped from EPCIS json as trellis submit maps it
 * (nodes re-derive it), naming seq and padded with pad spaces. */
static void event_make(uint32_t seq, size_t pad, uint8_t **out, size_t *len)
{
	size_t cap = pad + 512;
	char *text = malloc(cap), err[256];
	json_error_t je;
	json_t *ev;
	int n;

	assert_non_null(text);
	n = snprintf(text, cap,
		     "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
		     "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
		     "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.%u\"],\"example:pad\":\"%*s\"}",
		     seq, (int)pad, "");
	assert_in_range(n, 1, cap - 1);
	ev = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(ev);
	if (ep_map_event(NULL, NULL, ev, "event", out, len, NULL, err, sizeof(err)) != TR_OK)
		fail_msg("ep_map_event: %s", err);
	json_decref(ev);
	free(text);
}

/* Records of one block, owned. */
typedef struct {
	size_t n;
	uint8_t *rec[BATCH_MAX];
	size_t len[BATCH_MAX];
	uint8_t id[BATCH_MAX][TR_HASH_LEN];
} batch;

/* Add a record of event seq signed by partner signer. */
static void batch_add(const fixture *fx, batch *b, uint32_t signer, uint32_t seq, size_t pad)
{
	uint8_t *ev;
	size_t evlen;
	assert_true(b->n < BATCH_MAX);
	event_make(seq, pad, &ev, &evlen);
	assert_int_equal(ldg_record_build(fx->keys[signer], signer, fx->c->chain_id, ev, evlen,
					  &b->rec[b->n], &b->len[b->n], b->id[b->n]),
			 TR_OK);
	free(ev);
	b->n++;
}

/* Add count new events, each signed by partner seq mod n (so, with 4
 * partners, every RECORDS_PER_BLOCK records include the secp256k1 one). */
static void batch_fill(fixture *fx, batch *b, size_t count, size_t pad)
{
	for (size_t i = 0; i < count; i++, fx->seq++)
		batch_add(fx, b, fx->seq % fx->n, fx->seq, pad);
}

static void batch_free(batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->rec[i]);
	memset(b, 0, sizeof(*b));
}

typedef enum { TAMPER_SIG, TAMPER_SIGNER, TAMPER_ALG, TAMPER_EXTRA } tamper;

/* Change record i of b and re-pack it: flip a byte of its signature, set
 * its signer or alg to value, or append an unknown field (15, varint). */
static void record_tamper(batch *b, size_t i, tamper what, uint32_t value)
{
	Trellis__Record *r = trellis__record__unpack(NULL, b->len[i], b->rec[i]);
	assert_non_null(r);
	switch (what) {
	case TAMPER_SIG:
		assert_int_equal(r->signature.len, TR_SIG_LEN);
		r->signature.data[TR_SIG_LEN / 2] ^= 0x01;
		break;
	case TAMPER_SIGNER:
		r->signer = value;
		break;
	case TAMPER_ALG:
		assert_int_not_equal(r->alg, value);
		r->alg = (Trellis__Alg)value;
		break;
	case TAMPER_EXTRA:
		break;
	}
	free(b->rec[i]);
	b->len[i] = trellis__record__get_packed_size(r);
	b->rec[i] = malloc(b->len[i] + 2);
	assert_non_null(b->rec[i]);
	trellis__record__pack(r, b->rec[i]);
	if (what == TAMPER_EXTRA) {
		b->rec[i][b->len[i]++] = 0x78;
		b->rec[i][b->len[i]++] = 0x01;
	}
	trellis__record__free_unpacked(r, NULL);
}

/* ==== Blocks and certificates ==== */

/* A block with its certificate, owned. */
typedef struct {
	uint64_t height;
	uint8_t hash[TR_HASH_LEN];
	uint8_t *block, *cert;
	size_t block_len, cert_len;
} built;

static void built_free(built *b)
{
	free(b->block);
	free(b->cert);
	memset(b, 0, sizeof(*b));
}

/* What a test certificate holds; zero fields take the usual values. */
typedef struct {
	uint64_t height;          /* certificate (and vote) height; 0: the block's */
	const uint8_t *hash;      /* certificate block_hash; NULL: the block's */
	const uint8_t *vote_hash; /* the hash the votes sign; NULL: hash */
	const uint32_t *replicas; /* NULL: partners 0 .. nvotes-1 */
	size_t nvotes;            /* 0 without replicas: 2f+1 */
	size_t flip_vote;         /* 1-based vote whose signature gets a flipped byte; 0: none */
} cert_spec;

/* (Re)make b's certificate at view 0 following spec (NULL: 2f+1 good
 * votes). Vote i is signed with the key of partner replicas[i] mod n, so
 * a vote by a replica that is not a partner still carries a signature. */
static void cert_make(const fixture *fx, built *b, const cert_spec *spec)
{
	static const cert_spec usual;
	const cert_spec *s = spec ? spec : &usual;
	uint64_t height = s->height ? s->height : b->height;
	const uint8_t *hash = s->hash ? s->hash : b->hash;
	const uint8_t *vote_hash = s->vote_hash ? s->vote_hash : hash;
	size_t nvotes = s->nvotes ? s->nvotes : tr_consortium_quorum(fx->c);
	uint8_t payload[TR_VOTE_PAYLOAD_LEN];
	uint8_t sigs[VOTES_MAX][TR_SIG_LEN];
	uint32_t replicas[VOTES_MAX];

	assert_in_range(nvotes, 1, VOTES_MAX);
	tr_vote_payload(payload, 0, height, vote_hash);
	for (size_t i = 0; i < nvotes; i++) {
		replicas[i] = s->replicas ? s->replicas[i] : (uint32_t)i;
		assert_int_equal(tr_sign_tagged(fx->keys[replicas[i] % fx->n], TR_TAG_COMMIT,
						fx->c->chain_id, payload, sizeof(payload), sigs[i]),
				 TR_OK);
	}
	if (s->flip_vote)
		sigs[s->flip_vote - 1][TR_SIG_LEN / 2] ^= 0x01;
	free(b->cert);
	b->cert = NULL;
	assert_int_equal(ldg_cert_build(0, height, hash, replicas,
					(const uint8_t(*)[TR_SIG_LEN])sigs, nvotes, &b->cert,
					&b->cert_len),
			 TR_OK);
}

/* Build the block at height after prev from recs, with 2f+1 good votes. */
static void block_make(const fixture *fx, uint64_t height, const uint8_t prev[TR_HASH_LEN],
		       const batch *recs, built *out)
{
	memset(out, 0, sizeof(*out));
	out->height = height;
	assert_int_equal(ldg_block_build(fx->c->chain_id, height, prev, 0, 0, height * 1000,
					 (const uint8_t *const *)recs->rec, recs->len, recs->n,
					 &out->block, &out->block_len, out->hash),
			 TR_OK);
	cert_make(fx, out, NULL);
}

/* The next block after the ledger's head. */
static void block_next(fixture *fx, const batch *recs, built *out)
{
	uint64_t h;
	uint8_t head[TR_HASH_LEN];
	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	block_make(fx, h + 1, head, recs, out);
}

/* Replace b's block with blk packed (its hash from blk's header bytes) and
 * re-sign its certificate, so only what was changed in blk is wrong. */
static void block_repack(const fixture *fx, built *b, const Trellis__Block *blk)
{
	free(b->block);
	b->block_len = trellis__block__get_packed_size(blk);
	b->block = malloc(b->block_len);
	assert_non_null(b->block);
	trellis__block__pack(blk, b->block);
	tr_sha256(b->hash, blk->header.data, blk->header.len);
	cert_make(fx, b, NULL);
}

static void append_ok(fixture *fx, const built *b, unsigned flags)
{
	char err[512] = "";
	if (ldg_append(fx->l, b->block, b->block_len, b->cert, b->cert_len, flags, err,
		       sizeof(err)) != TR_OK)
		fail_msg("ldg_append of block %llu: %s", (unsigned long long)b->height, err);
	head_is(fx, b->height, b->hash);
}

/* A block at head + 2 after the head, with votes for head + 1 (the height
 * the ledger expects), so that only its header's height is wrong. */
static void block_wrong_height(fixture *fx, const batch *recs, built *out)
{
	uint64_t h;
	uint8_t head[TR_HASH_LEN];
	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	block_make(fx, h + 2, head, recs, out);
	cert_make(fx, out, &(cert_spec){.height = h + 1});
}

/* Append count blocks of RECORDS_PER_BLOCK new records each. When keep
 * and kept are given, the records and blocks are kept there (the caller
 * frees them). */
static void append_blocks(fixture *fx, size_t count, batch *keep, built *kept)
{
	for (size_t i = 0; i < count; i++) {
		batch recs = {0};
		built b;
		batch_fill(fx, &recs, RECORDS_PER_BLOCK, 0);
		block_next(fx, &recs, &b);
		append_ok(fx, &b, 0);
		if (keep)
			keep[i] = recs;
		else
			batch_free(&recs);
		if (kept)
			kept[i] = b;
		else
			built_free(&b);
	}
}

/* ldg_append must refuse b with rc and an error naming want, and so must
 * ldg_check_block when there is a certificate; the head and the store
 * stay as they were. */
static void expect_refused(fixture *fx, const built *b, unsigned flags, int rc, const char *want)
{
	uint64_t h;
	uint8_t head[TR_HASH_LEN];
	char err[512] = "";

	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	if (b->cert) {
		assert_int_equal(ldg_check_block(fx->l, b->block, b->block_len, b->cert, b->cert_len,
						 flags, err, sizeof(err)),
				 rc);
		err_names(err, want);
		err[0] = '\0';
	}
	assert_int_equal(ldg_append(fx->l, b->block, b->block_len, b->cert, b->cert_len, flags, err,
				    sizeof(err)),
			 rc);
	err_names(err, want);
	head_is(fx, h, head);
	verify_ok(fx, h);
}

/* Refuse the next block of two new records whose record 0, signed by p0
 * (an Ed25519 partner), gets tampered with (what, value). */
static void expect_record_refused(fixture *fx, tamper what, uint32_t value, unsigned flags,
				  int rc, const char *want)
{
	batch recs = {0};
	built b;
	batch_add(fx, &recs, 0, fx->seq++, 0);
	batch_fill(fx, &recs, 1, 0);
	record_tamper(&recs, 0, what, value);
	block_next(fx, &recs, &b);
	expect_refused(fx, &b, flags, rc, want);
	built_free(&b);
	batch_free(&recs);
}

/* Refuse the next good block carrying a certificate made after spec. */
static void expect_cert_refused(fixture *fx, const cert_spec *spec, int rc, const char *want)
{
	batch recs = {0};
	built b;
	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &b);
	cert_make(fx, &b, spec);
	expect_refused(fx, &b, 0, rc, want);
	built_free(&b);
	batch_free(&recs);
}

/* ==== LMDB behind the ledger's back ==== */

typedef enum { EDIT_FLIP, EDIT_DELETE, EDIT_DROP } lmdb_edit;

/* In the LMDB environment at dir (no ledger open on it), flip a byte in
 * the middle of the value at key in database db, delete the entry, or
 * delete the database db (key unused). */
static void lmdb_tamper(const char *dir, const char *db, const void *key, size_t klen,
			lmdb_edit what)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {klen, (void *)(uintptr_t)key}, v;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (what == EDIT_DROP) {
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	} else if (what == EDIT_DELETE) {
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	} else {
		uint8_t *copy;
		assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
		copy = malloc(v.mv_size);
		assert_non_null(copy);
		memcpy(copy, v.mv_data, v.mv_size);
		copy[v.mv_size / 2] ^= 0x01;
		v.mv_data = copy;
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
		free(copy);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The event id of the record at (height, position), from the stored block. */
static void stored_event_id(fixture *fx, uint64_t height, size_t position,
			    uint8_t id[TR_HASH_LEN])
{
	uint8_t *block;
	size_t len;
	Trellis__Block *blk;
	assert_int_equal(ldg_block_get(fx->l, height, &block, &len, NULL, NULL), TR_OK);
	blk = trellis__block__unpack(NULL, len, block);
	assert_non_null(blk);
	assert_true(position < blk->n_records);
	assert_int_equal(ldg_record_event_id(blk->records[position].data,
					     blk->records[position].len, id),
			 TR_OK);
	trellis__block__free_unpacked(blk, NULL);
	free(block);
}

/* ==== 1. Genesis and head ==== */

static void test_genesis(void **state)
{
	fixture *fx = *state;
	tr_key *other_keys[PARTNERS_MAX];
	tr_consortium *other;
	ldg *l = NULL;
	uint8_t *bytes = NULL, *block = NULL, id[TR_HASH_LEN] = {0};
	size_t len = 0;
	uint64_t h;
	uint32_t pos;
	char err[512] = "";

	head_is(fx, 0, fx->c->chain_id);
	assert_ptr_equal(ldg_consortium(fx->l), fx->c);
	assert_int_equal(ldg_block_get(fx->l, 1, &block, &len, NULL, NULL), TR_ENOTFOUND);
	assert_int_equal(ldg_event_find(fx->l, id, &h, &pos), TR_ENOTFOUND);
	verify_ok(fx, 0);
	ledger_close(fx);

	/* The genesis keeps the consortium file's exact bytes. */
	if (ldg_read_consortium(fx->data, &bytes, &len, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_read_consortium: %s", err);
	assert_int_equal(len, fx->c->len);
	assert_memory_equal(bytes, fx->c->bytes, len);
	free(bytes);

	/* Another consortium (other keys, so another chain_id) is refused. */
	other = consortium_new(fx->n, other_keys);
	assert_memory_not_equal(other->chain_id, fx->c->chain_id, TR_HASH_LEN);
	assert_int_equal(ldg_open(fx->data, other, &test_opts, &l, err, sizeof(err)), TR_EVERIFY);
	assert_null(l);
	err_names(err, "chain_id");
	err_names(err, fx->data);
	tr_consortium_free(other);
	keys_free(other_keys, fx->n);

	/* Reopening with the right one finds the same genesis. */
	ledger_open(fx);
	head_is(fx, 0, fx->c->chain_id);

	/* A missing ledger is not created by a read-only open. */
	{
		char missing[128];
		ldg_options ro = {.map_size = TEST_MAP_BYTES, .readonly = true};
		snprintf(missing, sizeof(missing), "%s/missing", fx->home);
		assert_int_not_equal(ldg_open(missing, fx->c, &ro, &l, err, sizeof(err)), TR_OK);
		err_names(err, missing);
		assert_int_not_equal(ldg_read_consortium(missing, &bytes, &len, err, sizeof(err)),
				     TR_OK);
	}

	/* A ledger of another index format (meta "format" other than 3, or
	 * none: written before ehash keys were binary) is refused, naming
	 * the folder and both formats, and left as it was. One of format 2
	 * has no recent levels: refused as such, read-only too, not for a
	 * missing database. */
	ledger_close(fx);
	lmdb_tamper(fx->data, "meta", "format", 6, EDIT_FLIP); /* "3" -> "2" */
	lmdb_tamper(fx->data, "events_recent", NULL, 0, EDIT_DROP);
	lmdb_tamper(fx->data, "ehash_recent", NULL, 0, EDIT_DROP);
	assert_int_equal(ldg_open(fx->data, fx->c, &test_opts, &l, err, sizeof(err)), TR_EVERIFY);
	assert_null(l);
	err_names(err, fx->data);
	err_names(err, "index format 2, this trellis reads format 3");
	{
		ldg_options ro = {.map_size = TEST_MAP_BYTES, .readonly = true};
		assert_int_equal(ldg_open(fx->data, fx->c, &ro, &l, err, sizeof(err)), TR_EVERIFY);
		assert_null(l);
		err_names(err, "index format 2, this trellis reads format 3");
	}
	lmdb_tamper(fx->data, "meta", "format", 6, EDIT_DELETE);
	assert_int_equal(ldg_open(fx->data, fx->c, &test_opts, &l, err, sizeof(err)), TR_EVERIFY);
	err_names(err, "index format 1, this trellis reads format 3");
	lmdb_tamper(fx->data, "meta", "chain_id", 8, EDIT_FLIP); /* the chain id still comes first */
	assert_int_equal(ldg_open(fx->data, fx->c, &test_opts, &l, err, sizeof(err)), TR_EVERIFY);
	err_names(err, "chain_id");
}

/* ==== 2. Appending and reading ==== */

static void test_append_read(void **state)
{
	fixture *fx = *state;
	batch recs[3];
	built blocks[3];
	uint8_t *block, *cert, *rec;
	size_t len, cert_len, rec_len;
	uint64_t h;
	uint32_t pos;
	bool secp = false;

	append_blocks(fx, 3, recs, blocks);
	head_is(fx, 3, blocks[2].hash);
	for (size_t b = 0; b < 3; b++) {
		assert_int_equal(ldg_block_get(fx->l, b + 1, &block, &len, &cert, &cert_len), TR_OK);
		assert_int_equal(len, blocks[b].block_len);
		assert_memory_equal(block, blocks[b].block, len);
		assert_int_equal(cert_len, blocks[b].cert_len);
		assert_memory_equal(cert, blocks[b].cert, cert_len);
		free(block);
		free(cert);
		{
			uint8_t bh[TR_HASH_LEN];
			assert_int_equal(ldg_block_hash(fx->l, b + 1, bh), TR_OK);
			assert_memory_equal(bh, blocks[b].hash, TR_HASH_LEN);
		}
		for (size_t i = 0; i < recs[b].n; i++) {
			h = 0;
			pos = 99;
			assert_int_equal(ldg_event_find(fx->l, recs[b].id[i], &h, &pos), TR_OK);
			assert_int_equal(h, b + 1);
			assert_int_equal(pos, i);
			h = 0;
			pos = 99;
			assert_int_equal(ldg_record_get(fx->l, recs[b].id[i], &rec, &rec_len, &h, &pos),
					 TR_OK);
			assert_int_equal(h, b + 1);
			assert_int_equal(pos, i);
			assert_int_equal(rec_len, recs[b].len[i]);
			assert_memory_equal(rec, recs[b].rec[i], rec_len);
			free(rec);
			{
				Trellis__Record *r = trellis__record__unpack(NULL, rec_len,
									     recs[b].rec[i]);
				assert_non_null(r);
				secp |= r->alg == TRELLIS__ALG__ALG_SECP256K1;
				trellis__record__free_unpacked(r, NULL);
			}
		}
	}
	assert_int_equal(secp, fx->n > 1);
	assert_int_equal(ldg_block_get(fx->l, 4, &block, &len, NULL, NULL), TR_ENOTFOUND);
	{
		uint8_t bh[TR_HASH_LEN];
		assert_int_equal(ldg_block_hash(fx->l, 4, bh), TR_ENOTFOUND);
	}
	verify_ok(fx, 3);

	/* Everything survives a close. */
	ledger_close(fx);
	ledger_open(fx);
	head_is(fx, 3, blocks[2].hash);
	verify_ok(fx, 3);
	for (size_t b = 0; b < 3; b++) {
		batch_free(&recs[b]);
		built_free(&blocks[b]);
	}
}

/* ==== 3. What ldg_append refuses (4 partners, after one good block) ==== */

static int setup4_block1(void **state)
{
	setup4(state);
	append_blocks(*state, 1, NULL, NULL);
	return 0;
}

static void test_refuse_height(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;

	batch_fill(fx, &recs, 2, 0);
	block_wrong_height(fx, &recs, &b);
	expect_refused(fx, &b, 0, TR_EVERIFY, "wrong height");
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_prev_hash(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;
	uint64_t h;
	uint8_t head[TR_HASH_LEN];

	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	head[0] ^= 0x01;
	batch_fill(fx, &recs, 2, 0);
	block_make(fx, h + 1, head, &recs, &b);
	expect_refused(fx, &b, 0, TR_EVERIFY, "prev_hash");
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_merkle_root(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;
	Trellis__Block *blk;
	Trellis__BlockHeader *hdr;
	ProtobufCBinaryData saved;
	uint8_t *hbuf;

	batch_fill(fx, &recs, 3, 0);
	block_next(fx, &recs, &b);
	blk = trellis__block__unpack(NULL, b.block_len, b.block);
	assert_non_null(blk);

	/* The header's records_root changed (the votes sign the new header). */
	hdr = trellis__block_header__unpack(NULL, blk->header.len, blk->header.data);
	assert_non_null(hdr);
	assert_int_equal(hdr->records_root.len, TR_HASH_LEN);
	hdr->records_root.data[0] ^= 0x01;
	hbuf = malloc(trellis__block_header__get_packed_size(hdr));
	assert_non_null(hbuf);
	saved = blk->header;
	blk->header.len = trellis__block_header__pack(hdr, hbuf);
	blk->header.data = hbuf;
	block_repack(fx, &b, blk);
	expect_refused(fx, &b, 0, TR_EVERIFY, "Merkle");
	blk->header = saved;
	free(hbuf);
	trellis__block_header__free_unpacked(hdr, NULL);

	/* A record swapped for another after the root was computed. */
	batch_fill(fx, &recs, 1, 0);
	saved = blk->records[1];
	blk->records[1].data = recs.rec[3];
	blk->records[1].len = recs.len[3];
	block_repack(fx, &b, blk);
	expect_refused(fx, &b, 0, TR_EVERIFY, "Merkle");
	blk->records[1] = saved;

	trellis__block__free_unpacked(blk, NULL);
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_record_signature(void **state)
{
	expect_record_refused(*state, TAMPER_SIG, 0, 0, TR_EBADSIG, "signature");
}

static void test_refuse_unknown_signer(void **state)
{
	fixture *fx = *state;
	expect_record_refused(fx, TAMPER_SIGNER, fx->n, 0, TR_EINVAL, "signer");
	expect_record_refused(fx, TAMPER_SIGNER, 1000, 0, TR_EINVAL, "signer");
}

static void test_refuse_wrong_alg(void **state)
{
	expect_record_refused(*state, TAMPER_ALG, TR_ALG_SECP256K1, 0, TR_EINVAL, "alg");
	expect_record_refused(*state, TAMPER_ALG, TR_ALG_NONE, 0, TR_EINVAL, "alg");
}

static void test_refuse_record_unknown_fields(void **state)
{
	expect_record_refused(*state, TAMPER_EXTRA, 0, 0, TR_EINVAL, "unknown fields");
}

/* Event 0 sits in block 1; a block where p1 signs it again (other record
 * bytes, same event id) is refused. */
static void refuse_event0_again(fixture *fx)
{
	batch recs = {0};
	built b;
	batch_fill(fx, &recs, 1, 0);
	batch_add(fx, &recs, 1, 0, 0);
	block_next(fx, &recs, &b);
	expect_refused(fx, &b, 0, TR_EEXIST, "duplicate");
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_duplicate_event(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;

	refuse_event0_again(fx);

	/* A new event twice within one block. */
	batch_fill(fx, &recs, 1, 0);
	batch_add(fx, &recs, 2, fx->seq - 1, 0);
	block_next(fx, &recs, &b);
	expect_refused(fx, &b, 0, TR_EEXIST, "duplicate");
	built_free(&b);
	batch_free(&recs);
}

/* The key set (seen.c) of a ledger reopened: built from the stored
 * events and ehash keys, so a stored event id is found and the same event
 * signed again is a duplicate, by the rules alone and in a block. */
static void test_seen_after_reopen(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	ldg_rule rule;
	uint8_t id[TR_HASH_LEN];
	uint64_t h;
	uint32_t pos;

	stored_event_id(fx, 1, 0, id);
	ledger_close(fx);
	ledger_open(fx);
	assert_non_null(fx->l->seen);
	assert_true(ldg__seen_maybe(fx->l->seen, LDG_SEEN_EVENTS, id, TR_HASH_LEN));
	assert_int_equal(ldg_event_find(fx->l, id, &h, &pos), TR_OK);
	assert_int_equal(h, 1);
	assert_int_equal(pos, 0);
	batch_add(fx, &recs, 1, 0, 0); /* event 0 again, signed by p1 */
	assert_int_equal(ldg_records_rules(fx->l, (const uint8_t *const *)recs.rec, recs.len, 1,
					   &rule),
			 TR_OK);
	assert_int_equal(rule.rc, TR_EEXIST);
	batch_free(&recs);
	refuse_event0_again(fx);
	/* a read-only handle has no set, and finds it in LMDB */
	{
		ldg *ro = NULL;
		ldg_options o = {.map_size = TEST_MAP_BYTES, .readonly = true};
		char err[512];
		assert_int_equal(ldg_open(fx->data, fx->c, &o, &ro, err, sizeof(err)), TR_OK);
		assert_null(ro->seen);
		assert_int_equal(ldg_event_find(ro, id, &h, &pos), TR_OK);
		ldg_close(ro);
	}
}

/* The set itself: no key added is ever missing, across the parts it
 * grows into; few keys not added are "maybe"; domains apart; no set (or a
 * key too long for one) always "maybe". */
static void test_seen_set(void **state)
{
	ldg_seen *s;
	size_t n = 200000, fp = 0;
	(void)state;
	assert_int_equal(ldg__seen_new(&s), TR_OK);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t k[TR_HASH_LEN];
		tr_sha256(k, &i, sizeof(i));
		assert_int_equal(ldg__seen_add(s, LDG_SEEN_EVENTS, k, sizeof(k)), TR_OK);
	}
	assert_int_equal(ldg__seen_count(s), n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t k[TR_HASH_LEN];
		tr_sha256(k, &i, sizeof(i));
		if (!ldg__seen_maybe(s, LDG_SEEN_EVENTS, k, sizeof(k)))
			fail_msg("key %u added but not found", i);
		fp += ldg__seen_maybe(s, LDG_SEEN_EHASH, k, sizeof(k));
	}
	for (uint32_t i = n; i < 2 * n; i++) {
		uint8_t k[TR_HASH_LEN];
		tr_sha256(k, &i, sizeof(i));
		fp += ldg__seen_maybe(s, LDG_SEEN_EVENTS, k, sizeof(k));
	}
	/* 16 bits and 7 probes per key: ~0.1-0.5% expected; 2% would be a bug */
	assert_true(fp < 2 * n / 50);
	{
		uint8_t big[65] = {0};
		assert_true(ldg__seen_maybe(s, LDG_SEEN_EVENTS, big, sizeof(big)));
		assert_int_equal(ldg__seen_add(s, LDG_SEEN_EVENTS, big, sizeof(big)), TR_EINVAL);
		assert_true(ldg__seen_maybe(NULL, LDG_SEEN_EVENTS, big, 1));
	}
	ldg__seen_free(s);
}

/* A record of the event in json text, signed by partner signer. */
static void record_of_text(const fixture *fx, uint32_t signer, const char *text, uint8_t **rec,
			   size_t *len, uint8_t id[TR_HASH_LEN])
{
	char err[256];
	json_error_t je;
	json_t *ev = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	uint8_t *bytes;
	size_t blen;
	assert_non_null(ev);
	if (ep_map_event(NULL, NULL, ev, "event", &bytes, &blen, NULL, err, sizeof(err)) != TR_OK)
		fail_msg("ep_map_event: %s", err);
	json_decref(ev);
	assert_int_equal(ldg_record_build(fx->keys[signer], signer, fx->c->chain_id, bytes, blen,
					  rec, len, id),
			 TR_OK);
	free(bytes);
}

/* ldg_records_rules: one rule key for two records of one event (the same
 * GS1 event hash, other json, so other event ids), another for another
 * event; each admissible until one commits, then the other is not;
 * bytes that are not a Record are refused. */
static void test_records_rules(void **state)
{
	fixture *fx = *state;
	static const char *const texts[] = {
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
		"\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
		"\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.7\"]}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
		"\"eventTimeZoneOffset\":\"+00:00\",\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.7\"],"
		"\"action\":\"OBSERVE\"}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
		"\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
		"\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.8\"]}",
	};
	uint8_t *recs[4], ids[4][TR_HASH_LEN], junk[3] = {0x0a, 0x05, 0x01};
	size_t lens[4];
	ldg_rule r[4];
	batch b1;
	built blk;

	for (int i = 0; i < 3; i++)
		record_of_text(fx, (uint32_t)i, texts[i], &recs[i], &lens[i], ids[i]);
	recs[3] = junk;
	lens[3] = sizeof(junk);
	assert_memory_not_equal(ids[0], ids[1], TR_HASH_LEN);
	assert_int_equal(ldg_records_rules(fx->l, (const uint8_t *const *)recs, lens, 4, r), TR_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].rc, TR_OK);
		assert_true(r[i].has_key);
	}
	assert_memory_equal(r[0].key, r[1].key, TR_HASH_LEN);
	assert_memory_not_equal(r[0].key, r[2].key, TR_HASH_LEN);
	assert_int_equal(r[3].rc, TR_EINVAL);
	assert_false(r[3].has_key);
	{ /* the submit's one pass: the same keys, and records 0 and 1 refused together */
		ldg_rule kr[3];
		char err[256];
		const uint8_t *two[2] = {recs[0], recs[2]};
		size_t two_len[2] = {lens[0], lens[2]};
		assert_int_equal(ldg_events_admissible_keyed(fx->l, two, two_len, 2, kr, err,
							     sizeof(err)),
				 TR_OK);
		assert_true(kr[0].has_key && kr[1].has_key);
		assert_memory_equal(kr[0].key, r[0].key, TR_HASH_LEN);
		assert_memory_equal(kr[1].key, r[2].key, TR_HASH_LEN);
		assert_int_equal(ldg_events_admissible_keyed(fx->l, (const uint8_t *const *)recs, lens,
							     2, kr, err, sizeof(err)),
				 TR_EEXIST);
	}

	/* record 0 commits: record 1 can no more, record 2 still can */
	memset(&b1, 0, sizeof(b1));
	b1.rec[0] = recs[0];
	b1.len[0] = lens[0];
	b1.n = 1;
	block_next(fx, &b1, &blk);
	append_ok(fx, &blk, 0);
	assert_int_equal(ldg_records_rules(fx->l, (const uint8_t *const *)recs, lens, 3, r), TR_OK);
	assert_int_equal(r[0].rc, TR_EEXIST);
	assert_int_equal(r[1].rc, TR_EEXIST);
	assert_int_equal(r[2].rc, TR_OK);
	assert_memory_equal(r[0].key, r[1].key, TR_HASH_LEN);
	free(blk.block);
	free(blk.cert);
	for (int i = 0; i < 3; i++)
		free(recs[i]);
}

/* ldg_block_bytes_hash and ldg_block_record_next read a block in place:
 * the header's hash and every record, in order, as ldg_block_build made
 * them; cut short anywhere, they report it and never read past the end. */
static void test_block_bytes_read(void **state)
{
	fixture *fx = *state;
	batch recs;
	built b;
	uint8_t h[TR_HASH_LEN];
	const uint8_t *p, *end, *rec;
	size_t i, len;

	memset(&recs, 0, sizeof(recs));
	batch_fill(fx, &recs, 5, 40);
	block_next(fx, &recs, &b);
	assert_int_equal(ldg_block_bytes_hash(b.block, b.block_len, h), TR_OK);
	assert_memory_equal(h, b.hash, TR_HASH_LEN);
	p = b.block;
	end = b.block + b.block_len;
	for (i = 0; ldg_block_record_next(&p, end, &rec, &len) == TR_OK; i++) {
		assert_true(i < recs.n);
		assert_int_equal(len, recs.len[i]);
		assert_memory_equal(rec, recs.rec[i], len);
	}
	assert_int_equal(i, recs.n);
	assert_ptr_equal(p, end);
	/* every truncation: a copy of exactly that length, so that a read past
	 * it is caught by the sanitizers and valgrind */
	for (size_t cut = 0; cut < b.block_len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		int rc;
		assert_non_null(t);
		memcpy(t, b.block, cut);
		rc = ldg_block_bytes_hash(t, cut, h);
		/* the header comes first: intact only once all its bytes are in */
		assert_true(rc == TR_OK ? memcmp(h, b.hash, TR_HASH_LEN) == 0 : rc == TR_EVERIFY);
		p = t;
		for (i = 0; (rc = ldg_block_record_next(&p, t + cut, &rec, &len)) == TR_OK; i++)
			assert_true(rec >= t && rec + len <= t + cut);
		assert_true(rc == TR_ENOTFOUND || rc == TR_EVERIFY);
		assert_true(i < recs.n);
		free(t);
	}
	free(b.block);
	free(b.cert);
	batch_free(&recs);
}

/* ldg_first_dups against the pairwise scan it replaces: random keys from
 * a small alphabet (many collisions), two classes, lengths 0..3. */
static void test_first_dups(void **state)
{
	enum { N = 600 };
	static char keys[N][4];
	static size_t lens[N], first[N];
	static unsigned cls[N];
	static ldg_dupkey dk[N];
	(void)state;
	for (int round = 0; round < 20; round++) {
		size_t n = round == 0 ? 0 : round == 1 ? 1 : randombytes_uniform(N) + 1;
		for (size_t i = 0; i < n; i++) {
			lens[i] = randombytes_uniform(4);
			for (size_t j = 0; j < lens[i]; j++)
				keys[i][j] = (char)('a' + randombytes_uniform(round % 5 + 2));
			cls[i] = randombytes_uniform(2);
			dk[i] = (ldg_dupkey){.key = keys[i], .len = lens[i], .cls = cls[i], .idx = i};
		}
		ldg_first_dups(dk, n, first);
		for (size_t i = 0; i < n; i++) {
			size_t want = SIZE_MAX;
			for (size_t j = 0; j < i && want == SIZE_MAX; j++)
				if (cls[j] == cls[i] && lens[j] == lens[i] &&
				    memcmp(keys[j], keys[i], lens[i]) == 0)
					want = j;
			assert_int_equal(first[i], want);
		}
	}
}

static void test_refuse_cert_2f_votes(void **state)
{
	expect_cert_refused(*state, &(cert_spec){.nvotes = 2}, TR_EVERIFY, "needs the quorum of 3");
}

static void test_refuse_cert_bad_vote(void **state)
{
	expect_cert_refused(*state, &(cert_spec){.flip_vote = 2}, TR_EBADSIG, "signature");
}

static void test_refuse_cert_other_hash(void **state)
{
	uint8_t other[TR_HASH_LEN];
	tr_sha256(other, "another block", 13);
	/* The votes sign another hash than the one the certificate names. */
	expect_cert_refused(*state, &(cert_spec){.vote_hash = other}, TR_EBADSIG, "signature");
	/* A good certificate, but for another block. */
	expect_cert_refused(*state, &(cert_spec){.hash = other}, TR_EVERIFY, "another block hash");
}

static void test_refuse_cert_double_vote(void **state)
{
	static const uint32_t twice[] = {0, 1, 1};
	static const uint32_t twice_more[] = {2, 0, 1, 2};
	expect_cert_refused(*state, &(cert_spec){.replicas = twice, .nvotes = 3}, TR_EVERIFY,
			    "twice");
	expect_cert_refused(*state, &(cert_spec){.replicas = twice_more, .nvotes = 4},
			    TR_EVERIFY, "twice");
}

static void test_refuse_cert_other_height(void **state)
{
	/* The block is 2; the votes are good votes for height 3. */
	expect_cert_refused(*state, &(cert_spec){.height = 3}, TR_EVERIFY, "certificate is for height");
}

static void test_refuse_no_cert(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;
	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &b);
	free(b.cert);
	b.cert = NULL;
	b.cert_len = 0;
	expect_refused(fx, &b, 0, TR_EINVAL, "certificate");
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_unknown_fields(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;
	uint8_t *grown;

	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &b);
	/* Field 15, varint 1: a valid protobuf field the Block does not
	 * know. The header (so the hash and the certificate) is unchanged. */
	grown = realloc(b.block, b.block_len + 2);
	assert_non_null(grown);
	grown[b.block_len] = 0x78;
	grown[b.block_len + 1] = 0x01;
	b.block = grown;
	b.block_len += 2;
	expect_refused(fx, &b, 0, TR_EINVAL, "unknown fields");
	built_free(&b);
	batch_free(&recs);
}

/* The same Block content in other bytes: a junk header field in front
 * (the last one wins when unpacked), or the header field after the
 * records. Same header hash, same records: refused all the same, so that
 * no partner can make nodes hold and serve different bytes for a block. */
static void test_refuse_non_canonical(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;
	uint8_t *grown;
	size_t hlen;

	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &b);
	grown = malloc(b.block_len + 6);
	assert_non_null(grown);
	memcpy(grown, "\x0a\x04junk", 6); /* field 1 (header), 4 bytes */
	memcpy(grown + 6, b.block, b.block_len);
	free(b.block);
	b.block = grown;
	b.block_len += 6;
	expect_refused(fx, &b, 0, TR_EINVAL, "canonical");
	/* header (field 1) moved behind the records (field 2) */
	memmove(b.block, b.block + 6, b.block_len - 6);
	b.block_len -= 6;
	assert_int_equal(b.block[0], 0x0a);
	hlen = 2 + b.block[1]; /* a header of < 128 bytes: one length byte */
	assert_true(b.block[1] < 0x80 && hlen < b.block_len);
	grown = malloc(b.block_len);
	assert_non_null(grown);
	memcpy(grown, b.block + hlen, b.block_len - hlen);
	memcpy(grown + b.block_len - hlen, b.block, hlen);
	free(b.block);
	b.block = grown;
	expect_refused(fx, &b, 0, TR_EINVAL, "canonical");
	built_free(&b);
	batch_free(&recs);
}

static void test_refuse_garbage(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;

	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &b);
	memset(b.block, 0xff, b.block_len);
	expect_refused(fx, &b, 0, TR_EINVAL, "not a valid Block");
	b.block_len = 1;
	expect_refused(fx, &b, 0, TR_EINVAL, "not a valid Block");
	built_free(&b);
	batch_free(&recs);
}

/* LDG_RECORDS_VERIFIED skips the record signatures and nothing else; a
 * full verify then finds the bad signature, a quick one does not. */
static void test_records_verified_flag(void **state)
{
	fixture *fx = *state;
	batch recs = {0};
	built b;

	expect_record_refused(fx, TAMPER_ALG, TR_ALG_SECP256K1, LDG_RECORDS_VERIFIED, TR_EINVAL,
			      "alg");
	expect_record_refused(fx, TAMPER_SIGNER, fx->n, LDG_RECORDS_VERIFIED, TR_EINVAL, "signer");

	batch_fill(fx, &recs, 3, 0);
	record_tamper(&recs, 1, TAMPER_SIG, 0);
	block_next(fx, &recs, &b);
	expect_refused(fx, &b, 0, TR_EBADSIG, "signature");
	cert_make(fx, &b, &(cert_spec){.nvotes = 2});
	expect_refused(fx, &b, LDG_RECORDS_VERIFIED, TR_EVERIFY, "needs the quorum of 3");
	built_free(&b);
	block_wrong_height(fx, &recs, &b);
	expect_refused(fx, &b, LDG_RECORDS_VERIFIED, TR_EVERIFY, "wrong height");
	built_free(&b);

	block_next(fx, &recs, &b);
	append_ok(fx, &b, LDG_RECORDS_VERIFIED);
	assert_int_equal(verify_bad(fx, true, b.height, "record 1: bad signature"), TR_EBADSIG);
	verify_one_ok(fx, false, b.height);
	built_free(&b);
	batch_free(&recs);
}

/* ldg_check_block keeps its parse for ldg_append of the same bytes on the
 * same head, and only then: other bytes, another head, or records the
 * caller vouched for but appends without vouching, are parsed again. */
static void test_kept_parse(void **state)
{
	fixture *fx = *state;
	batch recs = {0}, bad = {0};
	built a, b;
	char err[512] = "";

	/* checked, then appended: the kept parse is used and right */
	batch_fill(fx, &recs, 3, 0);
	block_next(fx, &recs, &a);
	assert_int_equal(ldg_check_block(fx->l, a.block, a.block_len, NULL, 0, 0, err, sizeof(err)),
			 TR_OK);
	append_ok(fx, &a, LDG_RECORDS_VERIFIED | LDG_RULES_CHECKED);
	verify_ok(fx, 1);
	built_free(&a);

	/* checked with a bad signature vouched for: an append that does not
	 * vouch checks the signatures itself */
	batch_fill(fx, &bad, 3, 0);
	record_tamper(&bad, 2, TAMPER_SIG, 0);
	block_next(fx, &bad, &b);
	assert_int_equal(ldg_check_block(fx->l, b.block, b.block_len, NULL, 0, LDG_RECORDS_VERIFIED,
					 err, sizeof(err)),
			 TR_OK);
	expect_refused(fx, &b, 0, TR_EBADSIG, "signature");

	/* checked on one head; another block appended first; the kept block
	 * is parsed again on the new head and refused */
	batch_free(&recs);
	batch_fill(fx, &recs, 2, 0);
	block_next(fx, &recs, &a);
	assert_int_equal(ldg_check_block(fx->l, a.block, a.block_len, NULL, 0, 0, err, sizeof(err)),
			 TR_OK);
	built_free(&b);
	batch_free(&bad);
	batch_fill(fx, &bad, 2, 0);
	block_next(fx, &bad, &b);
	append_ok(fx, &b, 0);
	expect_refused(fx, &a, LDG_RECORDS_VERIFIED | LDG_RULES_CHECKED, TR_EVERIFY, "height");
	verify_ok(fx, 2);
	built_free(&a);
	built_free(&b);
	batch_free(&recs);
	batch_free(&bad);
}

/* ldg_checked: a record is checked in full once, then found by its bytes;
 * bytes that differ in one bit (a forged signature, another signer) are
 * checked in full and refused, also inside a block checked through the
 * set; a refused record is never added. */
static void test_checked_once(void **state)
{
	fixture *fx = *state;
	batch recs = {0}, bad = {0};
	built b;
	ldg_checked *k;
	uint8_t id[TR_HASH_LEN], id2[TR_HASH_LEN];
	uint64_t hits, misses;
	char err[512] = "";

	assert_int_equal(ldg_checked_new(fx->c, &k), TR_OK);
	batch_fill(fx, &recs, 3, 0);
	/* first meeting: checked in full, added */
	assert_int_equal(ldg_record_check_once(fx->c, k, recs.rec[0], recs.len[0], 0, id, err,
					       sizeof(err)),
			 TR_OK);
	assert_memory_equal(id, recs.id[0], TR_HASH_LEN);
	assert_true(ldg_checked_has(k, recs.rec[0], recs.len[0]));
	assert_false(ldg_checked_has(k, recs.rec[1], recs.len[1]));
	/* second meeting: found, with the event id kept for it */
	assert_int_equal(ldg_record_check_once(fx->c, k, recs.rec[0], recs.len[0], 0, id2, err,
					       sizeof(err)),
			 TR_OK);
	assert_memory_equal(id2, recs.id[0], TR_HASH_LEN);
	ldg_checked_stats(k, &hits, &misses);
	assert_int_equal(hits, 2);   /* the has() above and the second check */
	assert_int_equal(misses, 2); /* the first check and has(rec[1]) */

	/* the same record with one signature bit flipped: refused, not added */
	bad.rec[0] = malloc(recs.len[0]);
	assert_non_null(bad.rec[0]);
	memcpy(bad.rec[0], recs.rec[0], recs.len[0]);
	bad.len[0] = recs.len[0];
	bad.n = 1;
	record_tamper(&bad, 0, TAMPER_SIG, 0);
	assert_int_equal(ldg_record_check_once(fx->c, k, bad.rec[0], bad.len[0], 0, id, err,
					       sizeof(err)),
			 TR_EBADSIG);
	assert_false(ldg_checked_has(k, bad.rec[0], bad.len[0]));
	assert_int_equal(ldg_record_check_once(fx->c, k, bad.rec[0], bad.len[0], 0, id, err,
					       sizeof(err)),
			 TR_EBADSIG);
	/* another signer in the same record is other bytes: checked in full */
	batch_free(&bad);
	batch_add(fx, &bad, 0, fx->seq++, 0);
	assert_int_equal(ldg_record_check_once(fx->c, k, bad.rec[0], bad.len[0], 0, id, err,
					       sizeof(err)),
			 TR_OK);
	record_tamper(&bad, 0, TAMPER_SIGNER, fx->n);
	assert_int_equal(ldg_record_check_once(fx->c, k, bad.rec[0], bad.len[0], 0, id, err,
					       sizeof(err)),
			 TR_EINVAL);

	/* a block checked through the set: records 0 and 2 are found, the
	 * forged record 1 is checked and refused */
	ldg_use_checked(fx->l, k);
	assert_int_equal(ldg_record_check_once(fx->c, k, recs.rec[2], recs.len[2], 0, id, err,
					       sizeof(err)),
			 TR_OK);
	record_tamper(&recs, 1, TAMPER_SIG, 0);
	block_next(fx, &recs, &b);
	expect_refused(fx, &b, 0, TR_EBADSIG, "record 1: bad signature");
	built_free(&b);
	/* the same records with record 1 good again: appended, and record 1
	 * was added on the way */
	record_tamper(&recs, 1, TAMPER_SIG, 0);
	assert_false(ldg_checked_has(k, recs.rec[1], recs.len[1]));
	block_next(fx, &recs, &b);
	cert_make(fx, &b, NULL);
	append_ok(fx, &b, 0);
	assert_true(ldg_checked_has(k, recs.rec[1], recs.len[1]));
	verify_ok(fx, b.height);
	built_free(&b);
	ldg_use_checked(fx->l, NULL);

	/* the set is not consulted for another consortium: there, partner 0's
	 * key is another one, and the record found in the set is refused */
	{
		tr_key *keys2[PARTNERS_MAX];
		tr_consortium *c2 = consortium_new(fx->n, keys2);
		assert_true(ldg_checked_has(k, recs.rec[0], recs.len[0]));
		assert_int_equal(ldg_record_check_once(c2, k, recs.rec[0], recs.len[0], 0, id, err,
						       sizeof(err)),
				 TR_EBADSIG);
		tr_consortium_free(c2);
		keys_free(keys2, fx->n);
	}
	ldg_checked_free(k);
	batch_free(&recs);
	batch_free(&bad);
}

/* ==== 4. ldg_verify finds what was changed behind the ledger ==== */

/* Close the ledger, edit its LMDB environment directly, reopen it. */
static void tamper_closed(fixture *fx, const char *db, const void *key, size_t klen,
			   lmdb_edit what)
{
	ledger_close(fx);
	lmdb_tamper(fx->data, db, key, klen, what);
	ledger_open(fx);
}

static int setup4_blocks3(void **state)
{
	setup4(state);
	append_blocks(*state, 3, NULL, NULL);
	verify_ok(*state, 3);
	return 0;
}

static void test_verify_block_tampered(void **state)
{
	fixture *fx = *state;
	uint8_t key[8];
	tr_be64_put(key, 2);
	tamper_closed(fx, "blocks", key, sizeof(key), EDIT_FLIP);
	verify_bad(fx, false, 2, "block 2");
	verify_bad(fx, true, 2, "block 2");
}

static void test_verify_cert_tampered(void **state)
{
	fixture *fx = *state;
	uint8_t key[8];
	tr_be64_put(key, 3);
	tamper_closed(fx, "certs", key, sizeof(key), EDIT_FLIP);
	verify_bad(fx, false, 3, "block 3");
	verify_bad(fx, true, 3, "block 3");
}

static void test_verify_event_deleted(void **state)
{
	fixture *fx = *state;
	uint8_t id[TR_HASH_LEN];
	stored_event_id(fx, 2, 1, id);
	/* a small ledger's keys are all in the recent level */
	tamper_closed(fx, "events_recent", id, sizeof(id), EDIT_DELETE);
	verify_bad(fx, false, 2, "events index");
	verify_bad(fx, true, 2, "events index");
}

/* events and ehash in two levels (ledger_internal.h): with a recent level
 * of at most 6 entries (the main trees stay under 48), keys move into the main trees as blocks are
 * appended; every stored event is found in either level, by a writable
 * handle (the key set), after a reopen and by a read-only one; the same
 * event again is a duplicate wherever its keys are; verify passes
 * (--full rebuilds with the default level size, so the levels differ and
 * the merged indexes are compared); an entry deleted from a main tree or
 * a key in both levels is found. */
static void test_hashed_levels(void **state)
{
	fixture *fx = *state;
	MDB_txn *txn;
	MDB_stat st;
	size_t nmain, nrecent;
	uint8_t id[TR_HASH_LEN];
	uint64_t h;
	uint32_t pos;

	fx->l->recent_min = 6;
	append_blocks(fx, 5, NULL, NULL); /* 1 + 5 blocks of 4 records */
	assert_int_equal(mdb_txn_begin(fx->l->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_stat(txn, fx->l->dbi[DB_EVENTS], &st), 0);
	nmain = st.ms_entries;
	assert_int_equal(mdb_stat(txn, fx->l->dbi[DB_EVENTS_RECENT], &st), 0);
	nrecent = st.ms_entries;
	assert_true(nmain > 0 && nrecent < 6);
	assert_int_equal(nmain + nrecent, 6 * RECORDS_PER_BLOCK);
	assert_int_equal(mdb_stat(txn, fx->l->dbi[DB_EHASH], &st), 0);
	assert_true(st.ms_entries > 0);
	assert_int_equal(mdb_stat(txn, fx->l->dbi[DB_EHASH_RECENT], &st), 0);
	assert_true(st.ms_entries < 6);
	mdb_txn_abort(txn);
	for (int round = 0; round < 2; round++) {
		for (uint64_t b = 1; b <= 6; b++)
			for (size_t i = 0; i < RECORDS_PER_BLOCK; i++) {
				stored_event_id(fx, b, i, id);
				assert_int_equal(ldg_event_find(fx->l, id, &h, &pos), TR_OK);
				assert_int_equal(h, b);
				assert_int_equal(pos, i);
			}
		refuse_event0_again(fx); /* its keys are in the main trees */
		verify_ok(fx, 6);
		ledger_close(fx);
		ledger_open(fx);
		fx->l->recent_min = 6;
	}
	{
		ldg *ro = NULL;
		ldg_options o = {.map_size = TEST_MAP_BYTES, .readonly = true};
		char err[512];
		assert_int_equal(ldg_open(fx->data, fx->c, &o, &ro, err, sizeof(err)), TR_OK);
		stored_event_id(fx, 1, 0, id);
		assert_int_equal(ldg_event_find(ro, id, &h, &pos), TR_OK);
		stored_event_id(fx, 6, 3, id);
		assert_int_equal(ldg_event_find(ro, id, &h, &pos), TR_OK);
		ldg_close(ro);
	}
	/* event 0's entry deleted from the main tree */
	stored_event_id(fx, 1, 0, id);
	tamper_closed(fx, "events", id, sizeof(id), EDIT_DELETE);
	verify_bad(fx, false, 1, "events index");
	verify_bad(fx, true, 1, "events index");
}

/* An entry in both levels of an index (a damaged ledger): verify --full
 * finds the extra one. */
static void test_hashed_both_levels(void **state)
{
	fixture *fx = *state;
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t id[TR_HASH_LEN], loc[12];
	char err[512] = "";
	uint64_t bad = 0, checked = 0;

	stored_event_id(fx, 2, 1, id);
	assert_int_equal(mdb_txn_begin(fx->l->env, NULL, 0, &txn), 0);
	k.mv_data = id;
	k.mv_size = sizeof(id);
	assert_int_equal(mdb_get(txn, fx->l->dbi[DB_EVENTS_RECENT], &k, &v), 0);
	memcpy(loc, v.mv_data, sizeof(loc));
	v.mv_data = loc;
	v.mv_size = sizeof(loc);
	assert_int_equal(mdb_put(txn, fx->l->dbi[DB_EVENTS], &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_not_equal(ldg_verify(fx->l, true, &bad, &checked, err, sizeof(err)), TR_OK);
	err_names(err, "events index");
}

/* ==== 5. A full map ==== */

static void test_map_full(void **state)
{
	fixture *fx = *state;
	static const ldg_options tiny = {.map_size = TINY_MAP_BYTES};
	built kept[FILL_BLOCKS_MAX];
	size_t nkept = 0;
	batch recs = {0};
	built b;
	char err[512] = "";
	int rc = TR_OK;

	ledger_close(fx);
	snprintf(fx->data, sizeof(fx->data), "%s/tiny", fx->home);
	if (ldg_open(fx->data, fx->c, &tiny, &fx->l, err, sizeof(err)) != TR_OK)
		fail_msg("genesis does not fit a map of %zu bytes: %s", TINY_MAP_BYTES, err);

	/* A block of ~200 KiB does not fit at all. */
	batch_fill(fx, &recs, RECORDS_PER_BLOCK, BIG_PAD);
	block_next(fx, &recs, &b);
	assert_true(b.block_len > 200u << 10);
	assert_int_equal(ldg_append(fx->l, b.block, b.block_len, b.cert, b.cert_len, 0, err,
				    sizeof(err)),
			 TR_EFULL);
	err_names(err, "full");
	head_is(fx, 0, fx->c->chain_id);
	built_free(&b);
	batch_free(&recs);

	/* Smaller blocks fit until the map is full. */
	while (nkept < FILL_BLOCKS_MAX) {
		batch_fill(fx, &recs, RECORDS_PER_BLOCK, SMALL_PAD);
		block_next(fx, &recs, &b);
		batch_free(&recs);
		err[0] = '\0';
		rc = ldg_append(fx->l, b.block, b.block_len, b.cert, b.cert_len, 0, err,
				sizeof(err));
		if (rc != TR_OK) {
			built_free(&b);
			break;
		}
		kept[nkept++] = b;
	}
	assert_int_equal(rc, TR_EFULL);
	err_names(err, "full");
	assert_true(nkept >= 2);
	head_is(fx, nkept, kept[nkept - 1].hash);
	verify_ok(fx, nkept);

	/* The same head after a reopen with the same map, every block readable. */
	ldg_close(fx->l);
	if (ldg_open(fx->data, fx->c, &tiny, &fx->l, err, sizeof(err)) != TR_OK)
		fail_msg("reopen: %s", err);
	head_is(fx, nkept, kept[nkept - 1].hash);
	verify_ok(fx, nkept);
	for (size_t i = 0; i < nkept; i++) {
		uint8_t *block;
		size_t len;
		assert_int_equal(ldg_block_get(fx->l, i + 1, &block, &len, NULL, NULL), TR_OK);
		assert_int_equal(len, kept[i].block_len);
		assert_memory_equal(block, kept[i].block, len);
		free(block);
		built_free(&kept[i]);
	}
}

/* ==== 6. The consensus state blob ==== */

static void test_consensus_state(void **state)
{
	fixture *fx = *state;
	static const uint8_t one[] = "view 1 prepared block 5", two[] = "view 2 committed block 5";
	uint8_t *got = NULL;
	size_t got_len = 0;

	/* A first start has no state. */
	assert_int_equal(ldg_state_get(fx->l, &got, &got_len), TR_ENOTFOUND);
	assert_null(got);

	assert_int_equal(ldg_state_put(fx->l, one, sizeof(one), 0, NULL, 0), TR_OK);
	assert_int_equal(ldg_state_get(fx->l, &got, &got_len), TR_OK);
	assert_int_equal(got_len, sizeof(one));
	assert_memory_equal(got, one, sizeof(one));
	free(got);
	got = NULL;

	/* Each put replaces the previous blob. */
	assert_int_equal(ldg_state_put(fx->l, two, sizeof(two), 0, NULL, 0), TR_OK);

	/* Durable: still there after a reopen. */
	ledger_close(fx);
	ledger_open(fx);
	assert_int_equal(ldg_state_get(fx->l, &got, &got_len), TR_OK);
	assert_int_equal(got_len, sizeof(two));
	assert_memory_equal(got, two, sizeof(two));
	free(got);
}

static int count_event(void *ctx, const Trellis__Event *ev, const ldg_event_info *info)
{
	(void)ev;
	(void)info;
	(*(size_t *)ctx)++;
	return 0;
}

/* Committed events a read-only handle walks (ldg_events_each). */
static size_t events_walked(fixture *fx)
{
	ldg *ro = NULL;
	ldg_options o = {.map_size = TEST_MAP_BYTES, .readonly = true};
	char err[512];
	size_t n = 0;
	assert_int_equal(ldg_open(fx->data, fx->c, &o, &ro, err, sizeof(err)), TR_OK);
	assert_int_equal(ldg_events_each(ro, INT64_MIN, INT64_MAX, count_event, &n), TR_OK);
	ldg_close(ro);
	return n;
}

static void prepared_is(fixture *fx, const built *b)
{
	uint8_t *got = NULL;
	size_t len = 0;
	if (!b) {
		assert_int_equal(ldg_prepared_block(fx->l, &got, &len), TR_ENOTFOUND);
		return;
	}
	assert_int_equal(ldg_prepared_block(fx->l, &got, &len), TR_OK);
	assert_int_equal(len, b->block_len);
	assert_memory_equal(got, b->block, len);
	free(got);
}

/* The block a node prepared is stored with the state, at head + 1, where
 * it stays if it commits: no reader of the chain sees it (get, the event
 * walk, verify), it survives a reopen, one at another height is not
 * stored, and ldg_append of it (same bytes: kept; another block: replaced)
 * leaves a chain that verifies. */
static void test_prepared_block(void **state)
{
	fixture *fx = *state;
	static const uint8_t blob[] = "view 0 prepared block 2";
	batch r2 = {0}, r2b = {0}, r3 = {0};
	built b2, b2b, b3;
	uint8_t *got = NULL, *cert = NULL;
	size_t len = 0, cert_len = 0;

	prepared_is(fx, NULL);
	batch_fill(fx, &r2, RECORDS_PER_BLOCK, 0);
	block_next(fx, &r2, &b2);
	batch_fill(fx, &r2b, RECORDS_PER_BLOCK, 0);
	block_next(fx, &r2b, &b2b); /* another block at height 2 */
	assert_int_equal(ldg_state_put(fx->l, blob, sizeof(blob), 2, b2b.block, b2b.block_len),
			 TR_OK);
	prepared_is(fx, &b2b);
	assert_int_equal(ldg_state_put(fx->l, blob, sizeof(blob), 2, b2.block, b2.block_len),
			 TR_OK);
	prepared_is(fx, &b2);
	/* not the next block: the state is written, the block is not */
	assert_int_equal(ldg_state_put(fx->l, blob, sizeof(blob), 5, b2b.block, b2b.block_len),
			 TR_OK);
	prepared_is(fx, &b2);
	{
		uint64_t h = 0;
		uint8_t hh[TR_HASH_LEN];
		assert_int_equal(ldg_head(fx->l, &h, hh), TR_OK);
		assert_int_equal(h, 1);
	}
	assert_int_equal(ldg_block_get(fx->l, 2, &got, &len, &cert, &cert_len), TR_ENOTFOUND);
	assert_int_equal(ldg_block_get(fx->l, 2, &got, &len, NULL, NULL), TR_ENOTFOUND);
	{
		uint8_t bh[TR_HASH_LEN];
		assert_int_equal(ldg_block_hash(fx->l, 2, bh), TR_ENOTFOUND);
	}
	assert_int_equal(events_walked(fx), RECORDS_PER_BLOCK);
	verify_ok(fx, 1);
	ledger_close(fx);
	ledger_open(fx);
	prepared_is(fx, &b2);

	/* it commits: kept, certificate and indexes added */
	append_ok(fx, &b2, 0);
	prepared_is(fx, NULL);
	assert_int_equal(ldg_block_get(fx->l, 2, &got, &len, NULL, NULL), TR_OK);
	assert_int_equal(len, b2.block_len);
	assert_memory_equal(got, b2.block, len);
	free(got);
	assert_int_equal(events_walked(fx), 2 * RECORDS_PER_BLOCK);
	verify_ok(fx, 2);

	/* another block than the one prepared commits: it replaces it */
	batch_fill(fx, &r3, RECORDS_PER_BLOCK, 0);
	block_next(fx, &r3, &b3);
	assert_int_equal(ldg_state_put(fx->l, blob, sizeof(blob), 3, b2b.block, b2b.block_len),
			 TR_OK);
	append_ok(fx, &b3, 0);
	assert_int_equal(ldg_block_get(fx->l, 3, &got, &len, NULL, NULL), TR_OK);
	assert_int_equal(len, b3.block_len);
	assert_memory_equal(got, b3.block, len);
	free(got);
	verify_ok(fx, 3);
	built_free(&b2);
	built_free(&b2b);
	built_free(&b3);
	batch_free(&r2);
	batch_free(&r2b);
	batch_free(&r3);
}

/* ==== 7. ldg_cert_check on its own ==== */

/* ldg_cert_check of b's certificate against (height, hash) gives rc, and
 * on failure an error naming want. */
static void cert_check_is(const fixture *fx, const built *b, uint64_t height,
			  const uint8_t hash[TR_HASH_LEN], int rc, const char *want)
{
	char err[512] = "";
	assert_int_equal(ldg_cert_check(fx->c, b->cert, b->cert_len, height, hash, err,
					sizeof(err)),
			 rc);
	if (want)
		err_names(err, want);
}

static void test_cert_check(void **state)
{
	fixture *fx = *state;
	static const uint32_t with7[] = {0, 1, 7};
	static const uint32_t last3[] = {3, 1, 2};
	built b = {.height = 7};

	tr_sha256(b.hash, "block 7", 7);
	cert_make(fx, &b, NULL);
	cert_check_is(fx, &b, 7, b.hash, TR_OK, NULL);
	cert_check_is(fx, &b, 8, b.hash, TR_EVERIFY, "height");
	cert_check_is(fx, &b, 7, fx->c->chain_id, TR_EVERIFY, "another block hash");
	cert_make(fx, &b, &(cert_spec){.nvotes = 4});
	cert_check_is(fx, &b, 7, b.hash, TR_OK, NULL);
	cert_make(fx, &b, &(cert_spec){.replicas = last3, .nvotes = 3}); /* secp256k1 vote too */
	cert_check_is(fx, &b, 7, b.hash, TR_OK, NULL);
	cert_make(fx, &b, &(cert_spec){.nvotes = 2});
	cert_check_is(fx, &b, 7, b.hash, TR_EVERIFY, "needs the quorum of 3");
	cert_make(fx, &b, &(cert_spec){.replicas = with7, .nvotes = 3});
	cert_check_is(fx, &b, 7, b.hash, TR_EVERIFY, "replica 7");
	built_free(&b);
}

/* ==== Main ==== */

int main(void)
{
#define T1(f) cmocka_unit_test_setup_teardown(f, setup1, teardown)
#define T4(f) cmocka_unit_test_setup_teardown(f, setup4, teardown)
#define T4B1(f) cmocka_unit_test_setup_teardown(f, setup4_block1, teardown)
#define T4B3(f) cmocka_unit_test_setup_teardown(f, setup4_blocks3, teardown)
	const struct CMUnitTest tests[] = {
		T4(test_genesis),
		T1(test_append_read),
		T4(test_append_read),
		T4B1(test_refuse_height),
		T4B1(test_refuse_prev_hash),
		T4B1(test_refuse_merkle_root),
		T4B1(test_refuse_record_signature),
		T4B1(test_refuse_unknown_signer),
		T4B1(test_refuse_wrong_alg),
		T4B1(test_refuse_record_unknown_fields),
		T4B1(test_refuse_duplicate_event),
		T4B1(test_seen_after_reopen),
		cmocka_unit_test(test_seen_set),
		T4(test_block_bytes_read),
		T4(test_records_rules),
		cmocka_unit_test(test_first_dups),
		T4B1(test_refuse_cert_2f_votes),
		T4B1(test_refuse_cert_bad_vote),
		T4B1(test_refuse_cert_other_hash),
		T4B1(test_refuse_cert_double_vote),
		T4B1(test_refuse_cert_other_height),
		T4B1(test_refuse_no_cert),
		T4B1(test_refuse_unknown_fields),
		T4B1(test_refuse_non_canonical),
		T4B1(test_refuse_garbage),
		T4B1(test_records_verified_flag),
		T4(test_kept_parse),
		T4(test_checked_once),
		T4B3(test_verify_block_tampered),
		T4B3(test_verify_cert_tampered),
		T4B3(test_verify_event_deleted),
		T4B1(test_hashed_levels),
		T4B3(test_hashed_both_levels),
		T1(test_map_full),
		T1(test_consensus_state),
		T4B1(test_prepared_block),
		T4(test_cert_check),
	};
#undef T1
#undef T4
#undef T4B1
#undef T4B3
	if (tr_crypto_init() != TR_OK) {
		fprintf(stderr, "tr_crypto_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
