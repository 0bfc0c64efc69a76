/*
 * index.c: the EPCIS indexes of the ledger (ehash, ids, edges, locations)
 * and the rules that need them. Called by store.c inside the append
 * transaction, so a block and its index entries land together or not at
 * all; the same rules run at submit time through ldg_events_admissible
 * (ledger/query.h). Layout: index_internal.h and docs/storage.md.
 *
 * Rules (every node decides alike: they read only the block and the
 * stored chain):
 *   - an event whose GS1 event hash is already stored (or earlier in the
 *     block) is a duplicate, refused naming the original event id; an
 *     event with errorDeclaration is instead the retraction of the event
 *     it hashes equal to, refused only when that event is already
 *     retracted;
 *   - an event that places something at a location (readPoint,
 *     bizLocation, source or destination of type location) owned in the
 *     consortium file by a partner other than the record's signer is
 *     refused. Locations compare as index keys, and a sub-location (an
 *     SGLN extension, /254/...) belongs to the owner of its GLN.
 * The structured Event fields these rules and indexes read are
 * trustworthy: ldg_record_check re-derives every record's Event from its
 * json (ep_event_rederive) before a block gets here. An Event without
 * event_hash (which that check refuses) would pass the rules unindexed.
 */
#include "ledger/index_internal.h"

#include "ledger/epcis_id.h"
#include "ledger/epcis_map.h"
#include "ledger/query.h"

#include <ctype.h>
#include <string.h>

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v = {n, (void *)(uintptr_t)p};
	return v;
}

void ldg__idx_key(const char *id, char out[LDG_KEY_BUF])
{
	size_t n = strlen(id);
	if (n <= LDG_KEY_RAW_MAX) {
		memcpy(out, id, n + 1);
		return;
	}
	{
		uint8_t h[TR_HASH_LEN];
		char hex[2 * TR_HASH_LEN + 1];
		tr_sha256(h, id, n);
		snprintf(out, LDG_KEY_BUF, "sha256:%s", tr_hex(hex, h, TR_HASH_LEN));
	}
}

/* ==== Reading records without unpacking whole blocks ==== */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int s = 0; s < 64 && *p < end; s += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* The next field number `field` (length-delimited) of a Block's wire
 * format between *p and end (advances *p past it); *val borrowed.
 * TR_ENOTFOUND past the last, TR_EVERIFY when malformed. */
static int block_field_next(const uint8_t **p, const uint8_t *end, uint64_t field,
			    const uint8_t **val, size_t *len)
{
	/* Block: field 1 header (bytes), field 2 records (repeated bytes).
	 * Stored blocks passed ldg__parse_block; still, every step is bounded
	 * by the value's end. */
	while (*p < end) {
		uint64_t tag, n;
		if (!varint(p, end, &tag) || (tag & 7) != 2 || !varint(p, end, &n) ||
		    n > (uint64_t)(end - *p))
			return TR_EVERIFY;
		*p += n;
		if ((tag >> 3) == field) {
			*val = *p - n;
			*len = (size_t)n;
			return TR_OK;
		}
	}
	return TR_ENOTFOUND;
}

int ldg__record_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec, size_t *len)
{
	return block_field_next(p, end, 2, rec, len);
}

int ldg__block_header(const uint8_t *b, size_t len, const uint8_t **hdr, size_t *hlen)
{
	int rc = block_field_next(&b, b + len, 1, hdr, hlen);
	return rc == TR_ENOTFOUND ? TR_EVERIFY : rc;
}

int ldg_block_bytes_hash(const uint8_t *block, size_t len, uint8_t hash[TR_HASH_LEN])
{
	const uint8_t *hdr;
	size_t hlen;
	int rc = ldg__block_header(block, len, &hdr, &hlen);
	if (rc == TR_OK)
		tr_sha256(hash, hdr, hlen);
	return rc;
}

int ldg_block_record_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec,
			  size_t *len)
{
	return ldg__record_next(p, end, rec, len);
}

int ldg__retracted_by(ldg *l, MDB_txn *txn, const uint8_t id[TR_HASH_LEN],
		      uint8_t decl[TR_HASH_LEN])
{
	uint8_t key[1 + TR_HASH_LEN];
	MDB_val k = mval(key, sizeof(key)), v;
	key[0] = 'r';
	memcpy(key + 1, id, TR_HASH_LEN);
	if (ldg__hashed_get(l, txn, DB_EHASH, k.mv_data, k.mv_size, &v) != 0 ||
	    v.mv_size != TR_HASH_LEN)
		return TR_ENOTFOUND;
	memcpy(decl, v.mv_data, TR_HASH_LEN);
	return TR_OK;
}

/* ==== Event summaries (esum) ==== */

enum { SUM_DECLARATION = 1, SUM_RETRACTED = 2 };
#define SUM_FIXED (TR_HASH_LEN + 8 + 4 + 1)
#define SUM_FLAGS_AT (TR_HASH_LEN + 8 + 4)
#define SUM_MAX (SUM_FIXED + 6 + 255 * 6)

#define INFO_CAP(field) sizeof(((ldg_event_info *)0)->field)

