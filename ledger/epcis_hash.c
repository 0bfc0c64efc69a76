/*
 * epcis_hash.c: the GS1 CBV 2.0 event hash (see epcis_hash.h and
 * docs/event-hash.md).
 *
 * The pre-hash string is built by one walk over the event: the standard
 * fields in the order of the field table below, each list's items rendered
 * to separate strings and sorted byte-wise (Unicode code point order),
 * then all remaining members rendered the same generic way and sorted.
 * Values go through one canonicaliser (canon_value): times to UTC with
 * milliseconds, CBV values to Web URIs, GS1 identifiers to canonical
 * Digital Link URIs (ledger/epcis_id.c), numbers to their shortest form.
 *
 * Bounds: every buffer grows up to EP_PREHASH_MAX and then fails with
 * TR_ETOOBIG; the walk recurses only through nested objects and arrays and
 * stops at EP_DEPTH_MAX. Nothing here keeps state between calls.
 */
#include "ledger/epcis_hash.h"

#include "common/crypto.h"
#include "ledger/epcis_id.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

struct ep_ctx {
	size_t nns;
	char *prefix[EP_NS_MAX];
	char *uri[EP_NS_MAX];
	size_t nign;
	char *ign[EP_IGNORE_MAX];
};

/* The namespaces of the standard EPCIS 2.0 JSON-LD context. */
static const char *const std_ns[][2] = {
	{"gs1", "https://gs1.org/voc/"},
	{"cbv", "https://ref.gs1.org/cbv/"},
	{"epcis", "https://ref.gs1.org/epcis/"},
	{"cbvmda", "urn:epcglobal:cbv:mda:"},
	{"rdfs", "http://www.w3.org/2000/01/rdf-schema#"},
	{"xsd", "http://www.w3.org/2001/XMLSchema#"},
};

/* ==== Growable, bounded string buffer ==== */

typedef struct {
	char *p;
	size_t len, cap;
	int err;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > EP_PREHASH_MAX - b->len) {
		b->err = TR_ETOOBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->err = TR_ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_free(sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ==== Sorted lists of rendered strings ==== */

typedef struct {
	char **v;
	size_t count, cap, bytes;
	int err;
} slist;

/* Move b's text into the list (b is emptied). Empty texts are dropped. */
static void sl_take(slist *l, sbuf *b)
{
	if (!l->err && b->err)
		l->err = b->err;
	if (l->err || b->len == 0) {
		sb_free(b);
		return;
	}
	if (b->len > EP_PREHASH_MAX - l->bytes) {
		l->err = TR_ETOOBIG;
		sb_free(b);
		return;
	}
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv) {
			l->err = TR_ENOMEM;
			sb_free(b);
			return;
		}
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->count] = b->p;
	l->count++;
	l->bytes += b->len;
	b->p = NULL;
	b->len = b->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the list, append it to out, free it. */
static void sl_flush(slist *l, sbuf *out)
{
	if (l->err && !out->err)
		out->err = l->err;
	if (!l->err && l->count > 1) {
		/* strcmp over UTF-8 bytes is Unicode code point order. */
		qsort(l->v, l->count, sizeof(*l->v), cmp_str);
	}
	for (size_t i = 0; i < l->count; i++) {
		if (!l->err)
			sb_puts(out, l->v[i]);
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ==== Times ==== */

static bool digits_at(const char *s, size_t len, size_t at, size_t n, int *v)
{
	int x = 0;
	if (at + n > len)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[at + i] < '0' || s[at + i] > '9')
			return false;
		x = x * 10 + (s[at + i] - '0');
	}
	*v = x;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* v as exactly n decimal digits (v < 10^n) */
static void put_digits(char *out, int n, unsigned v)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	TR_ASSERT(v == 0);
}

int ep_time_utc(const char *s, size_t len, char out[25])
{
	int Y, M, D, h, mi, sec = 0, ms = 0, oh = 0, om = 0, sign = 0;
	size_t i = 0;

	TR_ASSERT(s && out);
	if (!digits_at(s, len, 0, 4, &Y) || len < 16 || s[4] != '-' ||
	    !digits_at(s, len, 5, 2, &M) || s[7] != '-' || !digits_at(s, len, 8, 2, &D) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits_at(s, len, 11, 2, &h) ||
	    s[13] != ':' || !digits_at(s, len, 14, 2, &mi))
		return TR_EINVAL;
	i = 16;
	if (i < len && s[i] == ':') {
		if (!digits_at(s, len, i + 1, 2, &sec))
			return TR_EINVAL;
		i += 3;
		if (i < len && (s[i] == '.' || s[i] == ',')) {
			size_t nd = 0;
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9') {
				if (nd < 3)
					ms = ms * 10 + (s[i] - '0');
				nd++;
				i++;
			}
			if (nd == 0)
				return TR_EINVAL;
			for (; nd < 3; nd++)
				ms *= 10;
		}
	}
	if (i < len) {
		if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			sign = s[i] == '+' ? 1 : -1;
			if (!digits_at(s, len, i + 1, 2, &oh))
				return TR_EINVAL;
			i += 3;
			if (i < len && s[i] == ':')
				i++;
			if (i < len && !digits_at(s, len, i, 2, &om))
				return TR_EINVAL;
			if (i < len)
				i += 2;
			if (i != len || oh > 23 || om > 59)
				return TR_EINVAL;
		} else {
			return TR_EINVAL;
		}
	}
	if (Y < 1 || M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 ||
	    sec > 59)
		return TR_EINVAL;
	int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t rem = t - days * 86400, y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999)
		return TR_EINVAL;
	/* "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", written by hand: this runs
	 * for every time of every event a node re-derives */
	put_digits(out, 4, (unsigned)y);
	out[4] = '-';
	put_digits(out + 5, 2, (unsigned)m);
	out[7] = '-';
	put_digits(out + 8, 2, (unsigned)d);
	out[10] = 'T';
	put_digits(out + 11, 2, (unsigned)(rem / 3600));
	out[13] = ':';
	put_digits(out + 14, 2, (unsigned)(rem % 3600 / 60));
	out[16] = ':';
	put_digits(out + 17, 2, (unsigned)(rem % 60));
	out[19] = '.';
	put_digits(out + 20, 3, (unsigned)ms);
	out[23] = 'Z';
	out[24] = '\0';
	return TR_OK;
}

