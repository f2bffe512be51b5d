// The CPU time-stamp counter for timing script calls: two reads per call
// (contract §6.4). Its rate is measured once against CLOCK_MONOTONIC_RAW on
// the control side, before any worker times a call.
#pragma once

#include <x86intrin.h>

#include <cstdint>

namespace loupe {

inline uint64_t tsc_now() { return __rdtsc(); }

// Ticks per second; the first call calibrates (about 10 ms).
uint64_t tsc_hz();

inline uint64_t tsc_to_ns(uint64_t ticks, uint64_t hz) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ticks) * 1'000'000'000u / hz);
}

}  // namespace loupe
