/*
 * query.c: EPCIS query and ingest figures (make bench-query; results in
 * bench/RESULTS-epcis.md).
 *
 * 1. Builds a farm-to-shelf ledger of at least --events events (default
 *    100,000) straight through ldg_append (one partner, blocks of 2,000
 *    records, durable commits): units of 8 events (two field lots
 *    harvested, shipped, received, transformed into 4 retail packs and a
 *    pack lot, the packs aggregated on a pallet, the pallet shipped and
 *    received at a store). Units form production lines of LINE_UNITS:
 *    each unit's transformation also consumes the previous unit's pack
 *    lot, so a trace from the last unit of a line goes LINE_UNITS
 *    transformations deep.
 * 2. Measures history (random retail packs), trace up (random packs of
 *    the last unit of a line: >= 10 hops) and trace down (random field
 *    lots of the first unit of a line: down to the store), p50 and p99
 *    over QUERIES queries each, on the ledger opened read-only.
 * 3. Measures ingest of one 1,000-event document in the same run: jansson
 *    parse alone; parse + the old mapping (JSON text only, no validation,
 *    no hash); parse + map with GS1 hash (no validation); parse + full
 *    validation + hash + map; and the last plus Ed25519 signing (what
 *    `trellis submit` does before it sends).
 */
#include "cli/cli.h"
#include "ledger/epcis_map.h"
#include "ledger/epcis_validate.h"
#include "ledger/ledger.h"
#include "ledger/query.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UNIT_EVENTS 8
#define LINE_UNITS 12
#define BLOCK_RECORDS 2000
#define QUERIES 2000
#define INGEST_EVENTS 1000
#define EVENT_TEXT_MAX 2048

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench-query: %s: %s\n", what, why);
	exit(1);
}

/* The 8 events of unit u (its line position lp), as JSON object texts
 * separated by commas, into buf. */
static void unit_events(char *buf, size_t cap, unsigned u, unsigned lp)
{
	char prev[128] = "";
	unsigned farm = u % 97 + 1, plant = u % 13 + 200, store = u % 51 + 400;
	if (lp > 0)
		snprintf(prev, sizeof(prev),
			 ",{\"epcClass\":\"urn:epc:class:lgtin:0614141.054321.P%u\",\"quantity\":4}",
			 u - 1);
	snprintf(buf, cap,
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T06:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.A%u\",\"quantity\":500,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T07:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.B%u\",\"quantity\":300,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T09:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\",\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.A%u\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.B%u\",\"quantity\":300,\"uom\":\"KGM\"}],\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"},\"destinationList\":[{\"type\":\"location\",\"destination\":\"urn:epc:id:sgln:0614141.%05u.0\"}]},"
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T12:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",\"quantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.A%u\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.B%u\",\"quantity\":300,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-02T08:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"inputQuantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.A%u\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"urn:epc:class:lgtin:0614141.012345.B%u\",\"quantity\":300,\"uom\":\"KGM\"}%s],\"outputEPCList\":[\"urn:epc:id:sgtin:0614141.054321.%u1\",\"urn:epc:id:sgtin:0614141.054321.%u2\",\"urn:epc:id:sgtin:0614141.054321.%u3\",\"urn:epc:id:sgtin:0614141.054321.%u4\"],\"outputQuantityList\":[{\"epcClass\":\"urn:epc:class:lgtin:0614141.054321.P%u\",\"quantity\":4}],\"bizStep\":\"commissioning\",\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"AggregationEvent\",\"eventTime\":\"2026-05-02T09:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"parentID\":\"urn:epc:id:sscc:0614141.%010u\",\"childEPCs\":[\"urn:epc:id:sgtin:0614141.054321.%u1\",\"urn:epc:id:sgtin:0614141.054321.%u2\",\"urn:epc:id:sgtin:0614141.054321.%u3\",\"urn:epc:id:sgtin:0614141.054321.%u4\"],\"bizStep\":\"packing\",\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T10:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\",\"epcList\":[\"urn:epc:id:sscc:0614141.%010u\"],\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}},"
		 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T15:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",\"epcList\":[\"urn:epc:id:sscc:0614141.%010u\"],\"bizLocation\":{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}}",
		 u, farm, u, farm, u, u, farm, plant, u, u, plant, u, u, prev, u, u, u, u, u, plant, u,
		 u, u, u, u, plant, u, plant, u, store);
}

