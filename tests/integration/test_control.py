"""The control socket end to end: loupe captures live through net_af_packet
on a veth pair (one end in a network namespace of the test's own, as in
test_live.py) with its runtime state in a directory of the test's
(paths.workdir); tcpreplay sends a generated capture into the other end.
The test checks that

  - the socket is made under paths.workdir with mode 0660;
  - `loupe status --json` reports, per worker and per port, the packets
    and bytes that were sent (the same figures as an offline run of the
    capture) and as many flows as the offline run wrote; the table form
    shows them too;
  - `loupe scripts status --json` reports the script's calls (one per
    alert it wrote), no errors, the VMs' memory, and the quarantined file
    as quarantined;
  - `loupe scripts unquarantine KEY` through the socket removes the line
    from lua-quarantine and the instance reloads its set, after which the
    file is active; a key that is not quarantined is an error;
  - a second instance on the same socket does not start, and says why;
  - after the instance stops, the socket is gone; `loupe status` then
    exits 1 saying that no instance answers, and `unquarantine` edits
    lua-quarantine directly;
  - a stale socket left by a killed instance does not stop the next start.

Needs root (namespaces, veth) and tcpreplay; skipped otherwise. Everything
it creates is removed, whatever happens."""

import json
import os
import re
import signal
import stat
import subprocess
import time

from loupe_test import Env, VethPair, fail, sh, skip, wait_line

LINK = VethPair("ctl")
NS, HOST_IF, PEER_IF = LINK.ns, LINK.host_if, LINK.peer_if

HTTP_SEEN = """local check = { l7_proto = "HTTP", hooks = {} }
function check.hooks.protocolDetected()
  flow.triggerAlert(20, "seen")
end
return check
"""
# Quarantined while its content is this; never stalls here, it only has to load.
STALLED = """local check = { hooks = {} }
function check.hooks.flowEnd() end
return check
"""

procs = []




def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    LINK.remove()






