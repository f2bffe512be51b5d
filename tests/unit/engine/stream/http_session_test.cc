// HttpSession: the http_on event sequence of pipelined, chunked and bodiless
// messages under every split into chunks, holes, garbage, tunnels, limits;
// the "http" body feed.
#include "engine/stream/http_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {
namespace {

constexpr uint64_t kTag = 77;

const char* name(HttpEvent e) {
  switch (e) {
    case HttpEvent::kMessageBegin:
      return "begin";
    case HttpEvent::kUrl:
      return "url";
    case HttpEvent::kHeaderField:
      return "field";
    case HttpEvent::kHeaderFieldRaw:
      return "raw";
    case HttpEvent::kHeaderValue:
      return "value";
    case HttpEvent::kHeadersComplete:
      return "headers";
    case HttpEvent::kBody:
      return "body";
    case HttpEvent::kMessageComplete:
      return "complete";
  }
  return "?";
}

// Records every event as "name data" ("name" alone for nil), per direction,
// with consecutive BODY events joined: how bodies are cut depends on the
// chunks, the rest of the sequence must not.
class Recorder final : public HttpSink {
 public:
  bool on_http_event(uint64_t tag, uint8_t dir, HttpEvent event, const uint8_t* data,
                     uint32_t len) override {
    EXPECT_EQ(tag, kTag);
    EXPECT_LT(dir, 2);
    const bool nil = event == HttpEvent::kHeadersComplete || event == HttpEvent::kMessageComplete ||
                     (event == HttpEvent::kMessageBegin && dir == 1);
    EXPECT_EQ(data == nullptr, nil) << name(event);
    const std::string text(data != nullptr ? reinterpret_cast<const char*>(data) : "", len);
    std::vector<std::string>& seq = events[dir];
    if (event == HttpEvent::kBody) {
      EXPECT_NE(len, 0u);
      bodies[dir] += text;
      if (!seq.empty() && seq.back().rfind("body ", 0) == 0) {
        seq.back() += text;
        return more();
      }
    }
    seq.push_back(nil ? std::string(name(event)) : std::string(name(event)) + " " + text);
    return more();
  }
  bool more() { return ++count != stop_after; }

