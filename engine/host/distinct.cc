#include "engine/host/distinct.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace loupe {
namespace {
constexpr uint32_t kRegisters = 1u << DistinctCounter::kPrecision;
}

void DistinctCounter::add_register(uint64_t hash) {
  const uint32_t idx = static_cast<uint32_t>(hash >> (64 - kPrecision));
  const uint64_t rest = hash << kPrecision;
  // Position of the first 1 bit in the remaining 50 bits (1-based).
  const uint8_t rank =
      rest == 0 ? static_cast<uint8_t>(64 - kPrecision + 1)
                : static_cast<uint8_t>(__builtin_clzll(rest) + 1);
  if (rank > registers_[idx]) registers_[idx] = rank;
}

void DistinctCounter::add(uint64_t hash) {
  if (registers_) {
    add_register(hash);
    return;
  }
  if (std::find(exact_.begin(), exact_.end(), hash) != exact_.end()) return;
  if (exact_.size() < kExact) {
    exact_.push_back(hash);
    return;
  }
  registers_ = std::make_unique<uint8_t[]>(kRegisters);
  std::memset(registers_.get(), 0, kRegisters);
  for (uint64_t h : exact_) add_register(h);
  exact_.clear();
  exact_.shrink_to_fit();
  add_register(hash);
}

uint64_t DistinctCounter::estimate() const {
  if (!registers_) return exact_.size();
  double sum = 0;
  uint32_t zeros = 0;
  for (uint32_t i = 0; i < kRegisters; i++) {
    sum += std::ldexp(1.0, -registers_[i]);
    zeros += registers_[i] == 0;
  }
  const double m = kRegisters;
  const double alpha = 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / sum;
  // Small cardinalities: linear counting is the better estimate.
  if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / zeros);
  return static_cast<uint64_t>(std::llround(e));
}

void DistinctCounter::clear() {
  exact_.clear();
  registers_.reset();
}

}  // namespace loupe
