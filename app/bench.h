// `loupe bench`: in-memory replay. Loads a capture into mbufs once, then
// feeds it K times through the real worker pipeline (Worker::process_burst)
// on one core, moving timestamps forward each loop so flows age as in real
// traffic, and optionally rewriting addresses each loop so every loop's
// flows are new. Reports packets/s, Gbit/s, ns and TSC cycles per packet,
// per stage, and peak memory, as a table and as JSON.
#pragma once

#include <string>

#include "config/config.h"

namespace loupe {

struct BenchOptions {
  std::string input;      // a pcap file
  uint32_t loops = 10;
  bool rewrite = false;   // new addresses each loop: every loop's flows are new
  std::string json;       // write the JSON report here ("-" stdout); "" none
  bool table = true;      // print the table on stderr
  bool scripts = false;   // run the configured Lua script set (lua.scripts_dir) in the worker
};

// Exit codes as `run`: 0, or 1 with one line on stderr.
int bench(const Config& config, const BenchOptions& options);

}  // namespace loupe
