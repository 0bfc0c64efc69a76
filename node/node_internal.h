/*
 * node_internal.h: what node.c (the loop), api.c (the client API) and
 * mempool.c (pending records) share. Everything here but the job queue is
 * owned by the node thread.
 */
#ifndef NODE_INTERNAL_H
#define NODE_INTERNAL_H

#include "common/consortium.h"
#include "consensus/pbft.h"
#include "ledger/ledger.h"
#include "node/node.h"
#include "p2p/link.h"
#include "proto/trellis.pb-c.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct node node;
typedef struct api_ctx api_ctx;

/* A client's submit waiting for its records to commit. */
typedef struct {
	api_ctx *ctx;
	size_t n, remaining;
	uint8_t (*ids)[TR_HASH_LEN];
	uint64_t *heights;
	uint32_t *positions;
} waiter;

/* ==== Jobs: the only state shared with other threads ==== */

#define NODE_JOBS_MAX 100000                 /* jobs queued for the node thread */
#define NODE_PEER_QUEUE_BYTES_MAX (2 * (size_t)P2P_FRAME_MAX) /* one peer's queued frames */
/* ... and at most this many of them: small frames whose signatures fail
 * cost the node thread a check each, and one partner filled the whole
 * NODE_JOBS_MAX queue with them inside its byte share (a review: 100,000
 * frames of 120 bytes, ~4.6 s of node thread, other partners refused) */
#define NODE_PEER_JOBS_MAX (NODE_JOBS_MAX / 4)
#define NODE_REGOSSIP_RECORDS_MAX 2000      /* records in one re-sent gossip frame */
#define NODE_GOSSIP_FRAME_BYTES (4u << 20)   /* a submit's gossip goes in frames of at most this */
#define NODE_CHECKERS_MAX 8                  /* record checker threads */
#define NODE_GOSSIP_KEPT_BYTES_MAX (256u << 20) /* refused gossip kept to offer again */
#define NODE_GOSSIP_KEPT_MS 10000            /* ... for at most this long */
#define NODE_CHECK_SLICE 256                 /* a submit's records checked before others' turn */
/* The node thread takes at most this many queued jobs of each source (each
 * partner, and the clients) per pass, in turns: a partner that queued its
 * quarter of the queue with frames whose signatures fail (~1 s of checks)
 * no longer makes the others' votes wait behind all of them. */
#define NODE_TURN_JOBS 64
#define NODE_SOURCES (TR_PARTNERS_MAX + 1)   /* job sources: partners, then clients */

enum { JOB_API = 1, JOB_CONSENSUS = 2, JOB_GOSSIP = 3, JOB_HEIGHT = 4 };

typedef struct job {
	struct job *next;
	int kind;
	api_ctx *ctx;                  /* JOB_API */
	Trellis__ApiRequest *req;      /* JOB_API (owned: node_api_decode) */
	uint32_t peer;                 /* JOB_CONSENSUS, JOB_GOSSIP */
	uint8_t *bytes;                /* JOB_CONSENSUS message (owned) */
	uint64_t height;               /* JOB_HEIGHT: the peer's height */
	size_t len;
	uint8_t **recs;                /* JOB_GOSSIP: checked records (owned) */
	size_t *lens;
	uint8_t (*ids)[TR_HASH_LEN];   /* submit / gossip: event id of each record */
	size_t nrec;
	size_t charged;                /* bytes charged to peer (node_peer_charge) */
	size_t checked_n;              /* JOB_API: records checked so far (check.c) */
	/* JOB_API: the submit's gossip frames, packed by the checker as its
	 * records pass (records [0, packed_n)); the node thread only sends
	 * them. frames_failed: out of memory, the node thread packs. */
	p2p_buf **frames;
	size_t nframes, frames_cap, packed_n;
	bool frames_failed;
	bool again;                    /* JOB_GOSSIP: a re-send, still unchecked in bytes */
	uint64_t seq;                  /* when node_job_push queued it (1, 2, ...) */
} job;

/* Where the gossip frame of recs[first..] ends: past the last record that
 * keeps it within NODE_GOSSIP_FRAME_BYTES (at least one), at most n. */
size_t node_gossip_frame_end(const ProtobufCBinaryData *recs, size_t first, size_t n);
/* recs[0..n) packed as one link.Gossip (again: a re-send, regossip) into a
 * link payload; NULL when out of memory or too large for a frame. */
p2p_buf *node_gossip_pack(const ProtobufCBinaryData *recs, size_t n, bool again);

