// The system log as an alert sink (alerts.syslog): each record's JSON line
// is one syslog(3) message, its priority from the alert's severity.
// Control core only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/control/alert_writer.h"
#include "engine/control/alerts_config.h"

namespace loupe {

class SyslogSink final : public AlertOutput {
 public:
  explicit SyslogSink(const AlertsSyslogConfig& config);
  ~SyslogSink() override;
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

  const char* name() const override { return "syslog"; }
  void write(std::string_view line, Severity severity) override;
  uint64_t written() const override { return written_; }
  // syslog(3) reports no error (a missing daemon loses messages silently),
  // so nothing is ever counted as failed here.
  uint64_t failed() const override { return 0; }

  // LOG_* priority of a severity. emergency is sent as LOG_ALERT: syslog
  // daemons commonly copy LOG_EMERG to every logged-in terminal, which an
  // alert about the network must not do.
  static int priority(Severity s);
  // LOG_USER, LOG_DAEMON, LOG_LOCAL0...
  static int facility(SyslogFacility f);

 private:
  std::string ident_;  // openlog() keeps the pointer: it must outlive the sink
  int facility_;
  uint64_t written_ = 0;
};

}  // namespace loupe
