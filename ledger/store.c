/*
 * store.c: the LMDB side of the ledger: genesis, append, reads, verify,
 * the vote log.
 *
 * Keys: heights are be64 (so blocks and certs append in key order with
 * MDB_APPEND); events map event id -> be64(height) || be32(position);
 * votes holds "pbft-state", the consensus state blob; meta holds
 * "chain_id", "consortium", "height" (be64) and "head" (32 bytes).
 *
 * Every write is one transaction committed durably (no MDB_NOSYNC). A
 * failed put aborts the whole transaction, so a full map leaves the store
 * as it was.
 */
#include "ledger/index_internal.h"
#include "ledger/ledger_internal.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const db_names[DB_COUNT] = {
	"meta",	 "blocks", "certs", "events", "ehash", "ids", "edges", "locations", "votes", "esum",
	"events_recent", "ehash_recent"};
/* ids, edges and locations hold many sorted values per key. */
static const unsigned db_flags[DB_COUNT] = {[DB_IDS] = MDB_DUPSORT, [DB_EDGES] = MDB_DUPSORT,
					    [DB_LOCATIONS] = MDB_DUPSORT};

#define DEFAULT_MAP_SIZE ((size_t)1 << 40)

static int map_rc(int mrc)
{
	if (mrc == 0)
		return TR_OK;
	if (mrc == MDB_NOTFOUND)
		return TR_ENOTFOUND;
	if (mrc == MDB_MAP_FULL)
		return TR_EFULL;
	return TR_EDB;
}

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v = {n, (void *)(uintptr_t)p};
	return v;
}

static int env_open(const char *dir, size_t map_size, bool readonly, unsigned extra, MDB_env **out,
		    char *err, size_t errlen)
{
	MDB_env *env = NULL;
	unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0) | extra;
	int mrc;

	if (!readonly && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create ledger '%s': %s", dir, strerror(errno));
		return TR_EIO;
	}
	/* A reader given no size maps what the writer chose (stored in the
	 * file), not DEFAULT_MAP_SIZE: 1 TiB of address space is refused by
	 * valgrind and is more than a reader of a smaller map needs. */
	if ((mrc = mdb_env_create(&env)) || (mrc = mdb_env_set_maxdbs(env, DB_COUNT + 2)) ||
	    ((map_size || !readonly) &&
	     (mrc = mdb_env_set_mapsize(env, map_size ? map_size : DEFAULT_MAP_SIZE))) ||
	    (mrc = mdb_env_open(env, dir, flags, 0600))) {
		snprintf(err, errlen, "cannot open ledger '%s': %s", dir, mdb_strerror(mrc));
		if (env)
			mdb_env_close(env);
		return mrc == ENOENT ? TR_ENOTFOUND : TR_EDB;
	}
	*out = env;
	return TR_OK;
}

