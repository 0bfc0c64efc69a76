#!/bin/sh
# t0375-net-big-submit: a submit larger than a link frame (P2P_FRAME_MAX,
# 24 MiB of records) through a backup. Its gossip goes in frames of at most
# 4 MiB, so every node gets every record by gossip and none has to check
# one from the slower re-send path (a single frame was refused whole by the
# link, and the records reached the primary only by re-sends, 2,000 at a
# time).
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
gen_doc 10000 big 3000 > "$TMP/big.json"   # ~32 MB of json and of records
$TR --home "$NET/n2" submit --timeout 300 "$TMP/big.json" > "$TMP/acks-big"
ok $? "10,000 events of ~3 KB submitted through node 2 in one document"
is "$(wc -l < "$TMP/acks-big" | tr -d ' ')" 10000 "all 10,000 acknowledged"
net_final 1 2 3 4

# the stop lines: re-sent records a node had to check (it lacked them)
checked=0
for n in 1 2 3 4; do
	c=$(grep -o 'regossip_checked=[0-9]*' "$NET/n$n/node.log" | tail -1 | cut -d= -f2)
	checked=$((checked + ${c:-0}))
done
is "$checked" 0 "no node checked a re-sent record: each had it by gossip"
done_testing
