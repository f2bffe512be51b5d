// The flow scripts of one worker: its VM (built from a Generation on the
// control side, then handed to the worker), the per-flow script state for
// every flow-table index, and the event API the worker calls (contract
// §3.2, §3.3, §6.4). Every event first tests the flow's subscription mask in
// C++; an event no script subscribes to costs a bit test and never enters
// the VM. Once handed over, only the worker's thread calls these methods,
// except the destructor (teardown, on the control side) and the read-only
// counters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/counter.h"
#include "engine/stream/body_feed.h"
#include "lua/arkime_session.h"
#include "lua/cache_store.h"
#include "lua/http_client.h"
#include "lua/flow_view.h"
#include "lua/generation.h"

namespace loupe {

class ScriptHost;
struct CallWatch;

// Per script (index in the generation), written by the worker, read by the
// control side (metrics, the supervisor).
// loupe_lua_call_duration_seconds (contract §7.4: 25 ns to 100 ms): upper
// bounds of the buckets, powers of 4 from 25 ns; the last bucket is +Inf.
inline constexpr int kDurationBuckets = 12;
inline constexpr double kDurationBoundsNs[kDurationBuckets] = {
    25, 100, 400, 1600, 6400, 25600, 102400, 409600, 1638400, 6553600, 26214400, 104857600};

struct ScriptStats {
  Counter calls[kHookCount];
  Counter arkime_calls[kArkimeHookCount];  // Arkime callbacks, by ArkimeHook
  Counter errors[kErrorKinds];
  Counter overruns;  // calls above lua.budget.worker_call_us of CPU time
  Counter hard_stops;
  Counter memory_stops;  // memory errors that left the VM above its limit
  Counter ticks;         // TSC ticks spent in calls
  Counter duration[kDurationBuckets + 1];  // calls by duration bucket (not cumulative)
  Counter max_call_ns;   // longest call past the budget, CPU time (ns)
};

// A worker's side of the ntop.* cache store (contract §4.4.3): its reader
// of the published snapshots and its write queue, shared by the VMs the
// worker runs one after the other.
struct WorkerCache {
  CacheStore* store = nullptr;  // used directly while a VM loads or unloads
  CacheReader* reader = nullptr;
  CacheWriteQueue* queue = nullptr;
  HttpPort* http = nullptr;  // ArkimeHttpService requests and replies (lua/http_client.h)
};

class WorkerScripts {
 public:
  ~WorkerScripts();
  WorkerScripts(const WorkerScripts&) = delete;
  WorkerScripts& operator=(const WorkerScripts&) = delete;

  // -- Flow events. `idx` is the flow's index in the worker's flow table,
  // `now_ns` the packet time of the event (or the timer's due time).

  // The packet that created the flow (counters already include it). Marks
  // the flow as born under this generation even when no script has
  // flowBegin: that is what makes protocolDetected owed to it.
  void on_flow_begin(uint32_t idx, const FlowView& v, uint64_t now_ns) {
    if (any_) flow_begin(idx, v, now_ns);
  }
  // Detection completed or gave up; at most once per flow.
  void on_protocol_detected(uint32_t idx, const FlowView& v, uint64_t now_ns) {
    if (any_) protocol_detected(idx, v, now_ns);
  }
  // Every packet of a flow (after nDPI): statusChanged when the risk set or
  // score rose, periodicUpdate when due, handshake gate completion.
  void on_packet(uint32_t idx, const FlowView& v, uint64_t now_ns) {
    if (wants_packet(idx)) packet(idx, v, now_ns);
  }
  // The flow ends (any reason, eviction included): protocolDetected if still
  // owed, then flowEnd. Tags and fields stay readable until forget_flow().
  void on_flow_end(uint32_t idx, const FlowView& v, uint64_t now_ns) {
    if (any_) flow_end(idx, v, now_ns);
  }
  // After the flow's record is written: frees what scripts kept for the
  // flow. Must be called for every ended flow whose index may be reused.
  void forget_flow(uint32_t idx) {
    if (flows_[idx].gen != 0) forget(idx);
  }

  // -- Arkime session scripts (contract §5, §3.2, §3.4). Each method tests
  // in C++ first: without a registration of its kind nothing enters the
  // VM. `dir` is 0 for client to server. Calls for a flow whose final save
  // has returned are ignored until forget_flow().

