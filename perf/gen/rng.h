// Seeded pseudo-random numbers for loupe-gen.
//
// The generator promises byte-identical captures for the same options and
// seed, on any host and any standard library. std:: engines are portable but
// std:: distributions are not (their algorithms are implementation-defined),
// so everything here is plain integer arithmetic: splitmix64 for the stream
// and a multiply-shift reduction for ranges.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loupe::gen {

// splitmix64's finaliser. A bijection on 64 bits, which the generator relies on
// to turn distinct flow indices into distinct IPv6 interface ids.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Seed for a sub-stream named by `tag` (and an optional index) of `seed`.
// Sub-streams let a message be rebuilt from its flow's seed alone, so no flow
// has to keep message bytes between packets.
constexpr uint64_t derive(uint64_t seed, uint64_t tag, uint64_t index = 0) {
  return mix64(mix64(seed ^ (tag * 0x9e3779b97f4a7c15ULL)) + index * 0xd1b54a32d192ed03ULL);
}

// splitmix64: 8 bytes of state, which keeps the per-active-flow state small
// for runs with a million concurrent flows.
class Rng {
 public:
  explicit constexpr Rng(uint64_t seed) : state_(seed) {}

  constexpr uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

  // Uniform in [0, n). The bias of multiply-shift is below n / 2^64.
  constexpr uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

  // Uniform in [lo, hi], both included.
  constexpr uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }

  // True with probability per_10000 / 10000.
  constexpr bool chance(uint32_t per_10000) { return below(10000) < per_10000; }

  void fill(uint8_t* out, size_t len) {
    while (len >= 8) {
      uint64_t v = next();
      for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
      out += 8;
      len -= 8;
    }
    if (len > 0) {
      uint64_t v = next();
      for (size_t i = 0; i < len; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }

 private:
  uint64_t state_;
};

}  // namespace loupe::gen
