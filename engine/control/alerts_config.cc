// Schema of the alerts: section (engine/control/alerts_config.h).
#include "engine/control/alerts_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<AlertsSyslogConfig>& s) {
  s.field("enabled", &AlertsSyslogConfig::enabled)
      .help(
          "Also send every alert record to the system log (syslog(3)), the JSON line as the "
          "message and the priority from its severity.");
  s.enumeration("facility", &AlertsSyslogConfig::facility,
                {{"user", SyslogFacility::kUser},
                 {"daemon", SyslogFacility::kDaemon},
                 {"local0", SyslogFacility::kLocal0},
                 {"local1", SyslogFacility::kLocal1},
                 {"local2", SyslogFacility::kLocal2},
                 {"local3", SyslogFacility::kLocal3},
                 {"local4", SyslogFacility::kLocal4},
                 {"local5", SyslogFacility::kLocal5},
                 {"local6", SyslogFacility::kLocal6},
                 {"local7", SyslogFacility::kLocal7}})
      .help(
          "Syslog facility of the alert messages; a local one lets the syslog daemon route "
          "them to a file or a collector of their own.");
  s.field("ident", &AlertsSyslogConfig::ident)
      .help("Tag in front of each syslog message (the program name by convention).");
  s.check("ident is not empty", {"ident"}, [](const AlertsSyslogConfig& c, config::Issues& issues) {
    if (c.ident.empty()) issues.error("ident", "must not be empty");
  });
}

void describe(config::Section<AlertsConfig>& s) {
  s.field("file", &AlertsConfig::file)
      .help(
          "JSON lines file of alert records (EVE-like, event_type \"alert\"); \"-\" writes to "
          "stdout, \"\" turns this sink off.");
  s.field("ring_size", &AlertsConfig::ring_size)
      .range(16, 1u << 20)
      .power_of_two()
      .help(
          "Alert records per worker-to-control ring (2 KiB each). Live, a full ring drops the "
          "alert and counts it; offline the worker waits, so no alert is lost.");
  s.field("store_size", &AlertsConfig::store_size)
      .range(16, 10'000'000)
      .help(
          "Past alert records (stored and released) kept in memory for getAlerts, the oldest "
          "forgotten first; engaged alerts are kept on top of these.");
  s.field("dedup_seconds", &AlertsConfig::dedup_seconds)
      .range(0, 86'400)
      .help(
          "Records with the same de-duplication key (script, entity, entity value, type, "
          "subtype, lifecycle, message) within this many seconds of the last one written are "
          "merged into it and counted in the next one's suppressed field. 0 (the default, as "
          "in Suricata's EVE output) writes every record; the rate limits still apply. "
          "Record time: offline runs give the same output every time.");
  s.field("max_per_minute", &AlertsConfig::max_per_minute)
      .range(0, 1'000'000)
      .help(
          "Records per (script, entity, entity value) per minute of record time; the excess "
          "is counted (reason entity_rate), not written. 0: no limit.");
  s.field("max_per_script_per_second", &AlertsConfig::max_per_script_per_second)
      .range(0, 1'000'000)
      .help(
          "Records per script per second of record time, all entities together, so a script "
          "alerting on every flow is limited too; the excess is counted (reason script_rate), "
          "not written. 0: no limit.");
  s.section("syslog", &AlertsConfig::syslog).help("The system log as a second alert sink.");
}

}  // namespace loupe
