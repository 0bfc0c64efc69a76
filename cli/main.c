/*
 * main.c: the trellis command. Verbs: init, consortium create, submit,
 * status, get, verify, hash, history, trace, export (the last three in
 * cli/query.c), prove, verify-proof (cli/proof.c). Options may come before or after the verb. Output
 * for people by default, JSON with --json. Errors: one line on stderr,
 * exit codes of DESIGN.md (0 ok, 1 usage, 2 bad input, 3 not found,
 * 4 node unreachable, 5 verification failed).
 */
#include "cli/cli.h"
#include "cli/hash.h"
#include "cli/proof.h"
#include "cli/query.h"
#include "ledger/ledger.h"
#include "node/node.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGS_MAX 4096
#define LOCATIONS_ARG_MAX TR_LOCATIONS_MAX

typedef struct {
	const char *home, *name, *listen, *alg, *out, *api;
	const char *from, *to, *lot, *id, *depth, *trace, *consortium;
	const char *locations[LOCATIONS_ARG_MAX];
	size_t nlocations;
	bool json, full, include_retracted;
	int timeout_ms;
	const char *pos[ARGS_MAX];
	size_t npos;
} opts;


static const char usage_text[] =
	"usage:\n"
	"  trellis init --home H --name NAME --listen HOST:PORT [--alg ed25519|secp256k1] [--location ID ...]\n"
	"  trellis consortium create -o consortium.json PARTNER_LINE ...   (or lines on stdin)\n"
	"  trellis --home H submit FILE.json|-  [--json]\n"
	"  trellis --home H status [--json]\n"
	"  trellis --home H get EVENT_ID [EVENT_ID ...] [--json]\n"
	"  trellis --home H verify [--full] [--json]\n"
	"  trellis --home H history ID [--include-retracted] [--json]\n"
	"  trellis --home H trace up|down ID [--depth N] [--include-retracted] [--json]\n"
	"  trellis hash FILE|-  [--json]\n"
	"  trellis --home H export fsma204 [--from T] [--to T] [--lot CODE]\n"
	"  trellis --home H export epcis [--from T] [--to T] [--id ID]\n"
	"  trellis --home H prove EVENT_ID [-o FILE] [--json]\n"
	"  trellis --home H prove --trace up|down ID [--depth N] [--include-retracted] [-o FILE] [--json]\n"
	"  trellis verify-proof -c consortium.json FILE|-  [--json]\n"
	"options: --api URL (default ipc://H/api.sock), --timeout SECONDS (default 120)\n"
	"exit codes: 0 ok, 1 usage, 2 bad input, 3 not found, 4 node unreachable, 5 verification failed\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return TR_EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 120000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--full") == 0) {
			o->full = true;
			continue;
		}
		if (strcmp(a, "--include-retracted") == 0) {
			o->include_retracted = true;
			continue;
		}
		if (strcmp(a, "--home") == 0)
			slot = &o->home;
		else if (strcmp(a, "--name") == 0)
			slot = &o->name;
		else if (strcmp(a, "--listen") == 0)
			slot = &o->listen;
		else if (strcmp(a, "--alg") == 0)
			slot = &o->alg;
		else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0)
			slot = &o->out;
		else if (strcmp(a, "--api") == 0)
			slot = &o->api;
		else if (strcmp(a, "--from") == 0)
			slot = &o->from;
		else if (strcmp(a, "--to") == 0)
			slot = &o->to;
		else if (strcmp(a, "--lot") == 0)
			slot = &o->lot;
		else if (strcmp(a, "--id") == 0)
			slot = &o->id;
		else if (strcmp(a, "--depth") == 0)
			slot = &o->depth;
		else if (strcmp(a, "--trace") == 0)
			slot = &o->trace;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "--consortium") == 0)
			slot = &o->consortium;
		if (slot || strcmp(a, "--location") == 0 || strcmp(a, "--timeout") == 0) {
			if (i + 1 >= argc) {
				cli_fail("option '%s' needs a value", a);
				return TR_EXIT_USAGE;
			}
			i++;
			if (slot) {
				*slot = argv[i];
			} else if (strcmp(a, "--timeout") == 0) {
				char *end;
				long s = strtol(argv[i], &end, 10);
				if (*end || s < 1 || s > 86400) {
					cli_fail("--timeout takes seconds (1..86400), not '%s'", argv[i]);
					return TR_EXIT_USAGE;
				}
				o->timeout_ms = (int)s * 1000;
			} else {
				if (o->nlocations >= LOCATIONS_ARG_MAX) {
					cli_fail("too many --location options (at most %d)", LOCATIONS_ARG_MAX);
					return TR_EXIT_USAGE;
				}
				o->locations[o->nlocations++] = argv[i];
			}
			continue;
		}
		if (a[0] == '-' && a[1] == '-') {
			cli_fail("unknown option '%s'", a);
			return TR_EXIT_USAGE;
		}
		if (o->npos >= ARGS_MAX) {
			cli_fail("too many arguments");
			return TR_EXIT_USAGE;
		}
		o->pos[o->npos++] = a;
	}
	return 0;
}

