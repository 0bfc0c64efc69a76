/*
 * common_test.c: cmocka unit tests for common/ (signatures, keys, base64,
 * Merkle trees, the consortium file, error strings and hex).
 *
 * Known-answer vectors are read at run time from $TRELLIS_SHARED/vectors
 * (default ../shared; vectors/SOURCE.md gives their origin and format) and
 * never copied here: RFC 8032, SUPERCOP sign.input and Wycheproof for
 * Ed25519, the BIP-340 CSV for Schnorr over secp256k1, the RFC 6962 table
 * for Merkle trees. Every positive answer comes with negative ones: every
 * bit of every good signature flipped, every tampered form of a proof, a
 * line or file broken in one place at a time next to an intact control.
 *
 * Every test frees what it allocates (the binary runs clean under
 * valgrind) and prints how many vectors and negative cases it checked.
 * A failed check names the vector (file and line, tcId or row) it was on.
 */
#include "common/consortium.h"
#include "common/crypto.h"
#include "common/merkle.h"
#include "common/tr.h"
#include "proto/link.pb-c.h"
#include "proto/trellis.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VECTOR_FILE_MAX (8u << 20)
#define PATH_CAP 4096
#define WHAT_CAP 96   /* "sign.input line 1024" and the like */
#define LINE_CAP 1024 /* one partner line */
#define ERR_CAP 512

/* Fail the running test with a message when cond is false. */
#define EXPECT(cond, ...) \
	do { \
		if (!(cond)) { \
			print_error(__VA_ARGS__); \
			print_error("\n"); \
			fail(); \
		} \
	} while (0)

/* The merkle functions take arrays of const hashes; C11 wants the cast. */
#define CONST_HASHES(p) ((const uint8_t(*)[TR_HASH_LEN])(p))

/* ==== Helpers: vector files, text, hex ==== */

static void vector_path(char out[PATH_CAP], const char *rel)
{
	const char *dir = getenv("TRELLIS_SHARED");
	int n = snprintf(out, PATH_CAP, "%s/vectors/%s", dir && *dir ? dir : "../shared", rel);
	assert_true(n > 0 && n < PATH_CAP);
}

/* A whole vector file, NUL-terminated; the caller frees it. */
static char *vector_read(const char *rel)
{
	char path[PATH_CAP], err[ERR_CAP] = "";
	uint8_t *buf = NULL;
	size_t len = 0;

	vector_path(path, rel);
	EXPECT(tr_read_file(path, VECTOR_FILE_MAX, &buf, &len, err, sizeof(err)) == TR_OK,
	       "%s (is TRELLIS_SHARED set?)", err);
	return (char *)buf;
}

static json_t *vector_json(const char *rel)
{
	char path[PATH_CAP];
	json_error_t jerr;
	json_t *j;

	vector_path(path, rel);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	EXPECT(j != NULL, "%s: line %d: %s (is TRELLIS_SHARED set?)", path, jerr.line, jerr.text);
	return j;
}

static const char *json_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	EXPECT(s != NULL, "vector has no string '%s'", key);
	return s;
}

static uint64_t json_uint(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	EXPECT(json_is_integer(v) && json_integer_value(v) >= 0, "vector has no count '%s'", key);
	return (uint64_t)json_integer_value(v);
}

/* The next line of a NUL-terminated text, cut in place (a trailing '\r'
 * too); NULL at the end. */
static char *next_line(char **cursor)
{
	char *s = *cursor, *nl;
	size_t l;

	if (*s == '\0')
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = s + strlen(s);
	}
	l = strlen(s);
	if (l > 0 && s[l - 1] == '\r')
		s[l - 1] = '\0';
	return s;
}

/* Cut s in place at each sep into at most max fields, the last keeping the
 * rest; empty fields count. Returns the number of fields. */
static size_t split_fields(char *s, char sep, char **fields, size_t max)
{
	size_t n = 0;
	for (;;) {
		char *c = n + 1 < max ? strchr(s, sep) : NULL;
		fields[n++] = s;
		if (!c)
			return n;
		*c = '\0';
		s = c + 1;
	}
}

/* The text after prefix and any spaces, or NULL when line does not start
 * with prefix. */
static const char *after_prefix(const char *line, const char *prefix)
{
	size_t l = strlen(prefix);
	if (strncmp(line, prefix, l) != 0)
		return NULL;
	line += l;
	while (*line == ' ')
		line++;
	return line;
}

/* Exactly n bytes of hex from a vector. */
static void unhex_exact(uint8_t *out, size_t n, const char *hex)
{
	EXPECT(tr_unhex(out, n, hex) == TR_OK, "vector: want %zu bytes of hex, got '%.80s'", n, hex);
}

/* Hex of any length into a malloc'd buffer (never NULL, even when empty);
 * *len gets the byte count. */
static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *out = malloc(n ? n : 1);
	assert_non_null(out);
	unhex_exact(out, n, hex);
	*len = n;
	return out;
}

/* Deterministic filler bytes. */
static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131u + seed * 7u + 1u);
}

/* ==== Helpers: signatures ==== */

/* Known answer: the key from seed has public key pub; signing msg gives
 * exactly sig (BIP-340 with aux, Ed25519 when aux is NULL); sig verifies. */
static void expect_known_signature(tr_alg alg, const uint8_t seed[TR_SEED_LEN],
				   const uint8_t pub[TR_PUBKEY_LEN], const uint8_t *aux,
				   const uint8_t *msg, size_t len, const uint8_t sig[TR_SIG_LEN],
				   const char *what)
{
	tr_key *k = NULL;
	uint8_t got[TR_SIG_LEN];
	int rc, same_pub;

	EXPECT(tr_key_from_seed(alg, seed, &k) == TR_OK, "%s: key from seed refused", what);
	same_pub = memcmp(tr_key_public(k), pub, TR_PUBKEY_LEN) == 0;
	rc = aux ? tr_sign_bip340_aux(k, msg, len, aux, got) : tr_sign(k, msg, len, got);
	tr_key_free(k);
	EXPECT(same_pub, "%s: public key from seed differs", what);
	EXPECT(rc == TR_OK, "%s: signing failed: %s", what, tr_strerror(rc));
	EXPECT(memcmp(got, sig, TR_SIG_LEN) == 0, "%s: signature differs", what);
	EXPECT(tr_verify(alg, pub, msg, len, sig) == TR_OK, "%s: good signature rejected", what);
}

/* Flip each of the 512 bits of a good signature in turn: every flip must
 * be rejected. Returns the number of flips checked. */
static size_t expect_sig_flips_rejected(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN],
					const uint8_t *msg, size_t len,
					const uint8_t sig[TR_SIG_LEN], const char *what)
{
	uint8_t bad[TR_SIG_LEN];
	for (size_t bit = 0; bit < 8 * TR_SIG_LEN; bit++) {
		memcpy(bad, sig, TR_SIG_LEN);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		EXPECT(tr_verify(alg, pub, msg, len, bad) == TR_EBADSIG,
		       "%s: signature with bit %zu flipped verifies", what, bit);
	}
	return 8 * TR_SIG_LEN;
}

/* A good signature must not verify for msg with one bit flipped (for the
 * empty message: with one byte added). */
static void expect_msg_flip_rejected(tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN],
				     const uint8_t *msg, size_t len,
				     const uint8_t sig[TR_SIG_LEN], const char *what)
{
	uint8_t *m = malloc(len + 1);
	size_t mlen = len ? len : 1;
	int rc;

	assert_non_null(m);
	m[0] = 0;
	if (len) {
		memcpy(m, msg, len);
		m[len / 2] ^= 0x01;
	}
	rc = tr_verify(alg, pub, m, mlen, sig);
	free(m);
	EXPECT(rc == TR_EBADSIG, "%s: signature verifies for a changed message", what);
}

/* ==== Ed25519 ==== */

/* RFC 8032 7.1: blocks of TEST / SECRET KEY / PUBLIC KEY / MESSAGE /
 * SIGNATURE lines. */
static void test_ed25519_rfc8032(void **state)
{
	enum { SEEN_SEED = 1, SEEN_PUB = 2, SEEN_MSG = 4 };
	char *text = vector_read("ed25519/rfc8032.txt"), *cur = text, *line;
	char what[WHAT_CAP] = "RFC 8032 (no TEST line)";
	uint8_t seed[TR_SEED_LEN], pub[TR_PUBKEY_LEN], sig[TR_SIG_LEN], *msg = NULL;
	size_t mlen = 0, tests = 0, flips = 0;
	unsigned seen = 0;
	const char *v;

	(void)state;
	while ((line = next_line(&cur))) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((v = after_prefix(line, "TEST"))) {
			snprintf(what, sizeof(what), "RFC 8032 TEST %s", v);
			seen = 0;
		} else if ((v = after_prefix(line, "SECRET KEY:"))) {
			unhex_exact(seed, sizeof(seed), v);
			seen |= SEEN_SEED;
		} else if ((v = after_prefix(line, "PUBLIC KEY:"))) {
			unhex_exact(pub, sizeof(pub), v);
			seen |= SEEN_PUB;
		} else if ((v = after_prefix(line, "MESSAGE:"))) {
			free(msg);
			msg = unhex_alloc(v, &mlen);
			seen |= SEEN_MSG;
		} else if ((v = after_prefix(line, "SIGNATURE:"))) {
			EXPECT(seen == (SEEN_SEED | SEEN_PUB | SEEN_MSG), "%s: incomplete block", what);
			unhex_exact(sig, sizeof(sig), v);
			expect_known_signature(TR_ALG_ED25519, seed, pub, NULL, msg, mlen, sig, what);
			flips += expect_sig_flips_rejected(TR_ALG_ED25519, pub, msg, mlen, sig, what);
			expect_msg_flip_rejected(TR_ALG_ED25519, pub, msg, mlen, sig, what);
			tests++;
			seen = 0;
		} else {
			fail_msg("rfc8032.txt: unexpected line '%.40s'", line);
		}
	}
	free(msg);
	free(text);
	assert_int_equal(tests, 5);
	print_message("ed25519 rfc8032: %zu vectors, %zu signature bit flips rejected\n", tests,
		      flips);
}

