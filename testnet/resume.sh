#!/bin/sh
# resume.sh I [DIR]: SIGCONT node I.
set -eu
. "$(dirname "$0")/lib.sh"
DIR=${2:-$DEFAULT_DIR}
check_index "${1:-}" "$DIR"
p=$(node_pid "$DIR" "$1") || die "node $1 is not running"
kill -CONT "$p"
echo "node $1 (pid $p) resumed"
