#include "dpdk/dispatcher.h"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk/toeplitz.h"
#include "engine/worker/worker.h"

namespace loupe {

Dispatcher::Dispatcher(std::vector<rte_ring*> rings, bool offline, uint32_t burst)
    : rings_(std::move(rings)), offline_(offline), pending_(rings_.size()),
      pending_head_(rings_.size(), 0) {
  for (auto& p : pending_) p.reserve(burst + 2);
}

uint32_t Dispatcher::worker_of(const rte_mbuf* m) {
  const uint32_t n = static_cast<uint32_t>(rings_.size());
  if (n == 1) return 0;
  Decoded d;
  // What cannot be decoded goes to worker 0, which decodes it again and
  // counts it under the same reason.
  if (decoder_.decode(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, d) != Malformed::ok)
    return 0;
  return worker_for_hash(symmetric_hash(d), n);
}

void Dispatcher::dispatch(rte_mbuf* const* pkts, uint32_t n, uint64_t clock_ns) {
  // Entries still pending (a clock reset that did not fit) are counted
  // already; count only what this burst adds behind them.
  for (uint32_t i = 0; i < n; i++) pending_[worker_of(pkts[i])].push_back(pkts[i]);
  pending_count_ += n;
  if (offline_) {
    for (auto& p : pending_) p.push_back(make_tick(clock_ns));
    pending_count_ += static_cast<uint32_t>(pending_.size());
  }
  if (!flush() && !offline_) {
    // Live: what did not fit is lost, and counted.
    for (size_t w = 0; w < pending_.size(); w++) {
      auto& p = pending_[w];
      for (size_t i = pending_head_[w]; i < p.size(); i++)
        rte_pktmbuf_free(static_cast<rte_mbuf*>(p[i]));
      ring_drops_.add(p.size() - pending_head_[w]);
      p.clear();
      pending_head_[w] = 0;
    }
    pending_count_ = 0;
  }
}

void Dispatcher::reset(uint64_t clock_ns) {
  for (auto& p : pending_) p.push_back(make_reset(clock_ns));
  pending_count_ += static_cast<uint32_t>(pending_.size());
  flush();
}

bool Dispatcher::flush() {
  if (pending_count_ == 0) return true;
  for (size_t w = 0; w < rings_.size(); w++) {
    auto& p = pending_[w];
    const uint32_t left = static_cast<uint32_t>(p.size()) - pending_head_[w];
    if (left == 0) continue;
    const uint32_t sent =
        rte_ring_sp_enqueue_burst(rings_[w], p.data() + pending_head_[w], left, nullptr);
    pending_head_[w] += sent;
    pending_count_ -= sent;
    if (pending_head_[w] == p.size()) {
      p.clear();
      pending_head_[w] = 0;
    }
  }
  return pending_count_ == 0;
}

}  // namespace loupe
