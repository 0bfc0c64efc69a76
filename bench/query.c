/*
 * query.c: EPCIS query and ingest figures (make bench-query; results in
 * bench/RESULTS-epcis.md).
 *
 * 1. Builds a farm-to-shelf ledger of at least --events events (default
 *    100,000) straight through ldg_append (one partner, blocks of
 *    BLOCK_UNITS batches, about 1,930 records, durable commits). Each
 *    processor batch: a farm harvests a lot and ships it to a packer
 *    (FARMS farms, PACKERS packers), which receives it, cools and packs
 *    it into a packed lot (a transformation) and ships it to a processor;
 *    the processor receives it, washes it together with another packer's
 *    lot (a transformation merging two lots), blends the wash lot with
 *    the line's previous blend lot (carry-over: a transformation merging
 *    lots, LINE_UNITS batches per line) into PACKS retail packs and a
 *    blend lot, and cases the packs. Every PALLET_CASES batches the
 *    processor builds a pallet of the cases and ships it to a
 *    distribution centre, which receives it, builds a store pallet of
 *    cases from this pallet and the previous one and ships it to a store,
 *    which receives it. About 10.5 events per batch.
 * 2. Measures, on the ledger opened read-only, QUERIES random queries of
 *    each kind, p50 / p99 / max: history of a retail pack; trace up from
 *    a retail pack of a line's last batch (14 hops: 11 blends, a wash,
 *    the packed lot, the harvest lot); trace up from a store pallet
 *    (16 hops); trace down from a harvest lot of a line's first batch
 *    (to the store pallets, 17 hops). Mean nodes and mean hops (the
 *    deepest node) are printed with them.
 * --keep DIR builds the ledger in DIR and keeps it; a later run with the
 * same --events and --keep DIR measures the queries on it again without
 * rebuilding (the build takes minutes at 1,000,000 events).
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

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_UNITS 12     /* batches of one production line (carry-over chain) */
#define MIX_BACK 5        /* a wash batch also takes the packed lot of this many batches back */
#define PACKS 4           /* retail packs per batch, in one case */
#define PALLET_CASES 4    /* cases per pallet */
#define FARMS 500
#define PACKERS 40
#define PROCESSORS 10
#define DCS 8
#define STORES 200
#define BLOCK_UNITS 184   /* batches per block: about 1,930 records */
#define NODE_BLOCKS 10     /* the first blocks go the way of a backup's node thread, timed */
#define QUERIES 2000
#define INGEST_EVENTS 1000
#define EVENT_TEXT_MAX 2048
#define UNIT_TEXT_MAX (16 * EVENT_TEXT_MAX)
#define T0 1777593600 /* 2026-05-01T00:00:00Z */

_Static_assert(BLOCK_UNITS % PALLET_CASES == 0, "a block holds whole pallets");
_Static_assert(PALLET_CASES == 4, "the store-pallet mix below takes 4 cases");

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a busy machine, what the query itself
 * cost, without the time it waited for a core. */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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

/* Locations: sgln:0614141.NNNNN.0 */
static unsigned farm_of(unsigned u) { return 1 + (u * 7919u) % FARMS; }
static unsigned packer_of(unsigned u) { return 1001 + u % PACKERS; }
static unsigned plant_of(unsigned u) { return 2001 + (u / LINE_UNITS) % PROCESSORS; }
static unsigned dc_of(unsigned g) { return 3001 + g % DCS; }
static unsigned store_of(unsigned g) { return 4001 + (g * 31u) % STORES; }

