// Where a worker keeps the TCP segments that arrived ahead of a hole: one
// arena allocated at start, cut into 512-byte blocks with one free list. A
// segment takes a chain of blocks (a 1,460-byte segment three, 95% used); its
// sequence number, length and the link to the next buffered segment of its
// direction live in the metadata of its first block, so a segment is named
// by that block's index. Owned by one worker; nothing here allocates after
// construction.
#pragma once

#include <cstdint>
#include <memory>

namespace loupe {

class SegmentArena {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint32_t kBlockSize = 512;

  // As many blocks as `cap_bytes` pays for, metadata included, so the arena
  // never holds more than the cap.
  explicit SegmentArena(uint64_t cap_bytes);
  SegmentArena(const SegmentArena&) = delete;
  SegmentArena& operator=(const SegmentArena&) = delete;

  static uint32_t blocks_for(uint32_t len) { return (len + kBlockSize - 1) / kBlockSize; }

  // Copies `len` (> 0) bytes into a new segment and returns it, or kNone when
  // too few blocks are free. The segment is not linked to any other.
  uint32_t store(uint32_t seq, const uint8_t* data, uint32_t len);
  // Gives the segment's blocks back.
  void free(uint32_t seg);

  uint32_t seq(uint32_t seg) const { return meta_[seg].seq; }
  uint32_t len(uint32_t seg) const { return meta_[seg].len; }
  uint32_t end(uint32_t seg) const { return meta_[seg].seq + meta_[seg].len; }
  uint32_t next(uint32_t seg) const { return meta_[seg].next; }
  void set_next(uint32_t seg, uint32_t next) { meta_[seg].next = next; }
  // Forgets the bytes past `len` (< the current length); its blocks stay
  // with the segment until it is freed.
  void shorten(uint32_t seg, uint32_t len) { meta_[seg].len = len; }
  // Copies bytes [off, off + n) of the segment to `out`.
  void copy_out(uint32_t seg, uint32_t off, uint32_t n, uint8_t* out) const;

  uint32_t blocks() const { return blocks_; }
  uint32_t free_blocks() const { return free_count_; }
  // Bytes of the cap: one block costs its data and its metadata.
  static constexpr uint32_t kBlockCost = kBlockSize + 16;
  uint64_t bytes_in_use() const { return uint64_t{blocks_ - free_count_} * kBlockCost; }
  uint64_t capacity() const { return uint64_t{blocks_} * kBlockCost; }

 private:
  struct Meta {
    uint32_t link;  // next block of the same segment, or of the free list
    uint32_t next;  // first block only: next buffered segment of the direction
    uint32_t seq;   // first block only
    uint32_t len;   // first block only
  };
  static_assert(sizeof(Meta) + kBlockSize == kBlockCost, "the cost of a block is what it takes");

  uint8_t* data(uint32_t block) const { return data_.get() + uint64_t{block} * kBlockSize; }

  std::unique_ptr<uint8_t[]> data_;
  std::unique_ptr<Meta[]> meta_;
  uint32_t blocks_ = 0;
  uint32_t free_head_ = kNone;
  uint32_t free_count_ = 0;
};

}  // namespace loupe
