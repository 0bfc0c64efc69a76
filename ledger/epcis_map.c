/*
 * epcis_map.c: EPCIS 2.0 event (jansson) -> Event bytes, and back (see
 * epcis_map.h and docs/epcis.md).
 *
 * The mapping builds one Trellis__Event on the stack whose strings either
 * point into the borrowed jansson values or live in a small arena (the
 * normalised keys), packs it once, and frees the arena. Every list is
 * bounded by EP_MAP_LIST_MAX; identifiers by EP_ID_MAX. Unpacking goes
 * through a counting allocator so hostile bytes cannot make protobuf-c
 * allocate without bound.
 */
#include "ledger/epcis_map.h"

#include "ledger/epcis_id.h"
#include "ledger/epcis_validate.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* ==== A small arena for the strings of one mapping ==== */

#define ARENA_CHUNK 8192

typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
} chunk;

typedef struct {
	chunk *head;
	bool failed;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
	chunk *c = a->head;
	n = (n + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			a->failed = true;
			return NULL;
		}
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static void arena_free(arena *a)
{
	while (a->head) {
		chunk *n = a->head->next;
		free(a->head);
		a->head = n;
	}
}

static char *arena_strdup(arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(a, n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* ==== Mapping ==== */

typedef struct {
	arena ar;
	const char *path;
	char *err;
	size_t errlen;
	int rc;
} mapper;

static char *borrow(const json_t *v)
{
	const char *s = json_string_value(v);
	return (char *)(uintptr_t)(s ? s : "");
}

static bool failed(mapper *m, int rc, const char *field, const char *why)
{
	if (m->rc == TR_OK) {
		m->rc = rc;
		snprintf(m->err, m->errlen, "%s.%s: %s", m->path, field, why);
	}
	return false;
}

/* The index key of the string at v (field names the place for errors). */
static char *key_of(mapper *m, const json_t *v, const char *field)
{
	char buf[EP_ID_MAX + 64];
	const char *s = json_string_value(v);
	int rc;
	if (!s) {
		failed(m, TR_EINVAL, field, "not a string");
		return NULL;
	}
	rc = ep_id_key(s, buf, sizeof(buf));
	if (rc) {
		failed(m, rc, field,
		       rc == TR_ETOOBIG ? "identifier too long" : "malformed EPC URN or GS1 Digital Link");
		return NULL;
	}
	return arena_strdup(&m->ar, buf);
}

static char *bare_of(mapper *m, const json_t *v, const char *field)
{
	char buf[EP_ID_MAX + 64];
	const char *s = json_string_value(v);
	if (!s)
		return (char *)(uintptr_t)"";
	if (ep_cbv_bare(s, buf, sizeof(buf)) != TR_OK) {
		failed(m, TR_ETOOBIG, field, "value too long");
		return NULL;
	}
	return arena_strdup(&m->ar, buf);
}

static bool list_len(mapper *m, const json_t *arr, const char *field, size_t *n)
{
	*n = 0;
	if (!arr)
		return true;
	if (!json_is_array(arr))
		return failed(m, TR_EINVAL, field, "not an array");
	if (json_array_size(arr) > EP_MAP_LIST_MAX)
		return failed(m, TR_ETOOBIG, field, "list too long");
	*n = json_array_size(arr);
	return true;
}

/* The list at ev[field] (bounded) and its k slots of slot bytes in the
 * arena (*slots NULL when k is 0). False with m's error on failure. */
static bool list_begin(mapper *m, const json_t *ev, const char *field, size_t slot,
		       const json_t **arr, size_t *k, void **slots)
{
	*arr = json_object_get(ev, field);
	*slots = NULL;
	if (!list_len(m, *arr, field, k))
		return false;
	if (*k && !(*slots = arena_alloc(&m->ar, *k * slot)))
		return failed(m, TR_ENOMEM, field, "out of memory");
	return true;
}

/* Entry i of a list of objects: *obj the object, and a new zeroed struct
 * of size bytes for it (NULL with m's error on failure). */
static void *list_entry(mapper *m, const json_t *arr, size_t i, const char *field, size_t size,
			const json_t **obj)
{
	void *t = arena_alloc(&m->ar, size);
	*obj = json_array_get(arr, i);
	if (!t) {
		failed(m, TR_ENOMEM, field, "out of memory");
		return NULL;
	}
	if (!json_is_object(*obj)) {
		failed(m, TR_EINVAL, field, "an entry is not an object");
		return NULL;
	}
	return t;
}

static bool map_ids(mapper *m, const json_t *ev, const char *field, size_t *n, char ***out)
{
	const json_t *arr;
	size_t k;
	void *slots;
	*n = 0;
	*out = NULL;
	if (!list_begin(m, ev, field, sizeof(char *), &arr, &k, &slots))
		return false;
	*out = slots;
	for (size_t i = 0; i < k; i++) {
		(*out)[i] = key_of(m, json_array_get(arr, i), field);
		if (!(*out)[i])
			return false;
	}
	*n = k;
	return true;
}

static char *number_text(mapper *m, const json_t *v)
{
	char buf[64];
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return arena_strdup(&m->ar, buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return arena_strdup(&m->ar, buf);
	}
	return (char *)(uintptr_t)"";
}

static bool map_quantities(mapper *m, const json_t *ev, const char *field, size_t *n,
			   Trellis__Quantity ***out)
{
	const json_t *arr, *q;
	size_t k;
	void *slots;
	*n = 0;
	*out = NULL;
	if (!list_begin(m, ev, field, sizeof(**out), &arr, &k, &slots))
		return false;
	*out = slots;
	for (size_t i = 0; i < k; i++) {
		Trellis__Quantity *t = list_entry(m, arr, i, field, sizeof(*t), &q);
		if (!t)
			return false;
		trellis__quantity__init(t);
		if (!(t->epc_class = key_of(m, json_object_get(q, "epcClass"), field)))
			return false;
		if (!(t->quantity = number_text(m, json_object_get(q, "quantity"))))
			return failed(m, TR_ENOMEM, field, "out of memory");
		t->uom = borrow(json_object_get(q, "uom"));
		(*out)[i] = t;
	}
	*n = k;
	return true;
}

/* sourceList / destinationList: [{"type": T, "source"|"destination": ID}] */
static bool map_parties(mapper *m, const json_t *ev, const char *field, const char *idkey,
			size_t *n, Trellis__Party ***out)
{
	const json_t *arr, *p;
	size_t k;
	void *slots;
	*n = 0;
	*out = NULL;
	if (!list_begin(m, ev, field, sizeof(**out), &arr, &k, &slots))
		return false;
	*out = slots;
	for (size_t i = 0; i < k; i++) {
		Trellis__Party *t = list_entry(m, arr, i, field, sizeof(*t), &p);
		if (!t)
			return false;
		trellis__party__init(t);
		if (!(t->type = bare_of(m, json_object_get(p, "type"), field)) ||
		    !(t->id = key_of(m, json_object_get(p, idkey), field)))
			return false;
		(*out)[i] = t;
	}
	*n = k;
	return true;
}

static bool map_biztx(mapper *m, const json_t *ev, size_t *n, Trellis__BizTransaction ***out)
{
	const char *field = "bizTransactionList";
	const json_t *arr, *b;
	size_t k;
	void *slots;
	*n = 0;
	*out = NULL;
	if (!list_begin(m, ev, field, sizeof(**out), &arr, &k, &slots))
		return false;
	*out = slots;
	for (size_t i = 0; i < k; i++) {
		Trellis__BizTransaction *t = list_entry(m, arr, i, field, sizeof(*t), &b);
		if (!t)
			return false;
		trellis__biz_transaction__init(t);
		if (!(t->type = bare_of(m, json_object_get(b, "type"), field)))
			return false;
		t->id = borrow(json_object_get(b, "bizTransaction"));
		(*out)[i] = t;
	}
	*n = k;
	return true;
}

/* ilmd's lot number: a member whose key is lotNumber in any namespace. */
static const char *ilmd_lot(const json_t *ev)
{
	const json_t *ilmd = json_object_get(ev, "ilmd");
	const char *k;
	const json_t *v;
	if (!json_is_object(ilmd))
		return "";
	json_object_foreach((json_t *)(uintptr_t)ilmd, k, v)
	{
		const char *colon = strrchr(k, ':');
		const char *name = colon ? colon + 1 : k;
		if (strcmp(name, "lotNumber") == 0 && json_is_string(v))
			return json_string_value(v);
	}
	return "";
}

int ep_time_ms(const char *s, int64_t *ms)
{
	char utc[25];
	struct tm tm;
	int y, mo, d, h, mi, sec, milli;
	time_t t;
	if (!s || ep_time_utc(s, strlen(s), utc) != TR_OK)
		return TR_EINVAL;
	if (sscanf(utc, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &sec, &milli) != 7)
		return TR_EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec > 59 ? 59 : sec;
	t = timegm(&tm);
	*ms = (int64_t)t * 1000 + milli;
	return TR_OK;
}

/* ep_map_event; json / ctxtext, when not NULL, are the event's and the
 * context's compact dumps, given by a caller that has them (borrowed). */
static int map_event(const ep_ctx *ctx, const json_t *context, json_t *event, const char *path,
		     const uint8_t *given_json, size_t given_json_len, const uint8_t *given_ctx,
		     size_t given_ctx_len, uint8_t **out, size_t *len, char *hash, char *err,
		     size_t errlen)
{
	Trellis__Event ev = TRELLIS__EVENT__INIT;
	mapper m = {.path = path ? path : "event", .err = err, .errlen = errlen, .rc = TR_OK};
	char h[EP_HASH_STR_LEN];
	char *json = NULL, *ctxtext = NULL;
	const json_t *v, *decl;
	uint8_t *buf = NULL;
	size_t n;
	int rc;

	if (!json_is_object(event)) {
		snprintf(err, errlen, "%s: not an object", m.path);
		return TR_EINVAL;
	}
	rc = ep_hash(ctx, event, h);
	if (rc) {
		snprintf(err, errlen, "%s: cannot compute the GS1 event hash: %s", m.path,
			 tr_strerror(rc));
		return rc;
	}
	if (given_json) {
		ev.json.data = (uint8_t *)(uintptr_t)given_json;
		ev.json.len = given_json_len;
	} else if ((json = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		ev.json.data = (uint8_t *)json;
		ev.json.len = strlen(json);
	}
	if (context && given_ctx) {
		ev.context.data = (uint8_t *)(uintptr_t)given_ctx;
		ev.context.len = given_ctx_len;
	} else if (context &&
		   (ctxtext = json_dumps(context, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY))) {
		ev.context.data = (uint8_t *)ctxtext;
		ev.context.len = strlen(ctxtext);
	}
	if (!ev.json.data || (context && !ev.context.data)) {
		rc = TR_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", m.path);
		goto out;
	}
	ev.event_hash = h;
	ev.type = borrow(json_object_get(event, "type"));
	ev.event_time = borrow(json_object_get(event, "eventTime"));
	if (ep_time_ms(ev.event_time, &ev.event_time_ms) != TR_OK) {
		failed(&m, TR_EINVAL, "eventTime", "not a date-time with offset");
		goto mapped;
	}
	ev.event_time_zone_offset = borrow(json_object_get(event, "eventTimeZoneOffset"));
	ev.action = borrow(json_object_get(event, "action"));
	ev.event_id = borrow(json_object_get(event, "eventID"));
	if (!(ev.biz_step = bare_of(&m, json_object_get(event, "bizStep"), "bizStep")) ||
	    !(ev.disposition = bare_of(&m, json_object_get(event, "disposition"), "disposition")))
		goto mapped;
	ev.read_point = ev.biz_location = (char *)(uintptr_t)"";
	v = json_object_get(event, "readPoint");
	if (json_is_object(v) && !(ev.read_point = key_of(&m, json_object_get(v, "id"), "readPoint.id")))
		goto mapped;
	v = json_object_get(event, "bizLocation");
	if (json_is_object(v) &&
	    !(ev.biz_location = key_of(&m, json_object_get(v, "id"), "bizLocation.id")))
		goto mapped;
	ev.parent_id = (char *)(uintptr_t)"";
	v = json_object_get(event, "parentID");
	if (v && !(ev.parent_id = key_of(&m, v, "parentID")))
		goto mapped;
	ev.transformation_id = (char *)(uintptr_t)"";
	v = json_object_get(event, "transformationID");
	if (v && !(ev.transformation_id = key_of(&m, v, "transformationID")))
		goto mapped;
	if (!map_ids(&m, event, "epcList", &ev.n_epcs, &ev.epcs) ||
	    !map_ids(&m, event, "childEPCs", &ev.n_child_epcs, &ev.child_epcs) ||
	    !map_ids(&m, event, "inputEPCList", &ev.n_input_epcs, &ev.input_epcs) ||
	    !map_ids(&m, event, "outputEPCList", &ev.n_output_epcs, &ev.output_epcs) ||
	    !map_quantities(&m, event, "quantityList", &ev.n_quantities, &ev.quantities) ||
	    !map_quantities(&m, event, "childQuantityList", &ev.n_child_quantities,
			    &ev.child_quantities) ||
	    !map_quantities(&m, event, "inputQuantityList", &ev.n_input_quantities,
			    &ev.input_quantities) ||
	    !map_quantities(&m, event, "outputQuantityList", &ev.n_output_quantities,
			    &ev.output_quantities) ||
	    !map_parties(&m, event, "sourceList", "source", &ev.n_sources, &ev.sources) ||
	    !map_parties(&m, event, "destinationList", "destination", &ev.n_destinations,
			 &ev.destinations) ||
	    !map_biztx(&m, event, &ev.n_biz_transactions, &ev.biz_transactions))
		goto mapped;
	ev.ilmd_lot = (char *)(uintptr_t)ilmd_lot(event);
	ev.error_reason = ev.declaration_time = (char *)(uintptr_t)"";
	decl = json_object_get(event, "errorDeclaration");
	if (json_is_object(decl)) {
		ev.error_declaration = true;
		ev.declaration_time = borrow(json_object_get(decl, "declarationTime"));
		if (!(ev.error_reason = bare_of(&m, json_object_get(decl, "reason"),
						"errorDeclaration.reason")) ||
		    !map_ids(&m, decl, "correctiveEventIDs", &ev.n_corrective_event_ids,
			     &ev.corrective_event_ids))
			goto mapped;
	}
mapped:
	if (m.rc == TR_OK && m.ar.failed)
		failed(&m, TR_ENOMEM, "event", "out of memory");
	if (m.rc) {
		rc = m.rc;
		goto out;
	}
	n = trellis__event__get_packed_size(&ev);
	if (n > EP_EVENT_BYTES_MAX) {
		snprintf(err, errlen, "%s: event of %zu bytes once mapped (at most %u)", m.path, n,
			 EP_EVENT_BYTES_MAX);
		rc = TR_ETOOBIG;
		goto out;
	}
	buf = malloc(n ? n : 1);
	if (!buf) {
		rc = TR_ENOMEM;
		snprintf(err, errlen, "%s: out of memory", m.path);
		goto out;
	}
	trellis__event__pack(&ev, buf);
	*out = buf;
	*len = n;
	if (hash)
		memcpy(hash, h, EP_HASH_STR_LEN);
	rc = TR_OK;
out:
	arena_free(&m.ar);
	free(json);
	free(ctxtext);
	return rc;
}

int ep_map_event(const ep_ctx *ctx, const json_t *context, json_t *event, const char *path,
		 uint8_t **out, size_t *len, char *hash, char *err, size_t errlen)
{
	return map_event(ctx, context, event, path, NULL, 0, NULL, 0, out, len, hash, err, errlen);
}

/* ==== Unpacking with a bound ==== */

/* Each block carries its size in front, so frees need no table; the
 * budget (allocator_data) is only there while unpacking. */
typedef struct {
	size_t used, max;
} budget;

static void *bounded_alloc(void *data, size_t size)
{
	budget *b = data;
	size_t *p;
	if (!b || size > b->max || b->used > b->max - size)
		return NULL;
	p = malloc(size + sizeof(size_t));
	if (!p)
		return NULL;
	*p = size;
	b->used += size;
	return p + 1;
}

static void bounded_free(void *data, void *ptr)
{
	budget *b = data;
	size_t *p = ptr;
	if (!p)
		return;
	p--;
	if (b)
		b->used -= *p;
	free(p);
}

static ProtobufCAllocator freer = {bounded_alloc, bounded_free, NULL};

int ep_event_unpack(const uint8_t *bytes, size_t len, Trellis__Event **out)
{
	budget b = {0, EP_UNPACK_ALLOC_MAX};
	ProtobufCAllocator a = {bounded_alloc, bounded_free, &b};
	Trellis__Event *ev;
	if (len > EP_EVENT_BYTES_MAX)
		return TR_ETOOBIG;
	ev = trellis__event__unpack(&a, len, bytes);
	if (!ev)
		return b.used > EP_UNPACK_ALLOC_MAX / 2 ? TR_ETOOBIG : TR_EINVAL;
	if (ev->base.n_unknown_fields || ev->json.len == 0) {
		trellis__event__free_unpacked(ev, &freer);
		return TR_EINVAL;
	}
	*out = ev;
	return TR_OK;
}

void ep_event_free(Trellis__Event *ev)
{
	if (ev)
		trellis__event__free_unpacked(ev, &freer);
}

int ep_event_json(const Trellis__Event *ev, json_t **out)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)ev->json.data, ev->json.len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return TR_EINVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		return TR_EINVAL;
	}
	*out = j;
	return TR_OK;
}

/* ==== Re-deriving an Event from its json ==== */

/* Size in a message struct of a singular scalar field of type t. */
static size_t scalar_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	default:
		return 4; /* int32 and the like, float, bool, enum */
	}
}

