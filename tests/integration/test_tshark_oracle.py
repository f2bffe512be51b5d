"""loupe's flows against tshark's conversation tables, computed when the
test runs, on the project's generated captures and on every Ethernet capture
of the nDPI corpus beside the project.

For every TCP/UDP 5-tuple loupe reports, the packets and bytes sent by each
side equal tshark's (`tshark -q -z conv,tcp -z conv,udp`; tshark prints
bytes above 10 kB rounded to kB, and the comparison keeps to its precision).
Every conversation tshark finds in frames with a single IP layer is one loupe
reports too. Conversations tshark finds only inside tunnels are not expected
yet: loupe does not decode tunnels, and counts their outer flow instead.
A capture of another link type must be refused with a message naming it."""

import os
import subprocess
import sys

from loupe_test import (Bytes, Env, fail, loupe_conversations, summary_accounted,
                        tshark_conversations)

# Frames where tshark sees exactly one IP layer: no tunnel, no ICMP error
# quoting another packet.
SINGLE_IP = "((count(ip)==1 && !ipv6) || (count(ipv6)==1 && !ip))"


# Known, explained differences: capture -> (reason, a line loupe's summary
# must contain, proving the frames were counted rather than lost).
EXPLAINED = {
    "fuzz-2020-02-16-11740.pcap": (
        "2 fuzzed frames whose IPv4 options overrun the header: loupe counts them as "
        "malformed, tshark dissects the UDP behind them anyway", "ipv4_bad_options 2"),
}


def link_type(pcap):
    out = subprocess.run(["capinfos", "-E", "-T", "-r", pcap], capture_output=True, text=True)
    fields = out.stdout.strip().split("\t")
    return fields[-1] if len(fields) > 1 else ""


def fragments(pcap):
    """Per 5-tuple and sender, the non-first IP fragments tshark sees, found
    by joining them to their first fragment on (src, dst, id)."""
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
         "-Y", "(ip.flags.mf==1 || ip.frag_offset>0 || ipv6.fraghdr) && " + SINGLE_IP,
         "-T", "fields", "-E", "separator=|",
         "-e", "ip.src", "-e", "ip.dst", "-e", "ip.id", "-e", "ip.frag_offset",
         "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.fraghdr.ident", "-e", "ipv6.fraghdr.offset",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.srcport", "-e", "tcp.dstport",
         "-e", "frame.len"], capture_output=True, text=True).stdout
    firsts, extra = {}, {}
    for line in out.splitlines():
        f = line.split("|")
        src, dst, ident, off = (f[0], f[1], f[2], f[3]) if f[0] else (f[4], f[5], f[6], f[7])
        if off in ("", "0"):
            if f[8]:
                firsts[(src, dst, ident)] = ("UDP", int(f[8]), int(f[9]))
            elif f[10]:
                firsts[(src, dst, ident)] = ("TCP", int(f[10]), int(f[11]))
            continue
        first = firsts.get((src, dst, ident))
        if first is None:
            continue
        proto, sport, dport = first
        ep = (src, sport)
        key = (proto,) + tuple(sorted([ep, (dst, dport)]))
        e = extra.setdefault(key, {}).setdefault(ep, [0, 0])
        e[0] += 1
        e[1] += int(f[12])
    return extra


def compare(env, pcap, problems):
    records, stderr, rc = env.loupe_run(pcap, check=False)
    if rc != 0:
        problems.append("%s: loupe exited %d: %s" % (pcap, rc, stderr.strip().splitlines()[-1:]))
        return 0
    if not summary_accounted(stderr):
        problems.append("%s: not every packet accounted for:\n%s" % (pcap, stderr))
    ours = loupe_conversations(records)
    everything = tshark_conversations(pcap)
    single = tshark_conversations(pcap, SINGLE_IP)
    # tshark with reassembly off counts only the first fragment of a
    # datagram in the conversation; loupe accounts every fragment.
    for key, sent in fragments(pcap).items():
        for ep, (p, b) in sent.items():
            if key in everything and ep in everything[key]:
                everything[key][ep][0] += p
                everything[key][ep][1] = everything[key][ep][1] + Bytes(b, "bytes")
    for key, sent in ours.items():
        theirs = everything.get(key)
        if theirs is None:
            problems.append("%s: %s: loupe has it, tshark does not" % (os.path.basename(pcap), key))
            continue
        for ep, (pkts, nbytes) in sent.items():
            tp, tb = theirs[ep]
            if pkts != tp or not tb.matches(nbytes):
                problems.append("%s: %s from %s: loupe %d pkts %d bytes, tshark %d pkts %s" %
                                (os.path.basename(pcap), key, ep, pkts, nbytes, tp, tb))
    explained = EXPLAINED.get(os.path.basename(pcap))
    for key in single:
        if key not in ours:
            if explained and explained[1] in stderr:
                print("  explained: %s: %s: %s" % (os.path.basename(pcap), key, explained[0]))
                continue
            problems.append("%s: %s: tshark has it, loupe does not" % (os.path.basename(pcap), key))
    return len(ours)


def main():
    env = Env()
    captures = [
        env.generate("mix.pcap", "--flows", "400", "--seed", "3", "--ipv6", "20", "--vlan", "10"),
        env.generate("short.pcap", "--flows", "300", "--seed", "4", "--packets-per-flow", "2-3"),
    ]
    corpus = env.ndpi_pcaps() or []
    problems, compared, flows = [], 0, 0
    refused = 0
    for pcap in captures + corpus:
        lt = link_type(pcap)
        if lt and lt not in ("Ethernet", "ether"):
            _, stderr, rc = env.loupe_run(pcap, check=False)
            if rc == 0 or "link type" not in stderr or os.path.basename(pcap) not in stderr:
                problems.append("%s (%s): expected a clear refusal, got rc %d: %s" %
                                (pcap, lt, rc, stderr.strip()))
            refused += 1
            continue
        flows += compare(env, pcap, problems)
        compared += 1
    print("compared %d captures (%d TCP/UDP conversations), refused %d of other link types" %
          (compared, flows, refused))
    if problems:
        print("%d mismatches:" % len(problems))
        for p in problems:
            print("  " + p)
        fail("loupe and tshark disagree")
    print("PASS")


main()
