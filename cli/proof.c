/*
 * proof.c: `trellis prove` and `trellis verify-proof` (ledger/proof.h,
 * docs/proof-format.md).
 *
 * prove reads the home's ledger read-only (it works while trellisd runs)
 * and writes the binary proof, or its JSON form with --json, to -o FILE
 * (mode 0644, atomically) or stdout. verify-proof needs nothing but the
 * consortium file and the proof; it prints what it verified, or one line
 * with the reason and exit code 5.
 */
#include "cli/proof.h"

#include "cli/cli.h"
#include "ledger/proof.h"

#include <string.h>
#include <unistd.h>


static int write_out(const char *out, const void *buf, size_t len)
{
	char err[600];
	if (out && strcmp(out, "-") != 0) {
		if (tr_write_file(out, buf, len, 0644, err, sizeof(err)) != TR_OK) {
			cli_fail("%s", err);
			return TR_EXIT_INPUT;
		}
		return 0;
	}
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		cli_fail("cannot write the proof to stdout");
		return TR_EXIT_INPUT;
	}
	return 0;
}

static int parse_depth(const char *s, uint32_t *depth)
{
	char *end;
	long v;
	if (!s) {
		*depth = 0;
		return 0;
	}
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > LDG_TRACE_DEPTH_MAX) {
		cli_fail("--depth takes 1..%d, not '%s'", LDG_TRACE_DEPTH_MAX, s);
		return TR_EXIT_USAGE;
	}
	*depth = (uint32_t)v;
	return 0;
}

int cli_cmd_prove(const cli_proof_opts *p)
{
	ldg_trace_opts to = {0};
	uint8_t id[TR_HASH_LEN], *proof = NULL;
	size_t len = 0;
	char err[1024], *json = NULL;
	bool cut = false;
	cli_home h;
	ldg *l;
	int rc, ex;

	if (p->nargs != 2) {
		cli_fail("usage: trellis --home H prove EVENT_ID | prove --trace up|down ID");
		return TR_EXIT_USAGE;
	}
	if (p->trace) {
		if (strcmp(p->trace, "up") && strcmp(p->trace, "down")) {
			cli_fail("--trace takes up or down, not '%s'", p->trace);
			return TR_EXIT_USAGE;
		}
		to.dir = strcmp(p->trace, "up") == 0 ? LDG_TRACE_UP : LDG_TRACE_DOWN;
		to.include_retracted = p->include_retracted;
		if ((ex = parse_depth(p->depth, &to.depth)))
			return ex;
	} else if (tr_unhex(id, sizeof(id), p->args[1]) != TR_OK) {
		cli_fail("bad event id '%.80s': want 64 hex digits", p->args[1]);
		return TR_EXIT_INPUT;
	}
	if (!p->home) {
		cli_fail("this command needs --home HOME");
		return TR_EXIT_USAGE;
	}
	if ((ex = cli_ledger_open_ro(p->home, &h, &l)))
		return ex;
	rc = p->trace ? ldg_prove_trace(l, p->args[1], &to, &proof, &len, &cut, err, sizeof(err))
		      : ldg_prove_event(l, id, &proof, &len, err, sizeof(err));
	ldg_close(l);
	cli_home_close(&h);
	if (rc) {
		cli_fail("cannot prove '%.80s': %s", p->args[1], err);
		return tr_exit_code(rc);
	}
	if (cut)
		fprintf(stderr, "trellis: the trace was cut (depth or size limit): the bundle proves "
				"the steps it holds\n");
	if (p->json) {
		rc = ldg_proof_to_json(proof, len, &json, err, sizeof(err));
		if (rc) {
			cli_fail("%s", err);
			free(proof);
			return tr_exit_code(rc);
		}
		ex = write_out(p->out, json, strlen(json));
		if (ex == 0 && (!p->out || strcmp(p->out, "-") == 0))
			putchar('\n');
		free(json);
	} else {
		if ((!p->out || strcmp(p->out, "-") == 0) && isatty(STDOUT_FILENO)) {
			cli_fail("the binary proof goes to a file: use -o FILE or --json");
			free(proof);
			return TR_EXIT_USAGE;
		}
		ex = write_out(p->out, proof, len);
	}
	free(proof);
	return ex;
}