static const char doc_head[] =
	"{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\"],"
	"\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",\"creationDate\":\"2026-05-01T00:00:00Z\","
	"\"epcisBody\":{\"eventList\":[";

/* A document of units [first, first + n). malloc'd text. */
static char *units_doc(unsigned first, unsigned n)
{
	size_t cap = sizeof(doc_head) + (size_t)n * UNIT_EVENTS * EVENT_TEXT_MAX + 16, used;
	char *d = malloc(cap);
	if (!d)
		die("units_doc", "out of memory");
	used = (size_t)snprintf(d, cap, "%s", doc_head);
	for (unsigned u = first; u < first + n; u++) {
		if (u > first)
			d[used++] = ',';
		unit_events(d + used, cap - used, u, u % LINE_UNITS);
		used += strlen(d + used);
	}
	snprintf(d + used, cap - used, "]}}");
	return d;
}

static void build_ledger(const char *dir, const cli_home *h, unsigned units)
{
	char err[1024];
	ldg *l;
	ldg_options o = {0};
	unsigned per_block = BLOCK_RECORDS / UNIT_EVENTS;
	double t0 = now_s();
	if (ldg_open(dir, h->c, &o, &l, err, sizeof(err)))
		die("ldg_open", err);
	for (unsigned u = 0; u < units; u += per_block) {
		unsigned n = units - u < per_block ? units - u : per_block;
		char *text = units_doc(u, n);
		json_error_t je;
		json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je), *events;
		cli_records r;
		uint64_t height;
		uint8_t head[TR_HASH_LEN], hash[TR_HASH_LEN], payload[TR_VOTE_PAYLOAD_LEN];
		uint8_t sig[1][TR_SIG_LEN];
		uint32_t replica = 0;
		uint8_t *block, *cert;
		size_t blen, clen;
		if (!doc)
			die("generated document", je.text);
		events = json_object_get(json_object_get(doc, "epcisBody"), "eventList");
		if (cli_records_from_doc(h, "bench", doc, events, 0, &r, err, sizeof(err)))
			die("records", err);
		if (ldg_head(l, &height, head) ||
		    ldg_block_build(h->c->chain_id, height + 1, head, 0, 0, 0,
				    (const uint8_t *const *)r.recs, r.lens, r.n, &block, &blen, hash))
			die("block", "cannot build");
		tr_vote_payload(payload, 0, height + 1, hash);
		if (tr_sign_tagged(h->key, TR_TAG_COMMIT, h->c->chain_id, payload, sizeof(payload),
				   sig[0]) ||
		    ldg_cert_build(0, height + 1, hash, &replica, (const uint8_t(*)[TR_SIG_LEN])sig, 1,
				   &cert, &clen))
			die("certificate", "cannot build");
		if (ldg_append(l, block, blen, cert, clen, LDG_RECORDS_VERIFIED, err, sizeof(err)))
			die("ldg_append", err);
		free(block);
		free(cert);
		cli_records_free(&r);
		json_decref(doc);
		free(text);
	}
	ldg_close(l);
	printf("built %u events in %u blocks in %.1f s (map, hash, sign, append with indexes)\n",
	       units * UNIT_EVENTS, (units + per_block - 1) / per_block, now_s() - t0);
}

static void report(const char *what, double *lat, size_t n, double extra, const char *extra_name)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("| %s | %zu | %.3f | %.3f | %.3f | %.1f %s |\n", what, n, lat[n / 2] * 1e3,
	       lat[n * 99 / 100] * 1e3, lat[n - 1] * 1e3, extra, extra_name);
}

