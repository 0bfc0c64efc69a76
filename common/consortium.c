/*
 * consortium.c: parse and create consortium files and partner lines.
 *
 * Everything read here comes from a file a person or script handed us, so
 * every field is checked for type, length and form before use; the first
 * problem found is reported with the partner (or line) it belongs to.
 */
#include "common/consortium.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

tr_params tr_params_default(void)
{
	tr_params p = {
		.block_max_records = 2000,
		.block_max_bytes = 4u << 20,
		.block_max_wait_ms = 20,
		.record_max_bytes = 256u << 10,
		.request_timeout_ms = 4000,
		.view_change_timeout_ms = 2000,
	};
	return p;
}

int tr_check_name(const char *name)
{
	size_t l = strlen(name);
	if (l == 0 || l > TR_NAME_MAX)
		return TR_EINVAL;
	for (size_t i = 0; i < l; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return TR_EINVAL;
	}
	return TR_OK;
}

int tr_check_address(const char *addr)
{
	const char *colon;
	size_t hl;
	char *end;
	long port;

	if (strlen(addr) > TR_ADDRESS_MAX)
		return TR_EINVAL;
	if (addr[0] == '[') { /* [ipv6]:port */
		const char *rb = strchr(addr, ']');
		if (!rb || rb[1] != ':' || rb == addr + 1)
			return TR_EINVAL;
		for (const char *p = addr + 1; p < rb; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return TR_EINVAL;
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return TR_EINVAL;
		hl = (size_t)(colon - addr);
		if (hl == 0 || hl > 253)
			return TR_EINVAL;
		for (const char *p = addr; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return TR_EINVAL;
	}
	if (!isdigit((unsigned char)colon[1]))
		return TR_EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return TR_EINVAL;
	return TR_OK;
}

int tr_check_location(const char *loc)
{
	size_t l = strlen(loc);
	if (l == 0 || l > TR_LOCATION_MAX)
		return TR_EINVAL;
	for (size_t i = 0; i < l; i++) {
		unsigned char c = (unsigned char)loc[i];
		if (c <= 0x20 || c >= 0x7f || c == ',')
			return TR_EINVAL;
	}
	return TR_OK;
}

void tr_partner_fini(tr_partner *p)
{
	for (size_t i = 0; i < p->nlocations; i++)
		free(p->locations[i]);
	free(p->locations);
	p->locations = NULL;
	p->nlocations = 0;
}

static int partner_add_location(tr_partner *p, const char *loc, size_t len)
{
	char **nl;
	char *s;
	if (p->nlocations >= TR_LOCATIONS_MAX)
		return TR_ETOOBIG;
	s = strndup(loc, len);
	if (!s)
		return TR_ENOMEM;
	if (tr_check_location(s) != TR_OK) {
		free(s);
		return TR_EINVAL;
	}
	for (size_t i = 0; i < p->nlocations; i++) {
		if (strcmp(p->locations[i], s) == 0) {
			free(s);
			return TR_EEXIST;
		}
	}
	nl = realloc(p->locations, (p->nlocations + 1) * sizeof(*nl));
	if (!nl) {
		free(s);
		return TR_ENOMEM;
	}
	p->locations = nl;
	p->locations[p->nlocations++] = s;
	return TR_OK;
}

/* "ALG:BASE64" -> alg + key, checked to be a valid public key. */
static int parse_alg_key(const char *s, tr_alg *alg, uint8_t key[TR_PUBKEY_LEN])
{
	char algname[16];
	const char *colon = strchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(algname))
		return TR_EINVAL;
	memcpy(algname, s, (size_t)(colon - s));
	algname[colon - s] = '\0';
	*alg = tr_alg_parse(algname);
	if (*alg == TR_ALG_NONE)
		return TR_EINVAL;
	if (tr_b64_decode(key, TR_PUBKEY_LEN, colon + 1) != TR_OK)
		return TR_EINVAL;
	if (!tr_pubkey_valid(*alg, key))
		return TR_EINVAL;
	return TR_OK;
}

#define LINE_MAX_LEN (64u << 10)

int tr_partner_line_parse(const char *line, tr_partner *p, char *err, size_t errlen)
{
	char *copy = NULL, *save = NULL, *name, *key, *addr, *locs, *extra;
	int rc = TR_EINVAL;

	memset(p, 0, sizeof(*p));
	if (strlen(line) > LINE_MAX_LEN) {
		snprintf(err, errlen, "partner line too long");
		return TR_ETOOBIG;
	}
	copy = strdup(line);
	if (!copy)
		return TR_ENOMEM;
	name = strtok_r(copy, " \t\r\n", &save);
	key = name ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	addr = key ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	locs = addr ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	extra = locs ? strtok_r(NULL, " \t\r\n", &save) : NULL;
	if (!addr || extra) {
		snprintf(err, errlen, "expected 'NAME ALG:KEY HOST:PORT [LOCATION,...]'");
		goto fail;
	}
	if (tr_check_name(name) != TR_OK) {
		snprintf(err, errlen, "bad partner name '%.40s': use 1-%d of a-z 0-9 _ -", name,
			 TR_NAME_MAX);
		goto fail;
	}
	strcpy(p->name, name);
	if (parse_alg_key(key, &p->alg, p->key) != TR_OK) {
		snprintf(err, errlen, "partner '%s': malformed key '%.60s' (want ed25519:BASE64 or secp256k1:BASE64 of a valid 32-byte public key)",
			 name, key);
		goto fail;
	}
	if (tr_check_address(addr) != TR_OK) {
		snprintf(err, errlen, "partner '%s': malformed address '%.60s' (want HOST:PORT)", name,
			 addr);
		goto fail;
	}
	strcpy(p->address, addr);
	if (locs) {
		const char *s = locs;
		while (*s) {
			const char *c = strchr(s, ',');
			size_t l = c ? (size_t)(c - s) : strlen(s);
			int lrc = partner_add_location(p, s, l);
			if (lrc) {
				snprintf(err, errlen, "partner '%s': bad location '%.*s': %s", name,
					 (int)(l > 80 ? 80 : l), s,
					 lrc == TR_EEXIST ? "listed twice" : tr_strerror(lrc));
				rc = lrc;
				goto fail;
			}
			s += l;
			if (*s == ',')
				s++;
		}
	}
	free(copy);
	return TR_OK;
fail:
	tr_partner_fini(p);
	free(copy);
	return rc;
}

int tr_partner_line_format(const tr_partner *p, char *out, size_t outlen)
{
	char b64[TR_B64_LEN(TR_PUBKEY_LEN)];
	size_t off;
	int n;
	tr_b64_encode(b64, sizeof(b64), p->key, TR_PUBKEY_LEN);
	n = snprintf(out, outlen, "%s %s:%s %s", p->name, tr_alg_name(p->alg), b64, p->address);
	if (n < 0 || (size_t)n >= outlen)
		return TR_ETOOBIG;
	off = (size_t)n;
	for (size_t i = 0; i < p->nlocations; i++) {
		n = snprintf(out + off, outlen - off, "%c%s", i ? ',' : ' ', p->locations[i]);
		if (n < 0 || (size_t)n >= outlen - off)
			return TR_ETOOBIG;
		off += (size_t)n;
	}
	return TR_OK;
}

void tr_consortium_free(tr_consortium *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		tr_partner_fini(&c->partners[i]);
	free(c->bytes);
	free(c);
}

int tr_consortium_find_name(const tr_consortium *c, const char *name)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (strcmp(c->partners[i].name, name) == 0)
			return (int)i;
	return -1;
}

