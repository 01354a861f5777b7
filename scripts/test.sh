#!/usr/bin/env bash
# The whole test suite: set up, build, run the ctest suites (unit, API conformance, integration,
# stress) on the release build, the debug-counter build, then the sanitizer builds (TSan,
# ASan+UBSan, fuzzer).
# HAKMEM_SKIP_SANITIZERS=1 runs only the first part.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build=${HAKMEM_BUILD_DIR:-$root/build}
ctest --test-dir "$build" -L 'quick|stress' --output-on-failure -j2 --timeout 300 --no-tests=error

# The debug-counter build (issue 4): the counters must add up; built separately because the
# release build has none of their code.
counters=${HAKMEM_COUNTERS_BUILD_DIR:-$root/build-counters}
cmake -S "$root" -B "$counters" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_DEBUG_COUNTERS=ON \
      -DHAKMEM_BUILD_TESTS=ON -DHAKMEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$counters" -j"$(nproc)" >/dev/null
ctest --test-dir "$counters" -L 'counters|unit' --output-on-failure -j2 --timeout 300 --no-tests=error
if [ "${HAKMEM_SKIP_SANITIZERS:-0}" != 1 ] && [ -x "$root/scripts/sanitizers.sh" ]; then
  "$root/scripts/sanitizers.sh"
fi
