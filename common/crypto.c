/*
 * crypto.c: SHA-256, Ed25519 (libsodium), BIP-340 Schnorr (libsecp256k1),
 * key files, tagged signatures, base64.
 *
 * Owns the process-wide secp256k1 context, created by tr_crypto_init and
 * only read afterwards (safe across threads). A tr_key holds its seed and
 * expanded secret in sodium_malloc memory; every stack copy of a secret is
 * zeroed before returning.
 */
#include "common/crypto.h"

#include <errno.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

struct tr_key {
	tr_alg alg;
	uint8_t pub[TR_PUBKEY_LEN];
	/* sodium_malloc'd: seed (32) || ed25519 sk (64) or secp keypair. */
	uint8_t *secret;
};

#define SECRET_LEN (TR_SEED_LEN + 96)
_Static_assert(sizeof(secp256k1_keypair) <= 96, "keypair fits the secret area");

static secp256k1_context *secp;

const char *tr_alg_name(tr_alg alg)
{
	switch (alg) {
	case TR_ALG_ED25519:
		return "ed25519";
	case TR_ALG_SECP256K1:
		return "secp256k1";
	default:
		return "none";
	}
}

tr_alg tr_alg_parse(const char *name)
{
	if (strcmp(name, "ed25519") == 0)
		return TR_ALG_ED25519;
	if (strcmp(name, "secp256k1") == 0)
		return TR_ALG_SECP256K1;
	return TR_ALG_NONE;
}

int tr_crypto_init(void)
{
	uint8_t seed[32];
	if (sodium_init() < 0)
		return TR_EIO;
	if (secp)
		return TR_OK;
	secp = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (!secp)
		return TR_ENOMEM;
	randombytes_buf(seed, sizeof(seed));
	if (!secp256k1_context_randomize(secp, seed))
		return TR_EIO;
	sodium_memzero(seed, sizeof(seed));
	return TR_OK;
}

/* ==== Keys ==== */

static int key_alloc(tr_alg alg, tr_key **out)
{
	tr_key *k = calloc(1, sizeof(*k));
	if (!k)
		return TR_ENOMEM;
	k->secret = sodium_malloc(SECRET_LEN);
	if (!k->secret) {
		free(k);
		return TR_ENOMEM;
	}
	sodium_memzero(k->secret, SECRET_LEN);
	k->alg = alg;
	*out = k;
	return TR_OK;
}

void tr_key_free(tr_key *k)
{
	if (!k)
		return;
	sodium_free(k->secret); /* zeroes before freeing */
	sodium_memzero(k, sizeof(*k));
	free(k);
}

int tr_key_from_seed(tr_alg alg, const uint8_t seed[TR_SEED_LEN], tr_key **out)
{
	tr_key *k;
	int rc;

	if (alg != TR_ALG_ED25519 && alg != TR_ALG_SECP256K1)
		return TR_EINVAL;
	rc = key_alloc(alg, &k);
	if (rc)
		return rc;
	memcpy(k->secret, seed, TR_SEED_LEN);
	if (alg == TR_ALG_ED25519) {
		crypto_sign_ed25519_seed_keypair(k->pub, k->secret + TR_SEED_LEN, seed);
	} else {
		secp256k1_keypair *kp = (secp256k1_keypair *)(void *)(k->secret + TR_SEED_LEN);
		secp256k1_xonly_pubkey xpk;
		TR_ASSERT(secp != NULL);
		if (!secp256k1_keypair_create(secp, kp, seed) ||
		    !secp256k1_keypair_xonly_pub(secp, &xpk, NULL, kp) ||
		    !secp256k1_xonly_pubkey_serialize(secp, k->pub, &xpk)) {
			tr_key_free(k);
			return TR_EINVAL;
		}
	}
	*out = k;
	return TR_OK;
}

