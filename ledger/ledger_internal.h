/*
 * ledger_internal.h: helpers shared by the ledger's files (block.c checks
 * bytes without LMDB; store.c keeps them in LMDB).
 */
#ifndef LDG_LEDGER_INTERNAL_H
#define LDG_LEDGER_INTERNAL_H

#include "ledger/ledger.h"
#include "proto/trellis.pb-c.h"

/* A block after its form, header, records and Merkle root were checked
 * (not its certificate, not the duplicates against the store). Owns hdr,
 * blk and the ids array. */
typedef struct {
	Trellis__Block *blk;
	Trellis__BlockHeader *hdr;
	uint8_t hash[TR_HASH_LEN];
	uint8_t (*ids)[TR_HASH_LEN]; /* event id of each record */
	size_t n;
} ldg_parsed_block;

/* Check a block's bytes as the block at `height` after prev_hash. */
int ldg__parse_block(const tr_consortium *c, const uint8_t *bytes, size_t len, uint64_t height,
		     const uint8_t prev_hash[TR_HASH_LEN], unsigned flags, ldg_parsed_block *pb,
		     char *err, size_t errlen) TR_MUST_USE;
void ldg__parsed_block_fini(ldg_parsed_block *pb);

#endif
