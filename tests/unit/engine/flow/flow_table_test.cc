#include "engine/flow/flow_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "engine/flow/flow_key.h"
#include "tests/unit/engine/flow/flow_test_util.h"

namespace loupe {
namespace {

using test::CollectingSink;
using test::packet;

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kT0 = 1'700'000'000ULL * kSec;

std::string unique_name() {
  static std::atomic<int> n{0};
  return "ft_test" + std::to_string(n++);
}

class FlowTableTest : public ::testing::Test {
 protected:
  explicit FlowTableTest(uint32_t capacity = 1024) {
    config_.capacity = capacity;
    table_ = std::make_unique<FlowTable>(config_, unique_name().c_str(), 3, 0, sink_);
  }

  // Accounts one packet the way the worker does; returns the flow index.
  uint32_t feed(const Decoded& d, uint64_t ts, uint32_t len = 100) {
    FlowKey k;
    const uint8_t side = make_flow_key(d, k);
    const uint32_t idx = table_->find_or_create(k, FlowTable::hash(k), kNoFlow, side, d, ts);
    table_->update(idx, side, d, len, ts);
    table_->advance(ts);
    return idx;
  }

  FlowConfig config_;
  CollectingSink sink_;
  std::unique_ptr<FlowTable> table_;
};

TEST(FlowKeyTest, BothDirectionsGiveTheSameKey) {
  for (const auto& [a, b] : {std::pair{"10.0.0.1", "192.168.1.2"},
                             std::pair{"192.168.1.2", "10.0.0.1"},
                             std::pair{"2001:db8::1", "2001:db8::2"},
                             std::pair{"10.0.0.1", "10.0.0.1"}}) {
    Decoded fwd = packet(a, 40000, b, 443);
    Decoded rev = packet(b, 443, a, 40000);
    fwd.vlan[0] = rev.vlan[0] = 7;
    FlowKey k1, k2;
    const uint8_t s1 = make_flow_key(fwd, k1);
    const uint8_t s2 = make_flow_key(rev, k2);
    EXPECT_EQ(k1, k2) << a << " " << b;
    EXPECT_NE(s1, s2) << a << " " << b;
    EXPECT_EQ(FlowTable::hash(k1), FlowTable::hash(k2));
  }
}

TEST(FlowKeyTest, VlanAndProtocolSeparateFlows) {
  Decoded a = packet("10.0.0.1", 1, "10.0.0.2", 2);
  Decoded b = a;
  b.vlan[0] = 100;
  Decoded c = a;
  c.l4_proto = IPPROTO_UDP;
  FlowKey ka, kb, kc;
  make_flow_key(a, ka);
  make_flow_key(b, kb);
  make_flow_key(c, kc);
  EXPECT_FALSE(ka == kb);
  EXPECT_FALSE(ka == kc);
}

TEST(FlowEntryTest, EntryFitsIn256Bytes) {
  EXPECT_LE(sizeof(Flow), 256u);
  EXPECT_EQ(alignof(Flow), 64u);
}

TEST_F(FlowTableTest, CountsBothDirectionsAndKnowsTheClient) {
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x02), kT0, 60);
  feed(packet("10.0.0.2", 80, "10.0.0.1", 40000, IPPROTO_TCP, 0x12), kT0 + 1000, 60);
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x10), kT0 + 2000, 54);
  EXPECT_EQ(table_->counters().created.get(), 1u);
  table_->flush_all(EndReason::shutdown);
  ASSERT_EQ(sink_.records.size(), 1u);
  const auto& r = sink_.records[0];
  const int c = r.client;
  EXPECT_EQ(r.pkts[c], 2u);
  EXPECT_EQ(r.pkts[c ^ 1], 1u);
  EXPECT_EQ(r.bytes[c], 114u);
  EXPECT_EQ(r.bytes[c ^ 1], 60u);
  EXPECT_EQ(r.key.port[c], 40000);
  EXPECT_EQ(r.state, FlowState::kEstablished);
  EXPECT_EQ(r.reason, EndReason::shutdown);
}

TEST_F(FlowTableTest, SynAckFirstMakesTheReceiverTheClient) {
  feed(packet("10.0.0.2", 80, "10.0.0.1", 40000, IPPROTO_TCP, 0x12), kT0);
  table_->flush_all(EndReason::shutdown);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].key.port[sink_.records[0].client], 40000);
}