/* Whether the value at a and b (field f's storage) differ. */
static bool value_differs(const ProtobufCFieldDescriptor *f, const void *a, const void *b)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *x = *(char *const *)a, *y = *(char *const *)b;
		return strcmp(x ? x : "", y ? y : "") != 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *x = a, *y = b;
		return x->len != y->len || (x->len && memcmp(x->data, y->data, x->len) != 0);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *x = *(ProtobufCMessage *const *)a;
		const ProtobufCMessage *y = *(ProtobufCMessage *const *)b;
		const ProtobufCMessageDescriptor *d = f->descriptor;
		if (!x || !y)
			return x != y;
		for (unsigned i = 0; i < d->n_fields; i++)
			if (value_differs(&d->fields[i], (const char *)x + d->fields[i].offset,
					  (const char *)y + d->fields[i].offset))
				return true;
		return false;
	}
	default:
		return memcmp(a, b, scalar_size(f->type)) != 0;
	}
}

/* The first field of two Events that differs, or NULL. Repeated fields of
 * nested messages compare field by field (sub-messages have no repeated
 * fields). */
static const char *first_difference(const Trellis__Event *a, const Trellis__Event *b)
{
	const ProtobufCMessageDescriptor *d = &trellis__event__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t na = *(const size_t *)(const void *)((const char *)a + f->quantifier_offset);
			size_t nb = *(const size_t *)(const void *)((const char *)b + f->quantifier_offset);
			size_t sz = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
					    ? sizeof(void *)
				    : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
									: scalar_size(f->type);
			const char *ea = *(char *const *)(const void *)pa;
			const char *eb = *(char *const *)(const void *)pb;
			if (na != nb)
				return f->name;
			for (size_t k = 0; k < na; k++)
				if (value_differs(f, ea + k * sz, eb + k * sz))
					return f->name;
		} else if (value_differs(f, pa, pb)) {
			return f->name;
		}
	}
	return NULL;
}

