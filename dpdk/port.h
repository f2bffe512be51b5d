// Opening, configuring and reading the statistics of capture ports. A port
// that offers as many RX queues as there are workers gets one queue per
// worker, programmed with the symmetric Toeplitz key where the PMD does RSS
// (or hashed by the device itself, like net_af_packet's kernel fanout); any
// other port gets one queue, read by the software dispatcher.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

struct rte_mempool;

namespace loupe {

struct OpenPort {
  std::string name;
  uint16_t port_id = 0;
  uint16_t rx_queues = 0;    // workers, or 1 for a dispatched port
  bool dispatched = false;   // read by the software dispatcher on the main lcore
  bool rss = false;          // symmetric RSS programmed
};

struct PortStats {
  uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
};

// After init_eal(). `pools[i]` backs the queue of worker i; a dispatched
// port's single queue uses pools[0]. Throws std::runtime_error naming the
// port when it cannot be found or configured.
std::vector<OpenPort> open_ports(const Config& config, const std::vector<rte_mempool*>& pools);
PortStats port_stats(uint16_t port_id);
void close_ports(const std::vector<OpenPort>& ports);

}  // namespace loupe
