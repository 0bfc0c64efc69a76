/*
 * query_test.c: cmocka tests of the EPCIS indexes, rules and queries
 * (ledger/index.c, ledger/query.h) on chains built with ldg_append.
 *
 * The farm-to-shelf story: two field lots harvested at the farm, shipped,
 * received at the processor, transformed into two retail packs, the packs
 * aggregated on a pallet, the pallet shipped and received at the store.
 * Then: history across identifier syntaxes (with the container's events
 * while inside), trace up to both field lots, trace down to the store;
 * duplicates by GS1 event hash (across syntaxes, in the store and within
 * one block); retraction by errorDeclaration; location ownership in a
 * two-partner consortium (refused at another partner's location, in
 * either syntax, also for a sub-location; allowed at one's own and at
 * unowned ones), at append and through ldg_event_admissible; bounds.
 * The lot source of FSMA 204; verify finding damaged index entries; and
 * records whose structured Event fields disagree with their json (a
 * location, the event hash, an EPC, a json not in compact form, another
 * @context), refused by the block check and the record check alike.
 */
#include "tests/unit/epcis_fixture.h"

#include "ledger/ledger_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#define FARM "urn:epc:id:sgln:0614141.00001.0"
#define PLANT "urn:epc:id:sgln:0614141.00003.0"
#define STORE "urn:epc:id:sgln:0614141.00005.0"
#define STORE_DL "https://id.gs1.org/414/0614141000050"
#define LOT_A "urn:epc:class:lgtin:0614141.012345.FIELD-A"
#define LOT_A_DL "https://id.gs1.org/01/00614141123452/10/FIELD-A"
#define LOT_B "urn:epc:class:lgtin:0614141.012345.FIELD-B"
#define PACK1 "urn:epc:id:sgtin:0614141.054321.1001"
#define PACK2_DL "https://id.gs1.org/01/00614141543212/21/1002"
#define PALLET "urn:epc:id:sscc:0614141.1234567890"

static const char story_events[] =
	"{\"type\":\"ObjectEvent\"," T("2026-05-01T06:00:00Z") ",\"action\":\"ADD\",\"bizStep\":\"commissioning\","
	"\"quantityList\":[" QTY(LOT_A, 500) "]," AT(FARM) "},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-01T07:00:00Z") ",\"action\":\"ADD\",\"bizStep\":\"commissioning\","
	"\"quantityList\":[" QTY(LOT_B, 300) "]," AT(FARM) "},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-01T09:00:00Z") ",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	"\"quantityList\":[" QTY(LOT_A, 500) "," QTY(LOT_B, 300) "],\"readPoint\":{\"id\":\"" FARM "\"},"
	"\"sourceList\":[{\"type\":\"location\",\"source\":\"" FARM "\"}],"
	"\"destinationList\":[{\"type\":\"location\",\"destination\":\"" PLANT "\"}]},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-01T12:00:00Z") ",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	"\"quantityList\":[" QTY(LOT_A_DL, 500) "," QTY(LOT_B, 300) "]," AT(PLANT) "},"
	"{\"type\":\"TransformationEvent\"," T("2026-05-02T08:00:00Z") ","
	"\"inputQuantityList\":[" QTY(LOT_A, 500) "," QTY(LOT_B, 300) "],"
	"\"outputEPCList\":[\"" PACK1 "\",\"" PACK2_DL "\"],\"bizStep\":\"commissioning\"," AT(PLANT) "},"
	"{\"type\":\"AggregationEvent\"," T("2026-05-02T09:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PALLET "\","
	"\"childEPCs\":[\"" PACK1 "\",\"" PACK2_DL "\"],\"bizStep\":\"packing\"," AT(PLANT) "},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-02T10:00:00Z") ",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	"\"epcList\":[\"" PALLET "\"],\"readPoint\":{\"id\":\"" PLANT "\"}},"
	"{\"type\":\"ObjectEvent\"," T("2026-05-02T15:00:00Z") ",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	"\"epcList\":[\"" PALLET "\"]," AT(STORE) "}";

/* The story, one event per block (so chain order is event order). */
static efx *story(void)
{
	efx *fx = efx_new(1, NULL);
	char *doc = efx_doc(story_events);
	efx_recs all;
	efx_records(fx, 0, doc, &all);
	for (size_t i = 0; i < all.n; i++) {
		efx_recs one = {.n = 1};
		char err[512] = "";
		one.rec[0] = all.rec[i];
		one.len[0] = all.len[i];
		if (efx_append(fx, &one, err, sizeof(err)) != TR_OK)
			fail_msg("story event %zu refused: %s", i, err);
	}
	efx_recs_free(&all);
	free(doc);
	return fx;
}

