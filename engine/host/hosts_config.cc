// Schema of the hosts: section (engine/host/hosts_config.h).
#include "engine/host/hosts_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<HostsConfig>& s) {
  s.field("enabled", &HostsConfig::enabled)
      .help("Keep the host table: per host and per local network traffic, merged from the "
            "workers every second. host/ and network/ scripts and interface.* host listings "
            "read it; off, they see no host.");
  s.field("max_hosts", &HostsConfig::max_hosts)
      .range(16, 1u << 26)
      .help("Hosts kept in the table. Beyond it the least recently seen host is evicted and "
            "counted (loupe_hosts_evicted_total{reason=\"capacity\"}).");
  s.field("idle_timeout", &HostsConfig::idle_timeout)
      .range(1, 86400 * 7)
      .help("Seconds without traffic after which a host leaves the table (ntopng's "
            "local_host_max_idle plays the same part).");
  s.field("partial_entries", &HostsConfig::partial_entries)
      .range(64, 1u << 24)
      .help("(host, L7 protocol) pairs one worker collects per one-second period before "
            "handing them to the control core; beyond it traffic of new pairs is dropped and "
            "counted (loupe_hosts_partial_dropped_total).");
  s.field("partial_contacts", &HostsConfig::partial_contacts)
      .range(64, 1u << 24)
      .help("Unanswered contacts (one-way TCP/UDP flows that ended) one worker collects per "
            "period; beyond it they are dropped and counted.");
}

}  // namespace loupe
