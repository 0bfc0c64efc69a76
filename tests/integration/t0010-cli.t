#!/bin/sh
# t0010-cli: homes, keys, partner lines, consortium files, and the CLI's
# errors on bad input (one line, naming the file / line / field; exit codes).
. "$(dirname "$0")/lib.sh"

H=$TMP/farm
out=$($TR init --home "$H" --name farm --listen 127.0.0.1:7001 --location urn:epc:id:sgln:0614141.00001.0 2>&1)
ok $? "init creates a home"
like "$out" '^farm ed25519:[A-Za-z0-9+/]{43}= 127\.0\.0\.1:7001 urn:epc:id:sgln:0614141\.00001\.0$' "init prints the partner line"
is "$(cat "$H/partner.line")" "$out" "partner.line holds the same line"
is "$(stat -c %a "$H/key")" "600" "key file is 0600"

err=$($TR init --home "$H" --name farm --listen 127.0.0.1:7001 2>&1)
is "$?" "2" "init refuses an existing home (exit 2)"
like "$err" "already exists" "the error says the home exists"

$TR init --home "$TMP/s" --name signer --listen 127.0.0.1:7002 --alg secp256k1 >/dev/null
like "$(cat "$TMP/s/partner.line")" '^signer secp256k1:' "init --alg secp256k1"

err=$($TR init --home "$TMP/x" --name Farm --listen 127.0.0.1:7001 2>&1)
is "$?" "2" "init refuses an uppercase name"
err=$($TR init --home "$TMP/x" --name farm --listen 127.0.0.1 2>&1)
like "$err" "bad --listen" "init refuses an address without port"
test ! -e "$TMP/x"; ok $? "nothing written for a refused init"
$TR init --home "$TMP/y" 2>/dev/null
is "$?" "1" "init without --name is a usage error (exit 1)"

# ---- consortium create
$TR init --home "$TMP/p2" --name packer --listen 127.0.0.1:7003 >/dev/null
L1=$(cat "$H/partner.line"); L2=$(cat "$TMP/p2/partner.line"); L3=$(cat "$TMP/s/partner.line")
out=$($TR consortium create -o "$TMP/c3.json" "$L1" "$L2" "$L3")
ok $? "consortium create from three lines"
like "$out" "3 partners, f = 0, chain_id [0-9a-f]{64}" "it prints n, f and the chain id"
cid=$(sha256sum "$TMP/c3.json" | cut -d' ' -f1)
like "$out" "$cid" "chain id is the SHA-256 of the file's bytes"
grep -q '"n": 3' "$TMP/c3.json"; ok $? "file has n"
grep -q '"block_max_records"' "$TMP/c3.json"; ok $? "file has protocol parameters"

printf '%s\n# comment\n\n%s\n' "$L1" "$L2" | $TR consortium create -o "$TMP/c2.json" >/dev/null
ok $? "consortium create reads lines from stdin"
grep -q '"n": 2' "$TMP/c2.json"; ok $? "stdin file has both partners"

err=$($TR consortium create -o "$TMP/c3.json" "$L1" 2>&1)
like "$err" "refusing to overwrite" "consortium create refuses to overwrite"

err=$($TR consortium create -o "$TMP/bad.json" "$L1" "$L1" 2>&1)
is "$?" "2" "duplicate partner refused (exit 2)"
like "$err" "partner line 2: duplicate name 'farm'" "error names line 2 and the name"
dupkey=$(echo "$L1" | sed 's/^farm /other /; s/ 127.0.0.1:7001 .*/ 127.0.0.1:7009/')
err=$($TR consortium create -o "$TMP/bad.json" "$L1" "$dupkey" 2>&1)
like "$err" "partner line 2: duplicate key" "duplicate key refused, line named"
badkey=$(echo "$L2" | sed 's/ed25519:[^ ]*/ed25519:AAAA/')
err=$($TR consortium create -o "$TMP/bad.json" "$L1" "$badkey" 2>&1)
like "$err" "partner line 2: partner 'packer': malformed key" "malformed key refused, line named"
badaddr=$(echo "$L2" | sed 's/127.0.0.1:7003/127.0.0.1:99999/')
err=$($TR consortium create -o "$TMP/bad.json" "$badaddr" 2>&1)
like "$err" "partner line 1: partner 'packer': malformed address" "malformed address refused"
test ! -e "$TMP/bad.json"; ok $? "nothing written for refused consortium files"

