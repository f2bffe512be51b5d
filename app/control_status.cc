// app/control_status.h
#include "app/control_status.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "app/control_socket.h"
#include "app/script_sets.h"
#include "build_info.h"
#include "dpdk/dispatcher.h"
#include "dpdk/pcap_source.h"
#include "dpdk/port.h"
#include "engine/worker/worker.h"
#include "lua/quarantine.h"
#include "lua/tsc.h"
#include "lua/worker_scripts.h"

namespace loupe {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kPollWindow = 10;  // seconds of the busy ratio, as the metrics

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json error(const std::string& why) {
  Json e = Json::object();
  e.set("ok", false);
  e.set("error", why);
  return e;
}

// {"name": count, ...} over every reason, zeros included: a reader can rely
// on the keys.
template <size_t N, typename Get>
Json by_name(const char* const (&names)[N], size_t count, Get get) {
  Json o = Json::object();
  for (size_t i = 0; i < N && i < count; i++) o.set(names[i], Json(uint64_t{get(i)}));
  return o;
}

// Per script key, over the running VMs: calls by hook, errors by kind,
// overruns, hard stops, and TSC ticks spent in calls.
struct ScriptFigures {
  uint64_t calls[kHookCount] = {};
  uint64_t errors[kErrorKinds] = {};
  uint64_t overruns = 0, hard_stops = 0, ticks = 0;
};

}  // namespace

ControlService::ControlService(const Config& config, const MetricsSources& sources,
                               std::function<void()> reload_scripts)
    : src_(sources),
      quarantine_file_(workdir_path(config.paths, kQuarantineFileName)),
      reload_scripts_(std::move(reload_scripts)),
      start_unix_(unix_now()) {
  server_ = std::make_unique<ControlServer>(workdir_path(config.paths, config.control.socket),
                                            config.control.group,
                                            [this](const Json& r) { return answer(r); });
}

ControlService::~ControlService() = default;

const std::string& ControlService::path() const { return server_->path(); }

void ControlService::poll() {
  const auto now = SteadyClock::now();
  if (polls_.empty() || now - polls_.back().at >= std::chrono::seconds(1)) {
    PollSample s;
    s.at = now;
    for (const auto& w : *src_.workers) {
      s.busy.push_back(w->counters().busy_polls.get());
      s.idle.push_back(w->counters().idle_polls.get());
    }
    polls_.push_back(std::move(s));
    while (polls_.size() > kPollWindow + 1) polls_.pop_front();
  }
  server_->poll();
}

Json ControlService::answer(const Json& request) {
  const std::string& cmd = request["cmd"].as_string();
  if (cmd == "status") return status();
  if (cmd == "scripts_status") return scripts_status();
  if (cmd == "unquarantine") {
    const std::string& key = request["key"].as_string();
    if (key.empty()) return error("unquarantine needs a \"key\" (a script key, e.g. flow/x)");
    return unquarantine(key);
  }
  return error("unknown cmd '" + cmd + "' (status, scripts_status, unquarantine)");
}

