// The script watchdog (contract §6.5): a control-side thread that looks at
// every watched VM's current call each millisecond and, once the VM's
// thread has spent more CPU time in that call than lua.budget.hard_worker_ms
// (read on the thread's own CPU clock, so preemption alone never counts),
// signals the thread. The signal handler arms a count hook that raises the
// uncatchable hard_stop error at the next Lua instruction. A call still
// running one second after the interrupt is a stall.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loupe {

struct CallWatch;

class Watchdog {
 public:
  // `on_stall` runs on the watchdog thread with the VM's name (the
  // application decides: exit with status 70, or log).
  explicit Watchdog(std::function<void(const std::string&)> on_stall = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches a VM until it is retired (its Vm destroyed).
  void watch(std::shared_ptr<CallWatch> w, uint32_t hard_ms);
  void start();
  void stop();

  uint64_t interrupts() const { return interrupts_.load(std::memory_order_acquire); }
  uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }

  // The interrupt signal (a real-time signal); its handler is installed by
  // the first Watchdog and stays.
  static int signal_number();

 private:
  struct Entry {
    std::shared_ptr<CallWatch> w;
    uint64_t seq = 0;        // the call being judged
    uint64_t cpu_start = 0;  // its thread's CPU time when first seen
    uint64_t signalled_ns = 0;
    uint64_t last_signal_ns = 0;
    bool stall_reported = false;
  };
  void loop();
  void check(Entry& e, uint64_t now_ns);

  std::function<void(const std::string&)> on_stall_;
  std::mutex mu_;
  std::vector<Entry> entries_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> interrupts_{0};
  std::atomic<uint64_t> stalls_{0};
};

}  // namespace loupe
