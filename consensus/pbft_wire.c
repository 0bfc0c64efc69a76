/*
 * pbft_wire.c: bounded unpacking, signing payloads and packing of the PBFT
 * messages, and the commit-certificate check. See pbft_wire.h.
 */
#include "consensus/pbft_wire.h"

#include "common/merkle.h"

#include <string.h>

/* ==== Bounded allocation ==== */

static void *bounded_alloc(void *data, size_t size)
{
	pbft_wire_alloc *w = data;
	if (size > w->max - w->used)
		return NULL;
	w->used += size;
	return malloc(size ? size : 1);
}

static void bounded_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

void pbft_wire_alloc_init(pbft_wire_alloc *w, size_t max)
{
	w->a.alloc = bounded_alloc;
	w->a.free = bounded_free;
	w->a.allocator_data = w;
	w->used = 0;
	w->max = max;
}

/* Only free() is called through the allocator after unpacking. */
static ProtobufCAllocator free_allocator = {
	.alloc = bounded_alloc,
	.free = bounded_free,
	.allocator_data = NULL,
};

#define WIRE_ALLOC_SLACK (64u << 10)
#define WIRE_DEPTH_MAX 8

static bool has_unknown_depth(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d;
	if (!m)
		return false;
	if (depth > WIRE_DEPTH_MAX || m->n_unknown_fields)
		return true;
	d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which;
			memcpy(&which, base + f->quantifier_offset, sizeof which);
			if (which != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt;
			ProtobufCMessage *const *arr;
			memcpy(&cnt, base + f->quantifier_offset, sizeof cnt);
			memcpy(&arr, base + f->offset, sizeof arr);
			for (size_t k = 0; k < cnt; k++)
				if (has_unknown_depth(arr[k], depth + 1))
					return true;
		} else {
			const ProtobufCMessage *sub;
			memcpy(&sub, base + f->offset, sizeof sub);
			if (has_unknown_depth(sub, depth + 1))
				return true;
		}
	}
	return false;
}

bool pbft_wire_has_unknown(const ProtobufCMessage *m)
{
	return has_unknown_depth(m, 0);
}

ProtobufCMessage *pbft_wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
				   size_t len)
{
	pbft_wire_alloc w;
	ProtobufCMessage *m;
	if (len > SIZE_MAX / 4)
		return NULL;
	pbft_wire_alloc_init(&w, 2 * len + WIRE_ALLOC_SLACK);
	m = protobuf_c_message_unpack(desc, &w.a, len, buf);
	if (!m)
		return NULL;
	if (pbft_wire_has_unknown(m)) {
		protobuf_c_message_free_unpacked(m, &free_allocator);
		return NULL;
	}
	return m;
}

/* A varint of at most 10 bytes at *p (< end), or false. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

bool pbft_wire_is_vote(const uint8_t *msg, size_t len)
{
	const uint8_t *p = msg, *end = msg + len;
	bool vote = false;
	while (p < end) {
		uint64_t key, v;
		if (!read_varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0: /* varint: version, sender */
			if (!read_varint(&p, end, &v))
				return false;
			break;
		case 2: /* length-delimited: the oneof */
			if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			p += v;
			if ((key >> 3) != 4 && (key >> 3) != 5)
				return false; /* a PRE-PREPARE or a signed message */
			vote = true;
			break;
		default:
			return false;
		}
	}
	return vote;
}

void pbft_wire_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, &free_allocator);
}

/* ==== Payloads and signatures ==== */

void pbft_wire_prepare_payload(uint8_t out[PBFT_PREPARE_PAYLOAD_LEN], uint64_t view,
			       uint64_t height, const uint8_t hash[TR_HASH_LEN])
{
	out[0] = PBFT_PREPARE_KIND;
	tr_be64_put(out + 1, view);
	tr_be64_put(out + 9, height);
	memcpy(out + 17, hash, TR_HASH_LEN);
}

int pbft_wire_sign_prepare(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN], uint64_t view,
			   uint64_t height, const uint8_t hash[TR_HASH_LEN],
			   uint8_t sig[TR_SIG_LEN])
{
	uint8_t pl[PBFT_PREPARE_PAYLOAD_LEN];
	pbft_wire_prepare_payload(pl, view, height, hash);
	return tr_sign_tagged(k, TR_TAG_PBFT, chain_id, pl, sizeof pl, sig);
}