static bool tree_has(const ldg_trace_node *nodes, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(nodes[i].id, key) == 0)
			return true;
	return false;
}

static void test_history(void **state)
{
	efx *fx = story();
	ldg_event_info *it = NULL;
	size_t n = 0;
	bool cut = true;
	(void)state;
	/* pack 1 in URN and Digital Link syntax: the same history */
	assert_int_equal(ldg_history(fx->l, PACK1, false, &it, &n, &cut), TR_OK);
	assert_false(cut);
	assert_int_equal(n, 4); /* transformed, aggregated, then the pallet's two while inside */
	assert_string_equal(it[0].type, "TransformationEvent");
	assert_string_equal(it[1].type, "AggregationEvent");
	assert_string_equal(it[2].biz_step, "shipping");
	assert_string_equal(it[2].via, "https://id.gs1.org/00/106141412345678908");
	assert_string_equal(it[3].where, STORE_DL);
	for (size_t i = 1; i < n; i++)
		assert_true(it[i - 1].height < it[i].height);
	free(it);
	assert_int_equal(ldg_history(fx->l, "https://example.com/01/00614141543212/21/1001", false,
				     &it, &n, &cut),
			 TR_OK);
	assert_int_equal(n, 4);
	free(it);
	/* a lot named in URN and in Digital Link form in different events */
	assert_int_equal(ldg_history(fx->l, LOT_A_DL, false, &it, &n, &cut), TR_OK);
	assert_int_equal(n, 4); /* commissioned, shipped, received, transformed */
	free(it);
	assert_int_equal(ldg_history(fx->l, "urn:epc:id:sgtin:0614141.099999.1", false, &it, &n, &cut),
			 TR_OK);
	assert_int_equal(n, 0);
	free(it);
	assert_int_equal(ldg_history(fx->l, "urn:epc:id:sgtin:bad", false, &it, &n, &cut), TR_EINVAL);
	efx_free(fx);
}

static void test_lot_source(void **state)
{
	efx *fx = story();
	char where[LDG_TEXT_MAX] = "";
	(void)state;
	/* harvested (commissioned) at the farm, in either syntax */
	assert_int_equal(ldg_lot_source(fx->l, LOT_A_DL, where), TR_OK);
	assert_string_equal(where, "https://id.gs1.org/414/0614141000012");
	assert_int_equal(ldg_lot_source(fx->l, LOT_B, where), TR_OK);
	assert_string_equal(where, "https://id.gs1.org/414/0614141000012");
	/* a pack is created by the transformation at the plant */
	assert_int_equal(ldg_lot_source(fx->l, PACK1, where), TR_OK);
	assert_string_equal(where, "https://id.gs1.org/414/0614141000036");
	/* the pallet is only aggregated and moved: nothing creates it */
	assert_int_equal(ldg_lot_source(fx->l, PALLET, where), TR_ENOTFOUND);
	assert_int_equal(ldg_lot_source(fx->l, "urn:epc:class:lgtin:0614141.012345.NONE", where),
			 TR_ENOTFOUND);
	assert_int_equal(ldg_lot_source(fx->l, "urn:epc:class:lgtin:bad", where), TR_EINVAL);
	efx_free(fx);
}

static void test_trace(void **state)
{
	efx *fx = story();
	ldg_trace_opts up = {.dir = LDG_TRACE_UP}, down = {.dir = LDG_TRACE_DOWN};
	ldg_trace_node *nd = NULL;
	size_t n = 0;
	bool cut = true, store_seen = false;
	(void)state;
	/* up from a retail pack: both field lots */
	assert_int_equal(ldg_trace(fx->l, PACK2_DL, &up, &nd, &n, &cut), TR_OK);
	assert_false(cut);
	assert_int_equal(n, 3);
	assert_true(tree_has(nd, n, LOT_A_DL));
	assert_true(tree_has(nd, n, "https://id.gs1.org/01/00614141123452/10/FIELD-B"));
	assert_string_equal(nd[1].relation, "input");
	assert_string_equal(nd[1].link.type, "TransformationEvent");
	free(nd);
	/* down from a field lot: the packs, the pallet, last seen at the store */
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_OK);
	assert_true(tree_has(nd, n, "https://id.gs1.org/01/00614141543212/21/1001"));
	assert_true(tree_has(nd, n, "https://id.gs1.org/00/106141412345678908"));
	for (size_t i = 0; i < n; i++)
		if (strcmp(nd[i].id, "https://id.gs1.org/00/106141412345678908") == 0 &&
		    !nd[i].repeated) {
			assert_true(nd[i].has_last);
			assert_string_equal(nd[i].last.where, STORE_DL);
			assert_string_equal(nd[i].relation, "container");
			store_seen = true;
		}
	assert_true(store_seen);
	free(nd);
	/* depth 1: the outputs only, and the tree says it was cut */
	down.depth = 1;
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_OK);
	assert_true(cut);
	assert_false(tree_has(nd, n, "https://id.gs1.org/00/106141412345678908"));
	free(nd);
	/* nodes_max bounds the tree */
	down.depth = 0;
	down.nodes_max = 2;
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_OK);
	assert_int_equal(n, 2);
	assert_true(cut);
	free(nd);
	down.depth = LDG_TRACE_DEPTH_MAX + 1;
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_EINVAL);
	efx_free(fx);
}

