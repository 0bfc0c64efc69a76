/*
 * query.c: `trellis history`, `trellis trace up|down` and `trellis export
 * fsma204|epcis` (cli/query.h). Each opens the home's ledger read-only,
 * runs one query of ledger/query.h and prints it for people (default) or
 * as JSON (--json). docs/epcis.md and docs/fsma204.md describe the output.
 */
#include "cli/query.h"

#include "cli/cli.h"
#include "ledger/epcis_id.h"
#include "ledger/epcis_map.h"
#include "ledger/query.h"

#include <string.h>
#include <time.h>

int cli_time_arg(const char *s, bool end_of_day, int64_t *ms)
{
	char buf[64];
	if (!s || strlen(s) > 48)
		return TR_EINVAL;
	if (strlen(s) == 10) {
		snprintf(buf, sizeof(buf), "%sT%s", s, end_of_day ? "23:59:59.999Z" : "00:00:00Z");
		s = buf;
	}
	return ep_time_ms(s, ms);
}

static json_t *info_json(const ldg_event_info *e)
{
	char hex[2 * TR_HASH_LEN + 1];
	json_t *j = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}",
			      "event_id", tr_hex(hex, e->event_id, TR_HASH_LEN), "height",
			      (json_int_t)e->height, "position", (int)e->position, "type", e->type,
			      "event_time", e->event_time, "action", e->action, "biz_step",
			      e->biz_step, "where", e->where, "signer", e->signer, "event_hash",
			      e->event_hash, "retracted", e->retracted, "declaration",
			      e->declaration);
	if (j && e->via[0])
		json_object_set_new(j, "via", json_string(e->via));
	return j;
}

/* One readable line about an event: time, type, action, step, place, signer. */
static void info_line(const ldg_event_info *e, char *out, size_t outlen)
{
	char hex[2 * TR_HASH_LEN + 1];
	snprintf(out, outlen, "%s  %s%s%s%s%s  at %s  by %s  event %.16s (height %llu position %u)%s%s",
		 e->event_time, e->type, e->action[0] ? " " : "", e->action,
		 e->biz_step[0] ? " " : "", e->biz_step, e->where[0] ? e->where : "-", e->signer,
		 tr_hex(hex, e->event_id, TR_HASH_LEN), (unsigned long long)e->height, e->position,
		 e->declaration ? "  [error declaration]" : "", e->retracted ? "  [retracted]" : "");
}

/* ==== history ==== */

static int cmd_history(const cli_query_opts *q, ldg *l)
{
	ldg_event_info *items = NULL;
	size_t n = 0;
	bool cut = false;
	char key[EP_ID_MAX + 64];
	int rc;

	if (q->nargs != 2) {
		cli_fail("usage: trellis --home H history ID [--include-retracted] [--json]");
		return TR_EXIT_USAGE;
	}
	rc = ep_id_key(q->args[1], key, sizeof(key));
	if (rc == TR_OK)
		rc = ldg_history(l, q->args[1], q->include_retracted, &items, &n, &cut);
	if (rc) {
		cli_fail("cannot read the history of '%.200s': %s", q->args[1],
			  rc == TR_EINVAL ? "not a well-formed EPC URN or GS1 Digital Link"
					  : tr_strerror(rc));
		return tr_exit_code(rc);
	}
	if (q->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, info_json(&items[i]));
		cli_print_json(json_pack("{s:s, s:o, s:b}", "id", key, "events", arr ? arr : json_array(),
				     "cut", cut));
	} else {
		char line[2048];
		printf("history of %s: %zu event%s%s\n", key, n, n == 1 ? "" : "s",
		       cut ? " (cut: more than the limit)" : "");
		for (size_t i = 0; i < n; i++) {
			info_line(&items[i], line, sizeof(line));
			printf("  %s%s%s\n", line, items[i].via[0] ? "  inside " : "", items[i].via);
		}
	}
	free(items);
	if (n == 0) {
		cli_fail("no event names '%.200s'", q->args[1]);
		return TR_EXIT_NOTFOUND;
	}
	return 0;
}

/* ==== trace ==== */