int tr_key_generate(tr_alg alg, tr_key **out)
{
	uint8_t seed[TR_SEED_LEN];
	int rc;
	for (int tries = 0; tries < 64; tries++) {
		randombytes_buf(seed, sizeof(seed));
		rc = tr_key_from_seed(alg, seed, out);
		if (rc != TR_EINVAL || alg != TR_ALG_SECP256K1)
			break;
	}
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

tr_alg tr_key_alg(const tr_key *k)
{
	return k->alg;
}

const uint8_t *tr_key_public(const tr_key *k)
{
	return k->pub;
}

/* Key file: one line "trellis-key-v1 ALG BASE64(seed)\n". */
#define KEYFILE_MAGIC "trellis-key-v1"
#define KEYFILE_MAX 256

int tr_key_save(const tr_key *k, const char *path, char *err, size_t errlen)
{
	char *line;
	char b64[TR_B64_LEN(TR_SEED_LEN)];
	int n, rc;

	line = sodium_malloc(KEYFILE_MAX);
	if (!line)
		return TR_ENOMEM;
	tr_b64_encode(b64, sizeof(b64), k->secret, TR_SEED_LEN);
	n = snprintf(line, KEYFILE_MAX, "%s %s %s\n", KEYFILE_MAGIC, tr_alg_name(k->alg), b64);
	sodium_memzero(b64, sizeof(b64));
	TR_ASSERT(n > 0 && n < KEYFILE_MAX);
	rc = tr_write_file(path, line, (size_t)n, 0600, err, errlen);
	sodium_free(line);
	return rc;
}

int tr_key_load(const char *path, tr_key **out, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = NULL;
	char *line = NULL;
	uint8_t seed[TR_SEED_LEN];
	char *alg_s, *b64, *save = NULL;
	tr_alg alg;
	int rc = TR_EINVAL;

	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open key '%s': %s", path, strerror(errno));
		return TR_EIO;
	}
	if (fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "cannot stat key '%s': %s", path, strerror(errno));
		rc = TR_EIO;
		goto fail;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "refusing key '%s': readable by group or others (mode %03o); chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
		rc = TR_EPERM;
		goto fail;
	}
	line = sodium_malloc(KEYFILE_MAX);
	if (!line) {
		rc = TR_ENOMEM;
		goto fail;
	}
	size_t n = fread(line, 1, KEYFILE_MAX - 1, f);
	line[n] = '\0';
	if (n == KEYFILE_MAX - 1 || strncmp(line, KEYFILE_MAGIC " ", strlen(KEYFILE_MAGIC) + 1) != 0) {
		snprintf(err, errlen, "malformed key file '%s'", path);
		goto fail;
	}
	alg_s = strtok_r(line + strlen(KEYFILE_MAGIC) + 1, " \n", &save);
	b64 = alg_s ? strtok_r(NULL, " \n", &save) : NULL;
	if (!alg_s || !b64 || (alg = tr_alg_parse(alg_s)) == TR_ALG_NONE ||
	    tr_b64_decode(seed, sizeof(seed), b64) != TR_OK) {
		snprintf(err, errlen, "malformed key file '%s'", path);
		goto fail;
	}
	rc = tr_key_from_seed(alg, seed, out);
	if (rc)
		snprintf(err, errlen, "invalid key in '%s'", path);
fail:
	sodium_memzero(seed, sizeof(seed));
	if (line)
		sodium_free(line);
	fclose(f);
	return rc;
}

/* ==== Signatures ==== */

int tr_sign_bip340_aux(const tr_key *k, const uint8_t *msg, size_t len,
		       const uint8_t aux[32], uint8_t sig[TR_SIG_LEN])
{
	secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
	const secp256k1_keypair *kp;

	if (k->alg != TR_ALG_SECP256K1)
		return TR_EINVAL;
	kp = (const secp256k1_keypair *)(const void *)(k->secret + TR_SEED_LEN);
	ep.ndata = (void *)(uintptr_t)aux;
	if (!secp256k1_schnorrsig_sign_custom(secp, sig, msg, len, kp, &ep))
		return TR_EINVAL;
	return TR_OK;
}

int tr_sign(const tr_key *k, const uint8_t *msg, size_t len, uint8_t sig[TR_SIG_LEN])
{
	if (k->alg == TR_ALG_ED25519) {
		crypto_sign_ed25519_detached(sig, NULL, msg, len, k->secret + TR_SEED_LEN);
		return TR_OK;
	}
	if (k->alg == TR_ALG_SECP256K1) {
		uint8_t aux[32];
		int rc;
		randombytes_buf(aux, sizeof(aux));
		rc = tr_sign_bip340_aux(k, msg, len, aux, sig);
		sodium_memzero(aux, sizeof(aux));
		return rc;
	}
	return TR_EINVAL;
}

