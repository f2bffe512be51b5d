// Schema of the classify: section (engine/classify/classify_config.h).
#include "engine/classify/classify_config.h"

#include "config/schema.h"

extern "C" {
#include <ndpi_api.h>
}

namespace loupe {

std::vector<std::string> unknown_ndpi_protocols(const std::vector<std::string>& names) {
  std::vector<std::string> unknown;
  if (names.empty()) return unknown;  // no module built: nothing to check
  ndpi_detection_module_struct* mod = ndpi_init_detection_module(ndpi_no_prefs);
  if (mod == nullptr) return names;
  for (const std::string& n : names)
    if (ndpi_get_protocol_id(mod, const_cast<char*>(n.c_str())) < 0) unknown.push_back(n);
  ndpi_exit_detection_module(mod);
  return unknown;
}

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
  s.field("disabled_protocols", &NdpiConfig::disabled_protocols)
      .help(
          "Protocols nDPI does not look for, by nDPI's names (`ndpiReader -H` lists them), "
          "e.g. [BitTorrent, SSH]. Their flows get another verdict, or nDPI's guess by port "
          "when detection gives up (confidence \"Match by port\", guessed).");
  s.check("every name in disabled_protocols is an nDPI protocol", {"disabled_protocols"},
          [](const NdpiConfig& c, config::Issues& issues) {
            for (const std::string& bad : unknown_ndpi_protocols(c.disabled_protocols))
              issues.error("disabled_protocols", "unknown nDPI protocol '" + bad + "'");
          });
}

void describe(config::Section<ClassifyConfig>& s) {
  s.field("metadata_mb", &ClassifyConfig::metadata_mb)
      .range(0, 1u << 16)
      .help(
          "MiB per worker for the L7 metadata of live flows (HTTP, DNS, TLS, SSH fields, "
          "classifier matches); a flow holds only what it has. When full, new metadata is "
          "dropped and counted (l7_meta_dropped).");
  s.section("ndpi", &ClassifyConfig::ndpi).help("Protocol detection with nDPI, one module per worker.");
  s.section("classifiers", &ClassifyConfig::classifiers)
      .help("The payload-prefix classifier engine (Hyperscan); the rules: classifiers.");
}

}  // namespace loupe