static json_t *trace_json(const ldg_trace_node *nodes, size_t n, size_t at)
{
	const ldg_trace_node *nd = &nodes[at];
	json_t *kids = json_array();
	json_t *j = json_pack("{s:s}", "id", nd->id);
	if (!j || !kids) {
		json_decref(j);
		json_decref(kids);
		return NULL;
	}
	if (nd->depth > 0) {
		json_object_set_new(j, "relation", json_string(nd->relation));
		json_object_set_new(j, "event", info_json(&nd->link));
	}
	if (nd->has_last)
		json_object_set_new(j, "last_seen", info_json(&nd->last));
	if (nd->repeated)
		json_object_set_new(j, "repeated", json_true());
	if (nd->depth_cut)
		json_object_set_new(j, "depth_cut", json_true());
	/* children follow their parent in preorder */
	for (size_t i = at + 1; i < n && nodes[i].depth > nd->depth; i++)
		if (nodes[i].parent == at)
			json_array_append_new(kids, trace_json(nodes, n, i));
	json_object_set_new(j, "children", kids);
	return j;
}

/* Is node i the last child of its parent? */
static bool last_child(const ldg_trace_node *nodes, size_t n, size_t i)
{
	for (size_t k = i + 1; k < n && nodes[k].depth >= nodes[i].depth; k++)
		if (nodes[k].parent == nodes[i].parent)
			return false;
	return true;
}

static void trace_print(const ldg_trace_node *nodes, size_t n)
{
	char line[2048], prefix[LDG_TRACE_DEPTH_MAX * 4 + 8];
	for (size_t i = 0; i < n; i++) {
		const ldg_trace_node *nd = &nodes[i];
		size_t pl = 0;
		/* the prefix: for each ancestor level, a bar when more siblings follow */
		for (uint32_t d = 1; d < nd->depth; d++) {
			size_t anc = i;
			while (nodes[anc].depth > d)
				anc = nodes[anc].parent;
			pl += (size_t)snprintf(prefix + pl, sizeof(prefix) - pl, "%s",
					       last_child(nodes, n, anc) ? "   " : "|  ");
		}
		prefix[pl] = '\0';
		if (nd->depth == 0) {
			printf("%s\n", nd->id);
		} else {
			info_line(&nd->link, line, sizeof(line));
			printf("%s%s %s %s%s%s\n", prefix, last_child(nodes, n, i) ? "`-" : "|-",
			       nd->relation, nd->id, nd->repeated ? "  (already shown above)" : "",
			       nd->depth_cut ? "  (depth limit: more below)" : "");
			printf("%s%s      linked by %s\n", prefix, last_child(nodes, n, i) ? "  " : "| ",
			       line);
		}
		if (nd->has_last) {
			const char *pre = nd->depth == 0 ? "" : prefix;
			const char *bar = nd->depth == 0 ? "" : last_child(nodes, n, i) ? "  " : "| ";
			printf("%s%s      last seen %s at %s (%s%s%s, by %s)\n", pre, bar,
			       nd->last.event_time, nd->last.where, nd->last.type,
			       nd->last.biz_step[0] ? " " : "", nd->last.biz_step, nd->last.signer);
		}
	}
}

static int cmd_trace(const cli_query_opts *q, ldg *l)
{
	ldg_trace_opts o = {.include_retracted = q->include_retracted};
	ldg_trace_node *nodes = NULL;
	size_t n = 0;
	bool cut = false;
	int rc;

	if (q->nargs != 3 || (strcmp(q->args[1], "up") && strcmp(q->args[1], "down"))) {
		cli_fail("usage: trellis --home H trace up|down ID [--depth N] [--include-retracted] [--json]");
		return TR_EXIT_USAGE;
	}
	o.dir = strcmp(q->args[1], "up") == 0 ? LDG_TRACE_UP : LDG_TRACE_DOWN;
	if (q->depth) {
		char *end;
		long d = strtol(q->depth, &end, 10);
		if (*end || d < 1 || d > LDG_TRACE_DEPTH_MAX) {
			cli_fail("--depth takes 1..%d, not '%.40s'", LDG_TRACE_DEPTH_MAX, q->depth);
			return TR_EXIT_USAGE;
		}
		o.depth = (uint32_t)d;
	}
	rc = ldg_trace(l, q->args[2], &o, &nodes, &n, &cut);
	if (rc) {
		cli_fail("cannot trace '%.200s': %s", q->args[2],
			  rc == TR_EINVAL ? "not a well-formed EPC URN or GS1 Digital Link"
					  : tr_strerror(rc));
		return tr_exit_code(rc);
	}
	if (q->json) {
		json_t *tree = trace_json(nodes, n, 0);
		cli_print_json(json_pack("{s:s, s:o, s:i, s:b}", "direction", q->args[1], "tree",
				     tree ? tree : json_null(), "nodes", (int)n, "cut", cut));
	} else {
		trace_print(nodes, n);
		if (cut)
			printf("(cut: the tree reached its depth or size limit)\n");
	}
	rc = n == 1 && !nodes[0].has_last ? TR_EXIT_NOTFOUND : 0;
	if (rc)
		cli_fail("no event names '%.200s'", q->args[2]);
	free(nodes);
	return rc;
}

