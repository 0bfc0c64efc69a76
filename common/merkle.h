/*
 * merkle.h: the RFC 6962 Merkle tree over a block's records.
 *
 * leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the
 * split is the largest power of two below n, which is the same as pairing
 * nodes left to right level by level and promoting an unpaired last node.
 * The root of zero leaves is SHA-256(""). Audit paths run from the leaf's
 * sibling up to the child of the root (RFC 6962 2.1.1).
 */
#ifndef TR_MERKLE_H
#define TR_MERKLE_H

#include "common/crypto.h"

#define TR_MERKLE_DEPTH_MAX 64
#define TR_MERKLE_LEAVES_MAX (1u << 24)

void tr_merkle_leaf(uint8_t out[TR_HASH_LEN], const uint8_t *data, size_t len);
void tr_merkle_node(uint8_t out[TR_HASH_LEN], const uint8_t left[TR_HASH_LEN],
		    const uint8_t right[TR_HASH_LEN]);

/* Root of n leaf hashes. TR_ENOMEM, or TR_ETOOBIG past TR_MERKLE_LEAVES_MAX. */
int tr_merkle_root(const uint8_t (*leaves)[TR_HASH_LEN], size_t n,
		   uint8_t root[TR_HASH_LEN]) TR_MUST_USE;

/* The audit path of leaf index in a tree of n leaves. path must hold
 * TR_MERKLE_DEPTH_MAX hashes; *path_len is set on success. */
int tr_merkle_path(const uint8_t (*leaves)[TR_HASH_LEN], size_t n, size_t index,
		   uint8_t (*path)[TR_HASH_LEN], size_t *path_len) TR_MUST_USE;

/* 0 when leaf_hash at index of a size-n tree with this path has root; else
 * TR_EVERIFY. */
int tr_merkle_verify(const uint8_t leaf_hash[TR_HASH_LEN], uint64_t index, uint64_t n,
		     const uint8_t (*path)[TR_HASH_LEN], size_t path_len,
		     const uint8_t root[TR_HASH_LEN]) TR_MUST_USE;

#endif
