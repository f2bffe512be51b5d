// Limits (contract §6.3–§6.5, §7.1): the memory cap, the hard stop of
// runaway calls by the watchdog, load limits, strikes and suspensions, and
// sets rejected whole with every error.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "lua/supervisor.h"
#include "lua/vm.h"
#include "lua/watchdog.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

constexpr const char* kCounter =
    "return {hooks = {protocolDetected = function() n = (n or 0) + 1 print('other', n) end}}";

TEST(Memory, AScriptAllocatingWithoutBoundGetsAMemoryErrorAndOthersRun) {
  LuaConfig cfg;
  cfg.memory_limit = 8u << 20;
  Harness h(
      Files{
          {"flow/a_hog.lua",
           "return {hooks = {protocolDetected = function()\n"
           "  local t = {}\n"
           "  print(pcall(function() for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end end))\n"
           "  print('not reached')\n"
           "end}}"},
          {"flow/b_other.lua", kCounter}},
      cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_TRUE(h.log.of("flow/a_hog").size() == 1) << joined(h.log.lines);
  EXPECT_TRUE(h.log.contains("not enough memory (lua.memory_limit reached in worker0)"));
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kMemory)].get(), 1u);
  // The garbage went with the call: the script is not suspended.
  EXPECT_EQ(h.ws->suspended(), 0u);
  EXPECT_LE(h.ws->memory_used(), cfg.memory_limit);
  h.ws->on_protocol_detected(2, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/b_other"), (std::vector<std::string>{"other\t1", "other\t2"}));
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kMemory)].get(), 2u);
}

TEST(Memory, AScriptKeepingTooMuchIsSuspended) {
  LuaConfig cfg;
  cfg.memory_limit = 8u << 20;
  Harness h(Files{{"flow/a_hog.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  local kept = flow.getScriptState()\n"
                   "  for i = 1, 1e9 do kept[#kept + 1] = string.rep('y', 100) .. i end\n"
                   "end}}"},
                  {"flow/b_other.lua", kCounter}},
            cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.ws->suspended(), 1u);
  EXPECT_EQ(h.ws->stats(0).memory_stops.get(), 1u);
  EXPECT_LT(h.ws->memory_used(), cfg.memory_limit / 2);  // its per-flow state went with it
  h.ws->on_protocol_detected(2, f.view(), kNow);
  EXPECT_EQ(h.ws->stats(0).calls[static_cast<int>(Hook::kProtocolDetected)].get(), 1u);
  EXPECT_EQ(h.log.of("flow/b_other").size(), 2u);
}

TEST(Memory, TheVmCountsItsBytesAndCollectsPastSeventyPercent) {
  Vm vm("t", 4u << 20);
  EXPECT_GT(vm.used(), 0u);
  EXPECT_FALSE(vm.collect_if_needed());
}

// A worker whose first script runs `body` in protocolDetected, under a
// watchdog with a 20 ms hard limit.
struct Runaway {
  Harness h;
  Watchdog dog;
  explicit Runaway(const std::string& body)
      : h(Files{{"flow/a_loop.lua",
                 "return {hooks = {protocolDetected = function()\n" + body + "\nend}}"},
                {"flow/b_other.lua", kCounter}}) {
    EXPECT_TRUE(h.ok()) << h.errors();
    h.ws->bind_thread();
    dog.watch(h.ws->watch(), h.result.generation->config.budget.hard_worker_ms);
    dog.start();
  }
  void check() {
    TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
    const auto t0 = std::chrono::steady_clock::now();
    h.ws->on_protocol_detected(1, f.view(), kNow);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_LT(ms, 2000);
    EXPECT_EQ(h.ws->stats(0).hard_stops.get(), 1u);
    EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kHardStop)].get(), 1u);
    EXPECT_TRUE(h.log.contains("call stopped after 20 ms of CPU time (lua.budget.hard_worker_ms)"))
        << joined(h.log.lines);
    EXPECT_EQ(h.ws->suspended(), 1u);  // the runaway script, at once
    // The other script ran in the same event and keeps running.
    h.ws->on_protocol_detected(2, f.view(), kNow);
    EXPECT_EQ(h.log.of("flow/b_other"), (std::vector<std::string>{"other\t1", "other\t2"}));
    EXPECT_GE(dog.interrupts(), 1u);
    EXPECT_EQ(dog.stalls(), 0u);
  }
};

TEST(HardStop, EndlessLoop) { Runaway("while true do end").check(); }

TEST(HardStop, EndlessLoopInsidePcall) {
  Runaway("print(pcall(function() while true do end end)) print('caught')").check();
}

