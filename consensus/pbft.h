/*
 * pbft.h: PBFT among the consortium's partners, as a pure state machine.
 *
 * The core owns the agreement on one block per height: PRE-PREPARE,
 * PREPARE, COMMIT in a view; VIEW-CHANGE and NEW-VIEW when a primary is
 * slow or lies; catch-up from certified blocks when this replica is behind.
 * It does no I/O (STYLE.md rule 13): no sockets, files, clock, rand() or
 * printing. The node drives it with three inputs,
 *
 *   pbft_step()    a message from a peer (bytes exactly as received),
 *   pbft_tick()    one tick of cfg.tick_ms elapsed,
 *   pbft_propose() a block the node cut while pbft_can_propose() said yes,
 *
 * plus pbft_note_pending(), pbft_serve() and pbft_deliver_block(); after
 * every call it drains the action queue with pbft_pop() and carries the
 * actions out IN ORDER (STYLE.md rule 14):
 *
 *   PERSIST    store `bytes` durably (replacing the previous blob) before
 *              doing any later action: it records what this replica voted,
 *              so a restart never votes twice for different blocks.
 *   SEND       send `bytes` to replica `peer`.
 *   BROADCAST  send `bytes` to every other replica.
 *   COMMIT     block `height` (bytes) is decided; `cert` is its serialised
 *              trellis.CommitCertificate. Heights arrive in order, once.
 *   FETCH      send `bytes` (a request for blocks first..last) to `peer`;
 *              answers come back through pbft_step().
 *   SERVE      replica `peer` needs committed blocks first..last: read each
 *              with its certificate from the store and hand it to
 *              pbft_serve() (stop at the first one missing).
 *
 * Invariants: the replica never sends two different PREPAREs or COMMITs for
 * one (view, height); a COMMIT action always carries a certificate of 2f+1
 * distinct valid COMMIT signatures for the block's exact header hash, and
 * the block links to the previous one. Everything from a peer is bounded
 * (cfg-derived maximum message size, fixed-size logs, bounded buffers) and
 * checked before use; bad input is dropped and counted, never trusted.
 *
 * Ownership: the config's consortium and key are borrowed and must outlive
 * the pbft. Bytes passed in are borrowed for the call. Bytes in a popped
 * action belong to the caller until pbft_action_fini().
 *
 * Threading: none. One pbft is used from one thread.
 */
#ifndef PBFT_H
#define PBFT_H

#include "common/consortium.h"
#include "common/crypto.h"
#include "common/tr.h"

#include <stdbool.h>

/* Bounds. */
#define PBFT_ACTIONS_MAX 4096     /* queued actions; drain after every call */
#define PBFT_FETCH_SPAN_MAX 32    /* blocks asked for / served per request */
#define PBFT_CATCHUP_MAX 64       /* out-of-order certified blocks kept */
#define PBFT_FUTURE_MAX 64        /* messages for the next height kept */
#define PBFT_BACKOFF_MAX 4        /* view-change timeout doubles at most 2^4 */
#define PBFT_OVERHEAD_MAX (1u << 20) /* a message beyond its block */

typedef struct pbft pbft;

/* A partner index, typed so it is not mixed up with heights or views. */
typedef struct {
	uint32_t v;
} pbft_replica;

/* Ask the node whether a proposed block is valid beyond what consensus
 * checks (hash, height, prev_hash, chain id): records, signatures, Merkle
 * root, access rules. `block` is a serialised trellis.Block. Return 0 when
 * valid, a negative TR_E code otherwise. Not called for blocks that arrive
 * with a valid commit certificate, nor while a COMMIT action waits in the
 * queue: the block below `height` is one the node has stored when it
 * carries out each action it pops before calling in again. */
typedef int (*pbft_validate_fn)(void *ctx, const uint8_t *block, size_t len, uint64_t height,
				const uint8_t prev_hash[TR_HASH_LEN]);

/* Signature check with the contract of tr_verify_tagged (0 or TR_EBADSIG).
 * The node leaves it NULL; the simulator caches results through it. */
typedef int (*pbft_verify_fn)(void *ctx, tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN],
			      const char *tag, const uint8_t chain_id[TR_HASH_LEN],
			      const uint8_t *bytes, size_t len, const uint8_t sig[TR_SIG_LEN]);

