/*
 * epcis_hash.h: the GS1 CBV 2.0 event hash of an EPCIS 2.0 event
 * (ni:///sha-256;HEX?ver=CBV2.0), prefix ep_.
 *
 * The hash is SHA-256 over a canonical "pre-hash" string of the event:
 * eventType, then the standard fields in a fixed order (identifiers as
 * canonical GS1 Digital Link URIs, times in UTC with milliseconds, numbers
 * normalised, CBV values as Web URIs, lists sorted), then everything else
 * (business transactions, sources, destinations, ILMD, user extensions)
 * sorted. recordTime, eventID, errorDeclaration and comments are left out,
 * so the same event written in any syntax, by anyone, and its error
 * declaration, all hash equal. docs/event-hash.md gives the rules and the
 * test vectors that forced them.
 *
 * Extension keys ("example:myField") are expanded with the namespaces of
 * the document's JSON-LD @context ("{https://ns.example.com/epcis/}myField"),
 * so an ep_ctx is built from the document the events came from; it also
 * carries the document's ignoreFields. An ep_ctx is immutable once made
 * and may be shared by threads.
 *
 * Inputs are jansson values that the caller keeps owning. Every input is
 * bounded: EP_PREHASH_MAX bytes of pre-hash, EP_DEPTH_MAX levels of nested
 * extension, EP_NS_MAX namespaces.
 */
#ifndef LEDGER_EPCIS_HASH_H
#define LEDGER_EPCIS_HASH_H

#include "common/tr.h"

#include <jansson.h>
#include <stddef.h>

/* "ni:///sha-256;" + 64 hex + "?ver=CBV2.0" + NUL */
#define EP_HASH_STR_LEN 90
/* Largest pre-hash string of one event, NUL excluded. */
#define EP_PREHASH_MAX (4u << 20)
/* Deepest nesting of objects and arrays inside one event. */
#define EP_DEPTH_MAX 32
/* Most namespaces taken from one @context, and most ignoreFields. */
#define EP_NS_MAX 64
#define EP_IGNORE_MAX 64
/* Longest namespace prefix and namespace URI. */
#define EP_NS_PREFIX_MAX 64
#define EP_NS_URI_MAX 512

typedef struct ep_ctx ep_ctx;

/*
 * Make the hashing context of an EPCIS document: the namespace prefixes of
 * its "@context" (on top of the standard ones: gs1, cbv, epcis, cbvmda)
 * and the keys listed in an "ignoreFields" member (any prefix) of the
 * document or of epcisBody.queryResults.
 *
 * doc: the parsed document, borrowed; NULL gives the standard namespaces
 * only. *out: the new context (the caller frees it with ep_ctx_free),
 * written only on success.
 *
 * Returns 0; TR_EINVAL when @context or ignoreFields is malformed;
 * TR_ETOOBIG past EP_NS_MAX, EP_IGNORE_MAX or the length bounds; TR_ENOMEM.
 */
int ep_ctx_new(const json_t *doc, ep_ctx **out) TR_MUST_USE;

/* Free a context from ep_ctx_new. NULL is fine. */
void ep_ctx_free(ep_ctx *ctx);

/*
 * The canonical pre-hash string of one event.
 *
 * ctx: from ep_ctx_new, or NULL for the standard namespaces. event: an
 * EPCIS 2.0 event object, borrowed. *out: a malloc'd NUL-terminated string
 * (the caller frees it), *len its length; both written only on success.
 *
 * Returns 0; TR_EINVAL when event is not an object, has no string "type",
 * no parsable "eventTime", or holds a string with a NUL byte; TR_ETOOBIG
 * past EP_PREHASH_MAX or EP_DEPTH_MAX; TR_ENOMEM.
 */
int ep_prehash(const ep_ctx *ctx, const json_t *event, char **out, size_t *len) TR_MUST_USE;

/*
 * The event hash ID of one event: "ni:///sha-256;<64 lowercase hex>?ver=CBV2.0".
 *
 * ctx, event: as for ep_prehash. out: EP_HASH_STR_LEN bytes, written only
 * on success. Returns what ep_prehash returns.
 */
int ep_hash(const ep_ctx *ctx, const json_t *event, char out[EP_HASH_STR_LEN]) TR_MUST_USE;

/*
 * Normalise an xsd:dateTime to UTC with milliseconds, as the hash does:
 * "2020-03-04T11:00:30+01:00" -> "2020-03-04T10:00:30.000Z". Fractions
 * past milliseconds are cut (not rounded); no offset means UTC.
 *
 * s, len: the text. out: at least 25 bytes, written only on success.
 * Returns 0, or TR_EINVAL when s is not a date-time in years 1..9999.
 */
int ep_time_utc(const char *s, size_t len, char out[25]) TR_MUST_USE;

#endif
