/*
 * mempool.c: records checked and waiting for a block, in arrival order
 * (all of them, and each signer's: blocks are cut from the signers' lists
 * in turn, mp_take_fair), found by event id and by EPCIS rule key: two
 * open-addressing tables (linear probing, backward-shift deletion) over
 * the same entries.
 * Bounded in records and bytes, with a share of both kept for each
 * signing partner (mp_fits; the caller checks before adding). Node
 * thread only.
 *
 * Slots come from SipHash-2-4 (crypto_shorthash) under a key drawn at
 * random when the pool is made: event ids are SHA-256 of bytes a client
 * chooses, so a raw id prefix would let anyone grind ids into one probe
 * run and make every lookup linear. Until the sixteenth session a third
 * table found entries by their record bytes, so that a committed block's
 * records were matched without their event ids; the ledger now hands the
 * node those ids (ldg_appended_ids), and a SipHash of every record's bytes
 * on its way in and out (~1 us per record and node) is gone.
 */
#include "node/node_internal.h"

#include <sodium.h>
#include <string.h>

#define STREAMS ((size_t)TR_PARTNERS_MAX * TR_PARTNERS_MAX)

static size_t stream_of(const mp_entry *e)
{
	return (size_t)e->origin * TR_PARTNERS_MAX + e->signer;
}

int mp_init(mempool *m, size_t max_records, size_t max_bytes, uint32_t partners)
{
	memset(m, 0, sizeof(*m));
	TR_ASSERT(max_records > 0 && max_records <= NODE_MEMPOOL_RECORDS_LIMIT);
	TR_ASSERT(partners > 0 && partners <= TR_PARTNERS_MAX);
	m->max_records = max_records;
	m->max_bytes = max_bytes;
	m->partners = partners;
	m->keep_records = max_records / (2 * partners);
	m->keep_bytes = max_bytes / (2 * partners);
	m->cap = 1;
	while (m->cap < 2 * max_records)
		m->cap <<= 1;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	m->rslots = calloc(m->cap, sizeof(*m->rslots));
	m->stream_seq = calloc(STREAMS, sizeof(*m->stream_seq));
	m->stream_ms = calloc(STREAMS, sizeof(*m->stream_ms));
	m->stream_pending = calloc(STREAMS, sizeof(*m->stream_pending));
	if (!m->slots || !m->rslots || !m->stream_seq || !m->stream_ms || !m->stream_pending) {
		mp_fini(m);
		return TR_ENOMEM;
	}
	crypto_shorthash_keygen(m->key);
	return TR_OK;
}

static uint64_t keyed(const mempool *m, const uint8_t *bytes, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	_Static_assert(crypto_shorthash_BYTES == 8, "SipHash output is 64 bits");
	_Static_assert(sizeof(m->key) == crypto_shorthash_KEYBYTES, "SipHash key size");
	crypto_shorthash(h, bytes, len, m->key);
	return tr_be64_get(h);
}

/* ==== The tables: tab 0 by id (e->ih), tab 2 by rule key (e->rh, entries
 * with one) ==== */

static mp_entry **table(const mempool *m, int tab)
{
	return tab == 2 ? m->rslots : m->slots;
}

static size_t home(const mempool *m, const mp_entry *e, int tab)
{
	return (size_t)((tab == 2 ? e->rh : e->ih) & (m->cap - 1));
}

static void tab_put(mempool *m, mp_entry *e, int tab)
{
	mp_entry **t = table(m, tab);
	size_t i;
	for (i = home(m, e, tab); t[i]; i = (i + 1) & (m->cap - 1))
		;
	t[i] = e;
}

