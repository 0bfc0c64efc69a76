/*
 * link.h: authenticated, encrypted links between the consortium's nodes,
 * over one NNG pair1 (polyamorous) socket.
 *
 * Each node listens on its consortium address and dials every other
 * partner (NNG redials with backoff). Every connection (pipe) runs a Noise
 * handshake (Noise_NN_25519_ChaChaPoly_SHA256, prologue
 * "trellis/link/v2" || chain_id), then each side proves its partner key by
 * signing the handshake hash (link.Auth); only then is the pipe "up" and
 * its frames delivered, tagged with the authenticated partner index. A
 * non-member, a wrong key, another chain id, a tampered, replayed or
 * oversized frame: the pipe is closed, the event logged and counted, and
 * nothing reaches the caller.
 *
 * Admission bounds. A connection that has not authenticated yet costs a
 * slot, and anyone who can reach the port can open one, so they are
 * bounded apart from the partners' links:
 *   - our own dials (at most one per partner) always get a slot, so every
 *     link can come up in at least one direction whatever outsiders do;
 *   - inbound connections still handshaking: at most P2P_HANDSHAKES_MAX,
 *     and P2P_HANDSHAKES_PER_ADDR per remote address (IPv4 address, IPv6
 *     /64). A new one over either bound evicts a random handshaking
 *     connection, from its own address if that is over its bound,
 *     otherwise from the address holding the most. An outsider flooding
 *     from one address thus only evicts its own connections, and one
 *     flooding from many cannot hold a slot long enough to starve a
 *     partner's handshake (milliseconds) for good;
 *   - every unauthenticated connection is closed after
 *     P2P_AUTH_TIMEOUT_MS;
 *   - an authenticated link replaces the older link of the same partner in
 *     the same direction, so links stay at two per partner.
 *
 * Flow control (docs/links.md): NNG's pair1 (polyamorous) discards a
 * message sent while a connection's two-message queue is full, so frames
 * wait in a bounded queue per partner and leave as one link.Batch once
 * the partner acknowledged the previous batch; a full queue refuses the
 * send (TR_EFULL), and a receiver whose caller is behind holds the
 * partner's gossip back (p2p_hold_fn) while consensus frames still go.
 *
 * Threads: the link has one receive thread of its own (the only place
 * frames are decrypted and the recv callback is called); sends may come
 * from any thread. Session state is behind one mutex; the receive thread
 * decrypts and parses an authenticated frame without holding it (the
 * session is marked busy meanwhile, so a disconnect defers freeing it).
 */
#ifndef P2P_LINK_H
#define P2P_LINK_H

#include "common/consortium.h"

#include <stdbool.h>

#define P2P_FRAME_MAX (24u << 20)   /* one frame (link.Frame) */
#define P2P_BATCH_MAX (P2P_FRAME_MAX + 64) /* one decrypted link.Batch */
#define P2P_BATCH_FRAMES_MAX 65536  /* frames in one link.Batch */
/* Frames queued for one partner, not yet handed to NNG: consensus
 * messages and heights, and gossip, each bounded apart so that gossip
 * cannot crowd out votes. */
#define P2P_QUEUE_URGENT_MAX (8u << 20)
#define P2P_QUEUE_BULK_MAX (48u << 20)
#define P2P_HANDSHAKES_MAX 32        /* inbound connections not yet authenticated */
#define P2P_HANDSHAKES_PER_ADDR 4    /* ... of them from one remote address */
/* links (two per partner), our own dials (one per partner), handshakes,
 * and slack for pipes NNG has not reported closed yet */
#define P2P_SESSIONS_MAX (3 * TR_PARTNERS_MAX + P2P_HANDSHAKES_MAX + 16)
#define P2P_AUTH_TIMEOUT_MS 5000     /* a pipe must authenticate within this */
#define P2P_ACK_TIMEOUT_MS 30000     /* a partner must acknowledge a batch within this */

enum {
	P2P_KIND_CONSENSUS = 1, /* a PBFT message */
	P2P_KIND_GOSSIP = 2,    /* link.Gossip: records */
	P2P_KIND_HEIGHT = 3     /* be64(last committed height), sent every second */
};

/* Called on the link's receive thread for every frame of an authenticated
 * peer. payload is borrowed for the call. */
typedef void (*p2p_recv_fn)(void *ctx, uint32_t peer, uint32_t kind, const uint8_t *payload,
			    size_t len);
/* Called on the receive thread (no link lock held) after a batch of
 * partner peer's frames, then every 50 ms while it says so: true while the
 * caller wants no more gossip from peer (its frames wait to be
 * processed). The partner then keeps its gossip queued (refusing sends
 * past the bound) and sends only consensus frames and heights. */
typedef bool (*p2p_hold_fn)(void *ctx, uint32_t peer);

