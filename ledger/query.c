/*
 * query.c: history, trace up / down and the event walk of query.h, read
 * from the EPCIS indexes (index_internal.h) in one LMDB read transaction.
 *
 * History and traces read each event's summary from the esum database
 * (index_internal.h): one lookup per event, no Record or Event unpacked,
 * no block read. Only the walk for exports unpacks Events, one block's
 * records in one pass. Every loop over stored data has a named maximum
 * from query.h.
 */
#include "ledger/query.h"

#include "ledger/epcis_id.h"
#include "ledger/epcis_map.h"
#include "ledger/index_internal.h"

#include <string.h>

static MDB_val mval(const void *p, size_t n)
{
	MDB_val v = {n, (void *)(uintptr_t)p};
	return v;
}

static int map_rc(int mrc)
{
	if (mrc == 0)
		return TR_OK;
	if (mrc == MDB_NOTFOUND)
		return TR_ENOTFOUND;
	return TR_EDB;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* The index key of a user's identifier. */
static int user_key(const char *id, char out[LDG_KEY_BUF])
{
	char k[EP_ID_MAX + 64];
	int rc = ep_id_key(id, k, sizeof(k));
	if (rc)
		return rc;
	ldg__idx_key(k, out);
	return TR_OK;
}

/* ==== One event ==== */

/* The summary of the event at (h, pos), which an index entry names: one
 * esum lookup, nothing unpacked. TR_EVERIFY when there is none. */
static int event_at(ldg *l, MDB_txn *txn, uint64_t h, uint32_t pos, ldg_event_info *info)
{
	int rc = ldg__summary_get(l, txn, h, pos, info);
	return rc == TR_ENOTFOUND ? TR_EVERIFY : rc;
}

/* ==== Edges ==== */

/* One edge value read from the edges database. */
typedef struct {
	uint8_t dir, kind;
	uint64_t h;
	uint32_t p;
	char other[LDG_KEY_BUF];
} edge;

/* The edges of key in direction dir whose kind keep() accepts, in stored
 * order; at most LDG_EDGES_SCAN_MAX values read (*cut set past it).
 * *out malloc'd (NULL when *n is 0), written on success. */
static int read_edges(ldg *l, MDB_txn *txn, const char *key, uint8_t dir,
		      bool (*keep)(uint8_t kind), edge **out, size_t *n, bool *cut)
{
	MDB_cursor *c;
	MDB_val k = mval(key, strlen(key)), v;
	edge *e = NULL;
	size_t ne = 0, cap = 0, scanned = 0;
	int mrc, rc = TR_OK;
	if (mdb_cursor_open(txn, l->dbi[DB_EDGES], &c))
		return TR_EDB;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		const uint8_t *d = v.mv_data;
		size_t ol;
		if (++scanned > LDG_EDGES_SCAN_MAX) {
			*cut = true;
			break;
		}
		if (v.mv_size <= LDG_EDGE_HDR || v.mv_size - LDG_EDGE_HDR > LDG_KEY_RAW_MAX) {
			rc = TR_EVERIFY;
			break;
		}
		if (d[0] != dir || !keep(d[1]))
			continue;
		if (ne == cap) {
			size_t nc = cap ? cap * 2 : 8;
			edge *ee = realloc(e, nc * sizeof(*ee));
			if (!ee) {
				rc = TR_ENOMEM;
				break;
			}
			e = ee;
			cap = nc;
		}
		ol = v.mv_size - LDG_EDGE_HDR;
		e[ne].dir = d[0];
		e[ne].kind = d[1];
		e[ne].h = tr_be64_get(d + 2);
		e[ne].p = tr_be32_get(d + 10);
		memcpy(e[ne].other, d + LDG_EDGE_HDR, ol);
		e[ne].other[ol] = '\0';
		ne++;
	}
	mdb_cursor_close(c);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	*n = ne;
	return TR_OK;
}

/* ==== History ==== */

typedef struct {
	uint64_t h;
	uint32_t pos;
	size_t via; /* index into hist.vias, or NO_VIA */
} ref;

#define NO_VIA SIZE_MAX