bool tr_pubkey_valid(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN])
{
	if (alg == TR_ALG_ED25519) {
		/* A canonical point that is not of small order. */
		return crypto_core_ed25519_is_valid_point(pub) == 1;
	}
	if (alg == TR_ALG_SECP256K1) {
		secp256k1_xonly_pubkey xpk;
		return secp256k1_xonly_pubkey_parse(secp, &xpk, pub) == 1;
	}
	return false;
}

int tr_verify(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const uint8_t *msg,
	      size_t len, const uint8_t sig[TR_SIG_LEN])
{
	if (alg == TR_ALG_ED25519) {
		return crypto_sign_ed25519_verify_detached(sig, msg, len, pub) == 0 ? TR_OK
										     : TR_EBADSIG;
	}
	if (alg == TR_ALG_SECP256K1) {
		secp256k1_xonly_pubkey xpk;
		if (!secp256k1_xonly_pubkey_parse(secp, &xpk, pub))
			return TR_EBADSIG;
		return secp256k1_schnorrsig_verify(secp, sig, msg, len, &xpk) ? TR_OK : TR_EBADSIG;
	}
	return TR_EBADSIG;
}

/* Build tag || chain_id || bytes in buf (stack when small). */
#define TAGGED_STACK 1024

static uint8_t *tagged_build(uint8_t *stackbuf, const char *tag, const uint8_t *chain_id,
			     const uint8_t *bytes, size_t len, size_t *outlen)
{
	size_t tl = strlen(tag);
	size_t total = tl + TR_HASH_LEN + len;
	uint8_t *buf = total <= TAGGED_STACK ? stackbuf : malloc(total);
	if (!buf)
		return NULL;
	memcpy(buf, tag, tl);
	memcpy(buf + tl, chain_id, TR_HASH_LEN);
	if (len)
		memcpy(buf + tl + TR_HASH_LEN, bytes, len);
	*outlen = total;
	return buf;
}

int tr_sign_tagged(const tr_key *k, const char *tag, const uint8_t chain_id[TR_HASH_LEN],
		   const uint8_t *bytes, size_t len, uint8_t sig[TR_SIG_LEN])
{
	uint8_t stackbuf[TAGGED_STACK];
	size_t total;
	uint8_t *buf = tagged_build(stackbuf, tag, chain_id, bytes, len, &total);
	int rc;
	if (!buf)
		return TR_ENOMEM;
	rc = tr_sign(k, buf, total, sig);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

int tr_verify_tagged(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const char *tag,
		     const uint8_t chain_id[TR_HASH_LEN], const uint8_t *bytes, size_t len,
		     const uint8_t sig[TR_SIG_LEN])
{
	uint8_t stackbuf[TAGGED_STACK];
	size_t total;
	uint8_t *buf = tagged_build(stackbuf, tag, chain_id, bytes, len, &total);
	int rc;
	if (!buf)
		return TR_ENOMEM;
	rc = tr_verify(alg, pub, buf, total, sig);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

void tr_vote_payload(uint8_t out[TR_VOTE_PAYLOAD_LEN], uint64_t view, uint64_t height,
		     const uint8_t hash[TR_HASH_LEN])
{
	tr_be64_put(out, view);
	tr_be64_put(out + 8, height);
	memcpy(out + 16, hash, TR_HASH_LEN);
}

/* ==== Base64 ==== */

char *tr_b64_encode(char *out, size_t outcap, const uint8_t *in, size_t len)
{
	TR_ASSERT(outcap >= TR_B64_LEN(len));
	return sodium_bin2base64(out, outcap, in, len, sodium_base64_VARIANT_ORIGINAL);
}

int tr_b64_decode(uint8_t *out, size_t outlen, const char *b64)
{
	size_t got = 0;
	const char *end = NULL;
	size_t l = strlen(b64);
	if (l != TR_B64_LEN(outlen) - 1)
		return TR_EINVAL;
	if (sodium_base642bin(out, outlen, b64, l, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != outlen || end != b64 + l)
		return TR_EINVAL;
	return TR_OK;
}
