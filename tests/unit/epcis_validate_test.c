/*
 * epcis_validate_test.c: cmocka unit tests of the EPCIS 2.0 validator
 * (ledger/epcis_validate.h).
 *
 * Positives: every GS1 example document in $TRELLIS_SHARED/epcis/examples
 * (the *.jsonld at the top and the .json / .jsonld files in its subfolders,
 * xml/ left out) must validate, parsed with JSON_REJECT_DUPLICATES the way
 * trellis loads documents. The count is printed and must be at least the
 * 32 documents of the reference set. One of them,
 * WithEventHashID/event_with_identical_hash_id_7.json, is invalid per the
 * GS1 JSON schema itself: it writes CBV values in URN form
 * ("urn:epcglobal:cbv:bizstep:receiving"), which the schema's
 * "vocab-other-uri" pattern refuses. The standard lets CBV values be written
 * bare, as URN or as Web URI, and the examples are the reference, so the
 * validator accepts the URN and Web URI forms of KNOWN values (an unknown
 * term in a CBV namespace is still refused; see the negative test).
 *
 * Another, AssociationEvent/AssociationEvent-h.jsonld, is not acceptable
 * JSON for trellis at all: its event has the key "eventID" twice (an
 * ni:/// hash and a urn:uuid). trellis parses with JSON_REJECT_DUPLICATES
 * (STYLE.md 17), so `submit` refuses that file before validation. The test
 * checks that the strict parse does refuse it (dup_key_examples lists it),
 * then validates the document as a lenient parser sees it (last value
 * wins, as in jansson without the flag and in most JSON Schema tools).
 *
 * Negatives: one valid event at a time is broken in one way, put as the
 * SECOND event of a document, and the test checks the return code and the
 * full "<path>: <reason>" prefix of the message, so that the JSON path is
 * right down to the index (epcisBody.eventList[1].epcList[1]).
 *
 * TRELLIS_SHARED defaults to ../shared (the Makefile exports an absolute
 * path).
 */
#include "ledger/epcis_validate.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define EXAMPLES_MIN 32      /* documents in the reference set (SOURCE.md) */
#define EXAMPLES_MAX 256     /* bound of the directory walk */
#define WALK_DEPTH_MAX 4     /* folder levels below examples/ */
#define BOMB_PARSED 2000     /* nesting the parser accepts (its limit is 2048) */
#define BOMB_BUILT 5000      /* nesting built through the API, past any parser */
#define ERR_LEN 512

/* ==== Helpers ==== */

static const char *shared_dir(void)
{
	const char *d = getenv("TRELLIS_SHARED");
	return d != NULL && d[0] != '\0' ? d : "../shared";
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static json_t *load_file(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		fail_msg("cannot parse '%s': %s (line %d)", path, je.text, je.line);
	return j;
}

/* Examples whose strict parse fails on a duplicate key (see the top). */
static const char *const dup_key_examples[] = {"AssociationEvent/AssociationEvent-h.jsonld"};

static bool is_dup_key_example(const char *path)
{
	for (size_t i = 0; i < TR_ARRAY_LEN(dup_key_examples); i++)
		if (has_suffix(path, dup_key_examples[i]))
			return true;
	return false;
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s (line %d col %d)", je.text, je.line,
			 je.column);
	return j;
}

/* A valid event of each type, small but complete enough to be broken in
 * each of the ways below. */
static const char object_event[] =
	"{\"type\": \"ObjectEvent\", \"action\": \"ADD\","
	" \"eventTime\": \"2005-04-03T20:33:31.116-06:00\", \"eventTimeZoneOffset\": \"-06:00\","
	" \"epcList\": [\"urn:epc:id:sgtin:0614141.107346.2017\","
	"               \"https://id.gs1.org/01/09506000134352/21/12345\"],"
	" \"quantityList\": [{\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\","
	"                     \"quantity\": 200.5, \"uom\": \"KGM\"}],"
	" \"bizStep\": \"commissioning\", \"disposition\": \"active\","
	" \"readPoint\": {\"id\": \"urn:epc:id:sgln:0614141.07346.1234\"},"
	" \"ilmd\": {\"cbvmda:lotNumber\": \"LOT1\"},"
	" \"errorDeclaration\": {\"declarationTime\": \"2020-01-15T00:00:00+01:00\","
	"                        \"reason\": \"incorrect_data\"},"
	" \"ext1:note\": {\"ext1:deep\": [1, 2, {\"ext1:x\": true}]}}";