/* ==== Numbers ==== */

/* Decimal number syntax: [+-] digits [. digits] [e [+-] digits]. */
static bool is_number(const char *s, size_t n)
{
	size_t i = 0, dig = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, dig++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, dig++;
	}
	if (dig == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t ed = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, ed++;
		if (ed == 0)
			return false;
	}
	return i == n;
}

/* A double as the reference prints it: integers in full, other values in
 * the shortest form that reads back the same. false for inf and nan. */
static bool fmt_double(double d, char *out, size_t cap)
{
	if (!isfinite(d))
		return false;
	if (d == 0) {
		snprintf(out, cap, "0");
		return true;
	}
	if (d == trunc(d) && fabs(d) < 1e18 && cap >= 22) {
		/* "%.0f" by hand: quantities are mostly whole numbers */
		size_t o = 0;
		if (d < 0)
			out[o++] = '-';
		tr_u64_dec(out + o, (uint64_t)fabs(d));
		return true;
	}
	if (d == trunc(d)) {
		snprintf(out, cap, "%.0f", d);
		return true;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(out, cap, "%.*g", p, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return true;
}

/* ==== Values ==== */

enum vocab { V_NONE, V_BIZSTEP, V_DISP, V_BTT, V_SDT, V_ER, V_GS1, V_COMP };

static const char *const vocab_base[] = {
	[V_NONE] = "",
	[V_BIZSTEP] = "https://ref.gs1.org/cbv/BizStep-",
	[V_DISP] = "https://ref.gs1.org/cbv/Disp-",
	[V_BTT] = "https://ref.gs1.org/cbv/BTT-",
	[V_SDT] = "https://ref.gs1.org/cbv/SDT-",
	[V_ER] = "https://ref.gs1.org/cbv/ER-",
	[V_GS1] = "https://gs1.org/voc/",
	[V_COMP] = "https://ref.gs1.org/cbv/Comp-",
};

static const char *const cbv_urn[][2] = {
	{"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"},
	{"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"},
	{"urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"},
	{"urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"},
	{"urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"},
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *ns_find(const ep_ctx *ctx, const char *p, size_t n)
{
	if (ctx) {
		for (size_t i = ctx->nns; i-- > 0;)
			if (strlen(ctx->prefix[i]) == n && memcmp(ctx->prefix[i], p, n) == 0)
				return ctx->uri[i];
	}
	for (size_t i = 0; i < TR_ARRAY_LEN(std_ns); i++)
		if (strlen(std_ns[i][0]) == n && memcmp(std_ns[i][0], p, n) == 0)
			return std_ns[i][1];
	return NULL;
}

static bool starts(const char *s, size_t n, const char *pre)
{
	size_t pn = strlen(pre);
	return n >= pn && memcmp(s, pre, pn) == 0;
}

/* The text of a string value, checked for NUL bytes. */
static int str_of(const json_t *v, const char **s, size_t *n)
{
	*s = json_string_value(v);
	*n = json_string_length(v);
	if (strlen(*s) != *n)
		return TR_EINVAL;
	return TR_OK;
}

/*
 * Append the canonical text of value v to out (nothing for null or an
 * empty string). is_time: a standard date-time field; voc: the CBV
 * vocabulary of a bare word in this field.
 */
static int canon_value(const ep_ctx *ctx, sbuf *out, const json_t *v, bool is_time,
		       enum vocab voc)
{
	char num[400];
	const char *s;
	size_t n;
	int rc;

	if (json_is_null(v))
		return TR_OK;
	if (json_is_true(v) || json_is_false(v)) {
		sb_puts(out, json_is_true(v) ? "true" : "false");
		return TR_OK;
	}
	if (json_is_integer(v) || json_is_real(v)) {
		double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
		if (!fmt_double(d, num, sizeof num))
			return TR_EINVAL;
		sb_puts(out, num);
		return TR_OK;
	}
	if (!json_is_string(v))
		return TR_EINVAL; /* callers pass scalars only */
	if ((rc = str_of(v, &s, &n)) != TR_OK)
		return rc;
	while (n > 0 && is_space(*s))
		s++, n--;
	while (n > 0 && is_space(s[n - 1]))
		n--;
	if (n == 0)
		return TR_OK;
	if (is_time) {
		char t[25];
		if (ep_time_utc(s, n, t) == TR_OK)
			sb_puts(out, t);
		else
			sb_putn(out, s, n);
		return TR_OK;
	}
	const char *colon = memchr(s, ':', n);
	if (voc != V_NONE && !colon) {
		sb_puts(out, vocab_base[voc]);
		sb_putn(out, s, n);
		return TR_OK;
	}
	/* A CURIE of a GS1 vocabulary namespace ("cbv:BizStep-x", "gs1:Temperature"). */
	char *tmp = NULL;
	if (colon) {
		const char *uri = ns_find(ctx, s, (size_t)(colon - s));
		if (uri && (starts(uri, strlen(uri), "https://ref.gs1.org") ||
			    starts(uri, strlen(uri), "https://gs1.org"))) {
			size_t ul = strlen(uri), rest = n - (size_t)(colon + 1 - s);
			if (rest > EP_PREHASH_MAX)
				return TR_ETOOBIG;
			tmp = malloc(ul + rest + 1);
			if (!tmp)
				return TR_ENOMEM;
			memcpy(tmp, uri, ul);
			memcpy(tmp + ul, colon + 1, rest);
			tmp[ul + rest] = '\0';
			s = tmp;
			n = ul + rest;
		}
	}
	for (size_t i = 0; i < TR_ARRAY_LEN(cbv_urn); i++) {
		if (starts(s, n, cbv_urn[i][0])) {
			size_t pl = strlen(cbv_urn[i][0]);
			sb_puts(out, cbv_urn[i][1]);
			sb_putn(out, s + pl, n - pl);
			free(tmp);
			return TR_OK;
		}
	}
	if (is_number(s, n) && n < 350) {
		char in[352];
		memcpy(in, s, n);
		in[n] = '\0';
		errno = 0;
		double d = strtod(in, NULL);
		if (fmt_double(d, num, sizeof num)) {
			sb_puts(out, num);
			free(tmp);
			return TR_OK;
		}
	}
	char dl[EP_ID_MAX + 1];
	if (n <= EP_ID_MAX && ep_id_to_dl(s, n, EP_ID_HASH, dl, sizeof dl) == TR_OK)
		sb_puts(out, dl);
	else
		sb_putn(out, s, n);
	free(tmp);
	return TR_OK;
}

/* ==== Keys ==== */

/* Append a member name with its namespace prefix expanded to {uri}. */
static void put_key(const ep_ctx *ctx, sbuf *out, const char *key)
{
	const char *colon = strchr(key, ':');
	const char *uri = colon ? ns_find(ctx, key, (size_t)(colon - key)) : NULL;
	if (!uri) {
		sb_puts(out, key);
		return;
	}
	sb_puts(out, "{");
	sb_puts(out, uri);
	sb_puts(out, "}");
	sb_puts(out, colon + 1);
}

/* Members that never take part in the hash, at any level. */
static bool skip_always(const char *key)
{
	return key[0] == '@' || strcmp(key, "#text") == 0 || strcmp(key, "rdfs:comment") == 0 ||
	       strcmp(key, "comment") == 0;
}

static bool in_list(const char *key, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, names[i]) == 0)
			return true;
	return false;
}

/* ==== Generic rendering (extensions, ILMD, unknown members) ==== */

static int gen_member(const ep_ctx *ctx, slist *l, const char *key, const json_t *v, int depth);

/* Render the members of obj not named in known[] into l. */
static int gen_rest(const ep_ctx *ctx, slist *l, const json_t *obj, const char *const *known,
		    size_t nknown, int depth)
{
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		if (skip_always(k) || in_list(k, known, nknown))
			continue;
		if ((rc = gen_member(ctx, l, k, v, depth)) != TR_OK)
			return rc;
	}
	return TR_OK;
}