/* SUPERCOP sign.input: "seed||pk:pk:msg:sig||msg:" per line; line i signs
 * i-1 bytes. */
static void test_ed25519_supercop(void **state)
{
	char *text = vector_read("ed25519/sign.input"), *cur = text, *line;
	size_t lines = 0;

	(void)state;
	while ((line = next_line(&cur))) {
		char *f[5], what[WHAT_CAP];
		uint8_t seed[TR_SEED_LEN], pub[TR_PUBKEY_LEN], pub2[TR_PUBKEY_LEN], sig[TR_SIG_LEN];
		uint8_t *msg;
		size_t mlen;

		lines++;
		snprintf(what, sizeof(what), "sign.input line %zu", lines);
		EXPECT(split_fields(line, ':', f, 5) == 5 && f[4][0] == '\0', "%s: want 4 fields",
		       what);
		EXPECT(strlen(f[0]) == 4 * TR_SEED_LEN && strlen(f[3]) == 2 * TR_SIG_LEN + strlen(f[2]) &&
			       strcmp(f[3] + 2 * TR_SIG_LEN, f[2]) == 0,
		       "%s: malformed", what);
		unhex_exact(pub2, sizeof(pub2), f[0] + 2 * TR_SEED_LEN);
		f[0][2 * TR_SEED_LEN] = '\0';
		f[3][2 * TR_SIG_LEN] = '\0';
		unhex_exact(seed, sizeof(seed), f[0]);
		unhex_exact(pub, sizeof(pub), f[1]);
		unhex_exact(sig, sizeof(sig), f[3]);
		EXPECT(memcmp(pub, pub2, sizeof(pub)) == 0, "%s: the two public keys differ", what);
		msg = unhex_alloc(f[2], &mlen);
		EXPECT(mlen == lines - 1, "%s: message of %zu bytes", what, mlen);
		expect_known_signature(TR_ALG_ED25519, seed, pub, NULL, msg, mlen, sig, what);
		free(msg);
	}
	free(text);
	assert_int_equal(lines, 1024);
	print_message("ed25519 sign.input: %zu vectors (key, exact signature, verify)\n", lines);
}

/* Wycheproof EdDSA: "valid" verifies, "invalid" does not. A signature of
 * the wrong length never reaches tr_verify (it reads exactly 64 bytes). */
static void test_ed25519_wycheproof(void **state)
{
	json_t *root = vector_json("ed25519/wycheproof_eddsa_test.json");
	json_t *groups = json_object_get(root, "testGroups"), *g;
	size_t gi, valid = 0, invalid = 0, wrong_len = 0;

	(void)state;
	assert_true(json_is_array(groups));
	json_array_foreach(groups, gi, g)
	{
		json_t *tests = json_object_get(g, "tests"), *t;
		uint8_t pub[TR_PUBKEY_LEN];
		size_t ti;

		unhex_exact(pub, sizeof(pub), json_str(json_object_get(g, "publicKey"), "pk"));
		assert_true(json_is_array(tests));
		json_array_foreach(tests, ti, t)
		{
			const char *result = json_str(t, "result");
			uint64_t tc = json_uint(t, "tcId");
			size_t mlen, slen;
			uint8_t *msg = unhex_alloc(json_str(t, "msg"), &mlen);
			uint8_t *sig = unhex_alloc(json_str(t, "sig"), &slen);
			int ok = slen == TR_SIG_LEN &&
				 tr_verify(TR_ALG_ED25519, pub, msg, mlen, sig) == TR_OK;

			free(msg);
			free(sig);
			if (strcmp(result, "valid") == 0) {
				EXPECT(ok, "wycheproof tcId %" PRIu64 ": valid signature rejected", tc);
				valid++;
			} else if (strcmp(result, "invalid") == 0) {
				EXPECT(!ok, "wycheproof tcId %" PRIu64 ": invalid signature accepted", tc);
				invalid++;
				wrong_len += slen != TR_SIG_LEN;
			} else {
				fail_msg("wycheproof tcId %" PRIu64 ": unknown result '%s'", tc, result);
			}
		}
	}
	assert_int_equal(valid + invalid, json_uint(root, "numberOfTests"));
	json_decref(root);
	assert_true(valid > 0 && invalid > 0);
	print_message("ed25519 wycheproof: %zu valid accepted, %zu invalid rejected (%zu of the wrong "
		      "length)\n",
		      valid, invalid, wrong_len);
}

/* ==== BIP-340 ==== */

/* test-vectors.csv: index,secret key,public key,aux_rand,message,signature,
 * verification result,comment. */
static void test_bip340(void **state)
{
	enum { F_INDEX, F_SK, F_PK, F_AUX, F_MSG, F_SIG, F_RESULT, F_COMMENT, F_COUNT };
	char *text = vector_read("bip340/test-vectors.csv"), *cur = text, *line;
	size_t rows = 0, signed_rows = 0, valid = 0, invalid = 0, bad_keys = 0, flips = 0;

	(void)state;
	line = next_line(&cur);
	assert_non_null(line);
	EXPECT(strncmp(line, "index,", 6) == 0, "test-vectors.csv: no header row");
	while ((line = next_line(&cur))) {
		char *f[F_COUNT], what[WHAT_CAP];
		uint8_t pub[TR_PUBKEY_LEN], sig[TR_SIG_LEN], *msg;
		size_t mlen;
		int want, got;

		EXPECT(split_fields(line, ',', f, F_COUNT) == F_COUNT, "test-vectors.csv: short row");
		snprintf(what, sizeof(what), "bip340 row %s", f[F_INDEX]);
		EXPECT(strcmp(f[F_RESULT], "TRUE") == 0 || strcmp(f[F_RESULT], "FALSE") == 0,
		       "%s: result '%s'", what, f[F_RESULT]);
		want = strcmp(f[F_RESULT], "TRUE") == 0;
		unhex_exact(pub, sizeof(pub), f[F_PK]);
		unhex_exact(sig, sizeof(sig), f[F_SIG]);
		msg = unhex_alloc(f[F_MSG], &mlen);
		if (f[F_SK][0] != '\0') {
			uint8_t sk[TR_SEED_LEN], aux[32];
			unhex_exact(sk, sizeof(sk), f[F_SK]);
			unhex_exact(aux, sizeof(aux), f[F_AUX]);
			expect_known_signature(TR_ALG_SECP256K1, sk, pub, aux, msg, mlen, sig, what);
			signed_rows++;
		}
		if (!tr_pubkey_valid(TR_ALG_SECP256K1, pub)) {
			EXPECT(!want, "%s: valid row with an invalid public key", what);
			bad_keys++;
		}
		got = tr_verify(TR_ALG_SECP256K1, pub, msg, mlen, sig) == TR_OK;
		EXPECT(got == want, "%s: verify says %d, want %d (%s)", what, got, want, f[F_COMMENT]);
		if (want) {
			flips += expect_sig_flips_rejected(TR_ALG_SECP256K1, pub, msg, mlen, sig, what);
			expect_msg_flip_rejected(TR_ALG_SECP256K1, pub, msg, mlen, sig, what);
			valid++;
		} else {
			invalid++;
		}
		free(msg);
		rows++;
	}
	free(text);
	assert_int_equal(rows, 19);
	assert_true(signed_rows > 0 && valid > 0 && invalid > 0 && bad_keys > 0);
	print_message("bip340: %zu rows (%zu signed exactly, %zu true, %zu false, %zu with an invalid "
		      "key), %zu signature bit flips rejected\n",
		      rows, signed_rows, valid, invalid, bad_keys, flips);
}

/* ==== Tagged signatures and the vote payload ==== */

/* Sign len payload bytes under TR_TAG_COMMIT with a fresh key, then check
 * what must and must not verify. */
static void tagged_round_trip(tr_alg alg, size_t len)
{
	const char *tag = TR_TAG_COMMIT;
	size_t tl = strlen(tag);
	uint8_t chain[TR_HASH_LEN], other_chain[TR_HASH_LEN], sig[TR_SIG_LEN];
	uint8_t *payload = malloc(len ? len : 1), *whole = malloc(tl + TR_HASH_LEN + len);
	tr_alg other_alg = alg == TR_ALG_ED25519 ? TR_ALG_SECP256K1 : TR_ALG_ED25519;
	const uint8_t *pub;
	tr_key *k = NULL;

	assert_non_null(payload);
	assert_non_null(whole);
	fill_pattern(payload, len, (unsigned)len);
	tr_sha256(chain, "a consortium file", 17);
	memcpy(other_chain, chain, sizeof(chain));
	other_chain[TR_HASH_LEN - 1] ^= 0x80;
	assert_int_equal(tr_key_generate(alg, &k), TR_OK);
	assert_int_equal(tr_key_alg(k), alg);
	pub = tr_key_public(k);

	assert_int_equal(tr_sign_tagged(k, tag, chain, payload, len, sig), TR_OK);
	assert_int_equal(tr_verify_tagged(alg, pub, tag, chain, payload, len, sig), TR_OK);
	/* The signature covers exactly tag || chain_id || payload. */
	memcpy(whole, tag, tl);
	memcpy(whole + tl, chain, TR_HASH_LEN);
	if (len)
		memcpy(whole + tl + TR_HASH_LEN, payload, len);
	assert_int_equal(tr_verify(alg, pub, whole, tl + TR_HASH_LEN + len, sig), TR_OK);

	assert_int_equal(tr_verify_tagged(alg, pub, TR_TAG_EVENT, chain, payload, len, sig),
			 TR_EBADSIG);
	assert_int_equal(tr_verify_tagged(alg, pub, TR_TAG_PBFT, chain, payload, len, sig),
			 TR_EBADSIG);
	assert_int_equal(tr_verify_tagged(alg, pub, tag, other_chain, payload, len, sig),
			 TR_EBADSIG);
	assert_int_equal(tr_verify_tagged(other_alg, pub, tag, chain, payload, len, sig),
			 TR_EBADSIG);
	if (len) {
		/* The first, middle and last byte, one at a time. */
		size_t at[] = {0, len / 2, len - 1};
		for (size_t i = 0; i < TR_ARRAY_LEN(at); i++) {
			payload[at[i]] ^= 0x01;
			EXPECT(tr_verify_tagged(alg, pub, tag, chain, payload, len, sig) == TR_EBADSIG,
			       "%s tagged, %zu bytes: byte %zu flipped verifies", tr_alg_name(alg), len,
			       at[i]);
			payload[at[i]] ^= 0x01;
		}
		/* One byte short. */
		assert_int_equal(tr_verify_tagged(alg, pub, tag, chain, payload, len - 1, sig),
				 TR_EBADSIG);
	}
	tr_key_free(k);
	free(whole);
	free(payload);
}

