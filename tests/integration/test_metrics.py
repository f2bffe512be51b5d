"""The Prometheus endpoint, end to end: loupe captures live through
net_af_packet on a veth pair (one end in a network namespace of the
test's own, as in test_live.py) with metrics on a free port behind basic
authentication; Debian's Prometheus server scrapes it every second with a
configuration made from deploy/prometheus.yml; tcpreplay sends a generated
capture into the other end. The test checks that

  - without credentials, or with a wrong password, the endpoint answers 401;
    with them, 200;
  - `promtool check metrics` finds nothing to say about a raw scrape;
  - what Prometheus stored (read back through its HTTP query API) equals
    what loupe reports in its exit summary: packets per worker and per
    port, flows created;
  - every query of deploy/grafana-dashboard.json is valid PromQL;
  - a SIGHUP that changes a script counts a successful reload; no Lua
    counter goes down although every worker's VM is replaced, and calls made
    by the new VMs add to those of the old ones (a smaller capture replayed
    after the reload raises the counts above what they were before it);
  - the endpoint's threads run where the main lcore runs: with the main
    lcore and the worker pinned to different CPUs, every civetweb thread's
    CPU list is the main thread's, never the worker's.

Needs root (namespaces, veth), tcpreplay, prometheus and promtool; skipped
otherwise. Every process and namespace it makes is removed, whatever happens."""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from loupe_test import Env, VethPair, fail, sh, skip, wait_line

LINK = VethPair("met")
NS, HOST_IF, PEER_IF = LINK.ns, LINK.host_if, LINK.peer_if
USER, PASSWORD = "prometheus", "correct horse battery staple"

procs = []  # everything started, stopped by cleanup()




def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    LINK.remove()




def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, auth=None, timeout=10):
    """(status, body) of a GET."""
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def start_loupe(env, cmd):
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    lines = []
    deadline = time.time() + 30
    while not lines or "capturing" not in lines[-1]:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            fail("loupe exited before capturing:\n%s%s" % ("".join(lines), proc.stderr.read()))
        lines.append(line)
        if time.time() > deadline:
            fail("loupe did not start capturing within 30 s:\n" + "".join(lines))
    return proc, lines




def lua_counters(url, auth):
    """{(family, labels): value} of the Lua counters in a raw scrape."""
    _, body = http_get(url, auth)
    return {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(
        r"^(loupe_lua_\w+_total|loupe_alerts_\w+_total)(\{[^}]*\})? (\S+)$", body, re.M)}


def gauge(url, auth, name):
    _, body = http_get(url, auth)
    m = re.search(r"^%s (\S+)$" % name, body, re.M)
    return float(m.group(1)) if m else None


def stop_loupe(proc):
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        fail("loupe exited %d:\n%s" % (proc.returncode, err))
    return err


def loupe_cmd(env, port, *sets):
    cmd = [env.loupe, "-c", env.config, "--set", "output.flows=", "--set", "alerts.file=",
           "--set", "metrics.port=%d" % port, "--set", "ports.0.name=veth",
           "--set", "ports.0.devargs=net_af_packet0,iface=%s,qpairs=2" % HOST_IF]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def threads(pid):
    """[(name, CPU list)] of every thread of `pid`."""
    out = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                name = f.read().strip()
            with open(base + "status") as f:
                cpus = re.search(r"Cpus_allowed_list:\s*(\S+)", f.read()).group(1)
        except (OSError, AttributeError):
            continue  # the thread ended meanwhile
        out.append((name, cpus, int(tid) == pid))
    return out


