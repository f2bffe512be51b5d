// Configuration of the alert pipeline. Schema: engine/control/alerts_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema_fwd.h"

namespace loupe {

struct AlertsConfig {
  std::string file = "alerts.json";  // JSON lines of alert records; "" off, "-" stdout
  uint32_t ring_size = 4096;         // alert records per worker ring (power of two)

  bool operator==(const AlertsConfig&) const = default;
};

void describe(config::Section<AlertsConfig>& s);

}  // namespace loupe
