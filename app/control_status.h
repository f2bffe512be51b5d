// What the control socket answers (contract §7.5): `status` (workers, ports,
// scripts), `scripts_status` (every script's state and counters, the VMs'
// memory) and `unquarantine` (lifts a script's quarantine and reloads the
// set). The figures are read from the same sources as the metrics
// (MetricsSources), on the control thread, without stopping a worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/control_json.h"
#include "app/metrics.h"
#include "config/config.h"

namespace loupe {

class ControlServer;

class ControlService {
 public:
  // Makes the socket at control.socket (under paths.workdir when relative).
  // `reload_scripts` runs, on the control thread, after a quarantine was
  // lifted: the script set is built again so the file loads. Throws
  // std::runtime_error when the socket cannot be made (control_socket.h).
  ControlService(const Config& config, const MetricsSources& sources,
                 std::function<void()> reload_scripts);
  ~ControlService();
  ControlService(const ControlService&) = delete;
  ControlService& operator=(const ControlService&) = delete;

  // Every control loop turn: samples the workers' polls once a second (for
  // the busy ratio) and serves the clients; never waits.
  void poll();
  const std::string& path() const;

  // The answer to one request (what the socket calls; public for tests).
  Json answer(const Json& request);

 private:
  struct PollSample {
    std::chrono::steady_clock::time_point at;
    std::vector<uint64_t> busy, idle;  // per worker
  };
  Json status() const;
  Json scripts_status() const;
  Json unquarantine(const std::string& key);
  Json script_summary() const;

  MetricsSources src_;
  std::string quarantine_file_;
  std::function<void()> reload_scripts_;
  std::deque<PollSample> polls_;  // the last 10 s, one a second
  double start_unix_;
  std::unique_ptr<ControlServer> server_;  // last: its handler reads the members above
};

}  // namespace loupe