typedef struct {
	ref *refs;
	size_t n, cap;
	bool cut;
	char (*vias)[LDG_KEY_BUF];
	size_t nvias;
} hist;

static int add_ref(hist *hs, uint64_t h, uint32_t pos, size_t via)
{
	if (hs->n >= LDG_HISTORY_MAX) {
		hs->cut = true;
		return TR_OK;
	}
	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? hs->cap * 2 : 64;
		ref *r = realloc(hs->refs, cap * sizeof(*r));
		if (!r)
			return TR_ENOMEM;
		hs->refs = r;
		hs->cap = cap;
	}
	hs->refs[hs->n++] = (ref){h, pos, via};
	return TR_OK;
}

static int pos_cmp(uint64_t h1, uint32_t p1, uint64_t h2, uint32_t p2)
{
	if (h1 != h2)
		return h1 < h2 ? -1 : 1;
	return p1 < p2 ? -1 : p1 > p2 ? 1 : 0;
}

/* Events naming key strictly between lo and hi (lo_h = 0: from the start;
 * hi_h = UINT64_MAX: to the end). */
static int collect(ldg *l, MDB_txn *txn, const char *key, uint64_t lo_h, uint32_t lo_p,
		   uint64_t hi_h, uint32_t hi_p, size_t via, hist *hs)
{
	MDB_cursor *c;
	MDB_val k = mval(key, strlen(key)), v;
	size_t scanned = 0;
	int mrc, rc = TR_OK;
	if (mdb_cursor_open(txn, l->dbi[DB_IDS], &c))
		return TR_EDB;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); mrc == 0 && rc == TR_OK;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		uint64_t h;
		uint32_t p;
		if (v.mv_size != LDG_POS_LEN + 1) {
			rc = TR_EVERIFY;
			break;
		}
		if (++scanned > LDG_HISTORY_MAX) {
			hs->cut = true;
			break;
		}
		h = tr_be64_get(v.mv_data);
		p = tr_be32_get((const uint8_t *)v.mv_data + 8);
		if (lo_h && pos_cmp(h, p, lo_h, lo_p) <= 0)
			continue;
		if (pos_cmp(h, p, hi_h, hi_p) >= 0)
			break;
		rc = add_ref(hs, h, p, via);
	}
	if (rc == TR_OK && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = TR_EDB;
	mdb_cursor_close(c);
	return rc;
}

static bool containment_kind(uint8_t kind)
{
	return kind == LDG_EDGE_CONTAIN || kind == LDG_EDGE_REMOVE;
}

/* Containers key was put in (aggregation ADD/OBSERVE), with the span
 * until a DELETE of the same pair: their events within the span. */
static int containers(ldg *l, MDB_txn *txn, const char *key, int depth, bool include_retracted,
		      hist *hs)
{
	edge *e = NULL;
	size_t ne = 0;
	int rc;

	if (depth >= LDG_CONTAIN_DEPTH_MAX)
		return TR_OK;
	rc = read_edges(l, txn, key, LDG_EDGE_DOWN, containment_kind, &e, &ne, &hs->cut);
	if (rc)
		return rc;
	for (size_t i = 0; rc == TR_OK && i < ne; i++) {
		uint64_t end_h = UINT64_MAX;
		uint32_t end_p = UINT32_MAX;
		if (e[i].kind == LDG_EDGE_REMOVE)
			continue;
		if (!include_retracted) {
			/* a retracted ADD put nothing in the container */
			ldg_event_info add;
			rc = event_at(l, txn, e[i].h, e[i].p, &add);
			if (rc)
				break;
			if (add.retracted)
				continue;
		}
		for (size_t j = 0; j < ne; j++)
			if (e[j].kind == LDG_EDGE_REMOVE && strcmp(e[j].other, e[i].other) == 0 &&
			    pos_cmp(e[j].h, e[j].p, e[i].h, e[i].p) > 0 &&
			    pos_cmp(e[j].h, e[j].p, end_h, end_p) < 0) {
				end_h = e[j].h;
				end_p = e[j].p;
			}
		if (hs->nvias >= LDG_HISTORY_MAX) {
			hs->cut = true;
			break;
		}
		{
			char(*nv)[LDG_KEY_BUF] = realloc(hs->vias, (hs->nvias + 1) * sizeof(*nv));
			if (!nv) {
				rc = TR_ENOMEM;
				break;
			}
			hs->vias = nv;
		}
		memcpy(hs->vias[hs->nvias], e[i].other, LDG_KEY_BUF);
		rc = collect(l, txn, e[i].other, e[i].h, e[i].p, end_h, end_p, hs->nvias++, hs);
		if (rc == TR_OK)
			rc = containers(l, txn, e[i].other, depth + 1, include_retracted, hs);
	}
	free(e);
	return rc;
}

