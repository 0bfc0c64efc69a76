#!/bin/sh
# t0610-proof-js: the independent JavaScript verifier (web/verify.js, see
# docs/verifier.md) agrees with `trellis verify-proof` on proofs made by the
# C code: good ones and damaged ones.
#
# A 4-partner testnet whose partners mix Ed25519 and secp256k1 (BIP-340)
# keys, so both algorithms sign records and commit votes, records a small
# farm-to-shelf story, a retraction and a commissioning with an ILMD lot.
# Then: one-event proofs (from nodes other than the signer's), a retracted
# event with its retraction, the retraction itself, and trace bundles up
# and down (transformation, aggregation, lot and item steps), in JSON and
# binary form; for each, the damaged copies of web/test/tamper.js (bytes
# flipped inside base64 fields, indexes changed, votes dropped to 2f or
# doubled, unknown and duplicate keys, trace steps broken) and another
# consortium file. Each case: both exit statuses, equal to each other and
# to what docs/proof-format.md asks. Also the verifier's own unit tests
# (node --test web/test/).
. "$(dirname "$0")/lib.sh"
WEB=$ROOT/web
VJS="node $WEB/verify.js"

if ! command -v node >/dev/null 2>&1; then
	echo "1..0 # SKIP node (Node.js >= 20) is not installed"
	exit 0
fi
nodemajor=$(node -p 'process.versions.node.split(".")[0]')
if [ "$nodemajor" -lt 20 ]; then
	echo "1..0 # SKIP Node.js $nodemajor is older than 20"
	exit 0
fi

