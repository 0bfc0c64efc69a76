#!/bin/sh
# down.sh [DIR]: stop every node of the testnet (SIGTERM, wait), keep the data.
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${1:-$DEFAULT_DIR}
[ -d "$DIR" ] || die "no testnet in '$DIR'"
N=$(node_count "$DIR")
i=1
while [ $i -le "$N" ]; do
	if node_pid "$DIR" $i >/dev/null; then
		stop_one "$DIR" $i TERM
		echo "node $i stopped"
	fi
	rm -f "$DIR/n$i/pid"
	i=$((i + 1))
done
echo "testnet in $DIR is down (data kept; rm -rf '$DIR' to remove it)"
