#include "app/script_sets.h"

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "engine/classify/ndpi_detector.h"
#include "lua/supervisor.h"
#include "lua/watchdog.h"
#include "lua/worker_scripts.h"

namespace loupe {
namespace {

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void print_lines(const std::vector<std::string>& lines, const char* prefix) {
  for (const std::string& l : lines) std::fprintf(stderr, "loupe: %s%s\n", prefix, l.c_str());
}

}  // namespace

void LuaTotals::add(const WorkerScripts& vm) {
  const Generation& gen = vm.generation();
  for (size_t i = 0; i < gen.scripts.size(); i++) {
    const ScriptStats& st = vm.stats(static_cast<int>(i));
    Script& t = scripts[gen.scripts[i].key];
    for (int h = 0; h < kHookCount; h++) t.calls[h] += st.calls[h].get();
    for (int k = 0; k < kErrorKinds; k++) t.errors[k] += st.errors[k].get();
    t.overruns += st.overruns.get();
    t.hard_stops += st.hard_stops.get();
  }
  alerts_sent += vm.alerts_sent();
  alerts_dropped += vm.alerts_dropped();
  log_lines_dropped += vm.log_lines_dropped();
}

void ScriptSets::retire(std::unique_ptr<WorkerScripts>* vm) {
  if (vm != nullptr && *vm) retired_.add(**vm);
  delete vm;
}

GenerationResult ScriptSets::build(const Config& config, bool offline, const NdpiModule* names,
                                   uint32_t number) {
  GenerationInputs in;
  in.config = config.lua;
  in.local_networks = config.local_networks;
  in.ndpi = names;
  in.offline = offline;
  in.number = number;
  return build_generation(in);
}

std::vector<std::string> ScriptSets::check(const Config& config, bool offline) {
  if (!config.lua.enabled) return {};
  // L7 gates name nDPI protocols: the check resolves them as a run would.
  const NdpiModule names(config.classify.ndpi);
  return build(config, offline, &names, 1).errors;
}

ScriptSets::ScriptSets(const Config& config, bool offline, const NdpiModule* names)
    : names_(names), offline_(offline), hard_worker_ms_(config.lua.budget.hard_worker_ms) {
  if (!config.lua.enabled) return;
  GenerationResult r = build(config, offline, names, number_);
  print_lines(r.warnings, "lua: warning: ");
  if (!r.errors.empty()) {
    if (lua_exit_on_load_error(config.lua, offline)) {
      std::string all = "lua: the script set was rejected:";
      for (const std::string& e : r.errors) all += "\n  " + e;
      throw std::runtime_error(all);
    }
    std::fprintf(stderr, "loupe: lua: the script set was rejected; capturing without scripts:\n");
    for (const std::string& e : r.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    return;
  }
  // Said once the run has started (attach): a start-up failure's own line
  // comes first.
  summary_ = generation_summary(r);
  generation_ = r.generation;
  reloads_.loaded();
}

ScriptSets::~ScriptSets() {
  if (building_.valid()) building_.wait();
  for (auto* p : offers_) delete p;
  if (watchdog_) watchdog_->stop();
}

void ScriptSets::watch(Worker& w) {
  if (w.scripts() != nullptr) watchdog_->watch(w.scripts()->watch(), hard_worker_ms_);
}

void ScriptSets::attach(std::vector<std::unique_ptr<Worker>>& workers,
                        std::vector<rte_ring*> alerts, std::vector<rte_ring*> logs,
                        const std::string& alert_file) {
  alert_rings_ = std::move(alerts);
  log_rings_ = std::move(logs);
  offers_.assign(workers.size(), nullptr);
  writer_ = std::make_unique<AlertWriter>(alert_file, names_);
  watchdog_ = std::make_unique<Watchdog>([](const std::string& vm) {
    std::fprintf(stderr, "loupe: lua: %s: a call is stuck inside a C function\n", vm.c_str());
  });
  if (generation_ == nullptr) return;
  std::fprintf(stderr, "loupe: %s\n", summary_.c_str());
  supervisor_ = std::make_unique<Supervisor>(generation_);
  for (auto& w : workers) {
    std::vector<std::string> errors;
    auto ws = build_worker(generation_, static_cast<uint16_t>(w->id()), w->flows().slots(), &errors);
    if (!ws) {
      std::string all = "lua: cannot build worker " + std::to_string(w->id()) + "'s scripts:";
      for (const std::string& e : errors) all += "\n  " + e;
      throw std::runtime_error(all);
    }
    supervisor_->add(ws.get());
    w->adopt_scripts(std::move(ws));
    watch(*w);
  }
  watchdog_->start();
}

void ScriptSets::reload(const Config& config) {
  if (!config.lua.enabled && generation_ == nullptr) return;
  if (building_.valid()) {
    std::fprintf(stderr, "loupe: lua: reload: a build is already running; signal ignored\n");
    return;
  }
  hard_worker_ms_ = config.lua.budget.hard_worker_ms;
  building_ = std::async(std::launch::async, [c = config, o = offline_, n = names_,
                                              g = number_ + 1] { return build(c, o, n, g); });
}

void ScriptSets::poll(std::vector<std::unique_ptr<Worker>>& workers) {
  if (building_.valid() &&
      building_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    GenerationResult r = building_.get();
    print_lines(r.warnings, "lua: warning: ");
    if (!r.errors.empty()) {
      reloads_.failed();
      std::fprintf(stderr, "loupe: lua: reload rejected, generation %u keeps running:\n", number_);
      for (const std::string& e : r.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    } else if (generation_ && r.generation && r.generation->hash == generation_->hash) {
      std::fprintf(stderr, "loupe: lua: reload: set unchanged (generation %u)\n", number_);
      reloads_.same();
    } else {
      // Every worker's VM is built here, off the packet path, before any is
      // handed out: a VM that fails to build rejects the whole set.
      std::vector<std::unique_ptr<WorkerScripts>> built;
      std::vector<std::string> errors;
      auto supervisor = r.generation ? std::make_unique<Supervisor>(r.generation) : nullptr;
      for (auto& w : workers) {
        if (!r.generation) {
          built.emplace_back();
          continue;
        }
        auto ws = build_worker(r.generation, static_cast<uint16_t>(w->id()), w->flows().slots(),
                               &errors);
        if (!ws) break;
        supervisor->add(ws.get());
        built.push_back(std::move(ws));
      }
      if (built.size() != workers.size()) {
        reloads_.failed();
        std::fprintf(stderr, "loupe: lua: reload rejected, generation %u keeps running:\n",
                     number_);
        for (const std::string& e : errors) std::fprintf(stderr, "  %s\n", e.c_str());
      } else {
        number_++;
        reloads_.succeeded();
        generation_ = r.generation;
        supervisor_ = std::move(supervisor);
        std::fprintf(stderr, "loupe: reload: %s\n", generation_summary(r).c_str());
        for (size_t i = 0; i < workers.size(); i++) {
          if (built[i]) watchdog_->watch(built[i]->watch(), hard_worker_ms_);
          delete offers_[i];  // an older generation nobody took
          offers_[i] = new std::unique_ptr<WorkerScripts>(std::move(built[i]));
        }
      }
    }
  }
  for (size_t i = 0; i < workers.size(); i++) {
    retire(workers[i]->scripts_handover().take_retired());  // teardown runs here, on the control side
    if (offers_[i] != nullptr && workers[i]->scripts_handover().offer(offers_[i])) offers_[i] = nullptr;
  }
  const uint64_t now = steady_ns();
  if (supervisor_ && now - last_supervise_ns_ > 100'000'000) {
    last_supervise_ns_ = now;
    supervisor_->poll(now);
    print_lines(supervisor_->take_log(), "");
  }
  drain();
}

void ScriptSets::drain() {
  AlertRecord a;
  bool wrote = false;
  for (rte_ring* r : alert_rings_)
    while (rte_ring_sc_dequeue_elem(r, &a, sizeof(a)) == 0) {
      writer_->write(a);
      wrote = true;
    }
  LogLine l;
  for (rte_ring* r : log_rings_)
    while (rte_ring_sc_dequeue_elem(r, &l, sizeof(l)) == 0)
      std::fprintf(stderr, "%.*s\n", static_cast<int>(l.len), l.text);
  // Alerts reach the file as soon as they arrive; an idle turn costs no call.
  if (wrote) writer_->flush();
}

void ScriptSets::shutdown(std::vector<std::unique_ptr<Worker>>& workers) {
  if (watchdog_) watchdog_->stop();
  drain();
  for (size_t i = 0; i < workers.size(); i++) {
    retire(workers[i]->scripts_handover().take_retired());
    delete offers_[i];
    offers_[i] = nullptr;
  }
}

}  // namespace loupe
