#!/bin/sh
# t0340-net-two-down: with two of four nodes down there is no quorum: no
# commit and no divergence; bring one back and commits resume.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
gen_doc 5 before 100 > "$TMP/d0.json"
$TR --home "$NET/n1" submit "$TMP/d0.json" > "$TMP/acks-a"
ok $? "a commit with all four"
h0=$(head_of 1)
"$ROOT/testnet/kill.sh" 3 "$NET" >/dev/null
"$ROOT/testnet/kill.sh" 4 "$NET" >/dev/null
ok $? "nodes 3 and 4 killed"
gen_doc 5 stuck 100 > "$TMP/d1.json"
$TR --home "$NET/n1" submit --timeout 5 "$TMP/d1.json" >/dev/null 2>&1
test $? -ne 0; ok $? "a submit is not acknowledged without a quorum"
is "$(head_of 1)" "$h0" "node 1 committed nothing"
is "$(head_of 2)" "$h0" "node 2 committed nothing"
"$ROOT/testnet/restart.sh" 3 "$NET" >/dev/null
ok $? "node 3 back"
gen_doc 5 after 100 > "$TMP/d2.json"
$TR --home "$NET/n2" submit --timeout 60 "$TMP/d2.json" > "$TMP/acks-b"
ok $? "commits resume with three of four"
net_final 1 2 3
done_testing
