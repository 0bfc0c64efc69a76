/*
 * link_test.c: cmocka tests for p2p/link: two real links on 127.0.0.1
 * (free ports), Noise handshake and partner authentication, then flow
 * control.
 *
 *   - Every frame arrives, in order, when one side sends far faster than
 *     NNG's pipe queue (two messages) can hold: the sender queues and
 *     batches instead of NNG discarding (its tx_drop count stays 0).
 *   - Backpressure: while the receiver does not take frames, the sender's
 *     queue for it fills to its bound and p2p_link_send says TR_EFULL;
 *     consensus frames still pass (their own queue); once the receiver
 *     takes frames again, everything queued arrives.
 *   - An outsider's oversized Auth is refused before it is decrypted.
 *   - A hostile peer (the test, holding a partner's key, speaking the
 *     protocol by hand): chunks of two batches spliced into one are
 *     refused, and so is a batch cut into chunks smaller than the
 *     largest; a node dialed at one partner's address that signs as
 *     another partner is refused.
 *   - The same when the receiver takes frames but holds the sender back
 *     (its hold callback: the node's queue for that partner is full).
 *
 * No timing thresholds: waits are liveness deadlines of a minute.
 */
#include "common/consortium.h"
#include "common/crypto.h"
#include "common/tr.h"
#include "p2p/close.h"
#include "p2p/link.h"
#include "p2p/noise.h"
#include "p2p/seal.h"
#include "proto/link.pb-c.h"

#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdlib.h>

#include <netinet/in.h>
#include <sodium.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/test_util.h"

#define DEADLINE_MS 60000

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gate_closed;  /* the receive callback waits while set */
	bool blocked;      /* it is waiting now */
	bool hold;         /* the hold callback says so */
	uint64_t hold_asked;
	uint64_t next_seq; /* gossip frames carry be64(seq) || filler */
	uint64_t gossip, consensus, out_of_order;
	uint8_t cons_head, cons_tail; /* first and last byte of the last consensus frame */
} rx_state;

static void on_frame(void *ctx, uint32_t peer, uint32_t kind, const uint8_t *payload, size_t len)
{
	rx_state *r = ctx;
	(void)peer;
	pthread_mutex_lock(&r->mu);
	while (r->gate_closed) {
		r->blocked = true;
		pthread_cond_broadcast(&r->cv);
		pthread_cond_wait(&r->cv, &r->mu);
	}
	r->blocked = false;
	if (kind == P2P_KIND_GOSSIP && len >= 8) {
		if (tr_be64_get(payload) != r->next_seq)
			r->out_of_order++;
		r->next_seq = tr_be64_get(payload) + 1;
		r->gossip++;
	} else if (kind == P2P_KIND_CONSENSUS) {
		r->consensus++;
		r->cons_head = len ? payload[0] : 0;
		r->cons_tail = len ? payload[len - 1] : 0;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static bool on_hold(void *ctx, uint32_t peer)
{
	rx_state *r = ctx;
	bool h;
	(void)peer;
	pthread_mutex_lock(&r->mu);
	h = r->hold;
	r->hold_asked++;
	pthread_mutex_unlock(&r->mu);
	return h;
}

/* A consortium of n Ed25519 partners "node1".., each with a fresh key and
 * a free port on 127.0.0.1, and a random chain id. */
static void consortium_make(tr_consortium *c, tr_key **key, uint32_t n)
{
	int fd[TR_PARTNERS_MAX];
	assert_true(n <= TR_PARTNERS_MAX);
	c->n = n;
	c->f = (n - 1) / 3;
	randombytes_buf(c->chain_id, sizeof(c->chain_id));
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(tr_key_generate(TR_ALG_ED25519, &key[i]), TR_OK);
		snprintf(c->partners[i].name, sizeof(c->partners[i].name), "node%u", i + 1);
		c->partners[i].alg = TR_ALG_ED25519;
		memcpy(c->partners[i].key, tr_key_public(key[i]), TR_PUBKEY_LEN);
		snprintf(c->partners[i].address, sizeof(c->partners[i].address), "127.0.0.1:%d",
			 tu_free_port(&fd[i]));
	}
	for (uint32_t i = 0; i < n; i++)
		close(fd[i]);
}

typedef struct {
	tr_consortium c;
	tr_key *key[2];
	rx_state rx[2];
	p2p_link *link[2];
} pair;

static void pair_open(pair *p, size_t bulk_max)
{
	memset(p, 0, sizeof(*p));
	consortium_make(&p->c, p->key, 2);
	for (int i = 0; i < 2; i++) {
		pthread_mutex_init(&p->rx[i].mu, NULL);
		pthread_cond_init(&p->rx[i].cv, NULL);
	}
	for (int i = 0; i < 2; i++) {
		char err[256];
		p2p_link_config lc = {.c = &p->c, .self = (uint32_t)i, .key = p->key[i],
				      .recv = on_frame, .hold = on_hold, .recv_ctx = &p->rx[i],
				      .queue_urgent_max = bulk_max, .queue_bulk_max = bulk_max};
		assert_int_equal(p2p_link_open(&lc, &p->link[i], err, sizeof(err)), TR_OK);
	}
	for (uint64_t t0 = tr_mono_ms();;) {
		if (strcmp(p2p_link_peer_state(p->link[0], 1), "up") == 0 &&
		    strcmp(p2p_link_peer_state(p->link[1], 0), "up") == 0)
			break;
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
		usleep(10000);
	}
}

static void pair_close(pair *p)
{
	for (int i = 0; i < 2; i++) {
		p2p_link_close(p->link[i]);
		tr_key_free(p->key[i]);
		pthread_mutex_destroy(&p->rx[i].mu);
		pthread_cond_destroy(&p->rx[i].cv);
	}
}

/* Wait until rx has taken want gossip and want_cons consensus frames. */
static void wait_frames(rx_state *rx, uint64_t want, uint64_t want_cons)
{
	uint64_t t0 = tr_mono_ms();
	pthread_mutex_lock(&rx->mu);
	while (rx->gossip < want || rx->consensus < want_cons) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&rx->cv, &rx->mu, &ts);
		if (tr_mono_ms() - t0 > DEADLINE_MS)
			break;
	}
	pthread_mutex_unlock(&rx->mu);
}