static const char aggregation_event[] =
	"{\"type\": \"AggregationEvent\", \"action\": \"ADD\","
	" \"eventTime\": \"2013-06-08T14:58:56.591Z\", \"eventTimeZoneOffset\": \"+02:00\","
	" \"parentID\": \"urn:epc:id:sscc:0614141.1234567890\","
	" \"childEPCs\": [\"urn:epc:id:sgtin:0614141.107346.2017\"]}";

static const char transaction_event[] =
	"{\"type\": \"TransactionEvent\", \"action\": \"ADD\","
	" \"eventTime\": \"2013-06-08T14:58:56.591Z\", \"eventTimeZoneOffset\": \"+02:00\","
	" \"bizTransactionList\": [{\"type\": \"po\","
	"                           \"bizTransaction\": \"http://transaction.acme.com/po/1\"}],"
	" \"epcList\": [\"urn:epc:id:sgtin:0614141.107346.2017\"]}";

static const char transformation_event[] =
	"{\"type\": \"TransformationEvent\","
	" \"eventTime\": \"2013-06-08T14:58:56.591Z\", \"eventTimeZoneOffset\": \"+02:00\","
	" \"inputQuantityList\": [{\"epcClass\": \"urn:epc:class:lgtin:4012345.011111.4444\","
	"                          \"quantity\": 10, \"uom\": \"KGM\"}],"
	" \"outputEPCList\": [\"urn:epc:id:sgtin:4012345.077889.25\"],"
	" \"ilmd\": {\"ext1:bestBefore\": \"2014-12-10\"}}";

static const char association_event[] =
	"{\"type\": \"AssociationEvent\", \"action\": \"ADD\","
	" \"eventTime\": \"2019-11-01T14:00:00.000+01:00\", \"eventTimeZoneOffset\": \"+01:00\","
	" \"parentID\": \"urn:epc:id:grai:4012345.55555.987\","
	" \"childEPCs\": [\"urn:epc:id:giai:4000001.12345\"]}";

/* A document whose eventList holds a good event, then ev (reference taken). */
static json_t *document_with(json_t *ev)
{
	json_t *doc = parse("{\"@context\": [\"https://ref.gs1.org/standards/epcis/2.0.0/"
			    "epcis-context.jsonld\", {\"ext1\": \"http://example.com/ext1/\"}],"
			    " \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			    " \"creationDate\": \"2005-07-11T11:30:47.0Z\","
			    " \"epcisBody\": {\"eventList\": []}}");
	json_t *list = json_object_get(json_object_get(doc, "epcisBody"), "eventList");

	assert_int_equal(json_array_append_new(list, parse(aggregation_event)), 0);
	assert_int_equal(json_array_append_new(list, ev), 0);
	return doc;
}

/* Validate ev as event [1] of a document; expect code and a message that
 * starts with want. Takes ev. */
static void expect_doc(json_t *ev, int code, const char *want)
{
	char err[ERR_LEN] = "";
	json_t *doc = document_with(ev);
	int rc = ep_validate_document(doc, err, sizeof(err));

	json_decref(doc);
	if (rc != code || strncmp(err, want, strlen(want)) != 0)
		fail_msg("rc %d (want %d), err \"%s\"\n  want prefix \"%s\"", rc, code, err, want);
}

/* base with key set to the JSON value text (or removed if text is NULL). */
static json_t *edit(const char *base, const char *key, const char *text)
{
	json_t *ev = parse(base);

	if (text == NULL)
		assert_int_equal(json_object_del(ev, key), 0);
	else
		assert_int_equal(json_object_set_new(ev, key, parse(text)), 0);
	return ev;
}

static void expect_edit(const char *base, const char *key, const char *text, const char *want)
{
	expect_doc(edit(base, key, text), TR_EINVAL, want);
}

#define P "epcisBody.eventList[1]"

/* ==== Positives ==== */

typedef struct {
	size_t docs;
	size_t events;
	size_t dup_key_docs;
	char failures[4096];
} walk_result;

static void walk(const char *dir, int level, walk_result *r)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);

	assert_true(level <= WALK_DEPTH_MAX);
	if (n < 0)
		fail_msg("cannot list '%s' (set TRELLIS_SHARED to the shared folder)", dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (name[0] == '.' || stat(path, &st) != 0) {
			free(names[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!(level == 0 && strcmp(name, "xml") == 0))
				walk(path, level + 1, r);
		} else if (has_suffix(name, ".jsonld") || (level > 0 && has_suffix(name, ".json"))) {
			char err[ERR_LEN] = "";
			json_error_t je;
			json_t *doc, *events = NULL;
			int rc;

			if (is_dup_key_example(path)) {
				doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
				assert_null(doc);
				assert_non_null(strstr(je.text, "duplicate object key"));
				doc = json_load_file(path, 0, &je);
				assert_non_null(doc);
				r->dup_key_docs++;
			} else {
				doc = load_file(path);
			}
			rc = ep_validate_document(doc, err, sizeof(err));

			assert_true(r->docs < EXAMPLES_MAX);
			r->docs++;
			if (rc != 0) {
				size_t used = strlen(r->failures);
				snprintf(r->failures + used, sizeof(r->failures) - used,
					 "\n  %s: rc %d: %s", path, rc, err);
			} else {
				assert_int_equal(ep_document_events(doc, &events, NULL), 0);
				r->events += json_array_size(events);
			}
			json_decref(doc);
		}
		free(names[i]);
	}
	free(names);
}

