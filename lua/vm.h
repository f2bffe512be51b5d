// One LuaJIT state with its own memory: a jemalloc arena used without a
// thread cache (so that the VM can be built on the control side and handed
// to a worker: no allocation ever lands in a thread cache of the wrong
// thread), a byte count, and a soft cap with a 25% overdraft. Also the
// interrupt machinery of the hard stop: a count hook armed either by the
// watchdog's signal (worker calls) or by a CPU-time deadline (loads, which
// run on the control side where no watchdog looks). One thread at a time.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>

struct lua_State;
struct lua_Debug;

namespace loupe {

// What the watchdog reads of a VM: written by the VM's thread around each
// call, read by the watchdog thread. Shared-owned so that either side may go
// first at teardown.
struct CallWatch {
  std::atomic<uint64_t> seq{0};               // odd while a call runs
  std::atomic<uint64_t> stop_seq{0};          // the call the watchdog wants stopped
  std::atomic<bool> bound{false};             // thread and clock below are valid
  std::atomic<bool> retired{false};           // the VM is gone: stop watching
  std::atomic<uint64_t> hard_ns{20'000'000};  // CPU time a call may use
  std::atomic<uint64_t> stalls{0};
  pthread_t thread{};
  clockid_t cpu_clock{};
  std::string name;  // "worker3"
};

class Vm {
 public:
  // Throws std::runtime_error when the arena or the state cannot be made.
  Vm(std::string name, uint64_t memory_limit);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  lua_State* L() const { return L_; }
  const std::string& name() const { return name_; }

  // Memory. `limit` is soft: allocations succeed up to limit * 1.25.
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_; }
  uint64_t limit() const { return limit_; }
  bool alloc_failed() const { return alloc_failed_; }
  void clear_alloc_failed() { alloc_failed_ = false; }
  // A full collection when usage passed 70% of the limit and grew since the
  // last one; meant for burst boundaries, outside any call.
  bool collect_if_needed();
  void full_collect();

  // Hard stop. The error raised is a sentinel no script can build or catch
  // (the sandbox's pcall wrappers re-raise it).
  static const void* stop_sentinel();
  bool stopping() const { return stopping_; }
  const std::string& stop_where() const { return stop_where_; }

  // Marks the calling thread as the VM's thread (clock for the watchdog).
  void bind_thread();
  const std::shared_ptr<CallWatch>& watch() const { return watch_; }

  // Brackets one call into the VM on its own thread. begin_call() makes the
  // VM reachable from the interrupt signal and the hook; end_call() disarms
  // whatever was armed. Cheap: a few plain stores.
  void begin_call() {
    running_ = this;
    stopping_ = false;
    alloc_failed_ = false;
    watch_->seq.store(watch_->seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  void end_call() {
    watch_->seq.store(watch_->seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    running_ = nullptr;
    if (armed_) disarm();
  }
  // A load, setup() or teardown(): the same brackets, plus a count hook that
  // raises the hard stop past `cpu_ms` of this thread's CPU time.
  void begin_limited(uint32_t cpu_ms);
  void end_limited();

  // The signal handler's half (async-signal-safe): arms the hook if the
  // call the watchdog judged is still the one running.
  static void on_interrupt_signal();

  // For C functions that run long without returning to Lua (the pattern
  // matcher), which a count hook cannot reach: whether the call must stop
  // now, as the hook would decide at its next instruction, and the stop
  // itself, raised from the C function (the position is its caller's).
  bool stop_due() const;
  [[noreturn]] void raise_stop_from_c(lua_State* L) { raise_stop(L, 1); }

 private:
  static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize);
  static void hook(lua_State* L, lua_Debug* ar);
  void disarm();
  [[noreturn]] void raise_stop(lua_State* L, int level = 0);

  std::string name_;
  lua_State* L_ = nullptr;
  unsigned arena_ = 0;
  bool arena_made_ = false;
  std::atomic<uint64_t> used_{0};  // read by the control side for gauges
  uint64_t peak_ = 0;
  uint64_t limit_;
  uint64_t hard_limit_;
  uint64_t after_gc_ = 0;  // usage after the last full collection
  bool alloc_failed_ = false;
  bool stopping_ = false;
  volatile sig_atomic_t armed_ = 0;
  uint64_t deadline_ns_ = 0;  // limited call: thread CPU time at which it stops
  std::string stop_where_;    // "flow/x.lua:5:" of the stopped instruction
  std::shared_ptr<CallWatch> watch_;

  // The VM in a call on this thread: what the signal handler and the hook
  // act on. Constant-initialised, so reads need no TLS wrapper call.
  static inline constinit thread_local Vm* running_ = nullptr;
};

// The calling thread's CPU time, nanoseconds.
uint64_t thread_cpu_ns();

}  // namespace loupe
