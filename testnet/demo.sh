#!/bin/sh
# demo.sh: the farm-to-shelf story on a 4-partner network (make demo).
#
# Four partners -- farm, packer, processor, retailer -- each run a node
# and own their sites (GS1 SGLNs). Each records its part of the story as an
# EPCIS 2.0 document through its own node: two field lots harvested and
# cooled at the farm, packed and shipped by the packer, received and turned
# into retail packs by the processor, loaded on a pallet and shipped to the
# store, received by the retailer. Then: where did one retail pack come
# from (trace up), where did field lot A go (trace down: the recall), every
# node verifies its whole ledger, all hold the same head, and an auditor
# checks the pack's origin offline from a proof and the consortium file.
# (A shipment names the receiving party, not the receiver's site: a partner
# may only place events at sites it owns or that nobody owns.)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
need_bins
DIR=${DEMO_DIR:-/tmp/trellis-demo}
DOCS=$DIR/docs
if [ -d "$DIR" ]; then "$HERE/down.sh" "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"; fi

say() { printf '\n== %s\n' "$*"; }
run() { echo "\$ trellis $*" | sed "s|$DIR/||g"; "$TR" "$@"; }

say "1. Four partners start their nodes (keys, consortium file, PBFT over authenticated links)"
FARM=urn:epc:id:sgln:0614141.00001.0
PACKER=urn:epc:id:sgln:0614141.00002.0
PROCESSOR=urn:epc:id:sgln:0614141.00003.0
STORE=urn:epc:id:sgln:0614141.00005.0
TESTNET_NAMES="farm packer processor retailer" TESTNET_LOCATIONS="$FARM $PACKER $PROCESSOR $STORE" \
	"$HERE/up.sh" 4 "$DIR"
trap '"$HERE/down.sh" "$DIR" >/dev/null 2>&1 || true' EXIT

mkdir -p "$DOCS"
doc() { # doc FILE EVENTS...: an EPCIS 2.0 document
	f=$1; shift
	{
		printf '{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"fsma":"https://ns.example.com/fsma/"}],'
		printf '"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-05-01T00:00:00Z","epcisBody":{"eventList":['
		sep=""
		for e in "$@"; do printf '%s%s' "$sep" "$e"; sep=","; done
		printf ']}}\n'
	} > "$DOCS/$f"
}
LOTA=urn:epc:class:lgtin:0614141.012345.FIELD-A
LOTB=urn:epc:class:lgtin:0614141.012345.FIELD-B
Q="\"quantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}]"
PALLET=urn:epc:id:sscc:0614141.1234567890
PACK1=urn:epc:id:sgtin:0614141.054321.1001
PACK2=urn:epc:id:sgtin:0614141.054321.1002

