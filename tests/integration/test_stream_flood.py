"""Reassembly under a flood of out-of-order segments: memory stays under the
cap, drops are counted, the worker keeps up.

A generated capture of many TCP connections. Each opens with a handshake, a
client segment starting "REQ" (test_arkime's Lua classifier fires and
registers its parser, which checksums every chunk of each direction) and the
server's first segment, both in order. Then, in both directions, a hole: its
bytes are held back, and many segments after it arrive. A few "fit"
connections send a dozen segments past their holes (pairs swapped) before
the flood; then hundreds of "flood" connections send 40 segments each past
their holes, round-robin, so that all of them buffer at once. At the end the
holes of the fit connections and of every fourth flood connection are
filled; the others never are. Then FIN both ways.

Two runs of loupe on it, one worker each:
- the cap run: stream.memory_mb=1 (the minimum) and max_ooo_segments=64,
  which no direction reaches: the worker's arena binds. Its peak stays under
  the cap and reaches it, holes are given up as memory_cap;
- the per-flow run: a 64 MiB arena and max_ooo_segments=16, which the fit
  connections stay under and every flood direction passes: ooo_flow_limit,
  exactly once per flood direction, with exactly the hole's bytes.

In both, each direction's parser stream is the sent bytes either whole (only
where the hole was sent) or without the hole, reported once as a gap; the
fit connections' streams are whole. Summed, the parser's bytes plus the
counted gap bytes equal what the capture's streams span, and the summary's
counters (segments fed, buffered, retransmissions, losses by reason) equal
what the capture implies. Every packet is accounted for and every
connection has its record; the flood run's packet rate is printed, not
asserted."""

import os
import random
import re
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import loupe_test as lt  # noqa: E402
from test_arkime import PARSER, T0, adler_of, tcp_frame, write_pcap  # noqa: E402

N_FIT, K_FIT = 8, 12          # connections whose buffers fit, segments past each hole
N_FLOOD, K_FLOOD = 500, 40    # the flood
FILL_EVERY = 4                # every 4th flood connection has its holes filled at the end
MAX_SEG = 1460
BLOCK_COST = 512 + 16         # engine/stream/segment_arena.h: a block and its metadata


class Direction:
    """One direction's bytes: seg0 (in order) | hole | after (segments)."""

    def __init__(self, rng, first, isn, n_after):
        self.isn = isn
        self.seg0_sent = False
        self.seg0 = first + rng.randbytes(rng.randrange(20, 400))
        self.hole = rng.randbytes(rng.choice([rng.randrange(1, 600), rng.randrange(600, MAX_SEG)]))
        self.after = [rng.randbytes(MAX_SEG if rng.random() < 0.1 else rng.randrange(40, 500))
                      for _ in range(n_after)]

    def full(self):
        return self.seg0 + self.hole + b"".join(self.after)

    def cut(self):
        return self.seg0 + b"".join(self.after)

    def end(self):
        return self.isn + 1 + len(self.seg0) + len(self.hole) + sum(map(len, self.after))

    def after_segments(self):
        """[(seq, bytes)] of the segments past the hole, in sequence order."""
        seq = self.isn + 1 + len(self.seg0) + len(self.hole)
        out = []
        for b in self.after:
            out.append((seq, b))
            seq += len(b)
        return out


