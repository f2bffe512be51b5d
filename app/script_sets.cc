#include "app/script_sets.h"

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "engine/classify/ndpi_detector.h"
#include "engine/host/host_table.h"
#include "lua/http_client.h"
#include "lua/quarantine.h"
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

void add_control_totals(const ControlScripts& vm,
                        std::map<std::string, ScriptSets::ControlTotals>& totals) {
  for (const ControlScriptInfo& cs : vm.scripts()) {
    ScriptSets::ControlTotals& t = totals[cs.key];
    for (int g = 0; g < kGranularities; g++) {
      t.calls[g] += cs.calls[g];
      t.skipped[g] += cs.runs[g].skipped;
    }
    for (int k = 0; k < kErrorKinds; k++) t.errors[k] += cs.errors[k];
  }
}

void LuaTotals::add(const WorkerScripts& vm) {
  const Generation& gen = vm.generation();
  for (size_t i = 0; i < gen.scripts.size(); i++) {
    const ScriptStats& st = vm.stats(static_cast<int>(i));
    Script& t = scripts[gen.scripts[i].key];
    for (int h = 0; h < kHookCount; h++) t.calls[h] += st.calls[h].get();
    for (int h = 0; h < kArkimeHookCount; h++) t.arkime_calls[h] += st.arkime_calls[h].get();
    for (int b = 0; b <= kDurationBuckets; b++) t.duration[b] += st.duration[b].get();
    t.seconds += static_cast<double>(st.ticks.get()) / static_cast<double>(vm.ticks_per_second());
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
  in.quarantine_file = workdir_path(config.paths, kQuarantineFileName);
  return build_generation(in);
}

ScriptSets::Built ScriptSets::build_all(const Config& config, bool offline,
                                        const NdpiModule* names, uint32_t number,
                                        ControlServices* services, ControlState* state) {
  Built b;
  b.result = build(config, offline, names, number);
  if (!b.result.generation) return b;
  b.control = ControlScripts::build(b.result.generation, services, state, &b.result.errors,
                                    &b.result.warnings);
  if (!b.result.errors.empty()) {
    b.result.generation.reset();
    b.control.reset();
  }
  return b;
}

std::vector<std::string> ScriptSets::check(const Config& config, bool offline) {
  if (!config.lua.enabled) return {};
  // L7 gates name nDPI protocols: the check resolves them as a run would.
  const NdpiModule names(config.classify.ndpi);
  ControlServices services;
  ControlState state;
  return build_all(config, offline, &names, 1, &services, &state).result.errors;
}

ScriptSets::ScriptSets(const Config& config, bool offline, const NdpiModule* names)
    : names_(names), offline_(offline), hard_worker_ms_(config.lua.budget.hard_worker_ms) {
  services_.offline = offline;
  snapshot_ms_ = config.lua.cache.snapshot_ms;
  queue_size_ = config.lua.cache.queue_size;
  http_config_ = config.lua.http;
  cache_ = std::make_unique<CacheStore>(config.lua.cache.max_bytes, [this] {
    return offline_ ? clock_ns_ : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  });
  snapshots_ = std::make_unique<CacheSnapshotHandle>();
  control_cache_.store = cache_.get();
  control_cache_.control_vm = true;
  services_.cache = &control_cache_;
  if (!config.lua.enabled) return;
  Built b = build_all(config, offline, names, number_, &services_, &control_state_);
  GenerationResult& r = b.result;
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
  control_pending_ = std::move(b.control);
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
                        AlertPipeline* pipeline, HostTable* hosts) {
  alert_rings_ = std::move(alerts);
  log_rings_ = std::move(logs);
  offers_.assign(workers.size(), nullptr);
  pipeline_ = pipeline;
  hosts_ = hosts;
  services_.alerts = pipeline;
  services_.hosts = hosts;
  control_ = std::move(control_pending_);
  if (generation_ != nullptr)
    http_ = std::make_unique<HttpClient>(
        http_client_options(http_config_, static_cast<uint32_t>(workers.size() + 1)));
  for (size_t i = 0; i < workers.size(); i++) {
    readers_.push_back(std::make_unique<CacheReader>(snapshots_.get()));
    queues_.push_back(std::make_unique<CacheWriteQueue>(queue_size_));
    worker_caches_.push_back({cache_.get(), readers_.back().get(), queues_.back().get(),
                              http_ ? &http_->port(i) : nullptr});
  }
  if (control_ && http_) control_->attach_http(&http_->port(workers.size()));
  watchdog_ = std::make_unique<Watchdog>([](const std::string& vm) {
    std::fprintf(stderr, "loupe: lua: %s: a call is stuck inside a C function\n", vm.c_str());
  });
  if (generation_ == nullptr) return;
  std::fprintf(stderr, "loupe: %s\n", summary_.c_str());
  supervisor_ = std::make_unique<Supervisor>(generation_);
  for (auto& w : workers) {
    std::vector<std::string> errors;
    auto ws = build_worker(generation_, static_cast<uint16_t>(w->id()), w->flows().slots(), &errors,
                           &worker_caches_[w->id()]);
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
  building_ = std::async(std::launch::async,
                         [c = config, o = offline_, n = names_, g = number_ + 1,
                          sv = &services_, st = &control_state_] {
                           return build_all(c, o, n, g, sv, st);
                         });
}

void ScriptSets::poll(std::vector<std::unique_ptr<Worker>>& workers) {
  if (building_.valid() &&
      building_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    Built b = building_.get();
    GenerationResult& r = b.result;
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
                               &errors, &worker_caches_[w->id()]);
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
        if (control_) add_control_totals(*control_, control_retired_);
        control_ = std::move(b.control);  // the old control VM's teardown runs here
        if (control_ && http_) control_->attach_http(&http_->port(workers.size()));
        release_removed_scripts();
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
  if (control_) control_->deliver_async(256);
  drain();
}

void ScriptSets::release_removed_scripts() {
  if (pipeline_ == nullptr) return;
  std::set<std::string> keep;
  if (generation_)
    for (const FlowScriptSpec& s : generation_->scripts) keep.insert(s.key);
  if (control_)
    for (const ControlScriptInfo& s : control_->scripts())
      if (s.active) keep.insert(s.key);
  // Engaged alerts of a script that is gone (or disabled) end.
  pipeline_->release_scripts_not_in(keep, last_when_ns_);
  for (auto it = control_state_.scripts.begin(); it != control_state_.scripts.end();)
    it = keep.count(it->first) ? std::next(it) : control_state_.scripts.erase(it);
}

void ScriptSets::tick_cache(uint64_t now_ns) {
  clock_ns_ = now_ns;
  bool changed = false;
  for (auto& q : queues_)
    changed |= cache_->apply(*q, [this](int, std::string_view message) {
      // Once a minute at most: a script failing on every write costs a counter.
      const uint64_t s = clock_ns_ / 1'000'000'000ULL;
      if (s >= next_apply_log_s_) {
        next_apply_log_s_ = s + 60;
        std::fprintf(stderr, "loupe: lua: cache write refused: %.*s\n",
                     static_cast<int>(message.size()), message.data());
      }
    }) != 0;
  const uint64_t steady = steady_ns();
  if (steady - last_publish_ns_ >= uint64_t{snapshot_ms_} * 1'000'000ULL) {
    last_publish_ns_ = steady;
    snapshots_->publish(cache_->publish());
  }
  (void)changed;
  if (now_ns / 1'000'000'000ULL != last_sweep_s_) {
    last_sweep_s_ = now_ns / 1'000'000'000ULL;
    cache_->sweep(now_ns);
  }
}

uint64_t ScriptSets::cache_writes_dropped() const {
  uint64_t n = 0;
  for (const auto& q : queues_) n += q->dropped();
  return n;
}

std::vector<ClassifierSpec> ScriptSets::classifier_specs() const {
  std::vector<ClassifierSpec> out;
  if (!generation_) return out;
  const auto& regs = generation_->arkime_classifiers;
  for (size_t i = 0; i < regs.size(); i++) {
    ClassifierSpec c;
    c.name = regs[i].name;
    c.l4 = regs[i].proto;
    c.offset = regs[i].offset;
    c.bytes = regs[i].match;
    c.origin = regs[i].script >= 0 && static_cast<size_t>(regs[i].script) < generation_->scripts.size()
                   ? generation_->scripts[static_cast<size_t>(regs[i].script)].path
                   : std::string("lua");
    c.script_classifier = static_cast<int32_t>(i);
    out.push_back(std::move(c));
  }
  return out;
}

std::map<std::string, ScriptSets::ControlTotals> ScriptSets::control_totals() const {
  std::map<std::string, ControlTotals> all = control_retired_;
  if (control_) add_control_totals(*control_, all);
  return all;
}

void ScriptSets::run_control(Granularity g, uint64_t when, bool final) {
  last_when_ns_ = when * 1'000'000'000ULL;
  if (control_) control_->run(g, when, final);
}

void ScriptSets::drain() {
  AlertRecord a;
  bool wrote = false;
  for (rte_ring* r : alert_rings_)
    while (rte_ring_sc_dequeue_elem(r, &a, sizeof(a)) == 0) {
      if (hosts_ != nullptr) {
        // host.score() counts the flow alerts of the last minute on both ends.
        const uint16_t vlan = a.key.vlan[1] ? a.key.vlan[1] : a.key.vlan[0];
        hosts_->add_flow_alert(make_host_key(a.key.addr[0], a.key.ip_version, vlan),
                               make_host_key(a.key.addr[1], a.key.ip_version, vlan), a.score,
                               a.time_ns);
      }
      if (pipeline_ != nullptr) pipeline_->submit(a);
      wrote = true;
    }
  LogLine l;
  for (rte_ring* r : log_rings_)
    while (rte_ring_sc_dequeue_elem(r, &l, sizeof(l)) == 0)
      std::fprintf(stderr, "%.*s\n", static_cast<int>(l.len), l.text);
  // Alerts reach the file as soon as they arrive; an idle turn costs no call.
  if (wrote && pipeline_ != nullptr) pipeline_->flush();
}

void ScriptSets::shutdown(std::vector<std::unique_ptr<Worker>>& workers) {
  if (watchdog_) watchdog_->stop();
  drain();
  // Requests still in flight are answered "shutdown"; the control VM gets
  // its last replies (the workers' VMs are done).
  if (http_) {
    http_->stop();
    if (control_) control_->deliver_async(SIZE_MAX);
  }
  control_.reset();  // its teardown() runs while the pipeline and host table exist
  for (size_t i = 0; i < workers.size(); i++) {
    retire(workers[i]->scripts_handover().take_retired());
    delete offers_[i];
    offers_[i] = nullptr;
  }
}

}  // namespace loupe
