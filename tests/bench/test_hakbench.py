#!/usr/bin/env python3
"""Behaviour tests of bench/hakbench.py, the statistics and tables of the benchmark scripts.

Not timing tests: known inputs (raw.csv rows, program output, histograms, callgrind totals) must
give known medians, ratios, percentiles and markdown, so that a change to the tooling cannot
silently change what docs/benchmarks.md reports. Run: python3 tests/bench/test_hakbench.py
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import hakbench as hb  # noqa: E402

RAW_HEADER = ",".join(hb.RAW_COLUMNS)


def raw(suite, config, threads, alloc, run, ops, cpu_ops, rss, status="ok", unit="allocs"):
    """A raw.csv row as a dict (wall_s 1, cpu_s 0.5, minflt 10 * run)."""
    values = [suite, config, threads, alloc, run, status, unit, ops, "1.0", "0.5", ops, cpu_ops, rss,
              str(10 * int(run)), "99"]
    if status != "ok":
        values = values[:6] + [""] * 9
    return dict(zip(hb.RAW_COLUMNS, values))


class Statistics(unittest.TestCase):
    def test_median_odd_count_is_the_middle_value(self):
        self.assertEqual(hb.median(["3", "1", "2"]), 2)
        self.assertEqual(hb.median(["5"]), 5)

    def test_median_even_count_is_the_mean_of_the_middle_two(self):
        self.assertEqual(hb.median(["4", "1", "3", "2"]), 2.5)
        self.assertEqual(hb.median([10, 20]), 15)

    def test_median_sorts_numerically_not_as_text(self):
        self.assertEqual(hb.median(["9", "10", "100"]), 10)

    def test_median_skips_missing_values_and_is_none_without_any(self):
        self.assertEqual(hb.median(["", "7", ""]), 7)
        self.assertIsNone(hb.median([]))
        self.assertIsNone(hb.median(["", ""]))

    def test_worst_is_the_largest(self):
        self.assertEqual(hb.worst(["3", "12", "5"]), 12)
        self.assertIsNone(hb.worst([]))

    def test_ratio_three_decimals_empty_without_baseline(self):
        self.assertEqual(hb.ratio(3.0, 2.0), "1.500")
        self.assertEqual(hb.ratio(1.0, 3.0), "0.333")
        self.assertEqual(hb.ratio(1.0, None), "")
        self.assertEqual(hb.ratio(None, 1.0), "")
        self.assertEqual(hb.ratio(1.0, 0.0), "")

    def test_cdf_sums_runs_per_bucket_in_bucket_order(self):
        # Two runs of buckets 5 and 3 (given out of order); the later edge of a bucket wins.
        pts = hb.cdf_points([(5, "40.0", 1), (3, "20.0", 2), (5, "41.0", 1), (3, "20.5", 4)])
        self.assertEqual([p[0] for p in pts], ["20.5", "41.0"])
        self.assertAlmostEqual(pts[0][1], 0.75)     # 6 of 8 calls at or below bucket 3
        self.assertAlmostEqual(pts[0][2], 0.25)
        self.assertEqual(pts[1][1], 1.0)
        self.assertEqual(pts[1][2], 1e-9)           # the tail floored for the log scale

    def test_cdf_percentiles_of_a_known_histogram(self):
        # 100 calls: 90 in bucket 1, 9 in bucket 2, 1 in bucket 3: p90 at edge 1, p99 at edge 2.
        pts = hb.cdf_points([(1, "1", 90), (2, "2", 9), (3, "3", 1)])
        self.assertEqual([(e, round(c, 4)) for e, c, _ in pts], [("1", 0.9), ("2", 0.99), ("3", 1.0)])
        self.assertEqual(hb.cdf_points([(1, "1", 0)]), [])

    def test_run_timeout_allows_five_times_the_duration_plus_a_minute(self):
        self.assertEqual(hb.run_timeout(0.2), 61)
        self.assertEqual(hb.run_timeout(3), 75)
        self.assertEqual(hb.main(["timeout", "0"]), 2)
        self.assertEqual(hb.main(["timeout", "x"]), 2)


class Formatting(unittest.TestCase):
    def test_counts_in_k_and_m(self):
        self.assertEqual(hb.fmt_count("999"), "999")
        self.assertEqual(hb.fmt_count("1000"), "1.0k")
        self.assertEqual(hb.fmt_count("25267422"), "25.27M")
        self.assertEqual(hb.fmt_count(""), "-")

    def test_latencies_in_ns_us_ms(self):
        self.assertEqual(hb.fmt_ns("31.1"), "31")
        self.assertEqual(hb.fmt_ns("9999"), "9999")
        self.assertEqual(hb.fmt_ns("14200.0"), "14.2 us")
        self.assertEqual(hb.fmt_ns("1930000"), "1.93 ms")

    def test_awk_number_text(self):
        self.assertEqual(hb.awk_num(4.0), "4")
        self.assertEqual(hb.awk_num(25.267422), "25.2674")
        self.assertEqual(hb.awk_num(4492 / 1024), "4.38672")


class Throughput(unittest.TestCase):
    ROWS = [
        raw("workloads", "random", "1", "hakmem", "1", "300", "600", "2048"),
        raw("workloads", "random", "1", "glibc", "1", "100", "200", "1024"),
        raw("workloads", "random", "1", "hakmem", "2", "100", "200", "4096"),
        raw("workloads", "random", "1", "glibc", "2", "", "", "", status="timeout"),
        raw("workloads", "random", "1", "hakmem", "3", "200", "400", "3072"),
        raw("workloads", "random", "1", "glibc", "3", "300", "400", "2048"),
        raw("workloads", "churn", "2", "hakmem", "1", "5000000", "2500000", "1536", unit="threads"),
    ]

    def test_summary_medians_ratios_and_failed_runs(self):
        self.assertEqual(hb.summarize(self.ROWS), [
            ",".join(hb.SUMMARY_COLUMNS),
            # hakmem: medians of 300,100,200 -> 200; of RSS 2048,4096,3072 -> 3072; glibc: medians
            # of two runs (one timed out): (100 + 300) / 2 = 200, RSS 1536. No mimalloc: no ratio.
            "workloads,random,1,hakmem,3,0,allocs,200,400,3072,20,1.0000,0.5000,1.000,,1.333,,2.000,",
            "workloads,random,1,glibc,2,1,allocs,200,300,1536,20,1.0000,0.5000,1.000,,1.000,,1.000,",
            "workloads,churn,2,hakmem,1,0,threads,5000000,2500000,1536,10,1.0000,0.5000,,,,,,",
        ])

    def summary_rows(self):
        lines = hb.summarize(self.ROWS)
        return [dict(zip(hb.SUMMARY_COLUMNS, l.split(","))) for l in lines[1:]]

    def test_details_table_of_a_known_summary(self):
        self.assertEqual(hb.details_table(self.summary_rows()), [
            "#### workloads",
            "",
            "| config | thr | allocator | ops/s | vs glibc | vs mimalloc | ops/CPU-s | vs glibc | vs mimalloc "
            "| peak RSS MiB | vs glibc | vs mimalloc | minor faults | runs |",
            "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            "| random | 1 | hakmem | 200 | 1.00x |  | 400 | 1.33x |  | 3.0 | 2.00x |  | 20 | 3 |",
            "| random | 1 | glibc | 200 | 1.00x |  | 300 | 1.00x |  | 1.5 | 1.00x |  | 20 | 2 (1 failed) |",
            "| churn (threads) | 2 | hakmem | 5.00M |  |  | 2.50M |  |  | 1.5 |  |  | 10 | 1 |",
        ])

    def test_pivot_one_column_per_allocator_missing_cells_dashed(self):
        rows = self.summary_rows()
        self.assertEqual(hb.pivot_table(rows, "maxrss_kb"), [
            "| suite | workload | thr | hakmem | glibc |",
            "|---|---|--:|--:|--:|",
            "| workloads | random | 1 | 3.0 | 1.5 |",
            "| workloads | churn (threads) | 2 | 1.5 | - |",
        ])
        self.assertEqual(hb.pivot_table(rows, "ops_per_cpu_s")[3],
                         "| workloads | churn (threads) | 2 | 2.50M | - |")

    def test_raw_row_from_program_output(self):
        out = "Throughput = 5\nRESULT bench=x threads=2 unit=allocs ops=10 wall_s=0.5 cpu_s=0.25 " \
              "ops_per_s=20 ops_per_cpu_s=40 maxrss_kb=2048 minflt=3 cpu_all_s=0.3 minflt_all=7 k=1\n"
        line, status, result = hb.raw_row(out, 0, "larson", "tiny-r1", "2", "glibc", "1")
        self.assertEqual(status, "ok")
        self.assertEqual(line, "larson,tiny-r1,2,glibc,1,ok,allocs,10,0.5,0.25,20,40,2048,3,7")
        self.assertIn("0.000 M allocs/s", hb.progress_line("1/2", "1", "larson", "tiny-r1", "2",
                                                           "glibc", status, result, "log"))

    def test_raw_row_of_failed_runs(self):
        self.assertEqual(hb.raw_row("", 124, "s", "c", "1", "a", "2")[0], "s,c,1,a,2,timeout,,,,,,,,,")
        self.assertEqual(hb.raw_row("", 137, "s", "c", "1", "a", "2")[1], "timeout")
        self.assertEqual(hb.raw_row("no result line", 0, "s", "c", "1", "a", "2")[1], "fail0")
        self.assertEqual(hb.raw_row("RESULT ops=1", 134, "s", "c", "1", "a", "2")[1], "fail134")

    def test_plot_data_threads_sorted_missing_points_marked(self):
        rows = [dict(zip(hb.SUMMARY_COLUMNS, l.split(","))) for l in [
            "w,r,2,a,1,0,allocs,3000000,1,2048,,,,,,,,,",
            "w,r,1,a,1,0,allocs,1500000,1,1024,,,,,,,,,",
            "w,r,1,b,1,0,allocs,1000000,1,512,,,,,,,,,",
            "w,f,1,a,1,0,pairs,7000000,1,100,,,,,,,,,"]]
        with tempfile.TemporaryDirectory() as d:
            allocs, listed = hb.write_throughput_data(rows, d)
            self.assertEqual(allocs, ["a", "b"])
            self.assertEqual(listed, [("w-r", "allocs")])   # w-f has one thread count: no curve
            with open(os.path.join(d, "throughput-w-r.dat")) as f:
                self.assertEqual(f.read(), "threads a b\n1 1.5 1\n2 3 ?\n")
            with open(os.path.join(d, "peak-rss.dat")) as f:
                self.assertEqual(f.read(), "config a b\nw-r/t2 2 ?\nw-f/t1 0.0976562 ?\n")


class Icount(unittest.TestCase):
    def test_difference_of_the_two_runs_per_pair(self):
        with tempfile.TemporaryDirectory() as d:
            prefix = os.path.join(d, "hakmem.64")
            # Run 1 (N pairs), run 2 (2N): main thread 1000 both times, loop thread 5000 -> 9000.
            for m, totals in ((1, (1000, 5000)), (2, (1000, 9000))):
                for tid, total in enumerate(totals, 1):
                    with open("%s.%d.4242-%02d" % (prefix, m, tid), "w") as f:
                        f.write("events: Ir\nsummary: %d\ntotals: %d\n" % (total, total))
            self.assertEqual(hb.icount_row("hakmem", "64", "100", prefix), "hakmem,64,100,40.0,40.0")
        rows = [{"allocator": "a", "size": "64", "n": "1", "instr_per_pair": "",
                 "instr_per_pair_app_thread": ""}]
        self.assertEqual(hb.icount_table(rows)[2], "| a | 64 | failed | - |")


class Latency(unittest.TestCase):
    @staticmethod
    def output(p99, maxv):
        return ("# machine\n"
                "LAT,growheap,1,2000,malloc,100,50.0,31.1,%s,300.0,900.0,%s\n"
                "LAT,growheap,1,2000,free,100,40.0,30.0,60.0,70.0,80.0,500.0\n"
                "RESULT bench=latency ops_per_s=1000 ops_per_cpu_s=2000 maxrss_kb=4096 nivcsw=3 "
                "tsc_ghz=2.4 timer_ns=20.0\n") % (p99, maxv)

    def raw_rows(self):
        lines = []
        for run, (p99, maxv) in enumerate((("62.0", "1000.0"), ("50.0", "9000.0"), ("70.0", "2000.0")), 1):
            lines += hb.latency_rows(self.output(p99, maxv), 0, "growheap", "1", "hakmem", str(run))[0]
        lines += hb.latency_rows("", 124, "growheap", "1", "hakmem", "4")[0]
        return [dict(zip(hb.LATENCY_RAW_COLUMNS, l.split(","))) for l in lines]

    def test_rows_per_op_with_the_run_figures(self):
        lines, status, msg = hb.latency_rows(self.output("62.0", "1000.0"), 0, "growheap", "1", "g", "1")
        self.assertEqual(status, "ok")
        self.assertEqual(lines[0], "growheap,growheap,1,2000,g,1,ok,malloc,100,50.0,31.1,62.0,300.0,"
                                   "900.0,1000.0,1000,2000,4096,3,2.4,20.0")
        self.assertEqual(msg, "malloc p50 31.1 p99 62.0 p99.99 900.0 max 1000.0 ns; 1000 req/s")
        self.assertEqual(hb.latency_rows("RESULT ops_per_s=1", 0, "c", "1", "g", "1")[1], "nolat")

    def test_summary_median_of_percentiles_and_worst_max(self):
        lines = hb.latency_summary(self.raw_rows())
        self.assertEqual(lines[0], ",".join(hb.LATENCY_SUMMARY_COLUMNS))
        malloc = dict(zip(hb.LATENCY_SUMMARY_COLUMNS, lines[1].split(",")))
        self.assertEqual((malloc["op"], malloc["runs_ok"], malloc["runs_failed"]), ("malloc", "3", "1"))
        self.assertEqual(malloc["p99_ns"], "62.0")          # median of 62, 50, 70
        self.assertEqual(malloc["max_ns_median"], "2000.0")
        self.assertEqual(malloc["max_ns_worst"], "9000.0")
        self.assertEqual(len(lines), 3)                     # malloc and free

    def test_table_rows_for_one_op(self):
        rows = [dict(zip(hb.LATENCY_SUMMARY_COLUMNS, l.split(",")))
                for l in hb.latency_summary(self.raw_rows())[1:]]
        self.assertEqual(hb.latency_table(rows, "malloc"), [
            "| growheap | 1 | hakmem | 50 | 31 | 62 | 300 | 900 | 2000 | 9000 | 3.0 | 2k | 3 (1 failed) |"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
