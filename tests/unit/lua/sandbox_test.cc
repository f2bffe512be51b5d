// The sandbox (contract §6.1, §6.2): removed facilities, text-only loading,
// locked metatables, isolation between scripts, the module system (§2.9),
// logging limits.
#include <gtest/gtest.h>

#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

// The lines a protocolDetected hook with `body` prints (one script, key flow/t).
std::vector<std::string> hook_lines(const std::string& body, Files extra = {}, LuaConfig cfg = {}) {
  extra["flow/t.lua"] =
      "return {hooks = {protocolDetected = function(now, conf)\n" + body + "\nend}}";
  Harness h(extra, cfg);
  EXPECT_TRUE(h.ok()) << h.errors();
  if (!h.ok()) return {};
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  return h.log.of("flow/t");
}

TEST(Sandbox, EveryRemovedNameRaisesItsMessage) {
  const char* names[] = {
      "setfenv",     "getfenv",       "newproxy",      "module",    "string.dump", "os.execute",
      "os.exit",     "os.getenv",     "os.remove",     "os.rename", "os.tmpname",  "os.setlocale",
      "os.difftime", "io.open",       "io.popen",      "io.read",   "io.lines",    "io.close",
      "io.input",    "io.output",     "io.stdout",     "io.stderr", "io.stdin",    "io.tmpfile",
      "io.type",     "debug.getinfo", "debug.sethook", "ffi.cast",  "jit.on"};
  std::string body;
  for (const char* n : names)
    body += std::string("print(select(2, pcall(function() ") + n + "() end)))\n";
  for (const char* m : {"ffi", "jit", "debug", "io", "os"}) {
    body += std::string("print(select(2, pcall(require, '") + m + "')))\n";
  }
  const auto lines = hook_lines(body);
  ASSERT_EQ(lines.size(), std::size(names) + 5);
  for (size_t i = 0; i < std::size(names); ++i) {
    EXPECT_EQ(lines[i], "flow/t.lua:" + std::to_string(i + 2) + ": " + names[i] +
                            " is not available in the loupe sandbox");
  }
  EXPECT_NE(lines[std::size(names)].find("ffi is not available in the loupe sandbox"),
            std::string::npos);
  EXPECT_NE(lines.back().find("os is not available in the loupe sandbox"), std::string::npos);
}

TEST(Sandbox, RemovedFacilitiesCountAsSandboxErrors) {
  Harness h(Files{
      {"flow/t.lua", "return {hooks = {protocolDetected = function() os.execute('ls') end}}"}});
  ASSERT_TRUE(h.ok());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kSandbox)].get(), 1u);
  EXPECT_TRUE(h.log.contains("error in protocolDetected (1:"));
  EXPECT_TRUE(h.log.contains("flow/t.lua:1: os.execute is not available in the loupe sandbox"));
}

TEST(Sandbox, WhatRemainsWorks) {
  const auto lines = hook_lines(
      "print(type(os.time()), type(os.clock()), os.date('!%Y', 0), _VERSION, _G == _ENV or _G.flow "
      "== flow)\n"
      "print(rawlen({1, 2, 3}), rawequal(1, 1), select('#', 1, 2), unpack({4, 5}))\n"
      "print(string.starts('hello', 'he'), string.ends('hello', 'lo'), #string.split('a,b,c', "
      "','), "
      "table.len({a = 1, b = 2}), table.empty({}))\n"
      "print(math.type(1), math.type(1.5), math.tointeger(3), table.unpack(table.pack(1, 2), 1, "
      "2))\n"
      "print(bit.band(0xff, 0x0f), coroutine.wrap(function() coroutine.yield(7) end)())\n"
      "print(collectgarbage('count') > 0, select(2, pcall(collectgarbage)))\n"
      "print(('%d'):format(3), ('x'):rep(3), ('abc'):find('b'))\n"
      "print(getmetatable('') , select(2, pcall(setmetatable, flow, {})))\n"
      "print(getmetatable(flow), getmetatable(flow.http()))");
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0], "number\tnumber\t1970\tLua 5.1\ttrue");
  EXPECT_EQ(lines[1], "3\ttrue\t2\t4\t5");
  EXPECT_EQ(lines[2], "true\ttrue\t3\t2\ttrue");
  EXPECT_EQ(lines[3], "integer\tfloat\t3\t1\t2");
  EXPECT_EQ(lines[4], "15\t7");
  EXPECT_EQ(lines[5], "true\tcollectgarbage: option 'collect' is not allowed");
  EXPECT_EQ(lines[6], "3\txxx\t2\t2");
  EXPECT_EQ(lines[7], "locked\tsetmetatable: the metatable of this table is locked");
  EXPECT_EQ(lines[8], "locked\tlocked");
}

