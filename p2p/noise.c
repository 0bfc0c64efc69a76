/*
 * noise.c: the Noise Protocol Framework, revision 34 (noiseprotocol.org),
 * for X25519, ChaChaPoly and SHA256 / BLAKE2b, from libsodium primitives.
 *
 * It owns the three objects of the spec, one inside the next: a
 * CipherState (k, n), a SymmetricState (a CipherState, ck, h) and the
 * HandshakeState (a SymmetricState, s, e, rs, re, the message patterns).
 * Section numbers in comments are those of the spec. Patterns are written
 * as text ("e, es, s, ss | e, ee, se") and parsed once, when a handshake
 * starts, into token arrays with fixed bounds; the table below is the
 * spec's, checked against the cacophony vectors (tests/unit/noise_test.c).
 *
 * Invariants: secrets live only in sodium_malloc memory (the handshake and
 * cipher structs) or in stack temporaries zeroed before return. A
 * handshake that fails is marked failed and refuses everything after.
 * Nonce 2^64-1 is never used (section 5.1).
 */
#include "p2p/noise.h"

#include <sodium.h>
#include <string.h>

/* ==== Bounds and constants ==== */

#define DHLEN 32u
#define KEYLEN 32u
#define TAGLEN 16u
#define HASHLEN_MAX 64u
#define BLOCKLEN_MAX 128u
#define MSGS_MAX 6u   /* handshake messages in one pattern */
#define TOKENS_MAX 8u /* tokens in one message, psk included */
#define NONCE_MAX UINT64_MAX /* reserved, never used (section 5.1) */

_Static_assert(DHLEN == crypto_scalarmult_BYTES, "X25519 DH output");
_Static_assert(KEYLEN == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "ChaChaPoly key");
_Static_assert(TAGLEN == crypto_aead_chacha20poly1305_ietf_ABYTES, "ChaChaPoly tag");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "IETF nonce");
_Static_assert(P2P_NOISE_KEY_LEN == DHLEN && P2P_NOISE_TAG_LEN == TAGLEN, "header sizes");
_Static_assert(P2P_NOISE_HASH_MAX == HASHLEN_MAX, "header hash size");
_Static_assert(crypto_hash_sha256_BYTES == 32, "SHA256");
_Static_assert(crypto_generichash_blake2b_BYTES_MAX == 64, "BLAKE2b-512");

typedef enum {
	TOK_E = 1,
	TOK_S,
	TOK_EE,
	TOK_ES,
	TOK_SE,
	TOK_SS,
	TOK_PSK
} token;

typedef enum { HASH_SHA256 = 1, HASH_BLAKE2B = 2 } hash_alg;

/* ==== The pattern table (sections 7.4, 7.5, 18) ==== */

/* pre_i / pre_r: the initiator's and responder's pre-message ("" or "s");
 * msgs: the messages, '|' between messages, ',' between tokens; the first
 * is sent by the initiator, then the sender alternates. */
typedef struct {
	const char *name;
	const char *pre_i;
	const char *pre_r;
	const char *msgs;
} pattern_def;

static const pattern_def patterns[] = {
	/* one-way (7.4) */
	{"N", "", "s", "e, es"},
	{"K", "s", "s", "e, es, ss"},
	{"X", "", "s", "e, es, s, ss"},
	/* interactive (7.5) */
	{"NN", "", "", "e | e, ee"},
	{"NK", "", "s", "e, es | e, ee"},
	{"NX", "", "", "e | e, ee, s, es"},
	{"XN", "", "", "e | e, ee | s, se"},
	{"XK", "", "s", "e, es | e, ee | s, se"},
	{"XX", "", "", "e | e, ee, s, es | s, se"},
	{"KN", "s", "", "e | e, ee, se"},
	{"KK", "s", "s", "e, es, ss | e, ee, se"},
	{"KX", "s", "", "e | e, ee, se, s, es"},
	{"IN", "", "", "e, s | e, ee, se"},
	{"IK", "", "s", "e, es, s, ss | e, ee, se"},
	{"IX", "", "", "e, s | e, ee, se, s, es"},
	/* deferred (18.2) */
	{"NK1", "", "s", "e | e, ee, es"},
	{"NX1", "", "", "e | e, ee, s | es"},
	{"X1N", "", "", "e | e, ee | s | se"},
	{"X1K", "", "s", "e, es | e, ee | s | se"},
	{"XK1", "", "s", "e | e, ee, es | s, se"},
	{"X1K1", "", "s", "e | e, ee, es | s | se"},
	{"X1X", "", "", "e | e, ee, s, es | s | se"},
	{"XX1", "", "", "e | e, ee, s | es, s, se"},
	{"X1X1", "", "", "e | e, ee, s | es, s | se"},
	{"K1N", "s", "", "e | e, ee | se"},
	{"K1K", "s", "s", "e, es | e, ee | se"},
	{"KK1", "s", "s", "e | e, ee, se, es"},
	{"K1K1", "s", "s", "e | e, ee, es | se"},
	{"K1X", "s", "", "e | e, ee, s, es | se"},
	{"KX1", "s", "", "e | e, ee, se, s | es"},
	{"K1X1", "s", "", "e | e, ee, s | se, es"},
	{"I1N", "", "", "e, s | e, ee | se"},
	{"I1K", "", "s", "e, es, s | e, ee | se"},
	{"IK1", "", "s", "e, s | e, ee, se, es"},
	{"I1K1", "", "s", "e, s | e, ee, es | se"},
	{"I1X", "", "", "e, s | e, ee, s, es | se"},
	{"IX1", "", "", "e, s | e, ee, se, s | es"},
	{"I1X1", "", "", "e, s | e, ee, s | se, es"},
};

