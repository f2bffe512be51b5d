// Arkime session scripts (contract §5.1–§5.6, §3.4): registration and its
// errors, the generation's registry, each callback kind as the engine calls
// it, session objects, field expressions, and what reaches the record.
#include <gtest/gtest.h>

#include <lua.hpp>

#include "lua/control_scripts.h"
#include "lua/script_host.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

constexpr uint32_t kIdx = 7;

const uint8_t* u8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }
uint32_t len(std::string_view s) { return static_cast<uint32_t>(s.size()); }

// A script's lines without the error lines the engine logged for it.
std::vector<std::string> printed(const KeptLog& log, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string& l : log.of(key))
    if (l.rfind("error in ", 0) != 0) out.push_back(l);
  return out;
}

// The errors of a set made of one file.
std::string load_errors(const std::string& code) {
  const GenerationResult r = build_set(Files{{"flow/e.lua", code}});
  return joined(r.errors);
}

void classify(Harness& h, const TestFlow& f, const char* payload, uint32_t idx = kIdx,
              uint32_t which = 0, uint8_t dir = 0) {
  h.ws->on_arkime_classify(idx, f.view(), which, u8(payload), len(payload), dir, kNow);
}

TEST(Arkime, RegistrationsMakeTheGenerationsRegistry) {
  Harness h(Files{{"flow/reg.lua", R"(
function c1(session, str, direction) end
ArkimeSession.register_tcp_classifier("redis", 0, "*", "c1")
ArkimeSession.register_udp_classifier("dnsish", 2, "\1\0", function() end)
ArkimeSession.register_body_feed("http", "c1")
ArkimeSession.register_body_feed("smtp", "c1")
ArkimeSession.http_on(ArkimeSession.HTTP.URL, "c1")
MolochSession.http_on(MolochSession.HTTP.MESSAGE_COMPLETE, c1)
ArkimeSession.register_pre_save("c1")
ArkimeSession.register_save("c1")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  const Generation& g = *h.result.generation;
  ASSERT_EQ(g.arkime_regs.size(), 8u);
  const ArkimeRegSpec& tcp = g.arkime_regs[0];
  EXPECT_EQ(tcp.kind, ArkimeRegKind::kTcpClassifier);
  EXPECT_EQ(tcp.name, "redis");
  EXPECT_EQ(tcp.match, "*");
  EXPECT_EQ(tcp.fn, "c1");
  EXPECT_TRUE(tcp.active);
  EXPECT_EQ(tcp.script, 0);
  EXPECT_EQ(g.arkime_regs[1].match, std::string("\1\0", 2));
  EXPECT_EQ(g.arkime_regs[1].offset, 2);
  EXPECT_EQ(g.arkime_regs[1].fn, "") << "a function value has no name";
  EXPECT_EQ(g.arkime_regs[5].kind, ArkimeRegKind::kHttpOn);
  EXPECT_EQ(g.arkime_regs[5].arg, 8);
  ASSERT_EQ(g.arkime_classifiers.size(), 2u);
  EXPECT_EQ(g.arkime_classifiers[0].proto, 6);
  EXPECT_EQ(g.arkime_classifiers[1].proto, 17);
  EXPECT_EQ(g.arkime_classifiers[1].name, "dnsish");
  EXPECT_EQ(g.http_events, (1u << 1) | (1u << 7));
  EXPECT_TRUE(g.body_http && g.body_smtp && g.pre_save && g.save);
  EXPECT_TRUE(h.ws->wants_http_events());
  EXPECT_TRUE(h.ws->wants_body(BodyFeed::kSmtp));
  for (const std::string& w : h.result.warnings)
    EXPECT_EQ(w.find("defines no flow hooks"), std::string::npos) << w;
}

TEST(Arkime, NothingRegisteredMeansNoArkimeWork) {
  Harness h(Files{{"flow/a.lua",
                   "local c = {hooks = {}}\nfunction c.hooks.flowEnd() end\n"
                   "return c\n"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  EXPECT_FALSE(h.ws->wants_http_events());
  EXPECT_FALSE(h.ws->wants_body(BodyFeed::kHttp));
  EXPECT_FALSE(h.ws->wants_stream(kIdx));
  classify(h, f, "x");
  h.ws->on_http_event(kIdx, f.view(), 0, 2, u8("/"), 1, kNow);
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  h.ws->on_save(kIdx, f.view(), true, kNow);
  EXPECT_EQ(h.ws->vm_entries(), 0u);
}

TEST(Arkime, RegistrationArgumentErrors) {
  EXPECT_NE(load_errors("ArkimeSession.register_tcp_classifier('', 0, 'x', print)")
                .find("flow/e.lua:1: ArkimeSession.register_tcp_classifier: bad argument #1 "
                      "'name' (string of 1-64 bytes expected, got string)"),
            std::string::npos);
  EXPECT_NE(load_errors("ArkimeSession.register_tcp_classifier(string.rep('n', 65), 0, 'x', print)")
                .find("#1 'name'"),
            std::string::npos);
  for (const char* off : {"-1", "1024", "1.5", "{}"}) {
    EXPECT_NE(load_errors(std::string("ArkimeSession.register_udp_classifier('n', ") + off +
                          ", 'x', print)")
                  .find("ArkimeSession.register_udp_classifier: bad argument #2 'offset'"),
              std::string::npos)
        << off;
  }
  EXPECT_NE(load_errors("ArkimeSession.register_tcp_classifier('n', 0, '', print)")
                .find("#3 'match' (string of 1-255 bytes expected"),
            std::string::npos);
  EXPECT_NE(load_errors("ArkimeSession.register_tcp_classifier('n', 1000, string.rep('m', 30), "
                        "print)")
                .find("offset + #match must be at most 1024 (got 1030)"),
            std::string::npos);
  EXPECT_EQ(load_errors("ArkimeSession.register_tcp_classifier('n', 1000, string.rep('m', 24), "
                        "print)"),
            "");
  EXPECT_NE(load_errors("ArkimeSession.register_tcp_classifier('n', 0, 'x', 42)")
                .find("#4 'fn' (function or global function name expected, got number)"),
            std::string::npos);
  EXPECT_NE(load_errors("ArkimeSession.register_body_feed('ftp', print)")
                .find("ArkimeSession.register_body_feed: unknown body feed type 'ftp' (expected "
                      "\"http\" or \"smtp\")"),
            std::string::npos);
  EXPECT_NE(load_errors("ArkimeSession.http_on(9, print)")
                .find("ArkimeSession.http_on: bad argument #1 'type'"),
            std::string::npos);
  EXPECT_NE(load_errors("ArkimeSession.register_pre_save(nil)").find("#1 'fn'"), std::string::npos);
}

TEST(Arkime, CallbackNamesResolveAfterTheWholeSetLoaded) {
  // Defined after the registration: fine, names resolve at the end.
  EXPECT_EQ(load_errors("ArkimeSession.register_save('later')\nfunction later() end\n"), "");
  const std::string e = load_errors(
      "\nArkimeSession.register_save('nosuch')\nnosuch2 = 1\n"
      "ArkimeSession.register_pre_save('nosuch2')\n");
  EXPECT_NE(e.find("flow/e.lua:2: ArkimeSession.register_save: 'nosuch' is not a global function "
                   "of flow/e.lua (got nil)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("flow/e.lua:4: ArkimeSession.register_pre_save: 'nosuch2' is not a global "
                   "function of flow/e.lua (got number)"),
            std::string::npos)
      << e;
  // Another file's global is not this file's.
  const GenerationResult r =
      build_set(Files{{"flow/a.lua", "function shared() end\n"},
                      {"flow/b.lua", "ArkimeSession.register_save('shared')\n"}});
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_NE(joined(r.errors).find("'shared' is not a global function of flow/b.lua"),
            std::string::npos);
}

TEST(Arkime, AtMost32CallbacksPerKindAndVm) {
  EXPECT_EQ(load_errors("for i = 1, 32 do ArkimeSession.register_save(print) end\n"
                        "for i = 1, 32 do ArkimeSession.http_on(1, print) end\n"
                        "for i = 1, 32 do ArkimeSession.http_on(2, print) end\n"),
            "");
  EXPECT_NE(load_errors("for i = 1, 33 do ArkimeSession.register_save(print) end")
                .find("ArkimeSession.register_save: more than 32 callbacks of one kind in a VM"),
            std::string::npos);
  EXPECT_NE(load_errors("for i = 1, 33 do ArkimeSession.register_body_feed('smtp', print) end")
                .find("more than 32"),
            std::string::npos);
}

TEST(Arkime, RegistrationOnlyWhileTheFileLoads) {
  // setup() is part of loading; a hook is not.
  Harness h(Files{{"flow/m.lua", R"(
local m = {hooks = {}}
function m.setup() ArkimeSession.register_save(print) return true end
function m.hooks.protocolDetected() ArkimeSession.register_pre_save(print) end
return m
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_EQ(h.result.generation->arkime_regs.size(), 1u);
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_flow_begin(kIdx, f.view(), kNow);
  h.ws->on_protocol_detected(kIdx, f.view(), kNow);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kApi)].get(), 1u);
  EXPECT_TRUE(
      h.log.contains("ArkimeSession.register_pre_save: registration is only allowed while "
                     "the file loads"));
}

TEST(Arkime, InactiveFilesRegisterNothingTheEngineSees) {
  Harness h(Files{{"flow/m.lua", R"(
local m = {hooks = {}}
function m.hooks.flowEnd() end
function m.setup() return false end
ArkimeSession.register_tcp_classifier("x", 0, "x", print)
return m
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  const Generation& g = *h.result.generation;
  ASSERT_EQ(g.arkime_regs.size(), 1u);
  EXPECT_FALSE(g.arkime_regs[0].active);
  EXPECT_TRUE(g.arkime_classifiers.empty());
}

TEST(Arkime, WorkerVmsMustMakeTheSameRegistrations) {
  Harness h(Files{{"flow/a.lua", "ArkimeSession.register_tcp_classifier('a', 0, 'ab', print)\n"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  std::vector<std::string> errors;
  EXPECT_NE(build_worker(h.result.generation, 1, 64, &errors), nullptr) << joined(errors);
  auto changed = std::make_shared<Generation>(*h.result.generation);
  changed->arkime_regs[0].offset = 1;
  errors.clear();
  EXPECT_EQ(build_worker(changed, 1, 64, &errors), nullptr);
  EXPECT_NE(joined(errors).find("Arkime registrations differ between worker VMs (check, worker1)"),
            std::string::npos)
      << joined(errors);
}

TEST(Arkime, TheControlVmHasNoArkimeSession) {
  Harness h(Files{{"flow/a.lua", "ArkimeSession.register_save(print)\n"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  ControlCall call{};
  ScriptHost control("control", *h.result.generation, &h.log, &call);
  EXPECT_EQ(control.arkime, nullptr);
  lua_State* L = control.L();
  lua_rawgeti(L, LUA_REGISTRYINDEX, control.ref_libs);
  for (const char* name : {"ArkimeSession", "Arkime", "MolochSession", "Moloch"}) {
    lua_getfield(L, -1, name);
    EXPECT_TRUE(lua_isnil(L, -1)) << name;
    lua_pop(L, 1);
  }
  lua_getfield(L, -1, "ArkimeData");
  EXPECT_TRUE(lua_istable(L, -1)) << "ArkimeData is in every VM";
  lua_pop(L, 2);
}

TEST(Arkime, ClassifyThenParsersWithGapsUntilMinusOne) {
  Harness h(Files{{"flow/t.lua", R"(
function classify(session, str, direction)
  print("classify", str, direction, session.srcIp, session.dstPort, flow.srv_port())
  session:register_parser(parse)
  session:register_parser("parse2")
end
function parse(session, str, direction, gap)
  print("parse", str, direction, tostring(gap))
  if str == "stop" then return -1 end
end
function parse2(session, str) print("parse2", str) error("boom") end
ArkimeSession.register_tcp_classifier("star", 0, "*", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 6379);
  EXPECT_FALSE(h.ws->wants_stream(kIdx));
  classify(h, f, "*1\r\n");
  ASSERT_TRUE(h.ws->wants_stream(kIdx));
  // The classified payload goes to the parsers right after classify.
  h.ws->on_stream_data(kIdx, f.view(), 0, u8("*1\r\n"), 4, false, kNow);
  h.ws->on_stream_data(kIdx, f.view(), 1, u8("+OK"), 3, true, kNow);
  h.ws->on_stream_data(kIdx, f.view(), 0, u8("stop"), 4, false, kNow);
  EXPECT_FALSE(h.ws->wants_stream(kIdx));
  h.ws->on_stream_data(kIdx, f.view(), 0, u8("late"), 4, false, kNow);  // nobody listens
  EXPECT_EQ(printed(h.log, "flow/t"),
            (std::vector<std::string>{"classify\t*1\r\n\t0\t10.0.0.1\t6379\t6379",
                                      "parse\t*1\r\n\t0\tfalse", "parse2\t*1\r\n",
                                      "parse\t+OK\t1\ttrue", "parse\tstop\t0\tfalse"}));
  const ScriptStats& st = h.ws->stats(0);
  EXPECT_EQ(st.arkime_calls[static_cast<int>(ArkimeHook::kClassify)].get(), 1u);
  EXPECT_EQ(st.arkime_calls[static_cast<int>(ArkimeHook::kParser)].get(), 4u);
  EXPECT_EQ(st.errors[static_cast<int>(ErrorKind::kRuntime)].get(), 1u);
  EXPECT_TRUE(h.log.contains("error in parser (1:"));
  EXPECT_TRUE(h.log.contains("flow/t.lua:11: boom"));
  // Another flow is not affected by this one's parsers.
  EXPECT_FALSE(h.ws->wants_stream(kIdx + 1));
}

TEST(Arkime, AtMostEightParsersPerFlow) {
  Harness h(Files{{"flow/t.lua", R"(
function classify(session)
  for i = 1, 8 do session:register_parser(print) end
  local ok, err = pcall(function() session:register_parser(print) end)
  print(ok, err)
end
ArkimeSession.register_udp_classifier("u", 0, "u", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 5000, "10.0.0.2", 53, 17);
  classify(h, f, "u");
  ASSERT_EQ(h.log.of("flow/t").size(), 1u);
  EXPECT_EQ(h.log.of("flow/t")[0],
            "false\tflow/t.lua:4: session:register_parser: more than 8 parsers on one flow");
}

TEST(Arkime, HttpEventsWithBorrowedData) {
  Harness h(Files{{"flow/h.lua", R"(
-- A fixed order: pairs() may visit keys in another order in each VM.
local names = {"MESSAGE_BEGIN", "URL", "HEADER_FIELD", "HEADER_FIELD_RAW", "HEADER_VALUE",
               "HEADERS_COMPLETE", "BODY", "MESSAGE_COMPLETE"}
function on_event(session, data, direction)
  print(names[saw_event], data and data:get() or "nil", direction)
end
for i, name in ipairs(names) do
  local v = ArkimeSession.HTTP[name]
  assert(v == i)
  ArkimeSession.http_on(v, function(session, data, direction)
    saw_event = v
    on_event(session, data, direction)
    if v == ArkimeSession.HTTP.URL then kept = data end
    if v == ArkimeSession.HTTP.MESSAGE_COMPLETE then return kept:get() end
    if v == ArkimeSession.HTTP.HEADER_VALUE and data:get() == "stop" then return -1 end
  end)
end
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  auto ev = [&](uint8_t event, const char* data, uint8_t dir = 0, uint32_t idx = kIdx) {
    h.ws->on_http_event(idx, f.view(), dir, event, data ? u8(data) : nullptr, data ? len(data) : 0,
                        kNow);
  };
  ev(1, "GET");
  ev(2, "/index.html");
  ev(3, "host");
  ev(4, "Host");
  ev(5, "example.org");
  ev(6, nullptr);
  ev(7, "body", 1);
  ev(8, nullptr);  // uses the URL's data after its callback returned: error, stopped
  ev(8, nullptr);  // not called again on this flow
  ev(5, "stop");   // returns -1: stopped too
  ev(5, "again");
  ev(5, "other flow", 0, kIdx + 1);
  EXPECT_EQ(printed(h.log, "flow/h"),
            (std::vector<std::string>{"MESSAGE_BEGIN\tGET\t0", "URL\t/index.html\t0",
                                      "HEADER_FIELD\thost\t0", "HEADER_FIELD_RAW\tHost\t0",
                                      "HEADER_VALUE\texample.org\t0", "HEADERS_COMPLETE\tnil\t0",
                                      "BODY\tbody\t1", "MESSAGE_COMPLETE\tnil\t0",
                                      "HEADER_VALUE\tstop\t0", "HEADER_VALUE\tother flow\t0"}));
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kApi)].get(), 1u);
  EXPECT_TRUE(h.log.contains(
      "error in http (1:3k1SoWXs/FltHw2aBCgUTgbDQF4=): ArkimeData: object used after its "
      "callback returned; keep data:copy() or data:get()"));
  EXPECT_EQ(h.ws->stats(0).arkime_calls[static_cast<int>(ArkimeHook::kHttp)].get(), 10u);
}

TEST(Arkime, BodyFeeds) {
  Harness h(Files{{"flow/b.lua", R"(
ArkimeSession.register_body_feed("http", function(session, data, direction)
  print("http", data:get(), direction, data:memmem("d"))
  if data:get() == "last" then return -1 end
end)
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_TRUE(h.ws->wants_body(BodyFeed::kHttp));
  EXPECT_FALSE(h.ws->wants_body(BodyFeed::kSmtp));
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  h.ws->on_body(kIdx, f.view(), 0, 1, u8("abcd"), 4, kNow);
  h.ws->on_body(kIdx, f.view(), 1, 1, u8("smtp"), 4, kNow);  // no smtp feed
  h.ws->on_body(kIdx, f.view(), 0, 0, u8("last"), 4, kNow);
  h.ws->on_body(kIdx, f.view(), 0, 0, u8("more"), 4, kNow);
  EXPECT_EQ(h.log.of("flow/b"),
            (std::vector<std::string>{"http\tabcd\t1\ttrue\t3", "http\tlast\t0\tfalse"}));
}

TEST(Arkime, SavesOutstandingAndTheEndOfSessions) {
  Harness h(Files{{"flow/s.lua", R"(
function pre(session, final)
  print("pre", tostring(final))
  session:incr_outstanding()
  if final then
    session:decr_outstanding()
    session:decr_outstanding()
    print(pcall(function() session:decr_outstanding() end))
  end
end
function save(session, final)
  print("save", tostring(final), pcall(function() session:incr_outstanding() end))
  kept = session
end
function classify(session) print("classify", pcall(function() return kept.srcIp end)) end
ArkimeSession.register_pre_save("pre")
ArkimeSession.register_save("save")
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  h.ws->on_pre_save(kIdx, f.view(), false, kNow);
  h.ws->on_save(kIdx, f.view(), false, kNow);
  EXPECT_EQ(h.ws->outstanding(kIdx), 1u);
  classify(h, f, "c", kIdx + 1);  // the kept session's flow is alive
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  h.ws->on_save(kIdx, f.view(), true, kNow);
  EXPECT_EQ(h.ws->outstanding(kIdx), 0u);
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  h.ws->on_save(kIdx, f.view(), true, kNow);  // once only
  classify(h, f, "c", kIdx + 1);              // now it has ended
  h.ws->forget_flow(kIdx);
  h.ws->on_pre_save(kIdx, f.view(), false, kNow);
  h.ws->on_save(kIdx, f.view(), false, kNow);  // the index serves a new flow
  EXPECT_EQ(h.log.of("flow/s"),
            (std::vector<std::string>{
                "pre\tfalse",
                "save\tfalse\tfalse\tflow/s.lua:12: session:incr_outstanding: not allowed in a "
                "save callback",
                "classify\ttrue\t10.0.0.1", "pre\ttrue",
                "false\tflow/s.lua:8: session:decr_outstanding: no operation is outstanding",
                "save\ttrue\tfalse\tflow/s.lua:12: session:incr_outstanding: not allowed in a "
                "save callback",
                "classify\tfalse\tflow/s.lua:15: ArkimeSession: the flow of this session has ended",
                "pre\tfalse",
                "save\tfalse\tfalse\tflow/s.lua:12: session:incr_outstanding: not "
                "allowed in a save callback"}));
}

// A held final save (the engine's side: hold, take_released) is released
// by the decr_outstanding that brings the count to 0, whoever calls it.
TEST(Arkime, ADecrementToZeroReleasesAHeldSave) {
  Harness h(Files{{"flow/s.lua", R"(
function pre(session, final)
  if final then session:incr_outstanding(); session:incr_outstanding(); kept = session end
end
function save(session, final) print("save", tostring(final)) end
function classify(session) kept:decr_outstanding() end
ArkimeSession.register_pre_save("pre")
ArkimeSession.register_save("save")
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  EXPECT_EQ(h.ws->outstanding(kIdx), 2u);
  h.ws->hold(kIdx);
  EXPECT_FALSE(h.ws->take_released());
  classify(h, f, "c", kIdx + 1);
  EXPECT_EQ(h.ws->outstanding(kIdx), 1u);
  EXPECT_FALSE(h.ws->take_released());  // not at 0 yet
  classify(h, f, "c", kIdx + 2);
  EXPECT_EQ(h.ws->outstanding(kIdx), 0u);
  EXPECT_TRUE(h.ws->take_released());
  EXPECT_FALSE(h.ws->take_released());  // taken
  EXPECT_TRUE(h.log.of("flow/s").empty());
  h.ws->on_save(kIdx, f.view(), true, kNow);
  EXPECT_EQ(h.log.of("flow/s"), (std::vector<std::string>{"save\ttrue"}));
}

TEST(Arkime, SessionFieldsAndAliases) {
  Harness h(Files{{"flow/f.lua", R"(
function classify(session)
  print(session.ipProtocol, session.srcIp, session.dstIp, session.srcPort, session.dstPort)
  print(session.protocol, session.addr1, session.addr2, session.port1, session.port2)
  print(pcall(function() session.srcIp = "x" end))
  print(session.nosuch, tostring(session == session))
end
ArkimeSession.register_udp_classifier("c", 0, "c", "classify")
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("2001:db8::1", 5353, "2001:db8::2", 53, 17, 1);
  classify(h, f, "c");
  TestFlow t("10.0.0.9", 1234, "10.0.0.8", 443);
  classify(h, t, "c", kIdx + 1, 1);
  EXPECT_EQ(
      h.log.of("flow/f"),
      (std::vector<std::string>{
          "udp\t2001:db8::1\t2001:db8::2\t5353\t53", "udp\t2001:db8::1\t2001:db8::2\t5353\t53",
          "false\tflow/f.lua:5: ArkimeSession: session fields are read-only", "nil\ttrue",
          "tcp\t10.0.0.9\t10.0.0.8\t1234\t443", "tcp\t10.0.0.9\t10.0.0.8\t1234\t443",
          "false\tflow/f.lua:5: ArkimeSession: session fields are read-only", "nil\ttrue"}));
}

TEST(Arkime, SessionMethodsAndTheRecord) {
  Harness h(Files{{"flow/m.lua", R"(
local function try(f) local ok, e = pcall(f) return ok and "ok" or e end
function classify(session)
  print(session:add_string("http.uri", "/a"), session:add_string("http.uri", "/a"))
  print(session:add_int("http.statuscode", 200), session:add_int(5, "404"))
  print(session:add_string("seen.uri", 5), session:add_tag("t1"), session:add_tag("t1"))
  print(session:add_protocol("redis"), session:add_protocol("tcp"),
        session:add_string("protocols", "resp"), session:add_string("tags", "t2"))
  print(session:has_protocol("redis"), session:has_protocol("tcp"), session:has_protocol("http"))
  print(try(function() session:add_string("http.statuscode", "x") end))
  print(try(function() session:add_string("ip.src", "x") end))
  print(try(function() session:add_int("seen.uri", 1) end))
  print(try(function() session:add_string("9bad", "x") end))
  print(try(function() session:add_int("cnt", 2^53 + 2) end))
  print(try(function() session:add_tag("") end))
  print(try(function() session:add_string({}, "x") end))
  local st = session:table()
  st.n = (st.n or 0) + 1
  print("n", st.n, rawequal(st, session:table()))
  print(table.concat(session:get("tags"), ","), table.concat(session:get("protocols"), ","))
  print(table.concat(session:get(3), ","), table.concat(session:get("http.statuscode"), ","))
  print(session:get("ip.src"), session:get("port.dst"), session:get("ip.protocol"),
        session:get("packets.src"), session:get("bytes.dst"), session:get("l7.proto"))
  print(session:get("nosuch.field"), session:get("dns.host"), session:get("databytes.src"))
  print(session:get("community_id"):sub(1, 2), session:trigger_alert(42, "from a session"))
end
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 6379);
  classify(h, f, "c");
  classify(h, f, "c");
  const auto l = h.log.of("flow/m");
  ASSERT_GE(l.size(), 17u) << joined(h.log.lines);
  EXPECT_EQ(l[0], "true\tfalse");
  EXPECT_EQ(l[1], "true\ttrue");
  EXPECT_EQ(l[2], "true\ttrue\tfalse");
  EXPECT_EQ(l[3], "true\tfalse\ttrue\ttrue");
  EXPECT_EQ(l[4], "true\ttrue\tfalse");
  EXPECT_EQ(l[5], "flow/m.lua:10: session:add_string: field 'http.statuscode' holds integers");
  EXPECT_EQ(l[6], "flow/m.lua:11: session:add_string: field 'ip.src' is read-only");
  EXPECT_EQ(l[7], "flow/m.lua:12: session:add_int: field 'seen.uri' holds strings");
  EXPECT_EQ(l[8], "flow/m.lua:13: session:add_string: unknown or invalid field '9bad'");
  EXPECT_EQ(l[9],
            "flow/m.lua:14: session:add_int: bad argument #2 'value' (integer in +-2^53 "
            "expected, got number)");
  EXPECT_EQ(l[10],
            "flow/m.lua:15: session:add_tag: bad argument #1 'tag' (string of 1-128 bytes "
            "expected, got string)");
  EXPECT_EQ(l[11],
            "flow/m.lua:16: session:add_string: bad argument #1 'field' (string or id "
            "expected, got table)");
  EXPECT_EQ(l[12], "n\t1\ttrue");
  EXPECT_EQ(l[13], "t1,t2\ttcp,redis,resp");
  EXPECT_EQ(l[14], "/a\t200,404");
  EXPECT_EQ(l[15], "10.0.0.1\t6379\t6\t10\t5000\tUnknown");
  EXPECT_EQ(l[16], "nil\tnil\tnil");
  EXPECT_EQ(l[17], "1:\ttrue");
  EXPECT_EQ(l[12 + 18], "n\t2\ttrue") << "the same state table at the flow's next callback";
  ASSERT_EQ(h.alerts.records.size(), 2u);
  EXPECT_EQ(h.alerts.records[0].message_view(), "from a session");
  EXPECT_EQ(h.alerts.records[0].script_key_view(), "flow/m");

  // What the record writer reads.
  std::string_view tags[8];
  ASSERT_EQ(h.ws->tags(kIdx, tags, 8), 2u);
  EXPECT_EQ(tags[0], "t1");
  EXPECT_EQ(tags[1], "t2");
  std::string_view protocols[8];
  ASSERT_EQ(h.ws->protocols(kIdx, protocols, 8), 2u);
  EXPECT_EQ(protocols[0], "redis");
  EXPECT_EQ(protocols[1], "resp");
  WorkerScripts::Field fields[16];
  const size_t n = h.ws->fields(kIdx, fields, 16);
  std::map<std::string, std::string> seen;
  for (size_t i = 0; i < n; ++i) {
    std::string& s = seen[std::string(fields[i].name)];
    s += (s.empty() ? "" : ",") +
         (fields[i].is_string ? std::string(fields[i].text) : std::to_string(fields[i].number));
  }
  EXPECT_EQ(seen, (std::map<std::string, std::string>{
                      {"http.uri", "/a"}, {"http.statuscode", "200,404"}, {"seen.uri", "5"}}));
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  h.ws->on_save(kIdx, f.view(), true, kNow);
  EXPECT_EQ(h.ws->tags(kIdx, tags, 8), 2u) << "kept for the record until forget_flow";
  h.ws->forget_flow(kIdx);
  EXPECT_EQ(h.ws->tags(kIdx, tags, 8), 0u);
  EXPECT_EQ(h.ws->protocols(kIdx, protocols, 8), 0u);
  EXPECT_EQ(h.ws->fields(kIdx, fields, 16), 0u);
}

TEST(Arkime, EngineProtocolsAreLowerCaseL4AndNdpiNames) {
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  ProtocolName names[3];
  ASSERT_EQ(engine_protocols(f.view(), names), 1u);
  EXPECT_EQ(names[0].view(), "tcp");
  f.detect(91, 126);  // TLS.Google
  ASSERT_EQ(engine_protocols(f.view(), names), 3u);
  EXPECT_EQ(names[1].view(), "tls");
  EXPECT_EQ(names[2].view(), "google");
  TestFlow u("10.0.0.1", 40000, "10.0.0.2", 53, 47);
  ASSERT_EQ(engine_protocols(u.view(), names), 1u);
  EXPECT_EQ(names[0].view(), "47");
}

TEST(Arkime, HasProtocolSeesDetection) {
  Harness h(Files{{"flow/p.lua", R"(
function classify(session) print(session:has_protocol("http"), flow.l7_proto_name()) end
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  f.detect(7, 7);
  classify(h, f, "c");
  EXPECT_EQ(h.log.of("flow/p"), (std::vector<std::string>{"true\tHTTP"}));
}

TEST(Arkime, ExpressionToFieldId) {
  Harness h(Files{{"flow/x.lua", R"(
print(Arkime.expression_to_fieldId("protocols"), Arkime.expression_to_fieldId("tags"),
      Arkime.expression_to_fieldId("TCPFLAGS.SYN"), Moloch.expression_to_fieldId("l7.proto"))
print(Arkime.expression_to_fieldId("my.field"), Arkime.expression_to_fieldId("my.field"),
      Arkime.expression_to_fieldId("other"), Arkime.expression_to_fieldId("1abc"),
      Arkime.expression_to_fieldId(""), Arkime.expression_to_fieldId(string.rep("a", 65)))
print(pcall(function() Arkime.expression_to_fieldId({}) end))
function classify(session)
  print(session:add_string(1000, "v"), table.concat(session:get("my.field"), ","),
        session:get(1001), session:get(2000))
end
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  // The check VM printed first; the worker VM's lines follow.
  const auto l = h.log.of("flow/x");
  ASSERT_EQ(l.size(), 6u) << joined(h.log.lines);
  EXPECT_EQ(l[0], "1\t2\t23\t31");
  EXPECT_EQ(l[1], "1000\t1000\t1001\t-1\t-1\t-1");
  EXPECT_EQ(l[2],
            "false\tflow/x.lua:7: Arkime.expression_to_fieldId: bad argument #1 "
            "'expression' (string expected, got table)");
  EXPECT_EQ(l[3], l[0]);
  EXPECT_EQ(l[4], l[1]) << "the worker VM gets the same ids";
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  classify(h, f, "c");
  EXPECT_EQ(h.log.of("flow/x").back(), "true\tv\tnil\tnil");
}

TEST(Arkime, UserFieldIdsAgreeAcrossWorkersAtRunTime) {
  Harness h(Files{{"flow/u.lua", R"(
function classify(session, str)
  print(str, session:add_string(str, "x"), Arkime.expression_to_fieldId("late.a"),
        Arkime.expression_to_fieldId("late.b"))
end
ArkimeSession.register_tcp_classifier("c", 0, "late", "classify")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  std::vector<std::string> errors;
  auto w1 = build_worker(h.result.generation, 1, 64, &errors);
  ASSERT_NE(w1, nullptr) << joined(errors);
  KeptAlerts alerts;
  KeptLog log1;
  w1->set_sinks(&alerts, &log1);
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  w1->on_arkime_classify(3, f.view(), 0, u8("late.b"), 6, 0, kNow);  // worker 1 makes late.b
  classify(h, f, "late.a");  // worker 0 makes late.a, finds late.b
  EXPECT_EQ(log1.of("flow/u"), (std::vector<std::string>{"late.b\ttrue\t1001\t1000"}));
  EXPECT_EQ(h.log.of("flow/u"), (std::vector<std::string>{"late.a\ttrue\t1001\t1000"}));
}

TEST(Arkime, AtMost256UserFields) {
  EXPECT_EQ(load_errors("for i = 1, 256 do Arkime.expression_to_fieldId('f' .. i) end"), "");
  EXPECT_NE(load_errors("for i = 1, 257 do Arkime.expression_to_fieldId('f' .. i) end")
                .find("Arkime.expression_to_fieldId: more than 256 user fields in one generation"),
            std::string::npos);
}

TEST(Arkime, SessionTableIsTheFlowScriptState) {
  Harness h(Files{{"flow/s.lua", R"(
local m = {hooks = {}}
function m.hooks.protocolDetected() flow.getScriptState().from_hook = true end
function classify(session)
  print(tostring(session:table().from_hook), rawequal(session:table(), flow.getScriptState()))
end
ArkimeSession.register_tcp_classifier("c", 0, "c", "classify")
return m
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  h.ws->on_flow_begin(kIdx, f.view(), kNow);
  h.ws->on_protocol_detected(kIdx, f.view(), kNow);
  classify(h, f, "c");
  EXPECT_EQ(h.log.of("flow/s"), (std::vector<std::string>{"true\ttrue"}));
}

TEST(Arkime, SessionTableOfAFileWithoutHooksLivesUntilTheFinalSave) {
  Harness h(Files{{"flow/t.lua", R"(
function c(session)
  local t = session:table()
  t.n = (t.n or 0) + 1
  print(t.n, flow.getScriptState and "" or "")
end
ArkimeSession.register_tcp_classifier("c", 0, "c", "c")
)"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  EXPECT_EQ(h.result.generation->scripts[0].slot, -1);
  TestFlow f("10.0.0.1", 40000, "10.0.0.2", 80);
  classify(h, f, "c");
  classify(h, f, "c");
  classify(h, f, "c", kIdx + 1);
  h.ws->on_pre_save(kIdx, f.view(), true, kNow);
  h.ws->on_save(kIdx, f.view(), true, kNow);
  h.ws->forget_flow(kIdx);
  classify(h, f, "c");
  EXPECT_EQ(h.log.of("flow/t"), (std::vector<std::string>{"1\t", "2\t", "1\t", "1\t"}));
}

}  // namespace
}  // namespace loupe::test
