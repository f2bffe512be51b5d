// The root schema: one section per module, each described next to its struct.
#include "config/config.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <tuple>

#include "config/schema.h"

namespace loupe {

void describe(config::Section<Config>& s) {
  s.section("workers", &Config::workers).help("Worker lcores: how many, where they run.");
  s.section("dpdk", &Config::dpdk).help("The DPDK environment: EAL arguments, memory, mempools.");
  s.list("ports", &Config::ports)
      .help("Capture ports. Leave it empty when packets come from pcap files (-r).");
  s.section("flow", &Config::flow).help("The per-worker flow tables.");
  s.section("stream", &Config::stream).help("TCP stream reassembly for parsers, HTTP, bodies.");
  s.section("classify", &Config::classify).help("Naming each flow's application.");
  s.section("output", &Config::output).help("What the control core writes.");
  s.section("alerts", &Config::alerts).help("Alerts raised by scripts, and where they go.");
  s.section("hosts", &Config::hosts)
      .help("The host table: per host and per local network traffic for host/ and network/ "
            "scripts.");
  s.section("metrics", &Config::metrics)
      .help("The Prometheus endpoint: counters of ports, workers, flows and scripts.");
  s.section("lua", &Config::lua).help("Lua flow scripts run by the workers.");
  s.section("control", &Config::control)
      .help("The control socket of a running instance (loupe status, loupe scripts).");
  s.section("paths", &Config::paths).help("Where loupe keeps its runtime state.");
  s.field("local_networks", &Config::local_networks)
      .help(
          "Networks counted as local: flow.direction(), flow.is_unicast() and the local_only "
          "gate of scripts.");
  s.list("classifiers", &Config::classifiers)
      .help(
          "Payload-prefix classifiers: a flow matches one when the first payload of a direction "
          "holds its bytes exactly at its offset (engine: classify.classifiers).");
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
  // Several rules may share a name, one per alternative (Arkime registers
  // "http" once per method), but the same rule twice is a mistake: it would
  // match twice. Bytes compare decoded: '|41|' is "A".
  s.check(
      "no classifier rule is written twice", {"classifiers"},
      [](const Config& c, config::Issues& issues) {
        std::map<
            std::tuple<std::string, ClassifierProto, uint32_t, std::string, ClassifierDirection>,
            size_t>
            first;
        for (size_t i = 0; i < c.classifiers.size(); ++i) {
          const ClassifierRuleConfig& r = c.classifiers[i];
          std::string why;
          const std::optional<std::string> bytes = decode_classifier_bytes(r.bytes, &why);
          if (r.name.empty() || !bytes) continue;  // reported by the item's own checks
          const auto [it, inserted] =
              first.emplace(std::tuple(r.name, r.proto, r.offset, *bytes, r.direction), i);
          if (!inserted) {
            issues.error(fmt::format("classifiers.{}.name", i),
                         fmt::format("duplicate classifier rule {:?} (same as classifiers.{})",
                                     r.name, it->second));
          }
        }
      });
}

}  // namespace loupe