int ldg_read_consortium(const char *dir, uint8_t **bytes, size_t *len, char *err, size_t errlen)
{
	MDB_env *env;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = mval("consortium", 10), v;
	int rc = env_open(dir, 0, true, 0, &env, err, errlen);
	int mrc;
	if (rc)
		return rc;
	if ((mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
	    (mrc = mdb_dbi_open(txn, "meta", 0, &dbi)) || (mrc = mdb_get(txn, dbi, &k, &v))) {
		snprintf(err, errlen, "ledger '%s' has no genesis: %s", dir, mdb_strerror(mrc));
		rc = map_rc(mrc);
		goto out;
	}
	*bytes = malloc(v.mv_size ? v.mv_size : 1);
	if (!*bytes) {
		rc = TR_ENOMEM;
		goto out;
	}
	memcpy(*bytes, v.mv_data, v.mv_size);
	*len = v.mv_size;
out:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* The layout of the indexes this build reads and writes (meta "format"):
 * 3 since events and ehash have a recent level (ledger_internal.h), 2
 * since ehash keys are 33 binary bytes (docs/storage.md). A ledger
 * without the entry was written with the text keys of format 1, which
 * this build would misread (its duplicate checks would miss every stored
 * event hash); one of format 2 has no recent levels, and a build of
 * format 2 would miss the keys in them. Both are refused at open. */
#define LDG_FORMAT "3"

/* Write the genesis entries in meta when the store is new; check the
 * chain id and the index format otherwise. */
static int genesis(ldg *l, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = mval("chain_id", 8), v;
	uint8_t zero[8] = {0};
	int mrc = mdb_get(txn, l->dbi[DB_META], &k, &v);

	if (mrc == 0) {
		if (v.mv_size != TR_HASH_LEN || memcmp(v.mv_data, l->c->chain_id, TR_HASH_LEN)) {
			snprintf(err, errlen,
				 "ledger '%s' belongs to another consortium (chain_id differs)", l->dir);
			return TR_EVERIFY;
		}
		k = mval("format", 6);
		mrc = mdb_get(txn, l->dbi[DB_META], &k, &v);
		if (mrc != 0 || v.mv_size != strlen(LDG_FORMAT) ||
		    memcmp(v.mv_data, LDG_FORMAT, v.mv_size) != 0) {
			char got[16] = "1"; /* no entry: written before formats were named */
			if (mrc == 0) {
				size_t n = v.mv_size < sizeof(got) - 1 ? v.mv_size : 0;
				const char *d = v.mv_data;
				for (size_t i = 0; i < n; i++)
					if (d[i] < '0' || d[i] > '9')
						n = 0;
				snprintf(got, sizeof(got), "%.*s", (int)n, d);
				if (!n)
					snprintf(got, sizeof(got), "unknown");
			}
			snprintf(err, errlen,
				 "ledger '%s' has index format %s, this trellis reads format " LDG_FORMAT
				 ": move the folder away and let the node fetch the chain from its peers (docs/storage.md)",
				 l->dir, got);
			return TR_EVERIFY;
		}
		return TR_OK;
	}
	if (mrc != MDB_NOTFOUND || l->readonly) {
		snprintf(err, errlen, "ledger '%s' has no genesis", l->dir);
		return TR_ENOTFOUND;
	}
	v = mval(l->c->chain_id, TR_HASH_LEN);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	k = mval("consortium", 10);
	v = mval(l->c->bytes, l->c->len);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	k = mval("height", 6);
	v = mval(zero, 8);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	k = mval("head", 4);
	v = mval(l->c->chain_id, TR_HASH_LEN);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	k = mval("format", 6);
	v = mval(LDG_FORMAT, strlen(LDG_FORMAT));
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	return TR_OK;
fail:
	snprintf(err, errlen, "cannot write genesis of '%s': %s", l->dir, mdb_strerror(mrc));
	return map_rc(mrc);
}

/* events and ehash have a recent level (ledger_internal.h) */
static bool leveled(int db)
{
	return db == DB_EVENTS || db == DB_EHASH;
}

static int recent_of(int db)
{
	TR_ASSERT(leveled(db));
	return db == DB_EVENTS ? DB_EVENTS_RECENT : DB_EHASH_RECENT;
}

int ldg__hashed_find(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, MDB_val *v)
{
	MDB_val k = mval(key, len);
	int mrc = mdb_get(txn, l->dbi[recent_of(db)], &k, v);
	if (mrc != MDB_NOTFOUND)
		return mrc;
	k = mval(key, len);
	return mdb_get(txn, l->dbi[db], &k, v);
}

int ldg__hashed_get(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, MDB_val *v)
{
	TR_ASSERT(leveled(db));
	if (!ldg__seen_maybe(l->seen, (uint8_t)db, key, len))
		return MDB_NOTFOUND;
	return ldg__hashed_find(l, txn, db, key, len, v);
}

int ldg__hashed_put(ldg *l, MDB_txn *txn, int db, const void *key, size_t len, const void *val,
		    size_t vlen, unsigned flags)
{
	MDB_val k = mval(key, len), v = mval(val, vlen), o;
	int mrc, into = recent_of(db);
	/* a key lives in one level: one the main tree holds stays there */
	if (ldg__seen_maybe(l->seen, (uint8_t)db, key, len)) {
		mrc = mdb_get(txn, l->dbi[db], &k, &o);
		if (mrc == 0 && (flags & MDB_NOOVERWRITE))
			return MDB_KEYEXIST;
		if (mrc == 0)
			into = db;
		else if (mrc != MDB_NOTFOUND)
			return mrc;
		k = mval(key, len);
	}
	if ((mrc = mdb_put(txn, l->dbi[into], &k, &v, flags)))
		return mrc;
	if (l->seen && ldg__seen_add(l->seen, (uint8_t)db, key, len) != TR_OK) {
		TR_LOG(TR_LOG_WARN,
		       "msg=\"key set dropped: out of memory\" ledger=\"%s\" keys=%zu (lookups go to LMDB)",
		       l->dir, ldg__seen_count(l->seen));
		ldg__seen_free(l->seen);
		l->seen = NULL;
	}
	return 0;
}

/* A random insert into a large tree dirties a page of its own (a 4 KiB
 * copy, write and sync per key); the recent level takes a block's keys
 * in a few pages, and moving it in key order writes each page of the main
 * tree once for all the keys it gets. */
static int settle(ldg *l, MDB_txn *txn, int db)
{
	MDB_stat st, ms;
	MDB_cursor *from, *to;
	MDB_val k, v;
	int r = recent_of(db), mrc;
	size_t full;
	if ((mrc = mdb_stat(txn, l->dbi[r], &st)) || (mrc = mdb_stat(txn, l->dbi[db], &ms)))
		return mrc;
	full = ms.ms_entries / 8;
	full = full < l->recent_min ? l->recent_min : full > LDG_RECENT_MAX ? LDG_RECENT_MAX : full;
	if (st.ms_entries < full)
		return 0;
	if ((mrc = mdb_cursor_open(txn, l->dbi[r], &from)))
		return mrc;
	if ((mrc = mdb_cursor_open(txn, l->dbi[db], &to))) {
		mdb_cursor_close(from);
		return mrc;
	}
	for (mrc = mdb_cursor_get(from, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(from, &k, &v, MDB_NEXT)) {
		/* copied: what a get returns is valid until the next update */
		uint8_t kb[LDG_EHASH_KEY_LEN], vb[TR_HASH_LEN];
		if (k.mv_size > sizeof(kb) || v.mv_size > sizeof(vb)) {
			mrc = MDB_CORRUPTED;
			break;
		}
		memcpy(kb, k.mv_data, k.mv_size);
		memcpy(vb, v.mv_data, v.mv_size);
		k.mv_data = kb;
		v.mv_data = vb;
		if ((mrc = mdb_cursor_put(to, &k, &v, 0)))
			break;
	}
	mdb_cursor_close(to);
	mdb_cursor_close(from);
	if (mrc != MDB_NOTFOUND)
		return mrc ? mrc : MDB_CORRUPTED;
	return mdb_drop(txn, l->dbi[r], 0);
}

int ldg__hashed_settle(ldg *l, MDB_txn *txn)
{
	int mrc = settle(l, txn, DB_EVENTS);
	return mrc ? mrc : settle(l, txn, DB_EHASH);
}

/* The set of the keys in events and ehash (both levels), for a writable
 * handle. */
static int seen_build(ldg *l, char *err, size_t errlen)
{
	static const int dbs[] = {DB_EVENTS, DB_EHASH};
	MDB_txn *txn;
	int rc = ldg__seen_new(&l->seen), mrc = 0;
	if (rc) {
		snprintf(err, errlen, "out of memory opening ledger '%s'", l->dir);
		return rc;
	}
	if ((mrc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)))
		goto fail;
	for (size_t d = 0; d < 2 * sizeof(dbs) / sizeof(dbs[0]) && !mrc; d++) {
		int db = dbs[d / 2]; /* its main tree, then its recent level */
		MDB_cursor *cur;
		MDB_val k, v;
		if ((mrc = mdb_cursor_open(txn, l->dbi[d % 2 ? recent_of(db) : db], &cur)))
			break;
		for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
		     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			if ((rc = ldg__seen_add(l->seen, (uint8_t)db, k.mv_data, k.mv_size)))
				break;
		mdb_cursor_close(cur);
		if (rc)
			break;
		if (mrc == MDB_NOTFOUND)
			mrc = 0;
	}
	mdb_txn_abort(txn);
	if (!mrc && !rc)
		return TR_OK;
fail:
	ldg__seen_free(l->seen);
	l->seen = NULL;
	if (rc == TR_EINVAL) /* a key longer than any this build writes */
		return TR_OK;  /* no set: every lookup goes to LMDB */
	snprintf(err, errlen, "cannot read the indexes of ledger '%s': %s", l->dir,
		 rc ? tr_strerror(rc) : mdb_strerror(mrc));
	return rc ? rc : map_rc(mrc);
}

/* ldg_open with extra LMDB environment flags (MDB_NOSYNC for verify's
 * scratch ledger, which nothing reads after a crash). */
static int open_flags(const char *dir, const tr_consortium *c, const ldg_options *opt,
		      unsigned extra, ldg **out, char *err, size_t errlen)
{
	ldg *l = calloc(1, sizeof(*l));
	MDB_txn *txn = NULL;
	int rc, mrc;

	if (!l)
		return TR_ENOMEM;
	l->c = c;
	l->readonly = opt && opt->readonly;
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	rc = env_open(dir, opt ? opt->map_size : 0, l->readonly, extra, &l->env, err, errlen);
	if (rc) {
		free(l);
		return rc;
	}
	if ((mrc = mdb_txn_begin(l->env, NULL, l->readonly ? MDB_RDONLY : 0, &txn))) {
		snprintf(err, errlen, "cannot open ledger '%s': %s", dir, mdb_strerror(mrc));
		rc = map_rc(mrc);
		goto fail;
	}
	l->recent_min = LDG_RECENT_MIN;
	/* meta first: genesis names a ledger of another format before the
	 * databases this format adds are looked for */
	for (int i = 0; i < DB_COUNT; i++) {
		if ((mrc = mdb_dbi_open(txn, db_names[i],
					(l->readonly ? 0 : MDB_CREATE) | db_flags[i], &l->dbi[i]))) {
			snprintf(err, errlen, "cannot open database '%s' in '%s': %s", db_names[i], dir,
				 mdb_strerror(mrc));
			rc = map_rc(mrc);
			goto fail;
		}
		if (i == DB_META && (rc = genesis(l, txn, err, errlen)))
			goto fail;
	}
	if ((mrc = mdb_txn_commit(txn))) {
		txn = NULL;
		snprintf(err, errlen, "cannot open ledger '%s': %s", dir, mdb_strerror(mrc));
		rc = map_rc(mrc);
		goto fail;
	}
	txn = NULL;
	if (!l->readonly && (rc = seen_build(l, err, errlen)))
		goto fail;
	*out = l;
	return TR_OK;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(l->env);
	free(l);
	return rc;
}

int ldg_open(const char *dir, const tr_consortium *c, const ldg_options *opt, ldg **out,
	     char *err, size_t errlen)
{
	return open_flags(dir, c, opt, 0, out, err, errlen);
}

void ldg_use_checked(ldg *l, ldg_checked *k)
{
	l->checked = k;
}

void ldg_close(ldg *l)
{
	if (!l)
		return;
	ldg__seen_free(l->seen);
	free(l->appended_ids);
	mdb_env_close(l->env);
	ldg__parsed_block_fini(&l->kept);
	free(l->kept_bytes);
	free(l);
}

const tr_consortium *ldg_consortium(const ldg *l)
{
	return l->c;
}

static int head_txn(ldg *l, MDB_txn *txn, uint64_t *height, uint8_t hash[TR_HASH_LEN])
{
	MDB_val k = mval("height", 6), v;
	int mrc = mdb_get(txn, l->dbi[DB_META], &k, &v);
	if (mrc || v.mv_size != 8)
		return mrc ? map_rc(mrc) : TR_EVERIFY;
	*height = tr_be64_get(v.mv_data);
	k = mval("head", 4);
	mrc = mdb_get(txn, l->dbi[DB_META], &k, &v);
	if (mrc || v.mv_size != TR_HASH_LEN)
		return mrc ? map_rc(mrc) : TR_EVERIFY;
	memcpy(hash, v.mv_data, TR_HASH_LEN);
	return TR_OK;
}

int ldg__head_height(ldg *l, MDB_txn *txn, uint64_t *height)
{
	uint8_t hash[TR_HASH_LEN];
	return head_txn(l, txn, height, hash);
}

int ldg_head(ldg *l, uint64_t *height, uint8_t hash[TR_HASH_LEN])
{
	MDB_txn *txn;
	uint64_t h;
	uint8_t hh[TR_HASH_LEN];
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = head_txn(l, txn, &h, hh);
	mdb_txn_abort(txn);
	if (rc == TR_OK) {
		*height = h;
		memcpy(hash, hh, TR_HASH_LEN);
	}
	return rc;
}

/* Duplicate event ids: within the block, or already in the events index. */
static int check_dups(ldg *l, MDB_txn *txn, const ldg_parsed_block *pb, char *err,
		      size_t errlen)
{
	ldg_dupkey *keys = malloc((pb->n ? pb->n : 1) * sizeof(*keys));
	size_t *first = malloc((pb->n ? pb->n : 1) * sizeof(*first));
	int rc = TR_OK;
	if (!keys || !first) {
		free(keys);
		free(first);
		snprintf(err, errlen, "out of memory");
		return TR_ENOMEM;
	}
	for (size_t i = 0; i < pb->n; i++)
		keys[i] = (ldg_dupkey){.key = pb->ids[i], .len = TR_HASH_LEN, .idx = i};
	ldg_first_dups(keys, pb->n, first);
	for (size_t i = 0; i < pb->n; i++) {
		MDB_val v;
		char hex[2 * TR_HASH_LEN + 1];
		if (first[i] != SIZE_MAX ||
		    ldg__hashed_get(l, txn, DB_EVENTS, pb->ids[i], TR_HASH_LEN, &v) == 0) {
			snprintf(err, errlen, "record %zu: duplicate event id %s", i,
				 tr_hex(hex, pb->ids[i], TR_HASH_LEN));
			rc = TR_EEXIST;
			break;
		}
	}
	free(keys);
	free(first);
	return rc;
}

/* Check a block (and its certificate) as the successor of the head seen
 * in txn, including duplicates against the events index. *rules_ran says
 * whether the EPCIS rules were checked on this head (here, or by the
 * ldg_check_block whose parse this call took). */
static int check_next(ldg *l, MDB_txn *txn, const uint8_t *block, size_t len,
		      const uint8_t *cert, size_t cert_len, unsigned flags, ldg_parsed_block *pb,
		      bool *rules_ran, char *err, size_t errlen)
{
	uint64_t height;
	uint8_t head[TR_HASH_LEN];
	char why[256];
	bool reused = false;
	int rc = head_txn(l, txn, &height, head);

	*rules_ran = false;
	if (rc) {
		snprintf(err, errlen, "cannot read the head of '%s'", l->dir);
		return rc;
	}
	if (l->kept.hdr && len == l->kept_len && l->kept.hdr->height == height + 1 &&
	    (!(l->kept_flags & LDG_RECORDS_VERIFIED) || (flags & LDG_RECORDS_VERIFIED)) &&
	    memcmp(l->kept_head, head, TR_HASH_LEN) == 0 && memcmp(block, l->kept_bytes, len) == 0) {
		/* these exact bytes passed ldg__parse_block and the duplicate
		 * checks on this head, which only an append moves */
		*pb = l->kept;
		*rules_ran = l->kept_rules;
		memset(&l->kept, 0, sizeof(l->kept));
		reused = true;
	} else {
		rc = ldg__parse_block(l->c, l->checked, block, len, height + 1, head, flags, pb,
				      err, errlen);
		if (rc)
			return rc;
	}
	if (!reused && (rc = check_dups(l, txn, pb, err, errlen)) != TR_OK)
		goto fail;
	if (!(flags & LDG_RULES_CHECKED) && !*rules_ran) {
		rc = ldg__check_rules(l, txn, pb, err, errlen);
		if (rc)
			goto fail;
		*rules_ran = true;
	}
	if (cert) {
		rc = ldg_cert_check(l->c, cert, cert_len, height + 1, pb->hash, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "%s", why);
			goto fail;
		}
	}
	return TR_OK;
fail:
	ldg__parsed_block_fini(pb);
	return rc;
}

/* Keep an accepted block's parse for ldg_append (one block at most). */
static void keep(ldg *l, ldg_parsed_block *pb, const uint8_t *block, size_t len,
		 unsigned flags, bool rules_ran)
{
	ldg__parsed_block_fini(&l->kept);
	free(l->kept_bytes);
	l->kept_bytes = l->readonly ? NULL : malloc(len ? len : 1);
	if (!l->kept_bytes) {
		ldg__parsed_block_fini(pb);
		return;
	}
	memcpy(l->kept_bytes, block, len);
	l->kept_len = len;
	memcpy(l->kept_head, pb->hdr->prev_hash.data, TR_HASH_LEN);
	l->kept_flags = flags & LDG_RECORDS_VERIFIED;
	l->kept_rules = rules_ran;
	l->kept = *pb;
}

int ldg_check_block(ldg *l, const uint8_t *block, size_t len, const uint8_t *cert,
		    size_t cert_len, unsigned flags, char *err, size_t errlen)
{
	MDB_txn *txn;
	ldg_parsed_block pb;
	bool rules_ran;
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = check_next(l, txn, block, len, cert, cert_len, flags, &pb, &rules_ran, err, errlen);
	mdb_txn_abort(txn);
	if (rc == TR_OK)
		keep(l, &pb, block, len, flags, rules_ran);
	return rc;
}

int ldg_append(ldg *l, const uint8_t *block, size_t len, const uint8_t *cert, size_t cert_len,
	       unsigned flags, char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	ldg_parsed_block pb;
	uint8_t hk[8], hv[8], loc[12];
	MDB_val k, v;
	bool rules_ran;
	int rc, mrc;

	if (l->readonly) {
		snprintf(err, errlen, "ledger '%s' is open read-only", l->dir);
		return TR_ESTATE;
	}
	if (!cert) {
		snprintf(err, errlen, "a block needs its commit certificate");
		return TR_EINVAL;
	}
	if ((mrc = mdb_txn_begin(l->env, NULL, 0, &txn))) {
		snprintf(err, errlen, "cannot write ledger '%s': %s", l->dir, mdb_strerror(mrc));
		return map_rc(mrc);
	}
	rc = check_next(l, txn, block, len, cert, cert_len, flags, &pb, &rules_ran, err, errlen);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	tr_be64_put(hk, pb.hdr->height);
	k = mval(hk, 8);
	/* stored already when this node prepared it (ldg_state_put), or
	 * another block was, which did not commit */
	mrc = mdb_get(txn, l->dbi[DB_BLOCKS], &k, &v);
	if (mrc && mrc != MDB_NOTFOUND)
		goto fail;
	if (mrc || v.mv_size != len || memcmp(v.mv_data, block, len) != 0) {
		unsigned put = mrc ? MDB_APPEND : 0;
		k = mval(hk, 8);
		v = mval(block, len);
		if ((mrc = mdb_put(txn, l->dbi[DB_BLOCKS], &k, &v, put)))
			goto fail;
	}
	k = mval(hk, 8);
	v = mval(cert, cert_len);
	if ((mrc = mdb_put(txn, l->dbi[DB_CERTS], &k, &v, MDB_APPEND)))
		goto fail;
	for (size_t i = 0; i < pb.n; i++) {
		tr_be64_put(loc, pb.hdr->height);
		tr_be32_put(loc + 8, (uint32_t)i);
		if ((mrc = ldg__hashed_put(l, txn, DB_EVENTS, pb.ids[i], TR_HASH_LEN, loc, sizeof(loc),
					   MDB_NOOVERWRITE)))
			goto fail;
	}
	rc = ldg__index_block(l, txn, &pb, err, errlen);
	if (rc) {
		mdb_txn_abort(txn);
		if (rc == TR_EFULL) /* the block itself may be stored already */
			snprintf(err, errlen,
				 "ledger '%s' is full (LMDB map size reached): block %llu not written, store unchanged",
				 l->dir, (unsigned long long)pb.hdr->height);
		ldg__parsed_block_fini(&pb);
		return rc;
	}
	if ((mrc = ldg__hashed_settle(l, txn)))
		goto fail;
	tr_be64_put(hv, pb.hdr->height);
	k = mval("height", 6);
	v = mval(hv, 8);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	k = mval("head", 4);
	v = mval(pb.hash, TR_HASH_LEN);
	if ((mrc = mdb_put(txn, l->dbi[DB_META], &k, &v, 0)))
		goto fail;
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc)
		goto fail;
	free(l->appended_ids); /* kept for ldg_appended_ids */
	l->appended_ids = pb.ids;
	l->appended_n = pb.n;
	l->appended_height = pb.hdr->height;
	pb.ids = NULL;
	ldg__parsed_block_fini(&pb);
	return TR_OK;
fail:
	if (txn)
		mdb_txn_abort(txn);
	if (mrc == MDB_MAP_FULL)
		snprintf(err, errlen,
			 "ledger '%s' is full (LMDB map size reached): block %llu not written, store unchanged",
			 l->dir, (unsigned long long)pb.hdr->height);
	else
		snprintf(err, errlen, "cannot write block %llu to '%s': %s",
			 (unsigned long long)pb.hdr->height, l->dir, mdb_strerror(mrc));
	ldg__parsed_block_fini(&pb);
	return map_rc(mrc);
}

