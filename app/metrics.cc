#include "app/metrics.h"

#include <arpa/inet.h>
#include <hs.h>
#include <luajit.h>
#include <ndpi_api.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <rte_version.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <tuple>
#include <utility>

#include "app/classifier_sets.h"
#include "app/script_sets.h"
#include "build_info.h"
#include "dpdk/dispatcher.h"
#include "dpdk/pcap_source.h"
#include "dpdk/port.h"
#include "engine/classify/ndpi_detector.h"
#include "engine/control/alert_pipeline.h"
#include "engine/control/record_writer.h"
#include "engine/host/host_table.h"
#include "engine/worker/session_counters.h"
#include "engine/worker/sessions.h"
#include "lua/http_client.h"
#include "engine/worker/worker.h"
#include "lua/worker_scripts.h"

namespace loupe {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;
using SteadyClock = std::chrono::steady_clock;

namespace {

// A scrape waits this long for the control thread (busy building a reload's
// VMs, or stopping); then it gets the families of the previous scrape.
constexpr auto kScrapeWait = std::chrono::seconds(3);
constexpr size_t kPollWindow = 10;  // seconds of the busy ratio

// The worker counters, from the list that declares them (worker_counters.h):
// loupe_worker_<field>_total.
struct WorkerCounterDesc {
  const char* name;
  const char* help;
  const Counter WorkerCounters::*field;
};
constexpr WorkerCounterDesc kWorkerCounterDescs[] = {
#define LOUPE_X(name, help) {#name, help, &WorkerCounters::name},
    LOUPE_WORKER_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void sample(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}


// "DPDK 22.11.4" -> "22.11.4"; "5.4.0 2023-01-01" -> "5.4.0".
std::string version_of(std::string text, const std::string& product) {
  if (text.rfind(product + " ", 0) == 0) text.erase(0, product.size() + 1);
  return text.substr(0, text.find(' '));
}

std::string worker_label(const Worker& w) { return std::to_string(w.id()); }

// The counters of one list (engine/worker/session_counters.h) as
// loupe_<prefix>_<name>_total{worker}; the names in `gauges` are levels,
// not counts (no _total).
template <typename C, size_t N>
void counter_families(const char* prefix, const CounterDesc<C> (&descs)[N],
                      const std::vector<const Worker*>& workers, const C& (*get)(const Worker&),
                      std::vector<MetricFamily>& out,
                      std::initializer_list<std::string_view> gauges = {}) {
  for (const CounterDesc<C>& d : descs) {
    bool gauge = false;
    for (std::string_view g : gauges) gauge |= g == d.name;
    MetricFamily f = family(std::string("loupe_") + prefix + "_" + d.name + (gauge ? "" : "_total"),
                            std::string("Per worker: ") + d.help + ".",
                            gauge ? MetricType::Gauge : MetricType::Counter);
    for (const Worker* w : workers)
      sample(f, {{"worker", worker_label(*w)}}, static_cast<double>((get(*w).*d.field).get()));
    out.push_back(std::move(f));
  }
}

const StreamCounters& stream_counters(const Worker& w) { return w.sessions()->streams().counters(); }
const HttpCounters& http_counters(const Worker& w) { return w.sessions()->http().counters(); }
const SmtpCounters& smtp_counters(const Worker& w) { return w.sessions()->smtp().counters(); }

void session_families(const std::vector<const Worker*>& workers, std::vector<MetricFamily>& out) {
  counter_families("stream", kStreamCounterDescs, workers, stream_counters, out,
                   {"ooo_memory", "ooo_memory_peak"});
  for (const bool bytes : {false, true}) {
    MetricFamily f = family(bytes ? "loupe_stream_lost_bytes_total" : "loupe_stream_lost_total",
                            bytes ? "Per worker: stream bytes not delivered, by reason "
                                    "(docs/metrics.md lists them)."
                                  : "Per worker: holes or segments not delivered, by reason "
                                    "(docs/metrics.md lists them).",
                            MetricType::Counter);
    for (const Worker* w : workers) {
      const StreamCounters& c = stream_counters(*w);
      for (int r = 0; r < static_cast<int>(StreamLoss::count); r++)
        sample(f, {{"worker", worker_label(*w)}, {"reason", kStreamLossNames[r]}},
               static_cast<double>((bytes ? c.lost_bytes[r] : c.lost[r]).get()));
    }
    out.push_back(std::move(f));
  }
  counter_families("http", kHttpCounterDescs, workers, http_counters, out);
  counter_families("smtp", kSmtpCounterDescs, workers, smtp_counters, out);
}

std::string read_password(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line))
    throw std::runtime_error("metrics.basic_auth_password_file: cannot read " + path);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty())
    throw std::runtime_error("metrics.basic_auth_password_file: " + path +
                             ": the first line (the password) is empty");
  return line;
}

