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
 *   records=N seconds=S rps=R p50_ms=A p99_ms=B client_us=C
 * where the percentiles are per-request commit latencies and C is this
 * process's CPU (user + system) per record while the clock ran.
 */
#include "bench/common.h"
#include "ledger/ledger.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS_MAX 64
#define HOMES_MAX 16

static int verify_main(void)
{
	printf("verify_rps=%.0f\n", bench_verify_rate(1139));
	return 0;
}

static double tv_us(const struct timeval *t)
{
	return (double)t->tv_sec * 1e6 + (double)t->tv_usec;
}

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
	nng_socket s = bench_client_open(c->url);
	double next = bench_now();
	for (size_t i = c->first; i < c->nreq; i += c->step) {
		double t;
		if (c->interval > 0) {
			double w = next - bench_now();
			if (w > 0)
				usleep((useconds_t)(w * 1e6));
			next += c->interval;
		}
		t = bench_now();
		c->committed += bench_send(s, &c->reqs[i]);
		c->lat[i] = (bench_now() - t) * 1000.0;
	}
	nng_close(s);
	return NULL;
}

static int load_main(char *homes_arg, size_t total, size_t nclients, size_t batch, double rate)
{
	char *homes[HOMES_MAX], *save = NULL, err[512], tag[32];
	size_t nhomes = 0, nreq, committed = 0, rec_bytes;
	cli_home h;
	packed_req *reqs;
	client cl[CLIENTS_MAX];
	pthread_t th[CLIENTS_MAX];
	double *lat, t0, el;
	struct rusage ru0, ru1;

	for (char *t = strtok_r(homes_arg, ",", &save); t && nhomes < HOMES_MAX;
	     t = strtok_r(NULL, ",", &save))
		homes[nhomes++] = t;
	if (nhomes == 0 || nclients < 1 || nclients > CLIENTS_MAX || batch < 1 || total < 1)
		bench_die("bad arguments");
	if (cli_home_open(&h, homes[0], true, err, sizeof(err)))
		bench_die(err);
	snprintf(tag, sizeof(tag), "%lx", (unsigned long)randombytes_random());
	bench_make_requests(&h, total, batch, tag, &reqs, &nreq, &rec_bytes);
	lat = calloc(nreq, sizeof(*lat));
	if (!lat)
		bench_die("out of memory");
	getrusage(RUSAGE_SELF, &ru0);
	t0 = bench_now();
	for (size_t c = 0; c < nclients; c++) {
		cl[c] = (client){.reqs = reqs, .first = c, .step = nclients, .nreq = nreq, .lat = lat};
		snprintf(cl[c].url, sizeof(cl[c].url), "ipc://%s/api.sock", homes[c % nhomes]);
		if (rate > 0)
			cl[c].interval = (double)batch * (double)nclients / rate;
		if (pthread_create(&th[c], NULL, client_main, &cl[c]))
			bench_die("thread");
	}
	for (size_t c = 0; c < nclients; c++) {
		pthread_join(th[c], NULL);
		committed += cl[c].committed;
	}
	el = bench_now() - t0;
	getrusage(RUSAGE_SELF, &ru1);
	if (committed != total)
		bench_die("not every record was committed");
	qsort(lat, nreq, sizeof(double), bench_cmp_double);
	printf("records=%zu seconds=%.2f rps=%.0f p50_ms=%.1f p99_ms=%.1f client_us=%.1f\n",
	       committed, el, (double)committed / el, lat[nreq / 2], lat[nreq * 99 / 100],
	       (tv_us(&ru1.ru_utime) + tv_us(&ru1.ru_stime) - tv_us(&ru0.ru_utime) -
		tv_us(&ru0.ru_stime)) / (double)committed);
	bench_free_requests(reqs, nreq);
	free(lat);
	cli_home_close(&h);
	return 0;
}

int main(int argc, char **argv)
{
	if (tr_crypto_init())
		bench_die("crypto init");
	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return verify_main();
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "load") == 0)
		return load_main(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10),
				 strtoul(argv[5], NULL, 10), argc == 7 ? strtod(argv[6], NULL) : 0);
	fprintf(stderr, "usage: netload verify | netload load HOME,... RECORDS CLIENTS BATCH [RATE]\n");
	return 1;
}