static void fill(uint8_t *buf, uint64_t seq)
{
	tr_be64_put(buf, seq);
}

/* 400 frames of 64 KiB sent back to back: every one arrives, in order. */
static void test_no_loss_in_order(void **state)
{
	enum { N = 400, LEN = 64 << 10 };
	pair p;
	uint8_t *buf = calloc(1, LEN);
	size_t full = 0;
	p2p_link_stats st;
	(void)state;
	assert_non_null(buf);
	pair_open(&p, 0);
	for (uint64_t i = 0; i < N; i++) {
		int rc;
		fill(buf, i);
		while ((rc = p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, LEN)) == TR_EFULL) {
			full++;
			usleep(1000);
		}
		assert_int_equal(rc, TR_OK);
	}
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_CONSENSUS, buf, 100), TR_OK);
	wait_frames(&p.rx[1], N, 1);
	pthread_mutex_lock(&p.rx[1].mu);
	assert_int_equal(p.rx[1].gossip, N);
	assert_int_equal(p.rx[1].consensus, 1);
	assert_int_equal(p.rx[1].out_of_order, 0);
	pthread_mutex_unlock(&p.rx[1].mu);
	p2p_link_get_stats(p.link[0], &st);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.frames_out, N + 1);
	assert_true(st.batches_out < N + 1); /* frames were batched while waiting */
	assert_int_equal(st.send_dropped, 0);
	printf("# %d frames of %d bytes: %llu batches, %zu full-queue retries, tx_dropped %llu\n",
	       N, LEN, (unsigned long long)st.batches_out, full,
	       (unsigned long long)st.tx_dropped);
	pair_close(&p);
	free(buf);
}

enum { PB_LEN = 32 << 10, PB_BOUND = 1 << 20 };

/* Send PB_LEN-byte gossip frames numbered from *sent until the link
 * refuses one: it must be TR_EFULL, with the queue at most at its bound,
 * and before three bounds were accepted (the batch acknowledged before
 * the receiver stopped, one batch in flight, the queue). */
static void send_until_full(pair *p, uint8_t *buf, uint64_t *sent)
{
	int rc = TR_OK;
	p2p_link_stats st;
	while (*sent < 3 * PB_BOUND / PB_LEN + 2) {
		fill(buf, *sent);
		rc = p2p_link_send(p->link[0], 1, P2P_KIND_GOSSIP, buf, PB_LEN);
		if (rc != TR_OK)
			break;
		(*sent)++;
		usleep(200); /* let batches go out as they would */
	}
	assert_int_equal(rc, TR_EFULL);
	p2p_link_get_stats(p->link[0], &st);
	assert_true(st.send_full >= 1);
	assert_true(st.queued_bytes > 0 && st.queued_bytes <= PB_BOUND);
	printf("# refused after %llu frames of %d bytes (bound %d), %llu bytes queued\n",
	       (unsigned long long)*sent, PB_LEN, PB_BOUND, (unsigned long long)st.queued_bytes);
}

/* Wait for every frame sent, in order. */
static void all_arrived(rx_state *rx, uint64_t sent, uint64_t cons)
{
	wait_frames(rx, sent, cons);
	pthread_mutex_lock(&rx->mu);
	assert_int_equal(rx->gossip, sent);
	assert_int_equal(rx->consensus, cons);
	assert_int_equal(rx->out_of_order, 0);
	pthread_mutex_unlock(&rx->mu);
}

/* A receiver that takes nothing: the sender's queue fills to its bound
 * and says TR_EFULL; consensus frames still pass; then all arrive. */
static void test_backpressure(void **state)
{
	pair p;
	uint8_t *buf = calloc(1, PB_LEN);
	uint64_t sent = 0;
	p2p_link_stats st;
	(void)state;
	assert_non_null(buf);
	pair_open(&p, PB_BOUND);
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].gate_closed = true;
	pthread_mutex_unlock(&p.rx[1].mu);
	/* the first frame blocks the receiver's callback */
	fill(buf, sent);
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, PB_LEN), TR_OK);
	sent++;
	pthread_mutex_lock(&p.rx[1].mu);
	while (!p.rx[1].blocked)
		pthread_cond_wait(&p.rx[1].cv, &p.rx[1].mu);
	pthread_mutex_unlock(&p.rx[1].mu);
	send_until_full(&p, buf, &sent);
	/* votes have their own queue */
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_CONSENSUS, buf, 200), TR_OK);
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].gate_closed = false;
	pthread_cond_broadcast(&p.rx[1].cv);
	pthread_mutex_unlock(&p.rx[1].mu);
	all_arrived(&p.rx[1], sent, 1);
	/* and the link carries on */
	fill(buf, sent);
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, PB_LEN), TR_OK);
	all_arrived(&p.rx[1], sent + 1, 1);
	p2p_link_get_stats(p.link[0], &st);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.queued_bytes, 0);
	pair_close(&p);
	free(buf);
}

/* Three partners: node 0 multicasts each frame to 1 and 2 (and names
 * itself too, which is skipped). Both get every frame, in order, from one
 * shared copy; when node 1 stops taking frames, its queue alone refuses
 * (the full mask names it), node 2 still gets every frame queued for it,
 * and once node 1 takes frames again it gets all that were queued for it.
 * ASan / valgrind check the shared payloads are freed once, by the last
 * queue done with them. */
/* A PB_LEN gossip payload numbered seq, for p2p_link_multicast. */
static p2p_buf *seq_buf(uint64_t seq)
{
	p2p_buf *b = p2p_buf_new(PB_LEN);
	assert_non_null(b);
	memset(p2p_buf_data(b), 0x5a, PB_LEN);
	fill(p2p_buf_data(b), seq);
	return b;
}

