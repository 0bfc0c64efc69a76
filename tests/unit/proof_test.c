/*
 * proof_test.c: cmocka tests of offline proofs (ledger/proof.h) on a
 * 4-partner chain (f = 1, certificates of 3 votes, partner 3 signing with
 * secp256k1) built with ldg_append.
 *
 * A one-event proof and a trace bundle verify against the consortium
 * alone; every single-byte change of them (three values at every
 * position) and every truncation is refused; a certificate of 2f votes, a
 * vote repeated, another consortium, a foreign record, records and
 * blocks out of place are refused; retractions are reported; a step
 * across a transformation written as two events carries both; the JSON
 * form round-trips exactly and is read strictly.
 */
#include "ledger/proof.h"
#include "proto/proof.pb-c.h"
#include "tests/unit/epcis_fixture.h"

#define FARM "urn:epc:id:sgln:0614141.00001.0"
#define PLANT "urn:epc:id:sgln:0614141.00003.0"
#define LOT_A "urn:epc:class:lgtin:0614141.012345.FIELD-A"
#define LOT_A_KEY "https://id.gs1.org/01/00614141123452/10/FIELD-A"
#define LOT_B "urn:epc:class:lgtin:0614141.012345.FIELD-B"
#define LOT_C "urn:epc:class:lgtin:0614141.012345.FIELD-C"
#define PACK1 "urn:epc:id:sgtin:0614141.054321.1001"
#define PACK1_KEY "https://id.gs1.org/01/00614141543212/21/1001"
#define PACK3 "urn:epc:id:sgtin:0614141.054321.1003"
#define PALLET "urn:epc:id:sscc:0614141.1234567890"
#define ITEM "urn:epc:id:sgtin:0614141.054321.2001"
#define ITEM_KEY "https://id.gs1.org/01/00614141543212/21/2001"
#define ITEM_LOT_KEY "https://id.gs1.org/01/00614141543212/10/L%2F7"

/* Harvest, a transformation into two packs, the packs on a pallet; a
 * transformation written as two events sharing a transformationID; an
 * item commissioned with an ILMD lot. */
static const char story_events[] =
	"{\"type\":\"ObjectEvent\"," T("2026-05-01T06:00:00Z") ",\"action\":\"ADD\",\"bizStep\":\"commissioning\","
	"\"quantityList\":[" QTY(LOT_A, 500) "]," AT(FARM) "},"
	"{\"type\":\"TransformationEvent\"," T("2026-05-02T08:00:00Z") ","
	"\"inputQuantityList\":[" QTY(LOT_A, 500) "," QTY(LOT_B, 300) "],"
	"\"outputEPCList\":[\"" PACK1 "\"],\"bizStep\":\"commissioning\"," AT(PLANT) "},"
	"{\"type\":\"AggregationEvent\"," T("2026-05-02T09:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PALLET "\","
	"\"childEPCs\":[\"" PACK1 "\"],\"bizStep\":\"packing\"," AT(PLANT) "},"
	"{\"type\":\"TransformationEvent\"," T("2026-05-02T10:00:00Z") ",\"transformationID\":\"urn:ex:t:1\","
	"\"inputQuantityList\":[" QTY(LOT_C, 100) "]," AT(PLANT) "},"
	"{\"type\":\"TransformationEvent\"," T("2026-05-02T11:00:00Z") ",\"transformationID\":\"urn:ex:t:1\","
	"\"outputEPCList\":[\"" PACK3 "\"]," AT(PLANT) "},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-02T12:00:00Z") ",\"action\":\"ADD\",\"bizStep\":\"commissioning\","
	"\"epcList\":[\"" ITEM "\"],\"ilmd\":{\"cbvmda:lotNumber\":\"L/7\"}," AT(PLANT) "}";

enum { EV_HARVEST, EV_TRANSFORM, EV_PALLET, EV_T1_IN, EV_T1_OUT, EV_ITEM, EV_COUNT };

