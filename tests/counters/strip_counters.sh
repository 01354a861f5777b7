#!/bin/sh
# strip_counters.sh SRC_DIR OUT_DIR: copy the allocator's sources (src/) with every trace of the
# debug counters removed, as if they had never been written. test_counters_off_same_code compiles
# the copy with the library's own flags and compares it with the real counters-OFF library.
#
# Removed: every `#if HAKMEM_DEBUG_COUNTERS ... #endif` block (none may have an #else), every line
# that uses a counting macro, HAK_COUNT(, HAK_COUNT_N( or any other HAK_COUNT_X( / HAK_COUNTS_X(
# (each such line is one whole statement, `if (p) HAK_COUNT(x);` included), and HAK_COUNTERS_ON
# becomes 0. Then the script checks that nothing of the counters is left.
# core/counters.h is copied as it is: the copy no longer uses it, and its names table stays.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 SRC_DIR OUT_DIR" >&2; exit 2; }
src=$1
out=$2
tmp=$out.tmp.$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
(cd "$src" && find . -type f \( -name '*.c' -o -name '*.h' \)) | while read -r f; do
    mkdir -p "$tmp/$(dirname "$f")"
    case $f in
        ./core/counters.h) cp "$src/$f" "$tmp/$f" ;;
        *) sed -E -e '/^#if HAKMEM_DEBUG_COUNTERS/,/^#endif/d' -e '/HAK_COUNTS?(_[A-Z]+)*\(/d' \
               -e 's/HAK_COUNTERS_ON/0/g' "$src/$f" >"$tmp/$f" ;;
    esac
done
# A counters block with an #else would be cut wrongly by the line-based range above.
for f in $(grep -rl '^#if HAKMEM_DEBUG_COUNTERS' "$src" | grep -v '/core/counters\.h$'); do
    if grep -q '^#else' "$f"; then
        echo "strip_counters.sh: $f has an #else: the line-based cut cannot handle it" >&2
        exit 1
    fi
done
left=$(grep -rnE -e 'HAK_COUNTS?(_[A-Z]+)*\(' -e '^#if.*HAKMEM_DEBUG_COUNTERS' -e 'HAK_COUNTERS_ON' \
           -e 'counters_[a-z_]*\(' "$tmp" | grep -v '^[^:]*/core/counters\.h:' || true)
if [ -n "$left" ]; then
    echo "strip_counters.sh: counter code left after stripping:" >&2
    echo "$left" >&2
    exit 1
fi
rm -rf "$out"
mv "$tmp" "$out"