static void test_multicast(void **state)
{
	enum { N = 200 };
	tr_consortium c;
	tr_key *key[3];
	rx_state rx[3];
	p2p_link *link[3];
	uint64_t sent1 = 0, sent2 = 0, refused1 = 0, refused_seq = 0;
	const uint64_t all = 7; /* 0, 1 and 2 */
	(void)state;
	memset(rx, 0, sizeof(rx));
	consortium_make(&c, key, 3);
	for (int i = 0; i < 3; i++) {
		char err[256];
		p2p_link_config lc = {.c = &c, .self = (uint32_t)i, .key = key[i],
				      .recv = on_frame, .hold = on_hold, .recv_ctx = &rx[i],
				      .queue_urgent_max = PB_BOUND, .queue_bulk_max = PB_BOUND};
		pthread_mutex_init(&rx[i].mu, NULL);
		pthread_cond_init(&rx[i].cv, NULL);
		assert_int_equal(p2p_link_open(&lc, &link[i], err, sizeof(err)), TR_OK);
	}
	for (uint64_t t0 = tr_mono_ms();;) {
		if (strcmp(p2p_link_peer_state(link[0], 1), "up") == 0 &&
		    strcmp(p2p_link_peer_state(link[0], 2), "up") == 0)
			break;
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
		usleep(10000);
	}
	/* a buf never handed over is freed by its owner; NULL sends nothing */
	p2p_buf_free(p2p_buf_new(16));
	assert_null(p2p_buf_new(P2P_FRAME_MAX + 1));
	assert_int_equal(p2p_link_multicast(link[0], all, P2P_KIND_GOSSIP, NULL, NULL), 0);
	for (uint64_t i = 0; i < N; i++) {
		/* to whoever still lacks frame i (self named too): a full queue
		 * clears, the receivers take as fast as they can */
		for (uint64_t need = all, full, got; need & 6; need &= ~got) {
			got = p2p_link_multicast(link[0], need, P2P_KIND_GOSSIP, seq_buf(i), &full);
			assert_int_equal(got | full, need & 6);
			if (got != (need & 6))
				usleep(1000);
		}
	}
	all_arrived(&rx[1], N, 0);
	all_arrived(&rx[2], N, 0);
	sent1 = sent2 = N;

	/* node 1 stops taking frames: its queue fills and refuses, node 2's
	 * does not */
	pthread_mutex_lock(&rx[1].mu);
	rx[1].gate_closed = true;
	pthread_mutex_unlock(&rx[1].mu);
	for (uint64_t i = N; !refused1 && i < N + 10 * PB_BOUND / PB_LEN; i++) {
		uint64_t full, got;
		got = p2p_link_multicast(link[0], all, P2P_KIND_GOSSIP, seq_buf(i), &full);
		assert_int_equal(got | full, 6);
		if (got & 2)
			sent1++;
		else
			refused_seq = i, refused1++;
		while (!(got & 4)) { /* node 2 takes frames: frame i goes to it alone */
			usleep(1000);
			got = p2p_link_multicast(link[0], 4, P2P_KIND_GOSSIP, seq_buf(i), &full);
			assert_int_equal(got | full, 4);
		}
		sent2++;
		usleep(200);
	}
	assert_int_equal(refused1, 1);
	assert_int_equal(sent2, sent1 + 1); /* the frame node 1 refused went to node 2 */
	all_arrived(&rx[2], sent2, 0);
	{
		/* that frame kept by its sender (p2p_link_multicast_keep): refused
		 * while node 1 takes nothing, counted in send_full once, not again
		 * when offered again; once node 1 takes frames it goes, in order */
		p2p_buf *kept = seq_buf(refused_seq);
		p2p_link_stats st0, st1;
		uint64_t full, got;
		p2p_link_get_stats(link[0], &st0);
		assert_int_equal(p2p_link_multicast_keep(link[0], 2, P2P_KIND_GOSSIP, kept, &full, false), 0);
		assert_int_equal(full, 2);
		assert_int_equal(p2p_link_multicast_keep(link[0], 2, P2P_KIND_GOSSIP, kept, &full, true), 0);
		assert_int_equal(full, 2);
		p2p_link_get_stats(link[0], &st1);
		assert_int_equal(st1.send_full, st0.send_full + 1);
		pthread_mutex_lock(&rx[1].mu);
		rx[1].gate_closed = false;
		pthread_cond_broadcast(&rx[1].cv);
		pthread_mutex_unlock(&rx[1].mu);
		for (uint64_t t0 = tr_mono_ms();;) {
			got = p2p_link_multicast_keep(link[0], 2, P2P_KIND_GOSSIP, kept, &full, true);
			if (got)
				break;
			assert_int_equal(full, 2);
			assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
			usleep(1000);
		}
		assert_int_equal(got, 2);
		p2p_link_buf_release(link[0], kept);
	}
	all_arrived(&rx[1], sent1 + 1, 0);
	printf("# %d frames to both; then node 1 refused after %llu, node 2 took %llu\n", N,
	       (unsigned long long)(sent1 - N), (unsigned long long)(sent2 - N));
	for (int i = 0; i < 3; i++) {
		p2p_link_close(link[i]);
		tr_key_free(key[i]);
		pthread_mutex_destroy(&rx[i].mu);
		pthread_cond_destroy(&rx[i].cv);
	}
}

/* Gossip that piled up while the receiver was busy leaves in batches of
 * about 4 MiB, not in one of up to 24 MiB: the receiver's one thread
 * takes every partner's batches in turn, and a vote from another partner
 * would wait behind the whole batch. 12 MiB queued: at least three
 * batches. */
