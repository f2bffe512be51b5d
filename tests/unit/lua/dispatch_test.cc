// Hooks, their order and counts (contract §3.2), gating in C++ before any VM
// entry (§3.3), the three flow formats (§2.2, §2.3, §2.5) and flows that
// outlive a generation (§3.1).
#include <gtest/gtest.h>

#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

// A module printing "<hook>" on each of `hooks` (Lua list syntax), with
// extra module fields.
std::string printer(const std::string& fields = "", const std::string& hooks = "") {
  std::string s = "local c = {" + fields + " hooks = {}}\n";
  for (const char* h :
       {"flowBegin", "protocolDetected", "statusChanged", "periodicUpdate", "flowEnd"}) {
    if (!hooks.empty() && hooks.find(h) == std::string::npos) continue;
    s += std::string("function c.hooks.") + h + "(now, conf) print('" + h + "') end\n";
  }
  return s + "return c\n";
}

std::vector<std::string> all_lines(const KeptLog& log) {
  std::vector<std::string> out;
  for (const std::string& l : log.lines) {
    const size_t at = l.find("] ");
    out.push_back(at == std::string::npos ? l : l.substr(at + 2));
  }
  return out;
}

TEST(Dispatch, HooksRunInEventOrderAndLoadOrder) {
  Harness h(Files{{"flow/b.lua", printer()}, {"flow/a.lua", printer()}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), kNow);
  f.detect(0, 7);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  h.ws->on_protocol_detected(1, f.view(), kNow);  // at most once
  h.ws->on_flow_end(1, f.view(), kNow);
  h.ws->on_flow_end(1, f.view(), kNow);  // once
  EXPECT_EQ(all_lines(h.log),
            (std::vector<std::string>{"flow/a: flowBegin", "flow/b: flowBegin",
                                      "flow/a: protocolDetected", "flow/b: protocolDetected",
                                      "flow/a: flowEnd", "flow/b: flowEnd"}));
  EXPECT_EQ(h.ws->vm_entries(), 6u);
  EXPECT_EQ(h.ws->stats(0).calls[static_cast<int>(Hook::kFlowBegin)].get(), 1u);
}

TEST(Dispatch, ProtocolDetectedIsOwedBeforeFlowEnd) {
  Harness h(Files{{"flow/a.lua", printer()}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), kNow);
  h.ws->on_flow_end(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/a"),
            (std::vector<std::string>{"flowBegin", "protocolDetected", "flowEnd"}));
}

