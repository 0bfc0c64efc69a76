#!/bin/sh
# t0130-api-unread: a client that pipelines requests on the API socket and
# never reads the replies must not lock the other clients out. Before,
# every one of the node's 64 API contexts waited for ever to hand that
# client its reply, and no other client was answered while its connection
# stayed open. A reply is now dropped after NODE_API_SEND_TIMEOUT_MS (5 s)
# and the context serves the next request.
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
make_home "$H" farm
ok $? "home and one-partner consortium"
start_node "$H"
ok $? "trellisd starts and answers"

# 350 malformed requests (SP over ipc: the REQ0 handshake, then each
# message as 0x01, its be64 length, a request id, two bytes), unread
perl -MIO::Socket::UNIX -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]) or die "connect: $!\n";
	syswrite($s, "\x00SP\x00\x00\x30\x00\x00") == 8 or die "write: $!\n";
	for my $i (0 .. 349) {
		my $m = "\x01" . pack("Q>", 6) . pack("N", 0x80000000 | $i) . "\xff\xff";
		syswrite($s, $m) == length($m) or die "write: $!\n";
	}
	sleep 120;' "$H/api.sock" 2>"$TMP/client.err" &
CLIENT=$!
PIDS="$PIDS $CLIENT"
i=0
until [ "$(grep -c 'msg="rejected request" reason=malformed' "$H/node.log")" -ge 64 ]; do
	i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.2
done
ok $(( i >= 300 )) "the node answered the unread requests ($(grep -c 'reason=malformed' "$H/node.log"))"
kill -0 "$CLIENT" 2>/dev/null
ok $? "that client stays connected, reading nothing"
out=$($TR --home "$H" status --timeout 60 2>&1)
ok $? "another client is answered meanwhile"
like "$out" "height" "with the node's status"
grep -q 'msg="reply dropped: the client did not take it within 5000 ms"' "$H/node.log"
ok $? "the node logged the dropped replies"
stop_node "$CLIENT"
stop_node "$NODE_PID"
ok $? "trellisd stops cleanly"
clean_log "$H/node.log"
ok $? "no sanitizer or memory report"
done_testing