/* A cycle (a pallet inside a pack inside the pallet) ends: the visited set. */
static void test_trace_cycle(void **state)
{
	efx *fx = efx_new(1, NULL);
	char *doc = efx_doc(
		"{\"type\":\"AggregationEvent\"," T("2026-05-02T09:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PALLET "\","
		"\"childEPCs\":[\"" PACK1 "\"]},"
		"{\"type\":\"AggregationEvent\"," T("2026-05-02T10:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PACK1 "\","
		"\"childEPCs\":[\"" PALLET "\"]}");
	ldg_trace_opts down = {.dir = LDG_TRACE_DOWN};
	ldg_trace_node *nd = NULL;
	size_t n = 0;
	bool cut;
	(void)state;
	efx_commit(fx, 0, doc, NULL);
	assert_int_equal(ldg_trace(fx->l, PACK1, &down, &nd, &n, &cut), TR_OK);
	assert_int_equal(n, 3);
	assert_true(nd[2].repeated);
	free(nd);
	free(doc);
	efx_free(fx);
}

static const char ship_urn[] =
	"{\"type\":\"ObjectEvent\"," T("2026-06-01T10:00:00Z") ",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	"\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.2017\"]}";
static const char ship_dl[] =
	"{\"type\":\"ObjectEvent\"," T("2026-06-01T12:00:00+02:00") ",\"action\":\"OBSERVE\","
	"\"bizStep\":\"https://ref.gs1.org/cbv/BizStep-shipping\","
	"\"epcList\":[\"https://id.gs1.org/01/10614141073464/21/2017\"],\"ex:note\":null}";

static void test_duplicates(void **state)
{
	efx *fx = efx_new(1, NULL);
	char *d1 = efx_doc(ship_urn), *both, err[512] = "", hex[2 * TR_HASH_LEN + 1];
	char ev2[sizeof(ship_dl) + 64];
	efx_recs r1, r2;
	uint64_t h;
	uint8_t head[TR_HASH_LEN];
	(void)state;
	efx_commit(fx, 0, d1, &r1);
	/* the same event in Digital Link syntax, another time zone, CBV Web URI:
	 * the same GS1 event hash, refused naming the original (the extension
	 * with a null value is the one difference; drop it to stay equal) */
	snprintf(ev2, sizeof(ev2), "%.*s}", (int)(strstr(ship_dl, ",\"ex:note\"") - ship_dl), ship_dl);
	both = efx_doc(ev2);
	efx_records(fx, 0, both, &r2);
	assert_string_equal(r1.hash[0], r2.hash[0]);
	assert_int_equal(efx_append(fx, &r2, err, sizeof(err)), TR_EEXIST);
	assert_non_null(strstr(err, tr_hex(hex, r1.id[0], TR_HASH_LEN)));
	assert_non_null(strstr(err, "duplicate"));
	assert_int_equal(ldg_event_admissible(fx->l, r2.rec[0], r2.len[0], err, sizeof(err)),
			 TR_EEXIST);
	assert_non_null(strstr(err, hex));
	assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
	assert_int_equal(h, 1);
	efx_recs_free(&r2);
	free(both);
	/* twice within one block (different bytes, one hash) */
	{
		char two[2048];
		const char *a = "{\"type\":\"ObjectEvent\"," T("2026-07-01T10:00:00Z") ",\"action\":\"OBSERVE\","
				"\"epcList\":[\"urn:epc:id:sscc:0614141.1234567890\"]}";
		const char *b = "{\"type\":\"ObjectEvent\",\"action\":\"OBSERVE\"," T("2026-07-01T10:00:00.000Z") ","
				"\"epcList\":[\"https://id.gs1.org/00/106141412345678908\"]}";
		snprintf(two, sizeof(two), "%s,%s", a, b);
		both = efx_doc(two);
		efx_records(fx, 0, both, &r2);
		assert_int_equal(efx_append(fx, &r2, err, sizeof(err)), TR_EEXIST);
		assert_non_null(strstr(err, "record 1: duplicate of record 0"));
		assert_int_equal(ldg_events_admissible(fx->l, (const uint8_t *const *)r2.rec, r2.len, 2,
						       err, sizeof(err)),
				 TR_EEXIST);
		efx_recs_free(&r2);
		free(both);
	}
	efx_recs_free(&r1);
	free(d1);
	efx_free(fx);
}

static void test_retraction(void **state)
{
	efx *fx = story();
	char decl[4096], *doc, err[512] = "";
	ldg_event_info *it = NULL;
	size_t n = 0, n_all = 0;
	bool cut;
	ldg_trace_opts down = {.dir = LDG_TRACE_DOWN};
	ldg_trace_node *nd = NULL;
	efx_recs r;
	(void)state;
	/* retract the aggregation (packs on the pallet) */
	snprintf(decl, sizeof(decl),
		 "{\"type\":\"AggregationEvent\"," T("2026-05-02T09:00:00Z") ",\"action\":\"ADD\",\"parentID\":\"" PALLET "\","
		 "\"childEPCs\":[\"" PACK1 "\",\"" PACK2_DL "\"],\"bizStep\":\"packing\"," AT(PLANT) ","
		 "\"errorDeclaration\":{\"declarationTime\":\"2026-05-03T00:00:00Z\",\"reason\":\"incorrect_data\"}}");
	doc = efx_doc(decl);
	efx_commit(fx, 0, doc, NULL);
	assert_int_equal(ldg_history(fx->l, PACK1, false, &it, &n, &cut), TR_OK);
	free(it);
	assert_int_equal(ldg_history(fx->l, PACK1, true, &it, &n_all, &cut), TR_OK);
	/* transformed, aggregated (retracted), the pallet's two, the declaration */
	assert_int_equal(n_all, 5);
	assert_true(it[1].retracted);
	assert_true(it[4].declaration);
	free(it);
	assert_int_equal(n, 2); /* transformed, the declaration; no pallet events */
	/* the trace no longer reaches the pallet, unless asked */
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_OK);
	assert_false(tree_has(nd, n, "https://id.gs1.org/00/106141412345678908"));
	free(nd);
	down.include_retracted = true;
	assert_int_equal(ldg_trace(fx->l, LOT_A, &down, &nd, &n, &cut), TR_OK);
	assert_true(tree_has(nd, n, "https://id.gs1.org/00/106141412345678908"));
	free(nd);
	/* a second declaration of the same event (other bytes) is refused */
	free(doc);
	*strstr(decl, "2026-05-03") = '\0';
	{
		char again[4096 + 64];
		snprintf(again, sizeof(again), "%s2026-05-04T00:00:00Z\",\"reason\":\"incorrect_data\"}}",
			 decl);
		doc = efx_doc(again);
	}
	efx_records(fx, 0, doc, &r);
	assert_int_equal(efx_append(fx, &r, err, sizeof(err)), TR_EEXIST);
	assert_non_null(strstr(err, "already retracted"));
	efx_recs_free(&r);
	free(doc);
	efx_free(fx);
}

/* Which broken rule a block is refused for: the first record in order
 * that breaks one, whichever rule that is (rules() opens one record at a
 * time and finds the duplicates within the block afterwards). */
static void test_rule_order(void **state)
{
	const char *locs[2] = {FARM, STORE};
	efx *fx = efx_new(2, locs);
	char *stored = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-08-01T09:00:00Z") ",\"action\":\"OBSERVE\","
			       "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.9\"]}");
	const char *x = "{\"type\":\"ObjectEvent\"," T("2026-08-01T10:00:00Z") ",\"action\":\"OBSERVE\","
			"\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.1\"]}";
	const char *x2 = "{\"type\":\"ObjectEvent\",\"action\":\"OBSERVE\"," T("2026-08-01T10:00:00.000Z") ","
			 "\"epcList\":[\"https://id.gs1.org/01/10614141073464/21/1\"]}";
	const char *theirs = "{\"type\":\"ObjectEvent\"," T("2026-08-01T11:00:00Z") ",\"action\":\"OBSERVE\","
			     "\"epcList\":[\"" PALLET "\"]," AT(STORE) "}";
	const char *again = "{\"type\":\"ObjectEvent\"," T("2026-08-01T09:00:00Z") ",\"action\":\"OBSERVE\","
			    "\"epcList\":[\"https://id.gs1.org/01/10614141073464/21/9\"]}";
	/* two retractions of x (one GS1 event hash, other bytes) */
	const char *decl1 = "{\"type\":\"ObjectEvent\"," T("2026-08-01T10:00:00Z") ",\"action\":\"OBSERVE\","
			    "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.1\"],\"errorDeclaration\":"
			    "{\"declarationTime\":\"2026-08-02T00:00:00Z\",\"reason\":\"incorrect_data\"}}";
	const char *decl2 = "{\"type\":\"ObjectEvent\"," T("2026-08-01T10:00:00Z") ",\"action\":\"OBSERVE\","
			    "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.1\"],\"errorDeclaration\":"
			    "{\"declarationTime\":\"2026-08-03T00:00:00Z\",\"reason\":\"incorrect_data\"}}";
	struct {
		const char *a, *b, *c;
		int rc;
		const char *want;
	} cases[] = {
		{x, theirs, x2, TR_EINVAL, "record 1: bizLocation"},
		{x, x2, theirs, TR_EEXIST, "record 1: duplicate of record 0"},
		{again, x, x2, TR_EEXIST, "record 0: duplicate of event"},
		{x, again, theirs, TR_EEXIST, "record 1: duplicate of event"},
		{theirs, x, x2, TR_EINVAL, "record 0: bizLocation"},
		{decl1, decl2, x, TR_EEXIST, "record 1: retracts the same event as record 0"},
	};
	(void)state;
	efx_commit(fx, 0, stored, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char three[4096], *doc, err[512] = "";
		efx_recs r;
		uint64_t h;
		uint8_t head[TR_HASH_LEN];
		snprintf(three, sizeof(three), "%s,%s,%s", cases[i].a, cases[i].b, cases[i].c);
		doc = efx_doc(three);
		efx_records(fx, 0, doc, &r);
		assert_int_equal(efx_append(fx, &r, err, sizeof(err)), cases[i].rc);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].want);
		assert_int_equal(ldg_events_admissible(fx->l, (const uint8_t *const *)r.rec, r.len, 3,
						       err, sizeof(err)),
				 cases[i].rc);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu, admissible: '%s' does not say '%s'", i, err, cases[i].want);
		assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
		assert_int_equal(h, 1); /* nothing written */
		efx_recs_free(&r);
		free(doc);
	}
	free(stored);
	efx_free(fx);
}

