// Configuration of the worker cores. Schema: engine/worker/worker_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema_fwd.h"

namespace loupe {

struct WorkersConfig {
  uint32_t count = 1;      // worker lcores; worker i polls RX queue i of every port
  std::string cpus;        // CPU list for main + workers ("0-4"); empty: lcores float on all CPUs
  uint32_t burst = 32;     // packets per rx_burst
  uint32_t ring_size = 4096;  // dispatcher -> worker ring entries (power of two)

  bool operator==(const WorkersConfig&) const = default;
};

// The schema (engine/worker/worker_config.cc).
void describe(config::Section<WorkersConfig>& s);

}  // namespace loupe
