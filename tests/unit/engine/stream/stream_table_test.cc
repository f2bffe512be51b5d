// StreamTable: order, retransmissions, overlaps, gaps, limits, slot reuse.
#include "engine/stream/stream_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/engine/stream/stream_test_util.h"

namespace loupe {
namespace {

using test::Recorder;

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kAck = 0x10;

uint64_t lost(const StreamTable& t, StreamLoss why) {
  return t.counters().lost[static_cast<int>(why)].get();
}
uint64_t lost_bytes(const StreamTable& t, StreamLoss why) {
  return t.counters().lost_bytes[static_cast<int>(why)].get();
}

StreamConfig config(uint32_t memory_mb = 4, uint32_t segments = 256, uint32_t bytes = 262144,
                    uint32_t depth = 0) {
  StreamConfig c;
  c.memory_mb = memory_mb;
  c.max_ooo_segments = segments;
  c.max_ooo_bytes = bytes;
  c.max_bytes_per_direction = depth;
  return c;
}

// One connection's direction 0, sequence numbers relative to the byte after
// the SYN.
class Conn {
 public:
  Conn(StreamTable& t, uint32_t slot, uint64_t id, uint32_t isn = 1000, uint8_t dir = 0)
      : t_(t), slot_(slot), id_(id), isn_(isn), dir_(dir) {
    t_.enable(slot_, id_);
  }
  void syn() { t_.feed(slot_, id_, dir_, isn_, kSyn, nullptr, 0); }
  void data(uint32_t off, std::string_view bytes, uint8_t flags = kAck) {
    t_.feed(slot_, id_, dir_, isn_ + 1 + off, flags, reinterpret_cast<const uint8_t*>(bytes.data()),
            static_cast<uint32_t>(bytes.size()));
  }
  void fin(uint32_t off) { data(off, "", kAck | kFin); }