static int need_home(const opts *o)
{
	if (!o->home) {
		cli_fail("this command needs --home HOME");
		return TR_EXIT_USAGE;
	}
	return 0;
}

/* ==== init ==== */

static int cmd_init(const opts *o)
{
	tr_partner p;
	tr_key *key = NULL;
	char err[512], path[600], line[70000];
	tr_alg alg = TR_ALG_ED25519;
	int rc;

	if (need_home(o))
		return TR_EXIT_USAGE;
	if (!o->name || !o->listen || o->npos != 1) {
		cli_fail("init needs --home, --name and --listen");
		return TR_EXIT_USAGE;
	}
	if (o->alg && (alg = tr_alg_parse(o->alg)) == TR_ALG_NONE) {
		cli_fail("unknown --alg '%s' (ed25519 or secp256k1)", o->alg);
		return TR_EXIT_USAGE;
	}
	memset(&p, 0, sizeof(p));
	if (tr_check_name(o->name) != TR_OK) {
		cli_fail("bad --name '%s': use 1-%d characters of a-z 0-9 _ -", o->name, TR_NAME_MAX);
		return TR_EXIT_INPUT;
	}
	if (tr_check_address(o->listen) != TR_OK) {
		cli_fail("bad --listen '%s': want HOST:PORT", o->listen);
		return TR_EXIT_INPUT;
	}
	for (size_t i = 0; i < o->nlocations; i++) {
		if (tr_check_location(o->locations[i]) != TR_OK) {
			cli_fail("bad --location '%s': printable ASCII without spaces or commas",
				  o->locations[i]);
			return TR_EXIT_INPUT;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->locations[i], o->locations[j]) == 0) {
				cli_fail("--location '%s' given twice", o->locations[i]);
				return TR_EXIT_INPUT;
			}
	}
	if (mkdir(o->home, 0700) != 0) {
		if (errno == EEXIST)
			cli_fail("cannot create home '%s': it already exists (refusing to overwrite a home)",
				  o->home);
		else
			cli_fail("cannot create home '%s': %s", o->home, strerror(errno));
		return TR_EXIT_INPUT;
	}
	rc = tr_key_generate(alg, &key);
	if (rc) {
		cli_fail("cannot generate a key: %s", tr_strerror(rc));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/key", o->home);
	rc = tr_key_save(key, path, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto fail;
	}
	snprintf(p.name, sizeof(p.name), "%s", o->name);
	p.alg = alg;
	memcpy(p.key, tr_key_public(key), TR_PUBKEY_LEN);
	snprintf(p.address, sizeof(p.address), "%s", o->listen);
	p.locations = (char **)(uintptr_t)o->locations;
	p.nlocations = o->nlocations;
	rc = tr_partner_line_format(&p, line, sizeof(line) - 1);
	if (rc) {
		cli_fail("partner line too long");
		goto fail;
	}
	strcat(line, "\n");
	snprintf(path, sizeof(path), "%s/partner.line", o->home);
	rc = tr_write_file(path, line, strlen(line), 0644, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto fail;
	}
	if (o->json) {
		/* a home path that is not UTF-8 has no JSON string: the line */
		if (!cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s%}", "home", o->home, "name",
					      p.name, "alg", tr_alg_name(alg), "address",
					      p.address, "partner_line", line, strlen(line) - 1)))
			fputs(line, stdout);
	} else {
		fputs(line, stdout);
	}
	tr_key_free(key);
	return 0;
