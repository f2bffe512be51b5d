"""The payload-prefix classifiers against an independent reading of the same
packets. tshark gives the first payload of each direction of every flow;
the test builds thousands of rules (prefixes cut from those payloads at
random offsets, the same bytes declared one byte off, random bytes that
match nothing), computes in Python which rules sit exactly at their offset
in which first payload, and requires loupe's per-flow "classifiers" to be
exactly that, for TCP and UDP, client and server sides, and direction-
restricted rules. Then: the compiled set is cached (the second start loads
it, a changed rule compiles again), and a bad rule is reported at its
file:line:col."""

import os
import random
import re
import subprocess

from loupe_test import Env, fail

N_CUT, N_SHIFTED, N_RANDOM = 1500, 500, 2000


def first_payloads(pcap):
    """{(l4, sorted endpoints): {(ip, port): first payload bytes of that sender}}"""
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, "-Y", "(tcp.len > 0) || (udp.length > 8)", "-T", "fields",
         "-E", "separator=|", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
         "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tcp.dstport", "-e", "udp.dstport",
         "-e", "tcp.payload", "-e", "udp.payload"], capture_output=True, text=True).stdout
    flows = {}
    for line in out.splitlines():
        f = line.split("|")
        src, dst = f[0] or f[1], f[2] or f[3]
        l4 = "TCP" if f[4] else "UDP"
        sport, dport = int(f[4] or f[5]), int(f[6] or f[7])
        payload = bytes.fromhex((f[8] or f[9]).replace(":", ""))
        key = (l4, tuple(sorted([(src, sport), (dst, dport)])))
        flows.setdefault(key, {}).setdefault((src, sport), payload)
    return flows


def make_rules(flows, rng):
    rules = []
    items = sorted(flows.items())
    for i in range(N_CUT + N_SHIFTED):
        key, senders = items[rng.randrange(len(items))]
        sender, payload = sorted(senders.items())[rng.randrange(len(senders))]
        if len(payload) < 6:
            continue
        off = rng.randrange(0, min(len(payload) - 4, 200))
        n = rng.randrange(4, min(16, len(payload) - off) + 1)
        data = payload[off:off + n]
        if i >= N_CUT:
            off += rng.choice((-1, 1)) if off > 0 else 1  # declared one byte off
        rules.append({"name": "r%d" % i, "proto": key[0].lower(), "offset": off, "bytes": data,
                      "direction": rng.choice(("any", "any", "client", "server"))})
    for i in range(N_RANDOM):
        rules.append({"name": "x%d" % i, "proto": rng.choice(("tcp", "udp")),
                      "offset": rng.randrange(0, 64),
                      "bytes": bytes(rng.randrange(256) for _ in range(rng.randrange(4, 17))),
                      "direction": "any"})
    return rules


def yaml_rules(rules):
    lines = ["classifiers:"]
    for r in rules:
        lines.append("  - {name: %s, proto: %s, offset: %d, bytes: \"|%s|\", direction: %s}" %
                     (r["name"], r["proto"], r["offset"], r["bytes"].hex(" "), r["direction"]))
    return "\n".join(lines) + "\n"


def expected(rules, flows, records):
    """{flow key: set of (rule name, side)} for the flows loupe reported."""
    want = {}
    for rec in records:
        if rec["proto"] not in ("TCP", "UDP"):
            continue
        client = (rec["src_ip"], rec["src_port"])
        server = (rec["dest_ip"], rec["dest_port"])
        key = (rec["proto"], tuple(sorted([client, server])))
        got = set()
        for side, who in (("client", client), ("server", server)):
            payload = flows.get(key, {}).get(who)
            if payload is None:
                continue
            for r in rules:
                if r["proto"] != rec["proto"].lower() or r["direction"] not in ("any", side):
                    continue
                if payload[r["offset"]:r["offset"] + len(r["bytes"])] == r["bytes"]:
                    got.add((r["name"], side))
        want[key] = got
    return want


