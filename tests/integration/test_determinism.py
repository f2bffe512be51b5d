"""Offline results do not depend on the number of workers: 1 and 3 workers
(lcores sharing this machine's cores) give the same set of flow records,
compared without flow_id and without nDPI's verdicts (app_proto, ndpi and
the metadata objects), on a generated capture with idle gaps (so timers
fire on workers that receive nothing for a while) and on the whole nDPI
corpus read as one directory."""

import os

import json

from loupe_test import Env, fail, summary_accounted

# nDPI keeps caches across flows inside each worker's module (STUN and Teams
# addresses, for one), so a few labels depend on which flows share a worker:
# the same holds for any per-core nDPI deployment. The flows themselves must
# not.
L7_FIELDS = ("app_proto", "ndpi", "http", "tls", "dns", "host")


def record_key(r, l7=False):
    r = dict(r)
    r.pop("flow_id", None)
    if not l7:
        for k in L7_FIELDS:
            r.pop(k, None)
    return json.dumps(r, sort_keys=True)


def same(env, path, label):
    one, err1, _ = env.loupe_run(path, workers=1)
    three, err3, _ = env.loupe_run(path, workers=3)
    for err in (err1, err3):
        if not summary_accounted(err):
            fail("%s: not every packet accounted for:\n%s" % (label, err))
    a = sorted(record_key(r) for r in one)
    b = sorted(record_key(r) for r in three)
    if a != b:
        only1 = set(a) - set(b)
        only3 = set(b) - set(a)
        fail("%s: 1 worker gave %d records, 3 workers %d; %d only with 1, e.g. %s; %d only with 3, "
             "e.g. %s" % (label, len(a), len(b), len(only1), sorted(only1)[:2], len(only3),
                          sorted(only3)[:2]))
    if "worker 2:" not in err3:
        fail("%s: the 3-worker run did not report 3 workers:\n%s" % (label, err3))
    l7a = sorted(record_key(r, True) for r in one)
    l7b = sorted(record_key(r, True) for r in three)
    differ = len(set(l7a) - set(l7b))
    print("%s: %d records, identical with 1 and 3 workers; nDPI verdicts differ on %d "
          "(cross-flow caches per worker)" % (label, len(a), differ))
    if differ > len(a) // 100:
        fail("%s: nDPI verdicts differ on %d of %d flows, more than 1%%" % (label, differ, len(a)))


def main():
    env = Env()
    gen = env.generate("gaps.pcap", "--flows", "3000", "--seed", "11", "--ipv6", "20",
                       "--vlan", "10", "--concurrency", "300", "--flow-gap", "90")
    same(env, gen, "generated capture with idle gaps")
    pcaps = env.ndpi_pcaps()
    if pcaps:
        # Only Ethernet captures in the directory: the others are refused
        # (tested elsewhere) and would make loupe exit 2.
        d = os.path.join(env.tmp, "corpus")
        os.makedirs(d)
        for p in pcaps:
            with open(p, "rb") as f:
                head = f.read(24)
            if len(head) == 24 and head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") and head[20] == 1:
                os.symlink(p, os.path.join(d, os.path.basename(p)))
        same(env, d, "nDPI corpus as one directory (%d pcap files)" % len(os.listdir(d)))
    print("PASS")


main()
