#!/usr/bin/env python3
"""test_counters_stats_output: what HAKMEM_STATS prints, with the debug counters on or off.

  test_counters_stats_output.py --program stats_output_program --library libhakmem.so --expect on|off

Checks, printing one "ok" line each:
  - HAKMEM_STATS=json HAKMEM_STATS_FILE=<file>: the file is one JSON object with every always-on
    field, the 53 classes, and "debug_counters": an object with the library's 40 counter names in
    order and a nonzero malloc_tls_hit (on), or null (off);
  - HAKMEM_STATS=1: a table on stderr, with a "debug counters" section naming every counter (on)
    or without one (off);
  - hak_stats_print_json() into an open_memstream buffer parses the same way;
  - the same file from a real program (sort) run with LD_PRELOAD=<library>.
Exit status 0 on success, 1 on failure."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ALWAYS_ON = [
    "bytes_mapped", "bytes_in_superslabs", "superslabs_active", "superslabs_empty",
    "superslabs_purged", "superslabs_mapped_total", "superslabs_unmapped_total", "slabs_in_use",
    "purges", "large_live", "large_live_bytes", "large_cached", "large_cached_bytes",
    "refills_ring", "refills_sync", "daemon_wakeups", "daemon_batches", "ring_unused",
]
NUM_CLASSES = 53
NUM_COUNTERS = 40


def fail(msg):
    print("FAIL " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok   " + msg, flush=True)


def run(cmd, env_extra, stdin=None):
    env = dict(os.environ)
    env.update(env_extra)
    r = subprocess.run(cmd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        fail("%s exited with %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
    return r


def check_object(obj, names, expect_on, what, work_done=True):
    if not isinstance(obj, dict):
        fail("%s: not a JSON object" % what)
    for f in ALWAYS_ON:
        if not isinstance(obj.get(f), int) or obj[f] < 0:
            fail("%s: field %s missing or not a non-negative integer" % (what, f))
    classes = obj.get("classes")
    if not isinstance(classes, list) or len(classes) != NUM_CLASSES:
        fail("%s: 'classes' is not a list of %d" % (what, NUM_CLASSES))
    class_keys = {"size", "slabs", "ring_taken", "sync_claims"}
    if any(set(c) != class_keys for c in classes):
        fail("%s: a class entry is not {%s}" % (what, ", ".join(sorted(class_keys))))
    if any(not isinstance(c[k], int) or c[k] < 0 for c in classes for k in class_keys):
        fail("%s: a class field is not a non-negative integer" % what)
    if obj["refills_ring"] + obj["ring_unused"] > obj["daemon_batches"]:
        fail("%s: pool slabs taken %d + given back unused %d > prepared %d"
             % (what, obj["refills_ring"], obj["ring_unused"], obj["daemon_batches"]))
    if sum(c["ring_taken"] for c in classes) != obj["refills_ring"] or \
            sum(c["sync_claims"] for c in classes) != obj["refills_sync"]:
        fail("%s: per-class ring_taken / sync_claims do not add up to refills_ring / refills_sync" % what)
    sizes = [c["size"] for c in classes]
    if sizes != sorted(sizes) or sizes[0] != 8 or sizes[-1] != 262144:
        fail("%s: class sizes are not 8 .. 262144 ascending" % what)
    dc = obj.get("debug_counters", "missing")
    if not expect_on:
        if dc is not None:
            fail("%s: debug_counters is %r, expected null (counters compiled out)" % (what, dc))
        return
    if not isinstance(dc, dict):
        fail("%s: debug_counters is %r, expected an object" % (what, dc))
    if list(dc) != names:
        fail("%s: debug_counters keys %s != hak_stats_counter_name() list %s" % (what, list(dc), names))
    if any(not isinstance(v, int) or v < 0 for v in dc.values()):
        fail("%s: a counter is not a non-negative integer" % what)
    if work_done and dc["malloc_tls_hit"] == 0:
        fail("%s: malloc_tls_hit is 0 after thousands of mallocs" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--expect", choices=["on", "off"], required=True)
    args = ap.parse_args()
    expect_on = args.expect == "on"
    prog = args.program

    out = run([prog, "names"], {}).stdout.decode().splitlines()
    names = [l.split(" ", 1)[1] for l in out if l.startswith("name ")]
    flag = [l.split(" ", 1)[1] for l in out if l.startswith("debug_counters ")]
    if len(names) != NUM_COUNTERS or len(set(names)) != NUM_COUNTERS:
        fail("hak_stats_counter_name() gives %d names (%d distinct), expected %d" % (
            len(names), len(set(names)), NUM_COUNTERS))
    if flag != ["1" if expect_on else "0"]:
        fail("hak_stats_get().debug_counters is %s, expected %s" % (flag, 1 if expect_on else 0))
    ok("hak_stats_counter_name(): %d distinct names; hak_stats_get().debug_counters = %d" % (
        len(names), 1 if expect_on else 0))

    with tempfile.TemporaryDirectory(prefix="hakmem-stats-") as tmp:
        path = os.path.join(tmp, "stats.json")
        r = run([prog, "work"], {"HAKMEM_STATS": "json", "HAKMEM_STATS_FILE": path})
        if b"hakmem statistics" in r.stderr or b"debug_counters" in r.stderr:
            fail("HAKMEM_STATS_FILE is set, yet statistics went to stderr")
        with open(path) as f:
            text = f.read()
        if text.count("\n") != 1:
            fail("HAKMEM_STATS=json wrote %d lines, expected one" % text.count("\n"))
        obj = json.loads(text)
        check_object(obj, names, expect_on, "HAKMEM_STATS=json file")
        if expect_on:
            dc = obj["debug_counters"]
            for c in ("free_null", "malloc_zero", "large_alloc", "large_free", "malloc_tls_miss"):
                if dc[c] == 0:
                    fail("HAKMEM_STATS=json file: %s is 0 after the program's work" % c)
            ok("HAKMEM_STATS=json HAKMEM_STATS_FILE: one JSON object, %d fields, %d classes, "
               "debug_counters with all %d names (malloc_tls_hit %d)" % (
                   len(obj), NUM_CLASSES, NUM_COUNTERS, dc["malloc_tls_hit"]))
        else:
            ok("HAKMEM_STATS=json HAKMEM_STATS_FILE: one JSON object, debug_counters null")

        r = run([prog, "work"], {"HAKMEM_STATS": "1"})
        err = r.stderr.decode(errors="replace")
        if "hakmem statistics" not in err:
            fail("HAKMEM_STATS=1: no table on stderr:\n" + err)
        if expect_on:
            if "debug counters" not in err:
                fail("HAKMEM_STATS=1: no 'debug counters' section:\n" + err)
            missing = [n for n in names if ("    %s " % n) not in err]
            if missing:
                fail("HAKMEM_STATS=1: counters missing from the table: %s" % missing)
            ok("HAKMEM_STATS=1: table on stderr with a 'debug counters' section naming all %d" % NUM_COUNTERS)
        else:
            if "debug counters" in err:
                fail("HAKMEM_STATS=1: a 'debug counters' section although they are compiled out")
            ok("HAKMEM_STATS=1: table on stderr, no 'debug counters' section")

        r = run([prog, "memstream"], {})
        check_object(json.loads(r.stdout.decode()), names, expect_on, "hak_stats_print_json(memstream)")
        ok("hak_stats_print_json() into open_memstream parses; hak_stats_print() table checked")

        sort = shutil.which("sort")
        if sort is None:
            print("#    no sort(1): LD_PRELOAD check skipped")
        else:
            path = os.path.join(tmp, "sort.json")
            lines = "".join("%d line %s\n" % ((i * 7919) % 5003, "x" * (i % 50)) for i in range(20000))
            r = run([sort], {"LD_PRELOAD": os.path.abspath(args.library), "HAKMEM_STATS": "json",
                             "HAKMEM_STATS_FILE": path}, stdin=lines.encode())
            if len(r.stdout.splitlines()) != 20000:
                fail("sort under LD_PRELOAD lost lines")
            with open(path) as f:
                obj = json.load(f)
            check_object(obj, names, expect_on, "LD_PRELOAD sort")
            ok("LD_PRELOAD=%s sort: the exit statistics parse%s" % (
                os.path.basename(args.library),
                " (malloc_tls_hit %d)" % obj["debug_counters"]["malloc_tls_hit"] if expect_on else ""))
    print("all stats output checks passed (counters %s)" % args.expect)


if __name__ == "__main__":
    main()