 private:
  StreamTable& t_;
  uint32_t slot_;
  uint64_t id_;
  uint32_t isn_;
  uint8_t dir_;
};

std::string rep(char c, size_t n) { return std::string(n, c); }

TEST(StreamTable, InOrderSegmentsGoOutAsTheyCome) {
  Recorder rec;
  StreamTable t(config(), 4, rec);
  Conn c(t, 2, 7);
  c.syn();
  c.data(0, "GET / HTTP/1.1\r\n");
  c.data(16, "Host: a\r\n\r\n");
  ASSERT_EQ(rec.chunks.size(), 2u);
  EXPECT_EQ(rec.chunks[0].slot, 2u);
  EXPECT_EQ(rec.chunks[0].gap, 0u);
  EXPECT_EQ(rec.stream(2, 0), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(t.counters().delivered_bytes.get(), 27u);
  EXPECT_EQ(t.counters().ooo_segments.get(), 0u);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, DirectionsAreIndependent) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn cli(t, 0, 9, 100, 0);
  Conn srv(t, 0, 9, 5000, 1);
  cli.syn();
  srv.syn();
  srv.data(5, "World");
  cli.data(0, "hello");
  srv.data(0, "Hello");
  EXPECT_EQ(rec.stream(0, 0), "hello");
  EXPECT_EQ(rec.stream(0, 1), "HelloWorld");
}

TEST(StreamTable, UnknownFlowsAreIgnored) {
  Recorder rec;
  StreamTable t(config(), 2, rec);
  const uint8_t b[3] = {'a', 'b', 'c'};
  t.feed(0, 5, 0, 1, kAck, b, 3);  // never enabled
  t.enable(1, 6);
  t.feed(1, 7, 0, 1, kAck, b, 3);  // another flow's id
  t.feed(1, 0, 0, 1, kAck, b, 3);
  EXPECT_TRUE(rec.chunks.empty());
  EXPECT_EQ(t.counters().segments.get(), 0u);
  EXPECT_TRUE(t.enabled(1, 6));
  EXPECT_FALSE(t.enabled(0, 5));
}

// Every way to cut an 8-byte stream into segments, each in every order, the
// SYN first and the FIN on the last segment: the stream comes out whole, once,
// and nothing stays buffered. Also across the sequence number wrap.
TEST(StreamTable, EverySplitInEveryOrderGivesTheStream) {
  const std::string payload = "abcdefgh";
  for (const uint32_t isn : {1000u, 0xfffffffcu}) {
    Recorder rec;
    StreamTable t(config(), 1, rec);
    uint64_t id = 1;
    uint64_t cases = 0;
    for (uint32_t cuts = 0; cuts < (1u << 7); cuts++) {
      std::vector<std::pair<uint32_t, uint32_t>> segs;  // offset, length
      uint32_t start = 0;
      for (uint32_t i = 1; i <= 8; i++) {
        if (i == 8 || (cuts & (1u << (i - 1)))) {
          segs.emplace_back(start, i - start);
          start = i;
        }
      }
      std::vector<size_t> order(segs.size());
      std::iota(order.begin(), order.end(), 0);
      do {
        rec.chunks.clear();
        Conn c(t, 0, id++, isn);
        c.syn();
        for (size_t k : order) {
          const auto [off, len] = segs[k];
          c.data(off, std::string_view(payload).substr(off, len),
                 k + 1 == segs.size() ? kAck | kFin : kAck);
        }
        ASSERT_EQ(rec.stream(0, 0), payload) << "cuts " << cuts << " isn " << isn;
        for (const auto& ch : rec.chunks) ASSERT_EQ(ch.gap, 0u);
        ASSERT_EQ(t.ooo_segments(0, 0), 0u);
        ASSERT_EQ(t.arena().bytes_in_use(), 0u);
        c.data(8, "late");  // after the FIN
        cases++;
      } while (std::next_permutation(order.begin(), order.end()));
    }
    EXPECT_EQ(cases, 95901u);  // sum over k of C(7, k-1) * k!
    EXPECT_EQ(lost(t, StreamLoss::after_fin), cases);
    EXPECT_EQ(t.counters().gaps.get(), 0u);
    EXPECT_EQ(t.counters().ooo_memory_peak.get() % SegmentArena::kBlockCost, 0u);
    EXPECT_GT(t.counters().ooo_memory_peak.get(), 0u);
  }
}

// The overlap rule, each case checked against tshark's "follow,tcp,raw" on
// the same segments: bytes delivered keep their first copy; an in-order
// segment goes out whole; among buffered segments the earliest start wins
// (the first seen among equal starts) and supplies all its bytes.
struct OverlapCase {
  const char* name;
  std::vector<std::pair<uint32_t, std::string>> segs;
  std::string expected;
};

TEST(StreamTable, OverlapsResolveAsTsharkFollowShowsThem) {
  const std::vector<OverlapCase> cases = {
      {"in order, second copy differs",
       {{0, rep('A', 10)}, {5, rep('b', 5) + rep('B', 5)}},
       rep('A', 10) + rep('B', 5)},
      {"buffered overlaps",
       {{10, rep('C', 10)}, {5, rep('d', 8) + "DD"}, {0, rep('E', 5)}},
       rep('E', 5) + rep('d', 8) + "DD" + rep('C', 5)},
      {"buffered duplicate",
       {{10, rep('F', 10)}, {10, rep('g', 10)}, {0, rep('H', 10)}},
       rep('H', 10) + rep('F', 10)},
      {"in order over buffered", {{10, rep('V', 5)}, {0, rep('w', 20)}}, rep('w', 20)},
      {"spanning two buffered",
       {{10, rep('O', 5)}, {20, rep('P', 5)}, {5, rep('q', 24)}, {0, rep('R', 5)}},
       rep('R', 5) + rep('q', 24)},
      {"equal start, shorter first",
       {{10, rep('X', 5)}, {10, rep('Y', 10)}, {0, rep('Z', 10)}},
       rep('Z', 10) + rep('X', 5) + rep('Y', 5)},
      {"equal start, longer first",
       {{10, rep('Y', 10)}, {10, rep('X', 5)}, {0, rep('Z', 10)}},
       rep('Z', 10) + rep('Y', 10)},
      {"contained",
       {{10, rep('E', 10)}, {12, rep('n', 6)}, {0, rep('Z', 10)}},
       rep('Z', 10) + rep('E', 10)},
      {"covering",
       {{12, rep('E', 6)}, {10, rep('n', 10)}, {0, rep('Z', 10)}},
       rep('Z', 10) + rep('n', 10)},
      {"chained",
       {{10, rep('A', 10)}, {15, rep('B', 10)}, {0, rep('Z', 10)}},
       rep('Z', 10) + rep('A', 10) + rep('B', 5)},
      {"filled past a buffered start",
       {{10, rep('A', 10)}, {0, rep('Z', 12)}, {0, rep('z', 10)}},
       rep('Z', 12) + rep('A', 8)},
  };
  for (const OverlapCase& oc : cases) {
    Recorder rec;
    StreamTable t(config(), 1, rec);
    Conn c(t, 0, 1);
    c.syn();
    for (const auto& [off, bytes] : oc.segs) c.data(off, bytes);
    EXPECT_EQ(rec.stream(0, 0), oc.expected) << oc.name;
    EXPECT_EQ(t.ooo_segments(0, 0), 0u) << oc.name;
    EXPECT_EQ(t.arena().bytes_in_use(), 0u) << oc.name;
  }
}

TEST(StreamTable, RetransmissionsAreSkippedAndCounted) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(0, "hello");
  c.data(0, "hello");  // delivered already
  c.data(7, "there");
  c.data(7, "there");  // buffered already
  c.data(9, "er");     // inside a buffered one
  EXPECT_EQ(t.counters().retransmissions.get(), 3u);
  EXPECT_EQ(t.counters().overlaps.get(), 0u);
  c.data(3, "lo, t");  // partly delivered, partly buffered
  c.syn();             // a retransmitted SYN: no data
  EXPECT_EQ(rec.stream(0, 0), "hello, there");
  EXPECT_EQ(t.counters().retransmissions.get(), 3u);
  EXPECT_EQ(t.counters().overlaps.get(), 1u);
  EXPECT_EQ(t.counters().ooo_segments.get(), 1u);
}

TEST(StreamTable, MidStreamPickupStartsAtTheFirstSegmentSeen) {
  {
    Recorder rec;
    StreamTable t(config(), 1, rec);
    Conn c(t, 0, 1);  // no SYN
    c.data(10, "LLLLL");
    c.data(0, "MMMMMMMMMM");  // before the start: old
    c.data(15, "NNNNN");
    EXPECT_EQ(rec.stream(0, 0), "LLLLLNNNNN");
    EXPECT_EQ(t.counters().retransmissions.get(), 1u);
  }
  {
    // A pure ACK fixes the start as well: what follows it is out of order.
    Recorder rec;
    StreamTable t(config(), 1, rec);
    Conn c(t, 0, 1);
    c.data(0, "");
    c.data(10, "LLLLL");
    c.data(0, "MMMMMMMMMM");
    EXPECT_EQ(rec.stream(0, 0), "MMMMMMMMMMLLLLL");
  }
}

// Picked up mid-stream with the other direction's acknowledgment known:
// the direction starts there, so a first segment seen out of order waits
// for the one before it.
TEST(StreamTable, MidStreamStartFromTheOtherSidesAcknowledgment) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  t.start_at(0, 1, 0, 1000 + 1);  // the byte after the SYN
  c.data(10, "LLLLL");
  c.data(0, "MMMMMMMMMM");
  EXPECT_EQ(rec.stream(0, 0), "MMMMMMMMMMLLLLL");
  EXPECT_EQ(t.counters().retransmissions.get(), 0u);
  t.start_at(0, 1, 0, 5000);  // started already: no effect
  c.data(15, "NN");
  EXPECT_EQ(rec.stream(0, 0), "MMMMMMMMMMLLLLLNN");
}

