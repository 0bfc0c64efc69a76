#!/bin/sh
# t0320-net-backup: SIGKILL a backup and restart it; wipe a backup's data
# folder and restart it: it rebuilds the chain from its peers.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
load_start 1 c1
wait_acks c1 20
"$ROOT/testnet/kill.sh" 3 "$NET" >/dev/null
ok $? "backup (node 3) killed"
wait_acks c1 20
ok $? "commits continue"
"$ROOT/testnet/restart.sh" 3 "$NET" >/dev/null
ok $? "node 3 restarts"
wait_acks c1 15
"$ROOT/testnet/kill.sh" 4 "$NET" >/dev/null
rm -rf "$NET/n4/data"
ok $? "node 4 killed and its data folder wiped"
wait_acks c1 15
"$ROOT/testnet/restart.sh" 4 "$NET" >/dev/null
ok $? "node 4 restarts with an empty ledger"
wait_acks c1 15
ok $? "commits continue"
load_stop c1
net_final 1 2 3 4
done_testing