/*
 * One member rendered generically into l: key=value for a scalar (key
 * alone when the value is empty), key followed by its sorted members for
 * an object, one entry per item (same key) for an array.
 */
static int gen_member(const ep_ctx *ctx, slist *l, const char *key, const json_t *v, int depth)
{
	sbuf b = {0};
	int rc = TR_OK;

	if (depth > EP_DEPTH_MAX)
		return TR_ETOOBIG;
	if (json_is_array(v)) {
		size_t i;
		json_t *it;
		json_array_foreach(v, i, it) {
			if ((rc = gen_member(ctx, l, key, it, depth + 1)) != TR_OK)
				return rc;
		}
		return l->err;
	}
	put_key(ctx, &b, key);
	if (json_is_object(v)) {
		slist sub = {0};
		json_t *text = json_object_get(v, "#text");
		if (text && !json_is_object(text) && !json_is_array(text)) {
			size_t at = b.len;
			sb_puts(&b, "=");
			size_t mark = b.len;
			rc = canon_value(ctx, &b, text, false, V_NONE);
			if (rc == TR_OK && b.len == mark)
				b.len = at, b.p[at] = '\0';
		}
		if (rc == TR_OK)
			rc = gen_rest(ctx, &sub, v, NULL, 0, depth + 1);
		sl_flush(&sub, &b);
	} else {
		size_t at = b.len;
		sb_puts(&b, "=");
		size_t mark = b.len;
		rc = canon_value(ctx, &b, v, false, V_NONE);
		if (rc == TR_OK && !b.err && b.len == mark)
			b.len = at, b.p[at] = '\0';
	}
	if (rc != TR_OK) {
		sb_free(&b);
		return rc;
	}
	sl_take(l, &b);
	return l->err;
}

