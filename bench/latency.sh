#!/usr/bin/env bash
# bench/latency.sh: per-call malloc/free latency (bench/latency) for every allocator, interleaved.
# Writes to bench/results/latency-<date>-<time>/ (bench/results/latest points at it):
#   raw.csv       one row per run and op (malloc, free, request): count, mean and percentiles in
#                 ns, and the run's requests per second, per CPU-second, peak RSS, nivcsw
#   summary.csv   per config, threads, allocator and op: medians over the runs of every
#                 percentile; max as the median and the worst of the runs
#   summary.md    the markdown tables
#   hist/         every run's histogram (latency -H); cdf-<config>-t<threads>.png: CDF (top) and
#                 tail 1-CDF (bottom, log) of malloc, free and request latency, one line per
#                 allocator, the runs' histograms summed (gnuplot)
# Configs: growheap (think 2000 ns) and growheap-nothink (think 0) at each thread count; steady
# (think 2000 ns) at 1 and 2 threads; bursts at 1 thread.
set -u

usage() {
    cat <<'EOF'
usage: bench/latency.sh [options]
  --quick                a run of a few minutes: 1 run of 1 s, threads "1 2"
  -r, --runs N           runs per point, medians reported (default 3)
  -d, --duration S       seconds per run (default 3)
  -t, --threads LIST     thread counts for growheap (default "1 2 4"); steady uses those <= 2
  -a, --allocators LIST  (default: hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc;
                         LABEL=/path/lib.so for another; missing ones are a note)
  -c, --configs LIST     subset of: growheap growheap-nothink steady bursts (default: all)
  --think NS             think time of growheap and steady (default 2000)
  --no-plots             skip gnuplot
  -o, --out DIR          results directory
  --report DIR           no runs: remake summary.csv, summary.md and the plots of DIR from its
                         raw.csv and hist/ (after an interrupted run, or to replot)
Environment: HAKMEM_BUILD_DIR (default <repo>/build).
EOF
}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmdline="bench/latency.sh${*:+ $*}"
ALL_CONFIGS="growheap growheap-nothink steady bursts"
runs=3
duration=3
threads="1 2 4"
allocators=$BENCH_ALL_ALLOCATORS
configs=$ALL_CONFIGS
think=2000
plots=1
out=""
report=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) runs=1; duration=1; threads="1 2"; shift ;;
        -r | --runs) runs=$2; shift 2 ;;
        -d | --duration) duration=$2; shift 2 ;;
        -t | --threads) threads=${2//,/ }; shift 2 ;;
        -a | --allocators) allocators=${2//,/ }; shift 2 ;;
        -c | --configs) configs=${2//,/ }; shift 2 ;;
        --think) think=$2; shift 2 ;;
        --no-plots) plots=0; shift ;;
        -o | --out) out=$2; shift 2 ;;
        --report) report=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) bench_err "unknown option '$1'"; usage >&2; exit 2 ;;
    esac
done
bench_check_runs "$runs"
tmo=$(hakbench timeout "$duration") || { bench_err "--duration must be > 0"; exit 2; }
for c in $configs; do
    case " $ALL_CONFIGS " in *" $c "*) ;; *) bench_err "unknown config '$c'"; exit 2 ;; esac
done

if [ -n "$report" ]; then
    out=$report
    raw="$out/raw.csv"
    [ -s "$raw" ] || { bench_err "$raw not found"; exit 1; }
    BENCH_ALLOCS=$(hakbench column "$raw" allocator distinct)
    elapsed="?"
else
bench_ensure_bins || { bench_err "cannot build the benchmark programs"; exit 1; }
bench_select_allocators "$allocators" || exit 1
if [ -z "$out" ]; then
    out=$(bench_new_results_dir latency) || exit 1
fi
mkdir -p "$out/hist" || exit 1
raw="$out/raw.csv"
errlog="$out/stderr.log"
rm -f "$raw"

# ---- The jobs: "config|threads|latency arguments" ------------------------------------------------
jobs=()
for c in $configs; do
    case $c in
        growheap) for t in $threads; do jobs+=("growheap|$t|-w growheap -c $think -t $t"); done ;;
        growheap-nothink) for t in $threads; do jobs+=("growheap-nothink|$t|-w growheap -c 0 -t $t"); done ;;
        steady) for t in $threads; do [ "$t" -le 2 ] && jobs+=("steady|$t|-w steady -c $think -t $t"); done ;;
        bursts) jobs+=("bursts|1|-w bursts -t 1") ;;
    esac
