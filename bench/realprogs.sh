#!/usr/bin/env bash
# bench/realprogs.sh: real, unmodified programs installed on the machine (python3, perl, sort, gcc,
# sqlite3, xz, the z3 solver if installed; bc, xz -T1 and minisat on request) timed under every
# allocator through LD_PRELOAD, interleaved (run 1 of every program for every allocator, then run
# 2, ...; the allocator order rotates by one each run). Issue 10's pattern G. Inputs are generated,
# deterministically, in a temporary directory at start. Writes to
# bench/results/realprogs-<date>-<time>/ (bench/results/latest points at it):
#   raw.csv        one row per run: CPU (user+sys of the program and its children), wall, peak RSS
#   summary.csv    medians, spread between runs, ratios to glibc and to the best peer
#   summary.md     the markdown tables (also printed)
#   raw.stderr.log the programs' stderr
set -u

usage() {
    cat <<'EOF'
usage: bench/realprogs.sh [options]
  -r, --runs N           runs per program and allocator, medians reported (default 5)
  -a, --allocators LIST  (default: hakmem hakmem-nodaemon glibc jemalloc mimalloc tcmalloc;
                         LABEL=/path/lib.so for another; missing ones are a note)
  -p, --programs LIST    programs (default: python perl sort sort-t2 gcc sqlite3 xz-t2 z3, those
                         installed; also xz bc minisat, not default); -l lists them
  -o, --out DIR          results directory
  -k, --keep             keep the temporary directory with the inputs and outputs
  -l, --list             list the programs and exit
  -h, --help
Every program runs with the allocator preloaded into it and into every process it starts (gcc's
cc1, ...). A program that is not installed is skipped with a note. Optional programs (Debian
packages): z3, and minisat (not default) (`apt-get install --no-install-recommends z3 minisat`), an
SMT and a SAT solver. Each program takes about 0.5-2.5 s of CPU with glibc on the project VM; the
default set, 6 allocators and 5 runs, about 10 minutes. Measured by
`bench/hakbench.py measure` (Python standard library: wait4(2) of the program, which it starts as a
grandchild through /bin/sh so that its peak RSS does not start from Python's).
Environment: HAKMEM_BUILD_DIR (default <repo>/build: its libhakmem.so is preloaded, not rebuilt),
TMPDIR (the temporary directory goes there).
EOF
}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- The programs -------------------------------------------------------------------------------
# One line per program: NAME|DEFAULT|THREADS|EXIT CODES THAT MEAN SUCCESS|STDIN|COMMAND|WHAT IT DOES
# DEFAULT: y = run unless -p says otherwise; n = only with -p. In STDIN and COMMAND, @T@ is the
# temporary directory with the inputs (made by realprogs_inputs below) and @R@ the repository. STDIN
# "-" is /dev/null. Stdout goes to @T@/out/NAME.out; its checksum (with @T@/out/NAME.sorted's) is
# compared between allocators. COMMAND is split on blanks (no quoting): its first word is the
# program, skipped when not installed. To add a program, add a line here and, if it needs an input,
# a case to realprogs_inputs. Calls per run (counted with glibc): python 0.9M malloc (CPython's own
# allocator takes objects up to 512 B; the script makes bigger ones), perl 0.47M, gcc 0.43M (cc1),
# sqlite3 1.1M + 0.2M realloc, z3 0.22M; sort about 10 (one huge buffer), xz -T2 about 35.
# Not run by default (n), because their time did not depend on the allocator beyond the noise
# (2026-12-02, 5 runs: every allocator within 0.91-1.07x of glibc): bc (1.8M malloc, but about 25 ms
# of its 1.1 s), xz -T1 (16 malloc), minisat (7 malloc, 12k realloc of its clause arena).
REALPROGS='
python|y|1|0|-|/usr/bin/python3 -I -S @T@/words.py @T@/text.txt|CPython 3.11 (/usr/bin/python3): word and bigram counts of a 2 MB text (dicts, strings), 200k small objects sorted, 250k short-lived dicts of 24 keys, lists of 80-160 items, strings of 0.6-1.2 kB
perl|y|1|0|-|perl @T@/hash.pl @T@/text.txt|Perl 5.36: word, bigram and per-length hashes of the 2 MB text, a hash of arrays, sorted reports
sort|y|1|0|-|sort --parallel=1 -k2 -k1,1n -o @T@/out/sort.sorted @T@/big.txt|coreutils sort of a 30 MB text file (390k lines) on two keys, one thread
sort-t2|y|2|0|-|sort --parallel=2 -k2 -k1,1n -o @T@/out/sort-t2.sorted @T@/big.txt|the same with --parallel=2
gcc|y|1|0|-|gcc -O2 -c -I @R@/bench -o @T@/out/workloads.o @R@/bench/workloads.c|gcc 12 -O2 -c of bench/workloads.c (1.4k lines; cc1 and as)
sqlite3|y|1|0|@T@/rows.sql|sqlite3 :memory:|SQLite 3.40 shell, in-memory database: 200k rows inserted, two indexes, group-bys, a self-join, updates, deletes
xz-t2|y|2|0|-|xz -6 -T2 --block-size=512KiB -c @T@/text15.txt|xz -6 of 1.5 MB of text with two threads (blocks of 512 KiB)
z3|y|1|0|-|z3 @T@/php.smt2|Z3 4.8 (SMT, QF_LIA): 5 pigeonhole problems, 7 integers in 1..6 all distinct (unsat), in push/pop scopes
xz|n|1|0|-|xz -6 -T1 -c @T@/text15.txt|xz -6 of 1.5 MB of text, one thread
bc|n|1|0|@T@/pi.bc|bc -l|bc -l: pi to 1500 digits by arctangent
minisat|n|1|10 20|-|minisat -verb=0 @T@/sat.cnf|MiniSat 2.2: a random 3-SAT instance, 240 variables, 1022 clauses (satisfiable)
'

realprogs_names() { # [default]: the program names (all, or the default ones), in table order
    local line
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        case ${1:-},$line in default,*"|n|"*) continue ;; esac
        printf '%s ' "${line%%|*}"
    done <<<"$REALPROGS"
    echo
}

