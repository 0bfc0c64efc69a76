/*
 * link.c: the partner links. See link.h for the contract, docs/links.md
 * for the protocol.
 *
 * One NNG pair1 socket in polyamorous mode: a listener on our address and
 * one dialer per other partner; every pipe (connection) gets a session:
 *
 *   HS    Noise_NN handshake; the dialer writes message 1 (from the
 *         receive thread's housekeeping: NNG forbids socket operations in
 *         pipe callbacks), the listener answers message 2.
 *   AUTH  transport keys exist; each side sends link.Auth: its partner
 *         index and a signature over tag || chain_id || h || role. The
 *         dialer speaks first; the listener answers once it has checked.
 *   UP    frames are delivered to the caller as coming from that partner.
 *
 * Transport: one NNG message carries one link.Batch (after Auth), cut
 * into Noise transport messages of at most 65519 bytes of plaintext, each
 * preceded by its explicit counter (be64) and length (be32), and
 * authenticated with the associated data be32(chunk index) || last-chunk
 * flag, so chunks cannot be dropped from the end of a message. The
 * receiver refuses a counter below the next one it expects (replay), a
 * gap between the counters of one message's chunks (the head of one
 * message spliced to the tail of another), and any message that does not
 * decrypt; a message NNG did not take leaves a gap in the counters
 * between messages, which the receiver accepts.
 * Any failure closes the pipe; the dialer reconnects and handshakes
 * afresh.
 *
 * Flow control. NNG's pair1 (polyamorous) holds, per pipe, the message
 * being written and two queued, and discards what is sent beyond that.
 * So frames wait in per-partner queues (urgent: consensus and heights;
 * bulk: gossip) and leave as one batch per window: one batch with frames
 * unacknowledged per connection, on one connection per partner at a time
 * (data_slot). Every batch carries the count of batches with frames this
 * side received (its acknowledgement) and whether this side holds the
 * partner's gossip back (the caller's hold callback: its queue for that
 * partner is full); a held partner still sends consensus frames, and,
 * while it has gossip waiting, a probe frame every LINK_PROBE_MS, which
 * the holder answers with its current word. A batch without frames (an
 * acknowledgement, or a hold lifted) goes only when nothing else carries
 * it, and at most once between two of the partner's batches with frames.
 * Messages are delivered in order, and the partner sends a batch with
 * frames only once the previous one is acknowledged: when it arrives,
 * whatever carried that acknowledgement, and all before it, has left
 * NNG. So at most one lone batch from before that, one after it and our
 * own batch with frames can be queued: three, which fits. The Auth
 * messages have left before any batch with frames arrives (the partner
 * sends one only once it is up, after reading our Auth).
 */
#include "p2p/link.h"

#include "p2p/close.h"
#include "p2p/noise.h"
#include "p2p/seal.h"
#include "proto/link.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define LINK_TAG P2P_NOISE_TRELLIS_PROLOGUE /* the prologue's prefix, and Auth's tag */
#define LINK_WINDOW 1 /* batches with frames in flight per connection */
#define LINK_PROBE_MS 50  /* a held partner's probes, at most this often */
/* Gossip in one batch, at most (a larger frame goes alone): the partner's
 * one receive thread takes batches from all partners in turn, and a
 * consensus frame from another partner waits while it decrypts and hands
 * on a batch */
#define LINK_GOSSIP_BATCH_MAX ((4u << 20) + (64u << 10)) /* one full gossip frame */
#define LINK_AUTH_MSG_MAX 256 /* a sealed link.Auth is about 100 bytes */
#define RECV_POLL_MS 50

enum { S_FREE = 0, S_HS, S_AUTH, S_UP };

typedef struct {
	int state;
	nng_pipe pipe;
	bool initiator;
	bool added;     /* NNG added the pipe to the socket (ADD_POST): sends reach it */
	bool msg1_sent;
	uint8_t msg1[128]; /* handshake message 1 (Noise_NN: an ephemeral key, 32 bytes), once written */
	size_t msg1_len;
	bool auth_sent;
	p2p_noise *hs;
	p2p_noise_cipher *tx, *rx;
	uint64_t rx_next;
	uint8_t h[TR_HASH_LEN];
	int peer;
	uint64_t started_ms;
	uint64_t addr;  /* remote address key (IPv4 address, IPv6 /64), 0 if unknown */
	bool rx_busy;   /* the receive thread is decrypting outside the lock */
	bool gone;      /* the pipe went away while rx_busy: free it after */
	/* flow control (UP only; see the top of this file): batches with
	 * frames this side sent, the partner acknowledged, this side received,
	 * and the count this side last acknowledged */
	uint64_t sent, acked, received, ack_sent;
	uint64_t sent_ms; /* when the last batch with frames went */
	bool hold_want;   /* the caller holds the partner's gossip back */
	bool hold_sent;   /* ... as the partner was last told */
	bool peer_hold;   /* the partner holds our gossip back */
	bool lone_sent;   /* a batch without frames went since the last one with */
	uint64_t probe_ms; /* when this side last probed a partner holding it */
} session;

/* A payload queued for several partners at once (p2p_link_multicast):
 * one copy, freed with the last frame that points into it. refs is
 * changed under l->mu only. */
struct p2p_buf {
	size_t refs;
	size_t len;
	uint8_t data[];
};

/* A frame queued for a partner: link.Frame's kind and payload (in a
 * shared buf, or none: a probe). */
typedef struct qframe {
	struct qframe *next;
	uint32_t kind;
	size_t len;
	p2p_buf *buf;
} qframe;

