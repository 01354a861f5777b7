# bench/lib.sh: shared by larson.sh, run_all.sh and icount.sh (sourced, not run).
#
# Provides: the repository and build locations, the allocators (how to preload each), the Larson
# profiles, the interleaved runner that writes raw CSV, and the summary (medians, ratios),
# markdown and gnuplot stages. Needs bash, POSIX awk (mawk or gawk), sort, timeout.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${HAKMEM_BUILD_DIR:-$REPO_ROOT/build}
RESULTS_ROOT=${HAKMEM_BENCH_RESULTS:-$BENCH_DIR/results}

# Every allocator the scripts know, in the order of the tables.
BENCH_ALL_ALLOCATORS="hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc"

bench_note() { printf '%s\n' "note: $*" >&2; }
bench_err() { printf '%s\n' "error: $*" >&2; }

# ---- Benchmark programs -------------------------------------------------------------------------

# Sets LARSON_BIN, WORKLOADS_BIN and LATENCY_BIN. Uses the CMake-built programs ($BUILD_DIR/bench/)
# when they are newer than their sources; else compiles them directly into
# $BUILD_DIR/bench-standalone/ (the allocator's build may be broken or busy: the benchmarks do not
# depend on it). It never runs a build in $BUILD_DIR itself, so it is safe inside
# `cmake --build build --target bench`.
BENCH_PROGRAMS="larson workloads latency"
bench_ensure_bins() {
    local d="$BUILD_DIR/bench" f p fresh
    fresh=1
    for p in $BENCH_PROGRAMS; do
        [ -x "$d/$p" ] || { fresh=0; break; }
        for f in "$BENCH_DIR/$p.c" "$BENCH_DIR/bench_common.h"; do
            [ "$f" -nt "$d/$p" ] && fresh=0
        done
    done
    if [ $fresh = 0 ]; then
        d="$BUILD_DIR/bench-standalone"
        mkdir -p "$d" || return 1
        local cc=${CC:-cc}
        for p in $BENCH_PROGRAMS; do
            if [ ! -x "$d/$p" ] || [ "$BENCH_DIR/$p.c" -nt "$d/$p" ] ||
               [ "$BENCH_DIR/bench_common.h" -nt "$d/$p" ]; then
                bench_note "compiling $p into $d (no up-to-date CMake build of the benchmarks)"
                $cc -std=gnu11 -O2 -Wall -Wextra -pthread -o "$d/$p" "$BENCH_DIR/$p.c" || return 1
            fi
        done
    fi
    LARSON_BIN="$d/larson"
    WORKLOADS_BIN="$d/workloads"
    LATENCY_BIN="$d/latency"
}

# ---- Allocators -----------------------------------------------------------------------------------

# Finds a shared library by its candidate file names. Prints the path or nothing.
bench_find_lib() {
    local name dir
    for name in "$@"; do
        for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib \
                   /usr/local/lib /usr/local/lib64; do
            if [ -e "$dir/$name" ]; then
                printf '%s\n' "$dir/$name"
                return 0
            fi
        done
        if command -v ldconfig >/dev/null 2>&1; then
            local p
            p=$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n { print $NF; exit }')
            if [ -n "$p" ]; then
                printf '%s\n' "$p"
                return 0
            fi
        fi
    done
    return 1
}