static void bench_queries(const char *dir, const cli_home *h, unsigned units)
{
	char err[1024], id[128];
	ldg *l;
	ldg_options o = {.readonly = true};
	double *lat = malloc(QUERIES * sizeof(*lat));
	double sum;
	unsigned seed = 12345, lines = units / LINE_UNITS;
	if (!lat || ldg_open(dir, h->c, &o, &l, err, sizeof(err)))
		die("ldg_open read-only", err);
	printf("\n| query (%u events) | n | p50 ms | p99 ms | max ms | mean size |\n|---|---|---|---|---|---|\n",
	       units * UNIT_EVENTS);
	sum = 0;
	for (size_t i = 0; i < QUERIES; i++) {
		ldg_event_info *it;
		size_t n;
		bool cut;
		unsigned u = (unsigned)(rand_r(&seed) % units);
		double t;
		snprintf(id, sizeof(id), "urn:epc:id:sgtin:0614141.054321.%u%u", u,
			 (unsigned)(rand_r(&seed) % 4) + 1);
		t = now_s();
		if (ldg_history(l, id, false, &it, &n, &cut))
			die("history", id);
		lat[i] = now_s() - t;
		sum += (double)n;
		free(it);
	}
	report("history of a retail pack (with its pallet's events)", lat, QUERIES, sum / QUERIES,
	       "events");
	sum = 0;
	for (size_t i = 0; i < QUERIES; i++) {
		ldg_trace_opts to = {.dir = LDG_TRACE_UP};
		ldg_trace_node *nd;
		size_t n;
		bool cut;
		unsigned line = (unsigned)(rand_r(&seed) % lines);
		unsigned u = line * LINE_UNITS + LINE_UNITS - 1;
		double t;
		snprintf(id, sizeof(id), "urn:epc:id:sgtin:0614141.054321.%u1", u);
		t = now_s();
		if (ldg_trace(l, id, &to, &nd, &n, &cut))
			die("trace up", id);
		lat[i] = now_s() - t;
		sum += (double)n;
		free(nd);
	}
	report("trace up from a pack of a line's last unit (12 transformations deep)", lat, QUERIES,
	       sum / QUERIES, "nodes");
	sum = 0;
	for (size_t i = 0; i < QUERIES; i++) {
		ldg_trace_opts to = {.dir = LDG_TRACE_DOWN, .depth = 32};
		ldg_trace_node *nd;
		size_t n;
		bool cut;
		unsigned line = (unsigned)(rand_r(&seed) % lines);
		double t;
		snprintf(id, sizeof(id), "urn:epc:class:lgtin:0614141.012345.A%u", line * LINE_UNITS);
		t = now_s();
		if (ldg_trace(l, id, &to, &nd, &n, &cut))
			die("trace down", id);
		lat[i] = now_s() - t;
		sum += (double)n;
		free(nd);
	}
	report("trace down from a field lot of a line's first unit (recall to the stores)", lat,
	       QUERIES, sum / QUERIES, "nodes");
	ldg_close(l);
	free(lat);
}

