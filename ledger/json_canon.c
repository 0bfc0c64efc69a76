/*
 * json_canon.c: reading JSON in trellis' stored form (see json_canon.h).
 * It refuses what it cannot vouch for; the caller then falls back on
 * jansson, which is the rule.
 */
#include "ledger/json_canon.h"

#include <stdlib.h>
#include <string.h>

/* The control character of jansson's "\\u00XX" escape at p, whose 4 hex
 * digits follow "\\u": capitals, not NUL, not one with a short form (\\b
 * \\f \\n \\r \\t); else -1. */
static int control_escape(const uint8_t *hex)
{
	unsigned v = 0;
	for (int d = 0; d < 4; d++) {
		uint8_t h = hex[d];
		if (h >= '0' && h <= '9')
			v = v * 16 + (unsigned)(h - '0');
		else if (h >= 'A' && h <= 'F')
			v = v * 16 + (unsigned)(h - 'A' + 10);
		else
			return -1;
	}
	if (v == 0 || v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
		return -1;
	return (int)v;
}

/* ==== Reading the subset ==== */

typedef struct {
	const uint8_t *p, *end;
	char *buf;   /* unescaped strings, one after the other (they never
		      * take more bytes than their escaped text) */
	size_t used;
} reader;

static json_t *value(reader *r, int depth);

/* Bytes of the RFC 3629 UTF-8 sequence at p (1..4), 0 when invalid:
 * overlong, a surrogate, past U+10FFFF or cut short. */
static size_t utf8_len(const uint8_t *p, const uint8_t *end)
{
	uint8_t c = p[0];
	uint32_t v;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0; /* a continuation byte, or an overlong two-byte form */
	if (c < 0xE0)
		n = 2, v = c & 0x1Fu;
	else if (c < 0xF0)
		n = 3, v = c & 0x0Fu;
	else if (c < 0xF5)
		n = 4, v = c & 0x07u;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3Fu);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

/* The string after an opening quote, unescaped into r->buf; *s, *len. */
static bool string(reader *r, const char **s, size_t *len)
{
	char *out = r->buf + r->used;
	size_t k = 0;
	while (r->p < r->end) {
		uint8_t c = *r->p, e;
		size_t n;
		if (c == '"') {
			r->p++;
			*s = out;
			*len = k;
			r->used += k;
			return true;
		}
		if (c != '\\') {
			if (c < 0x20 || !(n = utf8_len(r->p, r->end)))
				return false;
			memcpy(out + k, r->p, n);
			k += n;
			r->p += n;
			continue;
		}
		if (r->end - r->p < 2)
			return false;
		switch (r->p[1]) {
		case '"':
			e = '"';
			break;
		case '\\':
			e = '\\';
			break;
		case 'b':
			e = '\b';
			break;
		case 'f':
			e = '\f';
			break;
		case 'n':
			e = '\n';
			break;
		case 'r':
			e = '\r';
			break;
		case 't':
			e = '\t';
			break;
		case 'u': { /* jansson's \u00XX: a control without a short form */
			int v = r->end - r->p < 6 ? -1 : control_escape(r->p + 2);
			if (v < 0)
				return false;
			e = (uint8_t)v;
			r->p += 4;
			break;
		}
		default:
			return false;
		}
		out[k++] = (char)e;
		r->p += 2;
	}
	return false;
}

static json_t *integer(reader *r)
{
	bool neg = *r->p == '-';
	const uint8_t *d0 = r->p + neg, *q = d0;
	uint64_t v = 0; /* reads at most 19 digits, which fit; a 19th is refused */
	while (q < r->end && *q >= '0' && *q <= '9' && q - d0 <= 18)
		v = v * 10 + (uint64_t)(*q++ - '0');
	if (q == d0 || q - d0 > 18 || (*d0 == '0' && (q - d0 > 1 || neg)))
		return NULL;
	if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
		return NULL; /* a real: jansson's */
	r->p = q;
	return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
}

static json_t *literal(reader *r, const char *word, json_t *v)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return NULL;
	r->p += n;
	return v;
}

/* One "key":value of an object, added to o. */
static bool member(reader *r, json_t *o, int depth)
{
	const char *key;
	size_t kl;
	json_t *v;
	if (r->p >= r->end || *r->p != '"')
		return false;
	r->p++;
	if (!string(r, &key, &kl) || r->p >= r->end || *r->p != ':')
		return false;
	r->p++;
	if (json_object_getn(o, key, kl))
		return false; /* a duplicate key: jansson refuses it, with the message */
	/* setn_new takes v even when it fails */
	return (v = value(r, depth)) && json_object_setn_new_nocheck(o, key, kl, v) == 0;
}

/* An object or an array, r->p at its opening bracket. */
static json_t *container(reader *r, int depth, bool obj)
{
	json_t *c = obj ? json_object() : json_array(), *v;
	uint8_t close = obj ? '}' : ']';
	if (!c)
		return NULL;
	r->p++;
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return c;
	}
	for (;;) {
		if (obj ? !member(r, c, depth)
			: !(v = value(r, depth)) || json_array_append_new(c, v) != 0)
			break;
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			return c;
		}
		break;
	}
	json_decref(c);
	return NULL;
}

static json_t *value(reader *r, int depth)
{
	const char *s;
	size_t n;
	if (r->p >= r->end)
		return NULL;
	switch (*r->p) {
	case '{':
	case '[':
		return depth < EP_JSON_FAST_DEPTH ? container(r, depth + 1, *r->p == '{') : NULL;
	case '"':
		r->p++;
		return string(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
	case 't':
		return literal(r, "true", json_true());
	case 'f':
		return literal(r, "false", json_false());
	case 'n':
		return literal(r, "null", json_null());
	default:
		return *r->p == '-' || (*r->p >= '0' && *r->p <= '9') ? integer(r) : NULL;
	}
}

json_t *ep_json_load_canonical(const uint8_t *s, size_t n, bool any)
{
	reader r = {.p = s, .end = s + n, .buf = malloc(n ? n : 1)};
	json_t *v;
	if (!r.buf)
		return NULL;
	v = value(&r, 0);
	free(r.buf);
	if (v && (r.p != r.end || (!any && !json_is_object(v) && !json_is_array(v)))) {
		json_decref(v);
		v = NULL;
	}
	return v;
}
