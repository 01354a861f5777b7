#!/usr/bin/env bash
# The main job: set up, build, then run a demonstration workload (Larson, 8-128 B blocks, the
# seed's benchmark) under hakmem and under the system allocator, and print both side by side.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build=${HAKMEM_BUILD_DIR:-$root/build}
larson="$build/bench/larson"
echo
echo "Larson: 3 s, 8-128 B, 1024 chunks per thread, 100 rounds, 2 threads; interleaved, 3 runs each"
printf '%-10s %5s %14s %18s %12s\n' allocator run "allocs/s" "allocs/cpu-s" "peak RSS KiB"
for run in 1 2 3; do
  for alloc in system hakmem; do
    pre=""
    [ "$alloc" = hakmem ] && pre="$build/libhakmem.so"
    line=$(LD_PRELOAD="$pre" "$larson" 3 8 128 1024 100 12345 2 | grep '^RESULT')
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    printf '%-10s %5s %14s %18s %12s\n' "$alloc" "$run" "$(get ops_per_s)" "$(get ops_per_cpu_s)" "$(get maxrss_kb)"
  done
done
echo
echo "The full comparison with jemalloc, mimalloc and tcmalloc: bench/larson.sh and bench/run_all.sh."
