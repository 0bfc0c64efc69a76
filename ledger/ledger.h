/*
 * ledger.h: the hash-chained block store of one home, in LMDB.
 *
 * One LMDB environment per home (HOME/data), with the named databases of
 * DESIGN.md: meta, blocks, certs, events, ehash, ids, edges, locations,
 * votes, and esum (one summary per EPCIS event, for queries). The first open of a home writes its genesis: the consortium
 * file's bytes and chain_id (SHA-256 of those bytes) into meta. Block 1's
 * prev_hash is the chain_id.
 *
 * Invariants:
 *  - a block, its commit certificate and all its index entries are written
 *    in ONE durable write transaction (ldg_append), or not at all;
 *  - every stored block passed ldg_check_block against its predecessor;
 *  - a failed write (a full map included) leaves the store exactly as it was.
 *
 * Threads: an ldg may be used from one thread at a time. Readers in other
 * processes (the CLI) open the same home read-only; LMDB readers never
 * block the writer.
 *
 * Ownership: buffers returned by the read functions are malloc'd copies
 * owned by the caller; the ledger keeps the tr_consortium it was given as
 * a borrowed pointer, which must outlive it.
 */
#ifndef LDG_LEDGER_H
#define LDG_LEDGER_H

#include "common/consortium.h"

#include <stdbool.h>

typedef struct ldg ldg;

typedef struct {
	size_t map_size;  /* bytes; 0 = 1 TiB (the file stays sparse) */
	bool readonly;
} ldg_options;

/* Upper bound on a stored block or certificate, whatever the params. */
#define LDG_BLOCK_BYTES_MAX (80u << 20)
#define LDG_CERT_BYTES_MAX (64u << 10)

/* Flags of ldg_append / ldg_check_block. */
#define LDG_RECORDS_VERIFIED 1u /* the caller ran ldg_record_check (signature and Event re-derivation) on these exact bytes */
#define LDG_RULES_CHECKED 2u    /* ldg_check_block accepted this exact block on the current head */

/* Open (creating when missing, unless readonly) the ledger in dir. A
 * ledger that belongs to another consortium (other chain_id) is refused.
 * err gets a one-line reason naming dir. */
int ldg_open(const char *dir, const tr_consortium *c, const ldg_options *opt, ldg **out,
	     char *err, size_t errlen) TR_MUST_USE;
void ldg_close(ldg *l);

/* The consortium file stored at genesis in the ledger at dir (malloc'd
 * copy), so tools can open a ledger without the home's file. */
int ldg_read_consortium(const char *dir, uint8_t **bytes, size_t *len, char *err,
			size_t errlen) TR_MUST_USE;

const tr_consortium *ldg_consortium(const ldg *l);

/* The last committed height (0 before the first block) and its hash (the
 * chain_id at height 0). */