TEST(Sandbox, BinaryChunksAreRefused) {
  const auto lines = hook_lines(
      "print(pcall(load, '\\27LJ\\2\\0garbage'))\n"
      "print(pcall(loadstring, '\\27Lua'))\n"
      "print(pcall(load, 'return 1', 'x', 'b'))\n"
      "print(load('return 6 * 7')())\n"
      "print(load('syntax error here'))");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "false\tbinary chunks are not allowed");
  EXPECT_EQ(lines[1], "false\tbinary chunks are not allowed");
  EXPECT_EQ(lines[2], "false\tbinary chunks are not allowed");
  EXPECT_EQ(lines[3], "42");
  EXPECT_NE(lines[4].find("nil\t[string \"syntax error here\"]:1:"), std::string::npos) << lines[4];
  // A binary file in the set rejects it.
  const auto r = build_set(Files{{"flow/bin.lua", std::string("\x1bLJ\x02\x00", 5)}});
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_EQ(joined(r.errors), "flow/bin.lua: binary chunks are not allowed\n");
}

TEST(Sandbox, LoadUsesTheCallersEnvironmentOrTheOneGiven) {
  const auto lines = hook_lines(
      "secret = 5\n"
      "print(load('return secret')(), load('return secret', 'c', 't', {secret = 9})())");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "5\t9");
}

TEST(Sandbox, TheStringMetatableIsLockedAndPrivate) {
  const Files files{{"flow/a.lua",
                     "string.find = function() return 'hijacked' end\n"
                     "return {hooks = {protocolDetected = function()\n"
                     "  print(('abc'):find('c'), string.find('abc', 'c'))\n"
                     "  print(pcall(setmetatable, '', {}))\n"
                     "end}}"},
                    {"flow/b.lua",
                     "return {hooks = {protocolDetected = function()\n"
                     "  print(string.find('abc', 'c'))\n"
                     "end}}"}};
  Harness h(files);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const auto a = h.log.of("flow/a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0], "3\thijacked");  // s:find() is always the engine's
  EXPECT_NE(a[1].find("false\t"), std::string::npos);
  EXPECT_EQ(h.log.of("flow/b"), std::vector<std::string>{"3\t3"});
}

TEST(Sandbox, ScriptsAreIsolated) {
  Harness h(Files{{"flow/a.lua",
                   "shared_name = 'from a'\nflow.cli = nil\ntable.insert = nil\n"
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(shared_name, flow.cli, table.insert) end}}"},
                  {"flow/b.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(shared_name, flow.cli(), type(table.insert)) end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/a"),
            (std::vector<std::string>{
                "flow.cli is not provided by loupe (lua-api.md \u00a79.1); read as nil",
                "from a\tnil\tnil"}));
  EXPECT_EQ(h.log.of("flow/b"), std::vector<std::string>{"nil\t10.0.0.1\tfunction"});
}

TEST(Sandbox, RequireBuiltinsAndLibModules) {
  const auto lines = hook_lines(
      "package.path = '/usr/share/ntopng/scripts/lua/modules/?.lua;' .. package.path\n"
      "require 'lua_utils'\n"
      "tprint({b = 2, a = {c = 3}})\n"
      "print(isEmptyString(''), ternary(false, 1, 2), #split('a;b', ';'), round(2.345, 2), "
      "bytesToSize(2048), secondsToTime(3725))\n"
      "local json = require 'json'\n"
      "print(json.encode({1, 'two', true}), json.encode({k = {x = 1}}), json.decode('[1, {\"a\": "
      "\"b\"}]')[2].a)\n"
      "print(json.decode('{bad'))\n"
      "local m1, m2 = require 'helpers.util', require 'helpers.util'\n"
      "print(m1 == m2, m1.twice(21), loads)\n"
      "print(select(2, pcall(require, 'alert_consts')))\n"
      "print(select(2, pcall(require, '../x')))\n"
      "print(require('checks').periodicities['5mins'], require('bit') == bit)\n"
      "print(type(ntop.getDirs().installdir), ntop.getDirs().scriptsdir)",
      Files{{"lib/helpers/util.lua",
             "loads = (loads or 0) + 1\nreturn {twice = function(x) return 2 * x end}"}});
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_EQ(lines[0], "a:");
  EXPECT_EQ(lines[1], "  c = 3");
  EXPECT_EQ(lines[2], "b = 2");
  EXPECT_EQ(lines[3], "true\t2\t2\t2.35\t2.00 KB\t1 h, 2 min, 5 sec");
  EXPECT_EQ(lines[4], "[1,\"two\",true]\t{\"k\":{\"x\":1}}\tb");
  EXPECT_NE(lines[5].find("nil\t"), std::string::npos);
  EXPECT_EQ(lines[6], "true\t42\tnil");  // the module's globals are its own
  EXPECT_EQ(lines[7], "require: module 'alert_consts' not found (built-ins, lib/alert_consts.lua)");
  EXPECT_EQ(lines[8], "require: module name '../x' is not allowed");
  EXPECT_EQ(lines[9], "1\ttrue");
  EXPECT_EQ(lines[10], "string\t(memory)");
}

TEST(Sandbox, DofileAndLoadfileStayInsideTheSet) {
  const auto lines = hook_lines(
      "print(dofile('lib/five.lua'), loadfile('lib/five.lua')())\n"
      "print(select(2, pcall(dofile, '/etc/passwd')))\n"
      "print(select(2, pcall(dofile, 'lib/../../x.lua')))\n"
      "print(select(2, pcall(loadfile, 'data/list.txt')))\n"
      "print(loadfile('lib/none.lua'))",
      Files{{"lib/five.lua", "return 5"}, {"data/list.txt", "a\n"}});
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "5\t5");
  EXPECT_EQ(lines[1], "dofile: '/etc/passwd' is outside the scripts directory");
  EXPECT_EQ(lines[2], "dofile: 'lib/../../x.lua' is outside the scripts directory");
  EXPECT_EQ(lines[3], "loadfile: 'data/list.txt' is outside the scripts directory");
  EXPECT_EQ(lines[4], "nil\tcannot open lib/none.lua");
}

