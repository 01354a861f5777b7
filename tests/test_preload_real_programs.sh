#!/bin/sh
# test_preload_real_programs: real programs give the same output with LD_PRELOAD=libhakmem.so as
# without it.
#
# Each case runs a small job (python3, sort, gcc, git, tar+gzip, awk, sed, perl, the shell itself)
# twice on identical, deterministically generated inputs in two directories: once plainly, once
# with hakmem preloaded into the shell that runs the job and so into every program it starts.
# stdout, stderr and the exit status must be identical. A case whose program is not installed is
# reported as skipped. First, a check that the preload really takes effect (the library appears in
# a preloaded process's memory map); otherwise every comparison would pass trivially.
#
# Usage: test_preload_real_programs.sh /path/to/libhakmem.so
# HAKMEM_* variables in the environment (ctest sets HAKMEM_REFILL_THREAD=0 for one run) apply to
# the preloaded runs. Exit 0 if all cases that ran passed, 1 if any failed, 77 if none could run.
set -u
unset LD_PRELOAD

LIB=${1:?usage: $0 /path/to/libhakmem.so}
case $LIB in /*) ;; *) LIB=$(pwd)/$LIB ;; esac
if [ ! -f "$LIB" ]; then
    echo "FAIL: no library at $LIB"
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hakmem_preload.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
echo "#    library: $LIB"
echo "#    HAKMEM_REFILL_THREAD=${HAKMEM_REFILL_THREAD-(unset)}"

# Keep the jobs independent of the user's configuration and of the time of day.
export HOME="$TMP/home" LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=t@example.com
export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
mkdir -p "$HOME"

passed=0 failed=0 skipped=0

# ---- Sanity: the preload takes effect ---------------------------------------------------------
if ! LD_PRELOAD=$LIB cat /proc/self/maps 2>"$TMP/maps.err" | grep -q hakmem; then
    echo "FAIL: with LD_PRELOAD=$LIB, libhakmem is not in the process's memory map"
    cat "$TMP/maps.err"
    exit 1
fi
if [ -s "$TMP/maps.err" ]; then
    echo "FAIL: preloading $LIB prints on stderr:"
    cat "$TMP/maps.err"
    exit 1
fi
echo "ok   LD_PRELOAD takes effect (libhakmem mapped in a preloaded cat), nothing on stderr"

# ---- Inputs (generated without the preload) ---------------------------------------------------
mkdir "$TMP/in"
awk 'BEGIN {
    srand(12345)
    split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega running jumping sing ring quick quiet", w, " ")
    for (i = 1; i <= 60000; i++) {
        line = ""
        n = 3 + int(rand() * 12)
        for (j = 0; j < n; j++) line = line w[1 + int(rand() * 32)] (rand() < 0.3 ? int(rand() * 1000) : "") " "
        print line
    }
}' > "$TMP/in/text.txt"
awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++) printf "%08d %d %s\n", int(rand() * 1e8), int(rand() * 1000), substr("abcdefghijklmnopqrstuvwxyz", 1 + int(rand() * 26)) }' > "$TMP/in/records.txt"
mkdir "$TMP/in/tree"
i=0
while [ $i -lt 40 ]; do
    mkdir -p "$TMP/in/tree/d$((i % 5))"
    head -n $((i * 50 + 10)) "$TMP/in/text.txt" > "$TMP/in/tree/d$((i % 5))/f$i.txt"
    i=$((i + 1))
done
cat > "$TMP/in/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; char name[24]; int v; };
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(void) {
    struct node *head = NULL;
    for (int i = 0; i < 10000; i++) {
        struct node *n = malloc(sizeof *n);
        n->v = (i * 7919) % 10007;
        snprintf(n->name, sizeof n->name, "node-%d", n->v);
        n->next = head;
        head = n;
    }
    int *a = calloc(10000, sizeof *a), k = 0;
    long sum = 0;
    while (head) { struct node *n = head; head = n->next; a[k++] = n->v; sum += (long)strlen(n->name); free(n); }
    qsort(a, (size_t)k, sizeof *a, cmp);
    char *s = NULL; size_t len = 0;
    for (int i = 0; i < 2000; i++) { s = realloc(s, len + 8); len += (size_t)sprintf(s + len, "%d,", a[i] % 100); }
    printf("%d %d %d %ld %zu\n", a[0], a[k / 2], a[k - 1], sum, len);
    free(a); free(s);
    return 0;
}
EOF

# ---- Runner -----------------------------------------------------------------------------------
# run_case NAME PROGRAM SCRIPT: runs SCRIPT with sh in a fresh copy of the inputs, without and with
# the preload, and compares. PROGRAM is what must be installed for the case to run.
run_case() {
    name=$1 prog=$2 script=$3
    if ! command -v "$prog" >/dev/null 2>&1; then
        echo "skip $name: $prog is not installed"
        skipped=$((skipped + 1))
        return
    fi
    for mode in ref hak; do
        dir="$TMP/$name.$mode"
        cp -R "$TMP/in" "$dir"
        if [ $mode = ref ]; then
            (cd "$dir" && sh -c "$script") > "$TMP/$name.$mode.out" 2> "$TMP/$name.$mode.err"
        else
            (cd "$dir" && LD_PRELOAD=$LIB sh -c "$script") > "$TMP/$name.$mode.out" 2> "$TMP/$name.$mode.err"
        fi
        echo $? > "$TMP/$name.$mode.rc"
    done
    bad=""
    cmp -s "$TMP/$name.ref.rc" "$TMP/$name.hak.rc" || bad="$bad exit-status($(cat "$TMP/$name.ref.rc") vs $(cat "$TMP/$name.hak.rc"))"
    cmp -s "$TMP/$name.ref.out" "$TMP/$name.hak.out" || bad="$bad stdout"
    cmp -s "$TMP/$name.ref.err" "$TMP/$name.hak.err" || bad="$bad stderr"
    if [ "$(cat "$TMP/$name.ref.rc")" != 0 ]; then
        # The job itself must work without hakmem, or the comparison says nothing.
        echo "FAIL $name: the job fails even without the preload (exit $(cat "$TMP/$name.ref.rc")):"
        head -n 20 "$TMP/$name.ref.err"
        failed=$((failed + 1))
    elif [ -n "$bad" ]; then
        echo "FAIL $name: differs with LD_PRELOAD:$bad"
        for f in out err; do
            if ! cmp -s "$TMP/$name.ref.$f" "$TMP/$name.hak.$f"; then
                echo "---- std$f without | with preload (first differences)"
                diff "$TMP/$name.ref.$f" "$TMP/$name.hak.$f" 2>/dev/null | head -n 30
            fi
        done
        failed=$((failed + 1))
    else
        echo "ok   $name: identical stdout ($(wc -c < "$TMP/$name.ref.out") B), stderr and exit status with LD_PRELOAD"
        passed=$((passed + 1))
    fi
}

# ---- Cases ------------------------------------------------------------------------------------
run_case python3 python3 'python3 - <<"EOF"
import threading, collections, json
d = {}
for i in range(200000):
    d["k%d" % i] = [i] * (i % 7)
for i in range(0, 200000, 3):
    del d["k%d" % i]
s = sum(len(v) for v in d.values())
words = open("text.txt").read().split()
c = collections.Counter(words)
print(len(d), s, len(words), c.most_common(5))
out = []
def work(k):
    acc = []
    for i in range(30000):
        acc.append(str(i * k) * (i % 5))
        if len(acc) > 500:
            acc = acc[250:]
    out.append((k, sum(map(len, acc))))
ts = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(out))
print(json.dumps({str(k): list(range(k)) for k in range(50)}, sort_keys=True)[:200])
EOF'

run_case sort sort 'sort records.txt | cksum; sort -k2,2n -k1,1r --parallel=2 -S 1M records.txt | cksum; sort -u text.txt | head -n 3'

run_case gcc gcc 'gcc -O2 -Wall -o prog prog.c && ./prog && gcc -O2 -c prog.c -o prog.o && cksum < prog.o && gcc -fsyntax-only -Wall -x c - <<"EOF"
int f(int x) { int unused; return x; }
EOF'

run_case git git 'git init -q repo && cd repo && cp -R ../tree . && git add -A && git commit -q -m first && git rev-parse HEAD &&
sed "s/alpha/ALPHA/g" tree/d1/f1.txt > t && mv t tree/d1/f1.txt && git rm -q tree/d2/f2.txt && git commit -q -am second &&
git rev-parse HEAD && git log --stat --format="%H %s" && git diff HEAD~1 --stat && git gc -q && git fsck --no-progress 2>&1 && git count-objects | sed "s/, .*//"'

