// Schema of the alerts: section (engine/control/alerts_config.h).
#include "engine/control/alerts_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<AlertsConfig>& s) {
  s.field("file", &AlertsConfig::file)
      .help("JSON lines file of alert records (EVE-like, event_type \"alert\"); \"-\" writes to "
            "stdout, \"\" turns this sink off.");
  s.field("ring_size", &AlertsConfig::ring_size)
      .range(16, 1u << 20)
      .power_of_two()
      .help(
          "Alert records per worker-to-control ring (2 KiB each). Live, a full ring drops the "
          "alert and counts it; offline the worker waits, so no alert is lost.");
}

}  // namespace loupe