# ---- key file permissions
$TR consortium create -o "$H/consortium.json" "$L1" >/dev/null
chmod 644 "$H/key"
cp "$SHARED/epcis/examples/Example_9.6.1-ObjectEvent.jsonld" "$TMP/one.json"
err=$($TR --home "$H" submit "$TMP/one.json" 2>&1)
is "$?" "2" "a world-readable key is refused"
like "$err" "refusing key .*readable by group or others" "the error says why"
chmod 600 "$H/key"

# ---- submit: bad documents (no node needed: refused before sending)
printf '{"epcisBody": {"eventList": [\n  {"type": "ObjectEvent",}\n]}}\n' > "$TMP/broken.json"
err=$($TR --home "$H" submit "$TMP/broken.json" 2>&1)
is "$?" "2" "invalid JSON refused (exit 2)"
like "$err" "broken.json': line 2 column [0-9]+" "error names the file, line and column"
echo '{"type":"EPCISDocument","epcisBody":{}}' > "$TMP/nolist.json"
err=$($TR --home "$H" submit "$TMP/nolist.json" 2>&1)
like "$err" "nolist.json': no event list" "a document without an event list is refused"
echo '{"epcisBody":{"eventList":[{"type":"ObjectEvent"}, 7]}}' > "$TMP/notobj.json"
err=$($TR --home "$H" submit "$TMP/notobj.json" 2>&1)
like "$err" "epcisBody.eventList\[1\] is not an object" "a non-object event is named by its path"
echo '{"epcisBody":{"eventList":[{"a":1,"a":2}]}}' > "$TMP/dupkey.json"
err=$($TR --home "$H" submit "$TMP/dupkey.json" 2>&1)
like "$err" "duplicate object key" "duplicate JSON keys are refused"
err=$($TR --home "$H" submit "$TMP/missing.json" 2>&1)
like "$err" "cannot open '.*missing.json'" "a missing file is named"

# ---- node not running
err=$($TR --home "$H" status 2>&1)
is "$?" "4" "status with no node: exit 4"
like "$err" "node unreachable" "the error says the node is unreachable"
err=$($TR --home "$H" submit "$TMP/one.json" 2>&1)
is "$?" "4" "submit with no node: exit 4"

# ---- usage: one line on stderr, exit 1
err=$($TR frobnicate 2>&1)
is "$?" "1" "unknown verb: exit 1"
is "$(printf '%s\n' "$err" | wc -l)" "1" "unknown verb: one line"
err=$($TR --home "$H" status extra 2>&1)
is "$?" "1" "status with an extra argument: exit 1"
is "$(printf '%s\n' "$err" | wc -l)" "1" "status with an extra argument: one line"
err=$($TR --home "$H" verify extra 2>&1)
is "$?" "1" "verify with an extra argument: exit 1"
like "$err" "^trellis: usage: trellis --home H verify" "verify: the usage line"

# ---- --json where the output is not otherwise JSON
out=$($TR init --home "$TMP/j" --name jay --listen 127.0.0.1:7009 --json)
ok $? "init --json"
is "$(printf '%s' "$out" | perl -MJSON::PP -0ne 'print decode_json($_)->{partner_line}')" "$(cat "$TMP/j/partner.line")" "init --json gives the partner line"
out=$($TR consortium create --json -o "$TMP/q\"uote.json" "$L1" "$L2")
printf '%s' "$out" | perl -MJSON::PP -0ne 'exit(decode_json($_)->{file} =~ /q"uote\.json$/ ? 0 : 1)'
ok $? "consortium create --json escapes the file name"

# ---- trellisd on a folder that is no home: refused, nothing left behind
mkdir "$TMP/nohome"
err=$($TRD --home "$TMP/nohome" 2>&1)
is "$?" "2" "trellisd on a folder without a key: exit 2"
like "$err" "not a trellis home" "the error says it is no home"
test ! -e "$TMP/nohome/trellisd.lock"; ok $? "no lock file left in it"
$TR --home "$H" get 2>/dev/null
is "$?" "1" "get without an id: exit 1"

done_testing
