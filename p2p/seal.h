/*
 * seal.h: the link's bytes on the wire after the handshake, apart from
 * NNG and the sessions (p2p/link.c), so that tests and the fuzz target
 * (tests/fuzz/fuzz_link.c) run the very code a partner's bytes meet.
 *
 * A sealed message is the plaintext cut into Noise transport messages of
 * at most P2P_NOISE_PAYLOAD_MAX bytes, each preceded by its explicit
 * counter (be64) and its length (be32), and authenticated with the
 * associated data be32(chunk index) || last-chunk flag. See link.c's
 * header comment for why each rule of p2p_unseal is there.
 */
#ifndef P2P_SEAL_H
#define P2P_SEAL_H

#include "p2p/link.h"
#include "p2p/noise.h"
#include "proto/link.pb-c.h"

#define P2P_LINK_PROTOCOL "Noise_NN_25519_ChaChaPoly_SHA256" /* the links' handshake */
/* its prologue: P2P_NOISE_TRELLIS_PROLOGUE || chain_id */
#define P2P_LINK_PROLOGUE_LEN (sizeof(P2P_NOISE_TRELLIS_PROLOGUE) - 1 + TR_HASH_LEN)
#define P2P_CHUNK_HDR 12  /* be64 counter, be32 length */
#define P2P_KIND_PROBE 4  /* link-internal frame: "I hold gossip for you", no payload */
/* a sealed message, at most: a whole batch in full chunks */
#define P2P_SEALED_MAX \
	(P2P_BATCH_MAX + (P2P_BATCH_MAX / P2P_NOISE_PAYLOAD_MAX + 1) * (P2P_CHUNK_HDR + P2P_NOISE_TAG_LEN))

/* The links' handshake prologue, which binds the chain id. */
void p2p_link_prologue(uint8_t out[P2P_LINK_PROLOGUE_LEN], const uint8_t chain_id[TR_HASH_LEN]);

/* A kind the caller may send and receive (P2P_KIND_*; not the probe). */
bool p2p_kind_ok(uint32_t kind);

/* The room p2p_seal needs for len bytes of plaintext. */
size_t p2p_sealed_cap(size_t len);

/*
 * Seal plain (len bytes, at most P2P_BATCH_MAX; 0 allowed: one empty
 * chunk) with tx's next counters into out (outcap >= p2p_sealed_cap(len)); *outlen is what was
 * written. Returns 0; TR_ETOOBIG for a small outcap; TR_ESTATE when the
 * counter is exhausted.
 */
int p2p_seal(p2p_noise_cipher *tx, const uint8_t *plain, size_t len, uint8_t *out,
	     size_t outcap, size_t *outlen) TR_MUST_USE;

/*
 * Open a sealed message from the partner: rx decrypts, *rx_next is the
 * lowest counter still accepted and moves past the message's last chunk
 * on success (never back). Refused (TR_EVERIFY, *rx_next and rx as they
 * were): an empty message, a chunk header cut short, a counter below
 * *rx_next (a replay) or UINT64_MAX, a gap between the counters of one
 * message, a chunk but the last that is not full, a length past the
 * message, anything that does not decrypt. TR_ETOOBIG over P2P_SEALED_MAX;
 * TR_ENOMEM. On success *plain (malloc'd, free it) holds *plen bytes.
 */
int p2p_unseal(p2p_noise_cipher *rx, uint64_t *rx_next, const uint8_t *msg, size_t len,
	       uint8_t **plain, size_t *plen) TR_MUST_USE;

/*
 * Decode an opened link.Batch: at most P2P_BATCH_MAX bytes and
 * P2P_BATCH_FRAMES_MAX frames (counted before protobuf-c allocates any),
 * no unknown fields, every frame version 1, a known kind (a probe only
 * empty), a payload of at most P2P_FRAME_MAX. On success *out is the batch
 * (link__batch__free_unpacked it) and NULL is returned; otherwise the
 * reason, and *out is untouched.
 */
const char *p2p_batch_decode(const uint8_t *plain, size_t len, Link__Batch **out) TR_MUST_USE;

/*
 * Decode an opened link.Auth from a peer that claims to be a partner of a
 * consortium of n partners other than self: no unknown fields, partner <
 * n and != self, a signature of TR_SIG_LEN bytes (not checked here: the
 * caller checks it against the partner's key). Returns 0 and *out
 * (link__auth__free_unpacked it), or TR_EVERIFY.
 */
int p2p_auth_decode(const uint8_t *plain, size_t len, uint32_t n, uint32_t self,
		    Link__Auth **out) TR_MUST_USE;

#endif
