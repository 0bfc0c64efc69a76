/*
 * crypto.h: hashes, keys and signatures for trellis.
 *
 * SHA-256 for every hash: on the CPU's SHA extensions where it has them,
 * libsodium's otherwise (sha256.c). Two signer algorithms: Ed25519
 * (libsodium) and BIP-340 Schnorr over secp256k1 (libsecp256k1); both use
 * 32-byte public keys and 64-byte signatures. Every signature trellis makes
 * covers a domain tag, the chain id and the exact stored bytes
 * (tr_sign_tagged), so a signature for one purpose or one consortium is
 * never valid for another.
 *
 * Secrets live in sodium_malloc memory inside an opaque tr_key and are
 * zeroed when freed. Key files are refused when group or others can read
 * them.
 */
#ifndef TR_CRYPTO_H
#define TR_CRYPTO_H

#include "common/tr.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR_HASH_LEN 32
#define TR_PUBKEY_LEN 32
#define TR_SEED_LEN 32
#define TR_SIG_LEN 64

/* Domain tags. */
#define TR_TAG_EVENT "trellis/event/v1"
#define TR_TAG_COMMIT "trellis/commit/v1"
#define TR_TAG_PBFT "trellis/pbft/v1"

/* Values equal to the proto enum trellis.Alg. */
typedef enum { TR_ALG_NONE = 0, TR_ALG_ED25519 = 1, TR_ALG_SECP256K1 = 2 } tr_alg;

/* "ed25519" / "secp256k1" <-> tr_alg. tr_alg_parse returns TR_ALG_NONE when unknown. */
const char *tr_alg_name(tr_alg alg);
tr_alg tr_alg_parse(const char *name);

/* sodium_init and the secp256k1 context; call once before anything else.
 * Thread-safe after it returns. */
int tr_crypto_init(void) TR_MUST_USE;

void tr_sha256(uint8_t out[TR_HASH_LEN], const void *in, size_t len);

/* Incremental SHA-256; the context is zeroed by final. */
typedef struct {
	union {
		crypto_hash_sha256_state sodium;
		struct {
			uint32_t h[8];
			uint64_t total;
			size_t fill;
			uint8_t buf[64];
		} ni;
	} u;
	bool accel;
} tr_sha256_ctx;

void tr_sha256_init(tr_sha256_ctx *c);
void tr_sha256_update(tr_sha256_ctx *c, const void *data, size_t len);
void tr_sha256_final(tr_sha256_ctx *c, uint8_t out[TR_HASH_LEN]);
/* Whether hashes run on the CPU's SHA instructions (false under valgrind,
 * whose virtual CPU lacks them). Tests force libsodium's path with
 * tr_sha256_force_portable(true) to check both. */
bool tr_sha256_accelerated(void);
void tr_sha256_force_portable(bool on);

/* ==== Keys ==== */

typedef struct tr_key tr_key;

int tr_key_generate(tr_alg alg, tr_key **out) TR_MUST_USE;
/* A key from a 32-byte seed (Ed25519 seed, or BIP-340 secret key). */
int tr_key_from_seed(tr_alg alg, const uint8_t seed[TR_SEED_LEN], tr_key **out) TR_MUST_USE;
/* Load a key file written by tr_key_save. TR_EPERM when the file is
 * readable by group or others; err names the path. */
int tr_key_load(const char *path, tr_key **out, char *err, size_t errlen) TR_MUST_USE;
/* Write the key file with mode 0600 (atomically). */
int tr_key_save(const tr_key *k, const char *path, char *err, size_t errlen) TR_MUST_USE;
void tr_key_free(tr_key *k);
tr_alg tr_key_alg(const tr_key *k);
const uint8_t *tr_key_public(const tr_key *k);

/* ==== Signatures ==== */

/* Sign msg. BIP-340 uses fresh auxiliary randomness. */
int tr_sign(const tr_key *k, const uint8_t *msg, size_t len, uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;
/* BIP-340 with caller-given auxiliary randomness (known-answer tests). */
int tr_sign_bip340_aux(const tr_key *k, const uint8_t *msg, size_t len,
		       const uint8_t aux[32], uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;
/* 0 when sig is a valid signature of msg by pub, else TR_EBADSIG. A
 * malformed public key is TR_EBADSIG too. */
int tr_verify(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const uint8_t *msg,
	      size_t len, const uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;
/* Is pub a usable public key of alg? */
bool tr_pubkey_valid(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN]);

/* Sign / verify tag || chain_id || bytes. */
int tr_sign_tagged(const tr_key *k, const char *tag, const uint8_t chain_id[TR_HASH_LEN],
		   const uint8_t *bytes, size_t len, uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;
int tr_verify_tagged(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const char *tag,
		     const uint8_t chain_id[TR_HASH_LEN], const uint8_t *bytes, size_t len,
		     const uint8_t sig[TR_SIG_LEN]) TR_MUST_USE;

/* The fixed 48-byte payload a COMMIT vote signs (after TR_TAG_COMMIT and
 * the chain id): be64(view) || be64(height) || block_hash. */
#define TR_VOTE_PAYLOAD_LEN 48
void tr_vote_payload(uint8_t out[TR_VOTE_PAYLOAD_LEN], uint64_t view, uint64_t height,
		     const uint8_t hash[TR_HASH_LEN]);

/* Base64 (standard alphabet, padded). tr_b64_decode writes exactly outlen
 * bytes or fails with TR_EINVAL. */
#define TR_B64_LEN(n) ((((n) + 2) / 3) * 4 + 1)
char *tr_b64_encode(char *out, size_t outcap, const uint8_t *in, size_t len);
int tr_b64_decode(uint8_t *out, size_t outlen, const char *b64) TR_MUST_USE;

#endif
