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
 */
#include "tests/unit/epcis_fixture.h"

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

#define T(time) "\"eventTime\":\"" time "\",\"eventTimeZoneOffset\":\"+00:00\""
#define QTY(cls, q) "{\"epcClass\":\"" cls "\",\"quantity\":" #q ",\"uom\":\"KGM\"}"
#define AT(loc) "\"bizLocation\":{\"id\":\"" loc "\"}"

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

static void test_ownership(void **state)
{
	/* p1 owns the store (URN form in the consortium file) */
	const char *locs[2] = {FARM, STORE};
	efx *fx = efx_new(2, locs);
	char ev[1024], *doc, err[512] = "";
	efx_recs r;
	(void)state;
	/* p0 places something at the store (Digital Link form): refused */
	snprintf(ev, sizeof(ev),
		 "{\"type\":\"ObjectEvent\"," T("2026-05-02T15:00:00Z") ",\"action\":\"OBSERVE\","
		 "\"epcList\":[\"" PALLET "\"],\"bizLocation\":{\"id\":\"%s\"}}",
		 STORE_DL);
	doc = efx_doc(ev);
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

static int count_cb(void *ctx, const Trellis__Event *ev, const ldg_event_info *info)
{
	(void)ev;
	(void)info;
	(*(size_t *)ctx)++;
	return 0;
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
	efx_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history),	    cmocka_unit_test(test_trace),
		cmocka_unit_test(test_trace_cycle), cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_retraction),  cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_events_each),
	};
	if (tr_crypto_init() != TR_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