class Cli:
    """`loupe` commands with the instance's configuration (-c, --set)."""

    def __init__(self, env, sets):
        self.env, self.sets = env, sets

    def base(self):
        cmd = [self.env.loupe, "-c", self.env.config]
        for s in self.sets:
            cmd += ["--set", s]
        return cmd

    def run(self, *args):
        return subprocess.run(self.base() + list(args), capture_output=True, text=True, timeout=60)

    def json(self, *args):
        p = self.run(*(list(args) + ["--json"]))
        if p.returncode != 0:
            fail("loupe %s exited %d:\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return json.loads(p.stdout)


def offline_figures(env, pcap):
    """(packets, bytes, flows) of an offline run of the capture."""
    records, err, _ = env.loupe_run(pcap, "lua.enabled=false")
    m = re.search(r"input: (\d+) packets, (\d+) bytes", err)
    if not m:
        fail("no input line in the offline summary:\n" + err)
    return int(m.group(1)), int(m.group(2)), len(records)


def settle(cli, sent, seconds=20):
    """The status once the workers received every packet sent."""
    deadline = time.time() + seconds
    while True:
        s = cli.json("status")
        if sum(w["packets"] for w in s["workers"]) >= sent or time.time() > deadline:
            return s
        time.sleep(0.2)


def main():
    env = Env()
    if os.geteuid() != 0:
        skip("live capture needs root to make a network namespace and a veth pair")
    for tool in ("ip", "tcpreplay"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            skip("%s is not installed" % tool)
    pcap = env.generate("control.pcap", "--flows", "300", "--seed", "71", "--mix", "http=1,dns=1")
    packets, wire_bytes, flows = offline_figures(env, pcap)

    work = os.path.join(env.tmp, "work")
    scripts = os.path.join(env.tmp, "control-scripts")
    os.makedirs(work)
    os.makedirs(os.path.join(scripts, "flow"))
    with open(os.path.join(scripts, "flow", "http_seen.lua"), "w") as f:
        f.write(HTTP_SEEN)
    with open(os.path.join(scripts, "flow", "stalled.lua"), "w") as f:
        f.write(STALLED)
    quarantine = os.path.join(work, "lua-quarantine")
    import hashlib
    with open(quarantine, "w") as f:
        f.write("flow/stalled %s\n" % hashlib.sha256(STALLED.encode()).hexdigest())
    alerts = os.path.join(env.tmp, "control-alerts.json")
    sets = ["paths.workdir=" + work, "lua.scripts_dir=" + scripts]
    cli = Cli(env, sets)
    sock = os.path.join(work, "control.sock")

    cleanup()
    try:
        LINK.setup()
        cmd = cli.base() + [
            "--set", "workers.count=2", "--set", "metrics.enabled=false",
            "--set", "output.flows=", "--set", "alerts.file=" + alerts,
            # Every call alerts, and every alert is written: calls = alert lines.
            "--set", "alerts.max_per_script_per_second=0", "--set", "alerts.max_per_minute=0",
            "--set", "flow.timeouts.tcp_closed=1",
            "--set", "ports.0.name=veth",
            "--set", "ports.0.devargs=net_af_packet0,iface=%s,qpairs=2" % HOST_IF]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        started = wait_line(proc, "capturing")
        print("".join(l for l in started if "quarantine" in l or "control" in l), end="")
        if not any("flow/stalled.lua: quarantined" in l for l in started):
            fail("no load warning for the quarantined file:\n" + "".join(started))

        st = os.stat(sock)
        if not stat.S_ISSOCK(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o660:
            fail("%s: expected a socket with mode 0660, got %o" % (sock, st.st_mode))

        out = sh("ip", "netns", "exec", NS, "tcpreplay", "-i", PEER_IF, "--pps", "4000", pcap).stdout
        sent = int(re.search(r"Successful packets:\s+(\d+)", out).group(1))
        if sent != packets:
            fail("tcpreplay sent %d of the capture's %d packets" % (sent, packets))
        time.sleep(2.5)  # closed flows linger tcp_closed (1 s)
        s = settle(cli, sent)
        check_status(s, sent, wire_bytes, flows)
        table = cli.run("status")
        print(table.stdout, end="")
        if table.returncode != 0 or not re.search(r"^veth\s+%d\s+" % sent, table.stdout, re.M):
            fail("the status table lacks the port's packets:\n" + table.stdout + table.stderr)

        with open(alerts) as f:
            alerted = sum(1 for _ in f)
        check_scripts(cli.json("scripts", "status"), alerted)
        print(cli.run("scripts", "status").stdout, end="")

        second = cli.run("-r", pcap, "--set", "control.offline=true", "--set", "output.flows=",
                         "--set", "alerts.file=")
        if second.returncode != 1 or "in use by a running instance" not in second.stderr:
            fail("a second instance on the same socket: exit %d\n%s" % (second.returncode,
                                                                        second.stderr))

        unquarantine_live(cli, proc, quarantine)

        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            fail("loupe exited %d:\n%s" % (proc.returncode, err))
        if os.path.exists(sock):
            fail("the control socket outlived the instance")
    finally:
        cleanup()

    without_instance(cli, quarantine, pcap, sock)
    print("PASS")


def check_status(s, sent, wire_bytes, flows):
    workers = s["workers"]
    got = sum(w["packets"] for w in workers)
    got_bytes = sum(w["bytes"] for w in workers)
    created = sum(w["flows"]["created"] for w in workers)
    print("status: %d workers, %d packets, %d bytes, %d flows created; sent %d packets, %d bytes; "
          "%d flows offline" % (len(workers), got, got_bytes, created, sent, wire_bytes, flows))
    if len(workers) != 2 or got != sent or got_bytes != wire_bytes:
        fail("workers' packets and bytes differ from what was sent:\n" + json.dumps(s, indent=1))
    if created != flows:
        fail("%d flows created, the offline run wrote %d" % (created, flows))
    if any(w["malformed"]["total"] != 0 or set(w["malformed"]["by_reason"].values()) != {0}
           for w in workers):
        fail("malformed packets in a clean capture:\n" + json.dumps(workers, indent=1))
    port = s["ports"][0]
    if port["name"] != "veth" or port["rx_packets"] != sent or sum(port["drops"].values()) != 0:
        fail("the port's figures differ from what was sent:\n" + json.dumps(port, indent=1))
    if s["mode"] != "live" or s["scripts"]["loaded"] != ["flow/http_seen"] or \
            s["scripts"]["quarantined"] != ["flow/stalled"]:
        fail("the status's scripts are wrong:\n" + json.dumps(s["scripts"], indent=1))


def check_scripts(s, alerted):
    rows = {r["script"]: r for r in s["scripts"]}
    print("scripts status: %s; %d alerts written" %
          (", ".join("%s %s %d calls" % (k, r["state"], r["calls_total"])
                     for k, r in sorted(rows.items())), alerted))
    seen = rows.get("flow/http_seen")
    if seen is None or seen["state"] != "active":
        fail("flow/http_seen is not active:\n" + json.dumps(s, indent=1))
    if alerted == 0 or seen["calls"]["protocolDetected"] != alerted or \
            seen["calls_total"] != alerted or sum(seen["errors"].values()) != 0:
        fail("flow/http_seen: %d alerts written, calls and errors: %s %s" %
             (alerted, seen["calls"], seen["errors"]))
    if rows.get("flow/stalled", {}).get("state") != "quarantined":
        fail("flow/stalled is not quarantined:\n" + json.dumps(s, indent=1))
    vms = s["vms"]
    if [v["vm"] for v in vms] != ["worker0", "worker1"] or \
            any(not 0 < v["memory_bytes"] < v["memory_limit_bytes"] for v in vms) or \
            any(v["memory_limit_bytes"] != 128 << 20 for v in vms):
        fail("the VMs' memory figures are wrong: %s" % vms)


def unquarantine_live(cli, proc, quarantine):
    p = cli.run("scripts", "unquarantine", "flow/stalled")
    print(p.stdout, end="")
    if p.returncode != 0 or "reloads its scripts" not in p.stdout:
        fail("unquarantine through the socket: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    with open(quarantine) as f:
        if "flow/stalled" in f.read():
            fail("unquarantine left the line in lua-quarantine")
    for line in wait_line(proc, "lua: generation 2"):
        if "lua" in line or "control" in line:
            print(line.rstrip())
    rows = {r["script"]: r["state"] for r in cli.json("scripts", "status")["scripts"]}
    if rows != {"flow/http_seen": "active", "flow/stalled": "active"}:
        fail("after the unquarantine the set is %s" % rows)
    again = cli.run("scripts", "unquarantine", "flow/stalled")
    if again.returncode != 1 or "flow/stalled is not quarantined" not in again.stderr:
        fail("unquarantine of a key that is not quarantined: exit %d\n%s" %
             (again.returncode, again.stderr))


def without_instance(cli, quarantine, pcap, sock):
    p = cli.run("status")
    print(p.stderr, end="")
    if p.returncode != 1 or "no running instance answers on " + sock not in p.stderr:
        fail("status without an instance: exit %d\n%s" % (p.returncode, p.stderr))
    with open(quarantine, "w") as f:
        f.write("# kept\nflow/other %s\n" % ("0" * 64))
    p = cli.run("scripts", "unquarantine", "flow/other")
    print(p.stdout, end="")
    if p.returncode != 0 or "no running instance" not in p.stdout:
        fail("unquarantine through the file: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    with open(quarantine) as f:
        if f.read() != "# kept\n":
            fail("unquarantine through the file did not remove exactly its line")
    p = cli.run("scripts", "unquarantine", "flow/other")
    if p.returncode != 1 or "is not quarantined" not in p.stderr:
        fail("a second unquarantine through the file: exit %d\n%s" % (p.returncode, p.stderr))

    # A stale socket: what an instance killed with SIGKILL leaves.
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.close()
    p = cli.run("-r", pcap, "--set", "control.offline=true", "--set", "output.flows=",
                "--set", "alerts.file=")
    if p.returncode != 0 or "control socket: " + sock not in p.stderr:
        fail("a stale socket stopped the start: exit %d\n%s" % (p.returncode, p.stderr))
    if os.path.exists(sock):
        fail("the offline run left its socket behind")
    print("no instance: status exits 1; unquarantine edits %s; a stale socket is replaced" %
          os.path.basename(quarantine))


main()
