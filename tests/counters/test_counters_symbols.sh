#!/bin/sh
# test_counters_symbols absent|present LIBRARY...: nm shows (present) or does not show (absent) the
# debug counters' symbols in each library. With HAKMEM_DEBUG_COUNTERS=OFF there must be no counter
# code at all, so none of the counters' functions or their TLS array; the `present` run in the
# counters build shows that the check would see them.
set -u
[ $# -ge 2 ] || { echo "usage: $0 absent|present LIBRARY..." >&2; exit 2; }
expect=$1
shift
command -v nm >/dev/null 2>&1 || { echo "skip no nm"; exit 77; }
symbols="hak_tls_counters counters_sum counters_thread_register counters_thread_exit counters_thread_fold
         counters_atfork_prepare counters_atfork_parent counters_atfork_child tls_counters_settle"
for lib in "$@"; do
    syms=$(nm "$lib" 2>/dev/null) || { echo "FAIL nm $lib"; exit 1; }
    # Hidden symbols are in the static symbol table; a stripped library would prove nothing.
    echo "$syms" | grep -q ' [Tt] heap_refill$' ||
        { echo "skip $lib has no symbol table (stripped?)"; exit 77; }
    found=""
    for s in $symbols; do
        echo "$syms" | grep -q " $s\$" && found="$found $s"
    done
    case $expect in
        absent)
            [ -z "$found" ] || { echo "FAIL $(basename "$lib") has counter symbols:$found"; exit 1; }
            echo "ok   $(basename "$lib"): none of the counter symbols ($(echo $symbols | tr ' ' ','))" ;;
        present)
            [ -n "$found" ] || { echo "FAIL $(basename "$lib") has no counter symbols"; exit 1; }
            echo "ok   $(basename "$lib"): counter symbols present:$found" ;;
        *) echo "usage: $0 absent|present LIBRARY..." >&2; exit 2 ;;
    esac
done
