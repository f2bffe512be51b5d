// SMTP over a flow's two reassembled byte streams, followed as far as the
// body feed needs: the client's commands and the server's replies are
// paired, so that a DATA section (dot-unstuffed, up to its terminating
// "." line) or the bytes of BDAT chunks are delivered as the message body;
// MAIL FROM and RCPT TO addresses are reported too. After a 220 reply to
// STARTTLS the session is encrypted and delivers nothing more.
//
// One SmtpParsers per worker owns every session and the counters, all
// allocated when it is built; opening, feeding and closing a session
// neither allocates nor locks.
#pragma once

#include <cstdint>

#include "engine/common/counter.h"
#include "engine/stream/await_queue.h"
#include "engine/stream/body_feed.h"
#include "engine/stream/session_pool.h"

namespace loupe {

enum class SmtpEvent : uint8_t {
  kMailFrom = 1,    // the reverse path, without its angle brackets ("" for <>)
  kRcptTo = 2,      // one forward path, likewise
  kBody = 3,        // a chunk of the message: DATA dot-unstuffed, or BDAT bytes
  kMessageEnd = 4,  // the "." line, or the end of the BDAT chunk marked LAST
};

//   X(name, help)
#define LOUPE_SMTP_COUNTERS(X)                                                            \
  X(sessions, "SMTP sessions opened")                                                     \
  X(sessions_refused, "flows not parsed as SMTP: every session of the worker was in use") \
  X(messages, "messages whose DATA section or last BDAT chunk ended")                     \
  X(body_bytes, "message bytes delivered, dot-stuffing removed")                          \
  X(starttls, "sessions that switched to TLS: nothing more was parsed")                   \
  X(gaps, "holes in either direction")                                                    \
  X(long_lines, "command lines cut at 512 bytes")

struct SmtpCounters {
#define LOUPE_X(name, help) Counter name;
  LOUPE_SMTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kSmtpCounterNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_SMTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kSmtpCounterHelp[] = {
#define LOUPE_X(name, help) help,
    LOUPE_SMTP_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

class SmtpSink {
 public:
  // One event of flow `tag`; `dir` is 0 (the client sends all of them).
  // `data` is nullptr for kMessageEnd and valid during the call only.
  // Returns false when nobody listens to the flow any more: the session
  // stops at once.
  virtual bool on_smtp_event(uint64_t tag, uint8_t dir, SmtpEvent event, const uint8_t* data,
                             uint32_t len) = 0;

 protected:
  ~SmtpSink() = default;
};

// Forwards the message bodies to a BodySink as the "smtp" body feed.
class SmtpBodyFeed final : public SmtpSink {
 public:
  explicit SmtpBodyFeed(BodySink& sink) : sink_(sink) {}
  bool on_smtp_event(uint64_t tag, uint8_t dir, SmtpEvent event, const uint8_t* data,
                     uint32_t len) override {
    return event != SmtpEvent::kBody || sink_.on_body(tag, BodyFeed::kSmtp, dir, data, len);
  }

 private:
  BodySink& sink_;
};

class SmtpParsers;

// The SMTP state of one flow. Direction 0 is the client's.
class SmtpSession {
 public:
  // Longest command line kept (RFC 5321's limit); the rest is ignored.
  static constexpr uint32_t kMaxLine = 512;
  // Commands awaiting their reply that are remembered (pipelining).
  static constexpr uint8_t kPending = 16;

  // The next in-order bytes of direction `dir`, `gap_bytes` lost before
  // them (StreamSink's arguments).
  void feed(uint8_t dir, const uint8_t* data, uint32_t len, uint32_t gap_bytes);
  // The flow ended; a message without its end is not completed.
  void finish() { stopped_ = true; }
  // The sink returned false, or the session ended or went encrypted.
  bool stopped() const { return stopped_; }
  uint64_t tag() const { return tag_; }

 private:
  friend class SmtpParsers;

  enum Client : uint8_t { kCommand, kData, kBdat };
  // Where a DATA section's bytes stand with respect to its lines.
  enum Line : uint8_t { kLineStart, kMid, kDot, kDotCr };
  // What a command's reply decides.
  enum Command : uint8_t { kOther, kDataCommand, kStartTls };

  void open(SmtpParsers& owner, uint64_t tag);
  void client_gap(uint32_t gap);
  uint32_t command_bytes(const uint8_t* p, uint32_t len);
  void command();
  uint32_t data_bytes(const uint8_t* p, uint32_t len);
  uint32_t bdat_bytes(const uint8_t* p, uint32_t len);
  void server_bytes(const uint8_t* p, uint32_t len);
  void reply(unsigned code);
  bool body(const uint8_t* p, uint32_t len);
  void end_message(bool awaits_reply);
  bool emit(SmtpEvent event, const uint8_t* data, uint32_t len);
  void push(Command c) { pending_.push(c); }
  int pop() { return pending_.pop(); }
  SmtpCounters& counters();

  SmtpParsers* owner_ = nullptr;
  uint64_t tag_ = 0;
  uint64_t bdat_left_ = 0;  // bytes of the current BDAT chunk still to come
  uint32_t line_len_ = 0;   // bytes of the command line in line_
  Client client_ = kCommand;
  Line line_ = kLineStart;
  bool skip_line_ = false;   // the client's line was cut by a hole: ignored
  bool bdat_last_ = false;   // the current BDAT chunk ends the message
  bool body_seen_ = false;   // bytes of the current DATA section arrived
  uint8_t reply_len_ = 0;    // bytes of the server's line in reply_ (at most 4)
  bool skip_reply_ = false;  // the server's line was cut by a hole: ignored
  bool stopped_ = false;
  AwaitQueue<kPending> pending_;  // commands awaiting their reply
  char reply_[4];
  char line_buf_[kMaxLine];
};

class SmtpParsers {
 public:
  SmtpParsers(uint32_t sessions, SmtpSink& sink) : sink_(sink), sessions_(sessions) {}
  SmtpParsers(const SmtpParsers&) = delete;
  SmtpParsers& operator=(const SmtpParsers&) = delete;

  // A session for a new flow, handed back to every sink call as `tag`;
  // nullptr (counted) when all are in use.
  SmtpSession* open(uint64_t tag);
  // Gives the session back. Not from inside one of its own sink calls.
  void close(SmtpSession* session) { sessions_.give(session); }

  const SmtpCounters& counters() const { return counters_; }
  uint32_t sessions_in_use() const { return sessions_.in_use(); }
  uint64_t memory_bytes() const {
    return uint64_t{sessions_.size()} * (sizeof(SmtpSession) + sizeof(uint32_t));
  }

 private:
  friend class SmtpSession;
  SmtpSink& sink_;
  SessionPool<SmtpSession> sessions_;
  SmtpCounters counters_;
};

}  // namespace loupe