/* An event of the pallet at the store (Digital Link form of its GLN). */
static char *at_store_doc(void)
{
	return efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T15:00:00Z") ",\"action\":\"OBSERVE\","
		       "\"epcList\":[\"" PALLET "\"],\"bizLocation\":{\"id\":\"" STORE_DL "\"}}");
}

static void test_ownership(void **state)
{
	/* p1 owns the store (URN form in the consortium file) */
	const char *locs[2] = {FARM, STORE};
	efx *fx = efx_new(2, locs);
	char *doc, err[512] = "";
	efx_recs r;
	(void)state;
	/* p0 places something at the store (Digital Link form): refused */
	doc = at_store_doc();
	efx_records(fx, 0, doc, &r);
	assert_int_equal(efx_append(fx, &r, err, sizeof(err)), TR_EINVAL);
	assert_non_null(strstr(err, "belongs to partner 'p1'"));
	assert_non_null(strstr(err, "bizLocation"));
	assert_int_equal(ldg_event_admissible(fx->l, r.rec[0], r.len[0], err, sizeof(err)),
			 TR_EINVAL);
	assert_non_null(strstr(err, "p1"));
	efx_recs_free(&r);
	/* p1 may */
	efx_commit(fx, 1, doc, NULL);
	free(doc);
	/* a sub-location of the store (SGLN extension 7) and a destination of
	 * type location are the store's too */
	doc = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T16:00:00Z") ",\"action\":\"OBSERVE\","
		      "\"epcList\":[\"" PALLET "\"],\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.00005.7\"}}");
	efx_records(fx, 0, doc, &r);
	assert_int_equal(efx_append(fx, &r, err, sizeof(err)), TR_EINVAL);
	assert_non_null(strstr(err, "readPoint"));
	efx_recs_free(&r);
	free(doc);
	doc = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T17:00:00Z") ",\"action\":\"OBSERVE\","
		      "\"epcList\":[\"" PALLET "\"]," AT(FARM) ","
		      "\"destinationList\":[{\"type\":\"location\",\"destination\":\"" STORE "\"}]}");
	efx_records(fx, 0, doc, &r);
	assert_int_equal(efx_append(fx, &r, err, sizeof(err)), TR_EINVAL);
	assert_non_null(strstr(err, "destination"));
	efx_recs_free(&r);
	free(doc);
	/* an owning_party destination is not a location: allowed; so is p0's
	 * own farm and an unowned location */
	doc = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T18:00:00Z") ",\"action\":\"OBSERVE\","
		      "\"epcList\":[\"" PALLET "\"]," AT(FARM) ","
		      "\"destinationList\":[{\"type\":\"owning_party\",\"destination\":\"urn:epc:id:pgln:0614141.00005\"}]},"
		      "{\"type\":\"ObjectEvent\"," T("2026-05-02T19:00:00Z") ",\"action\":\"OBSERVE\","
		      "\"epcList\":[\"" PALLET "\"]," AT("urn:epc:id:sgln:0614141.00009.0") "}");
	efx_commit(fx, 0, doc, NULL);
	free(doc);
	efx_free(fx);
}

