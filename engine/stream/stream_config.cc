// Schema of the stream: section (engine/stream/stream_config.h).
#include "engine/stream/stream_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<StreamConfig>& s) {
  s.field("memory_mb", &StreamConfig::memory_mb)
      .range(1, 1u << 16)
      .help(
          "MiB per worker holding TCP segments that arrived ahead of a hole, allocated at "
          "start. When it is exhausted a flow gives up its oldest hole (counted as memory_cap) "
          "instead of waiting for it.");
  s.field("max_ooo_segments", &StreamConfig::max_ooo_segments)
      .range(1, 65535)
      .help(
          "Segments one direction of a flow may hold ahead of a hole; one more gives up the "
          "oldest hole (counted as ooo_flow_limit).");
  s.field("max_ooo_bytes", &StreamConfig::max_ooo_bytes)
      .range(1024, 1u << 30)
      .help(
          "Bytes one direction of a flow may hold ahead of a hole; more give up the oldest hole "
          "(counted as ooo_flow_limit).");
  s.field("max_bytes_per_direction", &StreamConfig::max_bytes_per_direction)
      .range(0, UINT32_MAX)
      .help(
          "Bytes of each direction of a flow delivered to parsers; the rest is dropped and "
          "counted (depth). 0: no limit.");
}

}  // namespace loupe
