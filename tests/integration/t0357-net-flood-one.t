#!/bin/sh
# t0357-net-flood-one: one outsider address floods a node's link port for
# 12 s from two clients: connect, the pair1 header, one 48-byte message,
# close the previous connection (thousands a second). Past its address's
# share each newcomer is refused before NNG receives on it. Before, one of
# that address's connections was evicted instead, closing a pipe NNG was
# receiving on, which hit NNG 1.5.2's close bug: no pipe was torn down any
# more, file descriptors grew by one per connection (11,491 after such a
# run) and the link socket no longer closed. Now the node's descriptors
# come back, its links work, and it stops cleanly.
. "$(dirname "$0")/lib.sh"

net_up 4
ok $? "4-node testnet up"
PID1=$(cat "$NET/n1/pid")
port1=$(cut -d' ' -f3 "$NET/n1/partner.line" | cut -d: -f2)
FDS0=$(ls /proc/"$PID1"/fd | wc -l)

flood() {
	perl -MIO::Socket::INET -MTime::HiRes=time -e '
		my ($port, $secs) = @ARGV; my $end = time + $secs; my ($prev, $n) = (undef, 0);
		while (time < $end) {
			my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or next;
			syswrite $s, "\x00SP\x00\x00\x11\x00\x00";
			syswrite $s, pack("Q>", 48) . ("\x07" x 48);
			close $prev if $prev; ($prev, $n) = ($s, $n + 1);
		}
		print "$n\n";' "$port1" 12
}
flood > "$TMP/flood-a" &
A=$!
flood > "$TMP/flood-b" &
B=$!
PIDS="$PIDS $A $B"
wait $A $B
ok $? "the flood ran ($(cat "$TMP/flood-a" "$TMP/flood-b" | tr '\n' ' ')connections)"
i=0
until [ "$(ls /proc/"$PID1"/fd | wc -l)" -le $((FDS0 + 8)) ]; do
	i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.2
done
FDS1=$(ls /proc/"$PID1"/fd | wc -l)
ok $(( FDS1 > FDS0 + 8 )) "node 1's file descriptors come back ($FDS0 before, $FDS1 after)"
"$ROOT/testnet/restart.sh" 2 "$NET" >/dev/null
links_up 1
ok $? "node 1 links up with a restarted partner"
gen_doc 20 after > "$TMP/after.json"
$TR --home "$NET/n1" submit --timeout 60 "$TMP/after.json" > "$TMP/acks-after"
ok $? "node 1 commits after the flood"
net_final 1 2 3 4
grep -q 'did not close in time' "$NET/n1/node.log"
ok $(( $? == 0 )) "node 1's link socket closed in time"
grep -Eq 'msg="node stopping".* links_refused=[1-9]' "$NET/n1/node.log"
ok $? "node 1 refused the outsider's connections over its share"
done_testing
