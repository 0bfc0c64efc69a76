/*
 * index_internal.h: the layout of the EPCIS index databases (ehash, ids,
 * edges, locations), shared by index.c (writes, rules) and query.c
 * (reads). docs/storage.md documents the same layout for people.
 *
 * Keys of ids, edges and locations are index keys: the normalised
 * identifier (ep_id_key) when it is at most LDG_KEY_RAW_MAX bytes,
 * otherwise "sha256:" + hex SHA-256 of it (LMDB keys and DUPSORT values
 * must stay under 511 bytes). Transformation hubs use keys that start
 * with 0x01, which no identifier from a validated document can.
 *
 *   ehash      "ni:///sha-256;..."            -> event id (32)  the original
 *              "x" + event hash                -> event id       its error declaration
 *              "r" + event id (32)             -> event id       original -> declaration
 *   ids        key -> be64 height | be32 position | u8 role       (DUPSORT: chain order)
 *   locations  key -> be64 height | be32 position | u8 role
 *   edges      key -> u8 dir | u8 kind | be64 height | be32 position | other key
 *   esum       be64 height | be32 position -> the event's summary (below)
 *
 * An esum value is what a query shows of one event, so that queries never
 * unpack a Record or an Event:
 *   event id (32) | be64 eventTime ms | be32 signer | u8 flags (1 error
 *   declaration, 2 retracted) | six strings, each u8 length | bytes:
 *   type, eventTime, action, bizStep, where (bizLocation key, else
 *   readPoint key), GS1 event hash; each cut to its ldg_event_info field.
 * The retracted flag of an original is set in the append transaction of
 * the declaration that retracts it (or at once, when the declaration came
 * first).
 */
#ifndef LDG_INDEX_INTERNAL_H
#define LDG_INDEX_INTERNAL_H

#include "ledger/ledger_internal.h"
#include "ledger/query.h"

#define LDG_KEY_RAW_MAX 400
#define LDG_KEY_BUF (LDG_KEY_RAW_MAX + 1)
#define LDG_POS_LEN 12 /* be64 height | be32 position */
#define LDG_EHASH_KEY_LEN (1 + TR_HASH_LEN) /* tag, then 32 bytes (index.c ehash_key_of) */
#define LDG_EDGE_HDR (2 + LDG_POS_LEN)
#define LDG_HUB_PREFIX "\x01xf:"

_Static_assert(LDG_EDGE_HDR + LDG_KEY_RAW_MAX < 511, "edge values fit LMDB's DUPSORT limit");

/* Roles of an identifier in an event (ids and locations values). */
enum {
	LDG_ROLE_EPC = 1,
	LDG_ROLE_CLASS = 2,
	LDG_ROLE_PARENT = 3,
	LDG_ROLE_CHILD = 4,
	LDG_ROLE_INPUT = 5,
	LDG_ROLE_OUTPUT = 6,
	LDG_ROLE_READ_POINT = 7,
	LDG_ROLE_BIZ_LOCATION = 8,
	LDG_ROLE_SOURCE = 9,
	LDG_ROLE_DESTINATION = 10,
	LDG_ROLE_LOT = 11,
	LDG_ROLE_TRANSFORMATION = 12
};

/* Edge directions and kinds. 'U' points at a source of the key (up),
 * 'D' at what the key went into (down). */
enum { LDG_EDGE_UP = 'U', LDG_EDGE_DOWN = 'D' };
enum {
	LDG_EDGE_TRANSFORM = 'T', /* input <-> hub <-> output */
	LDG_EDGE_CONTAIN = 'A',   /* aggregation ADD/OBSERVE: child -> parent (down) */
	LDG_EDGE_REMOVE = 'a',    /* aggregation DELETE: containment ends */
	LDG_EDGE_ASSOC = 'S',     /* association ADD/OBSERVE */
	LDG_EDGE_UNASSOC = 's',   /* association DELETE */
	LDG_EDGE_LOT = 'L'        /* commissioning with ILMD: item -> its lot (up) */
};

/* The index key of a normalised identifier (see above). */
void ldg__idx_key(const char *id, char out[LDG_KEY_BUF]);

/* The next record of a Block's wire format between *p and end (advances
 * *p); *rec borrowed. TR_ENOTFOUND past the last, TR_EVERIFY when
 * malformed. */
int ldg__record_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec,
		     size_t *len) TR_MUST_USE;

/* The header bytes of a Block's wire format (borrowed); TR_EVERIFY when
 * malformed or absent. */
int ldg__block_header(const uint8_t *b, size_t len, const uint8_t **hdr,
		      size_t *hlen) TR_MUST_USE;

/* The summary of the event at (height, position) into info (query.h),
 * via left empty. TR_ENOTFOUND when the record there has no EPCIS
 * mapping; TR_EVERIFY for a malformed value. */
int ldg__summary_get(ldg *l, MDB_txn *txn, uint64_t height, uint32_t position,
		     ldg_event_info *info) TR_MUST_USE;

/* The event id of the declaration that retracts event id, if any:
 * 0 and decl written when retracted, TR_ENOTFOUND when not. */
int ldg__retracted_by(ldg *l, MDB_txn *txn, const uint8_t id[TR_HASH_LEN],
		      uint8_t decl[TR_HASH_LEN]) TR_MUST_USE;

/* The lot key of an item (https://id.gs1.org/01/GTIN/21/SERIAL key) and an
 * ILMD lot number: the item's GTIN with AI 10. false when item has no such
 * form or the key does not fit. */
bool ldg__lot_key(const char *item, const char *lot, char *out, size_t outlen);

#endif