/* Old mapping: the JSON text alone in an Event (no validation, no hash). */
static size_t map_json_only(json_t *events)
{
	size_t total = 0;
	for (size_t i = 0; i < json_array_size(events); i++) {
		Trellis__Event ev = TRELLIS__EVENT__INIT;
		char *text = json_dumps(json_array_get(events, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
		uint8_t *buf;
		ev.json.data = (uint8_t *)text;
		ev.json.len = strlen(text);
		buf = malloc(trellis__event__get_packed_size(&ev));
		total += trellis__event__pack(&ev, buf);
		free(buf);
		free(text);
	}
	return total;
}

static void bench_ingest(const cli_home *h)
{
	char *text = units_doc(1000000, INGEST_EVENTS / UNIT_EVENTS);
	size_t len = strlen(text), n = INGEST_EVENTS / UNIT_EVENTS * UNIT_EVENTS;
	const int reps = 5;
	const char *names[] = {"jansson parse alone",
			       "parse + JSON-only Event (the mapping before: no validation, no hash)",
			       "parse + hash + map (no validation)",
			       "parse + validate + hash + map",
			       "parse + validate + hash + map + Ed25519 sign (trellis submit before sending)"};
	printf("\n| ingest of a %zu-event document (%zu KiB), best of %d | events/s | µs/event |\n|---|---|---|\n",
	       n, len >> 10, reps);
	for (int mode = 0; mode < 5; mode++) {
		double best = 1e9;
		for (int r = 0; r < reps; r++) {
			json_error_t je;
			double t = now_s();
			json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je), *events;
			char err[1024];
			if (!doc)
				die("ingest document", je.text);
			events = json_object_get(json_object_get(doc, "epcisBody"), "eventList");
			if (mode == 1)
				(void)map_json_only(events);
			if (mode == 2 || mode == 3) {
				ep_ctx *ctx;
				if (mode == 3 && ep_validate_document(doc, err, sizeof(err)))
					die("validate", err);
				if (ep_ctx_new(doc, &ctx))
					die("ctx", "cannot make");
				for (size_t i = 0; i < json_array_size(events); i++) {
					uint8_t *b;
					size_t bl;
					if (ep_map_event(ctx, json_object_get(doc, "@context"),
							 json_array_get(events, i), "e", &b, &bl, NULL, err,
							 sizeof(err)))
						die("map", err);
					free(b);
				}
				ep_ctx_free(ctx);
			}
			if (mode == 4) {
				cli_records rr;
				if (cli_records_from_doc(h, "bench", doc, events, 0, &rr, err, sizeof(err)))
					die("records", err);
				cli_records_free(&rr);
			}
			json_decref(doc);
			t = now_s() - t;
			if (t < best)
				best = t;
		}
		printf("| %s | %.0f | %.1f |\n", names[mode], (double)n / best, best * 1e6 / (double)n);
	}
	free(text);
}

int main(int argc, char **argv)
{
	unsigned events = 100000, units;
	char dir[] = "/tmp/trellis-bench-query.XXXXXX", data[64], err[1024];
	const char *line;
	char lines[1][512];
	const char *lp[1];
	char *json = NULL;
	tr_partner p = {.alg = TR_ALG_ED25519};
	cli_home h;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--events") == 0)
			events = (unsigned)strtoul(argv[i + 1], NULL, 10);
	if (events < UNIT_EVENTS * LINE_UNITS)
		events = UNIT_EVENTS * LINE_UNITS;
	units = events / UNIT_EVENTS;
	units -= units % LINE_UNITS;
	if (tr_crypto_init())
		die("crypto", "cannot initialise");
	memset(&h, 0, sizeof(h));
	if (tr_key_generate(TR_ALG_ED25519, &h.key))
		die("key", "cannot generate");
	snprintf(p.name, sizeof(p.name), "bench");
	snprintf(p.address, sizeof(p.address), "127.0.0.1:7999");
	memcpy(p.key, tr_key_public(h.key), TR_PUBKEY_LEN);
	if (tr_partner_line_format(&p, lines[0], sizeof(lines[0])))
		die("partner line", "too long");
	lp[0] = line = lines[0];
	if (tr_consortium_create(lp, 1, &json, err, sizeof(err)) ||
	    tr_consortium_parse((const uint8_t *)json, strlen(json), &h.c, err, sizeof(err)))
		die("consortium", err);
	free(json);
	if (!mkdtemp(dir))
		die("mkdtemp", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	printf("# bench-query: %u events requested\n", events);
	build_ledger(data, &h, units);
	bench_queries(data, &h, units);
	bench_ingest(&h);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-query: could not remove %s\n", dir);
	}
	tr_key_free(h.key);
	tr_consortium_free(h.c);
	return 0;
}