fail:
	tr_key_free(key);
	return tr_exit_code(rc);
}

/* ==== consortium create ==== */

#define STDIN_LINES_MAX TR_PARTNERS_MAX

static int cmd_consortium(const opts *o)
{
	const char *lines[TR_PARTNERS_MAX + 1];
	char *owned[STDIN_LINES_MAX + 1] = {0};
	size_t n = 0, nowned = 0;
	char *json = NULL, err[512];
	struct stat st;
	int rc, ex = TR_EXIT_INPUT;

	if (o->npos < 2 || strcmp(o->pos[1], "create") != 0) {
		cli_fail("usage: trellis consortium create -o FILE [PARTNER_LINE ...]");
		return TR_EXIT_USAGE;
	}
	if (!o->out) {
		cli_fail("consortium create needs -o FILE");
		return TR_EXIT_USAGE;
	}
	if (o->npos - 2 > TR_PARTNERS_MAX) {
		cli_fail("%zu partner lines: at most %d", o->npos - 2, TR_PARTNERS_MAX);
		return TR_EXIT_INPUT;
	}
	for (size_t i = 2; i < o->npos; i++)
		lines[n++] = o->pos[i];
	if (n == 0) { /* one partner line per stdin line; blank lines and # comments skipped */
		char *buf = NULL;
		size_t cap = 0;
		ssize_t got;
		while ((got = getline(&buf, &cap, stdin)) >= 0) {
			char *s = buf;
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s == '\n' || *s == '\0' || *s == '#')
				continue;
			if (n >= STDIN_LINES_MAX) {
				cli_fail("more than %d partner lines on stdin", STDIN_LINES_MAX);
				free(buf);
				goto out;
			}
			owned[nowned] = strdup(s);
			if (!owned[nowned]) {
				free(buf);
				goto out;
			}
			lines[n++] = owned[nowned++];
		}
		free(buf);
	}
	if (stat(o->out, &st) == 0) {
		cli_fail("refusing to overwrite '%s': it exists (its bytes are the chain id)", o->out);
		goto out;
	}
	rc = tr_consortium_create(lines, n, &json, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto out;
	}
	rc = tr_write_file(o->out, json, strlen(json), 0644, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto out;
	}
	{
		uint8_t id[TR_HASH_LEN];
		char hex[2 * TR_HASH_LEN + 1];
		tr_sha256(id, json, strlen(json));
		if (o->json) {
			/* a file name that is not UTF-8 has no JSON string */
			if (!cli_print_json(json_pack("{s:s, s:I, s:s}", "file", o->out, "partners",
						      (json_int_t)n, "chain_id",
						      tr_hex(hex, id, TR_HASH_LEN))))
				printf("wrote %s: %zu partners, chain_id %s\n", o->out, n, hex);
		} else
			printf("wrote %s: %zu partner%s, f = %zu, chain_id %s\n", o->out, n,
			       n == 1 ? "" : "s", (n - 1) / 3, tr_hex(hex, id, TR_HASH_LEN));
	}
	ex = 0;
out:
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(json);
	return ex;
}

/* ==== submit ==== */

static int api_url_of(const opts *o, char *url, size_t len)
{
	if (o->api) {
		snprintf(url, len, "%s", o->api);
		return TR_OK;
	}
	return cli_api_url(url, len, o->home);
}

/* The node had accepted a submit but answers an error (it stopped, or
 * dropped one of its records): some events may be committed. List those
 * the home's ledger holds as submit lists them, and say how many. */