static void buf_unref(p2p_buf *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static void qframe_free(qframe *f)
{
	buf_unref(f->buf);
	free(f);
}

typedef struct {
	qframe *head, *tail;
	size_t bytes;
} fqueue;

enum { Q_URGENT = 0, Q_BULK = 1 };

struct p2p_link {
	p2p_link_config cfg;
	nng_socket sock;
	bool sock_open;
	nng_listener listener;
	nng_dialer dialers[TR_PARTNERS_MAX];
	uint32_t dial_peer[TR_PARTNERS_MAX]; /* the partner dialers[k] dials */
	size_t ndialers;
	pthread_mutex_t mu;
	session sess[P2P_SESSIONS_MAX];
	fqueue q[TR_PARTNERS_MAX][2]; /* per partner: urgent, bulk */
	size_t data_slot[TR_PARTNERS_MAX]; /* 1 + the session carrying frames to it, or 0 */
	pthread_t rx_thread;
	bool rx_started;
	volatile int stopping;
	p2p_link_stats stats;
	uint8_t prologue[P2P_LINK_PROLOGUE_LEN];
};

/* ==== Sessions (l->mu held) ==== */

static session *sess_find(p2p_link *l, nng_pipe p)
{
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
		if (l->sess[i].state != S_FREE && !l->sess[i].gone &&
		    nng_pipe_id(l->sess[i].pipe) == nng_pipe_id(p))
			return &l->sess[i];
	return NULL;
}

/* An inbound connection that has not authenticated yet. */
static bool handshaking_in(const session *s)
{
	return (s->state == S_HS || s->state == S_AUTH) && !s->initiator && !s->gone;
}

/* The remote address of a pipe as a key: the IPv4 address, or the first
 * 64 bits of an IPv6 address; 0 when unknown. */
static uint64_t remote_key(nng_pipe p)
{
	nng_sockaddr sa;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return 0;
	if (sa.s_family == NNG_AF_INET)
		return 1ull << 32 | sa.s_in.sa_addr;
	if (sa.s_family == NNG_AF_INET6)
		return tr_be64_get(sa.s_in6.sa_addr) | 1; /* never 0 */
	return 0;
}

/* "IP:PORT" of a pipe's remote end, for logs. */
static void remote_str(nng_pipe p, char *out, size_t outlen)
{
	nng_sockaddr sa;
	snprintf(out, outlen, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0 && sa.s_family == NNG_AF_INET) {
		const uint8_t *ip = (const uint8_t *)&sa.s_in.sa_addr;
		snprintf(out, outlen, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3],
			 (unsigned)((sa.s_in.sa_port & 0xff) << 8 | sa.s_in.sa_port >> 8));
	}
}

/* Make room for a new inbound connection from address key addr: returns
 * a handshaking session to evict, or NULL when both bounds hold or (with
 * *refuse_new set) when the newcomer's own address holds its share. */
static session *pick_victim(p2p_link *l, uint64_t addr, bool *refuse_new)
{
	size_t total = 0, same = 0, best = 0, k;
	uint64_t from = addr;
	session *cand[P2P_SESSIONS_MAX];

	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
		if (handshaking_in(&l->sess[i])) {
			total++;
			same += l->sess[i].addr == addr;
		}
	/* Over its own address's share the newcomer goes, at ADD_PRE, before
	 * NNG receives on it: evicting a connection of that address closed a
	 * pipe NNG was receiving on, which one address flooding the port made
	 * happen often enough to hit NNG 1.5.2's close bug (docs/network.md,
	 * Known limits) and jam the link layer. */
	if (same >= P2P_HANDSHAKES_PER_ADDR) {
		*refuse_new = true;
		return NULL;
	}
	if (total < P2P_HANDSHAKES_MAX)
		return NULL;
	/* over the total: the address holding the most pays */
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++) {
		size_t c = 0;
		if (!handshaking_in(&l->sess[i]))
			continue;
		for (size_t j = 0; j < P2P_SESSIONS_MAX; j++)
			c += handshaking_in(&l->sess[j]) && l->sess[j].addr == l->sess[i].addr;
		if (c > best) {
			best = c;
			from = l->sess[i].addr;
		}
	}
	k = 0;
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
		if (handshaking_in(&l->sess[i]) && l->sess[i].addr == from)
			cand[k++] = &l->sess[i];
	return k ? cand[randombytes_uniform((uint32_t)k)] : NULL;
}

static void sess_clear(session *s)
{
	p2p_noise_free(s->hs);
	p2p_noise_cipher_free(s->tx);
	p2p_noise_cipher_free(s->rx);
	memset(s, 0, sizeof(*s));
}

