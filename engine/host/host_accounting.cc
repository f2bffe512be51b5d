#include "engine/host/host_accounting.h"

#include <netinet/in.h>

#include <cstring>

namespace loupe {
namespace {
constexpr uint64_t kPeriodNs = 1'000'000'000ULL;
}  // namespace

HostAccounting::HostAccounting(const HostsConfig& config, const Flow* flows, uint32_t flow_slots,
                               const LocalNetworks& nets)
    : nets_(nets),
      marks_(flow_slots),
      a_(std::make_unique<HostPartial>(config.partial_entries, config.partial_contacts,
                                       static_cast<uint32_t>(nets.nets().size()))),
      b_(std::make_unique<HostPartial>(config.partial_entries, config.partial_contacts,
                                       static_cast<uint32_t>(nets.nets().size()))),
      period_ns_(kPeriodNs),
      flows_(flows) {
  std::memset(marks_.data(), 0, marks_.size() * sizeof(Mark));
  touched_.reserve(flow_slots);  // every flow at most once per period: never grows
  cur_ = a_.get();
  mailbox_.give_back(b_.get());
}

HostAccounting::~HostAccounting() {
  // Both partials are owned here, wherever they are.
  mailbox_.leftover_full();
  mailbox_.leftover_spare();
}

int16_t HostAccounting::network_of(const uint8_t* addr, uint8_t version) const {
  return static_cast<int16_t>(nets_.most_specific(addr, version));
}

void HostAccounting::account(uint32_t idx, const Flow& f, bool final) {
  Mark& m = marks_[idx];
  const bool fresh = m.flow_id != f.flow_id || !(m.flags & kCounted);
  if (fresh) {
    std::memset(&m, 0, sizeof(m));
    m.flow_id = f.flow_id;
    m.flags = kCounted;
    for (int s = 0; s < 2; s++) m.net[s] = network_of(f.key.addr[s], f.key.ip_version);
  }
  const uint8_t cli = f.client, srv = f.client ^ 1;
  const uint16_t vlan = f.key.vlan[1] ? f.key.vlan[1] : f.key.vlan[0];
  const bool known = f.l7_status == kL7Done;
  const uint16_t master = known ? f.l7.master : 0, app = known ? f.l7.app : 0;
  uint64_t dp[2], db[2];
  for (int s = 0; s < 2; s++) {
    dp[s] = f.pkts[s] - m.pkts[s];
    db[s] = f.bytes[s] - m.bytes[s];
    m.pkts[s] = f.pkts[s];
    m.bytes[s] = f.bytes[s];
  }
  // The protocol is counted once per flow: when it is known, or at the end.
  const bool count_l7 = !(m.flags & kL7Counted) && (known || final);
  if (count_l7) m.flags |= kL7Counted;
  const bool tcp_udp = f.key.proto == IPPROTO_TCP || f.key.proto == IPPROTO_UDP;
  const bool oneway = f.pkts[0] == 0 || f.pkts[1] == 0;
  for (int s = 0; s < 2; s++) {
    const HostKey host = make_host_key(f.key.addr[s], f.key.ip_version, vlan);
    PartialEntry* e = cur_->entry(host, master, app, m.net[s]);
    if (e == nullptr) continue;
    const int o = s ^ 1;
    e->bytes_sent += db[s];
    e->pkts_sent += dp[s];
    e->bytes_rcvd += db[o];
    e->pkts_rcvd += dp[o];
    if (fresh) (s == cli ? e->flows_as_client : e->flows_as_server)++;
    if (count_l7) e->l7_flows++;
    if (final) {
      (s == cli ? e->ended_as_client : e->ended_as_server)++;
      if (tcp_udp && oneway) (s == cli ? e->unidir_as_client : e->unidir_as_server)++;
    }
    const uint64_t seen = fresh ? f.first_ns : f.last_ns;
    if (e->first_ns == 0 || seen < e->first_ns) e->first_ns = seen;
    if (f.last_ns > e->last_ns) e->last_ns = f.last_ns;
  }
  if (m.net[0] >= 0 || m.net[1] >= 0) {
    cur_->touch_networks();
    for (int s = 0; s < 2; s++) {
      if (m.net[s] < 0) continue;
      NetDelta& n = cur_->network(m.net[s]);
      const int o = s ^ 1;
      n.bytes_sent += db[s];
      n.pkts_sent += dp[s];
      n.bytes_rcvd += db[o];
      n.pkts_rcvd += dp[o];
      if (m.net[o] == m.net[s]) {
        if (s == 0) {  // once per flow: both sides are in this network
          n.inner_bytes += db[0] + db[1];
          n.inner_pkts += dp[0] + dp[1];
        }
      } else {
        n.egress_bytes += db[s];
        n.egress_pkts += dp[s];
        n.ingress_bytes += db[o];
        n.ingress_pkts += dp[o];
      }
    }
  }
  if (final && tcp_udp && f.pkts[srv] == 0) {
    ContactEvent c;
    c.client = make_host_key(f.key.addr[cli], f.key.ip_version, vlan);
    c.server = make_host_key(f.key.addr[srv], f.key.ip_version, vlan);
    c.server_port = f.key.port[srv];
    c.proto = f.key.proto;
    cur_->add_contact(c);
  }
  if (final) m.flow_id = 0;
}

void HostAccounting::on_flow_end(uint32_t idx, const Flow& f) { account(idx, f, true); }

void HostAccounting::period_end(uint64_t now_ns) {
  if (next_ns_ == 0) {
    // The first packet: periods are aligned to whole seconds of the clock.
    period_start_ns_ = now_ns - now_ns % period_ns_;
    next_ns_ = period_start_ns_ + period_ns_;
    return;
  }
  drain_touched();
  hand_over(now_ns);
  period_start_ns_ = now_ns - now_ns % period_ns_;
  next_ns_ = period_start_ns_ + period_ns_;
}

void HostAccounting::drain_touched() {
  // Ended flows were accounted at their end (their slot may hold a new flow
  // by now, which put itself on the list too: accounting it twice adds
  // nothing the second time).
  for (uint32_t idx : touched_) {
    const Flow& f = flows_[idx];
    if (f.in_use) account(idx, f, false);
  }
  touched_.clear();
}

void HostAccounting::hand_over(uint64_t now_ns) {
  if (cur_->empty()) return;
  cur_->period_end_ns = now_ns;
  // Read before the hand-over: from then on the control core owns it.
  const uint64_t lost_entries = cur_->dropped_entries(), lost_contacts = cur_->dropped_contacts();
  HostPartial* next = mailbox_.exchange(cur_);
  if (next == cur_) {
    counters_.late_periods.add();
    return;
  }
  counters_.periods.add();
  counters_.dropped_entries.add(lost_entries);
  counters_.dropped_contacts.add(lost_contacts);
  cur_ = next;
}

bool HostAccounting::flush(uint64_t now_ns) {
  drain_touched();
  hand_over(now_ns);
  return cur_->empty();
}

}  // namespace loupe
