#!/bin/sh
# `make sanitize`: the C example and every spec under AddressSanitizer and
# UndefinedBehaviorSanitizer.  The core and the Lua module are rebuilt into
# build-san/ with -fsanitize=address,undefined; the stock lua5.4 interpreter
# loads the module with the sanitizer runtimes preloaded.  Any report fails.
set -eu
cd "$(dirname "$0")/.."
B=build-san
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
make -s BUILD=$B OPT="-O1 -g" SANFLAGS="$SAN" $B/lua54/storagedriver/core.so $B/example $B/sigv4_vectors $B/http_test $B/xml_test

log=$(mktemp -d)
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$log/ubsan"
status=0

echo "== C example under ASan+UBSan (leak checking on)"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$log/asan-example" $B/example || status=1

echo "== specs under Lua 5.4 with ASan+UBSan"
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# The interpreter itself is not instrumented and exits without freeing every
# Lua object, so leak checking is left to the C example above.
# The local S3 server runs too (so the s3 driver is checked), started
# without the preload: only the spec run gets it.
sh spec/support/with-servers.sh env LD_PRELOAD="$preload" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$log/asan-specs" \
  SD_BUILD=$B SD_LUA_ONLY=lua5.4 sh spec/run.sh || status=1

if ls "$log"/* >/dev/null 2>&1; then
  echo "== sanitizer reports:"
  cat "$log"/*
  status=1
fi
rm -rf "$log"
if [ $status -eq 0 ]; then echo "sanitize: no reports"; else echo "sanitize: FAILED"; fi
exit $status
