/*
 * noise.h: the Noise Protocol Framework (revision 34) for trellis links, with
 * no sockets: bytes in, bytes out.
 *
 * What it is. A HandshakeState / SymmetricState / CipherState machine, as in
 * noiseprotocol.org/noise.html, driven by message patterns written as token
 * lists. DH is X25519, the cipher is ChaChaPoly (IETF ChaCha20-Poly1305, the
 * nonce being 4 zero bytes then the 64-bit little-endian counter), the hash
 * SHA256 or BLAKE2b (HMAC and HKDF as in the spec, section 4.3), all from
 * libsodium. Supported: the one-way patterns N, K, X, the twelve interactive
 * patterns (NN ... IX), the 23 deferred patterns (NK1 ... I1X1) and the
 * pskN modifiers (psk0 ... psk3, combinable with '+'). Not supported: the
 * fallback modifier, rekey, other DH functions, ciphers or hashes.
 * Every trellis link binds the chain id through the prologue
 * "trellis/link/v2" || chain_id; docs/links.md compares the two designs
 * (NN plus signed Auth frames, as in p2p/link.c; or IK with the partners'
 * Ed25519 keys converted to X25519, glue at the end of this header).
 *
 * What it owns. A p2p_noise (one side of one handshake) and a
 * p2p_noise_cipher (one direction of transport) are opaque and live in
 * sodium_malloc memory; every secret in them (static and ephemeral keys,
 * chaining key, cipher keys, PSKs) is zeroed when they are freed, and every
 * temporary copy on the stack is zeroed before the function returns. Caller
 * buffers are borrowed for the duration of a call only; nothing keeps a
 * pointer to them.
 *
 * Invariants. Every Noise message is at most P2P_NOISE_MSG_MAX (65535)
 * bytes, in and out. A handshake that fails once (a message does not
 * decrypt, a key is refused, a DH gives the all-zero point) stays failed:
 * every later call returns TR_ESTATE, and the caller drops the link. A
 * cipher's counter never repeats and never reaches 2^64-1; a frame that does
 * not decrypt leaves the counter where it was (Noise section 5.1), so
 * replays and reordered frames are refused. Out-parameters (lengths, keys,
 * objects) are written only on success; output buffers have unspecified
 * contents after a failure. Call sodium_init() (tr_crypto_init()) first. Not thread-safe:
 * one object, one thread at a time.
 */
#ifndef P2P_NOISE_H
#define P2P_NOISE_H

#include "common/tr.h"

#include <stdbool.h>

/* Sizes fixed by the Noise spec and X25519 / ChaChaPoly. */
#define P2P_NOISE_MSG_MAX 65535u /* any Noise message, handshake or transport */
#define P2P_NOISE_KEY_LEN 32u    /* X25519 public and secret keys; PSKs; cipher keys */
#define P2P_NOISE_TAG_LEN 16u    /* Poly1305 tag on every encrypted field */
#define P2P_NOISE_HASH_MAX 64u   /* BLAKE2b; SHA256 is 32 */
/* The largest transport payload that fits one Noise message. */
#define P2P_NOISE_PAYLOAD_MAX (P2P_NOISE_MSG_MAX - P2P_NOISE_TAG_LEN)
/* Bounds on what a caller hands in. */
#define P2P_NOISE_PROLOGUE_MAX 1024u
#define P2P_NOISE_PSK_MAX 4u      /* PSK tokens in one pattern */
#define P2P_NOISE_NAME_MAX 64u    /* protocol name, without the NUL */

_Static_assert(P2P_NOISE_MSG_MAX == 65535u, "Noise section 3: messages are at most 65535 bytes");
_Static_assert(P2P_NOISE_PAYLOAD_MAX == 65519u, "one tag per transport message");

/* The IK protocol of design B (docs/links.md), and the prologue prefix
 * every link binds the chain id with:
 * prologue = P2P_NOISE_TRELLIS_PROLOGUE || chain_id (32 bytes). */
#define P2P_NOISE_TRELLIS_PROTOCOL "Noise_IK_25519_ChaChaPoly_SHA256"
#define P2P_NOISE_TRELLIS_PROLOGUE "trellis/link/v2"

