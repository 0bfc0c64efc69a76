/*
 * epcis_validate.c: the EPCIS 2.0 validator (ledger/epcis_validate.h).
 *
 * A hand-written transcription of the GS1 JSON schema (EPCIS-JSON-Schema.json,
 * draft-07) into tables: one table of event fields with the event types
 * that allow and require each (the schema's per-type "properties",
 * "required" and "propertyNames"), one "shape" per nested object
 * (errorDeclaration, quantityElement, sensorElement, ...), one vocabulary
 * per CBV enumeration, and value checkers that carry the meaning of the
 * schema's patterns and formats (date-time, uri, uom, offsets) without a
 * regex library. The per-type "anyOf" rules that tables cannot say are
 * spelt out in event_rules(). docs/epcis-validation.md is the prose.
 *
 * One walk, one context: every value visited is first entered on the path
 * (at_key / at_index -> path_enter), which is also where the bounds are
 * enforced: depth (EP_DEPTH_MAX), values per event (EP_EVENT_NODES_MAX),
 * key size. The first failure writes "<path>: <reason>" and every caller
 * returns at once; nothing is collected. The walk recurses only through
 * at_key / at_index, so the C stack is bounded by EP_DEPTH_MAX frames of
 * the checkers.
 *
 * Invariant: the path buffer always fits (EP_PATH_BUF is sized for the
 * deepest walk with the longest shown keys); TR_ASSERT guards it.
 */
#include "ledger/epcis_validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

/* ==== Context and path ==== */

#define EP_SHOW_MAX 48        /* bytes of a key or value shown in a message */
#define EP_SEG_MAX (1 + 4 * EP_SHOW_MAX + 3) /* ".key..." with every byte escaped */
#define EP_PATH_BUF (4 * EP_PREFIX_MAX + 1 + (2 * EP_DEPTH_MAX + 8) * EP_SEG_MAX)
#define EP_CONTEXT_ITEMS_MAX 256 /* entries of one @context array (checked pairwise) */

_Static_assert(EP_SEG_MAX >= sizeof("[18446744073709551615]"), "index segment fits");
_Static_assert(EP_KEY_MAX < EP_STRING_MAX && EP_URI_MAX < EP_STRING_MAX, "bounds ordered");

typedef struct {
	char *err;
	size_t errlen;
	const char *root;   /* named in messages when the path is empty */
	unsigned depth;     /* containers entered below the current root */
	size_t nodes;       /* values visited in the current event */
	size_t plen;
	char path[EP_PATH_BUF];
} ep_ctx;

typedef int (*ep_check)(ep_ctx *c, json_t *v, const void *arg);

static int vfail(ep_ctx *c, int code, const char *fmt, va_list ap) TR_PRINTF(3, 0);
static int fail(ep_ctx *c, int code, const char *fmt, ...) TR_PRINTF(3, 4);

/* Write "<path>: <reason>" into the caller's buffer; returns code. */
static int vfail(ep_ctx *c, int code, const char *fmt, va_list ap)
{
	int n;

	if (c->err == NULL || c->errlen == 0)
		return code;
	n = snprintf(c->err, c->errlen, "%s: ", c->plen ? c->path : c->root);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	return code;
}

static int fail(ep_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = vfail(c, code, fmt, ap);
	va_end(ap);
	return code;
}

/* Append s (len bytes, at most max shown) to the path: printable ASCII as
 * is, anything else as \xNN, "..." when cut. */
static void path_put(ep_ctx *c, const char *s, size_t len, size_t max)
{
	size_t shown = len < max ? len : max;

	TR_ASSERT(c->plen + 4 * shown + 4 < sizeof(c->path));
	for (size_t i = 0; i < shown; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f) {
			c->path[c->plen++] = (char)ch;
		} else {
			snprintf(c->path + c->plen, 5, "\\x%02x", ch);
			c->plen += 4;
		}
	}
	if (shown < len) {
		memcpy(c->path + c->plen, "...", 3);
		c->plen += 3;
	}
	c->path[c->plen] = '\0';
}

static void path_append_key(ep_ctx *c, const char *key, size_t klen)
{
	if (c->plen > 0)
		path_put(c, ".", 1, 1);
	path_put(c, key, klen, EP_SHOW_MAX);
}

/* Enter a child value: bounds first, so that nothing deeper is looked at. */
static int path_enter(ep_ctx *c)
{
	c->depth++;
	c->nodes++;
	if (c->depth > EP_DEPTH_MAX)
		return fail(c, TR_ETOOBIG, "nested deeper than %d levels", EP_DEPTH_MAX);
	if (c->nodes > EP_EVENT_NODES_MAX)
		return fail(c, TR_ETOOBIG, "more than %d JSON values", EP_EVENT_NODES_MAX);
	return 0;
}

static void path_leave(ep_ctx *c, size_t plen)
{
	c->depth--;
	c->plen = plen;
	c->path[plen] = '\0';
}

/* Check v, found under key, with fn. */
static int at_key(ep_ctx *c, const char *key, size_t klen, json_t *v, ep_check fn,
		  const void *arg)
{
	size_t saved = c->plen;
	int rc;

	path_append_key(c, key, klen);
	rc = path_enter(c);
	if (rc == 0 && klen > EP_KEY_MAX)
		rc = fail(c, TR_ETOOBIG, "key longer than %d bytes", EP_KEY_MAX);
	if (rc == 0 && strlen(key) != klen)
		rc = fail(c, TR_EINVAL, "key contains a NUL character");
	if (rc == 0)
		rc = fn(c, v, arg);
	path_leave(c, saved);
	return rc;
}

/* "[i]" into seg (snprintf's "[%zu]", by hand: every array item of every
 * event a node re-derives passes here); returns its length. */
static size_t index_seg(char seg[32], size_t i)
{
	size_t n;
	seg[0] = '[';
	n = 1 + tr_u64_dec(seg + 1, i);
	seg[n++] = ']';
	seg[n] = '\0';
	return n;
}

/* Check v, item i of an array, with fn. */
static int at_index(ep_ctx *c, size_t i, json_t *v, ep_check fn, const void *arg)
{
	size_t saved = c->plen;
	char seg[32];
	int rc;

	path_put(c, seg, index_seg(seg, i), sizeof(seg));
	rc = path_enter(c);
	if (rc == 0)
		rc = fn(c, v, arg);
	path_leave(c, saved);
	return rc;
}

static int fail_at_key(ep_ctx *c, const char *key, size_t klen, const char *fmt, ...)
	TR_PRINTF(4, 5);
static int fail_at_index(ep_ctx *c, size_t i, const char *fmt, ...) TR_PRINTF(3, 4);

/* Fail (TR_EINVAL) at field key of the current object, present or not. */
static int fail_at_key(ep_ctx *c, const char *key, size_t klen, const char *fmt, ...)
{
	size_t saved = c->plen;
	va_list ap;
	int rc;

	path_append_key(c, key, klen);
	va_start(ap, fmt);
	rc = vfail(c, TR_EINVAL, fmt, ap);
	va_end(ap);
	c->plen = saved;
	c->path[saved] = '\0';
	return rc;
}

