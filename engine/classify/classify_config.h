// Configuration of protocol classification. Schema: engine/classify/classify_config.cc.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema_fwd.h"

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

  bool operator==(const NdpiConfig&) const = default;
};

struct ClassifyConfig {
  NdpiConfig ndpi;

  bool operator==(const ClassifyConfig&) const = default;
};

void describe(config::Section<NdpiConfig>& s);
void describe(config::Section<ClassifyConfig>& s);

}  // namespace loupe
