/*
 * fuzz.h: what every fuzz target shares. A target is one file defining
 * LLVMFuzzerTestOneInput over one decoder of hostile bytes; it is linked
 * either with libFuzzer (make fuzz, clang) or with replay.c (make test:
 * every file of the target's corpus, run once).
 *
 * fuzz_consortium() is a fixed 4-partner consortium (one secp256k1
 * partner) made from fixed seeds, so corpus entries stay valid across runs.
 */
#ifndef TESTS_FUZZ_H
#define TESTS_FUZZ_H

#include "common/consortium.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A result the target does not need (refusals are the point). */
static inline void fuzz_ignore(int rc)
{
	(void)rc;
}

/* The fixed consortium and partner i's key (i < 4); made on first use. */
const tr_consortium *fuzz_consortium(void);
const tr_key *fuzz_key(uint32_t i);

#endif