static void test_examples_validate(void **state)
{
	char dir[512];
	walk_result r = {0};

	(void)state;
	snprintf(dir, sizeof(dir), "%s/epcis/examples", shared_dir());
	walk(dir, 0, &r);
	print_message("validated %zu example documents, %zu events (%zu parsed leniently: "
		      "duplicate keys)\n", r.docs, r.events, r.dup_key_docs);
	if (r.failures[0] != '\0')
		fail_msg("examples refused:%s", r.failures);
	assert_true(r.docs >= EXAMPLES_MIN);
	assert_int_equal(r.dup_key_docs, TR_ARRAY_LEN(dup_key_examples));
}

/* Every example event is also valid on its own, with the caller's prefix. */
static void test_examples_events_alone(void **state)
{
	char path[1024], err[ERR_LEN] = "";
	json_t *doc, *events;
	const char *list_path = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/epcis/examples/EPCISQueryDocument.jsonld", shared_dir());
	doc = load_file(path);
	assert_int_equal(ep_document_events(doc, &events, &list_path), 0);
	assert_string_equal(list_path, "epcisBody.queryResults.resultsBody.eventList");
	assert_true(json_array_size(events) > 0);
	for (size_t i = 0; i < json_array_size(events); i++)
		assert_int_equal(ep_validate_event(json_array_get(events, i), "x", err, sizeof(err)),
				 0);
	json_decref(doc);
}

static void test_each_type_valid(void **state)
{
	static const char *const events[] = {object_event, aggregation_event, transaction_event,
					     transformation_event, association_event};
	char err[ERR_LEN] = "";

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(events); i++) {
		json_t *ev = parse(events[i]);
		int rc = ep_validate_event(ev, NULL, err, sizeof(err));
		if (rc != 0)
			fail_msg("event %zu refused: %s", i, err);
		json_decref(ev);
	}
}

/* Value forms the examples do not exercise but the standard allows. */
static void test_accepted_forms(void **state)
{
	static const struct {
		const char *key, *value;
	} ok[] = {
		{"eventTime", "\"2020-02-29T23:59:59Z\""},
		{"eventTime", "\"2005-04-03T20:33:31.116000-06:00\""},
		{"eventTime", "\"2005-04-03T20:33:31+14:00\""},
		{"eventTimeZoneOffset", "\"+14:00\""},
		{"eventTimeZoneOffset", "\"-00:00\""},
		{"bizStep", "\"urn:epcglobal:cbv:bizstep:shipping\""},
		{"bizStep", "\"https://ref.gs1.org/cbv/BizStep-shipping\""},
		{"bizStep", "\"cbv:BizStep-shipping\""},
		{"bizStep", "\"https://example.com/steps/harvesting\""},
		{"disposition", "\"example:quarantined\""},
		{"epcList", "[]"},
		{"epcList", "[\"https://example.com/shop/01/09506000134352/10/LOT/21/1\"]"},
		{"certificationInfo", "[\"https://cert.example.org/1\", \"urn:uuid:1\"]"},
		{"example:plain", "\"any value\""},
		{"http://example.com/voc/field", "{\"x\": [null, 1.5, \"s\"]}"},
	};
	char err[ERR_LEN] = "";

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(ok); i++) {
		json_t *ev = edit(object_event, ok[i].key, ok[i].value);
		if (ep_validate_event(ev, "e", err, sizeof(err)) != 0)
			fail_msg("%s = %s refused: %s", ok[i].key, ok[i].value, err);
		json_decref(ev);
	}
}

/* ==== Negatives named in the brief ==== */

static void test_missing_event_time(void **state)
{
	(void)state;
	expect_edit(object_event, "eventTime", NULL, P ".eventTime: missing required field");
	expect_edit(association_event, "eventTimeZoneOffset", NULL,
		    P ".eventTimeZoneOffset: missing required field");
}

