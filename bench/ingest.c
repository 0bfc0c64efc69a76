/*
 * ingest.c: the one-partner ingest benchmark.
 *
 *   build/bench/ingest BIN_DIR [RECORDS] [CLIENTS] [BATCH]
 *
 * 1. Baseline, measured in this run: libsodium's Ed25519 verify rate on one
 *    core, for messages the size of this benchmark's signed records.
 * 2. Throughput: a fresh home with a one-partner consortium, trellisd
 *    started from BIN_DIR, RECORDS signed ~1 KB events (signed before the
 *    clock starts) submitted by CLIENTS concurrent clients in requests of
 *    BATCH records; committed records/s = records acknowledged (durably
 *    committed) / wall time.
 * 3. Latency: one client submitting one event per request, 400 requests:
 *    p50 / p99 of the time from send to the committed acknowledgement.
 *
 * It prints the figures and the ratio committed/s : verify/s. Clients keep
 * one NNG connection each (so dial cost is not counted).
 */
#include "cli/cli.h"
#include "ledger/ledger.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EVENT_PAD 820 /* padding that makes each serialised event ~1 KB */
#define LAT_REQUESTS 400

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

/* ==== Baseline ==== */

static double verify_rate(size_t msglen)
{
	uint8_t pk[32], sk[64], sig[64];
	uint8_t *msg = malloc(msglen);
	double t0, el;
	long n = 0;
	if (!msg)
		die("out of memory");
	randombytes_buf(msg, msglen);
	crypto_sign_ed25519_keypair(pk, sk);
	crypto_sign_ed25519_detached(sig, NULL, msg, msglen, sk);
	t0 = now_s();
	do {
		for (int i = 0; i < 256; i++)
			if (crypto_sign_ed25519_verify_detached(sig, msg, msglen, pk) != 0)
				die("baseline verify failed");
		n += 256;
		el = now_s() - t0;
	} while (el < 2.0);
	free(msg);
	return (double)n / el;
}

/* ==== A home and a node ==== */

static char home[256];
static pid_t node_pid;

static void make_home(cli_home *h)
{
	tr_key *k;
	tr_partner p;
	char err[512], path[400], line[1024], *json;
	const char *lines[1];

	snprintf(home, sizeof(home), "/tmp/trellis-bench.XXXXXX");
	if (!mkdtemp(home))
		die("mkdtemp");
	if (tr_key_generate(TR_ALG_ED25519, &k))
		die("keygen");
	snprintf(path, sizeof(path), "%s/key", home);
	if (tr_key_save(k, path, err, sizeof(err)))
		die(err);
	memset(&p, 0, sizeof(p));
	strcpy(p.name, "bench");
	p.alg = TR_ALG_ED25519;
	memcpy(p.key, tr_key_public(k), 32);
	strcpy(p.address, "127.0.0.1:7001");
	if (tr_partner_line_format(&p, line, sizeof(line)))
		die("partner line");
	lines[0] = line;
	if (tr_consortium_create(lines, 1, &json, err, sizeof(err)))
		die(err);
	snprintf(path, sizeof(path), "%s/consortium.json", home);
	if (tr_write_file(path, json, strlen(json), 0644, err, sizeof(err)))
		die(err);
	free(json);
	tr_key_free(k);
	if (cli_home_open(h, home, true, err, sizeof(err)))
		die(err);
}

static void start_node(const char *bindir, const char *url)
{
	char prog[600];
	snprintf(prog, sizeof(prog), "%s/trellisd", bindir);
	node_pid = fork();
	if (node_pid < 0)
		die("fork");
	if (node_pid == 0) {
		execl(prog, prog, "--home", home, "--log", "warn", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
		Trellis__StatusRequest sr = TRELLIS__STATUS_REQUEST__INIT;
		Trellis__ApiReply *rep;
		char err[256];
		req.version = 1;
		req.body_case = TRELLIS__API_REQUEST__BODY_STATUS;
		req.status = &sr;
		if (cli_api_call(url, &req, 1000, &rep, err, sizeof(err)) == TR_OK) {
			trellis__api_reply__free_unpacked(rep, NULL);
			return;
		}
		usleep(50000);
	}
	die("trellisd did not start");
}

static void stop_node(void)
{
	int st;
	char cmd[400];
	kill(node_pid, SIGTERM);
	waitpid(node_pid, &st, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", home);
}

/* ==== Requests ==== */

typedef struct {
	uint8_t *bytes;
	size_t len;
	size_t nrec;
} packed_req;

static void make_requests(const cli_home *h, size_t total, size_t batch, const char *tag,
			  packed_req **out, size_t *nout, size_t *rec_bytes)
{
	size_t nreq = (total + batch - 1) / batch, k = 0;
	packed_req *reqs = calloc(nreq, sizeof(*reqs));
	char pad[EVENT_PAD + 1];
	if (!reqs)
		die("out of memory");
	memset(pad, 'x', EVENT_PAD);
	pad[EVENT_PAD] = '\0';
	*rec_bytes = 0;
	for (size_t r = 0; r < nreq; r++) {
		size_t n = total - k < batch ? total - k : batch;
		ProtobufCBinaryData *bins = calloc(n, sizeof(*bins));
		Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
		Trellis__SubmitRequest sub = TRELLIS__SUBMIT_REQUEST__INIT;
		if (!bins)
			die("out of memory");
		for (size_t i = 0; i < n; i++, k++) {
			char text[EVENT_PAD + 512];
			json_error_t je;
			json_t *ev;
			uint8_t *evb, id[32];
			snprintf(text, sizeof(text),
				 "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\","
				 "\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\","
				 "\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.%s%zu\"],"
				 "\"bizStep\":\"shipping\",\"example:pad\":\"%s\"}",
				 tag, k, pad);
			ev = json_loads(text, 0, &je);
			if (!ev || cli_event_bytes(ev, &evb, &bins[i].len))
				die("event");
			json_decref(ev);
			if (ldg_record_build(h->key, h->self, h->c->chain_id, evb, bins[i].len,
					     &bins[i].data, &bins[i].len, id))
				die("record");
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
			die("out of memory");
		trellis__api_request__pack(&req, reqs[r].bytes);
		reqs[r].nrec = n;
		for (size_t i = 0; i < n; i++)
			free(bins[i].data);
		free(bins);
	}
	*out = reqs;
	*nout = nreq;
}

static void free_requests(packed_req *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].bytes);
	free(r);
}

static nng_socket client_open(const char *url)
{
	nng_socket s;
	if (nng_req0_open(&s) || nng_dial(s, url, NULL, 0))
		die("cannot connect to the node");
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 120000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u << 20);
	return s;
}

