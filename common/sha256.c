/*
 * sha256.c: SHA-256 (FIPS 180-4) for every hash the ledger computes.
 *
 * libsodium's SHA-256 is portable C (about 190 MB/s here, ../shared/FACTS.md)
 * and SHA-256 was a sixth of a node's CPU under load: every record is
 * hashed for its event id, its Merkle leaf and its GS1 event hash on every
 * node. Where the CPU has the SHA extensions (Intel SHA-NI, also on AMD
 * since Zen), the compression function runs on them, several times faster;
 * elsewhere, and whenever the instructions are missing, libsodium does the
 * whole hash. Only the block function is ours: buffering and padding are
 * the few lines below, and tests/unit/common_test.c checks both paths
 * against FIPS 180-4 known answers and against libsodium for every length
 * from 0 to 1,100 bytes and for split updates.
 */
#include "common/crypto.h"

#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define TR_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#ifdef TR_SHA_NI
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

/* Compress n 64-byte blocks into state (a..h as FIPS 180-4 numbers them).
 * The SHA-NI round instruction keeps the state as ABEF / CDGH halves. */
__attribute__((target("sha,ssse3,sse4.1"))) static void blocks_ni(uint32_t state[8],
								 const uint8_t *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&state[0]);
	__m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)&state[4]);
	__m128i s0;

	tmp = _mm_shuffle_epi32(tmp, 0xB1);  /* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1B);    /* EFGH */
	s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
	s1 = _mm_blend_epi16(s1, tmp, 0xF0); /* CDGH */

	for (; n; n--, p += 64) {
		__m128i w[16], m;
		const __m128i abef = s0, cdgh = s1;
		for (int i = 0; i < 16; i++) {
			if (i < 4) {
				w[i] = _mm_shuffle_epi8(
				    _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)),
				    bswap);
			} else {
				/* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at once */
				m = _mm_sha256msg1_epu32(w[i - 4], w[i - 3]);
				m = _mm_add_epi32(m, _mm_alignr_epi8(w[i - 1], w[i - 2], 4));
				w[i] = _mm_sha256msg2_epu32(m, w[i - 1]);
			}
			m = _mm_add_epi32(w[i],
					  _mm_loadu_si128((const __m128i *)(const void *)&K[4 * i]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, m);
			m = _mm_shuffle_epi32(m, 0x0E);
			s0 = _mm_sha256rnds2_epu32(s0, s1, m);
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}

	tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
	s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
	s1 = _mm_alignr_epi8(s1, tmp, 8);    /* HGFE */
	_mm_storeu_si128((__m128i *)(void *)&state[0], s0);
	_mm_storeu_si128((__m128i *)(void *)&state[4], s1);
}

static int detect(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}
#endif

/* -1 unknown, 0 libsodium, 1 SHA-NI. Racing first calls store the same value. */
static atomic_int accel = -1;
static atomic_bool forced_portable;

bool tr_sha256_accelerated(void)
{
#ifdef TR_SHA_NI
	int a = atomic_load_explicit(&accel, memory_order_relaxed);
	if (a < 0) {
		a = detect();
		atomic_store_explicit(&accel, a, memory_order_relaxed);
	}
	return a == 1 && !atomic_load_explicit(&forced_portable, memory_order_relaxed);
#else
	return false;
#endif
}

void tr_sha256_force_portable(bool on)
{
	atomic_store(&forced_portable, on);
}

void tr_sha256_init(tr_sha256_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->accel = tr_sha256_accelerated();
	if (!c->accel) {
		crypto_hash_sha256_init(&c->u.sodium);
		return;
	}
	memcpy(c->u.ni.h, iv, sizeof(iv));
}

void tr_sha256_update(tr_sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (len == 0) /* data may be NULL then, and memcpy must not see it */
		return;
	if (!c->accel) {
		crypto_hash_sha256_update(&c->u.sodium, p, len);
		return;
	}
#ifdef TR_SHA_NI
	c->u.ni.total += len;
	if (c->u.ni.fill) {
		size_t take = 64 - c->u.ni.fill;
		if (take > len)
			take = len;
		memcpy(c->u.ni.buf + c->u.ni.fill, p, take);
		c->u.ni.fill += take;
		p += take;
		len -= take;
		if (c->u.ni.fill < 64)
			return;
		blocks_ni(c->u.ni.h, c->u.ni.buf, 1);
		c->u.ni.fill = 0;
	}
	if (len >= 64) {
		blocks_ni(c->u.ni.h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	memcpy(c->u.ni.buf, p, len);
	c->u.ni.fill = len;
#endif
}

void tr_sha256_final(tr_sha256_ctx *c, uint8_t out[TR_HASH_LEN])
{
	if (!c->accel) {
		crypto_hash_sha256_final(&c->u.sodium, out);
		sodium_memzero(c, sizeof(*c));
		return;
	}
#ifdef TR_SHA_NI
	{
		uint64_t bits = c->u.ni.total * 8;
		size_t f = c->u.ni.fill;
		c->u.ni.buf[f++] = 0x80;
		if (f > 56) {
			memset(c->u.ni.buf + f, 0, 64 - f);
			blocks_ni(c->u.ni.h, c->u.ni.buf, 1);
			f = 0;
		}
		memset(c->u.ni.buf + f, 0, 56 - f);
		for (int i = 0; i < 8; i++)
			c->u.ni.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
		blocks_ni(c->u.ni.h, c->u.ni.buf, 1);
		for (int i = 0; i < 8; i++) {
			out[4 * i] = (uint8_t)(c->u.ni.h[i] >> 24);
			out[4 * i + 1] = (uint8_t)(c->u.ni.h[i] >> 16);
			out[4 * i + 2] = (uint8_t)(c->u.ni.h[i] >> 8);
			out[4 * i + 3] = (uint8_t)c->u.ni.h[i];
		}
	}
#endif
	sodium_memzero(c, sizeof(*c));
}

void tr_sha256(uint8_t out[TR_HASH_LEN], const void *in, size_t len)
{
	tr_sha256_ctx c;
	tr_sha256_init(&c);
	tr_sha256_update(&c, in, len);
	tr_sha256_final(&c, out);
}
