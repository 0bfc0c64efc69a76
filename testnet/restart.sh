#!/bin/sh
# restart.sh I [DIR]: stop node I if it runs (SIGTERM), start it again, wait until it answers.
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${2:-$DEFAULT_DIR}
check_index "${1:-}" "$DIR"
need_bins
stop_one "$DIR" "$1" TERM
start_one "$DIR" "$1"
wait_ready "$DIR" "$1"
echo "node $1 restarted, pid $(cat "$DIR/n$1/pid")"
