// Formats flow records as EVE-like JSON lines and writes them to the flow
// output. Runs on the control core only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/classify/l7_meta.h"
#include "engine/flow/flow_record.h"

#include "engine/control/json_util.h"

namespace loupe {

class NdpiModule;

class RecordWriter {
 public:
  // path "" writes nothing, "-" writes to stdout. Throws std::runtime_error
  // with a one-line message when the file cannot be opened.
  // `names` turns nDPI ids into names; null when classification is off.
  RecordWriter(const std::string& path, const NdpiModule* names);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(const FlowRecord& r, MetaView meta = {});
  void flush();
  // SIGUSR1: the file is opened again (logrotate). False when it cannot be.
  bool reopen() { return out_.reopen(); }
  uint64_t written() const { return out_.written(); }

  // The JSON of one record, without the trailing newline.
  static void format(const FlowRecord& r, MetaView meta, std::string& out,
                     const NdpiModule* names = nullptr);

 private:
  const NdpiModule* names_;
  JsonLinesFile out_;
  std::string buf_;
};

}  // namespace loupe
