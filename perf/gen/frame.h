// Ethernet/802.1Q/IPv4/IPv6/TCP/UDP headers for loupe-gen, with every length
// and checksum filled in: tshark is the oracle on these captures and checks
// them all.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loupe::gen {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

// Everything in front of the payload of one frame. Addresses point to 4
// (IPv4) or 16 (IPv6) bytes in network order; the pointed-to bytes must
// outlive the call to write_headers().
struct FrameHeaders {
  const uint8_t* src_mac = nullptr;
  const uint8_t* dst_mac = nullptr;
  uint16_t vlan = 0;  // 802.1Q VLAN id; 0: untagged
  bool ipv6 = false;
  const uint8_t* src_ip = nullptr;
  const uint8_t* dst_ip = nullptr;
  uint8_t ttl = 64;          // IPv4 TTL / IPv6 hop limit
  uint16_t ip_id = 0;        // IPv4 only
  uint32_t flow_label = 0;   // IPv6 only, 20 bits
  bool tcp = false;          // false: UDP
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;          // TCP only from here on
  uint32_t ack = 0;
  uint8_t tcp_flags = 0;
  uint16_t window = 0;
  uint16_t mss = 0;          // nonzero: an MSS option (SYN and SYN-ACK)
};

// Bytes of all headers, so a caller can place the payload at
// frame + header_length() before the headers are written.
size_t header_length(const FrameHeaders& h);

// Writes the headers in front of a payload_len-byte payload that already
// lies at frame + header_length(h), then the IP and L4 checksums.
void write_headers(const FrameHeaders& h, uint8_t* frame, size_t payload_len);

}  // namespace loupe::gen
