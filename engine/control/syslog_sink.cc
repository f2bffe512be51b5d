#include "engine/control/syslog_sink.h"

#include <syslog.h>

namespace loupe {

SyslogSink::SyslogSink(const AlertsSyslogConfig& config)
    : ident_(config.ident), facility_(facility(config.facility)) {
  openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, facility_);
}

SyslogSink::~SyslogSink() { closelog(); }

void SyslogSink::write(std::string_view line, Severity severity) {
  // The facility goes with every message: another openlog() in the process
  // (ntop.syslog) cannot move the alerts elsewhere.
  syslog(facility_ | priority(severity), "%.*s", static_cast<int>(line.size()), line.data());
  written_++;
}

int SyslogSink::priority(Severity s) {
  switch (s) {
    case Severity::kDebug:
      return LOG_DEBUG;
    case Severity::kInfo:
      return LOG_INFO;
    case Severity::kNotice:
      return LOG_NOTICE;
    case Severity::kWarning:
      return LOG_WARNING;
    case Severity::kError:
      return LOG_ERR;
    case Severity::kCritical:
      return LOG_CRIT;
    case Severity::kAlert:
    case Severity::kEmergency:
      return LOG_ALERT;
  }
  return LOG_NOTICE;
}

int SyslogSink::facility(SyslogFacility f) {
  switch (f) {
    case SyslogFacility::kUser:
      return LOG_USER;
    case SyslogFacility::kDaemon:
      return LOG_DAEMON;
    case SyslogFacility::kLocal0:
      return LOG_LOCAL0;
    case SyslogFacility::kLocal1:
      return LOG_LOCAL1;
    case SyslogFacility::kLocal2:
      return LOG_LOCAL2;
    case SyslogFacility::kLocal3:
      return LOG_LOCAL3;
    case SyslogFacility::kLocal4:
      return LOG_LOCAL4;
    case SyslogFacility::kLocal5:
      return LOG_LOCAL5;
    case SyslogFacility::kLocal6:
      return LOG_LOCAL6;
    case SyslogFacility::kLocal7:
      return LOG_LOCAL7;
  }
  return LOG_LOCAL0;
}

}  // namespace loupe
