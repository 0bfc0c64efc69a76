#!/bin/sh
# up.sh N [DIR]: make N homes under DIR with a consortium file, start N
# nodes on 127.0.0.1 with free ports, and wait until they all answer and
# every node has a link up to every other.
# Node names come from TESTNET_NAMES (space-separated) or are node1..nodeN.
set -eu
. "$(dirname "$0")/lib.sh"
N=${1:-}
DIR=${2:-$DEFAULT_DIR}
case "$N" in '' | *[!0-9]*) die "usage: up.sh N [DIR]" ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 64 ] || die "N must be 1..64"
need_bins
[ -e "$DIR" ] && die "'$DIR' exists: run down.sh '$DIR' and remove it, or pick another DIR"
mkdir -p "$DIR"
# N free ports: bound to port 0 by the kernel, then released
PORTS=$(perl -MIO::Socket::INET -e '
	my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die "no port: $!" } 1 .. $ARGV[0];
	print join(" ", map { $_->sockport } @s), "\n";' "$N")
set -- $PORTS
i=1
for port in "$@"; do
	name=$(echo ${TESTNET_NAMES:-} | cut -d' ' -f$i)
	[ -n "$name" ] || name=node$i
	loc=$(echo ${TESTNET_LOCATIONS:-} | cut -d' ' -f$i)
	"$TR" init --home "$DIR/n$i" --name "$name" --listen "127.0.0.1:$port" ${loc:+--location "$loc"} >/dev/null
	i=$((i + 1))
done
i=1; while [ $i -le "$N" ]; do cat "$DIR/n$i/partner.line"; i=$((i + 1)); done |
	"$TR" consortium create -o "$DIR/consortium.json" >/dev/null
# TESTNET_PARAMS="block_max_records=100 ...": consortium params other than
# the defaults (each must be one of the file's params, given as a number)
if [ -n "${TESTNET_PARAMS:-}" ]; then
	perl -MJSON::PP -e '
		my $f = shift; local $/; open(my $in, "<", $f) or die "$f: $!\n";
		my $c = decode_json(<$in>); close $in;
		for (@ARGV) {
			my ($k, $v) = /^([a-z_]+)=([0-9]+)$/ or die "TESTNET_PARAMS: \x27$_\x27 is not name=number\n";
			exists $c->{params}{$k} or die "TESTNET_PARAMS: no consortium param \x27$k\x27\n";
			$c->{params}{$k} = $v + 0;
		}
		open(my $out, ">", $f) or die "$f: $!\n";
		print $out JSON::PP->new->canonical->pretty->encode($c);
		close $out or die "$f: $!\n";' "$DIR/consortium.json" $TESTNET_PARAMS ||
		die "cannot apply TESTNET_PARAMS to $DIR/consortium.json"
	echo "consortium params: $TESTNET_PARAMS"
fi
i=1
while [ $i -le "$N" ]; do
	cp "$DIR/consortium.json" "$DIR/n$i/consortium.json"
	start_one "$DIR" $i
	i=$((i + 1))
done
i=1
while [ $i -le "$N" ]; do
	wait_ready "$DIR" $i
	echo "node $i: $(cut -d' ' -f1 "$DIR/n$i/partner.line") listening on $(cut -d' ' -f3 "$DIR/n$i/partner.line"), pid $(cat "$DIR/n$i/pid"), home $DIR/n$i"
	i=$((i + 1))
done
i=1
while [ $i -le "$N" ]; do
	links_ready "$DIR" $i ||
		echo "testnet: node $i does not have every link up after 30 s (see $DIR/n$i/node.log); going on" >&2
	i=$((i + 1))
done
echo "testnet of $N nodes is up in $DIR (every node linked to every other)"