/* ==== export epcis ==== */

typedef struct {
	json_t *events;
	json_t *ctx_urls;   /* strings of the merged @context */
	json_t *ctx_prefix; /* prefix -> namespace of the merged @context */
	const char *only;   /* --id: index key, or NULL */
	size_t conflicts;
} epcis_export;

static void merge_context(epcis_export *x, const json_t *c)
{
	if (json_is_string(c)) {
		size_t i;
		json_t *v;
		json_array_foreach(x->ctx_urls, i, v) if (json_equal(v, c)) return;
		json_array_append(x->ctx_urls, (json_t *)(uintptr_t)c);
	} else if (json_is_array(c)) {
		for (size_t i = 0; i < json_array_size(c) && i < EP_NS_MAX; i++)
			merge_context(x, json_array_get(c, i));
	} else if (json_is_object(c)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)(uintptr_t)c, k, v)
		{
			json_t *have = json_object_get(x->ctx_prefix, k);
			if (!have)
				json_object_set(x->ctx_prefix, k, v);
			else if (!json_equal(have, v))
				x->conflicts++;
		}
	}
}

/* Does the event name the identifier key (as the history index would)? */
static bool names_id(const Trellis__Event *ev, const char *key)
{
	const char *one[] = {ev->parent_id, ev->read_point, ev->biz_location};
	for (size_t i = 0; i < TR_ARRAY_LEN(one); i++)
		if (strcmp(one[i], key) == 0)
			return true;
#define IN_LIST(arr, n, get) \
	for (size_t i = 0; i < (n); i++) \
		if (strcmp(get, key) == 0) \
			return true;
	IN_LIST(ev->epcs, ev->n_epcs, ev->epcs[i])
	IN_LIST(ev->child_epcs, ev->n_child_epcs, ev->child_epcs[i])
	IN_LIST(ev->input_epcs, ev->n_input_epcs, ev->input_epcs[i])
	IN_LIST(ev->output_epcs, ev->n_output_epcs, ev->output_epcs[i])
	IN_LIST(ev->quantities, ev->n_quantities, ev->quantities[i]->epc_class)
	IN_LIST(ev->child_quantities, ev->n_child_quantities, ev->child_quantities[i]->epc_class)
	IN_LIST(ev->input_quantities, ev->n_input_quantities, ev->input_quantities[i]->epc_class)
	IN_LIST(ev->output_quantities, ev->n_output_quantities,
		ev->output_quantities[i]->epc_class)
#undef IN_LIST
	return false;
}

static int export_epcis_one(void *ctx, const Trellis__Event *ev, const ldg_event_info *info)
{
	epcis_export *x = ctx;
	json_t *j;
	(void)info;
	if (x->only && !names_id(ev, x->only))
		return 0;
	if (ep_event_json(ev, &j) != TR_OK)
		return TR_EVERIFY;
	if (json_array_size(x->events) >= CLI_DOC_EVENTS_MAX) {
		json_decref(j);
		return TR_ETOOBIG;
	}
	json_array_append_new(x->events, j);
	if (ev->context.len) {
		json_error_t je;
		json_t *c = json_loadb((const char *)ev->context.data, ev->context.len,
				       JSON_DECODE_ANY, &je);
		if (c)
			merge_context(x, c);
		json_decref(c);
	}
	return 0;
}