realprogs_field() { # NAME FIELD(1-7) -> the field, with @T@ and @R@ replaced
    local line f
    while IFS= read -r line; do
        [ "${line%%|*}" = "$1" ] || continue
        f=$(printf '%s\n' "$line" | cut -d'|' -f"$2")
        f=${f//@T@/$TMPD}
        printf '%s\n' "${f//@R@/$REPO_ROOT}"
        return 0
    done <<<"$REALPROGS"
    return 1
}

# realprogs_inputs NAME...: the inputs of the named programs in $TMPD (generated without any
# preload, by /usr/bin/python3 with fixed seeds).
realprogs_inputs() {
    local p need_text=0 need_big=0
    for p in "$@"; do
        case $p in
            python | perl | xz | xz-t2) need_text=1 ;;
            sort | sort-t2) need_big=1 ;;
        esac
    done
    if [ $need_text = 1 ] || [ $need_big = 1 ]; then
        # Words of 1-4 syllables from a 20000-word vocabulary, Zipf-distributed; lines of 4-16 words,
        # 30% starting with a number.
        cat >"$TMPD/gentext.py" <<'EOF'
import itertools, random, sys
r = random.Random(12345)
syl = "ka ri to mu se na lo pe vi du ham ber gor quin tel zap ox ul ny fre".split()
words = ["".join(r.choice(syl) for _ in range(r.randint(1, 4))) for _ in range(20000)]
cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(words))))
target, n = float(sys.argv[1]) * 1e6, 0
with open(sys.argv[2], "w") as out:
    while n < target:
        line = " ".join(r.choices(words, cum_weights=cum, k=r.randint(4, 16)))
        if r.random() < 0.3:
            line = "%d %s" % (r.randint(0, 10**6), line)
        out.write(line + "\n")
        n += len(line) + 1
EOF
        [ $need_text = 1 ] && /usr/bin/python3 -I -S "$TMPD/gentext.py" 2 "$TMPD/text.txt" &&
            head -c 1500000 "$TMPD/text.txt" >"$TMPD/text15.txt"
        [ $need_big = 1 ] && /usr/bin/python3 -I -S "$TMPD/gentext.py" 30 "$TMPD/big.txt"
    fi
    for p in "$@"; do
        case $p in
            python) cat >"$TMPD/words.py" <<'EOF'
import sys
text = open(sys.argv[1]).read()
counts, bigrams, prev = {}, {}, None
for line in text.splitlines():
    for w in line.split():
        counts[w] = counts.get(w, 0) + 1
        if prev is not None:
            k = prev + " " + w
            bigrams[k] = bigrams.get(k, 0) + 1
        prev = w
class Rec:
    def __init__(self, word, count):
        self.word, self.count, self.key = word, count, (-count, word[::-1])
