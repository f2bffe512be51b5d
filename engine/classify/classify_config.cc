// Schema of the classify: section (engine/classify/classify_config.h).
#include "engine/classify/classify_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<NdpiConfig>& s) {
  s.field("enabled", &NdpiConfig::enabled).help("Name each flow's application with nDPI.");
  s.field("max_packets_tcp", &NdpiConfig::max_packets_tcp)
      .range(1, 1000)
      .help("Packets of a TCP flow given to nDPI before detection gives up (and guesses).");
  s.field("max_packets_udp", &NdpiConfig::max_packets_udp)
      .range(1, 1000)
      .help("Packets of a UDP or other flow given to nDPI before detection gives up.");
  s.field("states", &NdpiConfig::states)
      .range(16, 1u << 22)
      .help(
          "nDPI states per worker: flows in detection at once. A flow that finds none free is "
          "not inspected, and counted.");
  s.field("protos_file", &NdpiConfig::protos_file)
      .help("nDPI custom protocols file (ndpiReader -p); empty: none.");
  s.field("categories_file", &NdpiConfig::categories_file)
      .help("nDPI custom categories file (ndpiReader -c); empty: none.");
  s.field("risky_domains_file", &NdpiConfig::risky_domains_file)
      .help("nDPI risky domains file (ndpiReader -r); empty: none.");
  s.field("ja3_file", &NdpiConfig::ja3_file)
      .help("nDPI malicious JA3 fingerprints file (ndpiReader -j); empty: none.");
  s.field("sha1_file", &NdpiConfig::sha1_file)
      .help("nDPI malicious certificate SHA-1 file (ndpiReader -S); empty: none.");
}

void describe(config::Section<ClassifyConfig>& s) {
  s.section("ndpi", &ClassifyConfig::ndpi).help("Protocol detection with nDPI, one module per worker.");
}

}  // namespace loupe
