// SmtpSession: envelopes and message bodies of a dialogue under every split
// of the client's stream, dot-unstuffing, BDAT, refused DATA, STARTTLS,
// holes; the "smtp" body feed.
#include "engine/stream/smtp_session.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace loupe {
namespace {

constexpr uint64_t kTag = 9;

class Recorder final : public SmtpSink {
 public:
  bool on_smtp_event(uint64_t tag, uint8_t dir, SmtpEvent event, const uint8_t* data,
                     uint32_t len) override {
    EXPECT_EQ(tag, kTag);
    EXPECT_EQ(dir, 0);
    const std::string text(data != nullptr ? reinterpret_cast<const char*>(data) : "", len);
    switch (event) {
      case SmtpEvent::kMailFrom:
        events.push_back("mail " + text);
        break;
      case SmtpEvent::kRcptTo:
        events.push_back("rcpt " + text);
        break;
      case SmtpEvent::kBody:
        EXPECT_NE(len, 0u);
        current += text;
        break;
      case SmtpEvent::kMessageEnd:
        EXPECT_EQ(data, nullptr);
        events.push_back("message " + current);
        current.clear();
        break;
    }
    return true;
  }
  std::vector<std::string> events;
  std::string current;  // the body of the message in progress
};

struct Step {
  uint8_t dir;
  std::string text;
};

const std::vector<Step> kDialogue = {
    {1, "220 mx.example.com ESMTP\r\n"},
    {0, "EHLO client.example\r\n"},
    {1, "250-mx.example.com\r\n250-PIPELINING\r\n250 CHUNKING\r\n"},
    {0,
     "MAIL FROM:<alice@example.com> SIZE=100\r\nRCPT TO:<bob@example.org>\r\n"
     "rcpt to: <carol@example.org>\r\nDATA\r\n"},
    {1, "250 OK\r\n250 OK\r\n250 OK\r\n354 go ahead\r\n"},
    {0, "Subject: one\r\n\r\n..leading dot\r\n..\r\n.\tdot tab\r\nlast line\r\n.\r\n"},
    {1, "250 queued\r\n"},
    {0, "MAIL FROM:<>\r\nRCPT TO:<dave@example.org>\r\nDATA\r\n"},
    {1, "250 OK\r\n250 OK\r\n354 go ahead\r\n"},
    {0, "line.\r\n\r\n.\r\nQUIT\r\n"},
    {1, "250 queued\r\n221 bye\r\n"},
};
const std::vector<std::string> kDialogueEvents = {
    "mail alice@example.com",
    "rcpt bob@example.org",
    "rcpt carol@example.org",
    "message Subject: one\r\n\r\n.leading dot\r\n.\r\n\tdot tab\r\nlast line\r\n",
    "mail ",
    "rcpt dave@example.org",
    "message line.\r\n\r\n",
};

// Plays the steps in order; each client step's bytes are also cut where
// `cut` (an offset in the whole client stream) falls inside them. Chunks
// live in their own buffers, overwritten once fed.
void play(SmtpSession* s, const std::vector<Step>& steps, size_t cut = 0, uint32_t gap = 0,
          size_t gap_step = SIZE_MAX) {
  size_t at = 0;
  for (size_t i = 0; i < steps.size(); i++) {
    const Step& st = steps[i];
    std::vector<std::string> pieces;
    if (st.dir == 0 && cut > at && cut < at + st.text.size()) {
      pieces = {st.text.substr(0, cut - at), st.text.substr(cut - at)};
    } else {
      pieces = {st.text};
    }
    if (st.dir == 0) at += st.text.size();
    for (size_t k = 0; k < pieces.size(); k++) {
      std::string& p = pieces[k];
      s->feed(st.dir, reinterpret_cast<const uint8_t*>(p.data()), static_cast<uint32_t>(p.size()),
              i == gap_step && k == 0 ? gap : 0);
      p.assign(p.size(), '#');
    }
  }
}

size_t client_bytes(const std::vector<Step>& steps) {
  size_t n = 0;
  for (const Step& st : steps) n += st.dir == 0 ? st.text.size() : 0;
  return n;
}

TEST(SmtpSession, DialogueWithTwoMessagesUnderEverySplit) {
  for (size_t cut = 0; cut < client_bytes(kDialogue); cut++) {
    Recorder rec;
    SmtpParsers parsers(1, rec);
    SmtpSession* s = parsers.open(kTag);
    play(s, kDialogue, cut);
    ASSERT_EQ(rec.events, kDialogueEvents) << "cut at " << cut;
    ASSERT_EQ(parsers.counters().messages.get(), 2u);
  }
}

TEST(SmtpSession, OneByteChunks) {
  std::vector<Step> bytes;
  for (const Step& st : kDialogue) {
    for (char c : st.text) bytes.push_back({st.dir, std::string(1, c)});
  }
  Recorder rec;
  SmtpParsers parsers(1, rec);
  play(parsers.open(kTag), bytes);
  EXPECT_EQ(rec.events, kDialogueEvents);
}

class BodyRecorder final : public BodySink {
 public:
  bool on_body(uint64_t tag, BodyFeed feed, uint8_t dir, const uint8_t* data,
               uint32_t len) override {
    EXPECT_EQ(tag, kTag);
    EXPECT_EQ(feed, BodyFeed::kSmtp);
    EXPECT_EQ(dir, 0);
    body.append(reinterpret_cast<const char*>(data), len);
    return true;
  }
  std::string body;
};

TEST(SmtpSession, BodyFeedEqualsUnstuffedBodies) {
  BodyRecorder bodies;
  SmtpBodyFeed adapter(bodies);
  SmtpParsers parsers(1, adapter);
  play(parsers.open(kTag), kDialogue);
  EXPECT_EQ(bodies.body,
            "Subject: one\r\n\r\n.leading dot\r\n.\r\n\tdot tab\r\nlast line\r\n"
            "line.\r\n\r\n");
  EXPECT_EQ(parsers.counters().body_bytes.get(), bodies.body.size());
}

TEST(SmtpSession, RefusedDataIsNoBody) {
  Recorder rec;
  SmtpParsers parsers(1, rec);
  play(parsers.open(kTag), {{1, "220 hi\r\n"},
                            {0, "MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\n"},
                            {1, "250 ok\r\n550 no such user\r\n554 no valid recipients\r\n"},
                            {0, "MAIL FROM:<c@d>\r\n"}});
  const std::vector<std::string> want = {"mail a@b", "rcpt x@y", "mail c@d"};
  EXPECT_EQ(rec.events, want);
  EXPECT_EQ(parsers.counters().messages.get(), 0u);
}

TEST(SmtpSession, BdatChunksUnderEverySplit) {
  const std::vector<Step> steps = {
      {1, "220 hi\r\n"},
      {0, "MAIL FROM:<a@b>\r\nBDAT 12\r\n.0123456789\nBDAT 5 LAST\r\nabcdeBDAT 0 LAST\r\nQUIT\r\n"},
      {1, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n221 bye\r\n"}};
  const std::vector<std::string> want = {"mail a@b", "message .0123456789\nabcde", "message "};
  for (size_t cut = 0; cut < client_bytes(steps); cut++) {
    Recorder rec;
    SmtpParsers parsers(1, rec);
    play(parsers.open(kTag), steps, cut);
    ASSERT_EQ(rec.events, want) << "cut at " << cut;
  }
}

TEST(SmtpSession, StartTlsEndsParsing) {
  Recorder rec;
  SmtpParsers parsers(1, rec);
  SmtpSession* s = parsers.open(kTag);
  play(s, {{1, "220 hi\r\n"},
           {0, "EHLO x\r\n"},
           {1, "250-hi\r\n250 STARTTLS\r\n"},
           {0, "STARTTLS\r\n"},
           {1, "220 go ahead\r\n"},
           {0, "MAIL FROM:<hidden@example.com>\r\n"}});
  EXPECT_TRUE(rec.events.empty());
  EXPECT_TRUE(s->stopped());
  EXPECT_EQ(parsers.counters().starttls.get(), 1u);
  // Refused STARTTLS: the dialogue goes on in the clear.
  Recorder rec2;
  SmtpParsers parsers2(1, rec2);
  play(parsers2.open(kTag), {{1, "220 hi\r\n"},
                             {0, "STARTTLS\r\n"},
                             {1, "454 not now\r\n"},
                             {0, "MAIL FROM:<seen@example.com>\r\n"}});
  EXPECT_EQ(rec2.events, std::vector<std::string>{"mail seen@example.com"});
}

// A hole in a message keeps the message: its end is still found.
TEST(SmtpSession, GapInsideBody) {
  Recorder rec;
  SmtpParsers parsers(1, rec);
  play(parsers.open(kTag),
       {{1, "220 hi\r\n"},
        {0, "MAIL FROM:<a@b>\r\nDATA\r\n"},
        {1, "250 ok\r\n354 go\r\n"},
        {0, "first part\r\n"},
        {0, "after the hole\r\n..stuffed\r\n.\r\nMAIL FROM:<next@b>\r\n"}},
       0, 40, 4);
  const std::vector<std::string> want = {
      "mail a@b", "message first part\r\nafter the hole\r\n.stuffed\r\n", "mail next@b"};
  EXPECT_EQ(rec.events, want);
  EXPECT_EQ(parsers.counters().gaps.get(), 1u);
  // In command mode, the line a hole cut is not taken as a command.
  Recorder rec2;
  SmtpParsers parsers2(1, rec2);
  play(parsers2.open(kTag), {{0, "MAIL FROM:<a@b>\r\n"}, {0, "TO:<x@y>\r\nRCPT TO:<z@y>\r\n"}}, 0,
       5, 1);
  EXPECT_EQ(rec2.events, (std::vector<std::string>{"mail a@b", "rcpt z@y"}));
}

TEST(SmtpSession, PoolIsBounded) {
  Recorder rec;
  SmtpParsers parsers(1, rec);
  SmtpSession* a = parsers.open(1);
  EXPECT_NE(a, nullptr);
  EXPECT_EQ(parsers.open(2), nullptr);
  EXPECT_EQ(parsers.counters().sessions_refused.get(), 1u);
  parsers.close(a);
  EXPECT_EQ(parsers.open(kTag), a);
  EXPECT_EQ(parsers.sessions_in_use(), 1u);
}

// Memory golden: the per-flow state, most of it the 512-byte command line.
TEST(SmtpSession, PerFlowStateSize) { EXPECT_EQ(sizeof(SmtpSession), 576u); }

}  // namespace
}  // namespace loupe