  // Lua classifier `classifier` (index in generation().arkime_classifiers)
  // matched the first payload of direction `dir`: its callback receives the
  // whole payload. After the classify calls of a payload the engine passes
  // that same payload to on_stream_data() if wants_stream() is then true
  // (the parsers a classify callback registered receive it there), then
  // every later chunk of the flow.
  void on_arkime_classify(uint32_t idx, const FlowView& v, uint32_t classifier,
                          const uint8_t* payload, uint32_t len, uint8_t dir, uint64_t now_ns) {
    if (classifier < arkime_classifiers_)
      arkime_classify(idx, v, classifier, payload, len, dir, now_ns);
  }
  // The flow has a parser in this VM: the engine must reassemble its TCP
  // stream (each UDP datagram is a chunk) and call on_stream_data().
  bool wants_stream(uint32_t idx) const { return arkime_ != nullptr && arkime_[idx].parsers != 0; }
  // In-order stream bytes of direction `dir`; `gap` when bytes are missing
  // right before them. Each parser returning -1 or raising stops for the flow.
  void on_stream_data(uint32_t idx, const FlowView& v, uint8_t dir, const uint8_t* data,
                      uint32_t len, bool gap, uint64_t now_ns) {
    if (wants_stream(idx)) arkime_stream(idx, v, dir, data, len, gap, now_ns);
  }
  // Generation-wide: some http_on callback, some body feed of `feed`.
  bool wants_http_events() const { return arkime_http_ != 0; }
  bool wants_body(BodyFeed feed) const { return (arkime_body_ >> static_cast<int>(feed)) & 1; }
  // One HTTP parser event (HttpEvent value; `data` null passes nil). The
  // callbacks receive `data` as a borrowed ArkimeData, stale once each
  // returns. A callback that returned -1 or raised is stopped for the flow.
  void on_http_event(uint32_t idx, const FlowView& v, uint8_t dir, uint8_t event,
                     const uint8_t* data, uint32_t len, uint64_t now_ns) {
    if (event >= 1 && event <= 8 && ((arkime_http_ >> (event - 1)) & 1))
      arkime_http(idx, v, dir, event, data, len, now_ns);
  }
  // One body chunk of `feed` (BodyFeed value), borrowed as for HTTP events.
  void on_body(uint32_t idx, const FlowView& v, uint8_t feed, uint8_t dir, const uint8_t* data,
               uint32_t len, uint64_t now_ns) {
    if (feed < 2 && ((arkime_body_ >> feed) & 1)) arkime_feed(idx, v, feed, dir, data, len, now_ns);
  }
  // Pre-save, then save callbacks of a record: `final` false for interim
  // records, true once when the flow ends, after on_flow_end() and before
  // forget_flow(). Between the final pre-save and save the engine may hold
  // the flow while outstanding() > 0 (hold()). After the final save the
  // flow's sessions, parsers and session tables are gone; its tags, fields
  // and protocols stay for the record until forget_flow().
  void on_pre_save(uint32_t idx, const FlowView& v, bool final, uint64_t now_ns) {
    if (arkime_ != nullptr) arkime_pre_save(idx, v, final, now_ns);
  }
  void on_save(uint32_t idx, const FlowView& v, bool final, uint64_t now_ns) {
    if (arkime_ != nullptr) arkime_save(idx, v, final, now_ns);
  }
  // incr_outstanding minus decr_outstanding of the flow's sessions.
  uint16_t outstanding(uint32_t idx) const { return arkime_ ? arkime_[idx].outstanding : 0; }
  // The engine holds the flow's final save until outstanding() is 0 (or its
  // deadline): a decr_outstanding() reaching 0 then counts as a release.
  void hold(uint32_t idx) { arkime_[idx].flags |= ArkimeFlow::kHeld; }
  // Whether some held flow reached 0 since the last call.
  bool take_released();

  // Whether on_packet would do anything: lets the worker skip building the
  // FlowView. The other events are rare enough to build it always.
  bool wants_packet(uint32_t idx) const {
    if (!packet_any_) return false;
    const FlowScripts& e = flows_[idx];
    return e.gen != number_ || (e.mask & packet_mask_ & ~suspended_) != 0 ||
           (e.flags & FlowScripts::kTwhPending) != 0;
  }
  bool active() const { return any_ != 0; }
  // Packet time at which the flow's next periodicUpdate is due (UINT64_MAX
  // when none): a worker may arm a timer for it so that idle flows get
  // theirs too, and call on_packet() when it fires.
  uint64_t periodic_due_ns(uint32_t idx, uint64_t first_ns) const {
    const FlowScripts& e = flows_[idx];
    if (e.gen != number_ || e.periodic_next == UINT32_MAX) return UINT64_MAX;
    return first_ns + uint64_t{e.periodic_next} * 1'000'000'000u;
  }

