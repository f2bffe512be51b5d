// Strikes and suspensions (contract §6.4), on the control side: reads every
// worker's per-script counters, turns overruns into strikes (unless the
// budget is measure_only), suspends a script in every worker when it has
// lua.budget.strikes strikes within the window, or at once after a hard
// stop or a memory exhaustion, doubles repeated suspensions within 24 hours
// up to the ceiling, and lifts them when they expire. Workers see the
// result through the generation's ScriptHealth at their next burst.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "lua/generation.h"

namespace loupe {

class WorkerScripts;

enum class SuspendReason : uint8_t { kBudget, kHardStop, kMemory };
inline constexpr const char* kSuspendReasonNames[] = {"budget", "hard_stop", "memory"};

class Supervisor {
 public:
  explicit Supervisor(std::shared_ptr<const Generation> gen);

  // Workers of this generation whose counters are read (not owned).
  void add(const WorkerScripts* w);
  // Call from the control loop, e.g. every 100 ms, with the control clock.
  void poll(uint64_t now_ns);

  bool suspended(int script) const { return state_[script].until_ns != 0; }
  uint64_t suspended_until_ns(int script) const { return state_[script].until_ns; }
  uint64_t suspensions(int script, SuspendReason r) const {
    return state_[script].count[static_cast<int>(r)];
  }
  // Log lines since the last call ("lua: flow/x suspended for 300 s (budget)").
  std::vector<std::string> take_log();

 private:
  struct PerScript {
    std::deque<uint64_t> strikes;  // times, within the window
    uint64_t until_ns = 0;         // 0: not suspended
    uint64_t last_ns = 0;          // start of the previous suspension
    uint64_t duration_s = 0;       // of the previous suspension
    uint64_t count[3] = {0, 0, 0};
  };
  struct Seen {
    uint64_t overruns = 0, hard_stops = 0, memory_stops = 0;
  };
  void suspend(int script, SuspendReason reason, uint64_t now_ns);
  void publish();

  std::shared_ptr<const Generation> gen_;
  std::vector<const WorkerScripts*> workers_;
  std::vector<std::vector<Seen>> seen_;  // per worker, per script
  std::vector<PerScript> state_;
  std::vector<std::string> log_;
};

}  // namespace loupe