static size_t sum_str(uint8_t *p, const char *s, size_t cap)
{
	size_t n;
	if (!s)
		s = "";
	n = strlen(s);
	if (n > cap - 1)
		n = cap - 1;
	if (n > 255)
		n = 255;
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return 1 + n;
}

/* One string of a summary value into dst[cap]; false when malformed. */
static bool sum_take(const uint8_t **p, const uint8_t *end, char *dst, size_t cap)
{
	size_t n;
	if (*p >= end)
		return false;
	n = (*p)[0];
	if (n >= cap || (size_t)(end - *p - 1) < n)
		return false;
	memcpy(dst, *p + 1, n);
	dst[n] = '\0';
	*p += 1 + n;
	return true;
}

/* Encode the summary of ev (id, signer) into out[SUM_MAX]; its length. */
static size_t sum_encode(uint8_t out[SUM_MAX], const Trellis__Event *ev, uint32_t signer,
			 const uint8_t id[TR_HASH_LEN], bool retracted)
{
	const char *where = ev->biz_location[0] ? ev->biz_location : ev->read_point;
	size_t n = SUM_FIXED;
	memcpy(out, id, TR_HASH_LEN);
	tr_be64_put(out + TR_HASH_LEN, (uint64_t)ev->event_time_ms);
	tr_be32_put(out + TR_HASH_LEN + 8, signer);
	out[SUM_FLAGS_AT] = (uint8_t)((ev->error_declaration ? SUM_DECLARATION : 0) |
				      (retracted ? SUM_RETRACTED : 0));
	n += sum_str(out + n, ev->type, INFO_CAP(type));
	n += sum_str(out + n, ev->event_time, INFO_CAP(event_time));
	n += sum_str(out + n, ev->action, INFO_CAP(action));
	n += sum_str(out + n, ev->biz_step, INFO_CAP(biz_step));
	n += sum_str(out + n, where, INFO_CAP(where));
	n += sum_str(out + n, ev->event_hash, INFO_CAP(event_hash));
	return n;
}

static void sum_key(uint8_t k[LDG_POS_LEN], uint64_t height, uint32_t position)
{
	tr_be64_put(k, height);
	tr_be32_put(k + 8, position);
}

int ldg__summary_get(ldg *l, MDB_txn *txn, uint64_t height, uint32_t position,
		     ldg_event_info *info)
{
	uint8_t key[LDG_POS_LEN];
	MDB_val k = mval(key, sizeof(key)), v;
	const uint8_t *p, *end;
	uint32_t signer;
	int mrc;

	sum_key(key, height, position);
	mrc = mdb_get(txn, l->dbi[DB_ESUM], &k, &v);
	if (mrc)
		return mrc == MDB_NOTFOUND ? TR_ENOTFOUND : TR_EDB;
	if (v.mv_size < SUM_FIXED || v.mv_size > SUM_MAX)
		return TR_EVERIFY;
	p = v.mv_data;
	end = p + v.mv_size;
	memset(info, 0, sizeof(*info));
	memcpy(info->event_id, p, TR_HASH_LEN);
	info->height = height;
	info->position = position;
	info->time_ms = (int64_t)tr_be64_get(p + TR_HASH_LEN);
	signer = tr_be32_get(p + TR_HASH_LEN + 8);
	info->declaration = (p[SUM_FLAGS_AT] & SUM_DECLARATION) != 0;
	info->retracted = (p[SUM_FLAGS_AT] & SUM_RETRACTED) != 0;
	snprintf(info->signer, sizeof(info->signer), "%s",
		 signer < l->c->n ? l->c->partners[signer].name : "?");
	p += SUM_FIXED;
	if (!sum_take(&p, end, info->type, sizeof(info->type)) ||
	    !sum_take(&p, end, info->event_time, sizeof(info->event_time)) ||
	    !sum_take(&p, end, info->action, sizeof(info->action)) ||
	    !sum_take(&p, end, info->biz_step, sizeof(info->biz_step)) ||
	    !sum_take(&p, end, info->where, sizeof(info->where)) ||
	    !sum_take(&p, end, info->event_hash, sizeof(info->event_hash)) || p != end)
		return TR_EVERIFY;
	return TR_OK;
}

/* ==== One record's Event ==== */

typedef struct {
	Trellis__Record *rec;
	Trellis__Event *ev; /* NULL when the record is not an indexable event */
} rec_event;

static int rec_event_open(const uint8_t *bytes, size_t len, rec_event *re)
{
	re->ev = NULL;
	re->rec = trellis__record__unpack(NULL, len, bytes);
	if (!re->rec)
		return TR_EINVAL;
	if (ep_event_unpack(re->rec->event.data, re->rec->event.len, &re->ev) != TR_OK)
		re->ev = NULL;
	else if (re->ev->event_hash[0] == '\0') {
		ep_event_free(re->ev);
		re->ev = NULL;
	}
	return TR_OK;
}

static void rec_event_close(rec_event *re)
{
	ep_event_free(re->ev);
	if (re->rec)
		trellis__record__free_unpacked(re->rec, NULL);
	re->rec = NULL;
	re->ev = NULL;
}

/* ==== Location ownership ==== */