typedef struct {
	const tr_consortium *consortium; /* borrowed */
	pbft_replica self;               /* this partner's index */
	const tr_key *key;               /* borrowed: this partner's key */
	uint32_t tick_ms;                /* period of pbft_tick(), >= 1 */
	pbft_validate_fn validate;       /* required */
	void *validate_ctx;
	pbft_verify_fn verify;           /* NULL: tr_verify_tagged */
	void *verify_ctx;
	/* The last committed block from the store: height 0 for an empty
	 * chain (then head and head_cert are ignored). head_cert is its
	 * serialised certificate (borrowed for the call). */
	uint64_t height;
	uint8_t head[TR_HASH_LEN];
	const uint8_t *head_cert;
	size_t head_cert_len;
	/* The last PERSIST blob, or NULL on a first start (borrowed). */
	const uint8_t *state;
	size_t state_len;
	/* The block a PERSIST stored at height + 1 (its `block`), or NULL
	 * (borrowed): the prepared certificate in the blob gets it back when
	 * its hash matches. */
	const uint8_t *prepared_block;
	size_t prepared_block_len;
} pbft_config;

typedef enum {
	PBFT_ACT_PERSIST = 1,
	PBFT_ACT_SEND = 2,
	PBFT_ACT_BROADCAST = 3,
	PBFT_ACT_COMMIT = 4,
	PBFT_ACT_FETCH = 5,
	PBFT_ACT_SERVE = 6
} pbft_action_kind;

/* What a PERSIST records (informative: the node stores `bytes`). */
typedef enum {
	PBFT_VOTE_PREPARE = 1,
	PBFT_VOTE_COMMIT = 2,
	PBFT_VOTE_VIEW = 3 /* entered a view change or a new view */
} pbft_vote_kind;

typedef struct {
	pbft_action_kind kind;
	pbft_replica peer;           /* SEND, FETCH, SERVE */
	pbft_vote_kind vote;         /* PERSIST */
	uint64_t view;               /* PERSIST */
	uint64_t height;             /* PERSIST, COMMIT */
	uint64_t first, last;        /* FETCH, SERVE */
	uint8_t hash[TR_HASH_LEN];   /* PERSIST (zero for VIEW), COMMIT */
	uint8_t *bytes;              /* PERSIST blob, message, or COMMIT block */
	size_t len;
	uint8_t *cert;               /* COMMIT: serialised CommitCertificate */
	size_t cert_len;
	/* PERSIST: the block this replica prepared at block_height, when it
	 * was not in an earlier PERSIST; the node stores it in the same
	 * durable write as the blob (which names it by hash only) and gives
	 * it back at a restart (pbft_config.prepared_block). Of PERSISTs
	 * written as one, the block of an earlier one must be kept. */
	uint8_t *block;
	size_t block_len;
	uint64_t block_height;
} pbft_action;

typedef enum {
	PBFT_MODE_NORMAL = 0,
	PBFT_MODE_VIEW_CHANGE = 1,
	PBFT_MODE_CATCHING_UP = 2
} pbft_mode;

/* Counters, for logs and figures. */
typedef struct {
	uint64_t msgs_in, msgs_out;     /* messages stepped / sent (a broadcast counts n-1) */
	uint64_t sigs_made, sigs_checked;
	uint64_t dropped_malformed, dropped_badsig, dropped_stale, dropped_future,
		dropped_wrong;          /* decoded and signed, but inconsistent */
	uint64_t view_changes, commits, caught_up;
	uint64_t starved_suspicions; /* view changes asked for a passed-over partner */
} pbft_stats;

/* Create a replica. Checks the config (self < n, the key is self's
 * partner key, tick_ms > 0) and the persisted state; out is written only
 * on success. On a restart the replica resumes the view it persisted and
 * will not vote against what it voted before.
 * Returns 0, TR_EINVAL (bad config or corrupt state), TR_ENOMEM. */
int pbft_new(const pbft_config *cfg, pbft **out) TR_MUST_USE;

/* Free the replica and every queued action. NULL is ignored. */
void pbft_free(pbft *p);

/* Handle one message received from replica `from` (as authenticated by the
 * link). Malformed, badly signed, stale or inconsistent messages are
 * dropped and counted. Returns 0 when processed, TR_EINVAL / TR_EBADSIG /
 * TR_ETOOBIG when dropped for that reason, TR_ENOMEM. Nothing a peer sends
 * can make it abort. */