TEST_F(FlowTableTest, IdleTimeoutPerProtocol) {
  feed(packet("10.0.0.1", 1000, "10.0.0.2", 53, IPPROTO_UDP), kT0);
  feed(packet("10.0.0.1", 1001, "10.0.0.2", 80, IPPROTO_TCP, 0x10), kT0);
  feed(packet("10.0.0.2", 80, "10.0.0.1", 1001, IPPROTO_TCP, 0x10), kT0);  // established
  // Just before the UDP timeout nothing ends; just after, the UDP flow does.
  table_->advance(kT0 + config_.timeouts.udp * kSec - 1);
  EXPECT_TRUE(sink_.records.empty());
  table_->advance(kT0 + (config_.timeouts.udp + 2) * kSec);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].key.proto, IPPROTO_UDP);
  EXPECT_EQ(sink_.records[0].reason, EndReason::timeout);
  table_->advance(kT0 + (config_.timeouts.tcp + 2) * kSec);
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_EQ(sink_.records[1].key.proto, IPPROTO_TCP);
  EXPECT_EQ(table_->counters().active.get(), 0u);
}

TEST_F(FlowTableTest, PacketsKeepAFlowAlive) {
  for (uint64_t s = 0; s < 200; s += 10)
    feed(packet("10.0.0.1", 1000, "10.0.0.2", 53, IPPROTO_UDP), kT0 + s * kSec);
  EXPECT_TRUE(sink_.records.empty());
  EXPECT_EQ(table_->counters().created.get(), 1u);
}

TEST_F(FlowTableTest, ExpiredFlowEndsAtLookupEvenBeforeTheWheelRuns) {
  const Decoded d = packet("10.0.0.1", 1000, "10.0.0.2", 53, IPPROTO_UDP);
  FlowKey k;
  const uint8_t side = make_flow_key(d, k);
  const uint64_t t1 = kT0 + (config_.timeouts.udp + 5) * kSec;
  uint32_t idx = table_->find_or_create(k, FlowTable::hash(k), kNoFlow, side, d, kT0);
  table_->update(idx, side, d, 100, kT0);
  // No advance(): the next packet comes after the idle timeout.
  idx = table_->find_or_create(k, FlowTable::hash(k), kNoFlow, side, d, t1);
  table_->update(idx, side, d, 100, t1);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].reason, EndReason::timeout);
  EXPECT_EQ(table_->counters().created.get(), 2u);
}

// Offline, one burst may span seconds of capture: the timers of flows
// created in it run at the burst's end, none skipped for the wheel having
// started late.
TEST_F(FlowTableTest, TimersOfFlowsCreatedBeforeTheFirstAdvanceRun) {
  auto put = [&](const Decoded& d, uint64_t ts) {
    FlowKey k;
    const uint8_t side = make_flow_key(d, k);
    const uint32_t idx = table_->find_or_create(k, FlowTable::hash(k), kNoFlow, side, d, ts);
    table_->update(idx, side, d, 60, ts);
  };
  put(packet("10.0.0.1", 1000, "10.0.0.2", 80, IPPROTO_TCP, 0x11), kT0);
  put(packet("10.0.0.2", 80, "10.0.0.1", 1000, IPPROTO_TCP, 0x11), kT0 + 1000);
  put(packet("10.0.0.3", 1000, "10.0.0.2", 80, IPPROTO_TCP, 0x02), kT0 + 200 * kSec);
  table_->advance(kT0 + 200 * kSec);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].reason, EndReason::tcp_fin);
  // A packet older than the wheel's clock files its flow ahead of it.
  put(packet("10.0.0.4", 1000, "10.0.0.2", 53, IPPROTO_UDP), kT0 + 100 * kSec);
  table_->advance(kT0 + 200 * kSec + uint64_t{config_.timeouts.udp} * kSec + kSec);
  int udp_ended = 0;
  for (const auto& r : sink_.records)
    if (r.key.proto == IPPROTO_UDP) udp_ended += r.reason == EndReason::timeout;
  EXPECT_EQ(udp_ended, 1);
}

