"""Shared helpers of loupe's integration tests: run the real binaries on
captures, read the flow records, and ask tshark as an independent oracle.

Every test is a script: `python3 test_x.py BUILD_DIR SOURCE_DIR`. Exit 0 is
a pass, 77 a skip (meson's convention; the reason is printed), anything else
a failure with the reason printed."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

SKIP = 77


class Env:
    def __init__(self):
        if len(sys.argv) < 3:
            sys.exit("usage: %s BUILD_DIR SOURCE_DIR" % sys.argv[0])
        self.build = os.path.abspath(sys.argv[1])
        self.source = os.path.abspath(sys.argv[2])
        self.loupe = os.path.join(self.build, "app", "loupe")
        self.gen = os.path.join(self.build, "perf", "loupe-gen")
        self.shared = os.path.normpath(os.path.join(self.source, "..", "shared"))
        self.tmp = tempfile.mkdtemp(prefix="loupe-it-")
        self.config = os.path.join(self.source, "config", "loupe.yaml")

    def ndpi_pcaps(self):
        """The nDPI captures beside the project, or None (with a message)."""
        d = os.path.join(self.shared, "pcaps", "ndpi")
        if not os.path.isdir(d):
            print("note: %s is absent: the nDPI capture corpus is not checked" % d)
            return None
        return sorted(os.path.join(d, f) for f in os.listdir(d)
                      if os.path.isfile(os.path.join(d, f)) and re.search(r"\.(pcap|pcapng|cap)$", f))

    def generate(self, name, *args):
        out = os.path.join(self.tmp, name)
        run([self.gen, "-o", out] + list(args))
        return out

    def loupe_run(self, inputs, *sets, workers=1, check=True, extra=()):
        """Runs loupe offline; returns (records, stderr, returncode)."""
        flows = os.path.join(self.tmp, "flows-%d.json" % os.getpid())
        if os.path.exists(flows):
            os.unlink(flows)
        cmd = [self.loupe, "-c", self.config, "-r", inputs,
               "--set", "output.flows=" + flows,
               "--set", "workers.count=%d" % workers] + list(extra)
        for s in sets:
            cmd += ["--set", s]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if check and p.returncode != 0:
            fail("loupe failed (%d) on %s:\n%s" % (p.returncode, inputs, p.stderr))
        records = []
        if os.path.exists(flows):
            with open(flows) as f:
                records = [json.loads(line) for line in f]
        return records, p.stderr, p.returncode


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


class VethPair:
    """A veth pair for live tests: `host_if` on the host, where loupe
    captures, and `peer_if` in a network namespace of its own, where
    tcpreplay sends. Names carry the process id, so parallel tests never
    meet. No addresses and no IPv6: the kernel sends nothing of its own on
    the link, so every frame loupe sees came from tcpreplay."""

    def __init__(self, tag):
        pid = os.getpid()
        self.ns = "loupe-%s-%d" % (tag, pid)
        self.host_if = "lp%s%d" % (tag[0], pid % 100000)
        self.peer_if = self.host_if + "p"

    def setup(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if,
           "netns", self.ns)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.host_if)
        sh("ip", "netns", "exec", self.ns, "sysctl", "-qw",
           "net.ipv6.conf.%s.disable_ipv6=1" % self.peer_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.peer_if, "up")

    def remove(self):
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


def wait_line(proc, text, seconds=30):
    """Reads loupe's stderr up to a line holding `text`; returns the lines read."""
    lines = []
    deadline = time.time() + seconds
    while not lines or text not in lines[-1]:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            fail("loupe exited while waiting for %r:\n%s%s" % (text, "".join(lines),
                                                               proc.stderr.read()))
        lines.append(line)
        if time.time() > deadline:
            proc.kill()
            fail("no %r from loupe within %d s:\n%s" % (text, seconds, "".join(lines)))
    return lines


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        fail("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p.stdout


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


def summary_accounted(stderr):
    """True when loupe's exit summary says every packet is accounted for."""
    return "every packet accounted for" in stderr


def record_key(r):
    """A flow record without what may differ between runs (flow_id)."""
    r = dict(r)
    r.pop("flow_id", None)
    return json.dumps(r, sort_keys=True)


# --- tshark as the oracle -------------------------------------------------

_CONV = re.compile(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+(\d+)\s+(bytes|kB|MB|GB)\s+"
                   r"(\d+)\s+(\d+)\s+(bytes|kB|MB|GB)\s+")
_UNIT = {"bytes": 1, "kB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}


class Bytes:
    """A byte count as tshark printed it: exact below 10 kB, above that
    truncated to whole kB (or MB, GB). Kept as the interval [lo, hi) of exact
    values it stands for, so sums of several rows stay honest."""

    def __init__(self, value, unit="bytes"):
        scale = _UNIT[unit]
        self.lo, self.hi = value * scale, value * scale + scale

    def matches(self, exact):
        return self.lo <= exact < self.hi

    def __add__(self, other):
        r = Bytes(0)
        r.lo, r.hi = self.lo + other.lo, self.hi + other.hi - 1
        return r

    def __repr__(self):
        return str(self.lo) if self.hi == self.lo + 1 else "[%d, %d)" % (self.lo, self.hi)


def tshark_conversations(pcap, display_filter=None):
    """{(proto, (ip, port), (ip, port)) sorted endpoints: {endpoint: [pkts, Bytes]}}
    where the per-endpoint figures count what that endpoint sent."""
    # Reassembly off: each fragment is its own frame, and the first one, which
    # carries the ports, is counted in its conversation.
    cmd = ["tshark", "-n", "-r", pcap, "-q", "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE"]
    for proto in ("tcp", "udp"):
        cmd += ["-z", "conv,%s%s" % (proto, "," + display_filter if display_filter else "")]
    out = run(cmd, env=dict(os.environ, LANG="C"))
    convs = {}
    proto = None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "TCP"
        elif line.startswith("UDP Conversations"):
            proto = "UDP"
        m = _CONV.match(line)
        if not m or proto is None:
            continue
        a = (m.group(1), int(m.group(2)))
        b = (m.group(3), int(m.group(4)))
        # "<-" counts frames from B to A, "->" frames from A to B.
        from_b = [int(m.group(5)), Bytes(int(m.group(6)), m.group(7))]
        from_a = [int(m.group(8)), Bytes(int(m.group(9)), m.group(10))]
        key = (proto,) + tuple(sorted([a, b]))
        sent = convs.setdefault(key, {a: [0, Bytes(0)], b: [0, Bytes(0)]})
        for ep, fig in ((a, from_a), (b, from_b)):
            sent[ep][0] += fig[0]
            sent[ep][1] = sent[ep][1] + fig[1]
    return convs


def loupe_conversations(records):
    """The records' TCP/UDP flows summed per 5-tuple (VLANs merged, as tshark
    does): {key: {endpoint: [pkts, bytes]}}."""
    convs = {}
    for r in records:
        if r.get("proto") not in ("TCP", "UDP"):
            continue
        a = (r["src_ip"], r["src_port"])
        b = (r["dest_ip"], r["dest_port"])
        key = (r["proto"],) + tuple(sorted([a, b]))
        sent = convs.setdefault(key, {a: [0, 0], b: [0, 0]})
        f = r["flow"]
        sent[a][0] += f["pkts_toserver"]
        sent[a][1] += f["bytes_toserver"]
        sent[b][0] += f["pkts_toclient"]
        sent[b][1] += f["bytes_toclient"]
    return convs