// Whether `given` equals `expected` (not empty), in a time that does not
// depend on where they differ.
bool same_secret(const std::string& given, const std::string& expected) {
  unsigned diff = given.size() != expected.size();
  for (size_t i = 0; i < given.size(); i++)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

// Why civetweb could not listen: its own message says only "possible
// problem binding to port", so the bind is tried again here for errno.
// (The address is IPv4: the schema says why.)
std::string bind_error(const IpAddress& address, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, address.bytes.data(), 4);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as civetweb does
  std::string why = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0
                        ? "civetweb could not start"
                        : std::strerror(errno);
  close(fd);
  return why;
}

}  // namespace

// Scrapes run on the Exposer's threads; the sources belong to the control
// thread. A scrape asks for families and waits; the control loop's next
// turn builds them once for every scrape waiting, and wakes them.
class Metrics::Collector final : public prometheus::Collectable {
 public:
  std::vector<MetricFamily> Collect() const override {
    std::unique_lock lock(mu_);
    const uint64_t ticket = ++requested_;
    wanted_.store(true, std::memory_order_relaxed);
    cv_.wait_for(lock, kScrapeWait, [&] { return served_ >= ticket || closed_; });
    const auto latest = latest_;
    lock.unlock();
    return latest ? *latest : std::vector<MetricFamily>{};
  }

  bool wanted() const { return wanted_.load(std::memory_order_relaxed); }
  // Control thread: the scrapes asked for so far; building for them.
  uint64_t begin() {
    std::lock_guard lock(mu_);
    wanted_.store(false, std::memory_order_relaxed);
    return requested_;
  }
  void serve(uint64_t ticket, std::shared_ptr<const std::vector<MetricFamily>> latest) {
    {
      std::lock_guard lock(mu_);
      latest_ = std::move(latest);
      served_ = ticket;
    }
    cv_.notify_all();
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable uint64_t requested_ = 0;
  mutable std::atomic<bool> wanted_{false};
  uint64_t served_ = 0;
  bool closed_ = false;
  std::shared_ptr<const std::vector<MetricFamily>> latest_;
};

Metrics::Metrics(const MetricsConfig& config, const MetricsSources& sources)
    : src_(sources),
      names_(sources.names),
      collector_(std::make_shared<Collector>()),
      lua_last_(std::make_unique<LuaTotals>()),
      start_unix_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                      .count()) {
  const std::string host = to_string(config.address);
  const std::string bind = host + ":" + std::to_string(config.port);
  std::string password;
  if (!config.basic_auth_user.empty()) password = read_password(config.basic_auth_password_file);
  // Threads and CPUs: civetweb starts its threads (a master that accepts,
  // two workers that answer) here, on the calling thread. Called on the
  // main lcore's thread, which rte_eal_init() pinned to the main lcore's
  // cpuset, they inherit that affinity, and civetweb never changes it: they
  // run on the control core only, never on a worker's. (Checked by
  // tests/integration/test_metrics.py: the Cpus_allowed_list of every
  // civetweb thread in /proc equals the main thread's.)
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", bind, "num_threads", "2"});
  } catch (const std::exception&) {
    throw MetricsListenError("metrics: cannot listen on " + bind + ": " +
                             bind_error(config.address, config.port));
  }
  const std::vector<int> ports = exposer_->GetListeningPorts();
  const int port = ports.empty() ? config.port : ports[0];
  url_ = "http://" + host + ":" + std::to_string(port) + "/metrics";
  if (!config.basic_auth_user.empty()) {
    exposer_->RegisterAuth(
        [user = config.basic_auth_user, password](const std::string& u, const std::string& p) {
          // Both compared, always: the time taken says nothing about which failed.
          const bool user_ok = same_secret(u, user);
          const bool password_ok = same_secret(p, password);
          return user_ok && password_ok;
        },
        "loupe");
  }
  exposer_->RegisterCollectable(collector_);
}

Metrics::~Metrics() {
  collector_->close();
  exposer_.reset();  // joins its threads
}

void Metrics::poll() {
  const auto now = SteadyClock::now();
  if (polls_.empty() || now - polls_.back().at >= std::chrono::seconds(1)) sample_polls(now);
  if (!collector_->wanted()) return;
  const uint64_t ticket = collector_->begin();
  // Built at most once per kMinBuildInterval: scrapes in between get the
  // same families, so the control core's cost does not grow with the
  // number or rate of scrapers (values are then up to that old).
  if (!built_ || now - built_at_ >= kMinBuildInterval) {
    built_ = std::make_shared<const std::vector<MetricFamily>>(families());
    built_at_ = now;
  }
  collector_->serve(ticket, built_);
}

