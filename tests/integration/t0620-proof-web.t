#!/bin/sh
# t0620-proof-web: web/verify.html, the offline proof-checking page, in
# headless Chromium: the same verdicts as `trellis verify-proof` on good
# and damaged proofs from a 4-node testnet (web/test/story.sh), with no
# network request from the page.
#
# Needs node (>= 20), npm (the test installs web/package-lock.json's
# playwright-core and esbuild into its temporary folder) and Debian's
# chromium (installed with apt-get when missing and the test runs as root).
# Where one cannot be had, the test skips and says why. It also checks that
# the committed web/verify.html and web/vendor/noble-secp256k1.js are what
# web/build.js makes from their sources and the locked @noble/curves.
. "$(dirname "$0")/lib.sh"
WEB=$ROOT/web

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
T0=$(date +%s)
took() { echo "# $1: $(( $(date +%s) - T0 )) s"; T0=$(date +%s); }
command -v node >/dev/null 2>&1 || skip_all "node (Node.js >= 20) is not installed"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || skip_all "Node.js is older than 20"
command -v npm >/dev/null 2>&1 || skip_all "npm is not installed"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "# installing Debian's chromium (apt-get)"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	} >"$TMP/apt.log" 2>&1 || tail -3 "$TMP/apt.log" | sed 's/^/# /'
fi
[ -x "$CHROMIUM" ] || skip_all "no Chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM)"
export CHROMIUM

# the page's tools, from the lock file, in a copy of web/ (the tree stays clean)
mkdir -p "$TMP/web"
(cd "$WEB" && tar --exclude=./node_modules -cf - .) | (cd "$TMP/web" && tar -xf -)
if ! (cd "$TMP/web" && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1; then
	tail -5 "$TMP/npm.log" | sed 's/^/# /'
	skip_all "npm ci failed in web/ (is the npm registry reachable?)"
fi
echo '[]' > "$TMP/none.json"
if ! (cd "$TMP/web" && node test/page-driver.js "$WEB/verify.html" "$TMP/none.json") >"$TMP/launch.log" 2>&1; then
	grep -m3 -i 'error' "$TMP/launch.log" | sed 's/^/# /'
	skip_all "headless Chromium does not start here ($CHROMIUM; see the lines above)"
fi
took "chromium, npm ci, a first start of the browser"
out=$(cd "$TMP/web" && node build.js --check 2>&1)
ok $? "web/verify.html and web/vendor/noble-secp256k1.js are what web/build.js makes"
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'

. "$ROOT/web/test/story.sh"
story_stop
took "build check, testnet, proofs"

# ---- the cases: every good proof, a few pasted, in binary form and with
# another consortium file, and a choice of damaged copies of two proofs.
# (t0610 compares the same verifier code under Node on every damaged copy;
# here the point is the browser: WebCrypto, the vendored BIP-340, the page.)
cp "$CONS" "$TMP/other.json"
echo >> "$TMP/other.json"
mkdir -p "$TMP/damaged"
list=$TMP/list
: > "$list"
add() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$list"; }
for f in "$P"/*.json; do
	add "$(basename "$f")" file "$CONS" "$f"
done
for name in retracted trace-up-pack trace-down-lot; do
	add "$name.json, pasted" paste "$CONS" "$P/$name.json"
	add "$name.json, through Playwright's file pickers and clicks" ui "$CONS" "$P/$name.json"
	add "$name.json, dropped" drop "$CONS" "$P/$name.json"
	add "$name.bin" file "$CONS" "$P/$name.bin"
	add "$name.json, another consortium file" file "$TMP/other.json" "$P/$name.json"
done
for name in retracted trace-up-split; do
	node "$WEB/test/tamper.js" "$CONS" "$P/$name.json" "$TMP/damaged" "$name" |
		while read -r tname want file; do
			case $tname in
			flip-block0-*|flip-record0-*|b64-char-header|b64-padding-bits|block0-votes-2f|block0-vote-twice|\
			block0-cert-other-view|unknown-key-record|duplicate-key|position-plus-1|path-extra|records-swapped|\
			retraction-dropped|trace-last-id|trace-direction|trace-step*|trace-last-step-dropped|binary-good|binary-flip-at[0-9][0-9][0-9]*)
				add "$name: $tname" file "$CONS" "$file" ;;
			esac
		done
done
# each case's verdict from trellis verify-proof, and the page's input
perl -MJSON::PP -e '
	my @c;
	while (<STDIN>) { chomp; my ($n, $how, $cons, $proof) = split /\t/; push @c, { name => $n, how => $how, consortium => $cons, proof => $proof } }
	print JSON::PP->new->canonical->encode(\@c);' < "$list" > "$TMP/cases.json"
while IFS="$(printf '\t')" read -r name how c file; do
	$TR verify-proof -c "$c" "$file" >/dev/null 2>&1
	case $? in 0) echo ok ;; 5) echo failed ;; *) echo "error $?" ;; esac
done < "$list" > "$TMP/c-verdicts"

took "cases and trellis verify-proof"
# ---- the page, offline, on every case
(cd "$TMP/web" && node test/page-driver.js "$WEB/verify.html" "$TMP/cases.json") > "$TMP/page-out" 2>"$TMP/page-err"
st=$?
ok $st "headless Chromium ran web/verify.html on $(wc -l < "$list") cases"
[ $st -eq 0 ] || head -20 "$TMP/page-err" | sed 's/^/# /'
took "the page in headless Chromium"
grep -v -e '^requests ' -e '^errors ' "$TMP/page-out" > "$TMP/page-verdicts"
is "$(wc -l < "$TMP/page-verdicts")" "$(wc -l < "$list")" "the page gave a verdict on every case"
agree=0
total=0
paste "$TMP/c-verdicts" "$TMP/page-verdicts" > "$TMP/joined"
while IFS="$(printf '\t')" read -r cv name pv reason; do
	total=$((total + 1))
	if [ "$cv" = "$pv" ]; then
		agree=$((agree + 1))
		ok 0 "$name: C $cv, page $pv ($reason)"
	else
		ok 1 "$name: C $cv, page $pv"
		echo "#   page: $reason"
	fi
done < "$TMP/joined"
is "$agree" "$total" "the page and trellis verify-proof agree on all $total cases"
like "$(grep '^trace-up-split.json	' "$TMP/page-verdicts")" "	ok	.*\[records 2, trace steps 1, retracted 0\]$" \
	"the page shows a trace's events and steps"
like "$(grep '^retracted.json	' "$TMP/page-verdicts")" "	ok	.*\[records 2, trace steps 0, retracted 1\]$" \
	"the page marks a retracted event"
is "$(grep '^requests ' "$TMP/page-out")" "requests 0" "the page asked for nothing from the network"
is "$(grep -c '^errors ' "$TMP/page-out")" "0" "no script error on the page"
grep '^errors ' "$TMP/page-out" | head -c 2000 | sed 's/^/# /'
done_testing
