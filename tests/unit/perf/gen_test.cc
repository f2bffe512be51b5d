// loupe-gen's core: determinism, the counts and shares it is asked for, and
// frames that are valid down to every checksum. Captures are made in memory
// and read back with a small parser here, independent of the generator's
// own frame code.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "perf/gen/flow.h"
#include "perf/gen/generator.h"
#include "perf/gen/pcap_writer.h"

namespace loupe::gen {
namespace {

struct Capture {
  std::string bytes;
  GenStats stats;
};

Capture make(const GenConfig& config) {
  EXPECT_EQ(validate(config), "");
  std::ostringstream out;
  Capture c;
  {
    PcapWriter writer(out);
    c.stats = generate(config, writer);
  }
  c.bytes = out.str();
  return c;
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return static_cast<uint32_t>(be16(p)) << 16 | be16(p + 2); }
uint32_t le32(const uint8_t* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
}

uint16_t checksum(const uint8_t* p, size_t len, uint64_t sum = 0) {
  for (; len >= 2; p += 2, len -= 2) sum += be16(p);
  if (len) sum += p[0] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// One frame as this test reads it. Parsing fails the test on any length or
// checksum error.
struct Frame {
  uint64_t ts_us = 0;
  uint32_t len = 0;
  uint16_t vlan = 0;
  bool ipv6 = false;
  uint8_t proto = 0;
  std::string src;  // address bytes
  std::string dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint32_t payload = 0;

  using Key = std::tuple<uint8_t, std::string, uint16_t, std::string, uint16_t>;
  // Same for both directions of a flow.
  Key flow_key() const {
    if (std::tie(src, sport) < std::tie(dst, dport)) return {proto, src, sport, dst, dport};
    return {proto, dst, dport, src, sport};
  }
  // Clients are 10/8 and fd00::/16, servers 192.168/16 and fd01::/16.
  bool from_client() const {
    return src[0] == 10 || (static_cast<uint8_t>(src[0]) == 0xfd && src[1] == 0);
  }
};

Frame parse_frame(const uint8_t* p, uint32_t len) {
  Frame f;
  f.len = len;
  size_t off = 12;
  uint16_t type = be16(p + off);
  if (type == 0x8100) {
    f.vlan = be16(p + off + 2) & 0xfff;
    off += 4;
    type = be16(p + off);
  }
  off += 2;
  const uint8_t* ip = p + off;
  size_t l4_len = 0;
  uint64_t pseudo = 0;
  if (type == 0x0800) {
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(checksum(ip, 20), 0) << "IPv4 header checksum";
    const uint16_t total = be16(ip + 2);
    EXPECT_LE(off + total, len);
    l4_len = total - 20u;
    f.proto = ip[9];
    f.src.assign(reinterpret_cast<const char*>(ip + 12), 4);
    f.dst.assign(reinterpret_cast<const char*>(ip + 16), 4);
    off += 20;
  } else {
    EXPECT_EQ(type, 0x86dd);
    EXPECT_EQ(ip[0] >> 4, 6);
    f.ipv6 = true;
    l4_len = be16(ip + 4);
    EXPECT_LE(off + 40 + l4_len, len);
    f.proto = ip[6];
    f.src.assign(reinterpret_cast<const char*>(ip + 8), 16);
    f.dst.assign(reinterpret_cast<const char*>(ip + 24), 16);
    off += 40;
  }
  const std::string addrs = f.src + f.dst;
  for (size_t i = 0; i < addrs.size(); i += 2) {
    pseudo += static_cast<uint8_t>(addrs[i]) << 8 | static_cast<uint8_t>(addrs[i + 1]);
  }
  pseudo += f.proto + l4_len;
  const uint8_t* l4 = p + off;
  EXPECT_EQ(checksum(l4, l4_len, pseudo), 0) << "L4 checksum";
  f.sport = be16(l4);
  f.dport = be16(l4 + 2);
  if (f.proto == 6) {
    const size_t data_offset = (l4[12] >> 4) * 4u;
    EXPECT_GE(data_offset, 20u);
    f.seq = be32(l4 + 4);
    f.ack = be32(l4 + 8);
    f.flags = l4[13];
    f.payload = static_cast<uint32_t>(l4_len - data_offset);
  } else {
    EXPECT_EQ(f.proto, 17);
    EXPECT_EQ(be16(l4 + 4), l4_len) << "UDP length";
    f.payload = static_cast<uint32_t>(l4_len - 8);
  }
  return f;
}

std::vector<Frame> parse(const std::string& pcap) {
  const auto* p = reinterpret_cast<const uint8_t*>(pcap.data());
  EXPECT_GE(pcap.size(), 24u);
  EXPECT_EQ(le32(p), 0xa1b2c3d4u);
  EXPECT_EQ(le32(p + 20), 1u);  // LINKTYPE_ETHERNET
  std::vector<Frame> frames;
  for (size_t off = 24; off < pcap.size();) {
    const uint32_t caplen = le32(p + off + 8);
    EXPECT_EQ(caplen, le32(p + off + 12));
    Frame f = parse_frame(p + off + 16, caplen);
    f.ts_us = le32(p + off) * 1000000ull + le32(p + off + 4);
    frames.push_back(f);
    off += 16 + caplen;
  }
  return frames;
}

// Frame indices of each flow, in capture order.
std::map<Frame::Key, std::vector<size_t>> by_flow(const std::vector<Frame>& frames) {
  std::map<Frame::Key, std::vector<size_t>> flows;
  for (size_t i = 0; i < frames.size(); ++i) flows[frames[i].flow_key()].push_back(i);
  return flows;
}

GenConfig small_config() {
  GenConfig c;
  c.flows = 400;
  c.concurrency = 20;
  return c;
}

TEST(GenTest, SameSeedSameBytesOtherSeedOtherBytes) {
  GenConfig c = small_config();
  c.ipv6_percent = 30;
  c.vlan_percent = 30;
  const Capture a = make(c);
  const Capture b = make(c);
  EXPECT_GT(a.bytes.size(), 10000u);
  EXPECT_EQ(a.bytes, b.bytes);
  c.seed = 2;
  const Capture other = make(c);
  EXPECT_NE(a.bytes, other.bytes);
}

TEST(GenTest, DeterministicInEveryMode) {
  GenConfig c = small_config();
  c.fixed_frame_size = 128;
  c.established = true;
  c.interleave = Interleave::round_robin;
  c.flow_gap_us = 3000000;
  c.packets_per_flow = SizeRange{2, 9};
  EXPECT_EQ(make(c).bytes, make(c).bytes);
}

TEST(GenTest, FlowAndFrameCountsAsAsked) {
  GenConfig c = small_config();
  c.packets_per_flow = SizeRange{7, 7};
  c.ipv6_percent = 50;
  const Capture cap = make(c);
  const std::vector<Frame> frames = parse(cap.bytes);
  EXPECT_EQ(cap.stats.flows, 400u);
  EXPECT_EQ(cap.stats.frames, 2800u);
  EXPECT_EQ(frames.size(), 2800u);
  const auto flows = by_flow(frames);
  EXPECT_EQ(flows.size(), 400u);  // distinct 5-tuples
  for (const auto& [key, idx] : flows) EXPECT_EQ(idx.size(), 7u);
}

TEST(GenTest, PacketsPerFlowRangeIsDrawnPerFlow) {
  GenConfig c = small_config();
  c.packets_per_flow = SizeRange{4, 20};
  const Capture cap = make(c);
  const auto flows = by_flow(parse(cap.bytes));
  ASSERT_EQ(flows.size(), 400u);
  std::set<size_t> lengths;
  for (const auto& [key, idx] : flows) {
    EXPECT_GE(idx.size(), 4u);
    EXPECT_LE(idx.size(), 20u);
    lengths.insert(idx.size());
  }
  EXPECT_GT(lengths.size(), 10u);
}

TEST(GenTest, Ipv6AndVlanSharesWithinTolerance) {
  GenConfig c = small_config();
  c.flows = 5000;
  c.ipv6_percent = 30;
  c.vlan_percent = 20;
  c.packets_per_flow = SizeRange{2, 2};
  const Capture cap = make(c);
  const auto frames = parse(cap.bytes);
  const auto flows = by_flow(frames);
  ASSERT_EQ(flows.size(), 5000u);
  size_t v6 = 0;
  size_t tagged = 0;
  for (const auto& [key, idx] : flows) {
    v6 += frames[idx[0]].ipv6;
    tagged += frames[idx[0]].vlan != 0;
    for (size_t i : idx) EXPECT_EQ(frames[i].vlan, frames[idx[0]].vlan);
  }
  EXPECT_NEAR(v6 / 5000.0, 0.30, 0.03);
  EXPECT_NEAR(tagged / 5000.0, 0.20, 0.03);
  EXPECT_EQ(cap.stats.ipv6_flows, v6);
  EXPECT_EQ(cap.stats.vlan_flows, tagged);
}

TEST(GenTest, FixedFrameSizeHonoured) {
  GenConfig c = small_config();
  c.fixed_frame_size = 64;
  for (const Frame& f : parse(make(c).bytes)) EXPECT_EQ(f.len, 64u);
  // IPv6 and VLAN headers included: every frame is still exactly the size.
  c.fixed_frame_size = 200;
  c.ipv6_percent = 50;
  c.vlan_percent = 50;
  for (const Frame& f : parse(make(c).bytes)) EXPECT_EQ(f.len, 200u);
  c.fixed_frame_size = 1514;
  for (const Frame& f : parse(make(c).bytes)) EXPECT_EQ(f.len, 1514u);
}

TEST(GenTest, TcpSequenceAndAckNumbersFollowTheBytes) {
  GenConfig c = small_config();
  c.mix = parse_mix("http=1,tls=1,tcp=1");
  c.ipv6_percent = 20;
  const auto frames = parse(make(c).bytes);
  size_t checked = 0;
  for (const auto& [key, idx] : by_flow(frames)) {
    std::array<uint32_t, 2> next{};  // next sequence number, client then server
    std::array<bool, 2> seen{};
    for (size_t i : idx) {
      const Frame& f = frames[i];
      const int dir = f.from_client() ? 0 : 1;
      if (seen[dir]) {
        EXPECT_EQ(f.seq, next[dir]);
      }
      if ((f.flags & 0x10) != 0 && seen[dir ^ 1]) {
        EXPECT_EQ(f.ack, next[dir ^ 1]);
      }
      seen[dir] = true;
      next[dir] = f.seq + f.payload + ((f.flags & 0x03) != 0 ? 1 : 0);  // SYN, FIN
      ++checked;
    }
    EXPECT_TRUE(seen[0] && seen[1]);
  }
  EXPECT_GT(checked, 3000u);
}

TEST(GenTest, BothDirectionsAndServerPortsPerProtocol) {
  const std::map<std::string, uint16_t> ports = {{"http", 80}, {"tls", 443}, {"dns", 53},
                                                 {"quic", 443}};
  for (const auto& [name, port] : ports) {
    GenConfig c = small_config();
    c.mix = parse_mix(name + "=1");
    const auto frames = parse(make(c).bytes);
    const auto flows = by_flow(frames);
    EXPECT_EQ(flows.size(), 400u) << name;
    for (const auto& [key, idx] : flows) {
      bool to_server = false;
      bool to_client = false;
      for (size_t i : idx) {
        const Frame& f = frames[i];
        (f.from_client() ? to_server : to_client) = true;
        EXPECT_EQ(f.from_client() ? f.dport : f.sport, port) << name;
        EXPECT_EQ(f.proto, name == "dns" || name == "quic" ? 17 : 6) << name;
      }
      EXPECT_TRUE(to_server && to_client) << name;
    }
  }
}

TEST(GenTest, EstablishedHasNoHandshakesOrCloses) {
  GenConfig c = small_config();
  c.established = true;
  c.packets_per_flow = SizeRange{5, 5};
  for (const Frame& f : parse(make(c).bytes)) {
    EXPECT_EQ(f.flags & 0x07, 0);  // SYN, FIN, RST
    EXPECT_GT(f.payload, 0u);
  }
}

TEST(GenTest, ConcurrencyBoundsActiveFlows) {
  for (uint64_t concurrency : {1u, 7u}) {
    GenConfig c = small_config();
    c.concurrency = concurrency;
    const auto frames = parse(make(c).bytes);
    std::vector<int> delta(frames.size() + 1);
    for (const auto& [key, idx] : by_flow(frames)) {
      ++delta[idx.front()];
      --delta[idx.back() + 1];
    }
    int active = 0;
    int most = 0;
    for (int d : delta) most = std::max(most, active += d);
    EXPECT_EQ(most, static_cast<int>(concurrency));
  }
}

TEST(GenTest, TimestampsFollowRateAndGaps) {
  GenConfig c = small_config();
  c.pps = 1000;
  c.flow_gap_us = 10000000;
  const auto frames = parse(make(c).bytes);
  EXPECT_EQ(frames.front().ts_us, c.start_time * 1000000);
  size_t gaps = 0;
  for (size_t i = 1; i < frames.size(); ++i) {
    const uint64_t step = frames[i].ts_us - frames[i - 1].ts_us;
    if (step >= c.flow_gap_us) {
      ++gaps;
    } else {
      EXPECT_EQ(step, 1000u);
    }
  }
  EXPECT_EQ(gaps, 400u / 20 - 1);  // between batches of `concurrency` flows
}

TEST(GenTest, DistinctTuplesAcrossPortPasses) {
  // Client addresses repeat only after 16M flows; the host-then-port
  // construction is checked here on the parameters directly.
  const FlowParams params = make_flow_params(GenConfig{});
  const uint64_t slots = (1u << 24) - 2;
  std::set<std::pair<std::string, uint16_t>> seen;
  for (uint64_t pass = 0; pass < 3; ++pass) {
    for (uint64_t slot = 0; slot < 200; ++slot) {
      const FlowState f = start_flow(params, pass * slots + slot);
      if (f.ipv6) continue;
      EXPECT_TRUE(seen.emplace(std::string(f.client_ip.begin(), f.client_ip.begin() + 4),
                               f.client_port)
                      .second);
    }
  }
  EXPECT_GE(flow_capacity(params), 1000000000ull);
}

TEST(GenTest, PerFlowStateStaysSmall) {
  // A million concurrent flows must fit in modest memory.
  EXPECT_LE(sizeof(FlowState), 128u);
}

TEST(GenTest, ParsesOptions) {
  EXPECT_EQ(parse_range("7").min, 7u);
  EXPECT_EQ(parse_range("7").max, 7u);
  EXPECT_EQ(parse_range("4-20").min, 4u);
  EXPECT_EQ(parse_range("4-20").max, 20u);
  EXPECT_THROW(parse_range("20-4"), std::invalid_argument);
  EXPECT_THROW(parse_range("x"), std::invalid_argument);
  EXPECT_THROW(parse_range("4-"), std::invalid_argument);
  const auto mix = parse_mix("http=30,dns=5");
  EXPECT_EQ(mix[static_cast<size_t>(Protocol::http)], 30u);
  EXPECT_EQ(mix[static_cast<size_t>(Protocol::dns)], 5u);
  EXPECT_EQ(mix[static_cast<size_t>(Protocol::tls)], 0u);
  EXPECT_THROW(parse_mix("smtp=3"), std::invalid_argument);
  EXPECT_THROW(parse_mix("http"), std::invalid_argument);

  GenConfig c;
  EXPECT_EQ(validate(c), "");
  c.size = {64, 9000};
  EXPECT_NE(validate(c), "");
  c = GenConfig{};
  c.fixed_frame_size = 20;
  EXPECT_NE(validate(c), "");
  c = GenConfig{};
  c.mix = {};
  EXPECT_NE(validate(c), "");
}

}  // namespace
}  // namespace loupe::gen
