// lua/supervisor.h
#include "lua/supervisor.h"

#include <algorithm>

#include "lua/worker_scripts.h"

namespace loupe {
namespace {
constexpr uint64_t kNs = 1'000'000'000u;
constexpr uint64_t kDayNs = 86'400 * kNs;
}  // namespace

Supervisor::Supervisor(std::shared_ptr<const Generation> gen)
    : gen_(std::move(gen)), state_(gen_->scripts.size()) {}

void Supervisor::add(const WorkerScripts* w) {
  workers_.push_back(w);
  std::vector<Seen> seen(gen_->scripts.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    const ScriptStats& st = w->stats(static_cast<int>(i));
    seen[i] = {st.overruns.get(), st.hard_stops.get(), st.memory_stops.get()};
  }
  seen_.push_back(std::move(seen));
}

void Supervisor::suspend(int script, SuspendReason reason, uint64_t now_ns) {
  PerScript& p = state_[script];
  const LuaBudgetConfig& b = gen_->config.budget;
  uint64_t d = b.suspend_seconds;
  if (p.last_ns != 0 && now_ns - p.last_ns < kDayNs) {
    d = std::min<uint64_t>(p.duration_s * 2, b.max_suspend_seconds);
  }
  p.duration_s = d;
  p.last_ns = now_ns;
  p.until_ns = now_ns + d * kNs;
  p.strikes.clear();
  p.count[static_cast<int>(reason)]++;
  log_.push_back("lua: " + gen_->scripts[script].key + " suspended for " + std::to_string(d) +
                 " s (" + kSuspendReasonNames[static_cast<int>(reason)] + ")");
}

void Supervisor::poll(uint64_t now_ns) {
  const LuaBudgetConfig& b = gen_->config.budget;
  const uint64_t window = uint64_t{b.window_seconds} * kNs;
  for (size_t w = 0; w < workers_.size(); ++w) {
    for (size_t i = 0; i < state_.size(); ++i) {
      const ScriptStats& st = workers_[w]->stats(static_cast<int>(i));
      Seen& s = seen_[w][i];
      const uint64_t over = st.overruns.get(), hard = st.hard_stops.get(),
                     mem = st.memory_stops.get();
      const uint64_t d_over = over - s.overruns;
      const bool d_hard = hard != s.hard_stops, d_mem = mem != s.memory_stops;
      s = {over, hard, mem};
      PerScript& p = state_[i];
      if (p.until_ns != 0) continue;  // already suspended: nothing more to decide
      if (d_hard) {
        suspend(static_cast<int>(i), SuspendReason::kHardStop, now_ns);
      } else if (d_mem) {
        suspend(static_cast<int>(i), SuspendReason::kMemory, now_ns);
      } else if (d_over != 0 && gen_->enforce) {
        for (uint64_t k = 0; k < d_over && p.strikes.size() < b.strikes; ++k)
          p.strikes.push_back(now_ns);
      }
    }
  }
  for (size_t i = 0; i < state_.size(); ++i) {
    PerScript& p = state_[i];
    while (!p.strikes.empty() && now_ns - p.strikes.front() > window) p.strikes.pop_front();
    if (p.until_ns == 0 && p.strikes.size() >= b.strikes) {
      suspend(static_cast<int>(i), SuspendReason::kBudget, now_ns);
    }
    if (p.until_ns != 0 && now_ns >= p.until_ns) {
      p.until_ns = 0;
      log_.push_back("lua: " + gen_->scripts[i].key + " resumed");
    }
  }
  publish();
}

void Supervisor::publish() {
  uint64_t mask = 0;
  for (size_t i = 0; i < state_.size(); ++i) {
    const int slot = gen_->scripts[i].slot;
    if (state_[i].until_ns != 0 && slot >= 0) mask |= uint64_t{1} << slot;
  }
  gen_->health->suspended.store(mask, std::memory_order_relaxed);
}

std::vector<std::string> Supervisor::take_log() {
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

}  // namespace loupe
