/*
 * epcis_hash_test.c: cmocka unit tests for the GS1 CBV 2.0 event hash
 * (ledger/epcis_hash.c) and identifier normalisation (ledger/epcis_id.c).
 *
 * Known answers are read at run time from
 * $TRELLIS_SHARED/epcis/hash-vectors (default ../shared), written by GS1
 * and the reference implementation, never by us: every event of every
 * .jsonld file in examples/ must give its line of the .hashes file and,
 * where a .prehashes file exists, its pre-hash string too; the events of
 * each .json file in expected_equal/ must all hash equal. XML vectors are out of scope.
 * Identifier tests check URN <-> Digital Link for each GS1 key and that
 * malformed URNs are refused; bad events give errors, never crashes.
 *
 * Every test frees what it allocates (clean under valgrind) and prints
 * how many vectors it checked.
 */
#include "common/tr.h"
#include "ledger/epcis_hash.h"
#include "ledger/epcis_id.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <string.h>

#define VECTOR_FILE_MAX (8u << 20)
#define PATH_CAP 4096
#define ERR_CAP 512
#define NAMES_MAX 256

/* ==== Helpers ==== */

static const char *shared_dir(void)
{
	const char *s = getenv("TRELLIS_SHARED");
	return s && *s ? s : "../shared";
}

static char *slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	char err[ERR_CAP];
	if (tr_read_file(path, VECTOR_FILE_MAX, &buf, &n, err, sizeof err) != TR_OK)
		return NULL;
	if (len)
		*len = n;
	return (char *)buf;
}

/* The event list of a document (borrowed from doc). */
static json_t *events_of(json_t *doc)
{
	json_t *body = json_object_get(doc, "epcisBody");
	json_t *l = json_object_get(body, "eventList");
	if (!l) {
		json_t *qr = json_object_get(body, "queryResults");
		l = json_object_get(json_object_get(qr, "resultsBody"), "eventList");
	}
	return l;
}

/* Next line of text (NUL-terminates it in place), NULL at the end. */
static char *next_line(char **cur)
{
	char *s = *cur, *e;
	if (!s || !*s)
		return NULL;
	e = strchr(s, '\n');
	if (e) {
		*e = '\0';
		*cur = e + 1;
	} else {
		*cur = s + strlen(s);
	}
	if (e && e > s && e[-1] == '\r')
		e[-1] = '\0';
	return s;
}

/* out = dir + "/" + the first nlen bytes of name + suffix; fails the test
 * when it does not fit. */
static void path_join(char out[PATH_CAP], const char *dir, const char *name, size_t nlen,
		      const char *suffix)
{
	size_t dl = strlen(dir), sl = strlen(suffix);
	if (dl + 1 + nlen + sl + 1 > PATH_CAP)
		fail_msg("path too long: %s/%s", dir, name);
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nlen);
	memcpy(out + dl + 1 + nlen, suffix, sl + 1);
}

static void shared_path(char out[PATH_CAP], const char *sub)
{
	path_join(out, shared_dir(), sub, strlen(sub), "");
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir ending with suffix (malloc'd; free each and *names). */
static size_t list_dir(const char *dir, const char *suffix, char ***names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);
	char **v = calloc(NAMES_MAX, sizeof(*v));
	assert_non_null(v);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < NAMES_MAX) {
		size_t l = strlen(de->d_name);
		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0) {
			v[n] = strdup(de->d_name);
			assert_non_null(v[n]);
			n++;
		}
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_name);
	*names = v;
	return n;
}

/* ==== Known answers ==== */

