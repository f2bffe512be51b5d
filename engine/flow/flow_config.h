// Configuration of the per-worker flow tables. Schema: engine/flow/flow_config.cc.
#pragma once

#include <cstdint>

#include "config/schema_fwd.h"

namespace loupe {

struct FlowTimeouts {
  // Idle timeouts in seconds, per L4 protocol: a flow with no packet for this
  // long ends with reason "timeout".
  uint32_t tcp = 300;
  uint32_t tcp_new = 30;     // TCP flow that never completed a handshake
  uint32_t tcp_closed = 5;   // linger after FIN both ways or RST, then "tcp_fin"/"tcp_rst"
  uint32_t udp = 60;
  uint32_t icmp = 30;
  uint32_t other = 60;
  // Active timeout: a flow older than this emits an interim record and goes on.
  uint32_t active = 1800;

  bool operator==(const FlowTimeouts&) const = default;
};

struct FlowConfig {
  uint32_t capacity = 262144;  // flows per worker, preallocated at start
  FlowTimeouts timeouts;
  uint32_t fragments = 4096;   // per-worker IP fragment tracker entries
  uint32_t fragment_timeout = 30;  // seconds a first fragment's ports are kept

  bool operator==(const FlowConfig&) const = default;
};

// The schemas (engine/flow/flow_config.cc).
void describe(config::Section<FlowTimeouts>& s);
void describe(config::Section<FlowConfig>& s);

}  // namespace loupe