const uint8_t (*ldg_appended_ids(const ldg *l, uint64_t height, size_t *n))[TR_HASH_LEN]
{
	if (!l->appended_ids || l->appended_height != height)
		return NULL;
	*n = l->appended_n;
	return (const uint8_t(*)[TR_HASH_LEN])l->appended_ids;
}

/* A malloc'd copy of v. */
static int copy_val(const MDB_val *v, uint8_t **out, size_t *len)
{
	*out = malloc(v->mv_size ? v->mv_size : 1);
	if (!*out)
		return TR_ENOMEM;
	memcpy(*out, v->mv_data, v->mv_size);
	*len = v->mv_size;
	return TR_OK;
}

/* Copy the value at key in dbi out of txn (malloc'd). */
static int get_copy(ldg *l, MDB_txn *txn, int db, const void *key, size_t klen, uint8_t **out,
		    size_t *len)
{
	MDB_val k = mval(key, klen), v;
	int mrc = mdb_get(txn, l->dbi[db], &k, &v);
	if (mrc)
		return map_rc(mrc);
	return copy_val(&v, out, len);
}

/* The committed block at height, borrowed from txn's map (valid until txn
 * ends): no copy of a block that may hold many thousand records. Every
 * read of the chain goes through here: a block above the head was
 * prepared, not committed (ldg_state_put), and is not found. */