run_case tar-gzip tar 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - tree | gzip -n -9 > t.tgz && cksum < t.tgz && mkdir x && gzip -dc t.tgz | tar -xf - -C x && diff -r tree x/tree && tar -tzvf t.tgz | head -n 5'

run_case awk awk "awk '{ for (i = 1; i <= NF; i++) c[\$i]++ } END { for (w in c) print c[w], w }' text.txt | sort -k1,1nr -k2,2 | head -n 20; awk '{ s[\$3] = s[\$3] \$2 \",\" } END { for (k in s) n += length(s[k]); print n }' records.txt"

run_case sed sed "sed -e 's/\\([a-z]*\\)ing/\\1ed/g' -e '/^q/d' -e 's/[0-9][0-9]*/<&>/g' text.txt | cksum; sed -n '1~7p' records.txt | cksum; sed -e ':a' -e 'N' -e '\$!ba' -e 's/\\n/ /g' tree/d0/f0.txt | wc -c"

run_case perl perl "perl -e '
my %h; for my \$i (1..200000) { \$h{\"k\$i\"} = \"v\" x (\$i % 50) }
delete \$h{\"k\$_\"} for grep { \$_ % 3 } 1..200000;
my \$s = 0; \$s += length(\$h{\$_}) for keys %h; print scalar(keys %h), \" \$s\\n\";
my @a = sort { \$a <=> \$b } map { (\$_ * 7919) % 100003 } 1..100000; print \"@a[0..9]\\n\";
open(my \$f, \"<\", \"text.txt\") or die; my %w; while (<\$f>) { \$w{\$_}++ for split } 
print join(\",\", map { \"\$_=\$w{\$_}\" } (sort { \$w{\$b} <=> \$w{\$a} || \$a cmp \$b } keys %w)[0..9]), \"\\n\";
'"

run_case shell sh 'i=0; s=""; while [ $i -lt 3000 ]; do s="$s$i"; i=$((i + 1)); done; echo ${#s}; set -- $(cat tree/d3/f3.txt); echo $#; for f in tree/*/*.txt; do echo "$f $(wc -l < "$f")"; done | sort | cksum'

echo "#    $passed passed, $failed failed, $skipped skipped"
if [ $failed -gt 0 ]; then
    exit 1
fi
if [ $passed -eq 0 ]; then
    exit 77
fi
exit 0