# bench_alloc_env NAME: sets BENCH_ENV to the environment assignments (space separated) that
# select allocator NAME, or fails with a reason in BENCH_ALLOC_WHY. NAME may also be
# LABEL=/path/to/lib.so. $HAKMEM_BENCH_LIB_<NAME> (e.g. HAKMEM_BENCH_LIB_JEMALLOC) overrides where
# a library is found.
bench_alloc_env() {
    local name=$1 lib="" var
    BENCH_ALLOC_WHY=""
    BENCH_ENV=""
    case $name in
        *=*)
            lib=${name#*=}
            [ -f "$lib" ] || { BENCH_ALLOC_WHY="$lib not found"; return 1; }
            BENCH_ENV="LD_PRELOAD=$lib"
            return 0 ;;
    esac
    var=HAKMEM_BENCH_LIB_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
    if [ -n "${!var:-}" ]; then
        [ -f "${!var}" ] || { BENCH_ALLOC_WHY="${!var} (from \$$var) not found"; return 1; }
        lib=${!var}
    fi
    case $name in
        glibc)
            return 0 ;;
        hakmem | hakmem-nodaemon)
            [ -n "$lib" ] || lib="$BUILD_DIR/libhakmem.so"
            [ -f "$lib" ] || { BENCH_ALLOC_WHY="$lib not built"; return 1; }
            BENCH_ENV="LD_PRELOAD=$lib"
            [ "$name" = hakmem-nodaemon ] && BENCH_ENV="$BENCH_ENV HAKMEM_REFILL_THREAD=0"
            return 0 ;;
        jemalloc)
            [ -n "$lib" ] || lib=$(bench_find_lib libjemalloc.so.2 libjemalloc.so) ;;
        mimalloc)
            [ -n "$lib" ] || lib=$(bench_find_lib libmimalloc.so.2 libmimalloc.so) ;;
        tcmalloc)
            [ -n "$lib" ] || lib=$(bench_find_lib libtcmalloc_minimal.so.4 libtcmalloc_minimal.so \
                                                  libtcmalloc.so.4 libtcmalloc.so) ;;
        *)
            BENCH_ALLOC_WHY="unknown allocator (known: $BENCH_ALL_ALLOCATORS, or LABEL=/path.so)"
            return 1 ;;
    esac
    [ -n "$lib" ] || { BENCH_ALLOC_WHY="not installed"; return 1; }
    BENCH_ENV="LD_PRELOAD=$lib"
}

# The label of an allocator argument (LABEL=/path -> LABEL).
bench_alloc_label() { printf '%s\n' "${1%%=*}"; }

# bench_select_allocators "LIST": keeps the allocators that are available and run a smoke test
# (a short fastpath and a 2-thread larson). Sets BENCH_ALLOCS (labels) and BENCH_ALLOC_SPEC_<i>.
# A missing or broken allocator is a note, not a failure.
bench_select_allocators() {
    local a env label i=0
    BENCH_ALLOCS=""
    BENCH_ALLOC_SPECS=()
    for a in $1; do
        label=$(bench_alloc_label "$a")
        if ! bench_alloc_env "$a"; then
            bench_note "skipping $label: $BENCH_ALLOC_WHY"
            continue
        fi
        env=$BENCH_ENV
        # shellcheck disable=SC2086
        if ! timeout -k 5 60 env $env "$WORKLOADS_BIN" fastpath -n 10000 >/dev/null 2>&1 ||
           ! timeout -k 5 60 env $env "$LARSON_BIN" 0.05 8 256 256 1 1 2 >/dev/null 2>&1; then
            bench_note "skipping $label: its smoke test failed (env: $env)"
            continue
        fi
        BENCH_ALLOCS="$BENCH_ALLOCS $label"
        BENCH_ALLOC_SPECS[$i]=$a
        i=$((i + 1))
    done
    BENCH_ALLOCS=${BENCH_ALLOCS# }
    [ -n "$BENCH_ALLOCS" ] || { bench_err "no allocator available"; return 1; }
}

# ---- Larson profiles ----------------------------------------------------------------------------
# profile -> configs; config -> "min max chunks rounds".

bench_larson_expand() { # PROFILE... -> config names
    local p
    for p in "$@"; do
        case $p in
            all) echo tiny-r1 tiny-r100 small mid mixed ;;
            tiny) echo tiny-r1 tiny-r100 ;;
            tiny-r1 | tiny-r100 | small | mid | mixed) echo "$p" ;;
            *) bench_err "unknown larson profile '$p' (tiny, tiny-r1, tiny-r100, small, mid, mixed, all)"
               return 1 ;;
        esac
    done
}

