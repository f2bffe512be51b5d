#!/usr/bin/env python3
"""The perf regression run behind `make perf`.

Generates the workloads with loupe-gen (and merges the nDPI corpus when it
is beside the project), then, in one session, side by side:
  - `loupe bench` (in-memory replay, one core): packets/s, ns and cycles per
    packet, per stage; median, min and max of --runs runs;
  - `loupe -r` end to end, and Debian's ndpiReader (and Suricata when it is
    installed) on the same pcap: packets per CPU-second, and ratios;
  - the micro-benchmarks (perf/bench/pipeline_bench);
  - the regression gate's figure: instructions per packet inside the worker
    pipeline, counted by valgrind --tool=callgrind on a fixed input, with a
    build for x86-64-v3 (valgrind cannot run AVX-512).
Writes a JSON report and prints a table. perf/compare.py judges it against
perf/baseline.json.

usage: perf/run.py BUILD CALLGRIND_BUILD [--out FILE] [--runs N] [--quick]
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(SRC, "config", "loupe.yaml")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit("perf: command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
    return p


def cpu_seconds(cmd):
    """Runs cmd; returns (user+sys CPU seconds of the child, wall seconds, process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = run(cmd)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def packets_in(pcap):
    out = run(["capinfos", "-c", "-M", "-T", "-r", pcap]).stdout.strip().splitlines()[-1]
    return int(out.split("\t")[-1])


def workloads(build, work, quick):
    gen = os.path.join(build, "perf", "loupe-gen")
    scale = 10 if quick else 1
    w = {}

    def make(name, args, bench_args, capacity, desc, e2e_args=None):
        path = os.path.join(work, name + ".pcap")
        if not os.path.exists(path):
            run([gen, "-o", path] + args)
        w[name] = {"pcap": path, "bench": bench_args, "capacity": capacity, "desc": desc,
                   "e2e_pcap": path}
        if e2e_args:
            # The in-memory replay reaches the flow count by rewriting a
            # smaller capture; the end-to-end runs read the whole thing.
            e2e = os.path.join(work, name + ".e2e.pcap")
            if not os.path.exists(e2e):
                run([gen, "-o", e2e] + e2e_args)
            w[name]["e2e_pcap"] = e2e

    make("a_64b_1M_flows",
         ["--flows", str(1000000 // scale), "--established", "--fixed-frame-size", "60",
          "--mix", "tcp=1,udp=1", "--packets-per-flow", "2", "--concurrency", str(1000000 // scale),
          "--seed", "1"],
         ["--loops", "5"], 1 << 20, "64-byte frames (60 + FCS) over 1M established flows")
    make("b_mix_200k_flows",
         ["--flows", str(20000 // scale), "--ipv6", "20", "--vlan", "10", "--concurrency", "2000",
          "--seed", "2"],
         ["--loops", "10", "--rewrite"], 1 << 18,
         "HTTP/TLS/DNS/QUIC/unknown mix, 20% IPv6, 10% VLAN; 200k flows (replay: 20k x 10 loops rewritten)",
         ["--flows", str(200000 // scale), "--ipv6", "20", "--vlan", "10", "--concurrency", "2000",
          "--seed", "2"])
    make("c_short_flows",
         ["--flows", str(100000 // scale), "--packets-per-flow", "2-3", "--concurrency", "5000",
          "--seed", "3"],
         ["--loops", "5", "--rewrite"], 1 << 18, "short flows (2-3 packets): new-flow heavy")
    corpus = os.path.normpath(os.path.join(SRC, "..", "shared", "pcaps", "ndpi"))
    if os.path.isdir(corpus):
        merged = os.path.join(work, "d_ndpi_corpus.pcap")
        if not os.path.exists(merged):
            files = []
            for f in sorted(os.listdir(corpus)):
                p = os.path.join(corpus, f)
                if not re.search(r"\.(pcap|pcapng|cap)$", f):
                    continue
                info = subprocess.run(["capinfos", "-E", "-T", "-r", p], capture_output=True, text=True)
                if info.returncode == 0 and info.stdout.strip().endswith("ether"):
                    files.append(p)
            run(["mergecap", "-F", "pcap", "-w", merged] + files)
        w["d_ndpi_corpus"] = {"pcap": merged, "e2e_pcap": merged, "bench": ["--loops", "10"], "capacity": 1 << 18,
                              "desc": "every Ethernet capture of the nDPI corpus, merged"}
    else:
        print("perf: %s absent: workload (d) skipped" % corpus, file=sys.stderr)
    return w


def loupe_bench(build, wl, runs):
    results = []
    for _ in range(runs):
        out = run([os.path.join(build, "app", "loupe"), "-c", CONFIG,
                   "--set", "flow.capacity=%d" % wl["capacity"], "bench", "-r", wl["pcap"],
                   "--json", "-"] + wl["bench"]).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    last = results[-1]
    return {
        "pps": spread([r["pps"] for r in results]),
        "ns_per_packet": spread([r["ns_per_packet"] for r in results]),
        "cycles_per_packet": spread([r["cycles_per_packet"] for r in results]),
        "stages_cycles_per_packet": {k: statistics.median([r["stages"][k] for r in results])
                                     for k in ("decode", "flow", "classify", "timers")
                                     if last["stages"].get(k) is not None},
        "packets_total": last["packets_total"], "flows_created": last["flows_created"],
        "l7_memory": last.get("l7"),
        "peak_rss_mb": last["peak_rss_mb"], "flow_table_mb": last["flow_table_mb"],
    }


def suricata_config(folder):
    """Debian's suricata.yaml with app-layer detection as shipped, no rules
    (-S /dev/null), and one output: EVE flow records, like loupe's."""
    import yaml
    with open("/etc/suricata/suricata.yaml") as f:
        conf = yaml.safe_load(f)
    eve = next(o for o in conf["outputs"] if "eve-log" in o)
    eve["eve-log"]["types"] = ["flow"]
    eve["eve-log"]["enabled"] = True
    conf["outputs"] = [eve]
    path = os.path.join(folder, "suricata.yaml")
    with open(path, "w") as f:
        f.write("%YAML 1.1\n---\n" + yaml.safe_dump(conf, default_flow_style=False))
    return path


def side_by_side(build, wl, runs):
    """loupe -r, ndpiReader and Suricata on the same pcap, alternating.

    Per tool: packets per CPU-second of the whole run, and the CPU the same
    command takes on the capture's first packet alone (its fixed cost:
    start-up and teardown; for loupe, DPDK's set-up and zeroing the
    preallocated flow table). Subtracting the two was tried and is too noisy
    on these machines to report; the in-memory replay (loupe bench) is
    loupe's steady-state figure."""
    pcap = wl["e2e_pcap"]
    n = packets_in(pcap)
    one = pcap + ".first-packet.pcap"
    if not os.path.exists(one):
        run(["editcap", "-r", pcap, one, "1"])
    loupe_cmd = [os.path.join(build, "app", "loupe"), "-c", CONFIG, "-r", pcap,
                 "--set", "output.flows=", "--set", "flow.capacity=%d" % wl["capacity"]]
    peers = {"ndpiReader": ["ndpiReader", "-i", pcap, "-q"]}
    if shutil.which("suricata"):
        tmp = tempfile.mkdtemp(prefix="loupe-suri-")
        peers["suricata"] = ["suricata", "-c", suricata_config(tmp), "-r", pcap, "-l", tmp,
                             "-k", "none", "-S", "/dev/null"]
    tools = dict(peers, loupe=loupe_cmd)
    whole = {t: [] for t in tools}
    fixed = {t: [] for t in tools}
    first_packet_ms = []
    for _ in range(runs):
        for tool, cmd in tools.items():
            cpu, _, p = cpu_seconds(cmd)
            whole[tool].append(cpu)
            if tool == "loupe":
                m = re.search(r"first packet at (\d+) ms", p.stderr)
                if m:
                    first_packet_ms.append(int(m.group(1)))
            cpu1, _, _ = cpu_seconds([one if a == pcap else a for a in cmd])
            fixed[tool].append(cpu1)
    out = {"packets": n, "pkts_per_cpu_second": {}, "fixed_cpu_seconds": {}}
    for tool in tools:
        out["pkts_per_cpu_second"][tool] = spread([n / c for c in whole[tool]])
        out["fixed_cpu_seconds"][tool] = spread(fixed[tool])
    if first_packet_ms:
        out["first_packet_ms"] = spread(first_packet_ms)
    out["ratios"] = {"loupe/" + peer: out["pkts_per_cpu_second"]["loupe"]["median"] /
                     out["pkts_per_cpu_second"][peer]["median"] for peer in peers}
    return out


def micro(build, runs):
    out = run([os.path.join(build, "perf", "pipeline_bench"),
               "--benchmark_repetitions=%d" % max(2, runs), "--benchmark_report_aggregates_only=true",
               "--benchmark_format=json"]).stdout
    data = json.loads(out)
    res = {}
    for b in data["benchmarks"]:
        name, agg = b["run_name"], b.get("aggregate_name")
        # The fewest items per second is the most time per packet.
        flip = {"median": "median", "min": "max", "max": "min"}
        if agg in flip:
            res.setdefault(name, {})[flip[agg]] = 1e9 / b["items_per_second"]
    return {k: dict(v, unit="ns/packet") for k, v in res.items()}


def instructions(cg_build, work, build):
    """Instructions per packet inside Worker::process_burst on a fixed input."""
    pcap = os.path.join(work, "gate.pcap")
    if not os.path.exists(pcap):
        run([os.path.join(build, "perf", "loupe-gen"), "-o", pcap, "--flows", "2000",
             "--seed", "99", "--ipv6", "20", "--vlan", "10"])
    res = {}
    for name, args in (("replay", ["--loops", "3"]), ("replay_new_flows", ["--loops", "3", "--rewrite"])):
        out = os.path.join(work, "callgrind.%s.out" % name)
        rep = os.path.join(work, "callgrind.%s.json" % name)
        p = run(["valgrind", "--tool=callgrind", "--toggle-collect=*process_burst*",
                 "--callgrind-out-file=" + out, os.path.join(cg_build, "app", "loupe"),
                 "-c", CONFIG, "bench", "-r", pcap, "--json", rep] + args)
        total = int(re.search(r"I\s+refs:\s+([\d,]+)", p.stderr).group(1).replace(",", ""))
        with open(rep) as f:
            pkts = json.load(f)["packets_total"]
        res[name] = {"instructions_per_packet": total / pkts, "packets": pkts}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("cg_build")
    ap.add_argument("--out", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small workloads, for the smoke test")
    a = ap.parse_args()
    work = os.path.join(a.build, "perf-work" + ("-quick" if a.quick else ""))
    os.makedirs(work, exist_ok=True)
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "kernel": platform.release()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": a.runs, "quick": a.quick, "workloads": {},
    }
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            if m:
                report["machine"]["cpu"] = m.group(1)
    except OSError:
        pass
    for name, wl in workloads(a.build, work, a.quick).items():
        print("perf: %s ..." % name, file=sys.stderr)
        report["workloads"][name] = {"desc": wl["desc"], "bench": loupe_bench(a.build, wl, a.runs),
                                     "side_by_side": side_by_side(a.build, wl, a.runs)}
    print("perf: micro-benchmarks ...", file=sys.stderr)
    report["micro"] = micro(a.build, a.runs)
    print("perf: instruction counts (callgrind) ...", file=sys.stderr)
    report["gate"] = instructions(a.cg_build, work, a.build)
    text = json.dumps(report, indent=1, sort_keys=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print_table(report)


def print_table(r):
    print("loupe perf run, %s, %s (%d CPUs); medians of %d runs [min-max]" %
          (r["date"], r["machine"]["cpu"], r["machine"]["cpus"], r["runs"]))
    print("\nin-memory replay, one worker core (loupe bench):")
    print("  %-20s %12s %22s %9s   cycles/packet: decode flow classify timers" % ("workload", "Mpps", "ns/packet", "cyc/pkt"))
    for name, w in r["workloads"].items():
        b = w["bench"]
        s = b["stages_cycles_per_packet"]
        print("  %-20s %12.2f %8.1f [%5.1f-%5.1f] %9.1f   %6.1f %6.1f %6.1f %6.1f" % (
            name, b["pps"]["median"] / 1e6, b["ns_per_packet"]["median"], b["ns_per_packet"]["min"],
            b["ns_per_packet"]["max"], b["cycles_per_packet"]["median"], s["decode"], s["flow"],
            s.get("classify", 0.0), s["timers"]))
    print("\nend to end, thousand packets per CPU-second of the whole run, same pcap, same session")
    print("(in brackets: CPU seconds the same command takes on the first packet alone):")
    for name, w in r["workloads"].items():
        sb = w["side_by_side"]
        cells = ["%s %.0f (%.2f s)" % (k, v["median"] / 1e3, sb["fixed_cpu_seconds"][k]["median"])
                 for k, v in sb["pkts_per_cpu_second"].items()]
        ratios = ["%s %.2f" % (k, v) for k, v in sb["ratios"].items()]
        fp = sb.get("first_packet_ms", {}).get("median")
        print("  %-18s %d packets: %s" % (name, sb["packets"], "; ".join(cells)))
        print("  %-18s ratios %s; loupe's first packet at %s ms" % ("", ", ".join(ratios), fp))
    print("\nmicro-benchmarks (ns/packet):")
    for name, m in r["micro"].items():
        print("  %-32s %8.2f [%.2f-%.2f]" % (name, m["median"], m["min"], m["max"]))
    print("\nregression gate, instructions/packet in the worker pipeline (callgrind):")
    for name, g in r["gate"].items():
        print("  %-20s %10.1f  (%d packets)" % (name, g["instructions_per_packet"], g["packets"]))


if __name__ == "__main__":
    main()
