# lib.sh: helpers for the TAP integration tests (sourced, POSIX sh).
#
# Every test gets its own temporary folder under /tmp, starts its nodes
# itself, and stops each by the PID it recorded (never by name). Nothing
# here depends on timing beyond bounded polling.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TRELLIS_BIN=${TRELLIS_BIN:-$ROOT/bin}
SHARED=${TRELLIS_SHARED:-$ROOT/../shared}
# TRELLIS_VALGRIND, when set, prefixes every program (make valgrind).
TR="${TRELLIS_VALGRIND:+$TRELLIS_VALGRIND }$TRELLIS_BIN/trellis"
TRD="${TRELLIS_VALGRIND:+$TRELLIS_VALGRIND }$TRELLIS_BIN/trellisd"

tap_n=0
tap_failed=0
PIDS=""
TMP=$(mktemp -d /tmp/trellis-test.XXXXXX)

cleanup() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT  # replaced below when testnets are used

# ok STATUS DESCRIPTION
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# like TEXT PATTERN DESCRIPTION (grep -E)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else
		ok 1 "$3"
		echo "#   '$1' does not match '$2'"
	fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# make_home DIR NAME [LOCATION]: init a home and a one-partner consortium
make_home() {
	$TR init --home "$1" --name "$2" --listen 127.0.0.1:7001 ${3:+--location "$3"} >/dev/null &&
		$TR consortium create -o "$1/consortium.json" "$(cat "$1/partner.line")" >/dev/null
}

# start_node HOME: start trellisd, record its PID in NODE_PID, wait until it answers
start_node() {
	# valgrind cannot map LMDB's default 1 TiB of address space
	$TRD --home "$1" ${TRELLIS_VALGRIND:+--map-size 4G} 2>>"$1/node.log" &
	NODE_PID=$!
	PIDS="$PIDS $NODE_PID"
	i=0
	while [ $i -lt 300 ]; do
		if $TR --home "$1" status >/dev/null 2>&1; then return 0; fi
		if ! kill -0 "$NODE_PID" 2>/dev/null; then return 1; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# stop_node PID [SIGNAL]: stop one node by PID and reap it; returns its exit status
stop_node() {
	kill -"${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	st=$?
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
	return $st
}

# clean_log FILE: no sanitizer or valgrind report in a node's log
clean_log() {
	if grep -Eq 'Sanitizer|runtime error|ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$1"; then
		grep -E -A12 'Sanitizer|runtime error|ERROR SUMMARY|definitely lost' "$1" | head -40 | sed 's/^/# /'
		return 1
	fi
	return 0
}

# gen_doc COUNT PREFIX [PAD]: an EPCIS 2.0 document of COUNT distinct ObjectEvents
gen_doc() {
	perl -e '
		my ($n, $p, $pad) = @ARGV;
		print "{\"\@context\":[\"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\",{\"example\":\"https://ns.example.com/epcis/\"}],",
		      "\"type\":\"EPCISDocument\",\"schemaVersion\":\"2.0\",\"creationDate\":\"2026-01-01T00:00:00Z\",",
		      "\"epcisBody\":{\"eventList\":[";
		for my $i (0 .. $n - 1) {
			print "," if $i;
			printf "{\"type\":\"ObjectEvent\",\"eventTime\":\"2026-01-01T00:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"epcList\":[\"urn:epc:id:sgtin:0614141.107346.%s%d\"],\"bizStep\":\"shipping\",\"readPoint\":{\"id\":\"urn:epc:id:sgln:0614141.00001.0\"},\"example:note\":\"%s\"}",
				$p, $i, "x" x $pad;
		}
		print "]}}\n";
	' "$1" "$2" "${3:-0}"
}

# ==== Multi-node testnets (testnet/ scripts; nodes stopped by their pid files) ====

NET=""
net_cleanup() {
	[ -n "$NET" ] && [ -d "$NET" ] && "$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
	return 0
}
trap 'net_cleanup; cleanup' EXIT

# net_up N: a testnet of N nodes in $TMP/net
net_up() {
	NET=$TMP/net
	"$ROOT/testnet/up.sh" "$1" "$NET" >"$TMP/up.log" 2>&1
}

# links_up NODE: wait (up to 60 s) until node NODE has every link up
links_up() {
	local i=0
	until $TR --home "$NET/n$1" status --json 2>/dev/null |
		perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>);
			exit((grep { $_->{state} ne "up" && $_->{state} ne "self" } @{$s->{peers}}) ? 1 : 0)'; do
		i=$((i + 1)); [ $i -lt 300 ] || return 1; sleep 0.2
	done
}

