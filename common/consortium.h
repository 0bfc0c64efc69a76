/*
 * consortium.h: the consortium file (consortium.json) and partner lines.
 *
 * The consortium file lists the partners (name, algorithm, public key,
 * address, owned locations), n, f = floor((n-1)/3) and the protocol
 * parameters. chain_id = SHA-256 of the file's exact bytes, so every node
 * of one network must hold byte-identical copies. Parsing is strict:
 * unknown keys, duplicate keys, duplicate names or keys, malformed keys and
 * addresses are refused with the offending partner named.
 *
 * A partner line is what `trellis init` prints:
 *   NAME ALG:PUBKEY_BASE64 HOST:PORT [LOCATION,...]
 */
#ifndef TR_CONSORTIUM_H
#define TR_CONSORTIUM_H

#include "common/crypto.h"

#define TR_PARTNERS_MAX 64
#define TR_NAME_MAX 32        /* [a-z0-9_-], 1..32 chars */
#define TR_ADDRESS_MAX 128
#define TR_LOCATIONS_MAX 256  /* per partner */
#define TR_LOCATION_MAX 256   /* chars in one location id */
#define TR_CONSORTIUM_FILE_MAX (4u << 20)

typedef struct {
	char name[TR_NAME_MAX + 1];
	tr_alg alg;
	uint8_t key[TR_PUBKEY_LEN];
	char address[TR_ADDRESS_MAX + 1];
	size_t nlocations;
	char **locations; /* owned */
} tr_partner;

typedef struct {
	uint32_t block_max_records;
	uint32_t block_max_bytes;
	uint32_t block_max_wait_ms;
	uint32_t record_max_bytes;
	uint32_t request_timeout_ms;
	uint32_t view_change_timeout_ms;
} tr_params;

typedef struct {
	uint8_t chain_id[TR_HASH_LEN];
	uint32_t n, f;
	tr_partner partners[TR_PARTNERS_MAX];
	tr_params params;
	uint8_t *bytes; /* the exact file bytes (owned) */
	size_t len;
} tr_consortium;

/* Parse consortium file bytes (copied). err says what is wrong. */
int tr_consortium_parse(const uint8_t *bytes, size_t len, tr_consortium **out, char *err,
			size_t errlen) TR_MUST_USE;
int tr_consortium_load(const char *path, tr_consortium **out, char *err,
		       size_t errlen) TR_MUST_USE;
void tr_consortium_free(tr_consortium *c);

/* Index of the partner with this name or key, or -1. */
int tr_consortium_find_name(const tr_consortium *c, const char *name);
int tr_consortium_find_key(const tr_consortium *c, const uint8_t key[TR_PUBKEY_LEN]);
/* Quorum of a commit certificate and of every PBFT vote: ceil((n+f+1)/2),
 * which is 2f+1 when n = 3f+1 (4, 7, 10, ... partners). */
uint32_t tr_consortium_quorum(const tr_consortium *c);

/* Parse a partner line into p (p->locations allocated; free with
 * tr_partner_fini). */
int tr_partner_line_parse(const char *line, tr_partner *p, char *err, size_t errlen) TR_MUST_USE;
void tr_partner_fini(tr_partner *p);
/* Format p as a partner line (no newline). */
int tr_partner_line_format(const tr_partner *p, char *out, size_t outlen) TR_MUST_USE;
/* Checks shared by lines and files. */
int tr_check_name(const char *name) TR_MUST_USE;
int tr_check_address(const char *addr) TR_MUST_USE;
int tr_check_location(const char *loc) TR_MUST_USE;

/* Build the consortium file text from partner lines with default
 * parameters. *json is malloc'd. err names the offending line (1-based). */
int tr_consortium_create(const char *const *lines, size_t nlines, char **json, char *err,
			 size_t errlen) TR_MUST_USE;

tr_params tr_params_default(void);

#endif
