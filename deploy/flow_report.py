#!/usr/bin/env python3
"""A short report of a loupe flow-record file (JSON lines): flows by
protocol, why they ended, the busiest conversations, and one record."""
import collections
import json
import sys


def main(path):
    with open(path) as f:
        records = [json.loads(line) for line in f]
    if not records:
        print("no flow records in", path)
        return
    by_proto = collections.Counter()
    bytes_by_proto = collections.Counter()
    reasons = collections.Counter()
    vlan = ipv6 = 0
    for r in records:
        f = r["flow"]
        key = "%s/%s" % (r["proto"], r.get("dest_port", "-"))
        by_proto[key] += 1
        bytes_by_proto[key] += f["bytes_toserver"] + f["bytes_toclient"]
        reasons[f["reason"]] += 1
        vlan += "vlan" in r
        ipv6 += ":" in r["src_ip"]
    print("%d flow records (%d IPv6, %d on a VLAN)" % (len(records), ipv6, vlan))
    print("\nflows by protocol/server port:")
    for key, n in by_proto.most_common(8):
        print("  %-12s %6d flows %12d bytes" % (key, n, bytes_by_proto[key]))
    print("\nwhy flows ended:")
    for reason, n in reasons.most_common():
        print("  %-16s %6d" % (reason, n))
    print("\nbusiest flows:")
    top = sorted(records, key=lambda r: -(r["flow"]["bytes_toserver"] + r["flow"]["bytes_toclient"]))
    for r in top[:5]:
        f = r["flow"]
        print("  %s %s:%s -> %s:%s  %d/%d pkts  %d/%d bytes  %s" % (
            r["proto"], r["src_ip"], r.get("src_port", ""), r["dest_ip"], r.get("dest_port", ""),
            f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"], f["bytes_toclient"],
            r["community_id"]))
    print("\none record:")
    print("  " + json.dumps(top[0]))


if __name__ == "__main__":
    main(sys.argv[1])
