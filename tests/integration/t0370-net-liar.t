#!/bin/sh
# t0370-net-liar: a lying partner. The primary proposes well-formed, signed
# blocks that are wrong inside (TRELLIS_TEST_LIE, a fault-injection switch
# for tests only): a record whose signature does not check, the same record
# twice, a record already on the chain. The honest backups refuse to vote
# for them (at least f+1 of them log it), the view changes, and the next
# primary commits the records; the lie is stored nowhere (verify --full on
# every node), and the liar's own clients' records commit too. Each round
# makes the primary of the moment the liar, so three partners lie in turn.
. "$(dirname "$0")/lib.sh"

view_of() { $TR --home "$NET/n$1" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{view}'; }

# lie_round LIE WHY LOGGED: the current primary restarts lying with LIE; load
# through two other nodes commits; the view moves past it; every other node
# logged a refused proposal whose reason matches LOGGED
lie_round() {
	local v0 p a n refused
	v0=$(view_of 4)
	p=$((v0 % 4 + 1))
	a=$((p % 4 + 1))
	for n in 1 2 3 4; do wc -l < "$NET/n$n/node.log" > "$TMP/lines-$n"; done
	TRELLIS_TEST_LIE=$1 "$ROOT/testnet/restart.sh" "$p" "$NET" >/dev/null
	ok $? "the primary (node $p, view $v0) restarts proposing $2"
	links_up "$p"
	ok $? "node $p's links are up"
	grep -q "TRELLIS_TEST_LIE is set: this node's proposals lie\" lie=$1" "$NET/n$p/node.log"
	ok $? "node $p says its proposals lie"
	load_start "$a" "$1a"
	load_start "$p" "$1p"
	wait_acks "$1a" 20
	ok $? "records submitted through node $a commit"
	wait_acks "$1p" 10
	ok $? "records submitted through the liar (node $p) commit"
	load_stop "$1a"
	load_stop "$1p"
	grep -q "TRELLIS_TEST_LIE: proposing a lie\" lie=$1" "$NET/n$p/node.log"
	ok $? "node $p proposed the lie"
	test "$(view_of "$a")" -gt "$v0"
	ok $? "the view moved past node $p ($v0 -> $(view_of "$a"))"
	refused=0
	for n in 1 2 3 4; do
		[ "$n" -ne "$p" ] || continue
		tail -n +$(($(cat "$TMP/lines-$n") + 1)) "$NET/n$n/node.log" |
			grep "msg=\"refused proposal\"" | grep -q "$3" && refused=$((refused + 1))
	done
	# f+1 refusals start the view change; the third honest node may move
	# to the new view before it gets to validate the lie
	test "$refused" -ge 2
	ok $? "$refused of the three honest nodes refused it ($3), at least f+1 = 2"
}

net_up 4
ok $? "4-node testnet up"
gen_doc 3 warm > "$TMP/warm.json"
$TR --home "$NET/n2" submit --timeout 60 "$TMP/warm.json" > "$TMP/acks-warm"
ok $? "a commit with all four honest"

lie_round signature "a record whose signature does not check" "bad signature"
lie_round duplicate "a record twice in one block" "record [1-9][0-9]*: duplicate event id"
lie_round replay "a record already on the chain" "record 0: duplicate event id"

net_final 1 2 3 4
done_testing