static void test_vectors(void **state)
{
	char dir[PATH_CAP], path[PATH_CAP];
	char **names;
	size_t nfiles, events = 0, prehashes = 0, matched = 0;
	(void)state;

	shared_path(dir, "epcis/hash-vectors/examples");
	nfiles = list_dir(dir, ".jsonld", &names);
	assert_true(nfiles >= 15);
	for (size_t f = 0; f < nfiles; f++) {
		size_t base = strlen(names[f]) - strlen(".jsonld");
		json_error_t je;
		ep_ctx *ctx = NULL;
		char *hashes, *pre, *hcur, *pcur;

		path_join(path, dir, names[f], strlen(names[f]), "");
		json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!doc)
			fail_msg("%s: line %d: %s", names[f], je.line, je.text);
		path_join(path, dir, names[f], base, ".hashes");
		hashes = slurp(path, NULL);
		if (!hashes)
			fail_msg("%s: no .hashes file", names[f]);
		path_join(path, dir, names[f], base, ".prehashes");
		pre = slurp(path, NULL);
		hcur = hashes;
		pcur = pre;
		assert_int_equal(ep_ctx_new(doc, &ctx), TR_OK);
		json_t *list = events_of(doc);
		assert_true(json_is_array(list));
		for (size_t i = 0; i < json_array_size(list); i++) {
			char h[EP_HASH_STR_LEN];
			char *want = next_line(&hcur);
			char *wantpre = pre ? next_line(&pcur) : NULL;
			char *got = NULL;
			size_t glen;
			if (!want)
				fail_msg("%s: event %zu has no line in .hashes", names[f], i);
			assert_int_equal(ep_prehash(ctx, json_array_get(list, i), &got, &glen),
					 TR_OK);
			if (wantpre && *wantpre) {
				if (strcmp(got, wantpre) != 0)
					fail_msg("%s: event %zu pre-hash\n got: %s\nwant: %s",
						 names[f], i, got, wantpre);
				prehashes++;
			}
			free(got);
			assert_int_equal(ep_hash(ctx, json_array_get(list, i), h), TR_OK);
			if (strcmp(h, want) != 0)
				fail_msg("%s: event %zu\n got: %s\nwant: %s", names[f], i, h, want);
			matched++;
			events++;
		}
		ep_ctx_free(ctx);
		free(hashes);
		free(pre);
		json_decref(doc);
		free(names[f]);
	}
	free(names);
	print_message("event hash: %zu of %zu events in %zu vector files match (%zu pre-hash strings)\n",
		      matched, events, nfiles, prehashes);
}

static void test_expected_equal(void **state)
{
	char dir[PATH_CAP], path[PATH_CAP];
	char **names;
	size_t n, events = 0;
	(void)state;

	shared_path(dir, "epcis/hash-vectors/expected_equal");
	n = list_dir(dir, ".json", &names);
	assert_true(n >= 1);
	for (size_t f = 0; f < n; f++) {
		json_error_t je;
		ep_ctx *ctx = NULL;
		char first[EP_HASH_STR_LEN], h[EP_HASH_STR_LEN];
		path_join(path, dir, names[f], strlen(names[f]), "");
		json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!doc)
			fail_msg("%s: line %d: %s", names[f], je.line, je.text);
		assert_int_equal(ep_ctx_new(doc, &ctx), TR_OK);
		json_t *list = events_of(doc);
		assert_true(json_array_size(list) >= 2);
		for (size_t i = 0; i < json_array_size(list); i++) {
			assert_int_equal(ep_hash(ctx, json_array_get(list, i), h), TR_OK);
			if (i == 0)
				memcpy(first, h, sizeof h);
			else if (strcmp(first, h) != 0)
				fail_msg("%s: event %zu hashes %s, event 0 %s", names[f], i, h,
					 first);
			events++;
		}
		ep_ctx_free(ctx);
		json_decref(doc);
		free(names[f]);
	}
	free(names);
	print_message("expected_equal: %zu events in %zu files hash equal\n", events, n);
}

/* ==== Same event, other syntax ==== */

static char *hash_of(const char *json_text, char out[EP_HASH_STR_LEN])
{
	json_error_t je;
	json_t *ev = json_loads(json_text, JSON_REJECT_DUPLICATES, &je);
	if (!ev)
		fail_msg("bad test JSON: %s", je.text);
	assert_int_equal(ep_hash(NULL, ev, out), TR_OK);
	json_decref(ev);
	return out;
}

