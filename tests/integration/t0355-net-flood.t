#!/bin/sh
# t0355-net-flood: outsiders hold hundreds of connections to a node's port
# (SP-negotiated, so each one is a pipe waiting for its handshake) and
# reopen every one that is closed. The node keeps committing, a partner
# that restarts during the flood links up with it again, and the flood
# only ever evicts handshaking connections or is refused (link.h:
# admission bounds).
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
port1=$(cut -d' ' -f3 "$NET/n1/partner.line" | cut -d: -f2)
load_start 1 f1
wait_acks f1 10

# 8 source addresses (127.0.0.2-9) x 40 connections, each sending the SP
# header of pair1 and then nothing; closed ones are reopened (20 per 50 ms)
perl -MIO::Socket::INET -MIO::Select -e '
	my ($port, $stop) = @ARGV;
	my @want = map { my $a = $_; map { "127.0.0.$a" } 1 .. 40 } 2 .. 9;
	my %sock; my $sel = IO::Select->new; my @todo = (0 .. $#want); my %idx;
	until (-e $stop) {
		for (1 .. 20) {
			my $i = shift @todo; last unless defined $i;
			my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", LocalAddr => $want[$i]);
			if (!$s) { push @todo, $i; next }
			syswrite $s, "\x00SP\x00\x00\x11\x00\x00";
			$sel->add($s); $idx{fileno $s} = $i;
		}
		for my $s ($sel->can_read(0.05)) {
			my $buf;
			next if sysread($s, $buf, 4096);
			$sel->remove($s); push @todo, delete $idx{fileno $s}; close $s;
		}
	}' "$port1" "$TMP/stop-flood" 2>/dev/null &
FLOOD=$!; PIDS="$PIDS $FLOOD"
sleep 8

wait_acks f1 10
ok $? "node 1 keeps committing under the flood"
"$ROOT/testnet/kill.sh" 4 "$NET" >/dev/null
"$ROOT/testnet/restart.sh" 4 "$NET" >/dev/null
ok $? "node 4 restarts during the flood"
i=0
until $TR --home "$NET/n4" status --json 2>/dev/null |
	perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>);
		exit((grep { $_->{state} eq "connecting" } @{$s->{peers}}) ? 1 : 0)'; do
	i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.2
done
$TR --home "$NET/n4" status --json | perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>);
	exit(($s->{peers}[0]{state} eq "up") ? 0 : 1)'
ok $? "node 4 links up with the flooded node 1 again"
wait_acks f1 10
ok $? "commits continue"
touch "$TMP/stop-flood"
wait "$FLOOD"
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$FLOOD" | tr '\n' ' ')
load_stop f1
net_final 1 2 3 4
grep -Eq 'msg="node stopping".* links_refused=[1-9]' "$NET/n1/node.log"
ok $? "node 1 refused outsiders over their address's share (before NNG received on them)"
done_testing
