// The bidirectional, VLAN-aware flow key. Both directions of a flow give the
// same key: the (address, port) pairs are stored in canonical order (lower
// side first), and the caller learns which direction the packet went.
#pragma once

#include <cstdint>
#include <cstring>

#include "engine/decode/decoded.h"

namespace loupe {

struct FlowKey {
  uint8_t addr[2][16];  // canonical order: side 0 <= side 1
  uint16_t port[2];
  uint16_t vlan[2];     // outer, inner; 0 when absent
  uint8_t proto;
  uint8_t ip_version;
  uint8_t pad[6];       // zero: the key is hashed and compared as 48 bytes

  bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof(*this)) == 0; }
};
static_assert(sizeof(FlowKey) == 48, "the flow key is compared as 48 bytes");

// Builds the canonical key of a decoded packet. Returns the side the packet
// came from: 0 when its source is canonical side 0, 1 otherwise.
inline uint8_t make_flow_key(const Decoded& d, FlowKey& k) {
  const int c = std::memcmp(d.src, d.dst, 16);
  const bool swap = c > 0 || (c == 0 && d.sport > d.dport);
  std::memcpy(k.addr[0], swap ? d.dst : d.src, 16);
  std::memcpy(k.addr[1], swap ? d.src : d.dst, 16);
  k.port[0] = swap ? d.dport : d.sport;
  k.port[1] = swap ? d.sport : d.dport;
  k.vlan[0] = d.vlan[0];
  k.vlan[1] = d.vlan[1];
  k.proto = d.l4_proto;
  k.ip_version = d.ip_version;
  std::memset(k.pad, 0, sizeof(k.pad));
  return swap ? 1 : 0;
}

}  // namespace loupe