static void test_tagged_signatures(void **state)
{
	/* tr_sign_tagged builds tag || chain_id || payload on the stack up to
	 * 1024 bytes and on the heap beyond: the lengths straddle both. With
	 * the 17-byte commit tag and the 32-byte chain id, 975 fills the stack
	 * buffer exactly. */
	static const size_t lens[] = {0, 1, TR_VOTE_PAYLOAD_LEN, 975, 976, 1025, 4096};
	static const tr_alg algs[] = {TR_ALG_ED25519, TR_ALG_SECP256K1};

	(void)state;
	for (size_t a = 0; a < TR_ARRAY_LEN(algs); a++)
		for (size_t i = 0; i < TR_ARRAY_LEN(lens); i++)
			tagged_round_trip(algs[a], lens[i]);
}

static void test_vote_payload(void **state)
{
	uint8_t hash[TR_HASH_LEN], out[TR_VOTE_PAYLOAD_LEN], want[TR_VOTE_PAYLOAD_LEN];
	static const uint8_t be[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				       0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8};

	(void)state;
	fill_pattern(hash, sizeof(hash), 9);
	memcpy(want, be, sizeof(be));
	memcpy(want + sizeof(be), hash, sizeof(hash));
	tr_vote_payload(out, 0x0102030405060708u, 0xf1f2f3f4f5f6f7f8u, hash);
	assert_memory_equal(out, want, sizeof(want));
	assert_true(tr_be64_get(out) == 0x0102030405060708u);
	assert_true(tr_be64_get(out + 8) == 0xf1f2f3f4f5f6f7f8u);
}

/* ==== Merkle trees (RFC 6962) ==== */

#define MERKLE_VEC_LEAVES 8 /* the vector tree's size */

/* Hex hashes of a JSON array into out; returns how many. */
static size_t json_hashes(json_t *arr, uint8_t (*out)[TR_HASH_LEN], size_t max)
{
	size_t i;
	json_t *h;

	EXPECT(json_is_array(arr) && json_array_size(arr) <= max, "vector: want at most %zu hashes",
	       max);
	json_array_foreach(arr, i, h)
	{
		EXPECT(json_is_string(h), "vector: hash %zu is not a string", i);
		unhex_exact(out[i], TR_HASH_LEN, json_string_value(h));
	}
	return json_array_size(arr);
}

/* The audit path length of leaf idx in a tree of n leaves (a shape only:
 * the hashes do not matter). */
static size_t merkle_path_len(uint64_t idx, uint64_t n)
{
	static const uint8_t zeros[2 * MERKLE_VEC_LEAVES][TR_HASH_LEN];
	uint8_t path[TR_MERKLE_DEPTH_MAX][TR_HASH_LEN];
	size_t len = 0;

	assert_true(idx < n && n <= TR_ARRAY_LEN(zeros));
	assert_int_equal(tr_merkle_path(zeros, (size_t)n, (size_t)idx, path, &len), TR_OK);
	return len;
}

/* Every tampered form of a good inclusion proof must be refused. path has
 * room for TR_MERKLE_DEPTH_MAX hashes: path[plen] is scratch, the rest is
 * restored before returning.
 * Returns the number of tampered proofs checked. */
static size_t expect_proof_tampering_rejected(const uint8_t leaf[TR_HASH_LEN], uint64_t idx,
					      uint64_t n, uint8_t (*path)[TR_HASH_LEN], size_t plen,
					      const uint8_t root[TR_HASH_LEN], const char *what)
{
	uint8_t bad_leaf[TR_HASH_LEN];
	size_t checks = 0;

#define REFUSED(leaf_, idx_, n_, plen_) \
	(checks++, tr_merkle_verify((leaf_), (idx_), (n_), CONST_HASHES(path), (plen_), root) == \
			   TR_EVERIFY)

	/* Every other index, up to and including the first out of range. */
	for (uint64_t j = 0; j <= n; j++)
		if (j != idx)
			EXPECT(REFUSED(leaf, j, n, plen), "%s: accepted at index %" PRIu64, what, j);
	/* Wrong sizes. A size whose tree gives this leaf a path of the same
	 * shape legitimately verifies (RFC 9162 2.1.3.2 checks no more), so
	 * only sizes with another path length (or too small) must fail. */
	for (uint64_t m = 0; m <= 2 * MERKLE_VEC_LEAVES; m++)
		if (m != n && (m <= idx || merkle_path_len(idx, m) != plen))
			EXPECT(REFUSED(leaf, idx, m, plen), "%s: accepted with size %" PRIu64, what, m);
	EXPECT(REFUSED(leaf, idx, UINT64_MAX, plen), "%s: accepted with size 2^64-1", what);
	/* One byte of one path element flipped, for every byte. */
	for (size_t i = 0; i < plen; i++)
		for (size_t b = 0; b < TR_HASH_LEN; b++) {
			path[i][b] ^= 0x01;
			EXPECT(REFUSED(leaf, idx, n, plen), "%s: accepted with path[%zu][%zu] flipped",
			       what, i, b);
			path[i][b] ^= 0x01;
		}
	/* Truncated, and one element too many. */
	if (plen)
		EXPECT(REFUSED(leaf, idx, n, plen - 1), "%s: accepted truncated", what);
	memcpy(path[plen], leaf, TR_HASH_LEN);
	EXPECT(REFUSED(leaf, idx, n, plen + 1), "%s: accepted with an extra element", what);
	/* Another leaf. */
	memcpy(bad_leaf, leaf, TR_HASH_LEN);
	bad_leaf[0] ^= 0x01;
	EXPECT(REFUSED(bad_leaf, idx, n, plen), "%s: accepted another leaf", what);
#undef REFUSED
	return checks;
}

static void test_merkle_rfc6962(void **state)
{
	json_t *root = vector_json("merkle/rfc6962.json"), *v;
	uint8_t leaves[MERKLE_VEC_LEAVES][TR_HASH_LEN], want[MERKLE_VEC_LEAVES][TR_HASH_LEN];
	size_t nleaves = 0, i, nroots = 0, nproofs = 0, tampered = 0;

	(void)state;
	json_array_foreach(json_object_get(root, "leaves"), i, v)
	{
		size_t len;
		uint8_t *data;
		EXPECT(json_is_string(v) && i < MERKLE_VEC_LEAVES, "rfc6962.json: bad leaf %zu", i);
		data = unhex_alloc(json_string_value(v), &len);
		tr_merkle_leaf(leaves[i], data, len);
		free(data);
		nleaves++;
	}
	assert_int_equal(nleaves, MERKLE_VEC_LEAVES);
	assert_int_equal(json_hashes(json_object_get(root, "leaf_hashes"), want, MERKLE_VEC_LEAVES),
			 nleaves);
	for (i = 0; i < nleaves; i++)
		EXPECT(memcmp(leaves[i], want[i], TR_HASH_LEN) == 0, "rfc6962: leaf hash %zu differs", i);

	json_array_foreach(json_object_get(root, "roots"), i, v)
	{
		uint64_t size = json_uint(v, "tree_size");
		uint8_t got[TR_HASH_LEN], exp[TR_HASH_LEN];
		EXPECT(size >= 1 && size <= nleaves, "rfc6962: root of size %" PRIu64, size);
		unhex_exact(exp, sizeof(exp), json_str(v, "root"));
		assert_int_equal(tr_merkle_root(CONST_HASHES(leaves), (size_t)size, got), TR_OK);
		EXPECT(memcmp(got, exp, sizeof(exp)) == 0, "rfc6962: root of size %" PRIu64 " differs",
		       size);
		nroots++;
	}

	json_array_foreach(json_object_get(root, "inclusion_proofs"), i, v)
	{
		uint64_t idx = json_uint(v, "leaf_index"), size = json_uint(v, "tree_size");
		uint8_t leaf[TR_HASH_LEN], top[TR_HASH_LEN];
		uint8_t path[TR_MERKLE_DEPTH_MAX][TR_HASH_LEN], got[TR_MERKLE_DEPTH_MAX][TR_HASH_LEN];
		size_t plen, glen = 0;
		char what[WHAT_CAP];

		snprintf(what, sizeof(what), "rfc6962 proof of leaf %" PRIu64 " in %" PRIu64, idx,
			 size);
		EXPECT(idx < size && size <= nleaves, "%s: out of range", what);
		unhex_exact(leaf, sizeof(leaf), json_str(v, "leaf_hash"));
		unhex_exact(top, sizeof(top), json_str(v, "root"));
		EXPECT(memcmp(leaf, leaves[idx], TR_HASH_LEN) == 0, "%s: leaf hash differs", what);
		plen = json_hashes(json_object_get(v, "audit_path"), path, TR_MERKLE_DEPTH_MAX - 1);

		assert_int_equal(tr_merkle_path(CONST_HASHES(leaves), (size_t)size, (size_t)idx, got,
						&glen),
				 TR_OK);
		EXPECT(glen == plen && memcmp(got, path, plen * TR_HASH_LEN) == 0,
		       "%s: tr_merkle_path differs from the audit path", what);
		EXPECT(tr_merkle_verify(leaf, idx, size, CONST_HASHES(path), plen, top) == TR_OK,
		       "%s: good proof rejected", what);
		tampered += expect_proof_tampering_rejected(leaf, idx, size, path, plen, top, what);
		nproofs++;
	}
	json_decref(root);
	assert_int_equal(nroots, MERKLE_VEC_LEAVES);
	assert_int_equal(nproofs, 36);
	print_message("merkle rfc6962: %zu leaf hashes, %zu roots, %zu inclusion proofs, %zu "
		      "tampered proofs rejected\n",
		      nleaves, nroots, nproofs, tampered);
}

