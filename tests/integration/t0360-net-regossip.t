#!/bin/sh
# t0360-net-regossip: gossip is sent once and a frame can be lost (a full
# link queue, a broken connection). A node whose clients' records never
# reached the primary sends them to it again after half the view-change
# timeout: they commit on every node, with no view change; the primary
# checks the re-sent records it lacked. Records that only waited (the
# primary paused) are sent again too, and the primary drops the copies it
# holds unchecked.
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

gen_doc 10 slow > "$TMP/d2.json"
"$ROOT/testnet/pause.sh" 1 "$NET" >/dev/null
$TR --home "$NET/n2" submit --timeout 60 "$TMP/d2.json" > "$TMP/acks-slow" &
SUB=$!
sleep 1.6
"$ROOT/testnet/resume.sh" 1 "$NET" >/dev/null
wait $SUB
ok $? "records submitted while the primary was paused commit"
grep -q 'msg="pending records sent again to the primary" peer=node1 records=10 why=waited' "$NET/n2/node.log"
ok $? "node 2 sent them again to the paused primary"
net_final 1 2 3 4
# the stop lines: what node 1 (the primary) did with the copies
stat() { grep -o "$1=[0-9]*" "$NET/n1/node.log" | tail -1 | cut -d= -f2; }
checked=$(stat regossip_checked)
held=$(stat regossip_held)
test "${checked:-0}" -ge 10
ok $? "node 1 checked the ten re-sent records it lacked (regossip_checked=$checked)"
test "${held:-0}" -ge 10
ok $? "node 1 dropped the ten re-sent copies it held, unchecked (regossip_held=$held)"
done_testing