TEST(StreamTable, DataOnTheSynComesFirst) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  t.enable(0, 1);
  const std::string syn = "SYNDATA";
  t.feed(0, 1, 0, 1000, kSyn, reinterpret_cast<const uint8_t*>(syn.data()), 7);
  t.feed(0, 1, 0, 1008, kAck, reinterpret_cast<const uint8_t*>("more"), 4);
  EXPECT_EQ(rec.stream(0, 0), "SYNDATAmore");
}

TEST(StreamTable, ChunksNeverExceedTheMaximum) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  std::string big(150000, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i * 7 + i / 256);
  c.data(0, big.substr(0, 100000));           // in order, larger than a chunk
  c.data(100010, big.substr(100010, 49990));  // buffered behind a 10-byte hole
  c.data(100000, big.substr(100000, 10));
  EXPECT_EQ(rec.stream(0, 0), big);
  for (const auto& ch : rec.chunks) EXPECT_LE(ch.data.size(), StreamTable::kMaxChunk);
  EXPECT_EQ(rec.chunks.size(), 4u);  // 65536 + 34464, then 10, then 49990
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, FullFlowBufferGivesUpTheOldestHole) {
  Recorder rec;
  StreamTable t(config(4, 4), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  std::string all;
  for (char ch = 'a'; ch <= 'f'; ch++) all += rep(ch, 10);
  for (uint32_t off = 10; off < 50; off += 10) c.data(off, all.substr(off, 10));
  EXPECT_EQ(t.ooo_segments(0, 0), 4u);
  EXPECT_TRUE(rec.chunks.empty());
  c.data(50, all.substr(50, 10));  // a fifth: [0, 10) is given up
  ASSERT_EQ(rec.chunks.size(), 2u);
  EXPECT_EQ(rec.chunks[0].gap, 10u);
  EXPECT_EQ(rec.chunks[1].gap, 0u);
  EXPECT_EQ(rec.with_gaps(0, 0), rep('~', 10) + all.substr(10));
  EXPECT_EQ(t.counters().gaps.get(), 1u);
  EXPECT_EQ(t.counters().gap_bytes.get(), 10u);
  EXPECT_EQ(lost(t, StreamLoss::ooo_flow_limit), 1u);
  EXPECT_EQ(lost_bytes(t, StreamLoss::ooo_flow_limit), 10u);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
  c.data(0, all.substr(0, 10));  // the hole's bytes, too late
  EXPECT_EQ(rec.chunks.size(), 2u);
}

TEST(StreamTable, ByteLimitGivesUpHolesOneAtATime) {
  Recorder rec;
  StreamTable t(config(4, 256, 1024), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(100, rep('x', 400));   // hole [0, 100)
  c.data(600, rep('y', 400));   // hole [500, 600)
  c.data(1100, rep('z', 400));  // 1,200 bytes: [0, 100) goes
  EXPECT_EQ(rec.with_gaps(0, 0), rep('~', 100) + rep('x', 400));
  EXPECT_EQ(t.ooo_bytes(0, 0), 800u);
  // A segment larger than the whole buffer: every hole in front of it goes,
  // then it is delivered without being stored.
  c.data(1600, rep('w', 1100));
  EXPECT_EQ(rec.with_gaps(0, 0), rep('~', 100) + rep('x', 400) + rep('~', 100) + rep('y', 400) +
                                     rep('~', 100) + rep('z', 400) + rep('~', 100) +
                                     rep('w', 1100));
  EXPECT_EQ(lost(t, StreamLoss::ooo_flow_limit), 4u);
  EXPECT_EQ(t.counters().gap_bytes.get(), 400u);
  EXPECT_EQ(t.ooo_bytes(0, 0), 0u);
}

TEST(StreamTable, ExhaustedArenaGivesUpHolesAndNeverGrows) {
  Recorder rec;
  StreamTable t(config(1, 65535, 1u << 30), 2, rec);
  const uint64_t cap = t.arena().capacity();
  ASSERT_LE(cap, 1u << 20);
  ASSERT_EQ(cap / SegmentArena::kBlockCost, t.arena().blocks());
  Conn a(t, 0, 1);
  Conn b(t, 1, 2);
  a.syn();
  b.syn();
  // Flow a fills the arena with one-block segments.
  const std::string seg(SegmentArena::kBlockSize, 'a');
  const uint32_t n = t.arena().blocks();
  for (uint32_t i = 0; i < n; i++) a.data(100 + i * seg.size(), seg);
  EXPECT_EQ(t.ooo_segments(0, 0), n);
  EXPECT_EQ(t.arena().free_blocks(), 0u);
  EXPECT_EQ(t.arena().bytes_in_use(), cap);
  EXPECT_EQ(lost(t, StreamLoss::memory_cap), 0u);
  // Flow b holds nothing: its hole goes at once and its segment is delivered
  // without being stored.
  b.data(50, "bbbb");
  EXPECT_EQ(rec.with_gaps(1, 0), rep('~', 50) + "bbbb");
  EXPECT_EQ(lost(t, StreamLoss::memory_cap), 1u);
  // Flow a gives up its own hole, which frees its blocks.
  a.data(100 + (n + 1) * seg.size(), seg);
  EXPECT_EQ(lost(t, StreamLoss::memory_cap), 2u);
  EXPECT_EQ(lost_bytes(t, StreamLoss::memory_cap), 150u);
  EXPECT_EQ(rec.with_gaps(0, 0), rep('~', 100) + std::string(n * seg.size(), 'a'));
  EXPECT_EQ(t.ooo_segments(0, 0), 1u);  // the last one, after a new hole
  EXPECT_LE(t.counters().ooo_memory_peak.get(), cap);
  EXPECT_EQ(t.counters().ooo_memory.get(), t.arena().bytes_in_use());
  t.release(0);
  t.release(1);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
  EXPECT_EQ(t.arena().free_blocks(), t.arena().blocks());
}

TEST(StreamTable, FinishDeliversWhatWaitsBehindHoles) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(0, "ab");
  c.data(5, "fg");
  c.data(10, "kl");
  c.fin(20);
  t.finish(0);
  EXPECT_EQ(rec.with_gaps(0, 0), "ab~~~fg~~~kl");
  EXPECT_EQ(lost(t, StreamLoss::ended_with_hole), 3u);  // two reported, one before the FIN
  EXPECT_EQ(lost_bytes(t, StreamLoss::ended_with_hole), 14u);
  EXPECT_EQ(t.counters().gaps.get(), 2u);
  EXPECT_FALSE(t.enabled(0, 1));
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, DataAfterTheFinIsDropped) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(10, "0123456789");         // buffered, straddles the FIN below
  c.data(30, "zz");                 // buffered, wholly after it
  c.data(5, "fghij", kAck | kFin);  // FIN at 10, still a hole [0, 5)
  EXPECT_EQ(lost(t, StreamLoss::after_fin), 2u);
  EXPECT_EQ(lost_bytes(t, StreamLoss::after_fin), 12u);
  c.data(0, "abcde");
  EXPECT_EQ(rec.stream(0, 0), "abcdefghij");
  c.data(10, "late");
  c.data(2, "cde");  // old: a retransmission, not a loss
  EXPECT_EQ(lost(t, StreamLoss::after_fin), 3u);
  EXPECT_EQ(lost_bytes(t, StreamLoss::after_fin), 16u);
  EXPECT_EQ(rec.stream(0, 0), "abcdefghij");
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, ResetEndsTheDirection) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(0, "ab");
  c.data(4, "ef");
  c.data(6, "", kRst);
  EXPECT_EQ(rec.with_gaps(0, 0), "ab~~ef");
  c.data(6, "gh");
  EXPECT_EQ(lost(t, StreamLoss::after_rst), 1u);
  EXPECT_EQ(lost(t, StreamLoss::ended_with_hole), 1u);
  EXPECT_EQ(rec.with_gaps(0, 0), "ab~~ef");
}

