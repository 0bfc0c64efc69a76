/*
 * client.c: homes, the node API client, EPCIS documents to records
 * (validated whole, then each event mapped, hashed and signed).
 */
#include "cli/cli.h"

#include "ledger/epcis_map.h"
#include "ledger/epcis_validate.h"
#include "ledger/ledger.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdarg.h>
#include <string.h>

int cli_home_open(cli_home *h, const char *home, bool want_key, char *err, size_t errlen)
{
	char path[600];
	int rc, idx;

	memset(h, 0, sizeof(*h));
	if (snprintf(h->home, sizeof(h->home), "%s", home) >= (int)sizeof(h->home)) {
		snprintf(err, errlen, "home path too long: '%s'", home);
		return TR_ETOOBIG;
	}
	snprintf(path, sizeof(path), "%s/consortium.json", home);
	rc = tr_consortium_load(path, &h->c, err, errlen);
	if (rc)
		return rc;
	if (!want_key)
		return TR_OK;
	snprintf(path, sizeof(path), "%s/key", home);
	rc = tr_key_load(path, &h->key, err, errlen);
	if (rc)
		goto fail;
	idx = tr_consortium_find_key(h->c, tr_key_public(h->key));
	if (idx < 0 || h->c->partners[idx].alg != tr_key_alg(h->key)) {
		snprintf(err, errlen, "the key of home '%s' is not a partner in '%s/consortium.json'",
			 home, home);
		rc = TR_EINVAL;
		goto fail;
	}
	h->self = (uint32_t)idx;
	return TR_OK;
fail:
	cli_home_close(h);
	return rc;
}

void cli_home_close(cli_home *h)
{
	tr_key_free(h->key);
	tr_consortium_free(h->c);
	h->key = NULL;
	h->c = NULL;
}

void cli_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("trellis: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_print_json(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(j);
	return text != NULL;
}

int cli_ledger_open_ro(const char *home, cli_home *h, ldg **l)
{
	char err[1024], path[600];
	ldg_options lo = {.readonly = true};
	int rc = cli_home_open(h, home, false, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		return tr_exit_code(rc);
	}
	snprintf(path, sizeof(path), "%s/data", home);
	rc = ldg_open(path, h->c, &lo, l, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		cli_home_close(h);
		return rc == TR_ENOTFOUND ? TR_EXIT_NOTFOUND : tr_exit_code(rc);
	}
	return 0;
}

int cli_api_url(char *out, size_t outlen, const char *home)
{
	int n = snprintf(out, outlen, "ipc://%s/api.sock", home);
	return n < 0 || (size_t)n >= outlen ? TR_ETOOBIG : TR_OK;
}

#define REPLY_BYTES_MAX (64u << 20)

int cli_api_call(const char *url, const Trellis__ApiRequest *req, int timeout_ms,
		 Trellis__ApiReply **rep, char *err, size_t errlen)
{
	nng_socket s;
	nng_msg *m = NULL;
	Trellis__ApiReply *r;
	size_t n;
	int rv;

	if ((rv = nng_req0_open(&s)) != 0) {
		snprintf(err, errlen, "cannot open a socket: %s", nng_strerror(rv));
		return TR_EIO;
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	/* never resend a submit behind the caller's back */
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, REPLY_BYTES_MAX);
	if ((rv = nng_dial(s, url, NULL, 0)) != 0) {
		snprintf(err, errlen, "node unreachable at '%s': %s", url, nng_strerror(rv));
		nng_close(s);
		return TR_EUNREACH;
	}
	n = trellis__api_request__get_packed_size(req);
	if ((rv = nng_msg_alloc(&m, n)) != 0) {
		nng_close(s);
		return TR_ENOMEM;
	}
	trellis__api_request__pack(req, nng_msg_body(m));
	if ((rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		snprintf(err, errlen, "cannot send to the node at '%s': %s", url, nng_strerror(rv));
		nng_close(s);
		return TR_EUNREACH;
	}
	if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
		snprintf(err, errlen, "no answer from the node at '%s': %s", url, nng_strerror(rv));
		nng_close(s);
		return TR_EUNREACH;
	}
	r = trellis__api_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	nng_close(s);
	if (!r) {
		snprintf(err, errlen, "malformed answer from the node at '%s'", url);
		return TR_EINVAL;
	}
	*rep = r;
	return TR_OK;
}

