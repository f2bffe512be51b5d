// A fixed number of per-flow parser states, allocated once: taking one and
// giving it back is a push or a pop on a stack of free indices, so opening a
// flow's parser on the packet path neither allocates nor locks.
#pragma once

#include <cstdint>
#include <memory>

namespace loupe {

template <typename T>
class SessionPool {
 public:
  explicit SessionPool(uint32_t size)
      : items_(std::make_unique<T[]>(size)),
        free_(std::make_unique<uint32_t[]>(size)),
        size_(size) {
    // Lowest index on top: the first flows use the first entries.
    for (uint32_t i = 0; i < size; i++) free_[i] = size - 1 - i;
    free_count_ = size;
  }
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // nullptr when every entry is in use.
  T* take() {
    if (free_count_ == 0) return nullptr;
    return &items_[free_[--free_count_]];
  }
  void give(T* item) { free_[free_count_++] = static_cast<uint32_t>(item - items_.get()); }

  uint32_t size() const { return size_; }
  uint32_t in_use() const { return size_ - free_count_; }

 private:
  std::unique_ptr<T[]> items_;
  std::unique_ptr<uint32_t[]> free_;
  uint32_t size_;
  uint32_t free_count_ = 0;
};

}  // namespace loupe
