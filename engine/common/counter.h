// A statistics counter written by exactly one thread (its owner) and read by
// others (the control core, the metrics exporter). Relaxed atomics compile to
// the plain load/add/store a bare field would, and make the concurrent read
// well defined.
#pragma once

#include <atomic>
#include <cstdint>

namespace loupe {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace loupe
