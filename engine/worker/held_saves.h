// The flows a worker holds after their end, while a script's
// session:incr_outstanding() makes their final save wait (contract §3.2):
// a fixed ring in order of hold, so in order of deadline (every hold lasts
// lua.http.max_outstanding_ms). Owned by the worker; never allocates after
// construction.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/flow/flow.h"

namespace loupe {

class HeldSaves {
 public:
  struct Entry {
    uint64_t deadline_ns;  // the worker's TSC clock (wall time, live and offline)
    uint32_t idx;          // flow-table index, held (kFlowHeld)
    EndReason reason;
  };

  explicit HeldSaves(uint32_t capacity) : ring_(capacity > 0 ? capacity : 1) {}

  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == ring_.size(); }
  uint32_t size() const { return size_; }
  bool push(const Entry& e) {
    if (full()) return false;
    ring_[(head_ + size_) % ring_.size()] = e;
    size_++;
    return true;
  }
  const Entry& front() const { return ring_[head_]; }
  void pop() {
    head_ = (head_ + 1) % static_cast<uint32_t>(ring_.size());
    size_--;
  }
  // Calls done(e) for every entry, oldest first; those for which it
  // returns true leave, the others keep their order.
  template <typename Done>
  void remove_if(Done done) {
    const uint32_t n = size_;
    const uint32_t cap = static_cast<uint32_t>(ring_.size());
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
      const Entry e = ring_[(head_ + i) % cap];
      if (!done(e)) ring_[(head_ + kept++) % cap] = e;
    }
    size_ = kept;
  }

 private:
  std::vector<Entry> ring_;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
};

}  // namespace loupe
