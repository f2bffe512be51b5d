// Decoder: Ethernet -> VLAN/QinQ -> MPLS -> IPv4/IPv6 (+ extension headers)
// -> TCP/UDP/ICMP/ICMPv6/SCTP, by plain byte parsing so it runs and is tested
// without DPDK.
//
// Two ends are tracked below L3, and every bound check is made against one of
// them on purpose:
//   declared_end  where the IP header says the datagram ends. A header that
//                 runs past it is malformed traffic (bad length/offset).
//   end           min(declared_end, caplen): the bytes we may read. A header
//                 within declared_end but past `end` was cut by the capture
//                 (snaplen) and is reported as *_truncated. Ethernet padding
//                 lies past declared_end, so it is never read as a header or
//                 counted as payload.
// Offsets fit Decoded's uint16_t fields: an L3 header starts within 14 + 2*4
// + 8*4 bytes, IPv6 extension headers add at most 8 * 2048, and payload_len
// is bounded by an IP length field (at most 65535).
#include "engine/decode/decoder.h"

#include <algorithm>
#include <cstring>

namespace loupe {
namespace {

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kMplsLabelLen = 4;
constexpr uint32_t kMaxMplsLabels = 8;
constexpr uint32_t kIpv4MinHeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kMaxIpv6ExtHeaders = 8;
constexpr uint32_t kTcpMinHeaderLen = 20;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kIcmpHeaderLen = 8;  // type, code, checksum, 4 bytes of rest-of-header
constexpr uint32_t kSctpCommonHeaderLen = 12;

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint16_t kEtherTypeQinQLegacy = 0x9100;  // pre-802.1ad QinQ, still met on carrier links
constexpr uint16_t kEtherTypeMplsUnicast = 0x8847;
constexpr uint16_t kEtherTypeMplsMulticast = 0x8848;
constexpr uint16_t kEtherTypePppoeSession = 0x8864;
constexpr uint32_t kPppoeHeaderLen = 8;  // PPPoE header (6) + PPP protocol (2)
constexpr uint16_t kPppIpv4 = 0x0021;
constexpr uint16_t kPppIpv6 = 0x0057;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoNoNextHeader = 59;
constexpr uint8_t kProtoDestOptions = 60;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoMobility = 135;

constexpr uint8_t kIpv4OptEol = 0;
constexpr uint8_t kIpv4OptNop = 1;

// Byte-wise loads: no alignment or endianness assumptions; GCC folds them
// into a single load + bswap.
inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

inline bool is_vlan_tpid(uint16_t t) {
  return t == kEtherTypeVlan || t == kEtherTypeQinQ || t == kEtherTypeQinQLegacy;
}

inline bool is_ipv6_ext_header(uint8_t nh) {
  switch (nh) {
    case kProtoHopByHop:
    case kProtoRouting:
    case kProtoFragment:
    case kProtoAh:
    case kProtoDestOptions:
    case kProtoMobility:
      return true;
    default:
      return false;
  }
}

// Fills the L4 fields of a packet whose L4 header starts at `l4`. The caller
// guarantees l4 <= end <= declared_end.
Malformed decode_l4(const uint8_t* frame, uint32_t l4, uint32_t end, uint32_t declared_end,
                    Decoded& out) {
  const uint8_t* p = frame + l4;
  const uint32_t avail = end - l4;
  out.l4_offset = static_cast<uint16_t>(l4);
  switch (out.l4_proto) {
    case kProtoTcp: {
      if (avail < kTcpMinHeaderLen) [[unlikely]]
        return Malformed::tcp_truncated;
      const uint32_t hlen = (p[12] >> 4) * 4u;
      if (hlen < kTcpMinHeaderLen || l4 + hlen > declared_end) [[unlikely]]
        return Malformed::tcp_bad_offset;
      if (hlen > avail) [[unlikely]]
        return Malformed::tcp_truncated;
      out.sport = load_be16(p);
      out.dport = load_be16(p + 2);
      out.tcp_flags = p[13];
      out.payload_offset = static_cast<uint16_t>(l4 + hlen);
      out.payload_len = static_cast<uint16_t>(avail - hlen);
      return Malformed::ok;
    }
    case kProtoUdp: {
      if (avail < kUdpHeaderLen) [[unlikely]]
        return Malformed::udp_truncated;
      const uint32_t udp_len = load_be16(p + 4);
      if (udp_len < kUdpHeaderLen) [[unlikely]]
        return Malformed::udp_bad_length;
      out.sport = load_be16(p);
      out.dport = load_be16(p + 2);
      out.payload_offset = static_cast<uint16_t>(l4 + kUdpHeaderLen);
      // The UDP length may end the datagram before the IP length does; it may
      // also exceed this packet (a first fragment), so it only ever shortens.
      out.payload_len = static_cast<uint16_t>(std::min(udp_len, avail) - kUdpHeaderLen);
      return Malformed::ok;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      if (avail < kIcmpHeaderLen) [[unlikely]]
        return Malformed::icmp_truncated;
      out.icmp_type = p[0];
      out.icmp_code = p[1];
      out.payload_offset = static_cast<uint16_t>(l4 + kIcmpHeaderLen);
      out.payload_len = static_cast<uint16_t>(avail - kIcmpHeaderLen);
      return Malformed::ok;
    }
    case kProtoSctp: {
      if (avail < kSctpCommonHeaderLen) [[unlikely]]
        return Malformed::sctp_truncated;
      out.sport = load_be16(p);
      out.dport = load_be16(p + 2);
      out.payload_offset = static_cast<uint16_t>(l4 + kSctpCommonHeaderLen);
      out.payload_len = static_cast<uint16_t>(avail - kSctpCommonHeaderLen);
      return Malformed::ok;
    }
    default:
      // GRE, ESP, IP-in-IP, ...: not parsed here (tunnels come later), so the
      // whole IP payload, its own header included, is payload.
      out.payload_offset = static_cast<uint16_t>(l4);
      out.payload_len = static_cast<uint16_t>(avail);
      return Malformed::ok;
  }
}

Malformed decode_ipv4(const uint8_t* frame, uint32_t l3, uint32_t caplen, Decoded& out) {
  const uint8_t* ip = frame + l3;
  const uint32_t avail = caplen - l3;
  if (avail < kIpv4MinHeaderLen) [[unlikely]]
    return Malformed::ipv4_truncated;
  if ((ip[0] >> 4) != 4) [[unlikely]]
    return Malformed::ipv4_bad_version;
  const uint32_t hlen = (ip[0] & 0x0f) * 4u;
  if (hlen < kIpv4MinHeaderLen) [[unlikely]]
    return Malformed::ipv4_bad_ihl;
  const uint32_t total_len = load_be16(ip + 2);
  if (total_len < hlen) [[unlikely]]
    return Malformed::ipv4_bad_total_length;
  if (hlen > avail) [[unlikely]]
    return Malformed::ipv4_truncated;

  if (hlen > kIpv4MinHeaderLen) [[unlikely]] {
    // Options are not used, only validated: a broken TLV chain means the
    // header is not what it claims to be.
    uint32_t i = kIpv4MinHeaderLen;
    while (i < hlen) {
      const uint8_t type = ip[i];
      if (type == kIpv4OptEol) break;  // the rest is padding
      if (type == kIpv4OptNop) {
        ++i;
        continue;
      }
      if (hlen - i < 2) return Malformed::ipv4_bad_options;
      const uint32_t opt_len = ip[i + 1];
      if (opt_len < 2 || opt_len > hlen - i) return Malformed::ipv4_bad_options;
      i += opt_len;
    }
  }

  out.l3_offset = static_cast<uint16_t>(l3);
  out.ip_version = 4;
  out.ttl = ip[8];
  out.l4_proto = ip[9];
  std::memcpy(out.src, ip + 12, 4);
  std::memcpy(out.dst, ip + 16, 4);

  const uint32_t declared_end = l3 + total_len;
  const uint32_t end = l3 + std::min(total_len, avail);
  const uint32_t l4 = l3 + hlen;
  const uint16_t frag = load_be16(ip + 6);
  const uint16_t frag_offset = frag & 0x1fff;
  const bool more_fragments = (frag & 0x2000) != 0;
  if (more_fragments || frag_offset != 0) [[unlikely]] {
    out.is_fragment = true;
    out.frag_first = frag_offset == 0;
    out.frag_more = more_fragments;
    out.frag_id = load_be16(ip + 4);
    if (frag_offset != 0) {
      // No L4 header here: the bytes continue the first fragment's payload.
      out.payload_offset = static_cast<uint16_t>(l4);
      out.payload_len = static_cast<uint16_t>(end - l4);
      return Malformed::ok;
    }
  }
  return decode_l4(frame, l4, end, declared_end, out);
}

Malformed decode_ipv6(const uint8_t* frame, uint32_t l3, uint32_t caplen, Decoded& out) {
  const uint8_t* ip = frame + l3;
  if (caplen - l3 < kIpv6HeaderLen) [[unlikely]]
    return Malformed::ipv6_truncated;
  if ((ip[0] >> 4) != 6) [[unlikely]]
    return Malformed::ipv6_bad_version;

  out.l3_offset = static_cast<uint16_t>(l3);
  out.ip_version = 6;
  out.ttl = ip[7];
  std::memcpy(out.src, ip + 8, 16);
  std::memcpy(out.dst, ip + 24, 16);

  // A payload length of 0 would mean a jumbogram (RFC 2675), which cannot
  // cross an Ethernet link; it is taken at face value.
  const uint32_t declared_end = l3 + kIpv6HeaderLen + load_be16(ip + 4);
  const uint32_t end = std::min(declared_end, caplen);
  uint32_t off = l3 + kIpv6HeaderLen;
  uint8_t next = ip[6];
  bool seen_fragment_header = false;
  for (uint32_t n = 0; is_ipv6_ext_header(next); ++n) {
    if (n == kMaxIpv6ExtHeaders) [[unlikely]]
      return Malformed::ipv6_too_many_ext;
    // RFC 8200 4.1: hop-by-hop options may only come first.
    if (next == kProtoHopByHop && n != 0) [[unlikely]]
      return Malformed::ipv6_bad_ext_header;
    if (off + 2 > declared_end) [[unlikely]]
      return Malformed::ipv6_bad_ext_header;
    if (off + 2 > end) [[unlikely]]
      return Malformed::ipv6_truncated;
    const uint8_t* h = frame + off;
    uint32_t len;
    if (next == kProtoFragment) {
      len = 8;
    } else if (next == kProtoAh) {
      len = (h[1] + 2u) * 4u;  // RFC 4302: in 4-byte units, minus 2
    } else {
      len = (h[1] + 1u) * 8u;
    }
    if (off + len > declared_end) [[unlikely]]
      return Malformed::ipv6_bad_ext_header;
    if (off + len > end) [[unlikely]]
      return Malformed::ipv6_truncated;

    if (next == kProtoFragment) {
      if (seen_fragment_header) [[unlikely]]
        return Malformed::ipv6_bad_ext_header;
      seen_fragment_header = true;
      const uint16_t frag_offset = load_be16(h + 2) >> 3;
      const bool more_fragments = (h[3] & 0x01) != 0;
      // Offset 0 without M is an atomic fragment (RFC 6946): a whole
      // datagram, decoded like one.
      if (more_fragments || frag_offset != 0) {
        out.is_fragment = true;
        out.frag_first = frag_offset == 0;
        out.frag_more = more_fragments;
        out.frag_id = load_be32(h + 4);
        if (frag_offset != 0) {
          // The rest is fragment data; the protocol is the fragment header's
          // next header (FragmentTracker corrects it from the first fragment
          // when the fragmentable part starts with another extension header).
          out.l4_proto = h[0];
          out.payload_offset = static_cast<uint16_t>(off + len);
          out.payload_len = static_cast<uint16_t>(end - (off + len));
          return Malformed::ok;
        }
      }
    }
    next = h[0];
    off += len;
  }

  out.l4_proto = next;
  if (next == kProtoNoNextHeader) [[unlikely]] {
    // RFC 8200 4.7: whatever follows is to be ignored, so there is no payload.
    out.payload_offset = static_cast<uint16_t>(off);
    return Malformed::ok;
  }
  return decode_l4(frame, off, end, declared_end, out);
}

}  // namespace

Malformed Decoder::decode(const uint8_t* frame, uint32_t caplen, Decoded& out) const {
  // Decoded is reused across packets: nothing of the previous one may leak.
  out = Decoded{};
  if (caplen < kEthHeaderLen) [[unlikely]]
    return Malformed::eth_truncated;

  uint32_t off = kEthHeaderLen;
  uint16_t ether_type = load_be16(frame + 12);

  // At most two tags are recorded; written out rather than looped because
  // the depth is fixed.
  if (is_vlan_tpid(ether_type)) {
    if (caplen - off < kVlanTagLen) [[unlikely]]
      return Malformed::vlan_truncated;
    out.vlan[0] = load_be16(frame + off) & 0x0fff;
    out.vlan_count = 1;
    ether_type = load_be16(frame + off + 2);
    off += kVlanTagLen;
    if (is_vlan_tpid(ether_type)) {
      if (caplen - off < kVlanTagLen) [[unlikely]]
        return Malformed::vlan_truncated;
      out.vlan[1] = load_be16(frame + off) & 0x0fff;
      out.vlan_count = 2;
      ether_type = load_be16(frame + off + 2);
      off += kVlanTagLen;
      if (is_vlan_tpid(ether_type)) [[unlikely]]
        return Malformed::vlan_too_deep;
    }
  }

  if (ether_type == kEtherTypeIpv4) [[likely]]
    return decode_ipv4(frame, off, caplen, out);
  if (ether_type == kEtherTypeIpv6) return decode_ipv6(frame, off, caplen, out);

  if (ether_type == kEtherTypeMplsUnicast || ether_type == kEtherTypeMplsMulticast) {
    for (;;) {
      if (caplen - off < kMplsLabelLen) [[unlikely]]
        return Malformed::mpls_truncated;
      const bool bottom_of_stack = (frame[off + 2] & 0x01) != 0;
      off += kMplsLabelLen;
      ++out.mpls_count;
      if (bottom_of_stack) break;
      if (out.mpls_count == kMaxMplsLabels) [[unlikely]]
        return Malformed::mpls_too_deep;
    }
    // MPLS does not say what it carries; the first nibble is the usual guess
    // (a pseudowire control word starts with 0 and lands in "unknown").
    if (caplen == off) [[unlikely]]
      return Malformed::mpls_truncated;
    switch (frame[off] >> 4) {
      case 4:
        return decode_ipv4(frame, off, caplen, out);
      case 6:
        return decode_ipv6(frame, off, caplen, out);
      default:
        return Malformed::mpls_payload_unknown;
    }
  }
  if (ether_type == kEtherTypePppoeSession) {
    // Broadband access links: PPPoE session, then PPP, then IP.
    if (caplen - off < kPppoeHeaderLen) [[unlikely]]
      return Malformed::pppoe_truncated;
    const uint16_t ppp_proto = load_be16(frame + off + 6);
    off += kPppoeHeaderLen;
    if (ppp_proto == kPppIpv4) return decode_ipv4(frame, off, caplen, out);
    if (ppp_proto == kPppIpv6) return decode_ipv6(frame, off, caplen, out);
    return Malformed::not_ip;  // LCP, IPCP, authentication: control traffic
  }
  return Malformed::not_ip;
}

}  // namespace loupe
