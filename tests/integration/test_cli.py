"""The command line: -T, --dump-config (loads back to the same config),
--set, --build-info, -V, -h, and the shipped configs."""

import os
import subprocess

from loupe_test import Env, fail


def loupe(env, *args, code=0):
    p = subprocess.run([env.loupe] + list(args), capture_output=True, text=True, timeout=60)
    if p.returncode != code:
        fail("loupe %s: exit %d, expected %d\n%s%s" % (" ".join(args), p.returncode, code,
                                                       p.stdout, p.stderr))
    return p


def main():
    env = Env()
    loupe(env, "-c", env.config, "-T")
    for ex in sorted(os.listdir(os.path.join(env.source, "config", "examples"))):
        loupe(env, "-c", os.path.join(env.source, "config", "examples", ex), "-T")

    # The dump loads back to the same config: dumping the dump changes nothing.
    dumped = loupe(env, "-c", env.config, "--set", "flow.capacity=4096",
                   "--set", "flow.timeouts.udp=7", "--dump-config").stdout
    if "capacity: 4096" not in dumped or "udp: 7" not in dumped:
        fail("--set not reflected in --dump-config:\n" + dumped)
    path = os.path.join(env.tmp, "dumped.yaml")
    with open(path, "w") as f:
        f.write(dumped)
    again = loupe(env, "-c", path, "--dump-config").stdout
    if again != dumped:
        fail("--dump-config output does not load back to the same config")

    info = loupe(env, "--build-info").stdout
    for lib in ("loupe", "DPDK", "nDPI", "LuaJIT", "Hyperscan", "jemalloc"):
        if lib not in info:
            fail("--build-info lacks %s:\n%s" % (lib, info))
    if not loupe(env, "-V").stdout.startswith("loupe "):
        fail("-V does not print the version")
    if "--read" not in loupe(env, "-h").stdout:
        fail("-h does not describe --read")
    loupe(env, "--no-such-option", code=109)

    ref = loupe(env, "--config-reference").stdout
    with open(os.path.join(env.source, "docs", "configuration.md")) as f:
        if f.read() != ref:
            fail("docs/configuration.md is stale: run loupe --config-reference > docs/configuration.md")
    print("PASS")


main()
