// lua/watchdog.h
#include "lua/watchdog.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>

#include "lua/vm.h"

namespace loupe {
namespace {

uint64_t clock_ns(clockid_t c) {
  timespec ts{};
  if (clock_gettime(c, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void on_signal(int) { Vm::on_interrupt_signal(); }

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(Watchdog::signal_number(), &sa, nullptr);
  });
}

constexpr uint64_t kStallNs = 1'000'000'000;  // 1 s after the interrupt
constexpr uint64_t kResignalNs = 50'000'000;  // a C function may have eaten the hook

}  // namespace

int Watchdog::signal_number() { return SIGRTMIN + 4; }

Watchdog::Watchdog(std::function<void(const std::string&)> on_stall)
    : on_stall_(std::move(on_stall)) {
  install_handler();
}

Watchdog::~Watchdog() { stop(); }

void Watchdog::watch(std::shared_ptr<CallWatch> w, uint32_t hard_ms) {
  w->hard_ns.store(uint64_t{hard_ms} * 1'000'000u, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  entries_.push_back(Entry{std::move(w)});
}

void Watchdog::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lua-watchdog");
    loop();
  });
}

void Watchdog::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Watchdog::loop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    const uint64_t now = clock_ns(CLOCK_MONOTONIC);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < entries_.size();) {
        if (entries_[i].w->retired.load(std::memory_order_acquire)) {
          entries_[i] = std::move(entries_.back());
          entries_.pop_back();
          continue;
        }
        check(entries_[i], now);
        ++i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Watchdog::check(Entry& e, uint64_t now) {
  CallWatch& w = *e.w;
  if (!w.bound.load(std::memory_order_acquire)) return;
  const uint64_t seq = w.seq.load(std::memory_order_relaxed);
  if ((seq & 1) == 0) {  // between calls
    e.seq = 0;
    return;
  }
  const uint64_t cpu = clock_ns(w.cpu_clock);
  if (seq != e.seq) {  // a call first seen now
    e.seq = seq;
    e.cpu_start = cpu;
    e.signalled_ns = 0;
    e.stall_reported = false;
    return;
  }
  if (e.signalled_ns == 0) {
    if (cpu - e.cpu_start <= w.hard_ns.load(std::memory_order_relaxed)) return;
    w.stop_seq.store(seq, std::memory_order_relaxed);
    // Counted before it is sent: the stopped call may return, and its
    // thread read the count, before this thread runs again.
    interrupts_.fetch_add(1, std::memory_order_release);
    pthread_kill(w.thread, signal_number());
    e.signalled_ns = e.last_signal_ns = now;
    return;
  }
  if (now - e.last_signal_ns > kResignalNs) {
    pthread_kill(w.thread, signal_number());
    e.last_signal_ns = now;
  }
  if (!e.stall_reported && now - e.signalled_ns > kStallNs) {
    e.stall_reported = true;
    w.stalls.fetch_add(1, std::memory_order_relaxed);
    stalls_.fetch_add(1, std::memory_order_relaxed);
    if (on_stall_) on_stall_(w.name);
  }
}

}  // namespace loupe
