# story.sh: a 4-partner testnet and the proofs that the verifier tests
# check (sourced by tests/integration/t0610-proof-js.t and t0620-proof-web.t
# after lib.sh; uses its TR, TRD, TMP, PIDS, ok, is).
#
# The partners mix Ed25519 and secp256k1 (BIP-340) keys, so both algorithms
# sign records and commit votes: farm (ed25519), packer (secp256k1),
# processor (ed25519), retailer (secp256k1), each owning its site. They
# record a small farm-to-shelf story through their own nodes, a retraction
# of the retailer's receiving, a case packed then retracted, a
# transformation in two events and a commissioning with an ILMD lot. Then
# `trellis prove` makes, in JSON ($P/NAME.json) and binary ($P/NAME.bin)
# form, from nodes other than the signer's where it can: one-event proofs,
# a retracted event with its retraction, the retraction itself, and trace
# bundles up and down (transformation, aggregation, lot, item, two-event
# and retracted steps).
#
# Sets NET (stopped by lib.sh's net_cleanup), CONS (the consortium file), P
# (the proofs folder) and id_of WHO N (the id of the Nth event of a document).
# ---- a 4-partner testnet, Ed25519 and secp256k1 mixed (see the top of this file)
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
	ok $? "the ${who%2} records $([ $who = processor2 ] && echo 'more events (a case, a transformation in two events)' || echo 'its events') through node $i"
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

# story_stop: stop the testnet's nodes (by their pid files) and check their logs
story_stop() {
	"$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
	ok $? "the testnet stops"
	for i in 1 2 3 4; do
		clean_log "$NET/n$i/node.log"
		ok $? "node $i log has no sanitizer or memory report"
	done
}