int tr_consortium_find_key(const tr_consortium *c, const uint8_t key[TR_PUBKEY_LEN])
{
	for (uint32_t i = 0; i < c->n; i++)
		if (memcmp(c->partners[i].key, key, TR_PUBKEY_LEN) == 0)
			return (int)i;
	return -1;
}

uint32_t tr_consortium_quorum(const tr_consortium *c)
{
	/* ceil((n + f + 1) / 2): any two quorums share f + 1 partners, so an
	 * honest one, for every n. That is 2f+1 when n = 3f+1; for other n
	 * 2f+1 was not enough (n = 2 or 3: one partner alone; n = 6: the two
	 * halves of a partition each) and two blocks could commit at one height
	 * (found by a review, shown by tests/sim's partition2 and partition6). */
	return (c->n + c->f + 2) / 2;
}

/* Only these keys may appear; anything else is refused. */
static int check_keys(json_t *obj, const char *const *allowed, char *err, size_t errlen,
		      const char *where)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, k) == 0)
				ok = 1;
		if (!ok) {
			snprintf(err, errlen, "%s: unknown field '%.40s'", where, k);
			return TR_EINVAL;
		}
	}
	return TR_OK;
}

static int get_u32(json_t *obj, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "'%s' must be an integer", key);
		return TR_EINVAL;
	}
	x = json_integer_value(v);
	if (x < (json_int_t)lo || x > (json_int_t)hi) {
		snprintf(err, errlen, "'%s' must be between %u and %u", key, lo, hi);
		return TR_EINVAL;
	}
	*out = (uint32_t)x;
	return TR_OK;
}

