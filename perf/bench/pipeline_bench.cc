// Micro-benchmarks of the packet path, named after what they measure:
//   BM_Decode                  the decoder alone on a 64-byte UDP/IPv4 frame
//   BM_ToeplitzSymmetricHash   the software dispatcher's hash
//   BM_FlowLookupHit/N         rte_hash burst lookup of established flows
//   BM_FlowLookupMiss/N        the same for keys not in the table
//   BM_DecodeAndFlow/N         Worker::process_burst (decode, key, hash,
//                              lookup, per-flow accounting, timers) on bursts
//                              of 32 mbufs hitting N established flows at random
// Figures are per packet (items_per_second); with --benchmark_repetitions=5
// each benchmark also reports the median, min and max of the runs.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dpdk/mbuf_fields.h"
#include "dpdk/toeplitz.h"
#include "engine/decode/decoder.h"
#include "engine/flow/flow_key.h"
#include "engine/flow/flow_table.h"
#include "engine/worker/worker.h"

namespace loupe {
namespace {

// Registers a benchmark with min and max among its repetitions' statistics.
#define LOUPE_BENCHMARK(fn)                                                              \
  BENCHMARK(fn)                                                                          \
      ->ComputeStatistics("min", [](const std::vector<double>& v) {                      \
        return *std::min_element(v.begin(), v.end());                                     \
      })                                                                                 \
      ->ComputeStatistics("max", [](const std::vector<double>& v) {                      \
        return *std::max_element(v.begin(), v.end());                                     \
      })

constexpr uint64_t kT0 = 1'700'000'000ULL * 1'000'000'000ULL;
constexpr uint32_t kBurst = 32;

// A 64-byte Ethernet/IPv4/UDP frame of flow i (distinct 5-tuple per i).
void build_frame(uint8_t* f, uint32_t i, bool reply) {
  std::memset(f, 0, 64);
  f[12] = 0x08;
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = 46;  // 20 + 8 + 18 payload
  ip[8] = 64;
  ip[9] = 17;
  uint8_t client[4] = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                       static_cast<uint8_t>(i)};
  uint8_t server[4] = {192, 168, static_cast<uint8_t>(i % 7), 1};
  std::memcpy(ip + 12, reply ? server : client, 4);
  std::memcpy(ip + 16, reply ? client : server, 4);
  uint8_t* udp = ip + 20;
  const uint16_t cport = static_cast<uint16_t>(1024 + (i % 60000));
  const uint16_t sport = 53;
  const uint16_t a = reply ? sport : cport, b = reply ? cport : sport;
  udp[0] = a >> 8;
  udp[1] = a & 0xff;
  udp[2] = b >> 8;
  udp[3] = b & 0xff;
  udp[5] = 26;
}

void BM_Decode(benchmark::State& state) {
  uint8_t frame[64];
  build_frame(frame, 12345, false);
  Decoder dec;
  Decoded d;
  for (auto _ : state) {
    benchmark::DoNotOptimize(dec.decode(frame, 64, d));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
LOUPE_BENCHMARK(BM_Decode);

void BM_ToeplitzSymmetricHash(benchmark::State& state) {
  uint8_t frame[64];
  build_frame(frame, 777, false);
  Decoder dec;
  Decoded d;
  dec.decode(frame, 64, d);
  for (auto _ : state) {
    benchmark::DoNotOptimize(symmetric_hash(d));
    d.src[3]++;
  }
  state.SetItemsProcessed(state.iterations());
}
LOUPE_BENCHMARK(BM_ToeplitzSymmetricHash);

class NullSink : public FlowSink {
 public:
  bool on_flow_record(Flow&, EndReason) override { return false; }
};

std::string next_name(const char* base) {
  static int n = 0;
  return std::string(base) + std::to_string(n++);
}

// A table holding `flows` established UDP flows, and their keys.
struct LoadedTable {
  explicit LoadedTable(uint32_t flows) {
    FlowConfig cfg;
    cfg.capacity = flows;
    table = std::make_unique<FlowTable>(cfg, next_name("bench").c_str(), 0, 0, sink);
    Decoder dec;
    uint8_t frame[64];
    keys.resize(flows);
    sigs.resize(flows);
    for (uint32_t i = 0; i < flows; i++) {
      build_frame(frame, i, false);
      Decoded d;
      dec.decode(frame, 64, d);
      const uint8_t side = make_flow_key(d, keys[i]);
      sigs[i] = FlowTable::hash(keys[i]);
      const uint32_t idx = table->find_or_create(keys[i], sigs[i], kNoFlow, side, d, kT0);
      table->update(idx, side, d, 64, kT0);
    }
  }
  NullSink sink;
  std::unique_ptr<FlowTable> table;
  std::vector<FlowKey> keys;
  std::vector<uint32_t> sigs;
};

void BM_FlowLookupHit(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  LoadedTable t(n);
  std::mt19937 rng(1);
  std::vector<uint32_t> order(1 << 16);
  for (auto& o : order) o = rng() % n;
  const FlowKey* kp[kBurst];
  uint32_t sig[kBurst], idx[kBurst];
  size_t pos = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; i++) {
      const uint32_t f = order[pos++ & 0xffff];
      kp[i] = &t.keys[f];
      sig[i] = t.sigs[f];
    }
    t.table->lookup_burst(kp, sig, kBurst, idx);
    benchmark::DoNotOptimize(idx);
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
LOUPE_BENCHMARK(BM_FlowLookupHit)->Arg(1 << 10)->Arg(1 << 20);

void BM_FlowLookupMiss(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  LoadedTable t(n);
  std::vector<FlowKey> missing(1 << 12);
  std::vector<uint32_t> msig(missing.size());
  for (size_t i = 0; i < missing.size(); i++) {
    missing[i] = t.keys[i % n];
    missing[i].port[0] ^= 0x8000;  // a port no loaded flow uses
    missing[i].vlan[0] = 4000;
    msig[i] = FlowTable::hash(missing[i]);
  }
  const FlowKey* kp[kBurst];
  uint32_t sig[kBurst], idx[kBurst];
  size_t pos = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; i++) {
      const size_t f = pos++ & (missing.size() - 1);
      kp[i] = &missing[f];
      sig[i] = msig[f];
    }
    t.table->lookup_burst(kp, sig, kBurst, idx);
    benchmark::DoNotOptimize(idx);
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
LOUPE_BENCHMARK(BM_FlowLookupMiss)->Arg(1 << 10)->Arg(1 << 20);

void BM_DecodeAndFlow(benchmark::State& state) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  static MbufFields fields = MbufFields::register_all();
  Config config;
  config.flow.capacity = flows;
  WorkerSetup setup;
  setup.offline = true;
  setup.fields = fields;
  Worker worker(config, std::move(setup));

  // Packets of random established flows, both directions, in mbufs as a
  // NIC or the reader would leave them.
  constexpr uint32_t kPackets = 1 << 15;
  rte_mempool* pool = rte_pktmbuf_pool_create(next_name("bench_pool").c_str(), kPackets + 1024,
                                              256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  if (pool == nullptr) {
    state.SkipWithError("cannot create the mempool");
    return;
  }
  std::vector<rte_mbuf*> pkts(kPackets);
  rte_pktmbuf_alloc_bulk(pool, pkts.data(), kPackets);
  auto fill = [&](rte_mbuf* m, uint32_t flow, bool reply, uint64_t ts) {
    build_frame(rte_pktmbuf_mtod(m, uint8_t*), flow, reply);
    m->data_len = m->pkt_len = 64;
    fields.set_ts(m, ts);
    fields.set_wire_len(m, 64);
  };
  // Establish every flow (one packet each way), in bursts through the worker.
  for (uint32_t base = 0; base < flows; base += kBurst / 2) {
    uint32_t n = 0;
    for (uint32_t i = base; i < flows && i < base + kBurst / 2; i++) {
      fill(pkts[n++], i, false, kT0);
      fill(pkts[n++], i, true, kT0);
    }
    worker.process_burst<true>(pkts.data(), n, 0);
  }
  std::mt19937 rng(9);
  for (uint32_t i = 0; i < kPackets; i++) fill(pkts[i], rng() % flows, rng() & 1, kT0 + 1000);
  uint32_t pos = 0;
  for (auto _ : state) {
    worker.process_burst<true>(pkts.data() + pos, kBurst, 0);
    pos = (pos + kBurst) & (kPackets - 1);
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.counters["flows_active"] = static_cast<double>(worker.flows().counters().active.get());
  state.counters["flows_created"] = static_cast<double>(worker.flows().counters().created.get());
  rte_pktmbuf_free_bulk(pkts.data(), kPackets);
  rte_mempool_free(pool);
}
LOUPE_BENCHMARK(BM_DecodeAndFlow)->Arg(1 << 10)->Arg(1 << 20)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace loupe

int main(int argc, char** argv) {
  std::string prefix = "--file-prefix=loupe-bench" + std::to_string(getpid());
  const char* eal[] = {"loupe-bench", "--no-huge", "-m", "3072", "--no-shconf", "--no-pci",
                       "--no-telemetry", "--log-level=*:error", "-l", "0", prefix.c_str()};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_eal_cleanup();
  return 0;
}