TEST(StreamTable, ByteLimitPerDirection) {
  Recorder rec;
  StreamTable t(config(4, 256, 262144, 10), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(12, "mn");  // buffered, then past the limit
  c.data(0, "abcdef");
  c.data(6, "ghijkl");
  EXPECT_EQ(rec.stream(0, 0), "abcdefghij");
  EXPECT_EQ(lost_bytes(t, StreamLoss::depth), 4u);  // "kl" cut, "mn" dropped
  c.data(14, "op");
  EXPECT_EQ(lost(t, StreamLoss::depth), 3u);
  EXPECT_EQ(rec.stream(0, 0), "abcdefghij");
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, TheSinkMayReleaseTheFlowItIsGiven) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(2, "cd");
  c.data(6, "gh");
  rec.then = [&](uint32_t slot) { t.release(slot); };
  c.data(0, "ab");  // delivers "ab", then would drain "cd": released first
  EXPECT_EQ(rec.stream(0, 0), "ab");
  EXPECT_FALSE(t.enabled(0, 1));
  EXPECT_EQ(lost(t, StreamLoss::released), 2u);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

TEST(StreamTable, AReusedSlotNeverSeesTheOldFlow) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  {
    Conn old(t, 0, 1, 1000);
    old.syn();
    old.data(10, "stale");
  }
  EXPECT_EQ(t.ooo_segments(0, 0), 1u);
  // The old flow ended without release(): enabling the new one drops it.
  Conn c(t, 0, 2, 1000);
  EXPECT_EQ(t.ooo_segments(0, 0), 0u);
  EXPECT_EQ(lost(t, StreamLoss::released), 1u);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
  c.syn();
  c.data(0, "0123456789");
  EXPECT_EQ(rec.stream(0, 0), "0123456789");  // nothing of "stale"
  // Segments of the old flow are ignored.
  t.feed(0, 1, 0, 1001, kAck, reinterpret_cast<const uint8_t*>("xx"), 2);
  EXPECT_EQ(rec.stream(0, 0), "0123456789");
  t.enable(0, 2);  // again: changes nothing
  c.data(10, "ab");
  EXPECT_EQ(rec.stream(0, 0), "0123456789ab");
  EXPECT_EQ(t.counters().flows.get(), 2u);
}

