#!/usr/bin/env python3
"""Does scraping /metrics slow the workers? Paired offline replays of the
same capture with and without N parallel scrapers hitting the Prometheus
endpoint as fast as it answers, alternating the order of each pair (ABBA)
so that drift on a shared machine falls on both sides. Reports packets per
second of replay and the worker thread's CPU time per packet, per pair and
as medians with min/max.

usage: python3 perf/scrape_bench.py BUILD_DIR [--pairs 5] [--seconds 60] [--scrapers 10]
       [--interval S]   (each scraper waits S seconds between scrapes; 0: flat out)
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def worker_cpu(pid):
    """CPU seconds of the process's DPDK worker threads (rte-worker-N)."""
    total = 0.0
    for stat in glob.glob("/proc/%d/task/*/stat" % pid):
        try:
            with open(stat) as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        if not name.startswith("rte-worker"):
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def scrape_loop(url, stop, counts, i, interval):
    while not stop.is_set():
        t = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            counts[i] += 1
        except OSError:
            time.sleep(0.01)
        if interval:
            stop.wait(max(0.0, interval - (time.monotonic() - t)))


def replay(build, inputs, scrapers, port, interval=0.0):
    cmd = [os.path.join(build, "app", "loupe"), "-c", os.path.join(ROOT, "config", "loupe.yaml"),
           "-r", inputs, "--set", "output.flows=", "--set", "alerts.file=",
           "--set", "metrics.offline=true", "--set", "metrics.port=%d" % port,
           "--set", "control.enabled=false"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    url = "http://127.0.0.1:%d/metrics" % port
    stop = threading.Event()
    counts = [0] * scrapers
    threads = []
    err_lines = []
    # Scrapers start once the endpoint is up (its line on stderr).
    for line in p.stderr:
        err_lines.append(line)
        if "loupe: metrics:" in line:
            break
    t0 = time.monotonic()
    for i in range(scrapers):
        t = threading.Thread(target=scrape_loop, args=(url, stop, counts, i, interval), daemon=True)
        t.start()
        threads.append(t)
    cpu = 0.0
    reader = threading.Thread(target=lambda: err_lines.extend(p.stderr), daemon=True)
    reader.start()
    while p.poll() is None:
        cpu = max(cpu, worker_cpu(p.pid))
        time.sleep(0.2)
    wall = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join()
    reader.join()
    err = "".join(err_lines)
    if p.returncode != 0:
        raise SystemExit("loupe failed:\n" + err)
    m = re.search(r"total: received (\d+)", err)
    return {"packets": int(m.group(1)), "wall": wall, "worker_cpu": cpu, "scrapes": sum(counts)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--scrapers", type=int, default=10)
    ap.add_argument("--port", type=int, default=19620)
    ap.add_argument("--interval", type=float, default=0.0,
                    help="seconds between one scraper's scrapes (0: as fast as answered)")
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="loupe-scrape-")
    one = os.path.join(tmp, "mix.pcap")
    subprocess.run([os.path.join(a.build, "perf", "loupe-gen"), "-o", one, "--flows", "20000",
                    "--concurrency", "2000"], check=True, capture_output=True)
    # Sized so one replay lasts about --seconds: the same capture read N times
    # from a directory (time going back between files restarts the clock).
    d = os.path.join(tmp, "in")
    os.makedirs(d)
    os.symlink(one, os.path.join(d, "000.pcap"))
    probe = replay(a.build, d, 0, a.port)
    copies = max(1, round(a.seconds / max(probe["wall"], 0.1)))
    for k in range(1, copies):
        os.symlink(one, os.path.join(d, "%03d.pcap" % k))
    pairs = []
    for i in range(a.pairs):
        order = (0, a.scrapers) if i % 2 == 0 else (a.scrapers, 0)
        r = {}
        for n in order:
            r[n] = replay(a.build, d, n, a.port, a.interval)
        base, load = r[0], r[a.scrapers]
        pairs.append({
            "pps_without": base["packets"] / base["wall"],
            "pps_with": load["packets"] / load["wall"],
            "cpu_ns_per_pkt_without": 1e9 * base["worker_cpu"] / base["packets"],
            "cpu_ns_per_pkt_with": 1e9 * load["worker_cpu"] / load["packets"],
            "scrapes": load["scrapes"], "seconds": load["wall"]})
        print(json.dumps(pairs[-1]), flush=True)

    def summary(key):
        v = [p[key] for p in pairs]
        return "%.4g [%.4g-%.4g]" % (statistics.median(v), min(v), max(v))
    for p in pairs:
        p["pps_ratio"] = p["pps_with"] / p["pps_without"]
        p["cpu_ratio"] = p["cpu_ns_per_pkt_with"] / p["cpu_ns_per_pkt_without"]
    print("packets per second of replay, without scrapers: %s" % summary("pps_without"))
    print("packets per second of replay, with %d scrapers: %s" % (a.scrapers, summary("pps_with")))
    print("ratio with/without, per pair: %s" % summary("pps_ratio"))
    print("worker CPU ns per packet without: %s, with: %s; ratio %s" % (
        summary("cpu_ns_per_pkt_without"), summary("cpu_ns_per_pkt_with"), summary("cpu_ratio")))
    print("scrapes per replay: %s over %s s" % (summary("scrapes"), summary("seconds")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(pairs, f, indent=1)


if __name__ == "__main__":
    main()
