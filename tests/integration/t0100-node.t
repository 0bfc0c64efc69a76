#!/bin/sh
# t0100-node: a one-partner network end to end. 1,000 events from eight
# concurrent clients; status and verify --full; then SIGKILL in the middle
# of a second submission, restart, and every acknowledged event is there.
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
make_home "$H" farm urn:epc:id:sgln:0614141.00001.0
ok $? "home and one-partner consortium"
start_node "$H"
ok $? "trellisd starts and answers"
PID1=$NODE_PID

# the quick start's example document
out=$($TR --home "$H" submit "$SHARED/epcis/examples/Example_9.6.1-ObjectEvent.jsonld")
ok $? "submit a GS1 example document"
is "$(echo "$out" | wc -l)" "2" "one line per event"
like "$(echo "$out" | head -1)" '^[0-9a-f]{64} height 1 position 0$' "event id, height, position"
id=$(echo "$out" | head -1 | cut -d' ' -f1)
got=$($TR --home "$H" get "$id")
ok $? "get the event back"
like "$got" "signer +farm \(ed25519\)" "get shows the signer"
like "$got" '"eventTime":"2005-04-03T20:33:31.116000-06:00"' "get shows the event"
jid=$($TR --home "$H" get "$id" --json | perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); print "$j->{event_id} $j->{height} $j->{position} $j->{event}{type}"')
is "$jid" "$id 1 0 ObjectEvent" "get --json"

err=$($TR --home "$H" submit "$SHARED/epcis/examples/Example_9.6.1-ObjectEvent.jsonld" 2>&1)
is "$?" "2" "the same document again is refused"
like "$err" "duplicate event id $id \(committed at height 1 position 0\)" "the error names the original"

# the same event twice in one document: refused, naming the second copy
gen_doc 3 twin 0 | perl -pe 's/("eventList":\[)(\{.*?"example:note":"[^"]*"\})/$1$2,$2/' > "$TMP/twin.json"
err=$($TR --home "$H" submit "$TMP/twin.json" 2>&1)
is "$?" "2" "a document with one event twice is refused"
like "$err" "record 1: duplicate event id [0-9a-f]{64} \(twice in one submit\)" "the error names the second copy"

# ---- 1,000 events from 8 concurrent clients (5 documents of 25 events each)
c=1
while [ $c -le 8 ]; do
	(
		d=1
		while [ $d -le 5 ]; do
			gen_doc 25 "c${c}d${d}x" 600 > "$TMP/doc-$c-$d.json"
			$TR --home "$H" submit --json "$TMP/doc-$c-$d.json" > "$TMP/ack-$c-$d.json" || echo "client $c doc $d failed" >> "$TMP/failures"
			d=$((d + 1))
		done
	) &
	eval "CL$c=\$!"
	c=$((c + 1))
done
c=1
while [ $c -le 8 ]; do eval "wait \$CL$c"; c=$((c + 1)); done
test ! -s "$TMP/failures"; ok $? "every client's submits were acknowledged"
cat "$TMP"/ack-*.json | perl -MJSON::PP -ne 'for my $r (@{decode_json($_)}) { print "$r->{event_id} $r->{height} $r->{position}\n" }' > "$TMP/acks"
is "$(wc -l < "$TMP/acks")" "1000" "1,000 acknowledgements"
is "$(cut -d' ' -f1 "$TMP/acks" | sort -u | wc -l)" "1000" "1,000 distinct event ids"
is "$(cut -d' ' -f2,3 "$TMP/acks" | sort -u | wc -l)" "1000" "1,000 distinct (height, position) pairs"

st=$($TR --home "$H" status --json)
ok $? "status --json"
height=$(echo "$st" | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')
maxh=$(cut -d' ' -f2 "$TMP/acks" | sort -n | tail -1)
test "$height" -ge "$maxh"; ok $? "status height ($height) covers every acknowledged block ($maxh)"
like "$st" '"mode":"normal"' "status shows the mode"

# check_acks FILE: every "event_id height position" line of FILE is in the ledger there
check_acks() {
	cut -d' ' -f1 "$1" | xargs $TR --home "$H" get --json 2>"$TMP/get.err" |
		perl -MJSON::PP -ne 'my $j = decode_json($_); print "$j->{event_id} $j->{height} $j->{position}\n"' |
		sort > "$TMP/found"
	sort "$1" | comm -23 - "$TMP/found" | wc -l
}
is "$(check_acks "$TMP/acks")" "0" "get agrees with all 1,000 acknowledgements"

v=$($TR --home "$H" verify --full)
ok $? "verify --full passes"
like "$v" "^ok: [0-9]+ blocks verified" "verify reports the blocks"

# ---- SIGKILL during a second submission
(
	d=1
	while [ $d -le 400 ] && [ ! -e "$TMP/stop" ]; do
		gen_doc 5 "k${d}x" 200 > "$TMP/kdoc.json"
		$TR --home "$H" submit "$TMP/kdoc.json" >> "$TMP/kacks" 2>/dev/null || true
		d=$((d + 1))
	done
) &
SUB=$!
# wait until some of it has been acknowledged, then kill the node mid-stream
i=0
while [ $i -lt 2400 ] && [ "$(cat "$TMP/kacks" 2>/dev/null | wc -l)" -lt 50 ]; do sleep 0.05; i=$((i + 1)); done
stop_node "$PID1" KILL
ok 0 "node killed with SIGKILL during the submission"
touch "$TMP/stop"
wait $SUB
nk=$(wc -l < "$TMP/kacks")
test "$nk" -ge 50; ok $? "$nk events were acknowledged before the kill"

start_node "$H"
ok $? "trellisd restarts on the same home"
cut -d' ' -f1,3,5 "$TMP/kacks" > "$TMP/kacks3"
cat "$TMP/acks" "$TMP/kacks3" > "$TMP/allacks"
is "$(check_acks "$TMP/allacks")" "0" "every acknowledged event (both rounds) is in the ledger at its height and position"
v=$($TR --home "$H" verify --full)
ok $? "verify --full passes after the crash"

out=$($TR --home "$H" submit "$SHARED/epcis/examples/Example_9.6.3-AggregationEvent.jsonld")
ok $? "the restarted node commits new events"
st=$($TR --home "$H" status --json)
h2=$(echo "$st" | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')
like "$out" "height $h2 position 0" "new block on top of the recovered head"

stop_node "$NODE_PID" TERM
ok $? "SIGTERM stops the node with exit status 0"
clean_log "$H/node.log"; ok $? "no sanitizer or memory report in the node's log"
grep -q 'msg="node stopping"' "$H/node.log"; ok $? "the node logged a clean stop (logfmt)"

for bad in 99 2000001 12x -5 ""; do
	err=$($TRD --home "$H" --mempool-records "$bad" 2>&1)
	is "$?" "1" "trellisd refuses --mempool-records '$bad'"
	like "$err" "bad --mempool-records '$bad' \(100 to 2000000\)" "... and says the range"
done

done_testing