/* Pack the gossip frames of a submit job's checked records, [packed_n,
 * checked_n): the full ones, and the rest once all are checked (check.c). */
void node_check_pack(job *j);
/* Whether a gossip frame marked `again` of len bytes and nrec records is
 * within what regossip() sends: only such frames skip the checkers' signature
 * checks (the node thread drops the records it holds). */
bool node_again_fits(const tr_params *p, size_t len, size_t nrec);

/* Hold PERSIST a in place of the held one (node.c run_actions: of
 * PERSISTs in a row only the last blob is written). A PERSIST carries its
 * prepared block only once, so one held before that a lacks moves into a;
 * the replaced blob is freed. */
void node_persist_hold(pbft_action *held, pbft_action *a);
/* Whether some signer's records are pending here while NODE_STARVE_BLOCKS
 * blocks committed without one of them (pbft_note_starved); called once a
 * tick, it also notes the height for the signers with none pending. */
#define NODE_STARVE_BLOCKS 3
bool node_starved(node *nd);

/* Queue a checked job for the node thread (any thread). */
void node_job_push(node *nd, job *j);
/* Take up to NODE_TURN_JOBS queued jobs of each source, in turns (the
 * first of each source, then the second...), as one list, and give their
 * charges back (nd->mu held). */
job *node_jobs_take(node *nd);
/* Whether any job is queued (nd->mu held). */
bool node_jobs_queued(const node *nd);
void node_job_free(job *j);

/* ==== Checkers and per-peer bounds (check.c) ==== */

typedef struct {
	job *head, *tail;
	size_t consensus; /* consensus frames queued here */
	bool busy;        /* a checker works on this partner's previous job */
} check_fifo;

/* What a peer job costs against NODE_PEER_QUEUE_BYTES_MAX. */
size_t node_job_cost(const job *j);
/* Charge j to its peer; false (counted and logged) when the peer's queued
 * bytes or the node queue are full: the caller drops j. */
bool node_peer_charge(node *nd, job *j);
/* Give j's charge back (the node thread took it, or it was dropped). */
void node_peer_release(node *nd, job *j);
/* The same with nd->mu held. */
void node_peer_uncharge(node *nd, job *j);
/* Queue a submit (JOB_API, j->req) or any partner frame (a gossip's raw
 * j->bytes are checked) for the checkers; they pass it on to the node
 * thread in order per partner, or refuse it. */
void node_check_push(node *nd, job *j);
/* Start the checkers: nd->checkers_want of them, or one per core (at most
 * NODE_CHECKERS_MAX) when it is 0. */
int node_checkers_start(node *nd, char *err, size_t errlen) TR_MUST_USE;
/* Stop and join the checkers; jobs still queued stay (node_checks_free). */
void node_checkers_stop(node *nd);
void node_checks_free(node *nd);

/* A gossip frame kept for the partners whose link queue refused it. */
typedef struct kept_frame {
	struct kept_frame *next;
	p2p_buf *buf; /* the node's reference */
	uint64_t peers; /* still to get it */
	uint64_t since_ms;
} kept_frame;

/* ==== Mempool (mempool.c) ==== */

typedef struct wref {
	waiter *w;
	size_t idx;
	struct wref *next;
} wref;

typedef struct mp_entry {
	uint8_t id[TR_HASH_LEN];
	uint64_t ih; /* keyed hash of the id */
	/* its EPCIS rule key (ldg_rule), when it has one: at most one pending
	 * record per rule key (mp_set_rule) */
	bool has_rule;
	uint8_t rule[TR_HASH_LEN];
	uint64_t rh;
	uint8_t *rec; /* owned copy of the record bytes, already checked */
	size_t len;
	struct mp_entry *prev, *next; /* arrival order */
	struct mp_entry *sprev, *snext; /* arrival order among its signer's */
	uint32_t signer;                 /* Record.signer: whose share of a block it takes */
	uint32_t origin;                 /* the partner it came from (self: a client's) */
	uint64_t seq;                    /* arrival order here, from 1 */
	wref *waiters;
	uint64_t sent_ms; /* when this node last gossiped it, or it arrived */
} mp_entry;

