/*
 * epcis_fixture.h: what the EPCIS unit tests share (epcis_map_test.c,
 * query_test.c, proof_test.c): a fresh home under /tmp with a ledger, a
 * consortium of 1 to 4 partners (partner i owning the locations given for
 * it; partner 3 uses secp256k1), and
 * helpers that turn EPCIS document text into blocks the way `trellis
 * submit` and the node do (validate, map, hash, sign; one block with its
 * certificate) and append them with ldg_append.
 *
 * Static functions in a header: each test program includes it once.
 */
#ifndef TESTS_EPCIS_FIXTURE_H
#define TESTS_EPCIS_FIXTURE_H

#include "ledger/epcis_map.h"
#include "ledger/epcis_validate.h"
#include "ledger/ledger.h"
#include "ledger/query.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/test_util.h"

#define FX_PARTNERS_MAX 4 /* the fourth partner signs with secp256k1 */
#define FX_EVENTS_MAX 64 /* events in one test document */
#define FX_MAP_BYTES ((size_t)64 << 20)

/* Pieces of EPCIS event JSON for test documents. */
#define T(time) "\"eventTime\":\"" time "\",\"eventTimeZoneOffset\":\"+00:00\""
#define QTY(cls, q) "{\"epcClass\":\"" cls "\",\"quantity\":" #q ",\"uom\":\"KGM\"}"
#define AT(loc) "\"bizLocation\":{\"id\":\"" loc "\"}"

typedef struct {
	char home[64];
	char data[96];
	uint32_t n;
	tr_key *keys[FX_PARTNERS_MAX];
	tr_consortium *c;
	ldg *l;
} efx;

/* A fixture of n partners; locs[i] is a comma-separated list of the
 * locations partner i owns, or NULL. */
static inline efx *efx_new(uint32_t n, const char *const *locs)
{
	char lines[FX_PARTNERS_MAX][1024];
	const char *lp[FX_PARTNERS_MAX];
	char err[512] = "", *json = NULL;
	ldg_options o = {.map_size = FX_MAP_BYTES};
	efx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	assert_in_range(n, 1, FX_PARTNERS_MAX);
	snprintf(fx->home, sizeof(fx->home), "/tmp/epcis_test.XXXXXX");
	assert_non_null(mkdtemp(fx->home));
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->home);
	fx->n = n;
	for (uint32_t i = 0; i < n; i++) {
		tr_partner p = {.alg = i == 3 ? TR_ALG_SECP256K1 : TR_ALG_ED25519};
		size_t len;
		assert_int_equal(tr_key_generate(p.alg, &fx->keys[i]), TR_OK);
		snprintf(p.name, sizeof(p.name), "p%u", i);
		snprintf(p.address, sizeof(p.address), "127.0.0.1:%u", 7000 + i);
		memcpy(p.key, tr_key_public(fx->keys[i]), TR_PUBKEY_LEN);
		assert_int_equal(tr_partner_line_format(&p, lines[i], sizeof(lines[i])), TR_OK);
		len = strlen(lines[i]);
		if (locs && locs[i])
			snprintf(lines[i] + len, sizeof(lines[i]) - len, " %s", locs[i]);
		lp[i] = lines[i];
	}
	if (tr_consortium_create(lp, n, &json, err, sizeof(err)) != TR_OK)
		fail_msg("tr_consortium_create: %s", err);
	if (tr_consortium_parse((const uint8_t *)json, strlen(json), &fx->c, err, sizeof(err)))
		fail_msg("tr_consortium_parse: %s", err);
	free(json);
	if (ldg_open(fx->data, fx->c, &o, &fx->l, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_open: %s", err);
	return fx;
}

static inline void efx_free(efx *fx)
{
	ldg_close(fx->l);
	for (uint32_t i = 0; i < fx->n; i++)
		tr_key_free(fx->keys[i]);
	tr_consortium_free(fx->c);
	tu_rm_rf(fx->home);
	free(fx);
}

/* Signed records of every event of a document, as `trellis submit` makes
 * them (validated whole first). */
typedef struct {
	size_t n;
	uint8_t *rec[FX_EVENTS_MAX];
	size_t len[FX_EVENTS_MAX];
	uint8_t id[FX_EVENTS_MAX][TR_HASH_LEN];
	char hash[FX_EVENTS_MAX][EP_HASH_STR_LEN];
} efx_recs;

static inline void efx_recs_free(efx_recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->rec[i]);
	r->n = 0;
}

