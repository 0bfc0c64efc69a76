#!/bin/sh
# t0385-net-dup-pending: two records of one EPCIS event (the same GS1
# event hash, other bytes, so other event ids) submitted at two nodes: at
# most one can commit. Each is answered at once, the other's client is told
# why, nothing stays pending, and nobody changes view. Before, only the
# primary dropped the loser, so the backups kept it pending for good (its
# client never answered, its nodes' view-change timers running).
#  1. node 3's record is pending at node 4 (gossip): node 4 refuses the
#     other record at submit, naming the pending event;
#  2. node 2 loses its gossip (TRELLIS_TEST_LOSE_GOSSIP), so its record
#     reaches only the primary, by the re-send: node 3 takes the other
#     record, node 2 leaves its gossip out (its rule key is pending there),
#     and when one of the two commits, every node drops the other.
. "$(dirname "$0")/lib.sh"

export TESTNET_PARAMS="view_change_timeout_ms=8000"
net_up 4
ok $? "4-node testnet up, view-change timeout 8 s"
# gossip goes to the partners whose links are up when it leaves (up.sh
# waits for the nodes, not for every link): part 1 needs node 3's to
# reach node 4 (a run where that link came up late failed here)
for n in 1 2 3 4; do links_up "$n" || break; done
ok $? "every link is up"

# event TAG ORDER: one ObjectEvent of EPC TAG; ORDER 2 lists epcList
# before action (another json, another event id, one GS1 event hash)
event() {
	local body
	if [ "$2" = 1 ]; then
		body="\"action\":\"OBSERVE\",\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.$1\"]"
	else
		body="\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.$1\"],\"action\":\"OBSERVE\""
	fi
	printf '{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00",%s,"bizStep":"shipping","readPoint":{"id":"urn:epc:id:sgln:0614141.00001.0"}}]}}\n' "$body"
}

for t in a b; do
	event "$t" 1 > "$TMP/$t-1.json"
	event "$t" 2 > "$TMP/$t-2.json"
done
is "$($TR hash "$TMP/a-1.json")" "$($TR hash "$TMP/a-2.json")" "the two documents have one GS1 event hash"

# 1. At submit: the other record is pending at the node already.
"$ROOT/testnet/pause.sh" 1 "$NET" >/dev/null
ok $? "the primary (node 1) paused"
$TR --home "$NET/n3" submit --timeout 60 "$TMP/a-1.json" > "$TMP/acks-a" 2>"$TMP/errs-a" &
SUB=$!
PIDS="$PIDS $SUB"
wait_mempool 4 1
ok $? "node 3's record is pending at node 4 (gossip)"
OUT=$($TR --home "$NET/n4" submit --timeout 10 "$TMP/a-2.json" 2>&1)
is "$?" "2" "node 4 refuses the other record of the same event (exit 2)"
like "$OUT" "record 0: duplicate of pending event [0-9a-f]{64} \\(same GS1 event hash, or both retract one event: at most one can commit\\)" \
	"the refusal names the pending event"
is "$(mempool_of 4)" "1" "nothing of it was added"
"$ROOT/testnet/resume.sh" 1 "$NET" >/dev/null
wait $SUB
ok $? "node 3's record commits"

# 2. At commit: each record was taken at a node that did not know the other.
TRELLIS_TEST_LOSE_GOSSIP=1 "$ROOT/testnet/restart.sh" 2 "$NET" >/dev/null
ok $? "node 2 restarted with its gossip lost"
links_up 2
ok $? "node 2's links are up"
"$ROOT/testnet/pause.sh" 1 "$NET" >/dev/null
$TR --home "$NET/n2" submit --timeout 60 "$TMP/b-1.json" > "$TMP/acks-b1" 2>"$TMP/errs-b1" &
B1=$!
wait_mempool 2 1
ok $? "node 2's record is pending at node 2 only"
$TR --home "$NET/n3" submit --timeout 60 "$TMP/b-2.json" > "$TMP/acks-b2" 2>"$TMP/errs-b2" &
B2=$!
PIDS="$PIDS $B1 $B2"
wait_mempool 3 1 && wait_mempool 4 1
ok $? "node 3's record is pending at nodes 3 and 4"
i=0
until grep -q 'msg="gossip left out" peer=node3 records=1' "$NET/n2/node.log"; do
	i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.2
done
ok $(( i >= 300 )) "node 2 left node 3's record out (its rule key is pending there)"
"$ROOT/testnet/resume.sh" 1 "$NET" >/dev/null
wait $B1
R1=$?
wait $B2
R2=$?
is "$(( (R1 == 0) + (R2 == 0) ))" "1" "one of the two records commits ($R1, $R2)"
cat "$TMP/errs-b1" "$TMP/errs-b2" > "$TMP/errs-b"
like "$(cat "$TMP/errs-b")" "not committed: duplicate of event [0-9a-f]{64} committed at height [0-9]+ position 0 \\(same GS1 event hash" \
	"the other's client is told which event committed"
for n in 1 2 3 4; do
	wait_mempool "$n" 0
	ok $? "nothing is pending at node $n"
done
"$ROOT/testnet/status.sh" "$NET" > "$TMP/status"
is "$(grep -c ' view 0 ' "$TMP/status")" 4 "no view change"
net_final 1 2 3 4
done_testing
