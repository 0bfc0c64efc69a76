#!/bin/sh
# Install the Debian 12 packages that trellis needs to build and test, only when missing.
# Idempotent; run by the Makefile once (build/.deps-stamp) and by .ci/run.
set -eu
PKGS="build-essential pkg-config libsodium-dev liblmdb-dev lmdb-utils libnng-dev \
libprotobuf-c-dev protobuf-c-compiler libsecp256k1-dev libjansson-dev libcmocka-dev \
perl valgrind"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
