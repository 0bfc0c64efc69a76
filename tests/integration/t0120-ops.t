#!/bin/sh
# t0120-ops: what operators run into with a one-partner node: a client
# that gives up while the node is paused (SIGSTOP) must not leave the API
# deaf once the node runs again.
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
make_home "$H" farm urn:epc:id:sgln:0614141.00001.0
ok $? "home and one-partner consortium"
start_node "$H"
ok $? "trellisd starts and answers"
PID=$NODE_PID

# answers H: the node answers status within 30 tries of one second
answers() {
	local i=0
	while [ $i -lt 30 ]; do
		$TR --home "$1" status --timeout 1 >/dev/null 2>&1 && return 0
		i=$((i + 1))
	done
	return 1
}

# ---- a client hangs up before the paused node took its connection
# (as `testnet/status.sh` does with its 2 s timeout, or a Ctrl-C): NNG
# 1.5.2's ipc listener stops accepting for good when the negotiation of
# such a connection fails; the node must notice and listen again.
kill -STOP "$PID"
$TR --home "$H" status --timeout 1 >/dev/null 2>&1
is "$?" "4" "status of a paused node: node unreachable (exit 4)"
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!"' "$H/api.sock"
ok $? "a raw connection to the paused node's API, closed at once"
kill -CONT "$PID"
answers "$H"
ok $? "the node answers status again after SIGCONT"
out=$($TR --home "$H" submit --timeout 10 "$SHARED/epcis/examples/Example_9.6.1-ObjectEvent.jsonld")
ok $? "and takes a submit"
is "$(echo "$out" | wc -l)" "2" "one line per event"

stop_node "$PID"
ok $? "trellisd stops cleanly"
clean_log "$H/node.log"
ok $? "node log has no sanitizer or memory report"
done_testing
