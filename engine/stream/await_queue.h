// What one side sent and still awaits an answer for, in order: HTTP
// requests awaiting their responses, SMTP commands awaiting their replies.
// The first N are kept (one byte each); past them items are only counted,
// and so are the later ones, which queue behind them: answers keep their
// order but pair with no known item. Part of a session: no allocation.
#pragma once

#include <cstdint>

namespace loupe {

template <uint8_t N>
class AwaitQueue {
 public:
  void clear() {
    head_ = count_ = 0;
    unknown_ = 0;
  }
  // False when `item` was only counted (the ring was full, or is behind
  // items that did not fit).
  bool push(uint8_t item) {
    if (unknown_ != 0 || count_ == N) {
      unknown_++;
      return false;
    }
    items_[(head_ + count_) % N] = item;
    count_++;
    return true;
  }
  // The oldest item, or -1 when it was not kept (or nothing awaits).
  int pop() {
    if (count_ != 0) {
      const int item = items_[head_];
      head_ = static_cast<uint8_t>((head_ + 1) % N);
      count_--;
      return item;
    }
    if (unknown_ != 0) unknown_--;
    return -1;
  }

 private:
  uint8_t items_[N];
  uint8_t head_ = 0;
  uint8_t count_ = 0;
  uint32_t unknown_ = 0;
};

}  // namespace loupe
