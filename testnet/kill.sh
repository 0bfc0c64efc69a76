#!/bin/sh
# kill.sh I [DIR]: SIGKILL node I (a crash: nothing is flushed).
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${2:-$DEFAULT_DIR}
check_index "${1:-}" "$DIR"
p=$(node_pid "$DIR" "$1") || die "node $1 is not running"
stop_one "$DIR" "$1" KILL
echo "node $1 (pid $p) killed with SIGKILL"
