"""Protocol detection agrees with an independent run of the same library:
for every capture with an output in ../shared/pcaps/ndpi/expected-ndpi-4.2/,
Debian's ndpiReader runs now, with the list files of
../shared/pcaps/ndpi/ndpi-4.2-example/, and loupe runs on the same capture
with the same files. Per flow (L4 protocol, both endpoints, VLAN), loupe's
app_proto must equal ndpiReader's protocol for at least 99% of the flows;
every mismatch is listed with what loupe and ndpiReader said."""

import os
import re
import subprocess
import sys

from loupe_test import Env, fail, skip

FLOW = re.compile(r"^\s+\d+\s+(\w+) (\S+) (?:<->|->) (\S+) (?:\[VLAN: (\d+)\])?.*?\[proto: [\d.]+/([^\]]+)\]")
THRESHOLD = 0.99
# loupe writes protocols without a name as their number, ndpiReader by name.
IP_PROTO_NAMES = {"2": "IGMP", "47": "GRE", "50": "ESP", "51": "AH", "89": "OSPF", "103": "PIM",
                  "112": "VRRP", "4": "IP_IN_IP", "41": "IPv6"}


def endpoint(text):
    m = re.match(r"^\[?([^\]]+?)\]?:(\d+)$", text)
    return (m.group(1), int(m.group(2))) if m else (text, 0)


def ndpireader_flows(pcap, lists, out):
    cmd = ["ndpiReader", "-p", lists["protos"], "-c", lists["categories"], "-r", lists["risky"],
           "-j", lists["ja3"], "-S", lists["sha1"], "-q", "-t", "-i", pcap, "-w", out, "-v", "2"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    flows = {}
    with open(out, errors="replace") as f:
        for line in f:
            m = FLOW.match(line)
            if not m:
                continue
            l4, a, b, vlan, name = m.groups()
            key = (l4, tuple(sorted([endpoint(a), endpoint(b)])), int(vlan or 0))
            flows.setdefault(key, name)
    return flows


def loupe_flows(records):
    flows = {}
    for r in sorted(records, key=lambda r: r["flow"]["start"]):
        proto = r["proto"]
        if proto == "IPv6-ICMP":
            proto = "ICMPV6"
        proto = IP_PROTO_NAMES.get(proto, proto)
        a = (r["src_ip"], r.get("src_port", 0))
        b = (r["dest_ip"], r.get("dest_port", 0))
        vlan = r.get("vlan", [0])[-1]
        key = (proto, tuple(sorted([a, b])), vlan)
        flows.setdefault(key, r.get("app_proto", "(none)"))
    return flows


def main():
    env = Env()
    corpus = os.path.join(env.shared, "pcaps", "ndpi")
    expected = os.path.join(corpus, "expected-ndpi-4.2")
    if not os.path.isdir(expected):
        skip("%s is absent: the agreement test needs the nDPI corpus" % expected)
    ex = os.path.join(corpus, "ndpi-4.2-example")
    lists = {"protos": os.path.join(ex, "protos.txt"), "categories": os.path.join(ex, "categories.txt"),
             "risky": os.path.join(ex, "risky_domains.txt"),
             "ja3": os.path.join(ex, "ja3_fingerprints.csv"), "sha1": os.path.join(ex, "sha1_fingerprints.csv")}
    sets = ["classify.ndpi.protos_file=" + lists["protos"],
            "classify.ndpi.categories_file=" + lists["categories"],
            "classify.ndpi.risky_domains_file=" + lists["risky"],
            "classify.ndpi.ja3_file=" + lists["ja3"], "classify.ndpi.sha1_file=" + lists["sha1"]]
    total = agree = 0
    mismatches, absent, skipped = [], [], []
    for name in sorted(os.listdir(expected)):
        pcap = os.path.join(corpus, name[:-len(".out")])
        if not os.path.exists(pcap):
            continue
        records, stderr, rc = env.loupe_run(pcap, *sets, check=False)
        if rc != 0:
            skipped.append("%s: loupe exited %d: %s" % (os.path.basename(pcap), rc,
                                                       stderr.strip().splitlines()[-1]))
            continue
        theirs = ndpireader_flows(pcap, lists, os.path.join(env.tmp, "ndpi.out"))
        ours = loupe_flows(records)
        for key, proto in sorted(theirs.items()):
            if key not in ours:
                absent.append("%s: %s %s vlan %d: ndpiReader %s; no such loupe flow" %
                              (os.path.basename(pcap), key[0], key[1], key[2], proto))
                continue
            total += 1
            if ours[key] == proto:
                agree += 1
            else:
                mismatches.append("%s: %s %s vlan %d: ndpiReader %s, loupe %s" %
                                  (os.path.basename(pcap), key[0], key[1], key[2], proto, ours[key]))
    share = agree / total if total else 0
    print("%d flows in both, %d agree (%.2f%%); %d ndpiReader flows loupe does not have "
          "(tunnels loupe does not decode yet, non-IP); %d captures skipped" %
          (total, agree, 100 * share, len(absent), len(skipped)))
    for title, lines in (("mismatches", mismatches), ("not in loupe", absent), ("skipped", skipped)):
        if lines:
            print("%s (%d):" % (title, len(lines)))
            for line in lines:
                print("  " + line)
    if share < THRESHOLD:
        fail("agreement %.2f%% is below %.0f%%" % (100 * share, 100 * THRESHOLD))
    print("PASS")


main()
