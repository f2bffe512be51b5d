// What the body feeds of the Arkime API receive: the decoded bodies of HTTP
// messages and the DATA sections of SMTP messages, as chunks. The HTTP and
// SMTP sessions produce their own events; the adapters next to them
// (HttpBodyFeed, SmtpBodyFeed) turn those into BodySink calls.
#pragma once

#include <cstdint>

namespace loupe {

enum class BodyFeed : uint8_t { kHttp, kSmtp };

class BodySink {
 public:
  // One chunk of a body of flow `tag` (the value given when its session was
  // opened), sent in direction `dir` (0: client to server). `data` is valid
  // during the call only. Returns false when nobody listens to the flow's
  // bodies any more: its session stops.
  virtual bool on_body(uint64_t tag, BodyFeed feed, uint8_t dir, const uint8_t* data,
                       uint32_t len) = 0;

 protected:
  ~BodySink() = default;
};

}  // namespace loupe