typedef struct {
	mp_entry *head, *tail;
	mp_entry *shead[TR_PARTNERS_MAX], *stail[TR_PARTNERS_MAX]; /* per signer */
	size_t count, bytes;
	size_t scount[TR_PARTNERS_MAX], sbytes[TR_PARTNERS_MAX]; /* per signer */
	/* the bounds (mp_fits): in all, and each partner's share kept for
	 * it, max / (2 * partners) */
	size_t max_records, max_bytes, keep_records, keep_bytes;
	uint32_t partners;
	uint64_t next_seq;
	/* per stream, [origin * TR_PARTNERS_MAX + signer]: the records of one
	 * signer that one partner passed on reach the primary in one order and
	 * are cut in it (mp_take_fair); what the stream last committed tells
	 * a record still pending that was passed over (lost on the way) from
	 * one waiting its turn (mp_take_resend) */
	uint64_t *stream_seq;    /* the highest seq committed */
	uint64_t *stream_ms;     /* when a record of it last committed, 0: never */
	size_t *stream_pending;  /* its records pending */
	uint32_t resend_turn;    /* signer whose records mp_take_resend looks at first */
	mp_entry **slots;  /* open addressing by SipHash(key, id) */
	mp_entry **rslots; /* ... by SipHash(key, rule key), entries with one */
	size_t cap;
	unsigned char key[16]; /* crypto_shorthash_KEYBYTES, random per pool */
} mempool;

/* A pool of at most max_records records and max_bytes bytes, for records
 * of `partners` signers (0 < partners <= TR_PARTNERS_MAX). */
int mp_init(mempool *m, size_t max_records, size_t max_bytes, uint32_t partners) TR_MUST_USE;
/* Whether records adding add_n[s] records and add_b[s] bytes of each
 * signer s (arrays of m->partners) fit. Each signer keeps a share of the
 * bounds (keep_records, keep_bytes) that the others' records cannot take:
 * the records pending plus every signer's unused share must stay within
 * the bounds. So a partner importing a backlog fills at most what the
 * others' shares leave (5/8 of the pool for four partners), and the
 * others can always submit their share. On false, *who (if not NULL) is
 * the signer adding the most. */
bool mp_fits(const mempool *m, const size_t *add_n, const size_t *add_b, uint32_t *who);
/* The same for one record of signer s. */
bool mp_fits_one(const mempool *m, uint32_t s, size_t len);
void mp_fini(mempool *m);
mp_entry *mp_find(const mempool *m, const uint8_t id[TR_HASH_LEN]);
/* The entry whose EPCIS rule key is rule, or NULL. */
mp_entry *mp_find_rule(const mempool *m, const uint8_t rule[TR_HASH_LEN]);
/* Give e (which has none) its rule key; no other entry may have it. */
void mp_set_rule(mempool *m, mp_entry *e, const uint8_t rule[TR_HASH_LEN]);
/* The entry of event id holding exactly these record bytes, or NULL. */
mp_entry *mp_find_exact(const mempool *m, const uint8_t id[TR_HASH_LEN], const uint8_t *rec,
			size_t len);
/* Add a copy of rec, signed by partner signer (< TR_PARTNERS_MAX); NULL
 * when out of memory. The id must not be there. */
mp_entry *mp_add(mempool *m, const uint8_t id[TR_HASH_LEN], const uint8_t *rec, size_t len,
		 uint32_t signer, uint32_t origin);
/* The same without a copy: the entry takes rec (malloc'd) when it returns
 * one; on NULL (out of memory) rec stays the caller's. A bulk submit's
 * copies were a quarter of the node thread's time taking it in, most of
 * it first touches of fresh pages. */
mp_entry *mp_adopt(mempool *m, const uint8_t id[TR_HASH_LEN], uint8_t *rec, size_t len,
		   uint32_t signer, uint32_t origin);
/* e is in a block that committed now (call before mp_remove). */
void mp_committed(mempool *m, const mp_entry *e, uint64_t now);
/* Records to send the primary again (regossip): pending for at least
 * wait_own since last sent (those with waiters: this node's clients') or
 * wait_other (the rest), and either passed over (a later record of its
 * stream committed: it was lost on the way) or of a stream that has not
 * committed for that long (stalled: the primary may lack them all). A
 * record merely waiting its turn behind a backlog (a bulk submit whose
 * stream commits every block) is not due: sending it again only loaded
 * the links. At most max records and max_bytes (the first always goes),
 * oldest first per signer, the signers in turn. Entries into out[]. */
size_t mp_take_resend(mempool *m, uint64_t now, uint64_t wait_own, uint64_t wait_other,
		      size_t max, size_t max_bytes, mp_entry **out);
