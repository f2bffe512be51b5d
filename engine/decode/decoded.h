// What the decoder learns about one packet. Filled by Decoder::decode(),
// read by the flow stage. Plain data; addresses are kept in network byte
// order, IPv4 in the first 4 bytes of the 16-byte field (rest zero).
#pragma once

#include <cstdint>

namespace loupe {

// Every reason a packet is not processed into a flow. Declared once: the
// enum, counter names and help text all come from this list.
//   X(name, help)
#define LOUPE_MALFORMED_REASONS(X)                                          \
  X(eth_truncated, "frame shorter than an Ethernet header")                 \
  X(vlan_truncated, "802.1Q/QinQ tag cut short")                            \
  X(vlan_too_deep, "more than 2 VLAN tags")                                 \
  X(mpls_truncated, "MPLS label stack cut short")                           \
  X(mpls_too_deep, "MPLS stack deeper than 8 labels")                       \
  X(mpls_payload_unknown, "MPLS payload neither IPv4 nor IPv6")             \
  X(pppoe_truncated, "PPPoE session header cut short")                      \
  X(ipv4_truncated, "IPv4 header (with its options) cut short")             \
  X(ipv4_bad_version, "IPv4 EtherType whose IP version field is not 4")     \
  X(ipv4_bad_ihl, "IPv4 IHL below 5")                                       \
  X(ipv4_bad_total_length, "IPv4 total length below the header length")     \
  X(ipv4_bad_options, "IPv4 options malformed")                             \
  X(ipv6_truncated, "IPv6 header or extension header cut short")            \
  X(ipv6_bad_version, "IPv6 EtherType whose IP version field is not 6")     \
  X(ipv6_bad_ext_header, "IPv6 extension header chain malformed")           \
  X(ipv6_too_many_ext, "more than 8 IPv6 extension headers")                \
  X(tcp_truncated, "TCP header cut short")                                  \
  X(tcp_bad_offset, "TCP data offset below 5 or beyond the IP datagram")   \
  X(udp_truncated, "UDP header cut short")                                  \
  X(udp_bad_length, "UDP length below 8")                                   \
  X(icmp_truncated, "ICMP/ICMPv6 header cut short")                         \
  X(sctp_truncated, "SCTP common header cut short")                         \
  X(fragment_orphan, "non-first IP fragment whose first fragment was not seen") \
  X(not_ip, "EtherType carries no IP (ARP, LLDP, ...)")                     \
  X(link_type_unsupported, "capture link type other than Ethernet")

enum class Malformed : uint8_t {
#define LOUPE_X(name, help) name,
  LOUPE_MALFORMED_REASONS(LOUPE_X)
#undef LOUPE_X
      count,
  ok = 255,  // not malformed
};

inline constexpr const char* kMalformedNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_MALFORMED_REASONS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kMalformedHelp[] = {
#define LOUPE_X(name, help) help,
    LOUPE_MALFORMED_REASONS(LOUPE_X)
#undef LOUPE_X
};

struct Decoded {
  uint8_t src[16];        // IPv4: first 4 bytes, rest zero
  uint8_t dst[16];
  uint16_t sport = 0;     // host byte order; 0 for ICMP/ICMPv6 and other protocols
  uint16_t dport = 0;
  uint16_t vlan[2] = {0, 0};  // outer first; VLAN IDs (12 bits)
  uint8_t vlan_count = 0;
  uint8_t mpls_count = 0;
  uint8_t ip_version = 0;  // 4 or 6
  uint8_t l4_proto = 0;    // IPPROTO_* number (after IPv6 extension headers)
  uint8_t tcp_flags = 0;   // raw TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 ... )
  uint8_t ttl = 0;         // IPv4 TTL / IPv6 hop limit
  uint8_t icmp_type = 0;   // ICMP/ICMPv6 only
  uint8_t icmp_code = 0;
  // Fragments: is_fragment for any fragment; frag_first for offset 0.
  // Non-first fragments carry no L4 header: sport/dport are 0 until the
  // worker's FragmentTracker fills them from the first fragment.
  bool is_fragment = false;
  bool frag_first = false;
  bool frag_more = false;
  uint32_t frag_id = 0;    // IPv4 identification, or IPv6 fragment header id
  uint16_t l3_offset = 0;  // offsets from the start of the frame
  uint16_t l4_offset = 0;  // 0 when there is no L4 header in this packet
  uint16_t payload_offset = 0;
  uint16_t payload_len = 0;  // L4 payload bytes present in the capture
};

}  // namespace loupe
