/*
 * common.h: what the benchmark programs share: a clock, fatal errors, the
 * Ed25519 verify baseline, pre-signed submit requests of ~1 KB events, and
 * a client connection that submits one request and waits for the commit.
 * Benchmarks only: every failure is fatal (bench_die).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "cli/cli.h"

#include <nng/nng.h>

double bench_now(void);
_Noreturn void bench_die(const char *what);

/* Ed25519 verifications per second on this core for msglen-byte messages,
 * measured for about two seconds. */
double bench_verify_rate(size_t msglen);

/* A serialised ApiRequest (submit) of nrec records. */
typedef struct {
	uint8_t *bytes;
	size_t len, nrec;
} packed_req;

/* total ~1 KB ObjectEvents (ids made unique by tag), signed with h's key
 * before any clock starts, packed batch per request. *rec_bytes: the
 * signed records' total size. */
void bench_make_requests(const cli_home *h, size_t total, size_t batch, const char *tag,
			 packed_req **out, size_t *nout, size_t *rec_bytes);
void bench_free_requests(packed_req *r, size_t n);

/* A req socket dialled to url, with long timeouts and no resends. */
nng_socket bench_client_open(const char *url);
/* Submit one request and wait for the answer; returns the records the node
 * says are committed. A refusal is fatal. */
size_t bench_send(nng_socket s, const packed_req *r);

int bench_cmp_double(const void *x, const void *y);

#endif
