/*
 * proof.c: building and checking offline proofs (proof.h,
 * docs/proof-format.md).
 *
 * Building reads the ledger read-only: a record, the header and
 * certificate of its block, and the block's leaf hashes for the audit path
 * (the block itself is freed at once, so a bundle over many blocks holds
 * 32 bytes per leaf, not the blocks). Checking needs only the consortium:
 * it reuses the ledger's own record and certificate checks, so a proof is
 * held to exactly the rules a node applies.
 */
#include "ledger/proof.h"

#include "common/merkle.h"
#include "ledger/epcis_id.h"
#include "ledger/epcis_map.h"
#include "ledger/index_internal.h"
#include "proto/proof.pb-c.h"

#include <jansson.h>
#include <string.h>

/* ==== What links two identifiers (shared by prover and verifier) ==== */

static bool in_list(const char *s, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool in_quantities(const char *s, Trellis__Quantity *const *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(q[i]->epc_class, s) == 0)
			return true;
	return false;
}

static bool is_input(const Trellis__Event *e, const char *s)
{
	return in_list(s, e->input_epcs, e->n_input_epcs) ||
	       in_quantities(s, e->input_quantities, e->n_input_quantities);
}

static bool is_output(const Trellis__Event *e, const char *s)
{
	return in_list(s, e->output_epcs, e->n_output_epcs) ||
	       in_quantities(s, e->output_quantities, e->n_output_quantities);
}

static bool is_child(const Trellis__Event *e, const char *s)
{
	return in_list(s, e->child_epcs, e->n_child_epcs) ||
	       in_quantities(s, e->child_quantities, e->n_child_quantities);
}

/* Is lot the lot key of item in e (commissioning with ILMD)? */
static bool is_lot_of(const Trellis__Event *e, const char *item, const char *lot)
{
	char key[EP_ID_MAX + 64];
	return e->ilmd_lot[0] && in_list(item, e->epcs, e->n_epcs) &&
	       ldg__lot_key(item, e->ilmd_lot, key, sizeof(key)) && strcmp(key, lot) == 0;
}

/*
 * The relation by which events ev[0..n) link child c to parent p in
 * direction dir (LDG_PROOF_UP / DOWN), or NULL when they do not
 * (docs/proof-format.md, Trace bundles).
 */
static const char *witness(int dir, const char *p, const char *c, Trellis__Event *const *ev,
			   size_t n)
{
	bool up = dir == LDG_PROOF_UP;
	const Trellis__Event *e = ev[0];
	if (n < 1 || n > 2)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (ev[i]->error_declaration)
			return NULL;
	if (n == 1 || (ev[0]->transformation_id[0] &&
		       strcmp(ev[0]->transformation_id, ev[1]->transformation_id) == 0)) {
		bool cin = false, cout = false, pin = false, pout = false;
		for (size_t i = 0; i < n; i++) {
			cin |= is_input(ev[i], c);
			cout |= is_output(ev[i], c);
			pin |= is_input(ev[i], p);
			pout |= is_output(ev[i], p);
		}
		if (up && cin && pout)
			return "input";
		if (!up && cout && pin)
			return "output";
	}
	if (n != 1)
		return NULL;
	if (e->parent_id[0] && strcmp(e->action, "DELETE") != 0) {
		bool agg = strcmp(e->type, "AggregationEvent") == 0;
		bool assoc = strcmp(e->type, "AssociationEvent") == 0;
		const char *box = up ? p : c, *item = up ? c : p;
		if ((agg || assoc) && strcmp(e->parent_id, box) == 0 && is_child(e, item))
			return assoc ? "associated" : up ? "content" : "container";
	}
	if (up && is_lot_of(e, p, c))
		return "lot";
	if (!up && is_lot_of(e, c, p))
		return "item";
	return NULL;
}

/* ==== Building ==== */

typedef struct {
	uint64_t height;
	uint8_t *header, *cert;
	size_t header_len, cert_len;
	uint8_t (*leaves)[TR_HASH_LEN];
	size_t nleaves;
	size_t slot; /* index in the finished proof */
} bblock;

typedef struct {
	uint8_t id[TR_HASH_LEN];
	uint8_t *rec;
	size_t len;
	size_t block; /* index into builder.blocks */
	uint32_t position;
} brecord;