/* Fail (TR_EINVAL) at item i of the current array. */
static int fail_at_index(ep_ctx *c, size_t i, const char *fmt, ...)
{
	size_t saved = c->plen;
	char seg[32];
	va_list ap;
	int rc;

	path_put(c, seg, index_seg(seg, i), sizeof(seg));
	va_start(ap, fmt);
	rc = vfail(c, TR_EINVAL, fmt, ap);
	va_end(ap);
	c->plen = saved;
	c->path[saved] = '\0';
	return rc;
}

static int fail_missing(ep_ctx *c, const char *key, const char *why)
{
	return fail_at_key(c, key, strlen(key), "missing required field%s", why);
}

/* A string value for a message: at most EP_SHOW_MAX bytes, printable ASCII,
 * the rest escaped. */
static const char *show(char *buf, size_t buflen, const char *s)
{
	size_t o = 0, i = 0;

	for (; s[i] != '\0' && i < EP_SHOW_MAX && o + 5 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\'')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", ch);
	}
	if (s[i] != '\0' && o + 4 <= buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

#define SHOW_BUF (4 * EP_SHOW_MAX + 8)

/* ==== Value forms ==== */

static bool is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static bool is_alpha(int ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static bool is_hex(int ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int want_string(ep_ctx *c, json_t *v, size_t max, const char **out)
{
	const char *s;

	if (!json_is_string(v))
		return fail(c, TR_EINVAL, "not a string");
	s = json_string_value(v);
	if (json_string_length(v) > max)
		return fail(c, TR_ETOOBIG, "string longer than %zu bytes", max);
	if (strlen(s) != json_string_length(v))
		return fail(c, TR_EINVAL, "string contains a NUL character");
	*out = s;
	return 0;
}

/* A string field of at most max bytes whose text ok() accepts; why says
 * what it should be. */
typedef struct {
	size_t max;
	bool (*ok)(const char *s);
	const char *why;
} ep_form;

static int check_form(ep_ctx *c, json_t *v, const ep_form *f)
{
	const char *s;
	int rc = want_string(c, v, f->max, &s);

	if (rc != 0)
		return rc;
	return f->ok(s) ? 0 : fail(c, TR_EINVAL, "%s", f->why);
}

/* RFC 3986 URI (the schema's format "uri"): scheme ":" and a non-empty rest
 * made only of URI characters (unreserved, reserved, %HH). */
static bool is_uri(const char *s)
{
	size_t i = 0;

	if (!is_alpha((unsigned char)s[0]))
		return false;
	for (i = 1; is_alpha((unsigned char)s[i]) || is_digit(s[i]) || s[i] == '+' ||
		    s[i] == '-' || s[i] == '.';
	     i++)
		;
	if (s[i] != ':' || s[i + 1] == '\0')
		return false;
	for (i++; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '%') {
			if (!is_hex(s[i + 1]) || !is_hex(s[i + 2]))
				return false;
			i += 2;
		} else if (!is_alpha(ch) && !is_digit(ch) && !strchr("-._~:/?#[]@!$&'()*+,;=", ch)) {
			return false;
		}
	}
	return true;
}

/* A namespaced extension key, as the schema's propertyNames allow it
 * ("vocab-uri": format uri): prefix:name or a full URI. */
static bool is_ext_key(const char *k) { return is_uri(k); }

static const char *const epc_schemes[] = {
	"sgtin", "sscc", "sgln", "grai", "giai", "gsrn", "gsrnp", "gdti", "cpi", "sgcn",
	"ginc", "gsin", "itip", "upui", "pgln", "gid", "usdod", "adi", "bic", "imovn",
};
static const char *const epc_class_schemes[] = {"lgtin"};

/* urn:epc:<kind>:<scheme>:<body> with scheme from the list (TDS 2.0). */
static bool is_epc_urn(const char *s, const char *kind, const char *const *schemes, size_t n)
{
	const char *p;

	if (!starts(s, "urn:epc:") || !starts(s + 8, kind))
		return false;
	p = s + 8 + strlen(kind);
	if (*p++ != ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(schemes[i]);
		if (strncmp(p, schemes[i], len) == 0 && p[len] == ':' && p[len + 1] != '\0')
			return !strpbrk(p + len + 1, "/?#[]@") && is_uri(s);
	}
	return false;
}

/* GS1 Digital Link URI (uncompressed): http(s)://host/[path/]AI/value...,
 * with a numeric application identifier segment (2 to 4 digits) followed
 * by a non-empty value segment. Any domain: a brand may resolve its own. */
static bool is_digital_link(const char *s)
{
	const char *p, *seg;

	if (starts(s, "https://"))
		p = s + 8;
	else if (starts(s, "http://"))
		p = s + 7;
	else
		return false;
	if (!is_uri(s) || *p == '/' || (p = strchr(p, '/')) == NULL)
		return false;
	for (seg = p + 1; *seg != '\0' && *seg != '?' && *seg != '#';) {
		size_t len = strcspn(seg, "/?#");
		if (len >= 2 && len <= 4 && strspn(seg, "0123456789") == len && seg[len] == '/' &&
		    strcspn(seg + len + 1, "/?#") > 0)
			return true;
		seg += len;
		if (*seg == '/')
			seg++;
	}
	return false;
}

static const ep_form f_uri = {EP_URI_MAX, is_uri, "not a URI"};

static int chk_uri(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_uri);
}

/* An instance-level identifier: epcList, childEPCs, input/outputEPCList,
 * parentID. */
static bool is_epc(const char *s)
{
	return is_epc_urn(s, "id", epc_schemes, TR_ARRAY_LEN(epc_schemes)) || is_digital_link(s);
}

static const ep_form f_epc = {EP_URI_MAX, is_epc, "not an EPC URI or GS1 Digital Link URI"};

static int chk_epc(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_epc);
}

/* A class-level identifier: epcClass of a quantity element. */
static bool is_epc_class(const char *s)
{
	return is_epc_urn(s, "class", epc_class_schemes, TR_ARRAY_LEN(epc_class_schemes)) ||
	       is_epc_urn(s, "idpat", epc_schemes, TR_ARRAY_LEN(epc_schemes)) || is_digital_link(s);
}

static const ep_form f_epc_class = {EP_URI_MAX, is_epc_class,
				    "not an EPC class URI (urn:epc:class:..., urn:epc:idpat:...) "
				    "or GS1 Digital Link URI"};

static int chk_epc_class(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_epc_class);
}

