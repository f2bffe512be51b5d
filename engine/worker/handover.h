// A one-slot mailbox between the control core and a worker, for a new
// version of something the worker owns (a classifier set, a script
// generation). The control core offers one; the worker takes it at a burst
// boundary, swaps it in and retires what it replaced; the control core
// collects that and frees it, so nothing is ever freed on the worker.
// The control core collects the retired one before each offer, so the
// retired slot is always empty when the worker retires into it.
#pragma once

#include <atomic>

namespace loupe {

template <typename T>
class Handover {
 public:
  // Control core. False while the previous offer is not taken yet.
  bool offer(T* next) {
    T* empty = nullptr;
    return pending_.compare_exchange_strong(empty, next, std::memory_order_acq_rel);
  }
  T* take_retired() { return retired_.exchange(nullptr, std::memory_order_acq_rel); }

  // Worker: one relaxed load per loop turn, then take() and retire().
  bool pending() const { return pending_.load(std::memory_order_relaxed) != nullptr; }
  T* take() { return pending_.exchange(nullptr, std::memory_order_acq_rel); }
  void retire(T* old) { retired_.store(old, std::memory_order_release); }

  // Whoever destroys the worker: what is still in transit, for it to free.
  T* leftover_pending() { return pending_.exchange(nullptr); }
  T* leftover_retired() { return retired_.exchange(nullptr); }

 private:
  std::atomic<T*> pending_{nullptr};
  std::atomic<T*> retired_{nullptr};
};

}  // namespace loupe
