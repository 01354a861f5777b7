#!/bin/sh
# test_library_deps LIBHAKMEM.so C_PROGRAM: libhakmem.so needs only libc and liburcu-bp, though it
# replaces C++'s operator new (it reaches libstdc++ through weak references only, when a C++
# program has loaded it), and a C program linked with it loads no C++ runtime.
set -u
[ $# -eq 2 ] || { echo "usage: $0 LIBHAKMEM.so C_PROGRAM" >&2; exit 2; }
lib=$1
prog=$2
command -v readelf >/dev/null 2>&1 || { echo "skip no readelf"; exit 77; }
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "#    $(basename "$lib") NEEDED: $needed"
for n in $needed; do
    case $n in
        libc.so.*|liburcu-bp.so.*|liburcu-common.so.*) ;;
        *) echo "FAIL $(basename "$lib") depends on $n"; exit 1 ;;
    esac
done
echo "ok   libhakmem.so needs only libc and liburcu-bp"
undefined=$(nm -D --undefined-only "$lib" | grep -E ' (_Z|__cxa|__gxx)' | grep -v -e ' w ' -e '@GLIBC_' || true)
[ -z "$undefined" ] || { echo "FAIL strong references to the C++ runtime:"; echo "$undefined"; exit 1; }
echo "ok   its references to the C++ runtime are all weak: $(nm -D --undefined-only "$lib" | grep -c ' w _Z') symbols"
loaded=$(ldd "$prog" | grep -E 'libstdc\+\+|libgcc_s' || true)
[ -z "$loaded" ] || { echo "FAIL $(basename "$prog") (C, linked to libhakmem.so) loads: $loaded"; exit 1; }
echo "ok   a C program linked to libhakmem.so loads no C++ runtime"
