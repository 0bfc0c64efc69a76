/*
 * hash.h: `trellis hash FILE|-`, the GS1 CBV 2.0 event hash of every event
 * of an EPCIS 2.0 document, without a node (ledger/epcis_hash.h).
 */
#ifndef CLI_HASH_H
#define CLI_HASH_H

#include <stdbool.h>

/*
 * Read the EPCIS document at path ("-" for stdin: an EPCISDocument with
 * epcisBody.eventList, or an EPCISQueryDocument with
 * epcisBody.queryResults.resultsBody.eventList; duplicate keys refused) and
 * print one event hash per line, in document order, on stdout; with json,
 * one JSON array of the hash strings instead.
 *
 * Returns a CLI exit code: TR_EXIT_OK, or TR_EXIT_INPUT when
 * the file cannot be read or parsed (the message on stderr names the
 * file, and line and column for JSON errors) or an event cannot be hashed
 * (the message names the event's index).
 */
int cli_cmd_hash(const char *path, bool json);

#endif