static int block_view(ldg *l, MDB_txn *txn, uint64_t height, MDB_val *v)
{
	uint8_t hk[8];
	uint64_t h;
	MDB_val k;
	int mrc, rc = ldg__head_height(l, txn, &h);
	if (rc)
		return rc;
	if (height > h)
		return TR_ENOTFOUND;
	tr_be64_put(hk, height);
	k = mval(hk, 8);
	mrc = mdb_get(txn, l->dbi[DB_BLOCKS], &k, v);
	return mrc ? map_rc(mrc) : TR_OK;
}


int ldg_block_get(ldg *l, uint64_t height, uint8_t **block, size_t *len, uint8_t **cert,
		  size_t *cert_len)
{
	MDB_txn *txn;
	MDB_val v;
	uint8_t hk[8];
	uint8_t *b = NULL, *c = NULL;
	size_t bl = 0, cl = 0;
	int rc;

	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	tr_be64_put(hk, height);
	rc = block_view(l, txn, height, &v);
	if (rc == TR_OK)
		rc = copy_val(&v, &b, &bl);
	if (rc == TR_OK && cert)
		rc = get_copy(l, txn, DB_CERTS, hk, 8, &c, &cl);
	mdb_txn_abort(txn);
	if (rc) {
		free(b);
		return rc;
	}
	*block = b;
	*len = bl;
	if (cert) {
		*cert = c;
		*cert_len = cl;
	}
	return TR_OK;
}

