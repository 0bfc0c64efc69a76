#!/bin/sh
# t0390-net-share: one partner cannot take the whole mempool. Nodes run
# with --mempool-records 400, so each of the four partners keeps 50 of it
# for its own records and one partner's records fill at most 250. With
# nodes 3 and 4 paused nothing commits, so submits stay pending: node 2's
# 300 events are refused at once (naming node2, nothing added), its 250
# are taken; then node 1's 51 are refused and its 50 taken, and one more
# of node 2's is refused. Resumed, the network commits all 300, once.
. "$(dirname "$0")/lib.sh"

ARGS=${TESTNET_NODE_ARGS:-}
export TESTNET_NODE_ARGS="$ARGS --mempool-records 400"
net_up 4
ok $? "4-node testnet up, mempools of 400 records"
TESTNET_NODE_ARGS=$ARGS


"$ROOT/testnet/pause.sh" 3 "$NET" >/dev/null && "$ROOT/testnet/pause.sh" 4 "$NET" >/dev/null
ok $? "nodes 3 and 4 paused: no quorum, nothing commits"

gen_doc 300 big > "$TMP/big.json"
gen_doc 250 bulk > "$TMP/bulk.json"
gen_doc 51 over > "$TMP/over.json"
gen_doc 50 own > "$TMP/own.json"
gen_doc 1 one > "$TMP/one.json"

OUT=$($TR --home "$NET/n2" submit --timeout 10 "$TMP/big.json" 2>&1)
ok $(( $? == 0 )) "node 2's 300 events are refused"
like "$OUT" "no mempool room for 300 more records signed by node2 \\(0 of at most 400 pending here are theirs; each partner keeps 50 for its own\\), retry later" \
	"the refusal names the signing partner and the bounds"
is "$(mempool_of 2)" "0" "nothing of them was added"

$TR --home "$NET/n2" submit --timeout 300 "$TMP/bulk.json" > "$TMP/acks-bulk" 2>"$TMP/errs-bulk" &
BULK=$!
PIDS="$PIDS $BULK"
wait_mempool 2 250 && wait_mempool 1 250
ok $? "node 2's 250 events are pending at nodes 2 and 1 (gossip)"

OUT=$($TR --home "$NET/n1" submit --timeout 10 "$TMP/over.json" 2>&1)
ok $(( $? == 0 )) "node 1's 51 events are refused at node 1"
like "$OUT" "no mempool room for 51 more records signed by node1" "the refusal names node1"

$TR --home "$NET/n1" submit --timeout 300 "$TMP/own.json" > "$TMP/acks-own" 2>"$TMP/errs-own" &
OWN=$!
PIDS="$PIDS $OWN"
wait_mempool 1 300
ok $? "node 1's 50 events are taken beside node 2's 250 (its share)"

OUT=$($TR --home "$NET/n2" submit --timeout 10 "$TMP/one.json" 2>&1)
ok $(( $? == 0 )) "one more event of node 2 is refused"
like "$OUT" "no mempool room for 1 more records signed by node2 \\(250 of" "it names node2 and its 250"

"$ROOT/testnet/resume.sh" 3 "$NET" >/dev/null && "$ROOT/testnet/resume.sh" 4 "$NET" >/dev/null
ok $? "nodes 3 and 4 resumed"
wait $BULK
ok $? "node 2's 250 events committed"
wait $OWN
ok $? "node 1's 50 events committed"
is "$(cat "$TMP/acks-bulk" "$TMP/acks-own" | wc -l | tr -d ' ')" 300 "300 acknowledged"
is "$(mempool_of 1)" "0" "nothing left pending at node 1"

net_final 1 2 3 4
done_testing
