#!/bin/sh
# test_counters_off_same_code REAL.a STRIPPED.a: with HAKMEM_DEBUG_COUNTERS=OFF the library is the
# same machine code as the same sources with the counters deleted (strip_counters.sh), compiled
# with the same flags: every object of REAL.a (libhakmem_prefixed.a) disassembles, byte for byte,
# like its namesake in STRIPPED.a. So the malloc/free fast path (hak_malloc, hak_free, and the
# inline list functions in them) pays nothing for the counters, and its instruction count under
# callgrind is necessarily the same.
set -u
[ $# -eq 2 ] || { echo "usage: $0 REAL.a STRIPPED.a" >&2; exit 2; }
real=$1
stripped=$2
command -v objdump >/dev/null 2>&1 || { echo "skip no objdump"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-samecode.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# One file per archive member: its disassembly (raw bytes included), without the archive's name
# and the blank lines (the last member of an archive has no trailing one).
split_members() { # ARCHIVE DIR
    mkdir -p "$2"
    objdump -d "$1" | awk -v dir="$2" '
        /^In archive / { next }
        /file format/ { name = $1; sub(/:$/, "", name); file = dir "/" name ".dis" }
        file != "" && NF > 0 { print > file }'
}
split_members "$real" "$tmp/real"
split_members "$stripped" "$tmp/stripped"

members=$(cd "$tmp/real" && ls)
[ -n "$members" ] || { echo "FAIL no objects in $real"; exit 1; }
for m in $members; do
    [ -f "$tmp/stripped/$m" ] || { echo "FAIL $m is in $real but not in $stripped"; exit 1; }
done
grep -q '<hak_malloc>:' "$tmp/real/alloc.c.o.dis" && grep -q '<hak_free>:' "$tmp/real/alloc.c.o.dis" ||
    { echo "FAIL hak_malloc/hak_free not found in alloc.c.o"; exit 1; }

fail=0
for m in $members; do
    if ! cmp -s "$tmp/real/$m" "$tmp/stripped/$m"; then
        echo "FAIL ${m%.dis} differs from the build without counters:"
        diff -u "$tmp/stripped/$m" "$tmp/real/$m" 2>/dev/null | head -60
        fail=1
    fi
done
[ $fail = 0 ] || exit 1

# Instructions in the two entry points, for the record.
count() { # FUNCTION
    awk -v f="<$1>:" '$2 == f { on = 1; next } on && /^[0-9a-f]+ </ { exit } on && /:\t/ { n++ } END { print n + 0 }' \
        "$tmp/real/alloc.c.o.dis"
}
n=$(echo "$members" | wc -w)
echo "ok   all $n objects of $(basename "$real") are byte-for-byte the code of the same sources without counters"
echo "ok   hak_malloc: $(count hak_malloc) instructions, hak_free: $(count hak_free) instructions (whole functions, identical)"