TEST(HardStop, EndlessLoopInsideXpcallHandlerNeverRuns) {
  Runaway r("xpcall(function() while true do end end, function(e) print('handler ran') end)");
  r.check();
  EXPECT_FALSE(r.h.log.contains("handler ran"));
}

TEST(HardStop, EndlessLoopInsideACoroutine) {
  Runaway(
      "local co = coroutine.create(function() while true do end end)\n"
      "print(coroutine.resume(co)) print('resumed')")
      .check();
}

TEST(HardStop, EndlessLoopInsideCoroutineWrap) {
  Runaway("print(pcall(coroutine.wrap(function() while true do end end)))").check();
}

TEST(HardStop, EndlessTailCall) {
  Runaway("local function f(n) return f(n + 1) end return f(1)").check();
}

TEST(HardStop, DeepRecursionIsAnOrdinaryError) {
  Harness h(Files{{"flow/a.lua",
                   "local function f() return 1 + f() end\n"
                   "return {hooks = {protocolDetected = function() f() end}}"}});
  ASSERT_TRUE(h.ok());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kRuntime)].get(), 1u);
  EXPECT_EQ(h.ws->suspended(), 0u);
  EXPECT_TRUE(h.log.contains("stack overflow"));
}

TEST(HardStop, AnEndlessLoadIsStoppedAndRejectsTheSet) {
  LuaConfig cfg;
  cfg.budget.load_ms = 50;
  const auto r = build_set(Files{{"flow/slow.lua", "while true do end"},
                                 {"flow/setup.lua",
                                  "return {hooks = {flowEnd = function() end},\n"
                                  "setup = function() while true do end end}"}},
                           cfg);
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_EQ(joined(r.errors),
            "flow/slow.lua: load stopped after 50 ms of CPU time (lua.budget.load_ms)\n"
            "flow/setup.lua: load stopped after 50 ms of CPU time (lua.budget.load_ms)\n");
}

