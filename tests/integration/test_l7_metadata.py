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

import ipaddress
import os
import re
import subprocess

from loupe_test import Env, fail

# (record object, key in it, tshark display filter, tshark field, how many
# of the flow's tshark values loupe's one may match: "first" or "any").
FIELDS = [
    ("http", "hostname", "http.request", "http.host", "first"),
    ("http", "url", "http.request", "http.request.uri", "first"),
    ("http", "http_method", "http.request", "http.request.method", "first"),
    ("http", "http_user_agent", "http.request", "http.user_agent", "first"),
    ("tls", "sni", "tls.handshake.type==1", "tls.handshake.extensions_server_name", "first"),
    ("tls", "ja3", "tls.handshake.type==1", "tls.handshake.ja3", "first"),
    ("tls", "ja3s", "tls.handshake.type==2", "tls.handshake.ja3s", "first"),
    ("ssh", "hassh_client", "ssh.kex.hassh", "ssh.kex.hassh", "first"),
    ("ssh", "hassh_server", "ssh.kex.hasshserver", "ssh.kex.hasshserver", "first"),
    ("dns", "rrname", "dns", "dns.qry.name", "any"),
]

# Values of one field in one frame are joined with this (User-Agents hold commas).
SEP = "\x1f"


def same(ours, theirs):
    # tshark writes a non-printable byte as a \ooo escape: one byte on the wire.
    theirs = re.sub(r"\\[0-7]{3}", "?", theirs)
    ours, theirs = ours.lower(), theirs.lower()
    if len(ours) == 79 and len(theirs) > 79:
        # nDPI keeps 79 bytes of a longer name: its start, or for DNS its end.
        return same(ours, theirs[:79]) or same(ours, theirs[-79:])
    if len(ours) != len(theirs):
        return False
    return all(a == b or a in "_?" for a, b in zip(ours, theirs))


def tshark_first(pcap, display, field, all_values=False, frame_values=False):
    """{(l4, sorted endpoints): values of `field` in frames matching `display`, in order}"""
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, "-Y", display + " && " + field, "-T", "fields",
         "-E", "separator=|", "-E", "aggregator=" + SEP, "-e", "ip.src", "-e", "ipv6.src",
         "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "udp.srcport",
         "-e", "tcp.dstport", "-e", "udp.dstport", "-e", field],
        capture_output=True, text=True).stdout
    first = {}
    for line in out.splitlines():
        f = line.split("|")
        src, dst = f[0] or f[1], f[2] or f[3]
        l4 = "TCP" if f[4] else "UDP"
        sport, dport = int(f[4] or f[5]), int(f[6] or f[7])
        if "," in src or "," in dst:
            continue  # tunnelled: two IP layers
        key = (l4, tuple(sorted([(src, sport), (dst, dport)])))
        values = f[8].split(SEP) if all_values else f[8].split(SEP)[:1]
        if frame_values:
            first.setdefault(key, []).append(values)
        else:
            first.setdefault(key, []).extend(values)
    return first


def value_of(obj, key_name, v):
    if isinstance(v, dict):
        v = v.get("hash", "")
    return str(v)