static int parse_partner(json_t *jp, size_t idx, tr_partner *p, char *err, size_t errlen)
{
	static const char *const allowed[] = {"name", "alg", "key", "address", "locations", NULL};
	char where[64];
	json_t *name = json_object_get(jp, "name"), *alg = json_object_get(jp, "alg"),
	       *key = json_object_get(jp, "key"), *addr = json_object_get(jp, "address"),
	       *locs = json_object_get(jp, "locations");
	char algkey[128];
	const char *pname;

	memset(p, 0, sizeof(*p));
	snprintf(where, sizeof(where), "partners[%zu]", idx);
	if (!json_is_object(jp)) {
		snprintf(err, errlen, "%s: not an object", where);
		return TR_EINVAL;
	}
	if (check_keys(jp, allowed, err, errlen, where))
		return TR_EINVAL;
	if (!json_is_string(name) || tr_check_name(json_string_value(name)) != TR_OK) {
		snprintf(err, errlen, "%s: missing or bad 'name'", where);
		return TR_EINVAL;
	}
	pname = json_string_value(name);
	strcpy(p->name, pname);
	if (!json_is_string(alg) || !json_is_string(key) ||
	    snprintf(algkey, sizeof(algkey), "%s:%s", json_string_value(alg),
		     json_string_value(key)) >= (int)sizeof(algkey) ||
	    parse_alg_key(algkey, &p->alg, p->key) != TR_OK) {
		snprintf(err, errlen, "partner '%s': missing or malformed 'alg'/'key'", pname);
		return TR_EINVAL;
	}
	if (!json_is_string(addr) || tr_check_address(json_string_value(addr)) != TR_OK) {
		snprintf(err, errlen, "partner '%s': missing or malformed 'address' (want HOST:PORT)",
			 pname);
		return TR_EINVAL;
	}
	strcpy(p->address, json_string_value(addr));
	if (locs) {
		size_t i;
		json_t *l;
		if (!json_is_array(locs)) {
			snprintf(err, errlen, "partner '%s': 'locations' must be an array", pname);
			return TR_EINVAL;
		}
		json_array_foreach(locs, i, l)
		{
			int rc = json_is_string(l)
					 ? partner_add_location(p, json_string_value(l),
								json_string_length(l))
					 : TR_EINVAL;
			if (rc) {
				snprintf(err, errlen, "partner '%s': bad locations[%zu]: %s", pname, i,
					 rc == TR_EEXIST ? "listed twice" : tr_strerror(rc));
				tr_partner_fini(p);
				return rc;
			}
		}
	}
	return TR_OK;
}