Json ControlService::status() const {
  Json out = Json::object();
  out.set("ok", true);
  out.set("version", LOUPE_VERSION);
  out.set("pid", Json(uint64_t(getpid())));
  out.set("mode", src_.source != nullptr ? "offline" : "live");
  out.set("uptime_seconds", unix_now() - start_unix_);

  Json workers = Json::array();
  const auto& ws = *src_.workers;
  for (size_t i = 0; i < ws.size(); i++) {
    const Worker& w = *ws[i];
    const WorkerCounters& c = w.counters();
    const FlowTableCounters& fc = w.flows().counters();
    uint64_t ended = 0;
    for (int r = 0; r < static_cast<int>(EndReason::count); r++)
      if (r != static_cast<int>(EndReason::active_timeout)) ended += fc.ended[r].get();
    double busy = 0;
    if (!polls_.empty() && i < polls_.front().busy.size()) {
      const double b = static_cast<double>(c.busy_polls.get() - polls_.front().busy[i]);
      const double idle = static_cast<double>(c.idle_polls.get() - polls_.front().idle[i]);
      if (b + idle > 0) busy = b / (b + idle);
    }
    Json j = Json::object();
    j.set("id", Json(static_cast<uint64_t>(w.id())));
    j.set("packets", c.rx_packets.get());
    j.set("bytes", c.rx_bytes.get());
    j.set("processed", c.processed.get());
    Json flows = Json::object();
    flows.set("active", fc.active.get());
    flows.set("created", fc.created.get());
    flows.set("ended", ended);
    flows.set("capacity", Json(uint64_t{w.flows().capacity()}));
    j.set("flows", std::move(flows));
    Json malformed = Json::object();
    malformed.set("total", c.malformed.get());
    malformed.set("by_reason",
                  by_name(kMalformedNames, static_cast<size_t>(Malformed::count),
                          [&](size_t r) { return c.malformed_by[r].get(); }));
    j.set("malformed", std::move(malformed));
    Json drops = Json::object();
    drops.set("records", c.record_drops.get());  // output ring full
    drops.set("alerts", w.alerts_dropped());     // alert ring full
    j.set("ring_drops", std::move(drops));
    j.set("busy_ratio", busy);
    workers.push(std::move(j));
  }
  out.set("workers", std::move(workers));

  Json ports = Json::array();
  for (const OpenPort& p : *src_.ports) {
    const PortStats s = port_stats(p.port_id);
    Json j = Json::object();
    j.set("name", p.name);
    j.set("rx_packets", s.ipackets);
    j.set("rx_bytes", s.ibytes);
    Json drops = Json::object();
    drops.set("missed", s.imissed);
    drops.set("errors", s.ierrors);
    drops.set("no_mbuf", s.rx_nombuf);
    j.set("drops", std::move(drops));
    ports.push(std::move(j));
  }
  out.set("ports", std::move(ports));
  if (src_.source != nullptr) {
    Json in = Json::object();
    in.set("packets", src_.source->stats().packets);
    in.set("bytes", src_.source->stats().bytes);
    out.set("input", std::move(in));
  }
  out.set("dispatcher_drops", src_.dispatcher ? src_.dispatcher->ring_drops() : uint64_t{0});
  out.set("scripts", script_summary());
  return out;
}

// The loaded scripts and the suspensions, for `loupe status`.
Json ControlService::script_summary() const {
  Json s = Json::object();
  const ScriptSets& ss = *src_.scripts;
  const Generation* gen = ss.generation().get();
  s.set("generation", Json(uint64_t{gen ? ss.generation_number() : 0}));
  Json loaded = Json::array(), inactive = Json::array(), suspended = Json::array(),
       quarantined = Json::array();
  if (gen != nullptr) {
    const uint64_t bits = gen->health->suspended.load(std::memory_order_relaxed);
    for (const FlowScriptSpec& f : gen->scripts) {
      if (!f.active) {
        inactive.push(f.key);
        continue;
      }
      loaded.push(f.key);
      if (f.slot >= 0 && (bits >> f.slot & 1)) suspended.push(f.key);
    }
    for (const std::string& k : gen->set.quarantined) quarantined.push(k);
  }
  s.set("loaded", std::move(loaded));
  s.set("inactive", std::move(inactive));
  s.set("suspended", std::move(suspended));
  s.set("quarantined", std::move(quarantined));
  return s;
}

