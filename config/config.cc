// The root schema: one section per module, each described next to its struct.
#include "config/config.h"

#include <fmt/format.h>

#include <map>

#include "config/schema.h"

namespace loupe {

void describe(config::Section<Config>& s) {
  s.section("workers", &Config::workers).help("Worker lcores: how many, where they run.");
  s.section("dpdk", &Config::dpdk).help("The DPDK environment: EAL arguments, memory, mempools.");
  s.list("ports", &Config::ports)
      .help("Capture ports. Leave it empty when packets come from pcap files (-r).");
  s.section("flow", &Config::flow).help("The per-worker flow tables.");
  s.section("classify", &Config::classify).help("Naming each flow's application.");
  s.section("output", &Config::output).help("What the control core writes.");
  s.check(
      "dpdk.mbufs_per_worker > dpdk.rx_desc * number of ports: each worker's mempool fills "
      "its RX queue on every port",
      {"dpdk.rx_desc", "dpdk.mbufs_per_worker", "ports"},
      [](const Config& c, config::Issues& issues) {
        const uint64_t needed = uint64_t{c.dpdk.rx_desc} * c.ports.size();
        if (c.dpdk.mbufs_per_worker <= needed) {
          issues.error(
              "dpdk.mbufs_per_worker",
              fmt::format("{} mbufs cannot fill {} RX descriptors on each of {} "
                          "ports; use more than {}",
                          c.dpdk.mbufs_per_worker, c.dpdk.rx_desc, c.ports.size(), needed));
        }
      });
  s.check("port names are unique", {"ports"}, [](const Config& c, config::Issues& issues) {
    std::map<std::string, size_t> first;
    for (size_t i = 0; i < c.ports.size(); ++i) {
      const std::string& name = c.ports[i].name;
      if (name.empty()) continue;  // reported by the item's own check
      const auto [it, inserted] = first.emplace(name, i);
      if (!inserted) {
        issues.error(fmt::format("ports.{}.name", i),
                     fmt::format("duplicate port name {:?} (also ports.{})", name, it->second));
      }
    }
  });
}

}  // namespace loupe