static void test_gossip_batches_bounded(void **state)
{
	enum { LEN = 64 << 10, QUEUED = 192 }; /* 12 MiB */
	pair p;
	uint8_t *buf = calloc(1, LEN);
	p2p_link_stats st;
	uint64_t before;
	(void)state;
	assert_non_null(buf);
	pair_open(&p, 16u << 20);
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].gate_closed = true;
	pthread_mutex_unlock(&p.rx[1].mu);
	fill(buf, 0);
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, LEN), TR_OK);
	pthread_mutex_lock(&p.rx[1].mu);
	while (!p.rx[1].blocked)
		pthread_cond_wait(&p.rx[1].cv, &p.rx[1].mu);
	pthread_mutex_unlock(&p.rx[1].mu);
	/* the first batch is in the receiver's hands, unacknowledged: the rest queues */
	for (uint64_t i = 1; i <= QUEUED; i++) {
		fill(buf, i);
		assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, LEN), TR_OK);
	}
	p2p_link_get_stats(p.link[0], &st);
	before = st.batches_out;
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].gate_closed = false;
	pthread_cond_broadcast(&p.rx[1].cv);
	pthread_mutex_unlock(&p.rx[1].mu);
	all_arrived(&p.rx[1], QUEUED + 1, 0);
	p2p_link_get_stats(p.link[0], &st);
	printf("# %d frames of %d bytes queued: %llu batches\n", QUEUED, LEN,
	       (unsigned long long)(st.batches_out - before));
	assert_true(st.batches_out - before >= 3);
	pair_close(&p);
	free(buf);
}

/* A receiver that takes frames but holds the sender's gossip back (its
 * own queue for it is full): the sender's gossip queue fills and refuses,
 * its consensus frames still arrive, traffic the other way does not lift
 * the hold; lifted, every held frame arrives in order. */
static void test_hold(void **state)
{
	pair p;
	uint8_t *buf = calloc(1, PB_LEN);
	uint64_t sent = 0, got;
	p2p_link_stats st;
	(void)state;
	assert_non_null(buf);
	pair_open(&p, PB_BOUND);
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].hold = true;
	pthread_mutex_unlock(&p.rx[1].mu);
	fill(buf, sent);
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, buf, PB_LEN), TR_OK);
	sent++;
	wait_frames(&p.rx[1], 1, 0); /* the first batch is taken, then held */
	send_until_full(&p, buf, &sent);
	/* votes pass the hold (and prove the hold was asked: they need the
	 * acknowledgement that carried it) */
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_CONSENSUS, buf, 200), TR_OK);
	wait_frames(&p.rx[1], 1, 1);
	/* traffic the other way: the held side acknowledges it */
	for (int i = 0; i < 5; i++)
		assert_int_equal(p2p_link_send(p.link[1], 0, P2P_KIND_CONSENSUS, buf, 100), TR_OK);
	wait_frames(&p.rx[0], 0, 5);
	for (uint64_t t0 = tr_mono_ms();;) { /* the sender probes */
		p2p_link_get_stats(p.link[0], &st);
		if (st.probes >= 2)
			break;
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
		usleep(10000);
	}
	pthread_mutex_lock(&p.rx[1].mu);
	got = p.rx[1].gossip;
	assert_true(p.rx[1].hold_asked >= 1);
	assert_int_equal(p.rx[1].consensus, 1);
	pthread_mutex_unlock(&p.rx[1].mu);
	assert_true(got >= 1 && got < sent); /* the first batch came, then nothing */
	p2p_link_get_stats(p.link[0], &st);
	printf("# held: %llu of %llu frames taken, %llu probes\n", (unsigned long long)got,
	       (unsigned long long)sent, (unsigned long long)st.probes);
	pthread_mutex_lock(&p.rx[1].mu);
	p.rx[1].hold = false;
	pthread_mutex_unlock(&p.rx[1].mu);
	all_arrived(&p.rx[1], sent, 1);
	p2p_link_get_stats(p.link[0], &st);
	assert_int_equal(st.queued_bytes, 0);
	assert_int_equal(st.tx_dropped, 0);
	pair_close(&p);
	free(buf);
}

/* ==== A hostile partner ==== */

/* One link (node 0) in a consortium of n; the test holds every partner's
 * key and plays the others by hand, over raw pair1 sockets, so it can
 * send what no link would: the messages of a man in the middle, or of a
 * partner that does not follow the protocol. */
typedef struct {
	tr_consortium c;
	tr_key *key[3];
	rx_state rx;
	p2p_link *link;
} solo;

/* fail_hs: how many of node 0's first handshake sends fail (as if NNG
 * refused them). */
static void solo_open_failing(solo *o, uint32_t n, unsigned fail_hs)
{
	char err[256];
	p2p_link_config lc = {.c = &o->c,
			      .self = 0,
			      .recv = on_frame,
			      .recv_ctx = &o->rx,
			      .test_fail_hs_sends = fail_hs};
	assert_true(n <= 3);
	memset(o, 0, sizeof(*o));
	consortium_make(&o->c, o->key, n);
	pthread_mutex_init(&o->rx.mu, NULL);
	pthread_cond_init(&o->rx.cv, NULL);
	lc.key = o->key[0];
	assert_int_equal(p2p_link_open(&lc, &o->link, err, sizeof(err)), TR_OK);
}

static void solo_open(solo *o, uint32_t n)
{
	solo_open_failing(o, n, 0);
}

static void solo_close(solo *o)
{
	p2p_link_close(o->link);
	for (uint32_t i = 0; i < o->c.n; i++)
		tr_key_free(o->key[i]);
	pthread_mutex_destroy(&o->rx.mu);
	pthread_cond_destroy(&o->rx.cv);
}

/* The test's end of one connection to node 0. */
typedef struct {
	nng_socket s;
	p2p_noise_cipher *tx, *rx;
	uint8_t h[TR_HASH_LEN];
} intruder;

/* Seal plain as send_sealed does (be64 counter, be32 length, sealed with
 * ad = be32 index || last), but in chunks of at most chunk bytes. */
static size_t seal(p2p_noise_cipher *tx, const uint8_t *plain, size_t len, size_t chunk,
		   uint8_t *out)
{
	size_t off = 0, pos = 0;
	uint32_t idx = 0;
	do {
		size_t n = len - off > chunk ? chunk : len - off, ct;
		uint8_t ad[5];
		tr_be32_put(ad, idx++);
		ad[4] = off + n == len;
		tr_be64_put(out + pos, p2p_noise_cipher_nonce(tx));
		assert_int_equal(p2p_noise_encrypt(tx, ad, sizeof(ad), plain + off, n,
						   out + pos + 12, n + P2P_NOISE_TAG_LEN, &ct),
				 TR_OK);
		tr_be32_put(out + pos + 8, (uint32_t)ct);
		pos += 12 + ct;
		off += n;
	} while (off < len);
	return pos;
}

