#!/bin/sh
# pause.sh I [DIR]: SIGSTOP node I (frozen: it neither answers nor votes).
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${2:-$DEFAULT_DIR}
check_index "${1:-}" "$DIR"
p=$(node_pid "$DIR" "$1") || die "node $1 is not running"
kill -STOP "$p"
echo "node $1 (pid $p) paused"