typedef struct p2p_noise p2p_noise;               /* one side of one handshake */
typedef struct p2p_noise_cipher p2p_noise_cipher; /* one direction of transport */

typedef enum { P2P_NOISE_INITIATOR = 1, P2P_NOISE_RESPONDER = 2 } p2p_noise_role;

/* What the handshake expects of its owner next. */
typedef enum {
	P2P_NOISE_WRITE = 1,  /* call p2p_noise_write_message */
	P2P_NOISE_READ = 2,   /* call p2p_noise_read_message */
	P2P_NOISE_SPLIT = 3,  /* finished: call p2p_noise_split */
	P2P_NOISE_DONE = 4,   /* split already taken */
	P2P_NOISE_FAILED = 5  /* an error ended it: drop the link */
} p2p_noise_action;

/* Everything p2p_noise_new needs. Every pointer is borrowed for the call
 * only: the keys, prologue and PSKs are copied (secrets into sodium_malloc
 * memory). Keys that the pattern does not use must be NULL, and keys it
 * needs must be given, else TR_EINVAL: a pattern choice and a key set that
 * disagree are a programmer error caught at once. */
typedef struct {
	/* The full Noise protocol name, e.g. P2P_NOISE_TRELLIS_PROTOCOL or
	 * "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b". At most P2P_NOISE_NAME_MAX. */
	const char *protocol;
	p2p_noise_role role;
	/* Our X25519 static secret key (32 bytes); the public key is derived
	 * from it. Required when the pattern has an 's' for our side. */
	const uint8_t *local_static;
	/* The peer's X25519 static public key (32 bytes), or NULL.
	 * - When the pattern has it as a pre-message (the responder's key in
	 *   NK, IK, KK, XK, ...; the initiator's in K, KK, KN, ...), it is
	 *   required, and a peer holding another key cannot complete the
	 *   handshake (a decryption fails).
	 * - When the peer sends its static key during the handshake (XX, IX,
	 *   the initiator in IK, ...), it is optional and pins that key: a
	 *   different one is refused with TR_EVERIFY as soon as it is read.
	 *   Without it, check p2p_noise_remote_static() yourself after the
	 *   message that carries it. */
	const uint8_t *remote_static;
	/* Bytes both sides must agree on; mixed into the transcript hash so
	 * any difference fails the handshake. NULL with prologue_len 0 is an
	 * empty prologue. At most P2P_NOISE_PROLOGUE_MAX. */
	const uint8_t *prologue;
	size_t prologue_len;
	/* psk_count keys of 32 bytes, used in the order the pattern's psk
	 * tokens appear; psk_count must equal the number of psk tokens. */
	const uint8_t *psks;
	size_t psk_count;
} p2p_noise_config;

/* ==== Handshake ==== */

/*
 * Start one side of a handshake: InitializeSymmetric(protocol name),
 * MixHash(prologue), then the pre-message public keys.
 *   cfg  in, borrowed for the call (see p2p_noise_config).
 *   out  on success, a new handshake owned by the caller: p2p_noise_free it.
 * Returns 0; TR_EINVAL for an unknown or unsupported protocol name, a bad
 * role, keys missing or superfluous for the pattern, a psk count that does
 * not match, an all-zero or low-order remote key; TR_ETOOBIG for a
 * prologue or name over its bound; TR_ENOMEM.
 */
int p2p_noise_new(const p2p_noise_config *cfg, p2p_noise **out) TR_MUST_USE;

/*
 * For known-answer tests only: use this X25519 secret key (32 bytes, copied)
 * as our ephemeral instead of drawing one from randombytes_buf. Only before
 * the message that sends our 'e'; a production link never calls it.
 * Returns 0, TR_ESTATE when our ephemeral is already in use or the
 * handshake failed.
 */
int p2p_noise_set_ephemeral(p2p_noise *hs, const uint8_t secret[P2P_NOISE_KEY_LEN]) TR_MUST_USE;

/* What to do next (never fails). */
p2p_noise_action p2p_noise_next(const p2p_noise *hs);

/* True once every handshake message has been written or read. */
bool p2p_noise_is_finished(const p2p_noise *hs);

