// Start-up, the control loop on the main lcore, and shutdown of one loupe
// run: EAL, mempools, rings, ports or the offline reader, the workers on
// their lcores, the flow output, and the exit summary.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace loupe {

struct RunOptions {
  std::vector<std::string> inputs;  // offline: capture files in order; empty: live ports
  // Where the configuration came from: SIGHUP reads it again.
  std::string config_path;
  std::vector<std::string> overrides;
};

// Exit codes: 0 all input processed; 2 some input could not be read (every
// readable packet was still processed and every flow written); 1 start-up
// failed (one line on stderr says why).
int run(const Config& config, const RunOptions& options);

}  // namespace loupe
