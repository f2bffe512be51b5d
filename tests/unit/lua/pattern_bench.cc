// string.find with a simple pattern on a 100-byte subject: loupe's matcher
// (lua/pattern.h, in a sandboxed worker VM) against LuaJIT's own (a plain
// VM with its libraries); both with the JIT off, as loupe runs scripts.
// Each iteration runs a Lua loop of 100 calls; `per_find` is the time of
// one call, loop included (the same interpreter loop on both sides).
//   BM_FindLoupe/<case>, BM_FindLuaJIT/<case>
//     literal   "Host: ([^\r]+)"  first item a literal (loupe skips with memchr)
//     class     "%d+%.%d+"        first item a class: an attempt per position
//     nomatch   "%u%u%u%u%d"      no match: every position fails
//     plain     "Accept"          no special character: a plain search
//     noskip    "%w*@"            no match, first item repeated: a full
//                                 attempt at every position on both sides
// Lives beside the tests because perf/ belongs to another change in flight;
// it belongs in perf/bench/ with lua_bench.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <lua.hpp>
#include <string>

#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

constexpr int kCallsPerIteration = 100;

std::string subject() {
  std::string s =
      "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.0\r\n"
      "Accept: */*\r\n\r\n";
  s.resize(100, ' ');
  return s;
}

std::string lua_literal(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 32 && c < 127 && c != '"' && c != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\%03u", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::string loop_body(const char* pattern) {
  return "local find, s, p = string.find, " + lua_literal(subject()) + ", " + lua_literal(pattern) +
         "\nlocal function run() for i = 1, " + std::to_string(kCallsPerIteration) +
         " do find(s, p) end end\n";
}

void report(benchmark::State& state) {
  state.counters["per_find"] =
      benchmark::Counter(kCallsPerIteration, benchmark::Counter::kIsIterationInvariantRate |
                                                 benchmark::Counter::kInvert);
}

void BM_FindLoupe(benchmark::State& state, const char* pattern) {
  Harness h(
      Files{{"flow/bench.lua", loop_body(pattern) + "return {hooks = {protocolDetected = run}}"}});
  if (!h.ok()) {
    state.SkipWithError(h.errors().c_str());
    return;
  }
  h.ws->bind_thread();
  TestFlow f("10.0.0.1", 40000, "192.0.2.7", 80);
  f.detect(7, 7);
  const FlowView v = f.view();
  for (auto _ : state) {
    h.ws->forget_flow(1);
    h.ws->on_protocol_detected(1, v, kNow);
  }
  if (h.ws->stats(0).errors[static_cast<int>(ErrorKind::kRuntime)].get() != 0) {
    state.SkipWithError("the hook failed");
  }
  report(state);
}

void BM_FindLuaJIT(benchmark::State& state, const char* pattern) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  const std::string src = loop_body(pattern) + "return run";
  if (luaL_loadbuffer(L, src.data(), src.size(), "=bench") != 0 || lua_pcall(L, 0, 1, 0) != 0) {
    state.SkipWithError(lua_tostring(L, -1));
    lua_close(L);
    return;
  }
  const int run = luaL_ref(L, LUA_REGISTRYINDEX);
  for (auto _ : state) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, run);
    if (lua_pcall(L, 0, 0, 0) != 0) {
      state.SkipWithError(lua_tostring(L, -1));
      break;
    }
  }
  lua_close(L);
  report(state);
}

#define PATTERN_BENCH(fn, name, pattern)                                                      \
  BENCHMARK_CAPTURE(fn, name, pattern)                                                        \
      ->ComputeStatistics(                                                                    \
          "min",                                                                              \
          [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }) \
      ->ComputeStatistics("max", [](const std::vector<double>& v) {                           \
        return *std::max_element(v.begin(), v.end());                                         \
      })

PATTERN_BENCH(BM_FindLoupe, literal, "Host: ([^\r]+)");
PATTERN_BENCH(BM_FindLuaJIT, literal, "Host: ([^\r]+)");
PATTERN_BENCH(BM_FindLoupe, class, "%d+%.%d+");
PATTERN_BENCH(BM_FindLuaJIT, class, "%d+%.%d+");
PATTERN_BENCH(BM_FindLoupe, nomatch, "%u%u%u%u%d");
PATTERN_BENCH(BM_FindLuaJIT, nomatch, "%u%u%u%u%d");
PATTERN_BENCH(BM_FindLoupe, plain, "Accept");
PATTERN_BENCH(BM_FindLuaJIT, plain, "Accept");
PATTERN_BENCH(BM_FindLoupe, noskip, "%w*@");
PATTERN_BENCH(BM_FindLuaJIT, noskip, "%w*@");

}  // namespace
}  // namespace loupe::test

BENCHMARK_MAIN();