int pbft_step(pbft *p, pbft_replica from, const uint8_t *msg, size_t len);

/* One tick elapsed: timeouts (view change, fetch) and retransmissions. */
void pbft_tick(pbft *p);

/* The node's mempool has records waiting (true) or is empty (false). A
 * replica with waiting records that sees no commit within the view-change
 * timeout asks for a view change. */
void pbft_note_pending(pbft *p, bool pending);

/* Some partner's records wait at the node while blocks commit without any
 * of them (true), or not. Commits do not reset this: a replica that sees it
 * for twice the view-change timeout in one view asks for a view change
 * (PBFT's timer per request; a primary that left one partner's records out
 * of every block was never suspected). */
void pbft_note_starved(pbft *p, bool starved);

/* True when this replica is the primary of its view, in normal mode, with
 * no proposal in flight and none it must re-send: the node may cut a
 * block. A fetch in progress does not stop it: the height a peer claims
 * is no proof that this replica is behind (a primary that really is
 * behind proposes at a height the others refuse, and is replaced). */
bool pbft_can_propose(const pbft *p);

/* Propose a serialised trellis.Block. Its header must have height =
 * pbft_height()+1, prev_hash = pbft_head(), view = pbft_view(), proposer =
 * self and this consortium's chain id; validate() must accept it.
 * Returns 0 (PRE-PREPARE queued), TR_ESTATE when pbft_can_propose() is
 * false, TR_EINVAL for a block that does not fit, TR_ETOOBIG, TR_ENOMEM. */
int pbft_propose(pbft *p, const uint8_t *block, size_t len) TR_MUST_USE;

/* Answer a SERVE action: queue a signed reply carrying committed block
 * `height` and its certificate to replica `to`. Returns 0, TR_EINVAL,
 * TR_ETOOBIG, TR_ENOMEM. */
int pbft_serve(pbft *p, pbft_replica to, uint64_t height, const uint8_t *block, size_t len,
	       const uint8_t *cert, size_t cert_len) TR_MUST_USE;

/* Hand in a committed block with its certificate obtained by any means
 * (catch-up). It is checked (certificate, hash, chain link); one beyond the
 * next height is kept (up to PBFT_CATCHUP_MAX) until the gap fills.
 * Returns 0 (committed or kept), TR_EEXIST (already committed),
 * TR_EVERIFY / TR_EBADSIG / TR_EINVAL (refused), TR_EFULL (too far ahead),
 * TR_ENOMEM. */
int pbft_deliver_block(pbft *p, uint64_t height, const uint8_t *block, size_t len,
		       const uint8_t *cert, size_t cert_len) TR_MUST_USE;

/* Pop the oldest action into *out (the caller owns its bytes and frees
 * them with pbft_action_fini). Returns 0, or TR_ENOTFOUND when empty.
 * The caller carries out each action before it pops the next: the pop
 * after the last queued COMMIT takes up what waited for it (a kept
 * PRE-PREPARE is validated there, calling validate()), so pop until
 * TR_ENOTFOUND. */
int pbft_pop(pbft *p, pbft_action *out) TR_MUST_USE;

/* Free the bytes of a popped action and clear it. */
void pbft_action_fini(pbft_action *a);

/* Getters. */
uint64_t pbft_view(const pbft *p);          /* current view (or the one being entered) */
pbft_mode pbft_get_mode(const pbft *p);
uint64_t pbft_height(const pbft *p);        /* last committed height */
void pbft_head(const pbft *p, uint8_t out[TR_HASH_LEN]); /* its hash (chain_id at 0) */
bool pbft_is_primary(const pbft *p);
pbft_replica pbft_primary_of(const pbft *p, uint64_t view);
void pbft_get_stats(const pbft *p, pbft_stats *out);

/* "normal", "view-change", "catching-up". */
const char *pbft_mode_name(pbft_mode m);

/* Check a serialised CommitCertificate against a consortium: >= 2f+1
 * distinct partner indices < n whose COMMIT signatures verify for
 * (view, height, block_hash). On success writes the certified height and
 * hash (either may be NULL). Returns 0, TR_EINVAL (malformed), TR_EVERIFY
 * (too few valid votes). verify may be NULL (tr_verify_tagged). */
int pbft_cert_check(const tr_consortium *c, const uint8_t *cert, size_t len,
		    pbft_verify_fn verify, void *verify_ctx, uint64_t *height,
		    uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;

#endif
