// The control VM (contract §1.1, §2.6–§2.8, §3.5): one LuaJIT VM on the
// control side that loads every host/, network/ and periodic/ file of the
// running set and calls their hooks at aligned periods: host hooks once per
// host of the merged host table (ascending key order, gates evaluated in
// C++), network hooks once per local network, periodic hooks once. Built
// with each generation on the control side; only the control loop calls it
// afterwards. What must outlive a generation (cached alert values, which
// hosts a script already visited or skips, the host alerts each script
// holds engaged) lives in ControlState, owned by the caller.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/host/host_key.h"
#include "lua/generation.h"

namespace loupe {

class AlertPipeline;
class HttpPort;
struct CacheAccess;
class HostTable;
struct Host;
class ScriptHost;

enum class Granularity : uint8_t { kSecond, kMin, k5Mins, kHour, kDay };
inline constexpr int kGranularities = 5;
inline constexpr const char* kGranularityNames[kGranularities] = {"second", "min", "5mins",
                                                                  "hour", "day"};
inline constexpr uint32_t kGranularitySeconds[kGranularities] = {1, 60, 300, 3600, 86400};

enum class ControlKind : uint8_t { kHost, kNetwork, kPeriodic };
inline constexpr const char* kControlKindNames[] = {"host", "network", "interface"};

// Interface figures for interface.getStats() (§4.6.3), filled by the
// control core from the workers' and ports' counters.
struct InterfaceStats {
  struct Worker {
    uint64_t packets = 0, bytes = 0, drops = 0, flows = 0;
    double busy_ratio = 0;
  };
  uint64_t epoch = 0;
  uint64_t packets = 0, bytes = 0, malformed = 0, flows = 0, new_flows = 0;
  uint64_t drops_missed = 0, drops_errors = 0, drops_no_mbuf = 0, drops_ring_full = 0,
           drops_other = 0;
  double throughput_bps = 0, throughput_pps = 0;
  std::vector<Worker> workers;
};

// What the control VM's bindings reach; owned by the control core.
struct ControlServices {
  HostTable* hosts = nullptr;  // null: hosts.enabled is off
  AlertPipeline* alerts = nullptr;
  CacheAccess* cache = nullptr;  // the ntop.* cache store, used directly
  std::vector<std::string> interfaces = {"pcap"};  // names, by ifid
  std::function<InterfaceStats()> interface_stats;
  bool offline = false;
};

// Control-side state that survives reloads while its script exists.
struct ControlState {
  struct PerScript {
    std::unordered_set<HostKey, HostKeyHash> visited;         // host.isFirstCheckRun
    std::unordered_map<HostKey, uint64_t, HostKeyHash> skip;  // until (epoch s); 0: for good
    // Hosts whose alert this script holds engaged, per granularity: a run
    // that does not raise it again releases it.
    std::array<std::set<std::string>, kGranularities> engaged;
  };
  std::map<std::string, PerScript> scripts;
  // network/interface.setCachedAlertValue: "<entity>|<script>|<key>" -> value, expiry (s, 0 none)
  std::map<std::string, std::pair<std::string, uint64_t>> cached;
};

struct ControlRunStats {
  uint64_t runs = 0, last_start = 0, last_duration_ns = 0, max_duration_ns = 0;
  uint64_t skipped = 0, deadline_misses = 0;
};

struct ControlScriptInfo {
  std::string key;   // "host/unanswered_ports"
  std::string path;  // "host/unanswered_ports.lua"
  ControlKind kind = ControlKind::kPeriodic;
  bool custom = false;  // host/custom_host_lua_script.lua: the chunk is the minute hook
  bool active = false;
  bool local_only = false;
  uint8_t hooks = 0;  // bit per Granularity
  std::array<ControlRunStats, kGranularities> runs{};
  std::array<uint64_t, kGranularities> calls{};  // hook calls (one per host for host hooks)
  std::array<uint64_t, kErrorKinds> errors{};
};

// The call in progress, as the control bindings see it (ScriptHost::control).
struct ControlCall {
  ControlServices* services = nullptr;
  ControlState* state = nullptr;
  ControlState::PerScript* script_state = nullptr;
  const ControlScriptInfo* script = nullptr;
  const std::vector<ControlScriptInfo>* scripts = nullptr;  // interface.getPeriodicActivitiesStats
  Host* host = nullptr;  // host context: the bound host
  int network = -1;      // the selected local network, -1 none
  bool network_ctx = false;
  uint16_t ifid = 0;
  Granularity granularity = Granularity::kMin;
  uint64_t when = 0;                 // params.when (epoch s)
  uint64_t deadline_steady_ns = 0;   // 0 outside a run
  uint64_t period_ns = 0;
  bool raised = false;               // host.triggerAlert in this call
};

// When control hooks are due (§3.5): periods aligned to the control clock
// (epoch % period == 0, UTC). Fed the clock every control-loop turn, it
// returns every boundary crossed since the last call, in time order: an
// offline run reading a burst that spans several seconds of capture still
// runs each second. A jump in the clock (a gap in a capture, a wall clock
// set forward) replays at most kMaxCatchUp boundaries per granularity, the
// latest ones; the rest are skipped and counted.
class ControlSchedule {
 public:
  static constexpr uint64_t kMaxCatchUp = 600;
  struct Due {
    Granularity granularity;
    uint64_t when;  // the boundary (epoch s)
  };
  // The boundaries crossed since the previous call, finest first; nothing
  // on the first call (the clock's start is not a boundary crossed).
  std::vector<Due> advance(uint64_t now_s);
  // After the end of offline input: the boundary at or before the last clock.
  uint64_t aligned(Granularity g) const { return last_ - last_ % kGranularitySeconds[static_cast<int>(g)]; }
  uint64_t last() const { return last_; }
  uint64_t skipped(Granularity g) const { return skipped_[static_cast<int>(g)]; }

