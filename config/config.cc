// The root schema: one section per module, each described next to its struct.
#include "config/config.h"

#include <map>

#include <fmt/format.h>

#include "config/schema.h"

namespace loupe {

void describe(config::Section<Config>& s) {
  s.section("workers", &Config::workers).help("Worker lcores: how many, where they run.");
  s.section("dpdk", &Config::dpdk).help("The DPDK environment: EAL arguments, memory, mempools.");
  s.list("ports", &Config::ports)
      .help("Capture ports. Leave it empty when packets come from pcap files (-r).");
  s.section("flow", &Config::flow).help("The per-worker flow tables.");
  s.section("output", &Config::output).help("What the control core writes.");
  s.check("port names are unique", [](const Config& c, config::Issues& issues) {
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
