// HTTP/1.x over a flow's two reassembled byte streams: the eight events of
// the Arkime API's http_on (request and response sides, pipelined messages
// each with its full sequence), with URLs, header names and values joined
// into whole strings and bodies freed of their transfer coding. The
// parsing itself is Debian's http-parser; this file pairs responses with
// their requests (a response to HEAD, a 1xx, 204 or 304 has no body; a 101
// or a 2xx to CONNECT ends HTTP on the flow), keeps strings that span
// chunks, and gets past the holes reassembly gave up.
//
// One HttpParsers per worker owns every session, the string buffers and the
// counters, all allocated when it is built; opening, feeding and closing a
// session neither allocates nor locks.
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <memory>

#include "engine/common/counter.h"
#include "engine/stream/await_queue.h"
#include "engine/stream/body_feed.h"
#include "engine/stream/session_pool.h"

namespace loupe {

// The values of ArkimeSession.HTTP.
enum class HttpEvent : uint8_t {
  kMessageBegin = 1,
  kUrl = 2,
  kHeaderField = 3,
  kHeaderFieldRaw = 4,
  kHeaderValue = 5,
  kHeadersComplete = 6,
  kBody = 7,
  kMessageComplete = 8,
};

//   X(name, help)
#define LOUPE_HTTP_COUNTERS(X)                                                                \
  X(sessions, "HTTP sessions opened")                                                         \
  X(sessions_refused, "flows not parsed as HTTP: every session of the worker was in use")     \
  X(requests, "requests whose headers were complete")                                         \
  X(responses, "responses whose headers were complete")                                       \
  X(parse_errors, "directions that stopped at bytes that are not HTTP/1.x")                   \
  X(resyncs, "directions that resumed at a message start after a hole or an error")           \
  X(gaps_in_body, "holes inside a body of known extent: parsing went on after them")          \
  X(gap_body_bytes, "body bytes missing in those holes")                                      \
  X(gaps_lost, "holes that cost the message in progress, or fell between messages")           \
  X(tunnels, "connections that left HTTP (101 Switching Protocols, CONNECT)")                 \
  X(strings_truncated, "URLs, header names or values cut at 8 KiB")                           \
  X(strings_cut_no_buffer, "strings cut where a chunk ended: every string buffer was in use") \
  X(pipeline_overflow, "requests whose method was not kept: more than 16 awaited their response")

struct HttpCounters {
#define LOUPE_X(name, help) Counter name;
  LOUPE_HTTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kHttpCounterNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_HTTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kHttpCounterHelp[] = {
#define LOUPE_X(name, help) help,
    LOUPE_HTTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

class HttpSink {
 public:
  // One event of flow `tag` in direction `dir` (0: the request side).
  // `data` is nullptr where the API passes nil (MESSAGE_BEGIN of a response,
  // HEADERS_COMPLETE, MESSAGE_COMPLETE) and valid during the call only; an
  // empty header value is an empty string, not nil. Returns false when
  // nobody listens to the flow any more: its session stops at once and
  // delivers nothing more.
  virtual bool on_http_event(uint64_t tag, uint8_t dir, HttpEvent event, const uint8_t* data,
                             uint32_t len) = 0;

 protected:
  ~HttpSink() = default;
};

// Forwards the BODY events to a BodySink as the "http" body feed.
class HttpBodyFeed final : public HttpSink {
 public:
  explicit HttpBodyFeed(BodySink& sink) : sink_(sink) {}
  bool on_http_event(uint64_t tag, uint8_t dir, HttpEvent event, const uint8_t* data,
                     uint32_t len) override {
    return event != HttpEvent::kBody || sink_.on_body(tag, BodyFeed::kHttp, dir, data, len);
  }

 private:
  BodySink& sink_;
};

class HttpParsers;

// The HTTP state of one flow. Direction 0 is the client's (requests),
// direction 1 the server's (responses).
class HttpSession {
 public:
  // Longest URL, header name or value delivered; the rest is dropped.
  static constexpr uint32_t kMaxString = 8192;
  // Requests whose method is kept while they await their response.
  static constexpr uint8_t kPipeline = 16;

  // The next in-order bytes of direction `dir`; `gap_bytes` were lost right
  // before them (StreamSink's arguments).
  void feed(uint8_t dir, const uint8_t* data, uint32_t len, uint32_t gap_bytes);
  // Both directions ended: a response whose body runs to the end of the
  // connection completes. Delivers nothing afterwards.
  void finish();
  // The sink returned false: nothing more is delivered.
  bool stopped() const { return stopped_; }
  uint64_t tag() const { return tag_; }

 private:
  friend class HttpParsers;

  // What a direction does with its bytes.
  enum Mode : uint8_t {
    kParse,    // HTTP/1.x
    kLost,     // after a hole or an error: waits for a chunk that starts a message
    kUpgrade,  // a request asked to leave HTTP: its bytes wait for the response's verdict
    kTunnel,   // the connection left HTTP: nothing more
  };
  // The string being collected.
  enum Pending : uint8_t { kNone, kUrl, kField, kValue };
  static constexpr uint32_t kNoBuffer = UINT32_MAX;

  struct Side {
    http_parser parser;
    const char* view;  // the pending string inside the chunk being parsed
    uint32_t len;      // its length so far (in view or in the buffer)
    uint32_t buffer;   // the string buffer holding it, or kNoBuffer
    Pending pending;
    Mode mode;
    bool in_message;     // begun and not complete
    bool begun;          // MESSAGE_BEGIN delivered for it
    bool in_body;        // headers complete, message not yet
    bool in_chunk_data;  // inside a chunk's data (its length is in the parser)
    bool cut;            // the pending string was cut: its rest is dropped
    bool spent;          // ... and it was delivered already, early
  };

  // Called by HttpParsers.
  void open(HttpParsers& owner, uint64_t tag);
  void close();

  void reset_side(uint8_t dir, Mode mode);
  void parse(uint8_t dir, const char* data, uint32_t len);
  bool skip_gap(Side& s, uint32_t gap);
  static bool starts_message(uint8_t dir, const uint8_t* data, uint32_t len);
  void lose(uint8_t dir);
  void tunnel();

  // Strings.
  void collect(uint8_t dir, Pending kind, const char* at, size_t n);
  bool flush(uint8_t dir);
  void park(uint8_t dir);
  void drop_pending(Side& s);
  bool to_buffer(Side& s);
  HttpCounters& counters();
  const char* pending_data(const Side& s) const;

  // Events; false once the session stopped.
  bool emit(uint8_t dir, HttpEvent event, const void* data, uint32_t len);
  bool begin(uint8_t dir);

  // Pairing of responses with requests.

  // http-parser's callbacks.
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);
  static int on_chunk_header(http_parser* p);
  static int on_chunk_complete(http_parser* p);
  static const http_parser_settings kSettings;
  static HttpSession& of(http_parser* p) { return *static_cast<HttpSession*>(p->data); }
  uint8_t dir_of(const http_parser* p) const { return p == &side_[0].parser ? 0 : 1; }

  HttpParsers* owner_ = nullptr;
  uint64_t tag_ = 0;
  Side side_[2];
  AwaitQueue<kPipeline> requests_;  // methods of the requests awaiting their response
  bool skipping_ = false;  // a byte fed to close a hole: no BODY event
  bool stopped_ = false;
};

// One worker's HTTP sessions. `sessions` flows at once; `string_buffers` of
// kMaxString bytes hold the strings that span chunks (a flow needs at most
// one per direction at a time, and only while a string is cut by a chunk's
// end; a string fully inside a chunk is delivered from the chunk).
class HttpParsers {
 public:
  HttpParsers(uint32_t sessions, uint32_t string_buffers, HttpSink& sink);
  HttpParsers(const HttpParsers&) = delete;
  HttpParsers& operator=(const HttpParsers&) = delete;

