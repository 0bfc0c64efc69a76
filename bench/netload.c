/*
 * netload.c: load generator for bench/net.sh (a multi-node testnet).
 *
 *   netload verify                       Ed25519 verify/s on one core (1,139-byte messages)
 *   netload load HOME1,HOME2,... RECORDS CLIENTS BATCH [RATE]
 *
 * `load` signs RECORDS ~1 KB events with HOME1's key before the clock
 * starts, then CLIENTS clients (client c talks to node c mod #homes over
 * its ipc socket, one connection each) submit them in requests of BATCH
 * records, each waiting for the committed answer. With RATE (records/s),
 * the clients together are paced to that rate. It prints
 *   records=N seconds=S rps=R p50_ms=A p99_ms=B
 * where the percentiles are per-request commit latencies.
 */
#include "cli/cli.h"
#include "ledger/ledger.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENT_PAD 820
#define CLIENTS_MAX 64
#define HOMES_MAX 16

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "netload: %s\n", what);
	exit(1);
}

static int verify_main(void)
{
	uint8_t pk[32], sk[64], sig[64], msg[1139];
	double t0 = now_s(), el;
	long n = 0;
	randombytes_buf(msg, sizeof(msg));
	crypto_sign_ed25519_keypair(pk, sk);
	crypto_sign_ed25519_detached(sig, NULL, msg, sizeof(msg), sk);
	do {
		for (int i = 0; i < 256; i++)
			if (crypto_sign_ed25519_verify_detached(sig, msg, sizeof(msg), pk) != 0)
				die("verify failed");
		n += 256;
		el = now_s() - t0;
	} while (el < 2.0);
	printf("verify_rps=%.0f\n", (double)n / el);
	return 0;
}

typedef struct {
	uint8_t *bytes;
	size_t len, nrec;
} packed_req;

typedef struct {
	char url[600];
	packed_req *reqs;
	size_t first, step, nreq;
	double interval; /* seconds between this client's requests; 0 = flat out */
	double *lat;     /* per request, indexed like reqs */
	size_t committed;
} client;

