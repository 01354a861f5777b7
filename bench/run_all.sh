#!/usr/bin/env bash
# bench/run_all.sh: every workload (bench/workloads and the Larson profiles) for every allocator,
# interleaved, then instruction counts under callgrind. Writes to bench/results/all-<date>-<time>/
# (bench/results/latest points at it):
#   raw.csv        one row per run        summary.csv   medians and ratios to glibc and mimalloc
#   summary.md     the markdown tables    icount.csv    instructions per malloc/free pair
#   *.png          throughput against threads per workload, peak RSS per allocator (gnuplot)
set -u

usage() {
    cat <<'EOF'
usage: bench/run_all.sh [options]
  --quick                a run of a few minutes: threads "1 2", 0.2 s per run, icount at 64 B only
  -r, --runs N           runs per point, medians reported (default 5)
  -d, --duration S       seconds per run (default 1, --quick 0.2)
  -t, --threads LIST     thread counts (default "1 2 4", --quick "1 2"); prodcon uses pairs, so
                         its thread counts are the even ones derived from this list
  -a, --allocators LIST  (default: hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc;
                         LABEL=/path/lib.so for another; missing ones are a note)
  -w, --workloads LIST   subset of: random storm lifetimes sizes prodcon falseshare churn realloc
                         fastpath replace bursts bigbuf server larson (default: all)
  -p, --profile LIST     Larson profiles (default all: tiny-r1 tiny-r100 small mid mixed)
  --icount-n N           pairs for the instruction counts (default 200000, --quick 100000)
  --icount-sizes LIST    sizes for the instruction counts (default "16 64 512", --quick "64")
  --no-icount            skip the callgrind instruction counts
  --no-plots             skip gnuplot
  -o, --out DIR          results directory
Environment: HAKMEM_BUILD_DIR (default <repo>/build).
EOF
}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmdline="bench/run_all.sh${*:+ $*}"
ALL_WORKLOADS="random storm lifetimes sizes prodcon falseshare churn realloc fastpath replace bursts bigbuf server larson"
quick=0
runs=5
duration=""
threads=""
allocators=$BENCH_ALL_ALLOCATORS
workloads=$ALL_WORKLOADS
profiles=all
icount=1
icount_n=""
icount_sizes=""
plots=1
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; shift ;;
        -r | --runs) runs=$2; shift 2 ;;
        -d | --duration) duration=$2; shift 2 ;;
        -t | --threads) threads=${2//,/ }; shift 2 ;;
        -a | --allocators) allocators=${2//,/ }; shift 2 ;;
        -w | --workloads) workloads=${2//,/ }; shift 2 ;;
        -p | --profile) profiles=${2//,/ }; shift 2 ;;
        --icount-n) icount_n=$2; shift 2 ;;
        --icount-sizes) icount_sizes=${2//,/ }; shift 2 ;;
        --no-icount) icount=0; shift ;;
        --no-plots) plots=0; shift ;;
        -o | --out) out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) bench_err "unknown option '$1'"; usage >&2; exit 2 ;;
    esac
done
if [ $quick = 1 ]; then
    : "${duration:=0.2}" "${threads:=1 2}" "${icount_n:=100000}" "${icount_sizes:=64}"
else
    : "${duration:=1}" "${threads:=1 2 4}" "${icount_n:=200000}" "${icount_sizes:=16 64 512}"
fi
bench_check_runs "$runs" 5
# Per run: warm-up and start-up are outside `duration`; allow for slow page faults.
tmo=$(hakbench timeout "$duration") || { bench_err "--duration must be > 0"; exit 2; }
for w in $workloads; do
    case " $ALL_WORKLOADS " in *" $w "*) ;; *) bench_err "unknown workload '$w'"; exit 2 ;; esac
done
configs=$(bench_larson_expand $profiles) || exit 2

bench_ensure_bins || { bench_err "cannot build the benchmark programs"; exit 1; }
bench_select_allocators "$allocators" || exit 1
[ -n "$out" ] || out=$(bench_new_results_dir all) || exit 1
mkdir -p "$out"
raw="$out/raw.csv"
rm -f "$raw"

