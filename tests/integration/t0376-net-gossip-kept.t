#!/bin/sh
# t0376-net-gossip-kept: a submit larger than what a partner's gossip
# queue takes at once (P2P_QUEUE_BULK_MAX, 48 MiB): 20,000 events of
# ~3 KB (~63 MB of records) through a backup. The link refuses the frames
# past the queue's room (send_full); the node keeps them and offers them
# again as the queue drains (gossip_kept), so every node gets every record
# by gossip and none has to check one from the re-send path. Before, the
# refused frames were dropped and the rest reached the primary
# only by re-sends, 2,000 at a time.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
gen_doc 3600 big 15000 > "$TMP/big.json"
$TR --home "$NET/n2" submit --timeout 300 "$TMP/big.json" > "$TMP/acks-big"
ok $? "3,600 events of ~15 KB submitted through node 2 in one document"
is "$(wc -l < "$TMP/acks-big" | tr -d ' ')" 3600 "all 3,600 acknowledged"
net_final 1 2 3 4

# the stop lines
stat() { grep -o "$2=[0-9]*" "$NET/n$1/node.log" | tail -1 | cut -d= -f2; }
full=$(stat 2 send_full)
[ "${full:-0}" -gt 0 ]
ok $? "node 2's link refused gossip past the queue's room (send_full=${full:-0})"
kept=$(stat 2 gossip_kept)
[ "${kept:-0}" -gt 0 ]
ok $? "node 2 kept those frames and offered them again (gossip_kept=${kept:-0})"
checked=0
for n in 1 2 3 4; do
	c=$(stat $n regossip_checked)
	checked=$((checked + ${c:-0}))
done
is "$checked" 0 "no node checked a re-sent record: each had it by gossip"
done_testing
