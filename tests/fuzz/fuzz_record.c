/* fuzz_record.c: one serialised Record, as a block or a submit carries it. */
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[TR_HASH_LEN];
	char err[512];
	fuzz_ignore(ldg_record_check(fuzz_consortium(), data, size, 0, id, err, sizeof(err)));
	fuzz_ignore(ldg_record_event_id(data, size, id));
	return 0;
}