TEST(Dispatch, HookArgumentsAreIntegerPacketTimeAndTheSameConfigTable) {
  Harness h(Files{
      {"flow/a.lua",
       "local seen\n"
       "return {default_value = {limit = 5, nested = {a = 1}}, hooks = {all = function(now, conf)\n"
       "  print(now, conf.limit, conf.nested.a, conf.extra, seen == nil or seen == conf)\n"
       "  seen = conf end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), kNow + 999'999'999);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/a"), (std::vector<std::string>{"1700000010\t5\t1\tnil\ttrue",
                                                          "1700000010\t5\t1\tnil\ttrue"}));
}

TEST(Dispatch, ScriptConfigMergesOverDefaults) {
  LuaConfig cfg;
  cfg.script_config = {{"flow/a",
                        LuaScriptEnabled::kDefault,
                        0,
                        {"limit=7", "nested.b=\"x\"", "name=plain text", "flag=true"}}};
  Harness h(
      Files{{"flow/a.lua",
             "return {default_value = {limit = 5, nested = {a = 1}}, hooks = {protocolDetected = "
             "function(now, conf) print(conf.limit, conf.nested.a, conf.nested.b, conf.name, "
             "conf.flag) end}}"}},
      cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/a"), std::vector<std::string>{"7\t1\tx\tplain text\ttrue"});
}

TEST(Dispatch, DisabledAndSetupFalseScriptsAreLoadedButNeverCalled) {
  LuaConfig cfg;
  cfg.script_config = {{"flow/a", LuaScriptEnabled::kOff, 0, {}},
                       {"flow/gone", LuaScriptEnabled::kOn, 0, {}}};
  Harness h(Files{{"flow/a.lua", printer()},
                  {"flow/b.lua",
                   "local c = {hooks = {flowBegin = function() print('b') end}}\n"
                   "function c.setup() return false end\nreturn c"},
                  {"flow/c.lua", printer("default_enabled = false,")}},
            cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_NE(
      joined(h.result.warnings).find("lua.script_config.\"flow/gone\": no such script in the set"),
      std::string::npos);
  EXPECT_EQ(h.result.generation->slots, 0);
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), kNow);
  h.ws->on_flow_end(1, f.view(), kNow);
  EXPECT_EQ(h.ws->vm_entries(), 0u);
  EXPECT_FALSE(h.ws->active());
}

TEST(Dispatch, AnL7GateKeepsOtherProtocolsOutOfTheVm) {
  Harness h(Files{{"flow/http.lua", printer("l7_proto = 'HTTP',")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  // flowBegin in an L7-gated script is a warning and never runs.
  EXPECT_NE(joined(h.result.warnings).find("flowBegin is never called"), std::string::npos);
  for (uint32_t i = 0; i < 100; ++i) {
    TestFlow dns("10.0.0.1", static_cast<uint16_t>(1000 + i), "10.0.0.53", 53, 17);
    h.ws->on_flow_begin(i, dns.view(), kNow);
    h.ws->on_packet(i, dns.view(), kNow);
    dns.detect(0, 5);
    h.ws->on_protocol_detected(i, dns.view(), kNow);
    h.ws->on_packet(i, dns.view(), kNow + 600'000'000'000ull);
    h.ws->on_flow_end(i, dns.view(), kNow);
    h.ws->forget_flow(i);
  }
  EXPECT_EQ(h.ws->vm_entries(), 0u);
  TestFlow web("10.0.0.1", 1000, "10.0.0.80", 80);
  h.ws->on_flow_begin(1, web.view(), kNow);
  EXPECT_EQ(h.ws->vm_entries(), 0u);
  web.detect(0, 7);
  h.ws->on_protocol_detected(1, web.view(), kNow);
  h.ws->on_flow_end(1, web.view(), kNow);
  EXPECT_EQ(h.ws->vm_entries(), 2u);
  EXPECT_EQ(h.log.of("flow/http"), (std::vector<std::string>{"protocolDetected", "flowEnd"}));
}

TEST(Dispatch, MasterOrApplicationPassesTheL7Gate) {
  Harness h(Files{{"flow/tls.lua", printer("l7_proto = {'tls', 'QUIC'},", "protocolDetected")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 443);
  f.detect(91, 126);  // TLS.Google
  h.ws->on_protocol_detected(1, f.view(), kNow);
  TestFlow g("10.0.0.1", 1000, "10.0.0.2", 443, 17);
  g.detect(0, 188);  // QUIC
  h.ws->on_protocol_detected(2, g.view(), kNow);
  TestFlow x("10.0.0.1", 1000, "10.0.0.2", 80);
  x.detect(0, 7);
  h.ws->on_protocol_detected(3, x.view(), kNow);
  EXPECT_EQ(h.ws->vm_entries(), 2u);
}

TEST(Dispatch, L4AndLocalityGates) {
  Harness h(Files{{"flow/udp.lua", printer("l4_proto = 'udp',", "flowBegin")},
                  {"flow/num.lua", printer("l4_proto = {6, 'icmp'},", "flowBegin")},
                  {"flow/local.lua", printer("local_only = true,", "flowBegin")}},
            LuaConfig{}, {*parse_cidr("10.0.0.0/8", nullptr)});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow u("192.0.2.1", 1, "192.0.2.2", 2, 17);
  h.ws->on_flow_begin(1, u.view(), kNow);
  TestFlow t("10.0.0.1", 1, "192.0.2.2", 2, 6);
  h.ws->on_flow_begin(2, t.view(), kNow);
  EXPECT_EQ(all_lines(h.log),
            (std::vector<std::string>{"flow/udp: flowBegin", "flow/local: flowBegin",
                                      "flow/num: flowBegin"}));
}

TEST(Dispatch, HandshakeGateOpensWhenTheHandshakeCompletes) {
  Harness h(
      Files{{"flow/twh.lua", printer("three_way_handshake_ok = true,", "flowBegin flowEnd")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  f.flow.state = FlowState::kNew;
  f.flow.tcp_seen = kSeenSyn;
  h.ws->on_flow_begin(1, f.view(), kNow);
  EXPECT_TRUE(h.ws->wants_packet(1));
  f.flow.tcp_seen = kSeenSyn | kSeenSyn << 1 | kSeenData | kSeenData << 1;
  f.flow.state = FlowState::kEstablished;
  h.ws->on_packet(1, f.view(), kNow);
  EXPECT_FALSE(h.ws->wants_packet(1));
  h.ws->on_flow_end(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/twh"), std::vector<std::string>{"flowEnd"});
  // A UDP flow always passes.
  TestFlow u("10.0.0.1", 1000, "10.0.0.2", 53, 17);
  h.ws->on_flow_begin(2, u.view(), kNow);
  EXPECT_EQ(h.log.of("flow/twh").size(), 2u);
}

TEST(Dispatch, StatusChangedOnceAfterTheOtherHooksWhenRiskOrScoreRises) {
  Harness h(Files{{"flow/a.lua",
                   "return {hooks = {\n"
                   "  protocolDetected = function() print('pd') flow.triggerAlert(20, 'x') end,\n"
                   "  statusChanged = function() print('sc', flow.dump().score) "
                   "    if flow.dump().score < 30 then flow.triggerAlert(30, 'y') end end}}"},
                  {"flow/b.lua", printer("", "protocolDetected")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  f.detect(0, 7);
  h.ws->on_flow_begin(1, f.view(), kNow);
  h.ws->on_packet(1, f.view(), kNow);  // before detection: nothing
  h.ws->on_protocol_detected(1, f.view(), kNow);
  h.ws->on_packet(1, f.view(), kNow);  // the rise inside statusChanged, seen now
  h.ws->on_packet(1, f.view(), kNow);  // nothing new
  f.flow.l7.risk |= uint64_t{1} << 36;
  h.ws->on_packet(1, f.view(), kNow);  // a new risk
  EXPECT_EQ(all_lines(h.log),
            (std::vector<std::string>{"flow/a: pd", "flow/b: protocolDetected", "flow/a: sc\t20",
                                      "flow/a: sc\t30", "flow/a: sc\t30"}));
}

TEST(Dispatch, PeriodicUpdateAtMultiplesOfTheIntervalOfFlowAge) {
  LuaConfig cfg;
  cfg.script_config = {{"flow/ten", LuaScriptEnabled::kDefault, 10, {}}};
  Harness h(Files{{"flow/five.lua", printer("periodic_update_seconds = 5,", "periodicUpdate")},
                  {"flow/ten.lua", printer("", "periodicUpdate")}},
            cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), f.flow.first_ns);
  std::vector<std::string> got;
  for (uint64_t age : {1, 4, 5, 6, 9, 10, 11, 27, 28, 30}) {
    h.log.lines.clear();
    h.ws->on_packet(1, f.view(), f.flow.first_ns + age * 1'000'000'000ull);
    for (const auto& l : all_lines(h.log)) got.push_back(std::to_string(age) + " " + l);
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"5 flow/five: periodicUpdate", "10 flow/five: periodicUpdate",
                                      "10 flow/ten: periodicUpdate", "27 flow/five: periodicUpdate",
                                      "27 flow/ten: periodicUpdate", "30 flow/five: periodicUpdate",
                                      "30 flow/ten: periodicUpdate"}));
}

TEST(Dispatch, CallbacksFormatGlobalAndReturned) {
  Harness h(Files{{"flow/a.lua",
                   "function callbacks.flowCreate() print('create') end\n"
                   "function callbacks.flowProtocolDetected() print('detected') end\n"
                   "function callbacks.flowDelete() print('delete') end\n"},
                  {"flow/b.lua",
                   "local callbacks = {}\n"
                   "function callbacks.flowBegin() print('begin') end\n"
                   "function callbacks.flowUpdate() print('update') end\n"
                   "return callbacks\n"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_NE(joined(h.result.info).find("flow/a: no gates"), std::string::npos);
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), f.flow.first_ns);
  h.ws->on_protocol_detected(1, f.view(), f.flow.first_ns);
  h.ws->on_packet(1, f.view(), f.flow.first_ns + 121'000'000'000ull);
  h.ws->on_flow_end(1, f.view(), f.flow.first_ns);
  EXPECT_EQ(all_lines(h.log),
            (std::vector<std::string>{"flow/a: create", "flow/b: begin", "flow/a: detected",
                                      "flow/b: update", "flow/a: delete"}));
}

TEST(Dispatch, Ntopng6CustomScriptRunsWholePerEvent) {
  Harness h(
      Files{{"flow/custom_flow_end_script.lua",
             "local now, conf = ...\n"
             "count = (count or 0) + 1\n"
             "if flow.cli2srv_bytes() > 500 then print('large', count, type(now), type(conf)) end\n"
             "return(0)\n"},
            {"flow/custom_flow_lua_script.lua", "print('detected') return(0)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_TRUE(h.log.lines.empty());  // compiled, not run, at load
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  for (uint32_t i = 0; i < 2; ++i) {
    h.ws->on_protocol_detected(i, f.view(), kNow);
    h.ws->on_flow_end(i, f.view(), kNow);
  }
  EXPECT_EQ(h.log.of("flow/custom_flow_end_script"),
            (std::vector<std::string>{"large\t1\tnumber\ttable", "large\t2\tnumber\ttable"}));
  EXPECT_EQ(h.log.of("flow/custom_flow_lua_script").size(), 2u);
}

TEST(Dispatch, ModuleWinsOverCallbacksWithAWarning) {
  Harness h(Files{{"flow/a.lua",
                   "function callbacks.flowBegin() print('cb') end\n" + printer("", "flowBegin")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_NE(joined(h.result.warnings).find("the module wins"), std::string::npos);
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/a"), std::vector<std::string>{"flowBegin"});
}

TEST(Dispatch, FlowsOlderThanTheGenerationGetNoReplayedEvents) {
  const Files files{{"flow/a.lua", printer()}, {"flow/l7.lua", printer("l7_proto = 'HTTP',")}};
  Harness old_gen(files);
  Harness new_gen(files);
  ASSERT_TRUE(old_gen.ok() && new_gen.ok());
  TestFlow detected("10.0.0.1", 1000, "10.0.0.2", 80);
  TestFlow pending("10.0.0.1", 1001, "10.0.0.2", 80);
  for (auto* f : {&detected, &pending}) {
    old_gen.ws->on_flow_begin(f == &detected ? 1 : 2, f->view(), kNow);
  }
  detected.detect(0, 7);
  old_gen.ws->on_protocol_detected(1, detected.view(), kNow);
  // The swap: the new generation sees both flows for the first time.
  new_gen.ws->on_packet(1, detected.view(), kNow);
  new_gen.ws->on_protocol_detected(1, detected.view(), kNow);  // not replayed
  new_gen.ws->on_flow_end(1, detected.view(), kNow);
  pending.detect(0, 7);
  new_gen.ws->on_protocol_detected(2, pending.view(), kNow);  // completes after the swap
  new_gen.ws->on_flow_end(2, pending.view(), kNow);
  EXPECT_EQ(all_lines(new_gen.log),
            (std::vector<std::string>{"flow/a: flowEnd", "flow/l7: flowEnd",
                                      "flow/a: protocolDetected", "flow/l7: protocolDetected",
                                      "flow/a: flowEnd", "flow/l7: flowEnd"}));
}

TEST(Dispatch, ScalarHooksAllocateNothing) {
  Harness h(Files{{"flow/a.lua",
                   "return {hooks = {protocolDetected = function(now, conf)\n"
                   "  local a, b, c = flow.cli_port(), flow.bytes(), flow.is_oneway() end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  const auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      h.ws->forget_flow(1);
      h.ws->on_protocol_detected(1, f.view(), kNow);
    }
  };
  round(1000);
  const uint64_t before = h.ws->memory_used();
  round(100000);
  EXPECT_EQ(h.ws->memory_used(), before);
  EXPECT_EQ(h.ws->vm_entries(), 101000u);
}

TEST(Dispatch, PeriodicDueTimeForTimers) {
  Harness h(Files{{"flow/p.lua", printer("periodic_update_seconds = 30,", "periodicUpdate")}});
  ASSERT_TRUE(h.ok());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  EXPECT_EQ(h.ws->periodic_due_ns(1, f.flow.first_ns), UINT64_MAX);
  h.ws->on_flow_begin(1, f.view(), f.flow.first_ns);
  EXPECT_EQ(h.ws->periodic_due_ns(1, f.flow.first_ns), f.flow.first_ns + 30'000'000'000ull);
  EXPECT_EQ(generation_summary(h.result),
            "lua: generation 1 active: flow 1 files (1 active); 0 warnings");
}

}  // namespace
}  // namespace loupe::test