/* Send one request, wait for its answer; returns the records committed. */
static size_t send_one(nng_socket s, const packed_req *r)
{
	nng_msg *m;
	Trellis__ApiReply *rep;
	size_t got;
	if (nng_msg_alloc(&m, r->len))
		die("msg");
	memcpy(nng_msg_body(m), r->bytes, r->len);
	if (nng_sendmsg(s, m, 0))
		die("send");
	if (nng_recvmsg(s, &m, 0))
		die("no answer");
	rep = trellis__api_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (!rep)
		die("bad answer");
	if (rep->error) {
		fprintf(stderr, "bench: node refused: %s\n", rep->reason);
		exit(1);
	}
	got = rep->n_results;
	trellis__api_reply__free_unpacked(rep, NULL);
	return got;
}

typedef struct {
	const char *url;
	packed_req *reqs;
	size_t first, step, nreq;
	size_t committed;
} client_arg;

static void *client_main(void *arg)
{
	client_arg *a = arg;
	nng_socket s = client_open(a->url);
	for (size_t i = a->first; i < a->nreq; i += a->step)
		a->committed += send_one(s, &a->reqs[i]);
	nng_close(s);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	cli_home h;
	char url[400];
	size_t total = 60000, clients = 4, batch = 200, nreq, rec_bytes, committed = 0;
	packed_req *reqs;
	pthread_t th[64];
	client_arg ca[64];
	double vr, t0, el, lat[LAT_REQUESTS];

	if (argc < 2) {
		fprintf(stderr, "usage: ingest BIN_DIR [RECORDS] [CLIENTS] [BATCH]\n");
		return 1;
	}
	if (argc > 2)
		total = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		clients = strtoul(argv[3], NULL, 10);
	if (argc > 4)
		batch = strtoul(argv[4], NULL, 10);
	if (clients < 1 || clients > 64 || batch < 1 || total < 1)
		die("bad arguments");
	if (tr_crypto_init())
		die("crypto init");

	make_home(&h);
	snprintf(url, sizeof(url), "ipc://%s/api.sock", home);
	printf("preparing %zu signed records of ~1 KB...\n", total);
	make_requests(&h, total, batch, "t", &reqs, &nreq, &rec_bytes);
	vr = verify_rate(rec_bytes / total + strlen(TR_TAG_EVENT) + 32);
	printf("baseline: Ed25519 verify, one core, %zu-byte messages: %.0f /s\n",
	       rec_bytes / total + strlen(TR_TAG_EVENT) + 32, vr);

	start_node(argv[1], url);
	t0 = now_s();
	for (size_t c = 0; c < clients; c++) {
		ca[c] = (client_arg){.url = url, .reqs = reqs, .first = c, .step = clients,
				     .nreq = nreq};
		if (pthread_create(&th[c], NULL, client_main, &ca[c]))
			die("thread");
	}
	for (size_t c = 0; c < clients; c++) {
		pthread_join(th[c], NULL);
		committed += ca[c].committed;
	}
	el = now_s() - t0;
	free_requests(reqs, nreq);
	if (committed != total)
		die("not every record was committed");
	printf("throughput: %zu records (%zu clients, %zu per request) committed in %.2f s: %.0f records/s\n",
	       committed, clients, batch, el, (double)committed / el);
	printf("ratio: committed records/s / verify/s = %.2f (target >= 0.50)\n",
	       (double)committed / el / vr);

	make_requests(&h, LAT_REQUESTS, 1, "l", &reqs, &nreq, &rec_bytes);
	{
		nng_socket s = client_open(url);
		for (size_t i = 0; i < nreq; i++) {
			double t = now_s();
			send_one(s, &reqs[i]);
			lat[i] = (now_s() - t) * 1000.0;
		}
		nng_close(s);
	}
	free_requests(reqs, nreq);
	qsort(lat, LAT_REQUESTS, sizeof(double), cmp_double);
	printf("latency: one client, one event per submit, %d submits: p50 %.2f ms, p99 %.2f ms\n",
	       LAT_REQUESTS, lat[LAT_REQUESTS / 2], lat[LAT_REQUESTS * 99 / 100]);
	stop_node();
	cli_home_close(&h);
	return 0;
}
