// Configuration of the host table (contract §4.2, §3.5). Schema:
// engine/host/hosts_config.cc.
#pragma once

#include <cstdint>

#include "config/schema_fwd.h"

namespace loupe {

struct HostsConfig {
  bool enabled = true;             // keep the host table (needed by host/ and network/ scripts)
  uint32_t max_hosts = 262144;     // hosts kept; the least recently seen is evicted beyond
  uint32_t idle_timeout = 300;     // seconds without traffic before a host leaves the table
  uint32_t partial_entries = 16384;   // (host, protocol) pairs per worker per period
  uint32_t partial_contacts = 16384;  // unanswered contacts per worker per period

  bool operator==(const HostsConfig&) const = default;
};

void describe(config::Section<HostsConfig>& s);

}  // namespace loupe
