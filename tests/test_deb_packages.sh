#!/bin/sh
# test_deb_packages BUILD_DIR SOURCE_DIR: `cpack -G DEB` makes the two Debian packages; their
# dependencies are real Debian packages (libc6, liburcu8; nothing of the C++ runtime); unpacked
# into a clean directory (dpkg -x: nothing is installed on the system) the launcher runs a program
# under the unpacked library, and a C program builds against the unpacked development package.
set -u
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
for t in cpack dpkg-deb dpkg-query; do
    command -v $t >/dev/null 2>&1 || { echo "skip no $t"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-deb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }

(cd "$tmp" && cpack -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake") >"$tmp/cpack.log" 2>&1 ||
    { tail -n 20 "$tmp/cpack.log"; fail "cpack -G DEB"; }
run=$(ls "$tmp"/out/hakmem_*.deb 2>/dev/null | head -n 1)
dev=$(ls "$tmp"/out/libhakmem-dev_*.deb 2>/dev/null | head -n 1)
[ -n "$run" ] && [ -n "$dev" ] || fail "cpack made: $(ls "$tmp/out")"
echo "ok   cpack -G DEB: $(basename "$run") $(basename "$dev")"

deps=$(dpkg-deb -f "$run" Depends)
echo "$deps" | grep -q 'libc6' && echo "$deps" | grep -q 'liburcu' || fail "hakmem Depends: '$deps'"
case $deps in *libstdc++*|*libgcc*) fail "hakmem depends on the C++ runtime: '$deps'" ;; esac
# Every package named must exist in Debian: here, be installed (the build needed them).
for p in $(echo "$deps, $(dpkg-deb -f "$dev" Depends)" | tr ',' '\n' | sed 's/(.*//; s/|.*//' | tr -d ' '); do
    [ "$p" = hakmem ] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        fail "dependency '$p' is not an installed Debian package"
done
echo "ok   dependencies: hakmem: $deps; libhakmem-dev: $(dpkg-deb -f "$dev" Depends)"

dpkg -x "$run" "$tmp/root" && dpkg -x "$dev" "$tmp/root" || fail "dpkg -x"
l=$tmp/root/usr/bin/hakmem
v=$("$l" --version) || fail "unpacked launcher --version"
case $v in *"$tmp/root/"*) ;; *) fail "the unpacked launcher uses another library: $v" ;; esac
"$l" --stats --stats-file "$tmp/stats" -- sort "$src/README.md" >/dev/null || fail "sort under the unpacked launcher"
grep -q "hakmem statistics" "$tmp/stats" || fail "no statistics from the program run under the unpacked library"
echo "ok   the unpacked launcher runs sort under the unpacked library: $v"

pc=$(find "$tmp/root" -name hakmem.pc | head -n 1)
[ -n "$pc" ] || fail "no hakmem.pc in libhakmem-dev"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs hakmem) || fail "pkg-config"
libdir=$(dirname "$(dirname "$pc")")
cc -o "$tmp/consumer" "$src/tests/consumer/consumer.c" $flags -Wl,-rpath,"$libdir" >"$tmp/cc.log" 2>&1 ||
    { cat "$tmp/cc.log"; fail "building against the unpacked libhakmem-dev"; }
out=$("$tmp/consumer") || fail "consumer: $out"
echo "ok   a C program builds against the unpacked libhakmem-dev and runs: $out"