typedef enum { EV_LOCATION, EV_HASH, EV_EPC, EV_JSON, EV_CONTEXT } ev_tamper;

/* Re-sign record i of r (partner signer) after changing one structured
 * field of its Event, so only the json / fields disagreement is wrong. */
static void event_tamper(const efx *fx, uint32_t signer, efx_recs *r, size_t i, ev_tamper what)
{
	Trellis__Record *rec = trellis__record__unpack(NULL, r->len[i], r->rec[i]);
	Trellis__Event *ev = NULL;
	char *saved_s = NULL, farm_key[] = "https://id.gs1.org/414/0614141000012";
	char *json = NULL;
	ProtobufCBinaryData saved_b = {0, NULL};
	uint8_t *bytes;
	size_t n;
	assert_non_null(rec);
	assert_int_equal(ep_event_unpack(rec->event.data, rec->event.len, &ev), TR_OK);
	switch (what) {
	case EV_LOCATION: /* claim the signer's own farm; the json says the store */
		saved_s = ev->biz_location;
		ev->biz_location = farm_key;
		break;
	case EV_HASH: /* a hash that dodges the duplicate check */
		ev->event_hash[20] = ev->event_hash[20] == '0' ? '1' : '0';
		break;
	case EV_EPC:
		assert_true(ev->n_epcs > 0);
		saved_s = ev->epcs[0];
		ev->epcs[0] = farm_key;
		break;
	case EV_JSON: /* the same event, not compact */
		json = malloc(ev->json.len + 2);
		assert_non_null(json);
		json[0] = '{';
		json[1] = ' ';
		memcpy(json + 2, ev->json.data + 1, ev->json.len - 1);
		saved_b = ev->json;
		ev->json.data = (uint8_t *)json;
		ev->json.len++;
		break;
	case EV_CONTEXT: /* other namespaces: the hash of an extension changes */
		saved_b = ev->context;
		ev->context.data = (uint8_t *)(uintptr_t) "[{\"ex\":\"https://other.example.org/\"}]";
		ev->context.len = strlen((const char *)ev->context.data);
		break;
	}
	n = trellis__event__get_packed_size(ev);
	bytes = malloc(n);
	assert_non_null(bytes);
	trellis__event__pack(ev, bytes);
	if (what == EV_LOCATION)
		ev->biz_location = saved_s;
	if (what == EV_EPC)
		ev->epcs[0] = saved_s;
	if (what == EV_JSON)
		ev->json = saved_b;
	if (what == EV_CONTEXT)
		ev->context = saved_b;
	free(json);
	ep_event_free(ev);
	trellis__record__free_unpacked(rec, NULL);
	free(r->rec[i]);
	assert_int_equal(ldg_record_build(fx->keys[signer], signer, fx->c->chain_id, bytes, n,
					  &r->rec[i], &r->len[i], r->id[i]),
			 TR_OK);
	free(bytes);
}