  std::vector<std::string> events[2];
  std::string bodies[2];
  uint64_t count = 0;
  uint64_t stop_after = 0;  // 0: never stop
};

// Feeds `data` cut at `cuts`; each chunk lives in its own buffer, which is
// overwritten once fed, so that nothing may keep pointing into it.
void feed(HttpSession* s, uint8_t dir, std::string_view data, const std::vector<size_t>& cuts,
          uint32_t first_gap = 0) {
  size_t at = 0;
  for (size_t i = 0; i <= cuts.size(); i++) {
    const size_t end = i < cuts.size() ? cuts[i] : data.size();
    std::string chunk(data.substr(at, end - at));
    s->feed(dir, reinterpret_cast<const uint8_t*>(chunk.data()),
            static_cast<uint32_t>(chunk.size()), i == 0 ? first_gap : 0);
    chunk.assign(chunk.size(), '#');
    at = end;
  }
}
void feed(HttpSession* s, uint8_t dir, std::string_view data, uint32_t gap = 0) {
  feed(s, dir, data, {}, gap);
}

using Seq = std::vector<std::string>;

const std::string kPipelinedRequests =
    "GET /a HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n"
    "GET /b?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
const std::string kPipelinedResponses =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
const Seq kPipelinedRequestEvents = {
    "begin GET",        "url /a",         "field host", "raw Host", "value example.com",
    "field user-agent", "raw User-Agent", "value t/1",  "headers",  "complete",
    "begin GET",        "url /b?q=1",     "field host", "raw Host", "value example.com",
    "headers",          "complete"};
const Seq kPipelinedResponseEvents = {"begin",
                                      "field content-length",
                                      "raw Content-Length",
                                      "value 5",
                                      "field content-type",
                                      "raw Content-Type",
                                      "value text/plain",
                                      "headers",
                                      "body hello",
                                      "complete",
                                      "begin",
                                      "field content-length",
                                      "raw Content-Length",
                                      "value 0",
                                      "headers",
                                      "complete"};

struct Fixture {
  explicit Fixture(uint32_t buffers = 4) : parsers(4, buffers, rec) { s = parsers.open(kTag); }
  Recorder rec;
  HttpParsers parsers;
  HttpSession* s;
};

TEST(HttpSession, PipelinedRequestsWhole) {
  Fixture f;
  feed(f.s, 0, kPipelinedRequests);
  feed(f.s, 1, kPipelinedResponses);
  EXPECT_EQ(f.rec.events[0], kPipelinedRequestEvents);
  EXPECT_EQ(f.rec.events[1], kPipelinedResponseEvents);
  EXPECT_EQ(f.parsers.counters().requests.get(), 2u);
  EXPECT_EQ(f.parsers.counters().responses.get(), 2u);
  EXPECT_EQ(f.parsers.buffers_in_use(), 0u);
}

// Every split of each direction into two chunks, and into chunks of one byte:
// the same sequence, whole strings, no buffer left behind.
TEST(HttpSession, PipelinedSplitAtEveryByte) {
  for (const std::string* dir_data : {&kPipelinedRequests, &kPipelinedResponses}) {
    const uint8_t dir = dir_data == &kPipelinedRequests ? 0 : 1;
    const Seq& want = dir == 0 ? kPipelinedRequestEvents : kPipelinedResponseEvents;
    for (size_t cut = 1; cut < dir_data->size(); cut++) {
      Fixture f;
      feed(f.s, dir, *dir_data, std::vector<size_t>{cut});
      ASSERT_EQ(f.rec.events[dir], want) << "cut at " << cut;
      ASSERT_EQ(f.parsers.buffers_in_use(), 0u);
    }
    Fixture f;
    std::vector<size_t> every;
    for (size_t i = 1; i < dir_data->size(); i++) every.push_back(i);
    feed(f.s, dir, *dir_data, every);
    EXPECT_EQ(f.rec.events[dir], want);
    EXPECT_EQ(f.parsers.buffers_in_use(), 0u);
  }
}

TEST(HttpSession, InterleavedExchanges) {
  Fixture f;
  const size_t split = kPipelinedRequests.find("GET /b");
  const size_t rsplit = kPipelinedResponses.find("HTTP/1.1 404");
  feed(f.s, 0, std::string_view(kPipelinedRequests).substr(0, split));
  feed(f.s, 1, std::string_view(kPipelinedResponses).substr(0, rsplit));
  feed(f.s, 0, std::string_view(kPipelinedRequests).substr(split));
  feed(f.s, 1, std::string_view(kPipelinedResponses).substr(rsplit));
  EXPECT_EQ(f.rec.events[0], kPipelinedRequestEvents);
  EXPECT_EQ(f.rec.events[1], kPipelinedResponseEvents);
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "7;a=1;b=\"x y\"\r\n, world\r\n"
    "1\r\n!\r\n"
    "0;last\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(HttpSession, ChunkedBodyDecodedUnderEverySplit) {
  const Seq want = {"begin", "field transfer-encoding", "raw Transfer-Encoding", "value chunked",
                    "headers", "body hello, world!",
                    // Trailers come as header events after the body.
                    "field x-checksum", "raw X-Checksum", "value abc", "field x-empty",
                    "raw X-Empty", "value ", "complete", "begin", "field content-length",
                    "raw Content-Length", "value 2", "headers", "body ok", "complete"};
  for (size_t cut = 0; cut < kChunked.size(); cut++) {
    Fixture f;
    feed(f.s, 0, "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    feed(f.s, 1, kChunked, cut == 0 ? std::vector<size_t>{} : std::vector<size_t>{cut});
    ASSERT_EQ(f.rec.events[1], want) << "cut at " << cut;
    ASSERT_EQ(f.rec.bodies[1], "hello, world!ok");
  }
}

// The body feed adapter passes the BODY events, and only them.
class BodyRecorder final : public BodySink {
 public:
  bool on_body(uint64_t tag, BodyFeed feed, uint8_t dir, const uint8_t* data,
               uint32_t len) override {
    EXPECT_EQ(tag, kTag);
    EXPECT_EQ(feed, BodyFeed::kHttp);
    body[dir].append(reinterpret_cast<const char*>(data), len);
    calls++;
    return true;
  }
  std::string body[2];
  int calls = 0;
};

TEST(HttpSession, BodyFeedEqualsDecodedBody) {
  BodyRecorder bodies;
  HttpBodyFeed adapter(bodies);
  HttpParsers parsers(1, 1, adapter);
  HttpSession* s = parsers.open(kTag);
  const std::string post =
      "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  std::vector<size_t> every;
  for (size_t i = 1; i < kChunked.size(); i++) every.push_back(i);
  feed(s, 0, post + "GET /2 HTTP/1.1\r\n\r\n");
  feed(s, 1, kChunked, every);
  EXPECT_EQ(bodies.body[0], "abc");
  EXPECT_EQ(bodies.body[1], "hello, world!ok");
  EXPECT_GE(bodies.calls, 1 + 13 + 2);  // one call per byte of the response bodies
}

TEST(HttpSession, ContentLengthHeadNoContentNotModifiedContinue) {
  Fixture f;
  feed(f.s, 0,
       "POST /form HTTP/1.1\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"
       "a=1&b=2"
       "HEAD /h HTTP/1.1\r\n\r\n"
       "DELETE /d HTTP/1.1\r\n\r\n"
       "GET /cached HTTP/1.1\r\n\r\n"
       "GET /last HTTP/1.1\r\n\r\n");
  feed(f.s, 1,
       "HTTP/1.1 100 Continue\r\n\r\n"
       "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nid"
       // A HEAD response announces a length but has no body.
       "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
       "HTTP/1.1 204 No Content\r\n\r\n"
       // So does a 304, and it gets none either.
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend");
  const Seq want_requests = {"begin POST",
                             "url /form",
                             "field content-length",
                             "raw Content-Length",
                             "value 7",
                             "field expect",
                             "raw Expect",
                             "value 100-continue",
                             "headers",
                             "body a=1&b=2",
                             "complete",
                             "begin HEAD",
                             "url /h",
                             "headers",
                             "complete",
                             "begin DELETE",
                             "url /d",
                             "headers",
                             "complete",
                             "begin GET",
                             "url /cached",
                             "headers",
                             "complete",
                             "begin GET",
                             "url /last",
                             "headers",
                             "complete"};
  const Seq want_responses = {"begin",
                              "headers",
                              "complete",
                              "begin",
                              "field content-length",
                              "raw Content-Length",
                              "value 2",
                              "headers",
                              "body id",
                              "complete",
                              "begin",
                              "field content-length",
                              "raw Content-Length",
                              "value 1000",
                              "headers",
                              "complete",
                              "begin",
                              "headers",
                              "complete",
                              "begin",
                              "field content-length",
                              "raw Content-Length",
                              "value 50",
                              "headers",
                              "complete",
                              "begin",
                              "field content-length",
                              "raw Content-Length",
                              "value 3",
                              "headers",
                              "body end",
                              "complete"};
  EXPECT_EQ(f.rec.events[0], want_requests);
  EXPECT_EQ(f.rec.events[1], want_responses);
  EXPECT_EQ(f.parsers.counters().parse_errors.get(), 0u);
}

TEST(HttpSession, ResponseToEndOfConnection) {
  Fixture f;
  feed(f.s, 0, "GET / HTTP/1.0\r\n\r\n");
  feed(f.s, 1, "HTTP/1.0 200 OK\r\n\r\nall of it");
  feed(f.s, 1, " until the end");
  EXPECT_EQ(f.rec.events[1].back(), "body all of it until the end");
  f.s->finish();
  EXPECT_EQ(f.rec.events[1].back(), "complete");
  EXPECT_TRUE(f.s->stopped());
}

// A hole inside a body of known length: the message survives, the body
// lacks the hole's bytes, and the next message parses.
TEST(HttpSession, GapInsideContentLengthBody) {
  Fixture f;
  feed(f.s, 0, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n012");
  feed(f.s, 1, "6789HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 3);  // "345" lost
  EXPECT_EQ(f.rec.bodies[1], "0126789x");
  EXPECT_EQ(std::count(f.rec.events[1].begin(), f.rec.events[1].end(), "complete"), 2);
  EXPECT_EQ(f.parsers.counters().gaps_in_body.get(), 1u);
  EXPECT_EQ(f.parsers.counters().gap_body_bytes.get(), 3u);
  EXPECT_EQ(f.parsers.counters().gaps_lost.get(), 0u);
}

// The hole ends exactly where the body does.
TEST(HttpSession, GapEndingWithTheBody) {
  Fixture f;
  feed(f.s, 0, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc");
  feed(f.s, 1, "HTTP/1.1 204 No Content\r\n\r\n", 3);
  EXPECT_EQ(f.rec.bodies[1], "abc");
  const Seq want = {"begin",
                    "field content-length",
                    "raw Content-Length",
                    "value 6",
                    "headers",
                    "body abc",
                    "complete",
                    "begin",
                    "headers",
                    "complete"};
  EXPECT_EQ(f.rec.events[1], want);
}

TEST(HttpSession, GapInsideChunkData) {
  Fixture f;
  feed(f.s, 0, "GET / HTTP/1.1\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01");
  feed(f.s, 1, "56789\r\n0\r\n\r\n", 3);
  EXPECT_EQ(f.rec.bodies[1], "0156789");
  EXPECT_EQ(f.rec.events[1].back(), "complete");
  // A hole over a chunk's size line cannot be skipped.
  feed(f.s, 0, "GET / HTTP/1.1\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
  feed(f.s, 1, "cd\r\n0\r\n\r\n", 4);
  EXPECT_EQ(f.parsers.counters().gaps_lost.get(), 1u);
  EXPECT_EQ(f.rec.events[1].back(), "body ab");
}

// A hole in the headers costs the message; the direction resumes at the
// next chunk that starts a message.
TEST(HttpSession, GapInHeadersThenResync) {
  Fixture f;
  feed(f.s, 0, "GET /lost HTTP/1.1\r\nHost: a");
  feed(f.s, 0, "ost: b\r\n\r\n", 5);  // not a message start: ignored
  feed(f.s, 0, "GET /next HTTP/1.1\r\nHost: c\r\n\r\n");
  // What was whole before the hole went out; the value it cut did not.
  const Seq want = {"begin GET",  "url /lost", "field host", "raw Host", "begin GET", "url /next",
                    "field host", "raw Host",  "value c",    "headers",  "complete"};
  EXPECT_EQ(f.rec.events[0], want);
  EXPECT_EQ(f.parsers.counters().gaps_lost.get(), 1u);
  EXPECT_EQ(f.parsers.counters().resyncs.get(), 1u);
  EXPECT_EQ(f.parsers.buffers_in_use(), 0u);
  // The response side resumes at "HTTP/", its pairing forgotten.
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
  feed(f.s, 1, "junk", 100);
  feed(f.s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(f.rec.bodies[1], "abok");
  EXPECT_EQ(f.parsers.counters().resyncs.get(), 2u);
}

TEST(HttpSession, GarbageGivesNoEvents) {
  Fixture f;
  const std::string tls("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  feed(f.s, 0, tls);
  feed(f.s, 0, "more bytes that are not HTTP");
  feed(f.s, 1, "SSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_TRUE(f.rec.events[0].empty());
  EXPECT_TRUE(f.rec.events[1].empty());
  EXPECT_EQ(f.parsers.counters().parse_errors.get(), 2u);
  // A start that looks right but is not HTTP: no event either.
  feed(f.s, 0, "HELLO world\r\n\r\n");
  EXPECT_TRUE(f.rec.events[0].empty());
  EXPECT_EQ(f.parsers.counters().parse_errors.get(), 3u);
  // Garbage after a valid message costs only what follows.
  Fixture g;
  feed(g.s, 0, "GET / HTTP/1.1\r\n\r\n\x01\x02garbage");
  EXPECT_EQ(g.rec.events[0].back(), "complete");
  EXPECT_EQ(g.parsers.counters().parse_errors.get(), 1u);
}

// Random bytes and random holes: no crash, no buffer kept after close.
TEST(HttpSession, RandomInputKeepsItsBounds) {
  std::mt19937 rng(2026);
  Recorder rec;
  HttpParsers parsers(2, 2, rec);
  for (int round = 0; round < 200; round++) {
    HttpSession* s = parsers.open(kTag);
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 20; i++) {
      std::string chunk = i % 3 == 0 ? kPipelinedResponses.substr(rng() % 40) : std::string();
      const size_t n = rng() % 64;
      for (size_t k = 0; k < n; k++) chunk.push_back(static_cast<char>(rng() % 128));
      s->feed(static_cast<uint8_t>(rng() % 2), reinterpret_cast<const uint8_t*>(chunk.data()),
              static_cast<uint32_t>(chunk.size()), rng() % 5 == 0 ? rng() % 100 : 0);
    }
    parsers.close(s);
    ASSERT_EQ(parsers.buffers_in_use(), 0u);
  }
  EXPECT_EQ(parsers.sessions_in_use(), 0u);
}

TEST(HttpSession, WebSocketUpgradeEndsHttp) {
  Fixture f;
  feed(f.s, 0, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  feed(f.s, 1,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\n\r\n\x81\x05hello");
  feed(f.s, 0, "GET /not-http-any-more HTTP/1.1\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(f.rec.events[0].back(), "complete");
  EXPECT_EQ(f.rec.events[0].size(), 10u);
  EXPECT_EQ(f.rec.events[1].back(), "complete");
  EXPECT_EQ(f.rec.events[1].size(), 9u);
  EXPECT_EQ(f.parsers.counters().tunnels.get(), 1u);
}

TEST(HttpSession, ConnectTunnelAndRefusedUpgrade) {
  Fixture f;
  feed(f.s, 0, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  feed(f.s, 1, "HTTP/1.1 200 Connection established\r\n\r\n");
  feed(f.s, 0, "\x16\x03\x01 client hello");
  feed(f.s, 1, "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(f.rec.events[0].front(), "begin CONNECT");
  EXPECT_EQ(f.rec.events[0][1], "url example.com:443");
  EXPECT_EQ(f.rec.events[1].size(), 3u);
  EXPECT_EQ(f.parsers.counters().tunnels.get(), 1u);
  EXPECT_EQ(f.parsers.counters().parse_errors.get(), 0u);

  // The server declines the upgrade: the client goes on with HTTP.
  Fixture g;
  feed(g.s, 0, "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  feed(g.s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
  feed(g.s, 0, "GET /again HTTP/1.1\r\n\r\n");
  EXPECT_EQ(g.rec.events[0][g.rec.events[0].size() - 3], "url /again");
  EXPECT_EQ(g.parsers.counters().tunnels.get(), 0u);
}

TEST(HttpSession, LongStringsAreCutAt8KiB) {
  Fixture f;
  const std::string url = "/" + std::string(10000, 'u');
  const std::string value(9000, 'v');
  const std::string req = "GET " + url + " HTTP/1.1\r\nX-Long: " + value + "\r\n\r\n";
  feed(f.s, 0, req, std::vector<size_t>{100, 5000, 9000, 12000});
  ASSERT_EQ(f.rec.events[0].size(), 7u);
  EXPECT_EQ(f.rec.events[0][1], "url " + url.substr(0, HttpSession::kMaxString));
  EXPECT_EQ(f.rec.events[0][4], "value " + value.substr(0, HttpSession::kMaxString));
  EXPECT_EQ(f.parsers.counters().strings_truncated.get(), 2u);
  EXPECT_EQ(f.parsers.buffers_in_use(), 0u);
}

// With no string buffer, a string cut by a chunk's end is delivered early,
// cut, and still once.
TEST(HttpSession, NoStringBufferLeft) {
  Fixture f(0);
  feed(f.s, 0, "GET /path HTTP/1.1\r\nHost: example.com\r\n\r\n", std::vector<size_t>{7, 28});
  const Seq want = {"begin GET", "url /pa", "field host", "raw Host",
                    "value ex",  "headers", "complete"};
  EXPECT_EQ(f.rec.events[0], want);
  EXPECT_EQ(f.parsers.counters().strings_cut_no_buffer.get(), 2u);
}

TEST(HttpSession, SinkStopsTheSession) {
  Fixture f;
  f.rec.stop_after = 3;
  feed(f.s, 0, kPipelinedRequests);
  feed(f.s, 1, kPipelinedResponses);
  EXPECT_EQ(f.rec.count, 3u);
  EXPECT_TRUE(f.s->stopped());
}

TEST(HttpSession, PoolIsBounded) {
  Recorder rec;
  HttpParsers parsers(2, 1, rec);
  HttpSession* a = parsers.open(1);
  HttpSession* b = parsers.open(2);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(parsers.open(3), nullptr);
  EXPECT_EQ(parsers.counters().sessions_refused.get(), 1u);
  parsers.close(a);
  HttpSession* c = parsers.open(kTag);
  ASSERT_EQ(c, a);  // reused, and nothing of the old flow in it
  feed(c, 0, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(rec.events[0].size(), 4u);
  EXPECT_EQ(parsers.sessions_in_use(), 2u);
  EXPECT_GT(parsers.memory_bytes(), HttpSession::kMaxString * 2);
}

// Memory golden: the per-flow state (both parsers, the pairing ring); the
// strings live in the shared buffers, not here.
TEST(HttpSession, PerFlowStateSize) { EXPECT_EQ(sizeof(HttpSession), 160u); }

}  // namespace
}  // namespace loupe
