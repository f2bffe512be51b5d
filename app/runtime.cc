#include "app/runtime.h"

#include <jemalloc/jemalloc.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "app/classifier_sets.h"
#include "app/control_status.h"
#include "app/metrics.h"
#include "app/script_sets.h"
#include "app/summary.h"
#include "config/loader.h"
#include "dpdk/dispatcher.h"
#include "dpdk/eal.h"
#include "dpdk/mbuf_fields.h"
#include "dpdk/pcap_source.h"
#include "dpdk/port.h"
#include "engine/classify/ndpi_detector.h"
#include "engine/control/alert_pipeline.h"
#include "engine/control/record_writer.h"
#include "engine/host/host_table.h"
#include "engine/worker/worker.h"

namespace loupe {
namespace {

constexpr uint32_t kReaderMbufs = 8191;

using Clock = std::chrono::steady_clock;

// Signals are taken synchronously by the control loop through a signalfd;
// they are blocked before EAL starts its threads, so no lcore ever runs a
// handler.
class SignalWatch {
 public:
  SignalWatch() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~SignalWatch() {
    if (fd_ >= 0) close(fd_);
  }
  // The signal number received since the last call, or 0.
  int poll() {
    signalfd_siginfo info;
    if (fd_ >= 0 && read(fd_, &info, sizeof(info)) == sizeof(info))
      return static_cast<int>(info.ssi_signo);
    return 0;
  }

 private:
  int fd_ = -1;
};

uint32_t memory_estimate_mb(const Config& c, bool offline) {
  const uint64_t per_flow = sizeof(Flow) + 128;  // entry + hash bucket share and key copy
  const uint64_t mbuf = RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + 128;
  uint64_t bytes = uint64_t{c.workers.count} * uint64_t{c.flow.capacity} * per_flow;
  bytes += offline ? uint64_t{kReaderMbufs} * mbuf
                   : uint64_t{c.workers.count} * uint64_t{c.dpdk.mbufs_per_worker} * mbuf;
  bytes += uint64_t{c.workers.count} *
           (uint64_t{c.output.ring_size} * kRecordCell + uint64_t{c.workers.ring_size} * 8 +
            (uint64_t{c.classify.metadata_mb} << 20));
  return static_cast<uint32_t>(bytes >> 20) + 128;  // + EAL's own needs
}

rte_ring* make_ring(const std::string& name, uint32_t esize, uint32_t count, int socket) {
  rte_ring* r = rte_ring_create_elem(name.c_str(), esize, count, socket,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
  if (r == nullptr)
    throw std::runtime_error("cannot create ring " + name + ": " + rte_strerror(rte_errno));
  return r;
}

rte_mempool* make_pool(const std::string& name, uint32_t n, uint32_t cache, int socket) {
  rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), n, cache, 0,
                                           RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (p == nullptr)
    throw std::runtime_error("cannot create mempool " + name + " of " + std::to_string(n) +
                             " mbufs: " + rte_strerror(rte_errno));
  return p;
}

int worker_main(void* arg) { return static_cast<Worker*>(arg)->run(); }

class Runtime {
 public:
  Runtime(const Config& config, const RunOptions& options)
      : config_(config), offline_(!options.inputs.empty()), inputs_(options.inputs),
        options_(options) {}

  int run();

 private:
  void start();
  void drain_records();
  void control_loop_offline();
  void control_loop_live();
  void stop_workers();
  // A signal from the control loop: true when it asks to stop.
  bool on_signal(int sig);
  void reload();
  // The Prometheus endpoint, from this (the main lcore's) thread. Offline,
  // an address in use is a warning; live, a start-up error.
  void start_metrics();
  // The control socket (control.socket); a live instance on it is a start-up error.
  void start_control();
  // Every control-loop turn, with the control clock (offline: the reader's,
  // live: wall time): merges the workers' host partials, purges idle hosts
  // once a second, and runs the control scripts' hooks due (§3.5).
  void control_tick(uint64_t now_ns);
  void merge_hosts();
  // After the end of offline input: one extra run of each hooked
  // granularity with params.final = true.
  void final_control_runs();
  InterfaceStats interface_stats() const;

