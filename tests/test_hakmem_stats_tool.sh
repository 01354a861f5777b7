#!/bin/sh
# test_hakmem_stats_tool PYTHON HAKMEM_STATS LAUNCHER PROGRAM: a program run by the launcher with
# --stats-interval writes live statistics; every line is valid JSON (python's json module);
# hakmem-stats turns the file into a PNG (checked by its signature and size); and it refuses a
# file without samples. PROGRAM is test_stats_stream, whose "on" mode grows the heap until the
# file has 3 lines.
set -u
[ $# -eq 4 ] || { echo "usage: $0 PYTHON HAKMEM_STATS LAUNCHER PROGRAM" >&2; exit 2; }
py=$1 tool=$2 launcher=$3 prog=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-stats-tool.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }

"$launcher" --stats-interval 10 --stats-file "$tmp/s.jsonl" -- "$prog" on "$tmp/s.jsonl" >/dev/null ||
    fail "the program under the launcher failed"
"$py" - "$tmp/s.jsonl" <<'PY' || fail "the statistics are not valid JSON lines"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
need = {"pid", "time_ms", "started_ms", "uptime_ms", "rss", "bytes_mapped", "refills_sync",
        "refills_ring", "daemon_batches", "daemon_wakeups", "class_size", "class_slabs"}
for o in objs:
    missing = need - set(o)
    assert not missing, "missing fields %s" % missing
    assert len(o["class_slabs"]) == len(o["class_size"]) == 53
print("ok   %d lines, each one JSON object with the fields the tool plots" % len(objs))
PY
"$py" "$tool" "$tmp/s.jsonl" -o "$tmp/s.png" || fail "hakmem-stats failed"
sig=$(od -An -tx1 -N8 "$tmp/s.png" | tr -d ' \n')
[ "$sig" = 89504e470d0a1a0a ] || fail "not a PNG (signature $sig)"
size=$(wc -c < "$tmp/s.png")
[ "$size" -gt 10000 ] || fail "the PNG has only $size bytes"
echo "ok   hakmem-stats wrote a PNG of $size bytes"
echo '{"not": "a sample"}' > "$tmp/empty.jsonl"
if "$py" "$tool" "$tmp/empty.jsonl" -o "$tmp/e.png" 2>/dev/null; then fail "hakmem-stats accepted a file without samples"; fi
echo "ok   hakmem-stats refuses a file without samples"
