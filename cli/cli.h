/*
 * cli.h: what the trellis command (and the benchmarks) share: opening a
 * home, calling the node's API, turning an EPCIS document into signed
 * records.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include "common/consortium.h"
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

/* Signed records for each event of a document. */
typedef struct {
	size_t n;
	uint8_t **recs;
	size_t *lens;
	uint8_t (*ids)[TR_HASH_LEN];
} cli_records;

int cli_records_from_events(const cli_home *h, const char *name, json_t *events,
			    cli_records *out, char *err, size_t errlen) TR_MUST_USE;
void cli_records_free(cli_records *r);

/* Serialised Event message of one event object (malloc'd). */
int cli_event_bytes(json_t *event, uint8_t **out, size_t *len) TR_MUST_USE;

#endif