static void test_equal_forms(void **state)
{
	char a[EP_HASH_STR_LEN], b[EP_HASH_STR_LEN];
	(void)state;
	/* URN vs Digital Link on another domain, offset vs Z, precision,
	 * bare vs URN vs Web URI CBV values, member order, recordTime,
	 * eventID, errorDeclaration, and 2.0 vs 2 as quantity. */
	hash_of("{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30+01:00\","
		"\"eventTimeZoneOffset\":\"+01:00\",\"action\":\"OBSERVE\","
		"\"epcList\":[\"urn:epc:id:sgtin:0614141.007346.2017\",\"urn:epc:id:sscc:4012345.0000000333\"],"
		"\"bizStep\":\"shipping\",\"disposition\":\"in_transit\","
		"\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:4012345.012345.998877\",\"quantity\":2.0,\"uom\":\"KGM\"}],"
		"\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.07346.0\"},"
		"\"bizTransactionList\":[{\"type\":\"po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141073467:1\"}]}",
		a);
	hash_of("{\"recordTime\":\"2021-01-01T00:00:00Z\",\"eventID\":\"urn:uuid:x\","
		"\"type\":\"ObjectEvent\",\"readPoint\":{\"id\":\"https://example.com/414/0614141073467\"},"
		"\"eventTime\":\"2020-03-04T10:00:30.000000Z\",\"eventTimeZoneOffset\":\"+01:00\","
		"\"epcList\":[\"https://id.gs1.org/00/040123450000003338\",\"https://brand.example/gtin/00614141073467/ser/2017?x=1\"],"
		"\"action\":\"OBSERVE\",\"bizStep\":\"urn:epcglobal:cbv:bizstep:shipping\","
		"\"disposition\":\"https://ref.gs1.org/cbv/Disp-in_transit\","
		"\"quantityList\":[{\"epcClass\":\"https://id.gs1.org/01/04012345123456/10/998877\",\"quantity\":2,\"uom\":\"KGM\"}],"
		"\"bizTransactionList\":[{\"type\":\"urn:epcglobal:cbv:btt:po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141073467:1\"}],"
		"\"errorDeclaration\":{\"declarationTime\":\"2021-01-01T00:00:00Z\",\"reason\":\"incorrect_data\"}}",
		b);
	assert_string_equal(a, b);
	/* A different EPC is a different event. */
	hash_of("{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30+01:00\","
		"\"eventTimeZoneOffset\":\"+01:00\",\"action\":\"OBSERVE\","
		"\"epcList\":[\"urn:epc:id:sgtin:0614141.007346.2018\",\"urn:epc:id:sscc:4012345.0000000333\"],"
		"\"bizStep\":\"shipping\",\"disposition\":\"in_transit\","
		"\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:4012345.012345.998877\",\"quantity\":2.0,\"uom\":\"KGM\"}],"
		"\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.07346.0\"},"
		"\"bizTransactionList\":[{\"type\":\"po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141073467:1\"}]}",
		b);
	assert_string_not_equal(a, b);
}

/* ==== Bad input ==== */

static void test_bad_events(void **state)
{
	static const char *const bad[] = {
		"[]",
		"\"ObjectEvent\"",
		"{\"eventTime\":\"2020-03-04T11:00:30Z\"}",
		"{\"type\":\"ObjectEvent\"}",
		"{\"type\":7,\"eventTime\":\"2020-03-04T11:00:30Z\"}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"yesterday\"}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-02-30T11:00:30Z\"}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"epcList\":\"x\"}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"readPoint\":[1]}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"quantityList\":[1]}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"sensorElementList\":[{\"sensorReport\":{}}]}",
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"epcList\":[\"a\\u0000b\"]}",
	};
	char h[EP_HASH_STR_LEN];
	char *pre = NULL;
	size_t len;
	(void)state;

	assert_int_equal(ep_hash(NULL, NULL, h), TR_EINVAL);
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++) {
		json_error_t je;
		json_t *v = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		assert_non_null(v);
		int rc = ep_hash(NULL, v, h);
		if (rc == TR_OK)
			fail_msg("bad event %zu accepted: %s", i, bad[i]);
		assert_int_equal(ep_prehash(NULL, v, &pre, &len), rc);
		json_decref(v);
	}
	/* Nesting past EP_DEPTH_MAX is refused, not recursed into. */
	{
		char deep[4096];
		size_t n = 0;
		n += (size_t)snprintf(deep + n, sizeof deep - n,
				      "{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\",\"x:y\":");
		for (int i = 0; i < EP_DEPTH_MAX + 5; i++)
			n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"a\":");
		n += (size_t)snprintf(deep + n, sizeof deep - n, "1");
		for (int i = 0; i < EP_DEPTH_MAX + 6; i++)
			n += (size_t)snprintf(deep + n, sizeof deep - n, "}");
		json_error_t je;
		json_t *v = json_loads(deep, 0, &je);
		assert_non_null(v);
		assert_int_equal(ep_hash(NULL, v, h), TR_ETOOBIG);
		json_decref(v);
	}
	/* A bad @context is refused. */
	{
		json_error_t je;
		ep_ctx *ctx = NULL;
		json_t *d = json_loads("{\"@context\":7}", 0, &je);
		assert_int_equal(ep_ctx_new(d, &ctx), TR_EINVAL);
		assert_null(ctx);
		json_decref(d);
		d = json_loads("{\"x:ignoreFields\":\"a\"}", 0, &je);
		assert_int_equal(ep_ctx_new(d, &ctx), TR_EINVAL);
		json_decref(d);
	}
}

