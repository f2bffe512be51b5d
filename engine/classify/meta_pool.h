// Where a worker keeps its flows' metadata blobs (engine/classify/l7_meta.h)
// while the flows live: one arena allocated at start, carved into blocks of
// six size classes (64 B to 2 KiB) with a free list per class. A flow holds
// one block, found by a 32-bit reference; a flow without metadata holds
// none. Owned by one worker; nothing here allocates after construction.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "engine/classify/l7_meta.h"

namespace loupe {

class MetaPool {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kClasses = 6;   // 64, 128, 256, 512, 1024, 2048 bytes
  static constexpr uint32_t kHeader = 4;    // [u8 class][u8 0][u16 blob length]

  // `bytes` of arena; 0 makes a pool that refuses every blob.
  explicit MetaPool(uint64_t bytes);
  MetaPool(const MetaPool&) = delete;
  MetaPool& operator=(const MetaPool&) = delete;

  // Appends `entries` (whole entries, as a MetaBuilder writes them) to the
  // blob `ref` points at, moving it to a larger block when it outgrows its
  // own; `ref` may be kNone (a new blob). Returns false when the arena is
  // exhausted or the blob would pass kMetaMaxBytes: the entries are dropped
  // and the flow keeps what it had.
  bool append(uint32_t& ref, MetaView entries);

  MetaView view(uint32_t ref) const {
    if (ref == kNone) return {};
    const uint8_t* b = block(ref);
    return MetaView(b + kHeader, static_cast<uint32_t>(b[2] | (b[3] << 8)));
  }

  // Returns the block to its class's free list; ref becomes kNone.
  void release(uint32_t& ref);

  uint64_t bytes_in_use() const { return in_use_; }   // blocks held by flows
  uint64_t capacity() const { return size_; }
  uint64_t blobs() const { return blobs_; }

 private:
  static uint32_t block_size(uint32_t cls) { return 64u << cls; }
  uint8_t* block(uint32_t ref) const { return arena_.get() + uint64_t{ref} * 64; }
  uint32_t take(uint32_t cls);  // a block of class cls, or kNone

  std::unique_ptr<uint8_t[]> arena_;
  uint64_t size_ = 0;
  uint64_t bump_ = 0;               // first byte never handed out
  uint32_t free_[kClasses];         // per class: first free block, linked through its bytes
  uint64_t in_use_ = 0;
  uint64_t blobs_ = 0;
};

}  // namespace loupe