/* ==== The objects ==== */

typedef struct {
	uint8_t k[KEYLEN];
	bool has_key;
	uint64_t n;
} cipher_state;

struct p2p_noise_cipher {
	cipher_state cs;
};

typedef struct {
	cipher_state cs;
	hash_alg hash;
	size_t hashlen;
	uint8_t ck[HASHLEN_MAX];
	uint8_t h[HASHLEN_MAX];
} symmetric_state;

typedef struct {
	uint8_t pub[DHLEN];
	uint8_t sec[DHLEN];
	bool set;
} keypair;

struct p2p_noise {
	symmetric_state ss;
	p2p_noise_role role;
	bool one_way;
	bool psk_mode;
	keypair s, e;
	uint8_t rs[DHLEN], re[DHLEN];
	bool has_rs, has_re;
	bool pin_rs;              /* rs was given but the peer sends its own: compare */
	uint8_t pinned_rs[DHLEN];
	bool e_used;              /* our ephemeral went out: set_ephemeral is too late */
	uint8_t psks[P2P_NOISE_PSK_MAX][KEYLEN];
	size_t psk_count, psk_next;
	token msgs[MSGS_MAX][TOKENS_MAX];
	size_t msg_tokens[MSGS_MAX];
	size_t msg_count, msg_next;
	bool failed, split_done;
};

/* ==== Hash, HMAC, HKDF (section 4.3, 5.2) ==== */

typedef union {
	crypto_hash_sha256_state sha;
	crypto_generichash_blake2b_state b2;
} hash_ctx;

static size_t hash_len(hash_alg a)
{
	return a == HASH_SHA256 ? 32u : 64u;
}

static size_t block_len(hash_alg a)
{
	return a == HASH_SHA256 ? 64u : 128u;
}

static void hash_init(hash_alg a, hash_ctx *c)
{
	if (a == HASH_SHA256)
		crypto_hash_sha256_init(&c->sha);
	else
		crypto_generichash_blake2b_init(&c->b2, NULL, 0, 64);
}

static void hash_update(hash_alg a, hash_ctx *c, const uint8_t *p, size_t len)
{
	if (len == 0)
		return;
	if (a == HASH_SHA256)
		crypto_hash_sha256_update(&c->sha, p, len);
	else
		crypto_generichash_blake2b_update(&c->b2, p, len);
}

static void hash_final(hash_alg a, hash_ctx *c, uint8_t *out)
{
	if (a == HASH_SHA256)
		crypto_hash_sha256_final(&c->sha, out);
	else
		crypto_generichash_blake2b_final(&c->b2, out, 64);
	sodium_memzero(c, sizeof(*c));
}

