// Symmetric receive-side scaling. Ports are programmed with the repeating
// 0x6d5a Toeplitz key, under which swapping source and destination leaves the
// hash unchanged; the software dispatcher computes the same function with
// DPDK's rte_softrss, so a flow lands on the same worker whatever the port.
// The hash covers the IP addresses only (2-tuple): fragments carry no ports,
// and hashing ports would send a datagram's fragments and its unfragmented
// packets to different workers.
#pragma once

#include <cstdint>

#include "engine/decode/decoded.h"

namespace loupe {

inline constexpr uint8_t kSymmetricRssKey[52] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

// The redirection table maps hash -> worker as entry (hash & 127) % workers.
inline constexpr uint32_t kRetaMask = 127;

// Toeplitz hash of a decoded packet's addresses under kSymmetricRssKey.
uint32_t symmetric_hash(const Decoded& d);

inline uint32_t worker_for_hash(uint32_t hash, uint32_t workers) {
  return (hash & kRetaMask) % workers;
}

}  // namespace loupe