  // -- Burst boundary (outside any call): memory collection past 70% of the
  // cap, suspensions published by the control side, the CPU-clock sample
  // that corrects budget timing for time off the CPU.
  void on_burst_end();
  // ArkimeHttpService replies (contract §3.7): at the start of a poll
  // iteration, at most `max` callbacks; two atomic loads when none waits.
  void deliver_async(size_t max) {
    if (http_port_ != nullptr && http_port_->has_work()) deliver_replies(max);
  }
  // Idle polls and clock ticks: a reader that never refreshes would keep
  // every snapshot published since alive.
  void refresh_cache() {
    if (cache_.reader != nullptr) cache_.reader->refresh();
  }
  // Once, on the worker's thread, when the worker adopts this object: the
  // watchdog then knows which thread's CPU clock to read.
  void bind_thread();
  // Where this worker's alerts and log lines go (its rings).
  void set_sinks(AlertSink* alerts, LogSink* log);

  // -- For the record writer.
  uint16_t score(uint32_t idx) const { return flows_[idx].score; }
  // The flow's tags in the order added; views valid until forget_flow().
  size_t tags(uint32_t idx, std::string_view* out, size_t cap) const;
  struct Field {
    std::string_view name;
    std::string_view text;  // string values
    int64_t number = 0;     // integer values
    bool is_string = false;
  };
  // Values added with flow.addField, one Field per value.
  size_t fields(uint32_t idx, Field* out, size_t cap) const;
  // Protocols scripts added (session:add_protocol, add_string("protocols",
  // ...)), in the order added; the record lists them after the engine's own
  // (engine_protocols() in lua/arkime_session.h), which they never repeat.
  // Views valid until forget_flow().
  size_t protocols(uint32_t idx, std::string_view* out, size_t cap) const;

  // -- Read by the control side.
  const Generation& generation() const { return *gen_; }
  const std::shared_ptr<const Generation>& generation_ptr() const { return gen_; }
  const ScriptStats& stats(int script) const { return stats_[script]; }
  uint64_t vm_entries() const { return entries_.get(); }  // calls into the VM
  uint64_t memory_used() const;
  uint64_t memory_limit() const;
  uint64_t alerts_sent() const;
  uint64_t alerts_dropped() const;
  uint64_t log_lines_dropped() const;
  uint64_t suspended() const { return suspended_; }  // slot bits, as last seen
  const std::shared_ptr<CallWatch>& watch() const;
  uint16_t worker() const { return worker_; }
  uint32_t capacity() const { return capacity_; }

 private:
  CacheAccess cache_;  // this VM's view of the cache store
  HttpPort* http_port_ = nullptr;  // attached on the worker's thread (bind_thread)
  void deliver_replies(size_t max);
  friend std::unique_ptr<WorkerScripts> build_worker(std::shared_ptr<const Generation>, uint16_t,
                                                     uint32_t, std::vector<std::string>*,
                                                     const WorkerCache*);
  WorkerScripts(std::shared_ptr<const Generation> gen, uint16_t worker, uint32_t capacity);

  void flow_begin(uint32_t idx, const FlowView& v, uint64_t now_ns);
  void protocol_detected(uint32_t idx, const FlowView& v, uint64_t now_ns);
  void packet(uint32_t idx, const FlowView& v, uint64_t now_ns);
  void flow_end(uint32_t idx, const FlowView& v, uint64_t now_ns);
  void forget(uint32_t idx);
  // Arkime dispatch (lua/arkime_session.cc).
  friend struct ArkimeDispatch;
  void init_arkime();
  void arkime_classify(uint32_t idx, const FlowView& v, uint32_t classifier, const uint8_t* payload,
                       uint32_t len, uint8_t dir, uint64_t now_ns);
  void arkime_stream(uint32_t idx, const FlowView& v, uint8_t dir, const uint8_t* data,
                     uint32_t len, bool gap, uint64_t now_ns);
  void arkime_http(uint32_t idx, const FlowView& v, uint8_t dir, uint8_t event, const uint8_t* data,
                   uint32_t len, uint64_t now_ns);
  void arkime_feed(uint32_t idx, const FlowView& v, uint8_t feed, uint8_t dir, const uint8_t* data,
                   uint32_t len, uint64_t now_ns);
  void arkime_pre_save(uint32_t idx, const FlowView& v, bool final, uint64_t now_ns);
  void arkime_save(uint32_t idx, const FlowView& v, bool final, uint64_t now_ns);
  void forget_arkime(uint32_t idx);