bench_larson_params() { # CONFIG -> min max chunks rounds
    case $1 in
        tiny-r1) echo "8 128 1024 1" ;;        # thread churn dominates
        tiny-r100) echo "8 128 1024 100" ;;    # steady state
        small) echo "8 1024 1024 100" ;;
        mid) echo "1024 32768 1024 100" ;;
        mixed) echo "8 65536 1024 100" ;;
        *) return 1 ;;
    esac
}

# ---- The interleaved runner ---------------------------------------------------------------------
# A job is "suite|config|threads|timeout_s|program args..." with program larson or workloads.
# bench_run_matrix RUNS RAW_CSV JOB... runs every job for every allocator RUNS times, interleaved:
# run 1 of every job and allocator, then run 2, ...; the allocator order rotates by one each run so
# no allocator always runs first after a pause. Appends rows to RAW_CSV (header if new).

BENCH_RAW_HEADER="suite,config,threads,allocator,run,status,unit,ops,wall_s,cpu_s,ops_per_s,ops_per_cpu_s,maxrss_kb,minflt,minflt_all"

bench_run_matrix() {
    local runs=$1 raw=$2
    shift 2
    local nalloc=${#BENCH_ALLOC_SPECS[@]} njobs=$# r job k i spec label env
    local suite config threads tmo cmd prog out rc line status total done_n=0 errlog
    [ -s "$raw" ] || echo "$BENCH_RAW_HEADER" >"$raw"
    errlog="${raw%.csv}.stderr.log"
    total=$((runs * njobs * nalloc))
    for ((r = 1; r <= runs; r++)); do
        for job in "$@"; do
            IFS='|' read -r suite config threads tmo cmd <<<"$job"
            prog=${cmd%% *}
            case $prog in
                larson) cmd="$LARSON_BIN ${cmd#larson}" ;;
                workloads) cmd="$WORKLOADS_BIN ${cmd#workloads}" ;;
            esac
            for ((k = 0; k < nalloc; k++)); do
                i=$(((k + r - 1) % nalloc))
                spec=${BENCH_ALLOC_SPECS[$i]}
                label=$(bench_alloc_label "$spec")
                bench_alloc_env "$spec"
                env=$BENCH_ENV
                done_n=$((done_n + 1))
                echo "== run $r $suite $config t=$threads $label: $cmd" >>"$errlog"
                # shellcheck disable=SC2086
                out=$(timeout -k 5 "$tmo" env $env $cmd 2>>"$errlog")
                rc=$?
                line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
                if [ $rc -eq 0 ] && [ -n "$line" ]; then
                    status=ok
                elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
                    status=timeout
                else
                    status=fail$rc
                fi
                printf '%s\n' "$line" | awk -v s="$suite" -v c="$config" -v t="$threads" \
                    -v a="$label" -v r="$r" -v st="$status" '
                    { for (i = 2; i <= NF; i++) { p = index($i, "="); v[substr($i, 1, p - 1)] = substr($i, p + 1) } }
                    END {
                        if (st != "ok") { printf "%s,%s,%s,%s,%s,%s,,,,,,,,,\n", s, c, t, a, r, st; exit }
                        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", s, c, t, a, r, st,
                            v["unit"], v["ops"], v["wall_s"], v["cpu_s"], v["ops_per_s"],
                            v["ops_per_cpu_s"], v["maxrss_kb"], v["minflt"], v["minflt_all"]
                    }' >>"$raw"
                if [ $status = ok ]; then
                    printf '%s\n' "$line" | awk -v n="$done_n/$total" -v s="$suite" -v c="$config" \
                        -v t="$threads" -v a="$label" -v r="$r" '
                        { for (i = 2; i <= NF; i++) { p = index($i, "="); v[substr($i, 1, p - 1)] = substr($i, p + 1) } }
                        END { printf "[%s] run %s %s %s t=%s %-16s %9.3f M %s/s  %9.3f M/cpu-s  rss %7.1f MiB\n",
                                n, r, s, c, t, a, v["ops_per_s"] / 1e6, v["unit"],
                                v["ops_per_cpu_s"] / 1e6, v["maxrss_kb"] / 1024 }' >&2
                else
                    printf '[%s] run %s %s %s t=%s %-16s %s (see %s)\n' "$done_n/$total" "$r" \
                        "$suite" "$config" "$threads" "$label" "$status" "$errlog" >&2
                fi
            done
        done
    done
}

