#include "engine/classify/meta_pool.h"

#include <algorithm>

namespace loupe {

MetaPool::MetaPool(uint64_t bytes) {
  // References count 64-byte units in 32 bits: 256 GiB is far beyond any
  // per-worker budget, but say so rather than wrap.
  size_ = std::min<uint64_t>(bytes & ~uint64_t{63}, uint64_t{UINT32_MAX - 1} * 64);
  if (size_ > 0) arena_.reset(new uint8_t[size_]);
  std::fill(std::begin(free_), std::end(free_), kNone);
}

uint32_t MetaPool::take(uint32_t cls) {
  if (free_[cls] != kNone) {
    const uint32_t ref = free_[cls];
    std::memcpy(&free_[cls], block(ref), sizeof(uint32_t));
    return ref;
  }
  const uint32_t size = block_size(cls);
  if (bump_ + size > size_) return kNone;
  const uint32_t ref = static_cast<uint32_t>(bump_ / 64);
  bump_ += size;
  return ref;
}

bool MetaPool::append(uint32_t& ref, MetaView entries) {
  if (entries.empty()) return true;
  const MetaView old = view(ref);
  const uint32_t len = old.size() + entries.size();
  if (len > kMetaMaxBytes) return false;
  const uint32_t old_cls = ref == kNone ? kClasses : block(ref)[0];
  if (old_cls < kClasses && kHeader + len <= block_size(old_cls)) {
    uint8_t* b = block(ref);
    std::memcpy(b + kHeader + old.size(), entries.data(), entries.size());
    b[2] = static_cast<uint8_t>(len & 0xff);
    b[3] = static_cast<uint8_t>(len >> 8);
    return true;
  }
  uint32_t cls = 0;
  while (block_size(cls) < kHeader + len) cls++;
  const uint32_t fresh = take(cls);
  if (fresh == kNone) return false;
  uint8_t* b = block(fresh);
  b[0] = static_cast<uint8_t>(cls);
  b[1] = 0;
  b[2] = static_cast<uint8_t>(len & 0xff);
  b[3] = static_cast<uint8_t>(len >> 8);
  std::memcpy(b + kHeader, old.data(), old.size());
  std::memcpy(b + kHeader + old.size(), entries.data(), entries.size());
  in_use_ += block_size(cls);
  if (ref != kNone) release(ref);
  blobs_++;
  ref = fresh;
  return true;
}

void MetaPool::release(uint32_t& ref) {
  if (ref == kNone) return;
  uint8_t* b = block(ref);
  const uint32_t cls = b[0];
  std::memcpy(b, &free_[cls], sizeof(uint32_t));
  free_[cls] = ref;
  in_use_ -= block_size(cls);
  blobs_--;
  ref = kNone;
}

}  // namespace loupe
