// loupe's own reading of DNS responses, for what nDPI 4.2 does not keep:
// every answer address (nDPI keeps the first). Bounds-checked against the
// captured bytes; a message it cannot walk yields what it read so far.
#pragma once

#include <cstdint>

#include "engine/classify/l7_meta.h"

namespace loupe {

struct DnsResponse {
  bool is_response = false;  // QR set and the header complete
  uint8_t rcode = 0;
  uint16_t answers = 0;      // A and AAAA addresses added
};

// Reads a DNS message (UDP payload; over TCP, pass `tcp` for the two-byte
// length prefix). For a response, adds a dns_answer entry (4 or 16 bytes,
// network order) to `out` for each A and AAAA record of the answer section,
// in order. Queries add nothing.
DnsResponse parse_dns_answers(const uint8_t* p, uint32_t len, bool tcp, MetaBuilder& out);

}  // namespace loupe