TEST(Sandbox, DataFilesAreReadAtLoadOnly) {
  KeptLog log;
  const auto r = build_set(
      Files{{"flow/t.lua",
             "local l = loupe.read_list('lists/names.txt')\n"
             "print(l['a.example'], l['b.example'], l['# comment'], l[''], l['c'])\n"
             "print(#loupe.read_file('lists/names.txt'))\n"
             "return {hooks = {}}"},
            {"data/lists/names.txt", "a.example\r\n  b.example \t\n# comment\n\n  #x\nc"}},
      LuaConfig{}, {}, &log);
  ASSERT_NE(r.generation, nullptr) << joined(r.errors);
  EXPECT_EQ(log.of("flow/t"), (std::vector<std::string>{"true\ttrue\tnil\tnil\ttrue", "42"}));
  const auto lines =
      hook_lines("print(select(2, pcall(loupe.read_list, 'x.txt')))", Files{{"data/x.txt", "x"}});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "loupe.read_list: data files can only be read while the file loads");
}

TEST(Sandbox, PrintAndWriteAreRateLimitedLines) {
  LuaConfig cfg;
  cfg.log.lines_per_minute = 3;
  Harness h(Files{{"flow/t.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  io.write('a', 1, ' b') io.write(' c\\nsecond ') io.write('line')\n"
                   "  for i = 1, 5 do print('p', i) end end}}"}},
            cfg);
  ASSERT_TRUE(h.ok());
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/t"), (std::vector<std::string>{"a1 b c", "second line", "p\t1"}));
  EXPECT_EQ(h.ws->log_lines_dropped(), 4u);
}

TEST(Sandbox, ProtectedCallsCatchOrdinaryErrors) {
  const auto lines = hook_lines(
      "print(pcall(error, 'boom'))\n"
      "print(pcall(error, {code = 1}))\n"
      "print(xpcall(function() error('x') end, function(e) return 'handled: ' .. e end))\n"
      "print(xpcall(function(a, b) return a + b end, print, 2, 3))\n"
      "local co = coroutine.create(function() error('in co') end)\n"
      "print(coroutine.resume(co))\n"
      "local function deep(n) return 1 + deep(n + 1) end\n"
      "local ok, err = pcall(deep, 1) print(ok, err:find('stack overflow') ~= nil)");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "false\tboom");
  EXPECT_NE(lines[1].find("false\ttable: "), std::string::npos);
  EXPECT_EQ(lines[2], "false\thandled: flow/t.lua:4: x");
  EXPECT_EQ(lines[3], "true\t5");
  EXPECT_EQ(lines[4], "false\tflow/t.lua:6: in co");
  EXPECT_EQ(lines[5], "false\ttrue");
}

TEST(Sandbox, ErrorsAreCountedPerScriptAndKind) {
  Harness h(Files{{"flow/a.lua",
                   "return {hooks = {protocolDetected = function() local q; return q.x end,\n"
                   "  flowEnd = function() flow.setTag({}) end}}"},
                  {"flow/b.lua",
                   "return {hooks = {protocolDetected = function() print('b runs') end,\n"
                   "  flowEnd = function() error('mine') end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  for (uint32_t i = 0; i < 3; ++i) {
    h.ws->on_protocol_detected(i, f.view(), kNow);
    h.ws->on_flow_end(i, f.view(), kNow);
  }
  const auto count = [&](int s, ErrorKind k) {
    return h.ws->stats(s).errors[static_cast<int>(k)].get();
  };
  EXPECT_EQ(count(0, ErrorKind::kRuntime), 3u);
  EXPECT_EQ(count(0, ErrorKind::kApi), 3u);
  EXPECT_EQ(count(1, ErrorKind::kRuntime), 3u);
  EXPECT_EQ(count(1, ErrorKind::kApi), 0u);
  EXPECT_EQ(h.log.of("flow/b").size(), 4u);  // 3 prints and 1 error line (one per minute)
  EXPECT_TRUE(h.log.contains("flow/a: error in protocolDetected (1:"));
  EXPECT_TRUE(h.log.contains("flow/a.lua:1: attempt to index local 'q' (a nil value)"));
  EXPECT_FALSE(h.log.contains("flow/a: error in flowEnd"));  // rate-limited per script
}

}  // namespace
}  // namespace loupe::test
