// Every counter a worker keeps, declared once: the struct fields, the names
// in the exit summary and (later) the metric names and help all come from
// these lists.
#pragma once

#include <cstdint>

#include "engine/common/counter.h"
#include "engine/decode/decoded.h"
#include "engine/flow/flow.h"

namespace loupe {

//   X(name, help)
#define LOUPE_WORKER_COUNTERS(X)                                              \
  X(rx_packets, "packets the worker received")                                \
  X(rx_bytes, "wire bytes the worker received")                               \
  X(processed, "packets decoded and accounted to a flow")                     \
  X(malformed, "packets not accounted to a flow, all reasons")                \
  X(records, "flow records sent to the control core")                         \
  X(record_drops, "flow records lost: output ring full (live capture only)")  \
  X(l7_started, "flows whose nDPI detection started")                         \
  X(l7_done, "flows whose nDPI detection ended (detected or given up)")       \
  X(l7_no_state, "flows not inspected: no free nDPI state")                   \
  X(classifier_matches, "classifier rules matched (first payload of each direction)") \
  X(classifier_match_limit, "first payloads matching 64 rules or more: the first 64 kept") \
  X(classifier_stale, "Lua classifier matches skipped: the rule set was built for another script generation") \
  X(l7_dns_answers, "DNS responses whose answers loupe read")                \
  X(l7_meta_dropped, "metadata entries dropped: metadata memory full or blob at its limit") \
  X(saves_held, "final saves held for scripts' outstanding operations (incr_outstanding)") \
  X(saves_hold_expired, "held final saves done at lua.http.max_outstanding_ms, operations still outstanding") \
  X(saves_hold_full, "final saves not held: held-flow capacity full") \
  X(busy_polls, "polls that returned packets")                                \
  X(idle_polls, "polls that returned nothing")

struct WorkerCounters {
#define LOUPE_X(name, help) Counter name;
  LOUPE_WORKER_COUNTERS(LOUPE_X)
#undef LOUPE_X
  Counter malformed_by[static_cast<int>(Malformed::count)];
};

inline constexpr const char* kWorkerCounterNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_WORKER_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

}  // namespace loupe