/* The records of the next block, fairly shared among signers: one record
 * of each signer with records pending in turn, starting at signer
 * `first` (then first+1, ... wrapping), each signer's in arrival order,
 * until max_records are taken or no record of any signer fits in
 * max_bytes (the first one always goes). A signer with a backlog (a bulk
 * submit) takes what the others leave, and cannot hold their records back
 * for more than a block. Entries into out[]; returns their count. */
size_t mp_take_fair(const mempool *m, uint32_t first, size_t max_records, size_t max_bytes,
		    mp_entry **out);
int mp_attach(mp_entry *e, waiter *w, size_t idx) TR_MUST_USE;
/* Unlink e and free it; its waiter references are handed to *waiters. */
void mp_remove(mempool *m, mp_entry *e, wref **waiters);

/* ==== Catch-up answers (node.c) ==== */

/* Of one partner's consensus queue (P2P_QUEUE_URGENT_MAX), what catch-up
 * blocks may fill; the rest stays for votes. */
#define NODE_SERVE_QUEUED_MAX (P2P_QUEUE_URGENT_MAX / 2)

/* Send partner peer the committed blocks first..last with their
 * certificates (pbft_serve: the replies are queued as SEND actions, for
 * the caller to carry out), stopping at the first one missing. Each reply
 * costs a read, copies and a signature over the whole block, and the
 * FETCH request that asks for PBFT_FETCH_SPAN_MAX of them is a few
 * hundred bytes a partner may send every tick; so only as many go as fit
 * in NODE_SERVE_QUEUED_MAX of the partner's link queue, counting what
 * already waits there. A partner that keeps asking without taking what it
 * was sent (or whose link is down) then costs nothing more; one that
 * takes the blocks gets them as fast as its link carries them. When
 * nothing waits, one block goes whatever its size. Returns the last
 * height sent, 0 if none. */
uint64_t node_serve(node *nd, pbft_replica peer, uint64_t first, uint64_t last);

/* ==== Client API (api.c) ==== */

enum { CTX_RECV, CTX_WAIT, CTX_SEND };

struct api_ctx {
	node *nd;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
};

int api_start(node *nd, char *err, size_t errlen) TR_MUST_USE;
void api_stop(node *nd);
void api_reply(api_ctx *a, Trellis__ApiReply *rep);
void api_reply_error(api_ctx *a, int code, const char *reason);
/* As api_reply_error, for a submit whose records the node had accepted:
 * some of them may be committed (ApiReply.accepted). */
void api_reply_late(api_ctx *a, int code, const char *reason);
/* Once per node tick: probe the ipc API listener, listen again when it no
 * longer accepts (api.c, "Listener watchdog"). */
void api_watch(node *nd);
/* Decode a client's request, or NULL when it is malformed. Bounded
 * (pbft_wire_unpack: about twice its bytes, unknown fields refused):
 * unpacked freely, a 64 MiB submit of empty records made protobuf-c
 * allocate ~2.5 GiB (16 + 32 bytes for each 2-byte record) before
 * anything counted them. Free with pbft_wire_free. */
Trellis__ApiRequest *node_api_decode(const uint8_t *buf, size_t len);
/* Check the records of a submit (form, signer, signature); ids out. */
int node_check_records(const tr_consortium *c, ldg_checked *k, const ProtobufCBinaryData *recs,
		       size_t n, uint8_t (**ids)[TR_HASH_LEN], char *why, size_t whylen) TR_MUST_USE;
/* The same in parts: node_check_count checks n (1..NODE_REQUEST_RECORDS_MAX)
 * and allocates *ids; node_check_range checks records [from, to) into
 * ids[from..to). why names the first bad record by its index in recs. */
int node_check_count(size_t n, uint8_t (**ids)[TR_HASH_LEN], char *why,
		     size_t whylen) TR_MUST_USE;
int node_check_range(const tr_consortium *c, ldg_checked *k, const ProtobufCBinaryData *recs,
		     size_t from, size_t to, uint8_t (*ids)[TR_HASH_LEN], char *why,
		     size_t whylen) TR_MUST_USE;

/* ==== The node ==== */

struct node {
	const node_options *opt;
	tr_consortium *c;
	tr_key *key;
	ldg *ledger;
	pbft *cons;
	p2p_link *link;
	uint32_t self;
	int lock_fd;
	char api_url[600];
	bool fatal;
	char fatal_why[512];