int cli_doc_events(const char *name, const uint8_t *buf, size_t len, json_t **root,
		   json_t **events, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc, *body, *list = NULL;
	const char *path = "epcisBody.eventList";

	doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		snprintf(err, errlen, "'%s': line %d column %d: %s", name, je.line, je.column,
			 je.text);
		return TR_EINVAL;
	}
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "'%s': not an EPCIS document (the top level is not an object)",
			 name);
		goto fail;
	}
	body = json_object_get(doc, "epcisBody");
	if (json_is_object(body)) {
		list = json_object_get(body, "eventList");
		if (!list) {
			json_t *qr = json_object_get(body, "queryResults");
			json_t *rb = json_is_object(qr) ? json_object_get(qr, "resultsBody") : NULL;
			list = json_is_object(rb) ? json_object_get(rb, "eventList") : NULL;
			path = "epcisBody.queryResults.resultsBody.eventList";
		}
	}
	if (!list) {
		snprintf(err, errlen,
			 "'%s': no event list (want epcisBody.eventList or epcisBody.queryResults.resultsBody.eventList)",
			 name);
		goto fail;
	}
	if (!json_is_array(list)) {
		snprintf(err, errlen, "'%s': %s is not an array", name, path);
		goto fail;
	}
	if (json_array_size(list) == 0) {
		snprintf(err, errlen, "'%s': %s is empty", name, path);
		goto fail;
	}
	if (json_array_size(list) > CLI_DOC_EVENTS_MAX) {
		snprintf(err, errlen, "'%s': %s has %zu events, at most %d in one submit", name, path,
			 json_array_size(list), CLI_DOC_EVENTS_MAX);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		if (!json_is_object(json_array_get(list, i))) {
			snprintf(err, errlen, "'%s': %s[%zu] is not an object", name, path, i);
			goto fail;
		}
	}
	*root = doc;
	*events = list;
	return TR_OK;
fail:
	json_decref(doc);
	return TR_EINVAL;
}

int cli_event_bytes(json_t *event, uint8_t **out, size_t *len)
{
	char err[256];
	return ep_map_event(NULL, NULL, event, "event", out, len, NULL, err, sizeof(err));
}

void cli_records_free(cli_records *r)
{
	if (r->recs)
		for (size_t i = 0; i < r->n; i++)
			free(r->recs[i]);
	free(r->recs);
	free(r->lens);
	free(r->ids);
	free(r->hashes);
	memset(r, 0, sizeof(*r));
}

/* The event index named by a validation path "...eventList[N]...", or -1. */
static long event_index(const char *path)
{
	const char *p = strstr(path, "eventList[");
	char *end;
	long i;
	if (!p)
		return -1;
	i = strtol(p + 10, &end, 10);
	return *end == ']' ? i : -1;
}

static int records_build(const cli_home *h, const char *name, json_t *doc, json_t *events,
			 unsigned flags, cli_records *out, char *err, size_t errlen)
{
	size_t n = json_array_size(events);
	cli_records r = {0};
	ep_ctx *ctx = NULL;
	const json_t *context = doc ? json_object_get(doc, "@context") : NULL;
	const char *list_path = "epcisBody.eventList";
	char why[768], path[128];
	int rc = TR_ENOMEM;

	if (doc && !(flags & CLI_NO_VALIDATE)) {
		rc = ep_validate_document(doc, why, sizeof(why));
		if (rc) {
			long i = event_index(why);
			if (i >= 0)
				snprintf(err, errlen, "'%s': event %ld: %s", name, i, why);
			else
				snprintf(err, errlen, "'%s': %s", name, why);
			return rc;
		}
	}
	if (doc) {
		json_t *ev2;
		const char *lp;
		if (ep_document_events(doc, &ev2, &lp) == TR_OK)
			list_path = lp;
		rc = ep_ctx_new(doc, &ctx);
		if (rc) {
			snprintf(err, errlen, "'%s': @context or ignoreFields: %s", name,
				 tr_strerror(rc));
			return rc;
		}
	}
	rc = TR_ENOMEM;
	r.recs = calloc(n ? n : 1, sizeof(*r.recs));
	r.lens = calloc(n ? n : 1, sizeof(*r.lens));
	r.ids = calloc(n ? n : 1, TR_HASH_LEN);
	r.hashes = calloc(n ? n : 1, EP_HASH_STR_LEN);
	if (!r.recs || !r.lens || !r.ids || !r.hashes)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		uint8_t *ev;
		size_t evlen;
		snprintf(path, sizeof(path), "%s[%zu]", list_path, i);
		rc = ep_map_event(ctx, context, json_array_get(events, i), path, &ev, &evlen,
				  r.hashes[i], why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "'%s': event %zu: %s", name, i, why);
			goto fail;
		}
		if (evlen + 128 > h->c->params.record_max_bytes) {
			snprintf(err, errlen, "'%s': event %zu is %zu bytes, more than record_max_bytes %u",
				 name, i, evlen, h->c->params.record_max_bytes);
			free(ev);
			rc = TR_ETOOBIG;
			goto fail;
		}
		rc = ldg_record_build(h->key, h->self, h->c->chain_id, ev, evlen, &r.recs[i],
				      &r.lens[i], r.ids[i]);
		free(ev);
		if (rc)
			goto fail;
		r.n = i + 1;
	}
	ep_ctx_free(ctx);
	*out = r;
	return TR_OK;
fail:
	if (rc == TR_ENOMEM)
		snprintf(err, errlen, "'%s': out of memory", name);
	ep_ctx_free(ctx);
	cli_records_free(&r);
	return rc;
}

int cli_records_from_doc(const cli_home *h, const char *name, json_t *doc, json_t *events,
			 unsigned flags, cli_records *out, char *err, size_t errlen)
{
	return records_build(h, name, doc, events, flags, out, err, errlen);
}

int cli_records_from_events(const cli_home *h, const char *name, json_t *events,
			    cli_records *out, char *err, size_t errlen)
{
	return records_build(h, name, NULL, events, CLI_NO_VALIDATE, out, err, errlen);
}
