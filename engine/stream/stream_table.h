// TCP stream reassembly of one worker: per flow and direction, the bytes in
// sequence order, without retransmitted or overlapping copies, handed to a
// StreamSink in chunks. Only flows the worker enables are followed. The
// per-flow state is an array indexed like the flow table (the flow entry has
// no room for it); segments that arrive ahead of a hole wait in a
// SegmentArena shared by the worker's flows. Everything is allocated in the
// constructor: feeding a segment neither allocates nor locks.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/common/counter.h"
#include "engine/decode/decoded.h"
#include "engine/stream/segment_arena.h"
#include "engine/stream/stream_config.h"

namespace loupe {

// Why stream bytes were not delivered. Declared once: enum, counter names,
// help. Each is counted as events (holes or segments) and as bytes.
//   X(name, help)
#define LOUPE_STREAM_LOSS_REASONS(X)                                                       \
  X(ooo_flow_limit, "holes given up: the direction's out-of-order buffer was full")        \
  X(memory_cap, "holes given up: the worker's out-of-order memory was exhausted")          \
  X(ended_with_hole, "holes given up: the direction or the flow ended with bytes missing") \
  X(after_fin, "segments with data past the direction's FIN")                              \
  X(after_rst, "segments with data on or after the direction's RST")                       \
  X(depth, "segments with data past stream.max_bytes_per_direction")                       \
  X(out_of_window, "segments starting more than 1 GiB ahead of the next expected byte")    \
  X(ip_fragment, "TCP segments carried in IP fragments")                                   \
  X(released, "buffered segments dropped: the flow was released while holes remained")

enum class StreamLoss : uint8_t {
#define LOUPE_X(name, help) name,
  LOUPE_STREAM_LOSS_REASONS(LOUPE_X)
#undef LOUPE_X
      count
};
inline constexpr const char* kStreamLossNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_STREAM_LOSS_REASONS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kStreamLossHelp[] = {
#define LOUPE_X(name, help) help,
    LOUPE_STREAM_LOSS_REASONS(LOUPE_X)
#undef LOUPE_X
};

//   X(name, help)
#define LOUPE_STREAM_COUNTERS(X)                                                    \
  X(flows, "flows whose reassembly was enabled")                                    \
  X(segments, "TCP segments fed to reassembly")                                     \
  X(delivered_bytes, "bytes delivered in sequence order")                           \
  X(chunks, "chunks delivered")                                                     \
  X(ooo_segments, "segments buffered ahead of a hole")                              \
  X(retransmissions, "segments whose bytes were all delivered or buffered already") \
  X(overlaps, "segments partly overlapping bytes delivered or buffered")            \
  X(gaps, "holes given up, each reported with the next chunk of its direction")     \
  X(gap_bytes, "bytes missing in the holes given up")                               \
  X(ooo_memory, "bytes of the out-of-order arena in use")                           \
  X(ooo_memory_peak, "most bytes of the out-of-order arena in use at once")

struct StreamCounters {
#define LOUPE_X(name, help) Counter name;
  LOUPE_STREAM_COUNTERS(LOUPE_X)
#undef LOUPE_X
  Counter lost[static_cast<int>(StreamLoss::count)];        // holes or segments
  Counter lost_bytes[static_cast<int>(StreamLoss::count)];  // bytes
};

inline constexpr const char* kStreamCounterNames[] = {
#define LOUPE_X(name, help) #name,
    LOUPE_STREAM_COUNTERS(LOUPE_X)
#undef LOUPE_X
};
inline constexpr const char* kStreamCounterHelp[] = {
#define LOUPE_X(name, help) help,
    LOUPE_STREAM_COUNTERS(LOUPE_X)
#undef LOUPE_X
};

// Receives each direction's bytes in order. `gap_bytes` is the number of
// bytes missing right before `data` (0: none); `data` is valid during the
// call only; a chunk is at most StreamTable::kMaxChunk bytes. The sink may
// call StreamTable::release() on the slot it is given (nobody listens any
// more): delivery to that flow stops. It must not feed the table.
class StreamSink {
 public:
  virtual void on_stream_data(uint32_t slot, uint8_t dir, const uint8_t* data, uint32_t len,
                              uint32_t gap_bytes) = 0;

 protected:
  ~StreamSink() = default;
};

class StreamTable {
 public:
  static constexpr uint32_t kMaxChunk = 65536;
  // TCP's largest window (65,535 << 14) rounded up: a segment starting
  // further ahead than this cannot belong to the stream.
  static constexpr uint32_t kMaxAhead = 1u << 30;

  // `slots`: entries of the flow table whose indices are used as slots.
  StreamTable(const StreamConfig& config, uint32_t slots, StreamSink& sink);
  StreamTable(const StreamTable&) = delete;
  StreamTable& operator=(const StreamTable&) = delete;

  // Starts following the flow at `slot`; `flow_id` (non-zero, unique per
  // worker: Flow::flow_id) stamps the state, so that a later flow in the
  // same slot never sees it. Enabling the same flow twice changes nothing; a
  // stale flow still there is released first.
  void enable(uint32_t slot, uint64_t flow_id);
  bool enabled(uint32_t slot, uint64_t flow_id) const {
    return flow_id != 0 && entries_[slot].id == flow_id;
  }

