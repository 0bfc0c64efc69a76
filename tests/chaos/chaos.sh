#!/bin/sh
# chaos.sh: a randomized fault soak of a 4-node testnet (make chaos).
#
# Four nodes on 127.0.0.1 (testnet/up.sh in a temporary folder), one client
# per node submitting 5-event documents the whole time (lib.sh load_start),
# and ROUNDS rounds of one fault each, chosen and timed by a generator seeded
# with SEED, so that SEED=N replays the same faults in the same order:
#   kill     SIGKILL a node, restart it 1-7 s later
#   pause    SIGSTOP a node for 2-12 s, SIGCONT
#   wipe     SIGKILL a backup, remove its data folder, restart it
#   primary  restart the primary (SIGTERM or SIGKILL, chosen by the seed)
#   liar     the primary restarts lying for 4-11 s (TRELLIS_TEST_LIE: a bad
#            signature, a record twice, or a record already on the chain,
#            chosen by the seed), then restarts honest
#   twodown  SIGKILL two nodes: no commit may happen while they are down;
#            then both come back
# At most one node is faulty at a time, except in twodown. After each
# round every node is healed (resumed, restarted) and these must hold:
#   - commits resume (the round's clients get 10 more acknowledgements)
#   - the four nodes converge on one height and head hash
#   - every acknowledged event is on every node at its acknowledged height
#     and position (lib.sh acks_missing), and no event is in the ledger twice
#     (each event names its own EPC: an EPC twice in `export epcis` is a
#     duplicate)
#   - `trellis verify --full` passes on every node
#   - no node exited but those the soak killed or stopped (each node's exit
#     status is recorded), no sanitizer report or assertion in a node.log,
#     and no line that only a bug or a faulty partner causes (a proposal
#     refused, an error; a refused proposal is the liar's while it lies)
# and at the end: the nodes stop on SIGTERM with status 0, and no process
# the soak started is left.
#
# Usage: [SEED=N] [ROUNDS=R] sh tests/chaos/chaos.sh
#        SEEDS="1 2 3" ROUNDS=R sh tests/chaos/chaos.sh   (one testnet per seed)
#        FAULTS="kill pause" limits the faults drawn.
# One line per round, a summary at the end. On a violation it prints the
# seed and round, keeps the testnet's folder (logs, data) and exits 1.
# Every process is stopped by its recorded PID, never by name.

if [ -z "${SEED:-}" ] && [ -n "${SEEDS:-}" ]; then
	for s in $SEEDS; do
		SEED=$s sh "$0" || exit 1
	done
	echo "chaos: seeds $SEEDS: all rounds passed"
	exit 0
fi

. "$(dirname "$0")/../integration/lib.sh"
# node_pid (TRELLIS_BIN is set by now, so its TR and TRD are the same programs)
. "$ROOT/testnet/lib.sh"