/* Whole-number quantities are written by hand, not by "%.0f": the
 * pre-hash must not change. */
static void test_whole_numbers(void **state)
{
	static const double vals[] = {1,    -1,    7,      10,      -10,      100,   123456789,
				      1e15, -1e15, 9007199254740993.0, 123456789012345678.0,
				      999999999999999999.0, 1e18, -1e18, 1e19, 4.5e20, 0.5, -0.0};
	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(vals); i++) {
		char doc[512], want[512], *pre = NULL;
		size_t len;
		json_error_t je;
		snprintf(doc, sizeof doc,
			 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-03-04T11:00:30Z\","
			 "\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:4012345.012345.998877\","
			 "\"quantity\":%.17g}]}",
			 vals[i]);
		json_t *v = json_loads(doc, 0, &je);
		assert_non_null(v);
		assert_int_equal(ep_prehash(NULL, v, &pre, &len), TR_OK);
		if (vals[i] == 0)
			snprintf(want, sizeof want, "quantity=0");
		else if (vals[i] == (double)(long long)vals[i] || vals[i] >= 1e18 || vals[i] <= -1e18)
			snprintf(want, sizeof want, "quantity=%.0f", vals[i]);
		else
			snprintf(want, sizeof want, "quantity=%g", vals[i]);
		if (!strstr(pre, want))
			fail_msg("%.17g: want '%s' in %s", vals[i], want, pre);
		free(pre);
		json_decref(v);
	}
}

static void test_times(void **state)
{
	static const char *const ok[][2] = {
		{"2020-03-04T11:00:30.000+01:00", "2020-03-04T10:00:30.000Z"},
		{"2022-02-15T01:33:31.116999-06:00", "2022-02-15T07:33:31.116Z"},
		{"2020-01-01T00:30:00+0100", "2019-12-31T23:30:00.000Z"},
		{"2020-03-01T00:00Z", "2020-03-01T00:00:00.000Z"},
		{"2020-02-28T23:00:00-01:00", "2020-02-29T00:00:00.000Z"},
		{"2019-10-21T14:45:00Z", "2019-10-21T14:45:00.000Z"},
		{"2020-03-04T11:00:30.5", "2020-03-04T11:00:30.500Z"},
		{"0001-01-01T01:02:03.04+01:00", "0001-01-01T00:02:03.040Z"},
		{"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"},
	};
	static const char *const bad[] = {"", "2020-13-01T00:00:00Z", "2020-01-01", "0001-01-01T00:00:00+01:00",
					  "2020-01-01T24:00:00Z", "2020-01-01T00:00:00+25:00",
					  "2020-01-01T00:00:00Zjunk", "2020-01-01T00:00:00."};
	char out[25];
	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(ok); i++) {
		assert_int_equal(ep_time_utc(ok[i][0], strlen(ok[i][0]), out), TR_OK);
		assert_string_equal(out, ok[i][1]);
	}
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++)
		if (ep_time_utc(bad[i], strlen(bad[i]), out) == TR_OK)
			fail_msg("bad time accepted: '%s'", bad[i]);
}

/* ==== Identifiers ==== */