static int digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* [+-]hh:mm, at most 14:00 either way. Returns the bytes read, 0 if bad. */
static size_t parse_offset(const char *s)
{
	int h, m;

	if (strnlen(s, 6) < 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
		return 0;
	h = digits(s + 1, 2);
	m = digits(s + 4, 2);
	if (h < 0 || m < 0 || m > 59 || h > 14 || (h == 14 && m != 0))
		return 0;
	return 6;
}

/* A date-time both RFC 3339 and xsd:dateTimeStamp accept:
 * YYYY-MM-DDThh:mm:ss[.f+](Z|[+-]hh:mm), real calendar dates, hours 00-23,
 * seconds 00-59, offsets within 14:00. */
static bool is_datetime(const char *s)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se;
	size_t i = 19;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return false;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	if (s[i] == '.') {
		size_t n = strspn(s + i + 1, "0123456789");
		if (n == 0)
			return false;
		i += 1 + n;
	}
	if (s[i] == 'Z')
		return s[i + 1] == '\0';
	return parse_offset(s + i) == 6 && s[i + 6] == '\0';
}

static const ep_form f_time = {EP_TIME_MAX, is_datetime,
			       "not a date-time with a time zone "
			       "(e.g. 2005-04-03T20:33:31.116-06:00 or ...Z)"};

static int chk_time(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_time);
}

static bool is_tzoffset(const char *s)
{
	return parse_offset(s) == 6 && s[6] == '\0';
}

static const ep_form f_tzoffset = {EP_TIME_MAX, is_tzoffset,
				   "not a time zone offset +hh:mm or -hh:mm within 14:00"};

static int chk_tzoffset(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_tzoffset);
}

static int chk_string(ep_ctx *c, json_t *v, const void *arg)
{
	const char *s;

	(void)arg;
	return want_string(c, v, EP_STRING_MAX, &s);
}

static int chk_bool(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return json_is_boolean(v) ? 0 : fail(c, TR_EINVAL, "not a boolean");
}

/* Schema "hexBinary": ^[A-Fa-f0-9]+$ */
static bool is_hex_string(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

static const ep_form f_hex = {EP_STRING_MAX, is_hex_string, "not hexadecimal digits"};

static int chk_hex(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_hex);
}

/* Schema "decimal" (a JSON number); arg non-NULL: must also be >= 0. */
static int chk_decimal(ep_ctx *c, json_t *v, const void *arg)
{
	double d;

	if (!json_is_number(v))
		return fail(c, TR_EINVAL, "not a number");
	d = json_number_value(v);
	if (!isfinite(d))
		return fail(c, TR_EINVAL, "not a finite number");
	if (arg != NULL && d < 0)
		return fail(c, TR_EINVAL, "negative quantity");
	return 0;
}

static const bool nonneg = true;

/* Schema "uom": ^[A-Z0-9]{2,3}$, a UN/CEFACT Recommendation 20 code. */
static bool is_uom(const char *s)
{
	size_t len = strlen(s);

	return len >= 2 && len <= 3 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == len;
}

static const ep_form f_uom = {EP_KEY_MAX, is_uom,
			      "not a UN/CEFACT unit code (2 or 3 upper-case letters "
			      "or digits, e.g. KGM)"};

static int chk_uom(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_uom);
}

/* Schema "version": ^\d+(\.\d+)*$ */
static bool is_version(const char *s)
{
	for (const char *p = s;; p++) {
		size_t n = strspn(p, "0123456789");
		if (n == 0)
			return false;
		p += n;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
	}
}

static const ep_form f_version = {EP_KEY_MAX, is_version, "not a version number (e.g. 2.0)"};

static int chk_version(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return check_form(c, v, &f_version);
}

static int chk_action(ep_ctx *c, json_t *v, const void *arg)
{
	char buf[SHOW_BUF];
	const char *s;
	int rc;

	(void)arg;
	if ((rc = want_string(c, v, EP_KEY_MAX, &s)) != 0)
		return rc;
	if (strcmp(s, "ADD") != 0 && strcmp(s, "OBSERVE") != 0 && strcmp(s, "DELETE") != 0)
		return fail(c, TR_EINVAL, "unknown action '%s' (ADD, OBSERVE or DELETE)",
			    show(buf, sizeof(buf), s));
	return 0;
}

/* ==== Vocabularies (CBV 2.0 and the GS1 Web Vocabulary) ==== */

/*
 * A vocabulary value is a bare name from the list, the same name in one of
 * its URI forms (urn:epcglobal:cbv:bizstep:receiving,
 * https://ref.gs1.org/cbv/BizStep-receiving, cbv:BizStep-receiving; for the
 * sensor vocabularies gs1:Temperature, https://gs1.org/voc/Temperature), or
 * any other URI outside the standard namespaces (the schema's
 * "vocab-other-uri"): a user vocabulary such as example:myStep.
 */
typedef struct {
	const char *what;
	const char *const *names;
	size_t n;
	const char *urn;  /* URN prefix of the names, or NULL */
	const char *web;  /* the term prefix in the Web namespace: "BizStep-", "" */
	bool gs1voc;      /* names live in https://gs1.org/voc/ (else the CBV) */
} ep_vocab;

static const char *const bizstep_names[] = {
	"accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
	"creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
	"disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
	"installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
	"repackaging", "repairing", "replacing", "reserving", "retail_selling", "shipping",
	"staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading",
	"unpacking", "void_shipping", "sensor_reporting", "sampling",
};
static const char *const disp_names[] = {
	"active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
	"expired", "in_progress", "in_transit", "inactive", "no_pedigree_match",
	"non_sellable_other", "partially_dispensed", "recalled", "reserved", "retail_sold",
	"returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unknown",
	"available", "completeness_verified", "completeness_inferred", "conformant",
	"container_open", "mismatch_instance", "mismatch_class", "mismatch_quantity",
	"needs_replacement", "non_conformant", "unavailable",
};
static const char *const btt_names[] = {
	"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
	"testprd", "testres", "upevt",
};
static const char *const sdt_names[] = {"owning_party", "possessing_party", "location"};
static const char *const er_names[] = {"did_not_occur", "incorrect_data"};
static const char *const comp_names[] = {
	"x", "y", "z", "axial_distance", "azimuth", "height", "spherical_radius", "polar_angle",
	"elevation_angle", "easting", "northing", "latitude", "longitude", "altitude",
};
static const char *const mtype_names[] = {
	"AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
	"Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
	"AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
	"Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
	"DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
	"ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force",
	"Frequency", "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length",
	"LinearMomentum", "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux",
	"MagneticFluxDensity", "MagneticVectorPotential", "Mass", "MassConcentration",
	"MassFlowRate", "MassPerAreaTime", "MemoryCapacity", "MolalityOfSolute", "MolarEnergy",
	"MolarMass", "MolarVolume", "Power", "Pressure", "RadiantFlux", "RadiantIntensity",
	"RelativeHumidity", "Resistance", "Resistivity", "SolidAngle", "SpecificVolume", "Speed",
	"SurfaceDensity", "SurfaceTension", "Temperature", "Time", "Torque", "Voltage", "Volume",
	"VolumeFlowRate", "VolumeFraction", "VolumetricFlux", "Wavenumber",
};
static const char *const alert_names[] = {"ALARM_CONDITION", "ERROR_CONDITION"};

