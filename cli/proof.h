/*
 * proof.h: the proof verbs of the trellis command: `prove EVENT_ID`,
 * `prove --trace up|down ID` and `verify-proof -c consortium.json FILE`
 * (docs/proof-format.md).
 */
#ifndef CLI_PROOF_H
#define CLI_PROOF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
	const char *home;          /* prove */
	const char *out;           /* -o FILE; NULL or "-" = stdout */
	const char *trace;         /* "up" / "down" for a trace bundle, else NULL */
	const char *depth;         /* --depth N, or NULL */
	const char *consortium;    /* verify-proof: -c FILE */
	bool json, include_retracted;
	const char *const *args;   /* the verb and its arguments */
	size_t nargs;
} cli_proof_opts;

/* Each returns a CLI exit code (0 ok, 1 usage, 2 bad input, 3 not found,
 * 5 verification failed); errors are one line on stderr. */
int cli_cmd_prove(const cli_proof_opts *p);
int cli_cmd_verify_proof(const cli_proof_opts *p);

#endif