TEST(StreamTable, SegmentsFarAheadAreNotBelieved) {
  Recorder rec;
  StreamTable t(config(), 1, rec);
  Conn c(t, 0, 1);
  c.syn();
  c.data(StreamTable::kMaxAhead + 10, "far");
  EXPECT_EQ(lost(t, StreamLoss::out_of_window), 1u);
  EXPECT_EQ(t.ooo_segments(0, 0), 0u);
  c.data(0, "near");
  EXPECT_EQ(rec.stream(0, 0), "near");
}

// Random segments, lost, reordered, repeated and overlapping (with the same
// bytes), through tight limits: whatever is given up, every chunk holds the
// stream's bytes at the position the gaps before it say, and nothing is
// delivered twice.
TEST(StreamTable, ChunksStayWhereTheyBelongWhateverIsLost) {
  std::mt19937_64 rng(7);
  constexpr uint32_t kFlows = 8;
  uint64_t given_up = 0;
  uint64_t at_end = 0;
  for (int round = 0; round < 200; round++) {
    Recorder rec;
    StreamTable t(config(1, 1 + rng() % 6, 1024 + rng() % 4096), kFlows, rec);
    std::vector<std::string> payload(kFlows);
    std::vector<std::vector<std::pair<uint32_t, uint32_t>>> segs(kFlows);
    for (uint32_t f = 0; f < kFlows; f++) {
      payload[f].resize(2000 + rng() % 30000);
      for (char& ch : payload[f]) ch = static_cast<char>(rng());
      for (uint32_t off = 0; off < payload[f].size();) {
        const uint32_t len = std::min<uint32_t>(1 + rng() % 1500, payload[f].size() - off);
        const uint32_t roll = rng() % 100;
        if (roll >= 5) segs[f].emplace_back(off, len);               // 5% lost
        if (roll >= 5 && roll < 10) segs[f].emplace_back(off, len);  // repeated
        if (roll >= 10 && roll < 15) {
          const uint32_t a = off > 100 ? off - rng() % 100 : off;
          segs[f].emplace_back(a, std::min<uint32_t>(len + 200, payload[f].size() - a));
        }
        off += len;
      }
      for (size_t i = 0; i + 1 < segs[f].size(); i++) {
        if (rng() % 3 == 0)
          std::swap(segs[f][i],
                    segs[f][i + 1 + rng() % std::min<size_t>(6, segs[f].size() - i - 1)]);
      }
      t.enable(f, f + 1);
      t.feed(f, f + 1, 0, 100 * f, kSyn, nullptr, 0);
    }
    std::vector<size_t> at(kFlows, 0);
    for (bool more = true; more;) {
      more = false;
      for (uint32_t f = 0; f < kFlows; f++) {
        if (at[f] == segs[f].size()) continue;
        more = true;
        const auto [off, len] = segs[f][at[f]++];
        t.feed(f, f + 1, 0, 100 * f + 1 + off, kAck,
               reinterpret_cast<const uint8_t*>(payload[f].data()) + off, len);
        ASSERT_LE(t.arena().bytes_in_use(), t.arena().capacity());
      }
    }
    for (uint32_t f = 0; f < kFlows; f++) t.finish(f);
    for (uint32_t f = 0; f < kFlows; f++) {
      uint64_t pos = 0;
      for (const auto& ch : rec.chunks) {
        if (ch.slot != f) continue;
        pos += ch.gap;
        ASSERT_LE(pos + ch.data.size(), payload[f].size());
        ASSERT_EQ(ch.data, payload[f].substr(pos, ch.data.size())) << "round " << round;
        pos += ch.data.size();
      }
      EXPECT_LE(pos, payload[f].size());
    }
    EXPECT_EQ(t.arena().bytes_in_use(), 0u);
    uint64_t delivered = 0;
    for (const auto& ch : rec.chunks) delivered += ch.data.size();
    EXPECT_EQ(delivered, t.counters().delivered_bytes.get());
    given_up += lost(t, StreamLoss::ooo_flow_limit);
    at_end += lost(t, StreamLoss::ended_with_hole);
  }
  // The limits were really reached, and flows really ended with holes.
  EXPECT_GT(given_up, 1000u);
  EXPECT_GT(at_end, 100u);
}

