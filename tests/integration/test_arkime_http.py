"""ArkimeHttpService through a real run: the shipped enrichment example
flow/arkime_host_reputation.lua asks a reputation service, which this test
starts on loopback, about the Host of every HTTP request in a generated
capture. The answers must reach the flow records as tags, which only
happens when each flow's final save waited for its lookups
(incr_outstanding). Three runs: the server answers (a verdict, a 404, and
one answer slower than lua.http.timeout_ms); the server is down; and the
hold is shorter than a slow answer, so that flow's record goes without it."""

import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import loupe_test as lt  # noqa: E402
from test_arkime import T0, shipped_set, tcp_frame, turn_on, write_pcap  # noqa: E402

SCRIPT = "flow/arkime_host_reputation"
CLIENT_NET = "10.6.0."
SERVER = "10.6.1.1"

# Per connection: the Host of each of its requests (pipelined when several).
CONNECTIONS = [
    ["good.example"],
    ["bad.example"],
    ["slow.example"],
    ["unknown.example"],
    ["good.example", "bad.example", "good.example"],  # pipelined; good asked once
    ["Good.Example"],  # left open at the end of the capture: ended by shutdown
]


def write_capture(path):
    frames, t = [], T0
    for i, hosts in enumerate(CONNECTIONS):
        cli, sport = CLIENT_NET + str(i + 1), 40000 + i
        cs, ss = 1000 * (i + 1), 900000 * (i + 1)
        frames.append((t, tcp_frame(cli, SERVER, sport, 80, cs, 0, 0x02)))
        frames.append((t + 0.001, tcp_frame(SERVER, cli, 80, sport, ss, cs + 1, 0x12)))
        frames.append((t + 0.002, tcp_frame(cli, SERVER, sport, 80, cs + 1, ss + 1, 0x10)))
        req = b"".join(b"GET /x HTTP/1.1\r\nHost: %s\r\nUser-Agent: t\r\n\r\n" % h.encode()
                       for h in hosts)
        rsp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * len(hosts)
        c, s = cs + 1, ss + 1
        frames.append((t + 0.01, tcp_frame(cli, SERVER, sport, 80, c, s, 0x18, req)))
        c += len(req)
        frames.append((t + 0.02, tcp_frame(SERVER, cli, 80, sport, s, c, 0x18, rsp)))
        s += len(rsp)
        if i != len(CONNECTIONS) - 1:
            frames.append((t + 0.03, tcp_frame(cli, SERVER, sport, 80, c, s, 0x11)))
            frames.append((t + 0.04, tcp_frame(SERVER, cli, 80, sport, s, c + 1, 0x11)))
            frames.append((t + 0.05, tcp_frame(cli, SERVER, sport, 80, c + 1, s + 1, 0x10)))
        t += 3  # past the closed linger (flow.timeouts.tcp_closed=1)
    write_pcap(path, frames)


class Reputation(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, slow_s):
        self.slow_s = slow_s
        self.asked = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        url = urllib.parse.urlparse(self.path)
        host = urllib.parse.parse_qs(url.query).get("host", [""])[0]
        with self.server.lock:
            self.server.asked.append(host)
        if url.path != "/lookup" or host not in ("good.example", "bad.example", "slow.example"):
            body, code = b"no such host\n", 404
        else:
            if host == "slow.example":
                time.sleep(self.server.slow_s)
            body, code = (b"malicious\n" if host == "bad.example" else b"clean\n"), 200
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout)

    def log_message(self, *args):
        pass


