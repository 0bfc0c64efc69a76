/*
 * block.c: building and checking records, blocks and commit certificates
 * as bytes. No LMDB here: store.c adds what needs the stored chain
 * (duplicates, the head).
 *
 * Everything checked here may come from a peer or a damaged disk: sizes
 * are bounded before unpacking, unknown protobuf fields are refused
 * (signed bytes must be exactly what was signed), a record's Event must
 * re-derive from its own json (ep_event_rederive), and every reason names
 * the record index or the vote.
 */
#include "ledger/ledger_internal.h"

#include "common/merkle.h"
#include "ledger/epcis_map.h"

#include <sodium.h>
#include <string.h>

/* ==== Records ==== */

int ldg_record_build(const tr_key *k, uint32_t signer, const uint8_t chain_id[TR_HASH_LEN],
		     const uint8_t *event, size_t len, uint8_t **out, size_t *out_len,
		     uint8_t id[TR_HASH_LEN])
{
	Trellis__Record r = TRELLIS__RECORD__INIT;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *buf;
	size_t n;
	int rc;

	rc = tr_sign_tagged(k, TR_TAG_EVENT, chain_id, event, len, sig);
	if (rc)
		return rc;
	r.event.data = (uint8_t *)(uintptr_t)event;
	r.event.len = len;
	r.signer = signer;
	r.alg = (Trellis__Alg)tr_key_alg(k);
	r.signature.data = sig;
	r.signature.len = sizeof(sig);
	n = trellis__record__get_packed_size(&r);
	buf = malloc(n ? n : 1);
	if (!buf)
		return TR_ENOMEM;
	trellis__record__pack(&r, buf);
	tr_sha256(id, event, len);
	*out = buf;
	*out_len = n;
	return TR_OK;
}

int ldg_record_event_id(const uint8_t *rec, size_t len, uint8_t id[TR_HASH_LEN])
{
	Trellis__Record *r = trellis__record__unpack(NULL, len, rec);
	if (!r)
		return TR_EINVAL;
	tr_sha256(id, r->event.data, r->event.len);
	trellis__record__free_unpacked(r, NULL);
	return TR_OK;
}

int ldg_record_check(const tr_consortium *c, const uint8_t *rec, size_t len, unsigned flags,
		     uint8_t id[TR_HASH_LEN], char *err, size_t errlen)
{
	Trellis__Record *r;
	Trellis__Event *ev = NULL;
	const tr_partner *p;
	int rc = TR_EINVAL;

	if (len > c->params.record_max_bytes) {
		snprintf(err, errlen, "record of %zu bytes exceeds record_max_bytes %u", len,
			 c->params.record_max_bytes);
		return TR_ETOOBIG;
	}
	r = trellis__record__unpack(NULL, len, rec);
	if (!r) {
		snprintf(err, errlen, "record is not a valid Record message");
		return TR_EINVAL;
	}
	if (r->base.n_unknown_fields) {
		snprintf(err, errlen, "record has unknown fields");
		goto out;
	}
	if (r->signer >= c->n) {
		snprintf(err, errlen, "record signer %u is not a partner (n = %u)", r->signer, c->n);
		goto out;
	}
	p = &c->partners[r->signer];
	if ((int)r->alg != (int)p->alg) {
		snprintf(err, errlen, "record alg %d is not partner '%s''s %s", (int)r->alg, p->name,
			 tr_alg_name(p->alg));
		goto out;
	}
	if (r->signature.len != TR_SIG_LEN) {
		snprintf(err, errlen, "record signature is %zu bytes, want %d", r->signature.len,
			 TR_SIG_LEN);
		goto out;
	}
	if (r->event.len == 0) {
		snprintf(err, errlen, "record has an empty event");
		goto out;
	}
	/* bounded, unknown fields and an empty json refused; kept for the
	 * re-derivation below */
	if (ep_event_unpack(r->event.data, r->event.len, &ev) != TR_OK) {
		snprintf(err, errlen, "record event is not a valid Event message");
		goto out;
	}
	if (!(flags & LDG_RECORDS_VERIFIED) &&
	    tr_verify_tagged(p->alg, p->key, TR_TAG_EVENT, c->chain_id, r->event.data,
			     r->event.len, r->signature.data) != TR_OK) {
		snprintf(err, errlen, "bad signature by partner '%s'", p->name);
		rc = TR_EBADSIG;
		goto out;
	}
	/* The structured fields must be what the json maps to: the indexes
	 * and rules trust them, and a partner could sign any. Like the
	 * signature, checked once per record bytes (LDG_RECORDS_VERIFIED
	 * says the caller ran this function on them). */
	if (!(flags & LDG_RECORDS_VERIFIED) &&
	    (rc = ep_event_rederive_unpacked(ev, r->event.data, r->event.len, err, errlen)) !=
		    TR_OK)
		goto out;
	tr_sha256(id, r->event.data, r->event.len);
	rc = TR_OK;
out:
	ep_event_free(ev);
	trellis__record__free_unpacked(r, NULL);
	return rc;
}

