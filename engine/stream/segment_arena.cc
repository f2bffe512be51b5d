#include "engine/stream/segment_arena.h"

#include <cstring>

namespace loupe {

SegmentArena::SegmentArena(uint64_t cap_bytes) {
  const uint64_t blocks = cap_bytes / kBlockCost;
  // Block indices are 32-bit and kNone is reserved.
  blocks_ = static_cast<uint32_t>(blocks < kNone ? blocks : kNone - 1);
  // Value-initialised: the pages are touched now, not on the packet path.
  data_ = std::make_unique<uint8_t[]>(uint64_t{blocks_} * kBlockSize);
  meta_ = std::make_unique<Meta[]>(blocks_);
  for (uint32_t b = 0; b < blocks_; b++) meta_[b].link = b + 1 < blocks_ ? b + 1 : kNone;
  free_head_ = blocks_ != 0 ? 0 : kNone;
  free_count_ = blocks_;
}

uint32_t SegmentArena::store(uint32_t seq, const uint8_t* src, uint32_t len) {
  const uint32_t need = blocks_for(len);
  if (need > free_count_ || need == 0) return kNone;
  const uint32_t first = free_head_;
  uint32_t b = first;
  for (uint32_t i = 0;; i++) {
    const uint32_t n = len - i * kBlockSize < kBlockSize ? len - i * kBlockSize : kBlockSize;
    std::memcpy(data(b), src + i * kBlockSize, n);
    if (i + 1 == need) break;
    b = meta_[b].link;
  }
  free_head_ = meta_[b].link;
  meta_[b].link = kNone;
  free_count_ -= need;
  meta_[first].next = kNone;
  meta_[first].seq = seq;
  meta_[first].len = len;
  return first;
}

void SegmentArena::free(uint32_t seg) {
  uint32_t b = seg;
  uint32_t n = 1;
  while (meta_[b].link != kNone) {
    b = meta_[b].link;
    n++;
  }
  meta_[b].link = free_head_;
  free_head_ = seg;
  free_count_ += n;
}

void SegmentArena::copy_out(uint32_t seg, uint32_t off, uint32_t n, uint8_t* out) const {
  uint32_t b = seg;
  for (uint32_t skip = off / kBlockSize; skip != 0; skip--) b = meta_[b].link;
  uint32_t in = off % kBlockSize;
  while (n != 0) {
    const uint32_t k = kBlockSize - in < n ? kBlockSize - in : n;
    std::memcpy(out, data(b) + in, k);
    out += k;
    n -= k;
    in = 0;
    b = meta_[b].link;
  }
}

}  // namespace loupe