static void test_bad_timestamp(void **state)
{
	static const char *const bad[] = {
		"\"2005-04-03 20:33:31.116-06:00\"", /* space, not T */
		"\"2005-04-03T20:33:31.116\"",        /* no time zone */
		"\"2005-02-30T20:33:31Z\"",           /* no such day */
		"\"2019-02-29T20:33:31Z\"",           /* not a leap year */
		"\"2005-04-03T24:00:00Z\"",           /* hour */
		"\"2005-04-03T20:33:31.Z\"",          /* empty fraction */
		"\"2005-04-03T20:33:31+15:00\"",      /* offset beyond 14:00 */
		"\"2005-04-03t20:33:31z\"",           /* lower case */
		"\"05-04-03T20:33:31Z\"",
		"\"2005-04-03T20:33:31+0\"",        /* offset cut short */
		"\"2005-04-03T20:33:31.5\"",
		"1112553211",                         /* a number */
	};

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(bad) - 1; i++)
		expect_edit(object_event, "eventTime", bad[i],
			    P ".eventTime: not a date-time with a time zone");
	expect_edit(object_event, "eventTime", bad[TR_ARRAY_LEN(bad) - 1],
		    P ".eventTime: not a string");
	expect_edit(object_event, "recordTime", "\"yesterday\"", P ".recordTime: not a date-time");
}

static void test_bad_offset(void **state)
{
	static const char *const bad[] = {"\"+15:00\"", "\"0600\"", "\"-6:00\"", "\"+14:30\"",
					  "\"+01:60\"", "\"Z\"", "\"+01:00 \"", "\"+0\"", "\"\""};

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++)
		expect_edit(object_event, "eventTimeZoneOffset", bad[i],
			    P ".eventTimeZoneOffset: not a time zone offset");
}

static void test_unknown_action(void **state)
{
	(void)state;
	expect_edit(object_event, "action", "\"MOVE\"", P ".action: unknown action 'MOVE'");
	expect_edit(object_event, "action", "\"add\"", P ".action: unknown action 'add'");
	expect_edit(object_event, "action", NULL, P ".action: missing required field");
	expect_edit(transformation_event, "action", "\"ADD\"",
		    P ".action: a TransformationEvent has no action");
}

static void test_ilmd_placement(void **state)
{
	json_t *ev;

	(void)state;
	expect_edit(aggregation_event, "ilmd", "{\"ext1:lot\": \"L1\"}",
		    P ".ilmd: ilmd is not allowed in an AggregationEvent");
	expect_edit(transaction_event, "ilmd", "{}", P ".ilmd: ilmd is not allowed in a "
		    "TransactionEvent");
	ev = edit(object_event, "action", "\"OBSERVE\"");
	expect_doc(ev, TR_EINVAL, P ".ilmd: ilmd is only allowed in an ObjectEvent with action ADD");
	/* ilmd keys are namespaced (schema: propertyNames format uri) */
	expect_edit(object_event, "ilmd", "{\"lotNumber\": \"L1\"}",
		    P ".ilmd.lotNumber: unknown field");
}

static void test_child_epcs_on_object_event(void **state)
{
	(void)state;
	expect_edit(object_event, "childEPCs", "[\"urn:epc:id:sgtin:0614141.107346.1\"]",
		    P ".childEPCs: field not allowed in an ObjectEvent");
	expect_edit(object_event, "inputEPCList", "[\"urn:epc:id:sgtin:0614141.107346.1\"]",
		    P ".inputEPCList: field not allowed in an ObjectEvent");
	expect_edit(aggregation_event, "epcList", "[]",
		    P ".epcList: field not allowed in an AggregationEvent");
	expect_edit(transaction_event, "persistentDisposition", "{\"set\": [\"active\"]}",
		    P ".persistentDisposition: field not allowed in a TransactionEvent");
}

