// The exit summary on stderr: what came in, what was processed, what was
// dropped and why, per worker and in total. Every packet is accounted for:
// received = processed + malformed (by reason) + dispatcher drops, and for
// ports, what the NIC counted as missed, errored or without mbuf.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

namespace loupe {

class Worker;
class PcapSource;
struct OpenPort;

struct SummaryInput {
  const std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  const std::vector<OpenPort>* ports = nullptr;
  const PcapSource* source = nullptr;  // offline only
  uint64_t dispatcher_drops = 0;
  uint64_t records_written = 0;
  bool scripts = false;         // Lua scripts ran
  uint64_t alerts_written = 0;
  double startup_ms = 0;
  double first_packet_ms = -1;
  uint32_t eal_memory_mb = 0;
  int stopped_by = 0;
};

void print_summary(FILE* out, const SummaryInput& in);

}  // namespace loupe