SEED=${SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
ROUNDS=${ROUNDS:-10}
FAULTS_SET=${FAULTS:-}
FAULTS=${FAULTS:-"kill pause wipe primary twodown liar"}
N=4
ROUND=0
WRAPS=""       # the subshells that wait for each node and record its exit
LOADS=""       # the round's client tags
FAILED=0

# ==== A generator of our own, so the seed replays in any sh ====

rng=$((SEED % 2147483648))
# rnd N: a number in 0..N-1, in RND (not a subshell: the state must advance)
rnd() {
	rng=$(( (rng * 1103515245 + 12345) % 2147483648 ))
	RND=$(( (rng / 65536) % $1 ))
}

say() { echo "chaos: seed=$SEED round=$ROUND $*"; }

# violation TEXT: report, keep the folder, stop everything, exit 1
violation() {
	FAILED=1
	say "VIOLATION: $*"
	echo "chaos: replay with: make chaos SEED=$SEED CHAOS_ROUNDS=$((ROUND > 0 ? ROUND : 1))${FAULTS_SET:+ CHAOS_FAULTS=\"$FAULTS\"} (folder kept: $TMP)"
	exit 1
}

# ==== Nodes: started by us, so that each exit status is recorded ====

# node_start I: start node I; its wrapper appends "I PID STATUS" to
# $TMP/exits when it ends. Waits (30 s at most) until it answers.
node_start() {
	local h=$NET/n$1 i=0
	rm -f "$h/pid"
	(
		"$TRD" --home "$h" >>"$h/node.log" 2>&1 </dev/null &
		p=$!
		echo "$p" > "$h/pid.new" && mv "$h/pid.new" "$h/pid"
		wait "$p"
		echo "$1 $p $?" >> "$TMP/exits"
	) >/dev/null 2>&1 &
	WRAPS="$WRAPS $!"
	while [ ! -s "$h/pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	echo "$(cat "$h/pid") started" >> "$TMP/pids"
	i=0
	while [ $i -lt 300 ]; do
		$TR --home "$h" status --timeout 2 >/dev/null 2>&1 && return 0
		pid_of "$1" >/dev/null || violation "node $1 exited while starting (see $h/node.log)"
		sleep 0.1
		i=$((i + 1))
	done
	violation "node $1 did not answer within 30 s of its start"
}

# pid_of I: the pid of node I while it runs
pid_of() { node_pid "$NET" "$1"; }

# node_kill I: SIGKILL node I (testnet/kill.sh), noting that status 137 is ours
node_kill() {
	local p
	p=$(pid_of "$1") || violation "node $1 is not running before its kill"
	echo "$p" >> "$TMP/killed"
	"$ROOT/testnet/kill.sh" "$1" "$NET" >/dev/null || violation "node $1 did not die on SIGKILL"
}

# node_term I: SIGTERM node I and wait until it is gone (30 s at most)
node_term() {
	local p i=0
	p=$(pid_of "$1") || violation "node $1 is not running before its stop"
	kill -CONT "$p"
	kill -TERM "$p"
	while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$p" 2>/dev/null && violation "node $1 (pid $p) did not stop within 30 s of SIGTERM"
	return 0
}

# status_field I FIELD: a field of node I's status, or nothing
status_field() {
	$TR --home "$NET/n$1" status --json --timeout 3 2>/dev/null |
		perl -MJSON::PP -e 'local $/; my $s = eval { decode_json(<STDIN>) } or exit 1; print $s->{$ARGV[0]}, "\n"' "$2"
}

# primary: the primary of the highest view a live node reports
primary() {
	local v max=-1 n
	for n in 1 2 3 4; do
		v=$(status_field $n view)
		[ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v
	done
	[ "$max" -ge 0 ] || max=0
	echo $((max % N + 1))
}

# max_height I...: the highest height the given nodes report
max_height() {
	local h max=0 n
	for n in "$@"; do
		h=$(status_field "$n" height)
		[ -n "$h" ] && [ "$h" -gt "$max" ] && max=$h
	done
	echo "$max"
}

# ==== Faults (at most one node faulty, but in twodown) ====

fault_kill() {
	rnd $N; n=$((RND + 1)); rnd 7; d=$((RND + 1))
	WHAT="kill node $n for ${d}s"
	node_kill $n
	sleep $d
	node_start $n
}

fault_pause() {
	rnd $N; n=$((RND + 1)); rnd 11; d=$((RND + 2))
	WHAT="pause node $n for ${d}s"
	"$ROOT/testnet/pause.sh" $n "$NET" >/dev/null || violation "cannot pause node $n"
	sleep $d
	"$ROOT/testnet/resume.sh" $n "$NET" >/dev/null || violation "cannot resume node $n"
}

fault_wipe() {
	p=$(primary)
	rnd $((N - 1)); n=$((RND + 1)); [ $n -ge "$p" ] && n=$((n + 1))
	rnd 5; d=$((RND + 1))
	WHAT="wipe backup $n (primary $p), down ${d}s"
	node_kill $n
	rm -rf "$NET/n$n/data"
	sleep $d
	node_start $n
}

fault_primary() {
	p=$(primary)
	rnd 2
	if [ $RND = 0 ]; then
		WHAT="restart primary $p (SIGTERM)"
		node_term "$p"
	else
		WHAT="restart primary $p (SIGKILL)"
		node_kill "$p"
	fi
	rnd 4; sleep $RND
	node_start "$p"
}

fault_twodown() {
	rnd $N; a=$((RND + 1)); rnd $((N - 1)); b=$((RND + 1)); [ $b -ge $a ] && b=$((b + 1))
	rnd 6; d=$((RND + 3))
	live=""; for n in 1 2 3 4; do [ $n = $a ] || [ $n = $b ] || live="$live $n"; done
	WHAT="kill nodes $a and $b for $((d + 2))s"
	node_kill $a
	node_kill $b
	sleep 2          # a block the live two already held 2f+1 commits for may still land
	h0=$(max_height $live)
	sleep $d
	h1=$(max_height $live)
	[ "$h1" = "$h0" ] || violation "nodes$live committed with two of four down (height $h0 -> $h1)"
	rnd 2
	if [ $RND = 0 ]; then node_start $a; node_start $b; else node_start $b; node_start $a; fi
}

# liar: the primary restarts lying, then honest again. The lines every
# node logs meanwhile are the lie's window (logs_ok).
fault_liar() {
	local n lie
	p=$(primary)
	rnd 3; lie=$(echo "signature duplicate replay" | cut -d' ' -f$((RND + 1)))
	rnd 8; d=$((RND + 4))
	WHAT="primary $p lies ($lie) for ${d}s"
	for n in 1 2 3 4; do wc -l < "$NET/n$n/node.log" > "$TMP/lie-from-$n"; done
	node_term "$p"
	export TRELLIS_TEST_LIE=$lie
	node_start "$p"
	unset TRELLIS_TEST_LIE
	sleep $d
	node_term "$p"
	node_start "$p"
	for n in 1 2 3 4; do
		echo "$n $(cat "$TMP/lie-from-$n") $(wc -l < "$NET/n$n/node.log")" >> "$TMP/lie-windows"
	done
}

# ==== Checks ====

# heal: every node runs and is not paused
heal() {
	local n p
	for n in 1 2 3 4; do
		if p=$(pid_of $n); then kill -CONT "$p"; else node_start $n; fi
	done
}

# exits_ok: every recorded exit is one we caused: 137 for a pid we killed, 0 otherwise
exits_ok() {
	[ -s "$TMP/exits" ] || return 0
	while read -r n p st; do
		case "$st" in
		0) ;;
		137) grep -qx "$p" "$TMP/killed" 2>/dev/null ||
			violation "node $n (pid $p) died of SIGKILL we did not send" ;;
		*) violation "node $n (pid $p) exited with status $st (see $NET/n$n/node.log)" ;;
		esac
	done < "$TMP/exits"
}