/* Append the sorted generic rendering of obj's unknown members. */
static int put_rest(const ep_ctx *ctx, sbuf *out, const json_t *obj, const char *const *known,
		    size_t nknown, int depth)
{
	slist l = {0};
	int rc = gen_rest(ctx, &l, obj, known, nknown, depth);
	sl_flush(&l, out);
	return rc ? rc : out->err;
}

/* ==== Standard fields ==== */

/* name=value, or one name=value per item of an array, sorted. */
static int put_scalar(const ep_ctx *ctx, sbuf *out, const char *name, const json_t *v,
		      bool is_time, enum vocab voc)
{
	slist l = {0};
	size_t i;
	const json_t *it;
	int rc = TR_OK;

	if (!json_is_array(v)) {
		if (json_is_object(v))
			return TR_EINVAL;
		sbuf b = {0};
		sb_puts(&b, name);
		sb_puts(&b, "=");
		size_t mark = b.len;
		rc = canon_value(ctx, &b, v, is_time, voc);
		if (rc == TR_OK && !b.err && b.len > mark)
			sb_putn(out, b.p, b.len);
		rc = rc ? rc : b.err;
		sb_free(&b);
		return rc ? rc : out->err;
	}
	json_array_foreach((json_t *)(uintptr_t)v, i, it) {
		sbuf b = {0};
		if (json_is_object(it) || json_is_array(it)) {
			rc = TR_EINVAL;
			break;
		}
		sb_puts(&b, name);
		sb_puts(&b, "=");
		size_t mark = b.len;
		rc = canon_value(ctx, &b, it, is_time, voc);
		if (rc != TR_OK || b.len == mark) {
			sb_free(&b);
			if (rc)
				break;
			continue;
		}
		sl_take(&l, &b);
	}
	sl_flush(&l, out);
	return rc ? rc : out->err;
}

