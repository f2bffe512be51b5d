// Decoder tests: frames are assembled byte by byte by a small builder, then
// checked against a table of expectations; truncation is checked at every
// length of a few valid frames; garbage is thrown at it from a fixed seed.
#include "engine/decode/decoder.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace loupe {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthArp = 0x0806;
constexpr uint16_t kEthLldp = 0x88cc;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinQ = 0x88a8;
constexpr uint16_t kEthQinQLegacy = 0x9100;
constexpr uint16_t kEthMpls = 0x8847;
constexpr uint16_t kEthMplsMulticast = 0x8848;

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kSctp = 132;
constexpr uint8_t kGre = 47;
constexpr uint8_t kEsp = 50;
constexpr uint8_t kIpip = 4;
constexpr uint8_t kIpv6InIpv4 = 41;
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kRouting = 43;
constexpr uint8_t kFragment = 44;
constexpr uint8_t kAh = 51;
constexpr uint8_t kNoNext = 59;
constexpr uint8_t kDestOpts = 60;
constexpr uint8_t kMobility = 135;

constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint16_t kIpv4DontFragment = 0x4000;

constexpr std::array<uint8_t, 4> kSrc4{10, 0, 0, 1};
constexpr std::array<uint8_t, 4> kDst4{192, 168, 7, 2};
// 2001:db8::1 and 2001:db8::be02
constexpr std::array<uint8_t, 16> kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::array<uint8_t, 16> kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                        0,    0,    0,    0,    0, 0, 0xbe, 2};

struct Ipv4Spec {
  uint8_t proto = kTcp;
  uint8_t ttl = 64;
  uint16_t id = 0x1234;
  uint16_t frag = 0;      // flags and fragment offset, as on the wire
  Bytes options = {};     // after the fixed 20 bytes; the IHL follows them
  int ihl = -1;           // IHL nibble override
  int total_length = -1;  // default: up to pad() or the end of the frame
  uint8_t version = 4;
};

struct Ipv6Spec {
  uint8_t next = kTcp;
  uint8_t hop_limit = 64;
  int payload_length = -1;  // default: up to pad() or the end of the frame
  uint8_t version = 6;
};

