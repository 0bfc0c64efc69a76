#!/bin/sh
# t0330-net-pause: SIGSTOP a node for 10 s under load, SIGCONT it: it
# catches up.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
load_start 1 c1
wait_acks c1 15
"$ROOT/testnet/pause.sh" 2 "$NET" >/dev/null
ok $? "node 2 paused"
sleep 10
wait_acks c1 10
ok $? "commits continue while it is paused"
"$ROOT/testnet/resume.sh" 2 "$NET" >/dev/null
ok $? "node 2 resumed"
wait_acks c1 10
load_stop c1
net_final 1 2 3 4
done_testing