/* Noise_NN with node 0 on the socket's first pipe: the test dials it
 * (initiator) or was dialed (responder). */
static void intruder_handshake(intruder *in, const solo *o, bool initiator)
{
	uint8_t prologue[15 + TR_HASH_LEN], buf[256];
	p2p_noise_config nc = {.protocol = "Noise_NN_25519_ChaChaPoly_SHA256",
			       .role = initiator ? P2P_NOISE_INITIATOR : P2P_NOISE_RESPONDER,
			       .prologue = prologue,
			       .prologue_len = sizeof(prologue)};
	p2p_noise *hs;
	nng_msg *m;
	size_t n;
	memcpy(prologue, "trellis/link/v2", 15);
	memcpy(prologue + 15, o->c.chain_id, TR_HASH_LEN);
	assert_int_equal(p2p_noise_new(&nc, &hs), TR_OK);
	if (initiator) {
		assert_int_equal(p2p_noise_write_message(hs, NULL, 0, buf, sizeof(buf), &n), TR_OK);
		assert_int_equal(nng_send(in->s, buf, n, 0), 0);
	}
	assert_int_equal(nng_recvmsg(in->s, &m, 0), 0);
	assert_int_equal(p2p_noise_read_message(hs, nng_msg_body(m), nng_msg_len(m), buf,
						sizeof(buf), &n),
			 TR_OK);
	nng_msg_free(m);
	if (!initiator) {
		assert_int_equal(p2p_noise_write_message(hs, NULL, 0, buf, sizeof(buf), &n), TR_OK);
		assert_int_equal(nng_send(in->s, buf, n, 0), 0);
	}
	assert_int_equal(p2p_noise_split(hs, initiator ? &in->tx : &in->rx,
					 initiator ? &in->rx : &in->tx),
			 TR_OK);
	assert_int_equal(p2p_noise_handshake_hash(hs, in->h, sizeof(in->h), &n), TR_OK);
	p2p_noise_free(hs);
}

/* Send link.Auth as partner `as`, signed with key, for our role. */
static void intruder_auth(intruder *in, const solo *o, uint32_t as, const tr_key *key, char role)
{
	Link__Auth a = LINK__AUTH__INIT;
	uint8_t msg[TR_HASH_LEN + 1], sig[TR_SIG_LEN], plain[128], out[256];
	size_t n;
	memcpy(msg, in->h, TR_HASH_LEN);
	msg[TR_HASH_LEN] = (uint8_t)role;
	assert_int_equal(tr_sign_tagged(key, "trellis/link/v2", o->c.chain_id, msg, sizeof(msg), sig),
			 TR_OK);
	a.partner = as;
	a.signature.data = sig;
	a.signature.len = sizeof(sig);
	assert_true(link__auth__get_packed_size(&a) <= sizeof(plain));
	n = link__auth__pack(&a, plain);
	n = seal(in->tx, plain, n, P2P_NOISE_PAYLOAD_MAX, out);
	assert_int_equal(nng_send(in->s, out, n, 0), 0);
}

/* Dial node 0 and finish Noise_NN with it (which needs no key). */
static void intruder_connect(intruder *in, const solo *o)
{
	char url[160];
	memset(in, 0, sizeof(*in));
	assert_int_equal(nng_pair1_open(&in->s), 0);
	nng_socket_set_ms(in->s, NNG_OPT_RECVTIMEO, DEADLINE_MS);
	nng_socket_set_size(in->s, NNG_OPT_RECVMAXSZ, 0);
	snprintf(url, sizeof(url), "tcp://%s", o->c.partners[0].address);
	assert_int_equal(nng_dial(in->s, url, NULL, 0), 0);
	intruder_handshake(in, o, true);
}

/* Dial node 0 and bring the link up as partner 1: handshake, our Auth,
 * node 0's Auth (it answers only once ours checked out). */
static void intruder_dial(intruder *in, solo *o)
{
	nng_msg *m;
	intruder_connect(in, o);
	intruder_auth(in, o, 1, o->key[1], 'I');
	assert_int_equal(nng_recvmsg(in->s, &m, 0), 0);
	nng_msg_free(m);
	assert_string_equal(p2p_link_peer_state(o->link, 1), "up");
}

/* Listen at partner 1's address and answer node 0's dial: handshake, then
 * node 0's Auth (taken and dropped). */
static void intruder_listen(intruder *in, const solo *o)
{
	char url[160];
	nng_msg *m;
	memset(in, 0, sizeof(*in));
	assert_int_equal(nng_pair1_open(&in->s), 0);
	nng_socket_set_ms(in->s, NNG_OPT_RECVTIMEO, DEADLINE_MS);
	snprintf(url, sizeof(url), "tcp://%s", o->c.partners[1].address);
	assert_int_equal(nng_listen(in->s, url, NULL, 0), 0);
	intruder_handshake(in, o, false);
	assert_int_equal(nng_recvmsg(in->s, &m, 0), 0); /* node 0's Auth */
	nng_msg_free(m);
}

static void intruder_close(intruder *in)
{
	p2p_noise_cipher_free(in->tx);
	p2p_noise_cipher_free(in->rx);
	/* node 0 may have refused this pipe: NNG 1.5.2's nng_close can then
	 * hang (p2p/close.h) */
	(void)p2p_close_bounded(in->s, 3000);
}

/* A link.Batch of one consensus frame of len bytes, all of them c; the
 * packed batch goes to out, its length is returned. */
static size_t batch_of(uint8_t c, size_t len, uint8_t *out, size_t cap)
{
	Link__Batch b = LINK__BATCH__INIT;
	Link__Frame f = LINK__FRAME__INIT, *fp = &f;
	uint8_t *payload = malloc(len);
	size_t n;
	assert_non_null(payload);
	memset(payload, c, len);
	f.version = 1;
	f.kind = P2P_KIND_CONSENSUS;
	f.payload.data = payload;
	f.payload.len = len;
	b.n_frames = 1;
	b.frames = &fp;
	assert_true(link__batch__get_packed_size(&b) <= cap);
	n = link__batch__pack(&b, out);
	free(payload);
	return n;
}