recs = [Rec(w, c) for w, c in counts.items()]
recs += [Rec(k, c) for k, c in bigrams.items()][:200000 - len(recs)]
recs.sort(key=lambda r: r.key)
total = 0
# Short-lived objects too big for CPython's own small-object allocator (512 B), so from malloc:
# dicts of 24 keys, lists of 80-160 items, strings of 0.6-1.2 kB; one in 100 kept.
keys = ["k%d" % j for j in range(24)]
total, keep = 0, []
for i in range(250000):
    d = dict.fromkeys(keys, i)
    lst = [i] * (80 + i % 81)
    s = ("%d," % i) * (100 + i % 100)
    total += len(d) + len(lst) + len(s)
    if i % 100 == 0:
        keep.append((d, s))
top = sorted(bigrams.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
print(len(counts), len(bigrams), len(recs), recs[0].word, recs[-1].word, total, len(keep), top)
EOF
                ;;
            perl) cat >"$TMPD/hash.pl" <<'EOF'
use strict; use warnings;
my (%count, %bigram, %bylen, $prev);
while (my $line = <>) {
    for my $w (split ' ', $line) {
        $count{$w}++;
        $bigram{"$prev $w"}++ if defined $prev;
        push @{$bylen{length $w}}, $w if $count{$w} == 1;
        $prev = $w;
    }
}
my @top = (sort { $bigram{$b} <=> $bigram{$a} || $a cmp $b } keys %bigram)[0 .. 9];
my %rev = map { scalar(reverse $_) => $count{$_} } keys %count;
my $joined = join ",", sort keys %rev;
printf "%d words, %d bigrams, %d lengths, %d chars\n", scalar(keys %count), scalar(keys %bigram),
    scalar(keys %bylen), length $joined;
print "$_ $bigram{$_}\n" for @top;
print "$_: ", scalar(@{$bylen{$_}}), "\n" for sort { $a <=> $b } keys %bylen;
EOF
                ;;
            sqlite3) cat >"$TMPD/rows.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
BEGIN;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)
INSERT INTO t SELECT x, (x * 7919) % 1000, printf('name-%d-%d', x % 5000, (x * 31) % 977), x * 0.5 FROM n;
COMMIT;
CREATE INDEX ta ON t(a);
CREATE INDEX tb ON t(b);
SELECT a, count(*), sum(c) FROM t GROUP BY a ORDER BY 2 DESC, 1 LIMIT 5;
SELECT b, count(*) FROM t GROUP BY b ORDER BY 2 DESC, 1 LIMIT 5;
SELECT count(*), sum(t2.c) FROM t t1 JOIN t t2 ON t1.b = t2.b WHERE t1.id < 20000;
UPDATE t SET b = b || '-x', c = c + 1 WHERE a % 3 = 0;
DELETE FROM t WHERE a % 7 = 0;
SELECT count(*), sum(length(b)), sum(c) FROM t;
SELECT group_concat(b, ';') FROM (SELECT b FROM t ORDER BY b DESC LIMIT 20);
EOF
                ;;
            bc) printf 'scale=1500\n4*a(1)\n' >"$TMPD/pi.bc" ;;
            minisat) cat >"$TMPD/gencnf.py" <<'EOF'
import random
r = random.Random(7)
n = 240; m = int(n * 4.26)
with open("sat.cnf", "w") as f:
    f.write("p cnf %d %d\n" % (n, m))
    for _ in range(m):
        f.write(" ".join(str(v if r.random() < 0.5 else -v) for v in r.sample(range(1, n + 1), 3))
                + " 0\n")
EOF
                (cd "$TMPD" && /usr/bin/python3 -I -S gencnf.py) ;;
            z3) cat >"$TMPD/genphp.py" <<'EOF'
k = 6
with open("php.smt2", "w") as f:
    f.write("(set-logic QF_LIA)\n")
    for s in range(5):
        f.write("(push)\n")
        for i in range(k + 1):
            f.write("(declare-const p%d_%d Int)\n(assert (and (>= p%d_%d 1) (<= p%d_%d %d)))\n"
                    % (s, i, s, i, s, i, k))
        f.write("(assert (distinct %s))\n(check-sat)\n(pop)\n"
                % " ".join("p%d_%d" % (s, i) for i in range(k + 1)))
EOF
                (cd "$TMPD" && /usr/bin/python3 -I -S genphp.py) ;;
        esac
    done
}

