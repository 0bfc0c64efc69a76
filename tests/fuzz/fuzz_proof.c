/* fuzz_proof.c: proofs (binary and JSON) against the fixed consortium. */
#include "ledger/proof.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const tr_consortium *c = fuzz_consortium();
	ldg_proof_report rep;
	char err[512], *json;
	uint8_t *bin;
	size_t blen;
	if (ldg_proof_verify(c, data, size, &rep, err, sizeof(err)) == TR_OK)
		ldg_proof_report_fini(&rep);
	if (size && data[0] == '{') {
		if (ldg_proof_from_json((const char *)data, size, &bin, &blen, err, sizeof(err)) ==
		    TR_OK) {
			if (ldg_proof_verify(c, bin, blen, &rep, err, sizeof(err)) == TR_OK)
				ldg_proof_report_fini(&rep);
			free(bin);
		}
	} else if (ldg_proof_to_json(data, size, &json, err, sizeof(err)) == TR_OK) {
		if (ldg_proof_from_json(json, strlen(json), &bin, &blen, err, sizeof(err)) == TR_OK)
			free(bin);
		free(json);
	}
	return 0;
}
