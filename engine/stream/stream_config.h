// Configuration of the per-worker TCP stream reassembly. Schema:
// engine/stream/stream_config.cc.
#pragma once

#include <cstdint>

#include "config/schema_fwd.h"

namespace loupe {

struct StreamConfig {
  // Arena of each worker for out-of-order data, MiB, allocated at start.
  uint32_t memory_mb = 64;
  // Out-of-order buffer of one direction of one flow: segments and bytes.
  uint32_t max_ooo_segments = 256;
  uint32_t max_ooo_bytes = 262144;
  // Bytes of one direction delivered in order; 0: no limit.
  uint32_t max_bytes_per_direction = 16u << 20;

  bool operator==(const StreamConfig&) const = default;
};

// The schema (engine/stream/stream_config.cc).
void describe(config::Section<StreamConfig>& s);

}  // namespace loupe
