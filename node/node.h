/*
 * node.h: trellisd, the node of one partner.
 *
 * The node opens the home (key, consortium file, ledger), serves the
 * client API (NNG req/rep) and runs the consensus loop: records checked on
 * arrival (form, signer, signature, size) by the record checkers, then
 * de-duplicated into the mempool by the one node thread, cut into blocks,
 * handed to consensus, and the resulting actions carried out in order:
 * persist, then commit (block + certificate + indexes in one durable
 * transaction), then answer the clients whose records are now committed.
 * A client is never answered before its record is durable.
 */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include "common/tr.h"

#include <signal.h>

#define NODE_REQUEST_BYTES_MAX (64u << 20)   /* one API request */
#define NODE_REQUEST_RECORDS_MAX 100000      /* records in one submit */
#define NODE_MEMPOOL_RECORDS_MAX 200000 /* the default; --mempool-records */
#define NODE_MEMPOOL_RECORDS_MIN 100
#define NODE_MEMPOOL_RECORDS_LIMIT 2000000
#define NODE_MEMPOOL_BYTES_MAX (512u << 20)
#define NODE_API_CONTEXTS 64                 /* requests served at once */
/* A reply a client does not take within this long is dropped and its
 * context serves the next request: one client pipelining requests and
 * never reading the replies held all the contexts, so no other client was
 * answered while its connection stayed open (found by a review). */
#define NODE_API_SEND_TIMEOUT_MS 5000

typedef struct {
	const char *home;
	const char *api_url; /* NULL: ipc://HOME/api.sock */
	const char *tcp_url; /* optional second listener, e.g. tcp://127.0.0.1:7100 */
	size_t map_size;     /* 0: default */
	size_t mempool_records; /* 0: NODE_MEMPOOL_RECORDS_MAX */
} node_options;

/* Run until *stop becomes non-zero. err gets a one-line reason when the
 * node cannot start or stops on an error. */
int node_run(const node_options *o, volatile sig_atomic_t *stop, char *err,
	     size_t errlen) TR_MUST_USE;

/* The home's file paths. */
int node_home_path(char *out, size_t outlen, const char *home, const char *file) TR_MUST_USE;

#endif
