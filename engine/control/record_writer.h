// Formats flow records as EVE-like JSON lines and writes them to the flow
// output. Runs on the control core only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/flow/flow_record.h"

namespace loupe {

class RecordWriter {
 public:
  // path "" writes nothing, "-" writes to stdout. Throws std::runtime_error
  // with a one-line message when the file cannot be opened.
  explicit RecordWriter(const std::string& path);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(const FlowRecord& r);
  void flush();
  uint64_t written() const { return written_; }

  // The JSON of one record, without the trailing newline.
  static void format(const FlowRecord& r, std::string& out);

 private:
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string buf_;
  uint64_t written_ = 0;
};

}  // namespace loupe