/* The fields of one standard object, in order. */
typedef struct {
	const char *name;
	bool is_time;
	enum vocab voc;
} field;

/* Append name + ordered fields + sorted other members of obj; nothing when
 * all of it is empty. */
static int put_object(const ep_ctx *ctx, sbuf *out, const char *name, const json_t *obj,
		      const field *f, size_t nf, int depth)
{
	sbuf b = {0};
	const char *known[32];
	int rc = TR_OK;

	TR_ASSERT(nf <= TR_ARRAY_LEN(known));
	if (depth > EP_DEPTH_MAX)
		return TR_ETOOBIG;
	if (!json_is_object(obj))
		return TR_EINVAL;
	for (size_t i = 0; i < nf && rc == TR_OK; i++) {
		known[i] = f[i].name;
		json_t *v = json_object_get(obj, f[i].name);
		if (v)
			rc = put_scalar(ctx, &b, f[i].name, v, f[i].is_time, f[i].voc);
	}
	if (rc == TR_OK)
		rc = put_rest(ctx, &b, obj, known, nf, depth + 1);
	if (rc == TR_OK && b.len > 0) {
		sb_puts(out, name);
		sb_putn(out, b.p, b.len);
	}
	sb_free(&b);
	return rc ? rc : out->err;
}

/* epcList and the like: name + sorted epc=ID. */
static int put_epcs(const ep_ctx *ctx, sbuf *out, const char *name, const json_t *v)
{
	sbuf b = {0};
	int rc;
	if (!json_is_array(v))
		return TR_EINVAL;
	rc = put_scalar(ctx, &b, "epc", v, false, V_NONE);
	if (rc == TR_OK && b.len > 0) {
		sb_puts(out, name);
		sb_putn(out, b.p, b.len);
	}
	sb_free(&b);
	return rc ? rc : out->err;
}

/* A list of objects: name + sorted renderings of each by put_object. */
static int put_objects(const ep_ctx *ctx, sbuf *out, const char *name, const char *item,
		       const json_t *v, const field *f, size_t nf, int depth)
{
	slist l = {0};
	size_t i;
	const json_t *it;
	int rc = TR_OK;

	if (!json_is_array(v))
		return TR_EINVAL;
	json_array_foreach((json_t *)(uintptr_t)v, i, it) {
		sbuf b = {0};
		rc = put_object(ctx, &b, item, it, f, nf, depth + 1);
		if (rc != TR_OK) {
			sb_free(&b);
			break;
		}
		sl_take(&l, &b);
	}
	if (rc == TR_OK && l.count > 0 && !l.err)
		sb_puts(out, name);
	sl_flush(&l, out);
	return rc ? rc : out->err;
}

static const field qty_fields[] = {
	{"epcClass", false, V_NONE}, {"quantity", false, V_NONE}, {"uom", false, V_NONE}};

static const field id_fields[] = {{"id", false, V_NONE}};

static const field persist_fields[] = {{"set", false, V_DISP}, {"unset", false, V_DISP}};

static const field meta_fields[] = {
	{"time", true, V_NONE},        {"startTime", true, V_NONE},
	{"endTime", true, V_NONE},     {"deviceID", false, V_NONE},
	{"deviceMetadata", false, V_NONE}, {"rawData", false, V_NONE},
	{"dataProcessingMethod", false, V_NONE}, {"bizRules", false, V_NONE}};

static const field report_fields[] = {
	{"type", false, V_GS1},          {"exception", false, V_GS1},
	{"deviceID", false, V_NONE},     {"deviceMetadata", false, V_NONE},
	{"rawData", false, V_NONE},      {"dataProcessingMethod", false, V_NONE},
	{"time", true, V_NONE},          {"microorganism", false, V_NONE},
	{"chemicalSubstance", false, V_NONE}, {"value", false, V_NONE},
	{"component", false, V_COMP},    {"stringValue", false, V_NONE},
	{"booleanValue", false, V_NONE}, {"hexBinaryValue", false, V_NONE},
	{"uriValue", false, V_NONE},     {"minValue", false, V_NONE},
	{"maxValue", false, V_NONE},     {"meanValue", false, V_NONE},
	{"sDev", false, V_NONE},         {"percRank", false, V_NONE},
	{"percValue", false, V_NONE},    {"uom", false, V_NONE},
	{"coordinateReferenceSystem", false, V_NONE}};

