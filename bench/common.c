/*
 * common.c: the shared parts of the benchmarks (see common.h).
 */
#include "bench/common.h"

#include "ledger/ledger.h"

#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#define EVENT_PAD 820 /* padding that makes each serialised event ~1 KB */

double bench_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void bench_die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

double bench_verify_rate(size_t msglen)
{
	uint8_t pk[32], sk[64], sig[64];
	uint8_t *msg = malloc(msglen);
	double t0, el;
	long n = 0;
	if (!msg)
		bench_die("out of memory");
	randombytes_buf(msg, msglen);
	crypto_sign_ed25519_keypair(pk, sk);
	crypto_sign_ed25519_detached(sig, NULL, msg, msglen, sk);
	t0 = bench_now();
	do {
		for (int i = 0; i < 256; i++)
			if (crypto_sign_ed25519_verify_detached(sig, msg, msglen, pk) != 0)
				bench_die("baseline verify failed");
		n += 256;
		el = bench_now() - t0;
	} while (el < 2.0);
	free(msg);
	return (double)n / el;
}

void bench_make_requests(const cli_home *h, size_t total, size_t batch, const char *tag,
			 packed_req **out, size_t *nout, size_t *rec_bytes)
{
	size_t nreq = (total + batch - 1) / batch, k = 0;
	packed_req *reqs = calloc(nreq, sizeof(*reqs));
	char pad[EVENT_PAD + 1];
	if (!reqs)
		bench_die("out of memory");
	memset(pad, 'x', EVENT_PAD);
	pad[EVENT_PAD] = '\0';
	*rec_bytes = 0;
	for (size_t r = 0; r < nreq; r++) {
		size_t n = total - k < batch ? total - k : batch;
		ProtobufCBinaryData *bins = calloc(n, sizeof(*bins));
		Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
		Trellis__SubmitRequest sub = TRELLIS__SUBMIT_REQUEST__INIT;
		if (!bins)
			bench_die("out of memory");
		for (size_t i = 0; i < n; i++, k++) {
			char text[EVENT_PAD + 512];
			json_error_t je;
			json_t *ev;
			uint8_t *evb, id[32];
			size_t evlen;
			snprintf(text, sizeof(text),
				 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
				 "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
				 "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.%s%zu\"],"
				 "\"bizStep\":\"shipping\",\"example:pad\":\"%s\"}",
				 tag, k, pad);
			ev = json_loads(text, 0, &je);
			if (!ev || cli_event_bytes(ev, &evb, &evlen))
				bench_die("event");
			json_decref(ev);
			if (ldg_record_build(h->key, h->self, h->c->chain_id, evb, evlen,
					     &bins[i].data, &bins[i].len, id))
				bench_die("record");
			free(evb);
			*rec_bytes += bins[i].len;
		}
		sub.n_records = n;
		sub.records = bins;
		req.version = 1;
		req.body_case = TRELLIS__API_REQUEST__BODY_SUBMIT;
		req.submit = &sub;
		reqs[r].len = trellis__api_request__get_packed_size(&req);
		reqs[r].bytes = malloc(reqs[r].len);
		if (!reqs[r].bytes)
			bench_die("out of memory");
		trellis__api_request__pack(&req, reqs[r].bytes);
		reqs[r].nrec = n;
		for (size_t i = 0; i < n; i++)
			free(bins[i].data);
		free(bins);
	}
	*out = reqs;
	*nout = nreq;
}

void bench_free_requests(packed_req *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].bytes);
	free(r);
}

nng_socket bench_client_open(const char *url)
{
	nng_socket s;
	if (nng_req0_open(&s) || nng_dial(s, url, NULL, 0))
		bench_die("cannot connect to the node");
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 120000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u << 20);
	return s;
}

size_t bench_send(nng_socket s, const packed_req *r)
{
	nng_msg *m;
	Trellis__ApiReply *rep;
	size_t got;
	int rv;
	if (nng_msg_alloc(&m, r->len))
		bench_die("out of memory");
	memcpy(nng_msg_body(m), r->bytes, r->len);
	if (nng_sendmsg(s, m, 0))
		bench_die("cannot send to the node");
	if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
		fprintf(stderr, "bench: no answer from the node: %s\n", nng_strerror(rv));
		exit(1);
	}
	rep = trellis__api_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (!rep)
		bench_die("malformed answer from the node");
	if (rep->error) {
		fprintf(stderr, "bench: node refused: %s\n", rep->reason);
		exit(1);
	}
	got = rep->n_results;
	trellis__api_reply__free_unpacked(rep, NULL);
	return got;
}

int bench_cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}
