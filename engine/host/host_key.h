// A host as the host table keys it: address and VLAN (contract §4.2: hosts
// are keyed by IP and VLAN), plus the local network it belongs to.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace loupe {

struct HostKey {
  uint8_t addr[16];    // network order; IPv4 in the first 4 bytes, the rest zero
  uint16_t vlan;       // innermost 802.1Q tag, 0 when untagged
  uint8_t ip_version;  // 4 or 6
  uint8_t pad;         // zero: the key is hashed and compared as 20 bytes

  bool operator==(const HostKey& o) const { return std::memcmp(this, &o, sizeof(*this)) == 0; }
  bool operator<(const HostKey& o) const;  // (IP version, address, VLAN): the order of host runs
};
static_assert(sizeof(HostKey) == 20, "the host key is compared as 20 bytes");

inline HostKey make_host_key(const uint8_t* addr, uint8_t ip_version, uint16_t vlan) {
  HostKey k;
  std::memcpy(k.addr, addr, 16);
  k.vlan = vlan;
  k.ip_version = ip_version;
  k.pad = 0;
  return k;
}

// 32-bit hash of the key (FNV-1a over its words: the key is short and hashed
// once per flow per second, not per packet).
inline uint32_t host_hash(const HostKey& k) {
  uint32_t w[5];
  std::memcpy(w, &k, sizeof(w));
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint32_t x : w) h = (h ^ x) * 0x100000001b3ULL;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// "10.0.0.5", "2001:db8::1" (inet_ntop).
std::string host_ip_string(const HostKey& k);
// "<ip>@<vlan>", the host key of the Lua API.
std::string host_key_string(const HostKey& k);

struct HostKeyHash {
  size_t operator()(const HostKey& k) const { return host_hash(k); }
};

}  // namespace loupe