typedef struct {
	const tr_consortium *c; /* borrowed, outlives the link */
	uint32_t self;
	const tr_key *key;      /* borrowed: this partner's key */
	p2p_recv_fn recv;
	p2p_hold_fn hold;       /* may be NULL */
	void *recv_ctx;         /* for both */
	/* bounds of each partner's queues; 0: P2P_QUEUE_URGENT_MAX and
	 * P2P_QUEUE_BULK_MAX (tests set small ones) */
	size_t queue_urgent_max, queue_bulk_max;
	/* tests: this many of the first handshake messages this side sends
	 * fail as if NNG refused them (0 in production) */
	unsigned test_fail_hs_sends;
} p2p_link_config;

typedef struct p2p_link p2p_link;

typedef struct {
	uint64_t frames_in, frames_out, send_dropped;
	uint64_t batches_out;   /* NNG messages with frames sent */
	uint64_t send_full;     /* frames refused: the partner's queue was full */
	uint64_t queued_bytes;  /* frames waiting in the partners' queues now */
	uint64_t stalled;       /* links closed: no acknowledgement in P2P_ACK_TIMEOUT_MS */
	uint64_t probes;        /* probes sent to partners holding our gossip back */
	uint64_t refused;       /* handshakes or auths that failed */
	uint64_t evicted;       /* handshaking connections evicted by newer ones */
	uint64_t bad_frames;    /* frames that did not decrypt or parse */
	uint64_t tx_dropped;    /* messages NNG's pair1 discarded (a full pipe queue): 0 by design */
} p2p_link_stats;

/* Listen on partners[self].address and dial every other partner.
 * err names the address on failure. */
int p2p_link_open(const p2p_link_config *cfg, p2p_link **out, char *err,
		  size_t errlen) TR_MUST_USE;
/* Stop the receive thread, close every connection, free. NULL ignored. */
void p2p_link_close(p2p_link *l);

/* Queue one frame for partner peer; it leaves over an authenticated pipe
 * in a batch once the partner has acknowledged the previous batch (flow
 * control: a slow receiver fills this queue instead of NNG discarding
 * frames). Returns 0; TR_EUNREACH when no pipe to peer is up (the frame
 * is dropped: consensus retransmits); TR_EFULL when the partner's queue
 * for this kind of frame is full (backpressure: the caller sends again
 * later); TR_ETOOBIG; TR_EINVAL for self, a non-partner or another kind.
 * Never blocks on the network. */
int p2p_link_send(p2p_link *l, uint32_t peer, uint32_t kind, const uint8_t *payload,
		  size_t len);
/* Send to every other partner; returns how many were queued. The payload
 * is copied once, whatever the number of partners. */
size_t p2p_link_broadcast(p2p_link *l, uint32_t kind, const uint8_t *payload, size_t len);

/* A payload the caller fills in place and hands to p2p_link_multicast,
 * which queues it for several partners without a copy per partner (a
 * gossip frame of a bulk submit is 4 MiB, and the copies' first touches
 * held the node thread for seconds). NULL when out of memory or len is
 * over P2P_FRAME_MAX. */
typedef struct p2p_buf p2p_buf;
p2p_buf *p2p_buf_new(size_t len);
uint8_t *p2p_buf_data(p2p_buf *b);
size_t p2p_buf_len(const p2p_buf *b);
/* Free a buf that was never handed to p2p_link_multicast. */
void p2p_buf_free(p2p_buf *b);
/* Queue b as one frame of `kind` for each partner in the bit mask peers
 * (bit i: partner i; self and non-partners skipped), as p2p_link_send
 * would. Takes the caller's b in every case (NULL: nothing sent). Returns
 * the mask of partners it was queued for; *full, when not NULL, gets those
 * whose queue refused it as full (TR_EFULL of p2p_link_send). */
uint64_t p2p_link_multicast(p2p_link *l, uint64_t peers, uint32_t kind, p2p_buf *b,
			    uint64_t *full);
/* The same, but the caller keeps its reference to b, to offer b again
 * later to the partners whose queue was full (*full); again: this is such
 * an offer (a refusal is then not counted in send_full a second time).
 * Release b with p2p_link_buf_release. */
uint64_t p2p_link_multicast_keep(p2p_link *l, uint64_t peers, uint32_t kind, p2p_buf *b,
				 uint64_t *full, bool again);
void p2p_link_buf_release(p2p_link *l, p2p_buf *b);

/* Bytes of frames of this kind waiting in partner peer's queue (not yet
 * in a batch): what a caller that produces frames on request (catch-up
 * blocks) checks first, so that a partner that does not take them costs
 * no more work. SIZE_MAX when no link to peer is up (a send would be
 * refused), or for self, a non-partner or another kind. */
size_t p2p_link_queued(p2p_link *l, uint32_t peer, uint32_t kind);

/* "self", "up" or "connecting" for partner i. */
const char *p2p_link_peer_state(p2p_link *l, uint32_t i);
void p2p_link_get_stats(p2p_link *l, p2p_link_stats *out);

#endif
