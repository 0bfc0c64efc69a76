/*
 * epcis_id.h: GS1 identifier and CBV value normalisation (prefix ep_).
 *
 * One item, lot, location, container or party can be written as an EPC URN
 * (urn:epc:id:sgtin:0614141.107346.2017), an EPC class or pattern URN
 * (urn:epc:class:lgtin:..., urn:epc:idpat:sgtin:...*) or a GS1 Digital Link
 * URI on any domain (https://example.com/gtin/00614141073464/ser/2017).
 * This module maps all of them to one canonical GS1 Digital Link URI
 * (https://id.gs1.org/01/00614141073464/21/2017): numeric AIs, GTIN padded
 * to 14 digits, check digits computed, query string and CPV (AI 22) dropped,
 * a lot dropped when a serial is present. The company prefix length comes
 * from the position of the URN's first dot.
 *
 * Two flavours, chosen by flags:
 *   EP_ID_HASH   byte-for-byte what the GS1 event hash (CBV 2.0, the
 *                reference implementation) expects: URN serials keep their
 *                escapes and get ! ( ) * + , : percent-encoded; a Digital
 *                Link whose values hold anything outside the reference's
 *                character set is not converted.
 *   EP_ID_KEY    the index key: every value is percent-decoded and encoded
 *                again one way (only A-Z a-z 0-9 ' - . _ ; = stay raw, the
 *                rest becomes %XX upper case), so two spellings of one
 *                identifier always give one key.
 *
 * CBV values (bizStep, disposition, business transaction type, source or
 * destination type, error reason, sensor component) come as a bare word, a
 * CBV 1.x URN or a CBV 2.0 Web URI; ep_cbv_bare gives the bare word.
 *
 * Nothing here allocates. Inputs are bounded by EP_ID_MAX; outputs are
 * written only on success.
 */
#ifndef LEDGER_EPCIS_ID_H
#define LEDGER_EPCIS_ID_H

#include "common/tr.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest identifier (input or output) handled, NUL excluded. */
#define EP_ID_MAX 512

enum { EP_ID_HASH = 0, EP_ID_KEY = 1 };

/*
 * Convert one GS1 identifier to its canonical Digital Link URI.
 *
 * id, len: the identifier (not NUL-terminated necessarily); flags:
 * EP_ID_HASH or EP_ID_KEY. out receives the NUL-terminated URI (at most
 * outlen bytes) only on success.
 *
 * Returns 0 when converted; TR_ENOTFOUND when id is not an EPC URN nor a
 * Digital Link with a GS1 key (the caller keeps it as it is); TR_EINVAL when
 * id is an EPC URN (urn:epc:id:, urn:epc:class:, urn:epc:idpat:) that is
 * malformed, or a Digital Link whose GS1 path is malformed; TR_ETOOBIG when
 * len > EP_ID_MAX or the result does not fit in outlen.
 */
int ep_id_to_dl(const char *id, size_t len, int flags, char *out, size_t outlen) TR_MUST_USE;

/*
 * The index key of an identifier: the canonical Digital Link URI
 * (EP_ID_KEY flavour) of a GS1 identifier, or id itself, unchanged, when it
 * is not a GS1 identifier (a geo: URI, a private URN, a URL without a GS1
 * key path). urn:epc:id:sgtin:0614141.107346.2017 and
 * https://id.gs1.org/01/00614141073464/21/2017 give the same key.
 *
 * Returns 0 and writes out (NUL-terminated); TR_EINVAL for a malformed EPC
 * URN or GS1 Digital Link; TR_ETOOBIG when id is longer than EP_ID_MAX or
 * the key does not fit in outlen.
 */
int ep_id_key(const char *id, char *out, size_t outlen) TR_MUST_USE;

/*
 * The bare form of a CBV value: "shipping" for "shipping",
 * "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/BizStep-shipping",
 * "https://gs1.org/voc/BizStep-shipping" and "cbv:BizStep-shipping"; the
 * same for Disp-, BTT-, SDT-, ER- and Comp- values. Any other value (a
 * private vocabulary URI) is copied unchanged.
 *
 * Returns 0 and writes out; TR_ETOOBIG when v is longer than EP_ID_MAX or
 * does not fit in outlen.
 */
int ep_cbv_bare(const char *v, char *out, size_t outlen) TR_MUST_USE;

#endif
