// Cost of HTTP/1.x parsing per byte, named after what it measures:
//   BM_HttpPairWhole      a typical browser request (8 headers) and its
//                         response (7 headers, 1 KiB body), each message in
//                         one chunk, on a keep-alive connection
//   BM_HttpPairSegmented  the same cut into 97-byte chunks: strings cut by
//                         chunk ends go through the string buffers
//   BM_HttpPairChunked    the response with a chunked body (4 chunks)
// The sink only counts events. "per_byte" is the time per byte of both
// messages; with --benchmark_repetitions=5 each benchmark also reports the
// median, min and max of the runs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/stream/http_session.h"

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

class CountingSink final : public HttpSink {
 public:
  bool on_http_event(uint64_t, uint8_t, HttpEvent, const uint8_t* data, uint32_t len) override {
    events++;
    bytes += len;
    benchmark::DoNotOptimize(data);
    return true;
  }
  uint64_t events = 0;
  uint64_t bytes = 0;
};

const std::string kRequest =
    "GET /static/js/app.4f3c2a.js?v=20240301 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/index.html\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    "Connection: keep-alive\r\n\r\n";

std::string response(bool chunked) {
  const std::string body(1024, 'b');
  std::string r =
      "HTTP/1.1 200 OK\r\n"
      "Date: Mon, 04 Mar 2024 10:00:00 GMT\r\n"
      "Server: nginx/1.22.1\r\n"
      "Content-Type: application/javascript\r\n"
      "Cache-Control: max-age=31536000\r\n"
      "ETag: \"65e59a80-400\"\r\n"
      "Connection: keep-alive\r\n";
  if (!chunked) return r + "Content-Length: 1024\r\n\r\n" + body;
  r += "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; i++) r += "100\r\n" + body.substr(0, 256) + "\r\n";
  return r + "0\r\n\r\n";
}

void run(benchmark::State& state, const std::string& resp, uint32_t chunk) {
  CountingSink sink;
  HttpParsers parsers(1, 2, sink);
  HttpSession* s = parsers.open(1);
  const auto feed = [&](uint8_t dir, const std::string& m) {
    const auto* p = reinterpret_cast<const uint8_t*>(m.data());
    for (size_t at = 0; at < m.size(); at += chunk) {
      s->feed(dir, p + at, static_cast<uint32_t>(std::min<size_t>(chunk, m.size() - at)), 0);
    }
  };
  for (auto _ : state) {
    feed(0, kRequest);
    feed(1, resp);
  }
  if (s->stopped() ||
      parsers.counters().responses.get() != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("the pairs did not parse");
  }
  const double bytes = static_cast<double>(kRequest.size() + resp.size());
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  state.counters["per_byte"] = benchmark::Counter(
      bytes, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["events"] =
      benchmark::Counter(static_cast<double>(sink.events) / state.iterations());
  parsers.close(s);
}

void BM_HttpPairWhole(benchmark::State& state) { run(state, response(false), 1u << 16); }
void BM_HttpPairSegmented(benchmark::State& state) { run(state, response(false), 97); }
void BM_HttpPairChunked(benchmark::State& state) { run(state, response(true), 1u << 16); }

LOUPE_BENCHMARK(BM_HttpPairWhole);
LOUPE_BENCHMARK(BM_HttpPairSegmented);
LOUPE_BENCHMARK(BM_HttpPairChunked);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
