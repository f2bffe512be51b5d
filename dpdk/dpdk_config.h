// Configuration of the DPDK environment (EAL, mempools) and of the ports.
// Schema: dpdk/dpdk_config.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/schema_fwd.h"

namespace loupe {

enum class HugePages : uint8_t { kAuto, kOn, kOff };

struct DpdkConfig {
  // Extra EAL arguments appended verbatim (e.g. "--log-level=pmd.net.pcap:8").
  std::vector<std::string> eal_args;
  // Hugepage use: auto uses them when a hugetlbfs is mounted with free pages;
  // offline runs never need them.
  HugePages huge = HugePages::kAuto;
  // Memory EAL may use, in MiB; 0 computes it from the flow table and mempool sizes.
  uint32_t memory_mb = 0;
  // mbufs in each worker's packet mempool.
  uint32_t mbufs_per_worker = 16383;
  uint32_t mbuf_cache = 256;
  // RX descriptors per queue.
  uint16_t rx_desc = 1024;
  // PMD shared objects loaded with -d (Debian's DPDK is a shared build).
  std::vector<std::string> drivers = {"librte_net_pcap.so.23", "librte_net_af_packet.so.23",
                                      "librte_net_ring.so.23"};

  bool operator==(const DpdkConfig&) const = default;
};

struct PortConfig {
  std::string name;     // label used in counters and records
  std::string devargs;  // a virtual device ("net_af_packet0,iface=eth1,qpairs=4") ...
  std::string pci;      // ... or a PCI address ("0000:03:00.0"); exactly one of the two
  bool rss = true;      // program symmetric RSS when the PMD supports it
  bool promiscuous = true;

  bool operator==(const PortConfig&) const = default;
};

// The schemas (dpdk/dpdk_config.cc).
void describe(config::Section<DpdkConfig>& s);
void describe(config::Section<PortConfig>& s);

}  // namespace loupe