static inline void efx_records(const efx *fx, uint32_t signer, const char *doc_text, efx_recs *out)
{
	json_error_t je;
	json_t *doc = json_loads(doc_text, JSON_REJECT_DUPLICATES, &je), *events;
	ep_ctx *ctx = NULL;
	char err[512] = "";
	if (!doc)
		fail_msg("test document: line %d: %s", je.line, je.text);
	if (ep_validate_document(doc, err, sizeof(err)) != TR_OK)
		fail_msg("test document refused: %s", err);
	assert_int_equal(ep_document_events(doc, &events, NULL), TR_OK);
	assert_int_equal(ep_ctx_new(doc, &ctx), TR_OK);
	memset(out, 0, sizeof(*out));
	assert_true(json_array_size(events) <= FX_EVENTS_MAX);
	for (size_t i = 0; i < json_array_size(events); i++) {
		uint8_t *ev;
		size_t evlen;
		if (ep_map_event(ctx, json_object_get(doc, "@context"), json_array_get(events, i),
				 "event", &ev, &evlen, out->hash[i], err, sizeof(err)) != TR_OK)
			fail_msg("ep_map_event: %s", err);
		assert_int_equal(ldg_record_build(fx->keys[signer], signer, fx->c->chain_id, ev, evlen,
						  &out->rec[i], &out->len[i], out->id[i]),
				 TR_OK);
		free(ev);
		out->n = i + 1;
	}
	ep_ctx_free(ctx);
	json_decref(doc);
}

/* Append recs as the next block, certified by the last q partners, with
 * ldg_append's flags (LDG_RULES_CHECKED: a ledger written by a node that
 * skipped the EPCIS rules); returns ldg_append's code, err its reason. */
static inline int efx_append_flags(efx *fx, const efx_recs *r, unsigned flags, char *err,
				   size_t errlen)
{
	uint64_t h;
	uint8_t head[TR_HASH_LEN], hash[TR_HASH_LEN], payload[TR_VOTE_PAYLOAD_LEN];
	uint8_t sig[FX_PARTNERS_MAX][TR_SIG_LEN];
	uint32_t replica[FX_PARTNERS_MAX], q = tr_consortium_quorum(fx->c);
	uint8_t *block, *cert;
	size_t blen, clen;
	int rc;
	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	assert_int_equal(ldg_block_build(fx->c->chain_id, h + 1, head, 0, 0, 0,
					 (const uint8_t *const *)r->rec, r->len, r->n, &block, &blen,
					 hash),
			 TR_OK);
	tr_vote_payload(payload, 0, h + 1, hash);
	for (uint32_t v = 0; v < q; v++) {
		replica[v] = fx->n - 1 - v;
		assert_int_equal(tr_sign_tagged(fx->keys[replica[v]], TR_TAG_COMMIT, fx->c->chain_id,
						payload, sizeof(payload), sig[v]),
				 TR_OK);
	}
	assert_int_equal(ldg_cert_build(0, h + 1, hash, replica, (const uint8_t(*)[TR_SIG_LEN])sig,
					q, &cert, &clen),
			 TR_OK);
	rc = ldg_append(fx->l, block, blen, cert, clen, flags, err, errlen);
	free(block);
	free(cert);
	return rc;
}

static inline int efx_append(efx *fx, const efx_recs *r, char *err, size_t errlen)
{
	return efx_append_flags(fx, r, 0, err, errlen);
}

/* Sign and append a whole document as one block; it must be accepted. */
static inline void efx_commit(efx *fx, uint32_t signer, const char *doc_text, efx_recs *keep)
{
	efx_recs r;
	char err[512] = "";
	efx_records(fx, signer, doc_text, &r);
	if (efx_append(fx, &r, err, sizeof(err)) != TR_OK)
		fail_msg("ldg_append refused: %s", err);
	if (keep)
		*keep = r;
	else
		efx_recs_free(&r);
}

/* An EPCISDocument around event objects (text, comma-separated). */
static inline char *efx_doc(const char *events)
{
	static const char head[] =
		"{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\","
		"{\"ex\":\"https://ns.example.com/epcis/\"}],\"type\":\"EPCISDocument\","
		"\"schemaVersion\":\"2.0\",\"creationDate\":\"2026-05-01T00:00:00Z\","
		"\"epcisBody\":{\"eventList\":[";
	size_t n = sizeof(head) + strlen(events) + 8;
	char *d = malloc(n);
	assert_non_null(d);
	snprintf(d, n, "%s%s]}}", head, events);
	return d;
}

#endif