static void tab_del(mempool *m, const mp_entry *e, int tab)
{
	mp_entry **t = table(m, tab);
	size_t mask = m->cap - 1, i = home(m, e, tab), j;
	while (t[i] != e) {
		TR_ASSERT(t[i] != NULL);
		i = (i + 1) & mask;
	}
	t[i] = NULL;
	for (j = (i + 1) & mask; t[j]; j = (j + 1) & mask) {
		size_t k = home(m, t[j], tab);
		/* move j back to the hole at i unless its home k lies in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			t[i] = t[j];
			t[j] = NULL;
			i = j;
		}
	}
}

mp_entry *mp_find(const mempool *m, const uint8_t id[TR_HASH_LEN])
{
	uint64_t h = keyed(m, id, TR_HASH_LEN);
	for (size_t i = h & (m->cap - 1); m->slots[i]; i = (i + 1) & (m->cap - 1))
		if (m->slots[i]->ih == h && memcmp(m->slots[i]->id, id, TR_HASH_LEN) == 0)
			return m->slots[i];
	return NULL;
}

mp_entry *mp_find_rule(const mempool *m, const uint8_t rule[TR_HASH_LEN])
{
	uint64_t h = keyed(m, rule, TR_HASH_LEN);
	for (size_t i = h & (m->cap - 1); m->rslots[i]; i = (i + 1) & (m->cap - 1))
		if (m->rslots[i]->rh == h && memcmp(m->rslots[i]->rule, rule, TR_HASH_LEN) == 0)
			return m->rslots[i];
	return NULL;
}

void mp_set_rule(mempool *m, mp_entry *e, const uint8_t rule[TR_HASH_LEN])
{
	TR_ASSERT(!e->has_rule && !mp_find_rule(m, rule));
	memcpy(e->rule, rule, TR_HASH_LEN);
	e->rh = keyed(m, rule, TR_HASH_LEN);
	e->has_rule = true;
	tab_put(m, e, 2);
}

mp_entry *mp_find_exact(const mempool *m, const uint8_t id[TR_HASH_LEN], const uint8_t *rec,
			size_t len)
{
	mp_entry *e = mp_find(m, id);
	return e && e->len == len && memcmp(e->rec, rec, len) == 0 ? e : NULL;
}

mp_entry *mp_add(mempool *m, const uint8_t id[TR_HASH_LEN], const uint8_t *rec, size_t len,
		 uint32_t signer, uint32_t origin)
{
	uint8_t *copy = malloc(len ? len : 1);
	mp_entry *e;
	if (!copy)
		return NULL;
	memcpy(copy, rec, len);
	if (!(e = mp_adopt(m, id, copy, len, signer, origin)))
		free(copy);
	return e;
}

mp_entry *mp_adopt(mempool *m, const uint8_t id[TR_HASH_LEN], uint8_t *rec, size_t len,
		   uint32_t signer, uint32_t origin)
{
	mp_entry *e = calloc(1, sizeof(*e));
	TR_ASSERT(m->count < m->max_records);
	TR_ASSERT(signer < m->partners && origin < TR_PARTNERS_MAX);
	if (!e)
		return NULL;
	e->rec = rec;
	e->len = len;
	memcpy(e->id, id, TR_HASH_LEN);
	e->ih = keyed(m, id, TR_HASH_LEN);
	e->sent_ms = tr_mono_ms(); /* the caller gossips it now, or it just arrived */
	tab_put(m, e, 0);
	e->prev = m->tail;
	if (m->tail)
		m->tail->next = e;
	else
		m->head = e;
	m->tail = e;
	e->signer = signer;
	e->origin = origin;
	e->seq = ++m->next_seq;
	m->stream_pending[stream_of(e)]++;
	e->sprev = m->stail[signer];
	if (m->stail[signer])
		m->stail[signer]->snext = e;
	else
		m->shead[signer] = e;
	m->stail[signer] = e;
	m->count++;
	m->bytes += len;
	m->scount[signer]++;
	m->sbytes[signer] += len;
	return e;
}

bool mp_fits(const mempool *m, const size_t *add_n, const size_t *add_b, uint32_t *who)
{
	/* no overflow: what is pending is within the bounds, and a caller
	 * adds at most one request's records (NODE_REQUEST_*_MAX) */
	size_t n = 0, b = 0, most = 0;
	for (uint32_t s = 0; s < m->partners; s++) {
		size_t cn = m->scount[s] + add_n[s], cb = m->sbytes[s] + add_b[s];
		n += cn + (cn < m->keep_records ? m->keep_records - cn : 0);
		b += cb + (cb < m->keep_bytes ? m->keep_bytes - cb : 0);
		if (add_n[s] > add_n[most])
			most = s;
	}
	if (n <= m->max_records && b <= m->max_bytes)
		return true;
	if (who)
		*who = (uint32_t)most;
	return false;
}

bool mp_fits_one(const mempool *m, uint32_t s, size_t len)
{
	size_t add_n[TR_PARTNERS_MAX] = {0}, add_b[TR_PARTNERS_MAX] = {0};
	TR_ASSERT(s < m->partners);
	add_n[s] = 1;
	add_b[s] = len;
	return mp_fits(m, add_n, add_b, NULL);
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

void mp_remove(mempool *m, mp_entry *e, wref **waiters)
{
	tab_del(m, e, 0);
	if (e->has_rule)
		tab_del(m, e, 2);
	if (e->prev)
		e->prev->next = e->next;
	else
		m->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		m->tail = e->prev;
	if (e->sprev)
		e->sprev->snext = e->snext;
	else
		m->shead[e->signer] = e->snext;
	if (e->snext)
		e->snext->sprev = e->sprev;
	else
		m->stail[e->signer] = e->sprev;
	m->stream_pending[stream_of(e)]--;
	m->count--;
	m->bytes -= e->len;
	m->scount[e->signer]--;
	m->sbytes[e->signer] -= e->len;
	*waiters = e->waiters;
	free(e->rec);
	free(e);
}

size_t mp_take_fair(const mempool *m, uint32_t first, size_t max_records, size_t max_bytes,
		    mp_entry **out)
{
	mp_entry *cur[TR_PARTNERS_MAX]; /* next record of each signer still in the round */
	size_t live = 0, k = 0, bytes = 0;
	for (uint32_t s = 0; s < TR_PARTNERS_MAX; s++) {
		mp_entry *h = m->shead[(first + s) % TR_PARTNERS_MAX];
		if (h)
			cur[live++] = h;
	}
	while (live > 0 && k < max_records) {
		for (size_t i = 0; i < live && k < max_records;) {
			mp_entry *e = cur[i];
			if (k == 0 || bytes + e->len <= max_bytes) {
				out[k++] = e;
				bytes += e->len;
				cur[i] = e->snext;
			} else {
				cur[i] = NULL; /* this signer's next does not fit: it is done */
			}
			if (cur[i]) {
				i++;
				continue;
			}
			live--;
			memmove(&cur[i], &cur[i + 1], (live - i) * sizeof(cur[0]));
		}
	}
	return k;
}

void mp_committed(mempool *m, const mp_entry *e, uint64_t now)
{
	size_t k = stream_of(e);
	if (e->seq > m->stream_seq[k])
		m->stream_seq[k] = e->seq;
	m->stream_ms[k] = now;
}

size_t mp_take_resend(mempool *m, uint64_t now, uint64_t wait_own, uint64_t wait_other,
		      size_t max, size_t max_bytes, mp_entry **out)
{
	uint64_t wait_min = wait_own < wait_other ? wait_own : wait_other;
	size_t k = 0, bytes = 0;
	for (uint32_t t = 0; t < TR_PARTNERS_MAX && k < max; t++) {
		uint32_t s = (m->resend_turn + t) % TR_PARTNERS_MAX;
		uint64_t passed = 0; /* past it, no record of s can have been passed over */
		bool stalled = false;
		if (!m->shead[s])
			continue;
		for (uint32_t o = 0; o < TR_PARTNERS_MAX; o++) {
			size_t st = (size_t)o * TR_PARTNERS_MAX + s;
			if (m->stream_seq[st] > passed)
				passed = m->stream_seq[st];
			if (m->stream_pending[st] && now - m->stream_ms[st] >= wait_min)
				stalled = true;
		}
		for (mp_entry *e = m->shead[s]; e && k < max; e = e->snext) {
			uint64_t wait = e->waiters ? wait_own : wait_other;
			size_t st = stream_of(e);
			if (e->seq > passed && !stalled)
				break;
			if (now - e->sent_ms < wait ||
			    (m->stream_seq[st] < e->seq && now - m->stream_ms[st] < wait))
				continue;
			if (k > 0 && bytes + e->len > max_bytes)
				return k;
			out[k++] = e;
			bytes += e->len;
		}
	}
	m->resend_turn = (m->resend_turn + 1) % TR_PARTNERS_MAX;
	return k;
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
	free(m->rslots);
	free(m->stream_seq);
	free(m->stream_ms);
	free(m->stream_pending);
	memset(m, 0, sizeof(*m));
}
