#include "perf/gen/frame.h"

#include <cassert>
#include <cstring>

namespace loupe::gen {
namespace {

constexpr size_t kEthLen = 14;
constexpr size_t kVlanLen = 4;
constexpr size_t kIpv4Len = 20;
constexpr size_t kIpv6Len = 40;
constexpr size_t kTcpLen = 20;
constexpr size_t kMssOptionLen = 4;
constexpr size_t kUdpLen = 8;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

// One's-complement sum of big-endian 16-bit words, not yet folded.
uint64_t sum_words(const uint8_t* p, size_t len, uint64_t sum) {
  for (; len >= 2; p += 2, len -= 2) sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
  if (len == 1) sum += static_cast<uint32_t>(p[0] << 8);
  return sum;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

size_t l4_header_length(const FrameHeaders& h) {
  if (!h.tcp) return kUdpLen;
  return kTcpLen + (h.mss != 0 ? kMssOptionLen : 0);
}

}  // namespace

size_t header_length(const FrameHeaders& h) {
  return kEthLen + (h.vlan != 0 ? kVlanLen : 0) + (h.ipv6 ? kIpv6Len : kIpv4Len) +
         l4_header_length(h);
}

void write_headers(const FrameHeaders& h, uint8_t* frame, size_t payload_len) {
  assert(h.vlan < 4096);
  uint8_t* p = frame;
  std::memcpy(p, h.dst_mac, 6);
  std::memcpy(p + 6, h.src_mac, 6);
  p += 12;
  if (h.vlan != 0) {
    put16(p, 0x8100);
    put16(p + 2, h.vlan);
    p += 4;
  }
  put16(p, h.ipv6 ? 0x86dd : 0x0800);
  p += 2;

  const size_t l4_len = l4_header_length(h) + payload_len;
  const uint8_t proto = h.tcp ? kProtoTcp : kProtoUdp;
  const size_t addr_len = h.ipv6 ? 16 : 4;
  uint8_t* ip = p;
  if (h.ipv6) {
    put32(ip, 0x60000000u | (h.flow_label & 0xfffff));
    put16(ip + 4, static_cast<uint16_t>(l4_len));
    ip[6] = proto;
    ip[7] = h.ttl;
    std::memcpy(ip + 8, h.src_ip, 16);
    std::memcpy(ip + 24, h.dst_ip, 16);
    p += kIpv6Len;
  } else {
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<uint16_t>(kIpv4Len + l4_len));
    put16(ip + 4, h.ip_id);
    put16(ip + 6, 0x4000);  // DF, as the stacks that produce this traffic set it
    ip[8] = h.ttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    std::memcpy(ip + 12, h.src_ip, 4);
    std::memcpy(ip + 16, h.dst_ip, 4);
    put16(ip + 10, fold(sum_words(ip, kIpv4Len, 0)));
    p += kIpv4Len;
  }

  uint8_t* l4 = p;
  if (h.tcp) {
    put16(l4, h.src_port);
    put16(l4 + 2, h.dst_port);
    put32(l4 + 4, h.seq);
    put32(l4 + 8, h.ack);
    const size_t tcp_len = l4_header_length(h);
    l4[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
    l4[13] = h.tcp_flags;
    put16(l4 + 14, h.window);
    put16(l4 + 16, 0);
    put16(l4 + 18, 0);
    if (h.mss != 0) {
      l4[20] = 2;  // kind MSS
      l4[21] = 4;
      put16(l4 + 22, h.mss);
    }
  } else {
    put16(l4, h.src_port);
    put16(l4 + 2, h.dst_port);
    put16(l4 + 4, static_cast<uint16_t>(l4_len));
    put16(l4 + 6, 0);
  }

  // Pseudo-header: addresses, protocol and L4 length; the same sum serves
  // IPv4 and IPv6 since both add these as 16-bit words.
  uint64_t sum = sum_words(h.src_ip, addr_len, 0);
  sum = sum_words(h.dst_ip, addr_len, sum);
  sum += proto;
  sum += static_cast<uint32_t>(l4_len);
  uint16_t check = fold(sum_words(l4, l4_len, sum));
  if (!h.tcp && check == 0) check = 0xffff;  // UDP: 0 would mean "no checksum"
  put16(l4 + (h.tcp ? 16 : 6), check);
}

}  // namespace loupe::gen