def check(env, pcap, problems, compared):
    records, _, rc = env.loupe_run(pcap, check=False)
    if rc != 0:
        return
    records = sorted(records, key=lambda r: r["flow"]["start"])

    def flow_key(r):
        return (r["proto"], tuple(sorted([(r["src_ip"], r["src_port"]), (r["dest_ip"], r["dest_port"])])))

    for obj, key_name, display, field, mode in FIELDS:
        theirs = tshark_first(pcap, display, field)
        if obj == "dns":
            # nDPI may take the name from a response: its query, or a name
            # in its answers (a CNAME's target).
            for k, v in tshark_first(pcap, "dns.flags.response==1", "dns.resp.name", True).items():
                theirs.setdefault(k, []).extend(v)
        firsts = {}
        for r in records:
            if obj not in r or key_name not in r[obj] or r["proto"] not in ("TCP", "UDP"):
                continue
            firsts.setdefault(flow_key(r), value_of(obj, key_name, r[obj][key_name]))
        for key, ours in firsts.items():
            if key not in theirs:
                continue
            compared[field] = compared.get(field, 0) + 1
            values = theirs[key]
            if not values[0]:
                continue  # tshark read no value there (a malformed request line)
            if field == "http.host":
                values = [values[0].rsplit(":", 1)[0] if ":" in values[0] else values[0]]
            elif mode == "first":
                values = values[:1]
            if not any(same(ours, v) for v in values):
                problems.append("%s: %s %s: loupe %s.%s %r, tshark %s %r" %
                                (os.path.basename(pcap), key[0], key[1], obj, key_name, ours,
                                 field, values[:3]))

    # Every answer address of the flow's first response, in order: loupe
    # reads them itself (nDPI keeps one).
    answers = {}
    out = subprocess.run(
        ["tshark", "-n", "-r", pcap, "-Y", "dns.flags.response==1 && udp", "-T", "fields",
         "-E", "separator=|", "-E", "occurrence=a", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst",
         "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "dns.a", "-e", "dns.aaaa",
         "-e", "dns.resp.type", "-e", "dns.count.answers"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split("|")
        src, dst = f[0] or f[1], f[2] or f[3]
        if "," in src or "," in dst or not f[4]:
            continue
        key = ("UDP", tuple(sorted([(src, int(f[4])), (dst, int(f[5]))])))
        if key in answers:
            continue
        a = [x for x in f[6].split(",") if x]
        aaaa = [x for x in f[7].split(",") if x]
        # Response order: walk the record types of the answer section (tshark's
        # fields also hold the authority and additional sections' records,
        # which come after), taking A and AAAA in turn.
        ordered = []
        for t in f[8].split(",")[:int(f[9] or 0)]:
            if t == "1" and a:
                ordered.append(a.pop(0))
            elif t == "28" and aaaa:
                ordered.append(aaaa.pop(0))
        answers[key] = ordered
    seen = set()
    for r in records:
        if r["proto"] != "UDP" or (r.get("src_port") != 53 and r.get("dest_port") != 53):
            continue
        key = flow_key(r)
        if key in seen or key not in answers:
            continue
        seen.add(key)
        ours = r.get("dns", {}).get("answers", [])
        compared["dns.a/dns.aaaa"] = compared.get("dns.a/dns.aaaa", 0) + 1
        if [ipaddress.ip_address(x) for x in ours] != [ipaddress.ip_address(x) for x in answers[key]]:
            problems.append("%s: UDP %s: loupe dns.answers %r, tshark %r" %
                            (os.path.basename(pcap), key[1], ours[:6], answers[key][:6]))


def main():
    env = Env()
    captures = [env.generate("meta.pcap", "--flows", "600", "--seed", "13", "--ipv6", "20",
                             "--mix", "http=1,tls=1,dns=1")]
    corpus = env.ndpi_pcaps() or []
    captures += [p for p in corpus if any(k in os.path.basename(p) for k in
                                          ("http", "tls", "443-", "dns", "ssl", "ssh", "quic"))]
    # A protocol turned off by name is no longer detected: at most guessed
    # from its port when detection gives up.
    records, _, _ = env.loupe_run(captures[0])
    on = sum(1 for r in records if r.get("app_proto", "").startswith("DNS"))
    records, _, _ = env.loupe_run(captures[0], "classify.ndpi.disabled_protocols=[DNS]")
    detected = [r for r in records if r.get("app_proto", "").startswith("DNS")
                and not r["ndpi"].get("guessed")]
    print("DNS flows: %d with DNS on, %d detected with DNS off" % (on, len(detected)))
    if on < 50 or detected:
        fail("classify.ndpi.disabled_protocols=[DNS] did not turn DNS detection off")

    problems, compared = [], {}
    for pcap in captures:
        check(env, pcap, problems, compared)
    total = sum(compared.values())
    print("compared %d values over %d captures: %s" % (total, len(captures),
          ", ".join("%s %d" % kv for kv in sorted(compared.items()))))
    for field in ("http.request.uri", "dns.a/dns.aaaa", "tls.handshake.extensions_server_name"):
        if compared.get(field, 0) < 50:
            fail("too few %s values compared (%d): the test would prove nothing" %
                 (field, compared.get(field, 0)))
    if problems:
        print("%d differences:" % len(problems))
        for p in problems:
            print("  " + p)
        fail("loupe's metadata differs from tshark's")
    print("PASS")


main()
