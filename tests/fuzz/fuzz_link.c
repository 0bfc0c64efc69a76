/* fuzz_link.c: the bytes a link meets (p2p/seal.h, p2p/noise.h), as
 * p2p/link.c runs them. The first byte picks what the rest is:
 *   0  handshake message 1 to a fresh Noise_NN responder with the link's
 *      prologue (anyone on the network can send it);
 *   1  a sealed message from the partner, as it came off the wire
 *      (hostile chunk headers; it almost never decrypts);
 *   2  the plaintext of a sealed message: sealed by the partner's side,
 *      it must open to the same bytes; then decoded as a link.Batch (what
 *      an authenticated partner sends) and as a link.Auth (what anyone
 *      past the handshake sends);
 *   3  a count byte (1 + byte % 8 messages), then per message its length
 *      (be16, in 2-byte units: a length byte of 0xff makes three chunks)
 *      and a seed byte (repeated), sealed in order; then the deliveries,
 *      one byte each: bit 7 clear, message (byte & 0x7f) % count as
 *      sealed; bit 7 set, a forgery of that message: at an odd input
 *      position and when it has two chunks or more, it with its last
 *      chunk cut off; else its first chunk followed by the chunks after
 *      the first of message (m + 1 + (byte >> 4 & 7)) % count, their
 *      counters renumbered to follow (skipped when that message has one
 *      chunk or is m itself). A message must open exactly when it was
 *      sealed after every message opened before it, to the bytes sealed,
 *      leaving the receiver's counter one past its last chunk; a forgery
 *      never opens.
 * Every refusal is the point; an opening that breaks these rules aborts.
 */
#include "p2p/seal.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define MSGS_MAX 8

static p2p_noise_cipher *tx, *rx; /* the partner's sending side, ours receiving */
static uint8_t prologue[P2P_LINK_PROLOGUE_LEN];

static p2p_noise *side(p2p_noise_role role)
{
	p2p_noise_config nc = {.protocol = P2P_LINK_PROTOCOL,
			       .role = role,
			       .prologue = prologue,
			       .prologue_len = sizeof(prologue)};
	p2p_noise *hs;
	if (p2p_noise_new(&nc, &hs) != TR_OK)
		abort();
	return hs;
}

/* One handshake, once: the inputs reset the counters, not the keys. */
static void setup(void)
{
	uint8_t m1[P2P_NOISE_MSG_MAX], m2[P2P_NOISE_MSG_MAX], pl[P2P_NOISE_MSG_MAX];
	uint8_t ei[32], er[32];
	size_t n1, n2, n;
	p2p_noise *i, *r;
	p2p_noise_cipher *itx, *irx, *rrx, *rtx;
	p2p_link_prologue(prologue, fuzz_consortium()->chain_id);
	memset(ei, 0x21, sizeof(ei));
	memset(er, 0x42, sizeof(er));
	i = side(P2P_NOISE_INITIATOR);
	r = side(P2P_NOISE_RESPONDER);
	if (p2p_noise_set_ephemeral(i, ei) || p2p_noise_set_ephemeral(r, er) ||
	    p2p_noise_write_message(i, NULL, 0, m1, sizeof(m1), &n1) ||
	    p2p_noise_read_message(r, m1, n1, pl, sizeof(pl), &n) ||
	    p2p_noise_write_message(r, NULL, 0, m2, sizeof(m2), &n2) ||
	    p2p_noise_read_message(i, m2, n2, pl, sizeof(pl), &n) ||
	    p2p_noise_split(i, &itx, &irx) || p2p_noise_split(r, &rrx, &rtx))
		abort();
	tx = itx; /* the dialing partner writes */
	rx = rrx; /* we listen */
	p2p_noise_cipher_free(irx);
	p2p_noise_cipher_free(rtx);
	p2p_noise_free(i);
	p2p_noise_free(r);
}

/* Seal plain with the partner's side; *out malloc'd. */
static size_t seal(const uint8_t *plain, size_t len, uint8_t **out)
{
	size_t cap = p2p_sealed_cap(len), n;
	*out = malloc(cap);
	if (!*out || p2p_seal(tx, plain, len, *out, cap, &n) != TR_OK)
		abort();
	return n;
}

/* Open msg; when it opens, it must be want (wlen bytes). */
static bool opens(uint64_t *next, const uint8_t *msg, size_t len, const uint8_t *want,
		  size_t wlen)
{
	uint8_t *plain;
	size_t plen;
	uint64_t before = *next;
	int rc = p2p_unseal(rx, next, msg, len, &plain, &plen);
	if (rc != TR_OK) {
		if (*next != before || p2p_noise_cipher_nonce(rx) != before)
			abort(); /* a refusal moved the counter */
		return false;
	}
	if (*next <= before || p2p_noise_cipher_nonce(rx) != *next ||
	    (want && (plen != wlen || memcmp(plain, want, wlen) != 0)))
		abort();
	free(plain);
	return true;
}

