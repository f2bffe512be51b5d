// The checks shipped in scripts/ (the default drop-in directory): the set
// loads, and each check fires on a flow that should trigger it and stays
// quiet on one that should not.
#include <gtest/gtest.h>

#include "build_info.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

struct Shipped {
  KeptAlerts alerts;
  KeptLog log;
  GenerationResult result;
  std::unique_ptr<WorkerScripts> ws;

  Shipped() {
    GenerationInputs in;
    in.ndpi = &ndpi();
    in.scripts_dir = std::string(LOUPE_SOURCE_ROOT) + "/scripts";
    in.log = &log;
    result = build_generation(in);
    if (result.generation == nullptr) return;
    ws = build_worker(result.generation, 0, 1024);
    if (ws) ws->set_sinks(&alerts, &log);
  }
  // Runs a flow's whole life; returns the keys of the scripts that alerted.
  std::vector<std::string> run(TestFlow& f, uint32_t idx = 1) {
    alerts.records.clear();
    ws->on_flow_begin(idx, f.view(), f.flow.first_ns);
    ws->on_protocol_detected(idx, f.view(), f.flow.first_ns);
    ws->on_packet(idx, f.view(), f.flow.last_ns);
    ws->on_flow_end(idx, f.view(), f.flow.last_ns);
    ws->forget_flow(idx);
    std::vector<std::string> keys;
    for (const AlertRecord& r : alerts.records) keys.emplace_back(r.script_key_view());
    return keys;
  }
};

using Keys = std::vector<std::string>;

TEST(ShippedChecks, TheSetLoadsWithoutWarnings) {
  Shipped s;
  ASSERT_NE(s.result.generation, nullptr) << joined(s.result.errors);
  EXPECT_TRUE(s.result.warnings.empty()) << joined(s.result.warnings);
  EXPECT_EQ(s.result.generation->slots, 5);
  EXPECT_NE(s.ws, nullptr);
}

TEST(ShippedChecks, ClearTextCredentials) {
  Shipped s;
  TestFlow bad("10.0.0.5", 40000, "192.0.2.80", 80);
  bad.detect(0, 7, uint64_t{1} << 36);
  bad.meta.add(MetaField::http_host, "intranet.example");
  EXPECT_EQ(s.run(bad), Keys{"flow/clear_text_credentials"});
  const AlertRecord& a = s.alerts.records[0];
  EXPECT_EQ(a.score, 100);
  EXPECT_EQ(a.message_view(),
            "credentials sent in clear text (HTTP) from 10.0.0.5 to 192.0.2.80:80");
  EXPECT_NE(a.details_view().find("\"host\":\"intranet.example\""), std::string::npos);
  TestFlow good("10.0.0.5", 40000, "192.0.2.80", 80);
  good.detect(0, 7, uint64_t{1} << 8);  // another risk
  EXPECT_EQ(s.run(good), Keys{});
}

TEST(ShippedChecks, DnsTunnel) {
  Shipped s;
  TestFlow tunnel("10.0.0.5", 40000, "192.0.2.53", 53, 17);
  tunnel.detect(0, 5);
  tunnel.meta.add(MetaField::dns_query, "a9x7q2mzk4v8w1r5t3y6u0p2l8s4d7f1g5h9.t.example.net");
  EXPECT_EQ(s.run(tunnel), Keys{"flow/dns_tunnel"});
  EXPECT_NE(s.alerts.records[0].message_view().find("random-looking DNS label"), std::string::npos);
  TestFlow longname("10.0.0.5", 40000, "192.0.2.53", 53, 17);
  longname.detect(0, 5);
  longname.meta.add(MetaField::dns_query, std::string(120, 'a').insert(60, ".") + ".example.net");
  EXPECT_EQ(s.run(longname), Keys{"flow/dns_tunnel"});
  TestFlow normal("10.0.0.5", 40000, "192.0.2.53", 53, 17);
  normal.detect(0, 5);
  normal.meta.add(MetaField::dns_query, "www.googleusercontent.example.com");
  EXPECT_EQ(s.run(normal), Keys{});
  TestFlow cdn("10.0.0.5", 40000, "192.0.2.53", 53, 17);
  cdn.detect(0, 5);
  cdn.meta.add(MetaField::dns_query, "r3---sn-uxax4vopj5qx-q0nl.googlevideo.com");
  EXPECT_EQ(s.run(cdn), Keys{});
}

TEST(ShippedChecks, TlsSniBlocklist) {
  Shipped s;
  TestFlow bad("10.0.0.5", 40000, "192.0.2.44", 443);
  bad.detect(91, 0);
  bad.meta.add(MetaField::tls_sni, "CDN.C2.Example.Invalid");
  EXPECT_EQ(s.run(bad), Keys{"flow/tls_sni_blocklist"});
  EXPECT_NE(s.alerts.records[0].details_view().find("\"entry\":\"c2.example.invalid\""),
            std::string::npos);
  TestFlow good("10.0.0.5", 40000, "192.0.2.44", 443);
  good.detect(91, 0);
  good.meta.add(MetaField::tls_sni, "www.example.com");
  EXPECT_EQ(s.run(good), Keys{});
  TestFlow not_tls("10.0.0.5", 40000, "192.0.2.44", 80);
  not_tls.detect(0, 7);
  not_tls.meta.add(MetaField::http_host, "blocked.invalid");
  EXPECT_EQ(s.run(not_tls), Keys{});
}

TEST(ShippedChecks, Ja3Blocklist) {
  Shipped s;
  TestFlow bad("10.0.0.5", 40000, "192.0.2.44", 443);
  bad.detect(91, 0);
  bad.meta.add(MetaField::tls_ja3, "00000000000000000000000000000BAD");
  EXPECT_EQ(s.run(bad), Keys{"flow/ja3_blocklist"});
  TestFlow flagged("10.0.0.5", 40000, "192.0.2.44", 443);
  flagged.detect(91, 0, uint64_t{1} << 28);  // NDPI_MALICIOUS_JA3
  flagged.meta.add(MetaField::tls_ja3, "e7d705a3286e19ea42f587b344ee6865");
  EXPECT_EQ(s.run(flagged), Keys{"flow/ja3_blocklist"});
  TestFlow good("10.0.0.5", 40000, "192.0.2.44", 443);
  good.detect(91, 0);
  good.meta.add(MetaField::tls_ja3, "e7d705a3286e19ea42f587b344ee6865");
  EXPECT_EQ(s.run(good), Keys{});
}

TEST(ShippedChecks, LargeOneWay) {
  Shipped s;
  TestFlow big("10.0.0.5", 40000, "192.0.2.9", 9000, 17);
  big.flow.pkts[1] = 0;
  big.flow.bytes[1] = 0;
  big.flow.bytes[0] = 150'000'000;
  big.flow.last_ns = big.flow.first_ns + 61'000'000'000ull;
  EXPECT_EQ(s.run(big), Keys{"flow/large_oneway"});  // once: at 60 s, not again at the end
  EXPECT_EQ(s.alerts.records[0].message_view(),
            "one-way flow of 150000000 bytes from 10.0.0.5 to 192.0.2.9:9000");
  TestFlow two_way("10.0.0.5", 40000, "192.0.2.9", 9000, 17);
  two_way.flow.bytes[0] = 150'000'000;
  EXPECT_EQ(s.run(two_way), Keys{});
  TestFlow small("10.0.0.5", 40000, "192.0.2.9", 9000, 17);
  small.flow.pkts[1] = 0;
  EXPECT_EQ(s.run(small), Keys{});
}

}  // namespace
}  // namespace loupe::test
