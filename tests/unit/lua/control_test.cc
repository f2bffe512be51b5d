// The control VM (contract §2.6-§2.8, §3.5, §4.2, §4.3, §4.5, §4.7.3): host,
// network and periodic scripts over a host table filled from partials, with
// a real alert pipeline and the period clock driven by hand.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_scripts.h"
#include "lua_test_util.h"

namespace loupe::test {
namespace {

constexpr uint64_t kMin = 1'700'000'040;  // a minute boundary (epoch s)
constexpr uint64_t kS = 1'000'000'000ULL;

HostKey key(const char* text, uint16_t vlan = 0) {
  const IpAddress a = ip(text);
  return make_host_key(a.bytes.data(), a.family, vlan);
}

Cidr cidr(const char* addr, uint8_t prefix) {
  Cidr c;
  c.address = ip(addr);
  c.prefix = prefix;
  return c;
}

struct Control {
  std::vector<Cidr> nets{cidr("10.0.0.0", 24), cidr("192.168.1.0", 24)};
  HostTable table{HostsConfig{}, nets};
  AlertPipeline pipeline{[] {
    AlertsConfig c;
    c.file = "";
    c.max_per_minute = 0;
    c.max_per_script_per_second = 0;
    return c;
  }(), &ndpi()};
  ControlServices services;
  ControlState state;
  KeptLog log;
  GenerationResult gen;
  std::vector<std::string> errors, warnings;
  std::unique_ptr<ControlScripts> cs;

