#!/bin/sh
# Runs a command with the local test servers up, and stops them afterwards:
# on success, on failure, and on Ctrl-C / TERM / HUP.  `make test` runs
#
#   sh spec/support/with-servers.sh sh spec/run.sh
#
# Today the one server is the S3 API of a local OpenStack Swift
# (`spec/support/server s3 start`).  Its state, its logs and the parameters it
# prints live in a fresh temporary directory (SD_SERVER_DIR), so every run
# starts from an empty store and a server started by hand under
# build/servers is left alone.  The command sees
#
#   SD_S3_PARAMS   the s3 driver parameters (key=value lines) that reach it;
#                  spec/contract runs the conformance suite over "s3" with
#                  them and spec/s3_spec.lua the S3-specific specs
#   SD_SWIFT_PARAMS  the swift driver's parameters for the Swift API of the
#                  same server: the conformance suite over "swift" and
#                  spec/swift_spec.lua
#   SD_AZURE_PARAMS  the same for azurite, Azure's emulator
#                  (`spec/support/server azure start`, in memory): the
#                  conformance suite over "azure" and spec/azure_spec.lua
#
# SD_KEEP_SERVER_DIR=1 keeps that directory (logs) after the run.
# The exit status is the command's (130 after an interrupt); a server that
# cannot start fails the run before the command.

cd "$(dirname "$0")/../.." || exit 1
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/sdservers.XXXXXX") || exit 1
SD_SERVER_DIR=$dir
export SD_SERVER_DIR
child=""

# Runs once, at exit: the command's process group first (so that nothing
# talks to a server going away), then the server, then the state.
cleanup() {
    trap '' INT TERM HUP
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
        n=0
        while kill -0 "$child" 2>/dev/null && [ $n -lt 50 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -KILL "-$child" 2>/dev/null || kill -KILL "$child" 2>/dev/null
    fi
    t0=$(date +%s)
    spec/support/server s3 stop 2>"$dir/stop.err" ||
        { echo "with-servers: stopping the s3 server failed:"; cat "$dir/stop.err"; } >&2
    echo "with-servers: s3 server stopped in $(( $(date +%s) - t0 )) s" >&2
    spec/support/server azure stop 2>"$dir/azure-stop.err" ||
        { echo "with-servers: stopping azurite failed:"; cat "$dir/azure-stop.err"; } >&2
    if [ "${SD_KEEP_SERVER_DIR:-}" = 1 ]; then
        echo "with-servers: server state kept in $dir" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# start NAME ENDPOINT-PARAM LOGS: `server NAME start`, its parameters into
# $dir/NAME.params; a server that does not start ends the run.
start() {
    t0=$(date +%s)
    if ! spec/support/server "$1" start >"$dir/$1.params"; then
        echo "with-servers: the $1 server did not start (logs: $3; SD_KEEP_SERVER_DIR=1 keeps them)" >&2
        exit 1
    fi
    echo "with-servers: $1 server ready in $(( $(date +%s) - t0 )) s" \
         "($(grep "^$2=" "$dir/$1.params" | cut -d= -f2-))" >&2
}

start s3 regionendpoint "$dir/swift/log"
SD_S3_PARAMS=$(cat "$dir/s3.params")
export SD_S3_PARAMS
# the Swift API of the same Swift All-In-One: it is running, so this only
# prints the swift driver's parameters (stopping s3 stops it)
start swift authurl "$dir/swift/log"
SD_SWIFT_PARAMS=$(cat "$dir/swift.params")
export SD_SWIFT_PARAMS
start azure serviceurl "$dir/azurite/azurite.log"
SD_AZURE_PARAMS=$(cat "$dir/azure.params")
export SD_AZURE_PARAMS

# The command runs in the background in a session (and process group) of
# its own, and this shell waits for it: a trapped signal interrupts `wait` at
# once (a foreground command would be waited for first), and cleanup can then
# end the whole group, busted and what it started included.  setsid rather
# than `set -m`: dash turns job control off without a terminal (CI).
setsid -w "$@" &
child=$!
wait "$child"
rc=$?
child=""
exit $rc
