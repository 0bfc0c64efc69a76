#!/bin/sh
# t0300-net-load: a 4-node testnet; clients submit through every node at
# once; every acknowledged event is on every node, which all agree.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
for n in 1 2 3 4; do load_start $n c$n; done
for n in 1 2 3 4; do wait_acks c$n 40; ok $? "node $n acknowledges submits under concurrent load"; done
for n in 1 2 3 4; do load_stop c$n; done
test ! -s "$TMP/errs-c1" && test ! -s "$TMP/errs-c2" && test ! -s "$TMP/errs-c3" && test ! -s "$TMP/errs-c4"
ok $? "no submit failed"
[ -s "$TMP/errs-c1" ] && sed 's/^/# /' "$TMP"/errs-c* | head -5

# the same document through two nodes (so signed by two partners): the event
# is committed once; the other client is told it is a duplicate
gen_doc 3 twice 10 > "$TMP/twice.json"
$TR --home "$NET/n2" submit "$TMP/twice.json" > "$TMP/tw2" 2>"$TMP/tw2.err" &
TW=$!
$TR --home "$NET/n3" submit "$TMP/twice.json" > "$TMP/tw3" 2>"$TMP/tw3.err"
r3=$?
wait $TW
r2=$?
ok $((r2 * r3)) "one document submitted through two nodes: at least one answer"
sed 's/^/# node 2: /' "$TMP/tw2.err"; sed 's/^/# node 3: /' "$TMP/tw3.err"
if [ $r2 = 0 ] && [ $r3 = 0 ]; then
	is "$(cat "$TMP/tw2")" "$(cat "$TMP/tw3")" "both clients got the same height and position"
else
	like "$(cat "$TMP/tw2.err" "$TMP/tw3.err")" "duplicate event id [0-9a-f]{64} \((committed at height|already pending)" "the other client is told the event is already there (signed through another partner)"
fi

net_final 1 2 3 4
done_testing