/* Wait until node 0 has handed over want consensus frames in all, or
 * counted want_bad bad frames. */
static void wait_outcome(solo *o, uint64_t want, uint64_t want_bad)
{
	p2p_link_stats st;
	for (uint64_t t0 = tr_mono_ms();; usleep(1000)) {
		uint64_t got;
		pthread_mutex_lock(&o->rx.mu);
		got = o->rx.consensus;
		pthread_mutex_unlock(&o->rx.mu);
		p2p_link_get_stats(o->link, &st);
		if (got >= want || st.bad_frames >= want_bad)
			return;
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
	}
}

/* An outsider who knows the chain id finishes Noise_NN (it needs no key)
 * and sends a 4 KiB "Auth": refused at once for its size, before it is
 * decrypted or parsed (under the link's lock), and logged so. */
static void test_outsider_big_auth(void **state)
{
	solo o;
	intruder in;
	static char log[1 << 16];
	char logpath[] = "/tmp/link_test_log.XXXXXX";
	bool sent, seen = false;
	uint8_t plain[4096], buf[8192];
	p2p_link_stats st;
	size_t n;
	int logfd, saved;
	(void)state;
	solo_open(&o, 2);
	intruder_connect(&in, &o);
	memset(plain, 0x78, sizeof(plain)); /* not even an Auth: never read */
	n = seal(in.tx, plain, sizeof(plain), P2P_NOISE_PAYLOAD_MAX, buf); /* one chunk */
	/* the link logs to stderr: keep what it says meanwhile */
	logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(logfd, 2);
	/* nothing may fail while stderr is the log (cmocka's message would go
	 * there): wait for the reason in the log itself, not for the refused
	 * count, which a slow machine also raises with a handshake timeout */
	sent = nng_send(in.s, buf, n, 0) == 0;
	for (uint64_t t0 = tr_mono_ms(); sent && tr_mono_ms() - t0 < DEADLINE_MS;) {
		ssize_t got;
		fflush(stderr);
		got = pread(logfd, log, sizeof(log) - 1, 0);
		log[got > 0 ? got : 0] = '\0';
		if ((seen = strstr(log, "reason=\"authentication message too large\"") != NULL))
			break;
		usleep(10000);
	}
	p2p_link_get_stats(o.link, &st);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	unlink(logpath);
	if (!seen)
		fprintf(stderr, "# the link logged:\n%s", log);
	assert_true(sent);
	assert_true(seen);
	assert_true(st.refused >= 1);
	assert_int_equal(st.bad_frames, 0); /* never decrypted */
	intruder_close(&in); /* bounded: the link refused this pipe */
	solo_close(&o);
}

/* A man in the middle holds two batches of two chunks each, and sends
 * the first chunk of one with the second chunk of the other: the indices
 * and the last-chunk flag match, the counters grow. It must not open as
 * one batch. A batch after a gap in the counters (one NNG did not take)
 * still opens. */
static void test_chunk_splice(void **state)
{
	enum { LEN = 100000, CHUNK = 12 + P2P_NOISE_MSG_MAX };
	static uint8_t plain[2][LEN + 64], sealed[2][LEN + 256];
	size_t plen[2], slen[2];
	uint64_t got;
	uint8_t head, tail;
	solo o;
	intruder in;
	p2p_link_stats st;
	(void)state;
	solo_open(&o, 2);
	intruder_dial(&in, &o);
	/* a batch sealed and lost: the next one still opens */
	plen[0] = batch_of('x', LEN, plain[0], sizeof(plain[0]));
	(void)seal(in.tx, plain[0], plen[0], P2P_NOISE_PAYLOAD_MAX, sealed[0]);
	plen[1] = batch_of('y', LEN, plain[1], sizeof(plain[1]));
	slen[1] = seal(in.tx, plain[1], plen[1], P2P_NOISE_PAYLOAD_MAX, sealed[1]);
	assert_int_equal(nng_send(in.s, sealed[1], slen[1], 0), 0);
	wait_outcome(&o, 1, 1);
	pthread_mutex_lock(&o.rx.mu);
	got = o.rx.consensus;
	head = o.rx.cons_head;
	pthread_mutex_unlock(&o.rx.mu);
	assert_int_equal(got, 1);
	assert_int_equal(head, 'y');
	/* two more, spliced: head of 'a', tail of 'b' */
	for (int i = 0; i < 2; i++) {
		plen[i] = batch_of(i ? 'b' : 'a', LEN, plain[i], sizeof(plain[i]));
		slen[i] = seal(in.tx, plain[i], plen[i], P2P_NOISE_PAYLOAD_MAX, sealed[i]);
		assert_true(slen[i] > CHUNK && slen[i] < 2 * CHUNK); /* two chunks */
	}
	assert_int_equal(slen[0], slen[1]);
	memcpy(sealed[0] + CHUNK, sealed[1] + CHUNK, slen[1] - CHUNK);
	assert_int_equal(nng_send(in.s, sealed[0], slen[0], 0), 0);
	wait_outcome(&o, 2, 1);
	p2p_link_get_stats(o.link, &st);
	pthread_mutex_lock(&o.rx.mu);
	got = o.rx.consensus;
	head = o.rx.cons_head;
	tail = o.rx.cons_tail;
	pthread_mutex_unlock(&o.rx.mu);
	if (got > 1)
		print_error("a spliced batch opened: frame from '%c' to '%c'\n", head, tail);
	assert_int_equal(got, 1);
	assert_int_equal(st.bad_frames, 1);
	intruder_close(&in);
	solo_close(&o);
}

/* Chunks are cut as send_sealed cuts them: every one but the last holds
 * P2P_NOISE_PAYLOAD_MAX bytes. A partner that cuts a batch into tiny
 * chunks (24 MiB of 28-byte ones: 900,000 decryptions, about half a
 * second of the one receive thread per message) is refused. */
