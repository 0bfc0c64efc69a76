#!/bin/sh
# t0380-net-fair: one partner's bulk submit does not hold another
# partner's records back. Blocks of 100 records; node 2 submits 10,000
# events signed with its key; once the primary (node 1) holds thousands of
# them pending, node 1 submits 5 events signed with its own key. Blocks are
# shared among signers, so those 5 commit within a few blocks, while most
# of the bulk is still to come; cut in arrival order they would come after
# every bulk record the primary held (checked: the bulk records committed
# after them are at least half of what was pending when they were sent).
. "$(dirname "$0")/lib.sh"

# bad TESTNET_PARAMS: refused with the reason, and no node left running
for bad in "block_max_records:not name=number" "no_such=5:no consortium param 'no_such'" \
	"block_max_records=0:'block_max_records' must be between 1 and 100000"; do
	p=${bad%%:*} why=${bad#*:}
	out=$(TESTNET_PARAMS=$p "$ROOT/testnet/up.sh" 2 "$TMP/bad" 2>&1; cat "$TMP"/bad/n*/node.log 2>/dev/null)
	like "$out" "$why" "up.sh with TESTNET_PARAMS='$p' says why"
	i=0
	while :; do # a node refusing the file exits at once; bounded wait
		live=0
		for f in "$TMP"/bad/n*/pid; do
			[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && live=$((live + 1))
		done
		[ $live = 0 ] || [ $i -ge 50 ] && break
		i=$((i + 1)); sleep 0.1
	done
	is "$live" 0 "... and leaves no node running"
	"$ROOT/testnet/down.sh" "$TMP/bad" >/dev/null 2>&1 # by pid files, if any is left
	rm -rf "$TMP/bad"
done
out=$(TESTNET_PARAMS=no_such=5 "$ROOT/testnet/up.sh" 2 "$TMP/bad" 2>&1)
ok $(( $? == 0 )) "up.sh exits non-zero on bad TESTNET_PARAMS"
rm -rf "$TMP/bad"

export TESTNET_PARAMS="block_max_records=100"
net_up 4
ok $? "4-node testnet up, blocks of at most 100 records"
unset TESTNET_PARAMS

gen_doc 10000 bulk > "$TMP/bulk.json"
gen_doc 5 small > "$TMP/small.json"
$TR --home "$NET/n2" submit --timeout 300 "$TMP/bulk.json" > "$TMP/acks-bulk" 2>"$TMP/errs-bulk" &
BULK=$!
PIDS="$PIDS $BULK"

# the primary's "height pending"
state() {
	$TR --home "$NET/n1" status --json --timeout 5 2>/dev/null |
		perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>); print "$s->{height} $s->{mempool}\n"'
}
# until the primary holds the whole bulk: pending, or in a block (at most
# 100 a block; the chain held nothing else)
i=0
while :; do
	set -- $(state) 0 0
	[ $(($1 * 100 + $2)) -ge 10000 ] && break
	i=$((i + 1)); [ $i -lt 600 ] || break
	sleep 0.1
done
H=$1 P=$2
[ "$P" -ge 3000 ]
ok $? "the primary holds the bulk, $P records of it pending, at height $H"

$TR --home "$NET/n1" submit --timeout 120 "$TMP/small.json" > "$TMP/acks-small"
ok $? "5 events of node 1 submitted while the bulk is pending"
wait $BULK
ok $? "the bulk of 10,000 events committed"
is "$(wc -l < "$TMP/acks-bulk" | tr -d ' ')" 10000 "all 10,000 acknowledged"

HS=$(awk '{ print $3 }' "$TMP/acks-small" | sort -n | tail -1)
HB=$(awk '{ print $3 }' "$TMP/acks-bulk" | sort -n | tail -1)
AFTER=$(awk -v h="$HS" '$3 > h' "$TMP/acks-bulk" | wc -l | tr -d ' ')
echo "# small committed by height $HS; bulk's last height $HB; bulk records after the small: $AFTER of $P pending"
[ "$AFTER" -ge $((P / 2)) ]
ok $? "the small submit did not wait for the bulk ($AFTER bulk records committed after it)"

net_final 1 2 3 4
done_testing
