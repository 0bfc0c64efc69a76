#!/bin/sh
# t0310-net-primary: SIGKILL the primary under load: a view change, commits
# continue through the other nodes; the old primary restarts and catches up.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
load_start 2 c2
load_start 3 c3
wait_acks c2 20
ok $? "commits before the crash"
v0=$($TR --home "$NET/n2" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{view}')
"$ROOT/testnet/kill.sh" 1 "$NET" >/dev/null
ok $? "primary (node 1) killed with SIGKILL"
wait_acks c2 20
ok $? "commits continue without the primary"
wait_acks c3 10
ok $? "through both remaining clients"
v1=$($TR --home "$NET/n2" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{view}')
test "$v1" -gt "$v0"; ok $? "the view changed ($v0 -> $v1)"
"$ROOT/testnet/restart.sh" 1 "$NET" >/dev/null
ok $? "old primary restarts"
wait_acks c2 10
ok $? "commits continue with it back"
load_stop c2
load_stop c3
net_final 1 2 3 4
done_testing