/* Move n records of src from index from into dst. */
static void take(efx_recs *dst, efx_recs *src, size_t from, size_t n)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < n; i++) {
		dst->rec[i] = src->rec[from + i];
		dst->len[i] = src->len[from + i];
		memcpy(dst->id[i], src->id[from + i], TR_HASH_LEN);
		src->rec[from + i] = NULL;
	}
	dst->n = n;
}

/* The story on 4 partners: events 0..2 in block 1 by partner 0, 3..5 in
 * block 2 by partner 3 (secp256k1). ids[] gets the event ids. */
static efx *story(uint8_t ids[EV_COUNT][TR_HASH_LEN])
{
	efx *fx = efx_new(4, NULL);
	char *doc = efx_doc(story_events);
	efx_recs all, blk;
	char err[512] = "";
	for (uint32_t b = 0; b < 2; b++) {
		efx_records(fx, b ? 3 : 0, doc, &all);
		take(&blk, &all, 3 * b, 3);
		efx_recs_free(&all);
		if (efx_append(fx, &blk, err, sizeof(err)) != TR_OK)
			fail_msg("block %u refused: %s", b + 1, err);
		for (size_t i = 0; i < 3; i++)
			memcpy(ids[3 * b + i], blk.id[i], TR_HASH_LEN);
		efx_recs_free(&blk);
	}
	free(doc);
	return fx;
}

static int verify(const efx *fx, const uint8_t *p, size_t len, ldg_proof_report *rep, char *err)
{
	return ldg_proof_verify(fx->c, p, len, rep, err, 512);
}

static void verify_ok(const efx *fx, const uint8_t *p, size_t len, ldg_proof_report *rep)
{
	char err[512] = "";
	if (verify(fx, p, len, rep, err) != TR_OK)
		fail_msg("proof refused: %s", err);
}

static void refused(const efx *fx, const uint8_t *p, size_t len, const char *want)
{
	ldg_proof_report rep;
	char err[512] = "";
	int rc = verify(fx, p, len, &rep, err);
	if (rc == TR_OK)
		fail_msg("a bad proof was accepted (want: %s)", want);
	if (want && !strstr(err, want))
		fail_msg("refused with '%s', want '%s'", err, want);
}

/* Every single-byte change (three values at each position) of a proof is
 * refused, and with truncate every truncation too. (A trace bundle cut
 * after some records is a true, smaller proof: truncate is for one-event
 * proofs.) */
static void every_byte(const efx *fx, const uint8_t *p, size_t len, bool truncate)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	uint8_t *m = malloc(len);
	ldg_proof_report rep;
	char err[512];
	assert_non_null(m);
	for (size_t i = 0; i < len; i++)
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(m, p, len);
			m[i] ^= flips[f];
			if (verify(fx, m, len, &rep, err) == TR_OK)
				fail_msg("byte %zu ^ 0x%02x of %zu: still verifies", i, flips[f], len);
		}
	for (size_t n = 0; truncate && n < len; n++)
		if (verify(fx, p, n, &rep, err) == TR_OK)
			fail_msg("truncated to %zu of %zu bytes: still verifies", n, len);
	free(m);
}