class Conn:
    def __init__(self, rng, c, n_after, filled):
        self.cli = "10.3.%d.%d" % (c // 250, c % 250 + 1)
        self.srv = "10.4.0.1"
        self.sport, self.dport = 20000 + c, 7000
        self.filled = filled
        self.dirs = [Direction(rng, b"REQ", rng.randrange(1 << 32), n_after),
                     Direction(rng, b"RSP", rng.randrange(1 << 32), n_after)]
        self.packets = 0  # those reassembly is fed: from the REQ segment on

    def frame(self, d, seq, flags, payload=b""):
        o = self.dirs[1 - d]
        # What this side received in order: the segment that starts
        # reassembly tells where the other direction starts.
        ack = o.isn + 1 + (len(o.seg0) if o.seg0_sent else 0)
        if d == 0:
            return tcp_frame(self.cli, self.srv, self.sport, self.dport, seq, ack, flags, payload)
        return tcp_frame(self.srv, self.cli, self.dport, self.sport, seq, ack, flags, payload)

    def key(self):
        return (self.cli, self.sport)


def write_flood_capture(path, seed=11):
    rng = random.Random(seed)
    fit = [Conn(rng, c, K_FIT, True) for c in range(N_FIT)]
    flood = [Conn(rng, N_FIT + i, K_FLOOD, i % FILL_EVERY == 0) for i in range(N_FLOOD)]
    conns = fit + flood
    frames = []

    def add(conn, d, seq, flags, payload=b"", fed=True):
        frames.append((T0 + len(frames) * 20e-6, conn.frame(d, seq, flags, payload)))
        conn.packets += fed

    for c in conns:
        cd, sd = c.dirs
        add(c, 0, cd.isn, 0x02, fed=False)
        add(c, 1, sd.isn, 0x12, fed=False)
        add(c, 0, cd.isn + 1, 0x10, fed=False)
        add(c, 0, cd.isn + 1, 0x18, cd.seg0)  # the classifier fires: reassembly from here
        cd.seg0_sent = True
        add(c, 1, sd.isn + 1, 0x18, sd.seg0)
        sd.seg0_sent = True
    # The fit connections: pairs swapped past the holes (stored before the
    # segment they follow), before the flood takes the memory.
    for c in fit:
        for d in (0, 1):
            segs = c.dirs[d].after_segments()
            for i in range(0, len(segs) - 1, 2):
                segs[i], segs[i + 1] = segs[i + 1], segs[i]
            for seq, b in segs:
                add(c, d, seq, 0x18, b)
    # The flood: round-robin, every direction buffers at once.
    flood_segs = [[c.dirs[d].after_segments() for d in (0, 1)] for c in flood]
    for r in range(K_FLOOD):
        for c, segs in zip(flood, flood_segs):
            for d in (0, 1):
                add(c, d, segs[d][r][0], 0x18, segs[d][r][1])
    # The holes' bytes, for some.
    for c in conns:
        if c.filled:
            for d in (0, 1):
                x = c.dirs[d]
                add(c, d, x.isn + 1 + len(x.seg0), 0x18, x.hole)
    for c in conns:
        ce, se = c.dirs[0].end(), c.dirs[1].end()
        add(c, 0, ce, 0x11)
        add(c, 1, se, 0x11)
        add(c, 0, ce + 1, 0x10)
    write_pcap(path, frames)
    return fit, flood, len(frames)


def parse_summary(err):
    """The worker 0 stream lines: ({counter: value}, cap, {reason: (events, bytes)})."""
    m = re.search(r"^loupe: worker 0: streams: (.*); out-of-order memory cap (\d+)$", err, re.M)
    lost = re.search(r"^loupe: worker 0: streams lost: (.*)$", err, re.M)
    if not m or not lost:
        lt.fail("no stream lines for worker 0 in the summary:\n" + err)
    counters = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m.group(1))}
    losses = {k: (int(n), int(b)) for k, n, b in re.findall(r"(\w+) (\d+) \((\d+) bytes\)",
                                                          lost.group(1))}
    for name in ("flows", "segments", "delivered_bytes", "chunks", "ooo_segments",
                 "retransmissions", "overlaps", "gaps", "gap_bytes", "ooo_memory",
                 "ooo_memory_peak"):
        if name not in counters:
            lt.fail("summary lacks the stream counter %s: %s" % (name, m.group(0)))
    for name in ("ooo_flow_limit", "memory_cap", "ended_with_hole", "after_fin", "after_rst",
                 "depth", "out_of_window", "ip_fragment", "released"):
        if name not in losses:
            lt.fail("summary lacks the loss reason %s: %s" % (name, lost.group(0)))
    return counters, int(m.group(2)), losses


