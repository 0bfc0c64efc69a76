/*
 * proof.h: offline provenance proofs (docs/proof-format.md).
 *
 * A proof is a trellis.Proof message (proto/proof.proto): the exact stored
 * bytes of records, the headers and commit certificates of the blocks they
 * sit in, each record's RFC 6962 audit path, and for a trace bundle the
 * trace tree. ldg_proof_verify checks one against a consortium alone: no
 * ledger, no network. Everything in a proof is hostile until checked; sizes
 * are bounded before anything is unpacked.
 *
 * Ownership: *out buffers are malloc'd and owned by the caller; a report is
 * released with ldg_proof_report_fini.
 */
#ifndef LDG_PROOF_H
#define LDG_PROOF_H

#include "ledger/query.h"

#define LDG_PROOF_BYTES_MAX (64u << 20)
#define LDG_PROOF_BLOCKS_MAX 10000
#define LDG_PROOF_RECORDS_MAX 100000
#define LDG_PROOF_STEPS_MAX 10000
#define LDG_PROOF_ID_MAX 1024
#define LDG_PROOF_HEADER_MAX 4096

enum { LDG_PROOF_EVENT = 0, LDG_PROOF_UP = 1, LDG_PROOF_DOWN = 2 };

/* The proof of one committed event (and of its retraction, when one is
 * committed). TR_ENOTFOUND when the event is not in the ledger. */
int ldg_prove_event(ldg *l, const uint8_t id[TR_HASH_LEN], uint8_t **out, size_t *len,
		    char *err, size_t errlen) TR_MUST_USE;

/* One bundle for the trace ldg_trace gives from id with o: every linking
 * event (two for a step across a transformation written as two events),
 * their retractions, their blocks once each, and the tree. *cut as for
 * ldg_trace. TR_ENOTFOUND when the identifier has no trace steps. */
int ldg_prove_trace(ldg *l, const char *id, const ldg_trace_opts *o, uint8_t **out,
		    size_t *len, bool *cut, char *err, size_t errlen) TR_MUST_USE;

/* What a verified proof shows. */
typedef struct {
	uint8_t event_id[TR_HASH_LEN];
	uint32_t signer;
	uint64_t height;
	uint32_t position;
	char type[32];
	char event_time[48];
	char where[LDG_TEXT_MAX];
	char event_hash[EP_HASH_STR_LEN];
	bool declaration;
	long retracted_by; /* index of the retracting record, or -1 */
} ldg_proof_record;

typedef struct {
	char *id;              /* owned */
	size_t parent;         /* SIZE_MAX for the root */
	const char *relation;  /* static text; "" for the root */
	size_t records[2];
	size_t nrecords;
} ldg_proof_step;

typedef struct {
	int kind;              /* LDG_PROOF_EVENT, LDG_PROOF_UP or LDG_PROOF_DOWN */
	size_t nblocks;
	ldg_proof_record *records;
	size_t nrecords;
	ldg_proof_step *steps;
	size_t nsteps;
} ldg_proof_report;

/*
 * Check a binary proof against consortium c (every check of
 * docs/proof-format.md). 0 and *rep filled; TR_EVERIFY / TR_EBADSIG /
 * TR_EINVAL / TR_ETOOBIG with err saying what is wrong (the block, record
 * or step index); TR_ENOMEM.
 */
int ldg_proof_verify(const tr_consortium *c, const uint8_t *proof, size_t len,
		     ldg_proof_report *rep, char *err, size_t errlen) TR_MUST_USE;
void ldg_proof_report_fini(ldg_proof_report *rep);

/* Binary <-> the JSON form of docs/proof-format.md. from_json refuses
 * unknown or duplicate keys, bad base64 and out-of-range numbers (err
 * names the JSON path); to_json expects a proof that decodes. */
int ldg_proof_to_json(const uint8_t *proof, size_t len, char **json, char *err,
		      size_t errlen) TR_MUST_USE;
int ldg_proof_from_json(const char *json, size_t len, uint8_t **proof, size_t *plen, char *err,
			size_t errlen) TR_MUST_USE;

#endif
