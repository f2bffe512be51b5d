// Shared fixtures of the lua tests: sinks that keep what they receive, a
// synthetic flow with metadata, and sets built from files in memory.
#pragma once

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/classify/ndpi_detector.h"
#include "lua/flow_view.h"
#include "lua/generation.h"
#include "lua/worker_scripts.h"

namespace loupe::test {

using Files = std::map<std::string, std::string>;

struct KeptAlerts final : AlertSink {
  std::vector<AlertRecord> records;
  bool full = false;
  bool push(const AlertRecord& r) override {
    if (full) return false;
    records.push_back(r);
    return true;
  }
};

struct KeptLog final : LogSink {
  std::vector<std::string> lines;
  void write(std::string_view line) override { lines.emplace_back(line); }
  // Lines of one script without the "lua[worker0] <key>: " prefix.
  std::vector<std::string> of(const std::string& key) const {
    std::vector<std::string> out;
    for (const std::string& l : lines) {
      const size_t at = l.find("] " + key + ": ");
      if (at != std::string::npos) out.push_back(l.substr(at + key.size() + 4));
    }
    return out;
  }
  bool contains(const std::string& text) const {
    for (const std::string& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

inline const NdpiModule& ndpi() {
  static NdpiModule module{NdpiConfig{}};
  return module;
}

inline IpAddress ip(const char* text) { return *parse_ip_address(text); }

// A flow from `cli` to `srv`, client on canonical side `client_side`; 10
// packets of 100 bytes from the client, 5 of 1000 from the server.
struct TestFlow {
  Flow flow{};
  uint8_t meta_buf[kMetaMaxBytes] = {};
  MetaBuilder meta{meta_buf};

  TestFlow(const char* cli, uint16_t cli_port, const char* srv, uint16_t srv_port,
           uint8_t proto = 6, uint8_t client_side = 0) {
    const IpAddress c = ip(cli), s = ip(srv);
    const uint8_t cs = client_side, ss = client_side ^ 1;
    std::memcpy(flow.key.addr[cs], c.bytes.data(), 16);
    std::memcpy(flow.key.addr[ss], s.bytes.data(), 16);
    flow.key.port[cs] = cli_port;
    flow.key.port[ss] = srv_port;
    flow.key.proto = proto;
    flow.key.ip_version = c.family;
    flow.client = client_side;
    flow.pkts[cs] = 10;
    flow.pkts[ss] = 5;
    flow.bytes[cs] = 1000;
    flow.bytes[ss] = 5000;
    flow.first_ns = 1'700'000'000'000'000'000ull;
    flow.last_ns = flow.first_ns + 2'500'000'000ull;
    flow.flow_id = 4242;
    flow.in_use = 1;
    flow.state = FlowState::kEstablished;
    flow.tcp_seen = kSeenSyn | kSeenSyn << 1 | kSeenData | kSeenData << 1;
    flow.l7_status = kL7Pending;
    flow.l7_meta = kNoMeta;
  }
  void detect(uint16_t master, uint16_t app, uint64_t risk = 0) {
    flow.l7_status = kL7Done;
    flow.l7.master = master;
    flow.l7.app = app;
    flow.l7.risk = risk;
  }
  FlowView view(uint16_t worker = 0) const {
    FlowView v;
    v.flow = &flow;
    v.meta = meta.view();
    v.ndpi = &ndpi();
    v.worker = worker;
    return v;
  }
};

inline GenerationResult build_set(std::map<std::string, std::string> files, LuaConfig config = {},
                                  std::vector<Cidr> nets = {}, LogSink* log = nullptr) {
  GenerationInputs in;
  in.config = config;
  in.local_networks = std::move(nets);
  in.ndpi = &ndpi();
  in.log = log;
  return build_generation(in, script_set_from(std::move(files)));
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += s + "\n";
  return out;
}

// A built generation and worker 0 with sinks that keep everything.
struct Harness {
  KeptAlerts alerts;
  KeptLog log;
  GenerationResult result;
  std::unique_ptr<WorkerScripts> ws;

  explicit Harness(std::map<std::string, std::string> files, LuaConfig config = {},
                   std::vector<Cidr> nets = {}) {
    result = build_set(std::move(files), config, std::move(nets), &log);
    if (result.generation == nullptr) return;
    std::vector<std::string> errors;
    ws = build_worker(result.generation, 0, 1024, &errors);
    if (ws) ws->set_sinks(&alerts, &log);
  }
  bool ok() const { return ws != nullptr; }
  std::string errors() const { return joined(result.errors); }
};

inline constexpr uint64_t kNow = 1'700'000'010'000'000'000ull;

}  // namespace loupe::test
