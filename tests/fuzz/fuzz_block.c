/* fuzz_block.c: a block (and, after its first 4 bytes of length, a
 * certificate) checked as block 1 of an empty ledger of the fixed
 * consortium. */
#include "common/tr.h"
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <unistd.h>

static ldg *l;
static char dir[] = "/tmp/trellis-fuzz-block.XXXXXX";

static void rm_dir(void)
{
	char cmd[128];
	ldg_close(l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ldg_options o = {.map_size = 16u << 20};
	char err[512];
	size_t blen;
	if (!l) {
		if (!mkdtemp(dir) || ldg_open(dir, fuzz_consortium(), &o, &l, err, sizeof(err)))
			abort();
		atexit(rm_dir);
	}
	fuzz_ignore(ldg_check_block(l, data, size, NULL, 0, 0, err, sizeof(err)));
	if (size < 4)
		return 0;
	blen = tr_be32_get(data);
	if (blen <= size - 4)
		fuzz_ignore(ldg_check_block(l, data + 4, blen, data + 4 + blen, size - 4 - blen, 0, err,
				      sizeof(err)));
	return 0;
}