int ldg_head(ldg *l, uint64_t *height, uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;

/* Check a block and its certificate as the next block after
 * (height - 1, prev_hash) without writing. On error, err says what is
 * wrong (record index, signer...). Returns TR_EVERIFY / TR_EBADSIG /
 * TR_EEXIST / TR_EINVAL / TR_ETOOBIG. cert may be NULL to check the block
 * alone (a proposal). */
int ldg_check_block(ldg *l, const uint8_t *block, size_t len, const uint8_t *cert,
		    size_t cert_len, unsigned flags, char *err, size_t errlen) TR_MUST_USE;

/* Check, then append the next block with its certificate and its index
 * entries in one durable transaction. TR_EFULL when the map is full (the
 * store is unchanged). */
int ldg_append(ldg *l, const uint8_t *block, size_t len, const uint8_t *cert, size_t cert_len,
	       unsigned flags, char *err, size_t errlen) TR_MUST_USE;

/* The event ids of the block at height, in record order (*n of them), if
 * the last successful ldg_append on l stored it, else NULL: what the node
 * answers its clients with, without hashing the records again. Valid
 * until the next ldg_append or ldg_close. */
const uint8_t (*ldg_appended_ids(const ldg *l, uint64_t height, size_t *n))[TR_HASH_LEN];

/* Block and certificate bytes at height (malloc'd copies; cert may be NULL
 * if not wanted). TR_ENOTFOUND past the head. */
int ldg_block_get(ldg *l, uint64_t height, uint8_t **block, size_t *len, uint8_t **cert,
		  size_t *cert_len) TR_MUST_USE;

/* Where event id sits: height and position. TR_ENOTFOUND. */
int ldg_event_find(ldg *l, const uint8_t id[TR_HASH_LEN], uint64_t *height,
		   uint32_t *position) TR_MUST_USE;

/* The record bytes of event id (malloc'd), with its height and position.
 * TR_ENOTFOUND; TR_EVERIFY when the index and the block disagree. */
int ldg_record_get(ldg *l, const uint8_t id[TR_HASH_LEN], uint8_t **rec, size_t *len,
		   uint64_t *height, uint32_t *position) TR_MUST_USE;

/* The hash of the block at height (SHA-256 of its stored header bytes).
 * TR_ENOTFOUND; TR_EVERIFY when the stored block has no header. */
int ldg_block_hash(ldg *l, uint64_t height, uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;

/* Re-check every block from genesis: header links, block hashes, Merkle
 * roots, certificates, index entries, the stored head; with full, every
 * record signature too, and the chain is appended again to a scratch
 * ledger under $TMPDIR (removed after) whose indexes must equal these. On
 * failure *bad_height is the first bad height and err says what is wrong.
 * *checked counts the blocks checked. TR_EIO / TR_ENOMEM: the scratch
 * ledger could not be made or written (err names it): no verdict. */
int ldg_verify(ldg *l, bool full, uint64_t *bad_height, uint64_t *checked, char *err,
	       size_t errlen) TR_MUST_USE;

/* The consensus module's persisted state: one blob, replaced durably by
 * each put (persist before send), in one transaction with, when block is
 * given, the block this node prepared at `height`. That block is written
 * where it stays if it commits: blocks[height], above the head (readers
 * of the chain stop at the head; ldg_append of the same bytes then writes
 * only its certificate and indexes, of other bytes replaces it). Written
 * only at head + 1 (any other height is logged and skipped: it cannot be
 * the next block). ldg_state_get: malloc'd copy, or TR_ENOTFOUND on a
 * first start. ldg_prepared_block: a malloc'd copy of the block stored at
 * head + 1, or TR_ENOTFOUND. */
int ldg_state_put(ldg *l, const uint8_t *blob, size_t len, uint64_t height, const uint8_t *block,
		  size_t block_len) TR_MUST_USE;
int ldg_state_get(ldg *l, uint8_t **blob, size_t *len) TR_MUST_USE;
int ldg_prepared_block(ldg *l, uint8_t **block, size_t *len) TR_MUST_USE;

/* ==== Building blocks (proposers, tests) ==== */

/* Serialise a Block from serialised records: computes the Merkle root and
 * the header. *out is malloc'd; hash = SHA-256(header bytes). */
int ldg_block_build(const uint8_t chain_id[TR_HASH_LEN], uint64_t height,
		    const uint8_t prev_hash[TR_HASH_LEN], uint64_t view, uint32_t proposer,
		    uint64_t time_ms, const uint8_t *const *records, const size_t *lens, size_t n,
		    uint8_t **out, size_t *out_len, uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;

/* Sign and serialise a Record for event bytes. *out is malloc'd; id =
 * SHA-256(event). */
int ldg_record_build(const tr_key *k, uint32_t signer, const uint8_t chain_id[TR_HASH_LEN],
		     const uint8_t *event, size_t len, uint8_t **out, size_t *out_len,
		     uint8_t id[TR_HASH_LEN]) TR_MUST_USE;

/* A Block's wire bytes read in place, without unpacking its records:
 * ldg_block_bytes_hash hashes the header (the block's hash); ldg_block_record_next
 * gives the next record between *p and end (start with *p = block, end =
 * block + len; *rec borrowed from the block), TR_ENOTFOUND past the last.
 * Every step is bounded by end; malformed bytes give TR_EVERIFY. The form
 * of the rest (canonical encoding, no other fields) is ldg_check_block's. */
int ldg_block_bytes_hash(const uint8_t *block, size_t len, uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;
int ldg_block_record_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec,
			  size_t *len) TR_MUST_USE;

/* What the EPCIS rules make of each record on its own, against the chain
 * now (ldg_events_admissible checks records as one batch, with messages):
 * rc TR_OK when admissible; TR_EEXIST when its GS1 event hash (for an error
 * declaration: the event it retracts) is committed; TR_EINVAL when it is
 * not a Record or names a location of another partner. When has_key, key is
 * its rule key, SHA-256 of that hash ("x" + it for a declaration): of two
 * records with one rule key, at most one can ever commit. Records that are
 * not EPCIS events have no key and no rule. For the mempool (node/). */
typedef struct {
	int rc;
	bool has_key;
	uint8_t key[TR_HASH_LEN];
} ldg_rule;
int ldg_records_rules(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
		      ldg_rule *out) TR_MUST_USE;
/* ldg_events_admissible (ledger/query.h), which also writes each record's
 * rule key into out[] (has_key, key; rc stays 0) when it returns 0: one
 * pass over the records for a submit's rules and its keys. */
int ldg_events_admissible_keyed(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
				ldg_rule *out, char *err, size_t errlen) TR_MUST_USE;

/* Event id of a serialised record (checks the record's form only). */
int ldg_record_event_id(const uint8_t *rec, size_t len, uint8_t id[TR_HASH_LEN]) TR_MUST_USE;

/* Check one serialised record: form, size, signer, algorithm and (unless
 * LDG_RECORDS_VERIFIED) signature and the Event's structured fields
 * re-derived from its json. Writes the event id on success. */
int ldg_record_check(const tr_consortium *c, const uint8_t *rec, size_t len, unsigned flags,
		     uint8_t id[TR_HASH_LEN], char *err, size_t errlen) TR_MUST_USE;

/* ==== Records checked once (checked.c) ====
 * A bounded, thread-safe set of record bytes that passed ldg_record_check
 * in this process (signature and Event re-derivation), so that a record
 * met twice (its gossip, then the block carrying it) is checked once.
 * Each entry keeps the event id the check computed.
 * Keyed by a 128-bit SipHash of the bytes under a random secret key; a
 * full bucket forgets its oldest entry (one more check, never a wrong
 * answer). A set serves the consortium it was made for; for any other,
 * ldg_record_check_once checks in full. Only ldg_record_check_once adds. */
#define LDG_CHECKED_SLOTS (1u << 19) /* 24 MiB of fingerprints and ids */
typedef struct ldg_checked ldg_checked;
int ldg_checked_new(const tr_consortium *c, ldg_checked **out) TR_MUST_USE;
void ldg_checked_free(ldg_checked *k);
bool ldg_checked_has(ldg_checked *k, const uint8_t *rec, size_t len);
void ldg_checked_stats(ldg_checked *k, uint64_t *hits, uint64_t *misses);

/* ldg_record_check, except that bytes k holds pass at once (with the id
 * kept for them), and that bytes which pass are added. k may be NULL. */
int ldg_record_check_once(const tr_consortium *c, ldg_checked *k, const uint8_t *rec,
			  size_t len, unsigned flags, uint8_t id[TR_HASH_LEN], char *err,
			  size_t errlen) TR_MUST_USE;

/* From now on ldg_check_block and ldg_append check records through k
 * (borrowed; it must outlive l or be detached with NULL). ldg_verify
 * never uses it. */
void ldg_use_checked(ldg *l, ldg_checked *k);

/* One key of ldg_first_dups: len bytes at key, in a class (keys of
 * different classes never collide), for the item at index idx. */
typedef struct {
	const void *key;
	size_t len;
	unsigned cls;
	size_t idx;
} ldg_dupkey;

/* For keys[0..n) (reordered), set first[idx] to the smallest index with the
 * same class and bytes when that is not idx itself, else SIZE_MAX: what a
 * scan comparing each item with every earlier one finds, in O(n log n).
 * A block or a submit holds up to 100,000 records. block.c. */
void ldg_first_dups(ldg_dupkey *keys, size_t n, size_t *first);

/* Build a CommitCertificate from nvotes (replica, signature) pairs. */
int ldg_cert_build(uint64_t view, uint64_t height, const uint8_t hash[TR_HASH_LEN],
		   const uint32_t *replicas, const uint8_t (*sigs)[TR_SIG_LEN], size_t nvotes,
		   uint8_t **out, size_t *out_len) TR_MUST_USE;

/* Check a serialised certificate for (height, hash): 2f+1 distinct
 * partners, every signature valid. */
int ldg_cert_check(const tr_consortium *c, const uint8_t *cert, size_t len, uint64_t height,
		   const uint8_t hash[TR_HASH_LEN], char *err, size_t errlen) TR_MUST_USE;

#endif
