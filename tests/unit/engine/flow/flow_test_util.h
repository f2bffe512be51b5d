// Helpers for flow tests: decoded packets built by hand and a sink that
// keeps every record.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "engine/flow/flow_record.h"

namespace loupe::test {

inline Decoded packet(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                      uint8_t proto = IPPROTO_TCP, uint8_t tcp_flags = 0x10) {
  Decoded d;
  std::memset(d.src, 0, 16);
  std::memset(d.dst, 0, 16);
  const bool v6 = std::strchr(src, ':') != nullptr;
  inet_pton(v6 ? AF_INET6 : AF_INET, src, d.src);
  inet_pton(v6 ? AF_INET6 : AF_INET, dst, d.dst);
  d.ip_version = v6 ? 6 : 4;
  d.sport = sport;
  d.dport = dport;
  d.l4_proto = proto;
  d.tcp_flags = proto == IPPROTO_TCP ? tcp_flags : 0;
  return d;
}

struct Ended {
  FlowKey key;
  EndReason reason;
  uint64_t pkts[2];
  uint64_t bytes[2];
  uint8_t client;
  FlowState state;
};

class CollectingSink : public FlowSink {
 public:
  bool on_flow_record(Flow& f, EndReason reason) override {
    Ended e{f.key, reason, {f.pkts[0] - f.reported_pkts[0], f.pkts[1] - f.reported_pkts[1]},
            {f.bytes[0] - f.reported_bytes[0], f.bytes[1] - f.reported_bytes[1]}, f.client, f.state};
    records.push_back(e);
    if (!hold || reason == EndReason::active_timeout) return false;
    held.push_back(static_cast<uint32_t>(&f - base));
    return true;
  }
  std::vector<Ended> records;
  bool hold = false;  // ask to hold every flow that ends
  const Flow* base = nullptr;  // the table's first entry, for held indices
  std::vector<uint32_t> held;  // indices asked for (the table may refuse)
};

}  // namespace loupe::test