def check_affinity(env):
    """Main lcore on CPU 0, the worker on CPU 1: civetweb's threads must be on 0."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("note: one CPU: the endpoint's affinity is not checked")
        return
    cleanup()
    LINK.setup()
    try:
        proc, _ = start_loupe(env, loupe_cmd(env, free_port(), "workers.count=1",
                                             "workers.cpus=%d,%d" % (cpus[0], cpus[1])))
        time.sleep(0.5)
        seen = threads(proc.pid)
        stop_loupe(proc)
    finally:
        cleanup()
    main = [c for n, c, is_main in seen if is_main][0]
    web = [(n, c) for n, c, _ in seen if n.startswith("civetweb")]
    worker = [(n, c) for n, c, _ in seen if n.startswith("rte-worker") or n.startswith("lcore")]
    print("threads: " + ", ".join("%s on %s" % (n, c) for n, c, _ in seen))
    if not web:
        fail("no civetweb thread found among %s" % seen)
    if main != str(cpus[0]) or any(c != main for _, c in web):
        fail("the endpoint's threads must run where the main lcore does (%s): %s" % (main, web))
    if any(c == main for _, c in worker):
        fail("a worker shares the main lcore's CPU: the check proves nothing: %s" % worker)


PROM_DEPLOY_LINES = [
    (r"scrape_interval: 5s", "scrape_interval: 1s"),
    (r"scrape_timeout: 4s", "scrape_timeout: 1s"),
    (r"# basic_auth:", "basic_auth:"),
    (r"#   username: \S+", "  username: %s" % USER),
    (r"#   password_file: \S+", "  password_file: {password_file}"),
    (r'"127\.0\.0\.1:9620"', '"127.0.0.1:{port}"'),
]


def prometheus_config(env, port, password_file):
    """deploy/prometheus.yml with the target's port, a 1 s interval and basic auth."""
    with open(os.path.join(env.source, "deploy", "prometheus.yml")) as f:
        text = f.read()
    for pattern, repl in PROM_DEPLOY_LINES:
        text, n = re.subn(pattern, repl.format(port=port, password_file=password_file), text,
                          count=1)
        if n != 1:
            fail("deploy/prometheus.yml has no line matching %r any more: update this test" %
                 pattern)
    path = os.path.join(env.tmp, "prometheus.yml")
    with open(path, "w") as f:
        f.write(text)
    sh("promtool", "check", "config", path)
    return path


def query(prom, expr):
    status, body = http_get(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    reply = json.loads(body)
    if status != 200 or reply.get("status") != "success":
        fail("Prometheus rejected %r: %s" % (expr, body))
    return reply["data"]["result"]


def values(prom, expr, label):
    """{label value: number} of an instant query."""
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in query(prom, expr)}