static int event_find_txn(ldg *l, MDB_txn *txn, const uint8_t id[TR_HASH_LEN],
			  uint64_t *height, uint32_t *position)
{
	MDB_val v;
	int mrc = ldg__hashed_get(l, txn, DB_EVENTS, id, TR_HASH_LEN, &v);
	if (mrc)
		return map_rc(mrc);
	if (v.mv_size != 12)
		return TR_EVERIFY;
	*height = tr_be64_get(v.mv_data);
	*position = tr_be32_get((const uint8_t *)v.mv_data + 8);
	return TR_OK;
}

int ldg_event_find(ldg *l, const uint8_t id[TR_HASH_LEN], uint64_t *height, uint32_t *position)
{
	MDB_txn *txn;
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = event_find_txn(l, txn, id, height, position);
	mdb_txn_abort(txn);
	return rc;
}


/* Reads walk the block's wire format to the one record (or the header)
 * asked for: `get`, `export` and proofs ask for events one at a time, and
 * copying and unpacking each event's whole block made them take time
 * proportional to the events times the block size. */
int ldg_record_get(ldg *l, const uint8_t id[TR_HASH_LEN], uint8_t **rec, size_t *len,
		   uint64_t *height, uint32_t *position)
{
	MDB_txn *txn;
	MDB_val v;
	const uint8_t *p, *end, *r = NULL;
	size_t rl = 0;
	uint64_t h;
	uint32_t pos;
	int rc;

	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = event_find_txn(l, txn, id, &h, &pos);
	if (rc == TR_OK && (rc = block_view(l, txn, h, &v)) == TR_ENOTFOUND)
		rc = TR_EVERIFY; /* indexed, but its block is missing */
	if (rc == TR_OK) {
		p = v.mv_data;
		end = p + v.mv_size;
		for (uint32_t i = 0; rc == TR_OK && i <= pos; i++)
			rc = ldg__record_next(&p, end, &r, &rl);
		if (rc)
			rc = TR_EVERIFY; /* fewer records than the index says */
	}
	if (rc == TR_OK && !(*rec = malloc(rl ? rl : 1)))
		rc = TR_ENOMEM;
	if (rc == TR_OK) {
		memcpy(*rec, r, rl);
		*len = rl;
		*height = h;
		*position = pos;
	}
	mdb_txn_abort(txn);
	return rc;
}

