// The merged host table of the control core (contract §4.2, §4.6.1, §4.6.4):
// every host seen in the workers' partials (host_partial.h), with totals
// since it entered the table, per L7 protocol statistics, unanswered
// contacts (distinct counts), and the totals of each local network. Capped
// at hosts.max_hosts (the least recently seen host is evicted) and purged of
// hosts idle for hosts.idle_timeout; both counted. Control core only.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/net_types.h"
#include "engine/host/distinct.h"
#include "engine/host/host_key.h"
#include "engine/host/host_partial.h"
#include "engine/host/hosts_config.h"

namespace loupe {

struct HostL7 {
  uint64_t bytes_sent = 0, bytes_rcvd = 0, pkts_sent = 0, pkts_rcvd = 0;
  uint64_t flows = 0;
};

struct Host {
  HostKey key{};
  int16_t network = -1;  // local network id, -1 remote
  uint64_t first_ns = 0, last_ns = 0;
  uint64_t bytes_sent = 0, bytes_rcvd = 0, pkts_sent = 0, pkts_rcvd = 0;
  uint64_t flows_as_client = 0, flows_as_server = 0;
  uint64_t ended_as_client = 0, ended_as_server = 0;
  // Since the last host.resetHostContacts(): shared by every script.
  uint64_t unidir_as_client = 0, unidir_as_server = 0;
  DistinctCounter peers_noreply;    // servers this host contacted that never answered
  DistinctCounter clients_noreply;  // clients that contacted this host and got no answer
  DistinctCounter ports_noreply;    // server ports (with protocol) contacted without answer
  std::map<uint32_t, HostL7> l7;    // key: master << 16 | app
  // Scores of flow alerts on flows of this host: the minute being counted
  // and the last completed one (host.score()).
  uint64_t score_minute = 0;
  uint32_t flow_score_cur = 0, flow_score_last = 0;
  std::list<HostKey>::iterator lru;

  bool is_local() const { return network >= 0; }
  // Flow alert scores of the last completed minute before `now_ns`.
  uint32_t last_minute_flow_score(uint64_t now_ns) const {
    const uint64_t minute = now_ns / 60'000'000'000ULL;
    if (minute == score_minute + 1) return flow_score_cur;
    if (minute == score_minute) return flow_score_last;
    return 0;
  }
  bool rx_only() const { return pkts_sent == 0 && pkts_rcvd != 0; }
  uint64_t active_as_client() const { return flows_as_client - ended_as_client; }
  uint64_t active_as_server() const { return flows_as_server - ended_as_server; }
  void reset_contacts();
};

struct NetworkTotals {
  NetDelta traffic;      // cumulative since start
  uint64_t hosts = 0;    // hosts of this network in the table now
};

struct HostTableCounters {
  uint64_t merges = 0;            // partials merged
  uint64_t evicted_capacity = 0;  // hosts evicted because the table was full
  uint64_t evicted_idle = 0;      // hosts purged after hosts.idle_timeout
  uint64_t created = 0;
};

class HostTable {
 public:
  HostTable(const HostsConfig& config, std::vector<Cidr> networks);

  // Adds a worker's partial; the caller clears it and gives it back.
  void merge(const HostPartial& p);
  // Purges hosts idle for hosts.idle_timeout at `now_ns` (the control clock).
  void expire(uint64_t now_ns);
  // A flow alert's score, for host.score() of both ends.
  void add_flow_alert(const HostKey& a, const HostKey& b, uint32_t score, uint64_t time_ns);

  const Host* find(const HostKey& k) const;
  Host* find(const HostKey& k);
  size_t size() const { return hosts_.size(); }
  size_t local_hosts() const;
  // Keys in ascending (IP version, IP, VLAN) order: the order of host runs.
  std::vector<HostKey> sorted_keys() const;
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [k, h] : hosts_) fn(h);
  }

  const std::vector<Cidr>& networks() const { return networks_; }
  const NetworkTotals& network(size_t id) const { return nets_[id]; }
  const HostTableCounters& counters() const { return counters_; }

 private:
  Host& get(const HostKey& k, int16_t network);
  void evict(std::unordered_map<HostKey, Host, HostKeyHash>::iterator it);
  void roll_score(Host& h, uint64_t time_ns);

  HostsConfig config_;
  std::vector<Cidr> networks_;
  std::unordered_map<HostKey, Host, HostKeyHash> hosts_;
  std::list<HostKey> lru_;  // most recently merged first
  std::vector<NetworkTotals> nets_;
  HostTableCounters counters_;
};

}  // namespace loupe
