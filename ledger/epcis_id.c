/*
 * epcis_id.c: EPC URN and GS1 Digital Link identifiers to one canonical
 * Digital Link URI; CBV values to their bare word (see epcis_id.h).
 *
 * The rules follow the GS1 Tag Data Standard (EPC URI schemes and their
 * AIs) and the GS1 Digital Link standard, as the GS1 event hash reference
 * implementation (epcis-event-hash-generator, dl_normaliser) applies them:
 * the EP_ID_HASH flavour reproduces its output byte for byte. Parsing is a
 * single pass over bounded input (EP_ID_MAX) into a fixed buffer; nothing
 * is allocated and nothing recurses.
 */
#include "ledger/epcis_id.h"

#include <string.h>

/* ==== A bounded string builder over a fixed buffer ==== */

typedef struct {
	char buf[EP_ID_MAX + 1];
	size_t len;
	bool over;
} idbuf;

static void ib_putn(idbuf *b, const char *s, size_t n)
{
	if (b->over || n > EP_ID_MAX - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void ib_puts(idbuf *b, const char *s)
{
	ib_putn(b, s, strlen(s));
}

static void ib_putc(idbuf *b, char c)
{
	ib_putn(b, &c, 1);
}

/* ==== Character classes ==== */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Plain characters allowed in an EPC URN component (TDS GS3A3). */
static bool urn_plain(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
	       strchr("!')(*+,.:;=_-", c) != NULL;
}

/* Escapes allowed in an EPC URN component: %21-%22, %25-%2F, %30-%3F,
 * %41-%5A, %5F, %61-%7A (the GS1 AI encodable set 82). */
static bool urn_escape_ok(int v)
{
	return v == 0x21 || v == 0x22 || (v >= 0x25 && v <= 0x3F) || (v >= 0x41 && v <= 0x5A) ||
	       v == 0x5F || (v >= 0x61 && v <= 0x7A);
}

/* Characters the reference accepts raw in a Digital Link value. */
static bool dl_plain(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
	       strchr("\"'-.;<=>?_", c) != NULL;
}

/* Characters kept raw in an index key; everything else is %XX. */
static bool key_plain(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
	       strchr("'-._;=", c) != NULL;
}

/* Is c in the GS1 AI encodable character set 82? */
static bool cset82(int c)
{
	return c >= 0x21 && c <= 0x7A && c != 0x23 && c != 0x24 && c != 0x40 && c != 0x5B &&
	       c != 0x5C && c != 0x5D && c != 0x5E && c != 0x60;
}

/* ==== Values ==== */

enum { SRC_URN, SRC_DL };

/*
 * Append one alphanumeric value (serial, lot, asset reference...) of
 * 1..maxc characters (an escape counts as one) from an EPC URN or a Digital
 * Link, in the flavour's encoding. minc is 0 or 1. false when malformed.
 */
static bool put_value(idbuf *b, const char *v, size_t n, int src, int flags, size_t minc,
		      size_t maxc)
{
	size_t chars = 0;
	for (size_t i = 0; i < n; chars++) {
		int c;
		bool esc = false;
		if (v[i] == '%') {
			if (i + 2 >= n)
				return false;
			int h = hexval(v[i + 1]), l = hexval(v[i + 2]);
			if (h < 0 || l < 0)
				return false;
			c = h * 16 + l;
			esc = true;
			if (src == SRC_URN && !urn_escape_ok(c))
				return false;
			if (src == SRC_DL && flags == EP_ID_HASH)
				return false;
		} else {
			c = (unsigned char)v[i];
			if (src == SRC_URN && !urn_plain(v[i]))
				return false;
			if (src == SRC_DL && flags == EP_ID_HASH && !dl_plain(v[i]))
				return false;
		}
		if (!cset82(c))
			return false;
		if (flags == EP_ID_KEY) {
			if (key_plain((char)c)) {
				ib_putc(b, (char)c);
			} else {
				char e[4];
				static const char hx[] = "0123456789ABCDEF";
				e[0] = '%';
				e[1] = hx[(c >> 4) & 0xf];
				e[2] = hx[c & 0xf];
				e[3] = '\0';
				ib_puts(b, e);
			}
		} else if (esc) {
			ib_putn(b, v + i, 3);
		} else if (src == SRC_URN && strchr("!()*+,:", v[i]) != NULL) {
			char e[4];
			static const char hx[] = "0123456789ABCDEF";
			e[0] = '%';
			e[1] = hx[(c >> 4) & 0xf];
			e[2] = hx[c & 0xf];
			e[3] = '\0';
			ib_puts(b, e);
		} else {
			ib_putc(b, v[i]);
		}
		i += esc ? 3 : 1;
	}
	return chars >= minc && chars <= maxc;
}

/* GS1 mod-10 check digit of n digits. */
static char check_digit(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned w = ((n - 1 - i) % 2 == 0) ? 3 : 1;
		sum += (unsigned)(d[i] - '0') * w;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

/* Append n digits followed by their check digit. */
static void put_with_check(idbuf *b, const char *d, size_t n)
{
	ib_putn(b, d, n);
	ib_putc(b, check_digit(d, n));
}

/* ==== EPC URNs ==== */

/* Split s (n bytes) at its first k-1 dots into k parts; the last part keeps
 * any further dots. false when there are fewer than k-1 dots. */
static bool split_dots(const char *s, size_t n, size_t k, const char **p, size_t *pl)
{
	size_t start = 0, part = 0;
	for (size_t i = 0; i < n && part + 1 < k; i++) {
		if (s[i] == '.') {
			p[part] = s + start;
			pl[part] = i - start;
			part++;
			start = i + 1;
		}
	}
	if (part + 1 != k)
		return false;
	p[part] = s + start;
	pl[part] = n - start;
	return true;
}

/* Company prefix of 6..12 digits and a reference making total digits. */
static bool gcp_ref(const char *gcp, size_t gl, const char *ref, size_t rl, size_t total)
{
	return gl >= 6 && gl <= 12 && gl + rl == total && all_digits(gcp, gl) &&
	       all_digits(ref, rl);
}

/* The 13 digits of a GTIN without check digit: indicator, prefix, item. */
static bool gtin13(const char *gcp, size_t gl, const char *item, size_t il, char out[13])
{
	if (!gcp_ref(gcp, gl, item, il, 13) || il < 1)
		return false;
	out[0] = item[0];
	memcpy(out + 1, gcp, gl);
	memcpy(out + 1 + gl, item + 1, il - 1);
	return true;
}

/* 12 digits (GLN, GDTI, SGCN, GRAI without the 0): prefix and reference. */
static bool gs1_12(const char *gcp, size_t gl, const char *ref, size_t rl, char out[12])
{
	if (!gcp_ref(gcp, gl, ref, rl, 12))
		return false;
	memcpy(out, gcp, gl);
	memcpy(out + gl, ref, rl);
	return true;
}

/* CPI component reference: [0-9A-Z-], %23 or %2F (TDS). */
static bool put_cpi(idbuf *b, const char *gcp, size_t gl, const char *ref, size_t rl, int flags)
{
	size_t chars = gl;
	if (gl < 6 || gl > 12 || !all_digits(gcp, gl) || rl == 0)
		return false;
	for (size_t i = 0; i < rl; chars++) {
		if (ref[i] == '%') {
			if (i + 2 >= rl)
				return false;
			int h = hexval(ref[i + 1]), l = hexval(ref[i + 2]);
			if (h != 2 || (l != 3 && l != 0xF))
				return false;
			i += 3;
		} else if (is_digit(ref[i]) || (ref[i] >= 'A' && ref[i] <= 'Z') || ref[i] == '-') {
			i++;
		} else {
			return false;
		}
	}
	if (chars > 30)
		return false;
	ib_putn(b, gcp, gl);
	if (flags == EP_ID_KEY)
		return put_value(b, ref, rl, SRC_URN, flags, 1, 30);
	ib_putn(b, ref, rl);
	return true;
}

/* Pure identity URN body (after "urn:epc:id:SCHEME:"). */
static bool urn_id(idbuf *b, const char *sch, size_t sl, const char *s, size_t n, int flags)
{
	const char *p[5];
	size_t pl[5];
	char d[13];
#define SCHEME(x) (sl == sizeof(x) - 1 && memcmp(sch, x, sl) == 0)
	if (SCHEME("sgtin") || SCHEME("upui")) {
		bool upui = SCHEME("upui");
		if (!split_dots(s, n, 3, p, pl) || !gtin13(p[0], pl[0], p[1], pl[1], d))
			return false;
		ib_puts(b, "https://id.gs1.org/01/");
		put_with_check(b, d, 13);
		ib_puts(b, upui ? "/235/" : "/21/");
		return put_value(b, p[2], pl[2], SRC_URN, flags, 1, upui ? 28 : 20);
	}
	if (SCHEME("sscc")) {
		char sscc[17];
		if (!split_dots(s, n, 2, p, pl) || !gcp_ref(p[0], pl[0], p[1], pl[1], 17))
			return false;
		sscc[0] = p[1][0];
		memcpy(sscc + 1, p[0], pl[0]);
		memcpy(sscc + 1 + pl[0], p[1] + 1, pl[1] - 1);
		ib_puts(b, "https://id.gs1.org/00/");
		put_with_check(b, sscc, 17);
		return true;
	}
	if (SCHEME("sgln")) {
		if (!split_dots(s, n, 3, p, pl) || !gs1_12(p[0], pl[0], p[1], pl[1], d))
			return false;
		ib_puts(b, "https://id.gs1.org/414/");
		put_with_check(b, d, 12);
		if (pl[2] == 1 && p[2][0] == '0')
			return true;
		ib_puts(b, "/254/");
		return put_value(b, p[2], pl[2], SRC_URN, flags, 1, 20);
	}
	if (SCHEME("grai")) {
		char g[13];
		if (!split_dots(s, n, 3, p, pl) || !gs1_12(p[0], pl[0], p[1], pl[1], g + 1))
			return false;
		g[0] = '0';
		ib_puts(b, "https://id.gs1.org/8003/");
		put_with_check(b, g, 13);
		return put_value(b, p[2], pl[2], SRC_URN, flags, 1, 16);
	}
	if (SCHEME("giai") || SCHEME("ginc")) {
		bool giai = SCHEME("giai");
		if (!split_dots(s, n, 2, p, pl) || pl[0] < 6 || pl[0] > 12 ||
		    !all_digits(p[0], pl[0]))
			return false;
		ib_puts(b, giai ? "https://id.gs1.org/8004/" : "https://id.gs1.org/401/");
		ib_putn(b, p[0], pl[0]);
		return put_value(b, p[1], pl[1], SRC_URN, flags, 1, 30 - pl[0]);
	}
	if (SCHEME("gsrn") || SCHEME("gsrnp")) {
		char g[17];
		if (!split_dots(s, n, 2, p, pl) || !gcp_ref(p[0], pl[0], p[1], pl[1], 17))
			return false;
		memcpy(g, p[0], pl[0]);
		memcpy(g + pl[0], p[1], pl[1]);
		ib_puts(b, SCHEME("gsrn") ? "https://id.gs1.org/8018/" : "https://id.gs1.org/8017/");
		put_with_check(b, g, 17);
		return true;
	}
	if (SCHEME("gdti")) {
		if (!split_dots(s, n, 3, p, pl) || !gs1_12(p[0], pl[0], p[1], pl[1], d))
			return false;
		ib_puts(b, "https://id.gs1.org/253/");
		put_with_check(b, d, 12);
		return put_value(b, p[2], pl[2], SRC_URN, flags, 1, 17);
	}
	if (SCHEME("sgcn")) {
		if (!split_dots(s, n, 3, p, pl) || !gs1_12(p[0], pl[0], p[1], pl[1], d) ||
		    pl[2] < 1 || pl[2] > 12 || !all_digits(p[2], pl[2]))
			return false;
		ib_puts(b, "https://id.gs1.org/255/");
		put_with_check(b, d, 12);
		ib_putn(b, p[2], pl[2]);
		return true;
	}
	if (SCHEME("cpi")) {
		const char *last = NULL;
		for (size_t i = 0; i < n; i++)
			if (s[i] == '.')
				last = s + i;
		if (!split_dots(s, n, 2, p, pl) || !last || last <= p[1])
			return false;
		size_t rl = (size_t)(last - p[1]), sn = n - (size_t)(last + 1 - s);
		if (sn < 1 || sn > 12 || !all_digits(last + 1, sn))
			return false;
		ib_puts(b, "https://id.gs1.org/8010/");
		if (!put_cpi(b, p[0], pl[0], p[1], rl, flags))
			return false;
		ib_puts(b, "/8011/");
		ib_putn(b, last + 1, sn);
		return true;
	}
	if (SCHEME("gsin")) {
		char g[16];
		if (!split_dots(s, n, 2, p, pl) || !gcp_ref(p[0], pl[0], p[1], pl[1], 16))
			return false;
		memcpy(g, p[0], pl[0]);
		memcpy(g + pl[0], p[1], pl[1]);
		ib_puts(b, "https://id.gs1.org/402/");
		put_with_check(b, g, 16);
		return true;
	}
	if (SCHEME("itip")) {
		if (!split_dots(s, n, 5, p, pl) || !gtin13(p[0], pl[0], p[1], pl[1], d) ||
		    pl[2] != 2 || pl[3] != 2 || !all_digits(p[2], 2) || !all_digits(p[3], 2))
			return false;
		ib_puts(b, "https://id.gs1.org/8006/");
		put_with_check(b, d, 13);
		ib_putn(b, p[2], 2);
		ib_putn(b, p[3], 2);
		ib_puts(b, "/21/");
		return put_value(b, p[4], pl[4], SRC_URN, flags, 1, 20);
	}
	if (SCHEME("pgln")) {
		if (!split_dots(s, n, 2, p, pl) || !gs1_12(p[0], pl[0], p[1], pl[1], d))
			return false;
		ib_puts(b, "https://id.gs1.org/417/");
		put_with_check(b, d, 12);
		return true;
	}
	return false;
}

/* Pattern URN body (after "urn:epc:idpat:SCHEME:"): only the whole-class
 * patterns the event hash knows ("...*" after the class part). */
static bool urn_idpat(idbuf *b, const char *sch, size_t sl, const char *s, size_t n, int flags)
{
	const char *p[5];
	size_t pl[5];
	char d[13];
	if (SCHEME("sgtin") || SCHEME("upui")) {
		if (!split_dots(s, n, 3, p, pl) || pl[2] != 1 || p[2][0] != '*' ||
		    !gtin13(p[0], pl[0], p[1], pl[1], d))
			return false;
		ib_puts(b, "https://id.gs1.org/01/");
		put_with_check(b, d, 13);
		return true;
	}
	if (SCHEME("grai") || SCHEME("gdti") || SCHEME("sgcn")) {
		char g[13];
		if (!split_dots(s, n, 3, p, pl) || pl[2] != 1 || p[2][0] != '*' ||
		    !gs1_12(p[0], pl[0], p[1], pl[1], g + 1))
			return false;
		if (SCHEME("grai")) {
			g[0] = '0';
			ib_puts(b, "https://id.gs1.org/8003/");
			put_with_check(b, g, 13);
		} else {
			ib_puts(b, SCHEME("gdti") ? "https://id.gs1.org/253/" : "https://id.gs1.org/255/");
			put_with_check(b, g + 1, 12);
		}
		return true;
	}
	if (SCHEME("cpi")) {
		if (!split_dots(s, n, 3, p, pl) || pl[2] != 1 || p[2][0] != '*')
			return false;
		ib_puts(b, "https://id.gs1.org/8010/");
		return put_cpi(b, p[0], pl[0], p[1], pl[1], flags);
	}
	if (SCHEME("itip")) {
		if (!split_dots(s, n, 5, p, pl) || pl[4] != 1 || p[4][0] != '*' ||
		    !gtin13(p[0], pl[0], p[1], pl[1], d) || pl[2] != 2 || pl[3] != 2 ||
		    !all_digits(p[2], 2) || !all_digits(p[3], 2))
			return false;
		ib_puts(b, "https://id.gs1.org/8006/");
		put_with_check(b, d, 13);
		ib_putn(b, p[2], 2);
		ib_putn(b, p[3], 2);
		return true;
	}
	return false;
}

/* Class URN body (after "urn:epc:class:SCHEME:"): lgtin only. */
static bool urn_class(idbuf *b, const char *sch, size_t sl, const char *s, size_t n, int flags)
{
	const char *p[3];
	size_t pl[3];
	char d[13];
	if (!SCHEME("lgtin"))
		return false;
	if (!split_dots(s, n, 3, p, pl) || !gtin13(p[0], pl[0], p[1], pl[1], d))
		return false;
	ib_puts(b, "https://id.gs1.org/01/");
	put_with_check(b, d, 13);
	ib_puts(b, "/10/");
	return put_value(b, p[2], pl[2], SRC_URN, flags, 1, 20);
#undef SCHEME
}

static bool has_prefix(const char *s, size_t n, const char *pre)
{
	size_t pn = strlen(pre);
	return n >= pn && memcmp(s, pre, pn) == 0;
}

/* 0 converted, TR_ENOTFOUND not an EPC URN, TR_EINVAL malformed. */
static int urn_to_dl(idbuf *b, const char *id, size_t len, int flags)
{
	static const char *const kinds[] = {"urn:epc:id:", "urn:epc:idpat:", "urn:epc:class:"};
	for (size_t k = 0; k < TR_ARRAY_LEN(kinds); k++) {
		if (!has_prefix(id, len, kinds[k]))
			continue;
		const char *sch = id + strlen(kinds[k]);
		const char *end = id + len;
		const char *colon = memchr(sch, ':', (size_t)(end - sch));
		if (!colon)
			return TR_EINVAL;
		size_t sl = (size_t)(colon - sch), n = (size_t)(end - colon - 1);
		bool ok = k == 0   ? urn_id(b, sch, sl, colon + 1, n, flags)
			  : k == 1 ? urn_idpat(b, sch, sl, colon + 1, n, flags)
				   : urn_class(b, sch, sl, colon + 1, n, flags);
		return ok ? TR_OK : TR_EINVAL;
	}
	return TR_ENOTFOUND;
}

/* ==== GS1 Digital Link URIs ==== */

/* Primary keys, qualifiers and their short names. */
static const struct {
	const char *name;
	const char *ai;
} dl_names[] = {
	{"gtin", "01"}, {"itip", "8006"}, {"cpid", "8010"}, {"gln", "414"}, {"party", "417"},
	{"gsrnp", "8017"}, {"gsrn", "8018"}, {"gcn", "255"}, {"sscc", "00"}, {"gdti", "253"},
	{"ginc", "401"}, {"gsin", "402"}, {"grai", "8003"}, {"giai", "8004"}, {"cpv", "22"},
	{"lot", "10"}, {"ser", "21"}, {"glnx", "254"}, {"cpsn", "8011"},
};

static const char *const dl_keys[] = {"01", "8006", "8010", "414", "417", "8017", "8018",
				      "255", "00", "253", "401", "402", "8003", "8004"};

/* The numeric AI of a path segment (a short name mapped), or NULL. */
static const char *dl_ai(const char *s, size_t n)
{
	static const char *const ais[] = {"01", "8006", "8010", "414", "417", "8017", "8018",
					  "255", "00", "253", "401", "402", "8003", "8004",
					  "22", "10", "21", "235", "254", "8011"};
	for (size_t i = 0; i < TR_ARRAY_LEN(ais); i++)
		if (strlen(ais[i]) == n && memcmp(ais[i], s, n) == 0)
			return ais[i];
	for (size_t i = 0; i < TR_ARRAY_LEN(dl_names); i++)
		if (strlen(dl_names[i].name) == n && memcmp(dl_names[i].name, s, n) == 0)
			return dl_names[i].ai;
	return NULL;
}

static bool is_key(const char *ai)
{
	for (size_t i = 0; i < TR_ARRAY_LEN(dl_keys); i++)
		if (strcmp(dl_keys[i], ai) == 0)
			return true;
	return false;
}

#define DL_SEGS_MAX 32

typedef struct {
	const char *ai;
	const char *v;
	size_t n;
} dl_pair;

/* Append a numeric value of exactly want digits. */
static bool put_digits(idbuf *b, const char *v, size_t n, size_t want)
{
	if (n != want || !all_digits(v, n))
		return false;
	ib_putn(b, v, n);
	return true;
}

/* Append digits[want_digits] followed by an alphanumeric tail of maxc. */
static bool put_digits_tail(idbuf *b, const char *v, size_t n, size_t nd, size_t maxc,
			    int flags)
{
	if (n < nd || !all_digits(v, nd))
		return false;
	ib_putn(b, v, nd);
	return put_value(b, v + nd, n - nd, SRC_DL, flags, 0, maxc);
}

static bool dl_key_value(idbuf *b, const dl_pair *k, int flags)
{
	const char *ai = k->ai;
	if (strcmp(ai, "01") == 0) {
		char g[14];
		if (!all_digits(k->v, k->n) ||
		    (k->n != 8 && k->n != 12 && k->n != 13 && k->n != 14))
			return false;
		memset(g, '0', 14 - k->n);
		memcpy(g + 14 - k->n, k->v, k->n);
		ib_putn(b, g, 14);
		return true;
	}
	if (strcmp(ai, "00") == 0 || strcmp(ai, "8006") == 0 || strcmp(ai, "8017") == 0 ||
	    strcmp(ai, "8018") == 0)
		return put_digits(b, k->v, k->n, 18);
	if (strcmp(ai, "414") == 0 || strcmp(ai, "417") == 0)
		return put_digits(b, k->v, k->n, 13);
	if (strcmp(ai, "402") == 0)
		return put_digits(b, k->v, k->n, 17);
	if (strcmp(ai, "253") == 0)
		return put_digits_tail(b, k->v, k->n, 13, 17, flags);
	if (strcmp(ai, "255") == 0)
		return k->n >= 13 && k->n <= 25 && put_digits(b, k->v, k->n, k->n);
	if (strcmp(ai, "8003") == 0)
		return put_digits_tail(b, k->v, k->n, 14, 16, flags);
	if (strcmp(ai, "401") == 0 || strcmp(ai, "8004") == 0)
		return put_value(b, k->v, k->n, SRC_DL, flags, 1, 30);
	if (strcmp(ai, "8010") == 0) {
		if (k->n > 30)
			return false;
		for (size_t i = 0; i < k->n; i++) {
			char c = k->v[i];
			if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '#'))
				return false;
		}
		ib_putn(b, k->v, k->n);
		return true;
	}
	return false;
}

/* Which qualifier may follow which key, and its value bound. */
static bool dl_qualifier(idbuf *b, const char *key, const dl_pair *q, int flags)
{
	bool gtin = strcmp(key, "01") == 0, itip = strcmp(key, "8006") == 0;
	ib_putc(b, '/');
	ib_puts(b, q->ai);
	ib_putc(b, '/');
	if ((gtin || itip) && (strcmp(q->ai, "21") == 0 || strcmp(q->ai, "10") == 0))
		return put_value(b, q->v, q->n, SRC_DL, flags, 0, 20);
	if (gtin && strcmp(q->ai, "235") == 0)
		return put_value(b, q->v, q->n, SRC_DL, flags, 0, 28);
	if (strcmp(key, "414") == 0 && strcmp(q->ai, "254") == 0)
		return put_value(b, q->v, q->n, SRC_DL, flags, 0, 20);
	if (strcmp(key, "8010") == 0 && strcmp(q->ai, "8011") == 0)
		return q->n <= 12 && put_digits(b, q->v, q->n, q->n);
	return false;
}

/* 0 converted, TR_ENOTFOUND not a Digital Link with a GS1 key, TR_EINVAL
 * a GS1 key path that does not convert. */
static int dl_to_dl(idbuf *b, const char *id, size_t len, int flags)
{
	const char *p = id, *end = id + len;
	dl_pair segs[DL_SEGS_MAX];
	size_t nseg = 0;

	if (has_prefix(id, len, "https://"))
		p += 8;
	else if (has_prefix(id, len, "http://"))
		p += 7;
	else
		return TR_ENOTFOUND;
	/* The path ends at '?'; a fragment is not part of an identifier. */
	const char *q = memchr(p, '?', (size_t)(end - p));
	const char *h = memchr(p, '#', (size_t)(end - p));
	if (q)
		end = q;
	if (h && h < end)
		end = h;
	const char *slash = memchr(p, '/', (size_t)(end - p));
	if (!slash)
		return TR_ENOTFOUND;
	/* Split the path into segments (bounded). */
	for (const char *s = slash + 1; s <= end;) {
		const char *e = memchr(s, '/', (size_t)(end - s));
		if (!e)
			e = end;
		if (nseg == DL_SEGS_MAX)
			return TR_ENOTFOUND;
		segs[nseg].v = s;
		segs[nseg].n = (size_t)(e - s);
		segs[nseg].ai = dl_ai(s, (size_t)(e - s));
		nseg++;
		s = e + 1;
	}
	/* The first primary key followed by a value of 4 digits and more. */
	size_t k;
	for (k = 0; k + 1 < nseg; k++) {
		if (segs[k].ai && is_key(segs[k].ai) && segs[k + 1].n >= 5 &&
		    all_digits(segs[k + 1].v, 4))
			break;
	}
	if (k + 1 >= nseg)
		return TR_ENOTFOUND;
	if (h && (!q || h < q) && flags == EP_ID_HASH)
		return TR_EINVAL; /* the reference keeps the fragment and fails */
	dl_pair key = {segs[k].ai, segs[k + 1].v, segs[k + 1].n};
	size_t rest = nseg - (k + 2);
	/* One empty trailing segment: a trailing '/'. */
	if (rest > 0 && segs[nseg - 1].n == 0) {
		if (flags == EP_ID_HASH)
			return TR_EINVAL;
		rest--;
	}
	if (rest % 2 != 0)
		return TR_EINVAL;
	dl_pair qual[DL_SEGS_MAX / 2];
	size_t nq = 0;
	for (size_t i = 0; i < rest; i += 2) {
		const dl_pair *a = &segs[k + 2 + i];
		if (!a->ai)
			return TR_EINVAL;
		/* CPV (22) is not part of the identity of a GTIN or ITIP. */
		if (strcmp(a->ai, "22") == 0 &&
		    (strcmp(key.ai, "01") == 0 || strcmp(key.ai, "8006") == 0))
			continue;
		qual[nq].ai = a->ai;
		qual[nq].v = segs[k + 3 + i].v;
		qual[nq].n = segs[k + 3 + i].n;
		nq++;
	}
	/* Only the finest level: a serial makes the lot redundant. */
	if (nq == 2 && strcmp(qual[0].ai, "10") == 0 && strcmp(qual[1].ai, "21") == 0) {
		qual[0] = qual[1];
		nq = 1;
	}
	if (nq > 1)
		return TR_EINVAL;
	ib_puts(b, "https://id.gs1.org/");
	ib_puts(b, key.ai);
	ib_putc(b, '/');
	if (!dl_key_value(b, &key, flags))
		return TR_EINVAL;
	if (nq == 1 && !dl_qualifier(b, key.ai, &qual[0], flags))
		return TR_EINVAL;
	return TR_OK;
}

/* ==== Public ==== */

int ep_id_to_dl(const char *id, size_t len, int flags, char *out, size_t outlen)
{
	idbuf b;
	int rc;

	TR_ASSERT(id && out && (flags == EP_ID_HASH || flags == EP_ID_KEY));
	if (len > EP_ID_MAX)
		return TR_ETOOBIG;
	b.len = 0;
	b.over = false;
	b.buf[0] = '\0';
	rc = urn_to_dl(&b, id, len, flags);
	if (rc == TR_ENOTFOUND)
		rc = dl_to_dl(&b, id, len, flags);
	if (rc != TR_OK)
		return rc;
	if (b.over || b.len + 1 > outlen)
		return TR_ETOOBIG;
	memcpy(out, b.buf, b.len + 1);
	return TR_OK;
}

int ep_id_key(const char *id, char *out, size_t outlen)
{
	size_t n;
	int rc;

	TR_ASSERT(id && out);
	n = strnlen(id, EP_ID_MAX + 1);
	if (n > EP_ID_MAX)
		return TR_ETOOBIG;
	rc = ep_id_to_dl(id, n, EP_ID_KEY, out, outlen);
	if (rc != TR_ENOTFOUND)
		return rc;
	if (n + 1 > outlen)
		return TR_ETOOBIG;
	memcpy(out, id, n + 1);
	return TR_OK;
}

int ep_cbv_bare(const char *v, char *out, size_t outlen)
{
	static const struct {
		const char *urn;
		const char *web;
	} vocab[] = {
		{"urn:epcglobal:cbv:bizstep:", "BizStep-"}, {"urn:epcglobal:cbv:disp:", "Disp-"},
		{"urn:epcglobal:cbv:btt:", "BTT-"},         {"urn:epcglobal:cbv:sdt:", "SDT-"},
		{"urn:epcglobal:cbv:er:", "ER-"},           {"urn:epcglobal:cbv:comp:", "Comp-"},
	};
	static const char *const bases[] = {"https://ref.gs1.org/cbv/", "https://gs1.org/voc/",
					    "https://ref.gs1.org/voc/", "http://gs1.org/voc/",
					    "cbv:"};
	size_t n;
	const char *bare = v;

	TR_ASSERT(v && out);
	n = strnlen(v, EP_ID_MAX + 1);
	if (n > EP_ID_MAX)
		return TR_ETOOBIG;
	for (size_t i = 0; i < TR_ARRAY_LEN(vocab) && bare == v; i++) {
		if (has_prefix(v, n, vocab[i].urn) && n > strlen(vocab[i].urn))
			bare = v + strlen(vocab[i].urn);
		for (size_t j = 0; j < TR_ARRAY_LEN(bases) && bare == v; j++) {
			size_t bl = strlen(bases[j]), wl = strlen(vocab[i].web);
			if (has_prefix(v, n, bases[j]) && n > bl + wl &&
			    memcmp(v + bl, vocab[i].web, wl) == 0)
				bare = v + bl + wl;
		}
	}
	n = strlen(bare);
	if (n + 1 > outlen)
		return TR_ETOOBIG;
	memcpy(out, bare, n + 1);
	return TR_OK;
}
