// FragmentTracker tests. Fragments are described as the decoder leaves them
// (Decoded with is_fragment set), so the tracker is tested alone; time is a
// plain number.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "engine/decode/decoder.h"

namespace loupe {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kTimeout = 30 * kSecond;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kDestOpts = 60;

enum class Part { first, middle, last };

// A fragment as the decoder reports it: ports only on the first.
Decoded ipv4_fragment(Part part, uint32_t id, uint8_t last_src_byte = 1, uint8_t proto = kUdp) {
  Decoded d{};
  const uint8_t src[4] = {10, 0, 0, last_src_byte};
  const uint8_t dst[4] = {10, 0, 0, 200};
  std::memcpy(d.src, src, 4);
  std::memcpy(d.dst, dst, 4);
  d.ip_version = 4;
  d.l4_proto = proto;
  d.is_fragment = true;
  d.frag_first = part == Part::first;
  d.frag_more = part != Part::last;
  d.frag_id = id;
  if (part == Part::first) {
    d.sport = 5353;
    d.dport = 53;
  }
  return d;
}

Decoded ipv6_fragment(Part part, uint32_t id, uint8_t high_src_byte = 0x20, uint8_t proto = kUdp) {
  Decoded d{};
  for (int i = 0; i < 16; ++i) {
    d.src[i] = static_cast<uint8_t>(i);
    d.dst[i] = static_cast<uint8_t>(0xf0 + i);
  }
  d.src[0] = high_src_byte;
  d.ip_version = 6;
  d.l4_proto = proto;
  d.is_fragment = true;
  d.frag_first = part == Part::first;
  d.frag_more = part != Part::last;
  d.frag_id = id;
  if (part == Part::first) {
    d.sport = 40000;
    d.dport = 4789;
  }
  return d;
}

TEST(FragmentTracker, FirstMiddleLast) {
  FragmentTracker t(64, kTimeout);
  Decoded first = ipv4_fragment(Part::first, 0x1234);
  ASSERT_TRUE(t.resolve(first, 100));
  EXPECT_EQ(first.sport, 5353);  // a first fragment keeps its own ports
  EXPECT_EQ(first.dport, 53);

  Decoded middle = ipv4_fragment(Part::middle, 0x1234);
  ASSERT_TRUE(t.resolve(middle, 200));
  EXPECT_EQ(middle.sport, 5353);
  EXPECT_EQ(middle.dport, 53);
  EXPECT_EQ(middle.l4_proto, kUdp);

  Decoded last = ipv4_fragment(Part::last, 0x1234);
  ASSERT_TRUE(t.resolve(last, 300));
  EXPECT_EQ(last.sport, 5353);
  EXPECT_EQ(last.dport, 53);
}

TEST(FragmentTracker, MiddleBehindLastStillResolves) {
  FragmentTracker t(64, kTimeout);
  Decoded first = ipv4_fragment(Part::first, 7);
  ASSERT_TRUE(t.resolve(first, 0));
  Decoded last = ipv4_fragment(Part::last, 7);
  ASSERT_TRUE(t.resolve(last, 1));
  Decoded middle = ipv4_fragment(Part::middle, 7);
  ASSERT_TRUE(t.resolve(middle, 2));
  EXPECT_EQ(middle.dport, 53);
}

TEST(FragmentTracker, OrphanWithoutFirst) {
  FragmentTracker t(64, kTimeout);
  Decoded middle = ipv4_fragment(Part::middle, 0x1234);
  EXPECT_FALSE(t.resolve(middle, 0));
  EXPECT_EQ(middle.sport, 0);
  EXPECT_EQ(middle.dport, 0);
  Decoded last = ipv4_fragment(Part::last, 0x1234);
  EXPECT_FALSE(t.resolve(last, 0));
}

TEST(FragmentTracker, OnlyTheSameDatagramMatches) {
  FragmentTracker t(1024, kTimeout);
  Decoded first = ipv4_fragment(Part::first, 0x1234);
  ASSERT_TRUE(t.resolve(first, 0));

  Decoded other_id = ipv4_fragment(Part::middle, 0x1235);
  EXPECT_FALSE(t.resolve(other_id, 1));
  Decoded other_src = ipv4_fragment(Part::middle, 0x1234, 2);
  EXPECT_FALSE(t.resolve(other_src, 1));
  Decoded other_proto = ipv4_fragment(Part::middle, 0x1234, 1, kTcp);
  EXPECT_FALSE(t.resolve(other_proto, 1));
  // Same bytes at the start of the address, but another IP version.
  Decoded v6 = ipv4_fragment(Part::middle, 0x1234);
  v6.ip_version = 6;
  EXPECT_FALSE(t.resolve(v6, 1));

  Decoded same = ipv4_fragment(Part::middle, 0x1234);
  EXPECT_TRUE(t.resolve(same, 1));
}

TEST(FragmentTracker, Timeout) {
  FragmentTracker t(64, kTimeout);
  Decoded first = ipv4_fragment(Part::first, 1);
  ASSERT_TRUE(t.resolve(first, 5 * kSecond));

  Decoded at_limit = ipv4_fragment(Part::middle, 1);
  EXPECT_TRUE(t.resolve(at_limit, 5 * kSecond + kTimeout));  // exactly as old as the timeout: live
  Decoded expired = ipv4_fragment(Part::last, 1);
  EXPECT_FALSE(t.resolve(expired, 5 * kSecond + kTimeout + 1));
  EXPECT_EQ(expired.sport, 0);

  // A clock that reads earlier than the record (reordered offline input) is not an old record.
  Decoded early = ipv4_fragment(Part::middle, 1);
  EXPECT_TRUE(t.resolve(early, kSecond));

  // A new first fragment of the same datagram refreshes the record.
  Decoded again = ipv4_fragment(Part::first, 1);
  ASSERT_TRUE(t.resolve(again, 100 * kSecond));
  Decoded later = ipv4_fragment(Part::last, 1);
  EXPECT_TRUE(t.resolve(later, 100 * kSecond + kTimeout));
}

TEST(FragmentTracker, CollisionOverwrites) {
  // One slot: every datagram collides with every other.
  FragmentTracker t(1, kTimeout);
  Decoded first_a = ipv4_fragment(Part::first, 100);
  ASSERT_TRUE(t.resolve(first_a, 0));
  Decoded first_b = ipv6_fragment(Part::first, 200);
  ASSERT_TRUE(t.resolve(first_b, 1));

  Decoded middle_a = ipv4_fragment(Part::middle, 100);
  EXPECT_FALSE(t.resolve(middle_a, 2)) << "A's record was overwritten by B";
  Decoded middle_b = ipv6_fragment(Part::middle, 200);
  EXPECT_TRUE(t.resolve(middle_b, 2));
  EXPECT_EQ(middle_b.sport, 40000);
}

TEST(FragmentTracker, ZeroEntriesStillWorks) {
  FragmentTracker t(0, kTimeout);  // rounded up to one slot
  Decoded first = ipv4_fragment(Part::first, 3);
  ASSERT_TRUE(t.resolve(first, 0));
  Decoded last = ipv4_fragment(Part::last, 3);
  EXPECT_TRUE(t.resolve(last, 0));
}

TEST(FragmentTracker, ManyDatagramsInFlight) {
  // 1000 entries round up to 1024 slots: most of 200 interleaved datagrams
  // must survive. Not all need to: the table is direct-mapped.
  FragmentTracker t(1000, kTimeout);
  for (uint32_t id = 0; id < 200; ++id) {
    Decoded first = ipv4_fragment(Part::first, id, static_cast<uint8_t>(id % 7));
    first.sport = static_cast<uint16_t>(10000 + id);
    ASSERT_TRUE(t.resolve(first, id));
  }
  int resolved = 0;
  for (uint32_t id = 0; id < 200; ++id) {
    Decoded last = ipv4_fragment(Part::last, id, static_cast<uint8_t>(id % 7));
    if (t.resolve(last, 1000)) {
      ++resolved;
      EXPECT_EQ(last.sport, 10000 + id) << "a collision must never give another datagram's ports";
    }
  }
  EXPECT_GE(resolved, 160);
}

TEST(FragmentTracker, Ipv6Fragments) {
  FragmentTracker t(256, kTimeout);
  Decoded first = ipv6_fragment(Part::first, 0xcafef00d);
  ASSERT_TRUE(t.resolve(first, 0));

  // Addresses that differ only in their first byte are other hosts.
  Decoded other_host = ipv6_fragment(Part::middle, 0xcafef00d, 0x21);
  EXPECT_FALSE(t.resolve(other_host, 1));
  // The identification is 32 bits wide in IPv6.
  Decoded other_id = ipv6_fragment(Part::middle, 0x0afef00d);
  EXPECT_FALSE(t.resolve(other_id, 1));

  Decoded middle = ipv6_fragment(Part::middle, 0xcafef00d);
  ASSERT_TRUE(t.resolve(middle, 1));
  EXPECT_EQ(middle.sport, 40000);
  EXPECT_EQ(middle.dport, 4789);
  Decoded last = ipv6_fragment(Part::last, 0xcafef00d);
  ASSERT_TRUE(t.resolve(last, 2));
  EXPECT_EQ(last.dport, 4789);
}

TEST(FragmentTracker, Ipv6NonFirstTakesTheFirstFragmentsProtocol) {
  // When the fragmentable part starts with a destination options header, a
  // non-first fragment only knows "60"; it still belongs to the UDP flow.
  FragmentTracker t(256, kTimeout);
  Decoded first = ipv6_fragment(Part::first, 9, 0x20, kUdp);
  ASSERT_TRUE(t.resolve(first, 0));
  Decoded last = ipv6_fragment(Part::last, 9, 0x20, kDestOpts);
  ASSERT_TRUE(t.resolve(last, 1));
  EXPECT_EQ(last.l4_proto, kUdp);
  EXPECT_EQ(last.sport, 40000);
}

}  // namespace
}  // namespace loupe
