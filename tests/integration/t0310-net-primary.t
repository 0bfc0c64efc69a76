#!/bin/sh
# t0310-net-primary: SIGKILL the primary under load: a view change, commits
# continue through the other nodes; the old primary restarts and catches up.
# The primary is node 1 unless a busy machine already changed the view
# before the kill: the test kills whichever node is primary then.
. "$(dirname "$0")/lib.sh"

view_of() { $TR --home "$NET/n$1" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{view}'; }

net_up 4
ok $? "4-node testnet up"
load_start 2 c2
load_start 3 c3
wait_acks c2 20
ok $? "commits before the crash"
v0=$(view_of 4)
p=$((v0 % 4 + 1))        # primary(v) = partner[v mod n]
live=c2; [ "$p" -ne 2 ] || live=c3
q=$((p % 4 + 1))         # a node that stays up, to ask the view
"$ROOT/testnet/kill.sh" "$p" "$NET" >/dev/null
ok $? "primary (node $p, view $v0) killed with SIGKILL"
wait_acks $live 20
ok $? "commits continue without the primary"
[ "$p" -eq 2 ] || [ "$p" -eq 3 ] || wait_acks c3 10
ok $? "through the remaining clients"
v1=$(view_of "$q")
test "$v1" -gt "$v0"; ok $? "the view changed ($v0 -> $v1)"
# someone asked to leave first (a node may join the new view straight from
# a certificate of it, without asking)
cat "$NET"/n*/node.log | grep -q "msg=\"view change\" to_view=$((v0 + 1)) "
ok $? "a node logs that it asked to leave view $v0"
grep -q "msg=\"new view\" view=$v1 primary=node$((v1 % 4 + 1)) " "$NET/n$q/node.log"
ok $? "node $q logs the view it joined and its primary"
"$ROOT/testnet/restart.sh" "$p" "$NET" >/dev/null
ok $? "old primary restarts"
wait_acks $live 10
ok $? "commits continue with it back"
load_stop c2
load_stop c3
net_final 1 2 3 4
done_testing