typedef struct {
	char (*keys)[LDG_KEY_BUF];
	uint32_t *owner;
	size_t n;
} owners;

static void owners_fini(owners *o)
{
	free(o->keys);
	free(o->owner);
	memset(o, 0, sizeof(*o));
}

static int owners_init(const tr_consortium *c, owners *o)
{
	size_t total = 0, k = 0;
	memset(o, 0, sizeof(*o));
	for (uint32_t p = 0; p < c->n; p++)
		total += c->partners[p].nlocations;
	if (!total)
		return TR_OK;
	o->keys = malloc(total * sizeof(*o->keys));
	o->owner = malloc(total * sizeof(*o->owner));
	if (!o->keys || !o->owner) {
		owners_fini(o);
		return TR_ENOMEM;
	}
	for (uint32_t p = 0; p < c->n; p++)
		for (size_t i = 0; i < c->partners[p].nlocations; i++) {
			char key[EP_ID_MAX + 64];
			const char *loc = c->partners[p].locations[i];
			if (ep_id_key(loc, key, sizeof(key)) != TR_OK)
				snprintf(key, sizeof(key), "%s", loc);
			ldg__idx_key(key, o->keys[k]);
			o->owner[k++] = p;
		}
	o->n = k;
	return TR_OK;
}

/* The owner of location key, or -1 when nobody owns it. */
static long owner_of(const owners *o, const char *key)
{
	char k[LDG_KEY_BUF], gln[LDG_KEY_BUF];
	const char *ext;
	ldg__idx_key(key, k);
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], k) == 0)
			return (long)o->owner[i];
	ext = strstr(k, "/254/");
	if (!ext)
		return -1;
	snprintf(gln, sizeof(gln), "%.*s", (int)(ext - k), k);
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], gln) == 0)
			return (long)o->owner[i];
	return -1;
}

static int check_location(const tr_consortium *c, const owners *o, uint32_t signer,
			  const char *loc, const char *field, size_t idx, char *err,
			  size_t errlen)
{
	long p;
	if (!loc || !*loc)
		return TR_OK;
	p = owner_of(o, loc);
	if (p < 0 || (uint32_t)p == signer)
		return TR_OK;
	snprintf(err, errlen,
		 "record %zu: %s '%.200s' belongs to partner '%s', not to the signer '%s'", idx,
		 field, loc, c->partners[p].name, c->partners[signer].name);
	return TR_EINVAL;
}

static int check_ownership(const tr_consortium *c, const owners *o, const rec_event *re,
			   size_t idx, char *err, size_t errlen)
{
	const Trellis__Event *ev = re->ev;
	uint32_t signer = re->rec->signer;
	int rc;
	if (o->n == 0 || signer >= c->n)
		return TR_OK;
	if ((rc = check_location(c, o, signer, ev->read_point, "readPoint", idx, err, errlen)) ||
	    (rc = check_location(c, o, signer, ev->biz_location, "bizLocation", idx, err, errlen)))
		return rc;
	for (size_t i = 0; i < ev->n_sources; i++)
		if (strcmp(ev->sources[i]->type, "location") == 0 &&
		    (rc = check_location(c, o, signer, ev->sources[i]->id, "source", idx, err,
					 errlen)))
			return rc;
	for (size_t i = 0; i < ev->n_destinations; i++)
		if (strcmp(ev->destinations[i]->type, "location") == 0 &&
		    (rc = check_location(c, o, signer, ev->destinations[i]->id, "destination", idx,
					 err, errlen)))
			return rc;
	return TR_OK;
}

/* ==== The rules ==== */

/* Lowercase hex digit -> value + 1 (0: not one); ehash_key_of runs a few
 * times per record and node, and the branchy form was ~1% of the node
 * thread. */
static const uint8_t hex1[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};

/* The ehash key of a GS1 event hash: tag ‖ its 32 SHA-256 bytes, decoded
 * from "ni:///sha-256;<64 lowercase hex>?ver=CBV2.0" (what ep_hash writes,
 * and what the re-derived Event of every stored record holds). 33 bytes
 * instead of the 90-byte text: an ehash page holds about twice as many
 * entries, so a block's random inserts dirty fewer pages (bench/RESULTS.md
 * run 64). Any other text (none gets here) is keyed by tag 'h' ‖ SHA-256
 * of the text, so every event hash has exactly one key. */