/* FIPS 180-4 known answers and libsodium's SHA-256, on both paths of
 * tr_sha256 (the CPU's SHA instructions where present, libsodium's). */
static void sha256_against_sodium(void)
{
	static const struct {
		const char *msg;
		const char *hex;
	} kat[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
	};
	static uint8_t buf[1100];
	uint8_t want[TR_HASH_LEN], got[TR_HASH_LEN];
	tr_sha256_ctx c;

	/* no bytes at all, from a NULL pointer (UBSan: memcpy must not see it) */
	unhex_exact(want, sizeof(want), kat[0].hex);
	tr_sha256(got, NULL, 0);
	assert_memory_equal(got, want, sizeof(want));
	tr_sha256_init(&c);
	tr_sha256_update(&c, "ab", 2);
	tr_sha256_update(&c, NULL, 0);
	tr_sha256_update(&c, "c", 1);
	tr_sha256_final(&c, got);
	unhex_exact(want, sizeof(want), kat[1].hex);
	assert_memory_equal(got, want, sizeof(want));
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		unhex_exact(want, sizeof(want), kat[i].hex);
		tr_sha256(got, kat[i].msg, strlen(kat[i].msg));
		assert_memory_equal(got, want, sizeof(want));
	}
	/* one million 'a', fed in pieces of 1,000 */
	unhex_exact(want, sizeof(want),
		    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	memset(buf, 'a', 1000);
	tr_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		tr_sha256_update(&c, buf, 1000);
	tr_sha256_final(&c, got);
	assert_memory_equal(got, want, sizeof(want));

	randombytes_buf(buf, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len++) {
		crypto_hash_sha256(want, buf, len);
		tr_sha256(got, buf, len);
		assert_memory_equal(got, want, sizeof(want));
		/* the same bytes in two updates split at every point near a block edge,
		 * and one byte at a time for short inputs */
		for (size_t cut = len > 130 ? len - 130 : 0; cut <= len; cut += 7) {
			tr_sha256_init(&c);
			tr_sha256_update(&c, buf, cut);
			tr_sha256_update(&c, buf + cut, len - cut);
			tr_sha256_final(&c, got);
			assert_memory_equal(got, want, sizeof(want));
		}
		if (len < 200) {
			tr_sha256_init(&c);
			for (size_t i = 0; i < len; i++)
				tr_sha256_update(&c, buf + i, 1);
			tr_sha256_final(&c, got);
			assert_memory_equal(got, want, sizeof(want));
		}
	}
}

static void test_sha256(void **state)
{
	(void)state;
	if (!tr_sha256_accelerated())
		print_message("# no SHA instructions on this CPU (or under valgrind): "
			      "libsodium's path only\n");
	sha256_against_sodium();
	tr_sha256_force_portable(true);
	assert_false(tr_sha256_accelerated());
	sha256_against_sodium();
	tr_sha256_force_portable(false);
}

static void test_merkle_edges(void **state)
{
	/* SHA-256 of the empty string. */
	static const char empty_hex[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	uint8_t want[TR_HASH_LEN], got[TR_HASH_LEN], leaf[TR_HASH_LEN];
	uint8_t path[TR_MERKLE_DEPTH_MAX][TR_HASH_LEN];
	size_t plen = 0;

	(void)state;
	unhex_exact(want, sizeof(want), empty_hex);
	tr_sha256(got, "", 0);
	assert_memory_equal(got, want, sizeof(want));
	memset(got, 0, sizeof(got));
	assert_int_equal(tr_merkle_root(NULL, 0, got), TR_OK);
	assert_memory_equal(got, want, sizeof(want));

	tr_merkle_leaf(leaf, (const uint8_t *)"x", 1);
	assert_int_equal(tr_merkle_path(CONST_HASHES(&leaf), 1, 1, path, &plen), TR_EINVAL);
	assert_int_equal(tr_merkle_path(CONST_HASHES(&leaf), 0, 0, path, &plen), TR_EINVAL);
	assert_int_equal(tr_merkle_verify(leaf, 0, 0, CONST_HASHES(path), 0, leaf), TR_EVERIFY);
	/* One leaf: the root is the leaf hash, the path empty. */
	assert_int_equal(tr_merkle_root(CONST_HASHES(&leaf), 1, got), TR_OK);
	assert_memory_equal(got, leaf, sizeof(leaf));
	assert_int_equal(tr_merkle_verify(leaf, 0, 1, CONST_HASHES(path), 0, leaf), TR_OK);
	assert_int_equal(tr_merkle_verify(leaf, 0, 1, CONST_HASHES(path), TR_MERKLE_DEPTH_MAX + 1,
					  leaf),
			 TR_EVERIFY);
}

/* ==== Key files ==== */

static void temp_dir(char out[PATH_CAP])
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(out, PATH_CAP, "%s/trellis-common-test-XXXXXX", t && *t ? t : "/tmp");
	assert_true(n > 0 && n < PATH_CAP);
	assert_non_null(mkdtemp(out));
}

/* dir/name into out. */
static void join_path(char out[PATH_CAP], const char *dir, const char *name)
{
	int n = snprintf(out, PATH_CAP, "%s/%s", dir, name);
	assert_true(n > 0 && n < PATH_CAP);
}

static void write_text(const char *path, const char *text)
{
	char err[ERR_CAP] = "";
	EXPECT(tr_write_file(path, text, strlen(text), 0600, err, sizeof(err)) == TR_OK, "%s", err);
}