def main():
    env = Env()
    rng = random.Random(7)
    pcap = env.generate("cls.pcap", "--flows", "800", "--seed", "5", "--ipv6", "20",
                        "--mix", "http=3,tls=3,dns=2,quic=1,tcp=1,udp=1")
    flows = first_payloads(pcap)
    rules = make_rules(flows, rng)
    conf = os.path.join(env.tmp, "cls.yaml")
    cache = os.path.join(env.tmp, "hs-cache")
    with open(conf, "w") as f:
        f.write(yaml_rules(rules))
    flows_out = os.path.join(env.tmp, "cls.json")
    cmd = [env.loupe, "-c", env.config, "-r", pcap, "--set", "output.flows=" + flows_out,
           "--set", "classify.classifiers.cache_dir=" + cache, "--set", "workers.count=1"]

    def run(config):
        # The rules' file is the configuration: the shipped one with the rules appended.
        with open(env.config) as base, open(config) as extra, open(conf + ".full", "w") as out:
            out.write(base.read().replace("classifiers: []\n", "") + extra.read())
        p = subprocess.run(cmd[:1] + ["-c", conf + ".full"] + cmd[3:], capture_output=True,
                           text=True)
        if p.returncode != 0:
            fail("loupe failed (%d):\n%s" % (p.returncode, p.stderr))
        return p.stderr

    err = run(conf)
    if not re.search(r"classifiers: %d rules .* compiled" % len(rules), err):
        fail("first start did not compile the %d rules:\n%s" % (len(rules), err))
    import json
    with open(flows_out) as f:
        records = [json.loads(l) for l in f]
    want = expected(rules, flows, records)
    problems, matched, capped = [], 0, 0
    pos = {r["name"]: i for i, r in enumerate(rules)}
    sides = set()
    for rec in records:
        if rec["proto"] not in ("TCP", "UDP"):
            continue
        key = (rec["proto"], tuple(sorted([(rec["src_ip"], rec["src_port"]),
                                           (rec["dest_ip"], rec["dest_port"])])))
        got = {(m["name"], m["side"]) for m in rec.get("classifiers", [])}
        matched += len(got)
        sides |= {(rec["proto"], s) for _, s in got}
        # loupe keeps the first 64 matches of a direction, in rule order.
        for side in ("client", "server"):
            mine = sorted((n for n, s in want[key] if s == side), key=lambda n: pos[n])
            if len(mine) > 64:
                capped += 1
                want[key] -= {(n, side) for n in mine[64:]}
        if got != want[key]:
            problems.append("%s %s: loupe %s, expected %s" % (key[0], key[1], sorted(got - want[key]),
                                                             sorted(want[key] - got)))
    print("%d rules, %d flows, %d matches (%d directions at the 64-match limit); sides: %s" %
          (len(rules), len(records), matched, capped, sorted(sides)))
    if problems:
        fail("%d flows differ (extra, missing):\n  %s" % (len(problems), "\n  ".join(problems[:20])))
    if matched < 500 or len(sides) < 4:
        fail("too few matches (%d, sides %s): the test would prove nothing" % (matched, sides))

    # The cache: loaded on the second start, compiled again after a change.
    err = run(conf)
    if "loaded from the cache" not in err:
        fail("second start did not use the cache:\n" + err)
    rules[0]["offset"] += 1
    with open(conf, "w") as f:
        f.write(yaml_rules(rules))
    err = run(conf)
    if "compiled" not in err or "loaded from the cache" in err:
        fail("a changed rule did not compile a new set:\n" + err)
    print("cache: used on the second start, rebuilt after a rule changed")

    # Bad rules, at their exact positions.
    bad = os.path.join(env.tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("classifiers:\n"
                "  - {name: ok, proto: tcp, offset: 0, bytes: \"GET \"}\n"
                "  - {name: esc, proto: tcp, offset: 0, bytes: \"a\\\\qb\"}\n"
                "  - {name: far, proto: udp, offset: 1020, bytes: \"abcdef\"}\n"
                "  - {name: empty, proto: udp, offset: 0, bytes: \"\"}\n")
    p = subprocess.run([env.loupe, "-c", bad, "-T"], capture_output=True, text=True)
    print(p.stderr.strip())
    for pos in (r"bad.yaml:3:\d+: classifiers.1.bytes", r"bad.yaml:4:\d+: classifiers.2",
                r"bad.yaml:5:\d+: classifiers.3.bytes"):
        if not re.search(pos, p.stderr):
            fail("no error matching %r:\n%s" % (pos, p.stderr))
    if p.returncode == 0:
        fail("-T accepted bad classifier rules")
    print("PASS")


main()
