#!/usr/bin/env bash
# bench/icount.sh: instructions per malloc/free pair under callgrind, for each allocator.
# Runs `workloads fastpath -m SIZE -n N` and `-n 2N` under valgrind --tool=callgrind and reports
# (I(2N) - I(N)) / N, for all threads together and for the application thread alone.
set -u
usage() {
    cat <<'USAGE'
usage: bench/icount.sh [-a "allocators"] [-n N] [-m "sizes"] [-o DIR]
  -a  allocators (default: hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc)
  -n  pairs in the shorter run (default 200000; the longer run does twice as many)
  -m  block sizes in bytes (default "16 64 512")
  -o  output directory (default: bench/results/icount-<date>-<time>)
Environment: HAKMEM_BUILD_DIR (default <repo>/build).
USAGE
}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
allocators=$BENCH_ALL_ALLOCATORS
n=200000
sizes="16 64 512"
out=""
while [ $# -gt 0 ]; do
    case $1 in
        -a | --allocators) allocators=${2//,/ }; shift 2 ;;
        -n) n=$2; shift 2 ;;
        -m | --sizes) sizes=${2//,/ }; shift 2 ;;
        -o | --out) out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) bench_err "unknown option '$1'"; usage >&2; exit 2 ;;
    esac
done
case $n in '' | *[!0-9]*) bench_err "-n needs a number"; exit 2 ;; esac
command -v valgrind >/dev/null 2>&1 || { bench_err "valgrind is not installed"; exit 1; }
bench_ensure_bins || exit 1
bench_select_allocators "$allocators" || exit 1
[ -n "$out" ] || out=$(bench_new_results_dir icount) || exit 1
mkdir -p "$out"
bench_icount "$n" "$sizes" "$out/icount.csv"
bench_icount_markdown "$out/icount.csv" | tee "$out/icount.md"
echo "csv: $out/icount.csv"
