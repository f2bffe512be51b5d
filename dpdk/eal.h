// Setting up DPDK's Environment Abstraction Layer from the config: which
// lcores run where, memory, hugepages, the PMD libraries of Debian's shared
// build, and the devices to probe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "config/config.h"

namespace loupe {

struct EalPlan {
  std::vector<std::string> args;
  uint32_t lcores = 0;       // the main lcore (control) plus one per worker
  bool shared_cpus = false;  // fewer CPUs than lcores: idle lcores must yield
  bool huge = false;
  uint32_t memory_mb = 0;
};

// Builds the EAL arguments. `offline` runs never use hugepages. Throws
// std::runtime_error with a one-line message for a bad CPU list.
EalPlan plan_eal(const Config& config, bool offline, uint32_t memory_mb);

// While alive, DPDK's log lines are kept in memory instead of printed, so a
// start-up failure can be reported as one line of loupe's with DPDK's detail
// after it. Afterwards DPDK logs to stderr (never stdout, which may carry
// flow records).
class DpdkLogCapture {
 public:
  DpdkLogCapture();
  ~DpdkLogCapture();
  DpdkLogCapture(const DpdkLogCapture&) = delete;
  DpdkLogCapture& operator=(const DpdkLogCapture&) = delete;
  // Stops capturing and returns what was logged.
  std::string release();

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  FILE* stream_ = nullptr;
};

// Initialises EAL (once per process). Throws std::runtime_error on failure.
void init_eal(const EalPlan& plan);
void cleanup_eal();

// True when a hugetlbfs is mounted and has free pages.
bool hugepages_available();

}  // namespace loupe
