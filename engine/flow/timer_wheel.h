// A one-level timer wheel of flow indices with one-second slots, linked
// through the flows themselves (no allocation). Flows are filed under the
// slot after their deadline; when the clock passes a slot, each flow in it is
// handed back to the table, which either ends it or files it again under its
// new deadline. Packets never touch the wheel: a flow's deadline only moves
// later, so re-filing lazily at expiry is exact and costs nothing per packet.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/flow/flow.h"

namespace loupe {

class TimerWheel {
 public:
  static constexpr uint32_t kSlots = 4096;  // seconds: longer deadlines are re-filed
  static constexpr uint64_t kSlotNs = 1'000'000'000ULL;

  explicit TimerWheel(Flow* flows) : flows_(flows), heads_(new uint32_t[kSlots]) {
    for (uint32_t i = 0; i < kSlots; i++) heads_[i] = kNoFlow;
  }

  // Files flow `idx` to be looked at once the clock reaches deadline_ns.
  // `now_ns` bounds how far ahead a slot may be.
  void schedule(uint32_t idx, uint64_t deadline_ns, uint64_t now_ns) {
    uint64_t slot = deadline_ns / kSlotNs + 1;
    const uint64_t now_slot = now_ns / kSlotNs;
    if (slot <= now_slot) slot = now_slot + 1;
    if (slot - now_slot >= kSlots) slot = now_slot + kSlots - 1;
    const uint32_t s = static_cast<uint32_t>(slot & (kSlots - 1));
    Flow& f = flows_[idx];
    f.timer_slot = static_cast<uint16_t>(s);
    f.timer_prev = kNoFlow;
    f.timer_next = heads_[s];
    if (heads_[s] != kNoFlow) flows_[heads_[s]].timer_prev = idx;
    heads_[s] = idx;
  }

  void cancel(uint32_t idx) {
    Flow& f = flows_[idx];
    if (f.timer_prev != kNoFlow)
      flows_[f.timer_prev].timer_next = f.timer_next;
    else
      heads_[f.timer_slot] = f.timer_next;
    if (f.timer_next != kNoFlow) flows_[f.timer_next].timer_prev = f.timer_prev;
    f.timer_next = f.timer_prev = kNoFlow;
  }

  // Detaches and returns the list of slot `slot` (whole seconds since epoch).
  uint32_t take_slot(uint64_t slot) {
    const uint32_t s = static_cast<uint32_t>(slot & (kSlots - 1));
    const uint32_t head = heads_[s];
    heads_[s] = kNoFlow;
    return head;
  }

 private:
  Flow* flows_;
  std::unique_ptr<uint32_t[]> heads_;
};

}  // namespace loupe