/*
 * WriteMessage: produce our next handshake message carrying payload.
 *   payload, payload_len  in, borrowed, must not overlap out; payload may
 *                         be NULL when the length is 0. Encrypted when the handshake has a key at
 *                         that point, else sent in clear (e.g. the first XX
 *                         message): never put secrets in an early payload.
 *   out, outcap           caller's buffer; P2P_NOISE_MSG_MAX always fits.
 *   outlen                on success, the message length (<= MSG_MAX).
 * Returns 0; TR_ESTATE when it is not our turn or the handshake is over or
 * failed; TR_ETOOBIG when the message would exceed outcap or
 * P2P_NOISE_MSG_MAX (nothing was consumed: the handshake is intact);
 * TR_EVERIFY when a DH gives the all-zero point (handshake failed).
 * On failure the contents of out are unspecified.
 */
int p2p_noise_write_message(p2p_noise *hs, const uint8_t *payload, size_t payload_len,
			    uint8_t *out, size_t outcap, size_t *outlen) TR_MUST_USE;

/*
 * ReadMessage: consume the peer's next handshake message.
 *   msg, len              in, borrowed; at most P2P_NOISE_MSG_MAX.
 *   payload, payload_cap  caller's buffer for the decrypted payload; len
 *                         bytes always fit. Must not overlap msg. May be
 *                         NULL when payload_cap is 0 and no payload is
 *                         expected. On failure its contents are
 *                         unspecified (libsodium zeroes it).
 *   payload_len           on success, the payload length.
 * Returns 0; TR_ESTATE when it is not our turn or the handshake is over or
 * failed; and, failing the handshake for good: TR_EINVAL for a message
 * that is too short or too long; TR_EVERIFY when a field does not decrypt
 * (tampered, truncated, wrong prologue, wrong key, replayed into another
 * handshake), when the peer's static key is not the pinned one, or when a
 * DH gives the all-zero point; TR_ETOOBIG when payload_cap is too small.
 */
int p2p_noise_read_message(p2p_noise *hs, const uint8_t *msg, size_t len, uint8_t *payload,
			   size_t payload_cap, size_t *payload_len) TR_MUST_USE;

/*
 * The peer's static public key, once known: from the start when it was a
 * pre-message, else as soon as the message carrying it has been read (so a
 * responder can refuse a non-member before it answers). Until the
 * handshake is finished the key is proven only as far as the pattern has
 * gone: trust it for admission only when p2p_noise_is_finished.
 * Returns 0 and writes out; TR_ENOTFOUND when not known (yet).
 */
int p2p_noise_remote_static(const p2p_noise *hs, uint8_t out[P2P_NOISE_KEY_LEN]) TR_MUST_USE;

/* Our static public key (derived from local_static). 0 or TR_ENOTFOUND. */
int p2p_noise_local_static(const p2p_noise *hs, uint8_t out[P2P_NOISE_KEY_LEN]) TR_MUST_USE;

/*
 * The handshake hash h, identical on both sides once finished: a channel
 * binding (sign it to tie another identity to this link). Writes hash-len
 * bytes (32 for SHA256, 64 for BLAKE2b) and sets *outlen.
 * Returns 0; TR_ESTATE before the handshake is finished;
 * TR_ETOOBIG when outcap is too small.
 */
int p2p_noise_handshake_hash(const p2p_noise *hs, uint8_t *out, size_t outcap,
			     size_t *outlen) TR_MUST_USE;

/*
 * Split (section 5.2): derive the two transport CipherStates, as in the
 * spec: c1 carries initiator -> responder, c2 responder -> initiator. So
 * the initiator sends with c1 and receives with c2, the responder the
 * other way round:
 *     rc = p2p_noise_split(hs, initiator ? &tx : &rx, initiator ? &rx : &tx);
 * In one-way patterns (N, K, X) only the initiator sends: *c2 is NULL. The
 * handshake's chaining key and ephemeral are zeroed; the hash and the
 * remote static key stay readable until p2p_noise_free.
 *   c1, c2  on success, new ciphers owned by the caller (c2 possibly NULL
 *           as above): p2p_noise_cipher_free them.
 * Returns 0; TR_ESTATE when not finished, already split, or failed;
 * TR_ENOMEM.
 */
