#!/bin/sh
# t0600-proof: offline proofs through the CLI on the 4-partner demo
# network. A proof of one event from each node verifies with nothing but
# the consortium file, in both forms; tampered bytes, another consortium
# and garbage are refused with exit 5; trace bundles up and down verify
# and show their steps; a retracted event's proof says so; bad arguments
# get their exit codes. (Every byte position is tried in the unit test,
# tests/unit/proof_test.c.)
. "$(dirname "$0")/lib.sh"

NET=$TMP/demo
DEMO_DIR=$NET sh "$ROOT/testnet/demo.sh" >"$TMP/demo.log" 2>&1
ok $? "the demo network records the farm-to-shelf story"
C=$NET/consortium.json
LOTA=urn:epc:class:lgtin:0614141.012345.FIELD-A
PACK1=urn:epc:id:sgtin:0614141.054321.1001
first_id() { perl -ne 'if (/"event_id":"([0-9a-f]{64})"/) { print $1; exit }'; }
HARVEST=$($TR --home "$NET/n1" history "$LOTA" --json | first_id)
like "$HARVEST" '^[0-9a-f]{64}$' "the harvest event of lot A has an id"

# one event, proved by every node, checked offline
for n in 1 2 3 4; do
	$TR --home "$NET/n$n" prove "$HARVEST" -o "$TMP/p$n.bin"
	ok $? "node $n proves the harvest event"
	out=$($TR verify-proof -c "$C" "$TMP/p$n.bin")
	ok $? "node $n's proof verifies with the consortium file alone"
done
like "$out" "event $HARVEST .*by farm" "verify-proof names the event and its signer"
like "$out" "ok: 1 record in 1 block, each certified by 3 of 4 partners" "and the quorum"
$TR --home "$NET/n2" prove "$HARVEST" --json -o "$TMP/p.json"
ok $? "prove --json writes the JSON form"
out=$($TR verify-proof -c "$C" "$TMP/p.json" --json)
ok $? "the JSON form verifies"
like "$out" "\"ok\":true.*\"event_id\":\"$HARVEST\"" "verify-proof --json reports it"
$TR --home "$NET/n2" prove "$HARVEST" --json | $TR verify-proof -c "$C" - >/dev/null
ok $? "a proof piped through stdin verifies"

# tampering: single bytes at spread positions of the binary proof
size=$(wc -c < "$TMP/p1.bin")
bad=0
for pos in 0 1 2 7 40 100 $((size / 3)) $((size / 2)) $((size - 70)) $((size - 1)); do
	perl -e 'local $/; open my $f, "<", $ARGV[0] or die; my $b = <$f>;
		 substr($b, $ARGV[1], 1) = chr(ord(substr($b, $ARGV[1], 1)) ^ 0x5a); print $b' \
		"$TMP/p1.bin" "$pos" > "$TMP/flip.bin"
	$TR verify-proof -c "$C" "$TMP/flip.bin" 2>"$TMP/flip.err"
	st=$?
	if [ $st -ne 5 ] || [ "$(wc -l < "$TMP/flip.err")" -ne 1 ]; then
		bad=$((bad + 1))
		echo "# byte $pos: exit $st: $(cat "$TMP/flip.err")"
	fi
done
is "$bad" 0 "a changed byte anywhere is refused with exit 5 and one line"
# a changed base64 character in the JSON form
perl -pe 's/("record": ")(.)/$1 . ($2 eq "A" ? "B" : "A")/e' "$TMP/p.json" > "$TMP/bad.json"
err=$($TR verify-proof -c "$C" "$TMP/bad.json" 2>&1)
is $? 5 "a changed record in the JSON form is refused"
like "$err" "proof refused: record 0" "naming the record"

# another consortium (same names, other keys) refuses it
make_home "$TMP/other" farm
err=$($TR verify-proof -c "$TMP/other/consortium.json" "$TMP/p1.bin" 2>&1)
is $? 5 "another consortium's file refuses the proof"
like "$err" "another consortium" "saying why"

# garbage, missing files, bad arguments
head -c 300 /dev/urandom > "$TMP/garbage.bin"
$TR verify-proof -c "$C" "$TMP/garbage.bin" 2>/dev/null
is $? 5 "random bytes are refused"
echo '{"format":"trellis-proof"}' > "$TMP/short.json"
err=$($TR verify-proof -c "$C" "$TMP/short.json" 2>&1)
is $? 5 "a JSON proof without its fields is refused"
like "$err" "proof.version: missing" "naming the missing field"
$TR verify-proof -c "$C" "$TMP/nonexistent" 2>/dev/null
is $? 2 "a missing proof file is bad input"
$TR verify-proof "$TMP/p1.bin" 2>/dev/null
is $? 1 "verify-proof without -c is a usage error"
$TR --home "$NET/n1" prove 0000000000000000000000000000000000000000000000000000000000000000 -o "$TMP/x" 2>/dev/null
is $? 3 "proving an unknown event: not found"
[ ! -e "$TMP/x" ]
ok $? "and no file written"
$TR --home "$NET/n1" prove nothex -o "$TMP/x" 2>/dev/null
is $? 2 "a malformed event id is bad input"
$TR --home "$NET/n1" prove --trace sideways "$PACK1" 2>/dev/null
is $? 1 "--trace takes up or down"

# trace bundles
$TR --home "$NET/n3" prove --trace up "$PACK1" -o "$TMP/up.bin"
ok $? "prove --trace up of a retail pack"
out=$($TR verify-proof -c "$C" "$TMP/up.bin")
ok $? "the bundle verifies"
like "$out" "input https://id.gs1.org/01/00614141123452/10/FIELD-A" "it reaches field lot A"
like "$out" "input https://id.gs1.org/01/00614141123452/10/FIELD-B" "and field lot B"
$TR --home "$NET/n4" prove --trace down "$LOTA" --json -o "$TMP/down.json"
out=$($TR verify-proof -c "$C" "$TMP/down.json")
ok $? "the recall bundle (trace down of lot A) verifies"
like "$out" "container https://id.gs1.org/00/106141412345678908" "and reaches the pallet"

# retraction: the farm declares its harvest event wrong
$TR --home "$NET/n1" get "$HARVEST" --json | perl -MJSON::PP -e '
	local $/; my $g = decode_json(<STDIN>); my $e = $g->{event};
	$e->{errorDeclaration} = {declarationTime => "2026-05-03T00:00:00Z", reason => "incorrect_data"};
	print JSON::PP->new->canonical->encode({"\@context" => ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {fsma => "https://ns.example.com/fsma/"}],
		type => "EPCISDocument", schemaVersion => "2.0", creationDate => "2026-05-03T00:00:00Z",
		epcisBody => {eventList => [$e]}})' > "$TMP/retract.json"
$TR --home "$NET/n1" submit "$TMP/retract.json" >/dev/null
ok $? "the farm submits an error declaration for its harvest event"
$TR --home "$NET/n1" prove "$HARVEST" -o "$TMP/r.bin"
out=$($TR verify-proof -c "$C" "$TMP/r.bin")
ok $? "the harvest event's proof now carries its retraction and verifies"
like "$out" "RETRACTED by [0-9a-f]{64}" "verify-proof reports the event retracted"
like "$out" "ok: 2 records" "with the declaration's record"

"$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
ok $? "the demo network stops"
for n in 1 2 3 4; do
	clean_log "$NET/n$n/node.log"
	ok $? "node $n log has no sanitizer or memory report"
done
done_testing
