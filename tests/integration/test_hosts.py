"""The host table and the control VM against tshark: a generated capture
with known hosts, local networks and a port scan; host/, network/ and
periodic/ scripts print what they see at the final run, and every host's
traffic must equal what tshark reads from the same capture, with one and
with two workers (partials merged from both). Periodic hooks must run at
aligned periods of the capture clock, and the scanner's host alert must
reach the alert file exactly once as an engagement."""

import json
import os
import struct
import subprocess
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
import loupe_test as lt  # noqa: E402

T0 = 1_700_000_013  # 13 s past a minute boundary
LOCAL = "10.10.0.0/16"


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def frame(src, dst, proto, sport, dport, payload=b"", flags=0x18):
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + payload
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, ip4(src), ip4(dst))
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    return eth + ip + l4


def write_capture(path):
    pkts = []  # (time, frame)

    def add(t, f):
        pkts.append((t, f))

    t = T0
    # Clients 10.10.0.1-6 talk to servers outside and one inside; DNS to a resolver.
    for i in range(1, 7):
        cli = "10.10.0.%d" % i
        for k in range(3):
            srv = ["198.51.100.10", "203.0.113.20", "10.10.1.1"][k]
            sport = 40000 + i * 10 + k
            start = t + i * 7 + k * 20
            add(start, frame(cli, srv, 6, sport, 443, flags=0x02))
            add(start + 0.01, frame(srv, cli, 6, 443, sport, flags=0x12))
            for n in range(5 + i):
                add(start + 0.1 + n, frame(cli, srv, 6, sport, 443, b"q" * (30 + n * i)))
                add(start + 0.2 + n, frame(srv, cli, 6, 443, sport, b"r" * (200 + 10 * n)))
        add(t + i * 11, frame(cli, "192.0.2.53", 17, 53000 + i, 53, b"d" * 40))
        add(t + i * 11 + 0.02, frame("192.0.2.53", cli, 17, 53, 53000 + i, b"a" * 90))
    # 10.10.0.66 scans 10.10.0.5: 40 TCP ports, no answer; and 12 hosts on UDP/161.
    for p in range(40):
        add(t + 90 + p * 0.5, frame("10.10.0.66", "10.10.0.5", 6, 33000 + p, 1000 + p, flags=0x02))
    for h in range(12):
        add(t + 100 + h, frame("10.10.0.66", "10.10.2.%d" % (h + 1), 17, 34000, 161, b"s" * 20))
    # A multicast receiver and a last packet well into a later minute.
    add(t + 150, frame("10.10.0.3", "224.0.0.251", 17, 5353, 5353, b"m" * 60))
    add(t + 230, frame("10.10.0.1", "198.51.100.10", 17, 50000, 123, b"n" * 48))
    pkts.sort(key=lambda p: p[0])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in pkts:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)


SCRIPTS = {
    "host/dump.lua": r'''
local json = require "json"
local m = { hooks = {} }
function m.hooks.min(params)
  if host.getNumContactedTCPUDPServerPortsNoTX() > 20 then
    host.triggerAlert(80, host.ip() .. " tried many ports without answer")
  end
  if not params.final then return end
  local i = params.entity_info
  local u = host.getUnidirectionalTCPUDPFlowsStats()
  print("HOST " .. json.encode({ ip = host.ip(), sent = host.bytes_sent(), rcvd = host.bytes_rcvd(),
    psent = i["packets.sent"], prcvd = i["packets.rcvd"], is_local = host.is_local(),
    ports = host.getNumContactedTCPUDPServerPortsNoTX(),
    peers = host.getNumContactedPeersAsClientTCPUDPNoTX(),
    noreply_from = host.getNumContactsFromPeersAsServerTCPUDPNoTX(),
    uni_client = u.as_client, multicast = host.is_multicast(), rx_only = host.is_rx_only(),
    flows_client = i["num_flows.as_client"], flows_server = i["num_flows.as_server"] }))
end
return m
''',
    "network/dump.lua": r'''
local json = require "json"
local m = { hooks = {} }
function m.hooks.min(params)
  if not params.final then return end
  local s = network.getNetworkStats()
  print("NET " .. json.encode({ key = s.network_key, sent = s.bytes_sent, rcvd = s.bytes_rcvd,
    ingress = s.ingress.bytes, egress = s.egress.bytes, inner = s.inner.bytes, hosts = s.num_hosts }))
end
return m
''',
    "periodic/clock.lua": r'''
local json = require "json"
local m = { hooks = {} }
local seconds = 0
function m.hooks.second(params) seconds = seconds + 1 end
function m.hooks.min(params)
  print("MIN " .. json.encode({ when = params.when, final = params.final, seconds = seconds,
    hosts = interface.getNumHosts() }))
end
return m
''',
}


