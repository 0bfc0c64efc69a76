#!/bin/sh
# t0320-net-backup: SIGKILL a backup and restart it; wipe a backup's data
# folder and restart it: it rebuilds the chain from its peers; restart a
# backup after the load has stopped: its peers push it what it missed.
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
# Down while the others commit, back when nothing is committed any more:
# no round is running to show it is behind, so only the blocks its peers
# push on hearing its height (every second) bring it level.
"$ROOT/testnet/kill.sh" 2 "$NET" >/dev/null
ok $? "node 2 killed"
wait_acks c1 15
ok $? "commits continue without node 2"
load_stop c1
"$ROOT/testnet/restart.sh" 2 "$NET" >/dev/null
ok $? "node 2 restarts into an idle network"
h=$(converge 1 2 3 4)
ok $? "node 2 catches up with no load ($h)"
net_final 1 2 3 4
done_testing
