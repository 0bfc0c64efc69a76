#!/bin/sh
# t0372-net-censor: a primary that censors one partner. Node 1, the primary
# of view 0, restarts with TRELLIS_TEST_LIE=censor: its blocks are honest
# but never hold a record signed by node 2. Node 3's clients keep blocks
# committing, so the view-change timer (no commit) never runs out. Before,
# node 2's records waited for ever; now each replica that sees a partner's
# records pass over for three blocks and then twice the view-change timeout
# in one view asks for a view change (pbft_note_starved), and the next
# primary commits them.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
TRELLIS_TEST_LIE=censor "$ROOT/testnet/restart.sh" 1 "$NET" >/dev/null
ok $? "node 1 (the primary) restarts censoring node 2"
links_up 1
ok $? "node 1's links are up"
grep -q 'TRELLIS_TEST_LIE is set: this node.s proposals lie" lie=censor' "$NET/n1/node.log"
ok $? "node 1 says its proposals lie"

load_start 3 c3
wait_acks c3 10
ok $? "node 3's records commit (the primary is honest with them)"
gen_doc 10 censored > "$TMP/censored.json"
$TR --home "$NET/n2" submit --timeout 120 "$TMP/censored.json" > "$TMP/acks-censored" 2>"$TMP/errs-censored"
ok $? "node 2's records commit all the same"
is "$(wc -l < "$TMP/acks-censored" | tr -d ' ')" "10" "all 10 acknowledged"
grep -q 'TRELLIS_TEST_LIE: proposing a lie" lie=censor' "$NET/n1/node.log"
ok $? "node 1 left them out of its blocks"
wait_acks c3 10
ok $? "node 3's records keep committing"
load_stop c3
"$ROOT/testnet/status.sh" "$NET" > "$TMP/status"
is "$(grep -c ' view 0 ' "$TMP/status")" 0 "the view moved past node 1"
net_final 1 2 3 4
n=0
for i in 1 2 3 4; do
	grep -Eq 'msg="node stopping".* starved_suspicions=[1-9]' "$NET/n$i/node.log" && n=$((n + 1))
done
ok $(( n < 1 )) "nodes asked for the view change over node 2's passed-over records ($n; the others joined them)"
done_testing