TEST_F(FlowTableTest, FinBothWaysEndsAfterTheLinger) {
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x02), kT0);
  feed(packet("10.0.0.2", 80, "10.0.0.1", 40000, IPPROTO_TCP, 0x12), kT0);
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x11), kT0 + kSec);
  feed(packet("10.0.0.2", 80, "10.0.0.1", 40000, IPPROTO_TCP, 0x11), kT0 + kSec);
  // The last ACK still belongs to the flow.
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x10), kT0 + kSec + 1000);
  EXPECT_TRUE(sink_.records.empty());
  table_->advance(kT0 + (config_.timeouts.tcp_closed + 3) * kSec);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].reason, EndReason::tcp_fin);
  EXPECT_EQ(sink_.records[0].state, FlowState::kClosed);
  EXPECT_EQ(sink_.records[0].pkts[0] + sink_.records[0].pkts[1], 5u);
}

TEST_F(FlowTableTest, RstEndsWithReasonRst) {
  feed(packet("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, 0x02), kT0);
  feed(packet("10.0.0.2", 80, "10.0.0.1", 40000, IPPROTO_TCP, 0x14), kT0);
  table_->advance(kT0 + (config_.timeouts.tcp_closed + 3) * kSec);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].reason, EndReason::tcp_rst);
}

TEST_F(FlowTableTest, ActiveTimeoutWritesInterimRecordsThatSumToTheTotal) {
  const uint64_t active = config_.timeouts.active;
  uint64_t sent = 0;
  for (uint64_t s = 0; s <= 3 * active; s += 10) {
    feed(packet("10.0.0.1", 1000, "10.0.0.2", 53, IPPROTO_UDP), kT0 + s * kSec, 10);
    sent++;
  }
  table_->flush_all(EndReason::shutdown);
  uint64_t interim = 0, pkts = 0, bytes = 0;
  for (const auto& r : sink_.records) {
    interim += r.reason == EndReason::active_timeout;
    pkts += r.pkts[0] + r.pkts[1];
    bytes += r.bytes[0] + r.bytes[1];
  }
  EXPECT_GE(interim, 2u);
  EXPECT_EQ(sink_.records.back().reason, EndReason::shutdown);
  EXPECT_EQ(pkts, sent);
  EXPECT_EQ(bytes, sent * 10);
}

TEST_F(FlowTableTest, MemoryIsAllocatedAtStartAndReported) {
  EXPECT_GE(table_->memory_bytes(), size_t{config_.capacity} * sizeof(Flow));
}

class SmallFlowTableTest : public FlowTableTest {
 protected:
  SmallFlowTableTest() : FlowTableTest(64) {}
  static Decoded nth(uint32_t i) {
    return packet("10.0.0.1", static_cast<uint16_t>(1000 + i), "10.0.0.2", 53, IPPROTO_UDP);
  }
};

