/* fuzz_consortium.c: consortium files and partner lines. */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tr_consortium *c = NULL;
	tr_partner p;
	char err[512], *line;
	if (tr_crypto_init() != TR_OK)
		abort();
	if (tr_consortium_parse(data, size, &c, err, sizeof(err)) == TR_OK)
		tr_consortium_free(c);
	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&p, 0, sizeof(p));
	if (tr_partner_line_parse(line, &p, err, sizeof(err)) == TR_OK)
		tr_partner_fini(&p);
	free(line);
	return 0;
}