# ---- The jobs ----------------------------------------------------------------------------------------
jobs=()
for w in $workloads; do
    case $w in
        larson)
            for c in $configs; do
                read -r min max chunks rounds <<<"$(bench_larson_params "$c")"
                for t in $threads; do
                    jobs+=("larson|$c|$t|$tmo|larson $duration $min $max $chunks $rounds 12345 $t")
                done
            done ;;
        fastpath)
            jobs+=("workloads|fastpath|1|$tmo|workloads fastpath -s $duration") ;;
        prodcon) # -t is pairs: thread counts 2, 4, ... derived from the list, without repeats
            seen=" "
            for t in $threads; do
                p=$((t / 2)); [ $p -ge 1 ] || p=1
                case $seen in *" $p "*) continue ;; esac
                seen="$seen$p "
                jobs+=("workloads|prodcon|$((2 * p))|$tmo|workloads prodcon -s $duration -t $p")
            done ;;
        *)
            for t in $threads; do
                jobs+=("workloads|$w|$t|$tmo|workloads $w -s $duration -t $t")
            done ;;
    esac
done

echo "run_all: ${#jobs[@]} configurations x allocators [$BENCH_ALLOCS] x $runs runs of" \
     "${duration}s, interleaved; results in $out" >&2
start=$(date +%s)
bench_run_matrix "$runs" "$raw" "${jobs[@]}"
bench_summarize "$raw" >"$out/summary.csv"
if [ $icount = 1 ]; then
    echo "run_all: instruction counts under callgrind (sizes: $icount_sizes, N=$icount_n)" >&2
    bench_icount "$icount_n" "$icount_sizes" "$out/icount.csv"
fi
pngs=""
[ $plots = 1 ] && pngs=$(bench_plot "$out/summary.csv" "$out")
elapsed=$(($(date +%s) - start))

# ---- The report -------------------------------------------------------------------------------------
{
    echo "# hakmem benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(bench_machine)."
    echo
    echo "Command: \`$cmdline\` (runs $runs, ${duration}s per run," \
         "threads $threads; $elapsed s in all)."
    echo "Every value is the median of $runs runs; the runs were interleaved (run 1 of every"
    echo "workload and allocator, then run 2, ...). ops/s: the workload's unit per wall second"
    echo "(allocations unless noted; k = thousands, M = millions); ops/CPU-s: per second of user+sys CPU of all threads;"
    echo "peak RSS: ru_maxrss; minor faults during the measured phase. Ratios: throughput higher is"
    echo "better, RSS lower is better."
    echo
    echo "Allocators:"
    echo
    bench_describe_allocators
    echo
    echo "## Overview (medians)"
    echo
    echo "Throughput, the unit per wall second (higher is better):"
    echo
    bench_pivot "$out/summary.csv" ops_per_s
    echo
    echo "Per CPU-second, the unit per second of user+sys CPU of all threads (higher is better):"
    echo
    bench_pivot "$out/summary.csv" ops_per_cpu_s
    echo
    echo "Peak RSS, MiB (lower is better):"
    echo
    bench_pivot "$out/summary.csv" maxrss_kb
    echo
    echo "## Details, with ratios to glibc and mimalloc"
    echo
    bench_markdown "$out/summary.csv"
    if [ -s "$out/icount.csv" ]; then
        echo
        echo "## Instructions per malloc/free pair (callgrind)"
        echo
        echo "\`workloads fastpath -m SIZE -n N\` and \`-n 2N\` under callgrind, N=$icount_n:"
        echo "(I(2N) - I(N)) / N, loop overhead (a few instructions) included."
        echo
        bench_icount_markdown "$out/icount.csv"
    fi
    if [ -n "$pngs" ]; then
        echo
        echo "## Plots"
        echo
        for f in $pngs; do
            echo "![$(basename "$f" .png)]($(basename "$f"))"
        done
    fi
} >"$out/summary.md"

cat "$out/summary.md"
echo
echo "run_all: done in $elapsed s: $out/summary.md, $out/summary.csv, $out/raw.csv" \
     "$( [ -n "$pngs" ] && echo "and $(echo "$pngs" | wc -l) plots")"
