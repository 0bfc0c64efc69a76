/*
 * epcis_map_test.c: cmocka tests of the EPCIS mapping (ledger/epcis_map.h).
 *
 * Every example document under $TRELLIS_SHARED/epcis/examples (the
 * *.jsonld at the top and the .json / .jsonld files of its subfolders,
 * not xml/) is parsed, validated, and each event mapped: the Event's json
 * must parse back to exactly the original event (lossless, extensions
 * included), its event_hash must be ep_hash of the event, and the bytes
 * must unpack again. AssociationEvent-h.jsonld repeats "eventID" in one
 * object: it must be refused by the parser (duplicate keys), never mapped.
 * Then the structured fields of known events, identifiers in both
 * syntaxes giving one key, and hostile Event bytes.
 */
#include "tests/unit/epcis_fixture.h"

#include "ledger/epcis_id.h"

#include <glob.h>

#define EXAMPLES_MAX 128

static const char *shared_dir(void)
{
	const char *s = getenv("TRELLIS_SHARED");
	return s && *s ? s : "../shared";
}

/* The example files, sorted; *n how many. */
static size_t example_files(char files[EXAMPLES_MAX][512])
{
	static const char *const patterns[] = {"/epcis/examples/*.jsonld",
					       "/epcis/examples/*/*.jsonld",
					       "/epcis/examples/*/*.json"};
	size_t n = 0;
	for (size_t p = 0; p < TR_ARRAY_LEN(patterns); p++) {
		char pat[512];
		glob_t g;
		snprintf(pat, sizeof(pat), "%s%s", shared_dir(), patterns[p]);
		if (glob(pat, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			if (strstr(g.gl_pathv[i], "/xml/"))
				continue;
			assert_true(n < EXAMPLES_MAX);
			snprintf(files[n++], 512, "%s", g.gl_pathv[i]);
		}
		globfree(&g);
	}
	return n;
}

static void map_one(const ep_ctx *ctx, json_t *context, json_t *event, const char *file,
		    size_t i)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	char err[512] = "", hash[EP_HASH_STR_LEN], want[EP_HASH_STR_LEN];
	Trellis__Event *ev = NULL;
	json_t *back = NULL;

	if (ep_map_event(ctx, context, event, "event", &bytes, &len, hash, err, sizeof(err)))
		fail_msg("%s: event %zu: %s", file, i, err);
	assert_int_equal(ep_hash(ctx, event, want), TR_OK);
	assert_string_equal(hash, want);
	assert_int_equal(ep_event_unpack(bytes, len, &ev), TR_OK);
	assert_string_equal(ev->event_hash, want);
	assert_string_equal(ev->type, json_string_value(json_object_get(event, "type")));
	assert_int_equal(ep_event_json(ev, &back), TR_OK);
	if (!json_equal(back, event))
		fail_msg("%s: event %zu does not round-trip losslessly", file, i);
	if (context) {
		json_error_t je;
		json_t *c = json_loadb((const char *)ev->context.data, ev->context.len,
				       JSON_DECODE_ANY, &je);
		assert_non_null(c);
		assert_true(json_equal(c, context));
		json_decref(c);
	}
	json_decref(back);
	ep_event_free(ev);
	free(bytes);
}

static void test_examples(void **state)
{
	char files[EXAMPLES_MAX][512];
	size_t n = example_files(files), events = 0, docs = 0;
	(void)state;
	assert_true(n >= 30);
	for (size_t f = 0; f < n; f++) {
		json_error_t je;
		json_t *doc = json_load_file(files[f], JSON_REJECT_DUPLICATES, &je), *list;
		ep_ctx *ctx = NULL;
		char err[512] = "";
		if (strstr(files[f], "AssociationEvent-h.jsonld")) {
			assert_null(doc); /* "eventID" twice in one event */
			assert_non_null(strstr(je.text, "duplicate"));
			continue;
		}
		if (!doc)
			fail_msg("%s: line %d: %s", files[f], je.line, je.text);
		if (ep_validate_document(doc, err, sizeof(err)) != TR_OK)
			fail_msg("%s refused by validation: %s", files[f], err);
		assert_int_equal(ep_document_events(doc, &list, NULL), TR_OK);
		assert_int_equal(ep_ctx_new(doc, &ctx), TR_OK);
		for (size_t i = 0; i < json_array_size(list); i++, events++)
			map_one(ctx, json_object_get(doc, "@context"), json_array_get(list, i), files[f],
				i);
		ep_ctx_free(ctx);
		json_decref(doc);
		docs++;
	}
	assert_true(docs >= 30);
	if (events < 35 || docs < 31)
		fail_msg("only %zu events in %zu documents", events, docs);
}

