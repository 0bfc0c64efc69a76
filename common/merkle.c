/*
 * merkle.c: RFC 6962 roots, audit paths and their verification, computed
 * level by level in one scratch array (no recursion).
 */
#include "common/merkle.h"

#include <sodium.h>
#include <string.h>

void tr_merkle_leaf(uint8_t out[TR_HASH_LEN], const uint8_t *data, size_t len)
{
	tr_sha256_ctx st;
	static const uint8_t zero = 0x00;
	tr_sha256_init(&st);
	tr_sha256_update(&st, &zero, 1);
	tr_sha256_update(&st, data, len);
	tr_sha256_final(&st, out);
}

void tr_merkle_node(uint8_t out[TR_HASH_LEN], const uint8_t left[TR_HASH_LEN],
		    const uint8_t right[TR_HASH_LEN])
{
	uint8_t buf[1 + 2 * TR_HASH_LEN];
	buf[0] = 0x01;
	memcpy(buf + 1, left, TR_HASH_LEN);
	memcpy(buf + 1 + TR_HASH_LEN, right, TR_HASH_LEN);
	tr_sha256(out, buf, sizeof(buf));
}

/* Reduce level[0..n) to the next level in place; returns its size. */
static size_t level_up(uint8_t (*level)[TR_HASH_LEN], size_t n)
{
	size_t m = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		tr_merkle_node(level[m++], level[i], level[i + 1]);
	if (n & 1)
		memmove(level[m++], level[n - 1], TR_HASH_LEN);
	return m;
}

int tr_merkle_root(const uint8_t (*leaves)[TR_HASH_LEN], size_t n, uint8_t root[TR_HASH_LEN])
{
	uint8_t(*level)[TR_HASH_LEN];
	if (n == 0) {
		tr_sha256(root, "", 0);
		return TR_OK;
	}
	if (n > TR_MERKLE_LEAVES_MAX)
		return TR_ETOOBIG;
	level = malloc(n * TR_HASH_LEN);
	if (!level)
		return TR_ENOMEM;
	memcpy(level, leaves, n * TR_HASH_LEN);
	while (n > 1)
		n = level_up(level, n);
	memcpy(root, level[0], TR_HASH_LEN);
	free(level);
	return TR_OK;
}

int tr_merkle_path(const uint8_t (*leaves)[TR_HASH_LEN], size_t n, size_t index,
		   uint8_t (*path)[TR_HASH_LEN], size_t *path_len)
{
	uint8_t(*level)[TR_HASH_LEN];
	size_t len = 0;
	if (index >= n)
		return TR_EINVAL;
	if (n > TR_MERKLE_LEAVES_MAX)
		return TR_ETOOBIG;
	level = malloc(n * TR_HASH_LEN);
	if (!level)
		return TR_ENOMEM;
	memcpy(level, leaves, n * TR_HASH_LEN);
	while (n > 1) {
		size_t sib = index ^ 1u;
		if (sib < n) {
			TR_ASSERT(len < TR_MERKLE_DEPTH_MAX);
			memcpy(path[len++], level[sib], TR_HASH_LEN);
		}
		n = level_up(level, n);
		index >>= 1;
	}
	free(level);
	*path_len = len;
	return TR_OK;
}

int tr_merkle_verify(const uint8_t leaf_hash[TR_HASH_LEN], uint64_t index, uint64_t n,
		     const uint8_t (*path)[TR_HASH_LEN], size_t path_len,
		     const uint8_t root[TR_HASH_LEN])
{
	uint64_t fn = index, sn;
	uint8_t r[TR_HASH_LEN];

	if (n == 0 || index >= n || path_len > TR_MERKLE_DEPTH_MAX)
		return TR_EVERIFY;
	sn = n - 1;
	memcpy(r, leaf_hash, TR_HASH_LEN);
	for (size_t i = 0; i < path_len; i++) {
		if (sn == 0)
			return TR_EVERIFY;
		if ((fn & 1) || fn == sn) {
			tr_merkle_node(r, path[i], r);
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			tr_merkle_node(r, r, path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(r, root, TR_HASH_LEN) != 0)
		return TR_EVERIFY;
	return TR_OK;
}
