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
#include "bench/common.h"
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

#define LAT_REQUESTS 400

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
		bench_die("mkdtemp");
	if (tr_key_generate(TR_ALG_ED25519, &k))
		bench_die("keygen");
	snprintf(path, sizeof(path), "%s/key", home);
	if (tr_key_save(k, path, err, sizeof(err)))
		bench_die(err);
	memset(&p, 0, sizeof(p));
	strcpy(p.name, "bench");
	p.alg = TR_ALG_ED25519;
	memcpy(p.key, tr_key_public(k), 32);
	strcpy(p.address, "127.0.0.1:7001");
	if (tr_partner_line_format(&p, line, sizeof(line)))
		bench_die("partner line");
	lines[0] = line;
	if (tr_consortium_create(lines, 1, &json, err, sizeof(err)))
		bench_die(err);
	snprintf(path, sizeof(path), "%s/consortium.json", home);
	if (tr_write_file(path, json, strlen(json), 0644, err, sizeof(err)))
		bench_die(err);
	free(json);
	tr_key_free(k);
	if (cli_home_open(h, home, true, err, sizeof(err)))
		bench_die(err);
}

static void start_node(const char *bindir, const char *url)
{
	char prog[600];
	snprintf(prog, sizeof(prog), "%s/trellisd", bindir);
	node_pid = fork();
	if (node_pid < 0)
		bench_die("fork");
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
	bench_die("trellisd did not start");
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

/* ==== Clients ==== */

typedef struct {
	const char *url;
	packed_req *reqs;
	size_t first, step, nreq;
	size_t committed;
} client_arg;

static void *client_main(void *arg)
{
	client_arg *a = arg;
	nng_socket s = bench_client_open(a->url);
	for (size_t i = a->first; i < a->nreq; i += a->step)
		a->committed += bench_send(s, &a->reqs[i]);
	nng_close(s);
	return NULL;
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
		bench_die("bad arguments");
	if (tr_crypto_init())
		bench_die("crypto init");

	make_home(&h);
	snprintf(url, sizeof(url), "ipc://%s/api.sock", home);
	printf("preparing %zu signed records of ~1 KB...\n", total);
	bench_make_requests(&h, total, batch, "t", &reqs, &nreq, &rec_bytes);
	vr = bench_verify_rate(rec_bytes / total + strlen(TR_TAG_EVENT) + 32);
	printf("baseline: Ed25519 verify, one core, %zu-byte messages: %.0f /s\n",
	       rec_bytes / total + strlen(TR_TAG_EVENT) + 32, vr);

	start_node(argv[1], url);
	t0 = bench_now();
	for (size_t c = 0; c < clients; c++) {
		ca[c] = (client_arg){.url = url, .reqs = reqs, .first = c, .step = clients,
				     .nreq = nreq};
		if (pthread_create(&th[c], NULL, client_main, &ca[c]))
			bench_die("thread");
	}
	for (size_t c = 0; c < clients; c++) {
		pthread_join(th[c], NULL);
		committed += ca[c].committed;
	}
	el = bench_now() - t0;
	bench_free_requests(reqs, nreq);
	if (committed != total)
		bench_die("not every record was committed");
	printf("throughput: %zu records (%zu clients, %zu per request) committed in %.2f s: %.0f records/s\n",
	       committed, clients, batch, el, (double)committed / el);
	printf("ratio: committed records/s / verify/s = %.2f (target >= 0.50)\n",
	       (double)committed / el / vr);

	bench_make_requests(&h, LAT_REQUESTS, 1, "l", &reqs, &nreq, &rec_bytes);
	{
		nng_socket s = bench_client_open(url);
		for (size_t i = 0; i < nreq; i++) {
			double t = bench_now();
			bench_send(s, &reqs[i]);
			lat[i] = (bench_now() - t) * 1000.0;
		}
		nng_close(s);
	}
	bench_free_requests(reqs, nreq);
	qsort(lat, LAT_REQUESTS, sizeof(double), bench_cmp_double);
	printf("latency: one client, one event per submit, %d submits: p50 %.2f ms, p99 %.2f ms\n",
	       LAT_REQUESTS, lat[LAT_REQUESTS / 2], lat[LAT_REQUESTS * 99 / 100]);
	stop_node();
	cli_home_close(&h);
	return 0;
}
