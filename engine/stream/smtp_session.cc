#include "engine/stream/smtp_session.h"

#include <cstring>

namespace loupe {
namespace {

constexpr uint8_t kCr[1] = {'\r'};
constexpr uint64_t kMaxBdat = uint64_t{1} << 40;

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `s` (n bytes) starts with `word`, compared without case.
bool starts_with(const char* s, uint32_t n, const char* word) {
  const uint32_t w = static_cast<uint32_t>(std::strlen(word));
  if (n < w) return false;
  for (uint32_t i = 0; i < w; i++) {
    if (upper(s[i]) != word[i]) return false;
  }
  return true;
}

// The address of "MAIL FROM:" or "RCPT TO:" at `s`: inside angle brackets,
// or up to the first space.
void path_of(const char* s, uint32_t n, uint32_t& from, uint32_t& len) {
  uint32_t i = 0;
  while (i < n && s[i] == ' ') i++;
  uint32_t end = i;
  if (i < n && s[i] == '<') {
    i++;
    end = i;
    while (end < n && s[end] != '>') end++;
  } else {
    while (end < n && s[end] != ' ') end++;
  }
  from = i;
  len = end - i;
}

}  // namespace

SmtpCounters& SmtpSession::counters() { return owner_->counters_; }

void SmtpSession::open(SmtpParsers& owner, uint64_t tag) {
  owner_ = &owner;
  tag_ = tag;
  bdat_left_ = 0;
  line_len_ = 0;
  client_ = kCommand;
  line_ = kLineStart;
  skip_line_ = bdat_last_ = body_seen_ = skip_reply_ = stopped_ = false;
  reply_len_ = 0;
  pending_.clear();
  push(kOther);  // the server's greeting answers the connection
}

void SmtpSession::feed(uint8_t dir, const uint8_t* data, uint32_t len, uint32_t gap_bytes) {
  if (stopped_) return;
  if (gap_bytes != 0) {
    counters().gaps.add();
    if (dir == 0) {
      client_gap(gap_bytes);
      if (stopped_) return;
    } else {
      // Replies were lost: which command the next one answers is unknown.
      pending_.clear();
      skip_reply_ = true;
    }
  }
  if (dir == 1) {
    server_bytes(data, len);
    return;
  }
  while (len != 0 && !stopped_) {
    uint32_t used;
    switch (client_) {
      case kCommand:
        used = command_bytes(data, len);
        break;
      case kData:
        used = data_bytes(data, len);
        break;
      case kBdat:
      default:
        used = bdat_bytes(data, len);
        break;
    }
    data += used;
    len -= used;
  }
}

void SmtpSession::client_gap(uint32_t gap) {
  switch (client_) {
    case kCommand:
      // Whether the hole ended at a line's end is unknown: the line that
      // follows it is not trusted.
      skip_line_ = true;
      line_len_ = 0;
      break;
    case kData:
      // The message goes on; only a "." after a line end can end it.
      line_ = kMid;
      break;
    case kBdat:
      if (gap < bdat_left_) {
        bdat_left_ -= gap;
      } else {
        // The chunk ended inside the hole, and commands followed it.
        client_ = kCommand;
        skip_line_ = true;
        line_len_ = 0;
        if (bdat_last_) end_message(false);
      }
      break;
  }
}

// Collects one command line; returns the bytes used.
uint32_t SmtpSession::command_bytes(const uint8_t* p, uint32_t len) {
  const auto* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', len));
  const uint32_t n = nl != nullptr ? static_cast<uint32_t>(nl - p) : len;
  if (!skip_line_) {
    const uint32_t room = kMaxLine - line_len_;
    const uint32_t take = n < room ? n : room;
    std::memcpy(line_buf_ + line_len_, p, take);
    line_len_ += take;
    if (take < n) counters().long_lines.add();
  }
  if (nl == nullptr) return len;
  if (skip_line_) {
    push(kOther);  // it was a command all the same, and gets its reply
  } else {
    command();
  }
  skip_line_ = false;
  line_len_ = 0;
  return n + 1;
}

void SmtpSession::command() {
  uint32_t n = line_len_;
  if (n != 0 && line_buf_[n - 1] == '\r') n--;
  const char* s = line_buf_;
  if (starts_with(s, n, "MAIL FROM:") || starts_with(s, n, "RCPT TO:")) {
    const bool mail = upper(s[0]) == 'M';
    const uint32_t skip = mail ? 10 : 8;
    uint32_t from, len;
    path_of(s + skip, n - skip, from, len);
    push(kOther);
    emit(mail ? SmtpEvent::kMailFrom : SmtpEvent::kRcptTo,
         reinterpret_cast<const uint8_t*>(s + skip + from), len);
    return;
  }
  if (n == 4 && starts_with(s, n, "DATA")) {
    // The body follows the 354 reply; clients wait for it, so the next
    // bytes are taken as the body unless the reply refuses it first.
    push(kDataCommand);
    client_ = kData;
    line_ = kLineStart;
    body_seen_ = false;
    return;
  }
  if (starts_with(s, n, "BDAT ")) {
    push(kOther);
    uint32_t i = 5;
    uint64_t size = 0;
    while (i < n && is_digit(s[i])) {
      if (size < kMaxBdat) size = size * 10 + static_cast<uint64_t>(s[i] - '0');
      i++;
    }
    while (i < n && s[i] == ' ') i++;
    bdat_last_ = starts_with(s + i, n - i, "LAST");
    bdat_left_ = size;
    if (size != 0) {
      client_ = kBdat;
    } else if (bdat_last_) {
      end_message(false);
    }
    return;
  }
  push(n == 8 && starts_with(s, n, "STARTTLS") ? kStartTls : kOther);
}

// A DATA section's bytes up to its "." line; returns the bytes used.
uint32_t SmtpSession::data_bytes(const uint8_t* p, uint32_t len) {
  const uint8_t* const start = p;
  const uint8_t* const end = p + len;
  const uint8_t* run = p;  // bytes not yet delivered start here
  while (p < end) {
    switch (line_) {
      case kMid: {
        const auto* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
        if (nl == nullptr) {
          p = end;
        } else {
          p = nl + 1;
          line_ = kLineStart;
        }
        break;
      }
      case kLineStart:
        if (*p == '.') {
          // Either the end or a stuffed dot: not delivered in either case.
          if (!body(run, static_cast<uint32_t>(p - run))) return len;
          run = ++p;
          line_ = kDot;
        } else {
          line_ = kMid;
        }
        break;
      case kDot:
        if (*p == '\n') {
          end_message(true);
          return static_cast<uint32_t>(p + 1 - start);
        }
        if (*p == '\r') {
          run = ++p;  // held back: it may end the message
          line_ = kDotCr;
        } else {
          line_ = kMid;
        }
        break;
      case kDotCr:
        if (*p == '\n') {
          end_message(true);
          return static_cast<uint32_t>(p + 1 - start);
        }
        if (!body(kCr, 1)) return len;
        line_ = kMid;
        break;
    }
  }
  body(run, static_cast<uint32_t>(end - run));
  return len;
}

uint32_t SmtpSession::bdat_bytes(const uint8_t* p, uint32_t len) {
  const uint32_t n = bdat_left_ < len ? static_cast<uint32_t>(bdat_left_) : len;
  if (!body(p, n)) return len;
  bdat_left_ -= n;
  if (bdat_left_ == 0) {
    client_ = kCommand;
    if (bdat_last_) end_message(false);
  }
  return n;
}

void SmtpSession::server_bytes(const uint8_t* p, uint32_t len) {
  const uint8_t* const end = p + len;
  while (p < end && !stopped_) {
    if (*p != '\n' && reply_len_ < 4) {
      reply_[reply_len_++] = static_cast<char>(*p++);
      continue;
    }
    const auto* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
    if (nl == nullptr) return;
    p = nl + 1;
    // A reply's last line is "ddd " or "ddd"; "ddd-" lines continue it.
    if (!skip_reply_ && reply_len_ >= 3 && is_digit(reply_[0]) && is_digit(reply_[1]) &&
        is_digit(reply_[2]) && (reply_len_ == 3 || reply_[3] != '-')) {
      reply(static_cast<unsigned>((reply_[0] - '0') * 100 + (reply_[1] - '0') * 10 +
                                  (reply_[2] - '0')));
    }
    reply_len_ = 0;
    skip_reply_ = false;
  }
}

void SmtpSession::reply(unsigned code) {
  const int command = pop();
  if (command == kStartTls && code == 220) {
    counters().starttls.add();
    stopped_ = true;
  } else if (command == kDataCommand && code != 354 && client_ == kData && !body_seen_) {
    client_ = kCommand;  // DATA refused: no body comes
  }
}

bool SmtpSession::body(const uint8_t* p, uint32_t len) {
  if (len == 0) return !stopped_;
  body_seen_ = true;
  counters().body_bytes.add(len);
  return emit(SmtpEvent::kBody, p, len);
}

void SmtpSession::end_message(bool awaits_reply) {
  client_ = kCommand;
  line_len_ = 0;
  if (awaits_reply) push(kOther);  // the "." line gets a reply
  counters().messages.add();
  emit(SmtpEvent::kMessageEnd, nullptr, 0);
}

bool SmtpSession::emit(SmtpEvent event, const uint8_t* data, uint32_t len) {
  if (stopped_) return false;
  if (!owner_->sink_.on_smtp_event(tag_, 0, event, data, len)) stopped_ = true;
  return !stopped_;
}


SmtpSession* SmtpParsers::open(uint64_t tag) {
  SmtpSession* s = sessions_.take();
  if (s == nullptr) {
    counters_.sessions_refused.add();
    return nullptr;
  }
  counters_.sessions.add();
  s->open(*this, tag);
  return s;
}

}  // namespace loupe
