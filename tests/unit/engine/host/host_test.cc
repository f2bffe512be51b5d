// The host table's two halves: a worker's partials (HostAccounting) and the
// control core's merge (HostTable), driven with flow entries built by hand.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "engine/host/distinct.h"
#include "engine/host/host_accounting.h"
#include "engine/host/host_table.h"

namespace loupe {
namespace {

constexpr uint64_t kS = 1'000'000'000ULL;

HostKey v4(const char* ip, uint16_t vlan = 0) {
  uint8_t a[16] = {0};
  inet_pton(AF_INET, ip, a);
  return make_host_key(a, 4, vlan);
}

Cidr net(const char* ip, uint8_t prefix) {
  Cidr c;
  c.address.family = 4;
  inet_pton(AF_INET, ip, c.address.bytes.data());
  c.prefix = prefix;
  return c;
}

// A flow from `cli` to `srv` in canonical order, as the flow table keeps it.
Flow make_flow(const char* cli, uint16_t cport, const char* srv, uint16_t sport, uint8_t proto,
               uint64_t id, uint64_t first_ns) {
  Flow f{};
  uint8_t a[16] = {0}, b[16] = {0};
  inet_pton(AF_INET, cli, a);
  inet_pton(AF_INET, srv, b);
  const bool swap = std::memcmp(a, b, 16) > 0;
  std::memcpy(f.key.addr[0], swap ? b : a, 16);
  std::memcpy(f.key.addr[1], swap ? a : b, 16);
  f.key.port[0] = swap ? sport : cport;
  f.key.port[1] = swap ? cport : sport;
  f.key.proto = proto;
  f.key.ip_version = 4;
  f.client = swap ? 1 : 0;
  f.flow_id = id;
  f.in_use = 1;
  f.first_ns = first_ns;
  f.last_ns = first_ns;
  return f;
}

void send(Flow& f, bool from_client, uint64_t bytes, uint64_t at_ns) {
  const int side = from_client ? f.client : f.client ^ 1;
  f.pkts[side]++;
  f.bytes[side] += bytes;
  f.last_ns = at_ns;
}

struct Rig {
  HostsConfig config;
  std::vector<Flow> flows = std::vector<Flow>(8);
  LocalNetworks nets{std::vector<Cidr>{net("10.0.0.0", 8), net("10.1.0.0", 16)}};
  HostAccounting acc;
  HostTable table;

  explicit Rig(HostsConfig c = {})
      : config(c),
        acc(config, flows.data(), static_cast<uint32_t>(flows.size()), nets),
        table(config, nets.nets()) {}

