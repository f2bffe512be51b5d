"""The metadata nDPI extracts for loupe equals tshark's reading of the same
packets: per flow, loupe's http.hostname is the Host of tshark's first HTTP
request (without its ":port", which nDPI drops), tls.sni the server_name of
its first TLS ClientHello, and dns.rrname one of the names the flow's DNS
queries asked (nDPI keeps the one of the packet that ended detection, not
always the first, when a flow carries several queries). nDPI keeps at most
79 characters and writes characters outside [A-Za-z0-9.-] as '_' or '?':
those positions match anything. On a generated capture with every protocol
of the mix, and on the nDPI corpus's HTTP, TLS and DNS captures when the
corpus is beside the project."""

import os
import re
import subprocess

from loupe_test import Env, fail

FIELDS = {
    "http": ("http.request", "http.host", "hostname"),
    "tls": ("tls.handshake.type==1", "tls.handshake.extensions_server_name", "sni"),
    "dns": ("dns", "dns.qry.name", "rrname"),
}


def same(ours, theirs):
    # tshark writes a non-printable byte as a \ooo escape: one byte on the wire.
    theirs = re.sub(r"\\[0-7]{3}", "?", theirs)
    ours, theirs = ours.lower(), theirs.lower()
    if len(ours) == 79 and len(theirs) > 79:
        theirs = theirs[:79]
    if len(ours) != len(theirs):
        return False
    return all(a == b or a in "_?" for a, b in zip(ours, theirs))


def tshark_first(pcap, display, field, all_values=False):
    """{(l4, sorted endpoints): values of `field` in frames matching `display`, in order}"""
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, "-Y", display + " && " + field, "-T", "fields",
         "-E", "separator=|", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
         "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tcp.dstport", "-e", "udp.dstport",
         "-e", field], capture_output=True, text=True).stdout
    first = {}
    for line in out.splitlines():
        f = line.split("|")
        src, dst = f[0] or f[1], f[2] or f[3]
        l4 = "TCP" if f[4] else "UDP"
        sport, dport = int(f[4] or f[5]), int(f[6] or f[7])
        if "," in src or "," in dst:
            continue  # tunnelled: two IP layers
        key = (l4, tuple(sorted([(src, sport), (dst, dport)])))
        first.setdefault(key, []).extend(f[8].split(",") if all_values else f[8].split(",")[:1])
    return first


def check(env, pcap, problems):
    records, _, rc = env.loupe_run(pcap, check=False)
    if rc != 0:
        return 0
    compared = 0
    for obj, (display, field, key_name) in FIELDS.items():
        theirs = tshark_first(pcap, display, field)
        if obj == "dns":
            # nDPI may take the name from a response: its query, or a name
            # in its answers (a CNAME's target).
            for k, v in tshark_first(pcap, "dns.flags.response==1", "dns.resp.name", True).items():
                theirs.setdefault(k, []).extend(v)
        firsts = {}
        for r in sorted(records, key=lambda r: r["flow"]["start"]):
            if obj not in r or r["proto"] not in ("TCP", "UDP"):
                continue
            key = (r["proto"], tuple(sorted([(r["src_ip"], r["src_port"]), (r["dest_ip"], r["dest_port"])])))
            firsts.setdefault(key, r[obj][key_name])
        for key, ours in firsts.items():
            if key not in theirs:
                continue
            compared += 1
            values = theirs[key]
            if obj == "http":
                values = [values[0].rsplit(":", 1)[0] if ":" in values[0] else values[0]]
            elif obj == "tls":
                values = values[:1]
            if not any(same(ours, v) for v in values):
                problems.append("%s: %s %s: loupe %s.%s %r, tshark %s %r" %
                                (os.path.basename(pcap), key[0], key[1], obj, key_name, ours,
                                 field, values[:3]))
    return compared


def main():
    env = Env()
    captures = [env.generate("meta.pcap", "--flows", "600", "--seed", "13", "--ipv6", "20",
                             "--mix", "http=1,tls=1,dns=1")]
    corpus = env.ndpi_pcaps() or []
    captures += [p for p in corpus if any(k in os.path.basename(p) for k in
                                          ("http", "tls", "443-", "dns", "ssl"))]
    problems, compared = [], 0
    for pcap in captures:
        compared += check(env, pcap, problems)
    print("compared %d values over %d captures" % (compared, len(captures)))
    if compared < 300:
        fail("too few values compared (%d): the test would prove nothing" % compared)
    if problems:
        print("%d differences:" % len(problems))
        for p in problems:
            print("  " + p)
        fail("loupe's metadata differs from tshark's")
    print("PASS")


main()