int ldg_block_hash(ldg *l, uint64_t height, uint8_t hash[TR_HASH_LEN])
{
	MDB_txn *txn;
	MDB_val v;
	const uint8_t *hdr;
	size_t hl;
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = block_view(l, txn, height, &v);
	if (rc == TR_OK)
		rc = ldg__block_header(v.mv_data, v.mv_size, &hdr, &hl);
	if (rc == TR_OK)
		tr_sha256(hash, hdr, hl);
	mdb_txn_abort(txn);
	return rc;
}

/* The database db holds exactly want entries: TR_EVERIFY otherwise, err
 * "<n> <what> for <want> <of>". */
static int entries_match(ldg *l, MDB_txn *txn, int db, uint64_t want, const char *what,
			 const char *of, char *err, size_t errlen)
{
	MDB_stat st, rs = {0};
	if (mdb_stat(txn, l->dbi[db], &st) != 0 ||
	    (leveled(db) && mdb_stat(txn, l->dbi[recent_of(db)], &rs) != 0))
		return TR_EDB;
	st.ms_entries += rs.ms_entries; /* a key lives in one level */
	if (st.ms_entries == want)
		return TR_OK;
	snprintf(err, errlen, "%zu %s for %llu %s", (size_t)st.ms_entries, what,
		 (unsigned long long)want, of);
	return TR_EVERIFY;
}

/* ==== verify --full: the chain replayed into a scratch ledger ==== */

/* A fresh ledger under $TMPDIR that the blocks are appended to again, so
 * that the EPCIS rules run again and the indexes are rebuilt from the
 * events alone; then every index of the home must equal the rebuilt one,
 * entry for entry (an entry no event implies shows up too). */
typedef struct {
	ldg *l;
	char dir[512];
} scratch;

static int scratch_open(ldg *l, scratch *s, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	int n;
	memset(s, 0, sizeof(*s));
	n = snprintf(s->dir, sizeof(s->dir), "%s/trellis-verify.XXXXXX",
		     tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(s->dir) || !mkdtemp(s->dir)) {
		snprintf(err, errlen, "cannot make a scratch folder under '%s' to rebuild the indexes: %s",
			 tmp && *tmp ? tmp : "/tmp", strerror(errno));
		s->dir[0] = '\0';
		return TR_EIO;
	}
	/* the home's map size and a quarter more: the same blocks and
	 * indexes fit (a home opened with a small map, as under valgrind,
	 * gets a small scratch map too) */
	{
		MDB_envinfo info;
		ldg_options o = {0};
		int rc;
		if (mdb_env_info(l->env, &info) == 0)
			o.map_size = info.me_mapsize + info.me_mapsize / 4;
		rc = open_flags(s->dir, l->c, &o, MDB_NOSYNC, &s->l, err, errlen);
		return rc == TR_OK || rc == TR_ENOMEM ? rc : TR_EIO;
	}
}

static void scratch_close(scratch *s)
{
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	char path[600];
	ldg_close(s->l);
	s->l = NULL;
	if (!s->dir[0])
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(s->dir);
	s->dir[0] = '\0';
}

/* An index key for a message: text when printable, hex otherwise. */
static const char *show_bytes(char *out, size_t cap, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	bool text = v->mv_size > 0;
	for (size_t i = 0; i < v->mv_size && text; i++)
		text = p[i] >= 0x20 && p[i] < 0x7f;
	if (text)
		snprintf(out, cap, "'%.*s'", (int)(v->mv_size > 200 ? 200 : v->mv_size),
			 (const char *)p);
	else if (cap >= 2 * 32 + 1)
		tr_hex(out, p, v->mv_size > 32 ? 32 : v->mv_size);
	else if (cap)
		out[0] = '\0';
	return out;
}