	nng_socket sock;
	bool sock_open;
	api_ctx ctxs[NODE_API_CONTEXTS];
	size_t nctx;
	_Atomic uint32_t api_listener;  /* id of the ipc API listener */
	_Atomic uint64_t api_ipc_pipes; /* connections it handed to the socket */
	int probe_fd;            /* api_watch's connection to the ipc API, or -1 */
	uint64_t probe_pipes;    /* api_ipc_pipes when it connected */
	unsigned probe_ticks;    /* node ticks it has waited */
	uint64_t probe_next_ms;  /* when the next probe starts */
	uint64_t api_relistens;  /* times the API listener was found deaf */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct {
		job *head, *tail;
	} jobs[NODE_SOURCES]; /* under mu: queued for the node thread, per source */
	size_t jobs_count;    /* under mu: all of them */
	uint64_t jobs_pushed; /* under mu: node_job_push calls */
	size_t peer_bytes[TR_PARTNERS_MAX];     /* under mu: queued, per peer */
	size_t peer_jobs[TR_PARTNERS_MAX];      /* under mu: ... and how many */
	uint64_t peer_dropped[TR_PARTNERS_MAX]; /* under mu: frames dropped, per peer */

	pthread_mutex_t check_mu;               /* the checkers' queues */
	pthread_cond_t check_cv;
	check_fifo checks[TR_PARTNERS_MAX + 1]; /* one per partner, then clients */
	size_t check_next;                      /* round-robin position */
	bool check_urgent_last;                 /* the last pop was for a queued PRE-PREPARE */
	bool check_stop;
	pthread_t checkers[NODE_CHECKERS_MAX];
	size_t ncheckers;
	size_t checkers_want; /* 0: one per core (tests set it) */

	mempool mp;
	uint8_t validated[TR_HASH_LEN]; /* last block this node validated */
	bool have_validated;
	uint32_t cut_first;             /* signer whose turn opens the next block cut */
	uint8_t *proposed;              /* the whole block this node last proposed (owned) */
	size_t proposed_len;
	uint64_t committed_records;
	ldg_checked *checked; /* record bytes checked already, shared with the ledger */
	uint64_t regossiped;  /* pending records sent again to the primary */
	uint64_t regossip_at; /* when regossip() last scanned the mempool */
	uint64_t lost_seen;  /* the link's tx_dropped at the last regossip() */
	bool gossip_refused; /* the primary's link queue refused gossip since then */
	/* gossip frames a partner's full link queue refused, offered again as
	 * it drains (node.c gossip_feed), oldest first; at most
	 * NODE_GOSSIP_KEPT_BYTES_MAX, each for NODE_GOSSIP_KEPT_MS */
	struct kept_frame *kept_head, *kept_tail;
	size_t kept_bytes;
	uint64_t gossip_kept, gossip_fed; /* frames kept; kept frames that went */
	uint64_t gossip_ruled_out; /* gossiped records the EPCIS rules left out (do_gossip) */
	uint64_t dup_dropped; /* pending records dropped: one with their rule key committed */
	/* per signer: the height when one of its records last committed here,
	 * or when none of its records was pending (node_starved) */
	uint64_t starve_from[TR_PARTNERS_MAX];
	uint64_t again_held;    /* re-sent records received that this node held: dropped unchecked */
	uint64_t again_checked; /* re-sent records received that it lacked: checked as gossip */
	uint64_t served_blocks, served_bytes; /* certified blocks sent to peers behind it */
	uint64_t logged_view; /* the view and mode log_view() last logged */
	bool logged_vc;
	uint64_t regossip_check;  /* when regossip() last ran */
	bool test_lose_gossip; /* TRELLIS_TEST_LOSE_GOSSIP: first gossip never leaves (t0360) */
	int test_gossip_only;  /* ... =NAME: to that partner only, never again; else -1 */
	int test_lie;          /* TRELLIS_TEST_LIE: what its proposals get wrong (t0370) */
	uint8_t *test_replay;  /* ... =replay: a record of the last block it committed */
	size_t test_replay_len;
	uint64_t last_tick_ms;
	uint64_t last_height_ms;             /* last height announcement */
	uint64_t pushed_ms[TR_PARTNERS_MAX]; /* last blocks pushed to each peer */
	/* each peer's last height announcement, and ours when it came */
	uint64_t heard_theirs[TR_PARTNERS_MAX], heard_ours[TR_PARTNERS_MAX];
	uint64_t pushed_last[TR_PARTNERS_MAX]; /* last block of the last push, 0: none */
};

#endif
