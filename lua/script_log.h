// Script log lines: print, io.write and ntop.traceEvent of one VM, with
// the `lua[<vm>] <key>: ` prefix, io.write's line buffering (a line ends at
// "\n" or at the end of the call), and the per-script rate limit of
// lua.log.lines_per_minute. Runtime errors are logged here too, at most one
// line per script per minute. Owned by the VM's ScriptHost; one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/counter.h"
#include "lua/flow_view.h"

namespace loupe {

// Writes each line to stderr; for loads on the control side and tests.
class StderrLogSink final : public LogSink {
 public:
  void write(std::string_view line) override;
};
StderrLogSink& stderr_log_sink();

class ScriptLog {
 public:
  static constexpr size_t kMaxLine = 4096;

  ScriptLog(std::string vm, uint32_t lines_per_minute, LogSink* sink);

  // Names scripts by index; index -1 (engine code) logs as "lua".
  void set_keys(std::vector<std::string> keys);
  void set_sink(LogSink* sink) { sink_ = sink; }

  // io.write: buffered until a newline or flush().
  void write(int script, std::string_view text);
  // print: one whole line.
  void line(int script, std::string_view text);
  // Ends partial lines; called at the end of every call that wrote.
  void flush() {
    if (pending_) flush_all();
  }
  // One runtime error: the first of each minute is logged, with the count of
  // those not logged since. error_due() says whether the next one will be,
  // so that the caller builds the line only then.
  bool error_due(int script);
  void error(int script, std::string_view hook, std::string_view where, std::string_view message);
  // An engine line about a script (warnings, suspensions); not rate limited.
  void note(int script, std::string_view text);

  uint64_t dropped(int script) const;
  uint64_t dropped_total() const;
  const std::string& vm() const { return vm_; }

 private:
  struct PerScript {
    std::string partial;
    uint64_t window_start = 0;  // ms, monotonic
    uint32_t in_window = 0;
    uint64_t err_window_start = 0;
    uint64_t err_suppressed = 0;
    Counter dropped;
  };
  PerScript& of(int script);
  void emit(int script, std::string_view text);
  void flush_all();

  std::string vm_;
  uint32_t per_minute_;
  LogSink* sink_;
  std::vector<std::string> keys_;
  std::vector<PerScript> per_;  // index script + 1; slot 0 is engine code
  std::string buf_;
  bool pending_ = false;
};

}  // namespace loupe