Json ControlService::scripts_status() const {
  const ScriptSets& ss = *src_.scripts;
  const Generation* gen = ss.generation().get();
  // Running VMs, summed per key; every VM is read by its own generation
  // (during a reload some workers still run the previous one).
  std::map<std::string, ScriptFigures> figures;
  for (const auto& w : *src_.workers) {
    const WorkerScripts* vm = w->scripts();
    if (vm == nullptr) continue;
    const Generation& g = vm->generation();
    for (size_t i = 0; i < g.scripts.size(); i++) {
      const ScriptStats& st = vm->stats(static_cast<int>(i));
      ScriptFigures& f = figures[g.scripts[i].key];
      for (int h = 0; h < kHookCount; h++) f.calls[h] += st.calls[h].get();
      for (int k = 0; k < kErrorKinds; k++) f.errors[k] += st.errors[k].get();
      f.overruns += st.overruns.get();
      f.hard_stops += st.hard_stops.get();
      f.ticks += st.ticks.get();
    }
  }
  // Calls, errors and overruns count from the start (VMs of earlier
  // generations included), as the metrics do; the mean call time is the
  // running VMs'.
  const LuaTotals& retired = ss.retired_totals();
  const uint64_t hz = gen != nullptr ? tsc_hz() : 0;

  Json out = Json::object();
  out.set("ok", true);
  out.set("generation", Json(uint64_t{gen ? ss.generation_number() : 0}));
  out.set("quarantine_file", quarantine_file_);
  Json scripts = Json::array();
  auto row = [&](const std::string& key, const char* state) {
    Json j = Json::object();
    j.set("script", key);
    j.set("state", state);
    // Not kept by the engine yet: when a suspension ends, the last error
    // and its time, the call time distribution.
    j.set("suspended_until", Json());
    const auto f = figures.find(key);
    const auto r = retired.scripts.find(key);
    Json calls = Json::object();
    uint64_t total = 0, running_calls = 0;
    for (int h = 0; h < kHookCount; h++) {
      const uint64_t running = f != figures.end() ? f->second.calls[h] : 0;
      const uint64_t n = running + (r != retired.scripts.end() ? r->second.calls[h] : 0);
      running_calls += running;
      total += n;
      calls.set(kHookNames[h], n);
    }
    j.set("calls_total", total);
    j.set("calls", std::move(calls));
    Json errors = Json::object();
    for (int k = 0; k < kErrorKinds; k++)
      errors.set(kErrorKindNames[k], (f != figures.end() ? f->second.errors[k] : 0) +
                                         (r != retired.scripts.end() ? r->second.errors[k] : 0));
    j.set("errors", std::move(errors));
    j.set("last_error", Json());
    j.set("overruns", (f != figures.end() ? f->second.overruns : 0) +
                          (r != retired.scripts.end() ? r->second.overruns : 0));
    j.set("hard_stops", (f != figures.end() ? f->second.hard_stops : 0) +
                            (r != retired.scripts.end() ? r->second.hard_stops : 0));
    if (running_calls != 0 && hz != 0)
      j.set("mean_call_us",
            static_cast<double>(tsc_to_ns(f->second.ticks, hz)) / 1000.0 /
                static_cast<double>(running_calls));
    else
      j.set("mean_call_us", Json());
    j.set("p50_call_us", Json());
    j.set("p99_call_us", Json());
    scripts.push(std::move(j));
  };
  if (gen != nullptr) {
    const uint64_t bits = gen->health->suspended.load(std::memory_order_relaxed);
    for (const FlowScriptSpec& s : gen->scripts) {
      const char* state = !s.active ? "inactive"
                          : (s.slot >= 0 && (bits >> s.slot & 1)) ? "suspended"
                                                                  : "active";
      row(s.key, state);
    }
    for (const std::string& k : gen->set.quarantined) row(k, "quarantined");
  } else {
    // No set runs (lua off, or rejected at start): what the file holds.
    for (const QuarantineEntry& e : read_quarantine(quarantine_file_)) row(e.key, "quarantined");
  }
  out.set("scripts", std::move(scripts));

  Json vms = Json::array();
  for (const auto& w : *src_.workers) {
    const WorkerScripts* vm = w->scripts();
    if (vm == nullptr) continue;
    Json j = Json::object();
    j.set("vm", "worker" + std::to_string(w->id()));
    j.set("memory_bytes", vm->memory_used());
    j.set("memory_limit_bytes", vm->memory_limit());
    vms.push(std::move(j));
  }
  out.set("vms", std::move(vms));
  return out;
}

Json ControlService::unquarantine(const std::string& key) {
  bool found = false;
  std::string why;
  if (!remove_quarantine(quarantine_file_, key, &found, &why)) return error(why);
  const Generation* gen = src_.scripts->generation().get();
  const bool left_out =
      gen != nullptr && std::find(gen->set.quarantined.begin(), gen->set.quarantined.end(),
                                  key) != gen->set.quarantined.end();
  if (!found && !left_out) return error(key + " is not quarantined (" + quarantine_file_ + ")");
  std::fprintf(stderr, "loupe: control: quarantine of %s lifted; reloading the script set\n",
               key.c_str());
  // The set left the file out at its load: building it again loads it.
  if (left_out && reload_scripts_) reload_scripts_();
  Json out = Json::object();
  out.set("ok", true);
  out.set("key", key);
  out.set("removed", found);
  out.set("reloading", left_out);
  return out;
}

}  // namespace loupe
