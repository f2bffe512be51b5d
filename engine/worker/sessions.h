// A worker's Arkime sessions (contract §3.4, §5.3): TCP reassembly for the
// flows whose scripts need their stream, HTTP/1.x and SMTP sessions over it
// for http_on callbacks and body feeds, and the calls into the worker's
// scripts. Built with the worker when its first script set has Arkime
// registrations (every piece is allocated then: nothing on the packet
// path); owned and run by the worker's lcore only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/decode/decoded.h"
#include "engine/flow/flow.h"
#include "engine/stream/http_session.h"
#include "engine/stream/smtp_session.h"
#include "engine/stream/stream_table.h"

namespace loupe {

class Worker;

class WorkerSessions final : public StreamSink, public HttpSink, public SmtpSink {
 public:
  WorkerSessions(Worker& worker, const StreamConfig& config, uint32_t slots);
  ~WorkerSessions();

  // A new flow: HTTP or SMTP parsing starts at once when scripts listen
  // (the first request must not be missed).
  void on_flow_created(uint32_t idx, Flow& f);
  // After the packet's inspection (nDPI, classifiers and their callbacks):
  // reassembly starts when a parser was registered, and the segment is fed.
  // A flow whose stream is not reassembled costs one flag test per packet,
  // and a look at its parsers per packet with payload.
  void on_packet(uint32_t idx, Flow& f, const Decoded& d, const uint8_t* frame,
                 uint8_t side, uint64_t now_ns);
  // The flow's final record: what reassembly holds is delivered, sessions end.
  void on_flow_end(uint32_t idx, const Flow& f);

  const StreamTable& streams() const { return streams_; }
  const HttpParsers& http() const { return http_; }
  const SmtpParsers& smtp() const { return smtp_; }

  void on_stream_data(uint32_t slot, uint8_t dir, const uint8_t* data, uint32_t len,
                      uint32_t gap_bytes) override;
  bool on_http_event(uint64_t tag, uint8_t dir, HttpEvent event, const uint8_t* data,
                     uint32_t len) override;
  bool on_smtp_event(uint64_t tag, uint8_t dir, SmtpEvent event, const uint8_t* data,
                     uint32_t len) override;

 private:
  struct Slot {
    HttpSession* http = nullptr;
    SmtpSession* smtp = nullptr;
  };
  void end_sessions(uint32_t idx);

  Worker& worker_;
  StreamTable streams_;
  HttpParsers http_;
  SmtpParsers smtp_;
  std::vector<Slot> slots_;
  uint64_t now_ns_ = 0;  // the packet being processed (callbacks' time)
};

}  // namespace loupe