  // A session for a new flow, handed back to every sink call as `tag`;
  // nullptr (counted) when all are in use.
  HttpSession* open(uint64_t tag);
  // Gives the session back; nothing more is delivered for it. Not from
  // inside one of its own sink calls (stop by returning false instead).
  void close(HttpSession* session);

  const HttpCounters& counters() const { return counters_; }
  uint32_t sessions_in_use() const { return sessions_.in_use(); }
  uint32_t buffers_in_use() const { return buffer_count_ - free_count_; }
  // Everything allocated.
  uint64_t memory_bytes() const;

 private:
  friend class HttpSession;

  uint32_t take_buffer() {
    return free_count_ == 0 ? HttpSession::kNoBuffer : free_[--free_count_];
  }
  void give_buffer(uint32_t b) { free_[free_count_++] = b; }
  char* buffer(uint32_t b) { return buffers_.get() + uint64_t{b} * HttpSession::kMaxString; }

  HttpSink& sink_;
  SessionPool<HttpSession> sessions_;
  std::unique_ptr<char[]> buffers_;
  std::unique_ptr<uint32_t[]> free_;
  uint32_t buffer_count_;
  uint32_t free_count_;
  std::unique_ptr<char[]> lower_;  // a header name in lower case, while it is delivered
  HttpCounters counters_;
};

}  // namespace loupe
