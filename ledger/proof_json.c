/*
 * proof_json.c: the JSON form of a proof (docs/proof-format.md, "The JSON
 * form"): the binary form's bytes fields in base64, its indexes as
 * integers. Reading is strict: every key is known and present, none is
 * repeated, every number is an integer in range, every base64 string
 * decodes; err names the JSON path of what is wrong.
 */
#include "ledger/proof.h"

#include "proto/proof.pb-c.h"

#include <jansson.h>
#include <string.h>

/* ==== Writing ==== */

static json_t *b64_json(const ProtobufCBinaryData *d)
{
	size_t cap = TR_B64_LEN(d->len);
	char *s = malloc(cap);
	json_t *j;
	if (!s)
		return NULL;
	tr_b64_encode(s, cap, d->data, d->len);
	j = json_string(s);
	free(s);
	return j;
}

/* json_object_set_new that remembers a failure in *ok. */
static void put(json_t *o, const char *k, json_t *v, bool *ok)
{
	if (!v || json_object_set_new(o, k, v) != 0)
		*ok = false;
}

static void push(json_t *a, json_t *v, bool *ok)
{
	if (!v || json_array_append_new(a, v) != 0)
		*ok = false;
}

int ldg_proof_to_json(const uint8_t *proof, size_t len, char **json, char *err, size_t errlen)
{
	Trellis__Proof *p = trellis__proof__unpack(NULL, len, proof);
	json_t *root, *blocks, *records;
	bool ok = true;

	if (!p) {
		snprintf(err, errlen, "not a trellis proof (no valid Proof message)");
		return TR_EINVAL;
	}
	root = json_object();
	blocks = json_array();
	records = json_array();
	put(root, "format", json_string("trellis-proof"), &ok);
	put(root, "version", json_integer(p->version), &ok);
	for (size_t i = 0; i < p->n_blocks; i++) {
		json_t *b = json_object();
		put(b, "header", b64_json(&p->blocks[i]->header), &ok);
		put(b, "certificate", b64_json(&p->blocks[i]->certificate), &ok);
		push(blocks, b, &ok);
	}
	for (size_t i = 0; i < p->n_records; i++) {
		const Trellis__ProofRecord *r = p->records[i];
		json_t *o = json_object(), *path = json_array();
		put(o, "record", b64_json(&r->record), &ok);
		put(o, "block", json_integer(r->block), &ok);
		put(o, "position", json_integer(r->position), &ok);
		for (size_t j = 0; j < r->n_path; j++)
			push(path, b64_json(&r->path[j]), &ok);
		put(o, "path", path, &ok);
		push(records, o, &ok);
	}
	put(root, "blocks", blocks, &ok);
	put(root, "records", records, &ok);
	if (p->trace) {
		json_t *t = json_object(), *steps = json_array();
		const char *dir = p->trace->direction == LDG_PROOF_UP     ? "up"
				  : p->trace->direction == LDG_PROOF_DOWN ? "down"
									  : "?";
		put(t, "direction", json_string(dir), &ok);
		for (size_t i = 0; i < p->trace->n_steps; i++) {
			const Trellis__TraceStep *s = p->trace->steps[i];
			json_t *o = json_object(), *recs = json_array();
			put(o, "id", json_string(s->id), &ok);
			put(o, "parent", i == 0 ? json_null() : json_integer(s->parent), &ok);
			for (size_t j = 0; j < s->n_records; j++)
				push(recs, json_integer(s->records[j]), &ok);
			put(o, "records", recs, &ok);
			push(steps, o, &ok);
		}
		put(t, "steps", steps, &ok);
		put(root, "trace", t, &ok);
	}
	trellis__proof__free_unpacked(p, NULL);
	*json = ok ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (!*json) {
		snprintf(err, errlen, "out of memory");
		return TR_ENOMEM;
	}
	return TR_OK;
}

/* ==== Reading ==== */

typedef struct {
	char *err;
	size_t errlen;
	/* every allocation of the message being built, freed at the end */
	void **allocs;
	size_t nallocs, cap;
} reader;