/* ==== Duplicates within a block ==== */

static int dupkey_cmp(const void *x, const void *y)
{
	const ldg_dupkey *a = x, *b = y;
	int c;
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((c = memcmp(a->key, b->key, a->len)) != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void ldg_first_dups(ldg_dupkey *keys, size_t n, size_t *first)
{
	size_t g = 0; /* start of the current run of equal keys */
	if (n > 1)
		qsort(keys, n, sizeof(*keys), dupkey_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (keys[i].cls != keys[g].cls || keys[i].len != keys[g].len ||
			      memcmp(keys[i].key, keys[g].key, keys[g].len) != 0))
			g = i;
		first[keys[i].idx] = g == i ? SIZE_MAX : keys[g].idx;
	}
}

/* ==== Blocks ==== */

int ldg_block_build(const uint8_t chain_id[TR_HASH_LEN], uint64_t height,
		    const uint8_t prev_hash[TR_HASH_LEN], uint64_t view, uint32_t proposer,
		    uint64_t time_ms, const uint8_t *const *records, const size_t *lens, size_t n,
		    uint8_t **out, size_t *out_len, uint8_t hash[TR_HASH_LEN])
{
	Trellis__BlockHeader h = TRELLIS__BLOCK_HEADER__INIT;
	Trellis__Block b = TRELLIS__BLOCK__INIT;
	uint8_t(*leaves)[TR_HASH_LEN] = NULL;
	ProtobufCBinaryData *recs = NULL;
	uint8_t root[TR_HASH_LEN];
	uint8_t *hbuf = NULL, *buf = NULL;
	size_t hlen, blen;
	int rc = TR_ENOMEM;

	if (n > TR_MERKLE_LEAVES_MAX)
		return TR_ETOOBIG;
	leaves = malloc((n ? n : 1) * TR_HASH_LEN);
	recs = malloc((n ? n : 1) * sizeof(*recs));
	if (!leaves || !recs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		tr_merkle_leaf(leaves[i], records[i], lens[i]);
		recs[i].data = (uint8_t *)(uintptr_t)records[i];
		recs[i].len = lens[i];
	}
	rc = tr_merkle_root((const uint8_t(*)[TR_HASH_LEN])leaves, n, root);
	if (rc)
		goto out;
	rc = TR_ENOMEM;
	h.chain_id.data = (uint8_t *)(uintptr_t)chain_id;
	h.chain_id.len = TR_HASH_LEN;
	h.height = height;
	h.prev_hash.data = (uint8_t *)(uintptr_t)prev_hash;
	h.prev_hash.len = TR_HASH_LEN;
	h.records_root.data = root;
	h.records_root.len = TR_HASH_LEN;
	h.record_count = (uint32_t)n;
	h.view = view;
	h.proposer = proposer;
	h.time_ms = time_ms;
	hlen = trellis__block_header__get_packed_size(&h);
	hbuf = malloc(hlen);
	if (!hbuf)
		goto out;
	trellis__block_header__pack(&h, hbuf);
	b.header.data = hbuf;
	b.header.len = hlen;
	b.n_records = n;
	b.records = recs;
	blen = trellis__block__get_packed_size(&b);
	buf = malloc(blen);
	if (!buf)
		goto out;
	trellis__block__pack(&b, buf);
	tr_sha256(hash, hbuf, hlen);
	*out = buf;
	*out_len = blen;
	buf = NULL;
	rc = TR_OK;
out:
	free(buf);
	free(hbuf);
	free(recs);
	free(leaves);
	return rc;
}

void ldg__parsed_block_fini(ldg_parsed_block *pb)
{
	if (pb->hdr)
		trellis__block_header__free_unpacked(pb->hdr, NULL);
	if (pb->blk)
		trellis__block__free_unpacked(pb->blk, NULL);
	free(pb->ids);
	memset(pb, 0, sizeof(*pb));
}

int ldg__parse_block(const tr_consortium *c, ldg_checked *k, const uint8_t *bytes, size_t len,
		     uint64_t height, const uint8_t prev_hash[TR_HASH_LEN], unsigned flags,
		     ldg_parsed_block *pb, char *err, size_t errlen)
{
	uint8_t(*leaves)[TR_HASH_LEN] = NULL;
	uint8_t root[TR_HASH_LEN];
	size_t total = 0;
	char why[256];
	int rc = TR_EINVAL;

	memset(pb, 0, sizeof(*pb));
	if (len > LDG_BLOCK_BYTES_MAX || len > (size_t)c->params.block_max_bytes + (1u << 20)) {
		snprintf(err, errlen, "block of %zu bytes is too big", len);
		return TR_ETOOBIG;
	}
	pb->blk = trellis__block__unpack(NULL, len, bytes);
	if (!pb->blk) {
		snprintf(err, errlen, "not a valid Block message");
		goto fail;
	}
	if (pb->blk->base.n_unknown_fields) {
		snprintf(err, errlen, "block has unknown fields");
		goto fail;
	}
	if (!tr_pb_canonical(&pb->blk->base, bytes, len)) {
		snprintf(err, errlen, "block is not in canonical form (a field repeated or out of order)");
		goto fail;
	}
	pb->hdr = trellis__block_header__unpack(NULL, pb->blk->header.len, pb->blk->header.data);
	if (!pb->hdr || pb->hdr->base.n_unknown_fields) {
		snprintf(err, errlen, "block header is not a valid BlockHeader message");
		goto fail;
	}
	tr_sha256(pb->hash, pb->blk->header.data, pb->blk->header.len);
	if (pb->hdr->chain_id.len != TR_HASH_LEN ||
	    memcmp(pb->hdr->chain_id.data, c->chain_id, TR_HASH_LEN) != 0) {
		snprintf(err, errlen, "block belongs to another chain (chain_id differs)");
		rc = TR_EVERIFY;
		goto fail;
	}
	if (pb->hdr->height != height) {
		snprintf(err, errlen, "wrong height %llu, expected %llu",
			 (unsigned long long)pb->hdr->height, (unsigned long long)height);
		rc = TR_EVERIFY;
		goto fail;
	}
	if (pb->hdr->prev_hash.len != TR_HASH_LEN ||
	    memcmp(pb->hdr->prev_hash.data, prev_hash, TR_HASH_LEN) != 0) {
		snprintf(err, errlen, "wrong prev_hash: does not link to block %llu",
			 (unsigned long long)(height - 1));
		rc = TR_EVERIFY;
		goto fail;
	}
	if (pb->hdr->proposer >= c->n) {
		snprintf(err, errlen, "proposer %u is not a partner", pb->hdr->proposer);
		goto fail;
	}
	pb->n = pb->blk->n_records;
	if (pb->hdr->record_count != pb->n) {
		snprintf(err, errlen, "header says %u records, block has %zu", pb->hdr->record_count,
			 pb->n);
		rc = TR_EVERIFY;
		goto fail;
	}
	if (pb->n == 0 || pb->n > c->params.block_max_records) {
		snprintf(err, errlen, "block has %zu records (1..%u allowed)", pb->n,
			 c->params.block_max_records);
		goto fail;
	}
	pb->ids = malloc(pb->n * TR_HASH_LEN);
	leaves = malloc(pb->n * TR_HASH_LEN);
	if (!pb->ids || !leaves) {
		rc = TR_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < pb->n; i++) {
		const ProtobufCBinaryData *r = &pb->blk->records[i];
		total += r->len;
		rc = ldg_record_check_once(c, k, r->data, r->len, flags, pb->ids[i], why,
					   sizeof(why));
		if (rc) {
			snprintf(err, errlen, "record %zu: %s", i, why);
			goto fail;
		}
		tr_merkle_leaf(leaves[i], r->data, r->len);
	}
	if (total > c->params.block_max_bytes) {
		snprintf(err, errlen, "records total %zu bytes, more than block_max_bytes %u", total,
			 c->params.block_max_bytes);
		rc = TR_ETOOBIG;
		goto fail;
	}
	rc = tr_merkle_root((const uint8_t(*)[TR_HASH_LEN])leaves, pb->n, root);
	if (rc)
		goto fail;
	if (pb->hdr->records_root.len != TR_HASH_LEN ||
	    memcmp(pb->hdr->records_root.data, root, TR_HASH_LEN) != 0) {
		snprintf(err, errlen, "wrong Merkle root: records_root does not match the records");
		rc = TR_EVERIFY;
		goto fail;
	}
	free(leaves);
	return TR_OK;
fail:
	free(leaves);
	ldg__parsed_block_fini(pb);
	return rc;
}

/* ==== Certificates ==== */

int ldg_cert_build(uint64_t view, uint64_t height, const uint8_t hash[TR_HASH_LEN],
		   const uint32_t *replicas, const uint8_t (*sigs)[TR_SIG_LEN], size_t nvotes,
		   uint8_t **out, size_t *out_len)
{
	Trellis__CommitCertificate cc = TRELLIS__COMMIT_CERTIFICATE__INIT;
	Trellis__CommitVote *votes, **vp;
	uint8_t *buf = NULL;
	size_t n;

	if (nvotes > TR_PARTNERS_MAX)
		return TR_ETOOBIG;
	votes = calloc(nvotes ? nvotes : 1, sizeof(*votes));
	vp = calloc(nvotes ? nvotes : 1, sizeof(*vp));
	if (!votes || !vp)
		goto out;
	for (size_t i = 0; i < nvotes; i++) {
		trellis__commit_vote__init(&votes[i]);
		votes[i].replica = replicas[i];
		votes[i].signature.data = (uint8_t *)(uintptr_t)sigs[i];
		votes[i].signature.len = TR_SIG_LEN;
		vp[i] = &votes[i];
	}
	cc.view = view;
	cc.height = height;
	cc.block_hash.data = (uint8_t *)(uintptr_t)hash;
	cc.block_hash.len = TR_HASH_LEN;
	cc.n_votes = nvotes;
	cc.votes = vp;
	n = trellis__commit_certificate__get_packed_size(&cc);
	buf = malloc(n);
	if (buf) {
		trellis__commit_certificate__pack(&cc, buf);
		*out = buf;
		*out_len = n;
	}
out:
	free(votes);
	free(vp);
	return buf ? TR_OK : TR_ENOMEM;
}

int ldg_cert_check(const tr_consortium *c, const uint8_t *cert, size_t len, uint64_t height,
		   const uint8_t hash[TR_HASH_LEN], char *err, size_t errlen)
{
	Trellis__CommitCertificate *cc;
	uint8_t payload[TR_VOTE_PAYLOAD_LEN];
	uint64_t seen = 0;
	int rc = TR_EVERIFY;

	_Static_assert(TR_PARTNERS_MAX <= 64, "seen bitmap holds every partner");
	if (len > LDG_CERT_BYTES_MAX) {
		snprintf(err, errlen, "certificate of %zu bytes is too big", len);
		return TR_ETOOBIG;
	}
	cc = trellis__commit_certificate__unpack(NULL, len, cert);
	if (!cc || cc->base.n_unknown_fields) {
		snprintf(err, errlen, "certificate is not a valid CommitCertificate message");
		rc = TR_EINVAL;
		goto out;
	}
	if (cc->height != height) {
		snprintf(err, errlen, "certificate is for height %llu, block is %llu",
			 (unsigned long long)cc->height, (unsigned long long)height);
		goto out;
	}
	if (cc->block_hash.len != TR_HASH_LEN || memcmp(cc->block_hash.data, hash, TR_HASH_LEN)) {
		snprintf(err, errlen, "certificate is for another block hash");
		goto out;
	}
	if (cc->n_votes > c->n) {
		snprintf(err, errlen, "certificate has %zu votes for %u partners", cc->n_votes, c->n);
		goto out;
	}
	tr_vote_payload(payload, cc->view, cc->height, hash);
	for (size_t i = 0; i < cc->n_votes; i++) {
		const Trellis__CommitVote *v = cc->votes[i];
		const tr_partner *p;
		if (v->base.n_unknown_fields || v->replica >= c->n) {
			snprintf(err, errlen, "certificate vote %zu: replica %u is not a partner", i,
				 v->replica);
			goto out;
		}
		p = &c->partners[v->replica];
		if (seen & (1ull << v->replica)) {
			snprintf(err, errlen, "certificate vote %zu: partner '%s' votes twice", i,
				 p->name);
			goto out;
		}
		seen |= 1ull << v->replica;
		if (v->signature.len != TR_SIG_LEN ||
		    tr_verify_tagged(p->alg, p->key, TR_TAG_COMMIT, c->chain_id, payload,
				     sizeof(payload), v->signature.data) != TR_OK) {
			snprintf(err, errlen, "certificate vote %zu: bad signature by partner '%s'", i,
				 p->name);
			rc = TR_EBADSIG;
			goto out;
		}
	}
	if (cc->n_votes < tr_consortium_quorum(c)) {
		snprintf(err, errlen,
			 "certificate has %zu distinct partners, needs the quorum of %u (2f+1 when n = 3f+1)",
			 cc->n_votes, tr_consortium_quorum(c));
		goto out;
	}
	rc = TR_OK;
out:
	if (cc)
		trellis__commit_certificate__free_unpacked(cc, NULL);
	return rc;
}
