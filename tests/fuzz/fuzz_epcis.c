/* fuzz_epcis.c: an EPCIS document through what `trellis submit` does
 * before signing: parse, validate, then map and hash every event. */
#include "cli/cli.h"
#include "ledger/epcis_map.h"
#include "ledger/epcis_validate.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root = NULL, *events = NULL;
	ep_ctx *ctx = NULL;
	char err[1024];
	if (tr_crypto_init() != TR_OK)
		abort();
	if (cli_doc_events("fuzz.json", data, size, &root, &events, err, sizeof(err)) != TR_OK)
		return 0;
	if (ep_validate_document(root, err, sizeof(err)) == TR_OK &&
	    ep_ctx_new(root, &ctx) == TR_OK) {
		for (size_t i = 0; i < json_array_size(events); i++) {
			uint8_t *ev;
			size_t len;
			char hash[EP_HASH_STR_LEN];
			if (ep_map_event(ctx, json_object_get(root, "@context"),
					 json_array_get(events, i), "event", &ev, &len, hash, err,
					 sizeof(err)) == TR_OK)
				free(ev);
		}
		ep_ctx_free(ctx);
	}
	json_decref(root);
	return 0;
}