static void *r_alloc(reader *rd, size_t n)
{
	void *p;
	if (rd->nallocs == rd->cap) {
		size_t nc = rd->cap ? rd->cap * 2 : 64;
		void **na = realloc(rd->allocs, nc * sizeof(*na));
		if (!na)
			return NULL;
		rd->allocs = na;
		rd->cap = nc;
	}
	p = calloc(1, n ? n : 1);
	if (p)
		rd->allocs[rd->nallocs++] = p;
	return p;
}

static int bad(reader *rd, const char *path, const char *why)
{
	snprintf(rd->err, rd->errlen, "%s: %s", path, why);
	return TR_EINVAL;
}

/* Exactly these keys (no others); each must be present. */
static int keys_are(reader *rd, const json_t *o, const char *path, const char *const *keys,
		    size_t nkeys)
{
	const char *k;
	json_t *v;
	char where[160];
	if (!json_is_object(o))
		return bad(rd, path, "not an object");
	json_object_foreach((json_t *)(uintptr_t)o, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < nkeys; i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known) {
			snprintf(where, sizeof(where), "%s.%.64s", path, k);
			return bad(rd, where, "unknown key");
		}
	}
	for (size_t i = 0; i < nkeys; i++)
		if (!json_object_get(o, keys[i])) {
			snprintf(where, sizeof(where), "%s.%s", path, keys[i]);
			return bad(rd, where, "missing");
		}
	return TR_OK;
}

static int get_u32(reader *rd, const json_t *v, const char *path, uint32_t *out)
{
	json_int_t i;
	if (!json_is_integer(v))
		return bad(rd, path, "not an integer");
	i = json_integer_value(v);
	if (i < 0 || i > (json_int_t)UINT32_MAX)
		return bad(rd, path, "out of range");
	*out = (uint32_t)i;
	return TR_OK;
}

static int get_b64(reader *rd, const json_t *v, const char *path, size_t max,
		   ProtobufCBinaryData *out)
{
	const char *s = json_string_value(v);
	char *canon;
	size_t sl, n;
	bool same;
	if (!s)
		return bad(rd, path, "not a base64 string");
	sl = strlen(s);
	if (sl % 4 || sl / 4 * 3 > max + 2)
		return bad(rd, path, "not padded base64 of an allowed size");
	n = sl / 4 * 3 - (sl && s[sl - 1] == '=') - (sl > 1 && s[sl - 2] == '=');
	out->data = r_alloc(rd, n);
	if (!out->data)
		return TR_ENOMEM;
	out->len = n;
	if (tr_b64_decode(out->data, n, s) != TR_OK)
		return bad(rd, path, "bad base64");
	/* one spelling only: unused bits set would decode to the same bytes */
	canon = malloc(sl + 1);
	if (!canon)
		return TR_ENOMEM;
	tr_b64_encode(canon, sl + 1, out->data, n);
	same = strcmp(canon, s) == 0;
	free(canon);
	return same ? TR_OK : bad(rd, path, "base64 not in its canonical form");
}

static int get_array(reader *rd, const json_t *v, const char *path, size_t max, size_t *n)
{
	if (!json_is_array(v))
		return bad(rd, path, "not an array");
	*n = json_array_size(v);
	if (*n > max)
		return bad(rd, path, "too many entries");
	return TR_OK;
}

static int read_blocks(reader *rd, const json_t *a, Trellis__Proof *p)
{
	static const char *const keys[] = {"header", "certificate"};
	char path[64];
	int rc = get_array(rd, a, "blocks", LDG_PROOF_BLOCKS_MAX, &p->n_blocks);
	if (rc)
		return rc;
	p->blocks = r_alloc(rd, p->n_blocks * sizeof(*p->blocks));
	if (!p->blocks)
		return TR_ENOMEM;
	for (size_t i = 0; i < p->n_blocks; i++) {
		const json_t *o = json_array_get(a, i);
		Trellis__ProofBlock *b = r_alloc(rd, sizeof(*b));
		if (!b)
			return TR_ENOMEM;
		trellis__proof_block__init(b);
		p->blocks[i] = b;
		snprintf(path, sizeof(path), "blocks[%zu]", i);
		if ((rc = keys_are(rd, o, path, keys, 2)))
			return rc;
		snprintf(path, sizeof(path), "blocks[%zu].header", i);
		if ((rc = get_b64(rd, json_object_get(o, "header"), path, LDG_PROOF_HEADER_MAX,
				  &b->header)))
			return rc;
		snprintf(path, sizeof(path), "blocks[%zu].certificate", i);
		if ((rc = get_b64(rd, json_object_get(o, "certificate"), path, LDG_CERT_BYTES_MAX,
				  &b->certificate)))
			return rc;
	}
	return TR_OK;
}

