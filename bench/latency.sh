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
case $runs in '' | *[!0-9]*) bench_err "--runs needs a number"; exit 2 ;; esac
[ "$runs" -ge 1 ] || { bench_err "--runs must be at least 1"; exit 2; }
awk -v d="$duration" 'BEGIN { exit !(d + 0 > 0) }' || { bench_err "--duration must be > 0"; exit 2; }
for c in $configs; do
    case " $ALL_CONFIGS " in *" $c "*) ;; *) bench_err "unknown config '$c'"; exit 2 ;; esac
done

if [ -n "$report" ]; then
    out=$report
    raw="$out/raw.csv"
    [ -s "$raw" ] || { bench_err "$raw not found"; exit 1; }
    BENCH_ALLOCS=$(awk -F, 'NR > 1 && !seen[$5]++ { printf "%s ", $5 }' "$raw")
    BENCH_ALLOCS=${BENCH_ALLOCS% }
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
tmo=$(awk -v d="$duration" 'BEGIN { printf "%d", d * 5 + 60 }')
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
            if [ $rc -eq 0 ] && printf '%s\n' "$res" | grep -q '^RESULT '; then
                status=ok
            elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                status=timeout
            else
                status=fail$rc
            fi
            printf '%s\n' "$res" | awk -v cfg="$config" -v a="$label" -v r="$r" -v st="$status" \
                -v t="$t" -v n="$done_n/$total" '
                /^RESULT / { for (i = 2; i <= NF; i++) { p = index($i, "="); v[substr($i, 1, p - 1)] = substr($i, p + 1) } }
                /^LAT,/ { nl++; lat[nl] = $0 }
                END {
                    if (st != "ok" || nl == 0) { printf "%s,,%s,,%s,%s,%s,,,,,,,,,,,,,,\n", cfg, t, a, r, st; exit }
                    for (k = 1; k <= nl; k++) {
                        split(lat[k], f, ",")   # LAT,scenario,threads,think,op,count,mean,p50,p99,p999,p9999,max
                        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                            cfg, f[2], f[3], f[4], a, r, st, f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12],
                            v["ops_per_s"], v["ops_per_cpu_s"], v["maxrss_kb"], v["nivcsw"], v["tsc_ghz"], v["timer_ns"]
                        if (f[5] == "malloc") m = sprintf("malloc p50 %s p99 %s p99.99 %s max %s ns", f[8], f[9], f[11], f[12])
                    }
                    printf "[%s] run %s %s t=%s %-16s %s; %.0f req/s\n", n, r, cfg, t, a, m, v["ops_per_s"] > "/dev/stderr"
                }' >>"$raw"
            [ $status = ok ] || printf '[%s] run %s %s t=%s %-16s %s (see %s)\n' "$done_n/$total" \
                "$r" "$config" "$t" "$label" "$status" "$errlog" >&2
        done
    done
done
elapsed=$(($(date +%s) - start))
fi

# ---- Summary: medians across runs -------------------------------------------------------------------
awk -F, "$BENCH_AWK_MEDIAN"'
function worst(s,    a, n, i, m) { n = split(s, a, " "); m = ""; for (i = 1; i <= n; i++) if (m == "" || a[i] + 0 > m) m = a[i] + 0; return m }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
    key = $col["config"] "," $col["threads"] "," $col["allocator"] "," $col["op"]
    if ($col["status"] != "ok") { fk = $col["config"] "," $col["threads"] "," $col["allocator"]; nfail[fk]++; next }
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    nok[key]++
    for (m = 1; m <= nm; m++) val[key, m] = val[key, m] " " $col[metric[m]]
}
BEGIN { nm = split("count mean_ns p50_ns p99_ns p999_ns p9999_ns max_ns requests_per_s requests_per_cpu_s maxrss_kb nivcsw", metric, " ") }
END {
    print "config,threads,allocator,op,runs_ok,runs_failed,count,mean_ns,p50_ns,p99_ns,p999_ns,p9999_ns,max_ns_median,max_ns_worst,requests_per_s,requests_per_cpu_s,maxrss_kb,nivcsw"
    for (k = 1; k <= nk; k++) {
        key = order[k]; split(key, f, ",")
        printf "%s,%d,%d", key, nok[key], nfail[f[1] "," f[2] "," f[3]] / 1
        for (m = 1; m <= nm; m++) {
            printf ",%.1f", median(val[key, m])
            if (metric[m] == "max_ns") printf ",%.1f", worst(val[key, m])
        }
        printf "\n"
    }
}' "$raw" >"$out/summary.csv"

# One markdown table per op; rows config, threads, allocator. ns below 10 us, else us or ms.
latency_markdown() {
    awk -F, -v want="$1" '
    function ft(v) {
        if (v == "") return "-"
        if (v >= 1e6) return sprintf("%.2f ms", v / 1e6)
        if (v >= 1e4) return sprintf("%.1f us", v / 1e3)
        return sprintf("%.0f", v)
    }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["op"] == want {
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0fk | %s |\n", $col["config"], $col["threads"],
            $col["allocator"], ft($col["mean_ns"]), ft($col["p50_ns"]), ft($col["p99_ns"]), ft($col["p999_ns"]),
            ft($col["p9999_ns"]), ft($col["max_ns_median"]), ft($col["max_ns_worst"]), $col["nivcsw"],
            $col["requests_per_cpu_s"] / 1e3,
            $col["runs_ok"] ($col["runs_failed"] > 0 ? " (" $col["runs_failed"] " failed)" : "")
    }' "$out/summary.csv"
}

