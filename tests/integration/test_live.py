"""Live capture through DPDK's net_af_packet PMD on a veth pair: the test
makes the pair with one end in a network namespace of its own, runs loupe
with 2 workers on the host end (once with 2 queues, one per worker; once with
1 queue read by the software dispatcher), replays a generated capture
into the other end with tcpreplay at a fixed rate, and checks that

  - loupe finds the same flows, with the same packets and bytes each way,
    as it does reading the same capture offline;
  - packets sent = packets received + counted drops.

Needs root (namespaces, veth) and tcpreplay; skipped otherwise. Everything
it creates is removed, whatever happens."""

import os
import re
import signal
import subprocess
import time

from loupe_test import Env, VethPair, fail, loupe_conversations, sh, skip, wait_line

LINK = VethPair("live")
NS, HOST_IF, PEER_IF = LINK.ns, LINK.host_if, LINK.peer_if








def main():
    env = Env()
    if os.geteuid() != 0:
        skip("live capture needs root to make a network namespace and a veth pair")
    for tool in ("ip", "tcpreplay"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            skip("%s is not installed" % tool)
    pcap = env.generate("live.pcap", "--flows", "400", "--seed", "21", "--ipv6", "20",
                        "--vlan", "10", "--concurrency", "50")
    offline, _, _ = env.loupe_run(pcap)
    for qpairs in (2, 1):
        live_run(env, pcap, offline, qpairs)
    reload_run(env)
    reload_storm(env)
    reopen_run(env)
    print("PASS")


def start_loupe(env, *sets, config=None, qpairs=2):
    """loupe live on the veth pair, 2 workers, metrics off (they have their
    own test), with `sets` as --set overrides; returns once it captures."""
    cmd = [env.loupe, "-c", config or env.config, "--set", "workers.count=2",
           "--set", "metrics.enabled=false", "--set", "ports.0.name=veth",
           "--set", "ports.0.devargs=net_af_packet0,iface=%s,qpairs=%d" % (HOST_IF, qpairs)]
    for x in sets:
        cmd += ["--set", x]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    wait_line(proc, "capturing")
    return proc


def stop_loupe(proc):
    """SIGINT after the last packets settled; returns loupe's stderr."""
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        fail("loupe exited %d:\n%s" % (proc.returncode, err))
    return err


def replay(pcap):
    """tcpreplay at a fixed rate into the peer end; returns packets sent."""
    out = sh("ip", "netns", "exec", NS, "tcpreplay", "-i", PEER_IF, "--pps", "4000", pcap).stdout
    return int(re.search(r"Successful packets:\s+(\d+)", out).group(1))


def port_counts(err):
    """(received, missed, errors, no mbuf, RX queues) from loupe's summary,
    after checking that every packet is accounted for."""
    port = re.search(r"port veth: received (\d+) packets \d+ bytes; missed (\d+), errors (\d+), "
                     r"no mbuf (\d+) \((\d+) RX queue", err)
    if not port:
        fail("no port line in the summary:\n" + err)
    if "every packet accounted for" not in err:
        fail("not every packet accounted for:\n" + err)
    return tuple(map(int, port.groups()))




CLASSIFIERS_A = """classifiers:
  - {name: http-request, proto: tcp, offset: 0, bytes: "GET ", direction: client}
"""
CLASSIFIERS_B = """classifiers:
  - {name: http-response, proto: tcp, offset: 0, bytes: "HTTP/1.", direction: server}
"""


SCRIPT = """local check = { l7_proto = "HTTP", hooks = {} }
function check.hooks.protocolDetected()
  flow.triggerAlert(20, "%s")
end
return check
"""


def reload_run(env):
    """SIGHUP swaps the classifier set and the Lua script set while
    capturing: flows of the traffic replayed before it match the old rules
    and alert from the old script only, flows of the traffic after it the
    new ones only, and no packet is lost."""
    before = env.generate("reload-a.pcap", "--flows", "200", "--seed", "31", "--mix", "http=1")
    after = env.generate("reload-b.pcap", "--flows", "200", "--seed", "32", "--mix", "http=1")
    conf = os.path.join(env.tmp, "reload.yaml")
    with open(env.config) as f:
        base = f.read().replace("classifiers: []\n", "")
    with open(conf, "w") as f:
        f.write(base + CLASSIFIERS_A)
    flows = os.path.join(env.tmp, "reload.json")
    alerts = os.path.join(env.tmp, "reload-alerts.json")
    scripts = os.path.join(env.tmp, "reload-scripts")
    os.makedirs(os.path.join(scripts, "flow"), exist_ok=True)
    script = os.path.join(scripts, "flow", "http_seen.lua")
    with open(script, "w") as f:
        f.write(SCRIPT % "before")
    LINK.remove()
    try:
        LINK.setup()
        # One alert per HTTP flow is the point: no rate limit.
        proc = start_loupe(env, "output.flows=" + flows, "alerts.file=" + alerts,
                           "lua.scripts_dir=" + scripts,
                           "classify.classifiers.cache_dir=" + os.path.join(env.tmp, "hs"),
                           "alerts.max_per_script_per_second=0", "alerts.max_per_minute=0",
                           config=conf)
        sent = 0
        for pcap, rules in ((before, CLASSIFIERS_B), (after, None)):
            sent += replay(pcap)
            if rules:
                with open(conf, "w") as f:
                    f.write(base + rules)
                with open(script, "w") as f:
                    f.write(SCRIPT % "after")
                proc.send_signal(signal.SIGHUP)
                # Both sets are rebuilt on threads of their own: either may finish first.
                seen = []
                while not all(any(k in l for l in seen) for k in ("classifiers: reload",
                                                                   "lua: generation 2")):
                    seen += wait_line(proc, "reload")
                for line in seen:
                    print(line.rstrip())
                time.sleep(0.5)  # workers take the new set at their next burst boundary
        err = stop_loupe(proc)
    finally:
        LINK.remove()
    received = port_counts(err)[0]
    if received != sent:
        fail("tcpreplay sent %d packets, loupe received %d across the reload" % (sent, received))
    import json
    with open(flows) as f:
        records = [json.loads(l) for l in f]
    offline_a, _, _ = env.loupe_run(before)
    ports_a = {(r["src_ip"], r["src_port"]) for r in offline_a}
    names = {"a": set(), "b": set()}
    for r in records:
        if r["proto"] != "TCP":
            continue
        which = "a" if (r["src_ip"], r["src_port"]) in ports_a else "b"
        names[which] |= {m["name"] for m in r.get("classifiers", [])}
    print("classifiers matched before the reload: %s; after: %s" % (sorted(names["a"]),
                                                                    sorted(names["b"])))
    if names["a"] != {"http-request"} or names["b"] != {"http-response"}:
        fail("the reload did not swap the classifier set at the right moment")
    with open(alerts) as f:
        said = {"a": set(), "b": set()}
        n = 0
        for line in f:
            a = json.loads(line)
            n += 1
            said["a" if (a["src_ip"], a["src_port"]) in ports_a else "b"].add(a["alert"]["message"])
    http = sum(1 for r in records if r.get("app_proto", "").startswith("HTTP"))
    print("alerts before the reload: %s; after: %s; %d alerts for %d HTTP flows" %
          (sorted(said["a"]), sorted(said["b"]), n, http))
    if said["a"] != {"before"} or said["b"] != {"after"} or n != http:
        fail("the reload did not swap the script set at the right moment")


def live_run(env, pcap, offline, qpairs):
    LINK.remove()
    try:
        LINK.setup()
        flows = os.path.join(env.tmp, "live.json")
        proc = start_loupe(env, "output.flows=" + flows, qpairs=qpairs)
        sent = replay(pcap)
        err = stop_loupe(proc)
    finally:
        LINK.remove()

    received, missed, errors, nombuf, queues = port_counts(err)
    print("tcpreplay sent %d; loupe received %d, missed %d, errors %d, no mbuf %d on %d queues" %
          (sent, received, missed, errors, nombuf, queues))
    if queues != qpairs:
        fail("expected %d RX queues, got %d" % (qpairs, queues))
    if qpairs == 1 and "software dispatch" not in err:
        fail("a single-queue port must be read by the software dispatcher:\n" + err)
    drops = int(re.search(r"dispatcher drops (\d+)", err).group(1))
    if sent != received + missed + errors + nombuf:
        fail("packets sent (%d) != received + counted drops (%d)" %
             (sent, received + missed + errors + nombuf))
    with open(flows) as f:
        import json
        live = [json.loads(l) for l in f]
    a, b = loupe_conversations(offline), loupe_conversations(live)
    if missed + errors + nombuf + drops == 0 and a != b:
        diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
        fail("%d conversations differ between offline and live, e.g. %s: offline %s live %s" %
             (len(diff), diff[0], a.get(diff[0]), b.get(diff[0])))
    for line in err.splitlines():
        if line.startswith("loupe: worker"):
            print(line)
    print("%d queue(s): %d conversations identical offline and live" % (qpairs, len(a)))


def storm_run(env, pcap, reloads):
    """Replays `pcap` at a fixed rate while sending `reloads` SIGHUPs, each
    after changing the script (every 7th one broken). Returns (sent,
    received, drops, stderr, reload lines)."""
    import threading
    scripts = os.path.join(env.tmp, "storm-scripts")
    os.makedirs(os.path.join(scripts, "flow"), exist_ok=True)
    script = os.path.join(scripts, "flow", "http_seen.lua")
    with open(script, "w") as f:
        f.write(SCRIPT % "generation 1")
    LINK.remove()
    lines = []
    try:
        LINK.setup()
        proc = start_loupe(env, "output.flows=", "lua.scripts_dir=" + scripts,
                           "alerts.file=" + os.path.join(env.tmp, "storm-alerts.json"))
        result = {}

        t = threading.Thread(target=lambda: result.update(sent=replay(pcap)))
        t.start()
        for i in range(reloads):
            time.sleep(0.2)
            with open(script, "w") as f:
                f.write("this is not Lua (\n" if i % 7 == 6 else SCRIPT % ("reload %d" % i))
            proc.send_signal(signal.SIGHUP)
            got = wait_line(proc, "lua: reload" if i % 7 == 6 else "lua: generation")
            lines += [l.rstrip() for l in got if "lua" in l]
        t.join()
        err = stop_loupe(proc)
    finally:
        LINK.remove()
    sent = result["sent"]
    received, missed, errors, nombuf, _ = port_counts(err)
    return sent, received, missed + errors + nombuf, err, lines


def reload_storm(env):
    """20 reloads under live traffic, 2 of them broken: every packet is
    accounted for, no more drops than the same replay without reloads, and
    a broken set leaves the running one in place."""
    pcap = env.generate("storm.pcap", "--flows", "2000", "--seed", "51", "--mix", "http=1,dns=1")
    base_sent, base_received, base_drops, _, _ = storm_run(env, pcap, 0)
    sent, received, drops, err, lines = storm_run(env, pcap, 20)
    rejected = [l for l in lines if "reload rejected" in l]
    print("without reloads: sent %d, received %d, drops %d; with 20 reloads: sent %d, "
          "received %d, drops %d; %d rejected" % (base_sent, base_received, base_drops, sent,
                                                  received, drops, len(rejected)))
    if sent != received + drops:
        fail("packets sent (%d) != received + counted drops (%d)" % (sent, received + drops))
    if drops > base_drops:
        fail("reloads cost %d drops more than the run without them" % (drops - base_drops))
    if len(rejected) != 2 or "lua: generation 19 active" not in "\n".join(lines):
        fail("expected 18 accepted and 2 rejected reloads:\n" + "\n".join(lines))


def reopen_run(env):
    """SIGUSR1 after the alert and flow files were moved away (logrotate):
    loupe writes on in new files and every alert and record is in exactly
    one of the two."""
    import json
    first = env.generate("rot-a.pcap", "--flows", "200", "--seed", "61", "--mix", "http=1")
    second = env.generate("rot-b.pcap", "--flows", "200", "--seed", "62", "--mix", "http=1")
    scripts = os.path.join(env.tmp, "rot-scripts")
    os.makedirs(os.path.join(scripts, "flow"), exist_ok=True)
    with open(os.path.join(scripts, "flow", "http_seen.lua"), "w") as f:
        f.write(SCRIPT % "seen")
    alerts = os.path.join(env.tmp, "rot-alerts.json")
    flows = os.path.join(env.tmp, "rot-flows.json")
    LINK.remove()
    try:
        LINK.setup()
        proc = start_loupe(env, "output.flows=" + flows, "alerts.file=" + alerts,
                           "lua.scripts_dir=" + scripts, "flow.timeouts.tcp_closed=1",
                           "alerts.max_per_script_per_second=0", "alerts.max_per_minute=0")
        replay(first)
        time.sleep(2.5)  # closed flows linger tcp_closed (1 s), then their records are written
        os.rename(alerts, alerts + ".1")
        os.rename(flows, flows + ".1")
        proc.send_signal(signal.SIGUSR1)
        for line in wait_line(proc, "SIGUSR1"):
            print(line.rstrip())
        replay(second)
        stop_loupe(proc)
    finally:
        LINK.remove()

    def lines(path):
        with open(path) as f:
            return [json.loads(l) for l in f]
    old_a, new_a = lines(alerts + ".1"), lines(alerts)
    old_f, new_f = lines(flows + ".1"), lines(flows)
    ids = [a["flow_id"] for a in old_a + new_a]
    recs = [r["flow_id"] for r in old_f + new_f]
    http = sum(1 for r in old_f + new_f if r.get("app_proto", "").startswith("HTTP"))
    print("alerts: %d in the rotated file, %d in the new one; records: %d and %d; %d HTTP flows" %
          (len(old_a), len(new_a), len(old_f), len(new_f), http))
    if not old_a or not new_a or not old_f or not new_f:
        fail("SIGUSR1 did not split the outputs between the old and the new files")
    if len(ids) != len(set(ids)) or len(ids) != http or len(recs) != len(set(recs)) or len(recs) != 400:
        fail("alerts or records lost or written twice across the reopen")


main()