  explicit Control(Files files) {
    // 10.0.0.1 talks to 8.8.8.8 (DNS) and scans 10.0.0.2; 192.168.1.7 only receives.
    HostPartial p(1024, 64, 2);
    auto add = [&](const char* host, int16_t net, uint16_t app, uint64_t sent, uint64_t rcvd,
                   uint32_t flows) {
      PartialEntry* e = p.entry(key(host), 0, app, net);
      e->bytes_sent += sent;
      e->bytes_rcvd += rcvd;
      e->pkts_sent += sent ? 1 : 0;
      e->pkts_rcvd += rcvd ? 1 : 0;
      e->flows_as_client += flows;
      e->l7_flows += flows;
      e->first_ns = (kMin - 30) * kS;
      e->last_ns = (kMin - 1) * kS;
    };
    add("10.0.0.1", 0, 5, 1000, 4000, 2);  // 5: DNS in nDPI
    add("10.0.0.1", 0, 0, 300, 0, 3);
    add("8.8.8.8", -1, 5, 4000, 1000, 0);
    add("10.0.0.2", 0, 0, 0, 300, 0);
    add("192.168.1.7", 1, 0, 0, 50, 0);
    for (uint16_t port = 1; port <= 3; port++)
      p.add_contact({key("10.0.0.1"), key("10.0.0.2"), port, 6});
    table.merge(p);
    services.hosts = &table;
    services.alerts = &pipeline;
    gen = build_set(std::move(files), LuaConfig{}, nets, &log);
    if (!gen.generation) return;
    cs = ControlScripts::build(gen.generation, &services, &state, &errors, &warnings);
  }
  std::vector<std::string> lines(const std::string& script) const { return log.of(script); }
  std::vector<const StoredAlert*> alerts(AlertStatusFilter status = AlertStatusFilter::kAny) {
    AlertQuery q;
    q.status = status;
    q.ascending = true;
    return pipeline.query(q).first;
  }
};

TEST(ControlScripts, HostHooksRunPerHostInKeyOrderWithTheLocalGate) {
  Control c(Files{{"host/a.lua", R"(
local m = { local_only = true, hooks = {} }
function m.hooks.min(params)
  print(params.granularity, params.when, host.ip(), host.vlan_id(), tostring(host.is_local()),
        params.alert_entity.entity_type, params.alert_entity.entity_val,
        params.entity_info["bytes.sent"], params.script_key)
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.gen.errors) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  const auto l = c.lines("host/a");
  ASSERT_EQ(l.size(), 3u) << joined(c.log.lines);
  EXPECT_EQ(l[0], "min\t1700000040\t10.0.0.1\t0\ttrue\thost\t10.0.0.1@0\t1300\thost/a");
  EXPECT_EQ(l[1].substr(0, 19), "min\t1700000040\t10.0");  // 10.0.0.2
  EXPECT_NE(l[1].find("10.0.0.2"), std::string::npos);
  EXPECT_NE(l[2].find("192.168.1.7"), std::string::npos);
  c.cs->run(Granularity::kHour, kMin, false);
  EXPECT_EQ(c.lines("host/a").size(), 3u) << "no hour hook: nothing runs";
}

TEST(ControlScripts, HostFunctionsReadTheMergedTable) {
  Control c(Files{{"host/a.lua", R"(
local m = { hooks = {} }
function m.hooks.min()
  if host.ip() ~= "10.0.0.1" then return end
  local l7 = host.l7()
  print(host.bytes(), host.bytes_sent(), host.bytes_rcvd(), l7.DNS.bytes_sent, l7.DNS.flows,
        l7.DNS["num_flows"], l7.Unknown.bytes_sent,
        host.getNumContactedTCPUDPServerPortsNoTX(), host.getNumContactedPeersAsClientTCPUDPNoTX(),
        tostring(host.is_unicast()), tostring(host.is_multicast()), tostring(host.is_rx_only()),
        host.mac(), host.name())
  host.resetHostContacts()
  print(host.getNumContactedTCPUDPServerPortsNoTX())
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.gen.errors) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  const auto l = c.lines("host/a");
  ASSERT_EQ(l.size(), 2u) << joined(c.log.lines);
  EXPECT_EQ(l[0], "5300\t1300\t4000\t1000\t2\t2\t300\t3\t1\ttrue\tfalse\tfalse\t00:00:00:00:00:00\t10.0.0.1");
  EXPECT_EQ(l[1], "0");
  EXPECT_TRUE(c.table.find(key("10.0.0.2")) != nullptr);
}

TEST(ControlScripts, FirstRunAndSkippedHosts) {
  Control c(Files{{"host/a.lua", R"(
local m = { hooks = {} }
function m.hooks.min(params)
  print(host.ip(), tostring(host.isFirstCheckRun()))
  if host.ip() == "10.0.0.2" then host.skipVisitedHost() end
  if host.ip() == "8.8.8.8" then host.skipVisitedHost(true, params.when + 90) end
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  c.cs->run(Granularity::kMin, kMin + 60, false);
  c.cs->run(Granularity::kMin, kMin + 120, false);
  const auto l = c.lines("host/a");
  // Run 1: four hosts, all first. Run 2: 10.0.0.2 and 8.8.8.8 skipped.
  // Run 3: 8.8.8.8 is back (its skip ended), 10.0.0.2 stays skipped.
  ASSERT_EQ(l.size(), 4u + 2u + 3u) << joined(l);
  EXPECT_EQ(std::count(l.begin(), l.begin() + 4, "10.0.0.1\ttrue"), 1);
  EXPECT_EQ(l[4], "10.0.0.1\tfalse");
  EXPECT_EQ(std::count(l.begin() + 6, l.end(), "8.8.8.8\tfalse"), 1);
  EXPECT_EQ(std::count(l.begin() + 4, l.end(), "10.0.0.2\tfalse"), 0);
}

TEST(ControlScripts, HostAlertsEngageRefreshAndReleaseWithTheRun) {
  Control c(Files{{"host/a.lua", R"(
local m = { hooks = {} }
local runs = 0
function m.hooks.min(params)
  if host.ip() ~= "10.0.0.1" then return end
  runs = runs + 1
  if runs <= 2 then
    print(tostring(host.triggerAlert(60, "busy " .. runs, { run = runs })))
  end
  print("score", host.score())
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  ASSERT_EQ(c.alerts(AlertStatusFilter::kEngaged).size(), 1u);
  c.cs->run(Granularity::kMin, kMin + 60, false);
  auto engaged = c.alerts(AlertStatusFilter::kEngaged);
  ASSERT_EQ(engaged.size(), 1u);
  EXPECT_EQ(engaged[0]->alert.message, "busy 2") << "a refresh replaces the message";
  EXPECT_EQ(engaged[0]->alert.entity_val, "10.0.0.1@0");
  c.cs->run(Granularity::kMin, kMin + 120, false);  // not raised: released at the run's end
  EXPECT_EQ(c.alerts(AlertStatusFilter::kEngaged).size(), 0u);
  c.cs->run(Granularity::kMin, kMin + 180, false);
  const auto past = c.alerts(AlertStatusFilter::kPast);
  ASSERT_EQ(past.size(), 1u);
  EXPECT_EQ(past[0]->status, AlertStatus::kReleased);
  const auto l = c.lines("host/a");
  EXPECT_EQ(l[0], "true");
  EXPECT_EQ(l[1], "score\t60");
  EXPECT_EQ(l.back(), "score\t0");
}

TEST(ControlScripts, NetworkHooksSeeEachLocalNetwork) {
  Control c(Files{{"network/n.lua", R"(
local m = { hooks = {} }
function m.hooks.min(params)
  local s = network.getNetworkStats()
  local prev = network.getCachedAlertValue("seen", "min")
  network.setCachedAlertValue("seen", tostring(s.num_hosts), 0)
  print(s.network_id, s.network_key, s.bytes_sent, s.bytes_rcvd, s.num_hosts, prev,
        params.alert_entity.entity_val)
  if s.network_id == 1 then
    network.storeTriggeredAlert({ score = 20, msg = "quiet", alert_subtype = "x" })
  end
  if params.when > 1700000040 then
    print(tostring(network.releaseTriggeredAlert({ msg = "quiet", alert_subtype = "x" })))
  end
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.gen.errors) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  auto l = c.lines("network/n");
  ASSERT_EQ(l.size(), 2u) << joined(c.log.lines);
  // Host traffic merged from partial entries only (no NetDelta): totals 0,
  // hosts by network.
  EXPECT_EQ(l[0], "0\t10.0.0.0/24\t0\t0\t2\t\t10.0.0.0/24");
  EXPECT_EQ(l[1], "1\t192.168.1.0/24\t0\t0\t1\t\t192.168.1.0/24");
  ASSERT_EQ(c.alerts(AlertStatusFilter::kEngaged).size(), 1u);
  EXPECT_EQ(c.alerts()[0]->alert.entity_val, "192.168.1.0/24");
  c.cs->run(Granularity::kMin, kMin + 60, false);
  l = c.lines("network/n");
  ASSERT_EQ(l.size(), 6u) << joined(l);
  EXPECT_EQ(l[2], "0\t10.0.0.0/24\t0\t0\t2\t2\t10.0.0.0/24") << "the value cached for network 0";
  EXPECT_EQ(l[3], "false") << "network 0 had nothing engaged";
  EXPECT_EQ(l[5], "true");
}

TEST(ControlScripts, PeriodicScriptsListHostsAndAlerts) {
  Control c(Files{{"periodic/p.lua", R"(
local m = { hooks = {} }
function m.hooks.min(params)
  local r = interface.getHostsInfo({ perPage = 2, sortColumn = "bytes" })
  local keys = {}
  for k in pairs(r.hosts) do keys[#keys + 1] = k end
  table.sort(keys)
  print(r.numHosts, table.concat(keys, ","), interface.getNumHosts(), interface.getNumLocalHosts(),
        interface.getLocalHostsInfo().numHosts, interface.getRemoteHostsInfo().numHosts,
        interface.getHostInfo("10.0.0.1")["bytes.rcvd"], tostring(interface.getHostInfo("1.2.3.4")),
        interface.getNumLocalRxOnlyHosts(), params.alert_entity.entity_type, interface.getIfNames()["0"])
  interface.storeTriggeredAlert({ score = 50, msg = "iface", alert_type = "t" })
  local a, n = interface.getAlerts({ alert_type = "t" })
  print(n, a[1].msg, a[1].entity, a[1].status, a[1].severity)
  print(pcall(interface.getAlerts, { status = "nope" }))
end
return m)"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.gen.errors) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  const auto l = c.lines("periodic/p");
  ASSERT_EQ(l.size(), 3u) << joined(c.log.lines);
  EXPECT_EQ(l[0], "4\t10.0.0.1@0,8.8.8.8@0\t4\t3\t3\t1\t4000\tnil\t2\tinterface\tpcap");
  EXPECT_EQ(l[1], "1\tiface\tinterface\tengaged\twarning");
  EXPECT_NE(l[2].find("false"), std::string::npos);
  EXPECT_NE(l[2].find("params.status"), std::string::npos);
}

TEST(ControlScripts, LoadProblemsAreReported) {
  Control bad(Files{{"host/a.lua", "return { hooks = { min = 3 } }"},
               {"host/b.lua", "local m = { hooks = {} } function m.hooks.second() end return m"},
               {"network/c.lua", "syntax error here"}});
  EXPECT_EQ(bad.cs, nullptr);
  const std::string e = joined(bad.errors);
  EXPECT_NE(e.find("host/a.lua: hooks.min: function expected, got number"), std::string::npos) << e;
  EXPECT_NE(e.find("network/c.lua:1:"), std::string::npos) << e;
  EXPECT_NE(joined(bad.warnings).find("host/b.lua: host scripts have no 'second' hook"),
            std::string::npos);
}

TEST(ControlScripts, ABrokenHookIsReportedAndTheOthersRun) {
  Control c(Files{{"periodic/a.lua", "local m = { hooks = {} } function m.hooks.min() error('boom') end return m"},
             {"periodic/b.lua", "local m = { hooks = {} } function m.hooks.min() print('ran') end return m"}});
  ASSERT_NE(c.cs, nullptr) << joined(c.errors);
  c.cs->run(Granularity::kMin, kMin, false);
  EXPECT_EQ(c.lines("periodic/b"), std::vector<std::string>{"ran"});
  EXPECT_TRUE(c.log.contains("boom")) << joined(c.log.lines);
  EXPECT_EQ(c.cs->scripts()[0].errors[static_cast<int>(ErrorKind::kRuntime)], 1u);
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::string out;
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(ShippedHostChecks, UnansweredPortsFiresOnAScannerOnly) {
  const std::string path = std::string(LOUPE_SOURCE_ROOT) + "/scripts/host/unanswered_ports.lua";
  Control c(Files{{"host/unanswered_ports.lua", read_file(path)}});
  ASSERT_NE(c.cs, nullptr) << joined(c.gen.errors) << joined(c.errors);
  // 10.0.0.1 left 3 ports unanswered (quiet); 10.0.0.9 tries 150 ports on 2 hosts.
  HostPartial p(1024, 256, 2);
  p.entry(key("10.0.0.9"), 0, 0, 0)->bytes_sent = 150 * 60;
  for (uint16_t port = 1; port <= 150; port++)
    p.add_contact({key("10.0.0.9"), key(port % 2 ? "10.0.0.2" : "10.0.0.1"), port, 6});
  c.table.merge(p);
  c.cs->run(Granularity::kMin, kMin, false);
  auto engaged = c.alerts(AlertStatusFilter::kEngaged);
  ASSERT_EQ(engaged.size(), 1u);
  EXPECT_EQ(engaged[0]->alert.entity_val, "10.0.0.9@0");
  EXPECT_EQ(engaged[0]->alert.score, 80u);
  EXPECT_EQ(engaged[0]->alert.message, "10.0.0.9 contacted 150 server ports on 2 hosts without an answer");
  // The counters were reset: the next quiet minute releases it.
  c.cs->run(Granularity::kMin, kMin + 60, false);
  EXPECT_TRUE(c.alerts(AlertStatusFilter::kEngaged).empty());
  EXPECT_EQ(c.table.find(key("10.0.0.1"))->ports_noreply.estimate(), 0u);
}

TEST(ControlSchedule, PeriodsAlignToTheClock) {
  ControlSchedule s;
  EXPECT_TRUE(s.advance(kMin - 2).empty()) << "the start is not a boundary crossed";
  auto d = s.advance(kMin - 1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].granularity, Granularity::kSecond);
  EXPECT_TRUE(s.advance(kMin - 1).empty());
  d = s.advance(kMin + 2);  // 1700000040 is a minute boundary, not 5 minutes
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].when, kMin);
  EXPECT_EQ(d[1].granularity, Granularity::kMin) << "the finer first, then the minute";
  EXPECT_EQ(d[1].when, kMin);
  EXPECT_EQ(d[3].when, kMin + 2);
  // Two hours later (across midnight UTC, 1700006400): every minute, 5
  // minutes, hour and the day run once each in time order; seconds catch
  // up to kMaxCatchUp, the older ones counted as skipped.
  d = s.advance(kMin + 2 + 7200);
  size_t per[kGranularities] = {};
  for (size_t i = 0; i < d.size(); i++) {
    per[static_cast<int>(d[i].granularity)]++;
    EXPECT_EQ(d[i].when % kGranularitySeconds[static_cast<int>(d[i].granularity)], 0u);
    if (i) {
      EXPECT_LE(d[i - 1].when, d[i].when);
    }
  }
  EXPECT_EQ(per[0], ControlSchedule::kMaxCatchUp);
  EXPECT_EQ(s.skipped(Granularity::kSecond), 7200u - ControlSchedule::kMaxCatchUp);
  EXPECT_EQ(per[1], 120u);
  EXPECT_EQ(per[2], 24u);
  EXPECT_EQ(per[3], 2u);
  EXPECT_EQ(per[4], 1u);
  EXPECT_EQ(s.aligned(Granularity::kDay), 1'700'006'400u);
}

}  // namespace
}  // namespace loupe::test
