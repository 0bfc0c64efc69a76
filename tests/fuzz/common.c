/*
 * common.c: the fixed consortium of the fuzz targets (fuzz.h).
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define PARTNERS 4

static tr_consortium *cons;
static tr_key *keys[PARTNERS];

static void make(void)
{
	char lines[PARTNERS][256], err[256], *json = NULL;
	const char *lp[PARTNERS];
	if (tr_crypto_init() != TR_OK)
		abort();
	for (uint32_t i = 0; i < PARTNERS; i++) {
		tr_partner p = {.alg = i == 3 ? TR_ALG_SECP256K1 : TR_ALG_ED25519};
		uint8_t seed[TR_SEED_LEN];
		memset(seed, (int)(0x11 * (i + 1)), sizeof(seed));
		if (tr_key_from_seed(p.alg, seed, &keys[i]) != TR_OK)
			abort();
		snprintf(p.name, sizeof(p.name), "p%u", i);
		snprintf(p.address, sizeof(p.address), "127.0.0.1:%u", 7000 + i);
		memcpy(p.key, tr_key_public(keys[i]), TR_PUBKEY_LEN);
		if (tr_partner_line_format(&p, lines[i], sizeof(lines[i])) != TR_OK)
			abort();
		lp[i] = lines[i];
	}
	if (tr_consortium_create(lp, PARTNERS, &json, err, sizeof(err)) != TR_OK ||
	    tr_consortium_parse((const uint8_t *)json, strlen(json), &cons, err, sizeof(err)))
		abort();
	free(json);
}

const tr_consortium *fuzz_consortium(void)
{
	if (!cons)
		make();
	return cons;
}

const tr_key *fuzz_key(uint32_t i)
{
	if (!cons)
		make();
	return i < PARTNERS ? keys[i] : NULL;
}
