#include "engine/host/host_table.h"

#include <algorithm>

namespace loupe {
namespace {
constexpr uint64_t kNsPerSec = 1'000'000'000ULL;
constexpr uint32_t kScoreCap = 65535;
}  // namespace

void Host::reset_contacts() {
  peers_noreply.clear();
  clients_noreply.clear();
  ports_noreply.clear();
  unidir_as_client = 0;
  unidir_as_server = 0;
}

HostTable::HostTable(const HostsConfig& config, std::vector<Cidr> networks)
    : config_(config), networks_(std::move(networks)), nets_(networks_.size()) {
  hosts_.reserve(std::min<uint32_t>(config.max_hosts, 1u << 16));
}

Host& HostTable::get(const HostKey& k, int16_t network) {
  auto it = hosts_.find(k);
  if (it != hosts_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (hosts_.size() >= config_.max_hosts && !lru_.empty()) {
    evict(hosts_.find(lru_.back()));
    counters_.evicted_capacity++;
  }
  Host& h = hosts_[k];
  h.key = k;
  h.network = network;
  lru_.push_front(k);
  h.lru = lru_.begin();
  if (network >= 0) nets_[static_cast<size_t>(network)].hosts++;
  counters_.created++;
  return h;
}

void HostTable::evict(std::unordered_map<HostKey, Host, HostKeyHash>::iterator it) {
  if (it->second.network >= 0) nets_[static_cast<size_t>(it->second.network)].hosts--;
  lru_.erase(it->second.lru);
  hosts_.erase(it);
}

void HostTable::merge(const HostPartial& p) {
  counters_.merges++;
  p.for_each([&](const PartialEntry& e) {
    Host& h = get(e.host, e.network);
    h.bytes_sent += e.bytes_sent;
    h.bytes_rcvd += e.bytes_rcvd;
    h.pkts_sent += e.pkts_sent;
    h.pkts_rcvd += e.pkts_rcvd;
    h.flows_as_client += e.flows_as_client;
    h.flows_as_server += e.flows_as_server;
    h.ended_as_client += e.ended_as_client;
    h.ended_as_server += e.ended_as_server;
    h.unidir_as_client += e.unidir_as_client;
    h.unidir_as_server += e.unidir_as_server;
    if (h.first_ns == 0 || (e.first_ns != 0 && e.first_ns < h.first_ns)) h.first_ns = e.first_ns;
    if (e.last_ns > h.last_ns) h.last_ns = e.last_ns;
    if (e.bytes_sent | e.bytes_rcvd | e.l7_flows) {
      HostL7& l = h.l7[uint32_t{e.l7_master} << 16 | e.l7_app];
      l.bytes_sent += e.bytes_sent;
      l.bytes_rcvd += e.bytes_rcvd;
      l.pkts_sent += e.pkts_sent;
      l.pkts_rcvd += e.pkts_rcvd;
      l.flows += e.l7_flows;
    }
  });
  for (uint32_t i = 0; i < p.contact_count(); i++) {
    const ContactEvent& c = p.contacts()[i];
    // Both hosts are in the table: the flow's traffic was merged above.
    if (Host* cli = find(c.client)) {
      cli->peers_noreply.add(mix64(host_hash(c.server)) ^ mix64(c.server.vlan));
      cli->ports_noreply.add(mix64(uint64_t{c.proto} << 16 | c.server_port));
    }
    if (Host* srv = find(c.server))
      srv->clients_noreply.add(mix64(host_hash(c.client)) ^ mix64(c.client.vlan));
  }
  const auto& nets = p.networks();
  for (size_t i = 0; i < nets.size() && i < nets_.size(); i++) {
    NetDelta& t = nets_[i].traffic;
    const NetDelta& d = nets[i];
    t.bytes_sent += d.bytes_sent;
    t.bytes_rcvd += d.bytes_rcvd;
    t.pkts_sent += d.pkts_sent;
    t.pkts_rcvd += d.pkts_rcvd;
    t.ingress_bytes += d.ingress_bytes;
    t.ingress_pkts += d.ingress_pkts;
    t.egress_bytes += d.egress_bytes;
    t.egress_pkts += d.egress_pkts;
    t.inner_bytes += d.inner_bytes;
    t.inner_pkts += d.inner_pkts;
  }
}

void HostTable::expire(uint64_t now_ns) {
  const uint64_t idle = uint64_t{config_.idle_timeout} * kNsPerSec;
  while (!lru_.empty()) {
    auto it = hosts_.find(lru_.back());
    if (it->second.last_ns + idle > now_ns) break;
    evict(it);
    counters_.evicted_idle++;
  }
}

void HostTable::roll_score(Host& h, uint64_t time_ns) {
  const uint64_t minute = time_ns / (60 * kNsPerSec);
  if (minute == h.score_minute) return;
  h.flow_score_last = minute == h.score_minute + 1 ? h.flow_score_cur : 0;
  h.flow_score_cur = 0;
  h.score_minute = minute;
}

void HostTable::add_flow_alert(const HostKey& a, const HostKey& b, uint32_t score,
                               uint64_t time_ns) {
  for (const HostKey* k : {&a, &b}) {
    Host* h = find(*k);
    if (h == nullptr) continue;
    roll_score(*h, time_ns);
    h->flow_score_cur = std::min(kScoreCap, h->flow_score_cur + score);
  }
}

const Host* HostTable::find(const HostKey& k) const {
  auto it = hosts_.find(k);
  return it == hosts_.end() ? nullptr : &it->second;
}

Host* HostTable::find(const HostKey& k) {
  auto it = hosts_.find(k);
  return it == hosts_.end() ? nullptr : &it->second;
}

size_t HostTable::local_hosts() const {
  size_t n = 0;
  for (const NetworkTotals& t : nets_) n += t.hosts;
  return n;
}

std::vector<HostKey> HostTable::sorted_keys() const {
  std::vector<HostKey> keys;
  keys.reserve(hosts_.size());
  for (const auto& [k, h] : hosts_) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace loupe