/* readPoint / bizLocation: an object with id, or (leniently) the id. */
static int put_location(const ep_ctx *ctx, sbuf *out, const char *name, const json_t *v,
			int depth)
{
	if (json_is_string(v)) {
		sbuf b = {0};
		int rc = put_scalar(ctx, &b, "id", v, false, V_NONE);
		if (rc == TR_OK && b.len > 0) {
			sb_puts(out, name);
			sb_putn(out, b.p, b.len);
		}
		sb_free(&b);
		return rc ? rc : out->err;
	}
	return put_object(ctx, out, name, v, id_fields, TR_ARRAY_LEN(id_fields), depth);
}

/* sensorElementList: sorted sensorElement = metadata, sorted reports, rest. */
static int put_sensors(const ep_ctx *ctx, sbuf *out, const json_t *v, int depth)
{
	static const char *const known[] = {"sensorMetadata", "sensorReport"};
	slist l = {0};
	size_t i;
	const json_t *el;
	int rc = TR_OK;

	if (!json_is_array(v))
		return TR_EINVAL;
	json_array_foreach((json_t *)(uintptr_t)v, i, el) {
		sbuf b = {0}, in = {0};
		if (!json_is_object(el)) {
			rc = TR_EINVAL;
			break;
		}
		json_t *meta = json_object_get(el, "sensorMetadata");
		json_t *rep = json_object_get(el, "sensorReport");
		if (meta)
			rc = put_object(ctx, &in, "sensorMetadata", meta, meta_fields,
					TR_ARRAY_LEN(meta_fields), depth + 2);
		/* the reports, sorted, with no list name of their own */
		if (rc == TR_OK && rep)
			rc = put_objects(ctx, &in, "", "sensorReport", rep, report_fields,
					 TR_ARRAY_LEN(report_fields), depth + 1);
		if (rc == TR_OK)
			rc = put_rest(ctx, &in, el, known, TR_ARRAY_LEN(known), depth + 2);
		if (rc == TR_OK && in.len > 0) {
			sb_puts(&b, "sensorElement");
			sb_putn(&b, in.p, in.len);
		}
		sb_free(&in);
		if (rc != TR_OK) {
			sb_free(&b);
			break;
		}
		sl_take(&l, &b);
	}
	if (rc == TR_OK && l.count > 0 && !l.err)
		sb_puts(out, "sensorElementList");
	sl_flush(&l, out);
	return rc ? rc : out->err;
}

/* bizTransactionList, sourceList, destinationList: name + sorted items,
 * each type=TYPE then ITEM=value then its other members. */
static int put_typed_list(const ep_ctx *ctx, sbuf *out, const char *name, const char *item,
			  enum vocab voc, const json_t *v, int depth)
{
	const field f[] = {{"type", false, voc}, {item, false, V_NONE}};

	/* put_object with an empty item name renders just the fields */
	return put_objects(ctx, out, name, "", v, f, TR_ARRAY_LEN(f), depth);
}

/* ==== The event ==== */

enum kind { K_TIME, K_SCALAR, K_EPCS, K_QTY, K_VOCAB, K_PERSIST, K_LOC, K_SENSORS };

/* The standard members in pre-hash order (what the vectors show). */
static const struct {
	const char *name;
	enum kind kind;
	enum vocab voc;
} order[] = {
	{"eventTime", K_TIME, V_NONE},
	{"eventTimeZoneOffset", K_SCALAR, V_NONE},
	{"certificationInfo", K_SCALAR, V_NONE},
	{"epcList", K_EPCS, V_NONE},
	{"parentID", K_SCALAR, V_NONE},
	{"inputEPCList", K_EPCS, V_NONE},
	{"childEPCs", K_EPCS, V_NONE},
	{"quantityList", K_QTY, V_NONE},
	{"childQuantityList", K_QTY, V_NONE},
	{"inputQuantityList", K_QTY, V_NONE},
	{"outputEPCList", K_EPCS, V_NONE},
	{"outputQuantityList", K_QTY, V_NONE},
	{"action", K_SCALAR, V_NONE},
	{"transformationID", K_SCALAR, V_NONE},
	{"bizStep", K_VOCAB, V_BIZSTEP},
	{"disposition", K_VOCAB, V_DISP},
	{"persistentDisposition", K_PERSIST, V_NONE},
	{"readPoint", K_LOC, V_NONE},
	{"bizLocation", K_LOC, V_NONE},
	{"sensorElementList", K_SENSORS, V_NONE},
};