static void now_text(char *out, size_t outlen)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_export_epcis(const cli_query_opts *q, ldg *l, int64_t from, int64_t to)
{
	epcis_export x = {json_array(), json_array(), json_object(), NULL, 0};
	char key[EP_ID_MAX + 64], now[32];
	json_t *ctx, *doc;
	int rc;

	if (!x.events || !x.ctx_urls || !x.ctx_prefix) {
		rc = TR_ENOMEM;
		goto out;
	}
	json_array_append_new(x.ctx_urls,
			      json_string("https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"));
	if (q->id) {
		if (ep_id_key(q->id, key, sizeof(key)) != TR_OK) {
			cli_fail("bad --id '%.200s': not a well-formed EPC URN or GS1 Digital Link",
				  q->id);
			rc = TR_EINVAL;
			goto out;
		}
		x.only = key;
	}
	rc = ldg_events_each(l, from, to, export_epcis_one, &x);
	if (rc) {
		cli_fail("cannot export: %s", tr_strerror(rc));
		goto out;
	}
	if (json_array_size(x.events) == 0) {
		cli_fail("no committed event in the range");
		rc = TR_ENOTFOUND;
		goto out;
	}
	if (x.conflicts)
		cli_fail("warning: %zu @context prefixes are bound to different namespaces by different documents; the first binding is kept",
			  x.conflicts);
	ctx = json_copy(x.ctx_urls);
	if (json_object_size(x.ctx_prefix))
		json_array_append(ctx, x.ctx_prefix);
	now_text(now, sizeof(now));
	doc = json_pack("{s:o, s:s, s:s, s:s, s:{s:O}}", "@context", ctx, "type", "EPCISDocument",
			"schemaVersion", "2.0", "creationDate", now, "epcisBody", "eventList",
			x.events);
	{
		char *text = doc ? json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(1)) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(doc);
	}
	rc = TR_OK;
out:
	json_decref(x.events);
	json_decref(x.ctx_urls);
	json_decref(x.ctx_prefix);
	return tr_exit_code(rc);
}

/* ==== export fsma204 ==== */

/* The FSMA 204 Critical Tracking Event of an event, or NULL when the
 * event is none (docs/fsma204.md). */
static const char *cte_of(const Trellis__Event *ev)
{
	/* a private vocabulary URI counts by its last word:
	 * https://ns.example.com/fsma/harvesting -> harvesting */
	const char *b = ev->biz_step;
	const char *last = strrchr(b, '/');
	if (!last)
		last = strrchr(b, ':');
	if (last && last[1])
		b = last + 1;
	if (strcmp(ev->type, "TransformationEvent") == 0 || strcmp(b, "transforming") == 0 ||
	    strcmp(b, "creating_class_instance") == 0)
		return "transformation";
	if (strcmp(b, "harvesting") == 0)
		return "harvesting";
	if (strcmp(b, "cooling") == 0)
		return "cooling";
	if (strcmp(b, "packing") == 0 || strcmp(b, "commissioning") == 0)
		return "initial packing";
	if (strcmp(b, "landing") == 0 || strcmp(b, "first_land_based_receiving") == 0)
		return "first land-based receiving";
	if (strcmp(b, "shipping") == 0 || strcmp(b, "departing") == 0)
		return "shipping";
	if (strcmp(b, "receiving") == 0 || strcmp(b, "arriving") == 0 ||
	    strcmp(b, "accepting") == 0)
		return "receiving";
	return NULL;
}

/* RFC 4180 field: quoted when it holds a comma, quote or line break. */
static void csv_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	fputs(last ? "\r\n" : ",", stdout);
}

/* GTIN and lot of a class key https://id.gs1.org/01/GTIN[/10/LOT]. */
static bool gtin_lot(const char *key, char gtin[15], char *lot, size_t lotlen)
{
	static const char pre[] = "https://id.gs1.org/01/";
	const char *p;
	if (strncmp(key, pre, sizeof(pre) - 1) != 0)
		return false;
	p = key + sizeof(pre) - 1;
	if (strlen(p) < 14)
		return false;
	memcpy(gtin, p, 14);
	gtin[14] = '\0';
	p += 14;
	lot[0] = '\0';
	if (strncmp(p, "/10/", 4) == 0)
		snprintf(lot, lotlen, "%s", p + 4);
	return true;
}

/* The GLN of a location key https://id.gs1.org/414/GLN[/254/EXT]. */
static void gln_of(const char *key, char *out, size_t outlen)
{
	static const char pre[] = "https://id.gs1.org/414/";
	out[0] = '\0';
	if (strncmp(key, pre, sizeof(pre) - 1) == 0)
		snprintf(out, outlen, "%.13s", key + sizeof(pre) - 1);
}

typedef struct {
	ldg *l;
	const char *lot; /* --lot, or NULL */
	size_t rows;
	bool json; /* one JSON object per row (JSON Lines), not CSV */
} fsma_export;

