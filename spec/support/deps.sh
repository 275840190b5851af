#!/bin/sh
# Installs the Debian packages the build and the specs need, if any is missing.
# Quiet when everything is present.  As root: one apt-get update, then
# apt-get install -y of the missing ones.  Otherwise: says what to install
# and exits 1.
PKGS="gcc make pkg-config openssl lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev lua-busted lua-cjson libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev nginx libnginx-mod-http-lua wrk curl python3"

missing=""
for p in $PKGS; do
    # dpkg -s also succeeds for removed packages whose config files remain.
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: install them with: sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || exit 1
# shellcheck disable=SC2086
apt-get install -y -q $missing || exit 1
