/*
 * node_test.c: unit tests of node/ parts that the integration tests
 * cannot aim at precisely:
 *   - the mempool's slots come from a keyed hash: event ids chosen to
 *     share their leading bytes (what a raw-prefix table would put in one
 *     probe run) spread out, and two pools place them differently;
 *     find / remove (backward-shift deletion) stay correct, by id and by
 *     exact record bytes;
 *   - the per-peer byte bound on queued frames: a peer that fills its
 *     share is refused (and counted) while another peer still gets in,
 *     and what the node thread takes is given back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/crypto.h"
#include "node/node_internal.h"

#include <sodium.h>
#include <string.h>

/* The longest run of occupied slots (what a lookup may have to walk). */
static size_t longest_run(const mempool *m)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < 2 * m->cap; i++) { /* twice: runs wrap around */
		run = m->slots[i & (m->cap - 1)] ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best > m->cap ? m->cap : best;
}

#define CRAFTED 2000

static void test_mempool_keyed_slots(void **state)
{
	mempool a, b;
	static uint8_t ids[CRAFTED][TR_HASH_LEN];
	uint8_t rec[16] = {0}, other[16];
	size_t same = 0;
	(void)state;
	assert_int_equal(tr_crypto_init(), 0);
	assert_int_equal(mp_init(&a), TR_OK);
	assert_int_equal(mp_init(&b), TR_OK);
	/* ids equal in their first 24 bytes: one slot under a raw prefix */
	for (size_t i = 0; i < CRAFTED; i++) {
		memset(ids[i], 0x5a, TR_HASH_LEN);
		tr_be64_put(ids[i] + 24, i);
		assert_non_null(mp_add(&a, ids[i], rec, sizeof(rec)));
		assert_non_null(mp_add(&b, ids[i], rec, sizeof(rec)));
	}
	/* 2,000 keys in 2^19 slots: runs stay tiny unless the hash is defeated */
	assert_true(longest_run(&a) < 16);
	assert_true(longest_run(&b) < 16);
	for (size_t i = 0; i < a.cap; i++)
		same += a.slots[i] && b.slots[i] && memcmp(a.slots[i]->id, b.slots[i]->id, TR_HASH_LEN) == 0;
	assert_true(same < CRAFTED / 10); /* another key, other places */
	/* remove every other id; all the rest are still found */
	for (size_t i = 0; i < CRAFTED; i += 2) {
		wref *w = NULL;
		mp_entry *e = mp_find(&a, ids[i]);
		assert_non_null(e);
		mp_remove(&a, e, &w);
		assert_null(w);
	}
	for (size_t i = 0; i < CRAFTED; i++)
		assert_true((mp_find(&a, ids[i]) != NULL) == (i % 2 == 1));
	assert_int_equal(a.count, CRAFTED / 2);
	/* by bytes: exactly these bytes, gone once removed */
	memset(other, 0x77, sizeof(other));
	{
		mp_entry *e = mp_add(&a, ids[0], other, sizeof(other)), *f;
		wref *w = NULL;
		assert_non_null(e);
		assert_ptr_equal(mp_find_bytes(&a, other, sizeof(other)), e);
		assert_null(mp_find_bytes(&a, other, sizeof(other) - 1));
		other[3] ^= 1;
		assert_null(mp_find_bytes(&a, other, sizeof(other)));
		other[3] ^= 1;
		f = mp_find_bytes(&a, rec, sizeof(rec)); /* one of the odd ids */
		assert_non_null(f);
		mp_remove(&a, e, &w);
		assert_null(mp_find_bytes(&a, other, sizeof(other)));
		assert_ptr_equal(mp_find_bytes(&a, rec, sizeof(rec)), f);
	}
	mp_fini(&a);
	mp_fini(&b);
}

static void test_peer_queue_bound(void **state)
{
	node nd;
	static tr_consortium c;
	job big = {0}, small = {0}, other = {0};
	size_t n = 0;
	(void)state;
	memset(&nd, 0, sizeof(nd));
	c.n = 2;
	strcpy(c.partners[0].name, "greedy");
	strcpy(c.partners[1].name, "fair");
	nd.c = &c;
	pthread_mutex_init(&nd.mu, NULL);

	big.kind = JOB_CONSENSUS;
	big.peer = 0;
	big.len = P2P_FRAME_MAX;
	/* a maximal frame always fits an empty share */
	while (n < 8 && node_peer_charge(&nd, &big)) {
		n++;
		big.charged = 0; /* a new job of the same size each time */
	}
	assert_int_equal(n, NODE_PEER_QUEUE_BYTES_MAX / node_job_cost(&big));
	assert_true(nd.peer_bytes[0] <= NODE_PEER_QUEUE_BYTES_MAX);
	assert_int_equal(nd.peer_dropped[0], 1);
	small.kind = JOB_HEIGHT;
	small.peer = 0;
	small.len = 0;
	if (NODE_PEER_QUEUE_BYTES_MAX - nd.peer_bytes[0] < node_job_cost(&small))
		assert_false(node_peer_charge(&nd, &small));
	/* the other peer is not affected */
	other.kind = JOB_CONSENSUS;
	other.peer = 1;
	other.len = 1000;
	assert_true(node_peer_charge(&nd, &other));
	assert_int_equal(nd.peer_bytes[1], node_job_cost(&other));
	assert_int_equal(nd.peer_dropped[1], 0);
	node_peer_release(&nd, &other);
	assert_int_equal(nd.peer_bytes[1], 0);
	assert_int_equal(other.charged, 0);
	node_peer_release(&nd, &other); /* twice: a no-op */
	assert_int_equal(nd.peer_bytes[1], 0);
	/* once the greedy peer's frames are taken, it may send again */
	nd.peer_bytes[0] = 0;
	big.charged = 0;
	assert_true(node_peer_charge(&nd, &big));
	pthread_mutex_destroy(&nd.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mempool_keyed_slots),
		cmocka_unit_test(test_peer_queue_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