int pbft_wire_sign_commit(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN], uint64_t view,
			  uint64_t height, const uint8_t hash[TR_HASH_LEN],
			  uint8_t sig[TR_SIG_LEN])
{
	uint8_t pl[TR_VOTE_PAYLOAD_LEN];
	tr_vote_payload(pl, view, height, hash);
	return tr_sign_tagged(k, TR_TAG_COMMIT, chain_id, pl, sizeof pl, sig);
}

/* ==== Blocks ==== */

/* Unpack a block and its header (bounded). On success both are the
 * caller's (pbft_wire_free); *h may be NULL when the header is malformed. */
static int unpack_block(const uint8_t *block, size_t len, size_t max, Trellis__Block **b,
			Trellis__BlockHeader **h)
{
	if (len > max)
		return TR_ETOOBIG;
	*b = (Trellis__Block *)pbft_wire_unpack(&trellis__block__descriptor, block, len);
	if (!*b)
		return TR_EINVAL;
	if (!tr_pb_canonical(&(*b)->base, block, len)) {
		protobuf_c_message_free_unpacked(&(*b)->base, &free_allocator);
		*b = NULL;
		return TR_EINVAL;
	}
	*h = (Trellis__BlockHeader *)pbft_wire_unpack(&trellis__block_header__descriptor,
						       (*b)->header.data, (*b)->header.len);
	return TR_OK;
}

int pbft_wire_block_header(const uint8_t *block, size_t len, size_t max, pbft_wire_header *out)
{
	Trellis__Block *b;
	Trellis__BlockHeader *h = NULL;
	int rc = unpack_block(block, len, max, &b, &h);
	if (rc)
		return rc;
	rc = TR_EINVAL;
	if (!h || h->chain_id.len != TR_HASH_LEN || h->prev_hash.len != TR_HASH_LEN ||
	    h->height == 0)
		goto fail;
	tr_sha256(out->hash, b->header.data, b->header.len);
	memcpy(out->chain_id, h->chain_id.data, TR_HASH_LEN);
	memcpy(out->prev_hash, h->prev_hash.data, TR_HASH_LEN);
	out->height = h->height;
	out->view = h->view;
	out->proposer = h->proposer;
	rc = 0;
fail:
	pbft_wire_free((ProtobufCMessage *)h);
	pbft_wire_free(&b->base);
	return rc;
}

/* ==== Packing ==== */

int pbft_wire_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return TR_ENOMEM;
	TR_ASSERT(protobuf_c_message_pack(m, buf) == n);
	*out = buf;
	*len = n;
	return 0;
}

int pbft_wire_message(uint32_t sender, Pbft__PrePrepare *pp, Pbft__Vote *prepare,
		      Pbft__Vote *commit, Pbft__Signed *sgn, uint8_t **out, size_t *len)
{
	Pbft__Message m = PBFT__MESSAGE__INIT;
	m.version = PBFT_WIRE_VERSION;
	m.sender = sender;
	if (pp) {
		m.kind_case = PBFT__MESSAGE__KIND_PRE_PREPARE;
		m.pre_prepare = pp;
	} else if (prepare) {
		m.kind_case = PBFT__MESSAGE__KIND_PREPARE;
		m.prepare = prepare;
	} else if (commit) {
		m.kind_case = PBFT__MESSAGE__KIND_COMMIT;
		m.commit = commit;
	} else {
		TR_ASSERT(sgn);
		m.kind_case = PBFT__MESSAGE__KIND_SIGNED;
		m.signed_ = sgn;
	}
	return pbft_wire_pack(&m.base, out, len);
}

