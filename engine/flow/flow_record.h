// A flow record as it travels from a worker to the control core: plain data,
// copied into the worker's output ring, formatted as JSON on the control core
// (Community ID and text are computed there, off the packet path).
#pragma once

#include <cstdint>

#include "engine/flow/flow.h"

namespace loupe {

struct FlowRecord {
  FlowKey key;
  uint64_t flow_id;
  uint64_t first_ns;
  uint64_t last_ns;
  uint64_t pkts[2];   // per canonical side
  uint64_t bytes[2];
  uint8_t client;     // canonical side of the client
  FlowState state;
  EndReason reason;
  uint8_t icmp_type;
  uint8_t icmp_code;
  uint8_t worker;
  uint8_t l7_status;  // L7Status when the record was made
  uint8_t meta_cells; // cells of metadata following the record in the ring
  L7Result l7;
};

// The worker-to-control ring carries 64-byte cells: a record is two cells,
// then `meta_cells` cells holding [u16 length][metadata blob]. A record and
// its metadata are enqueued in one bulk operation, so the control core never
// sees half of one.
inline constexpr uint32_t kRecordCell = 64;
inline constexpr uint32_t kRecordCells = 2;
static_assert(sizeof(FlowRecord) == kRecordCell * kRecordCells, "a record is two ring cells");
inline constexpr uint32_t kMaxMetaCells = (kMetaMaxBytes + 2 + kRecordCell - 1) / kRecordCell;

// Receives every flow that ends (or reports an interim record). Called by the
// flow table on its worker, with the table's own entry: the sink may finish
// the flow's L7 state in it before the entry is freed. It must not block.
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  // Returns true to hold the entry of a flow that ended (never for an
  // interim record): its key leaves the table at once (a new packet of it
  // starts a new flow) but the entry, and so its index, stay the sink's
  // until it calls FlowTable::release(). Only when FlowTable::can_hold().
  virtual bool on_flow_record(Flow& flow, EndReason reason) = 0;
  // Timers of the sink's own for a flow (script periodicUpdate): the packet
  // time of the flow's next one, UINT64_MAX for none. The flow's wheel
  // deadline is the earliest of its timeouts and this; when it comes with
  // the flow still alive, on_flow_timer() is called.
  virtual uint64_t next_timer_ns(const Flow&) const { return UINT64_MAX; }
  virtual void on_flow_timer(Flow&, uint64_t /*now_ns*/) {}
};

}  // namespace loupe