static int read_records(reader *rd, const json_t *a, Trellis__Proof *p)
{
	static const char *const keys[] = {"record", "block", "position", "path"};
	char path[64];
	int rc = get_array(rd, a, "records", LDG_PROOF_RECORDS_MAX, &p->n_records);
	if (rc)
		return rc;
	p->records = r_alloc(rd, p->n_records * sizeof(*p->records));
	if (!p->records)
		return TR_ENOMEM;
	for (size_t i = 0; i < p->n_records; i++) {
		const json_t *o = json_array_get(a, i), *pa;
		Trellis__ProofRecord *r = r_alloc(rd, sizeof(*r));
		if (!r)
			return TR_ENOMEM;
		trellis__proof_record__init(r);
		p->records[i] = r;
		snprintf(path, sizeof(path), "records[%zu]", i);
		if ((rc = keys_are(rd, o, path, keys, 4)))
			return rc;
		snprintf(path, sizeof(path), "records[%zu].record", i);
		if ((rc = get_b64(rd, json_object_get(o, "record"), path, LDG_BLOCK_BYTES_MAX,
				  &r->record)))
			return rc;
		snprintf(path, sizeof(path), "records[%zu].block", i);
		if ((rc = get_u32(rd, json_object_get(o, "block"), path, &r->block)))
			return rc;
		snprintf(path, sizeof(path), "records[%zu].position", i);
		if ((rc = get_u32(rd, json_object_get(o, "position"), path, &r->position)))
			return rc;
		snprintf(path, sizeof(path), "records[%zu].path", i);
		pa = json_object_get(o, "path");
		if ((rc = get_array(rd, pa, path, 64, &r->n_path)))
			return rc;
		r->path = r_alloc(rd, r->n_path * sizeof(*r->path));
		if (!r->path)
			return TR_ENOMEM;
		for (size_t j = 0; j < r->n_path; j++) {
			snprintf(path, sizeof(path), "records[%zu].path[%zu]", i, j);
			if ((rc = get_b64(rd, json_array_get(pa, j), path, TR_HASH_LEN, &r->path[j])))
				return rc;
		}
	}
	return TR_OK;
}