# ---- Summary: medians and ratios --------------------------------------------------------------------
# bench_summarize RAW_CSV > SUMMARY_CSV. One row per suite, config, threads, allocator (in order of
# first appearance), medians over the runs that succeeded; ratios to glibc and mimalloc of the same
# suite, config and threads (empty when that allocator has no result).

BENCH_AWK_MEDIAN='
function median(s,    a, n, i, j, t) {
    n = split(s, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {
        t = a[i] + 0; j = i - 1
        while (j > 0 && a[j] + 0 > t) { a[j + 1] = a[j]; j-- }
        a[j + 1] = t
    }
    if (n % 2) return a[(n + 1) / 2] + 0
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function ratio(x, y) { return (x == "" || y == "" || y + 0 == 0) ? "" : sprintf("%.3f", x / y) }'

bench_summarize() {
    awk -F, "$BENCH_AWK_MEDIAN"'
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        key = $col["suite"] "," $col["config"] "," $col["threads"] "," $col["allocator"]
        if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
        if ($col["status"] != "ok") { nfail[key]++; next }
        nok[key]++
        unit[key] = $col["unit"]
        ops[key] = ops[key] " " $col["ops_per_s"]
        cpu[key] = cpu[key] " " $col["ops_per_cpu_s"]
        rss[key] = rss[key] " " $col["maxrss_kb"]
        flt[key] = flt[key] " " $col["minflt"]
        wall[key] = wall[key] " " $col["wall_s"]
        cpus[key] = cpus[key] " " $col["cpu_s"]
    }
    END {
        print "suite,config,threads,allocator,runs_ok,runs_failed,unit,ops_per_s,ops_per_cpu_s,maxrss_kb,minflt,wall_s,cpu_s,ops_per_s_vs_glibc,ops_per_s_vs_mimalloc,ops_per_cpu_s_vs_glibc,ops_per_cpu_s_vs_mimalloc,maxrss_vs_glibc,maxrss_vs_mimalloc"
        for (k = 1; k <= nk; k++) {
            key = order[k]
            mo[key] = median(ops[key]); mc[key] = median(cpu[key]); mr[key] = median(rss[key])
        }
        for (k = 1; k <= nk; k++) {
            key = order[k]
            n = split(key, f, ",")
            base = f[1] "," f[2] "," f[3] ","
            g = base "glibc"; m = base "mimalloc"
            printf "%s,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", key, nok[key], nfail[key], unit[key],
                mo[key] == "" ? "" : sprintf("%.0f", mo[key]),
                mc[key] == "" ? "" : sprintf("%.0f", mc[key]),
                mr[key] == "" ? "" : sprintf("%.0f", mr[key]),
                flt[key] == "" ? "" : sprintf("%.0f", median(flt[key])),
                wall[key] == "" ? "" : sprintf("%.4f", median(wall[key])),
                cpus[key] == "" ? "" : sprintf("%.4f", median(cpus[key])),
                ratio(mo[key], mo[g]), ratio(mo[key], mo[m]),
                ratio(mc[key], mc[g]), ratio(mc[key], mc[m]),
                ratio(mr[key], mr[g]), ratio(mr[key], mr[m])
        }
    }' "$1"
}

# bench_markdown SUMMARY_CSV > table.md: one table per suite. Throughput and per-CPU-second in
# the unit per second, k = thousands, M = millions (x: ratio, higher is better); peak RSS in MiB
# (x: ratio, lower is better).
bench_markdown() {
    awk -F, '
    function fm(v) {
        if (v == "") return "-"
        if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
        if (v >= 1e3) return sprintf("%.1fk", v / 1e3)
        return sprintf("%.0f", v)
    }
    function fr(v) { return v == "" ? "" : sprintf("%.2fx", v) }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        s = $col["suite"]
        if (s != last) {
            if (last != "") print ""
            printf "#### %s\n\n", s
            print "| config | thr | allocator | ops/s | vs glibc | vs mimalloc | ops/CPU-s | vs glibc | vs mimalloc | peak RSS MiB | vs glibc | vs mimalloc | minor faults | runs |"
            print "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
            last = s
        }
        runs = $col["runs_ok"] ($col["runs_failed"] > 0 ? " (" $col["runs_failed"] " failed)" : "")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            $col["config"] ($col["unit"] != "" && $col["unit"] != "allocs" ? " (" $col["unit"] ")" : ""),
            $col["threads"], $col["allocator"],
            fm($col["ops_per_s"]), fr($col["ops_per_s_vs_glibc"]), fr($col["ops_per_s_vs_mimalloc"]),
            fm($col["ops_per_cpu_s"]), fr($col["ops_per_cpu_s_vs_glibc"]), fr($col["ops_per_cpu_s_vs_mimalloc"]),
            $col["maxrss_kb"] == "" ? "-" : sprintf("%.1f", $col["maxrss_kb"] / 1024),
            fr($col["maxrss_vs_glibc"]), fr($col["maxrss_vs_mimalloc"]),
            $col["minflt"] == "" ? "-" : $col["minflt"], runs
    }' "$1"
}

