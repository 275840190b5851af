#!/bin/sh
# Installs the Debian packages the build and the specs need, if any is missing.
# Quiet when everything is present (one dpkg-query call).  As root: one
# apt-get update, then apt-get install -y of the missing ones.  Otherwise:
# says what to install and exits 1.
#
#   sh spec/support/deps.sh             the build, the demo and the local specs
#   sh spec/support/deps.sh --servers   also the local S3 test server
#                                       (OpenStack Swift with s3api, memcached;
#                                       see spec/support/server) and Debian's
#                                       awscli, the independent client of the
#                                       interoperability specs (`make test`),
#                                       python3-keystoneclient (the swift
#                                       command's Keystone auth) and Debian's
#                                       keystone with the openstack command (a
#                                       real Identity v3 for swift_spec);
#                                       node and npm for azurite, Azure's
#                                       emulator (npm installs it on first use)
PKGS="gcc make pkg-config openssl lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev lua-busted lua-cjson libcurl4-openssl-dev libssl-dev libexpat1-dev libjansson-dev nginx libnginx-mod-http-lua wrk curl python3"
# Installed without recommends: with them Swift pulls ~175 packages (gtk,
# keystone...) instead of ~75, and awscli a few more.
SERVER_PKGS="swift swift-proxy swift-account swift-container swift-object python3-swiftclient python3-keystoneclient keystone python3-openstackclient memcached awscli"

servers=0
if [ "${1:-}" = "--servers" ]; then
    servers=1
fi

# missing PKG... -> the ones not installed.  dpkg-query also knows removed
# packages whose config files remain, hence the status check.
missing_of() {
    installed=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
        awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }')
    for p in "$@"; do
        case " $(echo $installed) " in
            *" $p "*) ;;
            *) printf ' %s' "$p" ;;
        esac
    done
}

# shellcheck disable=SC2086
missing=$(missing_of $PKGS)
server_missing=""
if [ $servers = 1 ]; then
    # shellcheck disable=SC2086
    server_missing=$(missing_of $SERVER_PKGS)
    # azurite runs on node 20 (NodeSource's nodejs ships npm; Debian's
    # needs its npm package too): only what is absent is asked for.
    command -v node >/dev/null 2>&1 || server_missing="$server_missing nodejs"
    command -v npm >/dev/null 2>&1 || server_missing="$server_missing npm"
fi
[ -z "$missing$server_missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages:$missing$server_missing" >&2
    [ -n "$missing" ] && echo "deps: install them with: sudo apt-get install -y$missing" >&2
    [ -n "$server_missing" ] &&
        echo "deps: and: sudo apt-get install -y --no-install-recommends$server_missing" >&2
    exit 1
fi

echo "deps: installing$missing$server_missing"
t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || exit 1
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -q $missing || exit 1
fi
if [ -n "$server_missing" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $server_missing || exit 1
fi
echo "deps: installed in $(( $(date +%s) - t0 )) s"
