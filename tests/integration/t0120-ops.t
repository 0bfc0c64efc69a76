#!/bin/sh
# t0120-ops: what operators run into with a one-partner node: a client
# that gives up while the node is paused (SIGSTOP) must not leave the API
# deaf once the node runs again.
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
make_home "$H" farm urn:epc:id:sgln:0614141.00001.0
ok $? "home and one-partner consortium"
start_node "$H"
ok $? "trellisd starts and answers"
PID=$NODE_PID
# its threads carry names for top -H (docs/network.md)
names=$(cat /proc/"$PID"/task/*/comm | sort -u | tr '\n' ' ')
like "$names" "(^| )trellisd .*tr-check |(^| )tr-check .*trellisd " "the node thread is trellisd, its record checkers tr-check ($names)"

# answers H: the node answers status within 30 tries of one second
answers() {
	local i=0
	while [ $i -lt 30 ]; do
		$TR --home "$1" status --timeout 1 >/dev/null 2>&1 && return 0
		i=$((i + 1))
	done
	return 1
}

# ---- a home that does not exist (a typo) is not an unreachable node
err=$($TR --home "$TMP/nohome" status 2>&1)
is "$?" "2" "status with a home that does not exist: exit 2"
like "$err" "^trellis: cannot open home '.*/nohome': No such file or directory$" "the error names the home"

# ---- a client hangs up before the paused node took its connection
# (as `testnet/status.sh` does with its 2 s timeout, or a Ctrl-C): NNG
# 1.5.2's ipc listener stops accepting for good when the negotiation of
# such a connection fails; the node must notice and listen again.
kill -STOP "$PID"
$TR --home "$H" status --timeout 1 >/dev/null 2>&1
is "$?" "4" "status of a paused node: node unreachable (exit 4)"
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!"' "$H/api.sock"
ok $? "a raw connection to the paused node's API, closed at once"
kill -CONT "$PID"
answers "$H"
ok $? "the node answers status again after SIGCONT"
out=$($TR --home "$H" submit --timeout 10 "$SHARED/epcis/examples/Example_9.6.1-ObjectEvent.jsonld")
ok $? "and takes a submit"
is "$(echo "$out" | wc -l)" "2" "one line per event"

# ---- a document under the 64 MiB file limit whose signed records are over
# the node's 64 MiB request limit: refused by the client, naming the file
gen_doc 85000 big 520 > "$TMP/big.json"
err=$($TR --home "$H" submit "$TMP/big.json" 2>&1 >/dev/null)
is "$?" "2" "a submit over the node's request limit is bad input (exit 2)"
like "$err" "^trellis: '.*big.json': .*bytes, more than the node takes" "the error names the file and the limit"
is "$($TR --home "$H" status --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')" "1" "nothing of it was committed"

stop_node "$PID"
ok $? "trellisd stops cleanly"
clean_log "$H/node.log"
ok $? "node log has no sanitizer or memory report"

# ---- SIGTERM while a submit is half committed: one record per block, so a
# document of 2,000 events takes 2,000 durable commits. The client must not
# say "refused, nothing submitted": it lists what committed and exits 4.
H2=$TMP/slow
$TR init --home "$H2" --name slow --listen 127.0.0.1:7001 >/dev/null &&
	$TR consortium create -o "$TMP/slow.json" "$(cat "$H2/partner.line")" >/dev/null &&
	sed 's/"block_max_records": 2000/"block_max_records": 1/' "$TMP/slow.json" > "$H2/consortium.json"
ok $? "a one-partner home with one record per block"
start_node "$H2"
ok $? "its node starts"
PID2=$NODE_PID
gen_doc 2000 slow 0 > "$TMP/slow-doc.json"
$TR --home "$H2" submit "$TMP/slow-doc.json" > "$TMP/slow.out" 2> "$TMP/slow.err" &
CLIENT=$!
i=0
until [ "$($TR --home "$H2" status --json 2>/dev/null | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')" -gt 0 ] 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 600 ] || break; sleep 0.1
done
stop_node "$PID2"
ok $? "SIGTERM in the middle of the submit: the node stops cleanly"
wait "$CLIENT"
is "$?" "4" "the client exits 4 (the node stopped)"
err=$(cat "$TMP/slow.err")
is "$(echo "$err" | wc -l)" "1" "one error line"
like "$err" "not all committed" "it does not claim that nothing was submitted"
n=$(wc -l < "$TMP/slow.out")
like "$err" "^trellis: '.*slow-doc.json': $n of 2000 events committed" "it counts the committed events ($n)"
h=$($TR --home "$H2" verify --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{blocks}')
is "$h" "$n" "the ledger holds exactly the events it listed"
like "$(head -1 "$TMP/slow.out")" '^[0-9a-f]{64} height 1 position 0$' "listed as submit lists them"

# The same with --json: stdout is the JSON array a whole submit prints,
# with the committed events only.
start_node "$H2"
ok $? "the node starts again"
PID2=$NODE_PID
gen_doc 2000 slowjson 0 > "$TMP/slow-doc2.json"
$TR --home "$H2" submit --json "$TMP/slow-doc2.json" > "$TMP/slow2.out" 2> "$TMP/slow2.err" &
CLIENT=$!
i=0
until [ "$($TR --home "$H2" status --json 2>/dev/null | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{height}')" -gt "$h" ] 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 600 ] || break; sleep 0.1
done
stop_node "$PID2"
ok $? "SIGTERM in the middle of a --json submit"
wait "$CLIENT"
is "$?" "4" "--json: the client exits 4"
n2=$(perl -MJSON::PP -e 'local $/; my $a = decode_json(<STDIN>); print scalar(@$a)' < "$TMP/slow2.out")
like "$(cat "$TMP/slow2.err")" "^trellis: '.*slow-doc2.json': $n2 of 2000 events committed" "--json: stdout holds a JSON array of the $n2 committed events"
h2=$($TR --home "$H2" verify --json | perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{blocks}')
is "$h2" "$((h + n2))" "the ledger holds exactly those events more"

# ---- trellisd runs glibc's malloc on transparent huge pages: it sets the
# tunable and executes itself once more (node/main.c), keeping its pid and
# its name; an operator's own GLIBC_TUNABLES is left as it is. Not under
# valgrind (it does not re-execute there), nor where the kernel gives no
# huge pages or the test's environment already sets GLIBC_TUNABLES.
if [ -z "${TRELLIS_VALGRIND:-}" ] && [ -z "${GLIBC_TUNABLES:-}" ] &&
	grep -Eq '\[(always|madvise)\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
	start_node "$H2"
	ok $? "the node starts once more"
	PID3=$NODE_PID
	env3=$(tr '\0' '\n' < "/proc/$PID3/environ")
	like "$env3" "^GLIBC_TUNABLES=glibc.malloc.hugetlb=1$" "the pid it was started as runs with glibc.malloc.hugetlb=1"
	is "$(cat "/proc/$PID3/comm")" "trellisd" "under its own name"
	stop_node "$PID3"
	ok $? "it stops on SIGTERM"
	export GLIBC_TUNABLES=glibc.malloc.hugetlb=0
	start_node "$H2"
	ok $? "started with GLIBC_TUNABLES=glibc.malloc.hugetlb=0"
	unset GLIBC_TUNABLES
	PID3=$NODE_PID
	env3=$(tr '\0' '\n' < "/proc/$PID3/environ")
	like "$env3" "^GLIBC_TUNABLES=glibc.malloc.hugetlb=0$" "the operator's tunable is kept"
	printf '%s\n' "$env3" | grep -q TRELLISD_REEXECUTED
	is "$?" "1" "and trellisd did not execute itself again"
	stop_node "$PID3"
	ok $? "it stops on SIGTERM"
fi
done_testing
