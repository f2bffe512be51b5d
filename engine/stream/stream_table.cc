#include "engine/stream/stream_table.h"

#include <cassert>

namespace loupe {
namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint32_t kNone = SegmentArena::kNone;

// Sequence numbers compare modulo 2^32: a is before b when b is less than
// 2^31 ahead of it.
bool seq_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }

}  // namespace

StreamTable::StreamTable(const StreamConfig& config, uint32_t slots, StreamSink& sink)
    : sink_(sink),
      entries_(std::make_unique<Entry[]>(slots)),
      slots_(slots),
      arena_(uint64_t{config.memory_mb} << 20),
      max_ooo_segments_(config.max_ooo_segments),
      max_ooo_bytes_(config.max_ooo_bytes),
      depth_(config.max_bytes_per_direction),
      staging_(std::make_unique<uint8_t[]>(kMaxChunk)) {
  for (uint32_t i = 0; i < slots; i++) {
    for (Dir& d : entries_[i].dir) d.head = d.tail = kNone;
  }
}

void StreamTable::enable(uint32_t slot, uint64_t flow_id) {
  assert(slot < slots_ && flow_id != 0);
  Entry& e = entries_[slot];
  if (e.id == flow_id) return;
  if (e.id != 0) release(slot);  // the flow before this one was never released
  e.id = flow_id;
  counters_.flows.add();
}

void StreamTable::start_at(uint32_t slot, uint64_t flow_id, uint8_t dir, uint32_t next) {
  Entry& e = entries_[slot];
  if (e.id != flow_id || flow_id == 0 || e.dir[dir].state != kIdle) return;
  e.dir[dir].state = kOpen;
  e.dir[dir].next = next;
}

void StreamTable::release(uint32_t slot) {
  Entry& e = entries_[slot];
  if (e.id == 0) return;
  for (Dir& d : e.dir) {
    drop_buffered(d, StreamLoss::released);
    d = Dir{};
    d.head = d.tail = kNone;
  }
  e.id = 0;
}

void StreamTable::finish(uint32_t slot) {
  Entry& e = entries_[slot];
  const uint64_t id = e.id;
  if (id == 0) return;
  for (uint8_t dir = 0; dir < 2; dir++) {
    Dir& d = e.dir[dir];
    while (e.id == id && d.state == kOpen && d.head != kNone) {
      give_up_hole(slot, id, dir, StreamLoss::ended_with_hole);
    }
    if (e.id != id) return;  // released by the sink
    // Bytes missing before a FIN with nothing after them: no chunk will
    // report them, but they are lost all the same.
    if (d.state == kOpen && (d.flags & kFinSeen) && d.next != d.fin) {
      lose(StreamLoss::ended_with_hole, d.fin - d.next);
    }
  }
  release(slot);
}

void StreamTable::feed(uint32_t slot, uint64_t id, uint8_t dir, const Decoded& d,
                       const uint8_t* frame) {
  if (d.l4_proto != 6 || id == 0 || entries_[slot].id != id) return;
  // A fragment's payload is not the whole segment, and a later fragment has
  // no TCP header: the bytes become a hole.
  if (d.is_fragment) {
    lose(StreamLoss::ip_fragment, d.payload_len);
    return;
  }
  feed(slot, id, dir, tcp_seq(frame + d.l4_offset), d.tcp_flags, frame + d.payload_offset,
       d.payload_len);
}

void StreamTable::feed(uint32_t slot, uint64_t id, uint8_t dir, uint32_t seq, uint8_t flags,
                       const uint8_t* payload, uint32_t len) {
  assert(slot < slots_ && dir < 2);
  Entry& e = entries_[slot];
  if (e.id != id || id == 0) return;
  counters_.segments.add();
  Dir& d = e.dir[dir];
  // The SYN's sequence number is the one before the first byte; without it
  // (picked up mid-stream), the first segment seen starts the stream, data
  // or not, as a receiver that joined then would.
  const uint32_t start = (flags & kTcpSyn) ? seq + 1 : seq;
  if (d.state == kIdle) {
    d.state = kOpen;
    d.next = start;
  }
  if (d.state != kOpen) {
    if (len == 0) return;
    const uint32_t end = start + len;
    if (seq_le(end, d.next)) {
      counters_.retransmissions.add();
      return;
    }
    const uint32_t fresh = seq_lt(start, d.next) ? end - d.next : len;
    lose(d.state == kClosedFin   ? StreamLoss::after_fin
         : d.state == kClosedRst ? StreamLoss::after_rst
                                 : StreamLoss::depth,
         fresh);
    return;
  }
  if (flags & kTcpRst) {
    // A receiver drops a RST's payload. The stream ends here: what waits
    // behind holes is delivered after them.
    if (len != 0) lose(StreamLoss::after_rst, len);
    while (e.id == id && d.state == kOpen && d.head != kNone) {
      give_up_hole(slot, id, dir, StreamLoss::ended_with_hole);
    }
    if (e.id == id && d.state == kOpen) close(d, kClosedRst, StreamLoss::after_rst);
    return;
  }
  if (len != 0) {
    data(slot, id, dir, start, payload, len);
    if (e.id != id) return;
  }
  if (flags & kTcpFin) fin(slot, id, dir, start + len);
}

