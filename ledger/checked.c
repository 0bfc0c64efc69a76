/*
 * checked.c: the set of record bytes this process has already checked
 * (ldg_checked), so that a record met twice is checked once.
 *
 * A node meets most records twice: in the gossip of the partner they were
 * submitted to, and in the PRE-PREPARE of the block that carries them.
 * Whichever comes first is checked in full (Ed25519 verify and the Event
 * re-derived from its json: ~60 us); the other finds the bytes here, with
 * the event id the check computed.
 *
 * Why it is sound: ldg_record_check's answer depends only on the record's
 * bytes and the consortium; a set belongs to one consortium (its chain_id,
 * the hash of the consortium file, partner keys included) and is not
 * consulted for another. So the set keeps a fingerprint of each record's
 * bytes that passed: 128-bit SipHash
 * (libsodium's crypto_shorthash_siphashx24) under a key drawn at random
 * when the set is made and never shown; a partner who does not know the
 * key cannot aim a collision, and a chance one among 2^19 entries is about
 * 2^-90. A hit skips the whole check (its answer and the event id depend
 * on nothing else): on the node thread, which meets every record of a
 * block again, unpacking each Record and Event for a check whose answer
 * is known was ~6% of its work.
 *
 * Bounds: LDG_CHECKED_SLOTS fingerprints with their ids (25 MB), in
 * buckets of four; a full bucket forgets its oldest entry, which at worst
 * costs that record one more check. Thread-safe: the node's checker threads and its node
 * thread share one set under one mutex (a lookup is a few dozen ns).
 */
#include "ledger/ledger_internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4
#define BUCKETS (LDG_CHECKED_SLOTS / WAYS)

_Static_assert((BUCKETS & (BUCKETS - 1)) == 0, "a power of two of buckets");
_Static_assert(crypto_shorthash_siphashx24_BYTES == 16, "a 128-bit fingerprint");

typedef struct {
	uint8_t fp[WAYS][16];          /* all zero = empty */
	uint8_t id[WAYS][TR_HASH_LEN]; /* the event id of each */
	uint8_t next;                  /* the way the next insert replaces */
} bucket;

struct ldg_checked {
	pthread_mutex_t mu;
	uint8_t chain_id[TR_HASH_LEN]; /* the consortium whose checks these are */
	uint8_t key[crypto_shorthash_siphashx24_KEYBYTES];
	uint64_t hits, misses;
	bucket *b;
};

int ldg_checked_new(const tr_consortium *c, ldg_checked **out)
{
	ldg_checked *k = calloc(1, sizeof(*k));
	*out = NULL;
	if (!k)
		return TR_ENOMEM;
	k->b = calloc(BUCKETS, sizeof(*k->b));
	if (!k->b || pthread_mutex_init(&k->mu, NULL) != 0) {
		free(k->b);
		free(k);
		return TR_ENOMEM;
	}
	/* Map every page now: calloc's pages come from the kernel on first
	 * touch, and lookups land on random buckets, so a new node would
	 * otherwise take ~6,000 page faults (each ~10-20 us on this VM)
	 * spread over its first few hundred thousand records. */
	for (size_t i = 0; i < BUCKETS * sizeof(*k->b); i += 4096)
		((volatile uint8_t *)k->b)[i] = 0;
	randombytes_buf(k->key, sizeof(k->key));
	memcpy(k->chain_id, c->chain_id, TR_HASH_LEN);
	*out = k;
	return TR_OK;
}

void ldg_checked_free(ldg_checked *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->mu);
	sodium_memzero(k->key, sizeof(k->key));
	free(k->b);
	free(k);
}

static void fingerprint(const ldg_checked *k, const uint8_t *rec, size_t len, uint8_t fp[16])
{
	crypto_shorthash_siphashx24(fp, rec, len, k->key);
	fp[0] |= 1; /* never all zero, the empty slot */
}

static bucket *bucket_of(ldg_checked *k, const uint8_t fp[16])
{
	uint64_t lo;
	memcpy(&lo, fp, sizeof(lo));
	return &k->b[(lo >> 1) & (BUCKETS - 1)];
}

/* Whether fp is in the set; its event id into id (may be NULL). */
static bool has_fp(ldg_checked *k, const uint8_t fp[16], uint8_t id[TR_HASH_LEN])
{
	bucket *b = bucket_of(k, fp);
	bool hit = false;
	pthread_mutex_lock(&k->mu);
	for (int w = 0; w < WAYS && !hit; w++)
		if ((hit = memcmp(b->fp[w], fp, 16) == 0) && id)
			memcpy(id, b->id[w], TR_HASH_LEN);
	if (hit)
		k->hits++;
	else
		k->misses++;
	pthread_mutex_unlock(&k->mu);
	return hit;
}

static void add_fp(ldg_checked *k, const uint8_t fp[16], const uint8_t id[TR_HASH_LEN])
{
	bucket *b = bucket_of(k, fp);
	pthread_mutex_lock(&k->mu);
	for (int w = 0; w < WAYS; w++)
		if (memcmp(b->fp[w], fp, 16) == 0)
			goto out; /* two checkers raced on one record */
	memcpy(b->fp[b->next], fp, 16);
	memcpy(b->id[b->next], id, TR_HASH_LEN);
	b->next = (uint8_t)((b->next + 1) % WAYS);
out:
	pthread_mutex_unlock(&k->mu);
}

bool ldg_checked_has(ldg_checked *k, const uint8_t *rec, size_t len)
{
	uint8_t fp[16];
	fingerprint(k, rec, len, fp);
	return has_fp(k, fp, NULL);
}

void ldg_checked_stats(ldg_checked *k, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	*hits = k->hits;
	*misses = k->misses;
	pthread_mutex_unlock(&k->mu);
}

int ldg_record_check_once(const tr_consortium *c, ldg_checked *k, const uint8_t *rec,
			  size_t len, unsigned flags, uint8_t id[TR_HASH_LEN], char *err,
			  size_t errlen)
{
	uint8_t fp[16];
	int rc;
	/* another consortium's set (a caller's mistake): not used */
	if (!k || (flags & LDG_RECORDS_VERIFIED) || len > c->params.record_max_bytes ||
	    memcmp(k->chain_id, c->chain_id, TR_HASH_LEN) != 0)
		return ldg_record_check(c, rec, len, flags, id, err, errlen);
	fingerprint(k, rec, len, fp); /* once, for the lookup and the add */
	if (has_fp(k, fp, id))
		return TR_OK;
	rc = ldg_record_check(c, rec, len, flags, id, err, errlen);
	if (rc == TR_OK)
		add_fp(k, fp, id);
	return rc;
}