def run(env, pcap, port, *sets):
    scripts = shipped_set(env, [SCRIPT + ".lua"], ["data/reputation_service.txt"])
    with open(os.path.join(scripts, "data", "reputation_service.txt"), "w") as f:
        f.write("# the test's server\nhttp://127.0.0.1:%d\n" % port)
    alerts = os.path.join(env.tmp, "alerts-%d.json" % port)
    if os.path.exists(alerts):
        os.unlink(alerts)
    records, err, _ = env.loupe_run(
        pcap, "lua.scripts_dir=" + scripts, "alerts.file=" + alerts, turn_on(SCRIPT),
        'lua.http.allow=["http://127.0.0.1:%d"]' % port, "flow.timeouts.tcp_closed=1", *sets)
    if not lt.summary_accounted(err):
        lt.fail("packets not accounted for:\n" + err)
    tags = {}
    # A closed connection ends a second later, while the reader goes on:
    # holds then happen mid-run, not only at the end of input.
    ended_by_fin = sum(1 for r in records if r.get("flow", {}).get("reason") == "tcp_fin")
    if ended_by_fin != len(CONNECTIONS) - 1:
        lt.fail("%d flows ended by FIN, expected %d" % (ended_by_fin, len(CONNECTIONS) - 1))
    for r in records:
        if r.get("dest_ip") == SERVER:
            tags[int(r["src_ip"].rsplit(".", 1)[1]) - 1] = sorted(
                t for t in r.get("tags", []) if t.startswith("reputation:"))
    if sorted(tags) != list(range(len(CONNECTIONS))):
        lt.fail("records of connections %s, expected %d:\n%s" % (sorted(tags), len(CONNECTIONS), err))
    with open(alerts) as f:
        alerted = [json.loads(line) for line in f if line.strip()]
    return tags, alerted, err


def held(err):
    """(held, expired) final saves, summed over the workers' summary lines."""
    h = e = 0
    for line in err.splitlines():
        if "final saves held" in line:
            words = line.replace(",", "").split()
            h += int(words[words.index("held") + 1])
            e += int(words[words.index("expired") + 1])
    return h, e


def expect(tags, want, what, err):
    for i, w in enumerate(want):
        if tags[i] != sorted(w):
            lt.fail("%s: connection %d (%s): tags %s, expected %s\n%s"
                    % (what, i, CONNECTIONS[i], tags[i], sorted(w), err))


def main():
    env = lt.Env()
    pcap = os.path.join(env.tmp, "http-hosts.pcap")
    write_capture(pcap)

    # 1. The server answers; slow.example after the request timeout.
    srv = Reputation(slow_s=2.0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    tags, alerted, err = run(env, pcap, port, "lua.http.timeout_ms=400",
                             "lua.http.max_outstanding_ms=10000")
    want = [["reputation:clean"], ["reputation:malicious"], ["reputation:timeout"],
            ["reputation:http-404"], ["reputation:clean", "reputation:malicious"],
            ["reputation:clean"]]
    expect(tags, want, "server up", err)
    asked = sorted(srv.asked)
    want_asked = sorted(["good.example", "bad.example", "slow.example", "unknown.example",
                         "good.example", "bad.example", "good.example"])
    if asked != want_asked:
        lt.fail("the server was asked %s, expected %s (once per host and flow)" % (asked, want_asked))
    bad = [a for a in alerted if "malicious" in json.dumps(a)]
    if len(bad) != 2:
        lt.fail("%d alerts for malicious hosts, expected 2:\n%s" % (len(bad), alerted))
    h, e = held(err)
    if h != len(CONNECTIONS) or e != 0:
        lt.fail("final saves held %d (expected %d), expired %d (expected 0):\n%s"
                % (h, len(CONNECTIONS), e, err))
    print("OK: server up: every flow's record carries its verdicts (clean, malicious, http-404) "
          "and the timeout of the slow lookup; %d lookups, once per host and flow; 2 alerts; "
          "%d final saves held, none expired" % (len(asked), h))

    # 2. The hold is shorter than the slow answer (which now comes within
    # the request timeout): that record goes without it, the others wait.
    srv.slow_s = 1.5
    srv.asked.clear()
    t0 = time.monotonic()
    tags, _, err = run(env, pcap, port, "lua.http.timeout_ms=5000",
                       "lua.http.max_outstanding_ms=300")
    took = time.monotonic() - t0
    want[2] = []
    expect(tags, want, "hold shorter than the answer", err)
    h, e = held(err)
    if e != 1:
        lt.fail("expired holds %d, expected 1 (slow.example):\n%s" % (e, err))
    print("OK: a 300 ms hold: the slow lookup's record went without its verdict (1 hold "
          "expired of %d), the others kept theirs; the run took %.1f s" % (h, took))
    srv.shutdown()
    srv.server_close()

    # 3. The server is down: a port nothing listens on.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    down = s.getsockname()[1]
    s.close()
    tags, _, err = run(env, pcap, down, "lua.http.timeout_ms=2000")
    want = [["reputation:connect"]] * 4 + [["reputation:connect"]] + [["reputation:connect"]]
    expect(tags, want, "server down", err)
    print("OK: server down: every flow is tagged reputation:connect")


if __name__ == "__main__":
    main()