  const Config& config_;
  bool offline_;
  std::vector<std::string> inputs_;
  RunOptions options_;
  SignalWatch signals_;
  std::unique_ptr<ClassifierSets> classifiers_;
  // Before scripts_: the control VM's teardown may still reach them.
  std::unique_ptr<AlertPipeline> alerts_;  // every alert, from workers and the control VM
  std::unique_ptr<HostTable> hosts_;       // null when hosts.enabled is off
  std::unique_ptr<ScriptSets> scripts_;
  ControlSchedule schedule_;               // when control hooks are due
  uint32_t script_number_ = 0;             // the script generation classifiers were built for
  std::vector<rte_ring*> alert_rings_;
  std::vector<rte_ring*> log_rings_;
  EalPlan plan_;
  MbufFields fields_;
  std::vector<rte_mempool*> pools_;
  std::vector<rte_ring*> inputs_rings_;
  std::vector<rte_ring*> outputs_;
  std::vector<OpenPort> ports_;
  std::unique_ptr<PcapSource> source_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<NdpiModule> names_;  // nDPI ids to names, for the records
  std::unique_ptr<RecordWriter> writer_;
  Clock::time_point t0_ = Clock::now();
  std::optional<double> first_packet_ms_;
  int stopped_by_ = 0;
  std::unique_ptr<ControlService> control_;  // reads what Metrics reads
  std::unique_ptr<Metrics> metrics_;  // last: stopped before anything it reads goes
};

void Runtime::start() {
  const uint32_t n = config_.workers.count;
  plan_ = plan_eal(config_, offline_, memory_estimate_mb(config_, offline_));
  init_eal(plan_);
  if (rte_lcore_count() != n + 1)
    throw std::runtime_error("EAL started " + std::to_string(rte_lcore_count()) +
                             " lcores, expected " + std::to_string(n + 1));
  fields_ = MbufFields::register_all();
  // nDPI's names: for the records, and for scripts' L7 gates and names.
  if (config_.classify.ndpi.enabled || config_.lua.enabled)
    names_ = std::make_unique<NdpiModule>(config_.classify.ndpi);
  scripts_ = std::make_unique<ScriptSets>(config_, offline_, names_.get());
  // Lua classifiers compile with the configured rules into one set.
  classifiers_ = std::make_unique<ClassifierSets>(config_, options_.config_path,
                                                  scripts_->classifier_specs());
  script_number_ = scripts_->generation_number();
  writer_ = std::make_unique<RecordWriter>(
      config_.output.flows, config_.classify.ndpi.enabled ? names_.get() : nullptr);

  const int socket = static_cast<int>(rte_socket_id());
  bool need_dispatch = offline_;
  if (offline_) {
    pools_.push_back(make_pool("reader", kReaderMbufs, config_.dpdk.mbuf_cache, socket));
    source_ = std::make_unique<PcapSource>(inputs_, pools_[0], fields_);
  } else {
    if (config_.ports.empty())
      throw std::runtime_error("no input: give -r FILE|DIR, or configure ports: in the config");
    for (uint32_t i = 0; i < n; i++)
      pools_.push_back(make_pool("rx_w" + std::to_string(i), config_.dpdk.mbufs_per_worker,
                                 config_.dpdk.mbuf_cache, socket));
    ports_ = open_ports(config_, pools_);
    for (const OpenPort& p : ports_) need_dispatch |= p.dispatched;
  }
  if (need_dispatch) {
    for (uint32_t i = 0; i < n; i++)
      inputs_rings_.push_back(make_ring("in_w" + std::to_string(i), sizeof(void*),
                                        config_.workers.ring_size, socket));
    dispatcher_ = std::make_unique<Dispatcher>(inputs_rings_, offline_, config_.workers.burst);
  }
  for (uint32_t i = 0; i < n; i++) {
    outputs_.push_back(make_ring("out_w" + std::to_string(i), kRecordCell,
                                 config_.output.ring_size, socket));
    WorkerSetup s;
    s.id = i;
    s.socket = socket;
    s.offline = offline_;
    s.yield_when_idle = plan_.shared_cpus;
    s.input = need_dispatch ? inputs_rings_[i] : nullptr;
    for (const OpenPort& p : ports_)
      if (!p.dispatched) s.queues.push_back({p.port_id, static_cast<uint16_t>(i)});
    s.output = outputs_[i];
    if (scripts_->active()) {
      alert_rings_.push_back(make_ring("alerts_w" + std::to_string(i), sizeof(AlertRecord),
                                       config_.alerts.ring_size, socket));
      log_rings_.push_back(make_ring("log_w" + std::to_string(i), sizeof(LogLine), 1024, socket));
      s.alerts = alert_rings_.back();
      s.log = log_rings_.back();
    }
    s.fields = fields_;
    s.classifiers = classifiers_->initial_handle();
    s.sessions = scripts_->needs_sessions();
    workers_.push_back(std::make_unique<Worker>(config_, std::move(s)));
  }
  alerts_ = std::make_unique<AlertPipeline>(
      config_.alerts, config_.classify.ndpi.enabled ? names_.get() : nullptr);
  if (config_.hosts.enabled)
    hosts_ = std::make_unique<HostTable>(config_.hosts, config_.local_networks);
  ControlServices& services = scripts_->control_services();
  services.interfaces.clear();
  if (offline_) {
    services.interfaces.push_back("pcap");
  } else {
    for (const PortConfig& p : config_.ports) services.interfaces.push_back(p.name);
  }
  services.interface_stats = [this] { return interface_stats(); };
  scripts_->attach(workers_, alert_rings_, log_rings_, alerts_.get(), hosts_.get());
  if (config_.metrics.enabled && (!offline_ || config_.metrics.offline)) start_metrics();
  if (config_.control.enabled && (!offline_ || config_.control.offline)) start_control();
  uint32_t i = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    rte_eal_remote_launch(worker_main, workers_[i++].get(), lcore);
  }
}

void Runtime::start_metrics() {
  MetricsSources src;
  src.config = &config_;
  src.workers = &workers_;
  src.ports = &ports_;
  src.source = source_.get();
  src.dispatcher = dispatcher_.get();
  src.records = writer_.get();
  src.scripts = scripts_.get();
  src.classifiers = classifiers_.get();
  src.names = config_.classify.ndpi.enabled ? names_.get() : nullptr;
  src.alerts = alerts_.get();
  src.hosts = hosts_.get();
  try {
    metrics_ = std::make_unique<Metrics>(config_.metrics, src);
  } catch (const MetricsListenError& e) {
    if (!offline_) throw;
    std::fprintf(stderr, "loupe: warning: %s; reading the capture without metrics\n", e.what());
    return;
  }
  std::fprintf(stderr, "loupe: metrics: %s\n", metrics_->url().c_str());
}

void Runtime::start_control() {
  MetricsSources src;
  src.config = &config_;
  src.workers = &workers_;
  src.ports = &ports_;
  src.source = source_.get();
  src.dispatcher = dispatcher_.get();
  src.records = writer_.get();
  src.scripts = scripts_.get();
  src.classifiers = classifiers_.get();
  // Lifting a quarantine builds the script set again, as SIGHUP does.
  control_ = std::make_unique<ControlService>(config_, src, [this] { reload(); });
  std::fprintf(stderr, "loupe: control socket: %s\n", control_->path().c_str());
}

void Runtime::merge_hosts() {
  for (auto& w : workers_) {
    HostAccounting* acc = w->hosts();
    if (acc == nullptr) continue;
    HostPartial* p = acc->mailbox().take();
    if (p == nullptr) continue;
    if (hosts_) hosts_->merge(*p);
    p->clear();
    acc->mailbox().give_back(p);
  }
}

void Runtime::control_tick(uint64_t now_ns) {
  merge_hosts();
  if (scripts_->generation_number() != script_number_) {
    // A new script generation: its Lua classifiers join the rule set.
    script_number_ = scripts_->generation_number();
    classifiers_->set_script_rules(scripts_->classifier_specs());
  }
  scripts_->tick_cache(now_ns);
  const uint64_t before = schedule_.last();
  const std::vector<ControlSchedule::Due> due = schedule_.advance(now_ns / 1'000'000'000ULL);
  if (schedule_.last() != before && hosts_) hosts_->expire(now_ns);
  const uint8_t hooked = scripts_->control_granularities();
  for (const ControlSchedule::Due& d : due)
    if (hooked & (1u << static_cast<int>(d.granularity)))
      scripts_->run_control(d.granularity, d.when, false);
}

void Runtime::final_control_runs() {
  merge_hosts();
  const uint8_t hooked = scripts_->control_granularities();
  for (int g = 0; g < kGranularities; g++) {
    if (!(hooked & (1u << g))) continue;
    const Granularity gr = static_cast<Granularity>(g);
    scripts_->run_control(gr, schedule_.aligned(gr), true);
  }
  alerts_->flush();
}

InterfaceStats Runtime::interface_stats() const {
  InterfaceStats s;
  s.epoch = schedule_.last();
  for (const auto& w : workers_) {
    const WorkerCounters& c = w->counters();
    const FlowTableCounters& f = w->flows().counters();
    InterfaceStats::Worker ws;
    ws.packets = c.rx_packets.get();
    ws.bytes = c.rx_bytes.get();
    ws.flows = f.active.get();
    ws.drops = c.record_drops.get();
    const double busy = static_cast<double>(c.busy_polls.get());
    const double all = busy + static_cast<double>(c.idle_polls.get());
    ws.busy_ratio = all > 0 ? busy / all : 0;
    s.packets += ws.packets;
    s.bytes += ws.bytes;
    s.malformed += c.malformed.get();
    s.flows += ws.flows;
    s.new_flows += f.created.get();
    s.workers.push_back(ws);
  }
  if (dispatcher_) s.drops_ring_full = dispatcher_->ring_drops();
  return s;
}

void Runtime::drain_records() {
  // A record's cells were enqueued in one bulk: once its first two are
  // visible, its metadata cells are too.
  FlowRecord rec;
  alignas(8) uint8_t meta[kMaxMetaCells * kRecordCell];
  for (rte_ring* r : outputs_) {
    for (;;) {
      if (rte_ring_sc_dequeue_bulk_elem(r, &rec, kRecordCell, kRecordCells, nullptr) == 0) break;
      MetaView view;
      if (rec.meta_cells != 0) {
        rte_ring_sc_dequeue_bulk_elem(r, meta, kRecordCell, rec.meta_cells, nullptr);
        uint16_t len;
        std::memcpy(&len, meta, 2);
        view = MetaView(meta + 2, len);
      }
      writer_->write(rec, view);
      if (metrics_) metrics_->count_record(rec);
    }
  }
}

bool Runtime::on_signal(int sig) {
  if (sig == SIGUSR1) {
    // logrotate: every line written so far is in the old file.
    drain_records();
    writer_->flush();
    const bool ok = writer_->reopen() && scripts_->reopen_alerts();  // the alert pipeline's sinks
    std::fprintf(stderr, "loupe: SIGUSR1: output files %s\n",
                 ok ? "reopened" : "could not be reopened; writing goes on in the old ones");
    return false;
  }
  if (sig != SIGHUP) {
    stopped_by_ = sig;
    return true;
  }
  reload();
  return false;
}

void Runtime::reload() {
  std::fprintf(stderr, "loupe: SIGHUP: reloading %s\n", options_.config_path.c_str());
  const LoadResult loaded = load_config(options_.config_path, options_.overrides);
  if (!loaded.config) {
    std::fprintf(stderr, "loupe: reload rejected, the running configuration stays:\n");
    for (const ConfigError& e : loaded.errors)
      std::fprintf(stderr, "  %s\n", to_string(e).c_str());
    return;
  }
  Config next = *loaded.config;
  next.classifiers = config_.classifiers;
  next.classify.classifiers = config_.classify.classifiers;
  next.lua = config_.lua;
  next.local_networks = config_.local_networks;
  if (!(next == config_))
    std::fprintf(stderr,
                 "loupe: reload: classifiers and scripts are reloaded; the other changes take "
                 "effect at the next start\n");
  classifiers_->reload(*loaded.config);
  scripts_->reload(*loaded.config);
}

void Runtime::stop_workers() {
  for (auto& w : workers_) w->request_stop();
  for (;;) {
    drain_records();
    scripts_->poll(workers_);  // offline, workers wait on a full alert ring
    merge_hosts();             // each worker hands over its last partial before done()
    bool all = true;
    for (auto& w : workers_) all &= w->done();
    if (all) break;
    std::this_thread::yield();
  }
  rte_eal_mp_wait_lcore();
  drain_records();
  writer_->flush();
  scripts_->poll(workers_);  // the last flow alerts, before the control runs read them
  if (offline_) final_control_runs();
  classifiers_->shutdown(workers_);
  scripts_->shutdown(workers_);
}

void Runtime::control_loop_offline() {
  rte_mbuf* pkts[FlowTable::kMaxBurst];
  const uint32_t burst = std::min<uint32_t>(config_.workers.burst, FlowTable::kMaxBurst);
  bool reading = true;
  while (reading || dispatcher_->pending()) {
    if (int sig = signals_.poll(); sig != 0 && on_signal(sig))
      reading = false;  // what is read is finished; nothing more is read
    classifiers_->poll(workers_);
    scripts_->poll(workers_);
    control_tick(source_->clock_ns());
    if (metrics_) metrics_->poll();
    if (control_) control_->poll();
    bool progressed = false;
    if (dispatcher_->pending()) {
      progressed = dispatcher_->flush();
    } else if (reading) {
      const uint32_t n = source_->read_burst(pkts, burst);
      if (n > 0) {
        if (!first_packet_ms_)
          first_packet_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
        if (source_->take_clock_reset()) dispatcher_->reset(source_->clock_reset_ns());
        dispatcher_->dispatch(pkts, n, source_->clock_ns());
        progressed = true;
      } else if (source_->eof()) {
        reading = false;
      }
    }
    drain_records();
    // Waiting for the workers (rings full, mempool empty): sleep rather
    // than spin; offline nothing is lost by it.
    if (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

void Runtime::control_loop_live() {
  rte_mbuf* pkts[FlowTable::kMaxBurst];
  const uint16_t burst =
      static_cast<uint16_t>(std::min<uint32_t>(config_.workers.burst, FlowTable::kMaxBurst));
  std::fprintf(stderr, "loupe: capturing on %zu port(s) with %u worker(s); SIGINT/SIGTERM stops, SIGHUP reloads, SIGUSR1 reopens outputs\n",
               ports_.size(), config_.workers.count);
  for (;;) {
    if (int sig = signals_.poll(); sig != 0 && on_signal(sig)) break;
    classifiers_->poll(workers_);
    scripts_->poll(workers_);
    control_tick(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()));
    if (metrics_) metrics_->poll();
    if (control_) control_->poll();
    bool progressed = false;
    for (const OpenPort& p : ports_) {
      if (!p.dispatched) continue;
      const uint16_t n = rte_eth_rx_burst(p.port_id, 0, pkts, burst);
      if (n == 0) continue;
      dispatcher_->dispatch(pkts, n, 0);
      progressed = true;
    }
    drain_records();
    if (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

int Runtime::run() {
  {
    DpdkLogCapture dpdk_log;
    try {
      start();
    } catch (const std::exception& e) {
      // loupe's line first; what DPDK said, indented, after it.
      std::fprintf(stderr, "loupe: %s\n", e.what());
      std::string detail = dpdk_log.release();
      for (size_t at = 0; at < detail.size();) {
        const size_t nl = detail.find('\n', at);
        const size_t end = nl == std::string::npos ? detail.size() : nl;
        std::fprintf(stderr, "  dpdk: %s\n", detail.substr(at, end - at).c_str());
        at = end + 1;
      }
      return 1;
    }
  }
  const double startup_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
  if (offline_)
    control_loop_offline();
  else
    control_loop_live();
  stop_workers();

  SummaryInput in;
  in.workers = &workers_;
  in.ports = &ports_;
  in.source = source_.get();
  in.dispatcher_drops = dispatcher_ ? dispatcher_->ring_drops() : 0;
  in.records_written = writer_->written();
  in.scripts = scripts_->active();
  for (const AlertSinkCounters& sink : alerts_->counters().sinks)
    if (sink.sink == "file") in.alerts_written = sink.written;
  in.startup_ms = startup_ms;
  in.first_packet_ms = first_packet_ms_.value_or(-1);
  in.eal_memory_mb = plan_.memory_mb;
  in.stopped_by = stopped_by_;
  if (source_)
    for (const std::string& e : source_->stats().errors) std::fprintf(stderr, "loupe: %s\n", e.c_str());
  if (config_.output.summary) print_summary(stderr, in);
  if (config_.output.jemalloc_stats) malloc_stats_print(nullptr, nullptr, nullptr);

  const bool input_errors = source_ && !source_->stats().errors.empty();
  control_.reset();
  metrics_.reset();
  workers_.clear();
  close_ports(ports_);
  source_.reset();
  cleanup_eal();
  return input_errors ? 2 : 0;
}

}  // namespace

int run(const Config& config, const RunOptions& options) {
  Runtime rt(config, options);
  return rt.run();
}

}  // namespace loupe