/* The columns, in order: the CSV header and the JSON keys. */
static const char *const fsma_cols[] = {
	"cte", "traceability_lot_code", "traceability_lot_code_source", "gtin", "product_id",
	"quantity", "unit_of_measure", "location_gln", "location_id", "event_time",
	"reference_document_type", "reference_document_number", "previous_source",
	"next_recipient", "input_lots", "recorded_by", "event_id"};
#define FSMA_COLS TR_ARRAY_LEN(fsma_cols)

/* A JSON string of s; joined fields cut at their buffer's end may end
 * inside a UTF-8 sequence, which is dropped. */
static json_t *json_text(const char *s)
{
	size_t n = strlen(s);
	for (int cut = 0; cut < 4 && cut <= (int)n; cut++) {
		json_t *j = json_stringn(s, n - (size_t)cut);
		if (j)
			return j;
	}
	return json_string("");
}

static void fsma_emit(const fsma_export *x, const char *const v[FSMA_COLS])
{
	if (x->json) {
		json_t *o = json_object();
		for (size_t i = 0; i < FSMA_COLS; i++)
			json_object_set_new(o, fsma_cols[i], json_text(v[i]));
		cli_print_json(o);
		return;
	}
	for (size_t i = 0; i < FSMA_COLS; i++)
		csv_field(v[i], i + 1 == FSMA_COLS);
}

/* The traceability lot code source of the row's lot (docs/fsma204.md):
 * the place of the event that created the lot, "" when unknown. */
static void lot_source(fsma_export *x, const char *class_key, const char *gtin, bool class_lot,
		       const char *lot, char out[LDG_TEXT_MAX])
{
	char key[LDG_TEXT_MAX + 64];
	out[0] = '\0';
	if (!lot[0])
		return;
	if (class_lot)
		snprintf(key, sizeof(key), "%s", class_key);
	else if (gtin[0])
		snprintf(key, sizeof(key), "https://id.gs1.org/01/%s/10/%s", gtin, lot);
	else
		return;
	if (ldg_lot_source(x->l, key, out) != TR_OK)
		out[0] = '\0';
}

static void join_parties(char *out, size_t outlen, Trellis__Party **p, size_t n)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? ";" : "", p[i]->id);
}

static void fsma_row(fsma_export *x, const Trellis__Event *ev, const ldg_event_info *info,
		     const char *cte, const char *class_key, const Trellis__Quantity *qty,
		     const char *inputs)
{
	char gtin[15] = "", lot[LDG_TEXT_MAX] = "", gln[16], ref_type[256] = "", ref_num[1024] = "";
	char prev[1024], next[1024], hex[2 * TR_HASH_LEN + 1], source[LDG_TEXT_MAX];
	const char *where = ev->biz_location[0] ? ev->biz_location : ev->read_point;
	size_t ut = 0, un = 0;
	bool class_lot;

	if (class_key && !gtin_lot(class_key, gtin, lot, sizeof(lot)))
		gtin[0] = '\0';
	class_lot = lot[0] != '\0';
	if (!lot[0] && ev->ilmd_lot[0])
		snprintf(lot, sizeof(lot), "%s", ev->ilmd_lot);
	if (x->lot && strcmp(x->lot, lot) != 0)
		return;
	lot_source(x, class_key, gtin, class_lot, lot, source);
	gln_of(where, gln, sizeof(gln));
	for (size_t i = 0; i < ev->n_biz_transactions; i++) {
		ut += (size_t)snprintf(ref_type + ut, ut < sizeof(ref_type) ? sizeof(ref_type) - ut : 0,
				       "%s%s", i ? ";" : "", ev->biz_transactions[i]->type);
		un += (size_t)snprintf(ref_num + un, un < sizeof(ref_num) ? sizeof(ref_num) - un : 0,
				       "%s%s", i ? ";" : "", ev->biz_transactions[i]->id);
		if (ut >= sizeof(ref_type) || un >= sizeof(ref_num))
			break;
	}
	join_parties(prev, sizeof(prev), ev->sources, ev->n_sources);
	join_parties(next, sizeof(next), ev->destinations, ev->n_destinations);
	{
		const char *const v[FSMA_COLS] = {
			cte, lot, source, gtin, class_key ? class_key : "", qty ? qty->quantity : "",
			qty ? qty->uom : "", gln, where, ev->event_time, ref_type, ref_num, prev, next,
			inputs, info->signer, tr_hex(hex, info->event_id, TR_HASH_LEN)};
		fsma_emit(x, v);
	}
	x->rows++;
}