def check_run(env, name, pcap, scripts, conns, sets):
    """Runs loupe; checks records and counters common to both runs. Returns
    (counters, cap, losses, per-direction outcomes, wall seconds)."""
    t = time.monotonic()
    records, err, _ = env.loupe_run(pcap, "lua.scripts_dir=" + scripts, "alerts.file=", *sets,
                                    workers=1)
    wall = time.monotonic() - t
    if not lt.summary_accounted(err):
        lt.fail("%s run: packets not accounted for:\n%s" % (name, err))
    by_key = {}
    for r in records:
        key = (r.get("src_ip"), r.get("src_port"))
        if key in by_key:
            lt.fail("%s run: two records for %s" % (name, key))
        by_key[key] = r
    want_keys = {c.key() for c in conns}
    if set(by_key) != want_keys:
        lt.fail("%s run: %d records for %d connections (%d missing, %d unexpected)"
                % (name, len(by_key), len(conns), len(want_keys - set(by_key)),
                   len(set(by_key) - want_keys)))
    counters, cap, losses = parse_summary(err)
    # outcomes: per connection and direction, "full" or "cut" (the hole
    # missing, reported as one gap).
    outcomes = {}
    parser_bytes = parser_gaps = 0
    for c in conns:
        fields = by_key[c.key()].get("fields", {})
        for d in (0, 1):
            x = c.dirs[d]
            got = fields.get("stream%d" % d, [None])[0]
            full, cut = x.full(), x.cut()
            if got == "%d:%d:0" % (len(full), zlib.adler32(full)) and c.filled:
                outcomes[(c.key(), d)] = "full"
            elif got == "%d:%d:1" % (len(cut), zlib.adler32(cut)):
                outcomes[(c.key(), d)] = "cut"
            else:
                lt.fail("%s run: flow %s direction %d: the parser saw %s; sent %s, without the "
                        "hole %s (length:adler32:gaps)%s"
                        % (name, c.key(), d, got, "%d:%d:0" % (len(full), zlib.adler32(full)),
                           "%d:%d:1" % (len(cut), zlib.adler32(cut)),
                           "" if c.filled else "; the hole was never sent"))
            n, _, g = got.split(":")
            parser_bytes += int(n)
            parser_gaps += int(g)
    # The bytes identity: what the parser got plus the holes given up is
    # what the streams span; the loss reasons that skip holes add up to the
    # gaps; nothing is lost any other way.
    spanned = sum(len(x.full()) for c in conns for x in c.dirs)
    if counters["delivered_bytes"] != parser_bytes:
        lt.fail("%s run: delivered_bytes %d, the parsers received %d"
                % (name, counters["delivered_bytes"], parser_bytes))
    if parser_bytes + counters["gap_bytes"] != spanned:
        lt.fail("%s run: parser bytes %d + gap_bytes %d = %d, the streams span %d bytes"
                % (name, parser_bytes, counters["gap_bytes"], parser_bytes + counters["gap_bytes"],
                   spanned))
    if counters["gaps"] != parser_gaps:
        lt.fail("%s run: gaps %d, the parsers were told of %d" % (name, counters["gaps"],
                                                                  parser_gaps))
    skipping = ("ooo_flow_limit", "memory_cap", "ended_with_hole")
    if sum(losses[k][0] for k in skipping) != counters["gaps"] or \
            sum(losses[k][1] for k in skipping) != counters["gap_bytes"]:
        lt.fail("%s run: holes given up by reason %s do not add up to gaps %d (%d bytes)"
                % (name, {k: losses[k] for k in skipping}, counters["gaps"],
                   counters["gap_bytes"]))
    others = {k: v for k, v in losses.items() if k not in skipping and v != (0, 0)}
    if others:
        lt.fail("%s run: bytes lost for other reasons: %s" % (name, others))
    # What reassembly was fed and what it skipped.
    fed = sum(c.packets for c in conns)
    late = sum(1 for c in conns for d in (0, 1) if c.filled and outcomes[(c.key(), d)] == "cut")
    want = {"flows": len(conns), "segments": fed, "overlaps": 0, "retransmissions": late,
            "ooo_memory": 0}
    got = {k: counters[k] for k in want}
    if got != want:
        lt.fail("%s run: stream counters %s, the capture implies %s" % (name, got, want))
    for c in conns[:N_FIT]:
        for d in (0, 1):
            x = c.dirs[d]
            exp = "%d:%d:0" % (len(x.full()), adler_of(x.full()))
            got = by_key[c.key()]["fields"]["stream%d" % d][0]
            if got != exp:
                lt.fail("%s run: fit flow %s direction %d: parser saw %s, sent %s"
                        % (name, c.key(), d, got, exp))
    return counters, cap, losses, outcomes, wall