# ---- the verifier's unit tests (proofs built in JavaScript)
out=$(cd "$WEB" && node --test test/*.test.js 2>&1)
st=$?
ok $st "web/test unit tests ($(printf '%s\n' "$out" | grep -E '^# (pass|fail) ' | tr '\n' ' '))"
[ $st -eq 0 ] && true || printf '%s\n' "$out" | grep -E -B2 -A12 '^not ok' | head -60 | sed 's/^/# /'

# ---- a 4-partner testnet, Ed25519 and secp256k1 mixed
FARM=urn:epc:id:sgln:0614141.00001.0
PACKER=urn:epc:id:sgln:0614141.00002.0
PROCESSOR=urn:epc:id:sgln:0614141.00003.0
STORE=urn:epc:id:sgln:0614141.00005.0
NET=$TMP/net
mkdir -p "$NET"
PORTS=$(perl -MIO::Socket::INET -e '
	my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die "no port: $!" } 1 .. 4;
	print join(" ", map { $_->sockport } @s), "\n";')
i=1
for spec in farm:ed25519:$FARM packer:secp256k1:$PACKER processor:ed25519:$PROCESSOR retailer:secp256k1:$STORE; do
	name=${spec%%:*}; rest=${spec#*:}; alg=${rest%%:*}; loc=${rest#*:}
	port=$(echo $PORTS | cut -d' ' -f$i)
	$TR init --home "$NET/n$i" --name "$name" --alg "$alg" --listen "127.0.0.1:$port" --location "$loc" >/dev/null || break
	i=$((i + 1))
done
cat "$NET"/n1/partner.line "$NET"/n2/partner.line "$NET"/n3/partner.line "$NET"/n4/partner.line |
	$TR consortium create -o "$NET/consortium.json" >/dev/null
ok $? "a consortium of 4 partners, 2 ed25519 and 2 secp256k1"
CONS=$NET/consortium.json
started=0
for i in 1 2 3 4; do
	cp "$CONS" "$NET/n$i/consortium.json"
	nohup $TRD --home "$NET/n$i" >>"$NET/n$i/node.log" 2>&1 </dev/null &
	echo $! > "$NET/n$i/pid"
	PIDS="$PIDS $!"
done
for i in 1 2 3 4; do
	j=0
	while [ $j -lt 300 ] && ! $TR --home "$NET/n$i" status >/dev/null 2>&1; do sleep 0.1; j=$((j + 1)); done
	$TR --home "$NET/n$i" status >/dev/null 2>&1 && started=$((started + 1))
done
is "$started" "4" "the 4 nodes answer"

# ---- the story
doc() { # doc FILE EVENTS...: an EPCIS 2.0 document
	f=$1; shift
	{
		printf '{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],'
		printf '"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-05-01T00:00:00Z","epcisBody":{"eventList":['
		sep=""
		for e in "$@"; do printf '%s%s' "$sep" "$e"; sep=","; done
		printf ']}}\n'
	} > "$TMP/$f"
}
LOTA=urn:epc:class:lgtin:0614141.012345.FIELD-A
LOTB=urn:epc:class:lgtin:0614141.012345.FIELD-B
Q="\"quantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}]"
PALLET=urn:epc:id:sscc:0614141.1234567890
PACK1=urn:epc:id:sgtin:0614141.054321.1001
PACK2=urn:epc:id:sgtin:0614141.054321.1002
ITEM=urn:epc:id:sgtin:0614141.054321.2001
T='"eventTimeZoneOffset":"+00:00"'
RECEIVE="{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T15:00:00Z\",$T,\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",\"epcList\":[\"$PALLET\"],\"bizLocation\":{\"id\":\"$STORE\"}}"
doc farm.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T06:00:00Z\",$T,\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"quantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"$FARM\"}}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T07:00:00Z\",$T,\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"quantityList\":[{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"$FARM\"}}"
doc packer.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T13:00:00Z\",$T,\"action\":\"OBSERVE\",\"bizStep\":\"packing\",$Q,\"bizLocation\":{\"id\":\"$PACKER\"}}"
doc processor.json \
	"{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-02T08:00:00Z\",$T,\"inputQuantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}],\"outputEPCList\":[\"$PACK1\",\"$PACK2\"],\"bizStep\":\"commissioning\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}" \
	"{\"type\":\"AggregationEvent\",\"eventTime\":\"2026-05-02T09:00:00Z\",$T,\"action\":\"ADD\",\"parentID\":\"$PALLET\",\"childEPCs\":[\"$PACK1\",\"$PACK2\"],\"bizStep\":\"packing\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}"
doc retailer.json "$RECEIVE" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T16:00:00Z\",$T,\"action\":\"ADD\",\"bizStep\":\"commissioning\",\"epcList\":[\"$ITEM\"],\"bizLocation\":{\"id\":\"$STORE\"},\"ilmd\":{\"cbvmda:lotNumber\":\"L(7)!x\"}}"
CASE=urn:epc:id:sscc:0614141.1234567891
JUICE_IN=urn:epc:id:sgtin:0614141.054321.3001
JUICE=urn:epc:id:sgtin:0614141.054321.3002
CASEAGG="{\"type\":\"AggregationEvent\",\"eventTime\":\"2026-05-03T09:00:00Z\",$T,\"action\":\"ADD\",\"parentID\":\"$CASE\",\"childEPCs\":[\"$JUICE_IN\"],\"bizStep\":\"packing\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}"
XF=urn:uuid:11111111-2222-3333-4444-555555555555
# one transformation in two events (inputs, then outputs), and a case packed then retracted
doc processor2.json "$CASEAGG" \
	"{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-03T10:00:00Z\",$T,\"transformationID\":\"$XF\",\"inputEPCList\":[\"$JUICE_IN\"],\"bizStep\":\"commissioning\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}" \
	"{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-03T11:00:00Z\",$T,\"transformationID\":\"$XF\",\"outputEPCList\":[\"$JUICE\"],\"bizStep\":\"commissioning\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}"
doc retract2.json "$(printf '%s' "$CASEAGG" | sed 's/}$/,"errorDeclaration":{"declarationTime":"2026-05-04T00:00:00Z","reason":"incorrect_data"}}/')"
doc retract.json "$(printf '%s' "$RECEIVE" | sed 's/}$/,"errorDeclaration":{"declarationTime":"2026-05-03T00:00:00Z","reason":"incorrect_data"}}/')"

i=1
for who in farm packer processor retailer processor2; do
	[ $who = processor2 ] && i=3
	$TR --home "$NET/n$i" submit --timeout 60 "$TMP/$who.json" > "$TMP/ids-$who" 2>"$TMP/err-$who"
	ok $? "the $who records its events through node $i"
	i=$((i + 1))
done
$TR --home "$NET/n4" submit --timeout 60 "$TMP/retract.json" > "$TMP/ids-retract" 2>"$TMP/err-retract"
ok $? "the retailer retracts its receiving event"
$TR --home "$NET/n3" submit --timeout 60 "$TMP/retract2.json" > "$TMP/ids-retract2" 2>"$TMP/err-retract2"
ok $? "the processor retracts its packing of a case"
id_of() { sed -n "${2}p" "$TMP/ids-$1" | cut -d' ' -f1; }

# ---- proofs from the C code
P=$TMP/proofs
mkdir -p "$P"
# prove NAME NODE ARGS...: NAME.json and NAME.bin from node NODE
prove_both() {
	name=$1; node=$2; shift 2
	$TR --home "$NET/n$node" prove "$@" --json -o "$P/$name.json" 2>"$P/$name.err" &&
		$TR --home "$NET/n$node" prove "$@" -o "$P/$name.bin" 2>>"$P/$name.err"
	ok $? "trellis prove $* (node $node): $name"
	[ -s "$P/$name.err" ] && sed 's/^/# /' "$P/$name.err"
}
prove_both harvest 2 "$(id_of farm 1)"
prove_both packing 3 "$(id_of packer 1)"
prove_both transformation 4 "$(id_of processor 1)"
prove_both retracted 1 "$(id_of retailer 1)"
prove_both declaration 3 "$(id_of retract 1)"
prove_both commissioning 2 "$(id_of retailer 2)"
prove_both trace-up-pack 3 --trace up "$PACK2"
prove_both trace-up-pallet 1 --trace up "$PALLET"
prove_both trace-down-lot 2 --trace down "$LOTA"
prove_both trace-up-item 4 --trace up "$ITEM"
prove_both trace-up-split 2 --trace up "$JUICE"
prove_both trace-up-case-retracted 4 --trace up "$CASE" --include-retracted
LOTKEY="https://id.gs1.org/01/00614141543212/10/L%287%29%21x"
prove_both trace-down-ilmd 1 --trace down "$LOTKEY"

# another consortium file: the same partners in the same order, one byte more
cp "$CONS" "$TMP/other.json"
echo >> "$TMP/other.json"
mkdir -p "$TMP/damaged"

# what the JavaScript verifier prints (one line each, picked by grep)
out=$($VJS "$CONS" "$P/retracted.json" 2>&1)
ok $? "web/verify.js verifies the retracted event's proof"
like "$(printf '%s\n' "$out" | grep '^event ' | head -1)" \
	"^event $(id_of retailer 1) signed by retailer \(secp256k1\) at height [0-9]+ position [0-9]+: ObjectEvent 2026-05-02T15:00:00Z retracted by $(id_of retract 1)$" \
	"it names the event, its signer, height, position, type, time and its retraction"
like "$(printf '%s\n' "$out" | tail -1)" "^ok: 2 records in [12] blocks?, each agreed by at least 3 of 4 partners" "and says ok"
out=$($VJS "$CONS" "$P/trace-up-item.json" 2>&1)
like "$(printf '%s\n' "$out" | grep ' lot ')" \
	"^  lot https://id.gs1.org/01/00614141543212/10/L%287%29%21x \(2026-05-02T16:00:00Z at [^ ]+, by retailer\)$" \
	"a trace shows the lot step (its lot key percent-encoded), time, place and signer"
out=$($VJS "$CONS" "$P/trace-down-lot.json" 2>&1)
like "$(printf '%s\n' "$out" | grep -c '^  output https://id.gs1.org/01/00614141543212/21/100[12] ')" "^2$" \
	"a recall trace shows the transformation's two outputs"
like "$(printf '%s\n' "$out" | grep '^    container ' | head -1)" "^    container https://id.gs1.org/00/[0-9]{18} .*by processor\)$" \
	"and the pallet they went into"
out=$($VJS "$CONS" "$P/trace-up-split.json" 2>&1)
like "$(printf '%s\n' "$out" | grep '^  input ')" "^  input https://id.gs1.org/01/00614141543212/21/3001 \(2026-05-03T10:00:00Z at [^ ]+, by processor\+processor\)$" \
	"a transformation in two events is one step with both"
out=$($VJS "$CONS" "$P/trace-up-case-retracted.json" 2>&1)
like "$(printf '%s\n' "$out" | grep '^  content ')" "^  content https://id.gs1.org/01/00614141543212/21/3001 .*\[retracted\]$" \
	"a step whose linking event is retracted is marked"
out=$($VJS --json "$CONS" "$P/trace-up-pallet.json" 2>&1)
like "$(printf '%s' "$out" | tr -d ' \n')" '"relation":"content"' "--json gives the trace relations"
for f in harvest trace-up-pack; do
	$VJS "$CONS" "$P/$f.json" >/dev/null 2>&1
	is "$?" "0" "web/verify.js exits 0 on $f.json"
	$VJS "$CONS" "$P/$f.bin" >/dev/null 2>&1
	is "$?" "0" "web/verify.js exits 0 on $f.bin (binary form)"
	$VJS "$TMP/other.json" "$P/$f.json" >/dev/null 2>"$TMP/err"
	is "$?" "5" "web/verify.js exits 5 on $f.json with another consortium file"
	like "$(cat "$TMP/err")" "^verify-proof: block 0: header is of another chain" "with a one-line reason"
done

# ---- every case: both verifiers, the same exit status, the one the format asks for.
# Cases: each good proof (JSON and binary) with the consortium file, another
# consortium file (same partners, one byte more) and a one-partner one; and
# every damaged copy with the consortium file. The JavaScript verifier checks
# them all in one process (--each), the C one a process per case.
make_home "$TMP/solo" solo
cases=$TMP/cases
: > "$cases"
add() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$cases"; }
for f in "$P"/*.json; do
	name=$(basename "$f" .json)
	for form in json bin; do
		add "$name.$form" 0 "$CONS" "${f%.json}.$form"
		add "$name.$form, another consortium file" 5 "$TMP/other.json" "${f%.json}.$form"
		add "$name.$form, a one-partner consortium file" 5 "$TMP/solo/consortium.json" "${f%.json}.$form"
	done
	node "$WEB/test/tamper.js" "$CONS" "$f" "$TMP/damaged" "$name" > "$TMP/tampered" ||
		add "tamper.js on $name" 0 "$CONS" /nonexistent
	while read -r tname want file; do add "$name: $tname" "$want" "$CONS" "$file"; done < "$TMP/tampered"
done
cut -f3,4 "$cases" > "$TMP/each"
$VJS --each "$TMP/each" > "$TMP/js-results" 2>"$TMP/js-err"
is "$(wc -l < "$TMP/js-results")" "$(wc -l < "$cases")" "web/verify.js --each answers every case"
[ -s "$TMP/js-err" ] && head -5 "$TMP/js-err" | sed 's/^/# /'
agree=0
total=0
paste "$cases" "$TMP/js-results" > "$TMP/joined"
while IFS="$(printf '\t')" read -r label want c file jst reason; do
	$TR verify-proof -c "$c" "$file" >/dev/null 2>"$TMP/c.err"
	cst=$?
	total=$((total + 1))
	if [ "$cst" = "$jst" ] && [ "$jst" = "$want" ]; then
		agree=$((agree + 1))
		ok 0 "$label: C $cst, JS $jst${reason:+ ($reason)}"
	else
		ok 1 "$label: C $cst, JS $jst, want $want"
		echo "#   C:  $(head -1 "$TMP/c.err")"
		echo "#   JS: $reason"
	fi
done < "$TMP/joined"
is "$agree" "$total" "the two verifiers agree, as the format asks, on all $total cases"

# ---- stop the nodes (by their pids), check their logs
"$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
ok $? "the testnet stops"
for i in 1 2 3 4; do
	clean_log "$NET/n$i/node.log"
	ok $? "node $i log has no sanitizer or memory report"
done
done_testing
