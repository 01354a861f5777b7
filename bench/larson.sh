#!/usr/bin/env bash
# bench/larson.sh: the unified Larson runner. Runs bench/larson for every profile, thread count and
# allocator, interleaved (run 1 of everything, then run 2, ...), and prints the medians with ratios
# to glibc and mimalloc. Files go to bench/results/larson-<date>-<time>/ (raw.csv, summary.csv,
# summary.md); bench/results/latest points at the newest.
set -u

usage() {
    cat <<'EOF'
usage: bench/larson.sh [options]
  -p, --profile LIST     profiles, space or comma separated (default: all)
                           tiny       8-128 B, 1024 chunks/thread, rounds 1 (tiny-r1: thread churn
                                      dominates) and rounds 100 (tiny-r100: steady state)
                           small      8-1024 B, 1024 chunks, rounds 100
                           mid        1-32 KiB, 1024 chunks, rounds 100
                           mixed      8 B-64 KiB, 1024 chunks, rounds 100
                           all        all of the above
  -t, --threads LIST     thread counts (default: "1 2 4")
  -r, --runs N           runs per point, the median is reported (default 5; fewer than 5 warns)
  -d, --duration S       seconds per run (default 1; fractions allowed)
  -a, --allocators LIST  (default: hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc)
                           hakmem           LD_PRELOAD=$HAKMEM_BUILD_DIR/libhakmem.so
                           hakmem-nodaemon  the same with HAKMEM_REFILL_THREAD=0
                           glibc            no preload
                           jemalloc, mimalloc, tcmalloc  their Debian libraries, when installed
                           LABEL=/path/lib.so  any other library
                         a missing or failing allocator is a note, not a failure
  -s, --seed N           seed (default 12345)
  -o, --out DIR          results directory (default: bench/results/larson-<date>-<time>)
Environment: HAKMEM_BUILD_DIR (default <repo>/build).
EOF
}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

profiles=all
threads="1 2 4"
runs=5
duration=1
allocators=$BENCH_ALL_ALLOCATORS
seed=12345
out=""
while [ $# -gt 0 ]; do
    case $1 in
        -p | --profile) profiles=${2//,/ }; shift 2 ;;
        -t | --threads) threads=${2//,/ }; shift 2 ;;
        -r | --runs) runs=$2; shift 2 ;;
        -d | --duration) duration=$2; shift 2 ;;
        -a | --allocators) allocators=${2//,/ }; shift 2 ;;
        -s | --seed) seed=$2; shift 2 ;;
        -o | --out) out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) bench_err "unknown option '$1'"; usage >&2; exit 2 ;;
    esac
done
bench_check_runs "$runs" 5
# Per run: warm-up and start-up are outside `duration`; allow for slow page faults.
tmo=$(hakbench timeout "$duration") || { bench_err "--duration must be > 0"; exit 2; }

configs=$(bench_larson_expand $profiles) || exit 2
bench_ensure_bins || { bench_err "cannot build the benchmark programs"; exit 1; }
bench_select_allocators "$allocators" || exit 1

[ -n "$out" ] || out=$(bench_new_results_dir larson) || exit 1
mkdir -p "$out"
raw="$out/raw.csv"
rm -f "$raw"

jobs=()
for c in $configs; do
    read -r min max chunks rounds <<<"$(bench_larson_params "$c")"
    for t in $threads; do
        jobs+=("larson|$c|$t|$tmo|larson $duration $min $max $chunks $rounds $seed $t")
    done
done

echo "larson: profiles [${configs//$'\n'/ }], threads [$threads], $runs runs of ${duration}s," \
     "allocators [$BENCH_ALLOCS], interleaved" >&2
start=$(date +%s)
bench_run_matrix "$runs" "$raw" "${jobs[@]}"
bench_summarize "$raw" >"$out/summary.csv"
{
    echo "### Larson, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(bench_machine)."
    echo "Medians of $runs interleaved runs of ${duration}s; seed $seed; chunks, sizes and rounds per"
    echo "profile as in bench/larson.sh. ops = allocations (each with a free); per CPU-second = ops /"
    echo "(user+sys CPU of all threads). Ratios: throughput higher is better, RSS lower is better."
    echo
    bench_describe_allocators
    echo
    bench_markdown "$out/summary.csv"
} >"$out/summary.md"
cat "$out/summary.md"
echo
echo "($(($(date +%s) - start)) s) raw: $raw  summary: $out/summary.csv  markdown: $out/summary.md"