static void ehash_key_of(uint8_t tag, const char *hash, uint8_t out[LDG_EHASH_KEY_LEN])
{
	static const char pre[] = "ni:///sha-256;", post[] = "?ver=CBV2.0";
	const size_t np = sizeof(pre) - 1, hexlen = 2 * TR_HASH_LEN;
	size_t n = strlen(hash);
	if (n == np + hexlen + sizeof(post) - 1 && memcmp(hash, pre, np) == 0 &&
	    memcmp(hash + np + hexlen, post, sizeof(post) - 1) == 0) {
		const unsigned char *h = (const unsigned char *)hash + np;
		unsigned bad = 0;
		for (size_t i = 0; i < TR_HASH_LEN; i++) {
			unsigned hi = hex1[h[2 * i]], lo = hex1[h[2 * i + 1]];
			bad |= (hi == 0) | (lo == 0);
			out[1 + i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
		}
		if (!bad) {
			out[0] = tag;
			return;
		}
	}
	out[0] = 'h';
	tr_sha256(out + 1, hash, n);
	if (tag == 'x')
		out[0] = 'y'; /* a declaration's, apart from an original's */
}

/* The event's own ehash key: an original's 'n', a declaration's 'x'. */
static size_t ehash_key(uint8_t out[LDG_EHASH_KEY_LEN], const Trellis__Event *ev)
{
	ehash_key_of(ev->error_declaration ? 'x' : 'n', ev->event_hash, out);
	return LDG_EHASH_KEY_LEN;
}

/* One record at a time (a block holds up to 100,000; opening them all at
 * once kept every unpacked Event in memory together, and cost the node
 * thread ~8% more in allocation and cache misses: bench-query), stopping
 * at the first record that breaks a stored-chain rule; then the
 * duplicates within the block among the records up to there, from copies
 * of their event hashes. The error is the one a scan in record order
 * meets first: for one record, a stored duplicate, then a duplicate
 * earlier in the block, then the location's owner. */
static int rules(ldg *l, MDB_txn *txn, const uint8_t *const *recs, const size_t *lens, size_t n,
		 ldg_rule *out, char *err, size_t errlen)
{
	owners o;
	ldg_dupkey *keys;
	size_t *first, *at, nk = 0, used = 0, cap = 0, dup_i = SIZE_MAX;
	char *hashes = NULL, hex[2 * TR_HASH_LEN + 1];
	const char *dup_hash = NULL; /* record dup_i's event hash */
	bool decl = false;           /* record dup_i is an error declaration */
	int fail_rc = TR_OK, rc = owners_init(l->c, &o);
	if (rc)
		return rc;
	keys = malloc((n ? n : 1) * sizeof(*keys));
	first = malloc((n ? n : 1) * sizeof(*first));
	at = malloc((n ? n : 1) * sizeof(*at)); /* key -> its hash in hashes */
	if (!keys || !first || !at) {
		rc = TR_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && fail_rc == TR_OK; i++) {
		rec_event re;
		uint8_t key[LDG_EHASH_KEY_LEN];
		size_t klen, hlen;
		MDB_val v;
		if (rec_event_open(recs[i], lens[i], &re) != TR_OK) {
			fail_rc = TR_EINVAL;
			snprintf(err, errlen, "record %zu: not a valid Record message", i);
			break;
		}
		if (!re.ev) {
			rec_event_close(&re);
			continue;
		}
		hlen = strlen(re.ev->event_hash);
		if (used + hlen + 1 > cap) {
			size_t ncap = cap ? 2 * cap : 64 * 1024;
			char *nh;
			while (ncap < used + hlen + 1)
				ncap *= 2;
			if (!(nh = realloc(hashes, ncap))) {
				rec_event_close(&re);
				rc = TR_ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			hashes = nh;
			cap = ncap;
		}
		memcpy(hashes + used, re.ev->event_hash, hlen + 1);
		at[nk] = used;
		keys[nk++] = (ldg_dupkey){.len = hlen, .cls = re.ev->error_declaration, .idx = i};
		used += hlen + 1;
		klen = ehash_key(key, re.ev);
		if (out) {
			tr_sha256(out[i].key, key, klen);
			out[i].has_key = true;
		}
		if (ldg__hashed_get(l, txn, DB_EHASH, key, klen, &v) == 0 &&
		    v.mv_size == TR_HASH_LEN) {
			fail_rc = TR_EEXIST;
			if (re.ev->error_declaration)
				snprintf(err, errlen,
					 "record %zu: event %s is already retracted by error declaration %s",
					 i, re.ev->event_hash, tr_hex(hex, v.mv_data, TR_HASH_LEN));
			else
				snprintf(err, errlen,
					 "record %zu: duplicate of event %s (same GS1 event hash %s)", i,
					 tr_hex(hex, v.mv_data, TR_HASH_LEN), re.ev->event_hash);
		} else {
			fail_rc = check_ownership(l->c, &o, &re, i, err, errlen);
		}
		rec_event_close(&re);
	}
	/* the hashes are all copied now: point the keys at them */
	for (size_t j = 0; j < nk; j++)
		keys[j].key = hashes + at[j];
	ldg_first_dups(keys, nk, first); /* sets first[] of the keyed records */
	for (size_t j = 0; j < nk; j++)
		if (first[keys[j].idx] != SIZE_MAX && keys[j].idx < dup_i) {
			dup_i = keys[j].idx;
			dup_hash = keys[j].key;
			decl = keys[j].cls != 0;
		}
	/* A duplicate within the block is at or before the first record that
	 * failed (the loop stopped there). At that record itself it comes
	 * first, as in a scan: it cannot also be a stored duplicate (the
	 * earlier record with its key would have been one), but it may break
	 * the owner rule (another signer). */
	if (dup_i != SIZE_MAX) {
		snprintf(err, errlen, "record %zu: %s record %zu (same GS1 event hash %s)", dup_i,
			 decl ? "retracts the same event as" : "duplicate of", first[dup_i],
			 dup_hash);
		rc = TR_EEXIST;
	} else {
		rc = fail_rc; /* its message is in err already */
	}
out:
	free(hashes);
	free(keys);
	free(first);
	free(at);
	owners_fini(&o);
	return rc;
}

int ldg__check_rules(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err, size_t errlen)
{
	const uint8_t **recs = malloc((pb->n ? pb->n : 1) * sizeof(*recs));
	size_t *lens = malloc((pb->n ? pb->n : 1) * sizeof(*lens));
	int rc = TR_ENOMEM;
	if (recs && lens) {
		for (size_t i = 0; i < pb->n; i++) {
			recs[i] = pb->blk->records[i].data;
			lens[i] = pb->blk->records[i].len;
		}
		rc = rules(l, txn, recs, lens, pb->n, NULL, err, errlen);
	}
	free(recs);
	free(lens);
	return rc;
}

int ldg_events_admissible(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
			  char *err, size_t errlen)
{
	return ldg_events_admissible_keyed(l, recs, lens, n, NULL, err, errlen);
}

int ldg_events_admissible_keyed(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
				ldg_rule *out, char *err, size_t errlen)
{
	MDB_txn *txn;
	int rc;
	if (out)
		memset(out, 0, n * sizeof(*out));
	if (n > LDG_ADMISSIBLE_MAX) {
		snprintf(err, errlen, "%zu records at once, at most %d", n, LDG_ADMISSIBLE_MAX);
		return TR_ETOOBIG;
	}
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = rules(l, txn, recs, lens, n, out, err, errlen);
	mdb_txn_abort(txn);
	return rc;
}

int ldg_records_rules(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
		      ldg_rule *out)
{
	owners o;
	MDB_txn *txn;
	int rc = owners_init(l->c, &o);
	if (rc)
		return rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) {
		owners_fini(&o);
		return TR_EDB;
	}
	for (size_t i = 0; i < n; i++) {
		rec_event re;
		uint8_t key[LDG_EHASH_KEY_LEN];
		char err[512];
		size_t klen;
		MDB_val v;
		memset(&out[i], 0, sizeof(out[i]));
		if (rec_event_open(recs[i], lens[i], &re) != TR_OK) {
			out[i].rc = TR_EINVAL;
			continue;
		}
		if (re.ev) {
			klen = ehash_key(key, re.ev);
			tr_sha256(out[i].key, key, klen);
			out[i].has_key = true;
			if (ldg__hashed_get(l, txn, DB_EHASH, key, klen, &v) == 0)
				out[i].rc = TR_EEXIST;
			else
				out[i].rc = check_ownership(l->c, &o, &re, i, err, sizeof(err));
		}
		rec_event_close(&re);
	}
	mdb_txn_abort(txn);
	owners_fini(&o);
	return TR_OK;
}

int ldg_event_admissible(ldg *l, const uint8_t *rec, size_t len, char *err, size_t errlen)
{
	return ldg_events_admissible(l, &rec, &len, 1, err, errlen);
}

/* ==== Writing (and checking) the indexes ==== */

/* One pass over a block's records: writes the entries in the append
 * transaction, or (check, for ldg_verify) looks each one up and stops at
 * the first that is missing, naming its database and key. */
typedef struct {
	ldg *l;
	MDB_txn *txn;
	uint8_t pos[LDG_POS_LEN];
	int mrc;
	bool check;
	const char *missing_db;
	char missing[LDG_KEY_BUF];
} writer;

static const char *const index_db_name[DB_COUNT] = {
	[DB_EHASH] = "ehash", [DB_IDS] = "ids", [DB_EDGES] = "edges",
	[DB_LOCATIONS] = "locations", [DB_ESUM] = "esum"};

static void missing(writer *w, int db, const char *key, int mrc)
{
	w->mrc = mrc ? mrc : MDB_NOTFOUND;
	w->missing_db = index_db_name[db] ? index_db_name[db] : "?";
	snprintf(w->missing, sizeof(w->missing), "%s", key);
}

static void put(writer *w, int db, const char *key, const uint8_t *val, size_t vlen)
{
	char k[LDG_KEY_BUF];
	MDB_val mk, mv;
	int mrc;
	if (w->mrc || !key || !*key)
		return;
	ldg__idx_key(key, k);
	mk = mval(k, strlen(k));
	mv = mval(val, vlen);
	if (w->check) {
		MDB_cursor *c;
		mrc = mdb_cursor_open(w->txn, w->l->dbi[db], &c);
		if (mrc == 0) {
			mrc = mdb_cursor_get(c, &mk, &mv, MDB_GET_BOTH);
			mdb_cursor_close(c);
		}
		if (mrc)
			missing(w, db, k, mrc);
		return;
	}
	mrc = mdb_put(w->txn, w->l->dbi[db], &mk, &mv, 0);
	if (mrc && mrc != MDB_KEYEXIST)
		w->mrc = mrc;
}

static void put_role(writer *w, int db, const char *key, uint8_t role)
{
	uint8_t v[LDG_POS_LEN + 1];
	memcpy(v, w->pos, LDG_POS_LEN);
	v[LDG_POS_LEN] = role;
	put(w, db, key, v, sizeof(v));
}

static void put_edge(writer *w, const char *from, uint8_t dir, uint8_t kind, const char *to)
{
	char tk[LDG_KEY_BUF];
	uint8_t v[LDG_EDGE_HDR + LDG_KEY_BUF];
	size_t tl;
	if (!from || !*from || !to || !*to)
		return;
	ldg__idx_key(to, tk);
	tl = strlen(tk);
	v[0] = dir;
	v[1] = kind;
	memcpy(v + 2, w->pos, LDG_POS_LEN);
	memcpy(v + LDG_EDGE_HDR, tk, tl);
	put(w, DB_EDGES, from, v, LDG_EDGE_HDR + tl);
}

/* Both directions: child goes down into parent; parent's source is child. */
static void put_link(writer *w, const char *up_of, const char *down_of, uint8_t kind)
{
	put_edge(w, up_of, LDG_EDGE_UP, kind, down_of);
	put_edge(w, down_of, LDG_EDGE_DOWN, kind, up_of);
}

/* The lot key of an item key https://id.gs1.org/01/GTIN/21/SERIAL with lot. */
bool ldg__lot_key(const char *item, const char *lot, char *out, size_t outlen)
{
	static const char pre[] = "https://id.gs1.org/01/", hex[] = "0123456789ABCDEF";
	char dl[EP_ID_MAX + 64];
	size_t n;
	if (strncmp(item, pre, sizeof(pre) - 1) != 0 || strlen(item) < sizeof(pre) - 1 + 14 ||
	    strncmp(item + sizeof(pre) - 1 + 14, "/21/", 4) != 0)
		return false;
	n = (size_t)snprintf(dl, sizeof(dl), "%.*s/10/", (int)(sizeof(pre) - 1 + 14), item);
	/* the lot as one path segment: a '/' (legal in a GS1 lot) or any other
	 * reserved byte is percent-encoded, a %XX escape kept; ep_id_key then
	 * decodes and encodes it the one canonical way (or refuses a lot that
	 * is not GS1 AI 10 text) */
	for (const char *c = lot; *c; c++) {
		bool escape = c[0] == '%' && isxdigit((unsigned char)c[1]) &&
			      isxdigit((unsigned char)c[2]);
		if (n + 4 > sizeof(dl))
			return false;
		if (isalnum((unsigned char)*c) || strchr("'-._;=", *c) || escape) {
			dl[n++] = *c;
		} else {
			dl[n++] = '%';
			dl[n++] = hex[(unsigned char)*c >> 4];
			dl[n++] = hex[(unsigned char)*c & 15];
		}
	}
	dl[n] = '\0';
	return ep_id_key(dl, out, outlen) == TR_OK;
}

static void index_event(writer *w, const Trellis__Event *ev, const uint8_t id[TR_HASH_LEN])
{
	bool contain = strcmp(ev->type, "AggregationEvent") == 0;
	bool assoc = strcmp(ev->type, "AssociationEvent") == 0;
	bool del = strcmp(ev->action, "DELETE") == 0;
	uint8_t kind = contain ? (del ? LDG_EDGE_REMOVE : LDG_EDGE_CONTAIN)
			       : (del ? LDG_EDGE_UNASSOC : LDG_EDGE_ASSOC);
	char hub[LDG_KEY_BUF + 80];

	for (size_t i = 0; i < ev->n_epcs; i++)
		put_role(w, DB_IDS, ev->epcs[i], LDG_ROLE_EPC);
	for (size_t i = 0; i < ev->n_quantities; i++)
		put_role(w, DB_IDS, ev->quantities[i]->epc_class, LDG_ROLE_CLASS);
	put_role(w, DB_IDS, ev->parent_id, LDG_ROLE_PARENT);
	for (size_t i = 0; i < ev->n_child_epcs; i++)
		put_role(w, DB_IDS, ev->child_epcs[i], LDG_ROLE_CHILD);
	for (size_t i = 0; i < ev->n_child_quantities; i++)
		put_role(w, DB_IDS, ev->child_quantities[i]->epc_class, LDG_ROLE_CHILD);
	for (size_t i = 0; i < ev->n_input_epcs; i++)
		put_role(w, DB_IDS, ev->input_epcs[i], LDG_ROLE_INPUT);
	for (size_t i = 0; i < ev->n_input_quantities; i++)
		put_role(w, DB_IDS, ev->input_quantities[i]->epc_class, LDG_ROLE_INPUT);
	for (size_t i = 0; i < ev->n_output_epcs; i++)
		put_role(w, DB_IDS, ev->output_epcs[i], LDG_ROLE_OUTPUT);
	for (size_t i = 0; i < ev->n_output_quantities; i++)
		put_role(w, DB_IDS, ev->output_quantities[i]->epc_class, LDG_ROLE_OUTPUT);
	put_role(w, DB_IDS, ev->transformation_id, LDG_ROLE_TRANSFORMATION);
	put_role(w, DB_IDS, ev->read_point, LDG_ROLE_READ_POINT);
	put_role(w, DB_IDS, ev->biz_location, LDG_ROLE_BIZ_LOCATION);
	put_role(w, DB_LOCATIONS, ev->read_point, LDG_ROLE_READ_POINT);
	put_role(w, DB_LOCATIONS, ev->biz_location, LDG_ROLE_BIZ_LOCATION);
	for (size_t i = 0; i < ev->n_sources; i++) {
		put_role(w, DB_IDS, ev->sources[i]->id, LDG_ROLE_SOURCE);
		if (strcmp(ev->sources[i]->type, "location") == 0)
			put_role(w, DB_LOCATIONS, ev->sources[i]->id, LDG_ROLE_SOURCE);
	}
	for (size_t i = 0; i < ev->n_destinations; i++) {
		put_role(w, DB_IDS, ev->destinations[i]->id, LDG_ROLE_DESTINATION);
		if (strcmp(ev->destinations[i]->type, "location") == 0)
			put_role(w, DB_LOCATIONS, ev->destinations[i]->id, LDG_ROLE_DESTINATION);
	}
	/* A declaration restates its event: no new trace facts. */
	if (ev->error_declaration)
		return;

	/* Transformations: inputs and outputs meet at one hub per
	 * transformationID (or per event without one), so events that share
	 * a transformationID form one transformation and no event writes
	 * inputs x outputs edges. */
	if (ev->n_input_epcs || ev->n_input_quantities || ev->n_output_epcs ||
	    ev->n_output_quantities) {
		char hex[2 * TR_HASH_LEN + 1];
		if (ev->transformation_id[0])
			snprintf(hub, sizeof(hub), LDG_HUB_PREFIX "%s", ev->transformation_id);
		else
			snprintf(hub, sizeof(hub), LDG_HUB_PREFIX "event:%s",
				 tr_hex(hex, id, TR_HASH_LEN));
		for (size_t i = 0; i < ev->n_input_epcs; i++)
			put_link(w, hub, ev->input_epcs[i], LDG_EDGE_TRANSFORM);
		for (size_t i = 0; i < ev->n_input_quantities; i++)
			put_link(w, hub, ev->input_quantities[i]->epc_class, LDG_EDGE_TRANSFORM);
		for (size_t i = 0; i < ev->n_output_epcs; i++)
			put_link(w, ev->output_epcs[i], hub, LDG_EDGE_TRANSFORM);
		for (size_t i = 0; i < ev->n_output_quantities; i++)
			put_link(w, ev->output_quantities[i]->epc_class, hub, LDG_EDGE_TRANSFORM);
	}
	/* Containment: the parent's sources are its children (up); a child
	 * goes down into its parent. */
	if ((contain || assoc) && ev->parent_id[0]) {
		for (size_t i = 0; i < ev->n_child_epcs; i++)
			put_link(w, ev->parent_id, ev->child_epcs[i], kind);
		for (size_t i = 0; i < ev->n_child_quantities; i++)
			put_link(w, ev->parent_id, ev->child_quantities[i]->epc_class, kind);
	}
	/* Commissioning with ILMD: an item's source is its lot. */
	if (ev->ilmd_lot[0]) {
		char lot[EP_ID_MAX + 64];
		for (size_t i = 0; i < ev->n_epcs; i++)
			if (ldg__lot_key(ev->epcs[i], ev->ilmd_lot, lot, sizeof(lot))) {
				put_role(w, DB_IDS, lot, LDG_ROLE_LOT);
				put_link(w, ev->epcs[i], lot, LDG_EDGE_LOT);
			}
	}
}

/* Set the retracted flag in the summary of event orig (already stored). */
static int mark_retracted(writer *w, const uint8_t orig[TR_HASH_LEN])
{
	uint8_t buf[SUM_MAX];
	MDB_val k = mval(orig, TR_HASH_LEN), v;
	int mrc = ldg__hashed_get(w->l, w->txn, DB_EVENTS, k.mv_data, k.mv_size, &v);
	if (mrc || v.mv_size != LDG_POS_LEN)
		return mrc ? mrc : MDB_CORRUPTED;
	k = mval(v.mv_data, LDG_POS_LEN);
	if ((mrc = mdb_get(w->txn, w->l->dbi[DB_ESUM], &k, &v)))
		return mrc;
	if (v.mv_size < SUM_FIXED || v.mv_size > SUM_MAX)
		return MDB_CORRUPTED;
	memcpy(buf, v.mv_data, v.mv_size);
	buf[SUM_FLAGS_AT] |= SUM_RETRACTED;
	v = mval(buf, v.mv_size);
	return mdb_put(w->txn, w->l->dbi[DB_ESUM], &k, &v, 0);
}

static int index_ehash(writer *w, const Trellis__Event *ev, const uint8_t id[TR_HASH_LEN])
{
	uint8_t key[LDG_EHASH_KEY_LEN];
	uint8_t rk[1 + TR_HASH_LEN];
	MDB_val k, o;
	int mrc;

	k = mval(key, ehash_key(key, ev));
	if (w->check) { /* verify reads LMDB itself, not the key set */
		mrc = ldg__hashed_find(w->l, w->txn, DB_EHASH, k.mv_data, k.mv_size, &o);
		if (mrc == 0 && (o.mv_size != TR_HASH_LEN || memcmp(o.mv_data, id, TR_HASH_LEN)))
			mrc = MDB_NOTFOUND;
		if (mrc) {
			char what[EP_HASH_STR_LEN + 16];
			snprintf(what, sizeof(what), "%s%s", ev->error_declaration ? "declaration " : "",
				 ev->event_hash);
			missing(w, DB_EHASH, what, mrc);
		}
		return w->mrc;
	}
	if ((mrc = ldg__hashed_put(w->l, w->txn, DB_EHASH, key, sizeof(key), id, TR_HASH_LEN,
				   MDB_NOOVERWRITE)))
		return mrc;
	rk[0] = 'r';
	if (ev->error_declaration) {
		/* link the original, when it is already stored */
		ehash_key_of('n', ev->event_hash, key);
		if (ldg__hashed_get(w->l, w->txn, DB_EHASH, key, sizeof(key), &o) == 0 &&
		    o.mv_size == TR_HASH_LEN) {
			memcpy(rk + 1, o.mv_data, TR_HASH_LEN);
			if ((mrc = ldg__hashed_put(w->l, w->txn, DB_EHASH, rk, sizeof(rk), id,
						   TR_HASH_LEN, 0)))
				return mrc;
			return mark_retracted(w, rk + 1);
		}
		return 0;
	}
	/* an original that arrives after its declaration is born retracted
	 * (its summary, written next, reads this entry) */
	ehash_key_of('x', ev->event_hash, key);
	if (ldg__hashed_get(w->l, w->txn, DB_EHASH, key, sizeof(key), &o) == 0 &&
	    o.mv_size == TR_HASH_LEN) {
		uint8_t decl[TR_HASH_LEN];
		memcpy(decl, o.mv_data, TR_HASH_LEN);
		memcpy(rk + 1, id, TR_HASH_LEN);
		return ldg__hashed_put(w->l, w->txn, DB_EHASH, rk, sizeof(rk), decl, TR_HASH_LEN, 0);
	}
	return 0;
}

/* The event's esum entry: written (keys grow with the chain: MDB_APPEND)
 * or, when checking, compared byte for byte. */
static int index_summary(writer *w, const rec_event *re, const uint8_t id[TR_HASH_LEN])
{
	uint8_t val[SUM_MAX], decl[TR_HASH_LEN];
	bool retracted = ldg__retracted_by(w->l, w->txn, id, decl) == TR_OK;
	size_t n = sum_encode(val, re->ev, re->rec->signer, id, retracted);
	MDB_val k = mval(w->pos, LDG_POS_LEN), v = mval(val, n), got;
	int mrc;
	if (w->check) {
		mrc = mdb_get(w->txn, w->l->dbi[DB_ESUM], &k, &got);
		if (mrc == 0 && (got.mv_size != n || memcmp(got.mv_data, val, n)))
			mrc = MDB_NOTFOUND;
		if (mrc)
			missing(w, DB_ESUM, "(the event's summary)", mrc);
		return w->mrc;
	}
	return mdb_put(w->txn, w->l->dbi[DB_ESUM], &k, &v, MDB_APPEND);
}

/* Index (or check) every record of pb. *nsum counts the summaries. */
static int index_records(writer *w, const ldg_parsed_block *pb, size_t *nsum, char *err,
			 size_t errlen)
{
	*nsum = 0;
	for (size_t i = 0; i < pb->n; i++) {
		rec_event re;
		if (rec_event_open(pb->blk->records[i].data, pb->blk->records[i].len, &re)) {
			snprintf(err, errlen, "record %zu: not a valid Record message", i);
			return TR_EINVAL;
		}
		if (re.ev) {
			tr_be64_put(w->pos, pb->hdr->height);
			tr_be32_put(w->pos + 8, (uint32_t)i);
			w->mrc = index_ehash(w, re.ev, pb->ids[i]);
			if (!w->mrc)
				index_event(w, re.ev, pb->ids[i]);
			if (!w->mrc)
				w->mrc = index_summary(w, &re, pb->ids[i]);
			(*nsum)++;
		}
		rec_event_close(&re);
		if (w->mrc && w->check) {
			snprintf(err, errlen, "record %zu: %s entry missing or wrong for '%.200s'", i,
				 w->missing_db ? w->missing_db : "index", w->missing);
			return TR_EVERIFY;
		}
		if (w->mrc) {
			snprintf(err, errlen, "cannot index record %zu of block %llu: %s", i,
				 (unsigned long long)pb->hdr->height, mdb_strerror(w->mrc));
			return w->mrc == MDB_MAP_FULL ? TR_EFULL : TR_EDB;
		}
	}
	return TR_OK;
}

int ldg__index_block(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err, size_t errlen)
{
	writer w = {.l = l, .txn = txn};
	size_t nsum;
	return index_records(&w, pb, &nsum, err, errlen);
}

int ldg__index_verify(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, size_t *nsum,
		      char *err, size_t errlen)
{
	writer w = {.l = l, .txn = txn, .check = true};
	return index_records(&w, pb, nsum, err, errlen);
}
