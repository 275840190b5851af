#!/bin/sh
# Runs every spec with busted, under Lua 5.4 and then under LuaJIT, and ends
# with one line "N passed, N failed" (totals of both runs; errors count as
# failed).  Exits non-zero if anything failed or a run gave no summary.
#
#   sh spec/run.sh              the default run: tags #large and #slow excluded
#   sh spec/run.sh --all        everything, the 5 GiB stream and the 15 s
#                               TestStatCall pauses included
#   sh spec/run.sh [--all] ARGS more busted arguments, e.g. --filter=walk
#                               (no spaces, ";" or "?" in them: busted
#                               re-runs itself with its arguments unquoted)
#
# `make test` installs what is missing, builds, then runs this.
#
# The conformance suite alone, against another driver (run from the
# repository root, after `make`):
#
#   LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;spec/support/?.lua;;' \
#   LUA_CPATH='build/lua54/?.so;;' \
#   SD_DRIVER=s3 SD_PARAMS="$(spec/support/server s3 start)" \
#     busted --exclude-tags=large,slow spec/contract
#
#   SD_DRIVER    driver name (unset: inmemory, filesystem with sync=false and
#                sync=true, and the Lua test driver luamem)
#   SD_PARAMS    its parameters as key=value pairs separated by newlines,
#                spaces or commas
#   SD_REQUIRE   a Lua module required first (it may sd.register a driver),
#                e.g. SD_REQUIRE=luamem SD_DRIVER=luamem
#   SD_CAPS      what the driver guarantees beyond the reference, same format:
#                atomic_writer=true (uploads invisible until commit),
#                walk_order=key (walk follows key order, not depth-first),
#                append_chunk=<bytes>
#   SD_LARGE_SIZE  bytes streamed by the #large TestWriteReadLargeStreams
#                (default 5 GiB)
# Under LuaJIT: LUA_CPATH='build/luajit/?.so;;' busted -r jit ... (the jit
# task of .busted: lua = luajit and the LuaJIT build of the module first).

cd "$(dirname "$0")/.." || exit 1

exclude="--exclude-tags=large,slow"
if [ "${1:-}" = "--all" ]; then
    exclude=""
    shift
fi

LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;spec/support/?.lua;;'
export LUA_PATH
unset LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdspec.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
esc=$(printf '\033')

passed=0
failed=0
broken=0

# run LABEL INTERPRETER CPATH-PREFIX .BUSTED-TASK [busted args...]
# busted re-executes itself under --lua with its arguments joined by spaces
# and unquoted, so no argument may hold ";" or "?": the module paths come
# from the environment and from the task in .busted (whose cpath busted puts
# first; the LuaJIT run must use the jit task so that it never sees the 5.4
# module).
run() {
    label=$1 lua=$2 cpath=$3 task=$4
    shift 4
    echo "=== busted under $label ==="
    # shellcheck disable=SC2086
    runopt=""
    [ -f .busted ] && runopt="--run=$task"
    LUA_CPATH="$cpath;;" busted --lua="$lua" $runopt -o utfTerminal \
        $exclude "$@" spec >"$tmp/out" 2>&1
    rc=$?
    cat "$tmp/out"
    summary=$(sed "s/${esc}\[[0-9;]*m//g" "$tmp/out" |
        grep -a -E '^[0-9]+ successe?s? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' |
        tail -n 1)
    if [ -z "$summary" ]; then
        echo "run.sh: the $label run produced no busted summary (exit status $rc)"
        failed=$((failed + 1))
        broken=1
        return
    fi
    s=$(echo "$summary" | sed -E 's/^([0-9]+) success.*/\1/')
    f=$(echo "$summary" | sed -E 's/^.* \/ ([0-9]+) failures? \/.*/\1/')
    e=$(echo "$summary" | sed -E 's/^.* \/ ([0-9]+) errors? \/.*/\1/')
    passed=$((passed + s))
    failed=$((failed + f + e))
    if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then
        echo "run.sh: the $label run exited with status $rc"
        broken=1
    fi
    echo
}

# `make sanitize` runs the Lua 5.4 half over the sanitizer build (build-san,
# the "san" task of .busted) with SD_LUA_ONLY=lua5.4.
if [ "${SD_BUILD:-build}" = build-san ]; then
    run "Lua 5.4 (ASan+UBSan build)" lua5.4 'build-san/lua54/?.so' san "$@"
else
    run "Lua 5.4" lua5.4 'build/lua54/?.so' default "$@"
fi
if [ "${SD_LUA_ONLY:-}" != lua5.4 ]; then
    run "LuaJIT" luajit 'build/luajit/?.so' jit "$@"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