int pbft_wire_signed_message(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN],
			     uint32_t sender, const Pbft__Body *body, const uint8_t *block,
			     size_t block_len, uint8_t **out, size_t *len)
{
	Pbft__Signed s = PBFT__SIGNED__INIT;
	uint8_t sig[TR_SIG_LEN];
	uint8_t *bb;
	size_t bl;
	int rc = pbft_wire_pack(&body->base, &bb, &bl);
	if (rc)
		return rc;
	rc = tr_sign_tagged(k, TR_TAG_PBFT, chain_id, bb, bl, sig);
	if (rc)
		goto done;
	s.replica = sender;
	s.body.data = bb;
	s.body.len = bl;
	s.signature.data = sig;
	s.signature.len = TR_SIG_LEN;
	if (block) {
		s.block.data = (uint8_t *)(uintptr_t)block;
		s.block.len = block_len;
	}
	rc = pbft_wire_message(sender, NULL, NULL, NULL, &s, out, len);
done:
	free(bb);
	return rc;
}

/* ==== Commit certificates ==== */

/* Strict: every vote must be from a distinct partner and verify, and there
 * must be at least 2f+1 of them. The certificates pbft builds carry exactly
 * 2f+1 votes it has checked. */
int pbft_cert_check(const tr_consortium *c, const uint8_t *cert, size_t len,
		    pbft_verify_fn verify, void *verify_ctx, uint64_t *height,
		    uint8_t hash[TR_HASH_LEN])
{
	Trellis__CommitCertificate *cc;
	bool seen[TR_PARTNERS_MAX] = {false};
	uint8_t pl[TR_VOTE_PAYLOAD_LEN];
	uint32_t good = 0;
	int rc = TR_EINVAL;
	if (len > PBFT_OVERHEAD_MAX)
		return TR_EINVAL;
	cc = (Trellis__CommitCertificate *)pbft_wire_unpack(
		&trellis__commit_certificate__descriptor, cert, len);
	if (!cc)
		return TR_EINVAL;
	if (cc->block_hash.len != TR_HASH_LEN || cc->height == 0 ||
	    cc->n_votes > TR_PARTNERS_MAX)
		goto fail;
	tr_vote_payload(pl, cc->view, cc->height, cc->block_hash.data);
	for (size_t i = 0; i < cc->n_votes; i++) {
		const Trellis__CommitVote *v = cc->votes[i];
		const tr_partner *pt;
		int vr;
		if (v->replica >= c->n || seen[v->replica] || v->signature.len != TR_SIG_LEN) {
			rc = TR_EVERIFY;
			goto fail;
		}
		pt = &c->partners[v->replica];
		vr = verify ? verify(verify_ctx, pt->alg, pt->key, TR_TAG_COMMIT, c->chain_id, pl,
				     sizeof pl, v->signature.data)
			    : tr_verify_tagged(pt->alg, pt->key, TR_TAG_COMMIT, c->chain_id, pl,
					       sizeof pl, v->signature.data);
		if (vr != 0) {
			rc = TR_EVERIFY;
			goto fail;
		}
		seen[v->replica] = true;
		good++;
	}
	if (good < tr_consortium_quorum(c)) {
		rc = TR_EVERIFY;
		goto fail;
	}
	if (height)
		*height = cc->height;
	if (hash)
		memcpy(hash, cc->block_hash.data, TR_HASH_LEN);
	rc = 0;
fail:
	pbft_wire_free(&cc->base);
	return rc;
}

int pbft_wire_block_body_ok(const uint8_t *block, size_t len, size_t max)
{
	Trellis__Block *b;
	Trellis__BlockHeader *h = NULL;
	uint8_t(*leaves)[TR_HASH_LEN] = NULL;
	uint8_t root[TR_HASH_LEN];
	int rc = unpack_block(block, len, max, &b, &h);
	if (rc)
		return rc;
	rc = TR_EVERIFY;
	if (!h || h->records_root.len != TR_HASH_LEN || h->record_count != b->n_records)
		goto out;
	leaves = malloc((b->n_records ? b->n_records : 1) * TR_HASH_LEN);
	if (!leaves) {
		rc = TR_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b->n_records; i++)
		tr_merkle_leaf(leaves[i], b->records[i].data, b->records[i].len);
	if (tr_merkle_root((const uint8_t(*)[TR_HASH_LEN])leaves, b->n_records, root) == TR_OK &&
	    memcmp(root, h->records_root.data, TR_HASH_LEN) == 0)
		rc = 0;
out:
	free(leaves);
	pbft_wire_free((ProtobufCMessage *)h);
	pbft_wire_free(&b->base);
	return rc;
}
