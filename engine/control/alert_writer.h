// Alert records as EVE-like JSON lines (contract §4.7.1), and the sink
// interface of the alert pipeline with its first sink, the JSON lines file
// `alerts.file`. Control core only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "engine/control/alert_store.h"
#include "lua/flow_view.h"

namespace loupe {

class NdpiModule;

// Where the pipeline hands each record it emits, as its JSON line. A sink
// never throws on the alert path: it counts what it could not write.
class AlertOutput {
 public:
  virtual ~AlertOutput() = default;
  // The sink's name in ntop.getSystemAlertsStats() and the metrics.
  virtual const char* name() const = 0;
  // One record's JSON line, without a newline.
  virtual void write(std::string_view line, Severity severity) = 0;
  virtual void flush() {}
  // SIGUSR1 (logrotate): false when the sink could not open its target again.
  virtual bool reopen() { return true; }
  virtual uint64_t written() const = 0;          // records that reached the sink's target
  virtual uint64_t failed() const = 0;           // records lost to write errors
  virtual uint64_t queued() const { return 0; }  // accepted, not yet written out
};

// What the pipeline adds to a record when it emits it.
struct AlertEmission {
  uint64_t id = 0;  // alert.id; 0 leaves it out
  AlertLifecycle lifecycle = AlertLifecycle::kStore;
  uint64_t suppressed = 0;  // same-key records merged or limited since the last one emitted
  uint64_t time_ns = 0;     // the record's timestamp (a release: when it was released)
};

// The JSON lines file. Lines are gathered in memory and written out by
// flush() (once per control-loop turn that wrote something, or when 256 KiB
// are waiting); a write error loses the lines of that flush, which are
// counted as failed, and the next flush tries again.
class AlertWriter final : public AlertOutput {
 public:
  // path "" writes nothing, "-" stdout. Throws std::runtime_error with a
  // one-line message when the file cannot be opened.
  AlertWriter(const std::string& path, const NdpiModule* names);
  ~AlertWriter() override;
  AlertWriter(const AlertWriter&) = delete;
  AlertWriter& operator=(const AlertWriter&) = delete;

  bool enabled() const { return file_ != nullptr; }
  // A flow alert as a `store` record with nothing suppressed, for callers
  // that write the workers' alerts without the pipeline.
  void write(const AlertRecord& a);

  const char* name() const override { return "file"; }
  void write(std::string_view line, Severity severity) override;
  void flush() override;
  // The file is opened again, appending (logrotate moved it away); lines
  // waiting go to the old one first. False when it cannot be opened.
  bool reopen() override;
  uint64_t written() const override { return written_; }
  uint64_t failed() const override { return failed_; }
  uint64_t queued() const override { return pending_lines_; }

  // A flow alert's line; `community_id` is its entity value.
  static void format(const AlertRecord& a, const AlertEmission& e, std::string_view community_id,
                     std::string& out, const NdpiModule* names);
  // The same as a `store` record with nothing suppressed and no id.
  static void format(const AlertRecord& a, std::string& out, const NdpiModule* names);
  // A host, network, interface or system alert's line.
  static void format(const EntityAlert& a, const AlertEmission& e, std::string& out);

 private:
  const NdpiModule* names_;
  std::string path_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string buf_;  // lines waiting for flush()
  uint64_t pending_lines_ = 0;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
  std::string line_;
};

}  // namespace loupe
