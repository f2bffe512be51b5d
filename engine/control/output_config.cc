// Schema of the output: section (engine/control/output_config.h).
#include "engine/control/output_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<OutputConfig>& s) {
  s.field("flows", &OutputConfig::flows)
      .help("JSON lines file for flow records; \"-\" writes to stdout, \"\" disables them.");
  s.field("ring_size", &OutputConfig::ring_size)
      .range(64, 1u << 24)
      .power_of_two()
      .help(
          "64-byte cells of each worker-to-control record ring: a flow record takes two, plus "
          "its metadata (one to 33 cells).");
  s.field("summary", &OutputConfig::summary).help("Print a per-worker summary on stderr at exit.");
  s.field("jemalloc_stats", &OutputConfig::jemalloc_stats)
      .help("Append jemalloc's statistics to the summary.");
}

}  // namespace loupe
