// Writes alert records (lua/flow_view.h: AlertRecord, from workers' alert
// rings) as EVE-like JSON lines, contract §4.7.1. Control core only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "lua/flow_view.h"

#include "engine/control/json_util.h"

namespace loupe {

class NdpiModule;

class AlertWriter {
 public:
  // path "" writes nothing, "-" stdout. Throws std::runtime_error with a
  // one-line message when the file cannot be opened.
  AlertWriter(const std::string& path, const NdpiModule* names);
  ~AlertWriter();
  AlertWriter(const AlertWriter&) = delete;
  AlertWriter& operator=(const AlertWriter&) = delete;

  void write(const AlertRecord& a);
  void flush();
  // SIGUSR1: the file is opened again (logrotate). False when it cannot be.
  bool reopen() { return out_.reopen(); }
  uint64_t written() const { return out_.written(); }

  static void format(const AlertRecord& a, std::string& out, const NdpiModule* names);

 private:
  const NdpiModule* names_;
  JsonLinesFile out_;
  std::string buf_;
};

}  // namespace loupe
