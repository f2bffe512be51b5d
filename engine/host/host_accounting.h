// The worker's side of the host table (contract §4.2, §3.5: per-worker
// partial counters merged on the control core every second). Nothing is
// done per packet beyond one comparison: the first packet of a flow in each
// period puts the flow on a "touched" list; at the period's end the worker
// walks that list once, adds each flow's traffic since the last period to
// its two hosts (and their local networks) in the partial, and hands the
// partial over. A flow that ends adds its last traffic and, when it was
// one-way, its unanswered contact. State per flow lives in an array
// indexed like the flow table (the flow entry has no room for it).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/common/counter.h"
#include "engine/flow/flow.h"
#include "engine/host/host_partial.h"
#include "engine/host/hosts_config.h"
#include "lua/flow_view.h"

namespace loupe {

struct HostCounters {
  Counter periods;          // partials handed over
  Counter late_periods;     // period ends where the control core had not taken the last one
  Counter dropped_entries;  // (host, protocol) entries a full partial could not take
  Counter dropped_contacts;
};

class HostAccounting {
 public:
  // `flows` is the worker's flow table array (flow_slots entries).
  HostAccounting(const HostsConfig& config, const Flow* flows, uint32_t flow_slots,
                 const LocalNetworks& nets);
  ~HostAccounting();

  // Per packet, before the flow entry's counters take the packet: puts the
  // flow on this period's list the first time it is seen in the period.
  void on_packet(uint32_t idx, const Flow& f, bool created) {
    if (created || f.last_ns < period_start_ns_) {
      if (touched_.size() == touched_.capacity()) drain_touched();  // never reallocates
      touched_.push_back(idx);
    }
  }
  // The flow ends (final record, not an interim one).
  void on_flow_end(uint32_t idx, const Flow& f);
  // The worker's clock moved: at a period boundary the partial is handed over.
  void advance(uint64_t now_ns) {
    if (now_ns >= next_ns_) period_end(now_ns);
  }
  // Hands over whatever is pending (end of input); true when nothing is left.
  bool flush(uint64_t now_ns);

  HostMailbox& mailbox() { return mailbox_; }
  const HostCounters& counters() const { return counters_; }

 private:
  struct Mark {
    uint64_t flow_id;  // the flow these counters belong to; 0: none
    uint64_t pkts[2];
    uint64_t bytes[2];
    int16_t net[2];    // local network of each canonical side, -1 remote
    uint8_t flags;
  };
  enum : uint8_t { kCounted = 1, kL7Counted = 2 };

  void account(uint32_t idx, const Flow& f, bool final);
  void period_end(uint64_t now_ns);
  void drain_touched();
  void hand_over(uint64_t now_ns);
  int16_t network_of(const uint8_t* addr, uint8_t version) const;

  const LocalNetworks& nets_;
  std::vector<Mark> marks_;
  std::vector<uint32_t> touched_;
  HostPartial* cur_;
  std::unique_ptr<HostPartial> a_, b_;  // the two partials (owned here)
  HostMailbox mailbox_;
  uint64_t period_ns_;
  uint64_t period_start_ns_ = 0;
  uint64_t next_ns_ = 0;  // next period boundary; 0 until the first packet
  const Flow* flows_;
  HostCounters counters_;
};

}  // namespace loupe