  FlowScripts& entry(uint32_t idx, const FlowView& v, uint64_t now_ns, bool detecting_now);
  void init_entry(FlowScripts& e, const FlowView& v, uint64_t now_ns, bool born,
                  bool detecting_now);
  uint64_t gates(const FlowScripts& e, const FlowView& v, bool l7_known);
  void recompute(FlowScripts& e, const FlowView& v);
  uint32_t next_periodic(uint64_t mask, uint32_t age) const;
  void periodic(uint32_t idx, FlowScripts& e, const FlowView& v, uint64_t now_ns);
  void status(uint32_t idx, FlowScripts& e, const FlowView& v, uint64_t now_ns);
  void dispatch(Hook hook, uint64_t slots, uint32_t idx, FlowScripts& e, const FlowView& v,
                uint64_t now_ns);
  void call(Hook hook, int slot, double now_s);
  void on_error(Hook hook, int slot, int status);
  void handle_error(int script, int slot, const char* hook, int status);
  void check_overrun(int script, uint64_t ticks);
  void suspend_script(int script, int slot);
  void suspend_local(int slot);
  void drop_states(uint64_t slots);

  std::shared_ptr<const Generation> gen_;
  std::unique_ptr<ScriptHost> host_;
  std::unique_ptr<FlowScripts[]> flows_;
  std::unique_ptr<ScriptStats[]> stats_;
  uint32_t capacity_;
  uint32_t number_;  // generation number stamped in entries
  uint16_t worker_;
  uint64_t any_ = 0;          // every slot
  uint64_t begin_mask_ = 0;   // slots with flowBegin
  uint64_t packet_mask_ = 0;  // slots with statusChanged or periodicUpdate
  bool packet_any_ = false;   // packet_mask_ or a handshake gate
  uint64_t suspended_ = 0;    // global | local, applied to every dispatch
  uint64_t local_suspended_ = 0;
  uint64_t global_seen_ = 0;
  // Budget timing.
  uint64_t hz_;
  std::array<uint64_t, kDurationBuckets> bucket_ticks_{};  // kDurationBoundsNs in TSC ticks
 public:
  // The bucket of a call of `ticks` (kDurationBuckets: above the last bound).
  int duration_bucket(uint64_t ticks) const {
    int b = 0;
    while (b < kDurationBuckets && ticks > bucket_ticks_[b]) b++;
    return b;
  }
  uint64_t ticks_per_second() const { return hz_; }
 private:
  uint64_t budget_ticks_;
  uint64_t budget_ns_;
  uint64_t ms_ticks_;
  uint64_t sample_tsc_ = 0;  // the last (TSC, thread CPU) pair
  uint64_t sample_cpu_ = 0;
  Counter entries_;
  // Arkime: per-flow state (null without active registrations), what the
  // generation registered, and the files without a slot stopped here.
  std::unique_ptr<ArkimeFlow[]> arkime_;
  uint32_t arkime_classifiers_ = 0;
  uint8_t arkime_http_ = 0;  // Generation::http_events
  uint8_t arkime_body_ = 0;  // bit per BodyFeed
  std::vector<uint8_t> arkime_off_;
};

// Builds worker `worker_id`'s scripts from a generation: a VM with its own
// arena, every flow/ file loaded and set up, checked against the
// generation's registrations, and the per-flow array for `flow_capacity`
// flows. Runs on the control side. Returns null with the reasons in
// `errors` when the VM could not be built or differs from the generation.
std::unique_ptr<WorkerScripts> build_worker(std::shared_ptr<const Generation> gen,
                                            uint16_t worker_id, uint32_t flow_capacity,
                                            std::vector<std::string>* errors = nullptr,
                                            const WorkerCache* cache = nullptr);

}  // namespace loupe