static int ref_cmp(const void *a, const void *b)
{
	const ref *x = a, *y = b;
	int c = pos_cmp(x->h, x->pos, y->h, y->pos);
	if (c)
		return c;
	/* direct naming first */
	return (x->via != NO_VIA) - (y->via != NO_VIA);
}

int ldg_history(ldg *l, const char *id, bool include_retracted, ldg_event_info **items,
		size_t *n, bool *cut)
{
	char key[LDG_KEY_BUF];
	hist hs = {0};
	MDB_txn *txn;
	ldg_event_info *out = NULL;
	size_t k = 0;
	int rc = user_key(id, key);
	if (rc)
		return rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	rc = collect(l, txn, key, 0, 0, UINT64_MAX, UINT32_MAX, NO_VIA, &hs);
	if (rc == TR_OK)
		rc = containers(l, txn, key, 0, include_retracted, &hs);
	if (rc)
		goto out;
	if (hs.n)
		qsort(hs.refs, hs.n, sizeof(*hs.refs), ref_cmp);
	out = calloc(hs.n ? hs.n : 1, sizeof(*out));
	if (!out) {
		rc = TR_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < hs.n; i++) {
		if (i && hs.refs[i].h == hs.refs[i - 1].h && hs.refs[i].pos == hs.refs[i - 1].pos)
			continue;
		rc = event_at(l, txn, hs.refs[i].h, hs.refs[i].pos, &out[k]);
		if (rc)
			goto out;
		if (out[k].retracted && !include_retracted)
			continue;
		copy_text(out[k].via, sizeof(out[k].via),
			  hs.refs[i].via == NO_VIA ? "" : hs.vias[hs.refs[i].via]);
		k++;
	}
	rc = TR_OK;
out:
	mdb_txn_abort(txn);
	if (rc == TR_OK) {
		*items = out;
		*n = k;
		*cut = hs.cut;
	} else {
		free(out);
	}
	free(hs.refs);
	free(hs.vias);
	return rc;
}

/* ==== Traceability lot code source ==== */

