// The classifier engine (engine/classify/classifier_db.h), named after what
// it measures:
//   BM_Scan/<rules>/<window>/<payloads>  one first-payload scan of <window>
//       bytes against 10,000 TCP rules of 4-16 random bytes.
//       <rules> p6:     the Lua API contract's P6 set: 75% at offset 0, the
//                       rest at 1-63, plus for 256 and 1024 one rule ending
//                       at that byte so that the window covers it;
//               spread: offsets spread over the window (offset + length <= it).
//       <payloads> none: random bytes; one: each holds one rule at its
//                  offset; one_hot: the same with one of 32 rules (warm
//                  caches, as a few common protocols make most matches);
//                  mix10: 10% of them hold any rule (P6). 4,096 payloads, cycled.
//   BM_Compile10k    ClassifierDb::build of the p6 set without a cache
//   BM_CacheLoad10k  the same set loaded from its cache file
// Figures are per scan (or per build); with --benchmark_repetitions=5 each
// reports the median, min and max of the runs.
#include <benchmark/benchmark.h>
#include <hs/hs.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/classify/classifier_db.h"

namespace loupe {
namespace {

constexpr int kRules = 10'000;
constexpr size_t kPayloads = 4096;  // a power of two

double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<ClassifierSpec> make_rules(bool spread, uint32_t window) {
  std::mt19937_64 rng(2026);
  std::vector<ClassifierSpec> rules;
  for (int i = 0; i < kRules; ++i) {
    const uint32_t length = 4 + rng() % 13;
    uint32_t offset = 0;
    if (spread) {
      offset = rng() % (window - length + 1);
    } else if (rng() % 4 == 0) {
      offset = 1 + rng() % 63;
    }
    rules.push_back({"r" + std::to_string(i), 6, offset, random_bytes(rng, length), 0, "bench"});
  }
  if (!spread && window > 64) {
    rules.push_back({"last", 6, window - 8, random_bytes(rng, 8), 0, "bench"});
  }
  return rules;
}

// A compiled set and the scratch of the one "worker"; made on first use,
// so that a filtered run compiles only what it scans.
struct RuleSet {
  std::vector<ClassifierSpec> rules;
  std::shared_ptr<const ClassifierDb> db;
  hs_scratch_t* scratch = nullptr;
};

const RuleSet& rule_set(bool spread, uint32_t window) {
  static std::map<std::pair<bool, uint32_t>, RuleSet> sets;
  RuleSet& s = sets[{spread, window}];
  if (s.db) return s;
  s.rules = make_rules(spread, window);
  s.db = ClassifierDb::build(s.rules, {}, "").db;
  if (!s.db) abort();
  s.scratch = s.db->make_scratch();
  return s;
}

// Random payloads of `window` bytes, matching_pct% of them holding one rule
// (that fits) at its offset: any rule, or with `hot` one of the first `hot`
// rules that fit, as live traffic matches a few common protocols.
std::vector<std::string> payloads(const RuleSet& s, uint32_t window, int matching_pct, int hot) {
  std::vector<const ClassifierSpec*> fit;
  for (const ClassifierSpec& r : s.rules) {
    if (r.offset + r.bytes.size() <= window) fit.push_back(&r);
  }
  if (hot > 0) fit.resize(hot);
  std::mt19937_64 rng(7);
  std::vector<std::string> out;
  for (size_t i = 0; i < kPayloads; ++i) {
    std::string payload = random_bytes(rng, window);
    if (static_cast<int>(rng() % 100) < matching_pct) {
      const ClassifierSpec* r = fit[rng() % fit.size()];
      payload.replace(r->offset, r->bytes.size(), r->bytes);
    }
    out.push_back(std::move(payload));
  }
  return out;
}

void BM_Scan(benchmark::State& state, bool spread, uint32_t window, int matching_pct, int hot) {
  const RuleSet& s = rule_set(spread, window);
  const std::vector<std::string> pool = payloads(s, window, matching_pct, hot);
  if (s.db->window(6) < window) state.SkipWithError("the window does not cover the payloads");
  ClassifierMatch out[16];
  size_t i = 0;
  uint64_t matches = 0;
  for (auto _ : state) {
    const std::string& p = pool[i++ & (kPayloads - 1)];
    const uint32_t n = scan(*s.db, s.scratch, 6, 1, reinterpret_cast<const uint8_t*>(p.data()),
                            static_cast<uint32_t>(p.size()), out, 16);
    matches += n;
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matches_per_scan"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

void BM_Compile10k(benchmark::State& state) {
  const std::vector<ClassifierSpec> rules = make_rules(false, 64);
  for (auto _ : state) {
    ClassifierBuild b = ClassifierDb::build(rules, {}, "");
    if (!b.db || b.cache_used) state.SkipWithError("no compile");
    state.counters["db_kib"] = static_cast<double>(b.db->database_bytes()) / 1024;
  }
}

void BM_CacheLoad10k(benchmark::State& state) {
  const std::vector<ClassifierSpec> rules = make_rules(false, 64);
  std::string dir = (std::filesystem::temp_directory_path() / "classifier_bench.XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) state.SkipWithError("no temporary directory");
  ClassifierDb::build(rules, {}, dir);  // writes the cache file
  for (auto _ : state) {
    ClassifierBuild b = ClassifierDb::build(rules, {}, dir);
    if (!b.db || !b.cache_used) state.SkipWithError("the cache was not used");
  }
  std::filesystem::remove_all(dir);
}

void register_all() {
  for (const bool spread : {false, true}) {
    for (const uint32_t window : {64u, 256u, 1024u}) {
      for (const auto& [name, pct, hot] :
           {std::tuple("none", 0, 0), std::tuple("one", 100, 0), std::tuple("one_hot", 100, 32),
            std::tuple("mix10", 10, 0)}) {
        const std::string title = std::string("BM_Scan/") + (spread ? "spread/" : "p6/") +
                                  std::to_string(window) + "/" + name;
        benchmark::RegisterBenchmark(title.c_str(), BM_Scan, spread, window, pct, hot)
            ->ComputeStatistics("min", min_of)
            ->ComputeStatistics("max", max_of);
      }
    }
  }
  for (auto* b : {benchmark::RegisterBenchmark("BM_Compile10k", BM_Compile10k),
                  benchmark::RegisterBenchmark("BM_CacheLoad10k", BM_CacheLoad10k)}) {
    b->Unit(benchmark::kMillisecond)
        ->Iterations(1)
        ->ComputeStatistics("min", min_of)
        ->ComputeStatistics("max", max_of);
  }
}

}  // namespace
}  // namespace loupe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  loupe::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
