// Schema of the lua: section (lua/lua_config.h).
#include "lua/lua_config.h"

#include "config/schema.h"
#include "lua/http_url.h"

namespace loupe {

void describe(config::Section<LuaBudgetConfig>& s) {
  s.field("worker_call_us", &LuaBudgetConfig::worker_call_us)
      .range(1, 10'000'000)
      .help(
          "Soft CPU budget of one worker call, microseconds. A call above it (on the thread's CPU "
          "time) is an overrun: counted, and a strike unless enforce is measure_only.");
  s.field("load_ms", &LuaBudgetConfig::load_ms)
      .range(1, 600'000)
      .help("Hard limit in CPU time of one file's load, setup() or teardown(), milliseconds.");
  s.field("hard_worker_ms", &LuaBudgetConfig::hard_worker_ms)
      .range(1, 600'000)
      .help(
          "Hard stop of one worker call, milliseconds of CPU time: the watchdog interrupts it "
          "with a hard_stop error and the script is suspended.");
  s.field("strikes", &LuaBudgetConfig::strikes)
      .range(1, 1'000'000)
      .help("Overruns of one script within window_seconds, over all workers, that suspend it.");
  s.field("window_seconds", &LuaBudgetConfig::window_seconds)
      .range(1, 86'400)
      .help("Strike window, seconds.");
  s.field("suspend_seconds", &LuaBudgetConfig::suspend_seconds)
      .range(1, 86'400 * 7)
      .help("First suspension, seconds; each further one within 24 hours doubles it.");
  s.field("max_suspend_seconds", &LuaBudgetConfig::max_suspend_seconds)
      .range(1, 86'400 * 7)
      .help("Ceiling of the doubling, seconds.");
  s.enumeration("enforce", &LuaBudgetConfig::enforce,
                {{"auto", LuaBudgetEnforce::kAuto},
                 {"on", LuaBudgetEnforce::kOn},
                 {"measure_only", LuaBudgetEnforce::kMeasureOnly}})
      .help(
          "on: overruns make strikes and suspensions. measure_only: calls are timed and overruns "
          "counted, never suspended for. auto: on live, measure_only offline (-r). Hard stops "
          "apply in every mode.");
  s.enumeration("stall_action", &LuaBudgetConfig::stall_action,
                {{"exit", LuaStallAction::kExit}, {"log", LuaStallAction::kLog}})
      .help("A call still running 1 s after its hard stop: exit (status 70) or only log it.");
  s.check("suspend_seconds <= max_suspend_seconds", {"suspend_seconds", "max_suspend_seconds"},
          [](const LuaBudgetConfig& c, config::Issues& issues) {
            if (c.suspend_seconds > c.max_suspend_seconds) {
              issues.error_latest_of({"suspend_seconds", "max_suspend_seconds"},
                                     "suspend_seconds must not exceed max_suspend_seconds");
            }
          });
}

void describe(config::Section<LuaLogConfig>& s) {
  s.field("lines_per_minute", &LuaLogConfig::lines_per_minute)
      .range(1, 1'000'000)
      .help(
          "Log lines per script per VM per minute (print, io.write, ntop.traceEvent); excess is "
          "dropped and counted.");
}

void describe(config::Section<LuaCacheConfig>& s) {
  s.field("max_bytes", &LuaCacheConfig::max_bytes)
      .range(uint64_t{1} << 20, uint64_t{64} << 30)
      .help(
          "Size cap of the ntop.* cache store, bytes: keys, values, and 32 bytes per key and 8 "
          "per hash field, list item or set member. Writes past it are refused (false).");
  s.field("snapshot_ms", &LuaCacheConfig::snapshot_ms)
      .range(1, 60'000)
      .help(
          "Worker VMs read the cache from a snapshot republished at most this often (ms) when "
          "the store changed; a worker sees its own writes at the next one.");
  s.field("queue_size", &LuaCacheConfig::queue_size)
      .range(16, 1u << 20)
      .help(
          "Per-worker ring of queued cache writes, in 128-byte slots (rounded up to a power of "
          "two); a short write takes one. A write finding it full returns false and is counted.");
}

void describe(config::Section<LuaHttpConfig>& s) {
  s.field("allow", &LuaHttpConfig::allow)
      .help(
          "Base URLs ArkimeHttpService may contact, e.g. [\"http://127.0.0.1:8080/api\"]: a "
          "service's URL must have the same scheme, host (names case-insensitive, IP literals as "
          "addresses) and port (the scheme's default when absent) as an entry, and a path equal "
          "to the entry's or under it after a '/'. Empty denies every service.");
  s.field("timeout_ms", &LuaHttpConfig::timeout_ms)
      .range(1, 600'000)
      .help(
          "Longest a request may take, from the HTTP client taking it to the end of the "
          "response, waiting for a connection included (ms); then the callback gets "
          "err \"timeout\".");
  s.field("max_response_bytes", &LuaHttpConfig::max_response_bytes)
      .range(1, uint64_t{64} << 20)
      .help("Longest response body kept, bytes; a longer one is cut there with err \"truncated\".");
  s.field("max_outstanding_ms", &LuaHttpConfig::max_outstanding_ms)
      .range(0, 600'000)
      .help(
          "Longest a flow's final save waits for session:decr_outstanding() after a script "
          "called incr_outstanding() (ms).");
  s.field("request_ring_bytes", &LuaHttpConfig::request_ring_bytes)
      .range(4096, 1u << 30)
      .help(
          "Ring of queued requests per VM, bytes (rounded up to a power of two); a request "
          "finding it full, or longer than half of it, is refused (request returns false).");
  s.field("reply_ring_bytes", &LuaHttpConfig::reply_ring_bytes)
      .range(4096, uint64_t{1} << 32)
      .help(
          "Ring of replies per VM, bytes (rounded up to a power of two, and to at least twice "
          "max_response_bytes); replies that find it full wait in the HTTP client.");
  s.check("allow entries are http or https base URLs", {"allow"},
          [](const LuaHttpConfig& c, config::Issues& issues) {
            for (const std::string& entry : c.allow) {
              std::string why;
              if (!parse_http_url(entry, &why)) {
                issues.error("allow", "'" + entry + "' is not a base URL: " + why);
              }
            }
          });
}

void describe(config::Section<LuaScriptConfig>& s) {
  s.field("script", &LuaScriptConfig::script)
      .help("Script key, e.g. \"flow/dns_tunnel\"; a key naming no script is a load warning.");
  s.enumeration("enabled", &LuaScriptConfig::enabled,
                {{"default", LuaScriptEnabled::kDefault},
                 {"on", LuaScriptEnabled::kOn},
                 {"off", LuaScriptEnabled::kOff}})
      .help("on, off, or default: the script's own default_enabled.");
  s.field("periodic_update_seconds", &LuaScriptConfig::periodic_update_seconds)
      .range(0, 86'400 * 365)
      .help("periodicUpdate interval of this script, seconds (at least 5); 0 keeps the script's.");
  s.field("config", &LuaScriptConfig::config)
      .help(
          "\"name=value\" pairs merged over the script's default_value; value is read as JSON "
          "when it parses (numbers, true, false, strings in quotes), else as a string; dots in "
          "name reach into nested tables.");
  s.check("script is not empty", {"script"}, [](const LuaScriptConfig& c, config::Issues& issues) {
    if (c.script.empty()) issues.error("script", "must name a script key");
  });
  s.check("periodic_update_seconds is 0 or at least 5", {"periodic_update_seconds"},
          [](const LuaScriptConfig& c, config::Issues& issues) {
            if (c.periodic_update_seconds != 0 && c.periodic_update_seconds < 5) {
              issues.error("periodic_update_seconds", "must be 0 (the script's) or at least 5");
            }
          });
}

void describe(config::Section<LuaConfig>& s) {
  s.field("enabled", &LuaConfig::enabled).help("false loads no scripts; no VM is entered.");
  s.field("scripts_dir", &LuaConfig::scripts_dir)
      .help(
          "The drop-in directory (flow/, lib/, data/ ...); \"\" is the scripts/ folder shipped "
          "with loupe. A missing directory is an error.");
  s.enumeration("jit", &LuaConfig::jit, {{"off", LuaJit::kOff}, {"on", LuaJit::kOn}})
      .help("JIT compilation in the VMs. on needs a LuaJIT that can interrupt compiled code.");
  s.enumeration("on_load_error", &LuaConfig::on_load_error,
                {{"auto", LuaLoadErrorAction::kAuto},
                 {"run", LuaLoadErrorAction::kRun},
                 {"exit", LuaLoadErrorAction::kExit}})
      .help(
          "A script set rejected at start: run without scripts, or print the errors and exit "
          "with status 1. auto: run live, exit offline (-r).");
  s.field("memory_limit", &LuaConfig::memory_limit)
      .range(uint64_t{1} << 20, uint64_t{64} << 30)
      .help("Soft memory cap of each worker VM, bytes; allocations may overdraw it by 25%.");
  s.section("budget", &LuaConfig::budget).help("CPU budgets of script calls.");
  s.section("log", &LuaConfig::log).help("Script log lines.");
  s.section("cache", &LuaConfig::cache).help("The ntop.* cache store.");
  s.section("http", &LuaConfig::http).help("ArkimeHttpService: asynchronous HTTP requests.");
  s.list("script_config", &LuaConfig::script_config)
      .help("Per-script settings: enable or disable, periodic interval, configuration values.");
  s.check("jit is off unless LuaJIT can interrupt compiled code", {"jit"},
          [](const LuaConfig& c, config::Issues& issues) {
            if (c.jit == LuaJit::kOn && !kLuajitHasCheckHook) {
              issues.error("jit",
                           "'on' needs a LuaJIT built with LUAJIT_ENABLE_CHECKHOOK; this one "
                           "cannot interrupt compiled code");
            }
          });
}

}  // namespace loupe