void StreamTable::data(uint32_t slot, uint64_t id, uint8_t dir, uint32_t seq, const uint8_t* p,
                       uint32_t len) {
  Dir& d = entries_[slot].dir[dir];
  uint32_t end = seq + len;
  if (seq_le(end, d.next)) {
    counters_.retransmissions.add();
    return;
  }
  if (seq_lt(d.next, seq) && seq - d.next > kMaxAhead) {
    lose(StreamLoss::out_of_window, len);
    return;
  }
  if ((d.flags & kFinSeen) && seq_lt(d.fin, end)) {
    if (seq_le(d.fin, seq)) {
      lose(StreamLoss::after_fin, len);
      return;
    }
    lose(StreamLoss::after_fin, end - d.fin);
    len -= end - d.fin;
    end = d.fin;
  }
  // Each turn delivers, buffers, or gives a hole up and tries again.
  for (;;) {
    if (seq_le(end, d.next)) return;  // a hole given up moved past it
    if (seq_le(seq, d.next)) {
      // In order. Bytes already delivered keep their first copy; the rest
      // of this segment goes out whole, even over bytes buffered from a
      // later segment (these are skipped when their turn comes).
      const uint32_t skip = d.next - seq;
      if (skip != 0) counters_.overlaps.add();
      const uint8_t* q = p + skip;
      uint32_t n = len - skip;
      for (; n > kMaxChunk; q += kMaxChunk, n -= kMaxChunk) {
        if (!deliver(slot, id, dir, q, kMaxChunk)) return;
      }
      if (deliver(slot, id, dir, q, n)) drain(slot, id, dir);
      return;
    }
    StreamLoss why;
    switch (insert(d, seq, p, len)) {
      case Insert::kStored:
        counters_.ooo_segments.add();
        memory_changed();
        return;
      case Insert::kCovered:
        counters_.retransmissions.add();
        return;
      case Insert::kFlowLimit:
        why = StreamLoss::ooo_flow_limit;
        break;
      case Insert::kNoMemory:
      default:
        why = StreamLoss::memory_cap;
        break;
    }
    // No room: rather than wait for the oldest hole, give it up. With
    // nothing buffered, the hole is the one in front of this segment, which
    // then goes out at once without being stored.
    if (d.head != kNone) {
      if (!give_up_hole(slot, id, dir, why)) return;
    } else {
      skip_to(d, seq, why);
    }
  }
}

StreamTable::Insert StreamTable::insert(Dir& d, uint32_t seq, const uint8_t* p, uint32_t len) {
  const uint32_t end = seq + len;
  // prev: the last segment starting at or before this one (an equal start
  // stays first: the copy seen first wins); cur: the segment after it.
  uint32_t prev = kNone;
  uint32_t cur = d.head;
  if (d.tail != kNone && seq_le(arena_.seq(d.tail), seq)) {
    prev = d.tail;  // the usual case: segments after a hole arrive in order
    cur = kNone;
  } else {
    while (cur != kNone && seq_le(arena_.seq(cur), seq)) {
      prev = cur;
      cur = arena_.next(cur);
    }
  }
  // Buffered segments never contain a later one, so their ends increase
  // along the list: only prev can cover this segment.
  if (prev != kNone && seq_le(end, arena_.end(prev))) return Insert::kCovered;
  bool overlap = prev != kNone && seq_lt(seq, arena_.end(prev));
  // A later-starting segment this one covers would never be delivered.
  while (cur != kNone && seq_le(arena_.end(cur), end)) {
    const uint32_t after = arena_.next(cur);
    unlink(d, prev, cur);
    overlap = true;
    cur = after;
  }
  if (cur != kNone && seq_lt(arena_.seq(cur), end)) overlap = true;
  if (overlap) counters_.overlaps.add();
  if (d.ooo_count >= max_ooo_segments_ || len > max_ooo_bytes_ - d.ooo_bytes) {
    return Insert::kFlowLimit;
  }
  const uint32_t seg = arena_.store(seq, p, len);
  if (seg == kNone) return Insert::kNoMemory;
  if (prev == kNone) {
    d.head = seg;
  } else {
    arena_.set_next(prev, seg);
  }
  arena_.set_next(seg, cur);
  if (cur == kNone) d.tail = seg;
  d.ooo_count++;
  d.ooo_bytes += len;
  return Insert::kStored;
}

