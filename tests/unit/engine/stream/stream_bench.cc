// Cost of TCP stream reassembly per segment, named after what it measures:
//   BM_StreamInOrder/N       1,448-byte segments of N flows, each in order:
//                            delivered straight from the packet
//   BM_StreamSwappedPairs/N  the same with every pair of segments swapped:
//                            half arrive ahead of a hole (copied into the
//                            arena), half fill it (the waiting one is copied
//                            out and delivered after it)
//   BM_StreamHoleFlood/N     only segments ahead of holes, none ever filled:
//                            the per-flow limit and the arena give holes up
// Flows take turns in a fixed random order; the sink only adds up lengths.
// Figures are per segment; with --benchmark_repetitions=5 each benchmark also
// reports the median, min and max of the runs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "engine/stream/stream_table.h"

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

constexpr uint32_t kSeg = 1448;
constexpr uint8_t kAck = 0x10;
constexpr uint8_t kSyn = 0x02;

class CountingSink final : public StreamSink {
 public:
  void on_stream_data(uint32_t, uint8_t, const uint8_t* data, uint32_t len, uint32_t gap) override {
    bytes += len + gap;
    benchmark::DoNotOptimize(data);
  }
  uint64_t bytes = 0;
};

struct Bench {
  explicit Bench(uint32_t flows) : next(flows), turn(flows) {
    StreamConfig c;
    c.memory_mb = 64;
    c.max_bytes_per_direction = 0;
    table = std::make_unique<StreamTable>(c, flows, sink);
    for (uint32_t f = 0; f < flows; f++) {
      table->enable(f, f + 1);
      table->feed(f, f + 1, 0, 0, kSyn, nullptr, 0);
      next[f] = 1;
    }
    std::vector<uint32_t> order(flows);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(2026));
    schedule = std::move(order);
    payload.assign(kSeg, 'x');
  }
  CountingSink sink;
  std::unique_ptr<StreamTable> table;
  std::vector<uint32_t> next;  // per flow: sequence number of its next segment
  std::vector<uint8_t> turn;   // per flow: which of a swapped pair comes now
  std::vector<uint32_t> schedule;
  std::vector<uint8_t> payload;
};

void BM_StreamInOrder(benchmark::State& state) {
  Bench b(static_cast<uint32_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    const uint32_t f = b.schedule[i++ % b.schedule.size()];
    b.table->feed(f, f + 1, 0, b.next[f], kAck, b.payload.data(), kSeg);
    b.next[f] += kSeg;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kSeg);
}
LOUPE_BENCHMARK(BM_StreamInOrder)->Arg(64)->Arg(1 << 16);

void BM_StreamSwappedPairs(benchmark::State& state) {
  Bench b(static_cast<uint32_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    const uint32_t f = b.schedule[i++ % b.schedule.size()];
    if (b.turn[f] == 0) {
      b.table->feed(f, f + 1, 0, b.next[f] + kSeg, kAck, b.payload.data(), kSeg);
    } else {
      b.table->feed(f, f + 1, 0, b.next[f], kAck, b.payload.data(), kSeg);
      b.next[f] += 2 * kSeg;
    }
    b.turn[f] ^= 1;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kSeg);
  state.counters["ooo_segments"] =
      benchmark::Counter(static_cast<double>(b.table->counters().ooo_segments.get()));
}
LOUPE_BENCHMARK(BM_StreamSwappedPairs)->Arg(64)->Arg(1 << 16);

void BM_StreamHoleFlood(benchmark::State& state) {
  Bench b(static_cast<uint32_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    const uint32_t f = b.schedule[i++ % b.schedule.size()];
    b.next[f] += 2 * kSeg;  // one segment's worth never comes
    b.table->feed(f, f + 1, 0, b.next[f], kAck, b.payload.data(), kSeg);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["gaps"] = benchmark::Counter(static_cast<double>(b.table->counters().gaps.get()));
}
LOUPE_BENCHMARK(BM_StreamHoleFlood)->Arg(64)->Arg(1 << 16);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