# suspect LOG N: the lines of node N's log that no node logs while every
# partner is honest: an error; a proposal refused, or one's own that does
# not check, outside a liar's window. A node stopped on SIGTERM logs its
# waiting clients, not an error.
suspect() {
	awk -v n="$2" -v w="$TMP/lie-windows" '
		BEGIN { while ((getline l < w) > 0) { split(l, f, " "); if (f[1] == n) { k++; a[k] = f[2]; b[k] = f[3] } } }
		{ lie = 0; for (i = 1; i <= k; i++) if (FNR > a[i] && FNR <= b[i]) lie = 1 }
		/level=error/ || (!lie && /msg="refused proposal"|msg="own proposal does not check"/)' "$1"
}

logs_ok() {
	local n
	for n in 1 2 3 4; do
		if [ -n "$(suspect "$NET/n$n/node.log" $n)" ]; then
			suspect "$NET/n$n/node.log" $n | head -5
			violation "node $n logs what only a bug or a faulty partner causes"
		fi
		clean_log "$NET/n$n/node.log" || violation "sanitizer report in node $n's log"
		if grep -Eq 'assertion failed|AddressSanitizer|Segmentation|Aborted' "$NET/n$n/node.log"; then
			grep -E -B2 -A5 'assertion failed|AddressSanitizer|Segmentation|Aborted' "$NET/n$n/node.log" | head -20
			violation "node $n's log reports a crash"
		fi
	done
}

check_round() {
	local n h miss dup
	for n in 1 2 3 4; do
		pid_of $n >/dev/null || violation "node $n is not running after the heal"
	done
	exits_ok
	h=$(converge 1 2 3 4) || {
		"$ROOT/testnet/status.sh" "$NET"
		violation "the nodes do not converge within 90 s"
	}
	HEAD=$h
	for n in 1 2 3 4; do
		miss=$(acks_missing $n "$TMP"/acks-*)
		[ "$miss" = 0 ] || violation "node $n lacks $miss acknowledged events (or holds them elsewhere)"
	done
	n=$((ROUND % N + 1))
	$TR --home "$NET/n$n" export epcis > "$TMP/export.json" || violation "export epcis fails on node $n"
	dup=$(grep -o 'urn:epc:id:sgtin:0614141\.107346\.[A-Za-z0-9]*' "$TMP/export.json" | sort | uniq -d | head -3)
	[ -z "$dup" ] || violation "events in the ledger twice (node $n): $dup"
	EVENTS=$(grep -o 'urn:epc:id:sgtin:0614141\.107346\.[A-Za-z0-9]*' "$TMP/export.json" | wc -l)
	for n in 1 2 3 4; do
		$TR --home "$NET/n$n" verify --full > "$TMP/verify.out" 2>&1 ||
			{ cat "$TMP/verify.out"; violation "verify --full fails on node $n"; }
	done
	logs_ok
}

