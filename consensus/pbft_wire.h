/*
 * pbft_wire.h: bytes of the PBFT messages (proto/pbft.proto), shared by
 * consensus/pbft.c and the simulator (tests/sim), which forges messages for
 * its Byzantine replicas with the same helpers. Not part of the node's API.
 *
 * Everything from a peer is unpacked through a bounded allocator and
 * refused when it carries unknown fields anywhere (signed bytes must not
 * hide data the receiver ignores). Nothing here keeps state.
 */
#ifndef PBFT_WIRE_H
#define PBFT_WIRE_H

#include "common/consortium.h"
#include "common/crypto.h"
#include "consensus/pbft.h"
#include "proto/pbft.pb-c.h"
#include "proto/trellis.pb-c.h"

#define PBFT_WIRE_VERSION 1
#define PBFT_PREPARE_PAYLOAD_LEN 49
#define PBFT_PREPARE_KIND 0x01

_Static_assert(PBFT_PREPARE_PAYLOAD_LEN == 1 + 8 + 8 + TR_HASH_LEN, "prepare payload layout");

/* A bounded protobuf-c allocator: every unpack through it may allocate at
 * most `max` bytes in total. */
typedef struct {
	ProtobufCAllocator a;
	size_t used, max;
} pbft_wire_alloc;

void pbft_wire_alloc_init(pbft_wire_alloc *w, size_t max);

/* Unpack `len` bytes as `desc` with an allocation budget of about 2*len
 * plus a constant, and refuse unknown fields anywhere in the tree. Returns
 * the message (free with pbft_wire_free) or NULL. */
ProtobufCMessage *pbft_wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
				   size_t len);
void pbft_wire_free(ProtobufCMessage *m);

/* Does m or any message below it carry unknown fields? */
bool pbft_wire_has_unknown(const ProtobufCMessage *m);

/* 0x01 || be64(view) || be64(height) || hash: what a PREPARE signs. */
void pbft_wire_prepare_payload(uint8_t out[PBFT_PREPARE_PAYLOAD_LEN], uint64_t view,
			       uint64_t height, const uint8_t hash[TR_HASH_LEN]);

/* Sign the prepare payload / the COMMIT vote payload with k. */
int pbft_wire_sign_prepare(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN], uint64_t view,
			   uint64_t height, const uint8_t hash[TR_HASH_LEN],
			   uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;
int pbft_wire_sign_commit(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN], uint64_t view,
			  uint64_t height, const uint8_t hash[TR_HASH_LEN],
			  uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;

/* The fields of a block header consensus looks at. */
typedef struct {
	uint8_t hash[TR_HASH_LEN]; /* SHA-256 of the header bytes as carried */
	uint8_t chain_id[TR_HASH_LEN];
	uint8_t prev_hash[TR_HASH_LEN];
	uint64_t height, view;
	uint32_t proposer;
} pbft_wire_header;

/* Parse a serialised trellis.Block of at most max bytes and its header.
 * Returns 0, TR_ETOOBIG, TR_EINVAL. */
int pbft_wire_block_header(const uint8_t *block, size_t len, size_t max,
			   pbft_wire_header *out) TR_MUST_USE;

/* Pack any message into a malloc'd buffer. Returns 0 or TR_ENOMEM. */
/* The block's records are the ones its header commits to: record_count
 * and records_root (RFC 6962) match. A certificate or a prepared
 * certificate covers the header hash only, so every block taken on that
 * authority is checked with this first. 0, TR_EVERIFY, TR_EINVAL,
 * TR_ETOOBIG, TR_ENOMEM. */
int pbft_wire_block_body_ok(const uint8_t *block, size_t len, size_t max) TR_MUST_USE;

/* Whether msg (a Message, unchecked) looks like a PREPARE or COMMIT vote,
 * judged from its top-level field tags alone: a node may take votes ahead
 * of the partner's queued gossip. Anything else, or anything it cannot
 * read, is false. pbft_step still checks the message in full. */
bool pbft_wire_is_vote(const uint8_t *msg, size_t len);

int pbft_wire_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len) TR_MUST_USE;

/* Wrap a kind into a Message from `sender` and pack it. Exactly one of
 * pp / prepare / commit / sgn is non-NULL. */
int pbft_wire_message(uint32_t sender, Pbft__PrePrepare *pp, Pbft__Vote *prepare,
		      Pbft__Vote *commit, Pbft__Signed *sgn, uint8_t **out,
		      size_t *len) TR_MUST_USE;

/* Pack body, sign it under TR_TAG_PBFT and wrap it into a Message.
 * `block` (may be NULL) rides unsigned in Signed.block. */
int pbft_wire_signed_message(const tr_key *k, const uint8_t chain_id[TR_HASH_LEN],
			     uint32_t sender, const Pbft__Body *body, const uint8_t *block,
			     size_t block_len, uint8_t **out, size_t *len) TR_MUST_USE;

#endif