static void key_file_round_trip(const char *dir, tr_alg alg)
{
	static const unsigned open_modes[] = {0644, 0640, 0604, 0660};
	static const uint8_t msg[] = "key file round trip";
	char path[PATH_CAP], err[ERR_CAP] = "";
	tr_key *k = NULL, *back = NULL;
	uint8_t sig[TR_SIG_LEN];
	struct stat st;

	join_path(path, dir, tr_alg_name(alg));
	assert_int_equal(tr_key_generate(alg, &k), TR_OK);
	EXPECT(tr_key_save(k, path, err, sizeof(err)) == TR_OK, "%s", err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	EXPECT(tr_key_load(path, &back, err, sizeof(err)) == TR_OK, "%s", err);
	assert_int_equal(tr_key_alg(back), alg);
	assert_memory_equal(tr_key_public(back), tr_key_public(k), TR_PUBKEY_LEN);
	assert_int_equal(tr_sign(back, msg, sizeof(msg), sig), TR_OK);
	assert_int_equal(tr_verify(alg, tr_key_public(k), msg, sizeof(msg), sig), TR_OK);
	tr_key_free(back);
	tr_key_free(k);

	for (size_t i = 0; i < TR_ARRAY_LEN(open_modes); i++) {
		back = NULL;
		err[0] = '\0';
		assert_int_equal(chmod(path, open_modes[i]), 0);
		EXPECT(tr_key_load(path, &back, err, sizeof(err)) == TR_EPERM,
		       "key file with mode %03o loaded", open_modes[i]);
		assert_null(back);
		assert_non_null(strstr(err, path));
	}
	assert_int_equal(unlink(path), 0);
}

static void key_file_garbled(const char *dir)
{
	uint8_t bytes[TR_SEED_LEN];
	char good_b64[TR_B64_LEN(TR_SEED_LEN)], zero_b64[TR_B64_LEN(TR_SEED_LEN)];
	char ff_b64[TR_B64_LEN(TR_SEED_LEN)], short_b64[TR_B64_LEN(TR_SEED_LEN - 1)];
	char good[128], secp_zero[128], secp_ff[128], wrong_len[128], no_magic[128], rsa[128];
	char bad_char[128], too_long[400], path[PATH_CAP], err[ERR_CAP];
	tr_key *k = NULL;

	fill_pattern(bytes, sizeof(bytes), 3);
	tr_b64_encode(good_b64, sizeof(good_b64), bytes, sizeof(bytes));
	tr_b64_encode(short_b64, sizeof(short_b64), bytes, sizeof(bytes) - 1);
	memset(bytes, 0, sizeof(bytes));
	tr_b64_encode(zero_b64, sizeof(zero_b64), bytes, sizeof(bytes));
	memset(bytes, 0xff, sizeof(bytes));
	tr_b64_encode(ff_b64, sizeof(ff_b64), bytes, sizeof(bytes));
	snprintf(good, sizeof(good), "trellis-key-v1 ed25519 %s\n", good_b64);
	snprintf(secp_zero, sizeof(secp_zero), "trellis-key-v1 secp256k1 %s\n", zero_b64);
	snprintf(secp_ff, sizeof(secp_ff), "trellis-key-v1 secp256k1 %s\n", ff_b64);
	snprintf(wrong_len, sizeof(wrong_len), "trellis-key-v1 ed25519 %s\n", short_b64);
	snprintf(no_magic, sizeof(no_magic), "trellis-key-v2 ed25519 %s\n", good_b64);
	snprintf(rsa, sizeof(rsa), "trellis-key-v1 rsa %s\n", good_b64);
	snprintf(bad_char, sizeof(bad_char), "trellis-key-v1 ed25519 %s\n", good_b64);
	bad_char[strlen("trellis-key-v1 ed25519 ") + 5] = '!';
	snprintf(too_long, sizeof(too_long), "trellis-key-v1 ed25519 %s %0250d\n", good_b64, 0);

	const char *const garbled[] = {
		"",
		"\n",
		"garbage\n",
		"trellis-key-v1\n",
		"trellis-key-v1 ed25519\n",
		"trellis-key-v1 ed25519 \n",
		no_magic,
		rsa,
		wrong_len,
		bad_char,
		secp_zero, /* 0 is not a secp256k1 secret key */
		secp_ff,   /* nor is anything >= the group order */
		too_long,
	};

	join_path(path, dir, "garbled.key");
	/* The control: the intact file loads. */
	write_text(path, good);
	EXPECT(tr_key_load(path, &k, err, sizeof(err)) == TR_OK, "%s", err);
	tr_key_free(k);
	for (size_t i = 0; i < TR_ARRAY_LEN(garbled); i++) {
		k = NULL;
		err[0] = '\0';
		write_text(path, garbled[i]);
		EXPECT(tr_key_load(path, &k, err, sizeof(err)) == TR_EINVAL,
		       "garbled key file %zu loaded: '%s'", i, garbled[i]);
		assert_null(k);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(unlink(path), 0);
	k = NULL;
	assert_int_equal(tr_key_load(path, &k, err, sizeof(err)), TR_EIO);
	assert_null(k);
}

static void test_key_files(void **state)
{
	char dir[PATH_CAP];

	(void)state;
	temp_dir(dir);
	key_file_round_trip(dir, TR_ALG_ED25519);
	key_file_round_trip(dir, TR_ALG_SECP256K1);
	key_file_garbled(dir);
	assert_int_equal(rmdir(dir), 0); /* nothing left behind */
}

static void test_key_algs(void **state)
{
	uint8_t seed[TR_SEED_LEN];
	tr_key *k = NULL;

	(void)state;
	assert_string_equal(tr_alg_name(TR_ALG_ED25519), "ed25519");
	assert_string_equal(tr_alg_name(TR_ALG_SECP256K1), "secp256k1");
	assert_int_equal(tr_alg_parse("ed25519"), TR_ALG_ED25519);
	assert_int_equal(tr_alg_parse("secp256k1"), TR_ALG_SECP256K1);
	assert_int_equal(tr_alg_parse("Ed25519"), TR_ALG_NONE);
	assert_int_equal(tr_alg_parse(""), TR_ALG_NONE);
	fill_pattern(seed, sizeof(seed), 5);
	assert_int_equal(tr_key_from_seed(TR_ALG_NONE, seed, &k), TR_EINVAL);
	assert_null(k);
	/* An Ed25519 key cannot make a BIP-340 signature. */
	assert_int_equal(tr_key_from_seed(TR_ALG_ED25519, seed, &k), TR_OK);
	{
		uint8_t aux[32] = {0}, sig[TR_SIG_LEN];
		assert_int_equal(tr_sign_bip340_aux(k, seed, sizeof(seed), aux, sig), TR_EINVAL);
	}
	tr_key_free(k);
	tr_key_free(NULL);
}

/* ==== Base64 ==== */

static void test_base64(void **state)
{
	/* RFC 4648 section 10. */
	static const char *const rfc4648[][2] = {
		{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char garbage[] = "!-_ \n.*\\\"=";
	uint8_t in[64], out[64];
	char b64[TR_B64_LEN(64)], bad[TR_B64_LEN(64) + 1];
	size_t rejected = 0;

	(void)state;
	for (size_t i = 0; i < TR_ARRAY_LEN(rfc4648); i++) {
		size_t l = strlen(rfc4648[i][0]);
		tr_b64_encode(b64, sizeof(b64), (const uint8_t *)rfc4648[i][0], l);
		assert_string_equal(b64, rfc4648[i][1]);
		assert_int_equal(tr_b64_decode(out, l, rfc4648[i][1]), TR_OK);
		assert_memory_equal(out, rfc4648[i][0], l);
	}
	for (size_t l = 0; l <= sizeof(in); l++) {
		fill_pattern(in, l, (unsigned)l);
		tr_b64_encode(b64, sizeof(b64), in, l);
		assert_int_equal(strlen(b64), TR_B64_LEN(l) - 1);
		memset(out, 0, sizeof(out));
		assert_int_equal(tr_b64_decode(out, l, b64), TR_OK);
		assert_memory_equal(out, in, l);
	}

	/* Wrong lengths, around a good 32-byte value (44 characters). */
	fill_pattern(in, TR_PUBKEY_LEN, 11);
	tr_b64_encode(b64, sizeof(b64), in, TR_PUBKEY_LEN);
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN - 1, b64), TR_EINVAL);
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN + 1, b64), TR_EINVAL);
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN, ""), TR_EINVAL);
	memcpy(bad, b64, sizeof(b64));
	bad[strlen(bad) - 1] = '\0'; /* padding dropped */
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN, bad), TR_EINVAL);
	snprintf(bad, sizeof(bad), "%sA", b64);
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN, bad), TR_EINVAL);
	rejected += 5;

	/* One character outside the alphabet, at every position. */
	for (size_t pos = 0; pos < strlen(b64); pos++)
		for (const char *g = garbage; *g; g++) {
			if (*g == '=' && pos == strlen(b64) - 1)
				continue; /* that is the padding itself */
			memcpy(bad, b64, sizeof(b64));
			bad[pos] = *g;
			EXPECT(tr_b64_decode(out, TR_PUBKEY_LEN, bad) == TR_EINVAL,
			       "base64 with '%c' at %zu accepted", *g, pos);
			rejected++;
		}
	/* Non-zero bits after the last byte: the second-to-last character of
	 * a 32-byte value carries 4 bits of data and 2 that must be zero. */
	memcpy(bad, b64, sizeof(b64));
	{
		size_t at = strlen(bad) - 2, v = (size_t)(strchr(alphabet, bad[at]) - alphabet);
		assert_int_equal(v & 3, 0);
		bad[at] = alphabet[v | 1];
	}
	assert_int_equal(tr_b64_decode(out, TR_PUBKEY_LEN, bad), TR_EINVAL);
	rejected++;
	print_message("base64: %zu round trips, %zu malformed inputs rejected\n",
		      TR_ARRAY_LEN(rfc4648) + sizeof(in) + 1, rejected);
}

/* ==== Consortium: partner lines ==== */

/* Copy tmpl to out with its first "KEY" replaced by key. */
static void fill_key(char *out, size_t cap, const char *tmpl, const char *key)
{
	const char *at = strstr(tmpl, "KEY");
	int n = at ? snprintf(out, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, key, at + 3)
		   : snprintf(out, cap, "%s", tmpl);
	assert_true(n >= 0 && (size_t)n < cap);
}

/* The base64 public key of a fresh key pair (pub may be NULL). */
static void fresh_key_b64(tr_alg alg, char out[TR_B64_LEN(TR_PUBKEY_LEN)], uint8_t *pub)
{
	tr_key *k = NULL;
	assert_int_equal(tr_key_generate(alg, &k), TR_OK);
	tr_b64_encode(out, TR_B64_LEN(TR_PUBKEY_LEN), tr_key_public(k), TR_PUBKEY_LEN);
	if (pub)
		memcpy(pub, tr_key_public(k), TR_PUBKEY_LEN);
	tr_key_free(k);
}

static void b64_of_hex(char out[TR_B64_LEN(TR_PUBKEY_LEN)], const char *hex)
{
	uint8_t raw[TR_PUBKEY_LEN];
	unhex_exact(raw, sizeof(raw), hex);
	tr_b64_encode(out, TR_B64_LEN(TR_PUBKEY_LEN), raw, sizeof(raw));
}

static void expect_partner_equal(const tr_partner *a, const tr_partner *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->alg, b->alg);
	assert_memory_equal(a->key, b->key, TR_PUBKEY_LEN);
	assert_string_equal(a->address, b->address);
	assert_int_equal(a->nlocations, b->nlocations);
	for (size_t i = 0; i < a->nlocations; i++)
		assert_string_equal(a->locations[i], b->locations[i]);
}

static void test_partner_line_good(void **state)
{
	static const tr_alg algs[] = {TR_ALG_ED25519, TR_ALG_SECP256K1};
	char loc1[] = "urn:epc:id:sgln:0614141.00777.0", loc2[] = "lot-2";
	char *locs[] = {loc1, loc2};
	char line[LINE_CAP], err[ERR_CAP] = "";

	(void)state;
	for (size_t a = 0; a < TR_ARRAY_LEN(algs); a++)
		for (size_t nloc = 0; nloc <= TR_ARRAY_LEN(locs); nloc++) {
			tr_partner p, back;
			tr_key *k = NULL;

			memset(&p, 0, sizeof(p));
			assert_int_equal(tr_key_generate(algs[a], &k), TR_OK);
			strcpy(p.name, "farm_01-abcdefghijklmnopqrstuvwx"); /* 32 chars */
			p.alg = algs[a];
			memcpy(p.key, tr_key_public(k), TR_PUBKEY_LEN);
			tr_key_free(k);
			strcpy(p.address, nloc == 1 ? "[::1]:65535" : "farm.example.org:7001");
			p.nlocations = nloc;
			p.locations = locs;

			assert_int_equal(tr_partner_line_format(&p, line, sizeof(line)), TR_OK);
			EXPECT(tr_partner_line_parse(line, &back, err, sizeof(err)) == TR_OK,
			       "good line '%s' refused: %s", line, err);
			expect_partner_equal(&p, &back);
			tr_partner_fini(&back);
			assert_null(back.locations);
			/* Too small a buffer is an error, not a cut line. */
			assert_int_equal(tr_partner_line_format(&p, line, 20), TR_ETOOBIG);
		}
}