static const char *peer_name(const p2p_link *l, const session *s)
{
	return s->peer >= 0 ? l->cfg.c->partners[s->peer].name : "?";
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	p2p_link *l = arg;
	session *s;
	bool refuse = false, evict = false;
	nng_pipe victim = NNG_PIPE_INITIALIZER;

	pthread_mutex_lock(&l->mu);
	/* The session is made before NNG starts the pipe (ADD_PRE): at
	 * ADD_POST the pipe already receives, and a message 1 that reached
	 * the receive thread before its session existed was dropped, the
	 * handshake then waiting out P2P_AUTH_TIMEOUT_MS. The initiator
	 * sends message 1 only after ADD_POST: until then the socket does not
	 * hold the pipe, and pair1 drops what is sent to it. */
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if ((s = sess_find(l, p)))
			s->added = true;
	} else if (ev == NNG_PIPE_EV_ADD_PRE) {
		bool initiator = nng_dialer_id(nng_pipe_dialer(p)) > 0;
		uint64_t addr = initiator ? 0 : remote_key(p);
		if (!initiator) {
			session *v = pick_victim(l, addr, &refuse);
			if (v) {
				victim = v->pipe;
				evict = true;
				l->stats.evicted++;
				sess_clear(v);
			}
		}
		s = NULL;
		for (size_t i = 0; i < P2P_SESSIONS_MAX && !s && !refuse; i++)
			if (l->sess[i].state == S_FREE)
				s = &l->sess[i];
		if (!s) {
			l->stats.refused++;
			refuse = true;
		} else {
			p2p_noise_config nc = {
				.protocol = P2P_LINK_PROTOCOL,
				.prologue = l->prologue,
				.prologue_len = sizeof(l->prologue),
			};
			s->initiator = initiator;
			nc.role = s->initiator ? P2P_NOISE_INITIATOR : P2P_NOISE_RESPONDER;
			if (p2p_noise_new(&nc, &s->hs) != TR_OK) {
				refuse = true;
			} else {
				s->state = S_HS;
				s->pipe = p;
				s->peer = -1;
				s->addr = addr;
				s->started_ms = tr_mono_ms();
			}
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		s = sess_find(l, p);
		if (s) {
			if (s->state == S_UP)
				TR_LOG(TR_LOG_INFO, "msg=\"link down\" peer=%s", peer_name(l, s));
			if (s->rx_busy) /* the receive thread frees it when done */
				s->gone = true;
			else
				sess_clear(s);
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (evict) {
		char addr[64];
		remote_str(victim, addr, sizeof(addr));
		TR_LOG(TR_LOG_DEBUG, "msg=\"handshake evicted\" remote=%s", addr);
		nng_pipe_close(victim);
	}
	if (refuse)
		nng_pipe_close(p);
}

/* ==== Sending (l->mu held) ==== */

static int send_raw(p2p_link *l, nng_pipe p, const uint8_t *bytes, size_t len)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return TR_ENOMEM;
	memcpy(nng_msg_body(m), bytes, len);
	nng_msg_set_pipe(m, p);
	if (nng_sendmsg(l->sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		l->stats.send_dropped++;
		return TR_EUNREACH;
	}
	return TR_OK;
}

/* Encrypt plaintext into chunks and send it as one NNG message. */
static int send_sealed(p2p_link *l, session *s, const uint8_t *plain, size_t len)
{
	size_t cap = p2p_sealed_cap(len), n;
	nng_msg *m;

	if (nng_msg_alloc(&m, cap) != 0)
		return TR_ENOMEM;
	if (p2p_seal(s->tx, plain, len, nng_msg_body(m), cap, &n) != TR_OK) {
		nng_msg_free(m);
		return TR_ESTATE;
	}
	nng_msg_chop(m, cap - n);
	nng_msg_set_pipe(m, s->pipe);
	if (nng_sendmsg(l->sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		return TR_EUNREACH;
	}
	return TR_OK;
}

static int send_auth(p2p_link *l, session *s)
{
	Link__Auth a = LINK__AUTH__INIT;
	uint8_t msg[TR_HASH_LEN + 1], sig[TR_SIG_LEN], buf[128];
	size_t n;
	memcpy(msg, s->h, TR_HASH_LEN);
	msg[TR_HASH_LEN] = s->initiator ? 'I' : 'R';
	if (tr_sign_tagged(l->cfg.key, LINK_TAG, l->cfg.c->chain_id, msg, sizeof(msg), sig))
		return TR_EINVAL;
	a.partner = l->cfg.self;
	a.signature.data = sig;
	a.signature.len = sizeof(sig);
	n = link__auth__get_packed_size(&a);
	TR_ASSERT(n <= sizeof(buf));
	link__auth__pack(&a, buf);
	s->auth_sent = true;
	return send_sealed(l, s, buf, n);
}

/* ==== Queues and flow control (l->mu held) ==== */

static void fq_clear(fqueue *q)
{
	while (q->head) {
		qframe *f = q->head;
		q->head = f->next;
		qframe_free(f);
	}
	q->tail = NULL;
	q->bytes = 0;
}

/* The UP session that carries frames to peer: the same one while it
 * lasts (two batches in flight on two connections could overtake each
 * other), else the first one found. */
static session *data_session(p2p_link *l, uint32_t peer)
{
	size_t k = l->data_slot[peer];
	if (k && l->sess[k - 1].state == S_UP && !l->sess[k - 1].gone &&
	    l->sess[k - 1].peer == (int)peer)
		return &l->sess[k - 1];
	l->data_slot[peer] = 0;
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
		if (l->sess[i].state == S_UP && !l->sess[i].gone && l->sess[i].peer == (int)peer) {
			l->data_slot[peer] = i + 1;
			return &l->sess[i];
		}
	return NULL;
}

/* Seal and send on s one link.Batch of the n frames in chain (n may be
 * 0: an acknowledgement), with s's count of received batches. */
static int send_batch(p2p_link *l, session *s, const qframe *chain, size_t n)
{
	Link__Batch b = LINK__BATCH__INIT;
	Link__Frame *fr = NULL, **frp = NULL;
	uint8_t *plain = NULL;
	size_t k = 0, plen;
	int rc = TR_ENOMEM;

	if (n && (!(fr = malloc(n * sizeof(*fr))) || !(frp = malloc(n * sizeof(*frp)))))
		goto out;
	for (const qframe *f = chain; f && k < n; f = f->next, k++) {
		link__frame__init(&fr[k]);
		fr[k].version = 1;
		fr[k].kind = f->kind;
		fr[k].payload.data = f->buf ? f->buf->data : NULL;
		fr[k].payload.len = f->len;
		frp[k] = &fr[k];
	}
	b.received = s->received;
	b.hold = s->hold_want;
	b.n_frames = n;
	b.frames = frp;
	plen = link__batch__get_packed_size(&b);
	TR_ASSERT(plen <= P2P_BATCH_MAX);
	if (!(plain = malloc(plen)))
		goto out;
	link__batch__pack(&b, plain);
	rc = send_sealed(l, s, plain, plen);
	if (rc == TR_OK) {
		s->ack_sent = s->received;
		s->hold_sent = s->hold_want;
		if (n == 0)
			s->lone_sent = true;
	}
out:
	free(plain);
	free(frp);
	free(fr);
	return rc;
}

/* Send what is queued for peer as one batch, if its connection's window
 * is open: consensus frames first, then gossip unless the partner holds
 * it back (at most LINK_GOSSIP_BATCH_MAX of it), up to P2P_FRAME_MAX and
 * P2P_BATCH_FRAMES_MAX frames (a larger frame goes alone). The batch also
 * acknowledges. */
static void flush(p2p_link *l, uint32_t peer)
{
	session *s = data_session(l, peer);
	qframe *chain = NULL, **tailp = &chain;
	size_t n = 0, est = 0;

	if (!s || s->sent - s->acked >= LINK_WINDOW)
		return;
	for (int qi = Q_URGENT; qi <= (s->peer_hold ? Q_URGENT : Q_BULK); qi++) {
		fqueue *q = &l->q[peer][qi];
		size_t cap = qi == Q_BULK ? est + LINK_GOSSIP_BATCH_MAX : P2P_FRAME_MAX;
		if (cap > P2P_FRAME_MAX)
			cap = P2P_FRAME_MAX;
		/* len + 32 bounds a frame's packed size inside the batch */
		while (q->head && n < P2P_BATCH_FRAMES_MAX &&
		       (n == 0 || est + q->head->len + 32 <= cap)) {
			qframe *f = q->head;
			if (!(q->head = f->next))
				q->tail = NULL;
			q->bytes -= f->len;
			f->next = NULL;
			*tailp = f;
			tailp = &f->next;
			est += f->len + 32;
			n++;
		}
		if (q->head)
			break;
	}
	if (n == 0)
		return;
	if (send_batch(l, s, chain, n) == TR_OK) {
		s->sent++;
		s->sent_ms = tr_mono_ms();
		l->stats.frames_out += n;
		l->stats.batches_out++;
	} else {
		l->stats.send_dropped += n;
	}
	while (chain) {
		qframe *f = chain;
		chain = f->next;
		qframe_free(f);
	}
}

/* Send what s owes its partner (an acknowledgement, a hold lifted): with
 * our frames if the window allows, else alone, at most once between two
 * of the partner's batches with frames (see the top of this file). What
 * waits goes with the next batch either way (a held partner probes), or
 * at housekeeping if sending failed. */
static void settle(p2p_link *l, session *s)
{
	if (s->ack_sent == s->received && s->hold_sent == s->hold_want)
		return;
	flush(l, (uint32_t)s->peer);
	if ((s->ack_sent != s->received || s->hold_sent != s->hold_want) && !s->lone_sent &&
	    send_batch(l, s, NULL, 0) != TR_OK)
		l->stats.send_dropped++;
}

/* Queue one frame for peer, its payload in b (one more reference to it),
 * and send what the window allows. */
static int enqueue_as(p2p_link *l, uint32_t peer, uint32_t kind, p2p_buf *b, bool again)
{
	int qi = kind == P2P_KIND_GOSSIP ? Q_BULK : Q_URGENT;
	fqueue *q = &l->q[peer][qi];
	size_t cap = qi == Q_BULK ? l->cfg.queue_bulk_max : l->cfg.queue_urgent_max;
	qframe *f;

	if (b->len > P2P_FRAME_MAX - 32)
		return TR_ETOOBIG;
	if (!data_session(l, peer))
		return TR_EUNREACH;
	/* over the bound, refuse; a frame alone may pass it (a block) */
	if (q->bytes > 0 && q->bytes + b->len > cap) {
		if (!again) /* a kept frame offered again was counted once */
			l->stats.send_full++;
		return TR_EFULL;
	}
	if (!(f = malloc(sizeof(*f))))
		return TR_ENOMEM;
	f->next = NULL;
	f->kind = kind;
	f->len = b->len;
	f->buf = b;
	b->refs++;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->bytes += f->len;
	flush(l, peer);
	return TR_OK;
}

static int enqueue(p2p_link *l, uint32_t peer, uint32_t kind, p2p_buf *b)
{
	return enqueue_as(l, peer, kind, b, false);
}

p2p_buf *p2p_buf_new(size_t len)
{
	p2p_buf *b;
	if (len > P2P_FRAME_MAX || !(b = malloc(sizeof(*b) + (len ? len : 1))))
		return NULL;
	b->refs = 1;
	b->len = len;
	return b;
}

uint8_t *p2p_buf_data(p2p_buf *b)
{
	return b->data;
}

size_t p2p_buf_len(const p2p_buf *b)
{
	return b->len;
}

void p2p_buf_free(p2p_buf *b)
{
	if (b) {
		TR_ASSERT(b->refs == 1); /* the caller's own, never handed to a link */
		free(b);
	}
}

static uint64_t multicast(p2p_link *l, uint64_t peers, uint32_t kind, p2p_buf *b,
			  uint64_t *full, bool keep, bool again)
{
	uint64_t sent = 0;
	if (full)
		*full = 0;
	if (!b)
		return 0;
	pthread_mutex_lock(&l->mu);
	for (uint32_t i = 0; p2p_kind_ok(kind) && i < l->cfg.c->n; i++) {
		int rc;
		if (i == l->cfg.self || !(peers & ((uint64_t)1 << i)))
			continue;
		rc = enqueue_as(l, i, kind, b, again);
		if (rc == TR_OK)
			sent |= (uint64_t)1 << i;
		else if (rc == TR_EFULL && full)
			*full |= (uint64_t)1 << i;
	}
	if (!keep)
		buf_unref(b); /* the caller's reference */
	pthread_mutex_unlock(&l->mu);
	return sent;
}

uint64_t p2p_link_multicast(p2p_link *l, uint64_t peers, uint32_t kind, p2p_buf *b,
			    uint64_t *full)
{
	return multicast(l, peers, kind, b, full, false, false);
}

uint64_t p2p_link_multicast_keep(p2p_link *l, uint64_t peers, uint32_t kind, p2p_buf *b,
				 uint64_t *full, bool again)
{
	return multicast(l, peers, kind, b, full, true, again);
}

void p2p_link_buf_release(p2p_link *l, p2p_buf *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&l->mu);
	buf_unref(b);
	pthread_mutex_unlock(&l->mu);
}

/* A payload copied into a new buf, for one send or a broadcast. */
static p2p_buf *buf_copy(const uint8_t *payload, size_t len)
{
	p2p_buf *b = p2p_buf_new(len);
	if (b && len)
		memcpy(b->data, payload, len);
	return b;
}

int p2p_link_send(p2p_link *l, uint32_t peer, uint32_t kind, const uint8_t *payload, size_t len)
{
	int rc;
	p2p_buf *b;
	if (peer >= l->cfg.c->n || peer == l->cfg.self || !p2p_kind_ok(kind))
		return TR_EINVAL;
	if (len > P2P_FRAME_MAX - 32)
		return TR_ETOOBIG;
	if (!(b = buf_copy(payload, len)))
		return TR_ENOMEM;
	pthread_mutex_lock(&l->mu);
	rc = enqueue(l, peer, kind, b);
	buf_unref(b);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

size_t p2p_link_broadcast(p2p_link *l, uint32_t kind, const uint8_t *payload, size_t len)
{
	uint64_t sent;
	size_t n = 0;
	if (!p2p_kind_ok(kind) || len > P2P_FRAME_MAX - 32)
		return 0;
	sent = p2p_link_multicast(l, UINT64_MAX, kind, buf_copy(payload, len), NULL);
	for (; sent; sent &= sent - 1)
		n++;
	return n;
}

size_t p2p_link_queued(p2p_link *l, uint32_t peer, uint32_t kind)
{
	size_t n = SIZE_MAX;
	if (peer >= l->cfg.c->n || peer == l->cfg.self || !p2p_kind_ok(kind))
		return SIZE_MAX;
	pthread_mutex_lock(&l->mu);
	if (data_session(l, peer))
		n = l->q[peer][kind == P2P_KIND_GOSSIP ? Q_BULK : Q_URGENT].bytes;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ==== Receiving ==== */

/* Decrypt an NNG message of chunks into *plain (malloc'd). Touches only
 * s->rx and s->rx_next, which belong to the receive thread: called either
 * with l->mu held or with s->rx_busy set. */
static int open_sealed(session *s, const uint8_t *msg, size_t len, uint8_t **plain,
		       size_t *plen)
{
	return p2p_unseal(s->rx, &s->rx_next, msg, len, plain, plen);
}

static int finish_handshake(p2p_link *l, session *s)
{
	size_t hl;
	int rc = p2p_noise_split(s->hs, s->initiator ? &s->tx : &s->rx,
				 s->initiator ? &s->rx : &s->tx);
	(void)l;
	if (rc)
		return rc;
	rc = p2p_noise_handshake_hash(s->hs, s->h, sizeof(s->h), &hl);
	if (rc || hl != TR_HASH_LEN)
		return TR_EVERIFY;
	p2p_noise_free(s->hs);
	s->hs = NULL;
	s->state = S_AUTH;
	return TR_OK;
}

/* The partner whose address the dialer of pipe p dials, or -1 (an
 * inbound pipe). Receive thread only: it starts once every dialer is set. */
static int dialed_peer(const p2p_link *l, nng_pipe p)
{
	int id = nng_dialer_id(nng_pipe_dialer(p));
	for (size_t k = 0; k < l->ndialers; k++)
		if (id > 0 && nng_dialer_id(l->dialers[k]) == id)
			return (int)l->dial_peer[k];
	return -1;
}

/* The peer's Auth: a partner's valid signature over h and its role; on
 * a pipe we dialed, the partner whose address we dialed. */
static int check_auth(p2p_link *l, session *s, const uint8_t *plain, size_t len)
{
	Link__Auth *a = NULL;
	uint8_t msg[TR_HASH_LEN + 1];
	const tr_partner *p;
	int rc = TR_EVERIFY;
	if (p2p_auth_decode(plain, len, l->cfg.c->n, l->cfg.self, &a) != TR_OK)
		goto out;
	if (s->initiator && (int)a->partner != dialed_peer(l, s->pipe))
		goto out;
	p = &l->cfg.c->partners[a->partner];
	memcpy(msg, s->h, TR_HASH_LEN);
	msg[TR_HASH_LEN] = s->initiator ? 'R' : 'I'; /* the peer's role */
	if (tr_verify_tagged(p->alg, p->key, LINK_TAG, l->cfg.c->chain_id, msg, sizeof(msg),
			     a->signature.data) != TR_OK)
		goto out;
	s->peer = (int)a->partner;
	rc = TR_OK;
out:
	link__auth__free_unpacked(a, NULL);
	return rc;
}

/* An authenticated session's batch (no lock needed: see open_sealed).
 * On success *out is the unpacked batch; otherwise a reason. */
static const char *open_batch(session *s, const uint8_t *msg, size_t len, Link__Batch **out)
{
	uint8_t *plain = NULL;
	size_t plen;
	const char *why;
	if (open_sealed(s, msg, len, &plain, &plen) != TR_OK)
		return "frame does not decrypt (tampered or replayed)";
	why = p2p_batch_decode(plain, plen, out);
	free(plain);
	return why;
}

/* The older authenticated link of s's partner in s's direction, if any. */
static session *older_link(p2p_link *l, const session *s)
{
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++) {
		session *o = &l->sess[i];
		if (o != s && o->state == S_UP && !o->gone && o->peer == s->peer &&
		    o->initiator == s->initiator)
			return o;
	}
	return NULL;
}

/* Handle one handshake or authentication message on session s (l->mu
 * held). When s comes up and replaces an older link, *replaced is set to
 * its pipe. Returns a reason string on failure. */
static const char *handle(p2p_link *l, session *s, const uint8_t *msg, size_t len,
			  nng_pipe *replaced)
{
	uint8_t buf[P2P_NOISE_MSG_MAX];
	uint8_t *plain = NULL;
	size_t n, plen;
	const char *why = NULL;

	TR_ASSERT(s->state == S_HS || s->state == S_AUTH);
	if (s->state == S_HS) {
		if (s->initiator && !s->msg1_sent)
			return "message before the handshake started";
		if (len > P2P_NOISE_MSG_MAX ||
		    p2p_noise_read_message(s->hs, msg, len, buf, sizeof(buf), &n) != TR_OK)
			return "handshake failed (another consortium, or tampered)";
		if (!s->initiator) {
			if (p2p_noise_write_message(s->hs, NULL, 0, buf, sizeof(buf), &n) != TR_OK ||
			    send_raw(l, s->pipe, buf, n) != TR_OK)
				return "cannot answer the handshake";
		}
		if (!p2p_noise_is_finished(s->hs))
			return "handshake did not finish";
		if (finish_handshake(l, s) != TR_OK)
			return "handshake split failed";
		if (s->initiator && send_auth(l, s) != TR_OK)
			return "cannot send auth";
		return NULL;
	}
	/* anyone can get this far (Noise_NN has no keys): a large message
	 * would be parsed under l->mu */
	if (len > LINK_AUTH_MSG_MAX)
		return "authentication message too large";
	if (open_sealed(s, msg, len, &plain, &plen) != TR_OK) {
		l->stats.bad_frames++;
		return "frame does not decrypt (tampered or replayed)";
	}
	if (check_auth(l, s, plain, plen) != TR_OK) {
		why = "authentication failed: not a partner of this consortium, a wrong key, "
		      "or not the partner dialed";
	} else if (!s->auth_sent && send_auth(l, s) != TR_OK) {
		why = "cannot send auth";
	} else {
		session *o = older_link(l, s);
		s->state = S_UP;
		if (o) { /* a partner that reconnected: its older pipe is dead or dying */
			*replaced = o->pipe;
			sess_clear(o);
		}
		TR_LOG(TR_LOG_INFO, "msg=\"link up\" peer=%s dir=%s", peer_name(l, s),
		       s->initiator ? "out" : "in");
		flush(l, (uint32_t)s->peer); /* what waited for a link */
	}
	free(plain);
	return why;
}

/* Housekeeping (l->mu held): start handshakes, expire unauthenticated
 * pipes and links whose partner stopped acknowledging, send what waits
 * in the queues. Pipes to close are returned in close_list. */
static size_t housekeeping(p2p_link *l, nng_pipe *close_list, const bool *held, bool *holding)
{
	size_t n, nclose = 0;
	uint64_t now = tr_mono_ms();
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++) {
		session *s = &l->sess[i];
		if (s->state == S_FREE)
			continue;
		if (s->state == S_HS && s->initiator && s->added && !s->msg1_sent) {
			/* written once (the handshake state moves on); a send NNG
			 * refused goes again on the next pass, instead of the dial
			 * waiting out P2P_AUTH_TIMEOUT_MS */
			if (!s->msg1_len &&
			    p2p_noise_write_message(s->hs, NULL, 0, s->msg1, sizeof(s->msg1), &n) == TR_OK)
				s->msg1_len = n;
			if (s->msg1_len && l->cfg.test_fail_hs_sends) {
				l->cfg.test_fail_hs_sends--;
				l->stats.send_dropped++;
			} else if (s->msg1_len && send_raw(l, s->pipe, s->msg1, s->msg1_len) == TR_OK) {
				s->msg1_sent = true;
			}
		}
		if (s->state != S_UP && s->started_ms + P2P_AUTH_TIMEOUT_MS < now) {
			close_list[nclose++] = s->pipe;
			l->stats.refused++;
			sess_clear(s);
		} else if (s->state == S_UP && !s->rx_busy && s->sent > s->acked &&
			   s->sent_ms + P2P_ACK_TIMEOUT_MS < now) {
			/* a lost batch or acknowledgement would stop the link for
			 * good; a fresh connection starts the counts again */
			TR_LOG(TR_LOG_WARN,
			       "msg=\"link stalled: no acknowledgement\" peer=%s waited_ms=%llu",
			       peer_name(l, s), (unsigned long long)(now - s->sent_ms));
			l->stats.stalled++;
			close_list[nclose++] = s->pipe;
			sess_clear(s);
		}
	}
	/* holds the caller lifted; acknowledgements that could not go */
	*holding = false;
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++) {
		session *s = &l->sess[i];
		if (s->state != S_UP || s->gone)
			continue;
		if (s->hold_want) {
			if (held && !held[s->peer])
				s->hold_want = false;
			else
				*holding = true;
		}
		settle(l, s);
	}
	for (uint32_t p = 0; p < l->cfg.c->n; p++) {
		session *d;
		if (!l->q[p][Q_URGENT].head && !l->q[p][Q_BULK].head)
			continue;
		d = data_session(l, p);
		/* held with gossip waiting and nothing else to send: ask again */
		if (d && d->peer_hold && !l->q[p][Q_URGENT].head && l->q[p][Q_BULK].head &&
		    d->sent == d->acked && d->probe_ms + LINK_PROBE_MS <= now) {
			qframe *f = calloc(1, sizeof(*f));
			if (f) {
				f->kind = P2P_KIND_PROBE;
				l->q[p][Q_URGENT].head = l->q[p][Q_URGENT].tail = f;
				d->probe_ms = now;
				l->stats.probes++;
			}
		}
		flush(l, p);
	}
	return nclose;
}

static void log_refused(p2p_link *l, const session *s, nng_pipe p, const char *why)
{
	char addr[64];
	remote_str(p, addr, sizeof(addr));
	TR_LOG(TR_LOG_WARN, "msg=\"link refused\" peer=%s remote=%s reason=\"%s\"",
	       peer_name(l, s), addr, why);
}

/* The receive thread. Handshake and authentication messages are handled
 * under l->mu (they are small and bounded); an authenticated session's
 * batches, up to P2P_BATCH_MAX, are decrypted, parsed and handed over
 * outside it, so senders on other threads never wait behind a large
 * decryption. A batch is acknowledged (with what flushes, or alone) once
 * its frames are handed over, so a partner sends no faster than this
 * thread takes its frames; when the caller says its queue for the
 * partner is full (cfg.hold), the acknowledgement also holds the
 * partner's gossip back until housekeeping finds the caller caught up. */
static void *rx_main(void *arg)
{
	p2p_link *l = arg;
	tr_thread_name("tr-link-rx");
	nng_pipe *close_list = malloc((P2P_SESSIONS_MAX + 2) * sizeof(*close_list));
	bool holding = false, held[TR_PARTNERS_MAX];
	if (!close_list)
		return NULL;
	while (!l->stopping) {
		nng_msg *m = NULL;
		Link__Batch *b = NULL;
		session *s = NULL, *busy = NULL;
		nng_pipe p = NNG_PIPE_INITIALIZER, replaced = NNG_PIPE_INITIALIZER;
		const char *why = NULL;
		uint32_t peer = 0;
		size_t nclose;
		int rv = nng_recvmsg(l->sock, &m, 0);

		/* the caller's word on the partners held back last time */
		if (holding && l->cfg.hold)
			for (uint32_t i = 0; i < l->cfg.c->n; i++)
				held[i] = l->cfg.hold(l->cfg.recv_ctx, i);
		pthread_mutex_lock(&l->mu);
		nclose = housekeeping(l, close_list, holding && l->cfg.hold ? held : NULL, &holding);
		if (rv == 0) {
			p = nng_msg_get_pipe(m);
			s = sess_find(l, p);
			if (s && s->state == S_UP) {
				busy = s;
				busy->rx_busy = true;
				peer = (uint32_t)busy->peer;
			} else if (s) {
				why = handle(l, s, nng_msg_body(m), nng_msg_len(m), &replaced);
				if (nng_pipe_id(replaced) > 0)
					close_list[nclose++] = replaced;
				if (why) {
					log_refused(l, s, p, why);
					l->stats.refused++;
					close_list[nclose++] = p;
					sess_clear(s);
				}
			}
		}
		pthread_mutex_unlock(&l->mu);
		if (busy) {
			bool hold = false;
			why = open_batch(busy, nng_msg_body(m), nng_msg_len(m), &b);
			if (!why) {
				bool bogus;
				pthread_mutex_lock(&l->mu);
				bogus = b->received > busy->sent;
				pthread_mutex_unlock(&l->mu);
				if (bogus) {
					why = "acknowledges batches never sent";
					link__batch__free_unpacked(b, NULL);
					b = NULL;
				}
			}
			/* hand the frames over, then ask whether to hold the partner */
			if (!why) {
				for (size_t i = 0; i < b->n_frames; i++)
					if (b->frames[i]->kind != P2P_KIND_PROBE)
						l->cfg.recv(l->cfg.recv_ctx, peer, b->frames[i]->kind,
							    b->frames[i]->payload.data,
							    b->frames[i]->payload.len);
				hold = b->n_frames && l->cfg.hold && l->cfg.hold(l->cfg.recv_ctx, peer);
			}
			pthread_mutex_lock(&l->mu);
			busy->rx_busy = false;
			if (why)
				l->stats.bad_frames++;
			else
				l->stats.frames_in += b->n_frames;
			if (busy->gone) { /* the pipe closed meanwhile */
				sess_clear(busy);
			} else if (why) {
				log_refused(l, busy, p, why);
				l->stats.refused++;
				close_list[nclose++] = p;
				sess_clear(busy);
			} else {
				if (b->received > busy->acked)
					busy->acked = b->received;
				busy->peer_hold = b->hold;
				if (b->n_frames) {
					busy->received++;
					busy->lone_sent = false;
					busy->hold_want = hold;
					holding = holding || hold;
				}
				flush(l, peer); /* the window may have opened, a hold lifted */
				settle(l, busy);
			}
			pthread_mutex_unlock(&l->mu);
		}
		if (m)
			nng_msg_free(m);
		for (size_t i = 0; i < nclose; i++)
			nng_pipe_close(close_list[i]);
		if (b)
			link__batch__free_unpacked(b, NULL);
		if (rv != 0 && rv != NNG_ETIMEDOUT && rv != NNG_EAGAIN && l->stopping)
			break;
	}
	free(close_list);
	return NULL;
}

/* ==== Open / close ==== */

static int url_of(char *out, size_t outlen, const char *address)
{
	int n = snprintf(out, outlen, "tcp://%s", address);
	return n < 0 || (size_t)n >= outlen ? TR_ETOOBIG : TR_OK;
}

int p2p_link_open(const p2p_link_config *cfg, p2p_link **out, char *err, size_t errlen)
{
	p2p_link *l = calloc(1, sizeof(*l));
	char url[TR_ADDRESS_MAX + 16];
	int rv;

	if (!l)
		return TR_ENOMEM;
	l->cfg = *cfg;
	if (!l->cfg.queue_urgent_max)
		l->cfg.queue_urgent_max = P2P_QUEUE_URGENT_MAX;
	if (!l->cfg.queue_bulk_max)
		l->cfg.queue_bulk_max = P2P_QUEUE_BULK_MAX;
	p2p_link_prologue(l->prologue, cfg->c->chain_id);
	pthread_mutex_init(&l->mu, NULL);
	if ((rv = nng_pair1_open_poly(&l->sock)) != 0) {
		snprintf(err, errlen, "cannot open the link socket: %s", nng_strerror(rv));
		goto fail;
	}
	l->sock_open = true;
	nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ,
			    P2P_BATCH_MAX + (P2P_BATCH_MAX / P2P_NOISE_PAYLOAD_MAX + 1) * 28);
	nng_socket_set_ms(l->sock, NNG_OPT_RECVTIMEO, RECV_POLL_MS);
	nng_socket_set_ms(l->sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(l->sock, NNG_OPT_RECONNMAXT, 2000);
	nng_socket_set_int(l->sock, NNG_OPT_SENDBUF, 1024);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, l);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, l);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, pipe_cb, l);
	if (url_of(url, sizeof(url), cfg->c->partners[cfg->self].address) ||
	    (rv = nng_listen(l->sock, url, &l->listener, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s",
			 cfg->c->partners[cfg->self].address, nng_strerror(rv));
		goto fail;
	}
	for (uint32_t i = 0; i < cfg->c->n; i++) {
		if (i == cfg->self)
			continue;
		if (url_of(url, sizeof(url), cfg->c->partners[i].address) ||
		    (rv = nng_dial(l->sock, url, &l->dialers[l->ndialers], NNG_FLAG_NONBLOCK)) != 0) {
			snprintf(err, errlen, "cannot dial partner '%s' at '%s': %s",
				 cfg->c->partners[i].name, cfg->c->partners[i].address,
				 nng_strerror(rv));
			goto fail;
		}
		l->dial_peer[l->ndialers++] = i;
	}
	if (pthread_create(&l->rx_thread, NULL, rx_main, l) != 0) {
		snprintf(err, errlen, "cannot start the link thread");
		goto fail;
	}
	l->rx_started = true;
	*out = l;
	return TR_OK;
fail:
	p2p_link_close(l);
	return TR_EIO;
}