# load_start NODE TAG: a background client submitting 5-event documents to
# node NODE until $TMP/stop-TAG exists; acknowledgements in $TMP/acks-TAG
load_start() {
	(
		d=0
		while [ ! -e "$TMP/stop-$2" ] && [ $d -lt 3000 ]; do
			gen_doc 5 "$2x${d}y" 300 > "$TMP/doc-$2.json"
			$TR --home "$NET/n$1" submit --timeout 90 "$TMP/doc-$2.json" >> "$TMP/acks-$2" 2>>"$TMP/errs-$2" || sleep 0.2
			d=$((d + 1))
		done
	) &
	eval "LOAD_$2=\$!"
	PIDS="$PIDS $!"
}

load_stop() {
	touch "$TMP/stop-$1"
	eval "wait \$LOAD_$1"
	touch "$TMP/acks-$1"
}

# mempool_of I: records pending at node I
mempool_of() {
	$TR --home "$NET/n$1" status --json --timeout 5 2>/dev/null |
		perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>); print "$s->{mempool}\n"'
}

# wait_mempool I N: until node I holds N pending records (60 s at most)
wait_mempool() {
	local i=0
	until [ "$(mempool_of "$1")" = "$2" ]; do
		i=$((i + 1)); [ $i -lt 300 ] || return 1; sleep 0.2
	done
}

# acks_count TAG: acknowledged events so far
acks_count() { cat "$TMP/acks-$1" 2>/dev/null | wc -l; }

# wait_acks TAG N: until TAG has N more acknowledgements than now (60 s at most)
wait_acks() {
	local want i=0
	want=$(( $(acks_count "$1") + $2 ))
	while [ "$(acks_count "$1")" -lt "$want" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(acks_count "$1")" -ge "$want" ]
}

# head_of I: "height head" of node I, or nothing
head_of() {
	$TR --home "$NET/n$1" status --json --timeout 5 2>/dev/null |
		perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>); print "$s->{height} $s->{head}\n"'
}

# converge I...: wait (90 s at most) until the nodes report one height and head
converge() {
	local i=0 first all h
	while [ $i -lt 450 ]; do
		first=""; all=1
		for n in "$@"; do
			h=$(head_of "$n")
			[ -n "$h" ] || { all=0; break; }
			[ -z "$first" ] && first=$h
			[ "$h" = "$first" ] || { all=0; break; }
		done
		[ $all = 1 ] && { echo "$first"; return 0; }
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# acks_missing NODE FILE...: how many acknowledged events are not at their
# acknowledged height and position on node NODE
acks_missing() {
	local node=$1
	shift
	cat "$@" 2>/dev/null | awk '{ print $1, $3, $5 }' | sort -u > "$TMP/want"
	# the text form (one labelled line each): JSON::PP took a minute to
	# decode the events of a 55 MB submit
	cut -d' ' -f1 "$TMP/want" | xargs -r $TR --home "$NET/n$node" get 2>/dev/null |
		awk '$1 == "event_id" { id = $2 } $1 == "height" { h = $2 } $1 == "position" { print id, h, $2 }' |
		sort > "$TMP/have"
	comm -23 "$TMP/want" "$TMP/have" | wc -l
}

# net_final I...: the common checks at the end of a fault test: the live
# nodes converge, hold every acknowledged event, and pass verify --full
net_final() {
	local h n
	h=$(converge "$@")
	ok $? "nodes $* converge on one head ($h)"
	for n in "$@"; do
		is "$(acks_missing "$n" "$TMP"/acks-*)" "0" "node $n holds every acknowledged event ($(cat "$TMP"/acks-* | wc -l))"
		$TR --home "$NET/n$n" verify --full >/dev/null
		ok $? "node $n passes verify --full"
	done
	# stop them all, then read their logs: sanitizer leak reports come at exit
	"$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
	ok $? "the testnet stops"
	for n in $(cd "$NET" && ls -d n* | tr -d n); do
		clean_log "$NET/n$n/node.log"
		ok $? "node $n log has no sanitizer or memory report"
	done
}
