#include "engine/worker/sessions.h"

#include <netinet/in.h>

#include "engine/worker/worker.h"
#include "lua/worker_scripts.h"

namespace loupe {
namespace {
// HTTP sessions a worker keeps at once, and the string buffers they share
// (a header cut by a segment boundary borrows one until it is whole).
constexpr uint32_t kHttpSessions = 16384;
constexpr uint32_t kHttpBuffers = 256;
constexpr uint32_t kSmtpSessions = 1024;

bool smtp_port(uint16_t port) { return port == 25 || port == 587 || port == 2525; }
}  // namespace

WorkerSessions::WorkerSessions(Worker& worker, const StreamConfig& config, uint32_t slots)
    : worker_(worker),
      streams_(config, slots, *this),
      http_(kHttpSessions, kHttpBuffers, *this),
      smtp_(kSmtpSessions, *this),
      slots_(slots) {}

WorkerSessions::~WorkerSessions() = default;

void WorkerSessions::on_flow_created(uint32_t idx, Flow& f) {
  const WorkerScripts* s = worker_.scripts_.get();
  if (s == nullptr || f.key.proto != IPPROTO_TCP) return;
  Slot& slot = slots_[idx];
  bool stream = false;
  if (s->wants_http_events() || s->wants_body(BodyFeed::kHttp)) {
    slot.http = http_.open(idx);
    stream |= slot.http != nullptr;
  }
  const uint16_t srv_port = f.key.port[f.client ^ 1];
  if (s->wants_body(BodyFeed::kSmtp) && smtp_port(srv_port)) {
    slot.smtp = smtp_.open(idx);
    stream |= slot.smtp != nullptr;
  }
  if (stream) {
    streams_.enable(idx, f.flow_id);
    f.l7_flags |= kL7Stream;
  }
}

void WorkerSessions::on_packet(uint32_t idx, Flow& f, const Decoded& d, const uint8_t* frame,
                               uint8_t side, uint64_t now_ns) {
  WorkerScripts* s = worker_.scripts_.get();
  if (s == nullptr) return;
  now_ns_ = now_ns;
  if (d.l4_proto == IPPROTO_TCP) {
    if (!(f.l7_flags & kL7Stream)) {
      // A parser is registered by a callback on a payload: from this
      // segment on.
      if (d.payload_len == 0 || !s->wants_stream(idx)) return;
      streams_.enable(idx, f.flow_id);
      f.l7_flags |= kL7Stream;
      // The other direction starts where this segment's acknowledgment
      // says, not at its next segment seen (which may come out of order).
      if ((d.tcp_flags & 0x10) && !d.is_fragment)
        streams_.start_at(idx, f.flow_id, side ^ 1, tcp_ack(frame + d.l4_offset));
    }
    streams_.feed(idx, f.flow_id, side, d, frame);
  } else if (d.l4_proto == IPPROTO_UDP && d.payload_len != 0 && s->wants_stream(idx)) {
    // UDP: each datagram is a chunk of its direction.
    s->on_stream_data(idx, worker_.view(f), side == f.client ? 0 : 1, frame + d.payload_offset,
                      d.payload_len, false, now_ns);
  }
}

void WorkerSessions::on_stream_data(uint32_t slot, uint8_t side, const uint8_t* data, uint32_t len,
                                    uint32_t gap_bytes) {
  const Flow& f = worker_.table_.flow(slot);
  const uint8_t dir = side == f.client ? 0 : 1;
  WorkerScripts* s = worker_.scripts_.get();
  if (s != nullptr && s->wants_stream(slot))
    s->on_stream_data(slot, worker_.view(f), dir, data, len, gap_bytes != 0, now_ns_);
  Slot& sl = slots_[slot];
  if (sl.http != nullptr && !sl.http->stopped()) sl.http->feed(dir, data, len, gap_bytes);
  if (sl.smtp != nullptr && !sl.smtp->stopped()) sl.smtp->feed(dir, data, len, gap_bytes);
  const bool listening = (s != nullptr && s->wants_stream(slot)) ||
                         (sl.http != nullptr && !sl.http->stopped()) ||
                         (sl.smtp != nullptr && !sl.smtp->stopped());
  // Nobody listens any more (parsers returned -1, the bytes are not HTTP):
  // reassembly stops for the flow.
  if (!listening) {
    streams_.release(slot);
    worker_.table_.flow(slot).l7_flags &= static_cast<uint8_t>(~kL7Stream);
  }
}

bool WorkerSessions::on_http_event(uint64_t tag, uint8_t dir, HttpEvent event,
                                   const uint8_t* data, uint32_t len) {
  const uint32_t idx = static_cast<uint32_t>(tag);
  WorkerScripts* s = worker_.scripts_.get();
  if (s == nullptr) return false;
  const FlowView v = worker_.view(worker_.table_.flow(idx));
  s->on_http_event(idx, v, dir, static_cast<uint8_t>(event), data, len, now_ns_);
  if (event == HttpEvent::kBody && s->wants_body(BodyFeed::kHttp))
    s->on_body(idx, v, static_cast<uint8_t>(BodyFeed::kHttp), dir, data, len, now_ns_);
  return s->wants_http_events() || s->wants_body(BodyFeed::kHttp);
}

bool WorkerSessions::on_smtp_event(uint64_t tag, uint8_t dir, SmtpEvent event,
                                   const uint8_t* data, uint32_t len) {
  const uint32_t idx = static_cast<uint32_t>(tag);
  WorkerScripts* s = worker_.scripts_.get();
  if (s == nullptr || !s->wants_body(BodyFeed::kSmtp)) return false;
  if (event == SmtpEvent::kBody) {
    const FlowView v = worker_.view(worker_.table_.flow(idx));
    s->on_body(idx, v, static_cast<uint8_t>(BodyFeed::kSmtp), dir, data, len, now_ns_);
  }
  return true;
}

void WorkerSessions::end_sessions(uint32_t idx) {
  Slot& sl = slots_[idx];
  if (sl.http != nullptr) {
    sl.http->finish();
    http_.close(sl.http);
    sl.http = nullptr;
  }
  if (sl.smtp != nullptr) {
    sl.smtp->finish();
    smtp_.close(sl.smtp);
    sl.smtp = nullptr;
  }
}

void WorkerSessions::on_flow_end(uint32_t idx, const Flow& f) {
  now_ns_ = f.last_ns;
  if (f.l7_flags & kL7Stream) streams_.finish(idx);  // held bytes reach the parsers
  end_sessions(idx);
}

}  // namespace loupe