static void submit_partial(const opts *o, const char *file, const cli_records *recs,
			   const char *reason)
{
	cli_home h;
	ldg *l = NULL;
	char err[1024], path[600], hex[2 * TR_HASH_LEN + 1];
	ldg_options lo = {.readonly = true};
	size_t done = 0;

	snprintf(path, sizeof(path), "%s/data", o->home);
	if (cli_home_open(&h, o->home, false, err, sizeof(err)) != TR_OK) {
		cli_fail("'%s' not all committed: %s; check each event with get", file, reason);
		return;
	}
	if (ldg_open(path, h.c, &lo, &l, err, sizeof(err)) != TR_OK) {
		cli_fail("'%s' not all committed: %s; check each event with get", file, reason);
		cli_home_close(&h);
		return;
	}
	if (o->json) /* as a whole submit answers, with the committed events only */
		fputs("[", stdout);
	for (size_t i = 0; i < recs->n; i++) {
		uint8_t *rec;
		size_t len;
		uint64_t height;
		uint32_t pos;
		if (ldg_record_get(l, recs->ids[i], &rec, &len, &height, &pos) != TR_OK)
			continue;
		free(rec);
		tr_hex(hex, recs->ids[i], TR_HASH_LEN);
		if (o->json)
			printf("%s{\"event_id\":\"%s\",\"height\":%llu,\"position\":%u}",
			       done ? "," : "", hex, (unsigned long long)height, pos);
		else
			printf("%s height %llu position %u\n", hex, (unsigned long long)height, pos);
		done++;
	}
	if (o->json)
		fputs("]\n", stdout);
	cli_fail("'%s': %zu of %zu events committed%s, not all committed: %s", file, done, recs->n,
		 done ? " (listed)" : "", reason);
	ldg_close(l);
	cli_home_close(&h);
}

static int cmd_submit(const opts *o)
{
	cli_home h;
	cli_records recs = {0};
	uint8_t *buf = NULL;
	size_t len;
	json_t *root = NULL, *events;
	Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
	Trellis__SubmitRequest sub = TRELLIS__SUBMIT_REQUEST__INIT;
	Trellis__ApiReply *rep = NULL;
	ProtobufCBinaryData *bins = NULL;
	char err[1024], url[600], hex[2 * TR_HASH_LEN + 1];
	const char *file;
	int rc, ex = TR_EXIT_INPUT;

	if (need_home(o))
		return TR_EXIT_USAGE;
	if (o->npos != 2) {
		cli_fail("usage: trellis --home H submit FILE|-");
		return TR_EXIT_USAGE;
	}
	file = o->pos[1];
	rc = cli_home_open(&h, o->home, true, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		return tr_exit_code(rc);
	}
	rc = tr_read_file(file, CLI_DOC_BYTES_MAX, &buf, &len, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto out;
	}
	rc = cli_doc_events(strcmp(file, "-") ? file : "<stdin>", buf, len, &root, &events, err,
			    sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto out;
	}
	rc = cli_records_from_doc(&h, strcmp(file, "-") ? file : "<stdin>", root, events, 0, &recs, err,
				  sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		goto out;
	}
	bins = calloc(recs.n, sizeof(*bins));
	if (!bins) {
		cli_fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < recs.n; i++) {
		bins[i].data = recs.recs[i];
		bins[i].len = recs.lens[i];
	}
	sub.n_records = recs.n;
	sub.records = bins;
	req.version = 1;
	req.body_case = TRELLIS__API_REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	/* the node drops a bigger request unread, and the client would only
	 * see the connection reset */
	len = trellis__api_request__get_packed_size(&req);
	if (len > NODE_REQUEST_BYTES_MAX) {
		cli_fail("'%s': its %zu signed events make a request of %zu bytes, more than the node takes (%u): split the document",
			 file, recs.n, len, NODE_REQUEST_BYTES_MAX);
		goto out;
	}
	if (api_url_of(o, url, sizeof(url))) {
		cli_fail("home path too long");
		goto out;
	}
	rc = cli_api_call(url, &req, o->timeout_ms, &rep, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		ex = tr_exit_code(rc);
		goto out;
	}
	if (rep->error && rep->accepted) {
		submit_partial(o, file, &recs, rep->reason);
		ex = tr_exit_code(rep->error);
		goto out;
	}
	if (rep->error) {
		cli_fail("'%s' refused, nothing submitted: %s", file, rep->reason);
		ex = tr_exit_code(rep->error);
		goto out;
	}
	if (rep->n_results != recs.n) {
		cli_fail("node answered %zu results for %zu events", rep->n_results, recs.n);
		goto out;
	}
	if (o->json)
		fputs("[", stdout);
	for (size_t i = 0; i < rep->n_results; i++) {
		const Trellis__SubmitResult *r = rep->results[i];
		if (r->event_id.len != TR_HASH_LEN || memcmp(r->event_id.data, recs.ids[i], TR_HASH_LEN)) {
			cli_fail("node answered another event id for event %zu", i);
			goto out;
		}
		tr_hex(hex, r->event_id.data, TR_HASH_LEN);
		if (o->json)
			printf("%s{\"event_id\":\"%s\",\"height\":%llu,\"position\":%u}", i ? "," : "",
			       hex, (unsigned long long)r->height, r->position);
		else
			printf("%s height %llu position %u\n", hex, (unsigned long long)r->height,
			       r->position);
	}
	if (o->json)
		fputs("]\n", stdout);
	ex = 0;
out:
	if (rep)
		trellis__api_reply__free_unpacked(rep, NULL);
	free(bins);
	cli_records_free(&recs);
	json_decref(root);
	free(buf);
	cli_home_close(&h);
	return ex;
}

