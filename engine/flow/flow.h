// One flow table entry, and the reasons a flow ends. An entry is owned by
// the worker whose table holds it; nothing else reads or writes it.
#pragma once

#include <cstdint>

#include "engine/classify/ndpi_detector.h"
#include "engine/flow/flow_key.h"

namespace loupe {

// Why a flow record was written. Declared once: enum, record text, counter.
//   X(name, text in the record, help)
#define LOUPE_FLOW_END_REASONS(X)                                              \
  X(timeout, "timeout", "idle for longer than its protocol's idle timeout")    \
  X(tcp_fin, "tcp_fin", "TCP FIN seen in both directions")                     \
  X(tcp_rst, "tcp_rst", "TCP RST seen")                                        \
  X(active_timeout, "active_timeout", "interim record of a long flow")         \
  X(evicted, "evicted", "least recently used flow evicted: table full")        \
  X(shutdown, "shutdown", "open at the end of input or at shutdown")

enum class EndReason : uint8_t {
#define LOUPE_X(name, text, help) name,
  LOUPE_FLOW_END_REASONS(LOUPE_X)
#undef LOUPE_X
      count
};
inline constexpr const char* kEndReasonText[] = {
#define LOUPE_X(name, text, help) text,
    LOUPE_FLOW_END_REASONS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kEndReasonHelp[] = {
#define LOUPE_X(name, text, help) help,
    LOUPE_FLOW_END_REASONS(LOUPE_X)
#undef LOUPE_X
};

enum class FlowState : uint8_t { kNew, kEstablished, kClosed };
inline constexpr const char* kFlowStateText[] = {"new", "established", "closed"};

// TCP flags seen, per side (bit << side).
enum TcpSeen : uint8_t {
  kSeenSyn = 1 << 0,    // bits 0-1: SYN from side 0 / 1
  kSeenFin = 1 << 2,    // bits 2-3
  kSeenRst = 1 << 4,    // bits 4-5
  kSeenData = 1 << 6,   // bits 6-7: any packet from side 0 / 1
};

// Which idle timeout applies to a flow; changes with its TCP state.
enum TimeoutClass : uint8_t { kTcpNew, kTcp, kTcpClosed, kUdp, kIcmp, kOther, kTimeoutClasses };

inline constexpr uint32_t kNoFlow = UINT32_MAX;

// Flow::in_use: a held entry ended and left the hash, but its sink keeps it
// (FlowSink::on_flow_record) until FlowTable::release().
enum FlowUse : uint8_t { kFlowFree = 0, kFlowLive = 1, kFlowHeld = 2 };

// 192 bytes: the first cache line holds what every packet touches.
enum L7Status : uint8_t { kL7Pending, kL7Running, kL7Done };
inline constexpr uint32_t kNoMeta = UINT32_MAX;
// What inspection has done once per flow (Flow::l7_flags).
enum L7Flags : uint8_t {
  kL7DnsAnswered = 1 << 0,   // a DNS response's answers were read
  kL7Scanned = 1 << 1,       // bits 1-2: classifiers scanned the first payload of side 0 / 1
  kL7Stream = 1 << 3,        // the flow's TCP stream is reassembled (engine/worker/sessions.h)
};

struct alignas(64) Flow {
  // -- line 0: per packet
  uint64_t last_ns;       // time of the last packet
  uint64_t pkts[2];       // per canonical side: packets sent by that side
  uint64_t bytes[2];      // wire bytes sent by that side
  uint32_t sig;           // hash of key, kept for deletion
  uint32_t timer_next;    // timer wheel links (flow indices)
  uint32_t timer_prev;
  uint16_t timer_slot;    // wheel slot the flow sits in
  uint8_t l7_status;      // L7Status: where nDPI detection stands
  uint8_t l7_flags;       // L7Flags
  uint8_t in_use;         // FlowUse
  uint8_t referenced;     // CLOCK bit for eviction
  uint8_t client;         // canonical side of the client
  FlowState state;
  uint8_t tcp_seen;
  uint8_t icmp_type;      // of the first ICMP packet (Community ID)
  uint8_t icmp_code;
  uint8_t tclass;         // TimeoutClass: which idle timeout applies now
  // -- line 1
  FlowKey key;
  uint64_t first_ns;
  uint64_t flow_id;
  // -- line 2: the counters at the last interim record (active timeout), L7
  uint64_t reported_pkts[2];
  uint64_t reported_bytes[2];
  uint64_t active_since_ns;  // start of the current record's period
  L7Result l7;               // nDPI's verdict once detection ended
  uint32_t l7_state;         // nDPI state while detection runs (kNoState otherwise)
  uint32_t l7_meta;          // metadata blob in the worker's MetaPool, or kNoMeta
};


static_assert(sizeof(Flow) <= 256, "a flow entry must stay within 256 bytes");
static_assert(sizeof(Flow) == 192, "three cache lines; the first is what every packet touches");

}  // namespace loupe
