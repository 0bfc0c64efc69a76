#!/bin/sh
# status.sh [DIR]: one line per node: number, name, height, head hash, view, mode.
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${1:-$DEFAULT_DIR}
[ -d "$DIR" ] || die "no testnet in '$DIR'"
N=$(node_count "$DIR")
i=1
while [ $i -le "$N" ]; do
	name=$(cut -d' ' -f1 "$DIR/n$i/partner.line")
	if js=$("$TR" --home "$DIR/n$i" status --json --timeout 2 2>/dev/null); then
		echo "$js" | perl -MJSON::PP -e '
			local $/; my $s = decode_json(<STDIN>);
			printf "node %s %-10s height %-6d head %s view %-3d %s\n", $ARGV[0], $ARGV[1],
				$s->{height}, $s->{head}, $s->{view}, $s->{mode};' "$i" "$name"
	elif node_pid "$DIR" $i >/dev/null; then
		printf "node %s %-10s not answering (paused or busy)\n" "$i" "$name"
	else
		printf "node %s %-10s down\n" "$i" "$name"
	fi
	i=$((i + 1))
done
