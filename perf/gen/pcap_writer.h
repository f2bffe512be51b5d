// Classic pcap output (LINKTYPE_ETHERNET, microsecond timestamps), written by
// hand so the file is the same bytes on every host: fields are little-endian
// whatever the host's order, and nothing depends on libpcap's version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <vector>

#include "perf/gen/generator.h"

namespace loupe::gen {

class PcapWriter final : public FrameSink {
 public:
  static constexpr uint32_t kSnapLen = 65535;

  // Writes the file header at once.
  explicit PcapWriter(std::ostream& out);
  ~PcapWriter() override;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(uint64_t timestamp_us, const uint8_t* frame, size_t len) override;
  // Hands buffered records to the stream; false when the stream failed.
  bool flush();

 private:
  void put32(uint32_t v);

  std::ostream& out_;
  // Records are gathered here and written in large blocks: one ostream call
  // per 60-byte frame would dominate the run time.
  std::vector<char> buffer_;
};

}  // namespace loupe::gen
