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
T0=$(date +%s)
took() { echo "# $1: $(( $(date +%s) - T0 )) s"; T0=$(date +%s); }
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

. "$ROOT/web/test/story.sh"
# the nodes are not needed any more: stop them before the long part
story_stop
took "unit tests, testnet, proofs"

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

# the fuzz corpus of the C proof decoder (tests/fuzz/corpus/proof: hostile
# bytes, binary and JSON, and some valid proofs) against the fuzz targets'
# fixed consortium, rebuilt from its seeds
FUZZ=$ROOT/tests/fuzz/corpus/proof
if [ -d "$FUZZ" ]; then
	node "$WEB/test/fuzz-lines.js" | $TR consortium create -o "$TMP/fuzz-consortium.json" >/dev/null
	ok $? "the fuzz targets' consortium file, from their seeds"
fi

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
if [ -d "$FUZZ" ]; then
	for f in "$FUZZ"/*; do
		add "fuzz corpus $(basename "$f" | cut -c1-12)" fuzz "$TMP/fuzz-consortium.json" "$f"
	done
fi
cut -f3,4 "$cases" > "$TMP/each"
$VJS --each "$TMP/each" > "$TMP/js-results" 2>"$TMP/js-err"
is "$(wc -l < "$TMP/js-results")" "$(wc -l < "$cases")" "web/verify.js --each answers every case"
[ -s "$TMP/js-err" ] && head -5 "$TMP/js-err" | sed 's/^/# /'
took "damaged copies, web/verify.js --each on $(wc -l < "$cases") cases"
agree=0
total=0
paste "$cases" "$TMP/js-results" > "$TMP/joined"
while IFS="$(printf '\t')" read -r label want c file jst reason; do
	$TR verify-proof -c "$c" "$file" >/dev/null 2>"$TMP/c.err"
	cst=$?
	total=$((total + 1))
	[ "$want" = fuzz ] && want=$cst  # no expectation: only agreement
	if [ "$cst" = "$jst" ] && [ "$jst" = "$want" ]; then
		agree=$((agree + 1))
		ok 0 "$label: C $cst, JS $jst${reason:+ ($reason)}"
	else
		ok 1 "$label: C $cst, JS $jst, want $want"
		echo "#   C:  $(head -1 "$TMP/c.err")"
		echo "#   JS: $reason"
	fi
done < "$TMP/joined"
took "trellis verify-proof on $total cases"
is "$agree" "$total" "the two verifiers agree, as the format asks, on all $total cases"

done_testing