# ==== Clients (lib.sh load_start/load_stop: acknowledgements in $TMP/acks-TAG) ====

loads_start() {
	local n
	LOADS=""
	for n in 1 2 3 4; do
		load_start $n "s${SEED}r${ROUND}n$n"
		LOADS="$LOADS s${SEED}r${ROUND}n$n"
	done
}

loads_stop() {
	local t
	for t in $LOADS; do load_stop "$t"; done
	LOADS=""
}

round_acks() { cat "$TMP"/acks-s${SEED}r${ROUND}n* 2>/dev/null | wc -l; }

# ==== Setup and teardown ====

finish() {
	local n p w
	for t in $LOADS; do touch "$TMP/stop-$t"; done
	if [ -n "$NET" ] && [ -d "$NET" ]; then
		for n in 1 2 3 4; do p=$(pid_of $n) && kill -CONT "$p"; done
		"$ROOT/testnet/down.sh" "$NET" >/dev/null 2>&1
	fi
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for w in $WRAPS $PIDS; do wait "$w" 2>/dev/null; done
	if [ $FAILED = 0 ]; then rm -rf "$TMP"; fi
}
trap finish EXIT
trap 'FAILED=1; exit 130' INT TERM

echo "chaos: seed=$SEED rounds=$ROUNDS faults: $FAULTS"
net_up $N || { cat "$TMP/up.log"; violation "the testnet does not come up"; }
# up.sh started the nodes: restart them under node_start to record exit statuses
"$ROOT/testnet/down.sh" "$NET" >/dev/null || violation "the fresh testnet does not stop"
for n in 1 2 3 4; do node_start $n; done
for n in 1 2 3 4; do links_up $n || violation "node $n's links do not come up"; done

nf=$(echo $FAULTS | wc -w)
START=$(date +%s)
COUNTS=""
ROUND=1
while [ $ROUND -le "$ROUNDS" ]; do
	t0=$(date +%s)
	loads_start
	rnd 4; sleep $((RND + 1))
	rnd "$nf"; FAULT=$(echo $FAULTS | cut -d' ' -f$((RND + 1)))
	a0=$(round_acks)
	fault_$FAULT
	heal
	# commits resume: 10 more acknowledgements in this round (120 s at most)
	i=0
	want=$(( $(round_acks) + 10 ))
	while [ "$(round_acks)" -lt $want ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(round_acks)" -ge $want ] || {
		"$ROOT/testnet/status.sh" "$NET"
		violation "no commits within 120 s of the heal"
	}
	loads_stop
	check_round
	COUNTS="$COUNTS $FAULT"
	errs=$(cat "$TMP"/errs-s${SEED}r${ROUND}n* 2>/dev/null | wc -l)
	say "ok ${WHAT}; acks $(round_acks) (during fault $a0..) errs $errs; height/head $HEAD; events $EVENTS; $(( $(date +%s) - t0 ))s"
	ROUND=$((ROUND + 1))
done
ROUND=$((ROUND - 1))

# the end: stop on SIGTERM with status 0, nothing left behind
"$ROOT/testnet/down.sh" "$NET" >/dev/null || violation "the testnet does not stop on SIGTERM"
for w in $WRAPS; do wait "$w" 2>/dev/null; done
exits_ok
logs_ok
left=""
while read -r p _; do kill -0 "$p" 2>/dev/null && left="$left $p"; done < "$TMP/pids"
for p in $WRAPS $PIDS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
[ -z "$left" ] || violation "processes left behind:$left"
acks=$(cat "$TMP"/acks-* | wc -l)
summary=$(echo $COUNTS | tr ' ' '\n' | sort | uniq -c | awk '{ printf "%s %s=%s", (NR > 1 ? "," : ""), $2, $1 }')
echo "chaos: seed=$SEED: $ROUNDS rounds passed in $(( $(date +%s) - START ))s;$summary; $acks events acknowledged, all checks held"