TEST(Budget, OverrunsBecomeStrikesThenASuspensionThatDoublesAndLifts) {
  LuaConfig cfg;
  cfg.budget.worker_call_us = 1;
  cfg.budget.strikes = 3;
  cfg.budget.suspend_seconds = 10;
  cfg.budget.max_suspend_seconds = 15;
  cfg.budget.enforce = LuaBudgetEnforce::kOn;
  Harness h(Files{{"flow/slow.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  local x = 0 for i = 1, 200000 do x = x + i end end}}"}},
            cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  h.ws->bind_thread();
  Supervisor sup(h.result.generation);
  sup.add(h.ws.get());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  uint64_t now = 1'000'000'000'000ull;
  for (uint32_t i = 0; i < 2; ++i) h.ws->on_protocol_detected(i, f.view(), kNow);
  sup.poll(now);
  EXPECT_FALSE(sup.suspended(0));
  h.ws->on_protocol_detected(2, f.view(), kNow);
  sup.poll(now);
  EXPECT_TRUE(sup.suspended(0));
  EXPECT_EQ(h.ws->stats(0).overruns.get(), 3u);
  h.ws->on_burst_end();
  EXPECT_EQ(h.ws->suspended(), 1u);
  h.ws->on_protocol_detected(3, f.view(), kNow);
  EXPECT_EQ(h.ws->vm_entries(), 3u);  // suspended: no VM entry
  now += 10'000'000'000ull;
  sup.poll(now);
  EXPECT_FALSE(sup.suspended(0));
  h.ws->on_burst_end();
  EXPECT_EQ(h.ws->suspended(), 0u);
  for (uint32_t i = 4; i < 7; ++i) h.ws->on_protocol_detected(i, f.view(), kNow);
  sup.poll(now);
  EXPECT_EQ(sup.suspended_until_ns(0), now + 15'000'000'000ull);  // doubled, capped
  EXPECT_EQ(sup.suspensions(0, SuspendReason::kBudget), 2u);
  const auto log = sup.take_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "lua: flow/slow suspended for 10 s (budget)");
  EXPECT_EQ(log[1], "lua: flow/slow resumed");
  EXPECT_EQ(log[2], "lua: flow/slow suspended for 15 s (budget)");
}

TEST(Budget, MeasureOnlyCountsOverrunsButNeverSuspends) {
  LuaConfig cfg;
  cfg.budget.worker_call_us = 1;
  cfg.budget.strikes = 1;
  cfg.budget.enforce = LuaBudgetEnforce::kMeasureOnly;
  Harness h(Files{{"flow/slow.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  local x = 0 for i = 1, 200000 do x = x + i end end}}"}},
            cfg);
  ASSERT_TRUE(h.ok());
  Supervisor sup(h.result.generation);
  sup.add(h.ws.get());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  for (uint32_t i = 0; i < 5; ++i) h.ws->on_protocol_detected(i, f.view(), kNow);
  sup.poll(1);
  EXPECT_EQ(h.ws->stats(0).overruns.get(), 5u);
  EXPECT_FALSE(sup.suspended(0));
}

TEST(Budget, AHardStopBecomesASuspensionInEveryWorker) {
  Harness h(Files{
      {"flow/a.lua", "return {hooks = {protocolDetected = function() while true do end end}}"}});
  ASSERT_TRUE(h.ok());
  auto second = build_worker(h.result.generation, 1, 1024);
  ASSERT_TRUE(second);
  Watchdog dog;
  h.ws->bind_thread();
  dog.watch(h.ws->watch(), 20);
  dog.start();
  Supervisor sup(h.result.generation);
  sup.add(h.ws.get());
  sup.add(second.get());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  sup.poll(5);
  EXPECT_TRUE(sup.suspended(0));
  EXPECT_EQ(sup.suspensions(0, SuspendReason::kHardStop), 1u);
  second->on_burst_end();
  EXPECT_EQ(second->suspended(), 1u);
  second->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(second->vm_entries(), 0u);
}

TEST(LoadErrors, ABrokenSetIsRejectedWholeWithEveryError) {
  const auto r = build_set(Files{
      {"flow/a_ok.lua", "return {hooks = {flowEnd = function() end}}"},
      {"flow/bad.lua", "local a = 1\nx y\n"},
      {"flow/foo.lua", "helper()\n"},
      {"flow/web.lua", "return {l7_proto = 'HTTPS', hooks = {protocolDetected = function() end}}"},
      {"flow/l4.lua", "return {l4_proto = 'tcpx', hooks = {flowEnd = function() end}}"},
      {"flow/hooks.lua", "return {hooks = {flowEnd = 5}, periodic_update_seconds = 2}"},
      {"flow/mod.lua", "require 'alert_consts'"},
      {"flow/list.lua", "local l = loupe.read_list('sni_blocklist.txt')"},
      {"flow/x.lua", "local f = io.open('/etc/passwd')"}});
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_EQ(
      joined(r.errors),
      "flow/bad.lua:2: '=' expected near 'y'\n"
      "flow/foo.lua:1: attempt to call global 'helper' (a nil value)\n"
      "flow/hooks.lua: hooks.flowEnd: function expected, got number\n"
      "flow/hooks.lua: periodic_update_seconds: integer >= 5 expected, got 2\n"
      "flow/l4.lua: l4_proto: unknown L4 protocol 'tcpx'\n"
      "flow/list.lua:1: loupe.read_list: no data file 'sni_blocklist.txt' in the set "
      "(data/sni_blocklist.txt)\n"
      "flow/mod.lua:1: require: module 'alert_consts' not found (built-ins, lib/alert_consts.lua)\n"
      "flow/web.lua: l7_proto: unknown nDPI protocol 'HTTPS'\n"
      "flow/x.lua:1: io.open is not available in the loupe sandbox\n");
}

TEST(LoadErrors, MoreThanSixtyFourActiveScriptsIsALimitError) {
  Files files;
  for (int i = 0; i < 65; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "flow/s%02d.lua", i);
    files[name] = "return {hooks = {flowEnd = function() end}}";
  }
  auto r = build_set(files);
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_EQ(
      joined(r.errors),
      "flow/s64.lua: more than 64 active flow scripts with hooks in one generation (limit)\n");
  LuaConfig cfg;  // one disabled: 64 active is fine
  cfg.script_config = {{"flow/s07", LuaScriptEnabled::kOff, 0, {}}};
  r = build_set(files, cfg);
  ASSERT_NE(r.generation, nullptr) << joined(r.errors);
  EXPECT_EQ(r.generation->slots, 64);
}

TEST(LoadErrors, JitOnIsRefused) {
  LuaConfig cfg;
  cfg.jit = LuaJit::kOn;
  const auto r = build_set(Files{}, cfg);
  EXPECT_EQ(joined(r.errors),
            "lua.jit: 'on' needs a LuaJIT built with LUAJIT_ENABLE_CHECKHOOK; this one cannot "
            "interrupt compiled code\n");
}

TEST(LoadErrors, TheSetHashCoversCodeDataAndConfiguration) {
  const Files files{{"flow/a.lua", "return {hooks = {}}"}, {"data/x.txt", "1"}};
  const std::string base = script_set_from(files).hash;
  EXPECT_EQ(script_set_from(files).hash, base);
  Files changed = files;
  changed["data/x.txt"] = "2";
  EXPECT_NE(script_set_from(changed).hash, base);
  EXPECT_NE(script_set_from(files, "lua.memory_limit=1").hash, base);
  EXPECT_EQ(base.size(), 64u);
}

}  // namespace
}  // namespace loupe::test
