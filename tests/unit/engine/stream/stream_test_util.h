// What the stream tests share: a sink that records every chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/stream/stream_table.h"

namespace loupe::test {

struct Chunk {
  uint32_t slot;
  uint8_t dir;
  std::string data;
  uint32_t gap;
};

class Recorder final : public StreamSink {
 public:
  void on_stream_data(uint32_t slot, uint8_t dir, const uint8_t* data, uint32_t len,
                      uint32_t gap_bytes) override {
    chunks.push_back({slot, dir, std::string(reinterpret_cast<const char*>(data), len), gap_bytes});
    if (then) then(slot);
  }

  // Every byte of one direction of one slot, in order, gaps left out.
  std::string stream(uint32_t slot, uint8_t dir) const {
    std::string s;
    for (const Chunk& c : chunks) {
      if (c.slot == slot && c.dir == dir) s += c.data;
    }
    return s;
  }
  // The same with each gap written as its size in '~'.
  std::string with_gaps(uint32_t slot, uint8_t dir) const {
    std::string s;
    for (const Chunk& c : chunks) {
      if (c.slot == slot && c.dir == dir) s += std::string(c.gap, '~') + c.data;
    }
    return s;
  }

  std::vector<Chunk> chunks;
  std::function<void(uint32_t slot)> then;  // run after each chunk
};

}  // namespace loupe::test
