#!/bin/sh
# Run one libFuzzer target for a while, as recorded in README.md:
#   CC=clang meson setup build-fuzz -Dfuzzing=libfuzzer \
#       -Db_sanitize=address,undefined -Db_lundef=false
#   ninja -C build-fuzz
#   tests/fuzz/run-libfuzzer.sh fuzz_pickle 1800
# New inputs go to a work corpus outside the tree ($FUZZ_WORK, default
# /tmp/treepack-fuzz); crashes to $FUZZ_WORK/TARGET-artifacts/.  Minimise
# a crash with -minimize_crash=1 and commit it under corpus/TARGET/.
set -eu
target=$1
seconds=${2:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
work=${FUZZ_WORK:-/tmp/treepack-fuzz}
mkdir -p "$work/$target" "$work/$target-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
exec "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2560 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="$work/$target-artifacts/" \
    "$work/$target" "$root/tests/fuzz/corpus/$target"
