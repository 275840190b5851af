#!/bin/sh
# Installs what `make bench` needs beyond the build, if any is missing: the
# local S3 server and Debian's awscli (spec/support/deps.sh --servers), and
# the other clients bench/s3.lua compares the s3 driver with: rclone and
# python3-boto3 (and awscli, named again so that this list is whole), and
# Azure's Python SDK for bench/azure.lua (python3-azure-storage).  Quiet
# when everything is present.  As root: apt-get install -y
# --no-install-recommends of the missing ones (with recommends, awscli and
# rclone pull in a few dozen packages the bench does not use).  Otherwise:
# says what to install and exits 1.
cd "$(dirname "$0")/.." || exit 1
sh spec/support/deps.sh --servers || exit 1

PKGS="rclone python3-boto3 awscli python3-azure-storage"
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
    awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }' | tr '\n' ' ')
missing=""
for p in $PKGS; do
    case " $installed " in
        *" $p "*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "bench deps: missing Debian packages:$missing" >&2
    echo "bench deps: install them with: sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
echo "bench deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || exit 1
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing || exit 1