static void test_non_epc_in_epc_list(void **state)
{
	static const char *const bad[] = {
		"\"hello\"",
		"\"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"",
		"\"urn:epc:id:foo:0614141.1\"",               /* no such EPC scheme */
		"\"urn:epc:id:sgtin:\"",                       /* no body */
		"\"urn:epc:class:lgtin:4012345.012345.998877\"", /* a class, not an instance */
		"\"https://example.com/product/123\"",         /* https, but no GS1 key */
		"\"urn:epc:id:sgtin:0614141 107346\"",         /* space */
	};

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++) {
		char list[256];
		snprintf(list, sizeof(list), "[\"urn:epc:id:sgtin:0614141.107346.2017\", %s]", bad[i]);
		expect_edit(object_event, "epcList", list,
			    P ".epcList[1]: not an EPC URI or GS1 Digital Link URI");
	}
	expect_edit(aggregation_event, "parentID", "\"pallet 7\"",
		    P ".parentID: not an EPC URI or GS1 Digital Link URI");
	expect_edit(object_event, "epcList",
		    "[\"urn:epc:id:sgtin:0614141.107346.1\", \"urn:epc:id:sgtin:0614141.107346.2\","
		    " \"urn:epc:id:sgtin:0614141.107346.1\"]",
		    P ".epcList[2]: duplicate of an earlier item");
	/* item numbers of more than one digit */
	expect_edit(object_event, "epcList",
		    "[\"urn:epc:id:sgtin:0614141.107346.0\", \"urn:epc:id:sgtin:0614141.107346.1\","
		    " \"urn:epc:id:sgtin:0614141.107346.2\", \"urn:epc:id:sgtin:0614141.107346.3\","
		    " \"urn:epc:id:sgtin:0614141.107346.4\", \"urn:epc:id:sgtin:0614141.107346.5\","
		    " \"urn:epc:id:sgtin:0614141.107346.6\", \"urn:epc:id:sgtin:0614141.107346.7\","
		    " \"urn:epc:id:sgtin:0614141.107346.8\", \"urn:epc:id:sgtin:0614141.107346.9\","
		    " \"urn:epc:id:sgtin:0614141.107346.10\", \"urn:epc:id:sgtin:0614141.107346.11\","
		    " \"pallet 7\"]",
		    P ".epcList[12]: not an EPC URI or GS1 Digital Link URI");
}

static void test_negative_quantity(void **state)
{
	(void)state;
	expect_edit(object_event, "quantityList",
		    "[{\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\", \"quantity\": 5},"
		    " {\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\", \"quantity\": -1}]",
		    P ".quantityList[1].quantity: negative quantity");
	expect_edit(object_event, "quantityList",
		    "[{\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\","
		    " \"quantity\": \"5\"}]",
		    P ".quantityList[0].quantity: not a number");
	expect_edit(object_event, "quantityList", "[{\"quantity\": 5}]",
		    P ".quantityList[0].epcClass: missing required field");
	expect_edit(object_event, "quantityList",
		    "[{\"epcClass\": \"urn:epc:id:sgtin:0614141.107346.1\", \"quantity\": 5}]",
		    P ".quantityList[0].epcClass: not an EPC class URI");
}

static void test_bad_uom(void **state)
{
	static const char *const bad[] = {"\"kg\"", "\"K\"", "\"KGMS\"", "\"K-G\"", "7"};

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++) {
		char list[256];
		snprintf(list, sizeof(list),
			 "[{\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\","
			 " \"quantity\": 5, \"uom\": %s}]", bad[i]);
		expect_edit(object_event, "quantityList", list,
			    i + 1 < TR_ARRAY_LEN(bad) ? P ".quantityList[0].uom: not a UN/CEFACT "
							  "unit code"
						      : P ".quantityList[0].uom: not a string");
	}
	expect_edit(object_event, "quantityList",
		    "[{\"epcClass\": \"urn:epc:class:lgtin:4012345.012345.998877\", \"uom\": \"KGM\"}]",
		    P ".quantityList[0].quantity: missing required field (a uom needs a quantity)");
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_edit(object_event, "foo", "1", P ".foo: unknown field (neither an EPCIS field nor "
		    "a namespaced extension prefix:name)");
	expect_edit(object_event, "EventTime", "\"2005-04-03T20:33:31Z\"", P ".EventTime: unknown");
	expect_edit(object_event, ":x", "1", P ".:x: unknown field");
	expect_edit(object_event, "readPoint",
		    "{\"id\": \"urn:epc:id:sgln:0614141.07346.1234\", \"name\": \"dock\"}",
		    P ".readPoint.name: unknown field");
	expect_edit(object_event, "bizTransactionList",
		    "[{\"bizTransaction\": \"urn:epc:id:gdti:0614141.00001.1\", \"ext1:x\": 1}]",
		    P ".bizTransactionList[0].ext1:x: unknown field (a business transaction has no "
		    "other fields)");
}

static void test_event_not_object(void **state)
{
	char err[ERR_LEN] = "";
	json_t *s = json_string("ObjectEvent");

	(void)state;
	expect_doc(json_string("ObjectEvent"), TR_EINVAL, P ": event is not a JSON object");
	expect_doc(json_array(), TR_EINVAL, P ": event is not a JSON object");
	expect_doc(json_null(), TR_EINVAL, P ": event is not a JSON object");
	assert_int_equal(ep_validate_event(s, NULL, err, sizeof(err)), TR_EINVAL);
	assert_string_equal(err, "event: event is not a JSON object");
	assert_int_equal(ep_validate_event(NULL, "x", err, sizeof(err)), TR_EINVAL);
	json_decref(s);
}