#define VOCAB(w, a, u, web, g) {w, a, TR_ARRAY_LEN(a), u, web, g}
static const ep_vocab v_bizstep = VOCAB("bizStep", bizstep_names, "urn:epcglobal:cbv:bizstep:",
					"BizStep-", false);
static const ep_vocab v_disp = VOCAB("disposition", disp_names, "urn:epcglobal:cbv:disp:", "Disp-",
				     false);
static const ep_vocab v_btt = VOCAB("business transaction type", btt_names,
				    "urn:epcglobal:cbv:btt:", "BTT-", false);
static const ep_vocab v_sdt = VOCAB("source/destination type", sdt_names,
				    "urn:epcglobal:cbv:sdt:", "SDT-", false);
static const ep_vocab v_er = VOCAB("error reason", er_names, "urn:epcglobal:cbv:er:", "ER-", false);
static const ep_vocab v_comp = VOCAB("component", comp_names, NULL, "Comp-", false);
static const ep_vocab v_mtype = VOCAB("measurement type", mtype_names, NULL, "", true);
static const ep_vocab v_alert = VOCAB("sensor alert type", alert_names, NULL, "", true);

/* Namespaces reserved to the standard vocabularies: a value in one of them
 * must name a known term (the schema's negative lookaheads, extended to the
 * CBV 2.0 Web URI and the compact forms of the JSON-LD context). The first
 * ones are also the bases of the Web URI forms of a term. */
#define CBV_WEB_BASES 3
static const char *const cbv_ns[] = {
	"https://ref.gs1.org/cbv/", "http://ref.gs1.org/cbv/", "cbv:",
	"urn:epcglobal:cbv", "http://ns.gs1.org/cbv/", "https://ns.gs1.org/cbv/",
};
static const char *const gs1voc_ns[] = {
	"https://gs1.org/voc/", "http://gs1.org/voc/", "https://www.gs1.org/voc/",
	"http://www.gs1.org/voc/", "gs1:",
};

static bool vocab_has(const ep_vocab *vo, const char *name)
{
	for (size_t i = 0; i < vo->n; i++)
		if (strcmp(vo->names[i], name) == 0)
			return true;
	return false;
}

/* Is s base + web + a known name? */
static bool vocab_form(const ep_vocab *vo, const char *s, const char *base, const char *web)
{
	return starts(s, base) && starts(s + strlen(base), web) &&
	       vocab_has(vo, s + strlen(base) + strlen(web));
}

/* Is s a known term of vo, in any of its forms? */
static bool vocab_known(const ep_vocab *vo, const char *s)
{
	const char *const *bases = vo->gs1voc ? gs1voc_ns : cbv_ns;
	size_t nbases = vo->gs1voc ? TR_ARRAY_LEN(gs1voc_ns) : CBV_WEB_BASES;

	if (vocab_has(vo, s) || (vo->urn != NULL && vocab_form(vo, s, vo->urn, "")))
		return true;
	for (size_t i = 0; i < nbases; i++)
		if (vocab_form(vo, s, bases[i], vo->web))
			return true;
	return false;
}

static int chk_vocab(ep_ctx *c, json_t *v, const void *arg)
{
	const ep_vocab *vo = arg;
	const char *const *ns = vo->gs1voc ? gs1voc_ns : cbv_ns;
	size_t nns = vo->gs1voc ? TR_ARRAY_LEN(gs1voc_ns) : TR_ARRAY_LEN(cbv_ns);
	char buf[SHOW_BUF];
	const char *s;
	int rc;

	if ((rc = want_string(c, v, EP_URI_MAX, &s)) != 0)
		return rc;
	if (vocab_known(vo, s))
		return 0;
	for (size_t i = 0; i < nns; i++)
		if (starts(s, ns[i]))
			return fail(c, TR_EINVAL, "'%s' is not a known %s of the standard "
				    "vocabulary", show(buf, sizeof(buf), s), vo->what);
	if (!is_uri(s))
		return fail(c, TR_EINVAL, "unknown %s '%s' (neither a standard value nor a URI)",
			    vo->what, show(buf, sizeof(buf), s));
	return 0;
}

/* ==== Lists and objects ==== */

typedef struct {
	ep_check item;
	const void *item_arg;
	size_t min_items;
	bool unique; /* the schema's uniqueItems, for lists of strings */
} ep_list;

typedef struct {
	const char *s;
	size_t idx;
} ep_item;

