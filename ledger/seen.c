/*
 * seen.c: which keys the `events` and `ehash` databases may hold
 * (ldg_seen), so that a lookup of a key they cannot hold skips LMDB.
 *
 * Every record a node takes in is looked up in both databases several
 * times before it commits: is its event id committed (gossip, submits,
 * the proposal's duplicate check), is its GS1 event hash stored (the
 * EPCIS rules, at admission and in the proposal's check). Nearly always
 * the answer is no, and the trees are keyed by hashes, so each lookup
 * descends to a random leaf and misses the cache on the way: 3-4.5 us per
 * record and node (bench/RESULTS.md runs 64-65). A Bloom filter answers "not
 * there" from one cache line.
 *
 * Why it is sound: the set holds every key ever put in either database
 * (they only grow: a ledger never deletes an event), plus perhaps keys of
 * transactions that then aborted, which only costs a lookup. "Not in the
 * set" is therefore "not in the database"; "maybe" goes to LMDB as
 * before. When the set cannot grow (out of memory) it is dropped and
 * every lookup goes to LMDB. It is built when a writable ledger opens,
 * from the keys of both databases, and kept by the one thread that writes
 * the ledger (the node thread); read-only handles have none.
 *
 * Layout: a blocked Bloom filter (every key's bits in one 64-byte line),
 * 16 bits per key, 7 bits set per key: ~0.1-0.2% false positives. Keys
 * are hashed with 128-bit SipHash under a random key, so a partner cannot
 * aim its event ids at one line. It grows in parts: when the newest part
 * holds its capacity, a part twice as large starts (4 bytes per event in
 * all, as each event has a key in both databases); a lookup asks every
 * part (~20 parts at a billion keys).
 */
#include "ledger/ledger_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_PARTS_MAX 40
#define SEEN_FIRST_CAP (1u << 16) /* keys in the first part */
#define SEEN_KEY_MAX 64
#define SEEN_BITS 7

typedef struct {
	uint64_t *words; /* nlines x 8 */
	size_t nlines, count, cap;
} part;

struct ldg_seen {
	part parts[SEEN_PARTS_MAX];
	size_t nparts;
	uint8_t key[crypto_shorthash_siphashx24_KEYBYTES];
};

_Static_assert(crypto_shorthash_siphashx24_BYTES == 16, "a 128-bit hash");

static int part_init(part *p, size_t cap)
{
	p->cap = cap;
	p->count = 0;
	p->nlines = cap / 32; /* 16 bits per key, 512 per line */
	p->words = calloc(p->nlines * 8, sizeof(uint64_t));
	return p->words ? TR_OK : TR_ENOMEM;
}

int ldg__seen_new(ldg_seen **out)
{
	ldg_seen *s = calloc(1, sizeof(*s));
	if (!s)
		return TR_ENOMEM;
	randombytes_buf(s->key, sizeof(s->key));
	if (part_init(&s->parts[0], SEEN_FIRST_CAP)) {
		free(s);
		return TR_ENOMEM;
	}
	s->nparts = 1;
	*out = s;
	return TR_OK;
}

void ldg__seen_free(ldg_seen *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nparts; i++)
		free(s->parts[i].words);
	sodium_memzero(s->key, sizeof(s->key));
	free(s);
}

/* The 128-bit hash of domain ‖ key: the low word picks the line, the
 * high word's 9-bit slices the bits in it. */
static void hash(const ldg_seen *s, uint8_t domain, const void *key, size_t len, uint64_t h[2])
{
	uint8_t buf[1 + SEEN_KEY_MAX], out[16];
	TR_ASSERT(len <= SEEN_KEY_MAX);
	buf[0] = domain;
	memcpy(buf + 1, key, len);
	crypto_shorthash_siphashx24(out, buf, 1 + len, s->key);
	memcpy(&h[0], out, 8);
	memcpy(&h[1], out + 8, 8);
}

static bool part_has(const part *p, const uint64_t h[2])
{
	const uint64_t *line = p->words + (size_t)(h[0] % p->nlines) * 8;
	uint64_t b = h[1];
	for (int i = 0; i < SEEN_BITS; i++, b >>= 9)
		if (!(line[(b >> 6) & 7] & (UINT64_C(1) << (b & 63))))
			return false;
	return true;
}

bool ldg__seen_maybe(const ldg_seen *s, uint8_t domain, const void *key, size_t len)
{
	uint64_t h[2];
	if (!s || len > SEEN_KEY_MAX)
		return true;
	hash(s, domain, key, len, h);
	for (size_t i = s->nparts; i-- > 0;)
		if (part_has(&s->parts[i], h))
			return true;
	return false;
}

int ldg__seen_add(ldg_seen *s, uint8_t domain, const void *key, size_t len)
{
	uint64_t h[2], b;
	part *p;
	uint64_t *line;
	if (len > SEEN_KEY_MAX)
		return TR_EINVAL;
	p = &s->parts[s->nparts - 1];
	if (p->count >= p->cap) {
		if (s->nparts == SEEN_PARTS_MAX || part_init(&s->parts[s->nparts], 2 * p->cap))
			return TR_ENOMEM;
		p = &s->parts[s->nparts++];
	}
	hash(s, domain, key, len, h);
	line = p->words + (size_t)(h[0] % p->nlines) * 8;
	b = h[1];
	for (int i = 0; i < SEEN_BITS; i++, b >>= 9)
		line[(b >> 6) & 7] |= UINT64_C(1) << (b & 63);
	p->count++;
	return TR_OK;
}

size_t ldg__seen_count(const ldg_seen *s)
{
	size_t n = 0;
	for (size_t i = 0; s && i < s->nparts; i++)
		n += s->parts[i].count;
	return n;
}