static void print_report(const tr_consortium *c, const ldg_proof_report *r, bool json)
{
	char hex[2 * TR_HASH_LEN + 1];
	if (json) {
		json_t *o = json_object(), *recs = json_array(), *steps = json_array();
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "kind", json_string(r->kind == LDG_PROOF_EVENT ? "event"
							   : r->kind == LDG_PROOF_UP  ? "trace up"
										      : "trace down"));
		json_object_set_new(o, "blocks", json_integer((json_int_t)r->nblocks));
		for (size_t i = 0; i < r->nrecords; i++) {
			const ldg_proof_record *e = &r->records[i];
			json_t *j = json_pack(
				"{s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:b}", "event_id",
				tr_hex(hex, e->event_id, TR_HASH_LEN), "signer",
				c->partners[e->signer].name, "height", (json_int_t)e->height, "position",
				(int)e->position, "type", e->type, "event_time", e->event_time, "where",
				e->where, "declaration", e->declaration);
			if (j && e->retracted_by >= 0)
				json_object_set_new(
					j, "retracted_by",
					json_string(tr_hex(hex, r->records[e->retracted_by].event_id,
							   TR_HASH_LEN)));
			json_array_append_new(recs, j);
		}
		json_object_set_new(o, "records", recs);
		for (size_t i = 0; i < r->nsteps; i++) {
			const ldg_proof_step *s = &r->steps[i];
			json_t *j = json_pack("{s:s, s:s}", "id", s->id, "relation", s->relation);
			json_t *ra = json_array();
			json_object_set_new(j, "parent", i ? json_integer((json_int_t)s->parent)
							   : json_null());
			for (size_t k = 0; k < s->nrecords; k++)
				json_array_append_new(ra, json_integer((json_int_t)s->records[k]));
			json_object_set_new(j, "records", ra);
			json_array_append_new(steps, j);
		}
		if (r->nsteps)
			json_object_set_new(o, "steps", steps);
		else
			json_decref(steps);
		char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
		return;
	}
	for (size_t i = 0; i < r->nrecords; i++) {
		const ldg_proof_record *e = &r->records[i];
		printf("event %s  %s %s at %s by %s (block %llu, position %u)%s",
		       tr_hex(hex, e->event_id, TR_HASH_LEN), e->type, e->event_time,
		       e->where[0] ? e->where : "-", c->partners[e->signer].name,
		       (unsigned long long)e->height, e->position,
		       e->declaration ? "  [error declaration]" : "");
		if (e->retracted_by >= 0)
			printf("  RETRACTED by %s",
			       tr_hex(hex, r->records[e->retracted_by].event_id, TR_HASH_LEN));
		putchar('\n');
	}
	for (size_t i = 0; i < r->nsteps; i++) {
		const ldg_proof_step *s = &r->steps[i];
		size_t d = 0;
		for (size_t a = i; r->steps[a].parent != SIZE_MAX; a = r->steps[a].parent)
			d++;
		if (i == 0) {
			printf("trace %s from %s\n", r->kind == LDG_PROOF_UP ? "up" : "down", s->id);
			continue;
		}
		const ldg_proof_record *e = &r->records[s->records[0]];
		printf("%*s%s %s  (%s %s at %s by %s)%s\n", (int)(2 * d), "", s->relation, s->id,
		       e->type, e->event_time, e->where[0] ? e->where : "-",
		       c->partners[e->signer].name, e->retracted_by >= 0 ? "  RETRACTED" : "");
	}
	printf("ok: %zu record%s in %zu block%s, each certified by %u of %u partners or more\n",
	       r->nrecords, r->nrecords == 1 ? "" : "s", r->nblocks, r->nblocks == 1 ? "" : "s",
	       tr_consortium_quorum(c), c->n);
}

int cli_cmd_verify_proof(const cli_proof_opts *p)
{
	tr_consortium *c = NULL;
	ldg_proof_report rep;
	uint8_t *buf = NULL, *bin = NULL;
	size_t len = 0, blen = 0, i = 0;
	char err[1024];
	int rc, ex;

	if (p->nargs != 2 || !p->consortium) {
		cli_fail("usage: trellis verify-proof -c consortium.json FILE|-");
		return TR_EXIT_USAGE;
	}
	rc = tr_consortium_load(p->consortium, &c, err, sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		return TR_EXIT_INPUT;
	}
	rc = tr_read_file(p->args[1], (size_t)LDG_PROOF_BYTES_MAX * 2, &buf, &len, err,
			  sizeof(err));
	if (rc) {
		cli_fail("%s", err);
		tr_consortium_free(c);
		return tr_exit_code(rc);
	}
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
		i++;
	if (i < len && buf[i] == '{') {
		rc = ldg_proof_from_json((const char *)buf, len, &bin, &blen, err, sizeof(err));
		if (rc) {
			cli_fail("'%s': %s", p->args[1], err);
			ex = TR_EXIT_VERIFY;
			goto out;
		}
	} else {
		bin = buf;
		blen = len;
		buf = NULL;
	}
	rc = ldg_proof_verify(c, bin, blen, &rep, err, sizeof(err));
	if (rc) {
		cli_fail("'%s': proof refused: %s", p->args[1], err);
		if (p->json)
			printf("{\"ok\":false}\n");
		ex = rc == TR_ENOMEM ? TR_EXIT_INPUT : TR_EXIT_VERIFY;
		goto out;
	}
	print_report(c, &rep, p->json);
	ldg_proof_report_fini(&rep);
	ex = 0;
out:
	free(bin);
	free(buf);
	tr_consortium_free(c);
	return ex;
}
