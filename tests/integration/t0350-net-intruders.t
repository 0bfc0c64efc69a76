#!/bin/sh
# t0350-net-intruders: a non-member, a node with another consortium file,
# and raw garbage on a node's port are refused; the network carries on.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
port1=$(cut -d' ' -f3 "$NET/n1/partner.line" | cut -d: -f2)

# 1. a non-member: its own key, a consortium listing itself and the four partners
$TR init --home "$TMP/evil" --name evil --listen 127.0.0.1:1 >/dev/null
free=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
sed -i "s/127.0.0.1:1\$/127.0.0.1:$free/" "$TMP/evil/partner.line"
cat "$TMP/evil/partner.line" "$NET"/n[1234]/partner.line | $TR consortium create -o "$TMP/evil/consortium.json" >/dev/null
$TRD --home "$TMP/evil" 2>"$TMP/evil.log" &
EVIL=$!; PIDS="$PIDS $EVIL"

# 2. node 4's own key with a different consortium file (other parameters)
"$ROOT/testnet/kill.sh" 4 "$NET" >/dev/null
mkdir "$TMP/twin" && chmod 700 "$TMP/twin"
cp "$NET/n4/key" "$NET/n4/partner.line" "$TMP/twin/"
sed 's/"block_max_records": [0-9]*/"block_max_records": 7/' "$NET/consortium.json" > "$TMP/twin/consortium.json"
$TRD --home "$TMP/twin" 2>"$TMP/twin.log" &
TWIN=$!; PIDS="$PIDS $TWIN"

# 3. garbage straight onto node 1's port
perl -MIO::Socket::INET -e '
	for (1 .. 5) { my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]") or next;
		print $s "\x00\x00\x00\x10" . ("A" x 4096); sleep 1; close $s; }' "$port1" 2>/dev/null
sleep 3

gen_doc 5 members 100 > "$TMP/d.json"
$TR --home "$NET/n2" submit "$TMP/d.json" > "$TMP/acks-m"
ok $? "the three members still commit"
grep -q 'msg="link refused"' "$NET/n1/node.log"; ok $? "node 1 logged refused links"
grep -q 'msg="link up" peer=evil' "$NET"/n[123]/node.log
test $? -ne 0; ok $? "no member brought a link up with the non-member"
grep -q 'msg="link up"' "$TMP/evil.log"
test $? -ne 0; ok $? "the non-member got no link up"
grep -q 'msg="link up"' "$TMP/twin.log"
test $? -ne 0; ok $? "the node with another consortium file got no link up"
is "$($TR --home "$TMP/twin" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')" "0" "it received no block"
kill -0 "$(cat "$NET/n1/pid")"; ok $? "node 1 still runs after the garbage"
stop_node "$EVIL"
stop_node "$TWIN"
"$ROOT/testnet/restart.sh" 4 "$NET" >/dev/null
ok $? "the real node 4 rejoins"
net_final 1 2 3 4
done_testing
