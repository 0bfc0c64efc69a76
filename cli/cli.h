/*
 * cli.h: what the trellis command (and the benchmarks) share: opening a
 * home, calling the node's API, turning an EPCIS document into signed
 * records.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include "common/consortium.h"
#include "ledger/epcis_hash.h"
#include "proto/trellis.pb-c.h"

#include <jansson.h>

#define CLI_DOC_BYTES_MAX (64u << 20)
#define CLI_DOC_EVENTS_MAX 100000

typedef struct {
	char home[512];
	tr_key *key;          /* NULL unless asked for */
	tr_consortium *c;
	uint32_t self;        /* partner index of key (when key) */
} cli_home;

/* Load HOME/consortium.json and, when want_key, HOME/key (which must be a
 * partner's). */
int cli_home_open(cli_home *h, const char *home, bool want_key, char *err,
		  size_t errlen) TR_MUST_USE;
void cli_home_close(cli_home *h);

/* One error line on stderr: "trellis: " fmt "\n". */
void cli_fail(const char *fmt, ...) TR_PRINTF(1, 2);
/* Print j on one line of stdout (compact, keys in insertion order) and
 * release it; false when nothing was printed (j NULL, or not encodable). */
bool cli_print_json(json_t *j);

/* Open HOME's consortium and its ledger read-only. Errors go to stderr as
 * one line; returns 0 or a CLI exit code (3 when there is no ledger). */
struct ldg;
int cli_ledger_open_ro(const char *home, cli_home *h, struct ldg **l) TR_MUST_USE;

/* ipc://HOME/api.sock */
int cli_api_url(char *out, size_t outlen, const char *home) TR_MUST_USE;

/* One request/reply with the node. TR_EUNREACH when nobody answers at url.
 * *rep is the caller's (trellis__api_reply__free_unpacked). */
int cli_api_call(const char *url, const Trellis__ApiRequest *req, int timeout_ms,
		 Trellis__ApiReply **rep, char *err, size_t errlen) TR_MUST_USE;

/* The event list of an EPCIS 2.0 document (EPCISDocument or
 * EPCISQueryDocument). *root owns the returned array. err names the file,
 * line and column, or the JSON path. */
int cli_doc_events(const char *name, const uint8_t *buf, size_t len, json_t **root,
		   json_t **events, char *err, size_t errlen) TR_MUST_USE;

/* Signed records for each event of a document, with each event's id and
 * GS1 event hash. */
typedef struct {
	size_t n;
	uint8_t **recs;
	size_t *lens;
	uint8_t (*ids)[TR_HASH_LEN];
	char (*hashes)[EP_HASH_STR_LEN];
} cli_records;

/*
 * Validate a whole EPCIS document (ledger/epcis_validate.h), then map
 * (ledger/epcis_map.h), hash and sign each of its events with the home's
 * key. All or nothing: the first bad event refuses the document, and err
 * names the document, the event's index, the JSON path and the reason:
 * "'doc.json': event 3: epcisBody.eventList[3].epcList[0]: ...".
 *
 * doc: the parsed document (cli_doc_events), events its event list; both
 * borrowed. flags: CLI_NO_VALIDATE skips validation (benchmarks only).
 * *out is the caller's (cli_records_free), written only on success.
 * Returns 0, TR_EINVAL, TR_ETOOBIG or TR_ENOMEM.
 */
#define CLI_NO_VALIDATE 1u
int cli_records_from_doc(const cli_home *h, const char *name, json_t *doc, json_t *events,
			 unsigned flags, cli_records *out, char *err, size_t errlen) TR_MUST_USE;

/* As cli_records_from_doc with no document context (standard namespaces,
 * no @context stored) and no validation: for callers that hold only an
 * event list. */
int cli_records_from_events(const cli_home *h, const char *name, json_t *events,
			    cli_records *out, char *err, size_t errlen) TR_MUST_USE;
void cli_records_free(cli_records *r);

/* Serialised Event message of one event object (malloc'd): the mapping
 * of ledger/epcis_map.h with the standard namespaces and no @context. */
int cli_event_bytes(json_t *event, uint8_t **out, size_t *len) TR_MUST_USE;

#endif