  // A packet of flow `idx`, accounted as the worker does it.
  void packet(uint32_t idx, bool created, bool from_client, uint64_t bytes, uint64_t at_ns) {
    acc.on_packet(idx, flows[idx], created);
    send(flows[idx], from_client, bytes, at_ns);
    acc.advance(at_ns);
  }
  // The control core's merge of whatever was handed over.
  void merge() {
    if (HostPartial* p = acc.mailbox().take()) {
      table.merge(*p);
      p->clear();
      acc.mailbox().give_back(p);
    }
  }
  const Host& host(const char* ip) {
    const Host* h = table.find(v4(ip));
    EXPECT_NE(h, nullptr) << ip;
    static Host none;
    return h ? *h : none;
  }
};

TEST(HostAccounting, TrafficReachesBothHostsAndTheirNetworks) {
  Rig r;
  r.flows[0] = make_flow("10.1.2.3", 40000, "8.8.8.8", 443, 6, 1, 100 * kS);
  r.acc.advance(100 * kS);  // the clock starts
  r.packet(0, true, true, 300, 100 * kS + 1);
  r.packet(0, false, false, 2000, 100 * kS + 2);
  r.merge();
  EXPECT_EQ(r.table.size(), 0u) << "nothing is handed over before the period ends";
  r.acc.advance(101 * kS);
  r.merge();
  const Host& cli = r.host("10.1.2.3");
  EXPECT_EQ(cli.bytes_sent, 300u);
  EXPECT_EQ(cli.bytes_rcvd, 2000u);
  EXPECT_EQ(cli.pkts_sent, 1u);
  EXPECT_EQ(cli.flows_as_client, 1u);
  EXPECT_EQ(cli.flows_as_server, 0u);
  EXPECT_EQ(cli.network, 1) << "the most specific local network wins";
  const Host& srv = r.host("8.8.8.8");
  EXPECT_EQ(srv.bytes_sent, 2000u);
  EXPECT_EQ(srv.flows_as_server, 1u);
  EXPECT_FALSE(srv.is_local());
  const NetDelta& n = r.table.network(1).traffic;
  EXPECT_EQ(n.bytes_sent, 300u);
  EXPECT_EQ(n.egress_bytes, 300u);
  EXPECT_EQ(n.ingress_bytes, 2000u);
  EXPECT_EQ(r.table.network(1).hosts, 1u);
  EXPECT_EQ(r.table.network(0).hosts, 0u);

  // More traffic in a later period, then the end: totals, not double counts.
  r.packet(0, false, true, 100, 105 * kS);  // ends the period of 101 s: handed over
  r.merge();
  r.acc.on_flow_end(0, r.flows[0]);
  r.flows[0].in_use = 0;  // as the flow table frees the entry
  r.acc.advance(106 * kS);
  r.merge();
  EXPECT_EQ(r.host("10.1.2.3").bytes_sent, 400u);
  EXPECT_EQ(r.host("10.1.2.3").flows_as_client, 1u);
  EXPECT_EQ(r.host("10.1.2.3").active_as_client(), 0u);
  EXPECT_EQ(r.host("10.1.2.3").unidir_as_client, 0u);
  EXPECT_EQ(r.table.network(1).traffic.egress_bytes, 400u);
}

TEST(HostAccounting, OneWayFlowsAreUnansweredContacts) {
  Rig r;
  r.acc.advance(10 * kS);
  // A scan: 10.0.0.1 tries 5 ports of 10.0.0.2 (UDP), none answered, and
  // one port of 10.0.0.3 twice.
  for (uint32_t i = 0; i < 5; i++) {
    r.flows[i] = make_flow("10.0.0.1", 5000, "10.0.0.2", static_cast<uint16_t>(100 + i), 17,
                           10 + i, 10 * kS + i);
    r.packet(i, true, true, 60, 10 * kS + i);
  }
  r.flows[5] = make_flow("10.0.0.1", 5001, "10.0.0.3", 100, 17, 20, 10 * kS);
  r.packet(5, true, true, 60, 10 * kS + 10);
  r.flows[6] = make_flow("10.0.0.1", 5002, "10.0.0.3", 100, 17, 21, 10 * kS);
  r.packet(6, true, true, 60, 10 * kS + 11);
  for (uint32_t i = 0; i < 7; i++) {
    r.acc.on_flow_end(i, r.flows[i]);
    r.flows[i].in_use = 0;
  }
  r.acc.advance(12 * kS);
  r.merge();
  const Host& scanner = r.host("10.0.0.1");
  EXPECT_EQ(scanner.ports_noreply.estimate(), 5u) << "udp/100..104: port 100 counted once";
  EXPECT_EQ(scanner.peers_noreply.estimate(), 2u);
  EXPECT_EQ(scanner.unidir_as_client, 7u);
  EXPECT_EQ(r.host("10.0.0.2").clients_noreply.estimate(), 1u);
  EXPECT_EQ(r.host("10.0.0.2").unidir_as_server, 5u);
  EXPECT_TRUE(r.host("10.0.0.2").rx_only());
  const NetDelta& n = r.table.network(0).traffic;
  EXPECT_EQ(n.inner_bytes, 7u * 60);
  EXPECT_EQ(n.egress_bytes, 0u);
  r.table.find(v4("10.0.0.1"))->reset_contacts();
  EXPECT_EQ(r.host("10.0.0.1").ports_noreply.estimate(), 0u);
}

TEST(HostAccounting, ProtocolsAreCountedOncePerFlow) {
  Rig r;
  r.acc.advance(1 * kS);
  r.flows[0] = make_flow("10.0.0.1", 1000, "1.1.1.1", 53, 17, 1, 1 * kS);
  r.packet(0, true, true, 80, 1 * kS + 1);
  r.flows[0].l7_status = kL7Done;
  r.flows[0].l7.app = 5;  // some nDPI id
  r.packet(0, false, false, 120, 1 * kS + 2);
  r.acc.advance(2 * kS);
  r.merge();
  r.packet(0, false, true, 80, 2 * kS + 5);
  r.acc.on_flow_end(0, r.flows[0]);
  r.flows[0].in_use = 0;
  r.acc.advance(3 * kS);
  r.merge();
  const Host& h = r.host("10.0.0.1");
  ASSERT_EQ(h.l7.size(), 1u);
  const HostL7& l = h.l7.begin()->second;
  EXPECT_EQ(h.l7.begin()->first, 5u);
  EXPECT_EQ(l.flows, 1u);
  EXPECT_EQ(l.bytes_sent, 160u);
  EXPECT_EQ(l.bytes_rcvd, 120u);
}

TEST(HostAccounting, ALateControlCoreLosesNothing) {
  Rig r;
  r.acc.advance(1 * kS);
  r.flows[0] = make_flow("10.0.0.1", 1000, "10.0.0.9", 80, 6, 1, 1 * kS);
  uint64_t sent = 0;
  for (uint64_t s = 1; s < 6; s++) {
    r.packet(0, s == 1, true, 100, s * kS + 1);
    sent += 100;
    r.acc.advance((s + 1) * kS);  // the control core takes nothing meanwhile
  }
  EXPECT_GT(r.acc.counters().late_periods.get(), 0u);
  r.merge();
  r.acc.advance(7 * kS);  // hands over what it kept filling
  r.merge();
  EXPECT_EQ(r.host("10.0.0.1").bytes_sent, sent);
}

TEST(HostAccounting, AFullPartialDropsAndCounts) {
  HostsConfig c;
  c.partial_entries = 64;
  Rig r(c);
  std::vector<Flow> many(200);
  HostAccounting acc(c, many.data(), 200, r.nets);
  acc.advance(1 * kS);
  for (uint32_t i = 0; i < 200; i++) {
    char ip[32];
    std::snprintf(ip, sizeof(ip), "20.0.%u.%u", i / 250, i % 250 + 1);
    many[i] = make_flow(ip, 1000, "30.0.0.1", 80, 6, i + 1, 1 * kS);
    acc.on_packet(i, many[i], true);
    send(many[i], true, 10, 1 * kS + i);
  }
  acc.advance(2 * kS);
  // 201 hosts (the server is shared): what the partial could not take is
  // counted, none is lost silently.
  HostPartial* p = acc.mailbox().take();
  ASSERT_NE(p, nullptr);
  EXPECT_LT(p->used(), 201u);
  EXPECT_EQ(p->used() + acc.counters().dropped_entries.get(), 201u);
}

TEST(HostTable, CapacityEvictsTheLeastRecentlySeenAndIdleHostsLeave) {
  HostsConfig c;
  c.max_hosts = 16;
  c.idle_timeout = 60;
  HostTable t(c, {});
  HostPartial p(64, 64, 0);
  for (int i = 0; i < 20; i++) {
    char ip[32];
    std::snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
    PartialEntry* e = p.entry(v4(ip), 0, 0, -1);
    e->bytes_sent = 1;
    e->first_ns = e->last_ns = static_cast<uint64_t>(i + 1) * kS;
    t.merge(p);  // one host per merge: 192.0.2.1 is the least recently merged
    p.clear();
  }
  EXPECT_EQ(t.size(), 16u);
  EXPECT_EQ(t.counters().evicted_capacity, 4u);
  EXPECT_EQ(t.find(v4("192.0.2.1")), nullptr);
  EXPECT_NE(t.find(v4("192.0.2.20")), nullptr);
  t.expire(70 * kS);  // last seen 5..20 s: those before 10 s are idle for 60 s
  EXPECT_EQ(t.counters().evicted_idle, 6u);
  EXPECT_EQ(t.size(), 10u);
  const std::vector<HostKey> keys = t.sorted_keys();
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

TEST(HostTable, FlowAlertScoresCountForTheLastCompletedMinute) {
  HostTable t(HostsConfig{}, {});
  HostPartial p(64, 64, 0);
  p.entry(v4("10.0.0.1"), 0, 0, -1)->bytes_sent = 1;
  p.entry(v4("10.0.0.2"), 0, 0, -1)->bytes_sent = 1;
  t.merge(p);
  t.add_flow_alert(v4("10.0.0.1"), v4("10.0.0.2"), 40, 120 * kS + 5);
  t.add_flow_alert(v4("10.0.0.1"), v4("10.0.0.3"), 30, 150 * kS);
  EXPECT_EQ(t.find(v4("10.0.0.1"))->last_minute_flow_score(170 * kS), 0u) << "minute still running";
  EXPECT_EQ(t.find(v4("10.0.0.1"))->last_minute_flow_score(185 * kS), 70u);
  EXPECT_EQ(t.find(v4("10.0.0.2"))->last_minute_flow_score(185 * kS), 40u);
  EXPECT_EQ(t.find(v4("10.0.0.1"))->last_minute_flow_score(245 * kS), 0u) << "older than a minute";
}

TEST(DistinctCounter, ExactThenWithinTwoPercent) {
  DistinctCounter d;
  for (uint64_t i = 0; i < 500; i++) d.add(mix64(i)), d.add(mix64(i));
  EXPECT_TRUE(d.exact());
  EXPECT_EQ(d.estimate(), 500u);
  std::mt19937_64 rng(7);
  for (uint64_t n : {2000u, 20000u, 200000u}) {
    DistinctCounter e;
    for (uint64_t i = 0; i < n; i++) e.add(mix64(rng()));
    const double err = std::abs(static_cast<double>(e.estimate()) - n) / n;
    EXPECT_LT(err, 0.02) << n << " values estimated as " << e.estimate();
  }
}

}  // namespace
}  // namespace loupe