/* LMDB's default order (memcmp, the shorter first on a tie). */
static int val_cmp(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;
	if (c)
		return c;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* The indexes the blocks imply, compared entry by entry with the home's. */
static const int rebuilt_dbs[] = {DB_EVENTS, DB_EHASH, DB_IDS, DB_EDGES, DB_LOCATIONS, DB_ESUM};

/* An index in key order; for events and ehash, both levels merged (which
 * level holds a key depends on when the recent one last moved, and is
 * not compared). */
typedef struct {
	MDB_cursor *c[2];
	MDB_val k[2], v[2];
	int rc[2];
	int at; /* the level of the current entry */
} index_cursor;

static void icur_pick(index_cursor *ic)
{
	ic->at = ic->rc[0] == 0 && (ic->rc[1] || val_cmp(&ic->k[0], &ic->k[1]) <= 0) ? 0 : 1;
}

static int icur_open(ldg *l, MDB_txn *txn, int db, index_cursor *ic)
{
	memset(ic, 0, sizeof(*ic));
	ic->rc[1] = MDB_NOTFOUND;
	if (mdb_cursor_open(txn, l->dbi[db], &ic->c[0]))
		return TR_EDB;
	if (leveled(db) && mdb_cursor_open(txn, l->dbi[recent_of(db)], &ic->c[1])) {
		mdb_cursor_close(ic->c[0]);
		return TR_EDB;
	}
	for (int i = 0; i < 2; i++)
		if (ic->c[i])
			ic->rc[i] = mdb_cursor_get(ic->c[i], &ic->k[i], &ic->v[i], MDB_FIRST);
	icur_pick(ic);
	return TR_OK;
}

/* 0 with the current entry, MDB_NOTFOUND past the last, else an error */
static int icur_get(const index_cursor *ic, MDB_val *k, MDB_val *v)
{
	for (int i = 0; i < 2; i++)
		if (ic->rc[i] && ic->rc[i] != MDB_NOTFOUND)
			return ic->rc[i];
	if (ic->rc[ic->at])
		return ic->rc[ic->at];
	*k = ic->k[ic->at];
	*v = ic->v[ic->at];
	return 0;
}

static void icur_next(index_cursor *ic)
{
	int i = ic->at;
	ic->rc[i] = mdb_cursor_get(ic->c[i], &ic->k[i], &ic->v[i], MDB_NEXT);
	icur_pick(ic);
}

static void icur_close(index_cursor *ic)
{
	for (int i = 0; i < 2; i++)
		if (ic->c[i])
			mdb_cursor_close(ic->c[i]);
}

static int index_compare(ldg *l, MDB_txn *txn, ldg *r, char *err, size_t errlen)
{
	MDB_txn *rt;
	int rc = TR_OK;
	char shown[256];
	if (mdb_txn_begin(r->env, NULL, MDB_RDONLY, &rt))
		return TR_EDB;
	for (size_t d = 0; d < sizeof(rebuilt_dbs) / sizeof(rebuilt_dbs[0]) && !rc; d++) {
		int db = rebuilt_dbs[d];
		index_cursor a, b;
		MDB_val ak = {0, NULL}, av = {0, NULL}, bk = {0, NULL}, bv = {0, NULL};
		int ma, mb;
		if (icur_open(l, txn, db, &a)) {
			rc = TR_EDB;
			break;
		}
		if (icur_open(r, rt, db, &b)) {
			icur_close(&a);
			rc = TR_EDB;
			break;
		}
		ma = icur_get(&a, &ak, &av);
		mb = icur_get(&b, &bk, &bv);
		while (ma == 0 && mb == 0) {
			int c = val_cmp(&ak, &bk);
			if (c == 0)
				c = val_cmp(&av, &bv);
			if (c)
				break;
			icur_next(&a);
			icur_next(&b);
			ma = icur_get(&a, &ak, &av);
			mb = icur_get(&b, &bk, &bv);
		}
		if ((ma && ma != MDB_NOTFOUND) || (mb && mb != MDB_NOTFOUND)) {
			rc = TR_EDB;
		} else if (ma == 0 && (mb != 0 || val_cmp(&ak, &bk) < 0 ||
				       (val_cmp(&ak, &bk) == 0 && val_cmp(&av, &bv) < 0))) {
			snprintf(err, errlen,
				 "the %s index has an entry no stored event implies (key %s)",
				 db_names[db], show_bytes(shown, sizeof(shown), &ak));
			rc = TR_EVERIFY;
		} else if (mb == 0) {
			snprintf(err, errlen,
				 "the %s index lacks an entry the stored events imply (key %s)",
				 db_names[db], show_bytes(shown, sizeof(shown), &bk));
			rc = TR_EVERIFY;
		}
		icur_close(&a);
		icur_close(&b);
	}
	mdb_txn_abort(rt);
	return rc;
}

int ldg_verify(ldg *l, bool full, uint64_t *bad_height, uint64_t *checked, char *err,
	       size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *bc = NULL, *cc = NULL;
	MDB_val k, v, ck, cv;
	uint64_t head_h, h = 0, nrecords = 0, nsummaries = 0;
	uint8_t head[TR_HASH_LEN], prev[TR_HASH_LEN];
	char why[384];
	scratch sc = {0};
	int rc, mrc;

	*checked = 0;
	*bad_height = 0;
	if (full && (rc = scratch_open(l, &sc, err, errlen)) != TR_OK) {
		scratch_close(&sc);
		return rc;
	}
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) {
		scratch_close(&sc);
		return TR_EDB;
	}
	rc = head_txn(l, txn, &head_h, head);
	if (rc) {
		snprintf(err, errlen, "cannot read the head of '%s'", l->dir);
		*bad_height = 0;
		goto out;
	}
	memcpy(prev, l->c->chain_id, TR_HASH_LEN);
	if (mdb_cursor_open(txn, l->dbi[DB_BLOCKS], &bc) ||
	    mdb_cursor_open(txn, l->dbi[DB_CERTS], &cc)) {
		rc = TR_EDB;
		goto out;
	}
	for (mrc = mdb_cursor_get(bc, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(bc, &k, &v, MDB_NEXT)) {
		ldg_parsed_block pb;
		if (h == head_h && k.mv_size == 8 && tr_be64_get(k.mv_data) == head_h + 1) {
			/* the block this node prepared, not committed (ldg_state_put):
			 * not part of the chain, and the last entry */
			mrc = mdb_cursor_get(bc, &k, &v, MDB_NEXT);
			if (mrc == MDB_NOTFOUND)
				break;
			if (mrc) {
				rc = TR_EDB;
				goto out;
			}
		}
		h++;
		*bad_height = h;
		if (k.mv_size != 8 || tr_be64_get(k.mv_data) != h) {
			snprintf(err, errlen, "block %llu: missing or out of order in the store",
				 (unsigned long long)h);
			rc = TR_EVERIFY;
			goto out;
		}
		rc = ldg__parse_block(l->c, NULL, v.mv_data, v.mv_size, h, prev,
				      full ? 0 : LDG_RECORDS_VERIFIED, &pb, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "block %llu: %s", (unsigned long long)h, why);
			rc = rc == TR_EBADSIG ? TR_EBADSIG : TR_EVERIFY;
			goto out;
		}
		ck = k;
		mrc = mdb_get(txn, l->dbi[DB_CERTS], &ck, &cv);
		if (mrc) {
			snprintf(err, errlen, "block %llu: no commit certificate", (unsigned long long)h);
			ldg__parsed_block_fini(&pb);
			rc = TR_EVERIFY;
			goto out;
		}
		rc = ldg_cert_check(l->c, cv.mv_data, cv.mv_size, h, pb.hash, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "block %llu: %s", (unsigned long long)h, why);
			ldg__parsed_block_fini(&pb);
			rc = TR_EVERIFY;
			goto out;
		}
		for (size_t i = 0; i < pb.n; i++) {
			uint64_t eh;
			uint32_t ep;
			if (event_find_txn(l, txn, pb.ids[i], &eh, &ep) != TR_OK || eh != h ||
			    ep != i) {
				snprintf(err, errlen,
					 "block %llu: record %zu: events index disagrees (missing or duplicate event id)",
					 (unsigned long long)h, i);
				ldg__parsed_block_fini(&pb);
				rc = TR_EVERIFY;
				goto out;
			}
		}
		{
			size_t nsum = 0;
			rc = ldg__index_verify(l, txn, &pb, &nsum, why, sizeof(why));
			if (rc) {
				snprintf(err, errlen, "block %llu: %s", (unsigned long long)h, why);
				ldg__parsed_block_fini(&pb);
				rc = TR_EVERIFY;
				goto out;
			}
			nsummaries += nsum;
		}
		/* the same block again on the scratch ledger: the EPCIS rules
		 * (duplicates, retractions, location ownership) run again */
		if (sc.l) {
			rc = ldg_append(sc.l, v.mv_data, v.mv_size, cv.mv_data, cv.mv_size,
					LDG_RECORDS_VERIFIED, why, sizeof(why));
			if (rc == TR_EDB || rc == TR_EFULL || rc == TR_ENOMEM || rc == TR_EIO) {
				snprintf(err, errlen, "cannot rebuild the indexes in '%s': %s", sc.dir,
					 why);
				rc = rc == TR_ENOMEM ? rc : TR_EIO;
				ldg__parsed_block_fini(&pb);
				goto out;
			}
			if (rc) {
				snprintf(err, errlen, "block %llu: %s", (unsigned long long)h, why);
				ldg__parsed_block_fini(&pb);
				rc = TR_EVERIFY;
				goto out;
			}
		}
		memcpy(prev, pb.hash, TR_HASH_LEN);
		nrecords += pb.n;
		ldg__parsed_block_fini(&pb);
		*checked = h;
	}
	if (mrc != MDB_NOTFOUND) {
		rc = TR_EDB;
		goto out;
	}
	if (h != head_h || memcmp(prev, head, TR_HASH_LEN) != 0) {
		*bad_height = h + 1 > head_h ? head_h : h + 1;
		snprintf(err, errlen, "stored head (height %llu) does not match the last block (%llu)",
			 (unsigned long long)head_h, (unsigned long long)h);
		rc = TR_EVERIFY;
		goto out;
	}
	/* every block has its certificate, every record its events entry and
	 * every EPCIS event its esum entry (checked above); no entry without
	 * one */
	*bad_height = h;
	if ((rc = entries_match(l, txn, DB_CERTS, h, "certificates", "blocks", err, errlen)) ||
	    (rc = entries_match(l, txn, DB_EVENTS, nrecords, "events index entries",
				"stored records", err, errlen)) ||
	    (rc = entries_match(l, txn, DB_ESUM, nsummaries, "esum index entries", "EPCIS events",
				err, errlen)))
		goto out;
	rc = sc.l ? index_compare(l, txn, sc.l, err, errlen) : TR_OK;
	if (rc == TR_EDB) {
		snprintf(err, errlen, "cannot compare the indexes with those rebuilt in '%s'", sc.dir);
		rc = TR_EIO;
	}
