// Configuration of the control core's outputs. Schema: engine/control/output_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema_fwd.h"

namespace loupe {

struct OutputConfig {
  std::string flows;              // JSON lines file for flow records; "" disables, "-" stdout
  uint32_t ring_size = 65536;     // worker -> control ring, 64-byte cells (power of two)
  bool summary = true;            // per-worker summary on stderr at exit
  bool jemalloc_stats = false;    // append jemalloc's statistics to the summary

  bool operator==(const OutputConfig&) const = default;
};

// The schema (engine/control/output_config.cc).
void describe(config::Section<OutputConfig>& s);

}  // namespace loupe
