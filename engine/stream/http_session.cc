#include "engine/stream/http_session.h"

#include <cstring>

namespace loupe {
namespace {

constexpr char kEmpty[] = "";
// Fed to the parser, without a BODY event, when a hole ends exactly where a
// body or a chunk does: the parser needs one byte to move past it.
constexpr char kFill[1] = {0};

bool method_char(uint8_t c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

}  // namespace

const http_parser_settings HttpSession::kSettings = {
    on_message_begin,
    on_url,
    nullptr,  // the reason phrase is no event
    on_header_field,
    on_header_value,
    on_headers_complete,
    on_body,
    on_message_complete,
    on_chunk_header,
    on_chunk_complete,
};

HttpCounters& HttpSession::counters() { return owner_->counters_; }

void HttpSession::open(HttpParsers& owner, uint64_t tag) {
  owner_ = &owner;
  tag_ = tag;
  requests_.clear();
  skipping_ = stopped_ = false;
  for (uint8_t dir = 0; dir < 2; dir++) {
    side_[dir].buffer = kNoBuffer;
    reset_side(dir, kParse);
  }
}

void HttpSession::close() {
  for (Side& s : side_) drop_pending(s);
  stopped_ = true;
}

// Nothing may be pending: the caller dropped it.
void HttpSession::reset_side(uint8_t dir, Mode mode) {
  Side& s = side_[dir];
  http_parser_init(&s.parser, dir == 0 ? HTTP_REQUEST : HTTP_RESPONSE);
  s.parser.data = this;
  s.view = nullptr;
  s.len = 0;
  s.pending = kNone;
  s.mode = mode;
  s.in_message = s.begun = s.in_body = s.in_chunk_data = s.cut = s.spent = false;
}

void HttpSession::feed(uint8_t dir, const uint8_t* data, uint32_t len, uint32_t gap_bytes) {
  if (stopped_) return;
  Side& s = side_[dir];
  if (gap_bytes != 0 && s.mode == kParse) {
    if (s.in_body && skip_gap(s, gap_bytes)) {
      counters().gaps_in_body.add();
      counters().gap_body_bytes.add(gap_bytes);
      if (stopped_) return;
    } else {
      counters().gaps_lost.add();
      lose(dir);
    }
  }
  if (s.mode == kLost) {
    // Only a chunk that starts like a message: most messages start a
    // segment, and looking for one inside a chunk would find them in
    // bodies as well.
    if (!starts_message(dir, data, len)) return;
    reset_side(dir, kParse);
    // The responses that were lost answered requests that cannot be told
    // apart now: the next one answers no request known.
    if (dir == 1) requests_.clear();
    counters().resyncs.add();
  }
  if (s.mode != kParse || len == 0) return;
  parse(dir, reinterpret_cast<const char*>(data), len);
}

void HttpSession::parse(uint8_t dir, const char* data, uint32_t len) {
  Side& s = side_[dir];
  const size_t n = http_parser_execute(&s.parser, &kSettings, data, len);
  if (stopped_) return;
  if (s.mode == kParse && (HTTP_PARSER_ERRNO(&s.parser) != HPE_OK || n != len)) {
    counters().parse_errors.add();
    lose(dir);
    return;
  }
  // Bytes past an upgrade or a tunnel's start are not HTTP: left unparsed.
  park(dir);
}

// A hole inside a body whose extent the parser knows is skipped without
// losing the message: the parser is told the bytes went by.
bool HttpSession::skip_gap(Side& s, uint32_t gap) {
  http_parser& p = s.parser;
  const bool chunked = (p.flags & F_CHUNKED) != 0;
  if (chunked && !s.in_chunk_data) return false;
  if (!chunked && p.content_length == UINT64_MAX) return true;  // runs to the connection's end
  if (p.content_length == 0 || p.content_length < gap) return false;
  if (p.content_length > gap) {
    p.content_length -= gap;
    return true;
  }
  p.content_length = 1;
  skipping_ = true;
  http_parser_execute(&p, &kSettings, kFill, 1);
  skipping_ = false;
  return stopped_ || HTTP_PARSER_ERRNO(&p) == HPE_OK;
}

bool HttpSession::starts_message(uint8_t dir, const uint8_t* data, uint32_t len) {
  if (dir == 1) return len >= 5 && std::memcmp(data, "HTTP/", 5) == 0;
  // A method token and a space; http-parser knows which methods exist.
  uint32_t i = 0;
  while (i < len && i < 20 && method_char(data[i])) i++;
  return i > 0 && i < len && data[i] == ' ';
}

void HttpSession::lose(uint8_t dir) {
  Side& s = side_[dir];
  drop_pending(s);
  s.mode = kLost;
  s.in_message = s.begun = s.in_body = s.in_chunk_data = false;
  // An upgrade's verdict may have been in what the responses lost.
  if (dir == 1 && side_[0].mode == kUpgrade) side_[0].mode = kLost;
}

void HttpSession::tunnel() {
  counters().tunnels.add();
  for (Side& s : side_) {
    if (s.pending != kNone) drop_pending(s);
    s.mode = kTunnel;
  }
}

// Strings. A string inside one chunk is delivered from the chunk (`view`);
// one that a chunk's end cuts is copied into a string buffer (`park`) and
// completed there.

const char* HttpSession::pending_data(const Side& s) const {
  if (s.buffer != kNoBuffer) return owner_->buffer(s.buffer);
  return s.view != nullptr ? s.view : kEmpty;
}

void HttpSession::drop_pending(Side& s) {
  if (s.buffer != kNoBuffer) {
    owner_->give_buffer(s.buffer);
    s.buffer = kNoBuffer;
  }
  s.view = nullptr;
  s.len = 0;
  s.pending = kNone;
  s.cut = s.spent = false;
}

bool HttpSession::to_buffer(Side& s) {
  const uint32_t b = owner_->take_buffer();
  if (b == kNoBuffer) return false;
  std::memcpy(owner_->buffer(b), s.view, s.len);
  s.buffer = b;
  s.view = nullptr;
  return true;
}

void HttpSession::collect(uint8_t dir, Pending kind, const char* at, size_t n) {
  Side& s = side_[dir];
  if (s.pending != kind) {
    s.pending = kind;  // the previous string was flushed
    s.len = 0;
  }
  if (s.cut || n == 0) return;
  if (n > kMaxString - s.len) {
    n = kMaxString - s.len;
    s.cut = true;
    counters().strings_truncated.add();
    if (n == 0) return;
  }
  if (s.buffer == kNoBuffer) {
    if (s.view == nullptr) {
      s.view = at;
      s.len = static_cast<uint32_t>(n);
      return;
    }
    // A second piece in the same chunk (a folded header line): joined in a
    // buffer.
    if (!to_buffer(s)) {
      s.cut = true;
      counters().strings_cut_no_buffer.add();
      return;
    }
  }
  std::memcpy(owner_->buffer(s.buffer) + s.len, at, n);
  s.len += static_cast<uint32_t>(n);
}

// The chunk ends: a string still open must outlive it.
void HttpSession::park(uint8_t dir) {
  Side& s = side_[dir];
  if (s.pending == kNone || s.view == nullptr || to_buffer(s)) return;
  // No buffer left: what arrived is delivered now, the rest is dropped, so
  // that the flow still gets one event per string.
  counters().strings_cut_no_buffer.add();
  const Pending kind = s.pending;
  if (!flush(dir)) return;
  s.pending = kind;
  s.cut = s.spent = true;
}

bool HttpSession::flush(uint8_t dir) {
  Side& s = side_[dir];
  bool ok = true;
  if (s.pending != kNone && !s.spent) {
    const char* d = pending_data(s);
    const uint32_t n = s.len;
    switch (s.pending) {
      case kUrl:
        ok = begin(dir) && emit(dir, HttpEvent::kUrl, d, n);
        break;
      case kField: {
        char* low = owner_->lower_.get();
        for (uint32_t i = 0; i < n; i++) low[i] = lower(d[i]);
        ok = emit(dir, HttpEvent::kHeaderField, n != 0 ? low : kEmpty, n) &&
             emit(dir, HttpEvent::kHeaderFieldRaw, d, n);
        break;
      }
      case kValue:
        ok = emit(dir, HttpEvent::kHeaderValue, d, n);
        break;
      case kNone:
        break;
    }
  }
  drop_pending(s);
  return ok;
}

bool HttpSession::emit(uint8_t dir, HttpEvent event, const void* data, uint32_t len) {
  if (stopped_) return false;
  if (!owner_->sink_.on_http_event(tag_, dir, event, static_cast<const uint8_t*>(data), len)) {
    stopped_ = true;
  }
  return !stopped_;
}

// MESSAGE_BEGIN goes out once the start line was parsed (with the first
// header, or the end of the headers), so that bytes that only start like a
// message give no event.
bool HttpSession::begin(uint8_t dir) {
  Side& s = side_[dir];
  if (s.begun) return true;
  s.begun = true;
  if (dir == 1) return emit(dir, HttpEvent::kMessageBegin, nullptr, 0);
  const char* m = http_method_str(static_cast<http_method>(s.parser.method));
  return emit(dir, HttpEvent::kMessageBegin, m, static_cast<uint32_t>(std::strlen(m)));
}

// http-parser's callbacks. A non-zero return stops the parser: they return
// -1 once the sink stopped the session.

int HttpSession::on_message_begin(http_parser* p) {
  HttpSession& h = of(p);
  Side& s = h.side_[h.dir_of(p)];
  s.in_message = true;
  s.begun = s.in_body = s.in_chunk_data = false;
  return 0;
}

int HttpSession::on_url(http_parser* p, const char* at, size_t n) {
  HttpSession& h = of(p);
  const uint8_t dir = h.dir_of(p);
  // The method is known once the URL starts.
  if (h.side_[dir].pending != kUrl) {
    // Past kPipeline, methods are not kept: the order of the responses holds.
    if (!h.requests_.push(static_cast<uint8_t>(p->method))) h.counters().pipeline_overflow.add();
  }
  h.collect(dir, kUrl, at, n);
  return 0;
}

int HttpSession::on_header_field(http_parser* p, const char* at, size_t n) {
  HttpSession& h = of(p);
  const uint8_t dir = h.dir_of(p);
  if (h.side_[dir].pending != kField && (!h.flush(dir) || !h.begin(dir))) return -1;
  h.collect(dir, kField, at, n);
  return 0;
}

int HttpSession::on_header_value(http_parser* p, const char* at, size_t n) {
  HttpSession& h = of(p);
  const uint8_t dir = h.dir_of(p);
  if (h.side_[dir].pending != kValue && !h.flush(dir)) return -1;
  h.collect(dir, kValue, at, n);
  return 0;
}

// The return value tells http-parser about the body: 0 as the headers say,
// 1 none, 2 none and the connection leaves HTTP.
int HttpSession::on_headers_complete(http_parser* p) {
  HttpSession& h = of(p);
  const uint8_t dir = h.dir_of(p);
  if (!h.flush(dir) || !h.begin(dir) || !h.emit(dir, HttpEvent::kHeadersComplete, nullptr, 0)) {
    return -1;
  }
  h.side_[dir].in_body = true;
  if (dir == 0) {
    h.counters().requests.add();
    return 0;
  }
  h.counters().responses.add();
  const unsigned status = p->status_code;
  // An interim response: its request still awaits the final one.
  if (status / 100 == 1 && status != 101) return 1;
  const int method = h.requests_.pop();
  if (status == 101 || (method == HTTP_CONNECT && status / 100 == 2)) {
    h.tunnel();
    return 2;
  }
  // Refused: the client goes on with HTTP, from its next message.
  if (h.side_[0].mode == kUpgrade) h.side_[0].mode = kLost;
  if (method == HTTP_HEAD || status == 204 || status == 304) return 1;
  return 0;
}

int HttpSession::on_body(http_parser* p, const char* at, size_t n) {
  HttpSession& h = of(p);
  if (h.skipping_) return 0;
  return h.emit(h.dir_of(p), HttpEvent::kBody, at, static_cast<uint32_t>(n)) ? 0 : -1;
}

int HttpSession::on_message_complete(http_parser* p) {
  HttpSession& h = of(p);
  const uint8_t dir = h.dir_of(p);
  Side& s = h.side_[dir];
  if (!h.flush(dir)) return -1;  // a trailer's value
  s.in_message = s.begun = s.in_body = s.in_chunk_data = false;
  if (!h.emit(dir, HttpEvent::kMessageComplete, nullptr, 0)) return -1;
  // An Upgrade or CONNECT request: what follows depends on the response.
  if (dir == 0 && p->upgrade && s.mode == kParse) s.mode = kUpgrade;
  return 0;
}

int HttpSession::on_chunk_header(http_parser* p) {
  HttpSession& h = of(p);
  h.side_[h.dir_of(p)].in_chunk_data = p->content_length != 0;
  return 0;
}

int HttpSession::on_chunk_complete(http_parser* p) {
  HttpSession& h = of(p);
  h.side_[h.dir_of(p)].in_chunk_data = false;
  return 0;
}

void HttpSession::finish() {
  // End of the connection: a response read to it completes.
  for (uint8_t dir = 0; dir < 2 && !stopped_; dir++) {
    Side& s = side_[dir];
    if (s.mode == kParse && s.in_message) http_parser_execute(&s.parser, &kSettings, nullptr, 0);
  }
  for (Side& s : side_) drop_pending(s);
  stopped_ = true;
}

HttpParsers::HttpParsers(uint32_t sessions, uint32_t string_buffers, HttpSink& sink)
    : sink_(sink),
      sessions_(sessions),
      buffers_(std::make_unique<char[]>(uint64_t{string_buffers} * HttpSession::kMaxString)),
      free_(std::make_unique<uint32_t[]>(string_buffers)),
      buffer_count_(string_buffers),
      free_count_(string_buffers),
      lower_(std::make_unique<char[]>(HttpSession::kMaxString)) {
  for (uint32_t i = 0; i < string_buffers; i++) free_[i] = string_buffers - 1 - i;
}

HttpSession* HttpParsers::open(uint64_t tag) {
  HttpSession* s = sessions_.take();
  if (s == nullptr) {
    counters_.sessions_refused.add();
    return nullptr;
  }
  counters_.sessions.add();
  s->open(*this, tag);
  return s;
}

void HttpParsers::close(HttpSession* session) {
  session->close();
  sessions_.give(session);
}

uint64_t HttpParsers::memory_bytes() const {
  return uint64_t{sessions_.size()} * (sizeof(HttpSession) + sizeof(uint32_t)) +
         uint64_t{buffer_count_} * (HttpSession::kMaxString + sizeof(uint32_t)) +
         HttpSession::kMaxString;
}

}  // namespace loupe