typedef struct {
	ldg *l;
	bblock *blocks;
	size_t nblocks, cap_blocks;
	brecord *recs;
	size_t nrecs, cap_recs;
	char *err;
	size_t errlen;
} builder;

static void builder_fini(builder *b)
{
	for (size_t i = 0; i < b->nblocks; i++) {
		free(b->blocks[i].header);
		free(b->blocks[i].cert);
		free(b->blocks[i].leaves);
	}
	for (size_t i = 0; i < b->nrecs; i++)
		free(b->recs[i].rec);
	free(b->blocks);
	free(b->recs);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t nc;
	void *p;
	if (n < *cap)
		return TR_OK;
	if (n >= max)
		return TR_ETOOBIG;
	nc = *cap ? *cap * 2 : 8;
	if (nc > max)
		nc = max;
	p = realloc(*arr, nc * size);
	if (!p)
		return TR_ENOMEM;
	*arr = p;
	*cap = nc;
	return TR_OK;
}

/* The builder's block at height, loading its header, certificate and
 * leaf hashes on first use. */
static int block_slot(builder *b, uint64_t height, size_t *slot)
{
	uint8_t *blk = NULL, *cert = NULL;
	size_t blen = 0, clen = 0;
	Trellis__Block *pb;
	bblock *bb;
	int rc;

	for (size_t i = 0; i < b->nblocks; i++)
		if (b->blocks[i].height == height) {
			*slot = i;
			return TR_OK;
		}
	rc = grow((void **)&b->blocks, &b->cap_blocks, b->nblocks, sizeof(*b->blocks),
		  LDG_PROOF_BLOCKS_MAX);
	if (rc) {
		snprintf(b->err, b->errlen, "a proof holds at most %d blocks", LDG_PROOF_BLOCKS_MAX);
		return rc;
	}
	rc = ldg_block_get(b->l, height, &blk, &blen, &cert, &clen);
	if (rc) {
		snprintf(b->err, b->errlen, "cannot read block %llu", (unsigned long long)height);
		return rc == TR_ENOTFOUND ? TR_EVERIFY : rc;
	}
	pb = trellis__block__unpack(NULL, blen, blk);
	if (!pb || !cert || pb->n_records == 0) {
		snprintf(b->err, b->errlen, "block %llu is damaged (run trellis verify)",
			 (unsigned long long)height);
		rc = TR_EVERIFY;
		goto out;
	}
	bb = &b->blocks[b->nblocks];
	memset(bb, 0, sizeof(*bb));
	bb->height = height;
	bb->leaves = malloc(pb->n_records * TR_HASH_LEN);
	bb->header = malloc(pb->header.len ? pb->header.len : 1);
	if (!bb->leaves || !bb->header) {
		free(bb->leaves);
		free(bb->header);
		rc = TR_ENOMEM;
		goto out;
	}
	memcpy(bb->header, pb->header.data, pb->header.len);
	bb->header_len = pb->header.len;
	for (size_t i = 0; i < pb->n_records; i++)
		tr_merkle_leaf(bb->leaves[i], pb->records[i].data, pb->records[i].len);
	bb->nleaves = pb->n_records;
	bb->cert = cert;
	bb->cert_len = clen;
	cert = NULL;
	*slot = b->nblocks++;
	rc = TR_OK;
out:
	if (pb)
		trellis__block__free_unpacked(pb, NULL);
	free(blk);
	free(cert);
	return rc;
}

/* Add the record of event id (once); *idx is its index. */
static int add_record(builder *b, const uint8_t id[TR_HASH_LEN], size_t *idx)
{
	brecord *r;
	uint64_t height;
	uint32_t pos;
	uint8_t *rec;
	size_t len, slot;
	char hex[2 * TR_HASH_LEN + 1];
	int rc;

	for (size_t i = 0; i < b->nrecs; i++)
		if (memcmp(b->recs[i].id, id, TR_HASH_LEN) == 0) {
			*idx = i;
			return TR_OK;
		}
	rc = grow((void **)&b->recs, &b->cap_recs, b->nrecs, sizeof(*b->recs),
		  LDG_PROOF_RECORDS_MAX);
	if (rc) {
		snprintf(b->err, b->errlen, "a proof holds at most %d records",
			 LDG_PROOF_RECORDS_MAX);
		return rc;
	}
	rc = ldg_record_get(b->l, id, &rec, &len, &height, &pos);
	if (rc) {
		snprintf(b->err, b->errlen, "event %s is not in this ledger",
			 tr_hex(hex, id, TR_HASH_LEN));
		return rc;
	}
	rc = block_slot(b, height, &slot);
	if (rc == TR_OK && pos >= b->blocks[slot].nleaves) {
		snprintf(b->err, b->errlen, "event index points past block %llu",
			 (unsigned long long)height);
		rc = TR_EVERIFY;
	}
	if (rc) {
		free(rec);
		return rc;
	}
	r = &b->recs[b->nrecs];
	memcpy(r->id, id, TR_HASH_LEN);
	r->rec = rec;
	r->len = len;
	r->block = slot;
	r->position = pos;
	*idx = b->nrecs++;
	return TR_OK;
}

