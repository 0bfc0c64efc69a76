/*
 * epcis_map.h: an EPCIS 2.0 event (jansson) <-> the Event message of
 * proto/trellis.proto (prefix ep_).
 *
 * ep_map_event turns one event object of a validated document
 * (ledger/epcis_validate.h) into serialised Event bytes: `json` keeps the
 * event losslessly (compact, keys in document order, every standard field
 * and extension), the structured fields carry what the indexes, rules and
 * queries need, with identifiers as index keys (ep_id_key) and CBV values
 * bare, plus the GS1 event hash (ledger/epcis_hash.h) and the document's
 * @context. ep_event_unpack reads Event bytes back into the generated
 * struct (the structured view), refusing unknown fields and bounding what
 * protobuf-c may allocate. docs/epcis.md gives the field mapping.
 *
 * Ownership: inputs are borrowed; outputs are malloc'd (ep_map_event) or
 * freed with ep_event_free (ep_event_unpack). Outputs are written only on
 * success. Nothing here keeps state: safe from several threads.
 */
#ifndef LEDGER_EPCIS_MAP_H
#define LEDGER_EPCIS_MAP_H

#include "ledger/epcis_hash.h"
#include "ledger/json_canon.h"
#include "proto/trellis.pb-c.h"

#include <jansson.h>

/* Items mapped from one list of one event (epcList, quantityList, ...). */
#define EP_MAP_LIST_MAX 100000
/* Bytes of one serialised Event. */
#define EP_EVENT_BYTES_MAX (8u << 20)
/* What protobuf-c may allocate while unpacking one Event. */
#define EP_UNPACK_ALLOC_MAX (64u << 20)

/*
 * Map one EPCIS event to serialised Event bytes.
 *
 * ctx      the hashing context of the event's document (ep_ctx_new), or
 *          NULL for the standard namespaces.
 * context  the document's "@context" value (borrowed), stored in the Event
 *          so that an export can declare the extension prefixes again;
 *          NULL stores none.
 * event    the event object (borrowed; validated by the caller).
 * path     the event's JSON path for messages ("epcisBody.eventList[3]").
 * *out, *len   the malloc'd Event bytes; hash (EP_HASH_STR_LEN bytes, may
 *          be NULL) the GS1 event hash. Written only on success.
 * err      "<path>.<field>: <reason>" on failure.
 *
 * Returns 0; TR_EINVAL for an identifier or time that cannot be
 * normalised or hashed; TR_ETOOBIG past EP_MAP_LIST_MAX or
 * EP_EVENT_BYTES_MAX; TR_ENOMEM.
 */
int ep_map_event(const ep_ctx *ctx, const json_t *context, json_t *event, const char *path,
		 uint8_t **out, size_t *len, char *hash, char *err, size_t errlen) TR_MUST_USE;

/*
 * Unpack serialised Event bytes (from a record) with a bounded allocator.
 * Refuses unknown fields and an empty json. *out: free with ep_event_free.
 *
 * Returns 0; TR_ETOOBIG when len > EP_EVENT_BYTES_MAX or unpacking would
 * allocate more than EP_UNPACK_ALLOC_MAX; TR_EINVAL when the bytes are not
 * a valid Event.
 */
int ep_event_unpack(const uint8_t *bytes, size_t len, Trellis__Event **out) TR_MUST_USE;

/*
 * Check that serialised Event bytes (from a record a partner signed) are
 * exactly what ep_map_event makes of their own json and @context: the json
 * must parse (duplicate keys refused) and validate as an EPCIS 2.0 event,
 * and re-mapping it must give the same bytes. So the structured fields
 * that the indexes and rules trust (type, times, identifiers, locations,
 * the GS1 event hash, ...) can never disagree with the signed json.
 *
 * err: "<reason>" naming the first field that differs ("field
 * 'biz_location' differs from its json"), or why the json is refused.
 * Returns 0; TR_EINVAL when the bytes are not a valid Event, the json is
 * refused, or a field differs; TR_ETOOBIG past a bound; TR_ENOMEM.
 *
 * Events made from a document with ignoreFields cannot be re-derived (the
 * list is not stored; the hash differs) and are refused.
 */
int ep_event_rederive(const uint8_t *bytes, size_t len, char *err, size_t errlen) TR_MUST_USE;
/* The same for a caller that already unpacked bytes with ep_event_unpack. */
int ep_event_rederive_unpacked(const Trellis__Event *ev, const uint8_t *bytes, size_t len,
			       char *err, size_t errlen) TR_MUST_USE;

/* Free an Event from ep_event_unpack. NULL is fine. */
void ep_event_free(Trellis__Event *ev);

/*
 * The event object of an Event (parsed from its json, duplicate keys
 * refused). *out is the caller's (json_decref). Returns 0 or TR_EINVAL.
 */
int ep_event_json(const Trellis__Event *ev, json_t **out) TR_MUST_USE;

/*
 * Milliseconds since 1970 UTC of an xsd:dateTime ("2020-03-04T11:00:30+01:00").
 * Returns 0 and writes *ms, or TR_EINVAL.
 */
int ep_time_ms(const char *s, int64_t *ms) TR_MUST_USE;

#endif