int tr_consortium_parse(const uint8_t *bytes, size_t len, tr_consortium **out, char *err,
			size_t errlen)
{
	static const char *const allowed[] = {"version", "partners", "n", "f", "params", NULL};
	static const char *const pallowed[] = {"block_max_records",  "block_max_bytes",
					       "block_max_wait_ms",  "record_max_bytes",
					       "request_timeout_ms", "view_change_timeout_ms",
					       NULL};
	json_error_t jerr;
	json_t *root = NULL, *partners, *params;
	tr_consortium *c = NULL;
	uint32_t version, n, f;
	size_t i;
	json_t *jp;
	int rc = TR_EINVAL;

	if (len > TR_CONSORTIUM_FILE_MAX) {
		snprintf(err, errlen, "larger than %u bytes", TR_CONSORTIUM_FILE_MAX);
		return TR_ETOOBIG;
	}
	root = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return TR_EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	if (check_keys(root, allowed, err, errlen, "consortium"))
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = TR_ENOMEM;
		goto fail;
	}
	if (get_u32(root, "version", 1, 1, &version, err, errlen) ||
	    get_u32(root, "n", 1, TR_PARTNERS_MAX, &n, err, errlen) ||
	    get_u32(root, "f", 0, TR_PARTNERS_MAX, &f, err, errlen))
		goto fail;
	partners = json_object_get(root, "partners");
	if (!json_is_array(partners) || json_array_size(partners) != n) {
		snprintf(err, errlen, "'partners' must be an array of n = %u partners", n);
		goto fail;
	}
	if (f != (n - 1) / 3) {
		snprintf(err, errlen, "'f' must be floor((n-1)/3) = %u for n = %u", (n - 1) / 3, n);
		goto fail;
	}
	json_array_foreach(partners, i, jp)
	{
		rc = parse_partner(jp, i, &c->partners[i], err, errlen);
		if (rc)
			goto fail;
		c->n = (uint32_t)i + 1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->partners[j].name, c->partners[i].name) == 0) {
				snprintf(err, errlen, "partner '%s' is listed twice", c->partners[i].name);
				rc = TR_EINVAL;
				goto fail;
			}
			if (memcmp(c->partners[j].key, c->partners[i].key, TR_PUBKEY_LEN) == 0) {
				snprintf(err, errlen, "partner '%s' has the same key as '%s'",
					 c->partners[i].name, c->partners[j].name);
				rc = TR_EINVAL;
				goto fail;
			}
			/* each node listens on its address: two cannot share one */
			if (strcmp(c->partners[j].address, c->partners[i].address) == 0) {
				snprintf(err, errlen, "partner '%s' has the same address '%s' as '%s'",
					 c->partners[i].name, c->partners[i].address,
					 c->partners[j].name);
				rc = TR_EINVAL;
				goto fail;
			}
			/* A location has one owner, as tr_consortium_create requires. */
			for (size_t a = 0; a < c->partners[i].nlocations; a++)
				for (size_t b = 0; b < c->partners[j].nlocations; b++)
					if (strcmp(c->partners[i].locations[a],
						   c->partners[j].locations[b]) == 0) {
						snprintf(err, errlen,
							 "partner '%s': location '%.80s' already belongs to '%s'",
							 c->partners[i].name, c->partners[i].locations[a],
							 c->partners[j].name);
						rc = TR_EINVAL;
						goto fail;
					}
		}
	}
	rc = TR_EINVAL;
	params = json_object_get(root, "params");
	if (!json_is_object(params)) {
		snprintf(err, errlen, "'params' must be an object");
		goto fail;
	}
	if (check_keys(params, pallowed, err, errlen, "params") ||
	    get_u32(params, "block_max_records", 1, 100000, &c->params.block_max_records, err, errlen) ||
	    get_u32(params, "block_max_bytes", 1024, 64u << 20, &c->params.block_max_bytes, err, errlen) ||
	    get_u32(params, "block_max_wait_ms", 0, 60000, &c->params.block_max_wait_ms, err, errlen) ||
	    get_u32(params, "record_max_bytes", 256, 16u << 20, &c->params.record_max_bytes, err, errlen) ||
	    get_u32(params, "request_timeout_ms", 10, 3600000, &c->params.request_timeout_ms, err, errlen) ||
	    get_u32(params, "view_change_timeout_ms", 10, 3600000, &c->params.view_change_timeout_ms, err, errlen))
		goto fail;
	if (c->params.record_max_bytes > c->params.block_max_bytes) {
		snprintf(err, errlen, "'record_max_bytes' must not exceed 'block_max_bytes'");
		goto fail;
	}
	c->f = f;
	c->bytes = malloc(len ? len : 1);
	if (!c->bytes) {
		rc = TR_ENOMEM;
		goto fail;
	}
	memcpy(c->bytes, bytes, len);
	c->len = len;
	tr_sha256(c->chain_id, bytes, len);
	json_decref(root);
	*out = c;
	return TR_OK;
fail:
	tr_consortium_free(c);
	json_decref(root);
	return rc;
}

int tr_consortium_load(const char *path, tr_consortium **out, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	char why[512];
	int rc = tr_read_file(path, TR_CONSORTIUM_FILE_MAX, &buf, &len, err, errlen);
	if (rc)
		return rc;
	rc = tr_consortium_parse(buf, len, out, why, sizeof(why));
	if (rc)
		snprintf(err, errlen, "bad consortium file '%s': %s", path, why);
	free(buf);
	return rc;
}

