#!/bin/sh
# bulk.sh: bulk submits under load (make bench-bulk).
#
# A 4-node testnet; 16 paced clients submit 10 records per request at
# 600 records/s over all four nodes for ~40 s; 8 s in, two clients submit
# 50,000 records each (one request each, ~57 MB) to node 2. The paced
# records are signed with node 1's key, the bulk ones with node 2's: two
# partners, each with its share of every block. Prints how long the bulk
# submits took, the paced clients' latency, and each node's view changes:
# with its record checkers held by the bulk submits, a node can miss its
# partners' proposals and start a view change alone.
# Last line: RESULT bulk_s=… paced_p50_ms=… paced_p99_ms=… view_changes=…
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRELLIS_BIN:-$ROOT/bin}
NETLOAD=${NETLOAD:-$ROOT/build/bench/netload}
DIR=$(mktemp -d /tmp/trellis-bench-bulk.XXXXXX)
PACED=""
cleanup() {
	set +e
	[ -n "$PACED" ] && kill "$PACED" 2>/dev/null
	TRELLIS_BIN=$BIN "$ROOT/testnet/down.sh" "$DIR/net" >/dev/null 2>&1 || true
	[ -z "${KEEP:-}" ] || cp -r "$DIR" "$KEEP"
	rm -rf "$DIR"
}
trap 'rc=$?; cleanup; exit $rc' EXIT
[ -x "$NETLOAD" ] || { echo "bulk.sh: build $NETLOAD first (make bench-bulk)" >&2; exit 1; }

TRELLIS_BIN=$BIN "$ROOT/testnet/up.sh" 4 "$DIR/net" >/dev/null
HOMES=$DIR/net/n1,$DIR/net/n2,$DIR/net/n3,$DIR/net/n4
"$NETLOAD" load "$HOMES" 2000 8 100 >/dev/null
"$NETLOAD" load "$HOMES" 24000 16 10 600 >"$DIR/paced.out" &
PACED=$!
sleep 8
if B=$("$NETLOAD" load "$DIR/net/n2" 100000 2 50000 2>&1); then
	BULK=$(echo "$B" | sed 's/.* seconds=\([0-9.]*\).*/\1/')
else
	echo "bulk submits failed: $B"
	BULK=failed
fi
wait "$PACED"
PACED=""
echo "bulk submits (2 x 50,000 records to node 2): ${BULK} s"
echo "paced load meanwhile: $(cat "$DIR/paced.out")"
TRELLIS_BIN=$BIN "$ROOT/testnet/down.sh" "$DIR/net" >/dev/null
VC=$(for i in 1 2 3 4; do grep 'msg="node stopping"' "$DIR/net/n$i/node.log" |
	sed 's/.* view_changes=\([0-9]*\).*/\1/'; done | tr '\n' '/' | sed 's:/$::')
echo "view changes per node: $VC"
SS=$(for i in 1 2 3 4; do grep 'msg="node stopping"' "$DIR/net/n$i/node.log" |
	sed 's/.* starved_suspicions=\([0-9]*\).*/\1/'; done | tr '\n' '/' | sed 's:/$::')
echo "view changes asked for a passed-over partner (pbft_note_starved) per node: $SS"
P50=$(sed 's/.* p50_ms=\([0-9.]*\).*/\1/' "$DIR/paced.out")
P99=$(sed 's/.* p99_ms=\([0-9.]*\).*/\1/' "$DIR/paced.out")
grep -h "msg=\"view change\"\|msg=\"new view\"" "$DIR"/net/n*/node.log | cut -c1-200 | head -8
echo "RESULT bulk_s=$BULK paced_p50_ms=$P50 paced_p99_ms=$P99 view_changes=$VC"
