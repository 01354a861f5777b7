#!/usr/bin/env python3
"""hakbench: the statistics, tables and plots of hakmem's benchmark scripts.

The shell scripts (bench/run_all.sh, larson.sh, latency.sh, icount.sh) run the programs and
interleave the allocators; everything computed from their output lives here, so that it can be
read and unit-tested (tests/bench/test_hakbench.py) instead of being spread over awk one-liners.
Standard library only: CI machines start bare, and plots go through gnuplot (gnuplot-nox).

    hakbench.py raw-row --rc RC --progress I/N [--errlog F] SUITE CONFIG THREADS ALLOC RUN < output
    hakbench.py summarize RAW_CSV                 medians per suite/config/threads/allocator
    hakbench.py table SUMMARY_CSV                 markdown, one table per suite, with ratios
    hakbench.py pivot SUMMARY_CSV METRIC          markdown, one column per allocator
    hakbench.py plot SUMMARY_CSV OUTDIR           throughput-*.png, peak-rss.png (prints paths)
    hakbench.py icount-row LABEL SIZE N PREFIX    instructions per pair from callgrind files
    hakbench.py icount-table ICOUNT_CSV           markdown
    hakbench.py latency-row --rc RC --progress I/N [--errlog F] CONFIG THREADS ALLOC RUN < output
    hakbench.py latency-summary RAW_CSV           medians of every percentile per config/op
    hakbench.py latency-table SUMMARY_CSV OP      markdown rows for one operation
    hakbench.py latency-plot OUTDIR ALLOC...      cdf-*.png from OUTDIR/hist/ (prints paths)
    hakbench.py column CSV NAME distinct|first|max
    hakbench.py timeout SECONDS                   the per-run timeout (fails unless SECONDS > 0)
    hakbench.py machine                           one line describing CPU, memory, kernel, libc
    hakbench.py measure [--env K=V]... [--cwd D] [--stdin F] [--stdout F] [--stderr F]
                        [--timeout S] -- CMD...   runs CMD, prints MEASURE rc= wall_s= cpu_s= ...
    hakbench.py realprogs-summary RAW_CSV         medians per program/allocator, vs glibc, best peer
    hakbench.py realprogs-table SUMMARY_CSV       markdown of bench/realprogs.sh's summary
    hakbench.py realprogs-pivot SUMMARY_CSV METRIC  ratios to glibc, a column per allocator

The output formats (CSV columns, markdown, gnuplot data) are those of the awk code this module
replaced, so that docs/benchmarks.md and older result directories stay comparable.
"""

import argparse
import csv
import glob
import os
import platform
import shutil
import subprocess
import sys

RAW_COLUMNS = ("suite,config,threads,allocator,run,status,unit,ops,wall_s,cpu_s,ops_per_s,"
               "ops_per_cpu_s,maxrss_kb,minflt,minflt_all").split(",")
SUMMARY_COLUMNS = ("suite,config,threads,allocator,runs_ok,runs_failed,unit,ops_per_s,"
                   "ops_per_cpu_s,maxrss_kb,minflt,wall_s,cpu_s,ops_per_s_vs_glibc,"
                   "ops_per_s_vs_mimalloc,ops_per_cpu_s_vs_glibc,ops_per_cpu_s_vs_mimalloc,"
                   "maxrss_vs_glibc,maxrss_vs_mimalloc").split(",")
LATENCY_RAW_COLUMNS = ("config,scenario,threads,think_ns,allocator,run,status,op,count,mean_ns,"
                       "p50_ns,p99_ns,p999_ns,p9999_ns,max_ns,requests_per_s,requests_per_cpu_s,"
                       "maxrss_kb,nivcsw,tsc_ghz,timer_ns").split(",")
# The per-run figures of latency's raw.csv whose median summary.csv gives.
LATENCY_METRICS = ("count mean_ns p50_ns p99_ns p999_ns p9999_ns max_ns requests_per_s "
                   "requests_per_cpu_s maxrss_kb nivcsw").split()
LATENCY_SUMMARY_COLUMNS = ("config,threads,allocator,op,runs_ok,runs_failed,count,mean_ns,p50_ns,"
                           "p99_ns,p999_ns,p9999_ns,max_ns_median,max_ns_worst,requests_per_s,"
                           "requests_per_cpu_s,maxrss_kb,nivcsw").split(",")
# Ratios in summary.csv are to these allocators of the same suite, config and threads.
BASELINES = ("glibc", "mimalloc")


# ---- Statistics -----------------------------------------------------------------------------------

def numbers(values):
    """The numeric values among strings, as floats; empty strings (a run without the figure) skipped."""
    return [float(v) for v in values if v is not None and str(v).strip() != ""]


