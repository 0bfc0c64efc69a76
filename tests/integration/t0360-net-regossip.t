#!/bin/sh
# t0360-net-regossip: gossip is sent once and a frame can be lost (NNG's
# pair1 discards frames for a full peer queue). A node whose clients'
# records never reached the primary sends them to it again after half the
# view-change timeout: they commit on every node, with no view change.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
gen_doc 3 warm > "$TMP/d0.json"
$TR --home "$NET/n1" submit "$TMP/d0.json" > "$TMP/acks-warm"
ok $? "a commit with all four"
TRELLIS_TEST_LOSE_GOSSIP=1 "$ROOT/testnet/restart.sh" 3 "$NET" >/dev/null
ok $? "node 3 restarted with its gossip lost"
grep -q "TRELLIS_TEST_LOSE_GOSSIP is set" "$NET/n3/node.log"
ok $? "node 3 says its gossip is lost"
gen_doc 10 lost > "$TMP/d1.json"
# Only node 3 holds these records: too few replicas for a view change.
$TR --home "$NET/n3" submit --timeout 60 "$TMP/d1.json" > "$TMP/acks-lost"
ok $? "records submitted through node 3 commit"
is "$(wc -l < "$TMP/acks-lost" | tr -d ' ')" 10 "all ten acknowledged"
grep -q 'msg="pending records sent again to the primary" peer=node1 records=10' "$NET/n3/node.log"
ok $? "node 3 sent them again to the primary"
"$ROOT/testnet/status.sh" "$NET" > "$TMP/status"
is "$(grep -c ' view 0 ' "$TMP/status")" 4 "no view change was needed"
net_final 1 2 3 4
done_testing