int p2p_noise_split(p2p_noise *hs, p2p_noise_cipher **c1, p2p_noise_cipher **c2) TR_MUST_USE;

/* Zero and free a handshake; NULL is a no-op. */
void p2p_noise_free(p2p_noise *hs);

/* ==== Transport ==== */

/*
 * Encrypt one transport message: ciphertext = ChaChaPoly(k, n, ad, plain)
 * with the cipher's next counter n, which then advances.
 *   ad, ad_len      associated data, borrowed; trellis passes none (NULL, 0).
 *   plain, len      in, borrowed; len <= P2P_NOISE_PAYLOAD_MAX.
 *   out, outcap     caller's buffer, len + P2P_NOISE_TAG_LEN bytes; may be
 *                   the same buffer as plain (in place).
 *   outlen          on success, len + P2P_NOISE_TAG_LEN.
 * Returns 0; TR_ETOOBIG for len over the bound or a small outcap;
 * TR_ESTATE when the counter is exhausted (2^64-1 reached: drop the link).
 */
int p2p_noise_encrypt(p2p_noise_cipher *c, const uint8_t *ad, size_t ad_len,
		      const uint8_t *plain, size_t len, uint8_t *out, size_t outcap,
		      size_t *outlen) TR_MUST_USE;

/*
 * Decrypt the next transport message with the expected counter n. On
 * success the counter advances; on failure it does not, so the peer's next
 * genuine frame still decrypts, and a replayed, reordered, tampered or
 * truncated frame never does.
 *   msg, len        in, borrowed; P2P_NOISE_TAG_LEN <= len <= MSG_MAX.
 *   out, outcap     caller's buffer, len - P2P_NOISE_TAG_LEN bytes; may be
 *                   the same buffer as msg (in place). On failure its
 *                   contents are unspecified (libsodium zeroes it, so an
 *                   in-place frame is gone: the link is dropped anyway).
 *   outlen          on success, the plaintext length.
 * Returns 0; TR_EINVAL for a length out of bounds; TR_EVERIFY when the
 * tag does not verify; TR_ETOOBIG for a small outcap; TR_ESTATE when the
 * counter is exhausted.
 */
int p2p_noise_decrypt(p2p_noise_cipher *c, const uint8_t *ad, size_t ad_len,
		      const uint8_t *msg, size_t len, uint8_t *out, size_t outcap,
		      size_t *outlen) TR_MUST_USE;

/* The counter the next encrypt or decrypt uses (frames so far). */
uint64_t p2p_noise_cipher_nonce(const p2p_noise_cipher *c);

/* SetNonce (Noise section 5.1), for tests of exhaustion and for protocols
 * that carry explicit counters. Never move it backwards on a live link:
 * that reopens replay. */
void p2p_noise_cipher_set_nonce(p2p_noise_cipher *c, uint64_t n);

/* Zero and free a cipher; NULL is a no-op. */
void p2p_noise_cipher_free(p2p_noise_cipher *c);

/* ==== Glue: trellis partner keys (Ed25519) as Noise static keys ==== */

/*
 * A partner's Ed25519 public key (from the consortium file) as the X25519
 * public key its node uses as Noise static key.
 * Returns 0; TR_EINVAL when ed_pk is not a valid Ed25519 point or is of
 * small order (libsodium refuses it).
 */
int p2p_noise_ed25519_pk_to_x25519(uint8_t x_pk[P2P_NOISE_KEY_LEN],
				   const uint8_t ed_pk[32]) TR_MUST_USE;

/*
 * Our Ed25519 secret key (libsodium's 64 bytes, seed || public key) as an
 * X25519 secret key: the clamped first half of SHA-512(seed). Only the
 * seed is read, so crypto_scalarmult_base(x_sk) equals
 * p2p_noise_ed25519_pk_to_x25519(public key). The caller owns x_sk: keep it
 * in sodium_malloc memory or zero it with sodium_memzero after
 * p2p_noise_new has copied it.
 * Returns 0; TR_EINVAL when ed_sk's second half is not the public key of
 * its seed (a corrupt key).
 */
int p2p_noise_ed25519_sk_to_x25519(uint8_t x_sk[P2P_NOISE_KEY_LEN],
				   const uint8_t ed_sk[64]) TR_MUST_USE;

#endif
