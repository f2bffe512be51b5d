#!/usr/bin/env python3
"""Judges a perf report (perf/run.py) against a baseline.

The gate is the instruction count per packet (callgrind): stable across runs
and machines' load. A figure that grew by more than the threshold (default
10%) is a regression: it is named and the exit status is 1. Wall-clock
figures are shown beside it for information only: on shared machines they
move by more than 10% on their own.

usage: perf/compare.py BASELINE REPORT [--threshold 0.10]
"""

import argparse
import json
import sys


def gate(baseline, report, threshold):
    regressions, lines = [], []
    for name, base in sorted(baseline.get("gate", {}).items()):
        new = report.get("gate", {}).get(name)
        if new is None:
            regressions.append("gate.%s: missing from the report" % name)
            continue
        b, n = base["instructions_per_packet"], new["instructions_per_packet"]
        change = (n - b) / b
        verdict = "REGRESSION" if change > threshold else "ok"
        lines.append("  gate.%-24s %10.1f -> %10.1f instructions/packet  %+6.1f%%  %s" %
                     (name, b, n, 100 * change, verdict))
        if change > threshold:
            regressions.append("gate.%s: %.1f -> %.1f instructions/packet (%+.1f%%, threshold %.0f%%)" %
                               (name, b, n, 100 * change, 100 * threshold))
    return regressions, lines


def info(baseline, report):
    lines = []
    for name, base in sorted(baseline.get("workloads", {}).items()):
        new = report.get("workloads", {}).get(name)
        if not new:
            continue
        b = base["bench"]["ns_per_packet"]["median"]
        n = new["bench"]["ns_per_packet"]["median"]
        lines.append("  %-30s %8.1f -> %8.1f ns/packet  %+6.1f%%  (wall clock: information only)" %
                     (name, b, n, 100 * (n - b) / b))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("baseline")
    ap.add_argument("report")
    ap.add_argument("--threshold", type=float, default=0.10)
    a = ap.parse_args()
    with open(a.baseline) as f:
        baseline = json.load(f)
    with open(a.report) as f:
        report = json.load(f)
    regressions, lines = gate(baseline, report, a.threshold)
    print("compared with %s (%s):" % (a.baseline, baseline.get("date", "?")))
    for line in lines + info(baseline, report):
        print(line)
    if regressions:
        print("\n%d regression(s):" % len(regressions))
        for r in regressions:
            print("  " + r)
        sys.exit(1)
    print("no regression past %.0f%%" % (100 * a.threshold))


if __name__ == "__main__":
    main()
