/*
 * query.h: the read-only EPCIS verbs of the trellis command: history,
 * trace up|down, export fsma204|epcis. They open the home's ledger
 * read-only (ledger/query.h), so they work while trellisd runs.
 */
#ifndef CLI_QUERY_H
#define CLI_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	const char *home;
	bool json, include_retracted;
	const char *from, *to, *lot, *id, *depth; /* NULL when not given */
	const char *const *args;                  /* the verb and its arguments */
	size_t nargs;
} cli_query_opts;

/*
 * Run `history ID`, `trace up|down ID` or `export fsma204|epcis` on the
 * home's ledger, printing to stdout (errors: one line on stderr).
 * Returns a CLI exit code (0 ok, 1 usage, 2 bad input, 3 not found).
 */
int cli_cmd_query(const cli_query_opts *q);

/* Milliseconds since 1970 UTC of a --from / --to value: an xsd:dateTime
 * or a date (YYYY-MM-DD: its first millisecond, or its last when
 * end_of_day). 0 and *ms, or TR_EINVAL. */
int cli_time_arg(const char *s, bool end_of_day, int64_t *ms);

#endif