out:
	if (bc)
		mdb_cursor_close(bc);
	if (cc)
		mdb_cursor_close(cc);
	mdb_txn_abort(txn);
	scratch_close(&sc);
	return rc;
}

/* PBFT's persisted state: one blob, replaced on each put, durable. */
#define STATE_KEY "pbft-state"

int ldg_state_put(ldg *l, const uint8_t *blob, size_t len, uint64_t height, const uint8_t *block,
		  size_t block_len)
{
	MDB_txn *txn;
	MDB_val k = mval(STATE_KEY, strlen(STATE_KEY)), v = mval(blob, len);
	uint8_t hk[8];
	uint64_t h;
	int mrc, rc;
	if (l->readonly)
		return TR_ESTATE;
	if ((mrc = mdb_txn_begin(l->env, NULL, 0, &txn)))
		return map_rc(mrc);
	if ((mrc = mdb_put(txn, l->dbi[DB_VOTES], &k, &v, 0))) {
		mdb_txn_abort(txn);
		return map_rc(mrc);
	}
	if (block) {
		if ((rc = ldg__head_height(l, txn, &h))) {
			mdb_txn_abort(txn);
			return rc;
		}
		if (height == h + 1) {
			tr_be64_put(hk, height);
			k = mval(hk, 8);
			v = mval(block, block_len);
			if ((mrc = mdb_put(txn, l->dbi[DB_BLOCKS], &k, &v, 0))) {
				mdb_txn_abort(txn);
				return map_rc(mrc);
			}
		} else {
			TR_LOG(TR_LOG_WARN,
			       "msg=\"prepared block not stored: not the next block\" ledger=\"%s\" height=%llu head=%llu",
			       l->dir, (unsigned long long)height, (unsigned long long)h);
		}
	}
	return map_rc(mdb_txn_commit(txn));
}

int ldg_prepared_block(ldg *l, uint8_t **block, size_t *len)
{
	MDB_txn *txn;
	uint8_t hk[8];
	uint64_t h;
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = ldg__head_height(l, txn, &h);
	if (!rc) {
		tr_be64_put(hk, h + 1);
		rc = get_copy(l, txn, DB_BLOCKS, hk, 8, block, len);
	}
	mdb_txn_abort(txn);
	return rc;
}

int ldg_state_get(ldg *l, uint8_t **blob, size_t *len)
{
	MDB_txn *txn;
	int rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = get_copy(l, txn, DB_VOTES, STATE_KEY, strlen(STATE_KEY), blob, len);
	mdb_txn_abort(txn);
	return rc;
}