int ldg_lot_source(ldg *l, const char *id, char where[LDG_TEXT_MAX])
{
	char key[LDG_KEY_BUF];
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t scanned = 0;
	int mrc, rc = user_key(id, key);
	if (rc)
		return rc;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	if (mdb_cursor_open(txn, l->dbi[DB_IDS], &c)) {
		mdb_txn_abort(txn);
		return TR_EDB;
	}
	k = mval(key, strlen(key));
	rc = TR_ENOTFOUND;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); mrc == 0 && scanned < LDG_HISTORY_MAX;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP), scanned++) {
		const uint8_t *d = v.mv_data;
		ldg_event_info info;
		uint8_t role;
		bool creates;
		int erc;
		if (v.mv_size != LDG_POS_LEN + 1) {
			rc = TR_EVERIFY;
			break;
		}
		role = d[LDG_POS_LEN];
		if (role != LDG_ROLE_OUTPUT && role != LDG_ROLE_CLASS && role != LDG_ROLE_EPC &&
		    role != LDG_ROLE_LOT)
			continue;
		erc = event_at(l, txn, tr_be64_get(d), tr_be32_get(d + 8), &info);
		if (erc) {
			rc = erc;
			break;
		}
		creates = role == LDG_ROLE_OUTPUT
				  ? strcmp(info.type, "TransformationEvent") == 0
				  : strcmp(info.type, "ObjectEvent") == 0 && strcmp(info.action, "ADD") == 0;
		if (creates && !info.retracted && !info.declaration) {
			snprintf(where, LDG_TEXT_MAX, "%s", info.where);
			rc = TR_OK;
			break;
		}
	}
	if (rc == TR_ENOTFOUND && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = TR_EDB;
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

/* ==== Trace ==== */

/* A visited set of keys: open addressing over FNV-1a, grown by doubling. */
typedef struct {
	char **keys;
	size_t *node;
	size_t cap, n;
} visited;

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static bool visited_find(const visited *vs, const char *key, size_t *node)
{
	if (!vs->cap)
		return false;
	for (size_t i = fnv(key) & (vs->cap - 1), probes = 0; probes < vs->cap;
	     i = (i + 1) & (vs->cap - 1), probes++) {
		if (!vs->keys[i])
			return false;
		if (strcmp(vs->keys[i], key) == 0) {
			*node = vs->node[i];
			return true;
		}
	}
	return false;
}

static int visited_add(visited *vs, const char *key, size_t node)
{
	if ((vs->n + 1) * 2 > vs->cap) {
		visited nv = {0};
		nv.cap = vs->cap ? vs->cap * 2 : 64;
		nv.keys = calloc(nv.cap, sizeof(*nv.keys));
		nv.node = calloc(nv.cap, sizeof(*nv.node));
		if (!nv.keys || !nv.node) {
			free(nv.keys);
			free(nv.node);
			return TR_ENOMEM;
		}
		for (size_t i = 0; i < vs->cap; i++)
			if (vs->keys[i]) {
				size_t j = fnv(vs->keys[i]) & (nv.cap - 1);
				while (nv.keys[j])
					j = (j + 1) & (nv.cap - 1);
				nv.keys[j] = vs->keys[i];
				nv.node[j] = vs->node[i];
			}
		nv.n = vs->n;
		free(vs->keys);
		free(vs->node);
		*vs = nv;
	}
	{
		size_t j = fnv(key) & (vs->cap - 1);
		while (vs->keys[j])
			j = (j + 1) & (vs->cap - 1);
		vs->keys[j] = strdup(key);
		if (!vs->keys[j])
			return TR_ENOMEM;
		vs->node[j] = node;
		vs->n++;
	}
	return TR_OK;
}

static void visited_fini(visited *vs)
{
	for (size_t i = 0; i < vs->cap; i++)
		free(vs->keys[i]);
	free(vs->keys);
	free(vs->node);
}

typedef struct {
	ldg *l;
	MDB_txn *txn;
	ldg_trace_opts o;
	ldg_trace_node *nodes;
	size_t n, cap;
	visited vs;
	bool cut;
} tracer;

/* Edges of key in direction dir that a trace follows (not the removals),
 * at most LDG_EDGES_SCAN_MAX. *out malloc'd. */
static bool traced_kind(uint8_t kind)
{
	return kind != LDG_EDGE_REMOVE && kind != LDG_EDGE_UNASSOC;
}

static int edges_of(tracer *t, const char *key, uint8_t dir, edge **out, size_t *n)
{
	return read_edges(t->l, t->txn, key, dir, traced_kind, out, n, &t->cut);
}

static const char *relation(int dir, uint8_t kind)
{
	bool up = dir == LDG_TRACE_UP;
	switch (kind) {
	case LDG_EDGE_TRANSFORM:
		return up ? "input" : "output";
	case LDG_EDGE_CONTAIN:
		return up ? "content" : "container";
	case LDG_EDGE_ASSOC:
		return "associated";
	case LDG_EDGE_LOT:
		return up ? "lot" : "item";
	default:
		return "linked";
	}
}

/* The last event naming key that has a location, not retracted. */
static int last_location(tracer *t, const char *key, ldg_trace_node *nd)
{
	MDB_cursor *c;
	MDB_val k = mval(key, strlen(key)), v;
	size_t scanned = 0;
	int mrc, rc = TR_OK;
	if (mdb_cursor_open(t->txn, t->l->dbi[DB_IDS], &c))
		return TR_EDB;
	mrc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
	if (mrc == 0)
		mrc = mdb_cursor_get(c, &k, &v, MDB_LAST_DUP);
	for (; mrc == 0 && scanned < LDG_LAST_SCAN_MAX;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP), scanned++) {
		ldg_event_info info;
		if (v.mv_size != LDG_POS_LEN + 1) {
			rc = TR_EVERIFY;
			break;
		}
		rc = event_at(t->l, t->txn, tr_be64_get(v.mv_data),
			      tr_be32_get((const uint8_t *)v.mv_data + 8), &info);
		if (rc)
			break;
		if (info.where[0] && !info.declaration &&
		    (!info.retracted || t->o.include_retracted)) {
			nd->last = info;
			nd->has_last = true;
			break;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

static int add_node(tracer *t, const char *key, size_t parent, uint32_t depth, const char *rel,
		    const ldg_event_info *link, size_t *idx)
{
	ldg_trace_node *nd;
	if (t->n >= t->o.nodes_max) {
		t->cut = true;
		return TR_ETOOBIG;
	}
	if (t->n == t->cap) {
		/* Nodes are ~2.3 KiB: start big. Growing from a few nodes made
		 * malloc map, copy and unmap fresh pages at every doubling (25x
		 * the page faults in bench-query); untouched pages cost nothing. */
		size_t cap = t->cap ? t->cap * 2 : 1024;
		ldg_trace_node *nn;
		if (cap > t->o.nodes_max)
			cap = t->o.nodes_max;
		nn = realloc(t->nodes, cap * sizeof(*nn));
		if (!nn)
			return TR_ENOMEM;
		t->nodes = nn;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	copy_text(nd->id, sizeof(nd->id), key);
	nd->depth = depth;
	nd->parent = parent;
	nd->relation = rel;
	if (link)
		nd->link = *link;
	*idx = t->n++;
	return TR_OK;
}

static int expand(tracer *t, size_t idx, const char *key, uint32_t depth);

/* Add other as a child of node idx linked by the event at (h, p). */
static int child(tracer *t, size_t idx, const char *key, const char *other, uint8_t kind,
		 uint64_t h, uint32_t p, uint32_t depth)
{
	ldg_event_info link;
	size_t seen, ci;
	int rc;
	if (strcmp(other, key) == 0)
		return TR_OK;
	if (visited_find(&t->vs, other, &seen) && t->nodes[seen].parent == idx)
		return TR_OK; /* a sibling already: one more linking event */
	rc = event_at(t->l, t->txn, h, p, &link);
	if (rc)
		return rc;
	if (link.retracted && !t->o.include_retracted)
		return TR_OK;
	if (visited_find(&t->vs, other, &seen)) {
		rc = add_node(t, other, idx, depth + 1, relation(t->o.dir, kind), &link, &ci);
		if (rc == TR_OK)
			t->nodes[ci].repeated = true;
		return rc;
	}
	rc = add_node(t, other, idx, depth + 1, relation(t->o.dir, kind), &link, &ci);
	if (rc)
		return rc;
	rc = visited_add(&t->vs, other, ci);
	if (rc)
		return rc;
	rc = last_location(t, other, &t->nodes[ci]);
	if (rc)
		return rc;
	return expand(t, ci, other, depth + 1);
}

static int expand(tracer *t, size_t idx, const char *key, uint32_t depth)
{
	uint8_t dir = t->o.dir == LDG_TRACE_UP ? LDG_EDGE_UP : LDG_EDGE_DOWN;
	edge *e = NULL;
	size_t ne = 0;
	int rc = edges_of(t, key, dir, &e, &ne);
	if (rc)
		return rc;
	if (ne && depth >= t->o.depth) {
		t->nodes[idx].depth_cut = true;
		t->cut = true;
		free(e);
		return TR_OK;
	}
	for (size_t i = 0; rc == TR_OK && i < ne; i++) {
		if (e[i].other[0] == LDG_HUB_PREFIX[0]) {
			/* a transformation: step through the hub to its other side */
			edge *he = NULL;
			size_t nh = 0;
			rc = edges_of(t, e[i].other, dir, &he, &nh);
			for (size_t j = 0; rc == TR_OK && j < nh; j++)
				rc = child(t, idx, key, he[j].other, LDG_EDGE_TRANSFORM, he[j].h, he[j].p,
					   depth);
			free(he);
		} else {
			rc = child(t, idx, key, e[i].other, e[i].kind, e[i].h, e[i].p, depth);
		}
	}
	free(e);
	return rc;
}

int ldg_trace(ldg *l, const char *id, const ldg_trace_opts *o, ldg_trace_node **nodes,
	      size_t *n, bool *cut)
{
	char key[LDG_KEY_BUF];
	tracer t = {.l = l};
	size_t root;
	int rc;

	if (!o || (o->dir != LDG_TRACE_UP && o->dir != LDG_TRACE_DOWN) ||
	    o->depth > LDG_TRACE_DEPTH_MAX)
		return TR_EINVAL;
	rc = user_key(id, key);
	if (rc)
		return rc;
	t.o = *o;
	if (!t.o.depth)
		t.o.depth = LDG_TRACE_DEPTH_DEFAULT;
	if (!t.o.nodes_max || t.o.nodes_max > LDG_TRACE_NODES_MAX)
		t.o.nodes_max = LDG_TRACE_NODES_MAX;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t.txn))
		return TR_EDB;
	rc = add_node(&t, key, SIZE_MAX, 0, "", NULL, &root);
	if (rc == TR_OK)
		rc = visited_add(&t.vs, key, root);
	if (rc == TR_OK)
		rc = last_location(&t, key, &t.nodes[root]);
	if (rc == TR_OK)
		rc = expand(&t, root, key, 0);
	if (rc == TR_ETOOBIG && t.n) /* nodes_max reached: a cut tree */
		rc = TR_OK;
	mdb_txn_abort(t.txn);
	visited_fini(&t.vs);
	if (rc) {
		free(t.nodes);
		return rc;
	}
	*nodes = t.nodes;
	*n = t.n;
	*cut = t.cut;
	return TR_OK;
}

/* ==== Walking every event ==== */

/* The Event of one serialised record (the caller's, ep_event_free). */
static int record_event(const uint8_t *rb, size_t rl, Trellis__Event **ev)
{
	Trellis__Record *r = trellis__record__unpack(NULL, rl, rb);
	int rc;
	if (!r)
		return TR_EVERIFY;
	rc = ep_event_unpack(r->event.data, r->event.len, ev);
	trellis__record__free_unpacked(r, NULL);
	return rc ? TR_EVERIFY : TR_OK;
}

int ldg_events_each(ldg *l, int64_t from_ms, int64_t to_ms, ldg_event_fn fn, void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t head_h;
	int mrc, rc = TR_OK;
	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn))
		return TR_EDB;
	if (ldg__head_height(l, txn, &head_h) || mdb_cursor_open(txn, l->dbi[DB_BLOCKS], &c)) {
		mdb_txn_abort(txn);
		return TR_EDB;
	}
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && rc == TR_OK;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *p, *end, *rb;
		size_t rl;
		uint64_t h;
		if (k.mv_size != 8) {
			rc = TR_EVERIFY;
			break;
		}
		h = tr_be64_get(k.mv_data);
		if (h > head_h)
			break; /* prepared above the head, not committed */
		p = v.mv_data;
		end = p + v.mv_size;
		/* one pass over the block's records, in order */
		for (uint32_t pos = 0; rc == TR_OK; pos++) {
			ldg_event_info info;
			Trellis__Event *ev = NULL;
			rc = ldg__record_next(&p, end, &rb, &rl);
			if (rc == TR_ENOTFOUND) {
				rc = TR_OK;
				break;
			}
			if (rc)
				break;
			rc = ldg__summary_get(l, txn, h, pos, &info);
			if (rc == TR_ENOTFOUND) { /* a record without an EPCIS mapping */
				rc = TR_OK;
				continue;
			}
			if (rc || info.time_ms < from_ms || info.time_ms > to_ms)
				continue;
			rc = record_event(rb, rl, &ev);
			if (rc == TR_OK)
				rc = fn(ctx, ev, &info);
			ep_event_free(ev);
		}
	}
	if (rc == TR_OK && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = map_rc(mrc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}
