#include "dpdk/toeplitz.h"

#include <rte_byteorder.h>
#include <rte_thash.h>

#include <cstring>

namespace loupe {

uint32_t symmetric_hash(const Decoded& d) {
  // rte_softrss takes the tuple as host-order 32-bit words.
  uint32_t tuple[8];
  const uint32_t words = d.ip_version == 6 ? 8 : 2;
  if (d.ip_version == 6) {
    for (int i = 0; i < 4; i++) {
      uint32_t s, t;
      std::memcpy(&s, d.src + 4 * i, 4);
      std::memcpy(&t, d.dst + 4 * i, 4);
      tuple[i] = rte_be_to_cpu_32(s);
      tuple[4 + i] = rte_be_to_cpu_32(t);
    }
  } else {
    uint32_t s, t;
    std::memcpy(&s, d.src, 4);
    std::memcpy(&t, d.dst, 4);
    tuple[0] = rte_be_to_cpu_32(s);
    tuple[1] = rte_be_to_cpu_32(t);
  }
  return rte_softrss(tuple, words, kSymmetricRssKey);
}

}  // namespace loupe