void Metrics::sample_polls(SteadyClock::time_point now) {
  PollSample s;
  s.at = now;
  for (const auto& w : *src_.workers) {
    s.busy.push_back(w->counters().busy_polls.get());
    s.idle.push_back(w->counters().idle_polls.get());
  }
  polls_.push_back(std::move(s));
  while (polls_.size() > kPollWindow + 1) polls_.pop_front();
}

void Metrics::count_l7(const FlowRecord& r) {
  const uint32_t key = uint32_t{r.l7.master} << 16 | r.l7.app;
  auto [it, added] = l7_.try_emplace(key);
  L7Count& c = it->second;
  if (added) c.name = names_->name(r.l7.master, r.l7.app);
  c.flows++;
  c.packets += r.pkts[0] + r.pkts[1];
  c.bytes += r.bytes[0] + r.bytes[1];
}

std::vector<MetricFamily> Metrics::families() {
  std::vector<MetricFamily> out;
  const Config& config = *src_.config;
  const auto& workers = *src_.workers;

  {
    MetricFamily f =
        family("loupe_build_info", "Versions of loupe and of the libraries it runs on; always 1.",
               MetricType::Gauge);
    sample(f,
           {{"version", LOUPE_VERSION},
            {"dpdk", version_of(rte_version(), "DPDK")},
            {"ndpi", ndpi_revision()},
            {"hyperscan", version_of(hs_version(), "Hyperscan")},
            {"luajit", version_of(LUAJIT_VERSION, "LuaJIT")}},
           1);
    out.push_back(std::move(f));
    MetricFamily t =
        family("loupe_start_time_seconds",
               "When this loupe process started, seconds since the Unix epoch.", MetricType::Gauge);
    sample(t, {}, start_unix_);
    out.push_back(std::move(t));
  }

  // Input: ports (live) or capture files (offline).
  if (!src_.ports->empty()) {
    MetricFamily pkts = family("loupe_port_received_packets_total",
                               "Packets the port received (DPDK ipackets).", MetricType::Counter);
    MetricFamily bytes = family("loupe_port_received_bytes_total",
                                "Bytes the port received (DPDK ibytes).", MetricType::Counter);
    MetricFamily drops = family(
        "loupe_port_dropped_packets_total",
        "Packets the port dropped, by reason: missed (RX queue full: the workers fell behind), "
        "errors (erroneous frames), no_mbuf (no free buffer in the mempool).",
        MetricType::Counter);
    for (const OpenPort& p : *src_.ports) {
      const PortStats s = port_stats(p.port_id);  // rte_eth_stats_get: safe on the control thread
      sample(pkts, {{"port", p.name}}, static_cast<double>(s.ipackets));
      sample(bytes, {{"port", p.name}}, static_cast<double>(s.ibytes));
      sample(drops, {{"port", p.name}, {"reason", "missed"}}, static_cast<double>(s.imissed));
      sample(drops, {{"port", p.name}, {"reason", "errors"}}, static_cast<double>(s.ierrors));
      sample(drops, {{"port", p.name}, {"reason", "no_mbuf"}}, static_cast<double>(s.rx_nombuf));
    }
    out.push_back(std::move(pkts));
    out.push_back(std::move(bytes));
    out.push_back(std::move(drops));
  }
  if (src_.source != nullptr) {
    const PcapSourceStats& s = src_.source->stats();
    MetricFamily pkts =
        family("loupe_input_packets_total", "Packets read from the capture files (offline).",
               MetricType::Counter);
    sample(pkts, {}, static_cast<double>(s.packets));
    MetricFamily bytes =
        family("loupe_input_bytes_total", "Bytes read from the capture files (offline).",
               MetricType::Counter);
    sample(bytes, {}, static_cast<double>(s.bytes));
    out.push_back(std::move(pkts));
    out.push_back(std::move(bytes));
  }
  if (src_.dispatcher != nullptr) {
    MetricFamily f = family(
        "loupe_dispatcher_dropped_packets_total",
        "Packets the software dispatcher dropped: the worker's input ring was full (live only).",
        MetricType::Counter);
    sample(f, {}, static_cast<double>(src_.dispatcher->ring_drops()));
    out.push_back(std::move(f));
  }

  // Workers: every counter of LOUPE_WORKER_COUNTERS, then derived figures.
  for (const WorkerCounterDesc& d : kWorkerCounterDescs) {
    MetricFamily f = family(std::string("loupe_worker_") + d.name + "_total",
                            std::string("Per worker: ") + d.help + ".", MetricType::Counter);
    for (const auto& w : workers)
      sample(f, {{"worker", worker_label(*w)}},
             static_cast<double>((w->counters().*d.field).get()));
    out.push_back(std::move(f));
  }
  {
    MetricFamily f =
        family("loupe_worker_busy_ratio",
               "Per worker: share of polls that returned packets over the last 10 seconds (1: the "
               "worker never found its queues empty).",
               MetricType::Gauge);
    for (size_t i = 0; i < workers.size(); i++) {
      const WorkerCounters& c = workers[i]->counters();
      double ratio = 0;
      if (!polls_.empty()) {
        const double busy = static_cast<double>(c.busy_polls.get() - polls_.front().busy[i]);
        const double idle = static_cast<double>(c.idle_polls.get() - polls_.front().idle[i]);
        if (busy + idle > 0) ratio = busy / (busy + idle);
      }
      sample(f, {{"worker", worker_label(*workers[i])}}, ratio);
    }
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = family(
        "loupe_malformed_packets_total",
        "Per worker: packets not accounted to a flow, by reason (docs/metrics.md lists them).",
        MetricType::Counter);
    for (const auto& w : workers)
      for (int r = 0; r < static_cast<int>(Malformed::count); r++)
        sample(f, {{"worker", worker_label(*w)}, {"reason", kMalformedNames[r]}},
               static_cast<double>(w->counters().malformed_by[r].get()));
    out.push_back(std::move(f));
  }

  // Arkime sessions: reassembly, HTTP and SMTP, for the workers that have
  // them (built when the first script set registered Arkime callbacks).
  {
    std::vector<const Worker*> with;
    for (const auto& w : workers)
      if (w->sessions() != nullptr) with.push_back(w.get());
    if (!with.empty()) session_families(with, out);
  }

  // Flow tables.
  {
    MetricFamily active =
        family("loupe_flows_active", "Per worker: flows in the flow table.", MetricType::Gauge);
    MetricFamily capacity =
        family("loupe_flow_table_capacity", "Per worker: flows the flow table holds at most.",
               MetricType::Gauge);
    MetricFamily created =
        family("loupe_flows_created_total", "Per worker: flows created.", MetricType::Counter);
    MetricFamily ended = family(
        "loupe_flows_ended_total",
        "Per worker: flows ended, by reason: timeout, tcp_fin, tcp_rst, evicted (table full), "
        "shutdown.",
        MetricType::Counter);
    MetricFamily interim = family("loupe_flow_interim_records_total",
                                  "Per worker: interim records of long flows (active timeout); "
                                  "the flows go on.",
                                  MetricType::Counter);
    for (const auto& w : workers) {
      const FlowTableCounters& c = w->flows().counters();
      const std::string id = worker_label(*w);
      sample(active, {{"worker", id}}, static_cast<double>(c.active.get()));
      sample(capacity, {{"worker", id}}, w->flows().capacity());
      sample(created, {{"worker", id}}, static_cast<double>(c.created.get()));
      for (int r = 0; r < static_cast<int>(EndReason::count); r++) {
        const double v = static_cast<double>(c.ended[r].get());
        if (r == static_cast<int>(EndReason::active_timeout))
          sample(interim, {{"worker", id}}, v);
        else
          sample(ended, {{"worker", id}, {"reason", kEndReasonText[r]}}, v);
      }
    }
    for (MetricFamily* f : {&active, &capacity, &created, &ended, &interim})
      out.push_back(std::move(*f));
    MetricFamily written = family("loupe_flow_records_written_total",
                                  "Flow records written to output.flows (0 when it is off); "
                                  "lost ones are in loupe_worker_record_drops_total.",
                                  MetricType::Counter);
    sample(written, {}, static_cast<double>(src_.records->written()));
    out.push_back(std::move(written));
  }

  // Per L7 protocol, counted from the records of ended flows on the control
  // core: nothing is added to the workers' packet path.
  if (names_ != nullptr) {
    MetricFamily flows = family("loupe_l7_flows_total",
                                "Ended flows by application protocol (nDPI's name, as app_proto "
                                "in flow records).",
                                MetricType::Counter);
    MetricFamily pkts =
        family("loupe_l7_packets_total", "Packets of ended flows by application protocol.",
               MetricType::Counter);
    MetricFamily bytes =
        family("loupe_l7_bytes_total", "Bytes of ended flows by application protocol.",
               MetricType::Counter);
    for (const auto& [key, c] : l7_) {
      sample(flows, {{"protocol", c.name}}, static_cast<double>(c.flows));
      sample(pkts, {{"protocol", c.name}}, static_cast<double>(c.packets));
      sample(bytes, {{"protocol", c.name}}, static_cast<double>(c.bytes));
    }
    out.push_back(std::move(flows));
    out.push_back(std::move(pkts));
    out.push_back(std::move(bytes));
  }

  // Classifiers.
  {
    const ClassifierSets& cs = *src_.classifiers;
    MetricFamily rules =
        family("loupe_classifier_rules", "Rules of the running classifier set.", MetricType::Gauge);
    sample(rules, {}, cs.rules());
    MetricFamily gen = family("loupe_classifier_generation",
                              "Generation of the running classifier set (1 at start, +1 per "
                              "successful reload).",
                              MetricType::Gauge);
    sample(gen, {}, cs.generation());
    out.push_back(std::move(rules));
    out.push_back(std::move(gen));
  }

  // Lua (contract §7.4).
  const ScriptSets& ss = *src_.scripts;
  {
    // Destroyed VMs' counts plus the running VMs'. Worker::scripts() is
    // read here, on the control thread, which alone destroys the VMs
    // workers give back: the VM it returns stays alive while it is read.
    // A VM swapped out but not yet given back is counted in neither for a
    // moment; the export never goes down meanwhile (max with the last one).
    LuaTotals t = ss.retired_totals();
    for (const auto& w : workers)
      if (const WorkerScripts* vm = w->scripts()) t.add(*vm);
    LuaTotals& last = *lua_last_;
    for (auto& [key, s] : t.scripts) {
      LuaTotals::Script& l = last.scripts[key];
      for (int h = 0; h < kHookCount; h++)
        l.calls[h] = s.calls[h] = std::max(s.calls[h], l.calls[h]);
      for (int h = 0; h < kArkimeHookCount; h++)
        l.arkime_calls[h] = s.arkime_calls[h] = std::max(s.arkime_calls[h], l.arkime_calls[h]);
      for (int b = 0; b <= kDurationBuckets; b++)
        l.duration[b] = s.duration[b] = std::max(s.duration[b], l.duration[b]);
      l.seconds = s.seconds = std::max(s.seconds, l.seconds);
      for (int k = 0; k < kErrorKinds; k++)
        l.errors[k] = s.errors[k] = std::max(s.errors[k], l.errors[k]);
      l.overruns = s.overruns = std::max(s.overruns, l.overruns);
      l.hard_stops = s.hard_stops = std::max(s.hard_stops, l.hard_stops);
    }
    last.alerts_sent = t.alerts_sent = std::max(t.alerts_sent, last.alerts_sent);
    last.alerts_dropped = t.alerts_dropped = std::max(t.alerts_dropped, last.alerts_dropped);
    last.log_lines_dropped = t.log_lines_dropped =
        std::max(t.log_lines_dropped, last.log_lines_dropped);

    const Generation* gen = ss.generation().get();
    auto registered = [gen](const std::string& key, int hook) {
      if (gen == nullptr) return false;
      for (const FlowScriptSpec& s : gen->scripts)
        if (s.key == key) return s.active && (s.hooks >> hook & 1) != 0;
      return false;
    };
    MetricFamily calls =
        family("loupe_lua_calls_total",
               "Calls into the Lua VMs, by script and hook (flow hooks in the workers; second, "
               "min, 5mins, hour, day in the control VM).",
               MetricType::Counter);
    MetricFamily errors = family("loupe_lua_errors_total",
                                 "Script errors in the Lua VMs, by script and kind (runtime, "
                                 "api, sandbox, memory, hard_stop, limit).",
                                 MetricType::Counter);
    MetricFamily overruns = family("loupe_lua_budget_overruns_total",
                                   "Calls above lua.budget.worker_call_us of CPU time, by script.",
                                   MetricType::Counter);
    MetricFamily hard = family("loupe_lua_hard_stops_total",
                               "Calls stopped at lua.budget.hard_worker_ms of CPU time, by script.",
                               MetricType::Counter);
    // Control VM scripts (host/, network/, periodic/): hooks by granularity.
    MetricFamily skipped = family("loupe_lua_periodic_skipped_total",
                                  "Hosts or networks a control run skipped at its deadline, or "
                                  "periods a clock jump skipped, by script and granularity.",
                                  MetricType::Counter);
    for (const auto& [key, c] : ss.control_totals()) {
      for (int g = 0; g < kGranularities; g++) {
        if (c.calls[g] != 0) {
          sample(calls, {{"script", key}, {"hook", kGranularityNames[g]}},
                 static_cast<double>(c.calls[g]));
          sample(skipped, {{"script", key}, {"granularity", kGranularityNames[g]}},
                 static_cast<double>(c.skipped[g]));
        }
      }
      for (int k = 0; k < kErrorKinds; k++)
        sample(errors, {{"script", key}, {"kind", kErrorKindNames[k]}},
               static_cast<double>(c.errors[k]));
    }
    out.push_back(std::move(skipped));
    for (const auto& [key, s] : t.scripts) {
      for (int h = 0; h < kHookCount; h++)
        if (s.calls[h] != 0 || registered(key, h))
          sample(calls, {{"script", key}, {"hook", kHookNames[h]}},
                 static_cast<double>(s.calls[h]));
      for (int h = 0; h < kArkimeHookCount; h++)
        if (s.arkime_calls[h] != 0)
          sample(calls, {{"script", key}, {"hook", kArkimeHookNames[h]}},
                 static_cast<double>(s.arkime_calls[h]));
      for (int k = 0; k < kErrorKinds; k++)
        sample(errors, {{"script", key}, {"kind", kErrorKindNames[k]}},
               static_cast<double>(s.errors[k]));
      sample(overruns, {{"script", key}}, static_cast<double>(s.overruns));
      sample(hard, {{"script", key}}, static_cast<double>(s.hard_stops));
    }
    // Call durations, all hooks and workers of a script (TSC time, as the
    // budget measures it).
    MetricFamily durations = family("loupe_lua_call_duration_seconds",
                                    "Duration of calls into the worker VMs, by script.",
                                    MetricType::Histogram);
    for (const auto& [key, s] : t.scripts) {
      ClientMetric m;
      m.label = {{"script", key}};
      uint64_t cumulative = 0;
      for (int b = 0; b < kDurationBuckets; b++) {
        cumulative += s.duration[b];
        ClientMetric::Bucket bucket;
        bucket.upper_bound = kDurationBoundsNs[b] / 1e9;
        bucket.cumulative_count = cumulative;
        m.histogram.bucket.push_back(bucket);
      }
      cumulative += s.duration[kDurationBuckets];
      ClientMetric::Bucket inf;
      inf.upper_bound = std::numeric_limits<double>::infinity();
      inf.cumulative_count = cumulative;
      m.histogram.bucket.push_back(inf);
      m.histogram.sample_count = cumulative;
      m.histogram.sample_sum = s.seconds;
      durations.metric.push_back(std::move(m));
    }
    out.push_back(std::move(durations));
    for (MetricFamily* f : {&calls, &errors, &overruns, &hard}) out.push_back(std::move(*f));

    MetricFamily suspended = family("loupe_lua_script_suspended",
                                    "1 while the script is suspended in every worker (budget "
                                    "overruns, hard stops, memory), by script.",
                                    MetricType::Gauge);
    if (gen != nullptr) {
      const uint64_t bits = gen->health->suspended.load(std::memory_order_relaxed);
      for (const FlowScriptSpec& s : gen->scripts)
        if (s.slot >= 0)
          sample(suspended, {{"script", s.key}}, static_cast<double>(bits >> s.slot & 1));
    }
    out.push_back(std::move(suspended));

    MetricFamily memory =
        family("loupe_lua_memory_bytes", "Memory used by each Lua VM.", MetricType::Gauge);
    MetricFamily limit =
        family("loupe_lua_memory_limit_bytes", "Soft memory cap of each Lua VM (lua.memory_limit).",
               MetricType::Gauge);
    for (const auto& w : workers) {
      if (const WorkerScripts* vm = w->scripts()) {
        const std::string name = "worker" + worker_label(*w);
        sample(memory, {{"vm", name}}, static_cast<double>(vm->memory_used()));
        sample(limit, {{"vm", name}}, static_cast<double>(vm->memory_limit()));
      }
    }
    if (const ControlScripts* control = ss.control()) {
      sample(memory, {{"vm", "control"}}, static_cast<double>(control->memory_bytes()));
      sample(limit, {{"vm", "control"}}, static_cast<double>(control->memory_limit()));
    }
    out.push_back(std::move(memory));
    out.push_back(std::move(limit));

    MetricFamily log = family("loupe_lua_log_lines_dropped_total",
                              "Script log lines dropped over lua.log.lines_per_minute, all "
                              "scripts and workers.",
                              MetricType::Counter);
    sample(log, {}, static_cast<double>(t.log_lines_dropped));
    MetricFamily sent = family("loupe_alerts_sent_total",
                               "Alerts scripts raised and the workers sent to the control core.",
                               MetricType::Counter);
    sample(sent, {}, static_cast<double>(t.alerts_sent));
    MetricFamily dropped = family("loupe_alerts_dropped_total",
                                  "Alerts lost, by reason (ring_full: the worker's alert ring "
                                  "was full, live only).",
                                  MetricType::Counter);
    sample(dropped, {{"reason", "ring_full"}}, static_cast<double>(t.alerts_dropped));
    for (MetricFamily* f : {&log, &sent}) out.push_back(std::move(*f));
    if (src_.alerts != nullptr) {
      const AlertCounters& ac = src_.alerts->counters();
      for (size_t r = 0; r < kAlertDropReasons; r++)
        sample(dropped, {{"reason", alert_drop_name(static_cast<AlertDrop>(r))}},
               static_cast<double>(ac.dropped[r]));
      MetricFamily total = family("loupe_alerts_total",
                                  "Alert records emitted by the pipeline (every lifecycle), by "
                                  "script and severity.",
                                  MetricType::Counter);
      for (const auto& [k, n] : ac.emitted)
        sample(total, {{"script", k.first}, {"severity", severity_name(k.second)}},
               static_cast<double>(n));
      MetricFamily suppressed = family(
          "loupe_alerts_suppressed_total",
          "Alert records merged (dedup) or rate-limited (entity_rate, script_rate).",
          MetricType::Counter);
      for (size_t r = 0; r < kAlertSuppressionReasons; r++)
        sample(suppressed, {{"reason", alert_suppression_name(static_cast<AlertSuppression>(r))}},
               static_cast<double>(ac.suppressed[r]));
      MetricFamily written = family("loupe_alerts_written_total",
                                    "Alert records written, by sink (file, syslog).",
                                    MetricType::Counter);
      MetricFamily failed = family("loupe_alert_sink_failures_total",
                                   "Alert records a sink failed to write, by sink.",
                                   MetricType::Counter);
      for (const AlertSinkCounters& sc : ac.sinks) {
        sample(written, {{"sink", sc.sink}}, static_cast<double>(sc.written));
        sample(failed, {{"sink", sc.sink}}, static_cast<double>(sc.failed));
      }
      for (MetricFamily* f : {&total, &suppressed, &written, &failed}) out.push_back(std::move(*f));
    }
    out.push_back(std::move(dropped));

    if (const HttpClient* http = ss.http()) {
      // ArkimeHttpService (contract 7.4), summed over the VMs' ports.
      uint64_t ok = 0, timeout = 0, connect = 0, truncated = 0, shutdown = 0, refused = 0,
               ring_full = 0, reload = 0, lost = 0;
      for (size_t i = 0; i < http->ports(); i++) {
        const HttpPortCounters& c = http->port(i).counters;
        ok += c.ok.get();
        timeout += c.timeout.get();
        connect += c.connect.get();
        truncated += c.truncated.get();
        shutdown += c.shutdown_client.get() + c.shutdown_vm.get();
        refused += c.refused.get();
        ring_full += c.ring_full.get();
        reload += c.reload.get();
        lost += c.shutdown_lost.get();
      }
      MetricFamily req = family("loupe_lua_async_requests_total",
                                "ArkimeHttpService requests by result: ok, timeout, connect, "
                                "truncated, shutdown (answered at shutdown), refused (maxRequests "
                                "outstanding, or the client stopped).",
                                MetricType::Counter);
      for (const auto& [result, v] : {std::pair<const char*, uint64_t>{"ok", ok},
                                      {"timeout", timeout}, {"connect", connect},
                                      {"truncated", truncated}, {"shutdown", shutdown},
                                      {"refused", refused}})
        sample(req, {{"result", result}}, static_cast<double>(v));
      out.push_back(std::move(req));
      MetricFamily drop = family("loupe_lua_async_dropped_total",
                                 "ArkimeHttpService requests or replies dropped: ring_full (the "
                                 "VM's request ring), reload (a reply for a replaced VM), shutdown "
                                 "(no room for the reply at shutdown).",
                                 MetricType::Counter);
      for (const auto& [reason, v] : {std::pair<const char*, uint64_t>{"ring_full", ring_full},
                                      {"reload", reload}, {"shutdown", lost}})
        sample(drop, {{"reason", reason}}, static_cast<double>(v));
      out.push_back(std::move(drop));
    }
    if (const CacheStore* cache = ss.cache()) {
      const CacheStats cs = cache->stats();
      MetricFamily dropped_w = family("loupe_lua_cache_writes_dropped_total",
                                      "ntop.* cache writes of worker scripts dropped: their "
                                      "worker's write queue (lua.cache.queue_size) was full.",
                                      MetricType::Counter);
      sample(dropped_w, {}, static_cast<double>(ss.cache_writes_dropped()));
      MetricFamily apply = family("loupe_lua_cache_apply_errors_total",
                                  "Queued ntop.* cache writes that failed when applied (wrong "
                                  "type, store full, not an integer).",
                                  MetricType::Counter);
      sample(apply, {}, static_cast<double>(cs.apply_errors));
      MetricFamily keys = family("loupe_lua_cache_keys", "Keys in the ntop.* cache store.",
                                 MetricType::Gauge);
      sample(keys, {}, static_cast<double>(cs.keys));
      MetricFamily bytes = family("loupe_lua_cache_bytes",
                                  "Bytes the ntop.* cache store holds (of lua.cache.max_bytes).",
                                  MetricType::Gauge);
      sample(bytes, {}, static_cast<double>(cs.bytes));
      for (MetricFamily* f : {&dropped_w, &apply, &keys, &bytes}) out.push_back(std::move(*f));
    }
    MetricFamily jit = family("loupe_lua_jit_enabled",
                              "1 when the Lua JIT compiler is on (lua.jit).", MetricType::Gauge);
    sample(jit, {}, config.lua.jit == LuaJit::kOn ? 1 : 0);
    MetricFamily number = family("loupe_lua_generation",
                                 "Generation of the running script set (1 at start, +1 per "
                                 "successful reload).",
                                 MetricType::Gauge);
    sample(number, {}, ss.generation_number());
    out.push_back(std::move(jit));
    out.push_back(std::move(number));
  }

  // The host table and its partials.
  if (src_.hosts != nullptr) {
    const HostTableCounters& hc = src_.hosts->counters();
    MetricFamily hosts = family("loupe_hosts", "Hosts in the host table.", MetricType::Gauge);
    sample(hosts, {}, static_cast<double>(src_.hosts->size()));
    MetricFamily local = family("loupe_hosts_local", "Hosts of the table inside local_networks.",
                                MetricType::Gauge);
    sample(local, {}, static_cast<double>(src_.hosts->local_hosts()));
    MetricFamily evicted = family(
        "loupe_hosts_evicted_total",
        "Hosts that left the table: capacity (hosts.max_hosts reached, least recently seen "
        "first) or idle (hosts.idle_timeout).",
        MetricType::Counter);
    sample(evicted, {{"reason", "capacity"}}, static_cast<double>(hc.evicted_capacity));
    sample(evicted, {{"reason", "idle"}}, static_cast<double>(hc.evicted_idle));
    MetricFamily partial = family(
        "loupe_hosts_partial_dropped_total",
        "Per worker: host traffic the one-second partial could not take, by what (entry: a new "
        "(host, protocol) pair; contact: an unanswered contact).",
        MetricType::Counter);
    MetricFamily late = family("loupe_hosts_late_periods_total",
                               "Per worker: period ends at which the control core had not merged "
                               "the previous partial yet (the worker went on filling it).",
                               MetricType::Counter);
    for (const auto& w : workers) {
      const HostAccounting* acc = w->hosts();
      if (acc == nullptr) continue;
      const std::string id = worker_label(*w);
      sample(partial, {{"worker", id}, {"what", "entry"}},
             static_cast<double>(acc->counters().dropped_entries.get()));
      sample(partial, {{"worker", id}, {"what", "contact"}},
             static_cast<double>(acc->counters().dropped_contacts.get()));
      sample(late, {{"worker", id}}, static_cast<double>(acc->counters().late_periods.get()));
    }
    for (MetricFamily* f : {&hosts, &local, &evicted, &partial, &late}) out.push_back(std::move(*f));
  }

  // Reloads (SIGHUP), of both sets.
  for (const auto& [prefix, what, r] :
       {std::tuple{"loupe_lua_", "script set", &ss.reloads()},
        std::tuple{"loupe_classifier_", "classifier set", &src_.classifiers->reloads()}}) {
    const std::string p = prefix;
    MetricFamily total = family(p + "reloads_total",
                                std::string("Reloads of the ") + what +
                                    ", by result: success, rejected (the running set stays), "
                                    "unchanged.",
                                MetricType::Counter);
    sample(total, {{"result", "success"}}, static_cast<double>(r->success));
    sample(total, {{"result", "rejected"}}, static_cast<double>(r->rejected));
    sample(total, {{"result", "unchanged"}}, static_cast<double>(r->unchanged));
    MetricFamily ok = family(p + "last_reload_successful",
                             std::string("1 when the last reload of the ") + what +
                                 " succeeded (or none was asked for).",
                             MetricType::Gauge);
    sample(ok, {}, r->last_successful ? 1 : 0);
    MetricFamily when = family(p + "last_reload_success_timestamp_seconds",
                               std::string("When the running ") + what +
                                   " was loaded (at start or by a reload), seconds since the Unix "
                                   "epoch; 0: none.",
                               MetricType::Gauge);
    sample(when, {}, r->last_success_unix);
    out.push_back(std::move(total));
    out.push_back(std::move(ok));
    out.push_back(std::move(when));
  }
  return out;
}

}  // namespace loupe
