"""Offline results do not depend on the number of workers: 1 and 3 workers
(lcores sharing this machine's cores) give the same set of flow records,
compared without flow_id, on a generated capture with idle gaps (so timers
fire on workers that receive nothing for a while) and on the whole nDPI
corpus read as one directory."""

import os

from loupe_test import Env, fail, record_key, summary_accounted


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
    print("%s: %d records, identical with 1 and 3 workers" % (label, len(a)))


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
