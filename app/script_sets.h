// The control side of the Lua flow scripts: builds the script set (a
// generation) at start and on SIGHUP on a thread of its own, builds each
// worker's VM from it off the packet path, hands the VMs over at burst
// boundaries, destroys the VMs workers give back (their teardown runs
// here), and runs the watchdog that hard-stops runaway calls and the
// supervisor that suspends scripts over budget. It also drains the
// workers' alert and log rings into the alert pipeline and the log, and
// holds the control VM (host/, network/ and periodic/ scripts) of the
// running generation, built and replaced with it.
#pragma once

#include <array>
#include <future>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "app/reload_stats.h"
#include "config/config.h"
#include "engine/control/alert_pipeline.h"
#include "engine/worker/worker.h"
#include "lua/control_scripts.h"
#include "lua/generation.h"
#include "lua/worker_scripts.h"

namespace loupe {

class Supervisor;
class Watchdog;
class WorkerScripts;

// The worker VMs' counters summed by script key (contract §7.4 labels).
// ScriptSets keeps the sum of every VM it destroyed, so that totals read as
// retired + running never go down across reloads. Control thread only.
struct LuaTotals {
  struct Script {
    std::array<uint64_t, kHookCount> calls{};
    std::array<uint64_t, kArkimeHookCount> arkime_calls{};  // classify, parser, body, http, ...
    std::array<uint64_t, kDurationBuckets + 1> duration{};  // calls by duration bucket
    double seconds = 0;                                      // time in calls
    std::array<uint64_t, kErrorKinds> errors{};
    uint64_t overruns = 0;
    uint64_t hard_stops = 0;
  };
  std::map<std::string, Script> scripts;
  uint64_t alerts_sent = 0;
  uint64_t alerts_dropped = 0;
  uint64_t log_lines_dropped = 0;

  // Adds a VM's counters (relaxed reads: it may be running).
  void add(const WorkerScripts& vm);
};

class ScriptSets {
 public:
  // Builds the configured set. An offline run (or lua.on_load_error: exit)
  // with a rejected set throws std::runtime_error carrying every error; a
  // live run goes on without scripts, as the contract's 'run' says.
  ScriptSets(const Config& config, bool offline, const NdpiModule* names);
  ~ScriptSets();

  // Before the workers run: builds and gives each its VM, and starts the
  // watchdog. `alerts` and `logs` are the workers' rings, read by drain().
  // `pipeline` takes every alert; `hosts` (may be null) is what host/ and
  // network/ scripts read. Both outlive this object.
  void attach(std::vector<std::unique_ptr<Worker>>& workers, std::vector<rte_ring*> alerts,
              std::vector<rte_ring*> logs, AlertPipeline* pipeline, HostTable* hosts);

  // SIGHUP: starts rebuilding the set (unless one is being built).
  void reload(const Config& config);
  // Every control loop turn: a finished reload is handed out; given-back
  // VMs are destroyed; the supervisor runs every 100 ms; alerts and log
  // lines are drained.
  void poll(std::vector<std::unique_ptr<Worker>>& workers);
  // After the workers stopped: the last alerts and lines, then nothing in transit.
  void shutdown(std::vector<std::unique_ptr<Worker>>& workers);