def median(values):
    """Median of the numbers (mean of the middle two for an even count), None for no numbers.

    The median, not the mean: on a shared machine one run hit by background load must not move the
    reported figure."""
    xs = sorted(numbers(values))
    n = len(xs)
    if n == 0:
        return None
    if n % 2:
        return xs[n // 2]
    return (xs[n // 2 - 1] + xs[n // 2]) / 2


def worst(values):
    """The largest of the numbers (None for none): latency reports the worst max of the runs too."""
    xs = numbers(values)
    return max(xs) if xs else None


def ratio(x, y):
    """x / y as text with 3 decimals, or "" when either is missing or y is 0 (no baseline)."""
    if x is None or y is None or y == 0:
        return ""
    return "%.3f" % (x / y)


def cdf_points(buckets):
    """CDF of a histogram. buckets: (bucket index, upper edge, count) in any order, an index may
    repeat (runs summed). Returns (upper edge, fraction <= edge, fraction > edge) per bucket in
    index order; the tail is floored at 1e-9 so that the last point shows on a log scale."""
    counts, edges = {}, {}
    for b, hi, count in buckets:
        counts[b] = counts.get(b, 0) + count
        edges[b] = hi
    total = sum(counts.values())
    if total <= 0:
        return []
    points, cum = [], 0
    for b in sorted(counts):
        cum += counts[b]
        points.append((edges[b], cum / total, max(1 - cum / total, 1e-9)))
    return points


# ---- Formatting -----------------------------------------------------------------------------------

def fmt_count(v):
    """A rate for a table: M = millions, k = thousands, "-" when missing."""
    if v is None or v == "":
        return "-"
    v = float(v)
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def fmt_ratio(v):
    """A summary.csv ratio as "1.23x" (empty when there is none)."""
    return "" if v == "" or v is None else "%.2fx" % float(v)


def fmt_mib(kb):
    """KiB as MiB with one decimal, "-" when missing."""
    return "-" if kb == "" or kb is None else "%.1f" % (float(kb) / 1024)


def fmt_ns(v):
    """A latency: ns below 10 us, then us, then ms."""
    if v == "" or v is None:
        return "-"
    v = float(v)
    if v >= 1e6:
        return "%.2f ms" % (v / 1e6)
    if v >= 1e4:
        return "%.1f us" % (v / 1e3)
    return "%.0f" % v


def fmt_opt(fmt, v):
    """fmt % v, or "" for a missing value."""
    return "" if v is None else fmt % v


def awk_num(x):
    """A number as awk prints it with "%s" (integers whole, else %.6g), for gnuplot data files."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return "%.6g" % x


def config_label(row):
    """The config with its unit when that is not allocations, e.g. "churn (threads)"."""
    unit = row.get("unit", "")
    return row["config"] + (" (%s)" % unit if unit not in ("", "allocs") else "")


def runs_label(row):
    """runs_ok, plus "(N failed)" when some failed."""
    failed = row.get("runs_failed", "")
    return row["runs_ok"] + (" (%s failed)" % failed if failed and float(failed) > 0 else "")


def md_row(cells):
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


# ---- CSV ------------------------------------------------------------------------------------------

def read_rows(path):
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def csv_line(values):
    """One CSV line. Plain joining, as the values never hold commas or quotes."""
    return ",".join("" if v is None else str(v) for v in values)


def parse_result(output):
    """The key=value pairs of the last "RESULT " line of a program's output (None without one)."""
    lines = [l for l in output.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return None
    pairs = {}
    for word in lines[-1].split()[1:]:
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def run_status(rc, result):
    """ok, timeout (timeout(1) killed it) or failRC; a run without a RESULT line failed."""
    if rc == 0 and result is not None:
        return "ok"
    if rc in (124, 137):
        return "timeout"
    return "fail%d" % rc


def group(rows, key):
    """Rows grouped by key(row), groups in the order of their first row."""
    groups = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


# ---- Throughput runs: raw.csv, summary.csv, tables --------------------------------------------

def raw_row(output, rc, suite, config, threads, alloc, run):
    """(raw.csv line, status, RESULT pairs) of one run of larson or workloads."""
    result = parse_result(output)
    status = run_status(rc, result)
    head = [suite, config, threads, alloc, run, status]
    if status != "ok":
        return csv_line(head + [""] * (len(RAW_COLUMNS) - len(head))), status, result
    fields = [result.get(c, "") for c in RAW_COLUMNS[len(head):]]
    return csv_line(head + fields), status, result


def progress_line(where, run, suite, config, threads, alloc, status, result, errlog):
    """What the runner prints after a run: its figures, or why it failed."""
    if status != "ok":
        return "[%s] run %s %s %s t=%s %-16s %s (see %s)" % (where, run, suite, config, threads,
                                                              alloc, status, errlog)
    num = lambda k: float(result.get(k) or 0)
    return "[%s] run %s %s %s t=%s %-16s %9.3f M %s/s  %9.3f M/cpu-s  rss %7.1f MiB" % (
        where, run, suite, config, threads, alloc, num("ops_per_s") / 1e6, result.get("unit", ""),
        num("ops_per_cpu_s") / 1e6, num("maxrss_kb") / 1024)


def summarize(rows):
    """summary.csv lines from raw.csv rows: per suite, config, threads and allocator (in order of
    first appearance) the medians over the runs that succeeded, and the ratios of the medians to
    glibc's and mimalloc's of the same suite, config and threads."""
    groups = group(rows, lambda r: (r["suite"], r["config"], r["threads"], r["allocator"]))
    med = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        med[key] = {c: median(r[c] for r in ok)
                    for c in ("ops_per_s", "ops_per_cpu_s", "maxrss_kb", "minflt", "wall_s", "cpu_s")}
    out = [",".join(SUMMARY_COLUMNS)]
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        m = med[key]
        base = {b: med.get(key[:3] + (b,), {}) for b in BASELINES}
        ratios = []
        for metric in ("ops_per_s", "ops_per_cpu_s", "maxrss_kb"):
            ratios += [ratio(m[metric], base[b].get(metric)) for b in BASELINES]
        out.append(csv_line(list(key) + [
            len(ok), len(rs) - len(ok), ok[-1]["unit"] if ok else "",
            fmt_opt("%.0f", m["ops_per_s"]), fmt_opt("%.0f", m["ops_per_cpu_s"]),
            fmt_opt("%.0f", m["maxrss_kb"]), fmt_opt("%.0f", m["minflt"]),
            fmt_opt("%.4f", m["wall_s"]), fmt_opt("%.4f", m["cpu_s"])] + ratios))
    return out


def details_table(rows):
    """Markdown from summary.csv rows: a table per suite with throughput, per CPU-second and peak
    RSS, each with its ratios to glibc and mimalloc, minor faults and the number of runs."""
    out, last = [], None
    for r in rows:
        if r["suite"] != last:
            if last is not None:
                out.append("")
            out += ["#### %s" % r["suite"], "",
                    "| config | thr | allocator | ops/s | vs glibc | vs mimalloc | ops/CPU-s | vs glibc "
                    "| vs mimalloc | peak RSS MiB | vs glibc | vs mimalloc | minor faults | runs |",
                    "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
            last = r["suite"]
        out.append(md_row([
            config_label(r), r["threads"], r["allocator"],
            fmt_count(r["ops_per_s"]), fmt_ratio(r["ops_per_s_vs_glibc"]),
            fmt_ratio(r["ops_per_s_vs_mimalloc"]),
            fmt_count(r["ops_per_cpu_s"]), fmt_ratio(r["ops_per_cpu_s_vs_glibc"]),
            fmt_ratio(r["ops_per_cpu_s_vs_mimalloc"]),
            fmt_mib(r["maxrss_kb"]), fmt_ratio(r["maxrss_vs_glibc"]), fmt_ratio(r["maxrss_vs_mimalloc"]),
            r["minflt"] or "-", runs_label(r)]))
    return out


def pivot_table(rows, metric):
    """Markdown from summary.csv rows: a row per suite/config/threads, a column per allocator, the
    median metric in each cell (maxrss_kb in MiB, rates in k/M)."""
    fmt = fmt_mib if metric == "maxrss_kb" else fmt_count
    allocs = list(dict.fromkeys(r["allocator"] for r in rows))
    cells = {}
    for r in rows:
        cells.setdefault((r["suite"], config_label(r), r["threads"]), {})[r["allocator"]] = r[metric]
    out = ["| suite | workload | thr |" + "".join(" %s |" % a for a in allocs),
           "|---|---|--:|" + "--:|" * len(allocs)]
    for (suite, config, threads), by_alloc in cells.items():
        out.append("| %s | %s | %s |" % (suite, config, threads) +
                   "".join(" %s |" % fmt(by_alloc.get(a, "")) for a in allocs))
    return out


# ---- Plots ----------------------------------------------------------------------------------------

def png_terminal(size, font_size):
    """gnuplot's terminal: pngcairo when gnuplot has it (anti-aliased), else png."""
    ok = subprocess.run(["gnuplot", "-e", "set terminal pngcairo"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode == 0
    if ok:
        return "pngcairo size %s font ',%d'" % (size, font_size)
    return "png size %s" % size


def run_gnuplot(script_path, log_path):
    """Runs a gnuplot script; a failure is a note (the tables do not depend on the plots)."""
    with open(log_path, "w") as log:
        rc = subprocess.run(["gnuplot", script_path], stderr=log).returncode
    if rc != 0:
        print("note: gnuplot failed: see %s" % log_path, file=sys.stderr)
    return rc == 0


def throughput_plot_data(rows):
    """From summary.csv rows: (allocators, {suite-config: (unit, {threads: {alloc: ops_per_s}},
    {threads: {alloc: maxrss_kb}})}) over the rows with a throughput, in order of appearance."""
    allocs, configs = [], {}
    for r in rows:
        if r["ops_per_s"] == "":
            continue
        if r["allocator"] not in allocs:
            allocs.append(r["allocator"])
        c = configs.setdefault(r["suite"] + "-" + r["config"], [r["unit"], {}, {}])
        c[0] = r["unit"]
        t = int(float(r["threads"]))
        c[1].setdefault(t, {})[r["allocator"]] = float(r["ops_per_s"])
        c[2].setdefault(t, {})[r["allocator"]] = float(r["maxrss_kb"]) if r["maxrss_kb"] else None
    return allocs, configs


def write_throughput_data(rows, pd):
    """Writes plotdata/: throughput-C.dat per config at 2+ thread counts (threads, then M ops/s per
    allocator, "?" when missing) and peak-rss.dat (MiB per allocator at each config's largest
    thread count). Returns (allocators, [(config, unit)] of the throughput files)."""
    allocs, configs = throughput_plot_data(rows)
    lines = {}
    listed = []
    rss = ["config" + "".join(" " + a for a in allocs)]
    for c, (unit, ops, kb) in configs.items():
        threads = sorted(ops)
        if len(threads) >= 2:
            data = ["threads" + "".join(" " + a for a in allocs)]
            for t in threads:
                data.append("%d" % t + "".join(
                    " " + ("?" if a not in ops[t] else awk_num(ops[t][a] / 1e6)) for a in allocs))
            lines["throughput-%s.dat" % c] = data
            listed.append((c, unit))
        top = threads[-1]
        rss.append("%s/t%d" % (c, top) + "".join(
            " " + ("?" if kb[top].get(a) is None else awk_num(kb[top][a] / 1024)) for a in allocs))
    if configs:
        lines["peak-rss.dat"] = rss
    for name, data in lines.items():
        with open(os.path.join(pd, name), "w") as f:
            f.write("\n".join(data) + "\n")
    return allocs, listed


def throughput_plots(summary_csv, out):
    """throughput-SUITE-CONFIG.png (median throughput against threads, a line per allocator) for
    every config measured at 2+ thread counts, and peak-rss.png. Returns the PNG paths."""
    if shutil.which("gnuplot") is None:
        print("note: gnuplot not found: no plots", file=sys.stderr)
        return []
    pd = os.path.join(out, "plotdata")
    os.makedirs(pd, exist_ok=True)
    allocs, listed = write_throughput_data(read_rows(summary_csv), pd)
    term = png_terminal("900,520", 10)
    n = len(allocs) + 1
    gp = ["set terminal " + term, "set datafile missing '?'", "set grid ytics",
          "set key outside right top"]
    for c, unit in listed:
        gp += ["set output '%s/throughput-%s.png'" % (out, c),
               "set title '%s: median throughput against threads'" % c,
               "set xlabel 'threads'", "set ylabel 'million %s per second (wall)'" % unit,
               "set logscale x 2", "set yrange [0:*]",
               "plot for [i=2:%d] '%s/throughput-%s.dat' using 1:i with linespoints lw 2 "
               "title columnhead(i)" % (n, pd, c),
               "unset logscale x"]
    gp += ["set terminal %s size 1200,560" % term.split(" size")[0],
           "set output '%s/peak-rss.png'" % out,
           "set title 'median peak RSS (MiB, log scale) per allocator, at the largest thread count'",
           "set style data histograms", "set style histogram clustered gap 1",
           "set style fill solid 0.8 border -1", "set logscale y", "set yrange [0.5:*]",
           "set xlabel ''", "set ylabel 'peak RSS, MiB'", "set xtics rotate by -40 left",
           "set bmargin 8",
           "plot for [i=2:%d] '%s/peak-rss.dat' using i:xtic(1) title columnhead(i)" % (n, pd)]
    script = os.path.join(pd, "plots.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    if not run_gnuplot(script, os.path.join(pd, "gnuplot.log")):
        return []
    return sorted(glob.glob(os.path.join(out, "*.png")))


# ---- Instruction counts ---------------------------------------------------------------------------

def callgrind_total(path):
    """The instruction total ("totals:" line) of a callgrind output file, 0 without one."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def icount_row(label, size, n, prefix):
    """icount.csv line from the callgrind files PREFIX.1.PID-TT (N pairs) and PREFIX.2.PID-TT (2N
    pairs): (I(2N) - I(N)) / N over all threads, so start-up and exit cancel out, and for the
    thread whose count grew most (the application thread). Threads match by callgrind's number."""
    per = {1: {}, 2: {}}
    for m in (1, 2):
        for path in glob.glob("%s.%d.*-*" % (prefix, m)):
            suffix = path.rsplit("-", 1)[1]
            tid = int(suffix) if suffix.isdigit() else 0
            per[m][tid] = callgrind_total(path)
    n = int(n)
    total = sum(per[2].values()) - sum(per[1].values())
    app = max([0] + [per[2].get(t, 0) - per[1].get(t, 0) for t in set(per[1]) | set(per[2])])
    return "%s,%s,%s,%.1f,%.1f" % (label, size, n, total / n, app / n)


def icount_table(rows):
    """Markdown of icount.csv."""
    out = ["| allocator | size B | instructions per pair (all threads) | (application thread) |",
           "|---|--:|--:|--:|"]
    for r in rows:
        out.append(md_row([r["allocator"], r["size"], r["instr_per_pair"] or "failed",
                           r["instr_per_pair_app_thread"] or "-"]))
    return out


# ---- Latency --------------------------------------------------------------------------------------

def latency_rows(output, rc, config, threads, alloc, run):
    """(raw.csv lines, status, message) of one run of bench/latency: a line per LAT line
    (malloc, free, request) with the run's RESULT figures; one empty line for a failed run.
    A run that printed RESULT but no LAT line is status "nolat"."""
    result = parse_result(output)
    status = run_status(rc, result)
    lats = [l.split(",") for l in output.splitlines() if l.startswith("LAT,")]
    if status == "ok" and not lats:
        status = "nolat"
    if status != "ok":
        empty = [config, "", threads, "", alloc, run, status]
        return [csv_line(empty + [""] * (len(LATENCY_RAW_COLUMNS) - len(empty)))], status, ""
    lines, msg = [], ""
    tail = [result.get(k, "") for k in ("ops_per_s", "ops_per_cpu_s", "maxrss_kb", "nivcsw",
                                        "tsc_ghz", "timer_ns")]
    for f in lats:  # LAT,scenario,threads,think,op,count,mean,p50,p99,p999,p9999,max
        f += [""] * (12 - len(f))
        lines.append(csv_line([config, f[1], f[2], f[3], alloc, run, status, f[4]] + f[5:12] + tail))
        if f[4] == "malloc":
            msg = "malloc p50 %s p99 %s p99.99 %s max %s ns" % (f[7], f[8], f[10], f[11])
    msg += "; %.0f req/s" % float(result.get("ops_per_s") or 0)
    return lines, status, msg


def latency_summary(rows):
    """summary.csv lines from latency's raw.csv rows: per config, threads, allocator and op, the
    median over the successful runs of every figure (each percentile is the median of the runs'
    percentiles), and max both as the median and the worst of the runs."""
    ok = [r for r in rows if r["status"] == "ok"]
    failed = {}
    for r in rows:
        if r["status"] != "ok":
            k = (r["config"], r["threads"], r["allocator"])
            failed[k] = failed.get(k, 0) + 1
    out = [",".join(LATENCY_SUMMARY_COLUMNS)]
    for key, rs in group(ok, lambda r: (r["config"], r["threads"], r["allocator"], r["op"])).items():
        cells = list(key) + [len(rs), failed.get(key[:3], 0)]
        for m in LATENCY_METRICS:
            cells.append(fmt_opt("%.1f", median(r[m] for r in rs)))
            if m == "max_ns":
                cells.append(fmt_opt("%.1f", worst(r[m] for r in rs)))
        out.append(csv_line(cells))
    return out


def latency_table(rows, op):
    """Markdown rows (no header) of latency's summary.csv for one op."""
    out = []
    for r in rows:
        if r["op"] != op:
            continue
        out.append(md_row([r["config"], r["threads"], r["allocator"]] +
                          [fmt_ns(r[c]) for c in ("mean_ns", "p50_ns", "p99_ns", "p999_ns",
                                                   "p9999_ns", "max_ns_median", "max_ns_worst")] +
                          [r["nivcsw"], "%.0fk" % (float(r["requests_per_cpu_s"] or 0) / 1e3),
                           runs_label(r)]))
    return out


def latency_histograms(hist_dir):
    """{(config-tT, op, alloc): [(bucket, hi_ns text, count)]} from hist/CONFIG-tT__ALLOC__rR.csv
    (op,bucket,lo_ns,hi_ns,count), the runs of a group together. Files in name order, so a bucket's
    edge is that of the last run (edges differ between runs only by the TSC calibration)."""
    groups = {}
    for path in sorted(glob.glob(os.path.join(hist_dir, "*.csv"))):
        name = os.path.basename(path)[:-4].split("__r")[0]
        cfg, _, alloc = name.partition("__")
        for r in read_rows(path):
            groups.setdefault((cfg, r["op"], alloc), []).append(
                (int(float(r["bucket"])), r["hi_ns"], float(r["count"])))
    return groups


def latency_plots(out, allocs):
    """cdf-CONFIG-tT.png: for malloc, free and request the CDF (log x) above and the tail 1-CDF
    (log-log) below, a line per allocator, the runs' histograms summed. Returns the PNG paths."""
    if shutil.which("gnuplot") is None:
        print("note: gnuplot not found: no plots", file=sys.stderr)
        return []
    pd = os.path.join(out, "plotdata")
    os.makedirs(pd, exist_ok=True)
    for old in glob.glob(os.path.join(pd, "*.dat")):
        os.remove(old)
    written = set()
    for (cfg, op, alloc), buckets in latency_histograms(os.path.join(out, "hist")).items():
        points = cdf_points(buckets)
        if not points:
            continue
        with open(os.path.join(pd, "%s__%s__%s.dat" % (cfg, op, alloc)), "w") as f:
            f.writelines("%s %.8g %.3g\n" % p for p in points)
        written.add(cfg)
    term = png_terminal("1500,800", 9)
    gp = ["set terminal " + term, "set logscale x", "set grid", "set key bottom right"]
    for cfg in sorted(written):
        gp += ["set output '%s/cdf-%s.png'" % (out, cfg),
               "set multiplot layout 2,3 title 'latency %s (ns, log x), runs summed: CDF above, "
               "tail 1-CDF (log) below'" % cfg]
        for row in ("cdf", "tail"):
            for op in ("malloc", "free", "request"):
                gp += ["set title '%s'" % op, "set xlabel 'ns'"]
                if row == "cdf":
                    gp += ["unset logscale y", "set format y '%g'", "set yrange [0:1]",
                           "set ylabel 'fraction <= x'"]
                    col = 2
                else:
                    gp += ["set logscale y", "set format y '%g'", "set yrange [1e-6:1]",
                           "set ylabel 'fraction > x'"]
                    col = 3
                curves = []
                for alloc in allocs:
                    dat = os.path.join(pd, "%s__%s__%s.dat" % (cfg, op, alloc))
                    if os.path.exists(dat) and os.path.getsize(dat) > 0:
                        curves.append(" '%s' using 1:%d with steps lw 2 title '%s'" % (dat, col, alloc))
                gp.append("plot" + (",".join(curves) if curves else " NaN notitle"))
        gp.append("unset multiplot")
    script = os.path.join(pd, "plots.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    run_gnuplot(script, os.path.join(pd, "gnuplot.log"))
    return sorted(glob.glob(os.path.join(out, "cdf-*.png")))


# ---- Real programs (bench/realprogs.sh) ----------------------------------------------------------

REALPROGS_RAW_COLUMNS = ("program,threads,allocator,run,status,rc,wall_s,user_s,sys_s,cpu_s,"
                         "maxrss_kb,out_sum").split(",")
REALPROGS_SUMMARY_COLUMNS = ("program,threads,allocator,runs_ok,runs_failed,cpu_s,wall_s,user_s,"
                             "sys_s,maxrss_kb,cpu_spread,wall_spread,cpu_vs_glibc,wall_vs_glibc,"
                             "maxrss_vs_glibc,best_peer_cpu,cpu_vs_best_peer,best_peer_wall,"
                             "wall_vs_best_peer,best_peer_maxrss,maxrss_vs_best_peer,"
                             "output").split(",")


def _set_child_subreaper():
    """prctl(PR_SET_CHILD_SUBREAPER, 1) through ctypes: orphaned descendants are reparented to this
    process, so it can wait for a grandchild. False where that is not available."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


# sh -c MEASURE_SH sh STDIN STDOUT STDERR env K=V... CMD...: start the command in the background
# (a grandchild of the measuring process) and exit.
MEASURE_SH = 'i=$1 o=$2 e=$3; shift 3; "$@" <"$i" >"$o" 2>>"$e" &'


def measure_child(argv, env=(), cwd=None, stdin=None, stdout=None, stderr=None, timeout=0):
    """Runs argv (found in PATH) and waits for it with wait4(2). Returns {rc, status, wall_s,
    user_s, sys_s, cpu_s, maxrss_kb}: user and sys CPU of the program and of every descendant it
    waited for, ru_maxrss the largest peak RSS among them (what getrusage(RUSAGE_CHILDREN) gives),
    wall from start to reaping. env: NAME=VALUE strings for the program only (LD_PRELOAD applies
    to it and its descendants, not to this process). stdin, stdout: files (default /dev/null);
    stderr: a file appended to (default /dev/null). timeout: seconds (0: none) after which the
    program's process group is killed (status "timeout").

    The program is not this process's child but a grandchild: /bin/sh starts it in the background
    and exits, and it is reparented to this process (a child subreaper). Linux charges a process
    the peak RSS of the memory image it had before exec(2), and a direct child of this process
    would start from this Python's ~10 MiB; sh's forked child starts from sh's ~1 MiB. Without
    PR_SET_CHILD_SUBREAPER it runs as a direct child (peak RSS then has that floor)."""
    import signal
    import time
    environ = dict(os.environ)
    files = [os.path.abspath(f or os.devnull) for f in (stdin, stdout, stderr)]
    if cwd:
        os.chdir(cwd)
    subreaper = _set_child_subreaper()

    class Expired(Exception):
        pass

    def on_alarm(signum, frame):
        raise Expired()

    status = "ok"
    t0 = time.perf_counter()
    if subreaper:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", MEASURE_SH, "sh"] + files + ["env"] + list(env)
                             + list(argv), environ, setsid=True)
    else:
        for kv in env:
            k, _, v = kv.partition("=")
            environ[k] = v
        actions = [(os.POSIX_SPAWN_OPEN, 0, files[0], os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, files[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                   (os.POSIX_SPAWN_OPEN, 2, files[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)]
        pid = os.posix_spawnp(argv[0], list(argv), environ, file_actions=actions, setsid=True)
    pgid = pid
    if timeout:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(timeout))
    wstatus, ru = None, None
    try:
        # Reap sh (the program's parent), then the program; the last one reaped is the program.
        while True:
            try:
                p, ws, r = os.wait4(-1, 0)
            except ChildProcessError:
                break
            if p == pid:
                sh_status = ws
                if not subreaper:
                    wstatus, ru = ws, r
                    break
                continue
            wstatus, ru = ws, r
    except Expired:
        status = "timeout"
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                p, ws, r = os.wait4(-1, 0)
            except ChildProcessError:
                break
            if p != pid or not subreaper:
                wstatus, ru = ws, r
    wall = time.perf_counter() - t0
    if timeout:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if wstatus is None:  # sh failed before starting it
        rc, ru = os.waitstatus_to_exitcode(sh_status) or 127, None
    else:
        rc = os.waitstatus_to_exitcode(wstatus)
    if rc < 0:
        rc = 128 - rc
    if status == "ok" and rc != 0:
        status = "fail%d" % rc
    if ru is None:
        return {"rc": rc, "status": status, "wall_s": wall, "user_s": 0.0, "sys_s": 0.0,
                "cpu_s": 0.0, "maxrss_kb": 0}
    return {"rc": rc, "status": status, "wall_s": wall, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}


def measure_line(m):
    """The MEASURE line that `hakbench measure` prints for measure_child's result."""
    return ("MEASURE rc=%d status=%s wall_s=%.4f user_s=%.4f sys_s=%.4f cpu_s=%.4f maxrss_kb=%d"
            % (m["rc"], m["status"], m["wall_s"], m["user_s"], m["sys_s"], m["cpu_s"],
               m["maxrss_kb"]))


def spread(values):
    """(max - min) / median of the numbers, None for fewer than two: the noise between runs."""
    xs = numbers(values)
    m = median(xs)
    if len(xs) < 2 or not m:
        return None
    return (max(xs) - min(xs)) / m


def is_peer(alloc):
    """A peer is any allocator that is not hakmem (glibc included)."""
    return not alloc.startswith("hakmem")


def realprogs_summary(rows):
    """summary.csv lines from realprogs' raw.csv rows: per program, threads and allocator (in order
    of first appearance) the medians of the successful runs, the spread of CPU and wall time
    ((max - min) / median), the ratios to glibc and to the best peer (the lowest median among
    the allocators that are not hakmem, glibc included; its name in best_peer_*), and whether the
    output (checksum) of every run is that of glibc's runs ("same", "DIFFERS", "-")."""
    groups = group(rows, lambda r: (r["program"], r["threads"], r["allocator"]))
    metrics = ("cpu_s", "wall_s", "user_s", "sys_s", "maxrss_kb")
    med, sums = {}, {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        med[key] = {c: median(r[c] for r in ok) for c in metrics}
        sums[key] = set(r.get("out_sum", "") for r in ok)
    out = [",".join(REALPROGS_SUMMARY_COLUMNS)]
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        m = med[key]
        prog = key[:2]
        glibc = med.get(prog + ("glibc",), {})
        ref = sums.get(prog + ("glibc",)) or set()
        if not ok or not ref or ref == {""}:
            same = "-"
        else:
            same = "same" if sums[key] == ref and len(ref) == 1 else "DIFFERS"
        cells = list(key) + [len(ok), len(rs) - len(ok)]
        cells += [fmt_opt("%.4f", m[c]) for c in ("cpu_s", "wall_s", "user_s", "sys_s")]
        cells += [fmt_opt("%.0f", m["maxrss_kb"]),
                  fmt_opt("%.3f", spread(r["cpu_s"] for r in ok)),
                  fmt_opt("%.3f", spread(r["wall_s"] for r in ok))]
        cells += [ratio(m[c], glibc.get(c)) for c in ("cpu_s", "wall_s", "maxrss_kb")]
        for c in ("cpu_s", "wall_s", "maxrss_kb"):
            peers = [(v[c], k[2]) for k, v in med.items()
                     if k[:2] == prog and is_peer(k[2]) and v[c] is not None]
            best = min(peers) if peers else (None, "")
            cells += [best[1], ratio(m[c], best[0])]
        out.append(csv_line(cells + [same]))
    return out


def realprogs_table(rows):
    """Markdown from realprogs' summary.csv rows: a row per program and allocator with median CPU
    seconds, wall seconds and peak RSS, each with its ratios to glibc and to the best peer
    (lower is better throughout), the CPU spread between runs and the number of runs."""
    out = ["| program | thr | allocator | CPU s | vs glibc | vs best peer | wall s | vs glibc "
           "| vs best peer | peak RSS MiB | vs glibc | vs best peer | CPU spread | runs |",
           "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    last = None
    for r in rows:
        prog = r["program"] if r["program"] != last else ""
        last = r["program"]
        runs = runs_label(r) + (" (output DIFFERS)" if r.get("output") == "DIFFERS" else "")
        num = lambda c, f: f % float(r[c]) if r[c] else "-"
        out.append(md_row([
            prog, r["threads"] if prog else "", r["allocator"],
            num("cpu_s", "%.3f"), fmt_ratio(r["cpu_vs_glibc"]), fmt_ratio(r["cpu_vs_best_peer"]),
            num("wall_s", "%.3f"), fmt_ratio(r["wall_vs_glibc"]), fmt_ratio(r["wall_vs_best_peer"]),
            fmt_mib(r["maxrss_kb"]), fmt_ratio(r["maxrss_vs_glibc"]),
            fmt_ratio(r["maxrss_vs_best_peer"]),
            "%.0f%%" % (100 * float(r["cpu_spread"])) if r["cpu_spread"] else "-", runs]))
    return out


def realprogs_pivot(rows, metric):
    """Markdown from realprogs' summary.csv rows: a row per program, glibc's median metric (cpu_s,
    wall_s: seconds; maxrss_kb: MiB), a column per other allocator with the ratio of its median
    to glibc's, then the best peer's name."""
    col = {"cpu_s": "cpu_vs_glibc", "wall_s": "wall_vs_glibc", "maxrss_kb": "maxrss_vs_glibc"}[metric]
    best = {"cpu_s": "best_peer_cpu", "wall_s": "best_peer_wall",
            "maxrss_kb": "best_peer_maxrss"}[metric]
    fmt = fmt_mib if metric == "maxrss_kb" else (lambda v: "-" if v == "" else "%.3f" % float(v))
    allocs = [a for a in dict.fromkeys(r["allocator"] for r in rows) if a != "glibc"]
    cells, base, bestname = {}, {}, {}
    for r in rows:
        k = (r["program"], r["threads"])
        cells.setdefault(k, {})[r["allocator"]] = r[col]
        if r["allocator"] == "glibc":
            base[k] = r[metric]
        bestname[k] = r[best]
    unit = "MiB" if metric == "maxrss_kb" else "s"
    out = ["| program | thr | glibc %s |" % unit + "".join(" %s |" % a for a in allocs) +
           " best peer |",
           "|---|--:|--:|" + "--:|" * len(allocs) + "---|"]
    for k, by_alloc in cells.items():
        out.append("| %s | %s | %s |" % (k[0], k[1], fmt(base.get(k, ""))) +
                   "".join(" %s |" % (fmt_ratio(by_alloc.get(a, "")) or "-") for a in allocs) +
                   " %s |" % bestname.get(k, ""))
    return out


def cmd_measure(a):
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    if not argv:
        print("error: measure: no command", file=sys.stderr)
        return 2
    try:
        m = measure_child(argv, a.env, a.cwd, a.stdin, a.stdout, a.stderr, a.timeout)
    except OSError as e:
        print("error: measure: %s: %s" % (argv[0], e), file=sys.stderr)
        print("MEASURE rc=127 status=fail127")
        return 0
    print(measure_line(m))
    return 0


# ---- Small helpers for the scripts ----------------------------------------------------------------

def column(rows, name, how):
    """A column of a CSV: its distinct non-empty values (space separated, in order), its first
    non-empty value, or its largest value."""
    values = [r[name] for r in rows if r.get(name, "") != ""]
    if how == "distinct":
        return " ".join(dict.fromkeys(values))
    if how == "first":
        return values[0] if values else ""
    xs = numbers(values)
    return awk_num(max(xs)) if xs else "0"


def run_timeout(seconds):
    """Seconds to let a run of SECONDS take before timeout(1) kills it: start-up and warm-up are
    outside the measured time, and page faults on this VM are slow."""
    return int(seconds * 5 + 60)


def machine():
    """CPU model, logical CPUs, nproc, RAM, kernel and libc, for the reports."""
    model, cpus, mem = "unknown CPU", 0, 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("processor"):
                    cpus += 1
                elif line.startswith("model name") and model == "unknown CPU":
                    model = line.split(": ", 1)[1].strip()
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    libc = subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout
    libc = libc.splitlines()[0].replace("ldd ", "", 1) if libc else ""
    return "%s, %d logical CPUs (nproc %d), %d MiB RAM, Linux %s, %s" % (
        model, cpus, len(os.sched_getaffinity(0)), mem, platform.release(), libc)


# ---- Command line ---------------------------------------------------------------------------------

def emit(lines):
    """Prints lines to stdout."""
    for line in lines:
        print(line)


def cmd_raw_row(a):
    line, status, result = raw_row(sys.stdin.read(), a.rc, a.suite, a.config, a.threads, a.alloc, a.run)
    print(line)
    print(progress_line(a.progress, a.run, a.suite, a.config, a.threads, a.alloc, status, result,
                        a.errlog), file=sys.stderr)


def cmd_latency_row(a):
    lines, status, msg = latency_rows(sys.stdin.read(), a.rc, a.config, a.threads, a.alloc, a.run)
    emit(lines)
    if status == "ok":
        print("[%s] run %s %s t=%s %-16s %s" % (a.progress, a.run, a.config, a.threads, a.alloc, msg),
              file=sys.stderr)
    else:
        print("[%s] run %s %s t=%s %-16s %s (see %s)" % (a.progress, a.run, a.config, a.threads,
                                                         a.alloc, status, a.errlog), file=sys.stderr)


def cmd_timeout(a):
    try:
        seconds = float(a.seconds)
    except ValueError:
        seconds = 0
    if not seconds > 0:
        print("error: the duration must be a number > 0 (got '%s')" % a.seconds, file=sys.stderr)
        return 2
    print(run_timeout(seconds))
    return 0


def parser():
    """The subcommands (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, func, *args):
        s = sub.add_parser(name)
        for arg in args:
            s.add_argument(arg)
        s.set_defaults(func=func)
        return s

    for name, func, args in (("raw-row", cmd_raw_row, ("suite", "config", "threads", "alloc", "run")),
                             ("latency-row", cmd_latency_row, ("config", "threads", "alloc", "run"))):
        s = add(name, func, *args)
        s.add_argument("--rc", type=int, required=True, help="the program's exit status")
        s.add_argument("--progress", default="?", help="I/N, for the progress line")
        s.add_argument("--errlog", default="the stderr log")
    add("summarize", lambda a: emit(summarize(read_rows(a.raw))), "raw")
    add("table", lambda a: emit(details_table(read_rows(a.summary))), "summary")
    add("pivot", lambda a: emit(pivot_table(read_rows(a.summary), a.metric)), "summary", "metric")
    add("plot", lambda a: emit(throughput_plots(a.summary, a.out)), "summary", "out")
    add("icount-row", lambda a: print(icount_row(a.label, a.size, a.n, a.prefix)),
        "label", "size", "n", "prefix")
    add("icount-table", lambda a: emit(icount_table(read_rows(a.csv))), "csv")
    add("latency-summary", lambda a: emit(latency_summary(read_rows(a.raw))), "raw")
    add("latency-table", lambda a: emit(latency_table(read_rows(a.summary), a.op)), "summary", "op")
    s = add("latency-plot", lambda a: emit(latency_plots(a.out, a.allocs)), "out")
    s.add_argument("allocs", nargs="*")
    s = add("column", lambda a: print(column(read_rows(a.csv), a.name, a.how)), "csv", "name")
    s.add_argument("how", choices=("distinct", "first", "max"))
    add("timeout", cmd_timeout, "seconds")
    add("machine", lambda a: print(machine()))
    s = add("measure", cmd_measure)
    s.add_argument("--env", action="append", default=[], help="NAME=VALUE for the child")
    s.add_argument("--cwd")
    s.add_argument("--stdin")
    s.add_argument("--stdout")
    s.add_argument("--stderr", help="appended to")
    s.add_argument("--timeout", type=float, default=0)
    s.add_argument("argv", nargs=argparse.REMAINDER)
    add("realprogs-summary", lambda a: emit(realprogs_summary(read_rows(a.raw))), "raw")
    add("realprogs-table", lambda a: emit(realprogs_table(read_rows(a.summary))), "summary")
    add("realprogs-pivot", lambda a: emit(realprogs_pivot(read_rows(a.summary), a.metric)),
        "summary", "metric")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