bool StreamTable::deliver(uint32_t slot, uint64_t id, uint8_t dir, const uint8_t* p, uint32_t len) {
  Entry& e = entries_[slot];
  Dir& d = e.dir[dir];
  bool last = false;
  if (depth_ != 0 && len >= depth_ - d.delivered) {
    const uint32_t room = depth_ - d.delivered;
    if (len > room) lose(StreamLoss::depth, len - room);
    len = room;
    last = true;
  }
  // The state is brought up to date before the call: the sink may release
  // the slot.
  const uint32_t gap = d.gap;
  d.gap = 0;
  d.next += len;
  d.delivered += len;
  counters_.delivered_bytes.add(len);
  counters_.chunks.add();
  sink_.on_stream_data(slot, dir, p, len, gap);
  if (e.id != id) return false;
  if (last) {
    close(d, kClosedDepth, StreamLoss::depth);
    return false;
  }
  return d.state == kOpen;
}

bool StreamTable::drain(uint32_t slot, uint64_t id, uint8_t dir) {
  Dir& d = entries_[slot].dir[dir];
  while (d.head != kNone && seq_le(arena_.seq(d.head), d.next)) {
    // Joins the run of segments that became in order, up to a chunk.
    uint32_t staged = 0;
    uint32_t at = d.next;
    while (d.head != kNone && seq_le(arena_.seq(d.head), at) && staged < kMaxChunk) {
      const uint32_t seg = d.head;
      const uint32_t end = arena_.end(seg);
      if (seq_lt(at, end)) {
        // A segment that does not fit whole goes on in the next chunk.
        const uint32_t n = end - at < kMaxChunk - staged ? end - at : kMaxChunk - staged;
        arena_.copy_out(seg, at - arena_.seq(seg), n, staging_.get() + staged);
        staged += n;
        at += n;
        if (at != end) break;
      }
      unlink(d, kNone, seg);
    }
    memory_changed();
    if (staged != 0 && !deliver(slot, id, dir, staging_.get(), staged)) return false;
  }
  if ((d.flags & kFinSeen) && d.next == d.fin && d.state == kOpen) {
    close(d, kClosedFin, StreamLoss::after_fin);
    return false;
  }
  return d.state == kOpen;
}

bool StreamTable::give_up_hole(uint32_t slot, uint64_t id, uint8_t dir, StreamLoss why) {
  Dir& d = entries_[slot].dir[dir];
  skip_to(d, arena_.seq(d.head), why);
  return drain(slot, id, dir);
}

void StreamTable::skip_to(Dir& d, uint32_t seq, StreamLoss why) {
  const uint32_t missing = seq - d.next;
  if (missing == 0) return;
  d.gap = missing > UINT32_MAX - d.gap ? UINT32_MAX : d.gap + missing;
  d.next = seq;
  counters_.gaps.add();
  counters_.gap_bytes.add(missing);
  lose(why, missing);
}

void StreamTable::fin(uint32_t slot, uint64_t id, uint8_t dir, uint32_t fin_seq) {
  Dir& d = entries_[slot].dir[dir];
  if (d.state != kOpen) return;
  if (!(d.flags & kFinSeen)) {
    // A FIN before bytes already delivered is not believable; a second FIN
    // keeps the first one's place.
    if (seq_lt(fin_seq, d.next)) return;
    d.flags |= kFinSeen;
    d.fin = fin_seq;
    // Buffered bytes past the FIN can never be delivered.
    uint32_t prev = kNone;
    for (uint32_t seg = d.head; seg != kNone;) {
      const uint32_t after = arena_.next(seg);
      const uint32_t start = arena_.seq(seg);
      const uint32_t end = arena_.end(seg);
      if (seq_le(fin_seq, start)) {
        lose(StreamLoss::after_fin, end - start);
        unlink(d, prev, seg);
      } else if (seq_lt(fin_seq, end)) {
        lose(StreamLoss::after_fin, end - fin_seq);
        if (prev != kNone && seq_le(fin_seq, arena_.end(prev))) {
          unlink(d, prev, seg);  // cut at the FIN, prev covers it
        } else {
          d.ooo_bytes -= end - fin_seq;
          arena_.shorten(seg, fin_seq - start);
          prev = seg;
        }
      } else {
        prev = seg;
      }
      seg = after;
    }
    memory_changed();
  }
  drain(slot, id, dir);
}

void StreamTable::close(Dir& d, State state, StreamLoss why) {
  drop_buffered(d, why);
  d.state = state;
}

void StreamTable::unlink(Dir& d, uint32_t prev, uint32_t seg) {
  const uint32_t after = arena_.next(seg);
  if (prev == kNone) {
    d.head = after;
  } else {
    arena_.set_next(prev, after);
  }
  if (d.tail == seg) d.tail = prev;
  d.ooo_count--;
  d.ooo_bytes -= arena_.len(seg);
  arena_.free(seg);
}

void StreamTable::drop_buffered(Dir& d, StreamLoss why) {
  if (d.head == kNone) return;
  while (d.head != kNone) {
    lose(why, arena_.len(d.head));
    unlink(d, kNone, d.head);
  }
  memory_changed();
}

void StreamTable::memory_changed() {
  const uint64_t used = arena_.bytes_in_use();
  counters_.ooo_memory.set(used);
  if (used > counters_.ooo_memory_peak.get()) counters_.ooo_memory_peak.set(used);
}

}  // namespace loupe