static void test_partner_line_bad(void **state)
{
	char ed[TR_B64_LEN(TR_PUBKEY_LEN)], secp[TR_B64_LEN(TR_PUBKEY_LEN)];
	char identity[TR_B64_LEN(TR_PUBKEY_LEN)], order4[TR_B64_LEN(TR_PUBKEY_LEN)];
	char x_ff[TR_B64_LEN(TR_PUBKEY_LEN)], x_p[TR_B64_LEN(TR_PUBKEY_LEN)];
	char noncanon[TR_B64_LEN(TR_PUBKEY_LEN)], short_key[TR_B64_LEN(TR_PUBKEY_LEN)];
	char bang[TR_B64_LEN(TR_PUBKEY_LEN)];
	char line[LINE_CAP], err[ERR_CAP];
	uint8_t raw[TR_PUBKEY_LEN - 1];

	(void)state;
	fresh_key_b64(TR_ALG_ED25519, ed, NULL);
	fresh_key_b64(TR_ALG_SECP256K1, secp, NULL);
	memcpy(bang, ed, sizeof(bang));
	bang[5] = '!';
	/* Ed25519 points of small order: the identity (y = 1) and (sqrt(-1), 0);
	 * and y = p, a non-canonical encoding. */
	b64_of_hex(identity, "0100000000000000000000000000000000000000000000000000000000000000");
	b64_of_hex(order4, "0000000000000000000000000000000000000000000000000000000000000000");
	b64_of_hex(noncanon, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	/* secp256k1 x coordinates >= p. */
	b64_of_hex(x_ff, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	b64_of_hex(x_p, "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f");
	fill_pattern(raw, sizeof(raw), 1);
	tr_b64_encode(short_key, sizeof(short_key), raw, sizeof(raw));

	const struct {
		const char *why, *tmpl, *key;
	} cases[] = {
		{"the control", "farm ed25519:KEY farm.example:7001 lot-1", ed},
		{"the secp256k1 control", "farm secp256k1:KEY [::1]:7001", secp},
		{"uppercase name", "Farm ed25519:KEY h:1", ed},
		{"33-character name", "abcdefghijklmnopqrstuvwxyz0123456 ed25519:KEY h:1", ed},
		{"name with a dot", "farm.1 ed25519:KEY h:1", ed},
		{"unknown alg", "farm rsa:KEY h:1", ed},
		{"alg without key", "farm ed25519 h:1", ed},
		{"key without alg", "farm KEY h:1", ed},
		{"key with the wrong alg name case", "farm ED25519:KEY h:1", ed},
		{"base64 with a bad character", "farm ed25519:KEY h:1", bang},
		{"base64 cut short", "farm ed25519:KEY h:1", "AAAA"},
		{"a 31-byte key", "farm ed25519:KEY h:1", short_key},
		{"ed25519 identity point", "farm ed25519:KEY h:1", identity},
		{"ed25519 point of order 4", "farm ed25519:KEY h:1", order4},
		{"ed25519 non-canonical point", "farm ed25519:KEY h:1", noncanon},
		{"secp256k1 x = 2^256-1", "farm secp256k1:KEY h:1", x_ff},
		{"secp256k1 x = p", "farm secp256k1:KEY h:1", x_p},
		{"address without port", "farm ed25519:KEY farm.example", ed},
		{"empty port", "farm ed25519:KEY farm.example:", ed},
		{"empty host", "farm ed25519:KEY :7001", ed},
		{"port 0", "farm ed25519:KEY farm.example:0", ed},
		{"port 70000", "farm ed25519:KEY farm.example:70000", ed},
		{"port with a sign", "farm ed25519:KEY farm.example:+80", ed},
		{"port with junk", "farm ed25519:KEY farm.example:80x", ed},
		{"bad host character", "farm ed25519:KEY far_m.example:80", ed},
		{"empty ipv6 host", "farm ed25519:KEY []:80", ed},
		{"too many fields", "farm ed25519:KEY farm.example:7001 lot-1 extra", ed},
		{"too few fields", "farm ed25519:KEY", ed},
		{"empty line", "", ed},
		{"location listed twice", "farm ed25519:KEY h:1 lot-1,lot-1", ed},
		{"empty location", "farm ed25519:KEY h:1 lot-1,,lot-2", ed},
	};

	for (size_t i = 0; i < TR_ARRAY_LEN(cases); i++) {
		tr_partner p;
		int rc;

		fill_key(line, sizeof(line), cases[i].tmpl, cases[i].key);
		err[0] = '\0';
		rc = tr_partner_line_parse(line, &p, err, sizeof(err));
		if (i < 2) {
			EXPECT(rc == TR_OK, "%s refused: '%s': %s", cases[i].why, line, err);
			tr_partner_fini(&p);
			continue;
		}
		EXPECT(rc != TR_OK, "%s accepted: '%s'", cases[i].why, line);
		EXPECT(err[0] != '\0', "%s: no error text", cases[i].why);
		assert_null(p.locations);
	}
	print_message("partner lines: %zu malformed lines rejected\n", TR_ARRAY_LEN(cases) - 2);
}

/* ==== Consortium: create and parse ==== */

#define MEMBERS_MAX 7

/* NAME ALG:KEY ADDRESS [LOCATIONS] for the first n members, each with a
 * fresh key. */
static void member_lines(char buf[][LINE_CAP], const char **lines, size_t n)
{
	static const struct {
		const char *name;
		tr_alg alg;
		const char *addr, *locs;
	} members[MEMBERS_MAX] = {
		{"farm", TR_ALG_ED25519, "farm.example:7001", "lot-1,lot-2"},
		{"mill", TR_ALG_SECP256K1, "10.0.0.2:7002", NULL},
		{"port", TR_ALG_ED25519, "[::1]:7003", "berth-9"},
		{"shop", TR_ALG_SECP256K1, "shop.example:7004", NULL},
		{"dc-1", TR_ALG_ED25519, "dc1.example:7005", "dock-1"},
		{"dc_2", TR_ALG_ED25519, "dc2.example:7006", NULL},
		{"lab", TR_ALG_SECP256K1, "lab.example:7007", "bench-3,bench-4"},
	};
	assert_true(n <= MEMBERS_MAX);
	for (size_t i = 0; i < n; i++) {
		char b64[TR_B64_LEN(TR_PUBKEY_LEN)];
		int len;
		fresh_key_b64(members[i].alg, b64, NULL);
		len = snprintf(buf[i], LINE_CAP, "%s %s:%s %s%s%s", members[i].name,
			       tr_alg_name(members[i].alg), b64, members[i].addr,
			       members[i].locs ? " " : "", members[i].locs ? members[i].locs : "");
		assert_true(len > 0 && len < LINE_CAP);
		lines[i] = buf[i];
	}
}

/* tr_consortium_create from lines must succeed; *json is malloc'd. */
static void create_ok(const char **lines, size_t n, char **json)
{
	char err[ERR_CAP] = "";
	*json = NULL;
	EXPECT(tr_consortium_create(lines, n, json, err, sizeof(err)) == TR_OK, "create: %s", err);
	assert_non_null(*json);
}

static void test_consortium_create(void **state)
{
	static const struct {
		size_t n;
		uint32_t f;
	} sizes[] = {{1, 0}, {3, 0}, {4, 1}, {7, 2}};
	char buf[MEMBERS_MAX][LINE_CAP], err[ERR_CAP] = "";
	const char *lines[MEMBERS_MAX];

	(void)state;
	member_lines(buf, lines, MEMBERS_MAX);
	for (size_t s = 0; s < TR_ARRAY_LEN(sizes); s++) {
		size_t n = sizes[s].n;
		tr_consortium *c = NULL;
		uint8_t id[TR_HASH_LEN];
		tr_params d = tr_params_default();
		char *json;

		create_ok(lines, n, &json);
		EXPECT(tr_consortium_parse((const uint8_t *)json, strlen(json), &c, err,
					   sizeof(err)) == TR_OK,
		       "created file refused: %s", err);
		assert_int_equal(c->n, n);
		assert_int_equal(c->f, sizes[s].f);
		/* ceil((n + f + 1) / 2): two quorums share f + 1 partners */
		assert_int_equal(tr_consortium_quorum(c), (n + sizes[s].f + 2) / 2);
		assert_true(2 * tr_consortium_quorum(c) >= n + sizes[s].f + 1);
		assert_true(tr_consortium_quorum(c) <= n - sizes[s].f);
		if (n % 3 == 1)
			assert_int_equal(tr_consortium_quorum(c), 2 * sizes[s].f + 1);
		tr_sha256(id, json, strlen(json));
		assert_memory_equal(c->chain_id, id, TR_HASH_LEN);
		assert_int_equal(c->len, strlen(json));
		assert_memory_equal(c->bytes, json, c->len);
		assert_memory_equal(&c->params, &d, sizeof(d));
		for (size_t i = 0; i < n; i++) {
			tr_partner p;
			EXPECT(tr_partner_line_parse(lines[i], &p, err, sizeof(err)) == TR_OK, "%s", err);
			expect_partner_equal(&c->partners[i], &p);
			assert_int_equal(tr_consortium_find_name(c, p.name), (int)i);
			assert_int_equal(tr_consortium_find_key(c, p.key), (int)i);
			tr_partner_fini(&p);
		}
		assert_int_equal(tr_consortium_find_name(c, "nobody"), -1);
		tr_consortium_free(c);
		free(json);
	}
}

static void test_consortium_create_refused(void **state)
{
	char buf[2][LINE_CAP], b64[TR_B64_LEN(TR_PUBKEY_LEN)], k0[TR_B64_LEN(TR_PUBKEY_LEN)];
	char same_name[LINE_CAP], same_key[LINE_CAP], same_loc[LINE_CAP], bad_line[LINE_CAP];
	char same_addr[LINE_CAP];
	const char *lines[2], *key0;
	char err[ERR_CAP];

	(void)state;
	member_lines(buf, lines, 2);
	/* Line 1 is "farm ed25519:KEY ..."; take its key. */
	key0 = strchr(lines[0], ':') + 1;
	snprintf(k0, sizeof(k0), "%.*s", (int)(sizeof(k0) - 1), key0);
	fresh_key_b64(TR_ALG_ED25519, b64, NULL);
	fill_key(same_name, sizeof(same_name), "farm ed25519:KEY other.example:7009", b64);
	fill_key(same_key, sizeof(same_key), "other ed25519:KEY other.example:7009", k0);
	fill_key(same_loc, sizeof(same_loc), "other ed25519:KEY other.example:7009 x,lot-2", b64);
	fill_key(bad_line, sizeof(bad_line), "other ed25519:KEY other.example:0", b64);
	/* two nodes cannot listen on one address: the first dialled itself */
	fill_key(same_addr, sizeof(same_addr), "other ed25519:KEY farm.example:7001", b64);
	const char *const second[] = {same_name, same_key, same_loc, bad_line, same_addr};

	{ /* The control: line 1 with a good second line. */
		char *json;
		create_ok(lines, 2, &json);
		free(json);
	}
	for (size_t i = 0; i < TR_ARRAY_LEN(second); i++) {
		const char *pair[2] = {lines[0], second[i]};
		char *json = NULL;
		err[0] = '\0';
		EXPECT(tr_consortium_create(pair, 2, &json, err, sizeof(err)) != TR_OK,
		       "create accepted '%s' after '%s'", second[i], lines[0]);
		assert_null(json);
		EXPECT(strstr(err, "partner line 2") != NULL, "error does not name line 2: '%s'", err);
	}
	{
		char *json = NULL;
		assert_int_not_equal(tr_consortium_create(lines, 0, &json, err, sizeof(err)), TR_OK);
		assert_null(json);
	}
}

/* Parse must refuse text; err must say something and out stay unset. */
static void expect_parse_refused(const char *text, size_t len, const char *why)
{
	tr_consortium *c = NULL;
	char err[ERR_CAP] = "";
	int rc = tr_consortium_parse((const uint8_t *)text, len, &c, err, sizeof(err));
	EXPECT(rc != TR_OK, "consortium file with %s accepted", why);
	EXPECT(c == NULL, "%s: out written on failure", why);
	EXPECT(err[0] != '\0', "%s: no error text", why);
}

enum { AT_ROOT = -2, AT_PARAMS = -1 }; /* else a partner index */

/* One change to one object of a consortium file. */
struct mutation {
	const char *why;
	int at;
	const char *key;
	const char *value; /* JSON text; NULL deletes the key */
};

/* Apply nm changes to the consortium file base and expect it refused. */
static void expect_mutated_refused(const char *base, const struct mutation *m, size_t nm)
{
	json_error_t jerr;
	json_t *root = json_loads(base, 0, &jerr);
	char *text;

	assert_non_null(root);
	for (size_t i = 0; i < nm; i++) {
		json_t *obj = m[i].at == AT_ROOT     ? root
			      : m[i].at == AT_PARAMS ? json_object_get(root, "params")
						     : json_array_get(json_object_get(root, "partners"),
								      (size_t)m[i].at);
		assert_non_null(obj);
		if (m[i].value) {
			json_t *v = json_loads(m[i].value, JSON_DECODE_ANY, &jerr);
			EXPECT(v != NULL, "%s: bad JSON '%s'", m[i].why, m[i].value);
			assert_int_equal(json_object_set_new(obj, m[i].key, v), 0);
		} else {
			assert_int_equal(json_object_del(obj, m[i].key), 0);
		}
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	assert_non_null(text);
	expect_parse_refused(text, strlen(text), m[0].why);
	free(text);
}

static void test_consortium_parse_refused(void **state)
{
	char buf[4][LINE_CAP], dup_key[64], dup_text[LINE_CAP * 8];
	const char *lines[4];
	char *json;
	json_t *base;
	json_error_t jerr;
	tr_consortium *c = NULL;
	char err[ERR_CAP] = "";

	(void)state;
	member_lines(buf, lines, 4);
	create_ok(lines, 4, &json);
	/* The control: the same dump of the untouched file parses. */
	{
		char *again;
		base = json_loads(json, 0, &jerr);
		assert_non_null(base);
		again = json_dumps(base, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		assert_non_null(again);
		EXPECT(tr_consortium_parse((const uint8_t *)again, strlen(again), &c, err,
					   sizeof(err)) == TR_OK,
		       "control refused: %s", err);
		tr_consortium_free(c);
		free(again);
	}
	/* partners[2] is Ed25519 like partners[0]: give it partners[0]'s key. */
	snprintf(dup_key, sizeof(dup_key), "\"%s\"",
		 json_string_value(
			 json_object_get(json_array_get(json_object_get(base, "partners"), 0), "key")));
	json_decref(base);

	const struct mutation muts[] = {
		{"an unknown top-level key", AT_ROOT, "extra", "1"},
		{"a missing version", AT_ROOT, "version", NULL},
		{"version 2", AT_ROOT, "version", "2"},
		{"f = 0 for n = 4", AT_ROOT, "f", "0"},
		{"f = 2 for n = 4", AT_ROOT, "f", "2"},
		{"f as a string", AT_ROOT, "f", "\"1\""},
		{"n = 3 for 4 partners", AT_ROOT, "n", "3"},
		{"n = 5 for 4 partners", AT_ROOT, "n", "5"},
		{"n = 0", AT_ROOT, "n", "0"},
		{"a missing n", AT_ROOT, "n", NULL},
		{"partners not an array", AT_ROOT, "partners", "{}"},
		{"missing params", AT_ROOT, "params", NULL},
		{"params not an object", AT_ROOT, "params", "[]"},
		{"an unknown params key", AT_PARAMS, "extra", "1"},
		{"a missing params value", AT_PARAMS, "block_max_wait_ms", NULL},
		{"block_max_records = 0", AT_PARAMS, "block_max_records", "0"},
		{"block_max_records = 100001", AT_PARAMS, "block_max_records", "100001"},
		{"block_max_bytes = 1023", AT_PARAMS, "block_max_bytes", "1023"},
		{"block_max_wait_ms = -1", AT_PARAMS, "block_max_wait_ms", "-1"},
		{"request_timeout_ms = 2^32", AT_PARAMS, "request_timeout_ms", "4294967296"},
		{"view_change_timeout_ms = 9", AT_PARAMS, "view_change_timeout_ms", "9"},
		{"a fractional params value", AT_PARAMS, "block_max_records", "1.5"},
		{"record_max_bytes > block_max_bytes", AT_PARAMS, "record_max_bytes", "8388608"},
		{"an unknown partner key", 0, "extra", "1"},
		{"an uppercase partner name", 0, "name", "\"Farm\""},
		{"a duplicate partner name", 1, "name", "\"farm\""},
		{"a duplicate partner key", 2, "key", dup_key},
		{"an unknown alg", 0, "alg", "\"rsa\""},
		{"a malformed key", 0, "key", "\"AAAA\""},
		{"a missing key", 0, "key", NULL},
		{"an address without port", 0, "address", "\"farm.example\""},
		{"port 70000", 0, "address", "\"farm.example:70000\""},
		{"locations not an array", 0, "locations", "\"lot-1\""},
		{"a location listed twice", 0, "locations", "[\"lot-1\", \"lot-1\"]"},
		{"a location with a space", 0, "locations", "[\"lot 1\"]"},
		{"a location owned by two partners", 1, "locations", "[\"lot-2\"]"},
		{"a duplicate partner address", 1, "address", "\"farm.example:7001\""},
	};
	/* n and f agree with each other, not with the partners array. */
	const struct mutation n3f0[] = {
		{"n = 3, f = 0 for 4 partners", AT_ROOT, "n", "3"},
		{"n = 3, f = 0 for 4 partners", AT_ROOT, "f", "0"},
	};

	for (size_t i = 0; i < TR_ARRAY_LEN(muts); i++)
		expect_mutated_refused(json, &muts[i], 1);
	expect_mutated_refused(json, n3f0, TR_ARRAY_LEN(n3f0));

	/* A duplicate JSON key with the same value: only the duplicate is wrong. */
	assert_true(json[0] == '{');
	snprintf(dup_text, sizeof(dup_text), "{\"f\": 1,%s", json + 1);
	expect_parse_refused(dup_text, strlen(dup_text), "a duplicate JSON key");
	expect_parse_refused(json, strlen(json) / 2, "a truncated file");
	expect_parse_refused("[]", 2, "a JSON array");
	expect_parse_refused("", 0, "an empty file");
	free(json);
	print_message("consortium parse: %zu broken files rejected\n", TR_ARRAY_LEN(muts) + 5);
}

/* ==== Errors and hex ==== */

static void test_strerror(void **state)
{
	const char *seen[-TR_ELAST];

	(void)state;
	for (int code = TR_OK; code > TR_ELAST; code--) {
		const char *s = tr_strerror(code);
		EXPECT(s != NULL && s[0] != '\0', "no text for code %d", code);
		EXPECT(strcmp(s, "unknown error") != 0, "code %d is an unknown error", code);
		for (int j = 0; j < -code; j++)
			EXPECT(strcmp(seen[j], s) != 0, "codes %d and %d share '%s'", -j, code, s);
		seen[-code] = s;
	}
	/* Outside the range: still text, never NULL. */
	assert_string_equal(tr_strerror(TR_ELAST), "unknown error");
	assert_string_equal(tr_strerror(1), "unknown error");
	assert_string_equal(tr_strerror(INT_MIN), "unknown error");
	assert_string_equal(tr_strerror(INT_MAX), "unknown error");

	assert_int_equal(tr_exit_code(TR_OK), TR_EXIT_OK);
	assert_int_equal(tr_exit_code(TR_EINVAL), TR_EXIT_INPUT);
	assert_int_equal(tr_exit_code(TR_ENOTFOUND), TR_EXIT_NOTFOUND);
	assert_int_equal(tr_exit_code(TR_EUNREACH), TR_EXIT_UNREACH);
	assert_int_equal(tr_exit_code(TR_EBADSIG), TR_EXIT_VERIFY);
	assert_int_equal(tr_exit_code(TR_EVERIFY), TR_EXIT_VERIFY);
}

/* tr_pb_count_field against hand-made wire bytes and protobuf-c's own
 * packing; malformed input, unknown fields (at the top and inside the
 * counted field) are -1. */
static void test_pb_count_field(void **state)
{
	static const uint8_t ok[] = {0x08, 0xac, 0x02,             /* 1: varint 300 */
				     0x12, 0x03, 'a', 'b', 'c',      /* 2: "abc" */
				     0x12, 0x00,                     /* 2: "" */
				     0x19, 1, 2, 3, 4, 5, 6, 7, 8,   /* 3: fixed64 */
				     0x25, 1, 2, 3, 4};              /* 4: fixed32 */
	static const struct {
		uint8_t b[16];
		size_t n;
	} bad[] = {
		{{0x12, 0x05, 'a'}, 3},                     /* length past the end */
		{{0x0b}, 1},                                /* wire type 3 */
		{{0x0c}, 1},                                /* wire type 4 */
		{{0x0e, 0}, 2},                             /* wire type 6 */
		{{0x02, 0x00}, 2},                          /* field 0 */
		{{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12},
		{{0x08}, 1},                                /* varint missing */
		{{0x08, 0x80}, 2},                          /* varint truncated */
		{{0x19, 1, 2, 3}, 4},                       /* fixed64 truncated */
		{{0x25, 1}, 2},                             /* fixed32 truncated */
		{{0x80}, 1},                                /* tag truncated */
		{{0x30, 0x01}, 2},                          /* field 6: not allowed */
		{{0x80, 0x08, 0x01}, 3},                    /* field 128 */
	};
	const uint64_t all = TR_PB_FIELD(1) | TR_PB_FIELD(2) | TR_PB_FIELD(3) | TR_PB_FIELD(4) |
			     TR_PB_FIELD(5);
	const uint64_t frame = TR_PB_FIELD(1) | TR_PB_FIELD(2) | TR_PB_FIELD(3);
	Link__Batch b = LINK__BATCH__INIT;
	Link__Frame f[3], *fp[3];
	uint8_t buf[256];
	size_t n;
	(void)state;
	assert_int_equal(tr_pb_count_field(ok, 0, 2, all, 0), 0);
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 1, all, 0), 1);
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 2, all, 0), 2);
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 3, all, 0), 1);
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 4, all, 0), 1);
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 5, all, 0), 0);
	/* field 4 present but not allowed */
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 2, all & ~TR_PB_FIELD(4), 0), -1);
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++)
		assert_int_equal(tr_pb_count_field(bad[i].b, bad[i].n, 2, all, 0), -1);
	for (size_t i = 1; i < sizeof(ok); i++) /* every truncation inside a field */
		if (i != 3 && i != 8 && i != 10 && i != 19)
			assert_int_equal(tr_pb_count_field(ok, i, 2, all, 0), -1);
	for (int i = 0; i < 3; i++) {
		link__frame__init(&f[i]);
		f[i].version = 1;
		f[i].kind = (uint32_t)i + 1;
		f[i].payload.data = (uint8_t *)(uintptr_t)"xy";
		f[i].payload.len = (size_t)i;
		fp[i] = &f[i];
	}
	b.received = (uint64_t)1 << 40;
	b.hold = true;
	b.n_frames = 3;
	b.frames = fp;
	n = link__batch__get_packed_size(&b);
	assert_true(n + 2 <= sizeof(buf));
	link__batch__pack(&b, buf);
	assert_int_equal(tr_pb_count_field(buf, n, 2, frame, frame), 3);
	assert_int_equal(tr_pb_count_field(buf, n, 1, frame, 0), 1);
	/* the "abc" of ok is not a message whose fields are 1-3 */
	assert_int_equal(tr_pb_count_field(ok, sizeof(ok), 2, all, frame), -1);
	/* a frame with an unknown field 7 inside a batch */
	{
		uint8_t evil[64];
		size_t fl = link__frame__get_packed_size(&f[2]);
		assert_true(fl + 4 <= sizeof(evil) && fl + 2 < 128);
		evil[0] = 0x12;
		evil[1] = (uint8_t)(fl + 2);
		link__frame__pack(&f[2], evil + 2);
		evil[2 + fl] = 0x38; /* field 7, varint 1 */
		evil[3 + fl] = 0x01;
		assert_int_equal(tr_pb_count_field(evil, fl + 4, 2, frame, 0), 1);
		assert_int_equal(tr_pb_count_field(evil, fl + 4, 2, frame, frame), -1);
		evil[2 + fl] = 0x18; /* field 3 instead: allowed */
		assert_int_equal(tr_pb_count_field(evil, fl + 4, 2, frame, frame), 1);
	}
}

