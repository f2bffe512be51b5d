// Schema of the metrics: section (engine/control/metrics_config.h).
#include "engine/control/metrics_config.h"

#include "config/schema.h"

namespace loupe {

void describe(config::Section<MetricsConfig>& s) {
  s.field("enabled", &MetricsConfig::enabled)
      .help(
          "Serve Prometheus metrics over HTTP at /metrics. Live, an address already in use is a "
          "start-up error; offline (-r) loupe warns and runs without the endpoint.");
  s.field("offline", &MetricsConfig::offline)
      .help(
          "Serve them during offline runs (-r) too. Off by default: a batch run rarely has a "
          "scraper, and stopping the HTTP server adds about a second to every run.");
  s.field("address", &MetricsConfig::address)
      .help("IPv4 address the endpoint listens on; 0.0.0.0 for every interface.");
  s.field("port", &MetricsConfig::port)
      .help("TCP port of the endpoint; 0 lets the kernel pick a free one, which loupe logs.");
  s.field("basic_auth_user", &MetricsConfig::basic_auth_user)
      .help(
          "HTTP basic authentication user name; \"\" serves the metrics without "
          "authentication. Set together with basic_auth_password_file.");
  s.field("basic_auth_password_file", &MetricsConfig::basic_auth_password_file)
      .help(
          "File whose first line is the basic authentication password (kept out of this "
          "file); read once at start.");
  // prometheus-cpp serves through Debian's civetweb, built without IPv6.
  s.check("address is an IPv4 address", {"address"},
          [](const MetricsConfig& c, config::Issues& issues) {
            if (c.address.family != 4)
              issues.error("address",
                           "the endpoint listens on an IPv4 address (127.0.0.1, 0.0.0.0 for "
                           "all): Debian's civetweb, which serves it, has no IPv6");
          });
  s.check("basic_auth_user and basic_auth_password_file are both set or both empty",
          {"basic_auth_user", "basic_auth_password_file"},
          [](const MetricsConfig& c, config::Issues& issues) {
            if (c.basic_auth_user.empty() != c.basic_auth_password_file.empty())
              issues.error(
                  c.basic_auth_user.empty() ? "basic_auth_user" : "basic_auth_password_file",
                  "basic authentication needs both a user and a password file");
          });
}

}  // namespace loupe
