// One Worker per worker lcore. It owns everything of its core: its inputs
// (RX queue i of every port, or its ring from the software dispatcher), the
// decoder and fragment tracker, the flow table, its counters, and the
// producer end of its output ring to the control core. Built on the main
// lcore at start (so all its memory exists before the first packet), then run
// to completion on its lcore; only that lcore touches it until done().
#pragma once

#include <atomic>
#include <memory>
#include <cstdint>
#include <vector>

#include "config/config.h"
#include "dpdk/mbuf_fields.h"
#include "engine/classify/classifier_db.h"
#include "engine/classify/meta_pool.h"
#include "engine/classify/ndpi_detector.h"
#include "engine/decode/decoder.h"
#include "engine/flow/flow_record.h"
#include "engine/flow/flow_table.h"
#include "engine/host/host_accounting.h"
#include "engine/worker/handover.h"
#include "engine/worker/held_saves.h"
#include "engine/worker/sessions.h"
#include "engine/worker/worker_counters.h"
#include "lua/flow_view.h"

struct rte_ring;
namespace loupe {
class WorkerScripts;
}
struct rte_mbuf;

namespace loupe {

struct RxQueue {
  uint16_t port;
  uint16_t queue;
};

// Entries of a dispatcher -> worker ring are mbuf pointers or clock ticks:
// a tick carries the reader's clock (ns) shifted left by two with bit 0 set,
// which no mbuf pointer has. A tick with bit 1 set too is a clock reset: the
// capture's time went backwards (a directory whose files are not in time
// order), so every open flow ends and time starts again from there.
inline void* make_tick(uint64_t ns) { return reinterpret_cast<void*>((ns << 2) | 1); }
inline void* make_reset(uint64_t ns) { return reinterpret_cast<void*>((ns << 2) | 3); }
inline bool is_tick(const void* p) { return reinterpret_cast<uintptr_t>(p) & 1; }
inline bool is_reset(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3) == 3; }
inline uint64_t tick_ns(const void* p) { return reinterpret_cast<uintptr_t>(p) >> 2; }

// A classifier rule set as one worker holds it: the shared compiled set and
// this worker's own scratch (made on the control core). Empty: no rules.
struct ClassifierHandle {
  std::shared_ptr<const ClassifierDb> db;
  hs_scratch_t* scratch = nullptr;
};

struct WorkerSetup {
  uint32_t id = 0;
  int socket = 0;
  bool offline = false;          // capture clock from the input; never drop records
  bool yield_when_idle = false;  // lcores share CPUs: give the CPU away when idle
  rte_ring* input = nullptr;     // from the dispatcher, or null
  std::vector<RxQueue> queues;   // polled directly
  rte_ring* output = nullptr;    // FlowRecord elements to the control core (SPSC)
  MbufFields fields;
  bool profile = false;          // count TSC cycles per stage (benchmarks)
  ClassifierHandle classifiers;  // the rule set at start
  rte_ring* alerts = nullptr;    // AlertRecord elements to the control core (SPSC)
  rte_ring* log = nullptr;       // LogLine elements: scripts' print/io.write
  bool sessions = false;         // Arkime scripts: reassembly, HTTP and SMTP sessions
};

// A line a script printed, as it travels to the control core's log.
struct LogLine {
  uint16_t len;
  char text[254];
};

// Cycles spent per stage of process_burst(), when profiling. Stages not
// built yet (classification, scripts) are added here as they land.
struct StageCycles {
  uint64_t decode = 0;    // decode, fragment tracking, flow key and hash
  uint64_t flow = 0;      // burst lookup, create, per-packet accounting
  uint64_t classify = 0;  // nDPI
  uint64_t timers = 0;    // timer wheel
};

class Worker final : public FlowSink {
 public:
  friend class WorkerSessions;
  Worker(const Config& config, WorkerSetup setup);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The lcore entry point: polls until asked to stop, then ends every open
  // flow with reason "shutdown" and marks itself done.
  int run();

  // Control core side. Offline, stop means "when your input ring is empty";
  // live, it means now.
  void request_stop() { stop_.store(true, std::memory_order_release); }
  bool done() const { return done_.load(std::memory_order_acquire); }

  // Control core: a new classifier set, or a new generation of scripts
  // (null: run none), taken at the worker's next burst boundary (a pointer
  // exchange; no packet waits). What it replaces comes back through the same
  // handover and is freed on the control core (a script VM's teardown runs
  // there).
  Handover<ClassifierHandle>& classifier_handover() { return cls_handover_; }
  Handover<std::unique_ptr<WorkerScripts>>& scripts_handover() { return scripts_handover_; }
  // Before the worker runs (control side): the scripts it starts with, built
  // for flows().slots() flow indices.
  void adopt_scripts(std::unique_ptr<WorkerScripts> scripts);
  // The scripts in use (control side: read-only counters).
  const WorkerScripts* scripts() const { return scripts_.get(); }
  uint64_t alerts_dropped() const { return alert_sink_.dropped.get(); }