/* tr_pb_varint_field: a Record's signer as protobuf-c packs it (0 is left
 * out, and read as 0), the last occurrence winning as protobuf-c's unpack
 * does, and malformed bytes or the field with another wire type refused. */
static void test_pb_varint_field(void **state)
{
	Trellis__Record r = TRELLIS__RECORD__INIT;
	uint8_t buf[128], sig[64] = {0}, ev[5] = {'e', 'v', 'e', 'n', 't'};
	uint64_t v = 99;
	size_t n;
	(void)state;
	r.event.data = ev;
	r.event.len = sizeof(ev);
	r.signature.data = sig;
	r.signature.len = sizeof(sig);
	r.alg = TRELLIS__ALG__ALG_ED25519;
	for (uint32_t s = 0; s < 300; s += 37) {
		r.signer = s;
		n = trellis__record__get_packed_size(&r);
		assert_true(n <= sizeof(buf));
		trellis__record__pack(&r, buf);
		assert_true(tr_pb_varint_field(buf, n, 2, &v));
		assert_int_equal(v, s);
		assert_true(tr_pb_varint_field(buf, n, 3, &v));
		assert_int_equal(v, TRELLIS__ALG__ALG_ED25519);
		assert_true(tr_pb_varint_field(buf, n, 9, &v)); /* absent */
		assert_int_equal(v, 0);
		for (size_t i = 1; i < n; i++) { /* a cut anywhere inside a field */
			uint64_t w = 7;
			bool ok = tr_pb_varint_field(buf, i, 2, &w);
			Trellis__Record *u = trellis__record__unpack(NULL, i, buf);
			assert_int_equal(ok, u != NULL); /* as protobuf-c's unpack decides */
			if (u) {
				assert_int_equal(w, u->signer);
				trellis__record__free_unpacked(u, NULL);
			}
		}
	}
	{
		static const uint8_t twice[] = {0x10, 0x05, 0x0a, 0x01, 'x', 0x10, 0x83, 0x01};
		static const uint8_t wrong_type[] = {0x12, 0x01, 0x05}; /* field 2 as bytes */
		static const uint8_t bad_type[] = {0x0b};
		static const uint8_t field0[] = {0x00, 0x01};
		Trellis__Record *u = trellis__record__unpack(NULL, sizeof(twice), twice);
		assert_non_null(u);
		assert_true(tr_pb_varint_field(twice, sizeof(twice), 2, &v));
		assert_int_equal(v, 131);
		assert_int_equal(v, u->signer);
		trellis__record__free_unpacked(u, NULL);
		assert_false(tr_pb_varint_field(wrong_type, sizeof(wrong_type), 2, &v));
		assert_true(tr_pb_varint_field(wrong_type, sizeof(wrong_type), 3, &v));
		assert_false(tr_pb_varint_field(bad_type, sizeof(bad_type), 2, &v));
		assert_false(tr_pb_varint_field(field0, sizeof(field0), 2, &v));
	}
}