static int export_fsma_one(void *ctx, const Trellis__Event *ev, const ldg_event_info *info)
{
	fsma_export *x = ctx;
	const char *cte = cte_of(ev);
	char inputs[4096] = "";
	size_t used = 0, rows = x->rows;
	if (!cte || info->retracted || ev->error_declaration)
		return 0;
	if (strcmp(cte, "transformation") == 0) {
		for (size_t i = 0; i < ev->n_input_quantities && used < sizeof(inputs); i++)
			used += (size_t)snprintf(inputs + used, sizeof(inputs) - used, "%s%s",
						 used ? ";" : "", ev->input_quantities[i]->epc_class);
		for (size_t i = 0; i < ev->n_input_epcs && used < sizeof(inputs); i++)
			used += (size_t)snprintf(inputs + used, sizeof(inputs) - used, "%s%s",
						 used ? ";" : "", ev->input_epcs[i]);
		for (size_t i = 0; i < ev->n_output_quantities; i++)
			fsma_row(x, ev, info, cte, ev->output_quantities[i]->epc_class,
				 ev->output_quantities[i], inputs);
		for (size_t i = 0; i < ev->n_output_epcs; i++)
			fsma_row(x, ev, info, cte, ev->output_epcs[i], NULL, inputs);
		return 0;
	}
	for (size_t i = 0; i < ev->n_quantities; i++)
		fsma_row(x, ev, info, cte, ev->quantities[i]->epc_class, ev->quantities[i], "");
	for (size_t i = 0; i < ev->n_child_quantities; i++)
		fsma_row(x, ev, info, cte, ev->child_quantities[i]->epc_class, ev->child_quantities[i],
			 "");
	for (size_t i = 0; i < ev->n_epcs; i++)
		fsma_row(x, ev, info, cte, ev->epcs[i], NULL, "");
	for (size_t i = 0; i < ev->n_child_epcs; i++)
		fsma_row(x, ev, info, cte, ev->child_epcs[i], NULL, "");
	if (rows == x->rows && ev->parent_id[0])
		fsma_row(x, ev, info, cte, ev->parent_id, NULL, "");
	return 0;
}

static int cmd_export_fsma(const cli_query_opts *q, ldg *l, int64_t from, int64_t to)
{
	fsma_export x = {l, q->lot, 0, q->json};
	int rc;
	if (!q->json)
		for (size_t i = 0; i < FSMA_COLS; i++)
			csv_field(fsma_cols[i], i + 1 == FSMA_COLS);
	rc = ldg_events_each(l, from, to, export_fsma_one, &x);
	if (rc) {
		cli_fail("cannot export: %s", tr_strerror(rc));
		return tr_exit_code(rc);
	}
	return 0;
}

static int cmd_export(const cli_query_opts *q, ldg *l)
{
	int64_t from = INT64_MIN, to = INT64_MAX;
	if (q->nargs != 2 || (strcmp(q->args[1], "fsma204") && strcmp(q->args[1], "epcis"))) {
		cli_fail("usage: trellis --home H export fsma204|epcis [--from T] [--to T]");
		return TR_EXIT_USAGE;
	}
	if ((q->from && cli_time_arg(q->from, false, &from) != TR_OK) ||
	    (q->to && cli_time_arg(q->to, true, &to) != TR_OK)) {
		cli_fail("--from / --to take a date (YYYY-MM-DD) or a date-time with offset");
		return TR_EXIT_USAGE;
	}
	if (strcmp(q->args[1], "epcis") == 0)
		return cmd_export_epcis(q, l, from, to);
	if (q->id) {
		cli_fail("--id is for export epcis; export fsma204 takes --lot CODE");
		return TR_EXIT_USAGE;
	}
	return cmd_export_fsma(q, l, from, to);
}

int cli_cmd_query(const cli_query_opts *q)
{
	cli_home h;
	ldg *l;
	int ex;
	const char *verb = q->args[0];
	if (strcmp(verb, "history") && strcmp(verb, "trace") && strcmp(verb, "export"))
		return TR_EXIT_USAGE;
	ex = cli_ledger_open_ro(q->home, &h, &l);
	if (ex)
		return ex;
	if (strcmp(verb, "history") == 0)
		ex = cmd_history(q, l);
	else if (strcmp(verb, "trace") == 0)
		ex = cmd_trace(q, l);
	else
		ex = cmd_export(q, l);
	ldg_close(l);
	cli_home_close(&h);
	return ex;
}
