"""Smoke run of the perf tooling (the figures come from `make perf`):
`loupe bench` replays a few thousand packets and its JSON report has every
field with a sane value; perf/compare.py passes an unchanged report, and
fails, naming the figure, on one whose instruction count grew past 10%."""

import copy
import json
import os
import subprocess

from loupe_test import Env, fail, run

SCHEMA = {
    "tool": str, "version": str, "input": str, "packets": int, "loops": int, "rewrite": bool,
    "packets_total": int, "wire_bytes_total": int, "seconds": float, "pps": (int, float),
    "gbps": float, "ns_per_packet": float, "cycles_per_packet": float, "tsc_hz": (int, float),
    "stages": dict, "processed": int, "malformed": int, "flows_created": int,
    "flows_active": int, "flow_capacity": int, "flow_table_mb": float, "peak_rss_mb": float,
    "load_ms": float,
}


def main():
    env = Env()
    pcap = env.generate("smoke.pcap", "--flows", "300", "--seed", "8")
    out = run([env.loupe, "-c", env.config, "bench", "-r", pcap, "--loops", "3", "--rewrite",
               "--json", "-"])
    r = json.loads(out.strip().splitlines()[-1])
    for key, kind in SCHEMA.items():
        if key not in r:
            fail("bench report lacks %r: %s" % (key, r))
        if not isinstance(r[key], kind):
            fail("bench report %r is %r, expected %s" % (key, r[key], kind))
    for key in ("decode", "flow", "timers", "classify", "scripts"):
        if key not in r["stages"]:
            fail("bench report lacks stage %r" % key)
    if r["packets_total"] != 3 * r["packets"] or r["processed"] != r["packets_total"]:
        fail("bench did not replay every packet 3 times: %s" % r)
    if not (r["pps"] > 0 and r["seconds"] > 0 and r["cycles_per_packet"] > 0):
        fail("bench figures are not positive: %s" % r)
    # --rewrite makes every loop's flows new: 3 loops, 3 times the flows.
    if r["flows_created"] != 900:
        fail("--rewrite: expected 900 flows over 3 loops, got %d" % r["flows_created"])
    print("bench: %d packets x 3, %.0f pps, %.1f cycles/packet" %
          (r["packets"], r["pps"], r["cycles_per_packet"]))

    baseline = {"date": "test", "gate": {"replay": {"instructions_per_packet": 500.0, "packets": 1}},
                "workloads": {}}
    same = copy.deepcopy(baseline)
    worse = copy.deepcopy(baseline)
    worse["gate"]["replay"]["instructions_per_packet"] = 560.0
    compare = os.path.join(env.source, "perf", "compare.py")
    paths = {}
    for name, data in (("baseline", baseline), ("same", same), ("worse", worse)):
        paths[name] = os.path.join(env.tmp, name + ".json")
        with open(paths[name], "w") as f:
            json.dump(data, f)
    ok = subprocess.run(["python3", compare, paths["baseline"], paths["same"]],
                        capture_output=True, text=True)
    if ok.returncode != 0:
        fail("compare failed an unchanged report:\n" + ok.stdout)
    bad = subprocess.run(["python3", compare, paths["baseline"], paths["worse"]],
                         capture_output=True, text=True)
    if bad.returncode == 0 or "gate.replay" not in bad.stdout or "+12.0%" not in bad.stdout:
        fail("compare must fail a 12%% instruction regression and name it:\n" + bad.stdout)
    print("compare: passes an unchanged report, fails and names a +12% regression")
    # The committed baseline is a report compare can read.
    with open(os.path.join(env.source, "perf", "baseline.json")) as f:
        base = json.load(f)
    if not base.get("gate"):
        fail("perf/baseline.json has no gate figures")
    print("PASS")


main()