static Trellis__Event *map_text(const char *event_text)
{
	json_error_t je;
	json_t *e = json_loads(event_text, JSON_REJECT_DUPLICATES, &je);
	uint8_t *bytes;
	size_t len;
	char err[512] = "";
	Trellis__Event *ev;
	assert_non_null(e);
	if (ep_validate_event(e, NULL, err, sizeof(err)) != TR_OK)
		fail_msg("test event refused: %s", err);
	if (ep_map_event(NULL, NULL, e, "event", &bytes, &len, NULL, err, sizeof(err)) != TR_OK)
		fail_msg("ep_map_event: %s", err);
	assert_int_equal(ep_event_unpack(bytes, len, &ev), TR_OK);
	free(bytes);
	json_decref(e);
	return ev;
}

static void test_structured_fields(void **state)
{
	Trellis__Event *ev = map_text(
		"{\"type\":\"TransformationEvent\",\"eventTime\":\"2013-10-31T14:58:56.591+02:00\","
		"\"eventTimeZoneOffset\":\"+02:00\","
		"\"inputEPCList\":[\"urn:epc:id:sgtin:4012345.011122.25\"],"
		"\"inputQuantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:4012345.011111.4444\",\"quantity\":10.5,\"uom\":\"KGM\"}],"
		"\"outputEPCList\":[\"https://id.gs1.org/01/04012345077893/21/25\"],"
		"\"transformationID\":\"urn:epc:id:gdti:0614141.12345.400\","
		"\"bizStep\":\"urn:epcglobal:cbv:bizstep:commissioning\",\"disposition\":\"in_progress\","
		"\"readPoint\":{\"id\":\"urn:epc:id:sgln:4012345.00001.0\"},"
		"\"bizTransactionList\":[{\"type\":\"po\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141073467:PO-1\"}],"
		"\"ilmd\":{\"cbvmda:lotNumber\":\"LOT9\"}}");
	(void)state;
	assert_string_equal(ev->type, "TransformationEvent");
	assert_int_equal(ev->event_time_ms, 1383224336591LL);
	assert_string_equal(ev->biz_step, "commissioning");
	assert_string_equal(ev->disposition, "in_progress");
	assert_string_equal(ev->read_point, "https://id.gs1.org/414/4012345000016");
	assert_int_equal(ev->n_input_epcs, 1);
	assert_string_equal(ev->input_epcs[0], "https://id.gs1.org/01/04012345111224/21/25");
	assert_int_equal(ev->n_input_quantities, 1);
	assert_string_equal(ev->input_quantities[0]->epc_class,
			    "https://id.gs1.org/01/04012345111118/10/4444");
	assert_string_equal(ev->input_quantities[0]->quantity, "10.5");
	assert_string_equal(ev->input_quantities[0]->uom, "KGM");
	assert_int_equal(ev->n_output_epcs, 1);
	assert_string_equal(ev->output_epcs[0], "https://id.gs1.org/01/04012345077893/21/25");
	assert_true(ev->transformation_id[0] != '\0');
	assert_int_equal(ev->n_biz_transactions, 1);
	assert_string_equal(ev->biz_transactions[0]->type, "po");
	assert_string_equal(ev->ilmd_lot, "LOT9");
	assert_false(ev->error_declaration);
	ep_event_free(ev);

	ev = map_text(
		"{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-01-01T00:00:00Z\","
		"\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
		"\"epcList\":[\"urn:epc:id:sscc:0614141.1234567890\"],"
		"\"sourceList\":[{\"type\":\"urn:epcglobal:cbv:sdt:location\",\"source\":\"urn:epc:id:sgln:0614141.00001.0\"}],"
		"\"destinationList\":[{\"type\":\"location\",\"destination\":\"https://id.gs1.org/414/0614141000036\"}],"
		"\"errorDeclaration\":{\"declarationTime\":\"2020-01-02T00:00:00Z\",\"reason\":\"incorrect_data\"}}");
	assert_string_equal(ev->action, "OBSERVE");
	assert_string_equal(ev->epcs[0], "https://id.gs1.org/00/106141412345678908");
	assert_string_equal(ev->sources[0]->type, "location");
	assert_string_equal(ev->sources[0]->id, "https://id.gs1.org/414/0614141000012");
	assert_string_equal(ev->destinations[0]->id, "https://id.gs1.org/414/0614141000036");
	assert_true(ev->error_declaration);
	assert_string_equal(ev->error_reason, "incorrect_data");
	ep_event_free(ev);
}