/* Add one index entry that no event implies, straight into LMDB. */
static void index_extra(efx *fx, int db, const char *key, const uint8_t *val, size_t vlen)
{
	MDB_txn *txn;
	MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v = {vlen, (void *)(uintptr_t)val};
	assert_int_equal(mdb_txn_begin(fx->l->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, fx->l->dbi[db], &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

/* verify fails (full or not) at height with every string of want in err. */
static void verify_names(efx *fx, bool full, uint64_t height, const char *const *want)
{
	uint64_t bad = 0, checked = 0;
	char err[512] = "";
	assert_int_equal(ldg_verify(fx->l, full, &bad, &checked, err, sizeof(err)), TR_EVERIFY);
	assert_int_equal(bad, height);
	for (; *want; want++)
		if (!strstr(err, *want))
			fail_msg("want '%s' in: %s", *want, err);
}

static void verify_passes(efx *fx, bool full)
{
	uint64_t bad = 0, checked = 0;
	char err[512] = "";
	if (ldg_verify(fx->l, full, &bad, &checked, err, sizeof(err)) != TR_OK)
		fail_msg("verify (full=%d): %s", full, err);
}

/* verify --full appends the chain again to a scratch ledger: an index entry
 * no event implies, and a block that breaks the location-ownership rule
 * (written by a node that skipped the rules), are found; the quick verify
 * does not look for either. */
static void test_verify_full_replays(void **state)
{
	static const char ghost[] = "https://id.gs1.org/01/00614141123452/21/GHOST";
	static const char *const want_ids[] = {"ids", "no stored event implies", "GHOST", NULL};
	static const char *const want_ehash[] = {"ehash", "no stored event implies", NULL};
	static const char *const want_owner[] = {"block 2", "record 0", "belongs to partner 'p1'",
						 NULL};
	const char *locs[2] = {FARM, STORE};
	uint8_t val[13] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, id[TR_HASH_LEN] = {7};
	char *doc, err[512] = "", tmpl[64], path[128];
	const char *old_tmp = getenv("TMPDIR");
	efx *fx = story();
	efx_recs r;
	DIR *d;
	(void)state;

	/* every rebuilt index equals the stored one, and the scratch ledger is
	 * removed afterwards (TMPDIR pointed at an empty folder) */
	snprintf(tmpl, sizeof(tmpl), "/tmp/trellis-qt.XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(setenv("TMPDIR", tmpl, 1), 0);
	verify_passes(fx, true);
	assert_non_null(d = opendir(tmpl));
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fail_msg("left in TMPDIR: %s", e->d_name);
	closedir(d);
	/* a TMPDIR that cannot hold the scratch ledger: an error naming it */
	snprintf(path, sizeof(path), "%s/missing", tmpl);
	assert_int_equal(setenv("TMPDIR", path, 1), 0);
	{
		uint64_t bad = 0, checked = 0;
		/* not a verdict on the ledger */
		assert_int_equal(ldg_verify(fx->l, true, &bad, &checked, err, sizeof(err)),
				 TR_EIO);
		assert_non_null(strstr(err, path));
	}
	assert_int_equal(rmdir(tmpl), 0);
	if (old_tmp)
		assert_int_equal(setenv("TMPDIR", old_tmp, 1), 0);
	else
		assert_int_equal(unsetenv("TMPDIR"), 0);

	/* an identifier no event names, pointing at event 1 */
	index_extra(fx, DB_IDS, ghost, val, sizeof(val));
	verify_passes(fx, false);
	verify_names(fx, true, 8, want_ids);
	efx_free(fx);

	/* an event hash no event has */
	fx = story();
	index_extra(fx, DB_EHASH, "ni:///sha-256;00?ver=CBV2.0", id, sizeof(id));
	verify_passes(fx, false);
	verify_names(fx, true, 8, want_ehash);
	efx_free(fx);

	/* p1 owns the store; p0's event there went in without the rules */
	fx = efx_new(2, locs);
	efx_commit(fx, 0,
		   doc = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T14:00:00Z")
				 ",\"action\":\"OBSERVE\",\"epcList\":[\"" PALLET "\"]," AT(FARM) "}"),
		   NULL);
	free(doc);
	doc = at_store_doc();
	efx_records(fx, 0, doc, &r);
	assert_int_equal(efx_append_flags(fx, &r, LDG_RULES_CHECKED, err, sizeof(err)), TR_OK);
	verify_passes(fx, false);
	verify_names(fx, true, 2, want_owner);
	efx_recs_free(&r);
	free(doc);
	efx_free(fx);
}

static void test_rederive(void **state)
{
	/* p1 owns the store: p0 may not place things there */
	const char *locs[2] = {FARM, STORE};
	efx *fx = efx_new(2, locs);
	const struct {
		ev_tamper what;
		size_t idx;
		const char *field;
	} cases[] = {{EV_LOCATION, 1, "'biz_location'"}, {EV_HASH, 0, "'event_hash'"},
		     {EV_EPC, 1, "'epcs'"},		 {EV_JSON, 0, "'json'"},
		     {EV_CONTEXT, 0, "'event_hash'"}};
	char *doc = efx_doc(
		"{\"type\":\"ObjectEvent\"," T("2026-05-02T14:00:00Z") ",\"action\":\"OBSERVE\","
		"\"epcList\":[\"" PALLET "\"]," AT(FARM) ",\"ex:note\":\"x\"},"
		"{\"type\":\"ObjectEvent\"," T("2026-05-02T15:00:00Z") ",\"action\":\"OBSERVE\","
		"\"epcList\":[\"" PALLET "\"]," AT(STORE) "}");
	char *own = efx_doc("{\"type\":\"ObjectEvent\"," T("2026-05-02T14:00:00Z") ",\"action\":\"OBSERVE\","
			    "\"epcList\":[\"" PALLET "\"]," AT(FARM) ",\"ex:note\":\"x\"}");
	(void)state;
	for (size_t k = 0; k < TR_ARRAY_LEN(cases); k++) {
		efx_recs r;
		char err[512] = "", want[32];
		uint64_t h = 99;
		uint8_t head[TR_HASH_LEN], id[TR_HASH_LEN];
		efx_records(fx, 0, doc, &r);
		event_tamper(fx, 0, &r, cases[k].idx, cases[k].what);
		assert_int_equal(efx_append(fx, &r, err, sizeof(err)), TR_EINVAL);
		snprintf(want, sizeof(want), "record %zu: ", cases[k].idx);
		if (!strstr(err, want) || !strstr(err, cases[k].field))
			fail_msg("case %zu: want '%s' and %s in: %s", k, want, cases[k].field, err);
		assert_int_equal(ldg_head(fx->l, &h, head), TR_OK);
		assert_int_equal(h, 0); /* nothing written */
		/* the node's record check (submit, gossip) refuses it too */
		assert_int_equal(ldg_record_check(fx->c, r.rec[cases[k].idx], r.len[cases[k].idx], 0, id,
						  err, sizeof(err)),
				 TR_EINVAL);
		assert_non_null(strstr(err, cases[k].field));
		efx_recs_free(&r);
	}
	/* untampered, p0's own event goes in (the store event would break
	 * the ownership rule) */
	efx_commit(fx, 0, own, NULL);
	free(own);
	free(doc);
	efx_free(fx);
}

static int count_cb(void *ctx, const Trellis__Event *ev, const ldg_event_info *info)
{
	(void)ev;
	(void)info;
	(*(size_t *)ctx)++;
	return 0;
}

/* Damage the index db of the first event: flip a byte of its esum
 * summary, or delete the ids entries of the first identifier it names. */
static void index_damage(efx *fx, int db)
{
	MDB_txn *txn;
	uint8_t key[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, buf[1024];
	MDB_val k = {sizeof(key), key}, v;
	assert_int_equal(mdb_txn_begin(fx->l->env, NULL, 0, &txn), 0);
	if (db == DB_ESUM) {
		assert_int_equal(mdb_get(txn, fx->l->dbi[DB_ESUM], &k, &v), 0);
		assert_true(v.mv_size <= sizeof(buf));
		memcpy(buf, v.mv_data, v.mv_size);
		buf[v.mv_size - 1] ^= 1;
		v.mv_data = buf;
		assert_int_equal(mdb_put(txn, fx->l->dbi[DB_ESUM], &k, &v, 0), 0);
	} else {
		/* LOT_A as an index key: its first event is the harvest */
		k.mv_data = (void *)(uintptr_t) "https://id.gs1.org/01/00614141123452/10/FIELD-A";
		k.mv_size = strlen(k.mv_data);
		assert_int_equal(mdb_del(txn, fx->l->dbi[DB_IDS], &k, NULL), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void verify_fails(efx *fx, uint64_t height, const char *db)
{
	uint64_t bad = 0, checked = 0;
	char err[512] = "";
	assert_int_equal(ldg_verify(fx->l, false, &bad, &checked, err, sizeof(err)), TR_EVERIFY);
	assert_int_equal(bad, height);
	if (!strstr(err, db) || !strstr(err, "record 0"))
		fail_msg("want '%s' and 'record 0' in: %s", db, err);
}

static void test_events_each(void **state)
{
	efx *fx = story();
	size_t n = 0;
	int64_t from, to;
	(void)state;
	assert_int_equal(ldg_events_each(fx->l, INT64_MIN, INT64_MAX, count_cb, &n), TR_OK);
	assert_int_equal(n, 8);
	assert_int_equal(ep_time_ms("2026-05-02T00:00:00Z", &from), TR_OK);
	assert_int_equal(ep_time_ms("2026-05-02T09:30:00Z", &to), TR_OK);
	n = 0;
	assert_int_equal(ldg_events_each(fx->l, from, to, count_cb, &n), TR_OK);
	assert_int_equal(n, 2);
	/* verify still passes with the indexes written */
	{
		uint64_t bad = 0, checked = 0;
		char err[512] = "";
		assert_int_equal(ldg_verify(fx->l, true, &bad, &checked, err, sizeof(err)), TR_OK);
		assert_int_equal(checked, 8);
	}
	/* verify finds a wrong summary and a missing index entry */
	index_damage(fx, DB_ESUM);
	verify_fails(fx, 1, "esum");
	efx_free(fx);
	fx = story();
	index_damage(fx, DB_IDS);
	verify_fails(fx, 1, "ids");
	efx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history),	    cmocka_unit_test(test_lot_source),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_trace_cycle), cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_retraction),  cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_events_each), cmocka_unit_test(test_rederive),
		cmocka_unit_test(test_verify_full_replays),
	};
	if (tr_crypto_init() != TR_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
