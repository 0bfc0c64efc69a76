/*
 * json_canon.h: JSON in the one form trellis stores it (prefix ep_json_).
 *
 * An Event's json and @context are stored as jansson's compact dump
 * (json_dumps with JSON_COMPACT | JSON_PRESERVE_ORDER, JSON_ENCODE_ANY for a
 * bare value), and every node checks that a partner's record keeps that
 * form (ep_event_rederive). ep_json_load_canonical makes that check cheap
 * for the usual record without changing what it accepts: it reads only a
 * subset of JSON it can vouch for exactly, and leaves the rest to jansson
 * (then dumped and compared). epcis_map_test holds it to jansson on every
 * example event and tens of thousands of mutations of them.
 *
 * The subset: no whitespace between tokens; integers of at most 18 digits
 * (no "-0", no reals); in strings, UTF-8 as it is (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF) and only jansson's escapes
 * (\" \\ \b \f \n \r \t, and \u00XX in capitals for the other controls,
 * never \u0000); nesting at most EP_JSON_FAST_DEPTH deep.
 *
 * Stateless; safe from several threads.
 */
#ifndef LEDGER_JSON_CANON_H
#define LEDGER_JSON_CANON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting ep_json_load_canonical takes (jansson's limit is 2048). */
#define EP_JSON_FAST_DEPTH 64

/*
 * Parse bytes of the subset into the tree json_loadb(JSON_REJECT_DUPLICATES,
 * plus JSON_DECODE_ANY when any) builds from them; those bytes are then
 * also that tree's compact dump. NULL for anything else (outside the
 * subset, not JSON, a duplicate key, out of memory): the caller then asks
 * jansson, which gives the verdict and the message. The tree is the
 * caller's (json_decref).
 */
json_t *ep_json_load_canonical(const uint8_t *s, size_t n, bool any);

#endif
