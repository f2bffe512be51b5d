// Configuration of protocol classification. Schema: engine/classify/classify_config.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/schema_fwd.h"
#include "engine/classify/classifier_config.h"

namespace loupe {

struct NdpiConfig {
  bool enabled = true;
  // Packets of a flow given to nDPI before detection gives up (ndpiReader's
  // own limits).
  uint32_t max_packets_tcp = 80;
  uint32_t max_packets_udp = 24;
  // nDPI state for flows in detection, per worker; a flow that finds the
  // pool empty is not inspected and is counted.
  uint32_t states = 16384;
  // nDPI's list files; "" loads none.
  std::string protos_file;
  std::string categories_file;
  std::string risky_domains_file;
  std::string ja3_file;
  std::string sha1_file;
  // Protocols nDPI does not look for, by nDPI's name ("BitTorrent", "Skype").
  std::vector<std::string> disabled_protocols;

  bool operator==(const NdpiConfig&) const = default;
};

struct ClassifyConfig {
  NdpiConfig ndpi;
  ClassifierEngineConfig classifiers;
  // Per worker: memory for the metadata of live flows (host names, URLs,
  // certificates, answers...). A flow holds only what it has.
  uint32_t metadata_mb = 64;

  bool operator==(const ClassifyConfig&) const = default;
};

void describe(config::Section<NdpiConfig>& s);
// The names that are not nDPI protocols (case-insensitive, as nDPI compares).
std::vector<std::string> unknown_ndpi_protocols(const std::vector<std::string>& names);
void describe(config::Section<ClassifyConfig>& s);

}  // namespace loupe