// Appends headers in wire order. Length fields left to their defaults are
// patched when the frame is finished (at pad() or bytes()), so padding added
// by pad() lies outside every IP/UDP length like real Ethernet padding.
class Frame {
 public:
  Frame& eth(uint16_t ether_type) {
    for (int i = 0; i < 6; ++i) put8(0x02);  // dst MAC
    for (int i = 0; i < 6; ++i) put8(0x04);  // src MAC
    put16(ether_type);
    return *this;
  }
  Frame& vlan(uint16_t tci, uint16_t next_type) {
    put16(tci);
    put16(next_type);
    return *this;
  }
  Frame& mpls(uint32_t label, bool bottom, uint8_t ttl = 255) {
    put32(label << 12 | (bottom ? 0x100u : 0u) | ttl);
    return *this;
  }
  Frame& ipv4(const Ipv4Spec& s = {}) {
    const size_t at = b_.size();
    const size_t hlen = 20 + s.options.size();
    const uint8_t ihl = s.ihl >= 0 ? static_cast<uint8_t>(s.ihl) : static_cast<uint8_t>(hlen / 4);
    put8(static_cast<uint8_t>(s.version << 4 | (ihl & 0x0f)));
    put8(0);  // DSCP/ECN
    if (s.total_length >= 0) {
      put16(static_cast<uint16_t>(s.total_length));
    } else {
      patches_.push_back({b_.size(), at, Patch::kIpv4Total});
      put16(0);
    }
    put16(s.id);
    put16(s.frag);
    put8(s.ttl);
    put8(s.proto);
    put16(0);  // checksum: not verified by the decoder
    raw(Bytes(kSrc4.begin(), kSrc4.end()));
    raw(Bytes(kDst4.begin(), kDst4.end()));
    raw(s.options);
    return *this;
  }
  Frame& ipv6(const Ipv6Spec& s = {}) {
    const size_t at = b_.size();
    put32(uint32_t{s.version} << 28 | 0xabcde);  // traffic class 0, flow label
    if (s.payload_length >= 0) {
      put16(static_cast<uint16_t>(s.payload_length));
    } else {
      patches_.push_back({b_.size(), at + 40, Patch::kIpv6Payload});
      put16(0);
    }
    put8(s.next);
    put8(s.hop_limit);
    raw(Bytes(kSrc6.begin(), kSrc6.end()));
    raw(Bytes(kDst6.begin(), kDst6.end()));
    return *this;
  }
  // A generic IPv6 extension header of `len` bytes (a multiple of 8, or of 4
  // for AH); the option bytes are Pad1 (zero).
  Frame& ext6(uint8_t type, uint8_t next, uint32_t len) {
    put8(next);
    put8(static_cast<uint8_t>(type == kAh ? len / 4 - 2 : len / 8 - 1));
    for (uint32_t i = 2; i < len; ++i) put8(0);
    return *this;
  }
  Frame& frag6(uint8_t next, uint16_t offset_units, bool more, uint32_t id) {
    put8(next);
    put8(0);
    put16(static_cast<uint16_t>(offset_units << 3 | (more ? 1 : 0)));
    put32(id);
    return *this;
  }
  Frame& tcp(uint16_t sport, uint16_t dport, uint8_t flags = 0x02, const Bytes& options = {},
             int data_offset = -1) {
    put16(sport);
    put16(dport);
    put32(1000);  // seq
    put32(0);     // ack
    const uint8_t doff = data_offset >= 0 ? static_cast<uint8_t>(data_offset)
                                          : static_cast<uint8_t>((20 + options.size()) / 4);
    put8(static_cast<uint8_t>(doff << 4));
    put8(flags);
    put16(65535);  // window
    put16(0);      // checksum
    put16(0);      // urgent pointer
    raw(options);
    return *this;
  }
  Frame& udp(uint16_t sport, uint16_t dport, int length = -1) {
    const size_t at = b_.size();
    put16(sport);
    put16(dport);
    if (length >= 0) {
      put16(static_cast<uint16_t>(length));
    } else {
      patches_.push_back({b_.size(), at, Patch::kUdpLength});
      put16(0);
    }
    put16(0);  // checksum
    return *this;
  }
  Frame& icmp(uint8_t type, uint8_t code) {
    put8(type);
    put8(code);
    put16(0);           // checksum
    put32(0x00010002);  // id, sequence
    return *this;
  }
  Frame& sctp(uint16_t sport, uint16_t dport) {
    put16(sport);
    put16(dport);
    put32(0xdeadbeef);  // verification tag
    put32(0);           // checksum
    return *this;
  }
  Frame& payload(size_t n) {
    for (size_t i = 0; i < n; ++i) put8(static_cast<uint8_t>(0xa0 + i));
    return *this;
  }
  Frame& raw(const Bytes& bytes) {
    b_.insert(b_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  // Ethernet padding: bytes after the end of the IP datagram.
  Frame& pad(size_t n) {
    seal();
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  Bytes bytes() {
    seal();
    return b_;
  }

 private:
  struct Patch {
    size_t at;    // where the 16-bit field is
    size_t base;  // the value is (end of datagram - base)
    enum Kind { kIpv4Total, kIpv6Payload, kUdpLength } kind;
  };

  void seal() {
    for (const Patch& p : patches_) {
      const auto v = static_cast<uint16_t>(b_.size() - p.base);
      b_[p.at] = static_cast<uint8_t>(v >> 8);
      b_[p.at + 1] = static_cast<uint8_t>(v);
    }
    patches_.clear();
  }
  void put8(uint8_t v) { b_.push_back(v); }
  void put16(uint16_t v) {
    put8(static_cast<uint8_t>(v >> 8));
    put8(static_cast<uint8_t>(v));
  }
  void put32(uint32_t v) {
    put16(static_cast<uint16_t>(v >> 16));
    put16(static_cast<uint16_t>(v));
  }

  Bytes b_;
  std::vector<Patch> patches_;
};

// What a case expects. Fields are compared only when the result is ok; every
// field is compared then (defaults are what a plain packet leaves at zero),
// except those set to -1, which a case may leave unchecked.
struct Expect {
  Malformed result = Malformed::ok;
  uint8_t ip_version = 0;
  uint8_t l4_proto = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  std::vector<uint16_t> vlans = {};
  uint8_t mpls = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  bool is_fragment = false;
  bool frag_first = false;
  bool frag_more = false;
  uint32_t frag_id = 0;
  int payload_len = 0;
  bool has_l4 = true;  // l4_offset != 0
  int ttl = 64;
  int l3_offset = -1;
  int l4_offset = -1;
  int payload_offset = -1;
};

struct Case {
  std::string name;
  Bytes frame;
  Expect expect;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

std::string reason_name(Malformed m) {
  if (m == Malformed::ok) return "ok";
  const auto i = static_cast<size_t>(m);
  return i < static_cast<size_t>(Malformed::count) ? kMalformedNames[i]
                                                   : "INVALID(" + std::to_string(i) + ")";
}

// What must hold for any frame decoded ok, whatever its content.
void check_invariants(const Bytes& frame, const Decoded& d) {
  ASSERT_TRUE(d.ip_version == 4 || d.ip_version == 6);
  ASSERT_GE(d.l3_offset, 14);
  ASSERT_LE(d.vlan_count, 2);
  ASSERT_LE(d.mpls_count, 8);
  ASSERT_LE(size_t{d.payload_offset} + d.payload_len, frame.size());
  if (d.l4_offset != 0) {
    ASSERT_GT(d.l4_offset, d.l3_offset);
    ASSERT_GE(d.payload_offset, d.l4_offset);
  } else {
    ASSERT_TRUE(d.sport == 0 && d.dport == 0);
  }
  if (d.is_fragment && !d.frag_first) {
    ASSERT_EQ(d.l4_offset, 0);
  }
  if (!d.is_fragment) {
    ASSERT_FALSE(d.frag_first || d.frag_more || d.frag_id != 0);
  }
  if (d.ip_version == 4) {
    for (int i = 4; i < 16; ++i) ASSERT_EQ(d.src[i] | d.dst[i], 0) << "byte " << i;
  }
  if (d.vlan_count < 2) {
    ASSERT_EQ(d.vlan[1], 0);
  }
  if (d.vlan_count < 1) {
    ASSERT_EQ(d.vlan[0], 0);
  }
}

// Valid IPv4 options: NOP, NOP, record route (type 7, length 7, pointer 4,
// one empty slot), then EOL padding to 12 bytes.
const Bytes kGoodOptions = {1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0};

std::vector<Case> table() {
  std::vector<Case> t;
  auto add = [&t](std::string name, Frame f, Expect e) {
    t.push_back({std::move(name), f.bytes(), std::move(e)});
  };

  // A table reads best one case per line or two.
  // clang-format off
  const Expect tcp4{.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02};

  // --- Ethernet, VLAN, QinQ
  add("ipv4_tcp", Frame().eth(kEthIpv4).ipv4().tcp(40000, 80, 0x18).payload(10),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x18, .payload_len = 10,
       .l3_offset = 14, .l4_offset = 34, .payload_offset = 54});
  add("ipv4_tcp_options", Frame().eth(kEthIpv4).ipv4().tcp(40000, 80, 0x02, Bytes(12, 1)).payload(3),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .payload_len = 3,
       .l4_offset = 34, .payload_offset = 66});
  add("vlan_8100", Frame().eth(kEthVlan).vlan(0xa064, kEthIpv4).ipv4().tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .vlans = {100}, .tcp_flags = 0x02,
       .l3_offset = 18});
  add("qinq_88a8", Frame().eth(kEthQinQ).vlan(10, kEthVlan).vlan(0x2014, kEthIpv4).ipv4().tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .vlans = {10, 20}, .tcp_flags = 0x02,
       .l3_offset = 22});
  add("qinq_stacked_8100",
      Frame().eth(kEthVlan).vlan(4094, kEthVlan).vlan(1, kEthIpv6).ipv6({.next = kUdp}).udp(53, 5353),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 53, .dport = 5353, .vlans = {4094, 1}, .l3_offset = 22});
  add("qinq_9100", Frame().eth(kEthQinQLegacy).vlan(7, kEthVlan).vlan(8, kEthIpv4).ipv4().tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .vlans = {7, 8}, .tcp_flags = 0x02});
  add("vlan_too_deep",
      Frame().eth(kEthQinQ).vlan(1, kEthVlan).vlan(2, kEthVlan).vlan(3, kEthIpv4).ipv4().tcp(1, 2),
      {.result = Malformed::vlan_too_deep});
  add("vlan_truncated", Frame().eth(kEthVlan).raw({0, 100, 0x08}), {.result = Malformed::vlan_truncated});
  add("eth_truncated", Frame().raw(Bytes(13, 0xff)), {.result = Malformed::eth_truncated});
  // --- PPPoE session (version/type 0x11, code 0, session id, length, PPP protocol)
  add("pppoe_ipv4_udp",
      Frame().eth(0x8864).raw({0x11, 0x00, 0x12, 0x34, 0x00, 0x30, 0x00, 0x21}).ipv4({.proto = kUdp}).udp(514, 514),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 514, .dport = 514, .l3_offset = 22, .l4_offset = 42});
  add("vlan_pppoe_ipv6_udp",
      Frame().eth(kEthVlan).vlan(5, 0x8864).raw({0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x57})
          .ipv6({.next = kUdp}).udp(53, 40000),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 53, .dport = 40000, .vlans = {5}, .l3_offset = 26});
  add("pppoe_lcp_is_not_ip", Frame().eth(0x8864).raw({0x11, 0x00, 0x00, 0x01, 0x00, 0x04, 0xc0, 0x21, 1, 1}),
      {.result = Malformed::not_ip});
  add("pppoe_truncated", Frame().eth(0x8864).raw({0x11, 0x00, 0x00, 0x01, 0x00}),
      {.result = Malformed::pppoe_truncated});
  add("empty_frame", Frame(), {.result = Malformed::eth_truncated});

  // --- non-IP
  add("arp", Frame().eth(kEthArp).raw({0, 1, 8, 0, 6, 4, 0, 1}).raw(Bytes(20, 0)), {.result = Malformed::not_ip});
  add("lldp", Frame().eth(kEthLldp).raw(Bytes(46, 0)), {.result = Malformed::not_ip});
  add("ieee8023_length", Frame().eth(0x002e).raw({0xaa, 0xaa, 3}).raw(Bytes(43, 0)), {.result = Malformed::not_ip});
  add("vlan_arp", Frame().eth(kEthVlan).vlan(5, kEthArp).raw(Bytes(28, 0)), {.result = Malformed::not_ip});
  add("ipv4_ethertype_ipv6_header", Frame().eth(kEthIpv4).ipv6().tcp(1, 2),
      {.result = Malformed::ipv4_bad_version});
  add("ipv6_ethertype_ipv4_header", Frame().eth(kEthIpv6).ipv4().tcp(1, 2).payload(20),
      {.result = Malformed::ipv6_bad_version});

  // --- MPLS
  add("mpls_2_labels_ipv4", Frame().eth(kEthMpls).mpls(100, false).mpls(200, true).ipv4().tcp(40000, 80).payload(5),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .mpls = 2, .tcp_flags = 0x02,
       .payload_len = 5, .l3_offset = 22, .l4_offset = 42});
  add("mpls_2_labels_ipv6", Frame().eth(kEthMpls).mpls(100, false).mpls(200, true).ipv6({.next = kUdp}).udp(1, 2),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 1, .dport = 2, .mpls = 2, .l3_offset = 22, .l4_offset = 62});
  add("mpls_multicast", Frame().eth(kEthMplsMulticast).mpls(16, true).ipv4({.proto = kUdp}).udp(1, 2).payload(1),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 1, .dport = 2, .mpls = 1, .payload_len = 1});
  add("vlan_mpls", Frame().eth(kEthVlan).vlan(30, kEthMpls).mpls(1, true).ipv4().tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .vlans = {30}, .mpls = 1, .tcp_flags = 0x02,
       .l3_offset = 22});
  {
    Frame f = Frame().eth(kEthMpls);
    for (int i = 0; i < 7; ++i) f.mpls(i, false);
    f.mpls(7, true).ipv4().tcp(40000, 80);
    add("mpls_8_labels", f, {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .mpls = 8,
                             .tcp_flags = 0x02, .l3_offset = 46});
    Frame g = Frame().eth(kEthMpls);
    for (int i = 0; i < 8; ++i) g.mpls(i, false);
    g.mpls(8, true).ipv4().tcp(40000, 80);
    add("mpls_too_deep", g, {.result = Malformed::mpls_too_deep});
  }
  add("mpls_control_word", Frame().eth(kEthMpls).mpls(1, true).raw({0, 0, 0, 1}).eth(kEthIpv4).ipv4().tcp(1, 2),
      {.result = Malformed::mpls_payload_unknown});
  add("mpls_no_bottom", Frame().eth(kEthMpls).mpls(1, false).mpls(2, false), {.result = Malformed::mpls_truncated});
  add("mpls_nothing_after_stack", Frame().eth(kEthMpls).mpls(1, true), {.result = Malformed::mpls_truncated});

  // --- IPv4 header
  add("ipv4_options_good", Frame().eth(kEthIpv4).ipv4({.options = kGoodOptions}).tcp(40000, 80).payload(2),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .payload_len = 2,
       .l4_offset = 46, .payload_offset = 66});
  add("ipv4_options_all_nop", Frame().eth(kEthIpv4).ipv4({.options = Bytes(40, 1)}).tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .l4_offset = 74});
  add("ipv4_options_len_0", Frame().eth(kEthIpv4).ipv4({.options = {1, 0x44, 0, 0}}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_options});
  add("ipv4_options_len_1", Frame().eth(kEthIpv4).ipv4({.options = {0x44, 1, 0, 0}}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_options});
  add("ipv4_options_len_past_header", Frame().eth(kEthIpv4).ipv4({.options = {1, 7, 4, 4}}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_options});
  add("ipv4_options_type_without_len", Frame().eth(kEthIpv4).ipv4({.options = {1, 1, 1, 7}}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_options});
  // The option's length byte would be the first byte past the capture.
  add("ipv4_options_type_at_end_of_capture", Frame().eth(kEthIpv4).ipv4({.options = {1, 1, 1, 7}}),
      {.result = Malformed::ipv4_bad_options});
  add("ipv4_options_garbage_after_eol", Frame().eth(kEthIpv4).ipv4({.options = {0, 7, 200, 1}}).tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02});
  add("ipv4_ihl_4", Frame().eth(kEthIpv4).ipv4({.ihl = 4}).tcp(1, 2), {.result = Malformed::ipv4_bad_ihl});
  add("ipv4_ihl_0", Frame().eth(kEthIpv4).ipv4({.ihl = 0}).tcp(1, 2), {.result = Malformed::ipv4_bad_ihl});
  add("ipv4_ihl_past_capture", Frame().eth(kEthIpv4).ipv4({.ihl = 15, .total_length = 100}).raw(Bytes(10, 1)),
      {.result = Malformed::ipv4_truncated});
  add("ipv4_total_length_19", Frame().eth(kEthIpv4).ipv4({.total_length = 19}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_total_length});
  add("ipv4_total_length_below_options",
      Frame().eth(kEthIpv4).ipv4({.options = kGoodOptions, .total_length = 24}).tcp(1, 2),
      {.result = Malformed::ipv4_bad_total_length});
  add("ipv4_header_only", Frame().eth(kEthIpv4).ipv4({.proto = kTcp}), {.result = Malformed::tcp_truncated});
  add("ipv4_ttl", Frame().eth(kEthIpv4).ipv4({.ttl = 3}).tcp(40000, 80),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .ttl = 3});

  // --- Ethernet padding and snaplen
  add("padding_tcp", Frame().eth(kEthIpv4).ipv4().tcp(40000, 80).pad(6),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .payload_len = 0});
  add("padding_udp", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).udp(1, 2).payload(3).pad(15),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 1, .dport = 2, .payload_len = 3});
  add("padding_icmp", Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).icmp(8, 0).pad(18),
      {.ip_version = 4, .l4_proto = kIcmp, .icmp_type = 8, .payload_len = 0});
  add("padding_ipv6", Frame().eth(kEthIpv6).ipv6({.next = kUdp}).udp(1, 2).payload(1).pad(7),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 1, .dport = 2, .payload_len = 1});
  add("padding_vlan_tcp", Frame().eth(kEthVlan).vlan(9, kEthIpv4).ipv4().tcp(40000, 80).pad(4),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .vlans = {9}, .tcp_flags = 0x02});
  add("snaplen_cut_payload", Frame().eth(kEthIpv4).ipv4({.total_length = 1500}).tcp(40000, 80).payload(60),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .payload_len = 60});
  add("snaplen_cut_ipv6_payload",
      Frame().eth(kEthIpv6).ipv6({.next = kUdp, .payload_length = 1400}).udp(1, 2, 1400).payload(9),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 1, .dport = 2, .payload_len = 9});

  // --- TCP
  add("tcp_offset_4", Frame().eth(kEthIpv4).ipv4().tcp(1, 2, 0x02, {}, 4), {.result = Malformed::tcp_bad_offset});
  add("tcp_offset_0", Frame().eth(kEthIpv4).ipv4().tcp(1, 2, 0x02, {}, 0), {.result = Malformed::tcp_bad_offset});
  // The offset reaches into Ethernet padding: past the IP datagram, not past the capture.
  add("tcp_offset_past_datagram", Frame().eth(kEthIpv4).ipv4().tcp(1, 2, 0x02, {}, 15).pad(60),
      {.result = Malformed::tcp_bad_offset});
  add("tcp_offset_past_capture", Frame().eth(kEthIpv4).ipv4({.total_length = 80}).tcp(1, 2, 0x02, {}, 15),
      {.result = Malformed::tcp_truncated});
  add("tcp_header_in_padding", Frame().eth(kEthIpv4).ipv4({.total_length = 30}).tcp(1, 2),
      {.result = Malformed::tcp_truncated});
  add("tcp_all_flags", Frame().eth(kEthIpv4).ipv4().tcp(40000, 80, 0xff),
      {.ip_version = 4, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0xff});

  // --- UDP, ICMP, SCTP, other protocols
  add("ipv4_udp", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).udp(5353, 53).payload(20),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 5353, .dport = 53, .payload_len = 20, .l4_offset = 34,
       .payload_offset = 42});
  add("udp_length_7", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).udp(1, 2, 7).payload(4),
      {.result = Malformed::udp_bad_length});
  add("udp_length_0", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).udp(1, 2, 0).payload(4),
      {.result = Malformed::udp_bad_length});
  add("udp_length_shorter_than_ip", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).udp(1, 2, 12).payload(10),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 1, .dport = 2, .payload_len = 4});
  add("udp_truncated", Frame().eth(kEthIpv4).ipv4({.proto = kUdp}).raw({0, 1, 0, 2}),
      {.result = Malformed::udp_truncated});
  add("icmp_echo", Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).icmp(8, 0).payload(56),
      {.ip_version = 4, .l4_proto = kIcmp, .icmp_type = 8, .payload_len = 56, .l4_offset = 34});
  add("icmp_unreachable", Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).icmp(3, 3).payload(28),
      {.ip_version = 4, .l4_proto = kIcmp, .icmp_type = 3, .icmp_code = 3, .payload_len = 28});
  add("icmp_truncated", Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).raw({8, 0, 0, 0}),
      {.result = Malformed::icmp_truncated});
  add("icmpv6_echo", Frame().eth(kEthIpv6).ipv6({.next = kIcmpv6}).icmp(128, 0).payload(8),
      {.ip_version = 6, .l4_proto = kIcmpv6, .icmp_type = 128, .payload_len = 8, .l4_offset = 54});
  add("icmpv6_truncated", Frame().eth(kEthIpv6).ipv6({.next = kIcmpv6}).raw({135, 0, 0}),
      {.result = Malformed::icmp_truncated});
  add("sctp", Frame().eth(kEthIpv4).ipv4({.proto = kSctp}).sctp(2905, 2906).payload(16),
      {.ip_version = 4, .l4_proto = kSctp, .sport = 2905, .dport = 2906, .payload_len = 16, .payload_offset = 46});
  add("sctp_ipv6", Frame().eth(kEthIpv6).ipv6({.next = kSctp}).sctp(36412, 36412),
      {.ip_version = 6, .l4_proto = kSctp, .sport = 36412, .dport = 36412});
  add("sctp_truncated", Frame().eth(kEthIpv4).ipv4({.proto = kSctp}).raw(Bytes(11, 0)),
      {.result = Malformed::sctp_truncated});
  add("gre", Frame().eth(kEthIpv4).ipv4({.proto = kGre}).raw({0, 0, 0x08, 0}).ipv4().tcp(1, 2),
      {.ip_version = 4, .l4_proto = kGre, .payload_len = 44, .l4_offset = 34, .payload_offset = 34});
  add("esp", Frame().eth(kEthIpv4).ipv4({.proto = kEsp}).payload(40),
      {.ip_version = 4, .l4_proto = kEsp, .payload_len = 40});
  add("ipip", Frame().eth(kEthIpv4).ipv4({.proto = kIpip}).ipv4().tcp(1, 2),
      {.ip_version = 4, .l4_proto = kIpip, .payload_len = 40});
  add("ipv6_in_ipv4", Frame().eth(kEthIpv4).ipv4({.proto = kIpv6InIpv4}).ipv6({.next = kUdp}).udp(1, 2),
      {.ip_version = 4, .l4_proto = kIpv6InIpv4, .payload_len = 48});
  add("ipv4_empty_payload_other_proto", Frame().eth(kEthIpv4).ipv4({.proto = kGre}),
      {.ip_version = 4, .l4_proto = kGre, .payload_len = 0});

  // --- IPv4 fragments
  add("ipv4_first_fragment",
      Frame().eth(kEthIpv4).ipv4({.proto = kUdp, .id = 0xbeef, .frag = kIpv4MoreFragments})
          .udp(4000, 53, 3000).payload(1472),
      {.ip_version = 4, .l4_proto = kUdp, .sport = 4000, .dport = 53, .is_fragment = true, .frag_first = true,
       .frag_more = true, .frag_id = 0xbeef, .payload_len = 1472});
  add("ipv4_middle_fragment",
      Frame().eth(kEthIpv4).ipv4({.proto = kUdp, .id = 0xbeef, .frag = kIpv4MoreFragments | 185}).payload(1480),
      {.ip_version = 4, .l4_proto = kUdp, .is_fragment = true, .frag_more = true, .frag_id = 0xbeef,
       .payload_len = 1480, .has_l4 = false, .l4_offset = 0, .payload_offset = 34});
  add("ipv4_last_fragment", Frame().eth(kEthIpv4).ipv4({.proto = kUdp, .id = 0xbeef, .frag = 370}).payload(48).pad(10),
      {.ip_version = 4, .l4_proto = kUdp, .is_fragment = true, .frag_id = 0xbeef, .payload_len = 48,
       .has_l4 = false});
  // A non-first fragment's bytes are not a header, however broken they look.
  add("ipv4_fragment_no_l4_parse", Frame().eth(kEthIpv4).ipv4({.proto = kTcp, .id = 7, .frag = 1}).raw(Bytes(8, 0)),
      {.ip_version = 4, .l4_proto = kTcp, .is_fragment = true, .frag_id = 7, .payload_len = 8, .has_l4 = false});
  add("ipv4_dont_fragment", Frame().eth(kEthIpv4).ipv4({.id = 9, .frag = kIpv4DontFragment}).tcp(40000, 80), tcp4);
  add("ipv4_first_fragment_tiny", Frame().eth(kEthIpv4).ipv4({.frag = kIpv4MoreFragments}).raw(Bytes(8, 0)),
      {.result = Malformed::tcp_truncated});

  // --- IPv6 and its extension headers
  add("ipv6_tcp", Frame().eth(kEthIpv6).ipv6({.hop_limit = 255}).tcp(40000, 443, 0x10).payload(100),
      {.ip_version = 6, .l4_proto = kTcp, .sport = 40000, .dport = 443, .tcp_flags = 0x10, .payload_len = 100,
       .ttl = 255, .l3_offset = 14, .l4_offset = 54, .payload_offset = 74});
  add("ipv6_hbh_fragment_first",
      Frame().eth(kEthIpv6).ipv6({.next = kHopByHop}).ext6(kHopByHop, kFragment, 8).frag6(kUdp, 0, true, 0xcafef00d)
          .udp(5000, 4789, 2000).payload(64),
      {.ip_version = 6, .l4_proto = kUdp, .sport = 5000, .dport = 4789, .is_fragment = true, .frag_first = true,
       .frag_more = true, .frag_id = 0xcafef00d, .payload_len = 64, .l4_offset = 70, .payload_offset = 78});
  add("ipv6_hbh_fragment_middle",
      Frame().eth(kEthIpv6).ipv6({.next = kHopByHop}).ext6(kHopByHop, kFragment, 8).frag6(kUdp, 100, true, 0xcafef00d)
          .payload(64),
      {.ip_version = 6, .l4_proto = kUdp, .is_fragment = true, .frag_more = true, .frag_id = 0xcafef00d,
       .payload_len = 64, .has_l4 = false, .l4_offset = 0, .payload_offset = 70});
  add("ipv6_fragment_last", Frame().eth(kEthIpv6).ipv6({.next = kFragment}).frag6(kTcp, 200, false, 5).payload(3),
      {.ip_version = 6, .l4_proto = kTcp, .is_fragment = true, .frag_id = 5, .payload_len = 3, .has_l4 = false});
  add("ipv6_atomic_fragment", Frame().eth(kEthIpv6).ipv6({.next = kFragment}).frag6(kTcp, 0, false, 5).tcp(40000, 80),
      {.ip_version = 6, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .l4_offset = 62});
  add("ipv6_routing_destopts",
      Frame().eth(kEthIpv6).ipv6({.next = kRouting}).ext6(kRouting, kDestOpts, 24).ext6(kDestOpts, kTcp, 16)
          .tcp(40000, 80).payload(1),
      {.ip_version = 6, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .payload_len = 1,
       .l4_offset = 94});
  add("ipv6_ah", Frame().eth(kEthIpv6).ipv6({.next = kAh}).ext6(kAh, kTcp, 24).tcp(40000, 80),
      {.ip_version = 6, .l4_proto = kTcp, .sport = 40000, .dport = 80, .tcp_flags = 0x02, .l4_offset = 78});
  add("ipv6_esp", Frame().eth(kEthIpv6).ipv6({.next = kEsp}).payload(32),
      {.ip_version = 6, .l4_proto = kEsp, .payload_len = 32, .l4_offset = 54});
  add("ipv6_no_next_header", Frame().eth(kEthIpv6).ipv6({.next = kNoNext}).payload(6),
      {.ip_version = 6, .l4_proto = kNoNext, .payload_len = 0, .has_l4 = false, .l4_offset = 0});
  add("ipv6_destopts_no_next", Frame().eth(kEthIpv6).ipv6({.next = kDestOpts}).ext6(kDestOpts, kNoNext, 8),
      {.ip_version = 6, .l4_proto = kNoNext, .has_l4 = false, .payload_offset = 62});
  add("ipv6_mobility", Frame().eth(kEthIpv6).ipv6({.next = kMobility}).ext6(kMobility, kNoNext, 16),
      {.ip_version = 6, .l4_proto = kNoNext, .has_l4 = false});
  {
    Frame ok8 = Frame().eth(kEthIpv6).ipv6({.next = kDestOpts});
    for (int i = 0; i < 7; ++i) ok8.ext6(kDestOpts, kDestOpts, 8);
    ok8.ext6(kDestOpts, kUdp, 8).udp(1, 2);
    add("ipv6_8_ext_headers", ok8,
        {.ip_version = 6, .l4_proto = kUdp, .sport = 1, .dport = 2, .l4_offset = 14 + 40 + 64});
    Frame too_many = Frame().eth(kEthIpv6).ipv6({.next = kDestOpts});
    for (int i = 0; i < 8; ++i) too_many.ext6(kDestOpts, kDestOpts, 8);
    too_many.ext6(kDestOpts, kUdp, 8).udp(1, 2);
    add("ipv6_9_ext_headers", too_many, {.result = Malformed::ipv6_too_many_ext});
  }
  add("ipv6_hbh_not_first",
      Frame().eth(kEthIpv6).ipv6({.next = kDestOpts}).ext6(kDestOpts, kHopByHop, 8).ext6(kHopByHop, kTcp, 8).tcp(1, 2),
      {.result = Malformed::ipv6_bad_ext_header});
  add("ipv6_two_fragment_headers",
      Frame().eth(kEthIpv6).ipv6({.next = kFragment}).frag6(kFragment, 0, true, 1).frag6(kTcp, 0, true, 1).tcp(1, 2),
      {.result = Malformed::ipv6_bad_ext_header});
  add("ipv6_ext_past_payload_length",
      Frame().eth(kEthIpv6).ipv6({.next = kRouting, .payload_length = 8}).ext6(kRouting, kTcp, 24).tcp(1, 2),
      {.result = Malformed::ipv6_bad_ext_header});
  add("ipv6_ext_past_capture",
      Frame().eth(kEthIpv6).ipv6({.next = kRouting, .payload_length = 200}).raw({kTcp, 2, 0, 0}),
      {.result = Malformed::ipv6_truncated});
  add("ipv6_ext_header_len_byte_missing",
      Frame().eth(kEthIpv6).ipv6({.next = kDestOpts, .payload_length = 16}).raw({6}),
      {.result = Malformed::ipv6_truncated});
  add("ipv6_tcp_past_payload_length", Frame().eth(kEthIpv6).ipv6({.payload_length = 10}).tcp(1, 2),
      {.result = Malformed::tcp_truncated});
  add("ipv6_header_truncated", Frame().eth(kEthIpv6).raw(Bytes(39, 0x60)), {.result = Malformed::ipv6_truncated});
  // clang-format on

  return t;
}

class DecoderTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecoderTable, Decodes) {
  const Case& c = GetParam();
  const Expect& e = c.expect;
  Decoded d;
  const Malformed r = Decoder().decode(c.frame.data(), static_cast<uint32_t>(c.frame.size()), d);
  ASSERT_EQ(reason_name(r), reason_name(e.result));
  if (r != Malformed::ok) return;
  check_invariants(c.frame, d);
  EXPECT_EQ(d.ip_version, e.ip_version);
  EXPECT_EQ(d.l4_proto, e.l4_proto);
  EXPECT_EQ(d.sport, e.sport);
  EXPECT_EQ(d.dport, e.dport);
  ASSERT_EQ(d.vlan_count, e.vlans.size());
  for (size_t i = 0; i < e.vlans.size(); ++i) EXPECT_EQ(d.vlan[i], e.vlans[i]) << "tag " << i;
  EXPECT_EQ(d.mpls_count, e.mpls);
  EXPECT_EQ(d.tcp_flags, e.tcp_flags);
  EXPECT_EQ(d.icmp_type, e.icmp_type);
  EXPECT_EQ(d.icmp_code, e.icmp_code);
  EXPECT_EQ(d.is_fragment, e.is_fragment);
  EXPECT_EQ(d.frag_first, e.frag_first);
  EXPECT_EQ(d.frag_more, e.frag_more);
  EXPECT_EQ(d.frag_id, e.frag_id);
  EXPECT_EQ(d.payload_len, e.payload_len);
  EXPECT_EQ(d.l4_offset != 0, e.has_l4);
  if (e.ttl >= 0) {
    EXPECT_EQ(d.ttl, e.ttl);
  }
  if (e.l3_offset >= 0) {
    EXPECT_EQ(d.l3_offset, e.l3_offset);
  }
  if (e.l4_offset >= 0) {
    EXPECT_EQ(d.l4_offset, e.l4_offset);
  }
  if (e.payload_offset >= 0) {
    EXPECT_EQ(d.payload_offset, e.payload_offset);
  }
}