# bench_pivot SUMMARY_CSV METRIC > markdown: one row per suite/config/threads, one column per
# allocator, the median METRIC (ops_per_s, ops_per_cpu_s: k/M; maxrss_kb: MiB; minflt) in each cell.
bench_pivot() {
    awk -F, -v metric="$2" '
    function fmt(v) {
        if (v == "") return "-"
        if (metric == "maxrss_kb") return sprintf("%.1f", v / 1024)
        if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
        if (v >= 1e3) return sprintf("%.1fk", v / 1e3)
        return sprintf("%.0f", v)
    }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        r = $col["suite"] "," $col["config"] ($col["unit"] != "" && $col["unit"] != "allocs" ? " (" $col["unit"] ")" : "") "," $col["threads"]
        a = $col["allocator"]
        if (!(r in rseen)) { rseen[r] = 1; rows[++nr] = r }
        if (!(a in aseen)) { aseen[a] = 1; al[++na] = a }
        v[r, a] = $col[metric]
    }
    END {
        printf "| suite | workload | thr |"; for (i = 1; i <= na; i++) printf " %s |", al[i]; printf "\n"
        printf "|---|---|--:|"; for (i = 1; i <= na; i++) printf "--:|"; printf "\n"
        for (k = 1; k <= nr; k++) {
            split(rows[k], f, ",")
            printf "| %s | %s | %s |", f[1], f[2], f[3]
            for (i = 1; i <= na; i++) printf " %s |", fmt(v[rows[k], al[i]])
            printf "\n"
        }
    }' "$1"
}

# ---- Machine description --------------------------------------------------------------------------

bench_machine() {
    local model
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    printf '%s, %s logical CPUs (nproc %s), %s MiB RAM, Linux %s, %s\n' "${model:-unknown CPU}" \
        "$(grep -c '^processor' /proc/cpuinfo 2>/dev/null)" "$(nproc)" \
        "$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$(uname -r)" \
        "$(ldd --version 2>/dev/null | head -n 1 | sed 's/^ldd //')"
}

bench_describe_allocators() { # markdown list of the allocators used and what was preloaded
    local spec env
    for spec in "${BENCH_ALLOC_SPECS[@]}"; do
        bench_alloc_env "$spec"
        env=$BENCH_ENV
        printf -- '- %s: %s\n' "$(bench_alloc_label "$spec")" "${env:-system malloc (no preload)}"
    done
}

# ---- Plots ----------------------------------------------------------------------------------------------
# bench_plot SUMMARY_CSV OUTDIR: for every suite/config measured at two or more thread counts, a PNG
# of median throughput against threads, one line per allocator (throughput-SUITE-CONFIG.png); and
# peak-rss.png, median peak RSS per allocator for each suite/config at its largest thread count.

