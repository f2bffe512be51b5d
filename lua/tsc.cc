// lua/tsc.h
#include "lua/tsc.h"

#include <time.h>

namespace loupe {
namespace {

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t calibrate() {
  const uint64_t n0 = mono_ns(), t0 = tsc_now();
  timespec ten_ms{0, 10'000'000};
  nanosleep(&ten_ms, nullptr);
  const uint64_t n1 = mono_ns(), t1 = tsc_now();
  const uint64_t ns = n1 - n0;
  return ns == 0
             ? 1'000'000'000u
             : static_cast<uint64_t>(static_cast<unsigned __int128>(t1 - t0) * 1'000'000'000u / ns);
}

}  // namespace

uint64_t tsc_hz() {
  static const uint64_t hz = calibrate();
  return hz;
}

}  // namespace loupe
