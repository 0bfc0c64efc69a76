/*
 * solo.h: the one-partner sequencer (n = 1, f = 0).
 *
 * It has the shape of the consensus interface of DESIGN.md: the node hands
 * it input (a proposal) and gets back a queue of actions to carry out in
 * order: PERSIST the vote (durably) before anything else, then COMMIT the
 * block with its certificate. With one partner, the node's own COMMIT vote
 * is the whole certificate (2f+1 = 1). The PBFT module (consensus/)
 * produces the same action kinds, plus SEND, BROADCAST and FETCH, so the
 * node loop that carries them out does not change.
 *
 * No I/O, clock or randomness here.
 */
#ifndef NODE_SOLO_H
#define NODE_SOLO_H

#include "common/consortium.h"

typedef enum { SOLO_ACT_PERSIST = 1, SOLO_ACT_COMMIT = 2 } solo_action_kind;

typedef struct {
	solo_action_kind kind;
	uint64_t height;
	uint8_t *bytes; /* PERSIST: VoteLog; COMMIT: the block (owned by the action) */
	size_t len;
	uint8_t *cert; /* COMMIT: the certificate (owned) */
	size_t cert_len;
} solo_action;

#define SOLO_ACTIONS_MAX 4

typedef struct {
	const tr_consortium *c; /* borrowed */
	const tr_key *key;      /* borrowed */
	uint32_t self;
	uint64_t view;
	size_t nacts;
	solo_action acts[SOLO_ACTIONS_MAX];
} solo;

/* c must have n == 1 and key must be partner 0's key. */
int solo_init(solo *s, const tr_consortium *c, const tr_key *key) TR_MUST_USE;
void solo_fini(solo *s);

/* Take a block the node cut (its header hash given) at height: queue
 * PERSIST(commit vote) then COMMIT(block, certificate). Takes ownership of
 * block on success. */
int solo_propose(solo *s, uint64_t height, uint8_t *block, size_t len,
		 const uint8_t hash[TR_HASH_LEN]) TR_MUST_USE;

/* Pop the next action (0) or TR_ENOTFOUND when none. The caller owns the
 * action's buffers and frees them with solo_action_free. */
int solo_next(solo *s, solo_action *out);
void solo_action_free(solo_action *a);

#endif