/* ==== status ==== */

static int cmd_status(const opts *o)
{
	Trellis__ApiRequest req = TRELLIS__API_REQUEST__INIT;
	Trellis__StatusRequest sr = TRELLIS__STATUS_REQUEST__INIT;
	Trellis__ApiReply *rep = NULL;
	const Trellis__StatusReply *s;
	char err[1024], url[600], head[2 * TR_HASH_LEN + 1], cid[2 * TR_HASH_LEN + 1];
	struct stat st;
	int rc;

	if (need_home(o))
		return TR_EXIT_USAGE;
	if (o->npos != 1) {
		cli_fail("usage: trellis --home H status [--json]");
		return TR_EXIT_USAGE;
	}
	/* a mistyped home is not a node that does not answer */
	if (!o->api && stat(o->home, &st) != 0) {
		cli_fail("cannot open home '%s': %s", o->home, strerror(errno));
		return TR_EXIT_INPUT;
	}
	if (api_url_of(o, url, sizeof(url))) {
		cli_fail("home path too long");
		return TR_EXIT_USAGE;
	}
	req.version = 1;
	req.body_case = TRELLIS__API_REQUEST__BODY_STATUS;
	req.status = &sr;
	rc = cli_api_call(url, &req, o->timeout_ms, &rep, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		return tr_exit_code(rc);
	}
	s = rep->status;
	if (rep->error || !s || s->head.len != TR_HASH_LEN || s->chain_id.len != TR_HASH_LEN) {
		cli_fail("bad status answer from the node: %s", rep->error ? rep->reason : "malformed");
		trellis__api_reply__free_unpacked(rep, NULL);
		return TR_EXIT_INPUT;
	}
	tr_hex(head, s->head.data, TR_HASH_LEN);
	tr_hex(cid, s->chain_id.data, TR_HASH_LEN);
	if (o->json) {
		json_t *peers = json_array();
		json_t *j;
		for (size_t i = 0; peers && i < s->n_peers; i++)
			json_array_append_new(peers, json_pack("{s:s, s:s, s:s}", "name",
							       s->peers[i]->name, "address",
							       s->peers[i]->address, "state",
							       s->peers[i]->state));
		j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:i, s:i, s:i, s:o}", "node", s->node,
			      "chain_id", cid, "height", (json_int_t)s->height, "head", head, "view",
			      (json_int_t)s->view, "mode", s->mode, "mempool", (int)s->mempool,
			      "partners", (int)s->partners, "f", (int)s->f, "peers",
			      peers ? peers : json_array());
		cli_print_json(j);
	} else {
		printf("node      %s\nchain_id  %s\nheight    %llu\nhead      %s\nview      %llu\n"
		       "mode      %s\nmempool   %u\npartners  %u (f = %u)\n",
		       s->node, cid, (unsigned long long)s->height, head, (unsigned long long)s->view,
		       s->mode, s->mempool, s->partners, s->f);
		for (size_t i = 0; i < s->n_peers; i++)
			printf("peer      %s %s %s\n", s->peers[i]->name, s->peers[i]->address,
			       s->peers[i]->state);
	}
	trellis__api_reply__free_unpacked(rep, NULL);
	return 0;
}

/* ==== Reading the ledger directly ==== */

static int open_ledger_ro(const opts *o, cli_home *h, ldg **l)
{
	if (need_home(o))
		return TR_EXIT_USAGE;
	return cli_ledger_open_ro(o->home, h, l);
}

