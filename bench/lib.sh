# bench/lib.sh: shared by larson.sh, run_all.sh and icount.sh (sourced, not run).
#
# Provides: the repository and build locations, the benchmark programs (built by CMake), the
# allocators (how to preload each), the Larson profiles and the interleaved runner that writes raw
# CSV. The statistics, tables and plots are bench/hakbench.py's (called as `hakbench SUBCOMMAND`).
# Needs bash, python3, timeout, cmake; gnuplot for the plots.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${HAKMEM_BUILD_DIR:-$REPO_ROOT/build}
RESULTS_ROOT=${HAKMEM_BENCH_RESULTS:-$BENCH_DIR/results}

# Every allocator the scripts know, in the order of the tables.
BENCH_ALL_ALLOCATORS="hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc"

bench_note() { printf '%s\n' "note: $*" >&2; }
bench_err() { printf '%s\n' "error: $*" >&2; }

# bench_check_runs N [MIN_QUIET]: exits 2 unless N is a whole number >= 1; notes when N is below
# MIN_QUIET (medians of fewer runs are fragile on a noisy machine).
bench_check_runs() {
    case $1 in '' | *[!0-9]*) bench_err "--runs needs a number"; exit 2 ;; esac
    [ "$1" -ge 1 ] || { bench_err "--runs must be at least 1"; exit 2; }
    [ -z "${2:-}" ] || [ "$1" -ge "$2" ] ||
        bench_note "--runs $1: fewer than $2 runs, medians are fragile on a noisy machine"
}

# hakbench SUBCOMMAND ARGS...: bench/hakbench.py (medians, ratios, tables, plots, icount, latency).
# -S: no site-packages (the module is standard library only); it runs once per benchmark run, and
# site start-up (.pth files) can cost more than the module itself.
hakbench() { python3 -S "$BENCH_DIR/hakbench.py" "$@"; }
command -v python3 >/dev/null 2>&1 || bench_err "python3 not found: bench/hakbench.py needs it"

# ---- Benchmark programs -------------------------------------------------------------------------

# Sets LARSON_BIN, WORKLOADS_BIN and LATENCY_BIN to the CMake-built programs in $BUILD_DIR/bench/.
# When one is missing or older than its sources, runs `cmake --build $BUILD_DIR --target ...`
# (configuring $BUILD_DIR first, as a Release build, if it has never been configured). Inside
# `cmake --build build --target bench` the programs are up to date (the target depends on them), so
# no nested build starts there; HAKMEM_BENCH_NO_BUILD=1 forbids building at all.
BENCH_PROGRAMS="larson workloads latency"
bench_ensure_bins() {
    local d="$BUILD_DIR/bench" f p stale=""
    for p in $BENCH_PROGRAMS; do
        if [ ! -x "$d/$p" ]; then
            stale="$stale $p"
            continue
        fi
        for f in "$BENCH_DIR/$p.c" "$BENCH_DIR/bench_common.h"; do
            if [ "$f" -nt "$d/$p" ]; then
                stale="$stale $p"
                break
            fi
        done
    done
    if [ -n "$stale" ]; then
        if [ "${HAKMEM_BENCH_NO_BUILD:-0}" = 1 ]; then
            bench_err "out of date or missing in $d:$stale (HAKMEM_BENCH_NO_BUILD=1: not building)"
            return 1
        fi
        command -v cmake >/dev/null 2>&1 || { bench_err "cmake not found: cannot build$stale"; return 1; }
        if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
            bench_note "configuring $BUILD_DIR (Release)"
            cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2 || return 1
        fi
        bench_note "building$stale in $BUILD_DIR"
        # shellcheck disable=SC2086
        cmake --build "$BUILD_DIR" --target $BENCH_PROGRAMS >&2 || return 1
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
            # ldconfig -p: "	libfoo.so.2 (libc6,x86-64) => /usr/lib/.../libfoo.so.2"
            p=$(ldconfig -p 2>/dev/null | while read -r so _ rest; do
                    [ "$so" = "$name" ] && { printf '%s\n' "${rest##* }"; break; }
                done)
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
# A missing or broken allocator is a note, not a failure. With a second argument SMOKE (a command or
# function), `SMOKE "ENV"` (ENV: the allocator's assignments, as in BENCH_ENV) is the smoke test
# instead, so that a runner of other programs (bench/realprogs.sh) needs no benchmark program built.
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
        if [ -n "${2:-}" ]; then
            if ! "$2" "$env"; then
                bench_note "skipping $label: its smoke test failed (env: $env)"
                continue
            fi
        elif ! timeout -k 5 60 env $env "$WORKLOADS_BIN" fastpath -n 10000 >/dev/null 2>&1 ||
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
    local suite config threads tmo cmd prog out rc total done_n=0 errlog
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
                # The raw.csv row (the RESULT line's figures, or the failure) and a progress line.
                printf '%s\n' "$out" | hakbench raw-row --rc "$rc" --progress "$done_n/$total" \
                    --errlog "$errlog" "$suite" "$config" "$threads" "$label" "$r" >>"$raw"
            done
        done
    done
}

# ---- Summary, tables (bench/hakbench.py) ---------------------------------------------------------
# bench_summarize RAW_CSV > SUMMARY_CSV: one row per suite, config, threads, allocator (in order of
# first appearance), medians over the runs that succeeded; ratios to glibc and mimalloc of the same
# suite, config and threads (empty when that allocator has no result).
bench_summarize() { hakbench summarize "$1"; }

# bench_markdown SUMMARY_CSV > table.md: one table per suite. Throughput and per-CPU-second in
# the unit per second, k = thousands, M = millions (x: ratio, higher is better); peak RSS in MiB
# (x: ratio, lower is better).
bench_markdown() { hakbench table "$1"; }

# bench_pivot SUMMARY_CSV METRIC > markdown: one row per suite/config/threads, one column per
# allocator, the median METRIC (ops_per_s, ops_per_cpu_s: k/M; maxrss_kb: MiB; minflt) in each cell.
bench_pivot() { hakbench pivot "$1" "$2"; }

# ---- Machine description --------------------------------------------------------------------------

bench_machine() { hakbench machine; }

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

bench_plot() { hakbench plot "$1" "$2"; }

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
    local n=$1 sizes=$2 csv=$3 tmp spec label size m line ok
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
            hakbench icount-row "$label" "$size" "$n" "$tmp/$label.$size" >>"$csv"
            line=$(tail -n 1 "$csv")
            echo "icount: $line" >&2
        done
    done
}

bench_icount_markdown() { hakbench icount-table "$1"; } # CSV > markdown