static void test_hex(void **state)
{
	static const char *const bad[] = {"0", "abc", "0g", "g0", "0x", " 1", "1 ", "-1", "+1",
					  "zz", "0G", "G0", "\xc3\xa9", "0000", ""};
	uint8_t all[256], back[256], one[2];
	char hex[2 * sizeof(all) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	assert_ptr_equal(tr_hex(hex, all, sizeof(all)), hex);
	assert_int_equal(strlen(hex), 2 * sizeof(all));
	assert_memory_equal(hex, "000102", 6);
	assert_string_equal(hex + 2 * 0xfa, "fafbfcfdfeff");
	assert_int_equal(tr_unhex(back, sizeof(back), hex), TR_OK);
	assert_memory_equal(back, all, sizeof(all));
	assert_string_equal(tr_hex(hex, all, 0), "");
	assert_int_equal(tr_unhex(back, 0, ""), TR_OK);
	/* Uppercase is read too. */
	assert_int_equal(tr_unhex(one, 2, "aBCd"), TR_OK);
	assert_true(one[0] == 0xab && one[1] == 0xcd);

	/* One byte wanted: odd lengths, wrong lengths and non-hex refused. */
	for (size_t i = 0; i < TR_ARRAY_LEN(bad); i++)
		EXPECT(tr_unhex(one, 1, bad[i]) == TR_EINVAL, "tr_unhex accepted '%s'", bad[i]);
	assert_int_equal(tr_unhex(one, 2, "abc"), TR_EINVAL);
	/* A bad digit at the very end of a long string. */
	hex[2 * sizeof(all) - 1] = 'x';
	assert_int_equal(tr_unhex(back, sizeof(back), hex), TR_EINVAL);
}

/* ==== Main ==== */

static int setup(void **state)
{
	(void)state;
	return tr_crypto_init() == TR_OK ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_supercop),
		cmocka_unit_test(test_ed25519_wycheproof),
		cmocka_unit_test(test_bip340),
		cmocka_unit_test(test_tagged_signatures),
		cmocka_unit_test(test_vote_payload),
		cmocka_unit_test(test_merkle_rfc6962),
		cmocka_unit_test(test_merkle_edges),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_key_algs),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_partner_line_good),
		cmocka_unit_test(test_partner_line_bad),
		cmocka_unit_test(test_consortium_create),
		cmocka_unit_test(test_consortium_create_refused),
		cmocka_unit_test(test_consortium_parse_refused),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_pb_count_field),
		cmocka_unit_test(test_pb_varint_field),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