/* One item in EPC URN and Digital Link syntax: one key, one event hash. */
static void test_syntaxes_one_hash(void **state)
{
	static const char *const forms[] = {"urn:epc:id:sgtin:0614141.107346.2017",
					    "https://id.gs1.org/01/10614141073464/21/2017"};
	char hashes[2][EP_HASH_STR_LEN];
	char keys[2][EP_ID_MAX + 64];
	(void)state;
	for (int i = 0; i < 2; i++) {
		char text[1024];
		Trellis__Event *ev;
		snprintf(text, sizeof(text),
			 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-01-01T00:00:00Z\","
			 "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"epcList\":[\"%s\"],"
			 "\"bizStep\":\"%s\"}",
			 forms[i], i ? "https://ref.gs1.org/cbv/BizStep-shipping" : "shipping");
		ev = map_text(text);
		snprintf(hashes[i], sizeof(hashes[i]), "%s", ev->event_hash);
		snprintf(keys[i], sizeof(keys[i]), "%s", ev->epcs[0]);
		assert_string_equal(ev->biz_step, "shipping");
		ep_event_free(ev);
	}
	assert_string_equal(hashes[0], hashes[1]);
	assert_string_equal(keys[0], keys[1]);
}

static void test_hostile_bytes(void **state)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	Trellis__Event e = TRELLIS__EVENT__INIT, *out = NULL;
	uint8_t buf[64];
	size_t n;
	(void)state;
	assert_int_equal(ep_event_unpack(garbage, sizeof(garbage), &out), TR_EINVAL);
	assert_null(out);
	/* an empty json is refused */
	n = trellis__event__pack(&e, buf);
	assert_int_equal(ep_event_unpack(buf, n, &out), TR_EINVAL);
	/* an unknown field (99, varint) is refused */
	e.json.data = (uint8_t *)(uintptr_t)"{}";
	e.json.len = 2;
	n = trellis__event__pack(&e, buf);
	buf[n++] = 0x98; /* tag 99, wire type 0 */
	buf[n++] = 0x06;
	buf[n++] = 0x01;
	assert_int_equal(ep_event_unpack(buf, n, &out), TR_EINVAL);
	/* every truncation of a real Event is refused or unpacks: never a crash */
	{
		Trellis__Event *ev = map_text("{\"type\":\"ObjectEvent\",\"eventTime\":\"2020-01-01T00:00:00Z\","
					      "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\","
					      "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.2017\"]}");
		size_t len = trellis__event__get_packed_size(ev);
		uint8_t *b = malloc(len);
		assert_non_null(b);
		trellis__event__pack(ev, b);
		for (size_t cut = 0; cut < len; cut++) {
			Trellis__Event *t = NULL;
			if (ep_event_unpack(b, cut, &t) == TR_OK)
				ep_event_free(t);
		}
		free(b);
		ep_event_free(ev);
	}
}

/* Held to jansson (json_loadb with duplicate keys refused, any value):
 * what ep_json_load_canonical reads, jansson reads too, into an equal tree
 * whose dump is those very bytes. *fast says whether the fast reader took
 * x. */