# ---- Options ------------------------------------------------------------------------------------
cmdline="bench/realprogs.sh${*:+ $*}"
runs=5
allocators=$BENCH_ALL_ALLOCATORS
programs=""
out=""
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        -r | --runs) runs=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
        -a | --allocators) allocators=${2//,/ }; shift 2 || { usage >&2; exit 2; } ;;
        -p | --programs) programs=${2//,/ }; shift 2 || { usage >&2; exit 2; } ;;
        -o | --out) out=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
        -k | --keep) keep=1; shift ;;
        -l | --list)
            # shellcheck disable=SC2016
            TMPD='$TMP'
            for p in $(realprogs_names); do
                printf '%-8s %s thr, default %s: %s\n     %s\n' "$p" "$(realprogs_field "$p" 3)" \
                    "$(realprogs_field "$p" 2)" "$(realprogs_field "$p" 7)" "$(realprogs_field "$p" 6)"
            done
            exit 0 ;;
        -h | --help) usage; exit 0 ;;
        *) bench_err "unknown option '$1'"; usage >&2; exit 2 ;;
    esac
done
bench_check_runs "$runs" 5
all=$(realprogs_names)
[ -n "$programs" ] || programs=$(realprogs_names default)
for p in $programs; do
    case " $all " in *" $p "*) ;; *) bench_err "unknown program '$p' (known: $all)"; exit 2 ;; esac
done

# ---- Set-up -------------------------------------------------------------------------------------
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-realprogs.XXXXXX") || exit 1
case $TMPD in *[[:space:]]*) bench_err "the temporary directory $TMPD has blanks"; exit 1 ;; esac
if [ $keep = 1 ]; then
    trap 'echo "realprogs: inputs and outputs kept in $TMPD" >&2' EXIT
else
    trap 'rm -rf "$TMPD"' EXIT
fi
trap 'exit 130' INT TERM
mkdir -p "$TMPD/out"
export LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

selected=""
for p in $programs; do
    cmd=$(realprogs_field "$p" 6)
    prog=${cmd%% *}
    if ! command -v "$prog" >/dev/null 2>&1; then
        bench_note "skipping $p: $prog is not installed"
        continue
    fi
    selected="$selected $p"