static void *client_main(void *arg)
{
	client *c = arg;
	nng_socket s;
	double next = now_s();
	if (nng_req0_open(&s) || nng_dial(s, c->url, NULL, 0))
		die("cannot connect to a node");
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 120000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u << 20);
	for (size_t i = c->first; i < c->nreq; i += c->step) {
		nng_msg *m;
		Trellis__ApiReply *rep;
		double t;
		if (c->interval > 0) {
			double w = next - now_s();
			if (w > 0)
				usleep((useconds_t)(w * 1e6));
			next += c->interval;
		}
		t = now_s();
		if (nng_msg_alloc(&m, c->reqs[i].len))
			die("msg");
		memcpy(nng_msg_body(m), c->reqs[i].bytes, c->reqs[i].len);
		if (nng_sendmsg(s, m, 0) || nng_recvmsg(s, &m, 0))
			die("no answer from a node");
		rep = trellis__api_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
		if (!rep || rep->error) {
			fprintf(stderr, "netload: refused: %s\n", rep ? rep->reason : "malformed");
			exit(1);
		}
		c->committed += rep->n_results;
		trellis__api_reply__free_unpacked(rep, NULL);
		c->lat[i] = (now_s() - t) * 1000.0;
	}
	nng_close(s);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int load_main(char *homes_arg, size_t total, size_t nclients, size_t batch, double rate)
{
	char *homes[HOMES_MAX], *save = NULL, err[512], pad[EVENT_PAD + 1], tag[32];
	size_t nhomes = 0, nreq, k = 0, committed = 0;
	cli_home h;
	packed_req *reqs;
	client cl[CLIENTS_MAX];
	pthread_t th[CLIENTS_MAX];
	double *lat, t0, el;

	for (char *t = strtok_r(homes_arg, ",", &save); t && nhomes < HOMES_MAX;
	     t = strtok_r(NULL, ",", &save))
		homes[nhomes++] = t;
	if (nhomes == 0 || nclients < 1 || nclients > CLIENTS_MAX || batch < 1 || total < 1)
		die("bad arguments");
	if (cli_home_open(&h, homes[0], true, err, sizeof(err)))
		die(err);
	snprintf(tag, sizeof(tag), "%lx", (unsigned long)randombytes_random());
	memset(pad, 'x', EVENT_PAD);
	pad[EVENT_PAD] = '\0';
	nreq = (total + batch - 1) / batch;
	reqs = calloc(nreq, sizeof(*reqs));
	lat = calloc(nreq, sizeof(*lat));
	if (!reqs || !lat)
		die("out of memory");
	for (size_t r = 0; r < nreq; r++) {
		size_t n = total - k < batch ? total - k : batch;
		ProtobufCBinaryData *bins = calloc(n, sizeof(*bins));
		Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
		Trellis__SubmitRequest sub = TRELLIS__SUBMIT_REQUEST__INIT;
		if (!bins)
			die("out of memory");
		for (size_t i = 0; i < n; i++, k++) {
			char text[EVENT_PAD + 600];
			json_error_t je;
			json_t *ev;
			uint8_t *evb, id[32];
			size_t evlen;
			snprintf(text, sizeof(text),
				 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00.000Z\","
				 "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
				 "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.%s%zu\"],"
				 "\"bizStep\":\"shipping\",\"example:pad\":\"%s\"}",
				 tag, k, pad);
			ev = json_loads(text, 0, &je);
			if (!ev || cli_event_bytes(ev, &evb, &evlen))
				die("event");
			json_decref(ev);
			if (ldg_record_build(h.key, h.self, h.c->chain_id, evb, evlen, &bins[i].data,
					     &bins[i].len, id))
				die("record");
			free(evb);
		}
		sub.n_records = n;
		sub.records = bins;
		req.version = 1;
		req.body_case = TRELLIS__API_REQUEST__BODY_SUBMIT;
		req.submit = &sub;
		reqs[r].len = trellis__api_request__get_packed_size(&req);
		reqs[r].bytes = malloc(reqs[r].len);
		if (!reqs[r].bytes)
			die("out of memory");
		trellis__api_request__pack(&req, reqs[r].bytes);
		reqs[r].nrec = n;
		for (size_t i = 0; i < n; i++)
			free(bins[i].data);
		free(bins);
	}
	t0 = now_s();
	for (size_t c = 0; c < nclients; c++) {
		cl[c] = (client){.reqs = reqs, .first = c, .step = nclients, .nreq = nreq, .lat = lat};
		snprintf(cl[c].url, sizeof(cl[c].url), "ipc://%s/api.sock", homes[c % nhomes]);
		if (rate > 0)
			cl[c].interval = (double)batch * (double)nclients / rate;
		if (pthread_create(&th[c], NULL, client_main, &cl[c]))
			die("thread");
	}
	for (size_t c = 0; c < nclients; c++) {
		pthread_join(th[c], NULL);
		committed += cl[c].committed;
	}
	el = now_s() - t0;
	if (committed != total)
		die("not every record was committed");
	qsort(lat, nreq, sizeof(double), cmp_double);
	printf("records=%zu seconds=%.2f rps=%.0f p50_ms=%.1f p99_ms=%.1f\n", committed, el,
	       (double)committed / el, lat[nreq / 2], lat[nreq * 99 / 100]);
	for (size_t r = 0; r < nreq; r++)
		free(reqs[r].bytes);
	free(reqs);
	free(lat);
	cli_home_close(&h);
	return 0;
}

int main(int argc, char **argv)
{
	if (tr_crypto_init())
		die("crypto init");
	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return verify_main();
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "load") == 0)
		return load_main(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10),
				 strtoul(argv[5], NULL, 10), argc == 7 ? strtod(argv[6], NULL) : 0);
	fprintf(stderr, "usage: netload verify | netload load HOME,... RECORDS CLIENTS BATCH [RATE]\n");
	return 1;
}
