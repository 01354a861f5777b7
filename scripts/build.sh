#!/usr/bin/env bash
# Configures and builds the release build in build/ (or $HAKMEM_BUILD_DIR): the `release` preset of
# CMakePresets.json, where its options are defined.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HAKMEM_BUILD_DIR:-$root/build}
cmake -S "$root" --preset release -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)"