bench_plot() {
    local summary=$1 out=$2 term f
    command -v gnuplot >/dev/null 2>&1 || { bench_note "gnuplot not found: no plots"; return 0; }
    mkdir -p "$out/plotdata"
    if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
        term="pngcairo size 900,520 font ',10'"
    else
        term="png size 900,520"
    fi
    # One data file per suite/config: threads then one column per allocator ("?" when missing).
    awk -F, -v dir="$out/plotdata" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["ops_per_s"] != "" {
        c = $col["suite"] "-" $col["config"]; a = $col["allocator"]; t = $col["threads"] + 0
        if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
        if (!(a in aseen)) { aseen[a] = 1; aorder[++na] = a }
        if (!((c, t) in tseen)) { tseen[c, t] = 1; nt[c]++; tl[c, nt[c]] = t }
        v[c, t, a] = $col["ops_per_s"]; unit[c] = $col["unit"]
        if (t >= maxt[c]) { maxt[c] = t }
        r[c, t, a] = $col["maxrss_kb"]
    }
    END {
        for (k = 1; k <= nc; k++) {
            c = corder[k]
            # sort thread counts (insertion sort)
            for (i = 2; i <= nt[c]; i++) { x = tl[c, i]; j = i - 1
                while (j > 0 && tl[c, j] > x) { tl[c, j + 1] = tl[c, j]; j-- } tl[c, j + 1] = x }
            if (nt[c] >= 2) {
                f = dir "/throughput-" c ".dat"
                printf "threads" > f
                for (i = 1; i <= na; i++) printf " %s", aorder[i] > f
                printf "\n" > f
                for (j = 1; j <= nt[c]; j++) {
                    t = tl[c, j]; printf "%d", t > f
                    for (i = 1; i <= na; i++) { x = v[c, t, aorder[i]]; printf " %s", (x == "" ? "?" : x / 1e6) > f }
                    printf "\n" > f
                }
                close(f)
                print c "\t" unit[c] > (dir "/throughput.list")
            }
            f = dir "/peak-rss.dat"
            if (k == 1) { printf "config" > f; for (i = 1; i <= na; i++) printf " %s", aorder[i] > f; printf "\n" > f }
            printf "%s/t%d", c, maxt[c] > f
            for (i = 1; i <= na; i++) { x = r[c, maxt[c], aorder[i]]; printf " %s", (x == "" ? "?" : x / 1024) > f }
            printf "\n" > f
        }
        print na > (dir "/nalloc")
    }' "$summary"
    local na
    na=$(cat "$out/plotdata/nalloc")
    {
        echo "set terminal $term"
        echo "set datafile missing '?'"
        echo "set grid ytics"
        echo "set key outside right top"
        if [ -f "$out/plotdata/throughput.list" ]; then
            while IFS=$'\t' read -r c unit; do
                echo "set output '$out/throughput-$c.png'"
                echo "set title '$c: median throughput against threads'"
                echo "set xlabel 'threads'"
                echo "set ylabel 'million $unit per second (wall)'"
                echo "set logscale x 2"
                echo "set yrange [0:*]"
                echo "plot for [i=2:$((na + 1))] '$out/plotdata/throughput-$c.dat' using 1:i with linespoints lw 2 title columnhead(i)"
                echo "unset logscale x"
            done <"$out/plotdata/throughput.list"
        fi
        echo "set terminal ${term%% size*} size 1200,560"
        echo "set output '$out/peak-rss.png'"
        echo "set title 'median peak RSS (MiB, log scale) per allocator, at the largest thread count'"
        echo "set style data histograms"
        echo "set style histogram clustered gap 1"
        echo "set style fill solid 0.8 border -1"
        echo "set logscale y"
        echo "set yrange [0.5:*]"
        echo "set xlabel ''"
        echo "set ylabel 'peak RSS, MiB'"
        echo "set xtics rotate by -40 left"
        echo "set bmargin 8"
        echo "plot for [i=2:$((na + 1))] '$out/plotdata/peak-rss.dat' using i:xtic(1) title columnhead(i)"
    } >"$out/plotdata/plots.gp"
    if ! gnuplot "$out/plotdata/plots.gp" 2>"$out/plotdata/gnuplot.log"; then
        bench_note "gnuplot failed: see $out/plotdata/gnuplot.log"
        return 0
    fi
    for f in "$out"/*.png; do [ -e "$f" ] && echo "$f"; done
}

# bench_new_results_dir NAME: makes $RESULTS_ROOT/NAME-<date>-<time>, points $RESULTS_ROOT/latest
# at it, prints it.
bench_new_results_dir() {
    local d
    d="$RESULTS_ROOT/$1-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$d" || return 1
    ln -sfn "$(basename "$d")" "$RESULTS_ROOT/latest" 2>/dev/null || true
    printf '%s\n' "$d"
}

# ---- Instructions per malloc/free pair under callgrind -----------------------------------------------
# bench_icount N "SIZES" CSV: for every selected allocator and size, runs `workloads fastpath -n N`
# and `-n 2N` under callgrind and takes (I(2N) - I(N)) / N, so start-up and exit cancel out. Two
# figures: all threads together (a refill daemon's work included) and the busiest thread alone (the
# application thread that runs the loop). Each includes the loop's own few instructions per pair.

bench_icount() {
    local n=$1 sizes=$2 csv=$3 tmp spec label size m f line ok
    if ! command -v valgrind >/dev/null 2>&1; then
        bench_note "valgrind not found: no instruction counts"
        return 0
    fi
    tmp="$(dirname "$csv")/callgrind"
    mkdir -p "$tmp"
    echo "allocator,size,n,instr_per_pair,instr_per_pair_app_thread" >"$csv"
    for size in $sizes; do
        for spec in "${BENCH_ALLOC_SPECS[@]}"; do
            label=$(bench_alloc_label "$spec")
            bench_alloc_env "$spec"
            ok=1
            for m in 1 2; do
                rm -f "$tmp/$label.$size.$m".*
                # shellcheck disable=SC2086
                if ! timeout -k 5 900 env $BENCH_ENV valgrind --tool=callgrind --separate-threads=yes \
                        --callgrind-out-file="$tmp/$label.$size.$m.%p" \
                        "$WORKLOADS_BIN" fastpath -m "$size" -n $((n * m)) \
                        >"$tmp/$label.$size.$m.log" 2>&1; then
                    ok=0
                fi
            done
            if [ $ok = 0 ]; then
                bench_note "callgrind failed for $label size $size: see $tmp/$label.$size.*.log"
                echo "$label,$size,$n,," >>"$csv"
                continue
            fi
            # Threads are matched by callgrind's thread number (creation order) across the runs.
            for m in 1 2; do
                for f in "$tmp/$label.$size.$m".*-*; do
                    [ -e "$f" ] || continue
                    awk -v m="$m" -v t="${f##*-}" '/^totals:/ { print m, t + 0, $2; exit }' "$f"
                done
            done | awk -v a="$label" -v sz="$size" -v n="$n" '
                { c[$1, $2] = $3; tot[$1] += $3; tids[$2] = 1 }
                END {
                    for (t in tids) { d = c[2, t] - c[1, t]; if (d > app) app = d }
                    printf "%s,%s,%s,%.1f,%.1f\n", a, sz, n, (tot[2] - tot[1]) / n, app / n
                }' >>"$csv"
            line=$(tail -n 1 "$csv")
            echo "icount: $line" >&2
        done
    done
}

bench_icount_markdown() { # CSV > markdown
    awk -F, 'NR == 1 { print "| allocator | size B | instructions per pair (all threads) | (application thread) |"
                       print "|---|--:|--:|--:|"; next }
             { printf "| %s | %s | %s | %s |\n", $1, $2, $4 == "" ? "failed" : $4, $5 == "" ? "-" : $5 }' "$1"
}
