// Micro-benchmarks of the Lua flow-check engine (contract §8.1), named after
// what they measure; every figure is per hook call:
//   BM_LuaEmptyHook        P2: protocolDetected dispatched to one subscribed
//                          script whose hook is `function(now, conf) end`:
//                          gate (per-flow mask), context binding, protected
//                          call and the two TSC reads of budget timing
//   BM_LuaCliPortName      the same hook calling flow.cli_port() and
//                          flow.l7_proto_name()
//   BM_LuaFiveFields       P3: five scalar flow.* reads and a comparison
//   BM_LuaUnsubscribed     P1: an event for a flow no script subscribes to
//                          (gated on a protocol the flow is not): no VM entry
//   BM_LuaDump             P9: a hook calling flow.dump()
//   BM_LuaAlert            P10: flow.triggerAlert with a 3-field details table
// Each iteration forgets the flow and delivers protocolDetected again, so the
// per-flow mask is recomputed every time (the gate cost is inside).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/classify/ndpi_detector.h"
#include "lua/generation.h"
#include "lua/worker_scripts.h"

namespace loupe {
namespace {

#define LOUPE_BENCHMARK(fn)                                                                   \
  BENCHMARK(fn)                                                                               \
      ->ComputeStatistics(                                                                    \
          "min",                                                                              \
          [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }) \
      ->ComputeStatistics("max", [](const std::vector<double>& v) {                           \
        return *std::max_element(v.begin(), v.end());                                         \
      })

struct NullAlerts final : AlertSink {
  bool push(const AlertRecord&) override { return true; }
};

const NdpiModule& ndpi() {
  static NdpiModule module{NdpiConfig{}};
  return module;
}

// One worker with one script, and a detected HTTP flow.
struct Bench {
  std::unique_ptr<WorkerScripts> ws;
  Flow flow{};
  NullAlerts alerts;

  explicit Bench(const std::string& script) {
    GenerationInputs in;
    in.ndpi = &ndpi();
    GenerationResult r = build_generation(in, script_set_from({{"flow/bench.lua", script}}));
    if (r.generation == nullptr) {
      for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
      std::abort();
    }
    ws = build_worker(r.generation, 0, 1024);
    ws->set_sinks(&alerts, nullptr);
    ws->bind_thread();
    const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {192, 0, 2, 7};
    std::memcpy(flow.key.addr[0], a, 4);
    std::memcpy(flow.key.addr[1], b, 4);
    flow.key.port[0] = 40000;
    flow.key.port[1] = 80;
    flow.key.proto = 6;
    flow.key.ip_version = 4;
    flow.pkts[0] = 10;
    flow.pkts[1] = 8;
    flow.bytes[0] = 1200;
    flow.bytes[1] = 9000;
    flow.first_ns = 1'700'000'000'000'000'000ull;
    flow.last_ns = flow.first_ns + 1'000'000'000ull;
    flow.state = FlowState::kEstablished;
    flow.l7_status = kL7Done;
    flow.l7.master = 7;  // HTTP
    flow.in_use = 1;
  }

  void run(benchmark::State& state, uint64_t expect_entries) {
    FlowView v;
    v.flow = &flow;
    v.ndpi = &ndpi();
    const uint64_t before = ws->vm_entries();
    uint32_t idx = 0;
    for (auto _ : state) {
      ws->forget_flow(idx);
      ws->on_protocol_detected(idx, v, flow.last_ns);
      idx = (idx + 1) & 1023;
    }
    state.SetItemsProcessed(state.iterations());
    if (ws->vm_entries() - before != expect_entries * state.iterations()) {
      state.SkipWithError("unexpected number of VM entries");
    }
  }
};

constexpr const char* kEmpty = R"(
local c = { hooks = {} }
function c.hooks.protocolDetected(now, conf) end
return c
)";

constexpr const char* kCliPortName = R"(
local c = { hooks = {} }
function c.hooks.protocolDetected(now, conf)
  local p = flow.cli_port()
  local n = flow.l7_proto_name()
end
return c
)";

constexpr const char* kFiveFields = R"(
local c = { hooks = {} }
function c.hooks.protocolDetected(now, conf)
  local a, b = flow.cli_port(), flow.srv_port()
  local p, n, l7 = flow.protocol(), flow.bytes(), flow.l7_proto()
  if a < b then return end
end
return c
)";

constexpr const char* kUnsubscribed = R"(
local c = { l7_proto = "DNS", hooks = {} }
function c.hooks.protocolDetected(now, conf) end
return c
)";

constexpr const char* kDump = R"(
local c = { hooks = {} }
function c.hooks.protocolDetected(now, conf) local d = flow.dump() end
return c
)";

constexpr const char* kAlert = R"(
local c = { hooks = {} }
function c.hooks.protocolDetected(now, conf)
  flow.triggerAlert(40, "bench", { a = 1, b = "two", c = true })
end
return c
)";

void BM_LuaEmptyHook(benchmark::State& state) { Bench(kEmpty).run(state, 1); }
void BM_LuaCliPortName(benchmark::State& state) { Bench(kCliPortName).run(state, 1); }
void BM_LuaFiveFields(benchmark::State& state) { Bench(kFiveFields).run(state, 1); }
void BM_LuaUnsubscribed(benchmark::State& state) { Bench(kUnsubscribed).run(state, 0); }
void BM_LuaDump(benchmark::State& state) { Bench(kDump).run(state, 1); }
void BM_LuaAlert(benchmark::State& state) { Bench(kAlert).run(state, 1); }

LOUPE_BENCHMARK(BM_LuaEmptyHook);
LOUPE_BENCHMARK(BM_LuaCliPortName);
LOUPE_BENCHMARK(BM_LuaFiveFields);
LOUPE_BENCHMARK(BM_LuaUnsubscribed);
LOUPE_BENCHMARK(BM_LuaDump);
LOUPE_BENCHMARK(BM_LuaAlert);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
