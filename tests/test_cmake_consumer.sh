#!/bin/sh
# test_cmake_consumer MODE SOURCE_DIR BUILD_DIR: builds tests/consumer against hakmem one way and
# runs its three programs (tests/consumer/CMakeLists.txt):
#   package       cmake --install BUILD_DIR into a prefix, move the prefix elsewhere (it must be
#                 relocatable), find_package(hakmem) from there; also pkg-config from there
#   subdirectory  add_subdirectory(SOURCE_DIR)
#   fetchcontent  FetchContent from a tarball of SOURCE_DIR (a file URL: no network)
set -u
[ $# -eq 3 ] || { echo "usage: $0 package|subdirectory|fetchcontent SOURCE_DIR BUILD_DIR" >&2; exit 2; }
mode=$1
src=$2
build=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-consumer.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; [ -f "$tmp/log" ] && tail -n 30 "$tmp/log"; exit 1; }

case $mode in
package)
    cmake --install "$build" --prefix "$tmp/staging" >"$tmp/log" 2>&1 || fail "cmake --install"
    mv "$tmp/staging" "$tmp/moved"
    source_args="-DCMAKE_PREFIX_PATH=$tmp/moved"
    ;;
subdirectory)
    source_args="-DHAKMEM_CONSUMER_SOURCE=$src"
    ;;
fetchcontent)
    tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='./bench/results' \
        -czf "$tmp/hakmem-src.tar.gz" . || fail "tar of the sources"
    source_args="-DHAKMEM_CONSUMER_SOURCE=file://$tmp/hakmem-src.tar.gz"
    ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac

cmake -S "$src/tests/consumer" -B "$tmp/consumer" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_CONSUMER_MODE="$mode" \
      $source_args >"$tmp/log" 2>&1 || fail "$mode: configuring the consumer project"
cmake --build "$tmp/consumer" -j2 >"$tmp/log" 2>&1 || fail "$mode: building the consumer project"
for t in hakmem hakmem_static prefixed; do
    out=$("$tmp/consumer/consumer_$t" 2>&1) || fail "$mode: consumer_$t: $out"
    echo "ok   $mode: hakmem::$t: $out"
done
if [ "$mode" = package ]; then
    # A relocated install: nothing may point back at where it was installed.
    if grep -rq "$tmp/staging" "$tmp/moved"; then fail "the installed files name the install prefix"; fi
    echo "ok   the relocated install names no absolute install path"
    pc=$(find "$tmp/moved" -name hakmem.pc | head -n 1)
    if command -v pkg-config >/dev/null 2>&1 && [ -n "$pc" ]; then
        flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs hakmem) || fail "pkg-config hakmem"
        libdir=$(dirname "$(dirname "$pc")")
        cc -o "$tmp/pc_consumer" "$src/tests/consumer/consumer.c" $flags -Wl,-rpath,"$libdir" >"$tmp/log" 2>&1 ||
            fail "compiling with pkg-config's flags ($flags)"
        out=$("$tmp/pc_consumer" 2>&1) || fail "pkg-config consumer: $out"
        echo "ok   pkg-config from the relocated prefix: $out"
    fi
fi
