/*
 * epcis_validate.h: validation of GS1 EPCIS 2.0 JSON / JSON-LD documents and
 * events, before anything of them is mapped, hashed, signed or stored.
 *
 * The rules follow the GS1 JSON schema (EPCIS-JSON-Schema.json, draft-07)
 * and the standard; docs/epcis-validation.md lists every check, per event
 * type, with the schema definition it comes from and where trellis is
 * stricter or more lenient than the schema (and why).
 *
 * Scope: the five standard event types (ObjectEvent, AggregationEvent,
 * TransactionEvent, TransformationEvent, AssociationEvent). A user-defined
 * event type (the schema's Extended-Event) is refused: trellis cannot index
 * or trace it. User extensions (namespaced keys `prefix:name`, any JSON
 * value) are accepted wherever the schema accepts them.
 *
 * Errors: a refused input gets ONE message, for the first problem found:
 * "<path>: <reason>", where path is the JSON path of the offending value
 * (`epcisBody.eventList[3].epcList[0]: not an EPC URI or GS1 Digital Link
 * URI`), or of the missing field (`...eventList[3].eventTime: missing
 * required field`). Keys that are not printable ASCII are shown escaped
 * (\xNN); values are never printed raw.
 *
 * Bounds: every walk over the input is bounded in depth (EP_DEPTH_MAX),
 * in the number of JSON values visited per event (EP_EVENT_NODES_MAX), in
 * list lengths and in string sizes; exceeding one is TR_ETOOBIG, never a
 * crash. The functions keep no state and allocate only a temporary index
 * for duplicate checks: they are safe to call from several threads on
 * different documents.
 *
 * Ownership: the JSON values are borrowed and not modified (the json_t
 * pointers are non-const only because jansson's object iterator is).
 * Duplicate keys are the parser's job: load documents with
 * JSON_REJECT_DUPLICATES.
 */
#ifndef EP_EPCIS_VALIDATE_H
#define EP_EPCIS_VALIDATE_H

#include "common/tr.h"

#include <jansson.h>

/* Levels below one event: the event object is level 0, the value of one of
 * its fields level 1, and so on (the deepest value in the GS1 examples is at
 * level 9). The same bound applies to a document outside its events. */
#define EP_DEPTH_MAX 32
/* JSON values (objects, arrays, scalars) visited in one event. */
#define EP_EVENT_NODES_MAX 200000
/* Events in one document. */
#define EP_EVENTS_MAX 100000
/* Items of any one array (epcList, an extension's array, ...). */
#define EP_LIST_MAX 100000
/* Bytes of one object key, one string value, one URI, one timestamp. */
#define EP_KEY_MAX 256
#define EP_STRING_MAX 65536
#define EP_URI_MAX 4096
#define EP_TIME_MAX 64
/* Longest path_prefix accepted; longer ones are cut in messages. */
#define EP_PREFIX_MAX 256

/*
 * Validate one EPCIS 2.0 event.
 *
 * event        the event (borrowed); anything that is not a JSON object is
 *              refused.
 * path_prefix  the JSON path of the event inside its document, e.g.
 *              "epcisBody.eventList[3]", prefixed to every error path; NULL
 *              or "" for an event on its own (paths then start at its keys:
 *              "eventTime: ...").
 * err, errlen  on error, the message "<path>: <reason>" (NUL-terminated,
 *              cut to errlen); untouched on success. err may be NULL.
 *
 * An event inside a document needs no @context of its own (the schema asks
 * for one only on a stand-alone event; the caller checks that if it wants).
 *
 * Returns 0 if the event is valid; TR_EINVAL if it breaks a rule;
 * TR_ETOOBIG if it exceeds a bound (depth, size, list length);
 * TR_ENOMEM if the duplicate check could not allocate.
 */
int ep_validate_event(json_t *event, const char *path_prefix, char *err, size_t errlen) TR_MUST_USE;

/*
 * Validate a whole EPCIS 2.0 document: an EPCISDocument (@context,
 * schemaVersion, creationDate, epcisBody.eventList, optional epcisHeader)
 * or an EPCISQueryDocument (epcisBody.queryResults with queryName and
 * resultsBody.eventList), then every event in order, stopping at the first
 * bad one. Error paths start at the document root:
 * "epcisBody.eventList[3].eventTime: ...".
 *
 * doc, err, errlen as for ep_validate_event. Returns 0, TR_EINVAL,
 * TR_ETOOBIG or TR_ENOMEM as ep_validate_event does.
 */
int ep_validate_document(json_t *doc, char *err, size_t errlen) TR_MUST_USE;

/*
 * The event list of a document that passed ep_validate_document: *events
 * gets the array (borrowed from doc) and *list_path, when not NULL, its
 * path ("epcisBody.eventList" or
 * "epcisBody.queryResults.resultsBody.eventList", a static string), so that
 * later stages can name "<list_path>[i]" in their own errors.
 *
 * Returns 0, or TR_EINVAL if doc has no such list (outputs untouched).
 */
int ep_document_events(json_t *doc, json_t **events, const char **list_path) TR_MUST_USE;

#endif
