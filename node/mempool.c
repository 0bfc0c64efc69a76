/*
 * mempool.c: records checked and waiting for a block, in arrival order,
 * found by event id (open addressing, linear probing, backward-shift
 * deletion). Slots come from SipHash-2-4 (crypto_shorthash) of the id
 * under a key drawn at random when the pool is made: event ids are
 * SHA-256 of bytes a client chooses, so a raw id prefix would let anyone
 * grind ids into one probe run and make every lookup linear. Bounded by NODE_MEMPOOL_RECORDS_MAX / _BYTES_MAX (the caller
 * checks before adding). Node thread only.
 */
#include "node/node_internal.h"

#include <sodium.h>
#include <string.h>

int mp_init(mempool *m)
{
	memset(m, 0, sizeof(*m));
	m->cap = 1;
	while (m->cap < 2 * NODE_MEMPOOL_RECORDS_MAX)
		m->cap <<= 1;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots)
		return TR_ENOMEM;
	crypto_shorthash_keygen(m->key);
	return TR_OK;
}

static size_t slot_of(const mempool *m, const uint8_t id[TR_HASH_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	_Static_assert(crypto_shorthash_BYTES == 8, "SipHash output is 64 bits");
	crypto_shorthash(h, id, TR_HASH_LEN, m->key);
	return (size_t)(tr_be64_get(h) & (m->cap - 1));
}

mp_entry *mp_find(const mempool *m, const uint8_t id[TR_HASH_LEN])
{
	for (size_t i = slot_of(m, id); m->slots[i]; i = (i + 1) & (m->cap - 1))
		if (memcmp(m->slots[i]->id, id, TR_HASH_LEN) == 0)
			return m->slots[i];
	return NULL;
}

mp_entry *mp_add(mempool *m, const uint8_t id[TR_HASH_LEN], const uint8_t *rec, size_t len)
{
	mp_entry *e = calloc(1, sizeof(*e));
	size_t i;
	TR_ASSERT(m->count < NODE_MEMPOOL_RECORDS_MAX);
	if (!e)
		return NULL;
	e->rec = malloc(len ? len : 1);
	if (!e->rec) {
		free(e);
		return NULL;
	}
	memcpy(e->rec, rec, len);
	e->len = len;
	memcpy(e->id, id, TR_HASH_LEN);
	for (i = slot_of(m, id); m->slots[i]; i = (i + 1) & (m->cap - 1))
		;
	m->slots[i] = e;
	e->prev = m->tail;
	if (m->tail)
		m->tail->next = e;
	else
		m->head = e;
	m->tail = e;
	m->count++;
	m->bytes += len;
	return e;
}

int mp_attach(mp_entry *e, waiter *w, size_t idx)
{
	wref *r = malloc(sizeof(*r));
	if (!r)
		return TR_ENOMEM;
	r->w = w;
	r->idx = idx;
	r->next = e->waiters;
	e->waiters = r;
	return TR_OK;
}

static void slot_del(mempool *m, const mp_entry *e)
{
	size_t mask = m->cap - 1, i = slot_of(m, e->id), j;
	while (m->slots[i] != e) {
		TR_ASSERT(m->slots[i] != NULL);
		i = (i + 1) & mask;
	}
	m->slots[i] = NULL;
	for (j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
		size_t k = slot_of(m, m->slots[j]->id);
		/* move j back to the hole at i unless its home k lies in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j] = NULL;
			i = j;
		}
	}
}

void mp_remove(mempool *m, mp_entry *e, wref **waiters)
{
	slot_del(m, e);
	if (e->prev)
		e->prev->next = e->next;
	else
		m->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		m->tail = e->prev;
	m->count--;
	m->bytes -= e->len;
	*waiters = e->waiters;
	free(e->rec);
	free(e);
}

void mp_fini(mempool *m)
{
	mp_entry *e = m->head;
	while (e) {
		mp_entry *next = e->next;
		wref *r = e->waiters;
		while (r) { /* abandoned clients: free each waiter with its last reference */
			wref *rn = r->next;
			if (--r->w->remaining == 0) {
				free(r->w->ids);
				free(r->w->heights);
				free(r->w->positions);
				free(r->w);
			}
			free(r);
			r = rn;
		}
		free(e->rec);
		free(e);
		e = next;
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