// Counts what it is given, for runs too long to record.
class CountingSink final : public StreamSink {
 public:
  void on_stream_data(uint32_t, uint8_t, const uint8_t*, uint32_t len, uint32_t gap) override {
    bytes += len;
    gaps += gap;
  }
  uint64_t bytes = 0;
  uint64_t gaps = 0;
};

// Many flows that only ever receive segments ahead of a hole: the arena stays
// within its cap, holes are given up and counted by reason, nothing else is
// lost, and the cost per segment is printed (a figure, not a check).
TEST(StreamTable, FloodOfOutOfOrderSegments) {
  constexpr uint32_t kFlows = 20000;
  constexpr uint32_t kBursty = 60;  // flows sent 40 segments in a row first
  constexpr uint32_t kRounds = 20;  // then every flow, one segment a round
  CountingSink sink;
  StreamTable t(config(2, 32, 65536), kFlows, sink);
  const uint64_t cap = t.arena().capacity();
  const std::string seg(1000, 'x');
  std::vector<uint32_t> sent(kFlows, 0);
  for (uint32_t f = 0; f < kFlows; f++) {
    t.enable(f, f + 1);
    t.feed(f, f + 1, 0, 1000, kSyn, nullptr, 0);
  }
  uint64_t segments = 0;
  uint64_t over = 0;
  // Each segment starts 1,000 bytes after the previous one's end: a hole
  // before every one.
  auto send = [&](uint32_t f) {
    t.feed(f, f + 1, 0, 1001 + 1000 + sent[f]++ * 2000, kAck,
           reinterpret_cast<const uint8_t*>(seg.data()), 1000);
    segments++;
    over += t.arena().bytes_in_use() > cap;
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t f = 0; f < kBursty; f++) {
    for (int k = 0; k < 40; k++) send(f);
  }
  for (uint32_t k = 0; k < kRounds; k++) {
    for (uint32_t f = 0; f < kFlows; f++) send(f);
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
  std::printf("flood: %lu segments, %.0f ns per segment, arena peak %.2f of %.2f MiB\n",
              static_cast<unsigned long>(segments), ns / static_cast<double>(segments),
              static_cast<double>(t.counters().ooo_memory_peak.get()) / 1048576.0,
              static_cast<double>(cap) / 1048576.0);
  EXPECT_EQ(over, 0u);
  EXPECT_LE(cap, 2u << 20);
  EXPECT_LE(t.counters().ooo_memory_peak.get(), cap);
  EXPECT_GT(t.counters().ooo_memory_peak.get(), cap * 9 / 10);  // it was really used
  // A bursty flow holds 32 segments: each one more gives up a hole.
  EXPECT_EQ(lost(t, StreamLoss::ooo_flow_limit), kBursty * (40 - 32 + kRounds));
  EXPECT_GT(lost(t, StreamLoss::memory_cap), kFlows / 2);
  EXPECT_EQ(t.counters().gaps.get(),
            lost(t, StreamLoss::ooo_flow_limit) + lost(t, StreamLoss::memory_cap));
  EXPECT_EQ(sink.gaps, t.counters().gap_bytes.get());
  // Every byte sent is delivered (after a gap) or still buffered.
  uint64_t buffered = 0;
  for (uint32_t f = 0; f < kFlows; f++) buffered += t.ooo_bytes(f, 0);
  EXPECT_EQ(buffered + sink.bytes, segments * 1000);
  for (uint32_t f = 0; f < kFlows; f++) t.release(f);
  EXPECT_EQ(t.arena().bytes_in_use(), 0u);
}

}  // namespace
}  // namespace loupe