#define CLOSE_WAIT_MS 3000

void p2p_link_close(p2p_link *l)
{
	if (!l)
		return;
	l->stopping = 1;
	if (l->rx_started)
		pthread_join(l->rx_thread, NULL);
	/* Stop redialing and accepting before closing the socket. */
	for (size_t i = 0; i < l->ndialers; i++)
		nng_dialer_close(l->dialers[i]);
	if (nng_listener_id(l->listener) > 0)
		nng_listener_close(l->listener);
	/* if nng_close hangs (p2p/close.h), leave the link allocated (pipe
	 * callbacks may still run) and let the process exit */
	if (l->sock_open && !p2p_close_bounded(l->sock, CLOSE_WAIT_MS)) {
		pthread_mutex_lock(&l->mu);
		/* free the sessions now; a late pipe callback finds them empty */
		for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
			if (l->sess[i].state != S_FREE)
				sess_clear(&l->sess[i]);
		pthread_mutex_unlock(&l->mu);
		TR_LOG(TR_LOG_WARN, "msg=\"link socket did not close in time; exiting without it\"");
		return;
	}
	for (size_t i = 0; i < P2P_SESSIONS_MAX; i++)
		if (l->sess[i].state != S_FREE)
			sess_clear(&l->sess[i]);
	for (size_t i = 0; i < TR_PARTNERS_MAX; i++) {
		fq_clear(&l->q[i][Q_URGENT]);
		fq_clear(&l->q[i][Q_BULK]);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

const char *p2p_link_peer_state(p2p_link *l, uint32_t i)
{
	const char *st = "connecting";
	if (i == l->cfg.self)
		return "self";
	pthread_mutex_lock(&l->mu);
	for (size_t k = 0; k < P2P_SESSIONS_MAX; k++)
		if (l->sess[k].state == S_UP && !l->sess[k].gone && l->sess[k].peer == (int)i)
			st = "up";
	pthread_mutex_unlock(&l->mu);
	return st;
}

void p2p_link_get_stats(p2p_link *l, p2p_link_stats *out)
{
	nng_stat *all, *sock, *drop;
	pthread_mutex_lock(&l->mu);
	*out = l->stats;
	out->queued_bytes = 0;
	for (uint32_t i = 0; i < l->cfg.c->n; i++)
		out->queued_bytes += l->q[i][Q_URGENT].bytes + l->q[i][Q_BULK].bytes;
	pthread_mutex_unlock(&l->mu);
	/* pair1 (polyamorous) discards a frame when the peer's pipe queue is
	 * full and nng_sendmsg still succeeds: only its statistic tells */
	if (l->sock_open && nng_stats_get(&all) == 0) {
		if ((sock = nng_stat_find_socket(all, l->sock)) &&
		    (drop = nng_stat_find(sock, "tx_drop")))
			out->tx_dropped = nng_stat_value(drop);
		nng_stats_free(all);
	}
}