  // Following starts mid-stream: direction `dir`, not seen yet, starts at
  // `next` (the acknowledgment number of a segment of the other direction:
  // the next byte its receiver expects), not at its first segment seen,
  // which may have arrived out of order. Ignored once the direction started.
  void start_at(uint32_t slot, uint64_t flow_id, uint8_t dir, uint32_t next);

  // One TCP segment of direction `dir` (0 or 1) of the flow at `slot`;
  // ignored unless that flow is enabled. `len` payload bytes at `payload`.
  void feed(uint32_t slot, uint64_t flow_id, uint8_t dir, uint32_t seq, uint8_t tcp_flags,
            const uint8_t* payload, uint32_t len);
  // The same from the decoder's view of a frame (`frame`: its first byte).
  void feed(uint32_t slot, uint64_t flow_id, uint8_t dir, const Decoded& d, const uint8_t* frame);

  // The flow ended: what is buffered is delivered, each hole in front of it
  // given up and reported, then the slot is released.
  void finish(uint32_t slot);
  // Stops following the flow without delivering anything more (nobody
  // listens any more). Buffered segments are counted as `released`.
  void release(uint32_t slot);

  const StreamCounters& counters() const { return counters_; }
  const SegmentArena& arena() const { return arena_; }
  // Segments and bytes buffered by one direction.
  uint32_t ooo_segments(uint32_t slot, uint8_t dir) const {
    return entries_[slot].dir[dir].ooo_count;
  }
  uint32_t ooo_bytes(uint32_t slot, uint8_t dir) const { return entries_[slot].dir[dir].ooo_bytes; }
  // Everything allocated: per-flow state and arena.
  uint64_t memory_bytes() const { return uint64_t{slots_} * sizeof(Entry) + arena_.capacity(); }
  static constexpr uint32_t kEntryBytes = 72;

 private:
  enum State : uint8_t { kIdle, kOpen, kClosedFin, kClosedRst, kClosedDepth };
  enum Flags : uint8_t { kFinSeen = 1 };
  // 32 bytes per direction.
  struct Dir {
    uint32_t next;  // sequence number of the next byte to deliver
    uint32_t fin;   // sequence number of the FIN (kFinSeen)
    uint32_t head;  // buffered segments, by sequence number
    uint32_t tail;
    uint32_t ooo_bytes;  // bytes they hold
    uint32_t gap;        // bytes given up, reported with the next chunk
    uint32_t delivered;  // bytes delivered (stream.max_bytes_per_direction)
    uint16_t ooo_count;
    uint8_t state;
    uint8_t flags;
  };
  struct Entry {
    uint64_t id;  // flow_id of the flow followed; 0: none
    Dir dir[2];
  };
  static_assert(sizeof(Entry) == kEntryBytes, "per-flow stream state is 72 bytes");

  enum class Insert : uint8_t { kStored, kCovered, kFlowLimit, kNoMemory };

  void data(uint32_t slot, uint64_t id, uint8_t dir, uint32_t seq, const uint8_t* p, uint32_t len);
  void fin(uint32_t slot, uint64_t id, uint8_t dir, uint32_t fin_seq);
  Insert insert(Dir& d, uint32_t seq, const uint8_t* p, uint32_t len);
  // Hands bytes to the sink; false when the direction no longer takes any
  // (released by the sink, closed at the byte limit).
  bool deliver(uint32_t slot, uint64_t id, uint8_t dir, const uint8_t* p, uint32_t len);
  // Delivers the buffered segments that became in order.
  bool drain(uint32_t slot, uint64_t id, uint8_t dir);
  // Skips to the first buffered segment, then drains.
  bool give_up_hole(uint32_t slot, uint64_t id, uint8_t dir, StreamLoss why);
  void skip_to(Dir& d, uint32_t seq, StreamLoss why);
  bool check_fin(uint32_t slot, uint64_t id, uint8_t dir);
  void close(Dir& d, State state, StreamLoss why);
  void unlink(Dir& d, uint32_t prev, uint32_t seg);
  void drop_buffered(Dir& d, StreamLoss why);
  void lose(StreamLoss why, uint64_t bytes) {
    counters_.lost[static_cast<int>(why)].add();
    counters_.lost_bytes[static_cast<int>(why)].add(bytes);
  }
  void memory_changed();

  StreamSink& sink_;
  std::unique_ptr<Entry[]> entries_;
  uint32_t slots_;
  SegmentArena arena_;
  uint32_t max_ooo_segments_;
  uint32_t max_ooo_bytes_;
  uint32_t depth_;                      // 0: no limit
  std::unique_ptr<uint8_t[]> staging_;  // buffered segments are joined here
  StreamCounters counters_;
};

// Reads a TCP header's sequence and acknowledgment numbers (network order).
inline uint32_t tcp_seq(const uint8_t* tcp) {
  return uint32_t{tcp[4]} << 24 | uint32_t{tcp[5]} << 16 | uint32_t{tcp[6]} << 8 | tcp[7];
}
inline uint32_t tcp_ack(const uint8_t* tcp) {
  return uint32_t{tcp[8]} << 24 | uint32_t{tcp[9]} << 16 | uint32_t{tcp[10]} << 8 | tcp[11];
}

}  // namespace loupe