/* Where key is in order[], or -1 (a first-letter test spares most strcmp). */
static int order_index(const char *key)
{
	for (size_t i = 0; i < TR_ARRAY_LEN(order); i++)
		if (order[i].name[0] == key[0] && strcmp(order[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* Members left out of the hash. */
static const char *const ignored[] = {"type", "eventID", "recordTime", "errorDeclaration"};

static int put_field(const ep_ctx *ctx, sbuf *out, size_t k, const json_t *v)
{
	const char *name = order[k].name;
	switch (order[k].kind) {
	case K_TIME:
		return put_scalar(ctx, out, name, v, true, V_NONE);
	case K_SCALAR:
	case K_VOCAB:
		return put_scalar(ctx, out, name, v, false, order[k].voc);
	case K_EPCS:
		return put_epcs(ctx, out, name, v);
	case K_QTY:
		return put_objects(ctx, out, name, "quantityElement", v, qty_fields,
				   TR_ARRAY_LEN(qty_fields), 1);
	case K_PERSIST:
		return put_object(ctx, out, name, v, persist_fields, TR_ARRAY_LEN(persist_fields),
				  1);
	case K_LOC:
		return put_location(ctx, out, name, v, 1);
	case K_SENSORS:
		return put_sensors(ctx, out, v, 1);
	}
	return TR_EINVAL;
}

static bool ctx_ignores(const ep_ctx *ctx, const char *key)
{
	if (!ctx)
		return false;
	for (size_t i = 0; i < ctx->nign; i++)
		if (strcmp(ctx->ign[i], key) == 0)
			return true;
	return false;
}

/* The members after the ordered ones, each rendered and all sorted. */
static int put_tail(const ep_ctx *ctx, sbuf *out, const json_t *event)
{
	slist l = {0};
	const char *k;
	json_t *v;
	int rc = TR_OK;

	json_object_foreach((json_t *)(uintptr_t)event, k, v) {
		if (order_index(k) >= 0 || skip_always(k) ||
		    in_list(k, ignored, TR_ARRAY_LEN(ignored)) || ctx_ignores(ctx, k))
			continue;
		if (strcmp(k, "bizTransactionList") == 0 || strcmp(k, "sourceList") == 0 ||
		    strcmp(k, "destinationList") == 0) {
			sbuf b = {0};
			if (k[0] == 'b')
				rc = put_typed_list(ctx, &b, k, "bizTransaction", V_BTT, v, 1);
			else if (k[0] == 's')
				rc = put_typed_list(ctx, &b, k, "source", V_SDT, v, 1);
			else
				rc = put_typed_list(ctx, &b, k, "destination", V_SDT, v, 1);
			if (rc != TR_OK) {
				sb_free(&b);
				break;
			}
			sl_take(&l, &b);
		} else if ((rc = gen_member(ctx, &l, k, v, 1)) != TR_OK) {
			break;
		}
	}
	sl_flush(&l, out);
	return rc ? rc : out->err;
}

int ep_prehash(const ep_ctx *ctx, const json_t *event, char **out, size_t *len)
{
	sbuf b = {0};
	const char *type;
	size_t tl;
	int rc;

	TR_ASSERT(out && len);
	if (!json_is_object(event))
		return TR_EINVAL;
	json_t *t = json_object_get(event, "type");
	json_t *et = json_object_get(event, "eventTime");
	if (!json_is_string(t) || !json_is_string(et))
		return TR_EINVAL;
	if ((rc = str_of(t, &type, &tl)) != TR_OK || tl == 0)
		return TR_EINVAL;
	{
		const char *s;
		size_t n;
		char tmp[25];
		if ((rc = str_of(et, &s, &n)) != TR_OK || ep_time_utc(s, n, tmp) != TR_OK)
			return TR_EINVAL;
	}
	sb_puts(&b, "eventType=");
	sb_putn(&b, type, tl);
	rc = TR_OK;
	/* one pass over the members instead of a lookup per standard name */
	{
		const json_t *slot[TR_ARRAY_LEN(order)] = {0};
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)(uintptr_t)event, key, val) {
			int k = order_index(key);
			if (k >= 0)
				slot[k] = val;
		}
		for (size_t k = 0; k < TR_ARRAY_LEN(order) && rc == TR_OK; k++)
			if (slot[k] && !ctx_ignores(ctx, order[k].name))
				rc = put_field(ctx, &b, k, slot[k]);
	}
	if (rc == TR_OK)
		rc = put_tail(ctx, &b, event);
	if (rc == TR_OK)
		rc = b.err;
	if (rc != TR_OK) {
		sb_free(&b);
		return rc;
	}
	*out = b.p;
	*len = b.len;
	return TR_OK;
}

int ep_hash(const ep_ctx *ctx, const json_t *event, char out[EP_HASH_STR_LEN])
{
	uint8_t h[TR_HASH_LEN];
	char hex[2 * TR_HASH_LEN + 1];
	char *pre;
	size_t len;
	int rc;

	TR_ASSERT(out);
	if ((rc = ep_prehash(ctx, event, &pre, &len)) != TR_OK)
		return rc;
	tr_sha256(h, pre, len);
	free(pre);
	tr_hex(hex, h, sizeof h);
	snprintf(out, EP_HASH_STR_LEN, "ni:///sha-256;%s?ver=CBV2.0", hex);
	return TR_OK;
}

/* ==== Context ==== */

void ep_ctx_free(ep_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->nns; i++) {
		free(ctx->prefix[i]);
		free(ctx->uri[i]);
	}
	for (size_t i = 0; i < ctx->nign; i++)
		free(ctx->ign[i]);
	free(ctx);
}

/* Add the string-valued terms of one @context object as namespaces. */
static int ctx_add_ns(ep_ctx *c, const json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		if (!json_is_string(v) || k[0] == '@')
			continue; /* term definitions and keywords are not prefixes */
		const char *u = json_string_value(v);
		if (strlen(k) > EP_NS_PREFIX_MAX || json_string_length(v) > EP_NS_URI_MAX)
			return TR_ETOOBIG;
		if (strlen(u) != json_string_length(v))
			return TR_EINVAL;
		if (c->nns == EP_NS_MAX)
			return TR_ETOOBIG;
		c->prefix[c->nns] = strdup(k);
		c->uri[c->nns] = strdup(u);
		c->nns++;
		if (!c->prefix[c->nns - 1] || !c->uri[c->nns - 1])
			return TR_ENOMEM;
	}
	return TR_OK;
}

