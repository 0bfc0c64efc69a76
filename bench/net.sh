#!/bin/sh
# net.sh: the 4-node network benchmark (make bench-net).
#
# 1. Ed25519 verify rate on one core (the same run: before the testnet and
#    again after it, the higher of the two), and the bound this machine
#    allows: verify/s x cores / nodes (every node checks every record).
# 2. A 4-node testnet on 127.0.0.1: ~1 KB events from 32 concurrent clients
#    (CLIENTS=N to change; 8 before run 9, 16 before run 64: with 16 the
#    blocks held ~1,150 records, with 32 they fill to block_max_records,
#    and each record costs the nodes less; 48 and 64 were no faster, see
#    RESULTS.md run 64)
#    spread over the 4 nodes, 200 per request: committed records/s, the
#    median of three runs, each on a fresh testnet (one run before run 27),
#    with each node's counters from its last log line: view changes,
#    frames dropped (node queue, NNG), sends refused (full link queue),
#    stalled links, records re-sent and what the primary did with them,
#    and the four nodes' CPU (utime + stime) per record and node, split
#    into the node threads, the record checkers and the rest (links, NNG),
#    beside the cost of one Ed25519 verify: how far the run is from the
#    bound and where.
# 3. A fresh testnet at half that load (10 events per request, paced):
#    commit latency p50 / p99 per request (64 paced clients, so that
#    requests in flight do not cap the rate; 16 before run 9), and the
#    same counters.
# 4. A 3-member etcd cluster (Debian's etcd-server, installed if missing) on
#    127.0.0.1 with 1 KB puts driven by wrk over its HTTP gateway: puts/s,
#    as a crash-tolerant reference on the same machine.
# Last line: RESULT rps=… p50_ms=… p99_ms=… bound_rps=… ratio_bound=… etcd_rps=… ratio_etcd=…
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRELLIS_BIN:-$ROOT/bin}
NETLOAD=${NETLOAD:-$ROOT/build/bench/netload}
RECORDS=${RECORDS:-40000}
CLIENTS=${CLIENTS:-32}
DIR=$(mktemp -d /tmp/trellis-bench-net.XXXXXX)
ETCD_PIDS=""
cleanup() {
	set +e
	TRELLIS_BIN=$BIN "$ROOT/testnet/down.sh" "$DIR/net" >/dev/null 2>&1 || true
	for p in $ETCD_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$DIR"
}
trap 'rc=$?; cleanup; exit $rc' EXIT
[ -x "$NETLOAD" ] || { echo "net.sh: build $NETLOAD first (make bench-net)" >&2; exit 1; }

VR1=$("$NETLOAD" verify | sed 's/^verify_rps=//')
CORES=$(nproc)
echo "baseline (before): Ed25519 verify ${VR1}/s on one core"

HOMES=$DIR/net/n1,$DIR/net/n2,$DIR/net/n3,$DIR/net/n4
# Each run on a fresh testnet (a 2,000-record warm-up first): the same
# testnet gets slower as its ledger grows (index pages, bench/RESULTS.md
# run 27), which would mix two things in one figure.
fresh() {
	TRELLIS_BIN=$BIN "$ROOT/testnet/down.sh" "$DIR/net" >/dev/null 2>&1 || true
	rm -rf "$DIR/net"
	TRELLIS_BIN=$BIN "$ROOT/testnet/up.sh" 4 "$DIR/net" >/dev/null
	"$NETLOAD" load "$HOMES" 2000 8 100 >/dev/null
}
# what the links and the re-send did, from each node's last log line
counters() {
	TRELLIS_BIN=$BIN "$ROOT/testnet/down.sh" "$DIR/net" >/dev/null
	for i in 1 2 3 4; do
		echo "  node $i: $(grep 'msg="node stopping"' "$DIR/net/n$i/node.log" |
			grep -o 'view_changes=[0-9]*\|queue_dropped=[0-9]*\|tx_dropped=[0-9]*\|send_full=[0-9]*\|links_stalled=[0-9]*\|regossip[a-z_]*=[0-9]*\|served_blocks=[0-9]*' |
			tr '\n' ' ')"
	done
}
# CPU (utime + stime, clock ticks) the four nodes have used so far: in all
# (the processes), then by thread: the node threads (the main thread),
# the record checkers (named tr-check) and the rest (the link's receive
# thread tr-link-rx, NNG's threads)
HZ=$(getconf CLK_TCK)
node_ticks() {
	t=0
	for i in 1 2 3 4; do
		# the fields after "(comm) ": utime and stime are the 12th and 13th
		set -- $(sed 's/^.*) //' "/proc/$(cat "$DIR/net/n$i/pid")/stat")
		t=$((t + ${12} + ${13}))
	done
	for i in 1 2 3 4; do
		p=$(cat "$DIR/net/n$i/pid")
		for th in /proc/"$p"/task/*; do
			echo "${th##*/} $p $(cat "$th/comm") $(sed 's/^.*) //' "$th/stat" | awk '{ print $12 + $13 }')"
		done
	done | awk -v t="$t" '{ if ($1 == $2) n += $4; else if ($3 == "tr-check") c += $4; else o += $4 }
		END { printf "%d %d %d %d\n", t, n, c, o }'
}
# Three saturating runs; the median counts (one run of this shared VM
# moves by +-15%; one run before run 27).
ALL=""
for r in 1 2 3; do
	fresh
	K0=$(node_ticks)
	T=$("$NETLOAD" load "$HOMES" "$RECORDS" "$CLIENTS" 200)
	K1=$(node_ticks)
	echo "throughput, run $r: $T"
	# where the bound's gap is: a node's CPU per record against one verify
	echo "  node CPU: $(echo "$K0 $K1" | awk -v hz="$HZ" -v n="$RECORDS" -v v="$VR1" \
		'{ u = 1e6 / hz / n / 4
		   printf "%.0f us per record and node (node thread %.0f, checkers %.0f, links and NNG %.0f); one Ed25519 verify: %.0f us",
			($5 - $1) * u, ($6 - $2) * u, ($7 - $3) * u, ($8 - $4) * u, 1e6 / v }')"
	counters
	ALL="$ALL $(echo "$T" | sed 's/.* rps=\([0-9]*\).*/\1/')"
