/* fuzz_pbft.c: PBFT messages from peers into replica 1 of the fixed
 * 4-partner consortium. Input: frames of [sender byte][be16 length][bytes],
 * then ticks. Signatures are accepted without checking so that the fuzzer
 * reaches the state machine behind them (the real check is tr_verify,
 * covered by the known-answer tests). */
#include "consensus/pbft.h"
#include "consensus/pbft_wire.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

static int validate(void *ctx, const uint8_t *block, size_t len, uint64_t height,
		    const uint8_t prev_hash[TR_HASH_LEN])
{
	(void)ctx;
	(void)block;
	(void)prev_hash;
	return len > 0 && height % 2 ? 0 : TR_EINVAL;
}

static int accept_all(void *ctx, tr_alg alg, const uint8_t pub[TR_PUBKEY_LEN], const char *tag,
		      const uint8_t chain_id[TR_HASH_LEN], const uint8_t *bytes, size_t len,
		      const uint8_t sig[TR_SIG_LEN])
{
	(void)ctx;
	(void)alg;
	(void)pub;
	(void)tag;
	(void)chain_id;
	(void)bytes;
	(void)len;
	(void)sig;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pbft_config cfg = {.consortium = fuzz_consortium(), .self = {1}, .key = fuzz_key(1),
			   .tick_ms = 50, .validate = validate, .verify = accept_all};
	pbft_action a;
	pbft *p;
	size_t at = 0;
	if (pbft_new(&cfg, &p) != TR_OK)
		abort();
	while (at + 3 <= size) {
		pbft_replica from = {data[at] % 4};
		size_t len = (size_t)data[at + 1] << 8 | data[at + 2];
		at += 3;
		if (len > size - at)
			len = size - at;
		(void)pbft_wire_is_vote(data + at, len); /* bounded reads only (ASan) */
		fuzz_ignore(pbft_step(p, from, data + at, len));
		at += len;
		while (pbft_pop(p, &a) == TR_OK)
			pbft_action_fini(&a);
	}
	for (int t = 0; t < 50; t++) { /* 2.5 s of node time: a view change */
		pbft_tick(p);
		while (pbft_pop(p, &a) == TR_OK)
			pbft_action_fini(&a);
	}
	pbft_free(p);
	return 0;
}
