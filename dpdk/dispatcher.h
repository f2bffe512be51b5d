// The software dispatcher: for input that arrives on one queue (the offline
// reader, single-queue virtual devices) it computes the symmetric hash a NIC
// would and hands each packet to its worker's ring. Runs on the main lcore;
// it is the only producer of every worker ring.
//
// Offline it never drops: what does not fit stays pending and the caller
// retries after draining the workers' outputs, so the reader is paced by the
// slowest worker. It also sends each worker the reader's clock after every
// burst (a tick), so timers advance on a worker that received nothing.
// Live, a full ring drops the packet and counts it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/common/counter.h"
#include "engine/decode/decoder.h"

struct rte_ring;
struct rte_mbuf;

namespace loupe {

class Dispatcher {
 public:
  Dispatcher(std::vector<rte_ring*> rings, bool offline, uint32_t burst);

  // Queues a burst; offline, `clock_ns` is the reader's clock after it.
  // Offline, call only when nothing but a clock reset is pending.
  void dispatch(rte_mbuf* const* pkts, uint32_t n, uint64_t clock_ns);
  // Offline: queues a clock reset for every worker (time went backwards),
  // after everything dispatched so far. Call only when pending() is false.
  void reset(uint64_t clock_ns);
  // Offline: pushes what is pending; returns true when nothing is left.
  bool flush();
  bool pending() const { return pending_count_ != 0; }

  uint64_t ring_drops() const { return ring_drops_.get(); }

 private:
  uint32_t worker_of(const rte_mbuf* m);

  std::vector<rte_ring*> rings_;
  bool offline_;
  Decoder decoder_;
  std::vector<std::vector<void*>> pending_;  // per worker, reserved up front
  std::vector<uint32_t> pending_head_;
  uint32_t pending_count_ = 0;
  Counter ring_drops_;
};

}  // namespace loupe