static void test_id_keys(void **state)
{
	/* Each pair: two spellings, one key (the second column is the key). */
	static const char *const same[][2] = {
		/* indicator digit = first digit of the item reference (TDS) */
		{"urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"},
		{"urn:epc:id:sgtin:0614141.007346.2017", "https://id.gs1.org/01/00614141073467/21/2017"},
		{"https://example.com/gtin/00614141073467/ser/2017?linkType=all", "https://id.gs1.org/01/00614141073467/21/2017"},
		{"https://id.gs1.org/01/614141073467/21/2017", "https://id.gs1.org/01/00614141073467/21/2017"},
		{"https://id.gs1.org/01/00614141073467/10/LOT1/21/2017", "https://id.gs1.org/01/00614141073467/21/2017"},
		{"https://id.gs1.org/01/00614141073467/22/v2/21/2017", "https://id.gs1.org/01/00614141073467/21/2017"},
		{"urn:epc:id:sscc:4012345.0000000333", "https://id.gs1.org/00/040123450000003338"},
		{"https://id.example.org/sscc/040123450000003338", "https://id.gs1.org/00/040123450000003338"},
		{"urn:epc:id:sgln:4012345.00011.987", "https://id.gs1.org/414/4012345000115/254/987"},
		{"urn:epc:id:sgln:4012345.00011.0", "https://id.gs1.org/414/4012345000115"},
		{"https://id.gs1.org/gln/4012345000115", "https://id.gs1.org/414/4012345000115"},
		{"urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"},
		{"https://id.gs1.org/01/04012345123456/lot/998877", "https://id.gs1.org/01/04012345123456/10/998877"},
		{"urn:epc:id:grai:4012345.00022.334455", "https://id.gs1.org/8003/04012345000221334455"},
		{"urn:epc:id:giai:4012345.ABC345", "https://id.gs1.org/8004/4012345ABC345"},
		{"urn:epc:id:gdti:4012345.00009.PO-4711", "https://id.gs1.org/253/4012345000092PO-4711"},
		{"urn:epc:id:gsrn:4012345.0000006765", "https://id.gs1.org/8018/401234500000067657"},
		{"urn:epc:id:gsrnp:4012345.0000000007", "https://id.gs1.org/8017/401234500000000074"},
		{"urn:epc:id:pgln:4000001.00000", "https://id.gs1.org/417/4000001000005"},
		{"urn:epc:id:sgcn:4012345.99999.44", "https://id.gs1.org/255/401234599999044"},
		{"urn:epc:id:cpi:0614141.123ABC.123456789", "https://id.gs1.org/8010/0614141123ABC/8011/123456789"},
		{"urn:epc:id:ginc:0614141.xyz47", "https://id.gs1.org/401/0614141xyz47"},
		{"urn:epc:id:gsin:4012345.222333444", "https://id.gs1.org/402/40123452223334442"},
		{"urn:epc:id:itip:4012345.011111.01.02.987", "https://id.gs1.org/8006/040123451111180102/21/987"},
		{"urn:epc:id:upui:1234567.098765.51qIgY", "https://id.gs1.org/01/01234567987651/235/51qIgY"},
		{"urn:epc:idpat:sgtin:4012345.012345.*", "https://id.gs1.org/01/04012345123456"},
		/* escapes: one canonical encoding whatever the spelling */
		{"urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()", "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29"},
		{"https://id.gs1.org/01/80614141123458/21/6789%2f%26%25\"!%3f()", "https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29"},
		/* not GS1: unchanged */
		{"geo:47.506694,11.104301", "geo:47.506694,11.104301"},
		{"urn:epcglobal:cbv:bt:0614141073467:1152", "urn:epcglobal:cbv:bt:0614141073467:1152"},
		{"https://example.com/products/123", "https://example.com/products/123"},
		{"urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8", "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"},
	};
	static const char *const malformed[] = {
		"urn:epc:id:sgtin:0614141.107346",       /* no serial */
		"urn:epc:id:sgtin:0614141.10734.2017",   /* 12 digits */
		"urn:epc:id:sgtin:061414.1107346.2017x", /* fine prefix? 6+7=13: valid */
		"urn:epc:id:sgtin:0614141.107346.",      /* empty serial */
		"urn:epc:id:sgtin:0614141.107346.a#b",   /* bad character */
		"urn:epc:id:sgtin:0614141.107346.%zz",   /* bad escape */
		"urn:epc:id:sgtin:0614141.107346.%2",    /* cut escape */
		"urn:epc:id:sgtin:0614141.107346.123456789012345678901", /* 21 chars */
		"urn:epc:id:sscc:4012345.000000033",     /* 16 digits */
		"urn:epc:id:sgln:4012345.0001.0",        /* 11 digits */
		"urn:epc:id:sgln:40123.4500011.0",       /* prefix of 5 */
		"urn:epc:id:nosuch:1.2.3",
		"urn:epc:id:sgtin",
		"urn:epc:id:",
		"urn:epc:class:lgtin:4012345.012345.",
		"urn:epc:idpat:sgtin:4012345.012345.12",
		"https://id.gs1.org/01/12345/21/1",      /* GTIN of 5 */
		"https://id.gs1.org/00/04012345000000333",
		"https://id.gs1.org/01/00614141073467/21/2017/10/L1",
	};
	char out[EP_ID_MAX + 1];
	size_t nbad = 0;
	(void)state;

	for (size_t i = 0; i < TR_ARRAY_LEN(same); i++) {
		if (ep_id_key(same[i][0], out, sizeof out) != TR_OK)
			fail_msg("key of '%s' failed", same[i][0]);
		if (strcmp(out, same[i][1]) != 0)
			fail_msg("key of '%s'\n got: %s\nwant: %s", same[i][0], out, same[i][1]);
		/* idempotent */
		assert_int_equal(ep_id_key(same[i][1], out, sizeof out), TR_OK);
		assert_string_equal(out, same[i][1]);
	}
	for (size_t i = 0; i < TR_ARRAY_LEN(malformed); i++) {
		if (i == 2)
			continue; /* the control: a valid 6-digit prefix is not malformed */
		int rc = ep_id_key(malformed[i], out, sizeof out);
		if (rc != TR_EINVAL)
			fail_msg("malformed '%s' gave %d (%s)", malformed[i], rc, rc ? "" : out);
		nbad++;
	}
	assert_int_equal(ep_id_key("urn:epc:id:sgtin:061414.1107346.2017", out, sizeof out), TR_OK);
	assert_string_equal(out, "https://id.gs1.org/01/10614141073464/21/2017");
	/* Output too small, input too long. */
	assert_int_equal(ep_id_key("urn:epc:id:sgtin:0614141.107346.2017", out, 20), TR_ETOOBIG);
	{
		char big[EP_ID_MAX + 10];
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		assert_int_equal(ep_id_key(big, out, sizeof out), TR_ETOOBIG);
	}
	/* Every prefix of a valid URN is refused or unchanged, never a crash. */
	{
		const char *u = "urn:epc:id:itip:4012345.011111.01.02.987";
		/* up to "...01.02." (empty serial); longer prefixes are valid */
		for (size_t n = 0; n + 3 <= strlen(u); n++) {
			int rc = ep_id_to_dl(u, n, EP_ID_KEY, out, sizeof out);
			assert_true(rc == TR_EINVAL || rc == TR_ENOTFOUND);
		}
	}
	print_message("identifiers: %zu spellings, %zu malformed URNs refused\n",
		      TR_ARRAY_LEN(same), nbad);
}