static void test_missing_type(void **state)
{
	(void)state;
	expect_edit(object_event, "type", NULL, P ".type: missing required field");
	expect_edit(object_event, "type", "7", P ".type: not a string");
}

static void test_unknown_type(void **state)
{
	(void)state;
	expect_edit(object_event, "type", "\"FooEvent\"", P ".type: unknown event type 'FooEvent'");
	/* the schema's Extended-Event: a URI type; trellis cannot index it */
	expect_edit(object_event, "type", "\"example:SpecialEvent\"",
		    P ".type: unknown event type 'example:SpecialEvent'");
	expect_edit(object_event, "type", "\"EPCISDocument\"",
		    P ".type: unknown event type 'EPCISDocument'");
}

static void test_error_declaration(void **state)
{
	(void)state;
	expect_edit(object_event, "errorDeclaration", "{\"reason\": \"did_not_occur\"}",
		    P ".errorDeclaration.declarationTime: missing required field");
	expect_edit(object_event, "errorDeclaration",
		    "{\"declarationTime\": \"2020-01-15T00:00:00+01:00\", \"reason\": \"oops\"}",
		    P ".errorDeclaration.reason: unknown error reason 'oops'");
	expect_edit(object_event, "errorDeclaration",
		    "{\"declarationTime\": \"2020-01-15T00:00:00+01:00\","
		    " \"correctiveEventIDs\": [\"urn:uuid:1\", \"not a uri\"]}",
		    P ".errorDeclaration.correctiveEventIDs[1]: not a URI");
	expect_edit(object_event, "errorDeclaration", "[]",
		    P ".errorDeclaration: errorDeclaration is not a JSON object");
}

/* Nesting far past EP_DEPTH_MAX, in an extension (the one place the schema
 * lets any JSON go): refused with TR_ETOOBIG, no crash. */
static void test_deep_nesting_bomb(void **state)
{
	char *text = malloc(2 * BOMB_PARSED + 1);
	json_t *bomb, *ev, *inner;
	char want[256];

	(void)state;
	assert_non_null(text);
	memset(text, '[', BOMB_PARSED);
	memset(text + BOMB_PARSED, ']', BOMB_PARSED);
	text[2 * BOMB_PARSED] = '\0';
	bomb = parse(text);
	free(text);
	ev = parse(object_event);
	assert_int_equal(json_object_set_new(ev, "ext1:bomb", bomb), 0);
	snprintf(want, sizeof(want), P ".ext1:bomb[0][0]");
	expect_doc(ev, TR_ETOOBIG, want);

	/* built through the API: objects nested BOMB_BUILT deep in the ilmd */
	bomb = json_object();
	inner = bomb;
	for (int i = 0; i < BOMB_BUILT; i++) {
		json_t *next = json_object();
		assert_int_equal(json_object_set_new(inner, "ext1:a", next), 0);
		inner = next;
	}
	ev = parse(object_event);
	assert_int_equal(json_object_set_new(ev, "ilmd", bomb), 0);
	expect_doc(ev, TR_ETOOBIG, P ".ilmd.ext1:a.ext1:a");

	/* the message says what bound was hit */
	{
		char err[ERR_LEN] = "";
		json_t *e = parse(object_event), *x = json_array();
		json_t *deep = x;
		for (int i = 0; i < EP_DEPTH_MAX + 5; i++) {
			json_t *n = json_array();
			assert_int_equal(json_array_append_new(deep, n), 0);
			deep = n;
		}
		assert_int_equal(json_object_set_new(e, "ext1:x", x), 0);
		assert_int_equal(ep_validate_event(e, "", err, sizeof(err)), TR_ETOOBIG);
		assert_non_null(strstr(err, "nested deeper than"));
		json_decref(e);
	}
}

/* ==== Other rules, per type ==== */