static int item_cmp(const void *a, const void *b)
{
	const ep_item *x = a, *y = b;
	int r = strcmp(x->s, y->s);

	if (r != 0)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The items of arr are strings (already checked): refuse a repeat, naming
 * the first item that repeats an earlier one. */
static int check_unique(ep_ctx *c, json_t *arr)
{
	size_t n = json_array_size(arr), dup = SIZE_MAX;
	ep_item *items;
	int rc = 0;

	if (n < 2)
		return 0;
	items = malloc(n * sizeof(*items));
	if (items == NULL)
		return fail(c, TR_ENOMEM, "out of memory checking for duplicates");
	for (size_t i = 0; i < n; i++) {
		items[i].s = json_string_value(json_array_get(arr, i));
		items[i].idx = i;
		TR_ASSERT(items[i].s != NULL);
	}
	qsort(items, n, sizeof(*items), item_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(items[i - 1].s, items[i].s) == 0 && items[i].idx < dup)
			dup = items[i].idx;
	free(items);
	if (dup != SIZE_MAX)
		rc = fail_at_index(c, dup, "duplicate of an earlier item");
	return rc;
}

static int chk_list(ep_ctx *c, json_t *v, const void *arg)
{
	const ep_list *l = arg;
	size_t n;
	int rc;

	if (!json_is_array(v))
		return fail(c, TR_EINVAL, "not an array");
	n = json_array_size(v);
	if (n > EP_LIST_MAX)
		return fail(c, TR_ETOOBIG, "more than %d items", EP_LIST_MAX);
	if (n < l->min_items)
		return fail(c, TR_EINVAL, "needs at least %zu item%s", l->min_items,
			    l->min_items == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		if ((rc = at_index(c, i, json_array_get(v, i), l->item, l->item_arg)) != 0)
			return rc;
	return l->unique ? check_unique(c, v) : 0;
}

/* Any JSON value (an extension's value, ilmd content, a JSON-LD context):
 * only the bounds are checked. */
static int chk_any(ep_ctx *c, json_t *v, const void *arg)
{
	static const ep_list any_list = {chk_any, NULL, 0, false};
	const char *s;
	void *it;

	(void)arg;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (json_object_size(v) > EP_LIST_MAX)
			return fail(c, TR_ETOOBIG, "more than %d fields", EP_LIST_MAX);
		for (it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
			int rc = at_key(c, json_object_iter_key(it), json_object_iter_key_len(it),
					json_object_iter_value(it), chk_any, NULL);
			if (rc != 0)
				return rc;
		}
		return 0;
	case JSON_ARRAY:
		return chk_list(c, v, &any_list);
	case JSON_STRING:
		return want_string(c, v, EP_STRING_MAX, &s);
	case JSON_REAL:
		return chk_decimal(c, v, NULL);
	default:
		return 0;
	}
}

/* An object of known members, in the manner of the schema's "properties",
 * "required" and "propertyNames" / "additionalProperties". */
typedef struct {
	const char *name;
	ep_check fn;
	const void *arg;
	bool required;
} ep_member;

typedef struct {
	const char *what;
	const ep_member *m;
	size_t n;
	bool ext;                                 /* namespaced extension keys allowed */
	int (*rules)(ep_ctx *c, json_t *obj);    /* what members alone cannot say */
} ep_shape;

static int chk_shape(ep_ctx *c, json_t *v, const void *arg)
{
	const ep_shape *sh = arg;
	void *it;
	int rc;

	if (!json_is_object(v))
		return fail(c, TR_EINVAL, "%s is not a JSON object", sh->what);
	if (json_object_size(v) > EP_LIST_MAX)
		return fail(c, TR_ETOOBIG, "more than %d fields", EP_LIST_MAX);
	for (size_t i = 0; i < sh->n; i++)
		if (sh->m[i].required && json_object_get(v, sh->m[i].name) == NULL)
			return fail_missing(c, sh->m[i].name, "");
	for (it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
		const char *k = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		const ep_member *m = NULL;

		for (size_t i = 0; i < sh->n && m == NULL; i++)
			if (strcmp(sh->m[i].name, k) == 0)
				m = &sh->m[i];
		if (m != NULL)
			rc = at_key(c, k, klen, json_object_iter_value(it), m->fn, m->arg);
		else if (sh->ext && is_ext_key(k))
			rc = at_key(c, k, klen, json_object_iter_value(it), chk_any, NULL);
		else if (sh->ext)
			rc = fail_at_key(c, k, klen, "unknown field (neither a field of %s nor a "
					 "namespaced extension prefix:name)", sh->what);
		else
			rc = fail_at_key(c, k, klen, "unknown field (%s has no other fields)",
					 sh->what);
		if (rc != 0)
			return rc;
	}
	return sh->rules ? sh->rules(c, v) : 0;
}

#define SHAPE(what, members, ext, rules) {what, members, TR_ARRAY_LEN(members), ext, rules}

/* ==== Nested structures of an event ==== */

static const ep_list l_uri = {chk_uri, NULL, 0, false};
static const ep_list l_epc = {chk_epc, NULL, 0, false};
static const ep_list l_epc_unique = {chk_epc, NULL, 0, true};

/* Schema "certificationInfo": a URI or an array of URIs. */
static int chk_certinfo(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	return json_is_array(v) ? chk_list(c, v, &l_uri) : chk_uri(c, v, NULL);
}

/* Schema "@context": a URI, an object, or an array of distinct URIs and
 * objects. */
static int chk_context_item(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	if (json_is_string(v))
		return chk_uri(c, v, NULL);
	if (json_is_object(v))
		return chk_any(c, v, NULL);
	return fail(c, TR_EINVAL, "not a context URI or object");
}

static int chk_context(ep_ctx *c, json_t *v, const void *arg)
{
	static const ep_list items = {chk_context_item, NULL, 0, false};
	size_t n;
	int rc;

	(void)arg;
	if (!json_is_array(v))
		return chk_context_item(c, v, NULL);
	n = json_array_size(v);
	if (n > EP_CONTEXT_ITEMS_MAX)
		return fail(c, TR_ETOOBIG, "more than %d context entries", EP_CONTEXT_ITEMS_MAX);
	if ((rc = chk_list(c, v, &items)) != 0)
		return rc;
	for (size_t i = 1; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(v, i), json_array_get(v, j)))
				return fail_at_index(c, i, "duplicate context entry");
	return 0;
}

/* quantityElement: a uom qualifies a quantity (EPCIS XSD:
 * QuantityElementType has uom only inside the optional quantity sequence). */
static int quantity_rules(ep_ctx *c, json_t *obj)
{
	if (json_object_get(obj, "uom") != NULL && json_object_get(obj, "quantity") == NULL)
		return fail_missing(c, "quantity", " (a uom needs a quantity)");
	return 0;
}

static const ep_member quantity_members[] = {
	{"epcClass", chk_epc_class, NULL, true},
	{"quantity", chk_decimal, &nonneg, false},
	{"uom", chk_uom, NULL, false},
};
static const ep_shape s_quantity = SHAPE("a quantity element", quantity_members, false,
					 quantity_rules);
static const ep_list l_quantity = {chk_shape, &s_quantity, 0, false};

static const ep_member errdecl_members[] = {
	{"declarationTime", chk_time, NULL, true},
	{"reason", chk_vocab, &v_er, false},
	{"correctiveEventIDs", chk_list, &l_uri, false},
};
static const ep_shape s_errdecl = SHAPE("errorDeclaration", errdecl_members, true, NULL);

static const ep_member place_members[] = {{"id", chk_uri, NULL, true}};
static const ep_shape s_readpoint = SHAPE("readPoint", place_members, true, NULL);
static const ep_shape s_bizlocation = SHAPE("bizLocation", place_members, true, NULL);

static const ep_member biztx_members[] = {
	{"type", chk_vocab, &v_btt, false},
	{"bizTransaction", chk_uri, NULL, true},
};
static const ep_shape s_biztx = SHAPE("a business transaction", biztx_members, false, NULL);
static const ep_list l_biztx = {chk_shape, &s_biztx, 0, false};
static const ep_list l_biztx_min1 = {chk_shape, &s_biztx, 1, false};

static const ep_member source_members[] = {
	{"type", chk_vocab, &v_sdt, true},
	{"source", chk_uri, NULL, true},
};
static const ep_shape s_source = SHAPE("a source", source_members, false, NULL);
static const ep_list l_source = {chk_shape, &s_source, 0, false};

static const ep_member dest_members[] = {
	{"type", chk_vocab, &v_sdt, true},
	{"destination", chk_uri, NULL, true},
};
static const ep_shape s_dest = SHAPE("a destination", dest_members, false, NULL);
static const ep_list l_dest = {chk_shape, &s_dest, 0, false};

static const ep_list l_disp_set = {chk_vocab, &v_disp, 1, true};

static int persistent_rules(ep_ctx *c, json_t *obj)
{
	if (json_object_get(obj, "set") == NULL && json_object_get(obj, "unset") == NULL)
		return fail(c, TR_EINVAL, "persistentDisposition needs set or unset");
	return 0;
}