static void test_cbv_values(void **state)
{
	static const char *const same[][2] = {
		{"shipping", "shipping"},
		{"urn:epcglobal:cbv:bizstep:shipping", "shipping"},
		{"https://ref.gs1.org/cbv/BizStep-shipping", "shipping"},
		{"https://gs1.org/voc/BizStep-shipping", "shipping"},
		{"cbv:BizStep-shipping", "shipping"},
		{"urn:epcglobal:cbv:disp:in_transit", "in_transit"},
		{"https://ref.gs1.org/cbv/Disp-in_transit", "in_transit"},
		{"urn:epcglobal:cbv:btt:po", "po"},
		{"https://ref.gs1.org/cbv/BTT-po", "po"},
		{"urn:epcglobal:cbv:sdt:owning_party", "owning_party"},
		{"https://ref.gs1.org/cbv/SDT-owning_party", "owning_party"},
		{"urn:epcglobal:cbv:er:incorrect_data", "incorrect_data"},
		{"http://epcis.example.com/user/vocab/bizstep/exampling", "http://epcis.example.com/user/vocab/bizstep/exampling"},
		{"https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/BizStep-"},
	};
	char out[EP_ID_MAX + 1];
	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(same); i++) {
		assert_int_equal(ep_cbv_bare(same[i][0], out, sizeof out), TR_OK);
		if (strcmp(out, same[i][1]) != 0)
			fail_msg("bare of '%s': got '%s', want '%s'", same[i][0], out, same[i][1]);
	}
	assert_int_equal(ep_cbv_bare("urn:epcglobal:cbv:bizstep:shipping", out, 4), TR_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_expected_equal),
		cmocka_unit_test(test_equal_forms),
		cmocka_unit_test(test_bad_events),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_whole_numbers),
		cmocka_unit_test(test_id_keys),
		cmocka_unit_test(test_cbv_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