done
RPS=$(echo $ALL | tr ' ' '\n' | sort -n | sed -n 2p)
echo "throughput: median of$ALL records/s: $RPS"
HALF=$((RPS / 2))
fresh
L=$("$NETLOAD" load "$HOMES" $((HALF * 10)) 64 10 "$HALF")
echo "latency at half load ($HALF records/s): $L"
counters
P50=$(echo "$L" | sed 's/.* p50_ms=\([0-9.]*\).*/\1/')
P99=$(echo "$L" | sed 's/.* p99_ms=\([0-9.]*\).*/\1/')
# The verify rate of this shared VM swings (15,000-22,500/s within minutes):
# measured again after the runs, and the higher of the two is the baseline,
# so that a slow moment cannot make the ratio look better than it is.
VR2=$("$NETLOAD" verify | sed 's/^verify_rps=//')
VR=$((VR1 > VR2 ? VR1 : VR2))
BOUND=$((VR * CORES / 4))
echo "baseline: Ed25519 verify ${VR1}/s before, ${VR2}/s after, on one core; the higher, ${VR}/s, bounds 4 nodes on $CORES cores at ${BOUND} records/s"
# For reading the bound only (not part of it): what all cores verify at
# once. On a VM whose vCPUs share physical cores this is less than
# cores x the one-core rate.
VALL=$(for i in $(seq "$CORES"); do "$NETLOAD" verify & done | sed 's/^verify_rps=//' |
	awk '{ s += $1 } END { printf "%d", s }'; wait)
echo "for reference: $CORES verifiers at once, ${VALL}/s in all ($(awk -v a="$VALL" -v b="$VR" -v c="$CORES" 'BEGIN { printf "%.2f", a / (b * c) }') of $CORES x the one-core rate)"

# ---- etcd reference
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null || ! command -v wrk >/dev/null; then
	echo "installing etcd-server, etcd-client and wrk (Debian packages)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client wrk >/dev/null
fi
set -- $(perl -MIO::Socket::INET -e '
	my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) } 1 .. 6;
	print join(" ", map { $_->sockport } @s), "\n";')
C1=$1 C2=$2 C3=$3 P1=$4 P2=$5 P3=$6
CLUSTER="e1=http://127.0.0.1:$P1,e2=http://127.0.0.1:$P2,e3=http://127.0.0.1:$P3"
for i in 1 2 3; do
	eval "c=\$C$i p=\$P$i"
	etcd --name e$i --data-dir "$DIR/etcd$i" \
		--listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token bench \
		>"$DIR/etcd$i.log" 2>&1 &
	ETCD_PIDS="$ETCD_PIDS $!"
done
i=0
until ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$C1,http://127.0.0.1:$C2,http://127.0.0.1:$C3" endpoint health >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "etcd did not start" >&2; exit 1; }; sleep 0.2
done
VAL=$(head -c 768 /dev/zero | tr '\0' 'x' | base64 -w0)
cat > "$DIR/put.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function enc(s)
  return ((s:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#s % 3 + 1])
end
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v3/kv/put", nil, '{"key":"' .. enc("k" .. counter) .. '","value":"$VAL"}')
end
LUA
W=$(wrk -t 2 -c 16 -d 10s -s "$DIR/put.lua" "http://127.0.0.1:$C1" 2>&1)
ETCD_RPS=$(echo "$W" | awk '/Requests\/sec/ { printf "%d", $2 }')
NON2XX=$(echo "$W" | awk '/Non-2xx/ { print $NF }')
[ -z "$NON2XX" ] || { echo "etcd answered errors: $W" >&2; exit 1; }
echo "etcd: 3 members, 1 KB puts (wrk, 16 connections, 10 s): ${ETCD_RPS} puts/s"
# three decimals: 0.495 is below a 0.5 target, though it rounds to 0.50
RB=$(awk -v a="$RPS" -v b="$BOUND" 'BEGIN { printf "%.3f", a / b }')
RE=$(awk -v a="$RPS" -v b="$ETCD_RPS" 'BEGIN { printf "%.3f", a / b }')
echo "RESULT rps=$RPS p50_ms=$P50 p99_ms=$P99 bound_rps=$BOUND ratio_bound=$RB etcd_rps=$ETCD_RPS ratio_etcd=$RE"
