#include "engine/classify/dns_answers.h"

namespace loupe {
namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Skips an encoded name starting at `at`: labels up to the root, or up to a
// compression pointer (two bytes, never followed). Returns the offset after
// it, or 0 when the name runs past the end or uses a reserved label type.
uint32_t skip_name(const uint8_t* p, uint32_t len, uint32_t at) {
  for (int labels = 0; at < len && labels < 128; labels++) {
    const uint8_t l = p[at];
    if (l == 0) return at + 1;
    if ((l & 0xc0) == 0xc0) return at + 2 <= len ? at + 2 : 0;
    if ((l & 0xc0) != 0) return 0;
    at += 1 + l;
  }
  return 0;
}

}  // namespace

DnsResponse parse_dns_answers(const uint8_t* p, uint32_t len, bool tcp, MetaBuilder& out) {
  DnsResponse r;
  if (tcp) {
    if (len < 2) return r;
    p += 2;
    len -= 2;
  }
  if (len < 12 || (p[2] & 0x80) == 0) return r;
  r.is_response = true;
  r.rcode = p[3] & 0x0f;
  const uint16_t qd = be16(p + 4);
  const uint16_t an = be16(p + 6);
  uint32_t at = 12;
  for (uint16_t i = 0; i < qd; i++) {
    at = skip_name(p, len, at);
    if (at == 0 || at + 4 > len) return r;
    at += 4;  // type, class
  }
  for (uint16_t i = 0; i < an; i++) {
    at = skip_name(p, len, at);
    if (at == 0 || at + 10 > len) return r;
    const uint16_t type = be16(p + at);
    const uint16_t rdlen = be16(p + at + 8);
    at += 10;
    if (at + rdlen > len) return r;
    if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)) {
      if (!out.add(MetaField::dns_answer, p + at, rdlen)) return r;
      r.answers++;
    }
    at += rdlen;
  }
  return r;
}

}  // namespace loupe
