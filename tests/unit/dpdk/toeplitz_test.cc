#include "dpdk/toeplitz.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace loupe {
namespace {

Decoded random_packet(std::mt19937_64& rng, bool v6) {
  Decoded d;
  std::memset(d.src, 0, 16);
  std::memset(d.dst, 0, 16);
  const int n = v6 ? 16 : 4;
  for (int i = 0; i < n; i++) {
    d.src[i] = static_cast<uint8_t>(rng());
    d.dst[i] = static_cast<uint8_t>(rng());
  }
  d.ip_version = v6 ? 6 : 4;
  return d;
}

Decoded reversed(const Decoded& d) {
  Decoded r = d;
  std::memcpy(r.src, d.dst, 16);
  std::memcpy(r.dst, d.src, 16);
  return r;
}

TEST(ToeplitzTest, SymmetricForIpv4AndIpv6) {
  std::mt19937_64 rng(42);
  for (bool v6 : {false, true})
    for (int i = 0; i < 10000; i++) {
      const Decoded d = random_packet(rng, v6);
      ASSERT_EQ(symmetric_hash(d), symmetric_hash(reversed(d))) << "v6=" << v6 << " i=" << i;
    }
}

TEST(ToeplitzTest, DifferentAddressPairsSpreadOverWorkers) {
  std::mt19937_64 rng(7);
  for (bool v6 : {false, true}) {
    int per_worker[4] = {0, 0, 0, 0};
    for (int i = 0; i < 40000; i++)
      per_worker[worker_for_hash(symmetric_hash(random_packet(rng, v6)), 4)]++;
    for (int w = 0; w < 4; w++) {
      EXPECT_GT(per_worker[w], 9000) << "v6=" << v6 << " worker " << w;
      EXPECT_LT(per_worker[w], 11000) << "v6=" << v6 << " worker " << w;
    }
  }
}

TEST(ToeplitzTest, KeyIsTheRepeating6d5aPattern) {
  for (size_t i = 0; i < sizeof(kSymmetricRssKey); i++)
    EXPECT_EQ(kSymmetricRssKey[i], i % 2 ? 0x5a : 0x6d);
}

}  // namespace
}  // namespace loupe