TEST_F(SmallFlowTableTest, FullTableEvictsTheLeastRecentlyUsed) {
  for (uint32_t i = 0; i < 64; i++) feed(nth(i), kT0 + i * 1000);
  EXPECT_TRUE(sink_.records.empty());
  // Every flow was used since the hand last passed: the oldest goes.
  feed(nth(64), kT0 + 100'000);
  ASSERT_EQ(sink_.records.size(), 1u);
  EXPECT_EQ(sink_.records[0].reason, EndReason::evicted);
  EXPECT_EQ(sink_.records[0].key.port[0], 1000);
  // The hand cleared the others' bits; flows used again get a second chance.
  for (uint32_t i = 1; i <= 10; i++) feed(nth(i), kT0 + 200'000 + i);
  feed(nth(65), kT0 + 300'000);
  ASSERT_EQ(sink_.records.size(), 2u);
  EXPECT_GT(sink_.records[1].key.port[0], 1010);
  EXPECT_EQ(table_->counters().active.get(), 64u);
  EXPECT_EQ(table_->counters().ended[static_cast<int>(EndReason::evicted)].get(), 2u);
}

TEST_F(SmallFlowTableTest, ChurnNeverExceedsCapacityAndLosesNoPacket) {
  uint64_t fed = 0;
  for (uint32_t round = 0; round < 50; round++)
    for (uint32_t i = 0; i < 100; i++) {
      feed(nth(round * 100 + i), kT0 + (round * 100 + i) * 1000, 1);
      fed++;
    }
  EXPECT_LE(table_->counters().active.get(), 64u);
  table_->flush_all(EndReason::shutdown);
  uint64_t pkts = 0;
  for (const auto& r : sink_.records) pkts += r.pkts[0] + r.pkts[1];
  EXPECT_EQ(pkts, fed);
  EXPECT_EQ(table_->counters().active.get(), 0u);
}

// A held entry: its key leaves the table (the next packet starts a new
// flow elsewhere), its index and contents stay until release(); holds are
// refused past the hash's spare slots, and live flows never run short.
TEST_F(SmallFlowTableTest, HeldEntriesKeepTheirIndexNotTheirKey) {
  sink_.base = &table_->flow(0);
  const uint32_t first = feed(nth(0), kT0);
  sink_.hold = true;
  table_->flush_all(EndReason::shutdown);
  EXPECT_EQ(table_->held(), 1u);
  EXPECT_EQ(table_->counters().active.get(), 0u);
  EXPECT_EQ(table_->flow(first).in_use, kFlowHeld);
  EXPECT_EQ(table_->flow(first).pkts[0], 1u);
  sink_.hold = false;
  const uint32_t again = feed(nth(0), kT0 + 1000);
  EXPECT_NE(again, first);
  EXPECT_EQ(table_->counters().active.get(), 1u);
  EXPECT_EQ(table_->flow(first).pkts[0], 1u);  // untouched by the new flow

  // Hold until refused: the table keeps at most its spare key slots.
  sink_.hold = true;
  uint32_t i = 1;
  while (table_->can_hold()) {
    feed(nth(i), kT0 + 2000 + i);
    table_->flush_all(EndReason::shutdown);
    i++;
  }
  const uint32_t max_held = table_->held();
  EXPECT_GE(max_held, 8u);
  feed(nth(i++), kT0 + 5000);
  table_->flush_all(EndReason::shutdown);
  EXPECT_EQ(table_->held(), max_held);  // asked, refused
  sink_.hold = false;
  // A full table of live flows and churn beside the held entries.
  for (uint32_t k = 0; k < 300; k++) feed(nth(1000 + k), kT0 + 10'000 + k);
  EXPECT_EQ(table_->counters().active.get(), 64u);
  for (uint32_t idx : sink_.held)
    if (table_->flow(idx).in_use == kFlowHeld) table_->release(idx);
  EXPECT_EQ(table_->held(), 0u);
  for (uint32_t k = 0; k < 300; k++) feed(nth(2000 + k), kT0 + 20'000 + k);
  EXPECT_EQ(table_->counters().active.get(), 64u);
}

// Keys that all hash alike overflow their two buckets into the hash's
// extendable buckets; ending them empties those again, held or not (an
// emptied extendable bucket is recycled when its key's slot is freed).
TEST_F(FlowTableTest, CollidingKeysFillAndEmptyTheExtendableBuckets) {
  sink_.base = &table_->flow(0);
  constexpr uint32_t kSig = 0x5eed1234;  // the same hash for every key
  for (int round = 0; round < 3; round++) {
    std::vector<uint32_t> live;
    for (uint32_t i = 0; i < 64; i++) {
      const Decoded d = packet("10.9.0.1", static_cast<uint16_t>(2000 + i), "10.9.0.2", 53,
                               IPPROTO_UDP);
      FlowKey k;
      const uint8_t side = make_flow_key(d, k);
      const uint32_t idx = table_->find_or_create(k, kSig, kNoFlow, side, d, kT0 + round);
      table_->update(idx, side, d, 60, kT0 + round);
      live.push_back(idx);
    }
    EXPECT_EQ(table_->counters().active.get(), 64u);
    sink_.hold = round == 1;  // the middle round holds every flow, then releases
    sink_.held.clear();
    table_->flush_all(EndReason::shutdown);
    EXPECT_EQ(table_->counters().active.get(), 0u);
    for (uint32_t idx : sink_.held)
      if (table_->flow(idx).in_use == kFlowHeld) table_->release(idx);
    EXPECT_EQ(table_->held(), 0u);
  }
  sink_.hold = false;
}

}  // namespace
}  // namespace loupe