static bool canon_sound(const char *x, size_t n, bool *fast)
{
	json_error_t je;
	json_t *v = json_loadb(x, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	json_t *f = ep_json_load_canonical((const uint8_t *)x, n, true);
	bool ok = true;
	char *fd = NULL;
	*fast = f != NULL;
	{ /* without "any": a bare value is refused, like json_loadb does */
		json_t *v0 = json_loadb(x, n, JSON_REJECT_DUPLICATES, &je);
		json_t *f0 = ep_json_load_canonical((const uint8_t *)x, n, false);
		if (f0 && (!v0 || !json_equal(f0, v0))) {
			print_error("fast reader (not any) took %.*s\n", (int)n, x);
			ok = false;
		}
		if ((f0 != NULL) != (f && v0)) {
			print_error("fast reader (not any) differs on %.*s\n", (int)n, x);
			ok = false;
		}
		json_decref(v0);
		json_decref(f0);
	}
	if (f && (!v || !json_equal(f, v))) {
		print_error("fast reader took %.*s: jansson %s\n", (int)n, x,
			    v ? "reads another tree" : je.text);
		ok = false;
	}
	if (f) {
		fd = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		assert_non_null(fd);
		if (strlen(fd) != n || memcmp(fd, x, n) != 0) {
			print_error("fast reader's tree of %.*s dumps as %s\n", (int)n, x, fd);
			ok = false;
		}
	}
	free(fd);
	json_decref(v);
	json_decref(f);
	return ok;
}

/* Deterministic mutations (xorshift) of s: insert, delete or replace one
 * byte, the new byte drawn from what makes JSON differ in form. */
static size_t mutate(uint64_t *seed, const char *s, size_t n, char *out, size_t cap)
{
	static const char pool[] = " \t\n\\/\"u0123456789AaFfbnrt-+.eE,:{}[]\x01\x7f\xc3\xa9\xc0"
				   "\x80\xbf\xed\xa0\xe0\xf0\xf4\x90\xf5\xff";
	uint64_t x = *seed;
	size_t at, m;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	*seed = x;
	at = n ? (size_t)(x % n) : 0;
	if (n + 2 > cap)
		return 0;
	memcpy(out, s, n);
	m = n;
	switch ((x >> 32) % 3) {
	case 0: /* insert */
		memmove(out + at + 1, out + at, n - at);
		out[at] = pool[(x >> 40) % (sizeof(pool) - 1)];
		m = n + 1;
		break;
	case 1: /* delete */
		if (n) {
			memmove(out + at, out + at + 1, n - at - 1);
			m = n - 1;
		}
		break;
	default:
		if (n)
			out[at] = pool[(x >> 40) % (sizeof(pool) - 1)];
	}
	return m;
}

static void test_json_canonical(void **state)
{
	static const struct {
		const char *text;
		bool canonical;
	} cases[] = {
		{"{\"a\":1,\"b\":[true,false,null],\"c\":{}}", true},
		{"{\"a\": 1}", false},          /* whitespace */
		{"{\"a\":1} ", false},          /* trailing whitespace */
		{"{\"a\":-0}", false},          /* jansson writes 0 */
		{"{\"a\":-12}", true},
		{"{\"a\":1.5}", false},         /* reals: left to jansson */
		{"{\"a\":1e3}", false},
		{"{\"a\":123456789012345678}", true},
		{"{\"a\":1234567890123456789}", false}, /* 19 digits: left to jansson */
		{"{\"a\":\"x\\/y\"}", false},   /* jansson writes / */
		{"{\"a\":\"\\u0041\"}", false}, /* jansson writes A */
		{"{\"a\":\"\\u00e9\"}", false}, /* jansson writes UTF-8 */
		{"{\"a\":\"\xc3\xa9\x7f\"}", true},
		{"{\"a\":\"\\u001F\"}", true},
		{"{\"a\":\"\\u001f\"}", false}, /* jansson writes capitals */
		{"{\"a\":\"\\u0008\"}", false}, /* jansson writes \b */
		{"{\"a\":\"\\u0009\"}", false}, /* jansson writes \t */
		{"{\"a\":\"\\u000A\"}", false}, /* jansson writes \n */
		{"{\"a\":\"\\u000C\"}", false}, /* jansson writes \f */
		{"{\"a\":\"\\u000D\"}", false}, /* jansson writes \r */
		{"{\"a\":\"\\u0000\"}", false}, /* jansson refuses NUL */
		{"{\"a\":\"\\b\\f\\n\\r\\t\\\"\\\\\"}", true},
		{"\"bare\"", true},
		{"[1,\"x\"]", true},
		{"{\"a\":\"\xf0\x9f\x8d\x85\"}", true},  /* U+1F345 as UTF-8 */
		{"{\"a\":1,\"a\":2}", true},             /* jansson refuses: duplicate */
		{"{\"a\":\"\xed\xa0\x80\"}", true},     /* jansson refuses: a surrogate */
		{"{\"a\":\"\xc0\xaf\"}", true},         /* jansson refuses: overlong */
		{"{\"a\":\"\xe0\x80\x80\"}", true},     /* jansson refuses: overlong */
		{"{\"a\":\"\xf0\x8f\xbf\xbf\"}", true}, /* jansson refuses: overlong */
		{"{\"a\":\"\xf4\x90\x80\x80\"}", true}, /* jansson refuses: past U+10FFFF */
		{"{\"a\":\"\xf4\x8f\xbf\xbf\"}", true}, /* U+10FFFF */
		{"{\"a\":\"\xe0\xa0\x80\"}", true},     /* U+0800 */
		{"{\"a\":\"\xe2\x80\xa8\"}", true},     /* U+2028: jansson writes it as it is */
		{"{\"a\":99999999999999999999}", false},  /* jansson refuses: too big */
		{"{\"a\":-9223372036854775808}", false}, /* 19 digits: left to jansson */
		{"{\"a\":-999999999999999999}", true},
	};
	char files[EXAMPLES_MAX][512], mut[8192], mut2[8192];
	size_t nf = example_files(files), texts = 0, tried = 0;
	uint64_t seed = 0x9e3779b97f4a7c15u;
	(void)state;
	bool fast;
	size_t fast_texts = 0, fast_mut = 0;
	char deep[2 * (EP_JSON_FAST_DEPTH + 1) + 1];
	for (size_t i = 0; i < TR_ARRAY_LEN(cases); i++) {
		size_t n = strlen(cases[i].text);
		json_error_t je;
		json_t *v = json_loadb(cases[i].text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		assert_true(canon_sound(cases[i].text, n, &fast));
		/* the fast reader takes exactly the canonical texts jansson reads */
		if (fast != (v && cases[i].canonical))
			fail_msg("fast reader %s %s", fast ? "took" : "left", cases[i].text);
		json_decref(v);
	}
	/* a bare value only when asked for; nesting past EP_JSON_FAST_DEPTH is
	 * left to jansson */
	assert_null(ep_json_load_canonical((const uint8_t *)"\"bare\"", 6, false));
	memset(deep, '[', EP_JSON_FAST_DEPTH + 1);
	memset(deep + EP_JSON_FAST_DEPTH + 1, ']', EP_JSON_FAST_DEPTH + 1);
	assert_null(ep_json_load_canonical((const uint8_t *)deep, sizeof(deep) - 1, false));
	assert_true(canon_sound(deep + 1, sizeof(deep) - 3, &fast));
	assert_true(fast); /* one level less is taken */
	/* every event and @context of the examples, as trellis submit stores
	 * them, and 300 mutations of each */
	for (size_t f = 0; f < nf; f++) {
		json_error_t je;
		json_t *doc = json_load_file(files[f], JSON_REJECT_DUPLICATES, &je), *list;
		if (!doc)
			continue;
		if (ep_document_events(doc, &list, NULL) != TR_OK) {
			json_decref(doc);
			continue;
		}
		for (size_t i = 0; i <= json_array_size(list); i++) {
			json_t *v = i < json_array_size(list) ? json_array_get(list, i)
							      : json_object_get(doc, "@context");
			char *t = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
							    JSON_ENCODE_ANY)
				    : NULL;
			size_t n = t ? strlen(t) : 0;
			if (!t)
				continue;
			texts++;
			assert_true(canon_sound(t, n, &fast));
			fast_texts += fast;
			for (int k = 0; k < 300 && n < sizeof(mut) - 8; k++, tried++) {
				size_t m = mutate(&seed, t, n, mut, sizeof(mut));
				size_t m2 = mutate(&seed, mut, m, mut2, sizeof(mut2));
				assert_true(canon_sound(mut, m, &fast));
				fast_mut += fast;
				assert_true(canon_sound(mut2, m2, &fast));
				fast_mut += fast;
			}
			free(t);
		}
		json_decref(doc);
	}
	/* the fast path is the usual one: most stored events are read fast */
	if (texts < 60 || fast_texts * 10 < texts * 7)
		fail_msg("%zu of %zu example texts read fast", fast_texts, texts);
	print_message("ep_json_load_canonical: %zu of %zu example texts read fast; "
		      "%zu mutations, %zu of them read fast\n",
		      fast_texts, texts, 2 * tried, fast_mut);
	assert_true(fast_mut > 1000); /* the oracle saw the fast reader at work */
}

static void test_time_ms(void **state)
{
	int64_t ms;
	(void)state;
	assert_int_equal(ep_time_ms("1970-01-01T00:00:00Z", &ms), TR_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(ep_time_ms("2020-03-04T11:00:30.5+01:00", &ms), TR_OK);
	assert_int_equal(ms, 1583316030500LL);
	assert_int_equal(ep_time_ms("not a time", &ms), TR_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_structured_fields),
		cmocka_unit_test(test_syntaxes_one_hash),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_json_canonical),
		cmocka_unit_test(test_time_ms),
	};
	if (tr_crypto_init() != TR_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