static void prove(efx *fx, const uint8_t id[TR_HASH_LEN], uint8_t **p, size_t *len)
{
	char err[512] = "";
	if (ldg_prove_event(fx->l, id, p, len, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_prove_event: %s", err);
}

static void test_event_proof(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p, missing[TR_HASH_LEN] = {1};
	size_t len;
	char err[512];
	ldg_proof_report rep;
	efx *fx = story(ids);
	(void)state;
	for (int e = 0; e < EV_COUNT; e++) {
		prove(fx, ids[e], &p, &len);
		verify_ok(fx, p, len, &rep);
		assert_int_equal(rep.kind, LDG_PROOF_EVENT);
		assert_int_equal(rep.nrecords, 1);
		assert_int_equal(rep.nblocks, 1);
		assert_memory_equal(rep.records[0].event_id, ids[e], TR_HASH_LEN);
		assert_int_equal(rep.records[0].height, e < 3 ? 1 : 2);
		assert_int_equal(rep.records[0].position, e % 3);
		assert_int_equal(rep.records[0].signer, e < 3 ? 0 : 3);
		assert_int_equal(rep.records[0].retracted_by, -1);
		ldg_proof_report_fini(&rep);
		if (e == EV_HARVEST || e == EV_ITEM) /* an ed25519 and a secp256k1 signer */
			every_byte(fx, p, len, true);
		free(p);
	}
	assert_int_equal(ldg_prove_event(fx->l, missing, &p, &len, err, sizeof(err)), TR_ENOTFOUND);
	efx_free(fx);
}

/* Decode p, let fn change it, encode it again. */
static void reencode(uint8_t **p, size_t *len, void (*fn)(Trellis__Proof *, void *), void *arg)
{
	Trellis__Proof *m = trellis__proof__unpack(NULL, *len, *p);
	assert_non_null(m);
	fn(m, arg);
	free(*p);
	*len = trellis__proof__get_packed_size(m);
	*p = malloc(*len);
	assert_non_null(*p);
	trellis__proof__pack(m, *p);
	trellis__proof__free_unpacked(m, NULL);
}

/* Replace block 0's certificate by its first nvotes votes, the last one
 * replaced by a copy of vote 0 when dup. */
typedef struct {
	size_t nvotes;
	bool dup;
	uint8_t *buf;
} cert_edit;

static void edit_cert(Trellis__Proof *m, void *arg)
{
	cert_edit *ce = arg;
	ProtobufCBinaryData *cd = &m->blocks[0]->certificate;
	Trellis__CommitCertificate *cc = trellis__commit_certificate__unpack(NULL, cd->len, cd->data);
	size_t keep;
	assert_non_null(cc);
	keep = cc->n_votes;
	assert_true(ce->nvotes <= keep);
	cc->n_votes = ce->nvotes;
	if (ce->dup)
		cc->votes[ce->nvotes - 1]->replica = cc->votes[0]->replica;
	ce->buf = malloc(trellis__commit_certificate__get_packed_size(cc));
	assert_non_null(ce->buf);
	cd->len = trellis__commit_certificate__pack(cc, ce->buf);
	cd->data = ce->buf; /* the unpacked proof does not own it: restored below */
	cc->n_votes = keep;
	trellis__commit_certificate__free_unpacked(cc, NULL);
}

/* A proof of id whose certificate keeps nvotes votes (see edit_cert). */
static void proof_with_votes(efx *fx, const uint8_t id[TR_HASH_LEN], size_t nvotes, bool dup,
			     uint8_t **p, size_t *len)
{
	Trellis__Proof *m;
	cert_edit ce = {.nvotes = nvotes, .dup = dup};
	uint8_t *orig;
	prove(fx, id, p, len);
	m = trellis__proof__unpack(NULL, *len, *p);
	assert_non_null(m);
	orig = m->blocks[0]->certificate.data;
	edit_cert(m, &ce);
	free(*p);
	*len = trellis__proof__get_packed_size(m);
	*p = malloc(*len);
	assert_non_null(*p);
	trellis__proof__pack(m, *p);
	m->blocks[0]->certificate.data = orig;
	trellis__proof__free_unpacked(m, NULL);
	free(ce.buf);
}

static void test_quorum(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p;
	size_t len;
	ldg_proof_report rep;
	efx *fx = story(ids);
	(void)state;
	/* the control: all three votes, re-encoded, still verify */
	proof_with_votes(fx, ids[EV_HARVEST], 3, false, &p, &len);
	verify_ok(fx, p, len, &rep);
	ldg_proof_report_fini(&rep);
	free(p);
	/* 2f = 2 votes */
	proof_with_votes(fx, ids[EV_HARVEST], 2, false, &p, &len);
	refused(fx, p, len, "needs the quorum of 3");
	free(p);
	/* three votes, one partner twice */
	proof_with_votes(fx, ids[EV_HARVEST], 3, true, &p, &len);
	refused(fx, p, len, "twice");
	free(p);
	efx_free(fx);
}

static void test_other_consortium(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p;
	size_t len;
	efx *fx = story(ids), *other = efx_new(4, NULL);
	(void)state;
	prove(fx, ids[EV_PALLET], &p, &len);
	refused(other, p, len, "another consortium");
	free(p);
	efx_free(other);
	efx_free(fx);
}

static void drop_path(Trellis__Proof *m, void *arg)
{
	(void)arg;
	Trellis__ProofRecord *r = m->records[0];
	assert_true(r->n_path > 0);
	free(r->path[--r->n_path].data); /* unpacked with the default (malloc) allocator */
}

static void bump_position(Trellis__Proof *m, void *arg)
{
	(void)arg;
	m->records[0]->position++;
}

static void test_structure(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p, *q, *both;
	size_t len, qlen, blen;
	efx *fx = story(ids);
	(void)state;
	/* a path one hash short, a wrong position */
	prove(fx, ids[EV_PALLET], &p, &len);
	reencode(&p, &len, drop_path, NULL);
	refused(fx, p, len, "audit path");
	free(p);
	prove(fx, ids[EV_HARVEST], &p, &len);
	reencode(&p, &len, bump_position, NULL);
	refused(fx, p, len, "audit path");
	free(p);
	/* two unrelated events in one "event" proof: the second retracts nothing */
	prove(fx, ids[EV_HARVEST], &p, &len);
	prove(fx, ids[EV_ITEM], &q, &qlen);
	{
		Trellis__Proof *a = trellis__proof__unpack(NULL, len, p);
		Trellis__Proof *b = trellis__proof__unpack(NULL, qlen, q);
		Trellis__ProofBlock *blocks[2] = {a->blocks[0], b->blocks[0]};
		Trellis__ProofRecord *recs[2] = {a->records[0], b->records[0]};
		Trellis__Proof m = TRELLIS__PROOF__INIT;
		recs[1]->block = 1;
		m.version = 1;
		m.n_blocks = 2;
		m.blocks = blocks;
		m.n_records = 2;
		m.records = recs;
		blen = trellis__proof__get_packed_size(&m);
		both = malloc(blen);
		trellis__proof__pack(&m, both);
		refused(fx, both, blen, "not a retraction");
		/* blocks out of order */
		blocks[0] = b->blocks[0];
		blocks[1] = a->blocks[0];
		recs[0]->block = 1;
		recs[1]->block = 0;
		free(both);
		blen = trellis__proof__get_packed_size(&m);
		both = malloc(blen);
		trellis__proof__pack(&m, both);
		refused(fx, both, blen, "strictly increasing");
		free(both);
		/* a block no record uses */
		m.n_records = 1;
		recs[0]->block = 0;
		blocks[0] = a->blocks[0];
		blen = trellis__proof__get_packed_size(&m);
		both = malloc(blen);
		trellis__proof__pack(&m, both);
		refused(fx, both, blen, "none of the proof's records");
		free(both);
		trellis__proof__free_unpacked(a, NULL);
		trellis__proof__free_unpacked(b, NULL);
	}
	free(p);
	free(q);
	efx_free(fx);
}

static void test_retraction(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p;
	size_t len;
	ldg_proof_report rep;
	efx_recs d;
	char *doc;
	efx *fx = story(ids);
	(void)state;
	doc = efx_doc("{\"type\":\"AggregationEvent\"," T("2026-05-02T09:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PALLET "\","
		      "\"childEPCs\":[\"" PACK1 "\"],\"bizStep\":\"packing\"," AT(PLANT) ","
		      "\"errorDeclaration\":{\"declarationTime\":\"2026-05-03T00:00:00Z\",\"reason\":\"incorrect_data\"}}");
	efx_commit(fx, 1, doc, &d);
	free(doc);
	prove(fx, ids[EV_PALLET], &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_int_equal(rep.nrecords, 2);
	assert_int_equal(rep.nblocks, 2);
	assert_int_equal(rep.records[0].retracted_by, 1);
	assert_true(rep.records[1].declaration);
	assert_memory_equal(rep.records[1].event_id, d.id[0], TR_HASH_LEN);
	ldg_proof_report_fini(&rep);
	free(p);
	/* the declaration's own proof: one record, not retracted */
	prove(fx, d.id[0], &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_int_equal(rep.nrecords, 1);
	assert_true(rep.records[0].declaration);
	ldg_proof_report_fini(&rep);
	free(p);
	efx_recs_free(&d);
	efx_free(fx);
}

static bool step_is(const ldg_proof_report *r, const char *id, const char *rel, size_t nrec)
{
	for (size_t i = 1; i < r->nsteps; i++)
		if (strcmp(r->steps[i].id, id) == 0)
			return strcmp(r->steps[i].relation, rel) == 0 && r->steps[i].nrecords == nrec;
	return false;
}

static void bundle(efx *fx, const char *id, int dir, uint8_t **p, size_t *len)
{
	ldg_trace_opts o = {.dir = dir};
	char err[512] = "";
	bool cut = true;
	if (ldg_prove_trace(fx->l, id, &o, p, len, &cut, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_prove_trace: %s", err);
	assert_false(cut);
}

static void flip_direction(Trellis__Proof *m, void *arg)
{
	(void)arg;
	m->trace->direction = 3 - m->trace->direction;
}

/* Step 1 (a one-event step) names its record twice. */
static void record_twice(Trellis__Proof *m, void *arg)
{
	Trellis__TraceStep *s = m->trace->steps[1];
	(void)arg;
	assert_int_equal(s->n_records, 1);
	s->records = realloc(s->records, 2 * sizeof(*s->records));
	assert_non_null(s->records);
	s->records[1] = s->records[0];
	s->n_records = 2;
}

static void test_trace_bundle(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p;
	size_t len;
	ldg_proof_report rep;
	char err[512];
	bool cut;
	ldg_trace_opts o = {.dir = LDG_TRACE_UP};
	efx *fx = story(ids);
	(void)state;
	/* up from the pallet: its pack, the pack's two lots */
	bundle(fx, PALLET, LDG_TRACE_UP, &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_int_equal(rep.kind, LDG_PROOF_UP);
	assert_int_equal(rep.nsteps, 4);
	assert_true(step_is(&rep, PACK1_KEY, "content", 1));
	assert_true(step_is(&rep, LOT_A_KEY, "input", 1));
	assert_int_equal(rep.nrecords, 2); /* the aggregation and the transformation */
	ldg_proof_report_fini(&rep);
	every_byte(fx, p, len, false);
	reencode(&p, &len, flip_direction, NULL);
	refused(fx, p, len, "do not link");
	free(p);
	bundle(fx, PALLET, LDG_TRACE_UP, &p, &len);
	reencode(&p, &len, record_twice, NULL);
	refused(fx, p, len, "twice");
	free(p);
	/* down from lot A: the pack, then the pallet */
	bundle(fx, LOT_A, LDG_TRACE_DOWN, &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_int_equal(rep.nsteps, 3);
	assert_true(step_is(&rep, PACK1_KEY, "output", 1));
	assert_true(step_is(&rep, "https://id.gs1.org/00/106141412345678908", "container", 1));
	ldg_proof_report_fini(&rep);
	free(p);
	/* a transformation written as two events: both on the step */
	bundle(fx, PACK3, LDG_TRACE_UP, &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_int_equal(rep.nsteps, 2);
	assert_int_equal(rep.steps[1].nrecords, 2);
	assert_string_equal(rep.steps[1].relation, "input");
	ldg_proof_report_fini(&rep);
	free(p);
	/* an item and its ILMD lot, both ways */
	bundle(fx, ITEM, LDG_TRACE_UP, &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_true(step_is(&rep, ITEM_LOT_KEY, "lot", 1));
	ldg_proof_report_fini(&rep);
	free(p);
	bundle(fx, ITEM_LOT_KEY, LDG_TRACE_DOWN, &p, &len);
	verify_ok(fx, p, len, &rep);
	assert_true(step_is(&rep, ITEM_KEY, "item", 1));
	ldg_proof_report_fini(&rep);
	free(p);
	/* nothing to trace */
	assert_int_equal(ldg_prove_trace(fx->l, "urn:epc:id:sgtin:0614141.099999.1", &o, &p, &len,
					 &cut, err, sizeof(err)),
			 TR_ENOTFOUND);
	efx_free(fx);
}

static void test_json(void **state)
{
	uint8_t ids[EV_COUNT][TR_HASH_LEN], *p, *back;
	size_t len, blen;
	char *json, err[512], *bad;
	efx *fx = story(ids);
	(void)state;
	bundle(fx, PALLET, LDG_TRACE_UP, &p, &len);
	assert_int_equal(ldg_proof_to_json(p, len, &json, err, sizeof(err)), TR_OK);
	assert_int_equal(ldg_proof_from_json(json, strlen(json), &back, &blen, err, sizeof(err)),
			 TR_OK);
	assert_int_equal(blen, len);
	assert_memory_equal(back, p, len);
	free(back);
	/* strict reading: each edit must be refused, naming where */
	{
		static const struct {
			const char *from, *to, *want;
		} edits[] = {
			{"\"version\": 1", "\"version\": 1, \"extra\": 2", "proof.extra: unknown key"},
			{"\"version\": 1", "\"version\": 1, \"version\": 1", "duplicate"},
			{"\"format\": \"trellis-proof\"", "\"format\": \"other\"", "proof.format"},
			{"\"parent\": null", "\"parent\": 0", "trace.steps[0].parent"},
			{"\"position\": ", "\"position\": -", "records[0].position: out of range"},
			{"\"direction\": \"up\"", "\"direction\": \"sideways\"", "trace.direction"},
			{"\"header\": \"", "\"header\": \"!", "blocks[0].header"},
		};
		for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			const char *at = strstr(json, edits[i].from);
			size_t pre, n = strlen(json) + strlen(edits[i].to) + 1;
			if (!at)
				fail_msg("JSON form lacks %s", edits[i].from);
			pre = (size_t)(at - json);
			bad = malloc(n);
			snprintf(bad, n, "%.*s%s%s", (int)pre, json, edits[i].to,
				 at + strlen(edits[i].from));
			err[0] = '\0';
			if (ldg_proof_from_json(bad, strlen(bad), &back, &blen, err, sizeof(err)) ==
			    TR_OK)
				fail_msg("edit %zu accepted", i);
			if (!strstr(err, edits[i].want))
				fail_msg("edit %zu: '%s', want '%s'", i, err, edits[i].want);
			free(bad);
		}
	}
	/* base64 with unused bits set is not the canonical spelling */
	{
		char *q = strstr(json, "==\"");
		assert_non_null(q);
		q[-1] = q[-1] == 'A' ? 'B' : (char)(q[-1] ^ 1);
		assert_int_not_equal(ldg_proof_from_json(json, strlen(json), &back, &blen, err,
							 sizeof(err)),
				     TR_OK);
	}
	free(json);
	free(p);
	efx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_proof),    cmocka_unit_test(test_quorum),
		cmocka_unit_test(test_other_consortium), cmocka_unit_test(test_structure),
		cmocka_unit_test(test_retraction),     cmocka_unit_test(test_trace_bundle),
		cmocka_unit_test(test_json),
	};
	if (tr_crypto_init() != TR_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
