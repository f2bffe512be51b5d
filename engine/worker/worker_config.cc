// Schema of the workers: section (engine/worker/worker_config.h).
#include "engine/worker/worker_config.h"

#include <fmt/format.h>

#include "config/schema.h"

namespace loupe {
namespace {

// The EAL's CPU list syntax ("0-3,8"), as dpdk/eal.cc reads it: checked here
// so that a typo is a config error with a position, not a failure at start.
bool is_cpu_list(const std::string& list) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    const std::string part = list.substr(pos, end - pos);
    const size_t dash = part.find('-');
    const std::string lo = part.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : part.substr(dash + 1);
    auto number = [](const std::string& s) {
      return !s.empty() && s.size() <= 5 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!number(lo) || !number(hi) || std::stoul(hi) < std::stoul(lo)) return false;
    pos = end + 1;
  }
  return true;
}

}  // namespace

void describe(config::Section<WorkersConfig>& s) {
  s.field("count", &WorkersConfig::count)
      .range(1, 128)
      .help(
          "Worker lcores. Worker i polls RX queue i of every port, so this is also the number "
          "of RX queues per port.");
  s.field("cpus", &WorkersConfig::cpus)
      .help(
          "CPUs for the main lcore then the workers, in the EAL's list syntax (\"0-4\": main on "
          "0, workers on 1-4). Empty: every lcore may run on any allowed CPU. A list shorter "
          "than count + 1 shares its CPUs between the lcores.");
  s.field("burst", &WorkersConfig::burst)
      .range(1, 1024)
      .help("Packets asked of each rx_burst call (the flow stage works in bursts of at most 64).");
  s.field("ring_size", &WorkersConfig::ring_size)
      .range(64, 1u << 24)
      .power_of_two()
      .help(
          "Entries of each dispatcher-to-worker ring (used when a port has fewer RX queues "
          "than workers, and for pcap input).");
  s.check("cpus is empty or a CPU list such as \"0-4\" or \"0,2,4-7\"", {"cpus"},
          [](const WorkersConfig& w, config::Issues& issues) {
            if (!w.cpus.empty() && !is_cpu_list(w.cpus)) {
              issues.error(
                  "cpus",
                  fmt::format("{:?} is not a CPU list (e.g. \"0-4\" or \"0,2,4-7\")", w.cpus));
            }
          });
}

}  // namespace loupe
