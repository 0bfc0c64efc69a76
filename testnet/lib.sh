# testnet/lib.sh: shared by the testnet scripts (sourced; needs a sh with
# `local`, as dash and bash have).
# A testnet lives in one folder DIR (default /tmp/trellis-testnet): homes
# DIR/n1 .. DIR/nN (node 1 is the first primary), DIR/consortium.json, each
# node's pid in DIR/nI/pid and its log in DIR/nI/node.log.

TESTNET_ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRELLIS_BIN=${TRELLIS_BIN:-$TESTNET_ROOT/bin}
TR=$TRELLIS_BIN/trellis
TRD=$TRELLIS_BIN/trellisd
DEFAULT_DIR=/tmp/trellis-testnet

die() { echo "testnet: $*" >&2; exit 1; }

need_bins() {
	[ -x "$TR" ] && [ -x "$TRD" ] || die "no $TR or $TRD: run 'make' first"
}

node_count() {
	local n=0
	while [ -d "$1/n$((n + 1))" ]; do n=$((n + 1)); done
	echo "$n"
}

# node_pid DIR I: the pid of a running node I, or nothing
node_pid() {
	local p
	p=$(cat "$1/n$2/pid" 2>/dev/null) || return 1
	kill -0 "$p" 2>/dev/null || return 1
	echo "$p"
}

# start_one DIR I: start node I in the background, detached from this shell
start_one() {
	nohup "$TRD" --home "$1/n$2" ${TESTNET_NODE_ARGS:-} >>"$1/n$2/node.log" 2>&1 </dev/null &
	echo $! > "$1/n$2/pid"
}

# wait_ready DIR I: until node I answers (30 s at most)
wait_ready() {
	local i=0
	while [ $i -lt 300 ]; do
		"$TR" --home "$1/n$2" status >/dev/null 2>&1 && return 0
		node_pid "$1" "$2" >/dev/null || die "node $2 exited: see $1/n$2/node.log"
		sleep 0.1
		i=$((i + 1))
	done
	die "node $2 did not answer within 30 s: see $1/n$2/node.log"
}

# links_ready DIR I: until node I has a link up to every partner (30 s at
# most; false after that). A node sends gossip only on links that are up,
# so a record submitted before then reaches fewer partners (the primary
# gets it by the re-send in the end).
links_ready() {
	local i=0
	while [ $i -lt 300 ]; do
		"$TR" --home "$1/n$2" status --json 2>/dev/null |
			perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>);
				exit((grep { $_->{state} ne "up" && $_->{state} ne "self" } @{$s->{peers}}) ? 1 : 0)' &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# stop_one DIR I SIGNAL: signal node I and wait until it is gone (30 s at most)
stop_one() {
	local p i
	p=$(node_pid "$1" "$2") || return 0
	kill -"$3" "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$p" 2>/dev/null && die "node $2 (pid $p) did not stop"
	return 0
}

check_index() {
	case "$1" in
	'' | *[!0-9]*) die "node number '$1' is not a number" ;;
	esac
	[ -d "$2/n$1" ] || die "no node $1 in $2"
}