def tshark_hosts(pcap):
    out = lt.run(["tshark", "-r", pcap, "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                  "-e", "frame.len"])
    h = defaultdict(lambda: {"sent": 0, "rcvd": 0, "psent": 0, "prcvd": 0})
    for line in out.splitlines():
        src, dst, n = line.split("\t")
        h[src]["sent"] += int(n)
        h[src]["psent"] += 1
        h[dst]["rcvd"] += int(n)
        h[dst]["prcvd"] += 1
    return h


def lines(stderr, tag):
    out = []
    for line in stderr.splitlines():
        at = line.find(": " + tag + " ")
        if line.startswith("lua[control]") and at >= 0:
            out.append(json.loads(line[at + len(tag) + 3:]))
    return out


def local(ip):
    return ip.startswith("10.10.")


def main():
    env = lt.Env()
    pcap = os.path.join(env.tmp, "hosts.pcap")
    write_capture(pcap)
    scripts = os.path.join(env.tmp, "scripts")
    for path, text in SCRIPTS.items():
        os.makedirs(os.path.dirname(os.path.join(scripts, path)), exist_ok=True)
        with open(os.path.join(scripts, path), "w") as f:
            f.write(text)
    try:
        want = tshark_hosts(pcap)
    except (OSError, subprocess.CalledProcessError):
        lt.skip("tshark is not installed")
    results = {}
    for workers in (1, 2):
        alerts = os.path.join(env.tmp, "alerts-%d.json" % workers)
        _, err, _ = env.loupe_run(pcap, "lua.scripts_dir=" + scripts, "alerts.file=" + alerts,
                                  "local_networks=[%s]" % LOCAL, "lua.log.lines_per_minute=100000",
                                  workers=workers)
        if not lt.summary_accounted(err):
            lt.fail("packets not accounted for:\n" + err)
        hosts = {h["ip"]: h for h in lines(err, "HOST")}
        nets = lines(err, "NET")
        mins = lines(err, "MIN")
        results[workers] = (hosts, nets)
        # Every host tshark sees, with the same bytes and packets each way.
        if set(hosts) != set(want):
            lt.fail("%d worker(s): hosts differ: only loupe %s, only tshark %s" % (
                workers, sorted(set(hosts) - set(want)), sorted(set(want) - set(hosts))))
        for ip, w in want.items():
            got = {k: hosts[ip][k] for k in ("sent", "rcvd", "psent", "prcvd")}
            if got != w:
                lt.fail("%d worker(s): host %s: loupe %s, tshark %s" % (workers, ip, got, dict(w)))
            if hosts[ip]["is_local"] != local(ip):
                lt.fail("host %s: is_local %s" % (ip, hosts[ip]["is_local"]))
        scanner = hosts["10.10.0.66"]
        if (scanner["ports"], scanner["peers"], scanner["uni_client"]) != (41, 13, 52):
            lt.fail("scanner: ports %d (want 41: 40 TCP + udp/161), peers %d (want 13), "
                    "one-way flows %d (want 52)" % (scanner["ports"], scanner["peers"],
                                                    scanner["uni_client"]))
        if hosts["10.10.0.5"]["noreply_from"] != 1:
            lt.fail("10.10.0.5 was contacted without answering by 1 client, not %d"
                    % hosts["10.10.0.5"]["noreply_from"])
        if not hosts["224.0.0.251"]["multicast"] or not hosts["224.0.0.251"]["rx_only"]:
            lt.fail("224.0.0.251 must be multicast and receive-only: %s" % hosts["224.0.0.251"])
        if hosts["10.10.0.1"]["flows_client"] != 5 or hosts["10.10.1.1"]["flows_server"] != 6:
            lt.fail("flows by role: 10.10.0.1 as client %d (want 5), 10.10.1.1 as server %d "
                    "(want 6)" % (hosts["10.10.0.1"]["flows_client"],
                                  hosts["10.10.1.1"]["flows_server"]))
        # The local network: its hosts' totals, and traffic by direction.
        if len(nets) != 1:
            lt.fail("one local network expected, got %s" % nets)
        n = nets[0]
        sent = sum(w["sent"] for ip, w in want.items() if local(ip))
        rcvd = sum(w["rcvd"] for ip, w in want.items() if local(ip))
        inner = sum(int(x) for x in lt.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.len",
                                            "-Y", "ip.src==10.10.0.0/16 && ip.dst==10.10.0.0/16"]).split())
        egress = sum(int(x) for x in lt.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.len",
                                             "-Y", "ip.src==10.10.0.0/16 && !(ip.dst==10.10.0.0/16)"]).split())
        ingress = sum(int(x) for x in lt.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.len",
                                              "-Y", "!(ip.src==10.10.0.0/16) && ip.dst==10.10.0.0/16"]).split())
        got = (n["sent"], n["rcvd"], n["inner"], n["egress"], n["ingress"], n["hosts"])
        exp = (sent, rcvd, inner, egress, ingress, sum(1 for ip in want if local(ip)))
        if got != exp:
            lt.fail("%d worker(s): network (sent, rcvd, inner, egress, ingress, hosts): loupe %s, "
                    "tshark %s" % (workers, got, exp))
        # Periodic hooks: at minute boundaries of the capture clock, then the final run.
        whens = [m["when"] for m in mins if not m["final"]]
        if not whens or any(w % 60 for w in whens) or whens != sorted(set(whens)):
            lt.fail("min hooks not at aligned, increasing minutes: %s" % whens)
        if not mins[-1]["final"] or mins[-1]["hosts"] != len(want):
            lt.fail("the final run must come last and see every host: %s" % mins[-1])
        if not 200 <= mins[-1]["seconds"] <= 231:
            lt.fail("second hooks ran %d times over a 230 s capture" % mins[-1]["seconds"])
        # The scanner's alert: engaged once, then refreshed, never engaged twice.
        with open(alerts) as f:
            recs = [json.loads(line)["alert"] for line in f]
        engages = [a for a in recs if a["entity_val"] == "10.10.0.66@0" and a["lifecycle"] == "engage"]
        if len(engages) != 1 or engages[0]["entity"] != "host" or engages[0]["severity_name"] != "warning":
            lt.fail("the scanner's alert must be engaged exactly once: %s" % recs)
        if any(a["entity_val"] != "10.10.0.66@0" for a in recs):
            lt.fail("only the scanner alerts: %s" % recs)
    if results[1] != results[2]:
        lt.fail("one and two workers disagree")
    print("OK: %d hosts and the local network equal tshark's counts with 1 and 2 workers; "
          "periodic hooks aligned; the scan alert engaged once" % len(want))


if __name__ == "__main__":
    main()
