/*
 * ledger_internal.h: helpers shared by the ledger's files (block.c checks
 * bytes without LMDB; store.c keeps them in LMDB).
 */
#ifndef LDG_LEDGER_INTERNAL_H
#define LDG_LEDGER_INTERNAL_H

#include "ledger/ledger.h"
#include "proto/trellis.pb-c.h"

#include <lmdb.h>

/* The named databases of one environment (DESIGN.md, Storage). events
 * and ehash, keyed by hashes, each have two levels: new keys go into the
 * small recent tree (DB_EVENTS_RECENT, DB_EHASH_RECENT), which moves into
 * the main one in key order when it is full (LDG_RECENT_MIN); a key lives
 * in one level. */
enum { DB_META, DB_BLOCKS, DB_CERTS, DB_EVENTS, DB_EHASH, DB_IDS, DB_EDGES, DB_LOCATIONS,
       DB_VOTES, DB_ESUM, DB_EVENTS_RECENT, DB_EHASH_RECENT, DB_COUNT };

/* A recent level moves into its main tree when it holds an eighth of the
 * main tree's entries, but at least LDG_RECENT_MIN and at most
 * LDG_RECENT_MAX: small enough that a block's keys share its pages, large
 * enough that a move brings several keys to each page of the main tree,
 * and a move dirties at most ~LDG_RECENT_MAX pages (LMDB refuses a
 * transaction of more than 131,071: MDB_TXN_FULL). */
#define LDG_RECENT_MIN 16384
#define LDG_RECENT_MAX 65536


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

/* The keys the events and ehash databases may hold (seen.c). */
typedef struct ldg_seen ldg_seen;
/* a key's domain in the set is its database */
#define LDG_SEEN_EVENTS ((uint8_t)DB_EVENTS)
#define LDG_SEEN_EHASH ((uint8_t)DB_EHASH)
int ldg__seen_new(ldg_seen **out) TR_MUST_USE;
void ldg__seen_free(ldg_seen *s);
/* false: the key is in neither database; true: it may be (and with no
 * set, always true). */
bool ldg__seen_maybe(const ldg_seen *s, uint8_t domain, const void *key, size_t len);
int ldg__seen_add(ldg_seen *s, uint8_t domain, const void *key, size_t len) TR_MUST_USE;
size_t ldg__seen_count(const ldg_seen *s);

struct ldg {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	const tr_consortium *c;
	bool readonly;
	char dir[512];
	/* The last block ldg_check_block accepted, parsed, with its bytes and
	 * the head it was checked on: ldg_append of the same bytes on the same
	 * head takes it instead of parsing (and hashing every record) again. */
	ldg_parsed_block kept;
	uint8_t *kept_bytes;
	size_t kept_len;
	uint8_t kept_head[TR_HASH_LEN];
	unsigned kept_flags; /* LDG_RECORDS_VERIFIED when signatures were the caller's */
	bool kept_rules;     /* the EPCIS rules were checked on kept_head */
	ldg_checked *checked; /* borrowed (ldg_use_checked), or NULL */
	ldg_seen *seen;       /* writable handles; NULL: ask LMDB every time */
	size_t recent_min;    /* LDG_RECENT_MIN; tests set less */
	/* the event ids of the block the last ldg_append stored */
	uint8_t (*appended_ids)[TR_HASH_LEN];
	size_t appended_n;
	uint64_t appended_height;
};

/* mdb_get and mdb_put for the events and ehash databases (db = DB_EVENTS
 * or DB_EHASH, both levels), through l->seen: a get of a key the set does
 * not hold is MDB_NOTFOUND without LMDB; a put records the key (a set that
 * cannot grow is dropped, and lookups then all go to LMDB). A put of a new
 * key goes into the recent level; of a key the main tree holds, there
 * (MDB_KEYEXIST under MDB_NOOVERWRITE). ldg__hashed_find reads both levels
 * without the set (verify's entry checks, which read LMDB itself). */
int ldg__hashed_get(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, MDB_val *v);
int ldg__hashed_find(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, MDB_val *v);
int ldg__hashed_put(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, const void *val,
		    size_t vlen, unsigned flags);
/* The height of the head in txn's snapshot. */
int ldg__head_height(ldg *l, MDB_txn *txn, uint64_t *height) TR_MUST_USE;

/* Move each recent level that is full (LDG_RECENT_MIN) into its main
 * tree, in key order (one page written per run of keys, not per key). */
int ldg__hashed_settle(ldg *l, MDB_txn *txn);


/* Check a block's bytes as the block at `height` after prev_hash; records
 * through k (ldg_record_check_once; NULL: every record in full). */
int ldg__parse_block(const tr_consortium *c, ldg_checked *k, const uint8_t *bytes, size_t len,
		     uint64_t height, const uint8_t prev_hash[TR_HASH_LEN], unsigned flags,
		     ldg_parsed_block *pb, char *err, size_t errlen) TR_MUST_USE;
void ldg__parsed_block_fini(ldg_parsed_block *pb);

/* Rules that need the stored chain beyond duplicate event ids (EPCIS
 * duplicates by event hash, location ownership), checked for every block
 * before it is appended, inside the caller's transaction. index.c. */
int ldg__check_rules(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err,
		     size_t errlen) TR_MUST_USE;

/* Write the block's index entries (ehash, ids, edges, locations, esum)
 * in the append transaction txn. index.c. */
int ldg__index_block(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err,
		     size_t errlen) TR_MUST_USE;

/* Check that every index entry the block's records should have written is
 * there (ldg_verify); *nsum counts the records that have an esum entry.
 * TR_EVERIFY with err naming the record and the database. index.c. */
int ldg__index_verify(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, size_t *nsum,
		      char *err, size_t errlen) TR_MUST_USE;

#endif