/* Print one event; TR_ENOTFOUND when it is not in the ledger. */
static int get_one(const opts *o, const cli_home *h, ldg *l, const char *arg)
{
	uint8_t id[TR_HASH_LEN], *rec = NULL;
	size_t rlen;
	uint64_t height;
	uint32_t pos;
	Trellis__Record *r = NULL;
	Trellis__Event *ev = NULL;
	uint8_t bhash[TR_HASH_LEN];
	char hex[2 * TR_HASH_LEN + 1], bhex[2 * TR_HASH_LEN + 1], sig[2 * TR_SIG_LEN + 1];
	int rc;

	if (tr_unhex(id, sizeof(id), arg) != TR_OK) {
		cli_fail("bad event id '%.80s': want 64 hex digits", arg);
		return TR_EINVAL;
	}
	rc = ldg_record_get(l, id, &rec, &rlen, &height, &pos);
	if (rc == TR_ENOTFOUND) {
		cli_fail("event '%s' not found", arg);
		return rc;
	}
	if (rc || ldg_block_hash(l, height, bhash) != TR_OK) {
		cli_fail("cannot read event '%s': %s", arg, tr_strerror(rc ? rc : TR_EVERIFY));
		rc = TR_EVERIFY;
		goto out;
	}
	rc = TR_EVERIFY;
	r = trellis__record__unpack(NULL, rlen, rec);
	ev = r ? trellis__event__unpack(NULL, r->event.len, r->event.data) : NULL;
	if (!r || !ev || r->signer >= h->c->n || r->signature.len != TR_SIG_LEN) {
		cli_fail("stored record of event '%s' is damaged; run trellis verify", arg);
		goto out;
	}
	tr_hex(hex, id, TR_HASH_LEN);
	tr_hex(bhex, bhash, TR_HASH_LEN);
	tr_hex(sig, r->signature.data, TR_SIG_LEN);
	if (o->json) {
		json_error_t je;
		json_t *evj = json_loadb((const char *)ev->json.data, ev->json.len, 0, &je);
		json_t *j = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:o}", "event_id", hex,
				      "height", (json_int_t)height, "position", (int)pos, "block_hash",
				      bhex, "signer", h->c->partners[r->signer].name, "alg",
				      tr_alg_name((tr_alg)r->alg), "signature", sig, "event",
				      evj ? evj : json_null());
		cli_print_json(j);
	} else {
		printf("event_id   %s\nheight     %llu\nposition   %u\nblock      %s\n"
		       "signer     %s (%s)\nsignature  %s\nevent      %.*s\n",
		       hex, (unsigned long long)height, pos, bhex, h->c->partners[r->signer].name,
		       tr_alg_name((tr_alg)r->alg), sig, (int)ev->json.len,
		       (const char *)ev->json.data);
	}
	rc = TR_OK;
out:
	if (ev)
		trellis__event__free_unpacked(ev, NULL);
	if (r)
		trellis__record__free_unpacked(r, NULL);
	free(rec);
	return rc;
}

/* get ID [ID ...]: one event each (with --json, one JSON object per line).
 * The exit code is the worst seen: damaged (5) > bad id (2) > not found (3). */
static int cmd_get(const opts *o)
{
	cli_home h;
	ldg *l;
	int ex, worst = 0;

	if (o->npos < 2) {
		cli_fail("usage: trellis --home H get EVENT_ID [EVENT_ID ...]");
		return TR_EXIT_USAGE;
	}
	ex = open_ledger_ro(o, &h, &l);
	if (ex)
		return ex;
	for (size_t i = 1; i < o->npos; i++) {
		int rc = get_one(o, &h, l, o->pos[i]);
		int e = tr_exit_code(rc);
		if (e == TR_EXIT_VERIFY || (e == TR_EXIT_INPUT && worst != TR_EXIT_VERIFY) ||
		    (e == TR_EXIT_NOTFOUND && worst == 0))
			worst = e;
	}
	ldg_close(l);
	cli_home_close(&h);
	return worst;
}