static int read_trace(reader *rd, const json_t *t, Trellis__Proof *p)
{
	static const char *const keys[] = {"direction", "steps"};
	static const char *const skeys[] = {"id", "parent", "records"};
	Trellis__ProofTrace *tr = r_alloc(rd, sizeof(*tr));
	const char *dir;
	const json_t *sa;
	char path[64];
	int rc;

	if (!tr)
		return TR_ENOMEM;
	trellis__proof_trace__init(tr);
	p->trace = tr;
	if ((rc = keys_are(rd, t, "trace", keys, 2)))
		return rc;
	dir = json_string_value(json_object_get(t, "direction"));
	if (!dir || (strcmp(dir, "up") && strcmp(dir, "down")))
		return bad(rd, "trace.direction", "not \"up\" or \"down\"");
	tr->direction = strcmp(dir, "up") == 0 ? LDG_PROOF_UP : LDG_PROOF_DOWN;
	sa = json_object_get(t, "steps");
	if ((rc = get_array(rd, sa, "trace.steps", LDG_PROOF_STEPS_MAX, &tr->n_steps)))
		return rc;
	tr->steps = r_alloc(rd, tr->n_steps * sizeof(*tr->steps));
	if (!tr->steps)
		return TR_ENOMEM;
	for (size_t i = 0; i < tr->n_steps; i++) {
		const json_t *o = json_array_get(sa, i), *id, *par, *ra;
		Trellis__TraceStep *s = r_alloc(rd, sizeof(*s));
		if (!s)
			return TR_ENOMEM;
		trellis__trace_step__init(s);
		tr->steps[i] = s;
		snprintf(path, sizeof(path), "trace.steps[%zu]", i);
		if ((rc = keys_are(rd, o, path, skeys, 3)))
			return rc;
		id = json_object_get(o, "id");
		snprintf(path, sizeof(path), "trace.steps[%zu].id", i);
		if (!json_is_string(id) || json_string_length(id) > LDG_PROOF_ID_MAX ||
		    strlen(json_string_value(id)) != json_string_length(id))
			return bad(rd, path, "not an identifier string");
		s->id = (char *)(uintptr_t)json_string_value(id);
		par = json_object_get(o, "parent");
		snprintf(path, sizeof(path), "trace.steps[%zu].parent", i);
		if (i == 0 ? !json_is_null(par) : json_is_null(par))
			return bad(rd, path, i == 0 ? "the root's parent must be null"
						     : "only the root has a null parent");
		if (i > 0 && (rc = get_u32(rd, par, path, &s->parent)))
			return rc;
		ra = json_object_get(o, "records");
		snprintf(path, sizeof(path), "trace.steps[%zu].records", i);
		if ((rc = get_array(rd, ra, path, 2, &s->n_records)))
			return rc;
		s->records = r_alloc(rd, s->n_records * sizeof(*s->records));
		if (!s->records)
			return TR_ENOMEM;
		for (size_t j = 0; j < s->n_records; j++) {
			snprintf(path, sizeof(path), "trace.steps[%zu].records[%zu]", i, j);
			if ((rc = get_u32(rd, json_array_get(ra, j), path, &s->records[j])))
				return rc;
		}
	}
	return TR_OK;
}

int ldg_proof_from_json(const char *json, size_t len, uint8_t **proof, size_t *plen, char *err,
			size_t errlen)
{
	static const char *const keys[] = {"format", "version", "blocks", "records"};
	static const char *const tkeys[] = {"format", "version", "blocks", "records", "trace"};
	reader rd = {.err = err, .errlen = errlen};
	Trellis__Proof p = TRELLIS__PROOF__INIT;
	json_error_t je;
	json_t *root;
	const char *fmt;
	int rc;

	if (len > (size_t)LDG_PROOF_BYTES_MAX * 2) {
		snprintf(err, errlen, "JSON proof of %zu bytes is too big", len);
		return TR_ETOOBIG;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON (line %d, column %d): %s", je.line, je.column,
			 je.text);
		return TR_EINVAL;
	}
	rc = json_is_object(root) && json_object_get(root, "trace")
		     ? keys_are(&rd, root, "proof", tkeys, 5)
		     : keys_are(&rd, root, "proof", keys, 4);
	if (rc)
		goto out;
	fmt = json_string_value(json_object_get(root, "format"));
	if (!fmt || strcmp(fmt, "trellis-proof") != 0) {
		rc = bad(&rd, "proof.format", "not \"trellis-proof\"");
		goto out;
	}
	if ((rc = get_u32(&rd, json_object_get(root, "version"), "proof.version", &p.version)) ||
	    (rc = read_blocks(&rd, json_object_get(root, "blocks"), &p)) ||
	    (rc = read_records(&rd, json_object_get(root, "records"), &p)))
		goto out;
	if (json_object_get(root, "trace") &&
	    (rc = read_trace(&rd, json_object_get(root, "trace"), &p)))
		goto out;
	*plen = trellis__proof__get_packed_size(&p);
	if (*plen > LDG_PROOF_BYTES_MAX) {
		rc = bad(&rd, "proof", "too big");
		goto out;
	}
	*proof = malloc(*plen ? *plen : 1);
	if (!*proof) {
		rc = TR_ENOMEM;
		goto out;
	}
	trellis__proof__pack(&p, *proof);
	rc = TR_OK;
out:
	if (rc == TR_ENOMEM)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; i < rd.nallocs; i++)
		free(rd.allocs[i]);
	free(rd.allocs);
	json_decref(root);
	return rc;
}
