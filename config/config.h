// The whole effective configuration of one loupe run: plain typed structs,
// filled once by the loader (config/loader.h) from YAML and --set overrides,
// validated against the schemas each module declares next to its struct,
// then shared read-only by every thread.
#pragma once

#include <string>
#include <vector>

#include "config/control_config.h"
#include "config/net_types.h"
#include "config/schema_fwd.h"
#include "dpdk/dpdk_config.h"
#include "engine/classify/classifier_config.h"
#include "engine/classify/classify_config.h"
#include "engine/control/alerts_config.h"
#include "engine/control/metrics_config.h"
#include "engine/control/output_config.h"
#include "engine/flow/flow_config.h"
#include "engine/stream/stream_config.h"
#include "engine/host/hosts_config.h"
#include "engine/worker/worker_config.h"
#include "lua/lua_config.h"

namespace loupe {

struct Config {
  WorkersConfig workers;
  DpdkConfig dpdk;
  std::vector<PortConfig> ports;
  FlowConfig flow;
  StreamConfig stream;
  ClassifyConfig classify;
  OutputConfig output;
  AlertsConfig alerts;
  HostsConfig hosts;
  MetricsConfig metrics;
  LuaConfig lua;
  ControlConfig control;
  PathsConfig paths;
  // Locality of flows for scripts: flow.direction(), local_only gates.
  std::vector<Cidr> local_networks;
  std::vector<ClassifierRuleConfig> classifiers;

  bool operator==(const Config&) const = default;
};

// The root schema (config/config.cc): one section per module.
void describe(config::Section<Config>& s);

}  // namespace loupe