def main():
    env = lt.Env()
    pcap = os.path.join(env.tmp, "flood.pcap")
    fit, flood, n_packets = write_flood_capture(pcap)
    conns = fit + flood
    scripts = os.path.join(env.tmp, "scripts")
    os.makedirs(os.path.join(scripts, "flow"))
    with open(os.path.join(scripts, "flow", "binary.lua"), "w") as f:
        f.write(PARSER)
    sent = sum(len(x.full()) for c in conns for x in c.dirs)
    max_blocks = (MAX_SEG + 511) // 512

    # The cap run: 1 MiB for the worker, the per-flow limit out of reach.
    mb = 1
    counters, cap, losses, outcomes, wall = check_run(
        env, "cap", pcap, scripts, conns,
        ["stream.memory_mb=%d" % mb, "stream.max_ooo_segments=64"])
    peak = counters["ooo_memory_peak"]
    if not cap <= mb << 20:
        lt.fail("cap run: the arena holds %d bytes, more than stream.memory_mb=%d" % (cap, mb))
    if peak > cap:
        lt.fail("cap run: ooo_memory_peak %d is over the cap %d" % (peak, cap))
    # A store failed only with fewer blocks free than a segment needs.
    if peak < cap - (max_blocks - 1) * BLOCK_COST or peak <= cap // 2:
        lt.fail("cap run: ooo_memory_peak %d: the cap %d was not reached" % (peak, cap))
    if losses["memory_cap"][0] == 0 or losses["ooo_flow_limit"][0] != 0:
        lt.fail("cap run: holes given up %s; memory_cap expected, no ooo_flow_limit" % losses)
    cut = sum(1 for v in outcomes.values() if v == "cut")
    print("OK: cap run: out-of-order memory cap %d bytes (stream.memory_mb=%d), peak %d; "
          "holes given up: memory_cap %d (%d bytes), ended_with_hole %d (%d bytes), "
          "ooo_flow_limit 0; %d segments buffered"
          % (cap, mb, peak, losses["memory_cap"][0], losses["memory_cap"][1],
             losses["ended_with_hole"][0], losses["ended_with_hole"][1],
             counters["ooo_segments"]))
    print("OK: cap run: %d directions of %d connections: %d whole, %d without their hole; "
          "parser bytes %d + gap_bytes %d = %d bytes sent spanned; the %d fit connections "
          "whole (adler32); segments fed %d, late fills %d (retransmissions), memory 0 at exit"
          % (len(outcomes), len(conns), len(outcomes) - cut, cut, counters["delivered_bytes"],
             counters["gap_bytes"], sent, N_FIT, counters["segments"],
             counters["retransmissions"]))
    print("OK: the worker kept up: %d packets, every one accounted for, %d records, "
          "%.0f packets/s (%.1f s wall, start-up included; information only)"
          % (n_packets, len(conns), n_packets / wall, wall))

    # The per-flow run: memory to spare, 16 segments per direction.
    counters, cap, losses, outcomes, wall = check_run(
        env, "per-flow", pcap, scripts, conns,
        ["stream.memory_mb=64", "stream.max_ooo_segments=16"])
    bad = [k for k, v in outcomes.items()
           if v != ("full" if k[0] in {c.key() for c in fit} else "cut")]
    if bad:
        lt.fail("per-flow run: %d directions not as expected (fit whole, flood without the "
                "hole), e.g. %s: %s" % (len(bad), bad[0], outcomes[bad[0]]))
    hole_bytes = sum(len(x.hole) for c in flood for x in c.dirs)
    want = {"ooo_flow_limit": (2 * N_FLOOD, hole_bytes), "memory_cap": (0, 0),
            "ended_with_hole": (0, 0)}
    got = {k: losses[k] for k in want}
    if got != want:
        lt.fail("per-flow run: holes given up %s, expected %s" % (got, want))
    buffered = 2 * N_FIT * K_FIT + 2 * N_FLOOD * 16
    if counters["ooo_segments"] != buffered:
        lt.fail("per-flow run: ooo_segments %d, expected %d (fit: all, flood: 16 a direction)"
                % (counters["ooo_segments"], buffered))
    if not counters["ooo_memory_peak"] < cap:
        lt.fail("per-flow run: peak %d reached the cap %d" % (counters["ooo_memory_peak"], cap))
    print("OK: per-flow run (max_ooo_segments=16): ooo_flow_limit %d (%d bytes) = every flood "
          "direction once, with its hole's bytes; memory_cap 0; %d segments buffered; peak %d "
          "of %d; fit connections whole, flood ones without their holes; %.0f packets/s"
          % (losses["ooo_flow_limit"][0], losses["ooo_flow_limit"][1], buffered,
             counters["ooo_memory_peak"], cap, n_packets / wall))
    os.unlink(pcap)


if __name__ == "__main__":
    main()