  bool active() const { return generation_ != nullptr; }
  // SIGUSR1: drains what the rings hold into the old file, then reopens it.
  bool reopen_alerts() {
    drain();
    return pipeline_ == nullptr || pipeline_->reopen();
  }
  // The control VM: the granularities its scripts hook (bit per
  // Granularity), and one run of them (§3.5).
  // Whether the set has Arkime classifiers, http_on or body feeds: workers
  // then reassemble streams and parse HTTP and SMTP (decided at start).
  bool needs_sessions() const {
    return generation_ && (!generation_->arkime_classifiers.empty() ||
                           generation_->http_events != 0 || generation_->body_http ||
                           generation_->body_smtp);
  }
  // The running generation's Lua classifiers, as classifier rules (§5.2).
  std::vector<ClassifierSpec> classifier_specs() const;
  uint8_t control_granularities() const { return control_ ? control_->granularities() : 0; }
  void run_control(Granularity g, uint64_t when, bool final);
  // The control clock (offline: capture time), for the cache store's TTLs;
  // applies the workers' queued cache writes, publishes a snapshot every
  // lua.cache.snapshot_ms and sweeps expired keys every second.
  void tick_cache(uint64_t now_ns);
  const CacheStore* cache() const { return cache_.get(); }
  // ArkimeHttpService's client (null until the first set is built).
  const HttpClient* http() const { return http_.get(); }
  uint64_t cache_writes_dropped() const;
  const ControlScripts* control() const { return control_.get(); }
  // Control scripts' counters of the control VMs already replaced, by key:
  // with the running VM's, totals that never go down across reloads.
  struct ControlTotals {
    std::array<uint64_t, kGranularities> calls{};
    std::array<uint64_t, kErrorKinds> errors{};
    std::array<uint64_t, kGranularities> skipped{};
  };
  std::map<std::string, ControlTotals> control_totals() const;
  // Adds a control VM's counters to `totals`, by script key.
  friend void add_control_totals(const ControlScripts& vm,
                                 std::map<std::string, ControlTotals>& totals);
  ControlServices& control_services() { return services_; }
  // For the metrics: the running generation (null: none), its number, the
  // reloads, and the counters of the VMs already destroyed.
  const std::shared_ptr<const Generation>& generation() const { return generation_; }
  uint32_t generation_number() const { return number_; }
  const ReloadStats& reloads() const { return reloads_; }
  const LuaTotals& retired_totals() const { return retired_; }

  // -T: builds the set and returns its errors (empty: accepted).
  static std::vector<std::string> check(const Config& config, bool offline);

 private:
  struct Built {
    GenerationResult result;
    std::unique_ptr<ControlScripts> control;
  };
  static GenerationResult build(const Config& config, bool offline, const NdpiModule* names,
                                uint32_t number);
  // The generation and its control VM (errors in either reject the set).
  static Built build_all(const Config& config, bool offline, const NdpiModule* names,
                         uint32_t number, ControlServices* services, ControlState* state);
  void drain();
  void release_removed_scripts();
  void watch(Worker& w);
  // Destroys a VM a worker gave back (teardown runs here), keeping its counts.
  void retire(std::unique_ptr<WorkerScripts>* vm);

  const NdpiModule* names_;
  bool offline_;
  uint32_t number_ = 1;
  std::shared_ptr<const Generation> generation_;
  std::future<Built> building_;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<Supervisor> supervisor_;
  std::vector<std::unique_ptr<WorkerScripts>*> offers_;
  std::vector<rte_ring*> alert_rings_;
  std::vector<rte_ring*> log_rings_;
  AlertPipeline* pipeline_ = nullptr;
  HostTable* hosts_ = nullptr;
  // The ntop.* cache store (contract §4.4.3): owned here, on the control
  // thread; one reader and one write queue per worker.
  uint64_t clock_ns_ = 0;
  std::unique_ptr<CacheStore> cache_;
  std::unique_ptr<CacheSnapshotHandle> snapshots_;
  std::vector<std::unique_ptr<CacheReader>> readers_;
  std::vector<std::unique_ptr<CacheWriteQueue>> queues_;
  std::vector<WorkerCache> worker_caches_;
  // ArkimeHttpService's client: port i for worker i, the last for the
  // control VM. Declared before nothing that outlives it: every VM holding
  // a port is destroyed before this object (workers, then ScriptSets).
  LuaHttpConfig http_config_;
  std::unique_ptr<HttpClient> http_;
  CacheAccess control_cache_;
  uint32_t snapshot_ms_ = 100;
  uint32_t queue_size_ = 4096;
  uint64_t next_apply_log_s_ = 0;
  uint64_t last_publish_ns_ = 0, last_sweep_s_ = 0;
  ControlServices services_;
  ControlState control_state_;
  std::unique_ptr<ControlScripts> control_;
  std::unique_ptr<ControlScripts> control_pending_;  // built at start, adopted in attach()
  uint64_t last_when_ns_ = 0;
  std::map<std::string, ControlTotals> control_retired_;  // the control clock at the last run (release records' time)
  uint32_t hard_worker_ms_ = 20;
  uint64_t last_supervise_ns_ = 0;
  std::string summary_;  // the start's generation line
  ReloadStats reloads_;
  LuaTotals retired_;
};

}  // namespace loupe