doc farm.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T06:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"bizStep\":\"https://ns.example.com/fsma/harvesting\",\"quantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"$FARM\"},\"fsma:field\":\"north\"}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T07:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"bizStep\":\"https://ns.example.com/fsma/harvesting\",\"quantityList\":[{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}],\"bizLocation\":{\"id\":\"$FARM\"},\"fsma:field\":\"south\"}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T08:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"https://ns.example.com/fsma/cooling\",$Q,\"bizLocation\":{\"id\":\"$FARM\"}}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T09:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\",$Q,\"readPoint\":{\"id\":\"$FARM\"},\"bizTransactionList\":[{\"type\":\"desadv\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141000012:BOL-1\"}],\"destinationList\":[{\"type\":\"owning_party\",\"destination\":\"urn:epc:id:pgln:0614141.00002\"}]}"
doc packer.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T11:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",$Q,\"bizLocation\":{\"id\":\"$PACKER\"},\"bizTransactionList\":[{\"type\":\"desadv\",\"bizTransaction\":\"urn:epcglobal:cbv:bt:0614141000012:BOL-1\"}]}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T13:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"packing\",$Q,\"bizLocation\":{\"id\":\"$PACKER\"}}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T14:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\",$Q,\"readPoint\":{\"id\":\"$PACKER\"},\"destinationList\":[{\"type\":\"owning_party\",\"destination\":\"urn:epc:id:pgln:0614141.00003\"}]}"
doc processor.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-01T18:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",$Q,\"bizLocation\":{\"id\":\"$PROCESSOR\"}}" \
	"{\"type\":\"TransformationEvent\",\"eventTime\":\"2026-05-02T08:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"inputQuantityList\":[{\"epcClass\":\"$LOTA\",\"quantity\":500,\"uom\":\"KGM\"},{\"epcClass\":\"$LOTB\",\"quantity\":300,\"uom\":\"KGM\"}],\"outputEPCList\":[\"$PACK1\",\"$PACK2\"],\"bizStep\":\"commissioning\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}" \
	"{\"type\":\"AggregationEvent\",\"eventTime\":\"2026-05-02T09:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"ADD\",\"parentID\":\"$PALLET\",\"childEPCs\":[\"$PACK1\",\"$PACK2\"],\"bizStep\":\"packing\",\"bizLocation\":{\"id\":\"$PROCESSOR\"}}" \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T10:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"shipping\",\"epcList\":[\"$PALLET\"],\"readPoint\":{\"id\":\"$PROCESSOR\"},\"destinationList\":[{\"type\":\"owning_party\",\"destination\":\"urn:epc:id:pgln:0614141.00005\"}]}"
doc retailer.json \
	"{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-05-02T15:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"bizStep\":\"receiving\",\"epcList\":[\"$PALLET\"],\"bizLocation\":{\"id\":\"$STORE\"}}"

say "2. Each partner records its part of the story through its own node"
i=1
for who in farm packer processor retailer; do
	echo "-- $who"
	run --home "$DIR/n$i" submit "$DOCS/$who.json"
	i=$((i + 1))
done

say "3. A partner cannot record events at another partner's site"
sed 's/0614141.00001.0/0614141.00003.0/g' "$DOCS/farm.json" | sed 's/06:00:00Z/06:30:00Z/; s/07:00:00Z/07:30:00Z/; s/08:00:00Z/08:30:00Z/; s/09:00:00Z/09:30:00Z/' > "$DOCS/forged.json"
run --home "$DIR/n1" submit "$DOCS/forged.json" || echo "(refused, as it should be)"

say "4. Where did retail pack $PACK2 come from? (trace up)"
run --home "$DIR/n4" trace up "$PACK2"

say "5. Recall: where did field lot A go? (trace down, asked at the packer's node)"
run --home "$DIR/n2" trace down "$LOTA"

say "6. Every node re-checks its whole ledger, and all hold the same head"
heads=""
i=1
for who in farm packer processor retailer; do
	printf '%-10s ' "$who"
	"$TR" --home "$DIR/n$i" verify --full
	heads="$heads $("$TR" --home "$DIR/n$i" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{head}')"
	i=$((i + 1))
done
n=$(echo $heads | tr ' ' '\n' | sort -u | wc -l)
[ "$n" = 1 ] || die "the nodes disagree on the head:$heads"
echo "all four nodes hold head $(echo $heads | cut -d' ' -f1)"

say "7. An auditor checks the origin of $PACK2 offline: a proof and the consortium file, no node"
run --home "$DIR/n4" prove --trace up "$PACK2" -o "$DIR/pack2-origin.proof"
echo "(the retailer's node wrote $(wc -c < "$DIR/pack2-origin.proof") bytes; anyone can check them)"
run verify-proof -c "$DIR/consortium.json" "$DIR/pack2-origin.proof"

say "Done. The network is still running in $DIR: try"
echo "  bin/trellis --home $DIR/n3 history $PALLET"
echo "  bin/trellis --home $DIR/n1 export fsma204"
echo "  testnet/status.sh $DIR ; testnet/down.sh $DIR"
trap - EXIT
