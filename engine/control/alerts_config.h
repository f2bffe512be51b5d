// Configuration of the alert pipeline. Schema: engine/control/alerts_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema_fwd.h"

namespace loupe {

// syslog(3) facilities an appliance's alerts usually go to.
enum class SyslogFacility : uint8_t {
  kUser,
  kDaemon,
  kLocal0,
  kLocal1,
  kLocal2,
  kLocal3,
  kLocal4,
  kLocal5,
  kLocal6,
  kLocal7
};

struct AlertsSyslogConfig {
  bool enabled = false;
  SyslogFacility facility = SyslogFacility::kLocal0;
  std::string ident = "loupe";

  bool operator==(const AlertsSyslogConfig&) const = default;
};

struct AlertsConfig {
  std::string file = "alerts.json";          // JSON lines of alert records; "" off, "-" stdout
  uint32_t ring_size = 4096;                 // alert records per worker ring (power of two)
  uint32_t store_size = 100000;              // past records kept in memory for getAlerts
  uint32_t dedup_seconds = 0;                // same-key records within it are merged; 0: none
  uint32_t max_per_minute = 600;             // per (script, entity, entity value); 0: no limit
  uint32_t max_per_script_per_second = 100;  // per script, all entities; 0: no limit
  AlertsSyslogConfig syslog;

  bool operator==(const AlertsConfig&) const = default;
};

void describe(config::Section<AlertsSyslogConfig>& s);
void describe(config::Section<AlertsConfig>& s);

}  // namespace loupe
