/*
 * main.c: trellisd: parse the command line, install signal handlers, run
 * the node. SIGINT and SIGTERM stop it cleanly.
 */
#include "common/crypto.h"
#include "node/node.h"
#include "p2p/close.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

#define HUGE_TUNABLE "glibc.malloc.hugetlb=1"
#define REEXEC_MARK "TRELLISD_REEXECUTED"

/* Whether the kernel gives transparent huge pages to regions that ask
 * (its mode is "always" or "madvise", not "never"). */
static bool thp_advisable(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return false;
	if (!fgets(mode, sizeof(mode), f))
		mode[0] = '\0';
	fclose(f);
	return strstr(mode, "[always]") || strstr(mode, "[madvise]");
}

/* Start again with glibc's malloc on transparent huge pages.
 *
 * Under load most of the node's memory traffic is its heap: records,
 * blocks, protobuf messages, LMDB's dirty pages, the mempool. On a VM
 * every TLB miss walks two page tables, and with 4 KiB pages the node
 * missed often: with glibc.malloc.hugetlb=1 (glibc >= 2.35: malloc
 * asks for huge pages with madvise) the node thread spent ~10% less CPU
 * per record, and records/s rose 2-10% in eight of ten interleaved
 * pairs (bench/RESULTS.md, run 62). A tunable is read only
 * when a program starts, so trellisd sets it and executes itself once
 * more, same pid, same arguments. Not when the environment already sets
 * GLIBC_TUNABLES (the operator's choice wins, e.g. glibc.malloc.hugetlb=0
 * to turn this off), under valgrind (its preload would be dropped and
 * the node run unchecked), or when the kernel gives no huge pages. If
 * the exec fails, trellisd goes on as it is. */
static void reexec_with_huge_pages(char **argv)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
	const char *pre = getenv("LD_PRELOAD");
	char self[4096];
	ssize_t n;
	if (getenv(REEXEC_MARK)) {
		unsetenv(REEXEC_MARK); /* done once; not inherited by anything later */
		return;
	}
	if (getenv("GLIBC_TUNABLES") || (pre && strstr(pre, "vgpreload")) || !thp_advisable())
		return;
	/* the program's own path, so that it keeps its name (ps, top); a
	 * binary replaced since it started reads "... (deleted)" and fails */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return;
	self[n] = '\0';
	if (setenv("GLIBC_TUNABLES", HUGE_TUNABLE, 1) || setenv(REEXEC_MARK, "1", 1))
		return;
	execv(self, argv);
	unsetenv("GLIBC_TUNABLES"); /* cannot: carry on without */
	unsetenv(REEXEC_MARK);
#else
	(void)argv;
#endif
}

static void usage(FILE *f)
{
	fprintf(f, "usage: trellisd --home HOME [--api URL] [--tcp URL] [--map-size SIZE[K|M|G|T]]\n"
		   "                [--mempool-records N] [--log error|warn|info|debug]\n");
}

int main(int argc, char **argv)
{
	node_options o = {0};
	struct sigaction sa;
	char err[512];
	int rc;

	reexec_with_huge_pages(argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return TR_EXIT_USAGE;
		}
		if (strcmp(a, "--home") == 0)
			o.home = v;
		else if (strcmp(a, "--api") == 0)
			o.api_url = v;
		else if (strcmp(a, "--tcp") == 0)
			o.tcp_url = v;
		else if (strcmp(a, "--map-size") == 0) {
			char *end;
			unsigned long long sz = strtoull(v, &end, 10);
			int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : *end == 'T' ? 40 : 0;
			if (shift)
				end++;
			if (*end || sz == 0 || sz > (1ull << (50 - shift)) ||
			    (sz << shift) < (1u << 20)) {
				fprintf(stderr, "trellisd: bad --map-size '%s' (at least 1M, e.g. 64G)\n", v);
				return TR_EXIT_USAGE;
			}
			o.map_size = (size_t)(sz << shift);
		} else if (strcmp(a, "--mempool-records") == 0) {
			char *end;
			unsigned long long n = strtoull(v, &end, 10);
			if (*end || !isdigit((unsigned char)*v) || n < NODE_MEMPOOL_RECORDS_MIN ||
			    n > NODE_MEMPOOL_RECORDS_LIMIT) {
				fprintf(stderr, "trellisd: bad --mempool-records '%s' (%d to %d)\n", v,
					NODE_MEMPOOL_RECORDS_MIN, NODE_MEMPOOL_RECORDS_LIMIT);
				return TR_EXIT_USAGE;
			}
			o.mempool_records = (size_t)n;
		} else if (strcmp(a, "--log") == 0) {
			static const char *const lv[] = {"error", "warn", "info", "debug"};
			int found = -1;
			for (int j = 0; j < 4; j++)
				if (strcmp(v, lv[j]) == 0)
					found = j;
			if (found < 0) {
				fprintf(stderr, "trellisd: unknown log level '%s'\n", v);
				return TR_EXIT_USAGE;
			}
			tr_log_level = found;
		} else {
			fprintf(stderr, "trellisd: unknown option '%s'\n", a);
			usage(stderr);
			return TR_EXIT_USAGE;
		}
		i++;
	}
	if (!o.home) {
		usage(stderr);
		return TR_EXIT_USAGE;
	}
	if (tr_crypto_init() != TR_OK) {
		fprintf(stderr, "trellisd: cannot initialise libsodium/libsecp256k1\n");
		return TR_EXIT_INPUT;
	}
#ifdef __GLIBC__
	/* Blocks, proposals and gossip batches are 0.1-4 MiB buffers made and
	 * freed many times a second. glibc serves each from a fresh mmap and
	 * unmaps it on free, so every one costs page faults and zeroing
	 * (a tenth of the node thread under load, perf); keep them on the
	 * heap for reuse instead. 32 MiB is the largest threshold glibc takes
	 * on 64-bit systems (the 64 MiB asked before was refused, silently). */
	if (!mallopt(M_MMAP_THRESHOLD, 32 << 20) || !mallopt(M_TRIM_THRESHOLD, 128 << 20))
		fprintf(stderr, "trellisd: mallopt refused the allocation thresholds (ignored)\n");
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = node_run(&o, &stop_flag, err, sizeof(err));
	if (rc)
		fprintf(stderr, "trellisd: %s\n", err);
	/* A socket NNG 1.5.2 could not close (p2p/close.h) leaves its state
	 * allocated on purpose; skip the exit handlers, LeakSanitizer's
	 * report of that state among them. The node itself is stopped. */
	if (p2p_close_gave_up()) {
		fflush(NULL);
		_exit(rc ? tr_exit_code(rc) : 0);
	}
	return rc ? tr_exit_code(rc) : 0;
}
