// Pieces of JSON shared by the control core's writers (flow records,
// alerts): strings from the wire, EVE timestamps, a flow's identity.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "engine/flow/flow_key.h"

namespace loupe {

// A JSON string literal; bytes outside printable ASCII are \u escaped.
void append_json_string(std::string& out, std::string_view s);
// EVE's timestamp text: 2026-11-21T10:00:03.512345+0000 (UTC).
void append_time(std::string& out, uint64_t ns);
// ,"src_ip":...,"src_port":...,"dest_ip":...,"dest_port":...,"proto":...
// (ICMP type and code, VLANs when present), from the client's side.
void append_flow_identity(std::string& out, const FlowKey& k, uint8_t client, uint8_t icmp_type,
                          uint8_t icmp_code);

// A JSON lines output: path "" writes nothing, "-" stdout, else a file
// truncated at open. Throws std::runtime_error with a one-line message when
// it cannot be opened.
class JsonLinesFile {
 public:
  explicit JsonLinesFile(const std::string& path);
  ~JsonLinesFile();
  JsonLinesFile(const JsonLinesFile&) = delete;
  JsonLinesFile& operator=(const JsonLinesFile&) = delete;

  bool enabled() const { return file_ != nullptr; }
  // Writes `line` and a newline (appended to `line`).
  void write(std::string& line);
  void flush();
  // Closes the file and opens its path again, appending: after logrotate
  // moved it away, writing goes on in a new file and no line is lost.
  // Returns false (and keeps writing to the old one) when it cannot.
  bool reopen();
  uint64_t written() const { return written_; }

 private:
  std::string path_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  uint64_t written_ = 0;
};

}  // namespace loupe
