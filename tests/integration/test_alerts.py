"""Lua flow checks end to end, through the real pipeline: scripts loaded
from a drop-in directory run on the workers, their alerts travel through
the alert rings and reach the JSON lines file exactly once each, with the
flow's identity. A broken script rejects the set: `-T` and an offline run
exit non-zero with `file:line: message`. The shipped checks fire on the
nDPI corpus's tunnelling and clear-text captures when it is beside the
project."""

import json
import os
import re
import subprocess

from loupe_test import Env, fail

EVERY_DNS = """-- One alert per DNS flow, naming its query.
local check = { l7_proto = "DNS", hooks = {} }
function check.hooks.protocolDetected()
  local q = flow.dns().last_query or "?"
  flow.triggerAlert(30, "dns " .. q, { query = q, port = flow.srv_port() })
end
return check
"""

TICK = """-- An alert at every periodicUpdate, every 5 seconds of flow age.
local check = { periodic_update_seconds = 5, hooks = {} }
function check.hooks.periodicUpdate()
  flow.triggerAlert(1, "tick")
end
return check
"""

BROKEN = """local check = { hooks = {} }
function check.hooks.flowEnd()
  return 1 +
end
return check
"""


def scripts_dir(env, name, files):
    d = os.path.join(env.tmp, name)
    os.makedirs(os.path.join(d, "flow"), exist_ok=True)
    for fname, text in files.items():
        with open(os.path.join(d, "flow", fname), "w") as f:
            f.write(text)
    return d


def run(env, pcap, scripts, workers=1, extra=()):
    flows = os.path.join(env.tmp, "flows.json")
    alerts = os.path.join(env.tmp, "alerts.json")
    for f in (flows, alerts):
        if os.path.exists(f):
            os.unlink(f)
    cmd = [env.loupe, "-c", env.config, "-r", pcap, "--set", "output.flows=" + flows,
           "--set", "alerts.file=" + alerts, "--set", "lua.scripts_dir=" + scripts,
           "--set", "workers.count=%d" % workers,
           # Every alert is counted here: no rate limit (the pipeline's own
           # tests cover the limits).
           "--set", "alerts.max_per_script_per_second=0", "--set", "alerts.max_per_minute=0"
           ] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True)
    recs, alts = [], []
    if os.path.exists(flows):
        recs = [json.loads(l) for l in open(flows)]
    if os.path.exists(alerts):
        alts = [json.loads(l) for l in open(alerts)]
    return p, recs, alts