/* "eventTime":...,"eventTimeZoneOffset":... for batch u plus hours h. */
static const char *when(char *buf, size_t cap, unsigned u, unsigned h)
{
	time_t t = (time_t)T0 + (time_t)u * 600 + (time_t)h * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, cap,
		 "\"eventTime\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\",\"eventTimeZoneOffset\":\"+00:00\"",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

#define CLS(p, u) "{\"epcClass\":\"urn:epc:class:lgtin:0614141." p "%u\",\"quantity\":%u,\"uom\":\"KGM\"}"
#define LOC(k) "{\"id\":\"urn:epc:id:sgln:0614141.%05u.0\"}"
#define HOP(from, to)                                                                        \
	"\"sourceList\":[{\"type\":\"location\",\"source\":\"urn:epc:id:sgln:0614141.%05u.0\"}]," \
	"\"destinationList\":[{\"type\":\"location\",\"destination\":\"urn:epc:id:sgln:0614141.%05u.0\"}]"

/* The text being generated: buf[cap], used, events written. */
typedef struct {
	char *buf;
	size_t cap, used;
	unsigned n;
} gen;

static void add(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(gen *g, const char *fmt, ...)
{
	va_list ap;
	int w;
	if (g->n++ && g->used < g->cap)
		g->buf[g->used++] = ',';
	va_start(ap, fmt);
	w = vsnprintf(g->buf + g->used, g->cap - g->used, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= g->cap - g->used)
		die("generator", "buffer too small");
	g->used += (size_t)w;
}

/* A pallet (SSCC digit d, serial sn) shipped from one location and
 * received at another, h0 and h1 hours after batch u starts. */
static void ship_receive(gen *g, unsigned u, char d, unsigned sn, unsigned from, unsigned to,
			 unsigned h0, unsigned h1)
{
	char t[128];
	add(g, "{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	    "\"epcList\":[\"urn:epc:id:sscc:0614141.%c%09u\"],\"readPoint\":" LOC(from) "," HOP(from, to) "}",
	    when(t, sizeof(t), u, h0), d, sn, from, from, to);
	add(g, "{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	    "\"epcList\":[\"urn:epc:id:sscc:0614141.%c%09u\"],\"bizLocation\":" LOC(to) "," HOP(from, to) "}",
	    when(t, sizeof(t), u, h1), d, sn, to, from, to);
}

/* Append the events of batch u (and, for a pallet's last batch, the
 * pallet's) to g, comma-separated. */
static void batch_events(gen *g, unsigned u)
{
	char t[8][128], extra[160] = "", mix[160] = "";
	unsigned farm = farm_of(u), packer = packer_of(u), plant = plant_of(u);
	unsigned lp = u % LINE_UNITS;
#define ADD(...) add(g, __VA_ARGS__)
	if (u >= MIX_BACK)
		snprintf(mix, sizeof(mix), "," CLS("023456.K", u), u - MIX_BACK, 100);
	if (lp > 0)
		snprintf(extra, sizeof(extra), "," CLS("054321.L", u), u - 1, 20);
	/* farm: harvest, ship to the packer */
	ADD("{\"type\":\"ObjectEvent\",%s,\"action\":\"ADD\",\"bizStep\":\"https://ns.example.com/fsma/harvesting\","
	    "\"quantityList\":[" CLS("012345.H", u) "],\"readPoint\":" LOC(farm) ",\"bizLocation\":" LOC(farm) "}",
	    when(t[0], 128, u, 0), u, 1000, farm, farm);
	ADD("{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	    "\"quantityList\":[" CLS("012345.H", u) "],\"readPoint\":" LOC(farm) ","
	    "\"bizTransactionList\":[{\"type\":\"desadv\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141000012:H%u\"}]," HOP(farm, packer) "}",
	    when(t[1], 128, u, 2), u, 1000, farm, u, farm, packer);
	/* packer: receive, pack the harvest lot into a packed lot, ship */
	ADD("{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	    "\"quantityList\":[" CLS("012345.H", u) "],\"bizLocation\":" LOC(packer) "," HOP(farm, packer) "}",
	    when(t[2], 128, u, 4), u, 1000, packer, farm, packer);
	ADD("{\"type\":\"TransformationEvent\",%s,\"inputQuantityList\":[" CLS("012345.H", u) "],"
	    "\"outputQuantityList\":[" CLS("023456.K", u) "],\"bizStep\":\"https://ns.example.com/fsma/cooling\",\"bizLocation\":" LOC(packer) "}",
	    when(t[3], 128, u, 5), u, 1000, u, 200, packer);
	ADD("{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"shipping\","
	    "\"quantityList\":[" CLS("023456.K", u) "],\"readPoint\":" LOC(packer) "," HOP(packer, plant) "}",
	    when(t[4], 128, u, 8), u, 200, packer, packer, plant);
	/* processor: receive, wash (merging two packers' lots), blend with the
	 * line's previous batch (carry-over) into retail packs, case them */
	ADD("{\"type\":\"ObjectEvent\",%s,\"action\":\"OBSERVE\",\"bizStep\":\"receiving\","
	    "\"quantityList\":[" CLS("023456.K", u) "],\"bizLocation\":" LOC(plant) "," HOP(packer, plant) "}",
	    when(t[5], 128, u, 12), u, 200, plant, packer, plant);
	ADD("{\"type\":\"TransformationEvent\",%s,\"inputQuantityList\":[" CLS("023456.K", u) "%s],"
	    "\"outputQuantityList\":[" CLS("034567.W", u) "],\"bizStep\":\"https://ns.example.com/fsma/transforming\",\"bizLocation\":" LOC(plant) "}",
	    when(t[6], 128, u, 13), u, 100, mix, u, 180, plant);
	ADD("{\"type\":\"TransformationEvent\",%s,\"inputQuantityList\":[" CLS("034567.W", u) "%s],"
	    "\"outputEPCList\":[\"urn:epc:id:sgtin:0614141.054321.%u1\",\"urn:epc:id:sgtin:0614141.054321.%u2\","
	    "\"urn:epc:id:sgtin:0614141.054321.%u3\",\"urn:epc:id:sgtin:0614141.054321.%u4\"],"
	    "\"outputQuantityList\":[" CLS("054321.L", u) "],\"bizStep\":\"commissioning\",\"bizLocation\":" LOC(plant) "}",
	    when(t[7], 128, u, 14), u, 180, extra, u, u, u, u, u, 20, plant);
	ADD("{\"type\":\"AggregationEvent\",%s,\"action\":\"ADD\",\"parentID\":\"urn:epc:id:sscc:0614141.1%09u\","
	    "\"childEPCs\":[\"urn:epc:id:sgtin:0614141.054321.%u1\",\"urn:epc:id:sgtin:0614141.054321.%u2\","
	    "\"urn:epc:id:sgtin:0614141.054321.%u3\",\"urn:epc:id:sgtin:0614141.054321.%u4\"],"
	    "\"bizStep\":\"packing\",\"bizLocation\":" LOC(plant) "}",
	    when(t[0], 128, u, 15), u, u, u, u, u, plant);
	if (u % PALLET_CASES == PALLET_CASES - 1) {
		/* the pallet of the last 4 cases goes to a distribution centre,
		 * which builds a store pallet from cases of this pallet and the
		 * previous one and sends it to a store */
		unsigned p = u / PALLET_CASES, dc = dc_of(p), store = store_of(p);
		char kids[160];
		/* cases 3 and 1 of this pallet, 2 and 0 of the previous one */
		if (p == 0)
			snprintf(kids, sizeof(kids),
				 "\"urn:epc:id:sscc:0614141.1%09u\",\"urn:epc:id:sscc:0614141.1%09u\"", u,
				 u - 2);
		else
			snprintf(kids, sizeof(kids),
				 "\"urn:epc:id:sscc:0614141.1%09u\",\"urn:epc:id:sscc:0614141.1%09u\","
				 "\"urn:epc:id:sscc:0614141.1%09u\",\"urn:epc:id:sscc:0614141.1%09u\"",
				 u, u - 2, u - 5, u - 7);
		ADD("{\"type\":\"AggregationEvent\",%s,\"action\":\"ADD\",\"parentID\":\"urn:epc:id:sscc:0614141.2%09u\","
		    "\"childEPCs\":[\"urn:epc:id:sscc:0614141.1%09u\",\"urn:epc:id:sscc:0614141.1%09u\","
		    "\"urn:epc:id:sscc:0614141.1%09u\",\"urn:epc:id:sscc:0614141.1%09u\"],"
		    "\"bizStep\":\"packing\",\"bizLocation\":" LOC(plant) "}",
		    when(t[1], 128, u, 16), p, u - 3, u - 2, u - 1, u, plant);
		ship_receive(g, u, '2', p, plant, dc, 17, 24);
		ADD("{\"type\":\"AggregationEvent\",%s,\"action\":\"ADD\",\"parentID\":\"urn:epc:id:sscc:0614141.3%09u\","
		    "\"childEPCs\":[%s],\"bizStep\":\"packing\",\"bizLocation\":" LOC(dc) "}",
		    when(t[4], 128, u, 26), p, kids, dc);
		ship_receive(g, u, '3', p, dc, store, 28, 34);
	}
#undef ADD
}

static const char doc_head[] =
	"{\"@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\"],"
	"\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",\"creationDate\":\"2026-05-01T00:00:00Z\","
	"\"epcisBody\":{\"eventList\":[";

/* A document of batches [first, first + n). malloc'd text; *events its
 * event count. */
static char *units_doc(unsigned first, unsigned n, unsigned *events)
{
	gen g = {.cap = sizeof(doc_head) + (size_t)n * UNIT_TEXT_MAX + 16};
	g.buf = malloc(g.cap);
	if (!g.buf)
		die("units_doc", "out of memory");
	g.used = (size_t)snprintf(g.buf, g.cap, "%s", doc_head);
	for (unsigned u = first; u < first + n; u++)
		batch_events(&g, u);
	snprintf(g.buf + g.used, g.cap - g.used, "]}}");
	*events = g.n;
	return g.buf;
}

/* Append batches [0, units) as blocks of BLOCK_UNITS batches; returns the
 * number of events. */
static unsigned build_ledger(const char *dir, const cli_home *h, unsigned units)
{
	char err[1024];
	ldg *l;
	ldg_options o = {0};
	ldg_checked *k;
	unsigned total = 0, blocks = 0;
	size_t node_recs = 0;
	double t0 = now_s(), node_cpu = 0;
	if (ldg_open(dir, h->c, &o, &l, err, sizeof(err)))
		die("ldg_open", err);
	if (ldg_checked_new(h->c, &k))
		die("ldg_checked_new", "cannot allocate");
	ldg_use_checked(l, k);
	for (unsigned u = 0; u < units; u += BLOCK_UNITS) {
		unsigned n = units - u < BLOCK_UNITS ? units - u : BLOCK_UNITS, ne;
		char *text = units_doc(u, n, &ne);
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
		if (blocks < NODE_BLOCKS) {
			/* as on a backup: its checkers checked the records as they
			 * came (gossip); the node thread checks the proposal, then
			 * appends it at commit */
			uint8_t id[TR_HASH_LEN];
			double c0;
			for (size_t i = 0; i < r.n; i++)
				if (ldg_record_check_once(h->c, k, r.recs[i], r.lens[i], 0, id, err,
							  sizeof(err)))
					die("record", err);
			c0 = cpu_s();
			if (ldg_check_block(l, block, blen, NULL, 0, 0, err, sizeof(err)) ||
			    ldg_append(l, block, blen, cert, clen,
				       LDG_RECORDS_VERIFIED | LDG_RULES_CHECKED, err, sizeof(err)))
				die("proposal", err);
			node_cpu += cpu_s() - c0;
			node_recs += r.n;
		} else if (ldg_append(l, block, blen, cert, clen, LDG_RECORDS_VERIFIED, err,
				      sizeof(err))) {
			die("ldg_append", err);
		}
		total += ne;
		blocks++;
		free(block);
		free(cert);
		cli_records_free(&r);
		json_decref(doc);
		free(text);
	}
	ldg_close(l);
	ldg_checked_free(k);
	printf("node thread: check a proposal of checked records, then append it: %.1f µs CPU per record (first %zu records, %d blocks)\n",
	       node_recs ? node_cpu * 1e6 / (double)node_recs : 0.0, node_recs,
	       blocks < NODE_BLOCKS ? (int)blocks : NODE_BLOCKS);
	printf("built %u events (%u batches, %u lines) in %u blocks in %.1f s (validate, map, hash, sign, append with indexes)\n",
	       total, units, units / LINE_UNITS, blocks, now_s() - t0);
	return total;
}

/* lat: wall-clock latencies; cpu: the same queries' thread CPU times. */
static void report(const char *what, double *lat, double *cpu, size_t n, double nodes,
		   double hops)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	qsort(cpu, n, sizeof(*cpu), cmp_double);
	printf("| %s | %zu | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f |\n", what, n,
	       lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3, lat[n - 1] * 1e3, cpu[n / 2] * 1e3,
	       cpu[n * 99 / 100] * 1e3, nodes, hops);
}

typedef enum { Q_UP_PACK, Q_UP_PALLET, Q_DOWN_LOT } trace_kind;

/* QUERIES traces of one kind from random starting points. */
static void bench_trace(ldg *l, unsigned units, trace_kind kind, unsigned *seed)
{
	static const char *const names[] = {
		"trace up from a retail pack of a line's last batch (to the farms' harvest lots)",
		"trace up from a store pallet (cases, packs, blends, washes, packed and harvest lots)",
		"trace down (recall) from a harvest lot of a line's first batch, to the store pallets"};
	double *lat = malloc(QUERIES * sizeof(*lat)), *cpu = malloc(QUERIES * sizeof(*cpu));
	double nodes = 0, hops = 0;
	unsigned lines = units / LINE_UNITS, pallets = units / PALLET_CASES;
	char id[128];
	if (!lat || !cpu)
		die("bench", "out of memory");
	for (size_t i = 0; i < QUERIES; i++) {
		ldg_trace_opts to = {.dir = kind == Q_DOWN_LOT ? LDG_TRACE_DOWN : LDG_TRACE_UP,
				     .depth = 32};
		ldg_trace_node *nd;
		size_t n;
		bool cut;
		uint32_t deepest = 0;
		unsigned line = (unsigned)(rand_r(seed) % lines);
		double t, c;
		if (kind == Q_UP_PACK)
			snprintf(id, sizeof(id), "urn:epc:id:sgtin:0614141.054321.%u%u",
				 line * LINE_UNITS + LINE_UNITS - 1, (unsigned)(rand_r(seed) % PACKS) + 1);
		else if (kind == Q_UP_PALLET)
			snprintf(id, sizeof(id), "urn:epc:id:sscc:0614141.3%09u",
				 1 + (unsigned)(rand_r(seed) % (pallets - 1)));
		else
			snprintf(id, sizeof(id), "urn:epc:class:lgtin:0614141.012345.H%u",
				 line * LINE_UNITS);
		c = cpu_s();
		t = now_s();
		if (ldg_trace(l, id, &to, &nd, &n, &cut))
			die("trace", id);
		lat[i] = now_s() - t;
		cpu[i] = cpu_s() - c;
		for (size_t j = 0; j < n; j++)
			if (nd[j].depth > deepest)
				deepest = nd[j].depth;
		nodes += (double)n;
		hops += deepest;
		free(nd);
	}
	report(names[kind], lat, cpu, QUERIES, nodes / QUERIES, hops / QUERIES);
	free(lat);
	free(cpu);
}

static void bench_queries(const char *dir, const cli_home *h, unsigned units, unsigned events)
{
	char err[1024], id[128];
	ldg *l;
	ldg_options o = {.readonly = true};
	double *lat = malloc(QUERIES * sizeof(*lat)), *cpu = malloc(QUERIES * sizeof(*cpu));
	double sum;
	unsigned seed = 12345;
	if (!lat || !cpu || ldg_open(dir, h->c, &o, &l, err, sizeof(err)))
		die("ldg_open read-only", err);
	printf("\n| query (%u events, %d each, random starts) | n | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms | mean nodes/events | mean hops |\n"
	       "|---|---|---|---|---|---|---|---|---|\n",
	       events, QUERIES);
	sum = 0;
	for (size_t i = 0; i < QUERIES; i++) {
		ldg_event_info *it;
		size_t n;
		bool cut;
		unsigned u = (unsigned)(rand_r(&seed) % units);
		double t, c;
		snprintf(id, sizeof(id), "urn:epc:id:sgtin:0614141.054321.%u%u", u,
			 (unsigned)(rand_r(&seed) % PACKS) + 1);
		c = cpu_s();
		t = now_s();
		if (ldg_history(l, id, false, &it, &n, &cut))
			die("history", id);
		lat[i] = now_s() - t;
		cpu[i] = cpu_s() - c;
		sum += (double)n;
		free(it);
	}
	report("history of a retail pack (with its case's and pallets' events while inside)", lat,
	       cpu, QUERIES, sum / QUERIES, 0);
	bench_trace(l, units, Q_UP_PACK, &seed);
	bench_trace(l, units, Q_UP_PALLET, &seed);
	bench_trace(l, units, Q_DOWN_LOT, &seed);
	ldg_close(l);
	free(lat);
	free(cpu);
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

/* What every node does per record of the document: the whole record
 * check (signature and re-derivation), and the re-derivation alone. */
static void bench_node_checks(const cli_home *h, const char *text, size_t n, int reps)
{
	json_error_t je;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je), *events;
	cli_records rr;
	Trellis__Record **recs = calloc(n, sizeof(*recs));
	char err[1024];
	if (!doc || !recs)
		die("node checks", "cannot load the document");
	events = json_object_get(json_object_get(doc, "epcisBody"), "eventList");
	if (cli_records_from_doc(h, "bench", doc, events, 0, &rr, err, sizeof(err)))
		die("records", err);
	for (size_t i = 0; i < n; i++)
		if (!(recs[i] = trellis__record__unpack(NULL, rr.lens[i], rr.recs[i])))
			die("records", "cannot unpack");
	for (int mode = 0; mode < 2; mode++) {
		double best = 1e9;
		for (int r = 0; r < reps; r++) {
			double t = now_s();
			for (size_t i = 0; i < n; i++) {
				uint8_t id[TR_HASH_LEN];
				int rc = mode == 0 ? ldg_record_check(h->c, rr.recs[i], rr.lens[i], 0, id,
								      err, sizeof(err))
						   : ep_event_rederive(recs[i]->event.data,
								       recs[i]->event.len, err, sizeof(err));
				if (rc)
					die("node check", err);
			}
			t = now_s() - t;
			if (t < best)
				best = t;
		}
		printf("| %s | %.0f | %.1f |\n",
		       mode == 0 ? "node: ldg_record_check (Ed25519 verify + re-derive the Event from its json)"
				 : "node: of which re-deriving the Event (parse, validate, hash, map, compare)",
		       (double)n / best, best * 1e6 / (double)n);
	}
	for (size_t i = 0; i < n; i++)
		trellis__record__free_unpacked(recs[i], NULL);
	free(recs);
	cli_records_free(&rr);
	json_decref(doc);
}

static void bench_ingest(const cli_home *h)
{
	unsigned ne;
	/* batches far past the ledger's, so nothing repeats its events */
	char *text = units_doc(1000000, INGEST_EVENTS * 2 / 21, &ne);
	size_t len = strlen(text), n = ne;
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
	bench_node_checks(h, text, n, reps);
	free(text);
}

/* The consortium stored in an existing ledger at data (for --keep). */
static tr_consortium *stored_consortium(const char *data)
{
	uint8_t *bytes;
	size_t len;
	char err[1024];
	tr_consortium *c;
	if (ldg_read_consortium(data, &bytes, &len, err, sizeof(err)))
		die("--keep", err);
	if (tr_consortium_parse(bytes, len, &c, err, sizeof(err)))
		die("--keep", err);
	free(bytes);
	return c;
}

int main(int argc, char **argv)
{
	unsigned events = 100000, units, built;
	char tmp[] = "/tmp/trellis-bench-query.XXXXXX", data[600], err[1024];
	const char *line, *keep = NULL, *dir;
	char lines[1][512];
	const char *lp[1];
	char *json = NULL;
	tr_partner p = {.alg = TR_ALG_ED25519};
	cli_home h;
	struct stat st;

	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--events") == 0)
			events = (unsigned)strtoul(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--keep") == 0)
			keep = argv[i + 1];
	}
	/* 9 events per batch and 6 per pallet of 4: 10.5 per batch */
	units = (unsigned)(((uint64_t)events * 2 + 20) / 21);
	units += (LINE_UNITS - units % LINE_UNITS) % LINE_UNITS;
	if (units < 2 * LINE_UNITS)
		units = 2 * LINE_UNITS;
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
	if (keep) {
		/* --keep DIR: build the ledger in DIR once, and keep it; a later
		 * run with the same --events measures it again */
		dir = keep;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			die("--keep", strerror(errno));
	} else if (!(dir = mkdtemp(tmp))) {
		die("mkdtemp", tmp);
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	printf("# bench-query: %u events requested\n", events);
	if (keep && stat(data, &st) == 0) {
		cli_home old = h;
		old.c = stored_consortium(data);
		built = (unsigned)((uint64_t)units * 21 / 2);
		printf("reusing the ledger in %s (about %u events)\n", data, built);
		bench_queries(data, &old, units, built);
		tr_consortium_free(old.c);
	} else {
		built = build_ledger(data, &h, units);
		bench_queries(data, &h, units, built);
	}
	fflush(stdout);
	bench_ingest(&h);
	if (!keep) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-query: could not remove %s\n", dir);
	}
	tr_key_free(h.key);
	tr_consortium_free(h.c);
	return 0;
}
