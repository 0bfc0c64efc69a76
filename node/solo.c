/*
 * solo.c: the one-partner sequencer. See solo.h.
 */
#include "node/solo.h"

#include "ledger/ledger.h"
#include "proto/trellis.pb-c.h"

#include <string.h>

int solo_init(solo *s, const tr_consortium *c, const tr_key *key)
{
	memset(s, 0, sizeof(*s));
	if (c->n != 1 || memcmp(c->partners[0].key, tr_key_public(key), TR_PUBKEY_LEN) != 0)
		return TR_EINVAL;
	s->c = c;
	s->key = key;
	s->self = 0;
	return TR_OK;
}

void solo_action_free(solo_action *a)
{
	free(a->bytes);
	free(a->cert);
	memset(a, 0, sizeof(*a));
}

void solo_fini(solo *s)
{
	for (size_t i = 0; i < s->nacts; i++)
		solo_action_free(&s->acts[i]);
	s->nacts = 0;
}

int solo_propose(solo *s, uint64_t height, uint8_t *block, size_t len,
		 const uint8_t hash[TR_HASH_LEN])
{
	Trellis__VoteLog vl = TRELLIS__VOTE_LOG__INIT;
	uint8_t payload[TR_VOTE_PAYLOAD_LEN], sig[TR_SIG_LEN];
	uint8_t *vbuf, *cert;
	size_t vlen, clen;
	int rc;

	TR_ASSERT(s->nacts + 2 <= SOLO_ACTIONS_MAX);
	vl.kind = 2;
	vl.view = s->view;
	vl.height = height;
	vl.block_hash.data = (uint8_t *)(uintptr_t)hash;
	vl.block_hash.len = TR_HASH_LEN;
	vlen = trellis__vote_log__get_packed_size(&vl);
	vbuf = malloc(vlen ? vlen : 1);
	if (!vbuf)
		return TR_ENOMEM;
	trellis__vote_log__pack(&vl, vbuf);

	tr_vote_payload(payload, s->view, height, hash);
	rc = tr_sign_tagged(s->key, TR_TAG_COMMIT, s->c->chain_id, payload, sizeof(payload), sig);
	if (rc == TR_OK)
		rc = ldg_cert_build(s->view, height, hash, &s->self,
				    (const uint8_t(*)[TR_SIG_LEN])sig, 1, &cert, &clen);
	if (rc) {
		free(vbuf);
		return rc;
	}
	s->acts[s->nacts++] = (solo_action){.kind = SOLO_ACT_PERSIST, .height = height,
					    .bytes = vbuf, .len = vlen};
	s->acts[s->nacts++] = (solo_action){.kind = SOLO_ACT_COMMIT, .height = height,
					    .bytes = block, .len = len, .cert = cert,
					    .cert_len = clen};
	return TR_OK;
}

int solo_next(solo *s, solo_action *out)
{
	if (s->nacts == 0)
		return TR_ENOTFOUND;
	*out = s->acts[0];
	memmove(&s->acts[0], &s->acts[1], (s->nacts - 1) * sizeof(s->acts[0]));
	s->nacts--;
	return TR_OK;
}
