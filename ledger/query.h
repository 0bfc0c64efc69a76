/*
 * query.h: EPCIS queries over a ledger (history, trace up and down, a
 * walk over committed events for exports) and the EPCIS rules at submit
 * time (ldg_events_admissible). docs/epcis.md describes them.
 *
 * Queries open one LMDB read transaction each, so they work on a ledger
 * opened read-only while the node writes, from another process. Every
 * query is bounded (LDG_HISTORY_MAX, LDG_TRACE_NODES_MAX, depth, edges
 * scanned per identifier) and says when it was cut.
 *
 * Identifiers may be given in any syntax (EPC URN, GS1 Digital Link on
 * any domain, or any other URI): they are normalised with ep_id_key.
 *
 * Ownership: result arrays are malloc'd and owned by the caller (free()).
 * Outputs are written only on success.
 */
#ifndef LDG_QUERY_H
#define LDG_QUERY_H

#include "ledger/epcis_hash.h"
#include "ledger/ledger.h"
#include "proto/trellis.pb-c.h"

#define LDG_HISTORY_MAX 100000       /* events in one history */
#define LDG_CONTAIN_DEPTH_MAX 4      /* containers within containers followed by history */
#define LDG_EDGES_SCAN_MAX 100000    /* edge values read for one identifier */
#define LDG_LAST_SCAN_MAX 256        /* events scanned back for a last known location */
#define LDG_TRACE_NODES_MAX 10000    /* nodes of one trace tree */
#define LDG_TRACE_DEPTH_MAX 64
#define LDG_TRACE_DEPTH_DEFAULT 16
#define LDG_ADMISSIBLE_MAX 100000    /* records checked by one ldg_events_admissible */
#define LDG_TEXT_MAX 256             /* identifiers and locations in results (cut beyond) */

/* One committed event, summarised for people. */
typedef struct {
	uint8_t event_id[TR_HASH_LEN];
	uint64_t height;
	uint32_t position;
	int64_t time_ms;
	char type[32];
	char event_time[48];
	char action[8];
	char biz_step[64];
	char where[LDG_TEXT_MAX];        /* bizLocation key, else readPoint key, else "" */
	char signer[TR_NAME_MAX + 1];
	char event_hash[EP_HASH_STR_LEN];
	char via[LDG_TEXT_MAX];          /* history: the container it reached the id in, or "" */
	bool retracted;                  /* an error declaration retracts it */
	bool declaration;                /* it is an error declaration */
} ldg_event_info;

/*
 * Rules at submit time: run the EPCIS rules of block validation (GS1
 * event-hash duplicates against the stored chain and among recs,
 * retraction, location ownership) on serialised records whose form and
 * signature the caller already checked. err: "record I: reason".
 * Returns 0; TR_EEXIST (duplicate, or already retracted); TR_EINVAL
 * (a location owned by another partner, or a malformed record);
 * TR_ETOOBIG past LDG_ADMISSIBLE_MAX; TR_EDB; TR_ENOMEM.
 */
int ldg_events_admissible(ldg *l, const uint8_t *const *recs, const size_t *lens, size_t n,
			  char *err, size_t errlen) TR_MUST_USE;
/* The same for one record. */
int ldg_event_admissible(ldg *l, const uint8_t *rec, size_t len, char *err,
			 size_t errlen) TR_MUST_USE;

/*
 * History of an identifier: every event that names it (any role), and the
 * events of each container it was in while it was inside (aggregation ADD
 * to DELETE, containers of containers up to LDG_CONTAIN_DEPTH_MAX), in
 * chain order. Retracted events are left out unless include_retracted.
 *
 * *items (malloc'd, may be NULL when *n is 0), *n, *cut (more than
 * LDG_HISTORY_MAX) are written on success. Returns 0; TR_EINVAL for a
 * malformed EPC URN or Digital Link; TR_EDB; TR_ENOMEM; TR_EVERIFY when an
 * index entry points at nothing.
 */
int ldg_history(ldg *l, const char *id, bool include_retracted, ldg_event_info **items,
		size_t *n, bool *cut) TR_MUST_USE;

/*
 * The traceability lot code source of a lot or class (FSMA 204): the place
 * (bizLocation key, else readPoint key) of its originating event, the
 * first non-retracted event in chain order that creates it: a
 * TransformationEvent with it among its outputs, or an ObjectEvent ADD
 * (commissioning, harvesting: a quantity, an EPC, or the ILMD lot of
 * commissioned items) naming it. Reads at most LDG_HISTORY_MAX index
 * entries. where (LDG_TEXT_MAX bytes) written on success; "" when that
 * event has no place.
 * Returns 0; TR_ENOTFOUND when no event creates it; TR_EINVAL for a
 * malformed identifier; TR_EDB; TR_EVERIFY when an entry points at
 * nothing.
 */
int ldg_lot_source(ldg *l, const char *id, char where[LDG_TEXT_MAX]) TR_MUST_USE;

enum { LDG_TRACE_UP = 0, LDG_TRACE_DOWN = 1 };

typedef struct {
	int dir;                   /* LDG_TRACE_UP or LDG_TRACE_DOWN */
	uint32_t depth;            /* 1..LDG_TRACE_DEPTH_MAX; 0 = LDG_TRACE_DEPTH_DEFAULT */
	bool include_retracted;
	size_t nodes_max;          /* 0 = LDG_TRACE_NODES_MAX (also the ceiling) */
} ldg_trace_opts;

/* One node of a trace tree, in depth-first preorder. */
typedef struct {
	char id[LDG_TEXT_MAX];     /* index key of the identifier */
	uint32_t depth;            /* 0 for the root */
	size_t parent;             /* index of the parent node; SIZE_MAX for the root */
	const char *relation;      /* static text: how it links to its parent ("input", ...) */
	ldg_event_info link;       /* the event that links it to its parent (depth > 0) */
	bool has_last;
	ldg_event_info last;       /* its last known event with a location */
	bool repeated;             /* already in the tree: shown, not expanded again */
	bool depth_cut;            /* has links past the depth limit */
} ldg_trace_node;

/*
 * Trace up (sources: transformation inputs, the contents of a container,
 * the lot of an item) or down (what it went into: transformation outputs,
 * the containers it was put in, the items of a lot) from id, as a tree
 * with the linking event at each step and each identifier's last known
 * location. Cycle-safe (a visited set), bounded by depth and nodes_max;
 * *cut says a bound was reached. Retracted linking events are not
 * followed unless include_retracted.
 *
 * *nodes (malloc'd, at least the root), *n, *cut written on success.
 * Returns 0; TR_EINVAL (bad id or options); TR_EDB; TR_ENOMEM.
 */
int ldg_trace(ldg *l, const char *id, const ldg_trace_opts *o, ldg_trace_node **nodes,
	      size_t *n, bool *cut) TR_MUST_USE;

/*
 * Call fn for every committed event with an EPCIS mapping, in chain
 * order, whose eventTime is within [from_ms, to_ms] (inclusive; pass
 * INT64_MIN / INT64_MAX for no bound). ev and info are borrowed for the
 * call. fn returns 0 to go on, anything else stops the walk and is
 * returned.
 */
typedef int (*ldg_event_fn)(void *ctx, const Trellis__Event *ev, const ldg_event_info *info);
int ldg_events_each(ldg *l, int64_t from_ms, int64_t to_ms, ldg_event_fn fn,
		    void *ctx) TR_MUST_USE;

#endif
