#include "engine/flow/community_id.h"

#include <netinet/in.h>
#include <openssl/evp.h>

#include <cstring>

namespace loupe {
namespace {

// ICMP request/reply pairs: a type with a counterpart is two-way, and its
// counterpart takes the destination port's place.
int icmp4_counterpart(uint8_t t) {
  switch (t) {
    case 8: return 0;   case 0: return 8;     // echo
    case 13: return 14; case 14: return 13;   // timestamp
    case 15: return 16; case 16: return 15;   // information
    case 10: return 9;  case 9: return 10;    // router solicitation / advertisement
    case 17: return 18; case 18: return 17;   // address mask
    default: return -1;
  }
}

int icmp6_counterpart(uint8_t t) {
  switch (t) {
    case 128: return 129; case 129: return 128;  // echo
    case 133: return 134; case 134: return 133;  // router solicitation / advertisement
    case 135: return 136; case 136: return 135;  // neighbor solicitation / advertisement
    case 130: return 131; case 131: return 130;  // multicast listener query / report
    case 144: return 145; case 145: return 144;  // home agent address discovery
    case 146: return 147; case 147: return 146;  // mobile prefix solicitation / advertisement
    default: return -1;
  }
}

}  // namespace

std::string community_id_v1(const FlowKey& key, uint8_t client_side, uint8_t icmp_type,
                            uint8_t icmp_code, uint16_t seed) {
  const size_t alen = key.ip_version == 6 ? 16 : 4;
  const uint8_t* src = key.addr[client_side];
  const uint8_t* dst = key.addr[client_side ^ 1];
  uint16_t sport = key.port[client_side];
  uint16_t dport = key.port[client_side ^ 1];
  bool one_way = false;
  if (key.proto == IPPROTO_ICMP || key.proto == IPPROTO_ICMPV6) {
    const int other = key.proto == IPPROTO_ICMP ? icmp4_counterpart(icmp_type)
                                                : icmp6_counterpart(icmp_type);
    sport = icmp_type;
    dport = other >= 0 ? static_cast<uint16_t>(other) : icmp_code;
    one_way = other < 0;
  }
  const bool has_ports = key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP ||
                         key.proto == IPPROTO_SCTP || key.proto == IPPROTO_ICMP ||
                         key.proto == IPPROTO_ICMPV6;
  if (!one_way) {
    const int c = std::memcmp(src, dst, alen);
    if (c > 0 || (c == 0 && has_ports && sport > dport)) {
      std::swap(src, dst);
      std::swap(sport, dport);
    }
  }
  uint8_t buf[2 + 16 + 16 + 2 + 4];
  size_t n = 0;
  buf[n++] = static_cast<uint8_t>(seed >> 8);
  buf[n++] = static_cast<uint8_t>(seed);
  std::memcpy(buf + n, src, alen);
  n += alen;
  std::memcpy(buf + n, dst, alen);
  n += alen;
  buf[n++] = key.proto;
  buf[n++] = 0;
  if (has_ports) {
    buf[n++] = static_cast<uint8_t>(sport >> 8);
    buf[n++] = static_cast<uint8_t>(sport);
    buf[n++] = static_cast<uint8_t>(dport >> 8);
    buf[n++] = static_cast<uint8_t>(dport);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  EVP_Digest(buf, n, digest, &dlen, EVP_sha1(), nullptr);
  unsigned char b64[64];
  const int blen = EVP_EncodeBlock(b64, digest, static_cast<int>(dlen));
  return "1:" + std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(blen));
}

}  // namespace loupe