static int cmd_verify(const opts *o)
{
	cli_home h;
	ldg *l;
	uint64_t bad = 0, checked = 0, height;
	uint8_t head[TR_HASH_LEN];
	char err[1024], hex[2 * TR_HASH_LEN + 1];
	int rc, ex;

	if (o->npos != 1) {
		cli_fail("usage: trellis --home H verify [--full] [--json]");
		return TR_EXIT_USAGE;
	}
	ex = open_ledger_ro(o, &h, &l);
	if (ex)
		return ex;
	rc = ldg_verify(l, o->full, &bad, &checked, err, sizeof(err));
	if (rc == TR_EIO || rc == TR_EFULL || rc == TR_ENOMEM) {
		/* the scratch ledger of --full: not a verdict on this ledger */
		cli_fail("verify could not run: %s", err);
		if (o->json)
			printf("{\"ok\":false,\"checked\":%llu,\"error\":\"could not run\"}\n",
			       (unsigned long long)checked);
		ex = TR_EXIT_INPUT;
	} else if (rc) {
		cli_fail("verify failed at height %llu: %s", (unsigned long long)bad, err);
		if (o->json)
			printf("{\"ok\":false,\"height\":%llu,\"checked\":%llu}\n",
			       (unsigned long long)bad, (unsigned long long)checked);
		ex = rc == TR_EDB ? TR_EXIT_INPUT : TR_EXIT_VERIFY;
	} else if (ldg_head(l, &height, head) == TR_OK) {
		tr_hex(hex, head, TR_HASH_LEN);
		if (o->json)
			printf("{\"ok\":true,\"blocks\":%llu,\"full\":%s,\"head\":\"%s\"}\n",
			       (unsigned long long)checked, o->full ? "true" : "false", hex);
		else
			printf("ok: %llu blocks verified (hashes, links, Merkle roots, certificates, index entries%s); head %s\n",
			       (unsigned long long)checked,
			       o->full ? ", every record signature, the EPCIS rules run again and every index rebuilt and compared"
				       : "",
			       hex);
		ex = 0;
	} else {
		cli_fail("cannot read the head");
		ex = TR_EXIT_VERIFY;
	}
	ldg_close(l);
	cli_home_close(&h);
	return ex;
}

int main(int argc, char **argv)
{
	opts o;
	int ex = parse_opts(argc, argv, &o);
	const char *verb;

	if (ex)
		return ex;
	if (o.npos == 0)
		return usage();
	verb = o.pos[0];
	if (strcmp(verb, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (tr_crypto_init() != TR_OK) {
		cli_fail("cannot initialise libsodium/libsecp256k1");
		return TR_EXIT_INPUT;
	}
	if (strcmp(verb, "init") == 0)
		return cmd_init(&o);
	if (strcmp(verb, "consortium") == 0)
		return cmd_consortium(&o);
	if (strcmp(verb, "submit") == 0)
		return cmd_submit(&o);
	if (strcmp(verb, "status") == 0)
		return cmd_status(&o);
	if (strcmp(verb, "get") == 0)
		return cmd_get(&o);
	if (strcmp(verb, "verify") == 0)
		return cmd_verify(&o);
	if (strcmp(verb, "hash") == 0) {
		if (o.npos != 2) {
			cli_fail("usage: trellis hash FILE|-");
			return TR_EXIT_USAGE;
		}
		return cli_cmd_hash(o.pos[1], o.json);
	}
	if (strcmp(verb, "history") == 0 || strcmp(verb, "trace") == 0 ||
	    strcmp(verb, "export") == 0) {
		cli_query_opts q = {.home = o.home, .json = o.json,
				    .include_retracted = o.include_retracted, .from = o.from,
				    .to = o.to, .lot = o.lot, .id = o.id, .depth = o.depth,
				    .args = o.pos, .nargs = o.npos};
		if (need_home(&o))
			return TR_EXIT_USAGE;
		return cli_cmd_query(&q);
	}
	if (strcmp(verb, "prove") == 0 || strcmp(verb, "verify-proof") == 0) {
		cli_proof_opts p = {.home = o.home, .out = o.out, .trace = o.trace,
				    .depth = o.depth, .consortium = o.consortium, .json = o.json,
				    .include_retracted = o.include_retracted, .args = o.pos,
				    .nargs = o.npos};
		return strcmp(verb, "prove") == 0 ? cli_cmd_prove(&p) : cli_cmd_verify_proof(&p);
	}
	cli_fail("unknown command '%s' ('trellis help' lists the commands)", verb);
	return TR_EXIT_USAGE;
}
