// The per-worker flow table: preallocated entries indexed by DPDK's rte_hash
// (cuckoo, extendable buckets, single writer: the owning worker), lazy
// per-protocol idle and active timeouts on a timer wheel, TCP FIN/RST ends,
// and CLOCK (second-chance, approximately least recently used) eviction when
// full. An ended flow's entry may be held by its sink past its end (a final
// save waiting for scripts' outstanding operations). Everything is allocated in the constructor; the packet path neither
// allocates nor locks.
#pragma once

#include <cstdint>

#include "engine/common/counter.h"
#include "engine/decode/decoded.h"
#include "engine/flow/flow.h"
#include "engine/flow/flow_config.h"
#include "engine/flow/flow_record.h"
#include "engine/flow/timer_wheel.h"

struct rte_hash;

namespace loupe {

// Written by the owning worker only; readable from the control core.
struct FlowTableCounters {
  Counter created;
  Counter ended[static_cast<int>(EndReason::count)];
  Counter active;
};

class FlowTable {
 public:
  static constexpr uint32_t kMaxBurst = 64;

  // `name` must be unique in the process (it names the rte_hash).
  FlowTable(const FlowConfig& config, const char* name, uint32_t worker_id, int socket,
            FlowSink& sink);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  static uint32_t hash(const FlowKey& key);

  // Finds the flows of n (<= kMaxBurst) keys at once; misses come back as
  // kNoFlow and are created one by one with find_or_create().
  void lookup_burst(const FlowKey* const* keys, const uint32_t* sigs, uint32_t n,
                    uint32_t* idx) const;

  // The flow of one packet: looks it up, ends it first if it had already timed
  // out at `now_ns`, creates it when absent (evicting when full). `side` is the
  // canonical side the packet came from. `known_idx` is the result of an
  // earlier lookup_burst() still valid (see epoch()), or kNoFlow; with
  // `known_absent` the caller vouches that the key is not in the table (its
  // lookup missed and nothing was created or removed since), which saves a
  // second lookup. Never fails.
  uint32_t find_or_create(const FlowKey& key, uint32_t sig, uint32_t known_idx, uint8_t side,
                          const Decoded& d, uint64_t now_ns, bool known_absent = false);

  // Accounts one packet to flow idx.
  void update(uint32_t idx, uint8_t side, const Decoded& d, uint32_t wire_len, uint64_t ts_ns);

  // Runs the timers up to now_ns: ends idle flows, reports long ones.
  // Files the flow again at its current deadline: after its sink's own
  // timer (next_timer_ns) became earlier than the deadline it is filed at.
  void reschedule(uint32_t idx, uint64_t now_ns) {
    wheel_.cancel(idx);
    file(idx, now_ns);
  }
  void advance(uint64_t now_ns);

  // Ends every open flow with `reason` (end of input, shutdown).
  void flush_all(EndReason reason);
  // After flush_all(): the next advance() starts the wheel at its own time,
  // even an earlier one.
  void restart_clock() { wheel_slot_ = 0; }

  // Bumped whenever a flow is removed: indices from an earlier lookup_burst()
  // are stale once it changes.
  uint64_t epoch() const { return epoch_; }
  // Bumped whenever a flow is created: a miss from an earlier lookup_burst()
  // may have become a hit once it changes.
  uint64_t creations() const { return creations_; }

  const Flow& flow(uint32_t idx) const { return flows_[idx]; }
  // The owning worker's stages (classification) write their part of a flow.
  Flow& flow(uint32_t idx) { return flows_[idx]; }
  uint32_t index_of(const Flow& f) const { return static_cast<uint32_t>(&f - flows_); }
  // Entries in the table's array: flow indices are below this.
  uint32_t slots() const { return slots_; }
  // Held entries (FlowSink::on_flow_record): whether one more fits (they
  // use the hash's spare key slots, so live flows never run short), how
  // many there are, and the sink handing one back.
  bool can_hold() const { return held_ < max_held_; }
  uint32_t held() const { return held_; }
  void release(uint32_t idx);
  const FlowTableCounters& counters() const { return counters_; }
  uint32_t capacity() const { return capacity_; }
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  uint64_t deadline(const Flow& f) const;
  // Files the flow at its deadline, never in a slot the wheel has passed
  // (a packet older than the wheel's clock would be lost there until the
  // wheel comes round).
  void file(uint32_t idx, uint64_t now_ns) {
    const uint64_t floor_ns = wheel_slot_ * TimerWheel::kSlotNs;
    wheel_.schedule(idx, deadline(flows_[idx]), now_ns > floor_ns ? now_ns : floor_ns);
  }
  uint64_t idle_deadline(const Flow& f) const { return f.last_ns + idle_ns_[f.tclass]; }
  void end_flow(uint32_t idx, EndReason reason, bool on_wheel = true);
  void evict_one();
  uint32_t create(const FlowKey& key, uint32_t sig, uint8_t side, const Decoded& d,
                  uint64_t now_ns);
  static EndReason close_reason(const Flow& f);

  FlowSink& sink_;
  rte_hash* hash_ = nullptr;
  Flow* flows_ = nullptr;
  uint32_t capacity_;
  uint32_t slots_;  // entries in flows_ (rte_hash positions)
  uint32_t clock_hand_ = 0;
  uint32_t worker_id_;
  uint64_t next_seq_ = 1;
  uint64_t epoch_ = 0;
  uint64_t creations_ = 0;
  uint64_t idle_ns_[kTimeoutClasses];
  uint64_t active_ns_;
  uint64_t wheel_slot_ = 0;  // last wheel slot run (whole seconds)
  TimerWheel wheel_;
  size_t memory_bytes_ = 0;
  uint32_t held_ = 0;
  uint32_t max_held_ = 0;
  FlowTableCounters counters_;
};

}  // namespace loupe