static void decode(const uint8_t *plain, size_t len)
{
	const tr_consortium *c = fuzz_consortium();
	Link__Batch *b = NULL;
	Link__Auth *a = NULL;
	if (p2p_batch_decode(plain, len, &b) == NULL) {
		for (size_t i = 0; i < b->n_frames; i++) {
			const Link__Frame *f = b->frames[i];
			if (f->version != 1 || f->base.n_unknown_fields || f->payload.len > P2P_FRAME_MAX ||
			    (f->kind == P2P_KIND_PROBE ? f->payload.len != 0 : !p2p_kind_ok(f->kind)))
				abort();
		}
		if (b->base.n_unknown_fields || b->n_frames > P2P_BATCH_FRAMES_MAX)
			abort();
		link__batch__free_unpacked(b, NULL);
	}
	if (p2p_auth_decode(plain, len, c->n, 1, &a) == TR_OK) {
		if (a->partner >= c->n || a->partner == 1 || a->signature.len != TR_SIG_LEN ||
		    a->base.n_unknown_fields)
			abort();
		link__auth__free_unpacked(a, NULL);
	}
}

static void handshake(const uint8_t *msg, size_t len)
{
	uint8_t pl[P2P_NOISE_MSG_MAX], out[P2P_NOISE_MSG_MAX];
	size_t n;
	p2p_noise *r = side(P2P_NOISE_RESPONDER);
	if (len <= P2P_NOISE_MSG_MAX && p2p_noise_read_message(r, msg, len, pl, sizeof(pl), &n) == TR_OK)
		fuzz_ignore(p2p_noise_write_message(r, NULL, 0, out, sizeof(out), &n));
	p2p_noise_free(r);
}

/* The chunk boundaries of a sealed message: the offset of each chunk. */
static size_t chunks(const uint8_t *msg, size_t len, size_t *at, size_t cap)
{
	size_t pos = 0, k = 0;
	while (pos + P2P_CHUNK_HDR <= len && k < cap) {
		at[k++] = pos;
		pos += P2P_CHUNK_HDR + tr_be32_get(msg + pos + 8);
	}
	return k;
}

static void sequence(const uint8_t *data, size_t size)
{
	uint8_t *plain[MSGS_MAX], *sealed[MSGS_MAX];
	size_t plen[MSGS_MAX], slen[MSGS_MAX], count = 0, at = 0;
	uint64_t next = 0;
	long high = -1; /* the last message opened */
	size_t want;
	if (size == 0)
		return;
	want = 1 + data[at++] % MSGS_MAX;
	while (count < want && at + 3 <= size) {
		size_t len = (size_t)(data[at] << 8 | data[at + 1]) * 2;
		plain[count] = malloc(len ? len : 1);
		if (!plain[count])
			abort();
		memset(plain[count], data[at + 2], len);
		for (size_t i = 0; i < len; i += 4099) /* not one byte over and over */
			plain[count][i] = (uint8_t)(i >> 3);
		plen[count] = len;
		slen[count] = seal(plain[count], len, &sealed[count]);
		count++;
		at += 3;
	}
	for (; count && at < size; at++) {
		size_t m = (data[at] & 0x7f) % count;
		if (!(data[at] & 0x80)) {
			bool ok = opens(&next, sealed[m], slen[m], plain[m], plen[m]);
			if (ok != ((long)m > high))
				abort(); /* a replay opened, or a fresh message did not */
			if (ok)
				high = (long)m;
		} else {
			size_t a[64], b[64], na = chunks(sealed[m], slen[m], a, 64);
			size_t o = (m + 1 + (size_t)(data[at] >> 4 & 7)) % count;
			size_t nb = chunks(sealed[o], slen[o], b, 64);
			if (na >= 2 && (at & 1)) { /* the last chunk cut off */
				if (opens(&next, sealed[m], a[na - 1], NULL, 0))
					abort();
			} else if (nb >= 2 && o != m) {
				/* m's first chunk, then o's chunks after its first,
				 * renumbered to follow (when m has two chunks or more
				 * and is still ahead, only the AEAD can tell) */
				size_t head = na >= 2 ? a[1] : slen[m], tail = slen[o] - b[1];
				uint64_t c = tr_be64_get(sealed[m]);
				uint8_t *f = malloc(head + tail);
				if (!f)
					abort();
				memcpy(f, sealed[m], head);
				memcpy(f + head, sealed[o] + b[1], tail);
				for (size_t k = 1; k < nb; k++)
					tr_be64_put(f + head + (b[k] - b[1]), c + k);
				if (opens(&next, f, head + tail, NULL, 0))
					abort();
				free(f);
			}
		}
	}
	for (size_t i = 0; i < count; i++) {
		free(plain[i]);
		free(sealed[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;
	size_t slen;
	uint64_t next = 0;
	if (!tx)
		setup();
	p2p_noise_cipher_set_nonce(tx, 0);
	p2p_noise_cipher_set_nonce(rx, 0);
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		handshake(data + 1, size - 1);
		break;
	case 1:
		(void)opens(&next, data + 1, size - 1, NULL, 0);
		break;
	case 2:
		slen = seal(data + 1, size - 1, &sealed);
		if (!opens(&next, sealed, slen, data + 1, size - 1))
			abort(); /* what the partner sealed must open */
		free(sealed);
		decode(data + 1, size - 1);
		break;
	case 3:
		sequence(data + 1, size - 1);
		break;
	}
	return 0;
}
