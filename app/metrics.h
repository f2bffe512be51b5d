// The Prometheus endpoint (metrics: in the configuration; every metric is
// listed in docs/metrics.md). A prometheus-cpp Exposer serves /metrics on
// threads of its own; the families are built at scrape time on the control
// thread, which owns everything they are read from, and handed to the
// Exposer's thread that asked for them, which serializes them.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "engine/flow/flow_record.h"

namespace prometheus {
class Exposer;
}

namespace loupe {

class AlertPipeline;
class ClassifierSets;
class HostTable;
class Dispatcher;
class NdpiModule;
class PcapSource;
class RecordWriter;
class ScriptSets;
class Worker;
struct LuaTotals;
struct OpenPort;

// What the metrics are read from; every pointer outlives the Metrics.
struct MetricsSources {
  const Config* config = nullptr;
  const std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  const std::vector<OpenPort>* ports = nullptr;
  const PcapSource* source = nullptr;      // offline input, or null
  const Dispatcher* dispatcher = nullptr;  // or null
  const RecordWriter* records = nullptr;
  const ScriptSets* scripts = nullptr;
  const ClassifierSets* classifiers = nullptr;
  const NdpiModule* names = nullptr;  // null: nDPI is off, no per-protocol families
  const AlertPipeline* alerts = nullptr;
  const HostTable* hosts = nullptr;  // null: hosts.enabled is off
};

// The endpoint could not listen (address in use, no such address): an
// offline run warns and goes on without metrics, a live run does not start.
struct MetricsListenError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Metrics {
 public:
  // Starts the endpoint. Call on the control thread (the main lcore) after
  // EAL is up: the Exposer's threads inherit its CPU affinity. Throws
  // MetricsListenError when it cannot listen, std::runtime_error when the
  // basic authentication password file cannot be read.
  Metrics(const MetricsConfig& config, const MetricsSources& sources);
  ~Metrics();  // answers waiting scrapes with the last families, then stops the endpoint
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Every control loop turn: answers the scrapes waiting (one set of
  // families for all of them) and samples the workers' polls once a second.
  // A clock read and one relaxed load when nothing is due.
  void poll();
  // Control thread, for every flow record taken from the workers' rings:
  // per-L7-protocol flows, packets and bytes of ended flows.
  void count_record(const FlowRecord& r) {
    if (names_ != nullptr && r.reason != EndReason::active_timeout) count_l7(r);
  }

  // "http://127.0.0.1:9620/metrics"
  const std::string& url() const { return url_; }

  class Collector;  // the prometheus::Collectable (app/metrics.cc)

 private:
  struct PollSample {
    std::chrono::steady_clock::time_point at;
    std::vector<uint64_t> busy, idle;  // per worker
  };
  struct L7Count {
    std::string name;
    uint64_t flows = 0, packets = 0, bytes = 0;
  };

  void count_l7(const FlowRecord& r);
  void sample_polls(std::chrono::steady_clock::time_point now);
  // Reads every source: control thread only.
  std::vector<prometheus::MetricFamily> families();

  MetricsSources src_;
  const NdpiModule* names_;
  std::string url_;
  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::deque<PollSample> polls_;              // the last 10 s, one a second
  std::unordered_map<uint32_t, L7Count> l7_;  // by (master << 16 | app)
  std::unique_ptr<LuaTotals> lua_last_;       // what was last exported: Lua counters never go down
  static constexpr std::chrono::milliseconds kMinBuildInterval{1000};
  std::shared_ptr<const std::vector<prometheus::MetricFamily>> built_;  // the last families
  std::chrono::steady_clock::time_point built_at_;
  double start_unix_;
};

}  // namespace loupe