  uint32_t id() const { return setup_.id; }
  const WorkerCounters& counters() const { return counters_; }
  const StageCycles& stage_cycles() const { return stages_; }
  const FlowTable& flows() const { return table_; }
  const NdpiDetector* ndpi() const { return ndpi_.get(); }
  const MetaPool& meta_pool() const { return meta_pool_; }
  const WorkerSessions* sessions() const { return sessions_.get(); }
  // The host partials (null when hosts.enabled is off): the control core
  // merges what the mailbox hands over.
  HostAccounting* hosts() { return hosts_.get(); }
  const HostAccounting* hosts() const { return hosts_.get(); }

  // A final record whose save waits for scripts' outstanding operations
  // holds the entry (FlowSink): finished when they are done or
  // lua.http.max_outstanding_ms of wall time passed.
  bool on_flow_record(Flow& flow, EndReason reason) override;
  // Scripts' periodicUpdate for flows that send nothing: the wheel wakes them.
  uint64_t next_timer_ns(const Flow& flow) const override;
  void on_flow_timer(Flow& flow, uint64_t now_ns) override;
  void arm_script_timer(uint32_t idx, uint64_t now_ns);
  static bool has_periodic(const WorkerScripts* s);
  // The classifier set in use (for tests and the summary).
  const ClassifierDb* classifiers() const { return cls_.db.get(); }

  // Decodes and accounts a burst of packets; the caller frees them. Offline,
  // time and wire length come from the mbufs' fields; live, from the
  // arguments. Public so benchmarks and tests drive the real pipeline.
  template <bool kOffline>
  void process_burst(rte_mbuf* const* pkts, uint32_t n, uint64_t live_now_ns);
  // Offline: advances the capture clock and runs the timers.
  void advance_clock(uint64_t ns);
  // Offline: time went backwards; ends every open flow and restarts the clock.
  void reset_clock(uint64_t ns);

 private:
  template <bool kOffline>
  void loop();
  uint64_t tsc_now_ns() const;
  // L7 inspection of one packet of flow `idx`: nDPI while its detection
  // runs, DNS answers, classifiers on the first payload of each side.
  void inspect(uint32_t idx, const Decoded& d, const uint8_t* ip, uint16_t ip_len,
               uint64_t ts_ns, uint8_t side);
  void run_classifiers(uint32_t idx, Flow& f, const Decoded& d, const uint8_t* payload,
                       uint8_t side, uint64_t ts_ns);
  void swap_classifiers();
  void swap_scripts();
  FlowView view(const Flow& f) const;

  // The worker's ends of its alert and log rings.
  struct RingAlertSink final : AlertSink {
    rte_ring* ring = nullptr;
    bool wait = false;  // offline: wait for room, lose nothing
    Counter dropped;    // read by the control core
    bool push(const AlertRecord& r) override;
  };
  struct RingLogSink final : LogSink {
    rte_ring* ring = nullptr;
    Counter dropped;
    void write(std::string_view line) override;
  };
  void run_ndpi(uint32_t idx, Flow& f, const uint8_t* ip, uint16_t ip_len, uint64_t ts_ns,
                uint8_t proto);
  // Appends the entries built in meta_ to the flow's blob (counted when dropped).
  void store_meta(Flow& f);
  // At a flow's final record: the tags and fields its scripts added.
  void export_script_values(Flow& f, uint32_t idx);
  // The end of a flow's final record: save(final), its scripts' values,
  // the record itself.
  void finish_flow(Flow& f, EndReason reason);
  void write_record(Flow& f, EndReason reason);
  // Held final saves: those released by decr_outstanding() or past their
  // deadline are finished (each poll while some are held); all of them
  // before the scripts that hold them are replaced.
  void check_held_saves();
  void release_held(const HeldSaves::Entry& e);
  void release_all_held();

  const Config& config_;
  WorkerSetup setup_;
  Decoder decoder_;
  FragmentTracker fragments_;
  FlowTable table_;
  std::unique_ptr<NdpiDetector> ndpi_;   // null when classify.ndpi.enabled is off
  ClassifierHandle cls_;                 // payload-prefix classifiers (db null: none)
  Handover<ClassifierHandle> cls_handover_;
  bool inspect_ = false;                 // nDPI or classifiers: packets go to inspect()
  std::unique_ptr<WorkerScripts> scripts_;
  Handover<std::unique_ptr<WorkerScripts>> scripts_handover_;
  bool script_periodic_ = false;  // some script has periodicUpdate: flows get timers
  RingAlertSink alert_sink_;
  RingLogSink log_sink_;
  LocalNetworks local_nets_;             // local_networks, for the host partials
  std::unique_ptr<HostAccounting> hosts_;
  std::unique_ptr<WorkerSessions> sessions_;  // null without Arkime scripts at start
  HeldSaves held_saves_;
  uint64_t hold_ns_;  // lua.http.max_outstanding_ms
  MetaPool meta_pool_;                   // metadata blobs of live flows
  uint8_t meta_buf_[kMetaMaxBytes];      // scratch for the entries of one packet
  MetaBuilder meta_{meta_buf_};
  // A record and its metadata, as ring cells.
  alignas(64) uint8_t record_cells_[kRecordCell * (kRecordCells + kMaxMetaCells)];
  WorkerCounters counters_;
  StageCycles stages_;
  uint64_t clock_ns_ = 0;
  bool block_on_full_;
  uint64_t tsc0_;
  uint64_t epoch0_ns_;
  double ns_per_tsc_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
};

}  // namespace loupe