def scrape_value(url, name, auth):
    """{worker: value} of one metric family in a raw scrape."""
    _, body = http_get(url, auth)
    out = {}
    for m in re.finditer(r'^%s\{worker="(\d+)"\} (\S+)$' % name, body, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def main():
    env = Env()
    if os.geteuid() != 0:
        skip("needs root to make a network namespace and a veth pair")
    for tool in ("ip", "tcpreplay", "prometheus", "promtool"):
        if shutil.which(tool) is None:
            skip("%s is not installed (Debian: %s)" % (
                tool, {"ip": "iproute2", "promtool": "prometheus"}.get(tool, tool)))
    pcap = env.generate("metrics.pcap", "--flows", "300", "--seed", "41", "--concurrency", "50")
    small = env.generate("metrics-2.pcap", "--flows", "100", "--seed", "42", "--mix", "tls=1")
    scripts = os.path.join(env.tmp, "scripts")
    shutil.copytree(os.path.join(env.source, "scripts"), scripts,
                    ignore=shutil.ignore_patterns("meson.build"))
    password_file = os.path.join(env.tmp, "metrics.password")
    with open(password_file, "w") as f:
        f.write(PASSWORD + "\n")
    try:
        check_affinity(env)
        run(env, pcap, small, password_file, scripts)
    finally:
        cleanup()
        shutil.rmtree(env.tmp, ignore_errors=True)  # Prometheus's storage
    print("PASS")


def run(env, pcap, small, password_file, scripts):
    port, prom_port = free_port(), free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    auth = (USER, PASSWORD)
    cleanup()
    LINK.setup()
    proc, lines = start_loupe(env, loupe_cmd(
        env, port, "workers.count=2", "lua.scripts_dir=" + scripts,
        # An Arkime session script: the reassembly, HTTP and SMTP families.
        "lua.script_config=[{script: flow/arkime_http_headers, enabled: on}]",
        "metrics.basic_auth_user=" + USER,
        "metrics.basic_auth_password_file=" + password_file))
    if not any(url in l for l in lines):
        fail("loupe did not say where its metrics are (%s):\n%s" % (url, "".join(lines)))

    # Authentication.
    got = (http_get(url)[0], http_get(url, (USER, "wrong"))[0], http_get(url, auth)[0])
    print("basic auth: no credentials %d, wrong password %d, right ones %d" % got)
    if got != (401, 401, 200):
        fail("expected 401, 401, 200")

    # Prometheus, from deploy/prometheus.yml.
    prom = "http://127.0.0.1:%d" % prom_port
    tsdb = os.path.join(env.tmp, "tsdb")
    server = subprocess.Popen(
        ["prometheus", "--config.file=" + prometheus_config(env, port, password_file),
         "--storage.tsdb.path=" + tsdb, "--web.listen-address=127.0.0.1:%d" % prom_port,
         "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs.append(server)
    deadline = time.time() + 60
    while True:
        try:
            if http_get(prom + "/-/ready", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            fail("Prometheus did not become ready:\n" + server.communicate()[1])
        time.sleep(0.3)

    replay = sh("ip", "netns", "exec", NS, "tcpreplay", "-i", PEER_IF, "--pps", "4000", pcap)
    sent = int(re.search(r"Successful packets:\s+(\d+)", replay.stdout).group(1))

    # Raw scrape: promtool's lint must be silent.
    _, body = http_get(url, auth)
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                          text=True)
    print("promtool check metrics on %d lines: exit %d%s" % (
        body.count("\n"), lint.returncode, (": " + lint.stdout + lint.stderr).rstrip()
        if lint.stdout or lint.stderr else ", nothing to say"))
    if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
        fail("promtool check metrics is not clean")
    for name in ("loupe_stream_segments_total", "loupe_stream_ooo_memory_peak",
                 "loupe_stream_lost_bytes_total", "loupe_http_sessions_total",
                 "loupe_smtp_messages_total", "loupe_worker_saves_held_total"):
        if not re.search(r"^%s\{[^}]*worker=" % name, body, re.M):
            fail("no per-worker %s in the scrape" % name)
    segments = sum(float(v) for v in re.findall(r"^loupe_stream_segments_total\{[^}]*\} (\S+)",
                                                 body, re.M))
    if segments <= 0:
        fail("loupe_stream_segments_total is 0 with an http_on script on TCP traffic")
    print("Arkime session families present; %d TCP segments reassembled" % segments)

    time.sleep(1.0)  # the first replay's flows are detected and their calls made
    # A reload replaces every worker's VM: the Lua counters must not go down.
    before = lua_counters(url, auth)
    loaded_at = gauge(url, auth, "loupe_lua_last_reload_success_timestamp_seconds")
    flow_dir = os.path.join(scripts, "flow")
    changed = os.path.join(flow_dir, sorted(f for f in os.listdir(flow_dir) if f.endswith(".lua"))[0])
    with open(changed, "a") as f:
        f.write("\n-- changed by test_metrics.py\n")
    proc.send_signal(signal.SIGHUP)
    wait_line(proc, "lua: generation 2")
    deadline = time.time() + 10
    while gauge(url, auth, "loupe_lua_generation") != 2:
        if time.time() > deadline:
            fail("loupe_lua_generation never became 2")
        time.sleep(0.2)
    time.sleep(1.0)  # workers take the new VMs at their next loop turn
    after = lua_counters(url, auth)
    lower = {k: (v, after.get(k)) for k, v in before.items() if after.get(k, -1) < v}
    if lower:
        fail("Lua counters went down across a reload: %s" % lower)
    replay = sh("ip", "netns", "exec", NS, "tcpreplay", "-i", PEER_IF, "--pps", "4000", small)
    sent += int(re.search(r"Successful packets:\s+(\d+)", replay.stdout).group(1))
    key = ("loupe_lua_calls_total", '{script="flow/tls_sni_blocklist",hook="protocolDetected"}')
    deadline = time.time() + 20
    while lua_counters(url, auth).get(key, 0) <= before.get(key, 0):
        if time.time() > deadline:
            fail("calls of the new VMs are not added to the old ones: %s was %s, is %s" %
                 (key, before.get(key), lua_counters(url, auth).get(key)))
        time.sleep(0.3)
    time.sleep(1.5)
    final = lua_counters(url, auth)
    print("reload: %d Lua counters, none lower after it; %s: %s before, %s after 100 more TLS "
          "flows; last success %.0f -> %s" % (
              len(before), key[1], before.get(key), final.get(key), loaded_at,
              gauge(url, auth, "loupe_lua_last_reload_success_timestamp_seconds")))
    if after.get(('loupe_lua_reloads_total', '{result="success"}')) != 1:
        fail("the reload is not counted: %s" % {k: v for k, v in after.items() if "reload" in k[0]})
    if not gauge(url, auth, "loupe_lua_last_reload_success_timestamp_seconds") > loaded_at:
        fail("loupe_lua_last_reload_success_timestamp_seconds did not move")

    # Wait until the counts stop moving and Prometheus holds what loupe says.
    deadline = time.time() + 60
    before = None
    while True:
        direct = scrape_value(url, "loupe_worker_rx_packets_total", auth)
        stored = values(prom, "loupe_worker_rx_packets_total", "worker")
        if direct and sum(direct.values()) > 0 and direct == before and stored == direct:
            break
        before = direct
        if time.time() > deadline:
            fail("Prometheus never caught up: it holds %s, loupe says %s (sent %d)" %
                 (stored, direct, sent))
        time.sleep(0.5)
    up = values(prom, 'up{job="loupe"}', "job")
    ports = values(prom, "loupe_port_received_packets_total", "port")
    port_drops = values(prom, "sum(loupe_port_dropped_packets_total)", "")
    created = values(prom, "sum(loupe_flows_created_total)", "")
    calls = values(prom, "sum by (script) (loupe_lua_calls_total)", "script")
    print("Prometheus holds: up %s; packets per worker %s; per port %s; port drops %s; flows "
          "created %s; Lua calls by script %s" % (up, stored, ports, port_drops, created, calls))

    # Every dashboard query parses and runs.
    with open(os.path.join(env.source, "deploy", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for e in exprs:
        query(prom, e.replace("$instance", ".*").replace("$__rate_interval", "1m"))
    print("%d dashboard queries run" % len(exprs))

    err = stop_loupe(proc)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)

    summary = {m.group(1): float(m.group(2))
               for m in re.finditer(r"^loupe: worker (\d+): received (\d+),", err, re.M)}
    port_line = re.search(r"port veth: received (\d+) packets (\d+) bytes; missed (\d+), "
                          r"errors (\d+), no mbuf (\d+)", err)
    flows = re.search(r"total: flows created (\d+),", err)
    if not port_line or not flows or not summary:
        fail("no summary from loupe:\n" + err)
    received, _, missed, errors, nombuf = map(int, port_line.groups())
    print("loupe's summary: packets per worker %s; port received %d, drops %d; flows created %s;"
          " tcpreplay sent %d" % (summary, received, missed + errors + nombuf, flows.group(1), sent))
    if up != {"loupe": 1.0}:
        fail("Prometheus's scrapes of loupe failed: up = %s" % up)
    if stored != summary:
        fail("packets per worker: Prometheus %s, loupe's summary %s" % (stored, summary))
    if ports != {"veth": float(received)}:
        fail("port packets: Prometheus %s, loupe's summary %d" % (ports, received))
    if port_drops.get("", -1) != missed + errors + nombuf:
        fail("port drops: Prometheus %s, loupe's summary %d" % (port_drops, missed + errors + nombuf))
    if created.get("", -1) != float(flows.group(1)):
        fail("flows created: Prometheus %s, loupe's summary %s" % (created, flows.group(1)))
    if sent != received + missed + errors + nombuf:
        fail("tcpreplay sent %d, loupe received %d and dropped %d" %
             (sent, received, missed + errors + nombuf))
    if not calls:
        fail("no loupe_lua_calls_total in Prometheus")


main()