static const ep_member persistent_members[] = {
	{"set", chk_list, &l_disp_set, false},
	{"unset", chk_list, &l_disp_set, false},
};
static const ep_shape s_persistent = SHAPE("persistentDisposition", persistent_members, false,
					   persistent_rules);

static const ep_member metadata_members[] = {
	{"time", chk_time, NULL, false},
	{"deviceID", chk_uri, NULL, false},
	{"deviceMetadata", chk_uri, NULL, false},
	{"rawData", chk_uri, NULL, false},
	{"startTime", chk_time, NULL, false},
	{"endTime", chk_time, NULL, false},
	{"dataProcessingMethod", chk_uri, NULL, false},
	{"bizRules", chk_uri, NULL, false},
};
static const ep_shape s_metadata = SHAPE("sensorMetadata", metadata_members, true, NULL);

static const ep_member report_members[] = {
	{"type", chk_vocab, &v_mtype, true},
	{"exception", chk_vocab, &v_alert, false},
	{"deviceID", chk_uri, NULL, false},
	{"deviceMetadata", chk_uri, NULL, false},
	{"rawData", chk_uri, NULL, false},
	{"dataProcessingMethod", chk_uri, NULL, false},
	{"bizRules", chk_uri, NULL, false},
	{"time", chk_time, NULL, false},
	{"microorganism", chk_uri, NULL, false},
	{"chemicalSubstance", chk_uri, NULL, false},
	{"coordinateReferenceSystem", chk_uri, NULL, false},
	{"value", chk_decimal, NULL, false},
	{"component", chk_vocab, &v_comp, false},
	{"stringValue", chk_string, NULL, false},
	{"booleanValue", chk_bool, NULL, false},
	{"hexBinaryValue", chk_hex, NULL, false},
	{"uriValue", chk_uri, NULL, false},
	{"minValue", chk_decimal, NULL, false},
	{"maxValue", chk_decimal, NULL, false},
	{"meanValue", chk_decimal, NULL, false},
	{"sDev", chk_decimal, NULL, false},
	{"percRank", chk_decimal, NULL, false},
	{"percValue", chk_decimal, NULL, false},
	{"uom", chk_uom, NULL, false},
};
static const ep_shape s_report = SHAPE("a sensor report", report_members, true, NULL);
static const ep_list l_report = {chk_shape, &s_report, 1, false};

static const ep_member element_members[] = {
	{"sensorMetadata", chk_shape, &s_metadata, false},
	{"sensorReport", chk_list, &l_report, true},
};
static const ep_shape s_element = SHAPE("a sensor element", element_members, true, NULL);
static const ep_list l_element = {chk_shape, &s_element, 0, false};

/* Schema "ilmd": an object whose keys are URIs (namespaced), values free. */
static int chk_ilmd(ep_ctx *c, json_t *v, const void *arg)
{
	static const ep_member none[1] = {{"", NULL, NULL, false}};
	static const ep_shape s_ilmd = {"ilmd", none, 0, true, NULL};

	(void)arg;
	return chk_shape(c, v, &s_ilmd);
}

/* ==== Events ==== */

enum {
	T_OBJ = 1u << 0,
	T_AGG = 1u << 1,
	T_TXN = 1u << 2,
	T_TRF = 1u << 3,
	T_ASC = 1u << 4,
	T_ALL = T_OBJ | T_AGG | T_TXN | T_TRF | T_ASC,
};

typedef struct {
	const char *name;
	const char *article; /* "an ObjectEvent" */
	unsigned bit;
} ep_type;

static const ep_type event_types[] = {
	{"ObjectEvent", "an", T_OBJ},
	{"AggregationEvent", "an", T_AGG},
	{"TransactionEvent", "a", T_TXN},
	{"TransformationEvent", "a", T_TRF},
	{"AssociationEvent", "an", T_ASC},
};

/* The event fields: which types allow each (the schema's propertyNames
 * enum per type plus common-event-properties) and require it ("required").
 * A name may appear twice when its form differs per type. */
typedef struct {
	const char *name;
	ep_check fn;
	const void *arg;
	unsigned allowed;
	unsigned required;
} ep_field;

static const ep_field event_fields[] = {
	/* common-event-properties (schema "Event") */
	{"@context", chk_context, NULL, T_ALL, 0},
	{"type", chk_string, NULL, T_ALL, 0}, /* checked first, in validate_event */
	{"eventTime", chk_time, NULL, T_ALL, T_ALL},
	{"recordTime", chk_time, NULL, T_ALL, 0},
	{"eventTimeZoneOffset", chk_tzoffset, NULL, T_ALL, T_ALL},
	{"eventID", chk_uri, NULL, T_ALL, 0},
	{"certificationInfo", chk_certinfo, NULL, T_ALL, 0},
	{"errorDeclaration", chk_shape, &s_errdecl, T_ALL, 0},
	/* per type */
	{"action", chk_action, NULL, T_OBJ | T_AGG | T_TXN | T_ASC, T_OBJ | T_AGG | T_TXN | T_ASC},
	{"parentID", chk_epc, NULL, T_AGG | T_TXN | T_ASC, T_ASC},
	{"epcList", chk_list, &l_epc_unique, T_OBJ, 0},
	{"epcList", chk_list, &l_epc, T_TXN, 0},
	{"quantityList", chk_list, &l_quantity, T_OBJ | T_TXN, 0},
	{"childEPCs", chk_list, &l_epc, T_AGG | T_ASC, 0},
	{"childQuantityList", chk_list, &l_quantity, T_AGG | T_ASC, 0},
	{"inputEPCList", chk_list, &l_epc_unique, T_TRF, 0},
	{"inputQuantityList", chk_list, &l_quantity, T_TRF, 0},
	{"outputEPCList", chk_list, &l_epc_unique, T_TRF, 0},
	{"outputQuantityList", chk_list, &l_quantity, T_TRF, 0},
	{"transformationID", chk_uri, NULL, T_TRF, 0},
	{"bizStep", chk_vocab, &v_bizstep, T_ALL, 0},
	{"disposition", chk_vocab, &v_disp, T_ALL, 0},
	{"persistentDisposition", chk_shape, &s_persistent, T_OBJ | T_TRF, 0},
	{"readPoint", chk_shape, &s_readpoint, T_ALL, 0},
	{"bizLocation", chk_shape, &s_bizlocation, T_ALL, 0},
	{"bizTransactionList", chk_list, &l_biztx, T_ALL & ~T_TXN, 0},
	{"bizTransactionList", chk_list, &l_biztx_min1, T_TXN, T_TXN},
	{"sourceList", chk_list, &l_source, T_ALL, 0},
	{"destinationList", chk_list, &l_dest, T_ALL, 0},
	{"sensorElementList", chk_list, &l_element, T_ALL, 0},
	{"ilmd", chk_ilmd, NULL, T_OBJ | T_TRF, 0},
};

/* Non-empty array member of ev? */
static bool has_items(json_t *ev, const char *name)
{
	return json_array_size(json_object_get(ev, name)) > 0;
}

