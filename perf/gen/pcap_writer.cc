#include "perf/gen/pcap_writer.h"

#include <cassert>

namespace loupe::gen {
namespace {

constexpr size_t kFlushAt = 1 << 20;
constexpr uint32_t kLinkTypeEthernet = 1;

}  // namespace

PcapWriter::PcapWriter(std::ostream& out) : out_(out) {
  buffer_.reserve(kFlushAt + 65536);
  put32(0xa1b2c3d4);  // microsecond timestamps
  put32(2 | (4u << 16));  // version 2.4: major, then minor, each 16 bits
  put32(0);           // thiszone
  put32(0);           // sigfigs
  put32(kSnapLen);
  put32(kLinkTypeEthernet);
}

PcapWriter::~PcapWriter() { flush(); }

void PcapWriter::put32(uint32_t v) {
  for (int i = 0; i < 4; ++i) buffer_.push_back(static_cast<char>(v >> (8 * i)));
}

void PcapWriter::write(uint64_t timestamp_us, const uint8_t* frame, size_t len) {
  assert(len <= kSnapLen);
  put32(static_cast<uint32_t>(timestamp_us / 1000000));
  put32(static_cast<uint32_t>(timestamp_us % 1000000));
  put32(static_cast<uint32_t>(len));  // captured
  put32(static_cast<uint32_t>(len));  // on the wire
  buffer_.insert(buffer_.end(), reinterpret_cast<const char*>(frame),
                 reinterpret_cast<const char*>(frame) + len);
  if (buffer_.size() >= kFlushAt) flush();
}

bool PcapWriter::flush() {
  if (!buffer_.empty()) {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }
  return static_cast<bool>(out_);
}

}  // namespace loupe::gen