static void test_chunk_tiny(void **state)
{
	enum { LEN = 1000 };
	static uint8_t plain[LEN + 64], sealed[2 * LEN + 2048];
	size_t plen, slen;
	uint64_t got;
	uint8_t head;
	solo o;
	intruder in;
	p2p_link_stats st;
	(void)state;
	solo_open(&o, 2);
	intruder_dial(&in, &o);
	plen = batch_of('c', LEN, plain, sizeof(plain));
	slen = seal(in.tx, plain, plen, P2P_NOISE_PAYLOAD_MAX, sealed);
	assert_int_equal(nng_send(in.s, sealed, slen, 0), 0);
	wait_outcome(&o, 1, 1);
	plen = batch_of('t', LEN, plain, sizeof(plain));
	slen = seal(in.tx, plain, plen, 100, sealed);
	assert_int_equal(nng_send(in.s, sealed, slen, 0), 0);
	wait_outcome(&o, 2, 1);
	p2p_link_get_stats(o.link, &st);
	pthread_mutex_lock(&o.rx.mu);
	got = o.rx.consensus;
	head = o.rx.cons_head;
	pthread_mutex_unlock(&o.rx.mu);
	assert_int_equal(head, got == 1 ? 'c' : 't');
	assert_int_equal(got, 1);
	assert_int_equal(st.bad_frames, 1);
	intruder_close(&in);
	solo_close(&o);
}

/* Node 0 dials partner 1's address, and the node there authenticates as
 * partner 2 (a valid signature with partner 2's key): refused, the link
 * the dialer makes is to the partner it dialed. The same peer answering
 * as partner 1 brings the link up. */
static void test_dial_binding(void **state)
{
	solo o;
	intruder in;
	nng_msg *m;
	p2p_link_stats st;
	bool up2 = false;
	(void)state;
	solo_open(&o, 3);
	intruder_listen(&in, &o);
	intruder_auth(&in, &o, 2, o.key[2], 'R');
	for (uint64_t t0 = tr_mono_ms();; usleep(1000)) {
		up2 = strcmp(p2p_link_peer_state(o.link, 2), "up") == 0;
		p2p_link_get_stats(o.link, &st);
		if (up2 || st.refused >= 1)
			break;
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
	}
	assert_false(up2);
	/* node 0 redials: answered as partner 1, the link comes up */
	p2p_noise_cipher_free(in.tx);
	p2p_noise_cipher_free(in.rx);
	intruder_handshake(&in, &o, false);
	assert_int_equal(nng_recvmsg(in.s, &m, 0), 0);
	nng_msg_free(m);
	intruder_auth(&in, &o, 1, o.key[1], 'R');
	for (uint64_t t0 = tr_mono_ms(); strcmp(p2p_link_peer_state(o.link, 1), "up") != 0;
	     usleep(1000))
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
	assert_string_equal(p2p_link_peer_state(o.link, 2), "connecting");
	intruder_close(&in);
	solo_close(&o);
}

/* Node 0's first handshake message to partner 1 is refused by NNG (a send
 * on a pipe not ready for it): it goes again on the next pass of the link,
 * and the link comes up on that same connection. Before, the handshake
 * state had moved on, the message was never sent, and the dial waited out
 * the 5 s handshake timeout (counted as refused) before dialling again. */
static void test_hs_send_retried(void **state)
{
	solo o;
	intruder in;
	p2p_link_stats st;
	(void)state;
	solo_open_failing(&o, 2, 2);
	intruder_listen(&in, &o);
	intruder_auth(&in, &o, 1, o.key[1], 'R');
	for (uint64_t t0 = tr_mono_ms(); strcmp(p2p_link_peer_state(o.link, 1), "up") != 0;
	     usleep(1000))
		assert_true(tr_mono_ms() - t0 < DEADLINE_MS);
	p2p_link_get_stats(o.link, &st);
	assert_int_equal(st.send_dropped, 2); /* both failures happened */
	assert_int_equal(st.refused, 0);      /* and no connection timed out */
	intruder_close(&in);
	solo_close(&o);
}

/* Frames over the bound and to peers that are not partners or not up. */
static void test_refusals(void **state)
{
	pair p;
	solo o;
	uint8_t b[8] = {0};
	(void)state;
	pair_open(&p, 0);
	assert_int_equal(p2p_link_send(p.link[0], 0, P2P_KIND_GOSSIP, b, sizeof(b)), TR_EINVAL);
	assert_int_equal(p2p_link_send(p.link[0], 2, P2P_KIND_GOSSIP, b, sizeof(b)), TR_EINVAL);
	assert_int_equal(p2p_link_send(p.link[0], 1, 4, b, 0), TR_EINVAL); /* the link's own */
	assert_int_equal(p2p_link_send(p.link[0], 1, 0, b, sizeof(b)), TR_EINVAL);
	{
		uint8_t *big = malloc(P2P_FRAME_MAX);
		assert_non_null(big);
		assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_CONSENSUS, big, P2P_FRAME_MAX),
				 TR_ETOOBIG);
		free(big);
	}
	/* the link is up: the same frame within bounds goes */
	assert_int_equal(p2p_link_send(p.link[0], 1, P2P_KIND_GOSSIP, b, sizeof(b)), TR_OK);
	pair_close(&p);
	/* A partner that is not up is unreachable; nothing is queued for it.
	 * (A partner that goes down is the fault tests' SIGKILL: closing one
	 * end in this process waits on NNG's one reaper thread, which NNG
	 * 1.5.2 sometimes leaves stuck, p2p/close.h.) */
	solo_open(&o, 2);
	assert_string_equal(p2p_link_peer_state(o.link, 1), "connecting");
	assert_int_equal(p2p_link_send(o.link, 1, P2P_KIND_GOSSIP, b, sizeof(b)), TR_EUNREACH);
	assert_int_equal(p2p_link_send(o.link, 1, P2P_KIND_CONSENSUS, b, sizeof(b)), TR_EUNREACH);
	solo_close(&o);
}

/* Each test runs in a process of its own. NNG 1.5.2 sometimes leaves its
 * one reaper thread waiting forever on a pipe it tears down (pair1's
 * pipe_stop waits on a receive that never completes, as in NNG issue
 * #1543): every later close in that process then hangs, and a later test
 * that needs a pipe torn down (a redial, a refused intruder) waits for
 * nothing. p2p_link_close gives up after a bound (p2p/close.h), so a
 * test whose own last close meets it still ends; the next starts fresh.
 * NNG is never started in this parent, so fork() is safe. */