/* The per-type anyOf rules of the schema, and the standard's rule that an
 * AggregationEvent ADD or DELETE names its parent. Runs after every field
 * passed its own check. */
static int event_rules(ep_ctx *c, json_t *ev, const ep_type *t)
{
	const char *action = json_string_value(json_object_get(ev, "action"));
	bool del = action != NULL && strcmp(action, "DELETE") == 0;

	switch (t->bit) {
	case T_OBJ:
		if (json_object_get(ev, "ilmd") != NULL && strcmp(action, "ADD") != 0)
			return fail_at_key(c, "ilmd", 4, "ilmd is only allowed in an ObjectEvent "
							 "with action ADD (or a TransformationEvent)");
		if (json_object_get(ev, "epcList") == NULL && !has_items(ev, "quantityList") &&
		    !(has_items(ev, "sensorElementList") && json_object_get(ev, "readPoint")))
			return fail(c, TR_EINVAL, "an ObjectEvent needs an epcList, a non-empty "
						  "quantityList, or a non-empty sensorElementList "
						  "with a readPoint");
		return 0;
	case T_AGG:
		if (!(action != NULL && strcmp(action, "OBSERVE") == 0) &&
		    json_object_get(ev, "parentID") == NULL)
			return fail_missing(c, "parentID", " (an AggregationEvent with action ADD "
							   "or DELETE names its parent)");
		/* fall through */
	case T_ASC:
		if (!del && !has_items(ev, "childEPCs") && !has_items(ev, "childQuantityList"))
			return fail(c, TR_EINVAL, "%s %s with action %s needs a non-empty childEPCs "
						  "or childQuantityList", t->article, t->name, action);
		return 0;
	case T_TXN:
		if (!del && json_object_get(ev, "epcList") == NULL && !has_items(ev, "quantityList"))
			return fail(c, TR_EINVAL, "a TransactionEvent with action %s needs an epcList "
						  "or a non-empty quantityList", action);
		return 0;
	case T_TRF: {
		bool in = has_items(ev, "inputEPCList") || has_items(ev, "inputQuantityList");
		bool out = has_items(ev, "outputEPCList") || has_items(ev, "outputQuantityList");

		if (!(in && out) && !(json_object_get(ev, "transformationID") && (in || out)))
			return fail(c, TR_EINVAL, "a TransformationEvent needs inputs and outputs, "
						  "or a transformationID with inputs or outputs");
		return 0;
	}
	default:
		TR_ASSERT(!"unknown event type bit");
	}
	return 0;
}

static int unknown_event_key(ep_ctx *c, const char *k, size_t klen, const ep_type *t)
{
	char msg[160];

	for (size_t i = 0; i < TR_ARRAY_LEN(event_fields); i++) {
		if (strcmp(event_fields[i].name, k) != 0)
			continue;
		if (strcmp(k, "ilmd") == 0)
			snprintf(msg, sizeof(msg), "ilmd is not allowed in %s %s (only in an "
				 "ObjectEvent with action ADD or a TransformationEvent)",
				 t->article, t->name);
		else if (strcmp(k, "action") == 0)
			snprintf(msg, sizeof(msg), "a TransformationEvent has no action");
		else
			snprintf(msg, sizeof(msg), "field not allowed in %s %s", t->article, t->name);
		return fail_at_key(c, k, klen, "%s", msg);
	}
	return fail_at_key(c, k, klen, "unknown field (neither an EPCIS field nor a namespaced "
				       "extension prefix:name)");
}

/* c->path names the event; c->depth and c->nodes count from it. */
static int validate_event(ep_ctx *c, json_t *ev)
{
	char buf[SHOW_BUF];
	const ep_type *t = NULL;
	const char *tname;
	json_t *tv;
	void *it;
	int rc;

	if (!json_is_object(ev))
		return fail(c, TR_EINVAL, "event is not a JSON object");
	if (json_object_size(ev) > EP_LIST_MAX)
		return fail(c, TR_ETOOBIG, "more than %d fields", EP_LIST_MAX);
	if ((tv = json_object_get(ev, "type")) == NULL)
		return fail_missing(c, "type", "");
	if ((rc = at_key(c, "type", 4, tv, chk_string, NULL)) != 0)
		return rc;
	tname = json_string_value(tv);
	for (size_t i = 0; i < TR_ARRAY_LEN(event_types) && t == NULL; i++)
		if (strcmp(event_types[i].name, tname) == 0)
			t = &event_types[i];
	if (t == NULL)
		return fail_at_key(c, "type", 4, "unknown event type '%s' (ObjectEvent, "
				   "AggregationEvent, TransactionEvent, TransformationEvent or "
				   "AssociationEvent)", show(buf, sizeof(buf), tname));

	for (size_t i = 0; i < TR_ARRAY_LEN(event_fields); i++)
		if ((event_fields[i].required & t->bit) &&
		    json_object_get(ev, event_fields[i].name) == NULL)
			return fail_missing(c, event_fields[i].name, "");

	for (it = json_object_iter(ev); it != NULL; it = json_object_iter_next(ev, it)) {
		const char *k = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		const ep_field *f = NULL;

		if (strcmp(k, "type") == 0)
			continue;
		for (size_t i = 0; i < TR_ARRAY_LEN(event_fields) && f == NULL; i++)
			if ((event_fields[i].allowed & t->bit) && strcmp(event_fields[i].name, k) == 0)
				f = &event_fields[i];
		if (f != NULL)
			rc = at_key(c, k, klen, json_object_iter_value(it), f->fn, f->arg);
		else if (is_ext_key(k))
			rc = at_key(c, k, klen, json_object_iter_value(it), chk_any, NULL);
		else
			rc = unknown_event_key(c, k, klen, t);
		if (rc != 0)
			return rc;
	}
	return event_rules(c, ev, t);
}

static void ctx_init(ep_ctx *c, const char *root, char *err, size_t errlen)
{
	c->err = err;
	c->errlen = errlen;
	c->root = root;
	c->depth = 0;
	c->nodes = 0;
	c->plen = 0;
	c->path[0] = '\0';
}

int ep_validate_event(json_t *event, const char *path_prefix, char *err, size_t errlen)
{
	ep_ctx *c = malloc(sizeof(*c));
	int rc;

	if (c == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path_prefix ? path_prefix : "event");
		return TR_ENOMEM;
	}
	ctx_init(c, "event", err, errlen);
	if (path_prefix != NULL)
		path_put(c, path_prefix, strlen(path_prefix), EP_PREFIX_MAX);
	rc = validate_event(c, event);
	free(c);
	return rc;
}

/* ==== Documents ==== */

