// Configuration of the Lua engine for worker flow scripts (the `lua:`
// section). Schema: lua/lua_config.cc. Plain data, read-only once loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "build_info.h"
#include "config/schema_fwd.h"

namespace loupe {

enum class LuaJit : uint8_t { kOff, kOn };
// `auto` is the contract's "run live, exit offline" (resp. "on live,
// measure_only offline"): the mode is known only when the run starts.
enum class LuaLoadErrorAction : uint8_t { kAuto, kRun, kExit };
enum class LuaBudgetEnforce : uint8_t { kAuto, kOn, kMeasureOnly };
enum class LuaStallAction : uint8_t { kExit, kLog };
enum class LuaScriptEnabled : uint8_t { kDefault, kOn, kOff };

struct LuaBudgetConfig {
  uint32_t worker_call_us = 500;  // soft CPU budget of one worker call
  uint32_t load_ms = 2000;        // hard limit of one file's load, setup() or teardown()
  uint32_t hard_worker_ms = 20;   // hard stop of one worker call
  uint32_t strikes = 5;           // overruns within the window that suspend a script
  uint32_t window_seconds = 60;
  uint32_t suspend_seconds = 300;  // first suspension; doubles on each repeat
  uint32_t max_suspend_seconds = 3600;
  LuaBudgetEnforce enforce = LuaBudgetEnforce::kAuto;
  LuaStallAction stall_action = LuaStallAction::kExit;

  bool operator==(const LuaBudgetConfig&) const = default;
};

struct LuaLogConfig {
  uint32_t lines_per_minute = 120;  // per script and VM: print, io.write, traceEvent

  bool operator==(const LuaLogConfig&) const = default;
};

// The ntop.* cache store (contract §4.4.3; lua/cache_store.h).
struct LuaCacheConfig {
  uint64_t max_bytes = uint64_t{64} << 20;  // keys, values and per-item overheads
  uint32_t snapshot_ms = 100;               // most frequent republication for workers
  uint32_t queue_size = 4096;               // 128-byte slots per worker's write ring

  bool operator==(const LuaCacheConfig&) const = default;
};

// ArkimeHttpService (contract §5.8; lua/http_client.h).
struct LuaHttpConfig {
  // Base URLs services may use: same scheme, host and port, path under the
  // entry's. Empty denies every service.
  std::vector<std::string> allow;
  uint32_t timeout_ms = 5000;                       // per request
  uint64_t max_response_bytes = uint64_t{1} << 20;  // longer bodies are truncated
  uint32_t max_outstanding_ms = 10000;              // longest a final save waits
  uint32_t request_ring_bytes = 256u << 10;         // per VM
  uint64_t reply_ring_bytes = uint64_t{4} << 20;    // per VM

  bool operator==(const LuaHttpConfig&) const = default;
};

// One script's settings. The contract spells this as a map keyed by script
// key; the schema has no free-form maps, so it is a list of items naming
// their script, and `config` holds "name=value" pairs (value parsed as JSON
// when it can be, else kept as a string; dots in name make nested tables).
struct LuaScriptConfig {
  std::string script;  // script key, e.g. "flow/dns_tunnel"
  LuaScriptEnabled enabled = LuaScriptEnabled::kDefault;
  uint32_t periodic_update_seconds = 0;  // 0: the script's own
  std::vector<std::string> config;

  bool operator==(const LuaScriptConfig&) const = default;
};

struct LuaConfig {
  bool enabled = true;
  // The drop-in directory; "" is the scripts/ folder shipped with loupe.
  std::string scripts_dir;
  LuaJit jit = LuaJit::kOff;
  LuaLoadErrorAction on_load_error = LuaLoadErrorAction::kAuto;
  uint64_t memory_limit = uint64_t{128} << 20;  // soft cap per worker VM, bytes
  LuaBudgetConfig budget;
  LuaLogConfig log;
  LuaCacheConfig cache;
  LuaHttpConfig http;
  std::vector<LuaScriptConfig> script_config;

  bool operator==(const LuaConfig&) const = default;
};

// Whether this LuaJIT can interrupt compiled code (LUAJIT_ENABLE_CHECKHOOK).
// Debian's cannot, and nothing in its headers says so either way.
inline constexpr bool kLuajitHasCheckHook = false;

// The settings whose default depends on the run's mode.
inline bool lua_exit_on_load_error(const LuaConfig& c, bool offline) {
  return c.on_load_error == LuaLoadErrorAction::kAuto
             ? offline
             : c.on_load_error == LuaLoadErrorAction::kExit;
}
inline bool lua_budget_enforced(const LuaConfig& c, bool offline) {
  return c.budget.enforce == LuaBudgetEnforce::kAuto ? !offline
                                                     : c.budget.enforce == LuaBudgetEnforce::kOn;
}
// lua.scripts_dir with "" resolved to the shipped folder.
inline std::string lua_scripts_dir(const LuaConfig& c) {
  return c.scripts_dir.empty() ? std::string(LOUPE_SOURCE_ROOT) + "/scripts" : c.scripts_dir;
}

void describe(config::Section<LuaBudgetConfig>& s);
void describe(config::Section<LuaLogConfig>& s);
void describe(config::Section<LuaCacheConfig>& s);
void describe(config::Section<LuaHttpConfig>& s);
void describe(config::Section<LuaScriptConfig>& s);
void describe(config::Section<LuaConfig>& s);

}  // namespace loupe