done
nalloc=${#BENCH_ALLOC_SPECS[@]}
total=$((runs * ${#jobs[@]} * nalloc))
echo "latency: ${#jobs[@]} configurations x allocators [$BENCH_ALLOCS] x $runs runs of" \
     "${duration}s, interleaved; results in $out" >&2
echo "config,scenario,threads,think_ns,allocator,run,status,op,count,mean_ns,p50_ns,p99_ns,p999_ns,p9999_ns,max_ns,requests_per_s,requests_per_cpu_s,maxrss_kb,nivcsw,tsc_ghz,timer_ns" >"$raw"
start=$(date +%s)
done_n=0
for ((r = 1; r <= runs; r++)); do
    for job in "${jobs[@]}"; do
        IFS='|' read -r config t args <<<"$job"
        for ((k = 0; k < nalloc; k++)); do
            i=$(((k + r - 1) % nalloc))    # the allocator order rotates by one each run
            spec=${BENCH_ALLOC_SPECS[$i]}
            label=$(bench_alloc_label "$spec")
            bench_alloc_env "$spec"
            env=$BENCH_ENV
            done_n=$((done_n + 1))
            hist="$out/hist/${config}-t${t}__${label}__r${r}.csv"
            echo "== run $r $config t=$t $label: $LATENCY_BIN $args -s $duration" >>"$errlog"
            # shellcheck disable=SC2086
            res=$(timeout -k 5 "$tmo" env $env "$LATENCY_BIN" $args -s "$duration" -H "$hist" 2>>"$errlog")
            rc=$?
            # raw.csv rows (one per op, or the failure) and a progress line.
            printf '%s\n' "$res" | hakbench latency-row --rc "$rc" --progress "$done_n/$total" \
                --errlog "$errlog" "$config" "$t" "$label" "$r" >>"$raw"
        done
    done
done
elapsed=$(($(date +%s) - start))
fi

# ---- Summary, tables and CDF plots (bench/hakbench.py) -----------------------------------------------
# summary.csv: per config, threads, allocator and op, the median over the runs of each percentile;
# max as the median and the worst of the runs. Plots: the runs' histograms (hist/) summed per
# config, threads and allocator; cdf-<config>-t<threads>.png.
hakbench latency-summary "$raw" >"$out/summary.csv"
pngs=""
# shellcheck disable=SC2086
[ $plots = 1 ] && pngs=$(hakbench latency-plot "$out" $BENCH_ALLOCS)

# ---- The report -------------------------------------------------------------------------------------
tsc=$(hakbench column "$raw" tsc_ghz first)
tmr=$(hakbench column "$raw" timer_ns first)
{
    echo "# hakmem latency, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(bench_machine). TSC ${tsc:-?} GHz; an empty timed region costs ${tmr:-?} ns"
    echo "(included in every figure, not subtracted)."
    echo
    if [ -n "$report" ]; then
        echo "Remade by \`$cmdline\` from raw.csv ($(hakbench column "$raw" run max)"
        echo "runs; durations and think time as in the original command, see the config and think_ns"
        echo "columns of raw.csv). Runs interleaved (run 1 of every config and allocator, then run 2, ...;"
    else
        echo "Command: \`$cmdline\` (runs $runs, ${duration}s per run, threads $threads, think ${think} ns;"
        echo "$elapsed s in all). Runs interleaved (run 1 of every config and allocator, then run 2, ...;"
    fi
    echo "allocator order rotated each run). Each percentile is the median over the runs of that"
    echo "run's percentile; max is given as the median and the worst of the runs. ns unless marked;"
    echo "nivcsw: involuntary context switches of the measured threads (preemption: it inflates"
    echo "the top percentiles); req/CPU-s: requests per second of user+sys CPU, whole process."
    echo
    echo "Allocators:"
    echo
    if [ -n "$report" ]; then
        echo "$BENCH_ALLOCS (remade with --report from raw.csv)"
    else
        bench_describe_allocators
    fi
    for op in malloc free request empty; do
        echo
        echo "## $op"
        echo
        [ "$op" = empty ] && echo "The floor: an empty timed region after every malloc (bench/latency.c). Its tail is the machine's (interrupts, the hypervisor, preemption); a malloc tail at or below it cannot be told apart from it." && echo
        echo "| config | thr | allocator | mean | p50 | p99 | p99.9 | p99.99 | max (median) | max (worst) | nivcsw | req/CPU-s | runs |"
        echo "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        hakbench latency-table "$out/summary.csv" "$op"
    done
    if [ -n "$pngs" ]; then
        echo
        echo "## Plots"
        echo
        for f in $pngs; do echo "![$(basename "$f" .png)]($(basename "$f"))"; done
    fi
} >"$out/summary.md"

cat "$out/summary.md"
echo
echo "latency: done in $elapsed s: $out/summary.md, $out/summary.csv, $out/raw.csv" \
     "$( [ -n "$pngs" ] && echo "and $(echo "$pngs" | wc -l) plots")"