# ---- CDF plots ------------------------------------------------------------------------------------------
# The runs' histograms of a config, threads and allocator are summed bucket by bucket (edges in ns
# differ between runs only by the TSC calibration). plotdata/<config>-t<T>__<op>__<alloc>.dat:
# upper edge of a bucket (ns), CDF at that edge, 1 - CDF.
latency_plots() {
    command -v gnuplot >/dev/null 2>&1 || { bench_note "gnuplot not found: no plots"; return 0; }
    local pd="$out/plotdata" term name ops alloc i first
    mkdir -p "$pd"
    rm -f "$pd"/*.dat
    for f in "$out"/hist/*.csv; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .csv)
        awk -F, -v key="${name%%__r*}" 'NR > 1 { print key "," $0 }' "$f"
    done | awk -F, -v pd="$pd" '
        { split($1, k, "__"); g = k[1] "__" $2 "__" k[2]   # config-tT__op__alloc
          if (!(g in seen)) { seen[g] = 1; order[++ng] = g }
          c[g, $3 + 0] += $6; hi[g, $3 + 0] = $5; tot[g] += $6; if ($3 + 0 > mx[g]) mx[g] = $3 + 0 }
        END {
            for (j = 1; j <= ng; j++) {
                g = order[j]; f = pd "/" g ".dat"; cum = 0
                for (b = 0; b <= mx[g]; b++) {
                    if (!((g, b) in c)) continue
                    cum += c[g, b]
                    tail = 1 - cum / tot[g]
                    if (tail < 1e-9) tail = 1e-9   # log scale: the last point at the bottom
                    printf "%s %.8g %.3g\n", hi[g, b], cum / tot[g], tail > f
                }
                close(f)
            }
        }'
    if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
        term="pngcairo size 1500,800 font ',9'"
    else
        term="png size 1500,800"
    fi
    {
        echo "set terminal $term"
        echo "set logscale x"
        echo "set grid"
        echo "set key bottom right"
        for cfg in $(ls "$pd" | sed -n 's/__.*//p' | sort -u); do
            echo "set output '$out/cdf-$cfg.png'"
            echo "set multiplot layout 2,3 title 'latency $cfg (ns, log x), runs summed: CDF above, tail 1-CDF (log) below'"
            for row in cdf tail; do
                for op in malloc free request; do
                    echo "set title '$op'"
                    echo "set xlabel 'ns'"
                    if [ $row = cdf ]; then
                        echo "unset logscale y"; echo "set format y '%g'"; echo "set yrange [0:1]"; echo "set ylabel 'fraction <= x'"; col=2
                    else
                        echo "set logscale y"; echo "set format y '%g'"; echo "set yrange [1e-6:1]"; echo "set ylabel 'fraction > x'"; col=3
                    fi
                    printf 'plot'
                    first=1
                    for alloc in $BENCH_ALLOCS; do
                        i="$pd/${cfg}__${op}__${alloc}.dat"
                        [ -s "$i" ] || continue
                        [ $first = 1 ] || printf ','
                        printf " '%s' using 1:%d with steps lw 2 title '%s'" "$i" "$col" "$alloc"
                        first=0
                    done
                    [ $first = 1 ] && printf " NaN notitle"
                    printf '\n'
                done
            done
            echo "unset multiplot"
        done
    } >"$pd/plots.gp"
    if ! gnuplot "$pd/plots.gp" 2>"$pd/gnuplot.log"; then
        bench_note "gnuplot failed: see $pd/gnuplot.log"
    fi
    for f in "$out"/cdf-*.png; do [ -e "$f" ] && echo "$f"; done
}

pngs=""
[ $plots = 1 ] && pngs=$(latency_plots)

# ---- The report -------------------------------------------------------------------------------------
tsc=$(awk -F, 'NR > 1 && $20 != "" { print $20; exit }' "$raw")
tmr=$(awk -F, 'NR > 1 && $21 != "" { print $21; exit }' "$raw")
{
    echo "# hakmem latency, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(bench_machine). TSC ${tsc:-?} GHz; an empty timed region costs ${tmr:-?} ns"
    echo "(included in every figure, not subtracted)."
    echo
    if [ -n "$report" ]; then
        echo "Remade by \`$cmdline\` from raw.csv ($(awk -F, 'NR > 1 && $6 + 0 > m { m = $6 + 0 } END { print m }' "$raw")"
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
    for op in malloc free request; do
        echo
        echo "## $op"
        echo
        echo "| config | thr | allocator | mean | p50 | p99 | p99.9 | p99.99 | max (median) | max (worst) | nivcsw | req/CPU-s | runs |"
        echo "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        latency_markdown "$op"
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