/* ==== The decoders of an opened message (p2p/seal.c) ==== */

/* pack b into buf; the length */
static size_t pack_batch(const Link__Batch *b, uint8_t **buf)
{
	size_t n = link__batch__get_packed_size(b);
	assert_non_null(*buf = malloc(n ? n : 1));
	link__batch__pack(b, *buf);
	return n;
}

/* A batch of one frame (version, kind, payload length) decodes or not. */
static bool one_frame_decodes(uint32_t version, uint32_t kind, size_t plen)
{
	uint8_t payload[16] = {0}, *buf;
	Link__Frame f = LINK__FRAME__INIT, *fp = &f;
	Link__Batch b = LINK__BATCH__INIT, *out = NULL;
	const char *why;
	size_t n;
	f.version = version;
	f.kind = kind;
	f.payload.data = payload;
	f.payload.len = plen;
	b.frames = &fp;
	b.n_frames = 1;
	n = pack_batch(&b, &buf);
	why = p2p_batch_decode(buf, n, &out);
	free(buf);
	if (why) {
		assert_null(out);
		assert_string_equal(why, "malformed frame");
		return false;
	}
	assert_int_equal(out->n_frames, 1);
	link__batch__free_unpacked(out, NULL);
	return true;
}

static bool auth_decodes(const uint8_t *buf, size_t n)
{
	Link__Auth *a = NULL;
	if (p2p_auth_decode(buf, n, 4, 1, &a) != TR_OK) {
		assert_null(a);
		return false;
	}
	link__auth__free_unpacked(a, NULL);
	return true;
}

static void test_decoders(void **state)
{
	uint8_t sig[TR_SIG_LEN] = {0}, buf[256], *big;
	Link__Auth a = LINK__AUTH__INIT;
	Link__Batch *out = NULL;
	size_t n;
	(void)state;

	assert_true(one_frame_decodes(1, P2P_KIND_CONSENSUS, 16));
	assert_true(one_frame_decodes(1, P2P_KIND_GOSSIP, 0));
	assert_true(one_frame_decodes(1, P2P_KIND_HEIGHT, 8));
	assert_true(one_frame_decodes(1, P2P_KIND_PROBE, 0));
	assert_false(one_frame_decodes(2, P2P_KIND_CONSENSUS, 16)); /* another version */
	assert_false(one_frame_decodes(0, P2P_KIND_CONSENSUS, 16));
	assert_false(one_frame_decodes(1, 9, 16));                 /* an unknown kind */
	assert_false(one_frame_decodes(1, 0, 0));
	assert_false(one_frame_decodes(1, P2P_KIND_PROBE, 1));     /* a probe carries nothing */

	/* an unknown field in the batch (field 9, varint 1) and in a frame */
	{
		static const uint8_t batch_unknown[] = {0x08, 0x01, 0x48, 0x01};
		static const uint8_t frame_unknown[] = {0x12, 0x06, 0x08, 0x01, 0x10, 0x01, 0x48, 0x01};
		static const uint8_t garbage[] = {0xff, 0xff, 0xff};
		assert_non_null(p2p_batch_decode(batch_unknown, sizeof(batch_unknown), &out));
		assert_non_null(p2p_batch_decode(frame_unknown, sizeof(frame_unknown), &out));
		assert_non_null(p2p_batch_decode(garbage, sizeof(garbage), &out));
		assert_null(out);
	}
	/* P2P_BATCH_FRAMES_MAX frames (version 1, consensus, no payload: 6
	 * bytes each) decode; one more is refused before protobuf-c unpacks */
	{
		static const uint8_t frame[] = {0x12, 0x04, 0x08, 0x01, 0x10, 0x01};
		size_t max = (size_t)P2P_BATCH_FRAMES_MAX + 1;
		n = sizeof(frame) * max;
		assert_non_null(big = malloc(n));
		for (size_t i = 0; i < max; i++)
			memcpy(big + i * sizeof(frame), frame, sizeof(frame));
		assert_string_equal(p2p_batch_decode(big, n, &out), "malformed frame");
		assert_null(out);
		assert_null(p2p_batch_decode(big, n - sizeof(frame), &out));
		assert_int_equal(out->n_frames, P2P_BATCH_FRAMES_MAX);
		link__batch__free_unpacked(out, NULL);
		out = NULL;
		free(big);
	}

	a.partner = 2;
	a.signature.data = sig;
	a.signature.len = sizeof(sig);
	assert_true(auth_decodes(buf, link__auth__pack(&a, buf)));
	a.partner = 1; /* the receiver itself */
	assert_false(auth_decodes(buf, link__auth__pack(&a, buf)));
	a.partner = 4; /* not a partner of 4 */
	assert_false(auth_decodes(buf, link__auth__pack(&a, buf)));
	a.partner = 2;
	a.signature.len = sizeof(sig) - 1;
	assert_false(auth_decodes(buf, link__auth__pack(&a, buf)));
	a.signature.len = sizeof(sig);
	n = link__auth__pack(&a, buf);
	buf[n++] = 0x48; /* field 9 */
	buf[n++] = 0x01;
	assert_false(auth_decodes(buf, n));
	assert_false(auth_decodes((const uint8_t *)"\xff\xff", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_loss_in_order),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_multicast),
		cmocka_unit_test(test_gossip_batches_bounded),
		cmocka_unit_test(test_outsider_big_auth),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_chunk_splice),
		cmocka_unit_test(test_chunk_tiny),
		cmocka_unit_test(test_dial_binding),
		cmocka_unit_test(test_hs_send_retried),
		cmocka_unit_test(test_decoders),
	};
	int failed = 0;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int st;
		pid_t pid;
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			if (tr_crypto_init())
				_exit(1);
			fflush(NULL);
			_exit(_cmocka_run_group_tests(tests[i].name, &tests[i], 1, NULL, NULL) ? 1 : 0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "link_test: %s failed\n", tests[i].name);
			failed++;
		}
	}
	return failed ? 1 : 0;
}
