// Schemas of the dpdk: section and of each ports: item (dpdk/dpdk_config.h).
#include "dpdk/dpdk_config.h"

#include <fmt/format.h>

#include <cctype>
#include <string_view>

#include "config/schema.h"

namespace loupe {
namespace {

// rte_mempool_create() refuses a cache above this (RTE_MEMPOOL_CACHE_MAX_SIZE).
constexpr uint32_t kMaxMbufCache = 512;

bool hex_digits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "DDDD:BB:DD.F" or "BB:DD.F", as the EAL's -a option takes it: device
// 00-1f, function 0-7.
bool is_pci_address(std::string_view s) {
  const size_t dot = s.rfind('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view function = s.substr(dot + 1);
  std::string_view rest = s.substr(0, dot);
  if (function.size() != 1 || function[0] < '0' || function[0] > '7') return false;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view device = rest.substr(colon + 1);
  rest = rest.substr(0, colon);
  if (!hex_digits(device, 2) || std::stoul(std::string(device), nullptr, 16) > 0x1f) return false;
  const size_t domain_colon = rest.find(':');
  if (domain_colon == std::string_view::npos) return hex_digits(rest, 2);
  return hex_digits(rest.substr(0, domain_colon), 4) &&
         hex_digits(rest.substr(domain_colon + 1), 2);
}

}  // namespace

void describe(config::Section<DpdkConfig>& s) {
  s.field("eal_args", &DpdkConfig::eal_args)
      .help("Extra EAL arguments, appended verbatim (e.g. \"--log-level=pmd.net.pcap:8\").");
  s.enumeration("huge", &DpdkConfig::huge,
                {{"auto", HugePages::kAuto}, {"on", HugePages::kOn}, {"off", HugePages::kOff}})
      .help(
          "Hugepages: auto uses them when a hugetlbfs is mounted with free pages. Offline "
          "runs (-r) never use them.");
  s.field("memory_mb", &DpdkConfig::memory_mb)
      .range(0, 1u << 20)
      .help("Memory the EAL may use, MiB; 0 computes it from the flow table and mempool sizes.");
  s.field("mbufs_per_worker", &DpdkConfig::mbufs_per_worker)
      .range(511, (1u << 24) - 1)
      .help(
          "mbufs in each worker's packet mempool; a power of two minus one fills the pool's "
          "memory best.");
  s.field("mbuf_cache", &DpdkConfig::mbuf_cache)
      .range(0, kMaxMbufCache)
      .help("Per-lcore cache of each mempool, mbufs.");
  s.field("rx_desc", &DpdkConfig::rx_desc)
      .range(64, 32768)
      .help("RX descriptors per queue; the PMD rounds it to what the NIC supports.");
  s.field("drivers", &DpdkConfig::drivers)
      .help("PMD shared objects loaded with -d (Debian's DPDK is a shared build).");
  s.check("mbuf_cache * 1.5 <= mbufs_per_worker (rte_mempool_create refuses a larger cache)",
          {"mbuf_cache", "mbufs_per_worker"}, [](const DpdkConfig& d, config::Issues& issues) {
            if (uint64_t{d.mbuf_cache} * 3 > uint64_t{d.mbufs_per_worker} * 2) {
              issues.error(
                  "mbuf_cache",
                  fmt::format("{} is too large for {} mbufs per worker (at most {})", d.mbuf_cache,
                              d.mbufs_per_worker, d.mbufs_per_worker * 2 / 3));
            }
          });
}

void describe(config::Section<PortConfig>& s) {
  s.field("name", &PortConfig::name).help("Label of the port in counters and records; unique.");
  s.field("devargs", &PortConfig::devargs)
      .help("A virtual device, as --vdev takes it (\"net_af_packet0,iface=eth1,qpairs=4\").");
  s.field("pci", &PortConfig::pci).help("A PCI address (\"0000:03:00.0\"), as -a takes it.");
  s.field("rss", &PortConfig::rss)
      .help(
          "Program symmetric RSS, so that both directions of a flow reach the same worker, "
          "when the PMD supports it.");
  s.field("promiscuous", &PortConfig::promiscuous).help("Put the port in promiscuous mode.");
  s.check("name is not empty", {"name"}, [](const PortConfig& p, config::Issues& issues) {
    if (p.name.empty()) issues.error("name", "must not be empty");
  });
  s.check("exactly one of devargs and pci is set", {"devargs", "pci"},
          [](const PortConfig& p, config::Issues& issues) {
            if (!p.devargs.empty() && !p.pci.empty()) {
              issues.error_latest_of({"devargs", "pci"},
                                     "set exactly one of devargs and pci, not both");
            } else if (p.devargs.empty() && p.pci.empty()) {
              issues.error_latest_of({"devargs", "pci"},
                                     "set exactly one of devargs and pci (neither is set)");
            }
          });
  s.check("pci is DDDD:BB:DD.F or BB:DD.F (hexadecimal)", {"pci"},
          [](const PortConfig& p, config::Issues& issues) {
            if (!p.pci.empty() && !is_pci_address(p.pci)) {
              issues.error(
                  "pci", fmt::format("{:?} is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", p.pci));
            }
          });
}

}  // namespace loupe
