#!/usr/bin/env bash
# Configures and builds the release build in build/ (or $HAKMEM_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HAKMEM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_BUILD_TESTS=ON -DHAKMEM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
