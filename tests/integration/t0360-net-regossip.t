#!/bin/sh
# t0360-net-regossip: gossip is sent once and a frame can be lost (a full
# link queue, a broken connection). A node whose clients' records never
# reached the primary sends them to it again after half the view-change
# timeout: they commit on every node, with no view change; the primary
# checks the re-sent records it lacked. Records that only waited (the
# primary paused) are sent again too, and the primary drops the copies it
# holds unchecked. Records that reached only a backup (their node died)
# are sent to the primary by that backup.
. "$(dirname "$0")/lib.sh"

# restart_losing NODE VALUE WHAT: restart node NODE with
# TRELLIS_TEST_LOSE_GOSSIP=VALUE and wait for its links
restart_losing() {
	TRELLIS_TEST_LOSE_GOSSIP=$2 "$ROOT/testnet/restart.sh" "$1" "$NET" >/dev/null
	ok $? "node $1 restarted $3"
	links_up "$1"
	ok $? "node $1's links are up"
}

# submit_all NODE COUNT TAG WHAT: COUNT new events through node NODE, all
# acknowledged
submit_all() {
	gen_doc "$2" "$3" > "$TMP/d-$3.json"
	$TR --home "$NET/n$1" submit --timeout 60 "$TMP/d-$3.json" > "$TMP/acks-$3"
	ok $? "$4"
	is "$(wc -l < "$TMP/acks-$3" | tr -d ' ')" "$2" "all $2 acknowledged"
}

# resent NODE COUNT: node NODE logged sending COUNT records to node 1
resent() {
	grep -q "msg=\"pending records sent again to the primary\" peer=node1 records=$2 why=waited" \
		"$NET/n$1/node.log"
}

net_up 4
ok $? "4-node testnet up"
submit_all 1 3 warm "a commit with all four"

# 1. Only node 3 holds these records: too few replicas for a view change.
restart_losing 3 1 "with its gossip lost"
grep -q "TRELLIS_TEST_LOSE_GOSSIP is set" "$NET/n3/node.log"
ok $? "node 3 says its gossip is lost"
submit_all 3 10 lost "records submitted through node 3 commit"
resent 3 10
ok $? "node 3 sent them again to the primary"
"$ROOT/testnet/status.sh" "$NET" > "$TMP/status"
is "$(grep -c ' view 0 ' "$TMP/status")" 4 "no view change was needed"

# 2. The primary is only slow: paused while node 2's records reach it,
# longer than half the view-change timeout (2 s), so that node 2 sends them
# again, and short of the timeout, so that the view stays.
gen_doc 10 slow > "$TMP/d2.json"
"$ROOT/testnet/pause.sh" 1 "$NET" >/dev/null
$TR --home "$NET/n2" submit --timeout 60 "$TMP/d2.json" > "$TMP/acks-slow" &
SUB=$!
sleep 1.3
"$ROOT/testnet/resume.sh" 1 "$NET" >/dev/null
wait $SUB
ok $? "records submitted while the primary was paused commit"
resent 2 10
ok $? "node 2 sent them again to the paused primary"
"$ROOT/testnet/status.sh" "$NET" > "$TMP/status2"
is "$(grep -c ' view 0 ' "$TMP/status2")" 4 "still view 0: node 1 is the primary below"

# 3. Records that reached a backup only, as if their node died just after
# its gossip reached node 3: node 2 gossips to node 3 only and never
# re-sends. Node 3 sends them to the primary after 3/4 of the view-change
# timeout.
restart_losing 2 node3 "gossiping to node 3 only, once"
submit_all 2 5 orphan "records that only node 3 received commit"
resent 3 5
ok $? "node 3 sent them to the primary"
grep -q 'records=5 why=' "$NET/n2/node.log"
test $? -ne 0; ok $? "node 2 did not send them again"
net_final 1 2 3 4

# the stop lines: what node 1 (the primary) did with the copies
stat() { grep -o "$1=[0-9]*" "$NET/n1/node.log" | tail -1 | cut -d= -f2; }
checked=$(stat regossip_checked)
held=$(stat regossip_held)
test "${checked:-0}" -ge 15
ok $? "node 1 checked the 15 re-sent records it lacked (regossip_checked=$checked)"
test "${held:-0}" -ge 10
ok $? "node 1 dropped the ten re-sent copies it held, unchecked (regossip_held=$held)"
done_testing
