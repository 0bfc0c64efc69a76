/*
 * close.h: nng_close with a time bound.
 *
 * NNG 1.5.2's nng_close sometimes never returns: seen on link sockets
 * whose pipes were being refused and redialed (the intruder tests: a
 * condition wait inside nng_close), and once on the API socket of such a
 * node. The caller can then at least exit. Cause: a pipe closed while
 * the TCP transport's receive callback runs never finishes its receive,
 * and NNG's reaper waits for it forever (docs/network.md, Known limits).
 */
#ifndef P2P_CLOSE_H
#define P2P_CLOSE_H

#include <nng/nng.h>
#include <stdbool.h>

/* Close s from a helper thread and wait at most wait_ms. True when
 * nng_close returned in time; false when it did not: the socket, and
 * whatever its callbacks use, must then stay alive until the process
 * exits (the helper thread frees its own state if it ever returns). */
bool p2p_close_bounded(nng_socket s, unsigned wait_ms);

/* Whether a p2p_close_bounded of this process gave up: NNG's state, and
 * what its callbacks use, then stays allocated until the process exits. */
bool p2p_close_gave_up(void);

#endif
