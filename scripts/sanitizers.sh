#!/usr/bin/env bash
# scripts/sanitizers.sh: hakmem's sanitizer suites, each bounded in time (docs/testing.md).
#
#   scripts/sanitizers.sh              all stages: tsan, asan, fuzz
#   scripts/sanitizers.sh tsan         one stage (or several: "asan fuzz")
#
# Stages:
#   tsan  configure + build build-tsan (clang, -DHAKMEM_SANITIZE=thread) and run every ctest test
#         there except fuzz/soak: the stress programs (label tsan) and the unit tests, all through
#         the hak_* API. TSan must report nothing (halt_on_error=1: the first report fails the test).
#   asan  the same in build-asan (clang, -DHAKMEM_SANITIZE=address, with UBSan): unit tests, stress
#         programs (label asan) and one pass over the fuzz seed corpus.
#   fuzz  the libFuzzer harness for FUZZ_SECONDS (default 60) in build-asan.
#
# The builds are the tsan and asan presets of CMakePresets.json; CC_SANITIZE and FUZZ_SECONDS, when
# set, override the preset's compiler and fuzz budget on the command line.
# Environment: JOBS (ctest parallelism, default 2), FUZZ_SECONDS, CC_SANITIZE (default clang),
# STAGE_TIMEOUT (seconds per stage, default 600). About 10-15 minutes in all on 2 cores.
# Exit status: 0 if every stage passed; the summary at the end lists the reports found.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CC_SANITIZE=${CC_SANITIZE:-clang}
STAGE_TIMEOUT=${STAGE_TIMEOUT:-600}
STAGES=${*:-tsan asan fuzz}
LOGDIR=${LOGDIR:-$ROOT/build-sanitizers-logs}
mkdir -p "$LOGDIR"

# Defaults for tests that do not set their own (ctest's ENVIRONMENT property wins over these).
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$ROOT/stress/tsan.supp:halt_on_error=1:second_deadlock_stack=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
summary=()

log() { printf '== %s\n' "$*"; }

# build <dir> <preset>
build() {
    local dir=$1 preset=$2
    log "configure + build $dir (preset $preset, $CC_SANITIZE)"
    cmake -S "$ROOT" --preset "$preset" -B "$ROOT/$dir" -DCMAKE_C_COMPILER="$CC_SANITIZE" \
          -DFUZZ_SECONDS="$FUZZ_SECONDS" >"$LOGDIR/$dir.configure.log" 2>&1 &&
    cmake --build "$ROOT/$dir" -j "$JOBS" >"$LOGDIR/$dir.build.log" 2>&1
}

# Count sanitizer reports in a log.
reports() {
    local f=$1
    local tsan asan ubsan
    tsan=$(grep -c 'WARNING: ThreadSanitizer' "$f" || true)
    asan=$(grep -c 'ERROR: AddressSanitizer' "$f" || true)
    ubsan=$(grep -c 'runtime error:' "$f" || true)
    echo "TSan reports: $tsan, ASan reports: $asan, UBSan reports: $ubsan"
}

# run_ctest <stage> <dir> <ctest args...>
run_ctest() {
    local stage=$1 dir=$2
    shift 2
    local logf="$LOGDIR/$stage.ctest.log"
    log "ctest in $dir: $*"
    local t0=$SECONDS
    timeout --foreground -k 30 "$STAGE_TIMEOUT" \
        ctest --test-dir "$ROOT/$dir" -j "$JOBS" --output-on-failure -V "$@" >"$logf" 2>&1
    local rc=$?
    grep -E '^ *[0-9]+/[0-9]+ Test +#|tests passed|The following tests (FAILED|did not run)' "$logf" | sed 's/^/   /'
    local line
    line="$stage: $( [ $rc -eq 0 ] && echo PASS || echo "FAIL (ctest exit $rc)" ) in $((SECONDS - t0)) s; $(reports "$logf"); log $logf"
    summary+=("$line")
    [ $rc -eq 0 ] || status=1
}

for stage in $STAGES; do
    case $stage in
    tsan)
        if build build-tsan tsan; then
            run_ctest tsan build-tsan -LE 'fuzz|soak'
        else
            summary+=("tsan: BUILD FAILED; see $LOGDIR/build-tsan.*.log"); status=1
        fi
        ;;
    asan)
        if build build-asan asan; then
            run_ctest asan build-asan -LE 'soak' -E '^fuzz_ops_bounded$'
        else
            summary+=("asan: BUILD FAILED; see $LOGDIR/build-asan.*.log"); status=1
        fi
        ;;
    fuzz)
        if build build-asan asan; then
            run_ctest fuzz build-asan -R '^fuzz_ops_bounded$'
            grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
                "$LOGDIR/fuzz.ctest.log" | sed 's/^[0-9]*: /   /'
        else
            summary+=("fuzz: BUILD FAILED; see $LOGDIR/build-asan.*.log"); status=1
        fi
        ;;
    *)
        echo "unknown stage '$stage' (tsan, asan, fuzz)" >&2
        exit 2
        ;;
    esac
done

log "summary"
for line in "${summary[@]}"; do echo "   $line"; done
exit $status