static void test_type_rules(void **state)
{
	json_t *ev;

	(void)state;
	/* Aggregation: parentID for ADD/DELETE, children unless DELETE */
	expect_edit(aggregation_event, "parentID", NULL,
		    P ".parentID: missing required field (an AggregationEvent with action ADD");
	expect_edit(aggregation_event, "childEPCs", "[]",
		    P ": an AggregationEvent with action ADD needs a non-empty childEPCs");
	ev = edit(aggregation_event, "action", "\"DELETE\"");
	assert_int_equal(json_object_del(ev, "childEPCs"), 0);
	{
		char err[ERR_LEN] = "";
		assert_int_equal(ep_validate_event(ev, "", err, sizeof(err)), 0);
	}
	json_decref(ev);
	/* Association: parentID always */
	expect_edit(association_event, "parentID", NULL, P ".parentID: missing required field");
	/* Transaction: a non-empty bizTransactionList */
	expect_edit(transaction_event, "bizTransactionList", NULL,
		    P ".bizTransactionList: missing required field");
	expect_edit(transaction_event, "bizTransactionList", "[]",
		    P ".bizTransactionList: needs at least 1 item");
	/* Transformation: inputs and outputs, or a transformationID */
	expect_edit(transformation_event, "outputEPCList", NULL,
		    P ": a TransformationEvent needs inputs and outputs");
	ev = edit(transformation_event, "outputEPCList", NULL);
	assert_int_equal(json_object_set_new(ev, "transformationID",
					     json_string("urn:epc:id:gdti:0614141.12345.400")), 0);
	{
		char err[ERR_LEN] = "";
		assert_int_equal(ep_validate_event(ev, "", err, sizeof(err)), 0);
	}
	json_decref(ev);
	/* Object: something to talk about */
	ev = edit(object_event, "epcList", NULL);
	assert_int_equal(json_object_del(ev, "quantityList"), 0);
	expect_doc(ev, TR_EINVAL, P ": an ObjectEvent needs an epcList");
}

static void test_vocabularies_and_shapes(void **state)
{
	(void)state;
	expect_edit(object_event, "bizStep", "\"urn:epcglobal:cbv:bizstep:flying\"",
		    P ".bizStep: 'urn:epcglobal:cbv:bizstep:flying' is not a known bizStep");
	expect_edit(object_event, "bizStep", "\"flying\"",
		    P ".bizStep: unknown bizStep 'flying'");
	expect_edit(object_event, "disposition", "\"cbv:Disp-sad\"",
		    P ".disposition: 'cbv:Disp-sad' is not a known disposition");
	expect_edit(object_event, "readPoint", "{}", P ".readPoint.id: missing required field");
	expect_edit(object_event, "readPoint", "\"urn:epc:id:sgln:0614141.07346.1234\"",
		    P ".readPoint: readPoint is not a JSON object");
	expect_edit(object_event, "sourceList", "[{\"source\": \"urn:epc:id:pgln:4012345.00225\"}]",
		    P ".sourceList[0].type: missing required field");
	expect_edit(object_event, "destinationList",
		    "[{\"type\": \"owner\", \"destination\": \"urn:epc:id:pgln:4012345.00225\"}]",
		    P ".destinationList[0].type: unknown source/destination type 'owner'");
	expect_edit(object_event, "persistentDisposition", "{}",
		    P ".persistentDisposition: persistentDisposition needs set or unset");
	expect_edit(object_event, "persistentDisposition", "{\"set\": []}",
		    P ".persistentDisposition.set: needs at least 1 item");
	expect_edit(object_event, "sensorElementList", "[{\"sensorMetadata\": {}}]",
		    P ".sensorElementList[0].sensorReport: missing required field");
	expect_edit(object_event, "sensorElementList",
		    "[{\"sensorReport\": [{\"type\": \"Temperature\", \"value\": \"hot\"}]}]",
		    P ".sensorElementList[0].sensorReport[0].value: not a number");
	expect_edit(object_event, "sensorElementList",
		    "[{\"sensorReport\": [{\"type\": \"gs1:Warmth\"}]}]",
		    P ".sensorElementList[0].sensorReport[0].type: 'gs1:Warmth' is not a known");
	expect_edit(object_event, "sensorElementList",
		    "[{\"sensorReport\": [{\"type\": \"Temperature\", \"hexBinaryValue\": \"0x1\"}]}]",
		    P ".sensorElementList[0].sensorReport[0].hexBinaryValue: not hexadecimal");
	expect_edit(object_event, "sensorElementList",
		    "[{\"sensorMetadata\": {\"time\": \"noon\"}, \"sensorReport\": []}]",
		    P ".sensorElementList[0].sensorMetadata.time: not a date-time");
	expect_edit(object_event, "certificationInfo", "[\"https://cert.example.org/1\", 3]",
		    P ".certificationInfo[1]: not a string");
	expect_edit(object_event, "eventID", "\"12345\"", P ".eventID: not a URI");
}

/* ==== Documents ==== */

static void expect_document(const char *text, int code, const char *want)
{
	char err[ERR_LEN] = "";
	json_t *doc = parse(text);
	int rc = ep_validate_document(doc, err, sizeof(err));

	json_decref(doc);
	if (rc != code || strncmp(err, want, strlen(want)) != 0)
		fail_msg("rc %d (want %d), err \"%s\"\n  want prefix \"%s\"", rc, code, err, want);
}