 private:
  uint64_t last_ = 0;  // 0: not started
  std::array<uint64_t, kGranularities> skipped_{};
};

class ControlScripts {
 public:
  // Loads the control files of `gen`'s set into a new VM. Null when there
  // are none; errors (which reject the set) and warnings are appended.
  static std::unique_ptr<ControlScripts> build(std::shared_ptr<const Generation> gen,
                                               ControlServices* services, ControlState* state,
                                               std::vector<std::string>* errors,
                                               std::vector<std::string>* warnings);
  ~ControlScripts();  // teardown() of every module, then the VM closes
  ControlScripts(const ControlScripts&) = delete;
  ControlScripts& operator=(const ControlScripts&) = delete;

  // Granularities some active script hooks (bit per Granularity).
  uint8_t granularities() const { return granularities_; }
  // Runs every hook of `g` for the period at `when` (epoch s): host hooks
  // for each host, then network hooks for each local network, then
  // periodic hooks. `final`: the extra run after the end of offline input.
  void run(Granularity g, uint64_t when, bool final);

  // ArkimeHttpService for control scripts: the port is attached on the
  // control thread once this VM is adopted; replies are delivered between
  // runs (at most `max` per call).
  void attach_http(HttpPort* port);
  void deliver_async(size_t max);

  const std::vector<ControlScriptInfo>& scripts() const { return scripts_; }
  uint64_t memory_bytes() const;
  uint64_t memory_limit() const;
  const Generation& generation() const { return *gen_; }

 private:
  ControlScripts() = default;
  void run_hosts(Granularity g, uint64_t when, bool final, uint64_t deadline);
  void run_plain(ControlKind kind, Granularity g, uint64_t when, bool final, uint64_t deadline);
  bool invoke(size_t i, Granularity g, uint64_t when, bool final);

  std::shared_ptr<const Generation> gen_;
  std::unique_ptr<ScriptHost> host_;
  ControlServices* services_ = nullptr;
  ControlState* state_ = nullptr;
  ControlCall call_;
  std::vector<ControlScriptInfo> scripts_;
  std::vector<std::array<int, kGranularities>> hooks_;  // registry refs per script
  uint8_t granularities_ = 0;
  HttpPort* http_port_ = nullptr;
};

}  // namespace loupe
