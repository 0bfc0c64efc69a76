/*
 * hash.c: `trellis hash FILE|-` prints the GS1 CBV 2.0 event hash of each
 * event of an EPCIS 2.0 document, in order. Nothing is printed unless every
 * event hashes: a bad document gives one error and exit code 2.
 */
#include "cli/hash.h"

#include "cli/cli.h"
#include "ledger/epcis_hash.h"

#include <errno.h>
#include <string.h>

/* Why ep_hash refused an event, in words. */
static const char *why(const json_t *ev, int rc)
{
	json_t *et = json_object_get(ev, "eventTime");
	char t[25];
	if (rc != TR_EINVAL)
		return tr_strerror(rc);
	if (!json_is_string(json_object_get(ev, "type")))
		return "no string \"type\"";
	if (!json_is_string(et))
		return "no string \"eventTime\"";
	if (ep_time_utc(json_string_value(et), json_string_length(et), t) != TR_OK)
		return "\"eventTime\" is not a date-time with offset";
	return "a member has the wrong JSON type or a NUL byte";
}

int cli_cmd_hash(const char *path, bool json)
{
	char err[512];
	uint8_t *buf = NULL;
	size_t len = 0, n;
	json_t *root = NULL, *events = NULL, *out = NULL;
	ep_ctx *ctx = NULL;
	char (*hashes)[EP_HASH_STR_LEN] = NULL;
	int rc;

	rc = tr_read_file(path, CLI_DOC_BYTES_MAX, &buf, &len, err, sizeof err);
	if (rc != TR_OK) {
		fprintf(stderr, "trellis: %s\n", err);
		goto done;
	}
	rc = cli_doc_events(path, buf, len, &root, &events, err, sizeof err);
	if (rc != TR_OK) {
		fprintf(stderr, "trellis: %s\n", err);
		goto done;
	}
	rc = ep_ctx_new(root, &ctx);
	if (rc != TR_OK) {
		fprintf(stderr, "trellis: '%s': bad @context or ignoreFields: %s\n", path,
			tr_strerror(rc));
		goto done;
	}
	n = json_array_size(events);
	hashes = calloc(n ? n : 1, sizeof(*hashes));
	if (!hashes) {
		rc = TR_ENOMEM;
		fprintf(stderr, "trellis: cannot hash '%s': %s\n", path, tr_strerror(rc));
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		rc = ep_hash(ctx, json_array_get(events, i), hashes[i]);
		if (rc != TR_OK) {
			fprintf(stderr, "trellis: cannot hash '%s' event %zu: %s\n", path, i,
				why(json_array_get(events, i), rc));
			goto done;
		}
	}
	if (json) {
		out = json_array();
		for (size_t i = 0; out && i < n; i++)
			if (json_array_append_new(out, json_string(hashes[i])) != 0)
				rc = TR_ENOMEM;
		char *s = out && rc == TR_OK ? json_dumps(out, JSON_COMPACT) : NULL;
		if (!s) {
			rc = TR_ENOMEM;
			fprintf(stderr, "trellis: cannot hash '%s': %s\n", path, tr_strerror(rc));
			goto done;
		}
		printf("%s\n", s);
		free(s);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", hashes[i]);
	}
	if (fflush(stdout) != 0) {
		rc = TR_EIO;
		fprintf(stderr, "trellis: cannot write the hashes: %s\n", strerror(errno));
	}
done:
	json_decref(out);
	free(hashes);
	ep_ctx_free(ctx);
	json_decref(root);
	free(buf);
	/* Whatever failed here, the input could not be hashed. */
	return rc == TR_OK ? TR_EXIT_OK : TR_EXIT_INPUT;
}