def main():
    env = Env()
    pcap = env.generate("alerts.pcap", "--flows", "1500", "--seed", "41", "--ipv6", "20",
                        "--mix", "http=2,tls=2,dns=3,udp=1")

    # Exactly one alert per DNS flow, with the flow's identity, on 1 and 2 workers.
    d = scripts_dir(env, "every", {"every_dns.lua": EVERY_DNS})
    for workers in (1, 2):
        p, recs, alts = run(env, pcap, d, workers)
        if p.returncode != 0:
            fail("loupe failed (%d):\n%s" % (p.returncode, p.stderr))
        dns = {r["flow_id"]: r for r in recs if r.get("app_proto", "").startswith("DNS")}
        by_flow = {}
        for a in alts:
            by_flow.setdefault(a["flow_id"], []).append(a)
        print("%d worker(s): %d DNS flows, %d alerts" % (workers, len(dns), len(alts)))
        if len(dns) < 200:
            fail("too few DNS flows (%d): the test would prove nothing" % len(dns))
        if set(by_flow) != set(dns) or any(len(v) != 1 for v in by_flow.values()):
            fail("alerts are not exactly one per DNS flow: %d flows without, %d extra" %
                 (len(set(dns) - set(by_flow)), len(set(by_flow) - set(dns))))
        for fid, (a,) in by_flow.items():
            r = dns[fid]
            al = a["alert"]
            same = all(a[k] == r[k] for k in ("src_ip", "src_port", "dest_ip", "dest_port",
                                               "proto", "community_id", "app_proto"))
            if (not same or a["event_type"] != "alert" or al["score"] != 30 or
                    al["severity_name"] != "notice" or al["severity"] != 4 or
                    al["script"] != "flow/every_dns" or
                    al["message"] != "dns " + r.get("dns", {}).get("rrname", "?") or
                    al["details"] != {"query": r.get("dns", {}).get("rrname", "?"),
                                      "port": r["dest_port"]}):
                fail("alert does not match its flow:\n  %s\n  %s" % (a, r))
        if "lua:" not in p.stderr or "alerts written %d, lost 0" % len(alts) not in p.stderr:
            fail("the summary does not account for the alerts:\n" + p.stderr)

    # periodicUpdate reaches flows that send nothing more: 100 DNS flows of
    # two packets at t=0, then 20 s with no packet at all, then 100 more.
    # The first ones get theirs from the timer wheel alone, when the
    # capture's clock jumps over the gap: once (at most once per interval,
    # and the jump is one step of the clock; live, the clock moves every
    # burst and every idle poll).
    gap = env.generate("gap.pcap", "--flows", "200", "--concurrency", "100", "--flow-gap", "20",
                       "--mix", "dns=1", "--seed", "3")
    d = scripts_dir(env, "tick", {"tick.lua": TICK})
    p, recs, alts = run(env, gap, d)
    if p.returncode != 0:
        fail("loupe failed (%d):\n%s" % (p.returncode, p.stderr))
    ticks = {}
    for a in alts:
        ticks[a["flow_id"]] = ticks.get(a["flow_id"], 0) + 1
    early = sorted(recs, key=lambda r: r["flow"]["start"])[:100]
    counts = sorted(ticks.get(r["flow_id"], 0) for r in early)
    print("idle flows: periodicUpdate ticks per flow, min %d max %d" % (counts[0], counts[-1]))
    if counts[0] < 1:
        fail("flows idle for 20 s got no periodicUpdate: %s" % counts[:10])

    # A broken script rejects the whole set, with its file and line.
    d = scripts_dir(env, "broken", {"every_dns.lua": EVERY_DNS, "broken.lua": BROKEN})
    p, _, alts = run(env, pcap, d)
    print("broken set, offline run: exit %d" % p.returncode)
    if p.returncode == 0 or not re.search(r"flow/broken\.lua:\d+: ", p.stderr):
        fail("an offline run with a broken script must fail with file:line:\n" + p.stderr)
    t = subprocess.run([env.loupe, "-c", env.config, "-T", "--set", "lua.scripts_dir=" + d],
                        capture_output=True, text=True)
    print(t.stderr.strip())
    if t.returncode == 0 or not re.search(r"flow/broken\.lua:\d+: ", t.stderr):
        fail("-T accepted a broken script set:\n" + t.stderr)
    # With on_load_error: run, the capture goes on without scripts.
    p, recs, alts = run(env, pcap, d, extra=("--set", "lua.on_load_error=run"))
    if p.returncode != 0 or not recs or alts:
        fail("on_load_error=run must capture without scripts:\n" + p.stderr)

    # The shipped checks on real captures.
    corpus = env.ndpi_pcaps()
    if corpus:
        shipped = os.path.join(env.source, "scripts")
        expect = {"dns-tunnel-iodine.pcap": "flow/dns_tunnel",
                  "dns_exfiltration.pcap": "flow/dns_tunnel"}
        for name, script in expect.items():
            path = [c for c in corpus if os.path.basename(c) == name]
            if not path:
                continue
            p, recs, alts = run(env, path[0], shipped)
            fired = sorted({a["alert"]["script"] for a in alts})
            print("%s: %d alerts from %s" % (name, len(alts), fired))
            if script not in fired:
                fail("%s did not fire on %s" % (script, name))
    print("PASS")


main()
