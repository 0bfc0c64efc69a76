#!/bin/sh
# t0110-damage: verify names the height of a damaged block (one byte
# flipped in the LMDB file on disk), and a full ledger map is a clear error
# that leaves the store as it was while the node keeps serving.
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
make_home "$H" farm
start_node "$H"
ok $? "node starts"
for d in 1 2 3; do
	gen_doc 10 "blk${d}marker" 50 > "$TMP/d$d.json"
	$TR --home "$H" submit "$TMP/d$d.json" > "$TMP/ack$d" || echo fail >> "$TMP/failures"
done
test ! -s "$TMP/failures"; ok $? "three documents committed"
h2=$(head -1 "$TMP/ack2" | cut -d' ' -f3)
stop_node "$NODE_PID"
ok $? "node stopped"
$TR --home "$H" verify --full >/dev/null
ok $? "verify --full passes before the damage"

# flip one byte inside the second document's first event, in the file itself
cp -r "$H" "$TMP/copy"
perl -e '
	my ($f) = @ARGV;
	open(my $fh, "+<:raw", $f) or die "open: $!";
	local $/; my $data = <$fh>;
	# the block is in the blocks database, but copies of its bytes can also
	# sit in the consensus state blob and in free pages: damage them all
	my $n = ($data =~ s/blk2marker0"/blkXmarker0"/g);
	die "marker not found" unless $n;
	seek($fh, 0, 0); print $fh $data; close $fh;
' "$TMP/copy/data/data.mdb"
ok $? "one byte of the block flipped in data.mdb (in every copy of it)"
err=$($TR --home "$TMP/copy" verify 2>&1)
is "$?" "5" "verify fails with exit 5"
like "$err" "verify failed at height $h2: block $h2: wrong Merkle root" "verify names the damaged height and why"
err=$($TR --home "$TMP/copy" verify --full --json 2>/dev/null)
like "$err" "\"ok\":false,\"height\":$h2" "verify --json reports the height"

# an index entry no event implies (added with lmdb-utils): only --full,
# which rebuilds every index in a scratch ledger under TMPDIR, finds it,
# and leaves nothing behind there
cp -r "$H" "$TMP/copy2"
printf 'https://id.gs1.org/01/00614141123452/21/GHOST\n\\00\\00\\00\\00\\00\\00\\00\\01\\00\\00\\00\\00\\01\n' |
	mdb_load -T -s ids "$TMP/copy2/data"
ok $? "an extra ids entry added to the copy"
$TR --home "$TMP/copy2" verify >/dev/null
ok $? "verify (quick) does not look for extra entries"
mkdir "$TMP/scratch"
err=$(TMPDIR=$TMP/scratch $TR --home "$TMP/copy2" verify --full 2>&1)
is "$?" "5" "verify --full fails with exit 5"
like "$err" "the ids index has an entry no stored event implies \(key 'https://id.gs1.org/01/00614141123452/21/GHOST'\)" \
	"verify --full names the index and the key"
test -z "$(ls -A "$TMP/scratch")"; ok $? "the scratch ledger is removed"
err=$(TMPDIR=$TMP/missing $TR --home "$TMP/copy2" verify --full 2>&1)
is "$?" "2" "verify --full without a usable TMPDIR exits 2, not 5"
like "$err" "verify could not run: cannot make a scratch folder under '$TMP/missing'" \
	"and says it could not run, naming the folder"
out=$(TMPDIR=$TMP/scratch $TR --home "$H" verify --full)
like "$out" "every index rebuilt and compared" "verify --full on the good home says what it did"

# ---- a tiny map fills up: a clear error, nothing half-written. Consensus
# has decided the block the store cannot take, so the node stops (exit 2)
# rather than run on with a gap; a restart with a larger map carries on.
$TRD --home "$H" --map-size 1M 2>>"$H/node.log" &
NODE_PID=$!; PIDS="$PIDS $NODE_PID"
i=0; while [ $i -lt 100 ] && ! $TR --home "$H" status >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
$TR --home "$H" status >/dev/null
ok $? "node restarts with a 1 MiB map"
full=""
d=0
while [ $d -lt 40 ]; do
	gen_doc 20 "fill${d}x" 4000 > "$TMP/fill.json"
	if ! out=$($TR --home "$H" submit "$TMP/fill.json" 2>&1); then full=$out; break; fi
	d=$((d + 1))
done
like "$full" "(ledger map is full|ledger .* is full)" "the client is told the ledger is full"
stop_node "$NODE_PID"
is "$?" "2" "the node stops by itself with exit status 2"
grep -q 'msg="stopping" reason="cannot .*full' "$H/node.log"; ok $? "the node logs why it stopped"
$TR --home "$H" verify --full >/dev/null
ok $? "verify --full passes: nothing half-applied"
n=$($TR --home "$H" get $(cut -d' ' -f1 "$TMP/ack1" "$TMP/ack2" "$TMP/ack3") 2>/dev/null | grep -c '^event_id')
is "$n" "30" "the events committed before are all there"
start_node "$H"
ok $? "a restart with the default map size works"
out=$($TR --home "$H" submit "$TMP/fill.json")
ok $? "and commits the refused document"
stop_node "$NODE_PID"
ok $? "node stops cleanly"

done_testing