/* Add the declaration retracting record idx, when one is committed. */
static int add_retraction(builder *b, size_t idx)
{
	MDB_txn *txn;
	uint8_t decl[TR_HASH_LEN];
	size_t di;
	int rc;
	if (mdb_txn_begin(b->l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = ldg__retracted_by(b->l, txn, b->recs[idx].id, decl);
	mdb_txn_abort(txn);
	if (rc == TR_ENOTFOUND)
		return TR_OK;
	return rc ? rc : add_record(b, decl, &di);
}

static int cmp_height(const void *a, const void *b)
{
	const bblock *x = *(const bblock *const *)a, *y = *(const bblock *const *)b;
	return x->height < y->height ? -1 : x->height > y->height;
}

/* Serialise the builder as a Proof (with trace when not NULL). */
static int builder_pack(builder *b, Trellis__ProofTrace *trace, uint8_t **out, size_t *len)
{
	Trellis__Proof p = TRELLIS__PROOF__INIT;
	Trellis__ProofBlock *pbs = calloc(b->nblocks, sizeof(*pbs));
	Trellis__ProofBlock **pbp = calloc(b->nblocks, sizeof(*pbp));
	Trellis__ProofRecord *prs = calloc(b->nrecs, sizeof(*prs));
	Trellis__ProofRecord **prp = calloc(b->nrecs, sizeof(*prp));
	ProtobufCBinaryData *paths = calloc(b->nrecs * TR_MERKLE_DEPTH_MAX, sizeof(*paths));
	uint8_t(*hashes)[TR_HASH_LEN] = malloc(b->nrecs * TR_MERKLE_DEPTH_MAX * TR_HASH_LEN + 1);
	bblock **order = calloc(b->nblocks, sizeof(*order));
	uint8_t *buf = NULL;
	size_t nused = 0;
	int rc = TR_ENOMEM;

	for (size_t i = 0; i < b->nblocks; i++)
		b->blocks[i].slot = 0;
	if (!pbs || !pbp || !prs || !prp || !paths || !hashes || !order)
		goto out;
	/* the blocks records sit in, by height */
	for (size_t i = 0; i < b->nrecs; i++)
		b->blocks[b->recs[i].block].slot = 1;
	for (size_t i = 0; i < b->nblocks; i++)
		if (b->blocks[i].slot)
			order[nused++] = &b->blocks[i];
	qsort(order, nused, sizeof(*order), cmp_height);
	for (size_t i = 0; i < nused; i++) {
		trellis__proof_block__init(&pbs[i]);
		pbs[i].header.data = order[i]->header;
		pbs[i].header.len = order[i]->header_len;
		pbs[i].certificate.data = order[i]->cert;
		pbs[i].certificate.len = order[i]->cert_len;
		pbp[i] = &pbs[i];
		order[i]->slot = i;
	}
	for (size_t i = 0; i < b->nrecs; i++) {
		const brecord *r = &b->recs[i];
		const bblock *bb = &b->blocks[r->block];
		uint8_t(*path)[TR_HASH_LEN] = hashes + i * TR_MERKLE_DEPTH_MAX;
		size_t plen;
		rc = tr_merkle_path((const uint8_t(*)[TR_HASH_LEN])bb->leaves, bb->nleaves,
				    r->position, path, &plen);
		if (rc)
			goto out;
		trellis__proof_record__init(&prs[i]);
		prs[i].record.data = r->rec;
		prs[i].record.len = r->len;
		prs[i].block = (uint32_t)bb->slot;
		prs[i].position = r->position;
		prs[i].path = paths + i * TR_MERKLE_DEPTH_MAX;
		prs[i].n_path = plen;
		for (size_t j = 0; j < plen; j++) {
			prs[i].path[j].data = path[j];
			prs[i].path[j].len = TR_HASH_LEN;
		}
		prp[i] = &prs[i];
	}
	p.version = 1;
	p.n_blocks = nused;
	p.blocks = pbp;
	p.n_records = b->nrecs;
	p.records = prp;
	p.trace = trace;
	*len = trellis__proof__get_packed_size(&p);
	rc = TR_ETOOBIG;
	if (*len > LDG_PROOF_BYTES_MAX) {
		snprintf(b->err, b->errlen, "the proof would be %zu bytes, over %u", *len,
			 LDG_PROOF_BYTES_MAX);
		goto out;
	}
	rc = TR_ENOMEM;
	buf = malloc(*len ? *len : 1);
	if (!buf)
		goto out;
	trellis__proof__pack(&p, buf);
	*out = buf;
	rc = TR_OK;
out:
	free(order);
	free(hashes);
	free(paths);
	free(prp);
	free(prs);
	free(pbp);
	free(pbs);
	return rc;
}

int ldg_prove_event(ldg *l, const uint8_t id[TR_HASH_LEN], uint8_t **out, size_t *len,
		    char *err, size_t errlen)
{
	builder b = {.l = l, .err = err, .errlen = errlen};
	size_t idx;
	int rc = add_record(&b, id, &idx);
	if (rc == TR_OK)
		rc = add_retraction(&b, idx);
	if (rc == TR_OK)
		rc = builder_pack(&b, NULL, out, len);
	builder_fini(&b);
	return rc;
}

/* The Event of serialised record bytes (ep_event_free it). */
static int record_event(const uint8_t *rec, size_t len, Trellis__Event **ev)
{
	Trellis__Record *r = trellis__record__unpack(NULL, len, rec);
	int rc = TR_EINVAL;
	if (r) {
		rc = ep_event_unpack(r->event.data, r->event.len, ev);
		trellis__record__free_unpacked(r, NULL);
	}
	return rc;
}

/* Is record idx alone a witness of (p, c)? Else find, among the events
 * naming p, one of the same transformation that makes the pair a witness
 * (checked before it joins the proof). recs[0..*nrecs) receives the
 * record indexes. */
static int step_records(builder *b, int dir, const char *p, const char *c, size_t idx,
			bool include_retracted, size_t recs[2], size_t *nrecs)
{
	Trellis__Event *ev[2] = {NULL, NULL};
	ldg_event_info *hist = NULL;
	size_t nh = 0;
	bool hcut;
	int rc = record_event(b->recs[idx].rec, b->recs[idx].len, &ev[0]);

	recs[0] = idx;
	*nrecs = 1;
	if (rc || witness(dir, p, c, ev, 1))
		goto out;
	rc = TR_EVERIFY;
	if (!ev[0]->transformation_id[0])
		goto out;
	rc = ldg_history(b->l, p, include_retracted, &hist, &nh, &hcut);
	for (size_t i = 0; rc == TR_OK && i < nh; i++) {
		uint8_t *rec;
		size_t len;
		uint64_t h;
		uint32_t pos;
		bool linked;
		if (strcmp(hist[i].type, "TransformationEvent") != 0)
			continue;
		rc = ldg_record_get(b->l, hist[i].event_id, &rec, &len, &h, &pos);
		if (rc == TR_OK) {
			rc = record_event(rec, len, &ev[1]);
			free(rec);
		}
		if (rc)
			break;
		linked = witness(dir, p, c, ev, 2) != NULL;
		ep_event_free(ev[1]);
		ev[1] = NULL;
		if (linked) {
			*nrecs = 2;
			rc = add_record(b, hist[i].event_id, &recs[1]);
			goto out;
		}
	}
	if (rc == TR_OK)
		rc = TR_EVERIFY;
out:
	if (rc == TR_EVERIFY)
		snprintf(b->err, b->errlen, "no event links '%s' to '%s'", c, p);
	free(hist);
	ep_event_free(ev[0]);
	return rc;
}

int ldg_prove_trace(ldg *l, const char *id, const ldg_trace_opts *o, uint8_t **out,
		    size_t *len, bool *cut, char *err, size_t errlen)
{
	builder b = {.l = l, .err = err, .errlen = errlen};
	Trellis__ProofTrace tr = TRELLIS__PROOF_TRACE__INIT;
	Trellis__TraceStep *steps = NULL, **sp = NULL;
	uint32_t *srecs = NULL;
	ldg_trace_node *nodes = NULL;
	size_t n = 0;
	int dir = o->dir == LDG_TRACE_UP ? LDG_PROOF_UP : LDG_PROOF_DOWN;
	int rc = ldg_trace(l, id, o, &nodes, &n, cut);

	if (rc) {
		snprintf(err, errlen, "cannot trace '%s'", id);
		return rc;
	}
	if (n < 2) {
		snprintf(err, errlen, "'%s' has no trace %s in this ledger", id,
			 dir == LDG_PROOF_UP ? "up" : "down");
		rc = TR_ENOTFOUND;
		goto out;
	}
	rc = TR_ENOMEM;
	steps = calloc(n, sizeof(*steps));
	sp = calloc(n, sizeof(*sp));
	srecs = calloc(2 * n, sizeof(*srecs));
	if (!steps || !sp || !srecs)
		goto out;
	rc = TR_OK;
	for (size_t i = 0; rc == TR_OK && i < n; i++) {
		trellis__trace_step__init(&steps[i]);
		steps[i].id = nodes[i].id;
		sp[i] = &steps[i];
		if (i == 0)
			continue;
		size_t idx, recs[2], nr;
		rc = add_record(&b, nodes[i].link.event_id, &idx);
		if (rc == TR_OK)
			rc = step_records(&b, dir, nodes[nodes[i].parent].id, nodes[i].id, idx,
					  o->include_retracted, recs, &nr);
		if (rc)
			break;
		steps[i].parent = (uint32_t)nodes[i].parent;
		steps[i].records = srecs + 2 * i;
		steps[i].n_records = nr;
		for (size_t k = 0; k < nr; k++)
			steps[i].records[k] = (uint32_t)recs[k];
	}
	/* retractions of the linking events (the loop may add records) */
	for (size_t i = 0, nlink = b.nrecs; rc == TR_OK && i < nlink; i++)
		rc = add_retraction(&b, i);
	if (rc)
		goto out;
	tr.direction = (uint32_t)dir;
	tr.n_steps = n;
	tr.steps = sp;
	rc = builder_pack(&b, &tr, out, len);
out:
	free(srecs);
	free(sp);
	free(steps);
	free(nodes);
	builder_fini(&b);
	return rc;
}

/* ==== Checking ==== */

void ldg_proof_report_fini(ldg_proof_report *rep)
{
	for (size_t i = 0; i < rep->nsteps; i++)
		free(rep->steps[i].id);
	free(rep->steps);
	free(rep->records);
	memset(rep, 0, sizeof(*rep));
}

typedef struct {
	const tr_consortium *c;
	Trellis__Proof *p;
	Trellis__BlockHeader **hdr;
	Trellis__Event **ev;
	ldg_proof_report *rep;
	char *err;
	size_t errlen;
} checker;

static int check_blocks(checker *k)
{
	const Trellis__Proof *p = k->p;
	char why[512];
	bool *used = calloc(p->n_blocks, sizeof(*used));
	int rc;

	if (!used)
		return TR_ENOMEM;
	for (size_t i = 0; i < p->n_records; i++)
		if (p->records[i]->block < p->n_blocks)
			used[p->records[i]->block] = true;
	for (size_t i = 0; i < p->n_blocks; i++) {
		const Trellis__ProofBlock *b = p->blocks[i];
		Trellis__BlockHeader *h;
		uint8_t hash[TR_HASH_LEN];
		rc = TR_EVERIFY;
		if (b->base.n_unknown_fields) {
			snprintf(k->err, k->errlen, "block %zu has unknown fields", i);
			goto out;
		}
		if (b->header.len > LDG_PROOF_HEADER_MAX) {
			snprintf(k->err, k->errlen, "block %zu: header of %zu bytes is over %d", i,
				 b->header.len, LDG_PROOF_HEADER_MAX);
			goto out;
		}
		if (!used[i]) {
			snprintf(k->err, k->errlen, "block %zu holds none of the proof's records", i);
			goto out;
		}
		h = k->hdr[i] = trellis__block_header__unpack(NULL, b->header.len, b->header.data);
		if (!h || h->base.n_unknown_fields || h->records_root.len != TR_HASH_LEN) {
			snprintf(k->err, k->errlen, "block %zu: header is not a valid BlockHeader", i);
			goto out;
		}
		if (h->chain_id.len != TR_HASH_LEN ||
		    memcmp(h->chain_id.data, k->c->chain_id, TR_HASH_LEN) != 0) {
			snprintf(k->err, k->errlen,
				 "block %zu belongs to another consortium (chain_id differs)", i);
			goto out;
		}
		if (i > 0 && h->height <= k->hdr[i - 1]->height) {
			snprintf(k->err, k->errlen, "block %zu: heights not strictly increasing", i);
			goto out;
		}
		tr_sha256(hash, b->header.data, b->header.len);
		rc = ldg_cert_check(k->c, b->certificate.data, b->certificate.len, h->height, hash,
				    why, sizeof(why));
		if (rc) {
			snprintf(k->err, k->errlen, "block %zu (height %llu): %s", i,
				 (unsigned long long)h->height, why);
			goto out;
		}
	}
	rc = TR_OK;
out:
	free(used);
	return rc;
}

static int check_records(checker *k)
{
	const Trellis__Proof *p = k->p;
	ldg_proof_record *out = k->rep->records;
	char why[512];
	int rc;

	for (size_t i = 0; i < p->n_records; i++) {
		const Trellis__ProofRecord *r = p->records[i];
		const Trellis__BlockHeader *h;
		uint8_t(*path)[TR_HASH_LEN] = NULL;
		uint8_t leaf[TR_HASH_LEN];
		Trellis__Record *rec;
		const Trellis__Event *e;

		if (r->base.n_unknown_fields || r->block >= p->n_blocks) {
			snprintf(k->err, k->errlen, "record %zu: %s", i,
				 r->base.n_unknown_fields ? "unknown fields" : "no such block");
			return TR_EVERIFY;
		}
		h = k->hdr[r->block];
		if (r->position >= h->record_count || r->n_path > TR_MERKLE_DEPTH_MAX) {
			snprintf(k->err, k->errlen, "record %zu: position %u or path length %zu out of range",
				 i, r->position, r->n_path);
			return TR_EVERIFY;
		}
		rc = ldg_record_check(k->c, r->record.data, r->record.len, 0, out[i].event_id, why,
				      sizeof(why));
		if (rc) {
			snprintf(k->err, k->errlen, "record %zu: %s", i, why);
			return rc;
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(out[j].event_id, out[i].event_id, TR_HASH_LEN) == 0) {
				snprintf(k->err, k->errlen, "record %zu repeats record %zu", i, j);
				return TR_EVERIFY;
			}
		path = malloc(r->n_path * TR_HASH_LEN + 1);
		if (!path)
			return TR_ENOMEM;
		rc = TR_OK;
		for (size_t j = 0; j < r->n_path; j++) {
			if (r->path[j].len != TR_HASH_LEN)
				rc = TR_EVERIFY;
			else
				memcpy(path[j], r->path[j].data, TR_HASH_LEN);
		}
		tr_merkle_leaf(leaf, r->record.data, r->record.len);
		if (rc == TR_OK)
			rc = tr_merkle_verify(leaf, r->position, h->record_count,
					      (const uint8_t(*)[TR_HASH_LEN])path, r->n_path,
					      h->records_root.data);
		free(path);
		if (rc) {
			snprintf(k->err, k->errlen,
				 "record %zu: audit path does not lead to block %llu's records_root", i,
				 (unsigned long long)h->height);
			return TR_EVERIFY;
		}
		rec = trellis__record__unpack(NULL, r->record.len, r->record.data);
		if (!rec)
			return TR_ENOMEM;
		rc = ep_event_unpack(rec->event.data, rec->event.len, &k->ev[i]);
		out[i].signer = rec->signer;
		trellis__record__free_unpacked(rec, NULL);
		if (rc) {
			snprintf(k->err, k->errlen, "record %zu: event does not decode", i);
			return TR_EVERIFY;
		}
		e = k->ev[i];
		out[i].height = h->height;
		out[i].position = r->position;
		out[i].declaration = e->error_declaration;
		out[i].retracted_by = -1;
		snprintf(out[i].type, sizeof(out[i].type), "%s", e->type);
		snprintf(out[i].event_time, sizeof(out[i].event_time), "%s", e->event_time);
		snprintf(out[i].where, sizeof(out[i].where), "%s",
			 e->biz_location[0] ? e->biz_location : e->read_point);
		snprintf(out[i].event_hash, sizeof(out[i].event_hash), "%s", e->event_hash);
	}
	return TR_OK;
}

/* By event hash, the original before its declaration. */
static int cmp_ehash(const void *x, const void *y)
{
	const ldg_proof_record *a = *(ldg_proof_record *const *)x;
	const ldg_proof_record *b = *(ldg_proof_record *const *)y;
	int c = strcmp(a->event_hash, b->event_hash);
	return c ? c : (int)a->declaration - (int)b->declaration;
}

/* Which records retract which (sorted by event hash: n log n). Two
 * originals with one event hash, or two declarations of one, are refused:
 * the ledger holds neither. In a one-event proof every other record must
 * retract the subject. */
static int check_retractions(checker *k)
{
	ldg_proof_record *r = k->rep->records;
	size_t n = k->rep->nrecords;
	ldg_proof_record **ix = malloc(n * sizeof(*ix));
	int rc = TR_OK;
	if (!ix)
		return TR_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ix[i] = &r[i];
	qsort(ix, n, sizeof(*ix), cmp_ehash);
	for (size_t s = 1; s < n && rc == TR_OK; s++) {
		ldg_proof_record *a = ix[s - 1], *b = ix[s];
		if (!a->event_hash[0] || strcmp(a->event_hash, b->event_hash) != 0)
			continue;
		if (a->declaration == b->declaration) {
			snprintf(k->err, k->errlen, "records %td and %td are %s of one event hash",
				 a - r, b - r, a->declaration ? "two retractions" : "two originals");
			rc = TR_EVERIFY;
		} else {
			a->retracted_by = (long)(b - r);
		}
	}
	free(ix);
	if (rc || k->rep->kind != LDG_PROOF_EVENT)
		return rc;
	for (size_t j = 1; j < n; j++)
		if (r[0].retracted_by != (long)j) {
			snprintf(k->err, k->errlen,
				 "record %zu is not a retraction of the proof's event (record 0)", j);
			return TR_EVERIFY;
		}
	return TR_OK;
}

static int check_trace(checker *k)
{
	const Trellis__ProofTrace *t = k->p->trace;
	ldg_proof_report *rep = k->rep;
	bool *used;
	int rc = TR_EVERIFY;

	if (t->base.n_unknown_fields || t->n_steps < 2 || t->n_steps > LDG_PROOF_STEPS_MAX) {
		snprintf(k->err, k->errlen, "trace: %s",
			 t->base.n_unknown_fields ? "unknown fields" : "2 to 10000 steps needed");
		return TR_EVERIFY;
	}
	rep->steps = calloc(t->n_steps, sizeof(*rep->steps));
	used = calloc(rep->nrecords, sizeof(*used));
	if (!rep->steps || !used) {
		free(used);
		return TR_ENOMEM;
	}
	for (size_t i = 0; i < t->n_steps; i++) {
		const Trellis__TraceStep *s = t->steps[i];
		ldg_proof_step *o = &rep->steps[i];
		Trellis__Event *ev[2];
		rep->nsteps = i + 1;
		if (s->base.n_unknown_fields || !s->id[0] || strlen(s->id) > LDG_PROOF_ID_MAX) {
			snprintf(k->err, k->errlen, "trace step %zu: bad id or unknown fields", i);
			goto out;
		}
		o->id = strdup(s->id);
		if (!o->id) {
			rc = TR_ENOMEM;
			goto out;
		}
		o->relation = "";
		o->parent = SIZE_MAX;
		if (i == 0) {
			if (s->parent || s->n_records) {
				snprintf(k->err, k->errlen, "trace step 0 (the root) has a parent or records");
				goto out;
			}
			continue;
		}
		if (s->parent >= i || s->n_records < 1 || s->n_records > 2) {
			snprintf(k->err, k->errlen, "trace step %zu: parent must come before it and 1 or 2 records link it",
				 i);
			goto out;
		}
		if (s->n_records == 2 && s->records[0] == s->records[1]) {
			snprintf(k->err, k->errlen, "trace step %zu names record %u twice", i,
				 s->records[0]);
			goto out;
		}
		o->parent = s->parent;
		o->nrecords = s->n_records;
		for (size_t j = 0; j < s->n_records; j++) {
			if (s->records[j] >= rep->nrecords) {
				snprintf(k->err, k->errlen, "trace step %zu: no record %u", i, s->records[j]);
				goto out;
			}
			o->records[j] = s->records[j];
			ev[j] = k->ev[s->records[j]];
			used[s->records[j]] = true;
		}
		o->relation = witness((int)t->direction, t->steps[s->parent]->id, s->id, ev,
				      s->n_records);
		if (!o->relation) {
			snprintf(k->err, k->errlen,
				 "trace step %zu: its record(s) do not link '%s' %s to '%s'", i, s->id,
				 t->direction == LDG_PROOF_UP ? "up" : "down", t->steps[s->parent]->id);
			goto out;
		}
	}
	for (size_t i = 0; i < rep->nrecords; i++) {
		long by = rep->records[i].retracted_by;
		if (by >= 0 && used[i])
			used[by] = true;
	}
	for (size_t i = 0; i < rep->nrecords; i++)
		if (!used[i]) {
			snprintf(k->err, k->errlen,
				 "record %zu links no trace step and retracts none of them", i);
			goto out;
		}
	rc = TR_OK;
out:
	free(used);
	return rc;
}

int ldg_proof_verify(const tr_consortium *c, const uint8_t *proof, size_t len,
		     ldg_proof_report *rep, char *err, size_t errlen)
{
	checker k = {.c = c, .rep = rep, .err = err, .errlen = errlen};
	int rc = TR_EVERIFY;

	memset(rep, 0, sizeof(*rep));
	if (len > LDG_PROOF_BYTES_MAX) {
		snprintf(err, errlen, "proof of %zu bytes is over %u", len, LDG_PROOF_BYTES_MAX);
		return TR_ETOOBIG;
	}
	k.p = trellis__proof__unpack(NULL, len, proof);
	if (!k.p || k.p->base.n_unknown_fields) {
		snprintf(err, errlen, "not a trellis proof (no valid Proof message)");
		goto out;
	}
	if (k.p->version != 1) {
		snprintf(err, errlen, "proof version %u is not 1", k.p->version);
		goto out;
	}
	if (k.p->n_blocks < 1 || k.p->n_blocks > LDG_PROOF_BLOCKS_MAX || k.p->n_records < 1 ||
	    k.p->n_records > LDG_PROOF_RECORDS_MAX) {
		snprintf(err, errlen, "proof has %zu blocks and %zu records (1..%d, 1..%d allowed)",
			 k.p->n_blocks, k.p->n_records, LDG_PROOF_BLOCKS_MAX, LDG_PROOF_RECORDS_MAX);
		goto out;
	}
	rep->kind = !k.p->trace ? LDG_PROOF_EVENT
				: k.p->trace->direction == 1 ? LDG_PROOF_UP
				: k.p->trace->direction == 2 ? LDG_PROOF_DOWN : -1;
	if (rep->kind < 0) {
		snprintf(err, errlen, "trace direction %u is not 1 (up) or 2 (down)",
			 k.p->trace->direction);
		goto out;
	}
	rc = TR_ENOMEM;
	k.hdr = calloc(k.p->n_blocks, sizeof(*k.hdr));
	k.ev = calloc(k.p->n_records, sizeof(*k.ev));
	rep->records = calloc(k.p->n_records, sizeof(*rep->records));
	if (!k.hdr || !k.ev || !rep->records)
		goto out;
	rep->nblocks = k.p->n_blocks;
	rep->nrecords = k.p->n_records;
	rc = check_blocks(&k);
	if (rc == TR_OK)
		rc = check_records(&k);
	if (rc == TR_OK)
		rc = check_retractions(&k);
	if (rc == TR_OK && k.p->trace)
		rc = check_trace(&k);
out:
	if (rc == TR_ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (k.hdr)
		for (size_t i = 0; i < k.p->n_blocks; i++)
			if (k.hdr[i])
				trellis__block_header__free_unpacked(k.hdr[i], NULL);
	if (k.ev)
		for (size_t i = 0; i < k.p->n_records; i++)
			ep_event_free(k.ev[i]);
	free(k.hdr);
	free(k.ev);
	if (k.p)
		trellis__proof__free_unpacked(k.p, NULL);
	if (rc)
		ldg_proof_report_fini(rep);
	return rc;
}
