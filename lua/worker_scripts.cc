// lua/worker_scripts.h: dispatch, gating, budget timing and errors of one
// worker's flow scripts.
#include "lua/worker_scripts.h"

#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "engine/flow/community_id.h"
#include "lua/arkime_session.h"
#include "lua/http_service.h"
#include "lua/loader.h"
#include "lua/script_host.h"
#include "lua/tsc.h"

namespace loupe {
namespace {

constexpr uint64_t bit(int slot) { return uint64_t{1} << slot; }
constexpr uint64_t hook_bit(Hook h) { return 1u << static_cast<int>(h); }

uint32_t flow_age_s(const FlowView& v, uint64_t now_ns) {
  const uint64_t first = v.flow->first_ns;
  return now_ns > first ? static_cast<uint32_t>((now_ns - first) / 1'000'000'000u) : 0;
}

}  // namespace

WorkerScripts::WorkerScripts(std::shared_ptr<const Generation> gen, uint16_t worker,
                             uint32_t capacity)
    : gen_(std::move(gen)),
      flows_(new FlowScripts[capacity]()),
      stats_(new ScriptStats[gen_->scripts.size() + 1]),
      capacity_(capacity),
      number_(gen_->number == 0 ? 1 : gen_->number),
      worker_(worker),
      hz_(tsc_hz()) {
  const GateTables& g = gen_->gates;
  any_ = g.all;
  begin_mask_ = g.hooks[static_cast<int>(Hook::kFlowBegin)];
  packet_mask_ = g.hooks[static_cast<int>(Hook::kStatusChanged)] |
                 g.hooks[static_cast<int>(Hook::kPeriodicUpdate)];
  packet_any_ = packet_mask_ != 0 || g.handshake != 0;
  budget_ns_ = uint64_t{gen_->config.budget.worker_call_us} * 1000u;
  budget_ticks_ =
      static_cast<uint64_t>(static_cast<unsigned __int128>(budget_ns_) * hz_ / 1'000'000'000u);
  ms_ticks_ = hz_ / 1000u;
  for (int b = 0; b < kDurationBuckets; b++)
    bucket_ticks_[b] = static_cast<uint64_t>(kDurationBoundsNs[b] * static_cast<double>(hz_) / 1e9);
}

WorkerScripts::~WorkerScripts() {
  cache_.on_worker = false;  // back on the control side: teardown uses the store directly
  if (host_ != nullptr) run_teardowns(*host_);
}

std::unique_ptr<WorkerScripts> build_worker(std::shared_ptr<const Generation> gen,
                                            uint16_t worker_id, uint32_t flow_capacity,
                                            std::vector<std::string>* errors,
                                            const WorkerCache* cache) {
  std::vector<std::string> local;
  std::vector<std::string>& errs = errors != nullptr ? *errors : local;
  std::unique_ptr<WorkerScripts> ws(new WorkerScripts(gen, worker_id, flow_capacity));
  LoadReport report;
  try {
    ws->host_ = std::make_unique<ScriptHost>("worker" + std::to_string(worker_id), *gen, gen->log);
  } catch (const std::runtime_error& e) {
    errs.push_back(e.what());
    return nullptr;
  }
  ScriptHost& h = *ws->host_;
  h.worker = worker_id;
  if (cache != nullptr) {
    ws->cache_.store = cache->store;
    ws->cache_.reader = cache->reader;
    ws->cache_.queue = cache->queue;
    h.cache = &ws->cache_;
    ws->http_port_ = cache->http;
  }
  load_flow_scripts(h, report);
  assign_slots(report.specs, report.errors);
  for (std::string& e : report.errors) errs.push_back(std::move(e));
  if (report.specs.size() != gen->scripts.size()) {
    errs.push_back("lua: worker" + std::to_string(worker_id) + " loaded a different set of files");
  } else {
    for (size_t i = 0; i < report.specs.size(); ++i) {
      if (!report.specs[i].same_registrations(gen->scripts[i]) ||
          report.specs[i].slot != gen->scripts[i].slot) {
        errs.push_back(gen->scripts[i].path +
                       ": registrations differ between worker VMs (check, worker" +
                       std::to_string(worker_id) + ")");
      }
    }
  }
  if (arkime_registrations(h) != gen->arkime_regs) {
    errs.push_back("lua: Arkime registrations differ between worker VMs (check, worker" +
                   std::to_string(worker_id) + ")");
  }
  if (!errs.empty()) return nullptr;
  ws->init_arkime();
  return ws;
}

void WorkerScripts::set_sinks(AlertSink* alerts, LogSink* log) {
  host_->alerts = alerts;
  if (log != nullptr) host_->log.set_sink(log);
}

void WorkerScripts::bind_thread() {
  host_->vm.bind_thread();
  cache_.on_worker = true;  // from now on: snapshot reads, queued writes
  // Requests only from the thread that attached: a VM given back for its
  // teardown cannot send any; replies to the VM this one replaced are dropped.
  if (http_port_ != nullptr) attach_http_port(*host_, http_port_);
  sample_tsc_ = tsc_now();
  sample_cpu_ = thread_cpu_ns();
}

const std::shared_ptr<CallWatch>& WorkerScripts::watch() const { return host_->vm.watch(); }
uint64_t WorkerScripts::memory_used() const { return host_->vm.used(); }
uint64_t WorkerScripts::memory_limit() const { return host_->vm.limit(); }
uint64_t WorkerScripts::alerts_sent() const { return host_->alerts_sent.get(); }
uint64_t WorkerScripts::alerts_dropped() const { return host_->alerts_dropped.get(); }
uint64_t WorkerScripts::log_lines_dropped() const { return host_->log.dropped_total(); }

// -- Per-flow state and gates.

uint64_t WorkerScripts::gates(const FlowScripts& e, const FlowView& v, bool l7_known) {
  const GateTables& g = gen_->gates;
  uint64_t m = g.l4[v.l4_proto()];
  m &= l7_known ? (g.l7_pass(v.l7_master()) | g.l7_pass(v.l7_app())) : g.no_l7;
  if (!(e.flags & (FlowScripts::kCliLocal | FlowScripts::kSrvLocal))) m &= ~g.local_only;
  if (!v.handshake_ok()) m &= ~g.handshake;
  return m & g.all;
}

void WorkerScripts::recompute(FlowScripts& e, const FlowView& v) {
  const bool l7_known = !(e.flags & FlowScripts::kProtoPending);
  e.mask = gates(e, v, l7_known);
  // The handshake gate may open later: keep watching while it is closed
  // for a script whose other gates pass.
  const uint64_t closed = gen_->gates.handshake & ~e.mask;
  if (closed != 0 && !v.handshake_ok()) {
    e.flags |= FlowScripts::kTwhPending;
  } else {
    e.flags &= ~FlowScripts::kTwhPending;
  }
  e.periodic_next = next_periodic(e.mask, e.periodic_last);
}

void WorkerScripts::init_entry(FlowScripts& e, const FlowView& v, uint64_t now_ns, bool born,
                               bool detecting_now) {
  e = FlowScripts{};
  e.gen = number_;
  if (gen_->gates.local_only != 0) {
    const uint8_t ver = v.ip_version();
    if (gen_->local.contains(v.cli_addr(), ver)) e.flags |= FlowScripts::kCliLocal;
    if (gen_->local.contains(v.srv_addr(), ver)) e.flags |= FlowScripts::kSrvLocal;
  }
  if (born) e.flags |= FlowScripts::kBorn;
  // protocolDetected is owed to flows born here, and to older flows whose
  // detection completes under this generation; a detection that completed
  // before counts as having happened (§3.1).
  if (born || detecting_now || !v.detected()) e.flags |= FlowScripts::kProtoPending;
  e.risk_seen = born ? 0 : v.risk();
  e.periodic_last = born ? 0 : flow_age_s(v, now_ns);
  recompute(e, v);
}

FlowScripts& WorkerScripts::entry(uint32_t idx, const FlowView& v, uint64_t now_ns,
                                  bool detecting_now) {
  FlowScripts& e = flows_[idx];
  if (e.gen != number_) init_entry(e, v, now_ns, false, detecting_now);
  return e;
}

uint32_t WorkerScripts::next_periodic(uint64_t mask, uint32_t age) const {
  uint64_t m = mask & gen_->gates.hooks[static_cast<int>(Hook::kPeriodicUpdate)];
  uint32_t next = UINT32_MAX;
  while (m != 0) {
    const int s = __builtin_ctzll(m);
    m &= m - 1;
    const uint32_t p = gen_->gates.periodic[s];
    const uint64_t due = (uint64_t{age} / p + 1) * p;
    if (due < next) next = static_cast<uint32_t>(due);
  }
  return next;
}

// -- Events.

void WorkerScripts::flow_begin(uint32_t idx, const FlowView& v, uint64_t now_ns) {
  FlowScripts& e = flows_[idx];
  init_entry(e, v, now_ns, true, false);
  const uint64_t m = e.mask & begin_mask_ & ~suspended_;
  if (m != 0) dispatch(Hook::kFlowBegin, m, idx, e, v, now_ns);
}

void WorkerScripts::protocol_detected(uint32_t idx, const FlowView& v, uint64_t now_ns) {
  FlowScripts& e = entry(idx, v, now_ns, true);
  if (!(e.flags & FlowScripts::kProtoPending)) return;
  e.flags &= ~FlowScripts::kProtoPending;
  recompute(e, v);
  const uint64_t m =
      e.mask & gen_->gates.hooks[static_cast<int>(Hook::kProtocolDetected)] & ~suspended_;
  if (m != 0) dispatch(Hook::kProtocolDetected, m, idx, e, v, now_ns);
  status(idx, e, v, now_ns);
}

void WorkerScripts::packet(uint32_t idx, const FlowView& v, uint64_t now_ns) {
  FlowScripts& e = entry(idx, v, now_ns, false);
  if ((e.flags & FlowScripts::kTwhPending) && v.handshake_ok()) recompute(e, v);
  if (e.mask & packet_mask_ & ~suspended_) {
    periodic(idx, e, v, now_ns);
    status(idx, e, v, now_ns);
  }
}

void WorkerScripts::flow_end(uint32_t idx, const FlowView& v, uint64_t now_ns) {
  FlowScripts& e = entry(idx, v, now_ns, false);
  if (e.flags & FlowScripts::kEnded) return;
  if (e.flags & FlowScripts::kProtoPending) protocol_detected(idx, v, now_ns);
  e.flags |= FlowScripts::kEnded;
  recompute(e, v);
  const uint64_t m = e.mask & gen_->gates.hooks[static_cast<int>(Hook::kFlowEnd)] & ~suspended_;
  if (m != 0) dispatch(Hook::kFlowEnd, m, idx, e, v, now_ns);
  status(idx, e, v, now_ns);
}

void WorkerScripts::periodic(uint32_t idx, FlowScripts& e, const FlowView& v, uint64_t now_ns) {
  const uint32_t age = flow_age_s(v, now_ns);
  if (age < e.periodic_next) return;
  uint64_t m = e.mask & gen_->gates.hooks[static_cast<int>(Hook::kPeriodicUpdate)] & ~suspended_;
  uint64_t due = 0;
  while (m != 0) {
    const int s = __builtin_ctzll(m);
    m &= m - 1;
    const uint32_t p = gen_->gates.periodic[s];
    if (age / p > e.periodic_last / p) due |= bit(s);
  }
  e.periodic_last = age;
  e.periodic_next = next_periodic(e.mask, age);
  if (due != 0) dispatch(Hook::kPeriodicUpdate, due, idx, e, v, now_ns);
}

// After the other hooks of an event: once when nDPI's risks or the flow's
// score rose since the last delivery. A rise inside statusChanged is seen
// at the flow's next event.
void WorkerScripts::status(uint32_t idx, FlowScripts& e, const FlowView& v, uint64_t now_ns) {
  if (e.flags & FlowScripts::kProtoPending) return;
  const uint64_t m =
      e.mask & gen_->gates.hooks[static_cast<int>(Hook::kStatusChanged)] & ~suspended_;
  if (m == 0) return;
  if ((v.risk() & ~e.risk_seen) == 0 && e.score <= e.score_seen) return;
  e.risk_seen |= v.risk();
  e.score_seen = e.score;
  dispatch(Hook::kStatusChanged, m, idx, e, v, now_ns);
}

void WorkerScripts::forget(uint32_t idx) {
  if (arkime_ != nullptr && arkime_[idx].serial != 0) forget_arkime(idx);
  FlowScripts& e = flows_[idx];
  if (e.state_mask != 0 || (e.flags & (FlowScripts::kHasTags | FlowScripts::kHasFields))) {
    lua_State* L = host_->L();
    const int top = lua_gettop(L);
    // Only keys that exist are cleared: setting nil there never allocates.
    uint64_t m = e.state_mask;
    lua_rawgeti(L, LUA_REGISTRYINDEX, host_->ref_states);
    while (m != 0) {
      const int s = __builtin_ctzll(m);
      m &= m - 1;
      lua_rawgeti(L, -1, s + 1);
      if (lua_istable(L, -1)) {
        lua_rawgeti(L, -1, static_cast<int>(idx));
        const bool present = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (present) {
          lua_pushnil(L);
          lua_rawseti(L, -2, static_cast<int>(idx));
        }
      }
      lua_pop(L, 1);
    }
    for (int ref : {host_->ref_tags, host_->ref_fields}) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
      lua_rawgeti(L, -1, static_cast<int>(idx));
      const bool present = !lua_isnil(L, -1);
      lua_pop(L, 1);
      if (present) {
        lua_pushnil(L);
        lua_rawseti(L, -2, static_cast<int>(idx));
      }
      lua_pop(L, 1);
    }
    lua_settop(L, top);
  }
  e = FlowScripts{};
}

// -- Calls.

void WorkerScripts::dispatch(Hook hook, uint64_t slots, uint32_t idx, FlowScripts& e,
                             const FlowView& v, uint64_t now_ns) {
  ScriptHost& h = *host_;
  h.view = &v;
  h.entry = &e;
  h.flow_idx = idx;
  h.now_ns = now_ns;
  // Hooks get `now` as an integer epoch of packet time.
  const double now_s = static_cast<double>(now_ns / 1'000'000'000u);
  while (slots != 0) {
    const int s = __builtin_ctzll(slots);
    slots &= slots - 1;
    if (suspended_ & bit(s)) continue;  // suspended by an earlier call of this event
    call(hook, s, now_s);
  }
  h.view = nullptr;
  h.entry = nullptr;
  h.script = -1;
  h.log.flush();
}

void WorkerScripts::call(Hook hook, int slot, double now_s) {
  ScriptHost& h = *host_;
  lua_State* L = h.L();
  const int script = gen_->slot_script[slot];
  const ScriptRefs& r = h.refs[script];
  lua_rawgeti(L, LUA_REGISTRYINDEX, r.hooks[static_cast<int>(hook)]);
  lua_pushnumber(L, now_s);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r.conf);
  h.script = script;
  h.pending = ErrorKind::kNone;
  h.vm.begin_call();
  const uint64_t t0 = tsc_now();
  const int status = lua_pcall(L, 2, 0, 0);
  const uint64_t ticks = tsc_now() - t0;
  h.vm.end_call();
  ScriptStats& st = stats_[script];
  st.calls[static_cast<int>(hook)].add();
  st.ticks.add(ticks);
  st.duration[duration_bucket(ticks)].add();
  entries_.add();
  if (ticks > budget_ticks_) check_overrun(script, ticks);
  if (status != 0) on_error(hook, slot, status);
}

// A call longer than its budget on the TSC: subtract the time the thread
// was off the CPU since the last sample before calling it an overrun.
void WorkerScripts::check_overrun(int script, uint64_t ticks) {
  uint64_t call_ns = tsc_to_ns(ticks, hz_);
  const uint64_t tsc = tsc_now(), cpu = thread_cpu_ns();
  if (sample_tsc_ != 0) {
    const uint64_t wall = tsc_to_ns(tsc - sample_tsc_, hz_);
    const uint64_t used = cpu - sample_cpu_;
    uint64_t off = wall > used ? wall - used : 0;
    // The window since the last sample may be much longer than the call:
    // only the call's share of the time off the CPU is the call's.
    if (wall > call_ns && wall != 0)
      off = static_cast<uint64_t>(static_cast<double>(off) * static_cast<double>(call_ns) /
                                  static_cast<double>(wall));
    call_ns = call_ns > off ? call_ns - off : 0;
  }
  sample_tsc_ = tsc;
  sample_cpu_ = cpu;
  ScriptStats& st = stats_[script];
  if (call_ns > st.max_call_ns.get()) st.max_call_ns.set(call_ns);
  if (call_ns > budget_ns_) st.overruns.add();
}

void WorkerScripts::on_error(Hook hook, int slot, int status) {
  handle_error(gen_->slot_script[slot], slot, kHookNames[static_cast<int>(hook)], status);
}

// The error of a call of `script` (bit `slot` in flow masks, or -1 for a
// file with Arkime callbacks only) is at the top of the stack.
void WorkerScripts::handle_error(int script, int slot, const char* hook, int status) {
  ScriptHost& h = *host_;
  lua_State* L = h.L();
  ScriptStats& st = stats_[script];
  const bool sentinel =
      lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == Vm::stop_sentinel();
  ErrorKind kind;
  if (h.vm.stopping() || sentinel) {
    kind = ErrorKind::kHardStop;
    st.hard_stops.add();
    suspend_script(script, slot);
  } else if (status == LUA_ERRMEM || h.vm.alloc_failed()) {
    kind = ErrorKind::kMemory;
  } else {
    kind = h.pending != ErrorKind::kNone ? h.pending : ErrorKind::kRuntime;
  }
  st.errors[static_cast<int>(kind)].add();
  // The line is built only when the once-a-minute log will take it: a script
  // failing on every flow costs a counter, not a string and a hash.
  if (h.log.error_due(script)) {
    std::string message;
    if (kind == ErrorKind::kHardStop) {
      message = h.vm.stop_where() + (h.vm.stop_where().empty() ? "" : " ") + "call stopped after " +
                std::to_string(gen_->config.budget.hard_worker_ms) +
                " ms of CPU time (lua.budget.hard_worker_ms)";
    } else if (kind == ErrorKind::kMemory) {
      message = "not enough memory (lua.memory_limit reached in " + h.vm.name() + ")";
    } else {
      // Only a string is read as is: converting a number would allocate, and
      // this runs outside any protected call.
      message = lua_type(L, -1) == LUA_TSTRING
                    ? std::string(lua_tostring(L, -1))
                    : std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
    }
    std::string where;
    if (h.view != nullptr) {
      const Flow& f = *h.view->flow;
      where =
          community_id_v1(f.key, h.view->cli(), f.icmp_type, f.icmp_code, gen_->community_id_seed);
    }
    h.log.error(script, hook, where, message);
  }
  lua_pop(L, 1);
  h.vm.clear_alloc_failed();
  h.pending = ErrorKind::kNone;
  if (kind == ErrorKind::kMemory) {
    h.vm.full_collect();
    if (h.vm.used() > h.vm.limit()) {
      st.memory_stops.add();
      suspend_script(script, slot);  // frees its per-flow state tables
      h.vm.full_collect();
    }
  }
}

// A file without a slot (Arkime callbacks only) has no bit the supervisor
// could publish: it stops in this worker for the rest of the generation.
void WorkerScripts::suspend_script(int script, int slot) {
  if (slot >= 0) {
    suspend_local(slot);
  } else {
    arkime_off_[script] = 1;
    host_->log.note(script, "suspended");
  }
}

// Hard stop or memory: the script stops here at once; the control side's
// supervisor makes it a suspension in every worker and lifts it later.
void WorkerScripts::suspend_local(int slot) {
  local_suspended_ |= bit(slot);
  suspended_ |= bit(slot);
  drop_states(bit(slot));
  host_->log.note(gen_->slot_script[slot], "suspended");
}

// Per-flow state tables of these slots die at once (§6.4): the slot's table
// of tables is replaced; flows' state_mask bits left behind are harmless.
void WorkerScripts::drop_states(uint64_t slots) {
  lua_State* L = host_->L();
  lua_rawgeti(L, LUA_REGISTRYINDEX, host_->ref_states);
  while (slots != 0) {
    const int s = __builtin_ctzll(slots);
    slots &= slots - 1;
    lua_rawgeti(L, -1, s + 1);
    const bool present = !lua_isnil(L, -1);  // nil into a missing key could allocate
    lua_pop(L, 1);
    if (present) {
      lua_pushnil(L);
      lua_rawseti(L, -2, s + 1);
    }
  }
  lua_pop(L, 1);
}

void WorkerScripts::deliver_replies(size_t max) { deliver_http_replies(*host_, max); }

void WorkerScripts::on_burst_end() {
  host_->vm.collect_if_needed();
  if (cache_.reader != nullptr) cache_.reader->refresh();  // a quiescent point
  const uint64_t g = gen_->health->suspended.load(std::memory_order_relaxed);
  if (g != global_seen_) {
    const uint64_t added = g & ~global_seen_;
    local_suspended_ &= ~added;  // the control side owns these now
    drop_states(added);
    global_seen_ = g;
  }
  suspended_ = g | local_suspended_;
  const uint64_t tsc = tsc_now();
  if (tsc - sample_tsc_ > ms_ticks_) {
    sample_tsc_ = tsc;
    sample_cpu_ = thread_cpu_ns();
  }
}

// -- Record writer.

size_t WorkerScripts::tags(uint32_t idx, std::string_view* out, size_t cap) const {
  const FlowScripts& e = flows_[idx];
  if (e.gen != number_ || !(e.flags & FlowScripts::kHasTags)) return 0;
  lua_State* L = host_->L();
  const int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, host_->ref_tags);
  lua_rawgeti(L, -1, static_cast<int>(idx));
  size_t n = 0;
  if (lua_istable(L, -1)) {
    const size_t len = lua_objlen(L, -1);
    for (size_t i = 1; i <= len && n < cap; ++i) {
      lua_rawgeti(L, -1, static_cast<int>(i));
      size_t l = 0;
      const char* s = lua_tolstring(L, -1, &l);  // a string held by the table: stays valid
      if (s != nullptr) out[n++] = {s, l};
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return n;
}

size_t WorkerScripts::fields(uint32_t idx, Field* out, size_t cap) const {
  const FlowScripts& e = flows_[idx];
  if (e.gen != number_ || !(e.flags & FlowScripts::kHasFields)) return 0;
  lua_State* L = host_->L();
  const int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, host_->ref_fields);
  lua_rawgeti(L, -1, static_cast<int>(idx));
  size_t n = 0;
  if (lua_istable(L, -1)) {
    const int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t) != 0 && n < cap) {
      size_t nl = 0;
      const char* name = lua_tolstring(L, -2, &nl);  // keys are strings: no conversion
      const size_t len = lua_objlen(L, -1);
      for (size_t i = 1; i <= len && n < cap; ++i) {
        lua_rawgeti(L, -1, static_cast<int>(i));
        Field f;
        f.name = {name, nl};
        if (lua_type(L, -1) == LUA_TSTRING) {
          size_t l = 0;
          const char* s = lua_tolstring(L, -1, &l);
          f.text = {s, l};
          f.is_string = true;
        } else {
          f.number = static_cast<int64_t>(lua_tonumber(L, -1));
        }
        out[n++] = f;
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return n;
}

}  // namespace loupe