int ep_event_rederive(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
	Trellis__Event *ev = NULL;
	int rc = ep_event_unpack(bytes, len, &ev);
	if (rc) {
		snprintf(err, errlen, "event is not a valid Event message");
		return rc;
	}
	rc = ep_event_rederive_unpacked(ev, bytes, len, err, errlen);
	ep_event_free(ev);
	return rc;
}

int ep_event_rederive_unpacked(const Trellis__Event *ev, const uint8_t *bytes, size_t len,
			       char *err, size_t errlen)
{
	Trellis__Event *again = NULL;
	json_t *event = NULL, *context = NULL, *doc = NULL;
	ep_ctx *ctx = NULL;
	json_error_t je;
	uint8_t *out = NULL;
	size_t olen = 0;
	char why[512];
	const char *field;
	bool canon_json, canon_ctx = false;
	int rc;
	/* The json (and context) must be the compact dump of what they parse
	 * to. The usual record's are read by ep_json_load_canonical, which
	 * takes only bytes that are that dump already, so the mapping takes
	 * them as they are instead of dumping the tree again; everything else
	 * is parsed by jansson, and dumped and compared below. */
	canon_json = (event = ep_json_load_canonical(ev->json.data, ev->json.len, false)) != NULL;
	if (!event)
		event = json_loadb((const char *)ev->json.data, ev->json.len, JSON_REJECT_DUPLICATES,
				   &je);
	if (!json_is_object(event)) {
		snprintf(err, errlen, "event json is not a JSON object: %s",
			 event ? "another JSON value" : je.text);
		rc = TR_EINVAL;
		goto out;
	}
	rc = ep_validate_event(event, "json", why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "event %s", why);
		goto out;
	}
	if (ev->context.len) {
		canon_ctx = (context = ep_json_load_canonical(ev->context.data, ev->context.len,
							      true)) != NULL;
		if (!context)
			context = json_loadb((const char *)ev->context.data, ev->context.len,
					     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		doc = context ? json_object() : NULL;
		if (!doc || json_object_set(doc, "@context", context)) {
			snprintf(err, errlen, "event context is not JSON: %s",
				 context ? "out of memory" : je.text);
			rc = context ? TR_ENOMEM : TR_EINVAL;
			goto out;
		}
	}
	rc = ep_ctx_new(doc, &ctx);
	if (rc) {
		snprintf(err, errlen, "event context: %s", tr_strerror(rc));
		goto out;
	}
	rc = map_event(ctx, context, event, "json", canon_json ? ev->json.data : NULL, ev->json.len,
		       canon_ctx ? ev->context.data : NULL, ev->context.len, &out, &olen, NULL, why,
		       sizeof(why));
	if (rc) {
		snprintf(err, errlen, "event %s", why);
		goto out;
	}
	if (olen == len && memcmp(out, bytes, len) == 0)
		goto out; /* rc == TR_OK */
	rc = TR_EINVAL;
	if (ep_event_unpack(out, olen, &again) != TR_OK) {
		snprintf(err, errlen, "event does not re-derive from its json");
		goto out;
	}
	field = first_difference(ev, again);
	if (!field)
		snprintf(err, errlen,
			 "event is not encoded as trellis submit encodes it (same fields, other bytes)");
	else if (strcmp(field, "json") == 0 || strcmp(field, "context") == 0)
		snprintf(err, errlen,
			 "event field '%s' is not in the compact form trellis submit writes", field);
	else
		snprintf(err, errlen, "event field '%s' differs from what its json maps to", field);
out:
	ep_event_free(again);
	free(out);
	ep_ctx_free(ctx);
	json_decref(doc);
	json_decref(context);
	json_decref(event);
	return rc;
}
