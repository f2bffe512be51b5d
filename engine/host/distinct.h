// Counts distinct 64-bit values: exactly up to kExact of them, then as a
// HyperLogLog with 2^14 one-byte registers (standard error 0.81%, so within
// the contract's 2% for almost every host). Most hosts never leave the exact
// form; a scanner's 16 KiB is allocated once, when it crosses kExact.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace loupe {

class DistinctCounter {
 public:
  static constexpr size_t kExact = 512;
  static constexpr int kPrecision = 14;

  void add(uint64_t hash);
  uint64_t estimate() const;
  void clear();
  bool exact() const { return !registers_; }

 private:
  void add_register(uint64_t hash);
  std::vector<uint64_t> exact_;  // unsorted, distinct
  std::unique_ptr<uint8_t[]> registers_;
};

// A well-mixed 64-bit hash of a small value (splitmix64's finaliser).
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace loupe