#define CTX "\"@context\": \"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\""

static void test_documents(void **state)
{
	char err[ERR_LEN] = "";
	json_t *arr = json_array(), *events = NULL;
	const char *lp = NULL;

	(void)state;
	expect_document("{" CTX ", \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"epcisBody\": {\"eventList\": []}}",
			0, "");
	expect_document("{\"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"epcisBody\": {\"eventList\": []}}",
			TR_EINVAL, "@context: missing required field");
	expect_document("{" CTX ", \"type\": \"EPCISDoc\"}", TR_EINVAL,
			"type: unknown document type 'EPCISDoc'");
	expect_document("{" CTX ", \"schemaVersion\": \"2.0\"}", TR_EINVAL,
			"type: missing required field");
	expect_document("{" CTX ", \"type\": \"EPCISDocument\", \"schemaVersion\": \"v2\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"epcisBody\": {\"eventList\": []}}",
			TR_EINVAL, "schemaVersion: not a version number");
	expect_document("{" CTX ", \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11\", \"epcisBody\": {\"eventList\": []}}",
			TR_EINVAL, "creationDate: not a date-time");
	expect_document("{" CTX ", \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"epcisBody\": {}}",
			TR_EINVAL, "epcisBody.eventList: missing required field");
	expect_document("{" CTX ", \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"comment\": \"hi\","
			" \"epcisBody\": {\"eventList\": []}}",
			TR_EINVAL, "comment: unknown field");
	expect_document("{\"@context\": [\"https://ref.gs1.org/c.jsonld\", \"https://ref.gs1.org/c.jsonld\"],"
			" \"type\": \"EPCISDocument\", \"schemaVersion\": \"2.0\","
			" \"creationDate\": \"2005-07-11T11:30:47Z\", \"epcisBody\": {\"eventList\": []}}",
			TR_EINVAL, "@context[1]: duplicate context entry");
	expect_document("{" CTX ", \"type\": \"EPCISQueryDocument\","
			" \"epcisBody\": {\"queryResults\": {\"resultsBody\": {\"eventList\": []}}}}",
			TR_EINVAL, "epcisBody.queryResults.queryName: missing required field");
	expect_document("{" CTX ", \"type\": \"EPCISQueryDocument\","
			" \"epcisBody\": {\"queryResults\": {\"queryName\": \"q\","
			" \"resultsBody\": {\"eventList\": [{\"type\": \"ObjectEvent\"}]}}}}",
			TR_EINVAL,
			"epcisBody.queryResults.resultsBody.eventList[0].eventTime: missing required");
	expect_document("[]", TR_EINVAL, "document: not a JSON object");

	/* tiny and absent error buffers */
	assert_int_equal(ep_validate_document(arr, err, 5), TR_EINVAL);
	assert_string_equal(err, "docu");
	assert_int_equal(ep_validate_document(arr, NULL, 0), TR_EINVAL);
	assert_int_equal(ep_document_events(arr, &events, &lp), TR_EINVAL);
	assert_null(events);
	assert_null(lp);
	json_decref(arr);
}

/* Keys and values are never printed raw. */
static void test_messages_escape(void **state)
{
	char err[ERR_LEN] = "";
	json_t *ev = parse(object_event);

	(void)state;
	assert_int_equal(json_object_set_new(ev, "bad\x01key\xc3\xa9", json_integer(1)), 0);
	assert_int_equal(ep_validate_event(ev, "p", err, sizeof(err)), TR_EINVAL);
	assert_string_equal(err, "p.bad\\x01key\\xc3\\xa9: unknown field (neither an EPCIS field "
				 "nor a namespaced extension prefix:name)");
	json_decref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_validate),
		cmocka_unit_test(test_examples_events_alone),
		cmocka_unit_test(test_each_type_valid),
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_missing_event_time),
		cmocka_unit_test(test_bad_timestamp),
		cmocka_unit_test(test_bad_offset),
		cmocka_unit_test(test_unknown_action),
		cmocka_unit_test(test_ilmd_placement),
		cmocka_unit_test(test_child_epcs_on_object_event),
		cmocka_unit_test(test_non_epc_in_epc_list),
		cmocka_unit_test(test_negative_quantity),
		cmocka_unit_test(test_bad_uom),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_event_not_object),
		cmocka_unit_test(test_missing_type),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_error_declaration),
		cmocka_unit_test(test_deep_nesting_bomb),
		cmocka_unit_test(test_type_rules),
		cmocka_unit_test(test_vocabularies_and_shapes),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_messages_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