INSTANTIATE_TEST_SUITE_P(Frames, DecoderTable, ::testing::ValuesIn(table()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

// --- truncation: every cut of a valid frame gives the reason of the layer cut.

struct Boundary {
  size_t below;      // cuts shorter than this ...
  Malformed reason;  // ... give this reason
};

void check_every_cut(const Bytes& full, const std::vector<Boundary>& boundaries) {
  const Decoder decoder;
  Decoded whole;
  ASSERT_EQ(reason_name(decoder.decode(full.data(), static_cast<uint32_t>(full.size()), whole)),
            "ok");
  for (size_t len = 0; len <= full.size(); ++len) {
    // A copy of exactly `len` bytes so that ASan sees any read past the cut.
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    Malformed expected = Malformed::ok;
    for (const Boundary& b : boundaries) {
      if (len < b.below) {
        expected = b.reason;
        break;
      }
    }
    Decoded d;
    const Malformed r = decoder.decode(cut.data(), static_cast<uint32_t>(len), d);
    ASSERT_EQ(reason_name(r), reason_name(expected)) << "cut at " << len << " of " << full.size();
    if (r == Malformed::ok) {
      check_invariants(cut, d);
      EXPECT_EQ(d.sport, whole.sport);
      EXPECT_EQ(d.dport, whole.dport);
      EXPECT_EQ(size_t{d.payload_len}, len - whole.payload_offset) << "cut at " << len;
    }
  }
}

TEST(DecoderTruncation, VlanIpv4OptionsTcpOptions) {
  // 14 eth + 4 tag + 32 IPv4 (12 of options) + 32 TCP (12 of options) + 10 payload
  const Bytes f = Frame()
                      .eth(kEthVlan)
                      .vlan(100, kEthIpv4)
                      .ipv4({.options = kGoodOptions})
                      .tcp(40000, 80, 0x02, Bytes(12, 1))
                      .payload(10)
                      .bytes();
  ASSERT_EQ(f.size(), 92u);
  check_every_cut(f, {{14, Malformed::eth_truncated},
                      {18, Malformed::vlan_truncated},
                      {50, Malformed::ipv4_truncated},
                      {82, Malformed::tcp_truncated}});
}

TEST(DecoderTruncation, QinQIpv4Udp) {
  const Bytes f = Frame()
                      .eth(kEthQinQ)
                      .vlan(1, kEthVlan)
                      .vlan(2, kEthIpv4)
                      .ipv4({.proto = kUdp})
                      .udp(1, 2)
                      .payload(5)
                      .bytes();
  check_every_cut(f, {{14, Malformed::eth_truncated},
                      {22, Malformed::vlan_truncated},
                      {42, Malformed::ipv4_truncated},
                      {50, Malformed::udp_truncated}});
}

TEST(DecoderTruncation, MplsIpv6ExtensionsUdp) {
  // 14 eth + 8 MPLS + 40 IPv6 + 8 hop-by-hop + 8 fragment + 8 UDP + 4 payload
  const Bytes f = Frame()
                      .eth(kEthMpls)
                      .mpls(1, false)
                      .mpls(2, true)
                      .ipv6({.next = kHopByHop})
                      .ext6(kHopByHop, kFragment, 8)
                      .frag6(kUdp, 0, true, 77)
                      .udp(1, 2, 100)
                      .payload(4)
                      .bytes();
  check_every_cut(
      f, {{14, Malformed::eth_truncated},
          {23, Malformed::mpls_truncated},  // including the byte the IP version is guessed from
          {78, Malformed::ipv6_truncated},
          {86, Malformed::udp_truncated}});
}

TEST(DecoderTruncation, Ipv4IcmpAndSctp) {
  check_every_cut(Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).icmp(0, 0).payload(3).bytes(),
                  {{14, Malformed::eth_truncated},
                   {34, Malformed::ipv4_truncated},
                   {42, Malformed::icmp_truncated}});
  check_every_cut(Frame().eth(kEthIpv6).ipv6({.next = kSctp}).sctp(1, 2).payload(3).bytes(),
                  {{14, Malformed::eth_truncated},
                   {54, Malformed::ipv6_truncated},
                   {66, Malformed::sctp_truncated}});
}

// --- state between packets

void expect_same(const Decoded& a, const Decoded& b) {
  EXPECT_EQ(std::memcmp(a.src, b.src, 16), 0);
  EXPECT_EQ(std::memcmp(a.dst, b.dst, 16), 0);
  EXPECT_EQ(a.sport, b.sport);
  EXPECT_EQ(a.dport, b.dport);
  EXPECT_EQ(a.vlan[0], b.vlan[0]);
  EXPECT_EQ(a.vlan[1], b.vlan[1]);
  EXPECT_EQ(a.vlan_count, b.vlan_count);
  EXPECT_EQ(a.mpls_count, b.mpls_count);
  EXPECT_EQ(a.ip_version, b.ip_version);
  EXPECT_EQ(a.l4_proto, b.l4_proto);
  EXPECT_EQ(a.tcp_flags, b.tcp_flags);
  EXPECT_EQ(a.ttl, b.ttl);
  EXPECT_EQ(a.icmp_type, b.icmp_type);
  EXPECT_EQ(a.icmp_code, b.icmp_code);
  EXPECT_EQ(a.is_fragment, b.is_fragment);
  EXPECT_EQ(a.frag_first, b.frag_first);
  EXPECT_EQ(a.frag_more, b.frag_more);
  EXPECT_EQ(a.frag_id, b.frag_id);
  EXPECT_EQ(a.l3_offset, b.l3_offset);
  EXPECT_EQ(a.l4_offset, b.l4_offset);
  EXPECT_EQ(a.payload_offset, b.payload_offset);
  EXPECT_EQ(a.payload_len, b.payload_len);
}

TEST(Decoder, ResetsEveryFieldBetweenPackets) {
  const Decoder decoder;
  Decoded d;
  const Bytes v6 = Frame()
                       .eth(kEthQinQ)
                       .vlan(1, kEthVlan)
                       .vlan(2, kEthIpv6)
                       .ipv6({.next = kFragment})
                       .frag6(kTcp, 0, true, 99)
                       .tcp(1, 2, 0xff)
                       .payload(9)
                       .bytes();
  ASSERT_EQ(decoder.decode(v6.data(), static_cast<uint32_t>(v6.size()), d), Malformed::ok);
  EXPECT_EQ(std::memcmp(d.src, kSrc6.data(), 16), 0);
  EXPECT_EQ(std::memcmp(d.dst, kDst6.data(), 16), 0);

  const Bytes v4 = Frame().eth(kEthIpv4).ipv4({.proto = kIcmp}).icmp(8, 0).bytes();
  ASSERT_EQ(decoder.decode(v4.data(), static_cast<uint32_t>(v4.size()), d), Malformed::ok);
  Decoded fresh;
  ASSERT_EQ(decoder.decode(v4.data(), static_cast<uint32_t>(v4.size()), fresh), Malformed::ok);
  EXPECT_EQ(std::memcmp(d.src, kSrc4.data(), 4), 0);
  EXPECT_EQ(std::memcmp(d.dst, kDst4.data(), 4), 0);
  expect_same(d, fresh);

  // A malformed packet leaves no field of the previous one either.
  const Bytes arp = Frame().eth(kEthArp).raw(Bytes(28, 0)).bytes();
  ASSERT_EQ(decoder.decode(v6.data(), static_cast<uint32_t>(v6.size()), d), Malformed::ok);
  ASSERT_EQ(decoder.decode(arp.data(), static_cast<uint32_t>(arp.size()), d), Malformed::not_ip);
  EXPECT_EQ(d.ip_version, 0);
  EXPECT_EQ(d.vlan_count, 0);
  EXPECT_EQ(d.sport, 0);
}

TEST(Decoder, MalformedNamesCoverTheEnum) {
  static_assert(std::size(kMalformedNames) == static_cast<size_t>(Malformed::count));
  static_assert(std::size(kMalformedHelp) == static_cast<size_t>(Malformed::count));
  for (size_t i = 0; i < std::size(kMalformedNames); ++i) {
    for (size_t j = i + 1; j < std::size(kMalformedNames); ++j)
      EXPECT_STRNE(kMalformedNames[i], kMalformedNames[j]);
  }
}

// --- garbage: anything must give a valid reason, and an ok must be coherent.

void decode_garbage(const Bytes& grown, const Decoder& decoder) {
  // An exact-size copy: a vector grown by push_back has spare capacity that
  // would hide a read past the end from ASan.
  const Bytes frame(grown.begin(), grown.end());
  Decoded d;
  const Malformed r = decoder.decode(frame.data(), static_cast<uint32_t>(frame.size()), d);
  ASSERT_TRUE(r == Malformed::ok || static_cast<size_t>(r) < static_cast<size_t>(Malformed::count))
      << static_cast<int>(r);
  if (r == Malformed::ok) check_invariants(frame, d);
}

TEST(DecoderGarbage, RandomBytes) {
  std::mt19937 rng(20240613);  // fixed: failures must reproduce
  const Decoder decoder;
  for (int n = 0; n < 100000; ++n) {
    Bytes f(rng() % 200);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    ASSERT_NO_FATAL_FAILURE(decode_garbage(f, decoder)) << "frame " << n;
  }
}

// Pure noise rarely gets past the EtherType; these start from real headers and
// randomise what follows, so the IP and extension header walks see garbage.
TEST(DecoderGarbage, RandomBytesBehindRealHeaders) {
  std::mt19937 rng(7);
  const Decoder decoder;
  const std::vector<Bytes> prefixes = {
      Frame().eth(kEthIpv4).bytes(),
      Frame().eth(kEthIpv6).bytes(),
      Frame().eth(kEthVlan).vlan(1, kEthMpls).bytes(),
      Frame().eth(kEthQinQ).vlan(1, kEthVlan).bytes(),
      Frame().eth(kEthIpv4).raw({0x4f, 0, 0x01, 0}).bytes(),  // IHL 15, options to walk
      Frame().eth(kEthIpv6).ipv6({.next = kHopByHop, .payload_length = 300}).bytes(),
      Frame().eth(kEthIpv6).ipv6({.next = kFragment, .payload_length = 300}).bytes(),
      Frame().eth(kEthIpv4).ipv4({.proto = kTcp, .total_length = 200}).bytes(),
      Frame().eth(kEthIpv4).ipv4({.proto = kUdp, .total_length = 200}).bytes(),
  };
  for (int n = 0; n < 100000; ++n) {
    Bytes f = prefixes[static_cast<size_t>(n) % prefixes.size()];
    const size_t extra = rng() % 160;
    for (size_t i = 0; i < extra; ++i) f.push_back(static_cast<uint8_t>(rng()));
    // Keep the IP version right half of the time so the header is read further.
    if (f.size() > 14 && (rng() & 1))
      f[14] = static_cast<uint8_t>((f[12] == 0x86 ? 0x60 : 0x40) | (f[14] & 0x0f));
    f.resize(rng() % (f.size() + 1));
    ASSERT_NO_FATAL_FAILURE(decode_garbage(f, decoder)) << "frame " << n;
  }
}

}  // namespace
}  // namespace loupe
