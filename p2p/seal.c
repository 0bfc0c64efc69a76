/*
 * seal.c: sealed messages and the decoders of what they carry (seal.h).
 */
#include "p2p/seal.h"

#include <stdlib.h>
#include <string.h>

void p2p_link_prologue(uint8_t out[P2P_LINK_PROLOGUE_LEN], const uint8_t chain_id[TR_HASH_LEN])
{
	memcpy(out, P2P_NOISE_TRELLIS_PROLOGUE, sizeof(P2P_NOISE_TRELLIS_PROLOGUE) - 1);
	memcpy(out + sizeof(P2P_NOISE_TRELLIS_PROLOGUE) - 1, chain_id, TR_HASH_LEN);
}

size_t p2p_sealed_cap(size_t len)
{
	size_t nchunks = len / P2P_NOISE_PAYLOAD_MAX + 1;
	return len + nchunks * (P2P_CHUNK_HDR + P2P_NOISE_TAG_LEN);
}

int p2p_seal(p2p_noise_cipher *tx, const uint8_t *plain, size_t len, uint8_t *out,
	     size_t outcap, size_t *outlen)
{
	size_t off = 0, pos = 0;
	uint32_t idx = 0;
	TR_ASSERT(len <= P2P_BATCH_MAX);
	if (outcap < p2p_sealed_cap(len))
		return TR_ETOOBIG;
	do {
		size_t n = len - off > P2P_NOISE_PAYLOAD_MAX ? P2P_NOISE_PAYLOAD_MAX : len - off;
		size_t ctlen;
		uint64_t nonce = p2p_noise_cipher_nonce(tx);
		uint8_t ad[5];
		tr_be32_put(ad, idx++);
		ad[4] = off + n == len;
		if (p2p_noise_encrypt(tx, ad, sizeof(ad), plain + off, n, out + pos + P2P_CHUNK_HDR,
				      outcap - pos - P2P_CHUNK_HDR, &ctlen) != TR_OK)
			return TR_ESTATE;
		tr_be64_put(out + pos, nonce);
		tr_be32_put(out + pos + 8, (uint32_t)ctlen);
		pos += P2P_CHUNK_HDR + ctlen;
		off += n;
	} while (off < len);
	*outlen = pos;
	return TR_OK;
}

int p2p_unseal(p2p_noise_cipher *rx, uint64_t *rx_next, const uint8_t *msg, size_t len,
	       uint8_t **plain, size_t *plen)
{
	uint8_t *out;
	uint64_t next = *rx_next, was = p2p_noise_cipher_nonce(rx);
	size_t pos = 0, off = 0;
	uint32_t idx = 0;
	if (len > P2P_SEALED_MAX)
		return TR_ETOOBIG;
	if (len == 0) /* at least one authenticated chunk */
		return TR_EVERIFY;
	out = malloc(len);
	if (!out)
		return TR_ENOMEM;
	while (pos < len) {
		uint64_t nonce;
		uint32_t ctlen;
		size_t got;
		uint8_t ad[5];
		bool last;
		if (len - pos < P2P_CHUNK_HDR)
			goto bad;
		nonce = tr_be64_get(msg + pos);
		ctlen = tr_be32_get(msg + pos + 8);
		if (ctlen > P2P_NOISE_MSG_MAX || ctlen < P2P_NOISE_TAG_LEN ||
		    ctlen > len - pos - P2P_CHUNK_HDR || nonce < next || nonce == UINT64_MAX)
			goto bad;
		/* A message's chunks have consecutive counters (p2p_seal
		 * encrypts them in a row). Gaps are accepted only between
		 * messages: inside one, the head of a message and the tail of
		 * a later one, with the same indices, would open as one. */
		if (idx > 0 && nonce != next)
			goto bad;
		last = pos + P2P_CHUNK_HDR + ctlen == len;
		/* every chunk but the last is full, as p2p_seal cuts them:
		 * else 24 MiB of empty chunks cost 900,000 decryptions */
		if (!last && ctlen != P2P_NOISE_MSG_MAX)
			goto bad;
		tr_be32_put(ad, idx++);
		ad[4] = last;
		p2p_noise_cipher_set_nonce(rx, nonce);
		if (p2p_noise_decrypt(rx, ad, sizeof(ad), msg + pos + P2P_CHUNK_HDR, ctlen, out + off,
				      len - off, &got) != TR_OK)
			goto bad;
		next = nonce + 1;
		off += got;
		pos += P2P_CHUNK_HDR + ctlen;
	}
	*rx_next = next;
	*plain = out;
	*plen = off;
	return TR_OK;
bad:
	/* nothing of a refused message counts: not even its chunks that
	 * decrypted before one that did not */
	p2p_noise_cipher_set_nonce(rx, was);
	free(out);
	return TR_EVERIFY;
}

bool p2p_kind_ok(uint32_t kind)
{
	return kind == P2P_KIND_CONSENSUS || kind == P2P_KIND_GOSSIP || kind == P2P_KIND_HEIGHT;
}

const char *p2p_batch_decode(const uint8_t *plain, size_t len, Link__Batch **out)
{
	Link__Batch *b = NULL;
	long nframes;
	/* protobuf-c allocates every frame, and every unknown field, before
	 * we see them: 24 MiB of empty frames would be ~12 million
	 * allocations. Batch and Frame both have fields 1-3 only. */
	nframes = tr_pb_count_field(plain, len, 2, TR_PB_FIELD(1) | TR_PB_FIELD(2) | TR_PB_FIELD(3),
				    TR_PB_FIELD(1) | TR_PB_FIELD(2) | TR_PB_FIELD(3));
	if (len <= P2P_BATCH_MAX && nframes >= 0 && nframes <= P2P_BATCH_FRAMES_MAX)
		b = link__batch__unpack(NULL, len, plain);
	if (!b || b->base.n_unknown_fields)
		goto bad;
	for (size_t i = 0; i < b->n_frames; i++) {
		const Link__Frame *f = b->frames[i];
		if (f->base.n_unknown_fields || f->version != 1 || f->payload.len > P2P_FRAME_MAX ||
		    (!p2p_kind_ok(f->kind) && (f->kind != P2P_KIND_PROBE || f->payload.len != 0)))
			goto bad;
	}
	*out = b;
	return NULL;
bad:
	if (b)
		link__batch__free_unpacked(b, NULL);
	return "malformed frame";
}

int p2p_auth_decode(const uint8_t *plain, size_t len, uint32_t n, uint32_t self,
		    Link__Auth **out)
{
	Link__Auth *a = link__auth__unpack(NULL, len, plain);
	if (!a || a->base.n_unknown_fields || a->partner >= n || a->partner == self ||
	    a->signature.len != TR_SIG_LEN) {
		if (a)
			link__auth__free_unpacked(a, NULL);
		return TR_EVERIFY;
	}
	*out = a;
	return TR_OK;
}
