// Configuration of the Prometheus endpoint. Schema: engine/control/metrics_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/net_types.h"
#include "config/schema_fwd.h"

namespace loupe {

struct MetricsConfig {
  bool enabled = true;
  // Offline runs (-r) are batch jobs: the endpoint (and the second or so
  // its HTTP server takes to stop) only when asked.
  bool offline = false;
  IpAddress address{4, {127, 0, 0, 1}};  // where the endpoint listens (IPv4)
  uint16_t port = 9620;                  // 0: a port the kernel picks (logged)
  // HTTP basic authentication: both set, or both empty (no authentication).
  std::string basic_auth_user;
  std::string basic_auth_password_file;  // its first line is the password

  bool operator==(const MetricsConfig&) const = default;
};

void describe(config::Section<MetricsConfig>& s);

}  // namespace loupe