int tr_consortium_create(const char *const *lines, size_t nlines, char **json, char *err,
			 size_t errlen)
{
	tr_partner *ps = NULL;
	json_t *root = NULL, *arr, *params;
	tr_params d = tr_params_default();
	char why[256];
	char *text;
	size_t np = 0;
	int rc = TR_EINVAL;

	if (nlines == 0) {
		snprintf(err, errlen, "no partner lines given");
		return TR_EINVAL;
	}
	if (nlines > TR_PARTNERS_MAX) {
		snprintf(err, errlen, "%zu partners: at most %d", nlines, TR_PARTNERS_MAX);
		return TR_ETOOBIG;
	}
	ps = calloc(nlines, sizeof(*ps));
	if (!ps)
		return TR_ENOMEM;
	for (size_t i = 0; i < nlines; i++) {
		rc = tr_partner_line_parse(lines[i], &ps[i], why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "partner line %zu: %s", i + 1, why);
			goto fail;
		}
		np = i + 1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ps[i].name, ps[j].name) == 0) {
				snprintf(err, errlen, "partner line %zu: duplicate name '%s' (also line %zu)",
					 i + 1, ps[i].name, j + 1);
				rc = TR_EINVAL;
				goto fail;
			}
			if (memcmp(ps[i].key, ps[j].key, TR_PUBKEY_LEN) == 0) {
				snprintf(err, errlen, "partner line %zu: duplicate key (also line %zu, '%s')",
					 i + 1, j + 1, ps[j].name);
				rc = TR_EINVAL;
				goto fail;
			}
			if (strcmp(ps[i].address, ps[j].address) == 0) {
				snprintf(err, errlen,
					 "partner line %zu: duplicate address '%s' (also line %zu, '%s')",
					 i + 1, ps[i].address, j + 1, ps[j].name);
				rc = TR_EINVAL;
				goto fail;
			}
			for (size_t a = 0; a < ps[i].nlocations; a++)
				for (size_t b = 0; b < ps[j].nlocations; b++)
					if (strcmp(ps[i].locations[a], ps[j].locations[b]) == 0) {
						snprintf(err, errlen,
							 "partner line %zu: location '%s' already belongs to '%s' (line %zu)",
							 i + 1, ps[i].locations[a], ps[j].name, j + 1);
						rc = TR_EINVAL;
						goto fail;
					}
		}
	}
	rc = TR_ENOMEM;
	root = json_object();
	arr = json_array();
	params = json_object();
	if (!root || !arr || !params) {
		json_decref(arr);
		json_decref(params);
		goto fail;
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "partners", arr);
	for (size_t i = 0; i < np; i++) {
		char b64[TR_B64_LEN(TR_PUBKEY_LEN)];
		json_t *p = json_object(), *locs = json_array();
		if (!p || !locs) {
			json_decref(p);
			json_decref(locs);
			goto fail;
		}
		tr_b64_encode(b64, sizeof(b64), ps[i].key, TR_PUBKEY_LEN);
		json_object_set_new(p, "name", json_string(ps[i].name));
		json_object_set_new(p, "alg", json_string(tr_alg_name(ps[i].alg)));
		json_object_set_new(p, "key", json_string(b64));
		json_object_set_new(p, "address", json_string(ps[i].address));
		for (size_t j = 0; j < ps[i].nlocations; j++)
			json_array_append_new(locs, json_string(ps[i].locations[j]));
		json_object_set_new(p, "locations", locs);
		json_array_append_new(arr, p);
	}
	json_object_set_new(root, "n", json_integer((json_int_t)np));
	json_object_set_new(root, "f", json_integer((json_int_t)((np - 1) / 3)));
	json_object_set_new(params, "block_max_records", json_integer(d.block_max_records));
	json_object_set_new(params, "block_max_bytes", json_integer(d.block_max_bytes));
	json_object_set_new(params, "block_max_wait_ms", json_integer(d.block_max_wait_ms));
	json_object_set_new(params, "record_max_bytes", json_integer(d.record_max_bytes));
	json_object_set_new(params, "request_timeout_ms", json_integer(d.request_timeout_ms));
	json_object_set_new(params, "view_change_timeout_ms", json_integer(d.view_change_timeout_ms));
	json_object_set_new(root, "params", params);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		goto fail;
	/* newline-terminated file */
	*json = malloc(strlen(text) + 2);
	if (!*json) {
		free(text);
		goto fail;
	}
	sprintf(*json, "%s\n", text);
	free(text);
	rc = TR_OK;
fail:
	json_decref(root);
	for (size_t i = 0; i < np; i++)
		tr_partner_fini(&ps[i]);
	free(ps);
	return rc;
}