/* HMAC-HASH(key, data1 || data2) per RFC 2104; keylen <= HASHLEN. */
static void hmac(hash_alg a, const uint8_t *key, size_t keylen, const uint8_t *d1, size_t l1,
		 const uint8_t *d2, size_t l2, uint8_t *out)
{
	uint8_t pad[BLOCKLEN_MAX], inner[HASHLEN_MAX];
	size_t bl = block_len(a), hl = hash_len(a);
	hash_ctx c;

	TR_ASSERT(keylen <= hl);
	memset(pad, 0x36, bl);
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	hash_init(a, &c);
	hash_update(a, &c, pad, bl);
	hash_update(a, &c, d1, l1);
	hash_update(a, &c, d2, l2);
	hash_final(a, &c, inner);

	memset(pad, 0x5c, bl);
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	hash_init(a, &c);
	hash_update(a, &c, pad, bl);
	hash_update(a, &c, inner, hl);
	hash_final(a, &c, out);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF(ck, ikm, n) with n = 2 or 3 outputs of HASHLEN each (section 4.3). */
static void hkdf(hash_alg a, const uint8_t *ck, const uint8_t *ikm, size_t ikm_len,
		 uint8_t *o1, uint8_t *o2, uint8_t *o3)
{
	uint8_t temp[HASHLEN_MAX];
	size_t hl = hash_len(a);
	const uint8_t one = 1, two = 2, three = 3;

	hmac(a, ck, hl, ikm, ikm_len, NULL, 0, temp);
	hmac(a, temp, hl, &one, 1, NULL, 0, o1);
	hmac(a, temp, hl, o1, hl, &two, 1, o2);
	if (o3)
		hmac(a, temp, hl, o2, hl, &three, 1, o3);
	sodium_memzero(temp, sizeof(temp));
}

/* ==== CipherState (section 5.1) ==== */

static void cs_init_key(cipher_state *cs, const uint8_t k[KEYLEN])
{
	memcpy(cs->k, k, KEYLEN);
	cs->has_key = true;
	cs->n = 0;
}

static void nonce_bytes(uint8_t out[12], uint64_t n)
{
	memset(out, 0, 4);
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd. With no key the plaintext is copied as is. out may equal
 * in. Returns 0 or TR_ESTATE (nonce exhausted). */
static int cs_encrypt(cipher_state *cs, const uint8_t *ad, size_t ad_len, const uint8_t *in,
		      size_t len, uint8_t *out, size_t *outlen)
{
	uint8_t nonce[12];
	unsigned long long clen = 0;

	if (!cs->has_key) {
		if (len)
			memmove(out, in, len);
		*outlen = len;
		return TR_OK;
	}
	if (cs->n == NONCE_MAX)
		return TR_ESTATE;
	nonce_bytes(nonce, cs->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, ad_len, NULL, nonce,
						  cs->k);
	cs->n++;
	*outlen = (size_t)clen;
	return TR_OK;
}

/* DecryptWithAd. On failure n stays where it was. Returns 0, TR_EINVAL
 * (shorter than a tag), TR_EVERIFY or TR_ESTATE (nonce exhausted). */
static int cs_decrypt(cipher_state *cs, const uint8_t *ad, size_t ad_len, const uint8_t *in,
		      size_t len, uint8_t *out, size_t *outlen)
{
	uint8_t nonce[12];
	unsigned long long mlen = 0;

	if (!cs->has_key) {
		if (len)
			memmove(out, in, len);
		*outlen = len;
		return TR_OK;
	}
	if (cs->n == NONCE_MAX)
		return TR_ESTATE;
	if (len < TAGLEN)
		return TR_EINVAL;
	nonce_bytes(nonce, cs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, len, ad, ad_len, nonce,
						      cs->k) != 0)
		return TR_EVERIFY;
	cs->n++;
	*outlen = (size_t)mlen;
	return TR_OK;
}

/* ==== SymmetricState (section 5.2) ==== */

static void ss_init(symmetric_state *ss, hash_alg a, const char *name)
{
	size_t len = strlen(name);

	ss->hash = a;
	ss->hashlen = hash_len(a);
	memset(ss->h, 0, sizeof(ss->h));
	if (len <= ss->hashlen) {
		memcpy(ss->h, name, len);
	} else {
		hash_ctx c;
		hash_init(a, &c);
		hash_update(a, &c, (const uint8_t *)name, len);
		hash_final(a, &c, ss->h);
	}
	memcpy(ss->ck, ss->h, ss->hashlen);
	ss->cs.has_key = false;
	ss->cs.n = 0;
}

static void ss_mix_hash(symmetric_state *ss, const uint8_t *data, size_t len)
{
	hash_ctx c;

	hash_init(ss->hash, &c);
	hash_update(ss->hash, &c, ss->h, ss->hashlen);
	hash_update(ss->hash, &c, data, len);
	hash_final(ss->hash, &c, ss->h);
}

static void ss_mix_key(symmetric_state *ss, const uint8_t *ikm, size_t len)
{
	uint8_t ck[HASHLEN_MAX], k[HASHLEN_MAX];

	hkdf(ss->hash, ss->ck, ikm, len, ck, k, NULL);
	memcpy(ss->ck, ck, ss->hashlen);
	cs_init_key(&ss->cs, k); /* the first 32 bytes: truncation for HASHLEN 64 */
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
}

static void ss_mix_key_and_hash(symmetric_state *ss, const uint8_t *ikm, size_t len)
{
	uint8_t ck[HASHLEN_MAX], th[HASHLEN_MAX], k[HASHLEN_MAX];

	hkdf(ss->hash, ss->ck, ikm, len, ck, th, k);
	memcpy(ss->ck, ck, ss->hashlen);
	ss_mix_hash(ss, th, ss->hashlen);
	cs_init_key(&ss->cs, k);
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(th, sizeof(th));
	sodium_memzero(k, sizeof(k));
}

/* EncryptAndHash: out gets len (+ TAGLEN once keyed) bytes. */
static int ss_encrypt_and_hash(symmetric_state *ss, const uint8_t *in, size_t len, uint8_t *out,
			       size_t *outlen)
{
	int rc = cs_encrypt(&ss->cs, ss->h, ss->hashlen, in, len, out, outlen);
	if (rc == TR_OK)
		ss_mix_hash(ss, out, *outlen);
	return rc;
}

/* DecryptAndHash: h mixes the ciphertext, so take it before out (which
 * may not alias in here) is written. */
static int ss_decrypt_and_hash(symmetric_state *ss, const uint8_t *in, size_t len, uint8_t *out,
			       size_t *outlen)
{
	uint8_t h_next[HASHLEN_MAX];
	hash_ctx c;
	int rc;

	hash_init(ss->hash, &c);
	hash_update(ss->hash, &c, ss->h, ss->hashlen);
	hash_update(ss->hash, &c, in, len);
	hash_final(ss->hash, &c, h_next);
	rc = cs_decrypt(&ss->cs, ss->h, ss->hashlen, in, len, out, outlen);
	if (rc == TR_OK)
		memcpy(ss->h, h_next, ss->hashlen);
	return rc;
}

/* ==== Pattern parsing ==== */

/* Parse "e, es | e, ee" into hs->msgs. Returns 0 or TR_EINVAL. */
static int parse_messages(p2p_noise *hs, const char *text)
{
	static const struct {
		const char *word;
		token tok;
	} words[] = {{"e", TOK_E},   {"s", TOK_S},   {"ee", TOK_EE}, {"es", TOK_ES},
		     {"se", TOK_SE}, {"ss", TOK_SS}, {"psk", TOK_PSK}};
	const char *p = text;

	hs->msg_count = 1;
	hs->msg_tokens[0] = 0;
	while (*p) {
		size_t n = 0, i;
		if (*p == ' ' || *p == ',') {
			p++;
			continue;
		}
		if (*p == '|') {
			TR_ASSERT(hs->msg_count < MSGS_MAX);
			hs->msg_tokens[hs->msg_count++] = 0;
			p++;
			continue;
		}
		while (p[n] >= 'a' && p[n] <= 'z')
			n++;
		for (i = 0; i < TR_ARRAY_LEN(words); i++)
			if (strlen(words[i].word) == n && memcmp(words[i].word, p, n) == 0)
				break;
		TR_ASSERT(i < TR_ARRAY_LEN(words) && n > 0); /* the table is ours */
		TR_ASSERT(hs->msg_tokens[hs->msg_count - 1] < TOKENS_MAX);
		hs->msgs[hs->msg_count - 1][hs->msg_tokens[hs->msg_count - 1]++] = words[i].tok;
		p += n;
	}
	return TR_OK;
}

/* Apply "psk0+psk2" (section 9): psk0 opens the first message, pskN closes
 * message N. Returns the number of psk tokens added, or TR_EINVAL. */
static int apply_modifiers(p2p_noise *hs, const char *mod, size_t len)
{
	size_t i = 0;
	int added = 0;

	while (i < len) {
		size_t at;
		if (len - i < 4 || memcmp(mod + i, "psk", 3) != 0)
			return TR_EINVAL;
		if (mod[i + 3] < '0' || mod[i + 3] > '9')
			return TR_EINVAL;
		at = (size_t)(mod[i + 3] - '0');
		i += 4;
		if (i < len && mod[i] != '+')
			return TR_EINVAL;
		if (i < len && ++i == len)
			return TR_EINVAL; /* trailing '+' */
		if (at > hs->msg_count || added >= (int)P2P_NOISE_PSK_MAX)
			return TR_EINVAL;
		if (at == 0) {
			size_t *n = &hs->msg_tokens[0];
			if (*n >= TOKENS_MAX)
				return TR_EINVAL;
			memmove(&hs->msgs[0][1], &hs->msgs[0][0], *n * sizeof(token));
			hs->msgs[0][0] = TOK_PSK;
			(*n)++;
		} else {
			size_t *n = &hs->msg_tokens[at - 1];
			if (*n >= TOKENS_MAX)
				return TR_EINVAL;
			hs->msgs[at - 1][(*n)++] = TOK_PSK;
		}
		added++;
	}
	return added;
}

/* Does a side's message list contain token t? side: 0 initiator, 1 responder. */
static bool side_has(const p2p_noise *hs, int side, token t)
{
	if (hs->one_way && side == 1)
		return false;
	for (size_t m = (size_t)side; m < hs->msg_count; m += hs->one_way ? 1 : 2)
		for (size_t i = 0; i < hs->msg_tokens[m]; i++)
			if (hs->msgs[m][i] == t)
				return true;
	return false;
}

/* Split "Noise_IKpsk2_25519_ChaChaPoly_SHA256" into a pattern and its
 * modifiers, and the hash. Returns 0 or TR_EINVAL. */
static int parse_name(const char *name, const pattern_def **pat, const char **mod,
		      size_t *mod_len, hash_alg *hash)
{
	static const char prefix[] = "Noise_";
	static const char mid[] = "_25519_ChaChaPoly_";
	const char *p, *u;
	size_t base;

	if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return TR_EINVAL;
	p = name + sizeof(prefix) - 1;
	u = strchr(p, '_');
	if (!u)
		return TR_EINVAL;
	if (strncmp(u, mid, sizeof(mid) - 1) != 0)
		return TR_EINVAL;
	if (strcmp(u + sizeof(mid) - 1, "SHA256") == 0)
		*hash = HASH_SHA256;
	else if (strcmp(u + sizeof(mid) - 1, "BLAKE2b") == 0)
		*hash = HASH_BLAKE2B;
	else
		return TR_EINVAL;
	for (base = 0; p + base < u && !(p[base] >= 'a' && p[base] <= 'z'); base++)
		;
	*pat = NULL;
	for (size_t i = 0; i < TR_ARRAY_LEN(patterns); i++)
		if (strlen(patterns[i].name) == base && memcmp(patterns[i].name, p, base) == 0)
			*pat = &patterns[i];
	if (!*pat)
		return TR_EINVAL;
	*mod = p + base;
	*mod_len = (size_t)(u - (p + base));
	return TR_OK;
}

/* ==== DH ==== */

/* X25519; the all-zero output (a low-order point) is refused. */
static int dh(uint8_t out[DHLEN], const keypair *kp, const uint8_t pub[DHLEN])
{
	TR_ASSERT(kp->set);
	return crypto_scalarmult(out, kp->sec, pub) == 0 ? TR_OK : TR_EVERIFY;
}

static void keypair_from_secret(keypair *kp, const uint8_t sec[DHLEN])
{
	memcpy(kp->sec, sec, DHLEN);
	crypto_scalarmult_base(kp->pub, kp->sec);
	kp->set = true;
}

/* MixKey(DH(a, b)) */
static int mix_dh(p2p_noise *hs, const keypair *kp, const uint8_t pub[DHLEN])
{
	uint8_t shared[DHLEN];
	int rc = dh(shared, kp, pub);

	if (rc == TR_OK)
		ss_mix_key(&hs->ss, shared, DHLEN);
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

/* The DH tokens, from our side: es is (e, rs) for the initiator and
 * (s, re) for the responder; se the other way round. */
static int mix_token(p2p_noise *hs, token t)
{
	bool ini = hs->role == P2P_NOISE_INITIATOR;

	switch (t) {
	case TOK_EE:
		return mix_dh(hs, &hs->e, hs->re);
	case TOK_ES:
		return ini ? mix_dh(hs, &hs->e, hs->rs) : mix_dh(hs, &hs->s, hs->re);
	case TOK_SE:
		return ini ? mix_dh(hs, &hs->s, hs->re) : mix_dh(hs, &hs->e, hs->rs);
	case TOK_SS:
		return mix_dh(hs, &hs->s, hs->rs);
	case TOK_PSK:
		TR_ASSERT(hs->psk_next < hs->psk_count);
		ss_mix_key_and_hash(&hs->ss, hs->psks[hs->psk_next++], KEYLEN);
		return TR_OK;
	case TOK_E:
	case TOK_S:
		break;
	}
	TR_ASSERT(!"not a mixing token");
	return TR_EINVAL;
}

/* ==== Handshake ==== */

int p2p_noise_new(const p2p_noise_config *cfg, p2p_noise **out)
{
	const pattern_def *pat = NULL;
	const char *mod = NULL;
	size_t mod_len = 0, name_len;
	hash_alg hash = HASH_SHA256;
	p2p_noise *hs = NULL;
	int me, peer, rc, npsk;
	bool my_s_pre, peer_s_pre, my_s_sent, peer_s_sent;

	TR_ASSERT(cfg && out);
	if (!cfg->protocol)
		return TR_EINVAL;
	name_len = strnlen(cfg->protocol, P2P_NOISE_NAME_MAX + 1);
	if (name_len > P2P_NOISE_NAME_MAX)
		return TR_ETOOBIG;
	if (cfg->role != P2P_NOISE_INITIATOR && cfg->role != P2P_NOISE_RESPONDER)
		return TR_EINVAL;
	if (cfg->prologue_len > P2P_NOISE_PROLOGUE_MAX)
		return TR_ETOOBIG;
	if (cfg->prologue_len && !cfg->prologue)
		return TR_EINVAL;
	if (cfg->psk_count > P2P_NOISE_PSK_MAX || (cfg->psk_count && !cfg->psks))
		return TR_EINVAL;
	rc = parse_name(cfg->protocol, &pat, &mod, &mod_len, &hash);
	if (rc != TR_OK)
		return rc;

	hs = sodium_malloc(sizeof(*hs));
	if (!hs)
		return TR_ENOMEM;
	memset(hs, 0, sizeof(*hs));
	hs->role = cfg->role;
	hs->one_way = strlen(pat->name) == 1; /* N, K, X */
	rc = parse_messages(hs, pat->msgs);
	if (rc != TR_OK)
		goto fail;
	npsk = apply_modifiers(hs, mod, mod_len);
	if (npsk < 0) {
		rc = npsk;
		goto fail;
	}
	rc = TR_EINVAL;
	if ((size_t)npsk != cfg->psk_count)
		goto fail;
	hs->psk_mode = npsk > 0;
	hs->psk_count = cfg->psk_count;
	if (hs->psk_count)
		memcpy(hs->psks, cfg->psks, hs->psk_count * KEYLEN);

	/* Which static keys does each side need? */
	me = hs->role == P2P_NOISE_INITIATOR ? 0 : 1;
	peer = 1 - me;
	my_s_pre = *(me == 0 ? pat->pre_i : pat->pre_r) == 's';
	peer_s_pre = *(peer == 0 ? pat->pre_i : pat->pre_r) == 's';
	my_s_sent = side_has(hs, me, TOK_S);
	peer_s_sent = side_has(hs, peer, TOK_S);
	if ((my_s_pre || my_s_sent) != (cfg->local_static != NULL))
		goto fail;
	if (peer_s_pre && !cfg->remote_static)
		goto fail;
	if (!peer_s_pre && !peer_s_sent && cfg->remote_static)
		goto fail;
	if (cfg->local_static)
		keypair_from_secret(&hs->s, cfg->local_static);
	if (cfg->remote_static) {
		/* A low-order key makes every DH with it zero: refuse it now. */
		static const uint8_t scalar[DHLEN] = {1};
		uint8_t probe[DHLEN];
		if (crypto_scalarmult(probe, scalar, cfg->remote_static) != 0)
			goto fail;
		if (peer_s_pre) {
			memcpy(hs->rs, cfg->remote_static, DHLEN);
			hs->has_rs = true;
		} else {
			memcpy(hs->pinned_rs, cfg->remote_static, DHLEN);
			hs->pin_rs = true;
		}
	}

	/* Section 5.3 Initialize: name, prologue, pre-messages (initiator's
	 * first). */
	ss_init(&hs->ss, hash, cfg->protocol);
	ss_mix_hash(&hs->ss, cfg->prologue, cfg->prologue_len);
	if (*pat->pre_i == 's')
		ss_mix_hash(&hs->ss, me == 0 ? hs->s.pub : hs->rs, DHLEN);
	if (*pat->pre_r == 's')
		ss_mix_hash(&hs->ss, me == 1 ? hs->s.pub : hs->rs, DHLEN);
	*out = hs;
	return TR_OK;
fail:
	sodium_free(hs);
	return rc;
}

int p2p_noise_set_ephemeral(p2p_noise *hs, const uint8_t secret[P2P_NOISE_KEY_LEN])
{
	TR_ASSERT(hs && secret);
	if (hs->failed || hs->e_used)
		return TR_ESTATE;
	keypair_from_secret(&hs->e, secret);
	return TR_OK;
}

/* Is message m ours to write? */
static bool my_turn(const p2p_noise *hs, size_t m)
{
	bool initiator_sends = hs->one_way || m % 2 == 0;
	return initiator_sends == (hs->role == P2P_NOISE_INITIATOR);
}

p2p_noise_action p2p_noise_next(const p2p_noise *hs)
{
	TR_ASSERT(hs);
	if (hs->failed)
		return P2P_NOISE_FAILED;
	if (hs->split_done)
		return P2P_NOISE_DONE;
	if (hs->msg_next == hs->msg_count)
		return P2P_NOISE_SPLIT;
	return my_turn(hs, hs->msg_next) ? P2P_NOISE_WRITE : P2P_NOISE_READ;
}

bool p2p_noise_is_finished(const p2p_noise *hs)
{
	TR_ASSERT(hs);
	return !hs->failed && hs->msg_next == hs->msg_count;
}

/* The exact length of the next message we write with a payload of len:
 * walks the tokens, tracking when the cipher gets a key. */
static size_t write_len(const p2p_noise *hs, size_t len)
{
	bool keyed = hs->ss.cs.has_key;
	size_t total = 0, m = hs->msg_next;

	for (size_t i = 0; i < hs->msg_tokens[m]; i++) {
		switch (hs->msgs[m][i]) {
		case TOK_E:
			total += DHLEN;
			keyed = keyed || hs->psk_mode;
			break;
		case TOK_S:
			total += DHLEN + (keyed ? TAGLEN : 0);
			break;
		default:
			keyed = true;
			break;
		}
	}
	return total + len + (keyed ? TAGLEN : 0);
}

int p2p_noise_write_message(p2p_noise *hs, const uint8_t *payload, size_t payload_len,
			    uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t m, pos = 0, n = 0, need;
	int rc = TR_OK;

	TR_ASSERT(hs && out && outlen && (payload || payload_len == 0));
	if (p2p_noise_next(hs) != P2P_NOISE_WRITE)
		return TR_ESTATE;
	m = hs->msg_next;
	if (payload_len > P2P_NOISE_MSG_MAX)
		return TR_ETOOBIG;
	need = write_len(hs, payload_len);
	if (need > P2P_NOISE_MSG_MAX || need > outcap)
		return TR_ETOOBIG;

	for (size_t i = 0; i < hs->msg_tokens[m] && rc == TR_OK; i++) {
		switch (hs->msgs[m][i]) {
		case TOK_E:
			if (!hs->e.set) {
				uint8_t sec[DHLEN];
				randombytes_buf(sec, sizeof(sec));
				keypair_from_secret(&hs->e, sec);
				sodium_memzero(sec, sizeof(sec));
			}
			hs->e_used = true;
			memcpy(out + pos, hs->e.pub, DHLEN);
			pos += DHLEN;
			ss_mix_hash(&hs->ss, hs->e.pub, DHLEN);
			if (hs->psk_mode)
				ss_mix_key(&hs->ss, hs->e.pub, DHLEN);
			break;
		case TOK_S:
			rc = ss_encrypt_and_hash(&hs->ss, hs->s.pub, DHLEN, out + pos, &n);
			pos += n;
			break;
		default:
			rc = mix_token(hs, hs->msgs[m][i]);
			break;
		}
	}
	if (rc == TR_OK)
		rc = ss_encrypt_and_hash(&hs->ss, payload, payload_len, out + pos, &n);
	if (rc != TR_OK) {
		hs->failed = true;
		return rc;
	}
	pos += n;
	TR_ASSERT(pos == need);
	hs->msg_next++;
	*outlen = pos;
	return TR_OK;
}

int p2p_noise_read_message(p2p_noise *hs, const uint8_t *msg, size_t len, uint8_t *payload,
			   size_t payload_cap, size_t *payload_len)
{
	size_t m, pos = 0, n = 0;
	int rc = TR_OK;

	TR_ASSERT(hs && (msg || len == 0) && payload_len && (payload || payload_cap == 0));
	if (p2p_noise_next(hs) != P2P_NOISE_READ)
		return TR_ESTATE;
	m = hs->msg_next;
	if (len > P2P_NOISE_MSG_MAX) {
		rc = TR_EINVAL;
		goto fail;
	}

	for (size_t i = 0; i < hs->msg_tokens[m]; i++) {
		switch (hs->msgs[m][i]) {
		case TOK_E:
			if (len - pos < DHLEN) {
				rc = TR_EINVAL;
				goto fail;
			}
			memcpy(hs->re, msg + pos, DHLEN);
			hs->has_re = true;
			pos += DHLEN;
			ss_mix_hash(&hs->ss, hs->re, DHLEN);
			if (hs->psk_mode)
				ss_mix_key(&hs->ss, hs->re, DHLEN);
			break;
		case TOK_S: {
			size_t flen = DHLEN + (hs->ss.cs.has_key ? TAGLEN : 0);
			uint8_t rs[DHLEN];
			TR_ASSERT(!hs->has_rs); /* the pattern table sends s once */
			if (len - pos < flen) {
				rc = TR_EINVAL;
				goto fail;
			}
			rc = ss_decrypt_and_hash(&hs->ss, msg + pos, flen, rs, &n);
			if (rc != TR_OK)
				goto fail;
			pos += flen;
			if (hs->pin_rs && sodium_memcmp(rs, hs->pinned_rs, DHLEN) != 0) {
				rc = TR_EVERIFY;
				goto fail;
			}
			memcpy(hs->rs, rs, DHLEN);
			hs->has_rs = true;
			break;
		}
		default:
			rc = mix_token(hs, hs->msgs[m][i]);
			if (rc != TR_OK)
				goto fail;
			break;
		}
	}
	/* The payload: everything left, tag included once keyed. */
	n = len - pos;
	if (hs->ss.cs.has_key && n < TAGLEN) {
		rc = TR_EINVAL;
		goto fail;
	}
	if (n - (hs->ss.cs.has_key ? TAGLEN : 0) > payload_cap) {
		rc = TR_ETOOBIG;
		goto fail;
	}
	/* On a bad tag libsodium zeroes payload rather than leave plaintext. */
	rc = ss_decrypt_and_hash(&hs->ss, msg + pos, n, payload, &n);
	if (rc != TR_OK)
		goto fail;
	hs->msg_next++;
	*payload_len = n;
	return TR_OK;
fail:
	hs->failed = true;
	return rc;
}

int p2p_noise_remote_static(const p2p_noise *hs, uint8_t out[P2P_NOISE_KEY_LEN])
{
	TR_ASSERT(hs && out);
	if (!hs->has_rs)
		return TR_ENOTFOUND;
	memcpy(out, hs->rs, DHLEN);
	return TR_OK;
}

int p2p_noise_local_static(const p2p_noise *hs, uint8_t out[P2P_NOISE_KEY_LEN])
{
	TR_ASSERT(hs && out);
	if (!hs->s.set)
		return TR_ENOTFOUND;
	memcpy(out, hs->s.pub, DHLEN);
	return TR_OK;
}

int p2p_noise_handshake_hash(const p2p_noise *hs, uint8_t *out, size_t outcap, size_t *outlen)
{
	TR_ASSERT(hs && out && outlen);
	if (hs->failed || hs->msg_next != hs->msg_count)
		return TR_ESTATE;
	if (outcap < hs->ss.hashlen)
		return TR_ETOOBIG;
	memcpy(out, hs->ss.h, hs->ss.hashlen);
	*outlen = hs->ss.hashlen;
	return TR_OK;
}

static p2p_noise_cipher *cipher_new(const uint8_t k[KEYLEN])
{
	p2p_noise_cipher *c = sodium_malloc(sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	cs_init_key(&c->cs, k);
	return c;
}

int p2p_noise_split(p2p_noise *hs, p2p_noise_cipher **c1, p2p_noise_cipher **c2)
{
	uint8_t k1[HASHLEN_MAX], k2[HASHLEN_MAX];
	p2p_noise_cipher *a = NULL, *b = NULL;
	int rc = TR_ENOMEM;

	TR_ASSERT(hs && c1 && c2);
	if (p2p_noise_next(hs) != P2P_NOISE_SPLIT)
		return TR_ESTATE;
	hkdf(hs->ss.hash, hs->ss.ck, NULL, 0, k1, k2, NULL);
	a = cipher_new(k1);
	if (!a)
		goto done;
	if (!hs->one_way) { /* one-way: only c1, initiator to responder */
		b = cipher_new(k2);
		if (!b) {
			p2p_noise_cipher_free(a);
			goto done;
		}
	}
	*c1 = a;
	*c2 = b;
	hs->split_done = true;
	sodium_memzero(hs->ss.ck, sizeof(hs->ss.ck));
	sodium_memzero(&hs->ss.cs, sizeof(hs->ss.cs));
	sodium_memzero(&hs->e, sizeof(hs->e));
	rc = TR_OK;
done:
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return rc;
}

void p2p_noise_free(p2p_noise *hs)
{
	if (hs)
		sodium_free(hs); /* sodium_free zeroes the whole region first */
}

/* ==== Transport ==== */

int p2p_noise_encrypt(p2p_noise_cipher *c, const uint8_t *ad, size_t ad_len,
		      const uint8_t *plain, size_t len, uint8_t *out, size_t outcap,
		      size_t *outlen)
{
	size_t n = 0;
	int rc;

	TR_ASSERT(c && out && outlen && (plain || len == 0) && (ad || ad_len == 0));
	if (len > P2P_NOISE_PAYLOAD_MAX || outcap < len + TAGLEN)
		return TR_ETOOBIG;
	rc = cs_encrypt(&c->cs, ad, ad_len, plain, len, out, &n);
	if (rc == TR_OK)
		*outlen = n;
	return rc;
}

int p2p_noise_decrypt(p2p_noise_cipher *c, const uint8_t *ad, size_t ad_len,
		      const uint8_t *msg, size_t len, uint8_t *out, size_t outcap,
		      size_t *outlen)
{
	size_t n = 0;
	int rc;

	TR_ASSERT(c && outlen && (msg || len == 0) && (ad || ad_len == 0));
	if (len < TAGLEN || len > P2P_NOISE_MSG_MAX)
		return TR_EINVAL;
	if (outcap < len - TAGLEN || (!out && len > TAGLEN))
		return TR_ETOOBIG;
	rc = cs_decrypt(&c->cs, ad, ad_len, msg, len, out, &n);
	if (rc == TR_OK)
		*outlen = n;
	return rc;
}

uint64_t p2p_noise_cipher_nonce(const p2p_noise_cipher *c)
{
	TR_ASSERT(c);
	return c->cs.n;
}

void p2p_noise_cipher_set_nonce(p2p_noise_cipher *c, uint64_t n)
{
	TR_ASSERT(c);
	c->cs.n = n;
}

void p2p_noise_cipher_free(p2p_noise_cipher *c)
{
	if (c)
		sodium_free(c);
}

/* ==== Glue: Ed25519 partner keys ==== */

int p2p_noise_ed25519_pk_to_x25519(uint8_t x_pk[P2P_NOISE_KEY_LEN], const uint8_t ed_pk[32])
{
	uint8_t tmp[DHLEN];

	TR_ASSERT(x_pk && ed_pk);
	if (crypto_sign_ed25519_pk_to_curve25519(tmp, ed_pk) != 0)
		return TR_EINVAL;
	memcpy(x_pk, tmp, DHLEN);
	return TR_OK;
}

int p2p_noise_ed25519_sk_to_x25519(uint8_t x_sk[P2P_NOISE_KEY_LEN], const uint8_t ed_sk[64])
{
	uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
	int rc = TR_EINVAL;

	TR_ASSERT(x_sk && ed_sk);
	/* Recompute the public half from the seed: a corrupt key is refused
	 * here rather than failing every handshake later. */
	crypto_sign_ed25519_seed_keypair(pk, sk, ed_sk);
	if (sodium_memcmp(pk, ed_sk + 32, sizeof(pk)) == 0) {
		crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk);
		rc = TR_OK;
	}
	sodium_memzero(sk, sizeof(sk));
	return rc;
}