/* Collect "...ignoreFields" members of obj. */
static int ctx_add_ignore(ep_ctx *c, const json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		const char *colon = strrchr(k, ':');
		const char *local = colon ? colon + 1 : k;
		size_t i;
		json_t *it;
		if (strcmp(local, "ignoreFields") != 0)
			continue;
		if (!json_is_array(v))
			return TR_EINVAL;
		json_array_foreach(v, i, it) {
			if (!json_is_string(it))
				return TR_EINVAL;
			if (c->nign == EP_IGNORE_MAX || json_string_length(it) > EP_NS_URI_MAX)
				return TR_ETOOBIG;
			c->ign[c->nign] = strdup(json_string_value(it));
			if (!c->ign[c->nign])
				return TR_ENOMEM;
			c->nign++;
		}
	}
	return TR_OK;
}

int ep_ctx_new(const json_t *doc, ep_ctx **out)
{
	ep_ctx *c;
	int rc = TR_OK;

	TR_ASSERT(out);
	c = calloc(1, sizeof(*c));
	if (!c)
		return TR_ENOMEM;
	if (doc && !json_is_object(doc)) {
		rc = TR_EINVAL;
		goto fail;
	}
	if (doc) {
		json_t *cx = json_object_get(doc, "@context");
		if (json_is_array(cx)) {
			size_t i;
			json_t *it;
			json_array_foreach(cx, i, it) {
				if (json_is_object(it) && (rc = ctx_add_ns(c, it)) != TR_OK)
					goto fail;
			}
		} else if (json_is_object(cx)) {
			if ((rc = ctx_add_ns(c, cx)) != TR_OK)
				goto fail;
		} else if (cx && !json_is_string(cx)) {
			rc = TR_EINVAL;
			goto fail;
		}
		if ((rc = ctx_add_ignore(c, doc)) != TR_OK)
			goto fail;
		json_t *body = json_object_get(doc, "epcisBody");
		json_t *qr = json_is_object(body) ? json_object_get(body, "queryResults") : NULL;
		if (json_is_object(qr) && (rc = ctx_add_ignore(c, qr)) != TR_OK)
			goto fail;
	}
	*out = c;
	return TR_OK;
fail:
	ep_ctx_free(c);
	return rc;
}
