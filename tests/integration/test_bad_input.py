"""Bad input gets one clear line and a non-zero exit, never a crash: a
missing capture, a truncated one, a capture of another link type, an
unreadable or invalid config, and a port that cannot be opened. A capture
cut in the middle of a packet still has every packet before the cut
processed and every flow written."""

import os
import shutil
import subprocess

from loupe_test import Env, fail, summary_accounted


def expect_failure(env, label, args, needle, code=None):
    p = subprocess.run([env.loupe] + args, capture_output=True, text=True, timeout=60)
    if p.returncode <= 0:
        fail("%s: expected a non-zero exit, got %d (a negative code is a signal)\n%s" %
             (label, p.returncode, p.stderr))
    if code is not None and p.returncode != code:
        fail("%s: expected exit %d, got %d\n%s" % (label, code, p.returncode, p.stderr))
    if needle not in p.stderr:
        fail("%s: expected %r in stderr, got:\n%s" % (label, needle, p.stderr))
    first = p.stderr.strip().splitlines()[0]
    print("%s: exit %d: %s" % (label, p.returncode, first))
    return p


def main():
    env = Env()
    cfg = ["-c", env.config, "--set", "output.flows="]
    good = env.generate("good.pcap", "--flows", "50", "--seed", "5")

    missing = os.path.join(env.tmp, "nope.pcap")
    expect_failure(env, "missing capture", cfg + ["-r", missing], "nope.pcap: cannot read", 1)

    with open(good, "rb") as f:
        data = f.read()
    header_only = os.path.join(env.tmp, "header-cut.pcap")
    with open(header_only, "wb") as f:
        f.write(data[:10])
    expect_failure(env, "capture cut inside its file header", cfg + ["-r", header_only],
                   "header-cut.pcap", 1)

    # Cut in the middle of a packet: what came before is processed, the
    # records are written, and the exit code says the input was damaged.
    mid = os.path.join(env.tmp, "mid-cut.pcap")
    with open(mid, "wb") as f:
        f.write(data[:len(data) // 2 + 7])
    flows = os.path.join(env.tmp, "mid.json")
    p = expect_failure(env, "capture cut inside a packet",
                       ["-c", env.config, "--set", "output.flows=" + flows, "-r", mid],
                       "mid-cut.pcap", 2)
    if not summary_accounted(p.stderr):
        fail("cut capture: not every packet accounted for:\n" + p.stderr)
    if os.path.getsize(flows) == 0:
        fail("cut capture: no flow records written")

    garbage = os.path.join(env.tmp, "garbage.pcap")
    with open(garbage, "wb") as f:
        f.write(b"this is not a capture file at all" * 10)
    expect_failure(env, "not a capture", cfg + ["-r", garbage], "garbage.pcap", 1)

    raw = os.path.join(env.source, "tests", "data", "raw-ip.pcap")
    expect_failure(env, "another link type", cfg + ["-r", raw], "link type", 1)

    unreadable = os.path.join(env.tmp, "unreadable.yaml")
    shutil.copy(env.config, unreadable)
    os.chmod(unreadable, 0)
    if os.geteuid() != 0:
        expect_failure(env, "unreadable config", ["-c", unreadable, "-T"], "unreadable.yaml", 1)
    expect_failure(env, "missing config", ["-c", os.path.join(env.tmp, "none.yaml"), "-T"],
                   "none.yaml: cannot open", 1)

    bad = os.path.join(env.tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("workers:\n  count: 0\nflow:\n  capacityy: 5\n")
    p = expect_failure(env, "invalid config", ["-c", bad, "-T"], "bad.yaml:2:10:", 1)
    if "bad.yaml:4:3:" not in p.stderr:
        fail("invalid config: every error must be reported:\n" + p.stderr)

    expect_failure(env, "bad --set", ["-c", env.config, "--set", "flow.capacity=lots", "-T"],
                   "--set:1:", 1)

    p = expect_failure(env, "port that cannot be opened",
                   ["-c", env.config, "--set", "ports.0.name=tap",
                    "--set", "ports.0.devargs=net_af_packet0,iface=loupenoif0"],
                   "port tap", 1)
    if not p.stderr.startswith("loupe: port tap"):
        fail("port failure: loupe's own line must come first:\n" + p.stderr)
    print("PASS")


main()