static int chk_events(ep_ctx *c, json_t *v, const void *arg)
{
	size_t n;

	(void)arg;
	if (!json_is_array(v))
		return fail(c, TR_EINVAL, "not an array");
	n = json_array_size(v);
	if (n > EP_EVENTS_MAX)
		return fail(c, TR_ETOOBIG, "more than %d events", EP_EVENTS_MAX);
	for (size_t i = 0; i < n; i++) {
		size_t saved = c->plen, nodes = c->nodes;
		unsigned depth = c->depth;
		char seg[32];
		int rc;

		snprintf(seg, sizeof(seg), "[%zu]", i);
		path_put(c, seg, strlen(seg), sizeof(seg));
		c->depth = 0;
		c->nodes = 0;
		rc = validate_event(c, json_array_get(v, i));
		c->depth = depth;
		c->nodes = nodes;
		c->plen = saved;
		c->path[saved] = '\0';
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Master data (schema "vocabulary", "vocabularyElement", "attribute"). */
static int chk_attr_value(ep_ctx *c, json_t *v, const void *arg)
{
	(void)arg;
	if (json_is_number(v) || json_is_string(v) || json_is_object(v))
		return chk_any(c, v, NULL);
	return fail(c, TR_EINVAL, "not a number, string or object");
}

static const ep_member attr_members[] = {
	{"id", chk_uri, NULL, true},
	{"attribute", chk_attr_value, NULL, false},
};
static const ep_shape s_attr = SHAPE("an attribute", attr_members, true, NULL);
static const ep_list l_attr = {chk_shape, &s_attr, 0, false};

static const ep_member vocel_members[] = {
	{"id", chk_uri, NULL, true},
	{"attributes", chk_list, &l_attr, false},
	{"children", chk_list, &l_uri, false},
};
static const ep_shape s_vocel = SHAPE("a vocabulary element", vocel_members, true, NULL);
static const ep_list l_vocel = {chk_shape, &s_vocel, 0, false};

static const ep_member vocab_members[] = {
	{"type", chk_uri, NULL, true},
	{"vocabularyElementList", chk_list, &l_vocel, false},
};
static const ep_shape s_vocabulary = SHAPE("a vocabulary", vocab_members, true, NULL);
static const ep_list l_vocabulary = {chk_shape, &s_vocabulary, 0, false};

static const ep_member masterdata_members[] = {
	{"vocabularyList", chk_list, &l_vocabulary, false},
};
static const ep_shape s_masterdata = SHAPE("epcisMasterData", masterdata_members, true, NULL);

static const ep_member header_members[] = {
	{"epcisMasterData", chk_shape, &s_masterdata, false},
};
static const ep_shape s_header = SHAPE("epcisHeader", header_members, true, NULL);

/* EPCISDocument (schema "epcisDocument"). */
static const ep_member body_members[] = {{"eventList", chk_events, NULL, true}};
static const ep_shape s_body = SHAPE("epcisBody", body_members, true, NULL);

static const ep_member document_members[] = {
	{"@context", chk_context, NULL, true},
	{"id", chk_uri, NULL, false},
	{"type", chk_string, NULL, true},
	{"schemaVersion", chk_version, NULL, true},
	{"creationDate", chk_time, NULL, true},
	{"instanceIdentifier", chk_string, NULL, false},
	{"sender", chk_string, NULL, false},
	{"receiver", chk_string, NULL, false},
	{"epcisHeader", chk_shape, &s_header, false},
	{"epcisBody", chk_shape, &s_body, true},
};
static const ep_shape s_document = SHAPE("the document", document_members, true, NULL);

/* EPCISQueryDocument (schema "epcisQueryDocument"). */
static const ep_member results_members[] = {
	{"eventList", chk_events, NULL, true},
	{"vocabularyList", chk_list, &l_vocabulary, false},
};
static const ep_shape s_results = SHAPE("resultsBody", results_members, true, NULL);

static const ep_member qresults_members[] = {
	{"queryName", chk_string, NULL, true},
	{"subscriptionID", chk_string, NULL, false},
	{"resultsBody", chk_shape, &s_results, true},
};
static const ep_shape s_qresults = SHAPE("queryResults", qresults_members, true, NULL);

static const ep_member qbody_members[] = {{"queryResults", chk_shape, &s_qresults, true}};
static const ep_shape s_qbody = SHAPE("epcisBody", qbody_members, true, NULL);

static const ep_member qdocument_members[] = {
	{"@context", chk_context, NULL, true},
	{"id", chk_uri, NULL, false},
	{"type", chk_string, NULL, true},
	{"schemaVersion", chk_version, NULL, false},
	{"creationDate", chk_time, NULL, false},
	{"epcisBody", chk_shape, &s_qbody, true},
};
static const ep_shape s_qdocument = SHAPE("the document", qdocument_members, true, NULL);

/* Which kind of document doc claims to be: the shape, or NULL after
 * writing the error. */
static const ep_shape *document_kind(ep_ctx *c, json_t *doc, int *rc)
{
	char buf[SHOW_BUF];
	const char *t;
	json_t *tv;

	*rc = 0;
	if (!json_is_object(doc)) {
		*rc = fail(c, TR_EINVAL, "not a JSON object");
		return NULL;
	}
	if ((tv = json_object_get(doc, "type")) == NULL) {
		*rc = fail_missing(c, "type", "");
		return NULL;
	}
	if ((*rc = at_key(c, "type", 4, tv, chk_string, NULL)) != 0)
		return NULL;
	t = json_string_value(tv);
	if (strcmp(t, "EPCISDocument") == 0)
		return &s_document;
	if (strcmp(t, "EPCISQueryDocument") == 0)
		return &s_qdocument;
	*rc = fail_at_key(c, "type", 4, "unknown document type '%s' (EPCISDocument or "
			  "EPCISQueryDocument)", show(buf, sizeof(buf), t));
	return NULL;
}

int ep_validate_document(json_t *doc, char *err, size_t errlen)
{
	ep_ctx *c = malloc(sizeof(*c));
	const ep_shape *sh;
	int rc;

	if (c == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "document: out of memory");
		return TR_ENOMEM;
	}
	ctx_init(c, "document", err, errlen);
	sh = document_kind(c, doc, &rc);
	if (sh != NULL)
		rc = chk_shape(c, doc, sh);
	free(c);
	return rc;
}

int ep_document_events(json_t *doc, json_t **events, const char **list_path)
{
	const char *t = json_string_value(json_object_get(doc, "type"));
	json_t *body = json_object_get(doc, "epcisBody");
	json_t *list;
	const char *path;

	if (t != NULL && strcmp(t, "EPCISDocument") == 0) {
		list = json_object_get(body, "eventList");
		path = "epcisBody.eventList";
	} else if (t != NULL && strcmp(t, "EPCISQueryDocument") == 0) {
		list = json_object_get(json_object_get(json_object_get(body, "queryResults"),
						       "resultsBody"),
				       "eventList");
		path = "epcisBody.queryResults.resultsBody.eventList";
	} else {
		return TR_EINVAL;
	}
	if (!json_is_array(list))
		return TR_EINVAL;
	*events = list;
	if (list_path != NULL)
		*list_path = path;
	return 0;
}