done
selected=${selected# }
[ -n "$selected" ] || { bench_err "none of the programs is installed"; exit 1; }

# The smoke test of an allocator (instead of lib.sh's, which needs the CMake-built benchmarks): a
# short python3 and sort under it.
realprogs_smoke() {
    # shellcheck disable=SC2086
    timeout -k 5 60 env $1 /usr/bin/python3 -I -S -c 'x = sorted(str(i) for i in range(100000))' \
        >/dev/null 2>&1 &&
        printf '3\n1\n2\n' | timeout -k 5 60 env $1 sort >/dev/null 2>&1
}
bench_select_allocators "$allocators" realprogs_smoke || exit 1
[ -n "$out" ] || out=$(bench_new_results_dir realprogs) || exit 1
mkdir -p "$out"
raw="$out/raw.csv"
errlog="$out/raw.stderr.log"
: >"$errlog"
echo "program,threads,allocator,run,status,rc,wall_s,user_s,sys_s,cpu_s,maxrss_kb,out_sum" >"$raw"

echo "realprogs: generating the inputs in $TMPD" >&2
# shellcheck disable=SC2086
realprogs_inputs $selected || { bench_err "generating the inputs failed"; exit 1; }

nalloc=${#BENCH_ALLOC_SPECS[@]}
nprog=$(echo "$selected" | wc -w)
total=$((runs * nprog * nalloc))
echo "realprogs: programs [$selected] x allocators [$BENCH_ALLOCS] x $runs runs, interleaved;" \
     "results in $out" >&2

# ---- The runs -----------------------------------------------------------------------------------
start=$(date +%s)
done_n=0
for ((r = 1; r <= runs; r++)); do
    for p in $selected; do
        threads=$(realprogs_field "$p" 3)
        okrc=$(realprogs_field "$p" 4)
        stdin=$(realprogs_field "$p" 5)
        [ "$stdin" = - ] && stdin=/dev/null
        cmd=$(realprogs_field "$p" 6)
        for ((k = 0; k < nalloc; k++)); do
            i=$(((k + r - 1) % nalloc))
            spec=${BENCH_ALLOC_SPECS[$i]}
            label=$(bench_alloc_label "$spec")
            bench_alloc_env "$spec"
            envargs=()
            for kv in $BENCH_ENV; do envargs+=(--env "$kv"); done
            done_n=$((done_n + 1))
            outf="$TMPD/out/$p.out"
            echo "== run $r $p $label: $BENCH_ENV $cmd" >>"$errlog"
            # shellcheck disable=SC2086
            line=$(hakbench measure "${envargs[@]}" --cwd "$TMPD" --stdin "$stdin" --stdout "$outf" \
                       --stderr "$errlog" --timeout 300 -- $cmd)
            rc="" status="" wall_s="" user_s="" sys_s="" cpu_s="" maxrss_kb=""
            for kv in ${line#MEASURE }; do
                case $kv in
                    rc=* | status=* | wall_s=* | user_s=* | sys_s=* | cpu_s=* | maxrss_kb=*)
                        printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
                esac
            done
            [ -n "$rc" ] || { rc=127 status=fail127; }
            case " $okrc " in *" $rc "*) status=ok ;; esac
            [ "$status" = ok ] || { wall_s="" user_s="" sys_s="" cpu_s="" maxrss_kb=""; }
            # What the program wrote: its stdout, and the file it writes (sort).
            sum=$(cat "$outf" "$TMPD/out/$p.sorted" 2>/dev/null | cksum | cut -d' ' -f1)
            rm -f "$outf" "$TMPD/out/$p.sorted" "$TMPD/out/workloads.o"
            echo "$p,$threads,$label,$r,$status,$rc,$wall_s,$user_s,$sys_s,$cpu_s,$maxrss_kb,$sum" >>"$raw"
            if [ "$status" = ok ]; then
                printf '[%d/%d] run %d %-8s %-16s cpu %7.3f s  wall %7.3f s  rss %7.1f MiB\n' \
                    "$done_n" "$total" "$r" "$p" "$label" "$cpu_s" "$wall_s" \
                    "$(awk -v k="$maxrss_kb" 'BEGIN { print k / 1024 }')" >&2
            else
                printf '[%d/%d] run %d %-8s %-16s %s (see %s)\n' "$done_n" "$total" "$r" "$p" \
                    "$label" "$status" "$errlog" >&2
            fi
        done
    done
done
elapsed=$(($(date +%s) - start))

# ---- The report ---------------------------------------------------------------------------------
hakbench realprogs-summary "$raw" >"$out/summary.csv"
{
    echo "# Real programs under each allocator, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(bench_machine)."
    echo
    echo "Command: \`$cmdline\` ($runs runs; $elapsed s in all)."
    echo "Every value is the median of $runs runs, interleaved (run 1 of every program and"
    echo "allocator, then run 2, ...). CPU s: user+sys of the program and every process it waited"
    echo "for; wall s: start to exit; peak RSS: the largest ru_maxrss among them. Ratios: lower is"
    echo "better; best peer: the lowest median among the allocators that are not hakmem (glibc"
    echo "included). CPU spread: (max - min) / median of the runs' CPU seconds."
    echo
    echo "Allocators:"
    echo
    bench_describe_allocators
    echo
    echo "Programs:"
    echo
    for p in $selected; do
        # shellcheck disable=SC2016
        printf -- '- %s (%s thr): %s. `%s`\n' "$p" "$(realprogs_field "$p" 3)" \
            "$(realprogs_field "$p" 7)" "$(TMPD='$TMP' realprogs_field "$p" 6 | sed "s|$REPO_ROOT/||g")"
    done
    echo
    echo "## CPU seconds: glibc's, and each allocator's ratio to it (lower is better)"
    echo
    hakbench realprogs-pivot "$out/summary.csv" cpu_s
    echo
    echo "## Wall seconds: glibc's, and each allocator's ratio to it (lower is better)"
    echo
    hakbench realprogs-pivot "$out/summary.csv" wall_s
    echo
    echo "## Peak RSS: glibc's (MiB), and each allocator's ratio to it (lower is better)"
    echo
    hakbench realprogs-pivot "$out/summary.csv" maxrss_kb
    echo
    echo "## Details"
    echo
    hakbench realprogs-table "$out/summary.csv"
    if grep -q ',DIFFERS$' "$out/summary.csv"; then
        echo
        echo "Warning: some outputs differ from glibc's (column output of summary.csv)."
    fi
} >"$out/summary.md"

cat "$out/summary.md"
echo
echo "realprogs: done in $elapsed s: $out/summary.md, $out/summary.csv, $out/raw.csv"
