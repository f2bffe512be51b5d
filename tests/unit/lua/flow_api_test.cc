// Each flow.* function (contract §4.1) against a synthetic flow whose values
// are known; the hook prints what it reads and the test compares lines.
#include <gtest/gtest.h>

#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

// Runs `body` as a protocolDetected hook on `f`; returns the script's lines.
std::vector<std::string> run_hook(TestFlow& f, const std::string& body, std::vector<Cidr> nets = {},
                                  KeptAlerts* alerts_out = nullptr) {
  Harness h(Files{{"flow/t.lua",
                   "local c = {hooks = {}}\nfunction c.hooks.protocolDetected(now, conf)\n" + body +
                       "\nend\nreturn c\n"}},
            LuaConfig{}, std::move(nets));
  EXPECT_TRUE(h.ok()) << h.errors();
  if (!h.ok()) return {};
  h.ws->on_flow_begin(7, f.view(), kNow);
  h.ws->on_protocol_detected(7, f.view(), kNow);
  if (alerts_out != nullptr) *alerts_out = h.alerts;
  return h.log.of("flow/t");
}

std::string one(TestFlow& f, const std::string& expr, std::vector<Cidr> nets = {}) {
  const auto lines = run_hook(f, "print(" + expr + ")", std::move(nets));
  return lines.empty() ? "<none>" : lines[0];
}

TEST(FlowApi, EndpointsFollowTheClientNotTheCanonicalOrder) {
  for (uint8_t side : {0, 1}) {
    TestFlow f("192.0.2.7", 51234, "10.0.0.5", 53, 17, side);
    EXPECT_EQ(one(f, "flow.cli(), flow.cli_port(), flow.srv(), flow.srv_port()"),
              "192.0.2.7\t51234\t10.0.0.5\t53");
    EXPECT_EQ(one(f, "flow.cli2srv_bytes(), flow.srv2cli_bytes(), flow.bytes()"),
              "1000\t5000\t6000");
    EXPECT_EQ(one(f, "flow.cli2srv_packets(), flow.srv2cli_packets(), flow.packets()"),
              "10\t5\t15");
  }
}

TEST(FlowApi, Ipv6InRfc5952Form) {
  TestFlow f("2001:db8::1", 443, "2001:db8:0:0:0:0:0:2", 80);
  EXPECT_EQ(one(f, "flow.cli(), flow.srv()"), "2001:db8::1\t2001:db8::2");
}

TEST(FlowApi, ProtocolVlanTimes) {
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2, 17);
  f.flow.key.vlan[0] = 100;
  EXPECT_EQ(one(f, "flow.protocol(), flow.vlan_id()"), "17\t100");
  f.flow.key.vlan[1] = 200;  // QinQ: the innermost tag
  EXPECT_EQ(one(f, "flow.vlan_id()"), "200");
  f.flow.first_ns = 1'700'000'000'123'456'789ull;
  f.flow.last_ns = 1'700'000'002'500'000'000ull;
  EXPECT_EQ(one(f, "string.format('%.6f %.6f', flow.first_seen(), flow.last_seen())"),
            "1700000000.123456 1700000002.500000");
}

TEST(FlowApi, L7IdsAndNames) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 443);
  EXPECT_EQ(one(f, "flow.l7_master_proto(), flow.l7_proto(), flow.l7_proto_name()"),
            "0\t0\tUnknown");
  f.detect(91, 126);  // TLS.Google
  EXPECT_EQ(one(f, "flow.l7_master_proto(), flow.l7_proto(), flow.l7_proto_name()"),
            "91\t126\tTLS.Google");
}

TEST(FlowApi, DirectionAndUnicast) {
  TestFlow f("10.1.2.3", 40000, "192.0.2.9", 80);
  EXPECT_EQ(one(f, "flow.direction()"), "remote2remote");
  const std::vector<Cidr> nets = {*parse_cidr("10.0.0.0/8", nullptr)};
  EXPECT_EQ(one(f, "flow.direction()", nets), "local@remote");
  TestFlow g("192.0.2.9", 40000, "10.1.2.3", 80);
  EXPECT_EQ(one(g, "flow.direction()", nets), "remote@local");
  TestFlow l("10.1.2.3", 40000, "10.9.9.9", 80);
  EXPECT_EQ(one(l, "flow.direction()", nets), "local@local");
  EXPECT_EQ(one(f, "flow.is_unicast()"), "true");
  TestFlow m("10.1.2.3", 5353, "224.0.0.251", 5353, 17);
  EXPECT_EQ(one(m, "flow.is_unicast()"), "false");
  TestFlow b("10.1.2.3", 68, "10.255.255.255", 67, 17);
  EXPECT_EQ(one(b, "flow.is_unicast()", nets), "false");
}

TEST(FlowApi, OneWay) {
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2, 17);
  EXPECT_EQ(one(f, "flow.is_oneway()"), "false");
  f.flow.pkts[1] = 0;
  EXPECT_EQ(one(f, "flow.is_oneway()"), "true");
}

TEST(FlowApi, HttpTable) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 80);
  f.detect(0, 7);
  f.meta.add(MetaField::http_method, "GET");
  f.meta.add(MetaField::http_url, "/index.html?q=1");
  f.meta.add(MetaField::http_host, "www.example.com");
  f.meta.add(MetaField::http_user_agent, "curl/8.0");
  f.meta.add(MetaField::http_content_type, "text/html");
  f.meta.add_u16(MetaField::http_status, 404);
  EXPECT_EQ(one(f,
                "flow.http().method, flow.http().url, flow.http().server_name, "
                "flow.http().user_agent, flow.http().content_type, flow.http().return_code"),
            "GET\t/index.html?q=1\twww.example.com\tcurl/8.0\ttext/html\t404");
  EXPECT_EQ(one(f, "next(flow.dns()), next(flow.ssh()), next(flow.tls_quic())"), "nil\tnil\tnil");
}

TEST(FlowApi, OtherProtocolsGetTheSharedReadOnlyEmptyTable) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 53, 17);
  f.detect(0, 5);
  EXPECT_EQ(one(f, "flow.http() == flow.ssh(), next(flow.http())"), "true\tnil");
  const auto lines =
      run_hook(f, "local ok, err = pcall(function() flow.http().x = 1 end) print(ok, err)");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("false\tflow/t.lua:3: attempt to modify read-only table"),
            std::string::npos)
      << lines[0];
}

TEST(FlowApi, DnsTable) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.53", 53, 17);
  f.detect(0, 5);
  f.meta.add(MetaField::dns_query, "www.example.com");
  f.meta.add_u16(MetaField::dns_qtype, 28);
  f.meta.add_u16(MetaField::dns_rcode, 3);
  const uint8_t a1[4] = {192, 0, 2, 1}, a2[4] = {192, 0, 2, 2};
  f.meta.add(MetaField::dns_answer, a1, 4);
  f.meta.add(MetaField::dns_answer, a2, 4);
  EXPECT_EQ(one(f,
                "flow.dns().last_query, flow.dns().last_query_type, flow.dns().last_return_code, "
                "flow.dns().replies_as_string, flow.dns().invalid_chars_in_query"),
            "www.example.com\t28\t3\t192.0.2.1,192.0.2.2\tfalse");
}

TEST(FlowApi, SshTable) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.22", 22);
  f.detect(0, 92);
  f.meta.add(MetaField::ssh_client, "SSH-2.0-OpenSSH_9.2");
  f.meta.add(MetaField::ssh_server, "SSH-2.0-dropbear");
  f.meta.add(MetaField::ssh_hassh_client, "aaaa");
  f.meta.add(MetaField::ssh_hassh_server, "bbbb");
  EXPECT_EQ(one(f,
                "flow.ssh().client_signature, flow.ssh().server_signature, "
                "flow.ssh().hassh_client, flow.ssh().hassh_server"),
            "SSH-2.0-OpenSSH_9.2\tSSH-2.0-dropbear\taaaa\tbbbb");
}

TEST(FlowApi, TlsTableAndAlias) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 443);
  f.detect(91, 0, uint64_t{1} << 8);  // NDPI_TLS_WEAK_CIPHER
  f.meta.add(MetaField::tls_sni, "www.example.com");
  f.meta.add(MetaField::tls_san, "example.com,www.example.com");
  f.meta.add(MetaField::tls_issuer, "CN=Issuer");
  f.meta.add(MetaField::tls_subject, "CN=www.example.com");
  f.meta.add(MetaField::tls_ja3, "e7d705a3286e19ea42f587b344ee6865");
  f.meta.add(MetaField::tls_ja3s, "f4febc55ea12b31ae17cfb7e614afda8");
  f.meta.add_u64(MetaField::tls_not_before, 1700000000);
  f.meta.add_u64(MetaField::tls_not_after, 1800000000);
  f.meta.add_u16(MetaField::tls_version, 0x0304);
  f.meta.add(MetaField::tls_alpn, "h2");
  const std::string t = "local t = flow.tls_quic() ";
  EXPECT_EQ(one(f, "(function() " + t +
                       "return t.client_requested_server_name, t.server_names, "
                       "t.issuerDN, t.subjectDN end)()"),
            "www.example.com\texample.com,www.example.com\tCN=Issuer\tCN=www.example.com");
  EXPECT_EQ(one(f, "(function() " + t +
                       "return t.ja3_client, t.ja3_server, t.notBefore, "
                       "t.notAfter, t.version, t.alpn, t.unsafe_cipher end)()"),
            "e7d705a3286e19ea42f587b344ee6865\tf4febc55ea12b31ae17cfb7e614afda8\t1700000000\t"
            "1800000000\tTLSv1.3\th2\ttrue");
  EXPECT_EQ(one(f, "flow.tls().client_requested_server_name"), "www.example.com");
}

TEST(FlowApi, RiskTableAndScore) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 80);
  f.detect(0, 7, uint64_t{1} << 36);
  EXPECT_EQ(one(f, "flow.risk()[36], select(2, flow.risk()) > 0"), "Clear-Text Credentials\ttrue");
  TestFlow g("10.0.0.1", 40000, "192.0.2.9", 80);
  g.detect(0, 7);
  EXPECT_EQ(one(g, "next((flow.risk())), select(2, flow.risk())"), "nil\t0");
}

TEST(FlowApi, Dump) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 80, 6, 1);
  f.detect(0, 7);
  f.meta.add(MetaField::http_host, "www.example.com");
  f.meta.add(MetaField::http_method, "POST");
  const auto lines = run_hook(
      f,
      "local d = flow.dump()\n"
      "print(d['cli.ip'], d['cli.port'], d['srv.ip'], d['srv.port'], d.vlan)\n"
      "print(d['proto.l4'], d['proto.l4_id'], d['proto.ndpi'], d['proto.ndpi_id'], "
      "d['proto.ndpi_master_id'], d['proto.ndpi_breed'])\n"
      "print(d.bytes, d.packets, d['cli2srv.bytes'], d['srv2cli.bytes'], d['cli2srv.packets'], "
      "d['srv2cli.packets'])\n"
      "print(d['seen.first'], d['seen.last'], d.duration, d.direction, d.is_oneway)\n"
      "print(d.flow_id, d.score, #d.tags, d.key == flow.dump().key, d.key < 2^53, d.ifid)\n"
      "print(d.community_id == flow.community_id(), d.community_id:sub(1, 2))\n"
      "print(d['cli2srv.tcp_flags'], d.tcp_established, d.tcp_reset, d.host_server_name, "
      "d['protos.http.last_method'], d['protos.http.server_name'])");
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "10.0.0.1\t40000\t192.0.2.9\t80\t0");
  EXPECT_EQ(lines[1], "TCP\t6\tHTTP\t7\t0\tAcceptable");
  EXPECT_EQ(lines[2], "6000\t15\t1000\t5000\t10\t5");
  EXPECT_EQ(lines[3], "1700000000\t1700000002\t2\tremote2remote\tfalse");
  EXPECT_EQ(lines[4], "4242\t0\t0\ttrue\ttrue\t0");
  EXPECT_EQ(lines[5], "true\t1:");
  EXPECT_EQ(lines[6], "2\ttrue\tfalse\twww.example.com\tPOST\twww.example.com");
}

TEST(FlowApi, CommunityIdMatchesTheFlowRecords) {
  TestFlow f("128.232.110.120", 34855, "66.35.250.204", 80);
  // The spec's sample (community-id-spec, tcp): 1:LQU9qZlK+B5F3KDmev6m5PMibrg=
  EXPECT_EQ(one(f, "flow.community_id()"), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
}

TEST(FlowApi, TriggerAlertFillsTheRecord) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 80);
  f.detect(0, 7);
  KeptAlerts alerts;
  const auto lines =
      run_hook(f,
               "print(flow.triggerAlert(40, 'long name', { query = 'x', length = 74 }))\n"
               "print(flow.triggerAlert(1500.4, string.rep('m', 2000)))\n"
               "print(flow.triggerAlert(0, 'json', '[1, 2]'))\n"
               "print(flow.dump().score)",
               {}, &alerts);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "true");
  EXPECT_EQ(lines[3], "1000");
  ASSERT_EQ(alerts.records.size(), 3u);
  const AlertRecord& a = alerts.records[0];
  EXPECT_EQ(a.score, 40);
  EXPECT_EQ(a.severity, Severity::kNotice);
  EXPECT_EQ(a.eve_severity, 4);
  EXPECT_EQ(a.flow_id, 4242u);
  EXPECT_EQ(a.time_ns, kNow);
  EXPECT_EQ(a.script_key_view(), "flow/t");
  EXPECT_EQ(a.message_view(), "long name");
  EXPECT_TRUE(a.details_view() == R"({"query":"x","length":74})" ||
              a.details_view() == R"({"length":74,"query":"x"})")
      << a.details_view();
  EXPECT_EQ(a.l7_app, 7);
  const AlertRecord& b = alerts.records[1];
  EXPECT_EQ(b.score, 1000);
  EXPECT_TRUE(b.flags & AlertRecord::kScoreClamped);
  EXPECT_DOUBLE_EQ(b.score_raw, 1500.4);
  EXPECT_EQ(b.severity, Severity::kEmergency);
  EXPECT_EQ(b.message_len, 1024);
  EXPECT_TRUE(b.flags & AlertRecord::kMessageTruncated);
  EXPECT_EQ(alerts.records[2].details_view(), "[1, 2]");
  EXPECT_EQ(alerts.records[2].severity, Severity::kDebug);
}

TEST(FlowApi, TriggerAlertArgumentErrors) {
  TestFlow f("10.0.0.1", 40000, "192.0.2.9", 80);
  const auto lines = run_hook(f,
                              "print(pcall(flow.triggerAlert, 'x', 'm'))\n"
                              "print(pcall(flow.triggerAlert, -1, 'm'))\n"
                              "print(pcall(flow.triggerAlert, 10, {}))\n"
                              "print(pcall(flow.triggerAlert, 10, 'm', { [true] = 1 }))\n"
                              "print(pcall(flow.triggerAlert, 10, 'm', 'not json'))\n"
                              "print(flow.triggerAlert('10', 12))");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0],
            "false\tflow.triggerAlert: bad argument #1 'score' (number expected, got string)");
  EXPECT_EQ(lines[1],
            "false\tflow.triggerAlert: bad argument #1 'score' (number >= 0 expected, got number)");
  EXPECT_EQ(lines[2],
            "false\tflow.triggerAlert: bad argument #2 'msg' (string expected, got table)");
  EXPECT_NE(lines[3].find("bad argument #3 'details' (table key of type 'boolean'"),
            std::string::npos)
      << lines[3];
  EXPECT_NE(lines[4].find("bad argument #3 'details'"), std::string::npos) << lines[4];
  EXPECT_EQ(lines[5], "true");  // numeric strings and numbers convert
}

TEST(FlowApi, FullAlertRingIsCountedAndReturnsFalse) {
  Harness h(Files{
      {"flow/t.lua",
       "return {hooks = {protocolDetected = function() print(flow.triggerAlert(5, 'x')) end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  h.alerts.full = true;
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/t"), std::vector<std::string>{"false"});
  EXPECT_EQ(h.ws->alerts_dropped(), 1u);
  EXPECT_EQ(h.ws->score(1), 5);  // the score rises even when the ring is full
}

TEST(FlowApi, TagsAndFieldsReachTheRecordWriter) {
  Harness h(Files{{"flow/t.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(flow.setTag('a'), flow.setTag('b'), flow.setTag('a'))\n"
                   "  print(flow.addField('user.name', 'bob'), flow.addField('user.name', 'bob'),\n"
                   "        flow.addField('user.name', 'eve'), flow.addField('n', 42))\n"
                   "  print(pcall(flow.addField, 'n', 'text'))\n"
                   "  print(pcall(flow.setTag, ''))\n"
                   "  print(#flow.dump().tags)\n"
                   "end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2);
  h.ws->on_protocol_detected(9, f.view(), kNow);
  const auto lines = h.log.of("flow/t");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "true\ttrue\tfalse");
  EXPECT_EQ(lines[1], "true\tfalse\ttrue\ttrue");
  EXPECT_EQ(lines[2], "false\tflow.addField: field 'n' holds integers");
  EXPECT_EQ(lines[3],
            "false\tflow.setTag: bad argument #1 'name' (non-empty string of at most 128 bytes "
            "expected, got string)");
  EXPECT_EQ(lines[4], "2");
  std::string_view tags[8];
  ASSERT_EQ(h.ws->tags(9, tags, 8), 2u);
  EXPECT_EQ(tags[0], "a");
  EXPECT_EQ(tags[1], "b");
  WorkerScripts::Field fields[8];
  const size_t n = h.ws->fields(9, fields, 8);
  ASSERT_EQ(n, 3u);
  int strings = 0;
  for (size_t i = 0; i < n; ++i) {
    if (fields[i].is_string) {
      ++strings;
      EXPECT_EQ(fields[i].name, "user.name");
    } else {
      EXPECT_EQ(fields[i].name, "n");
      EXPECT_EQ(fields[i].number, 42);
    }
  }
  EXPECT_EQ(strings, 2);
  h.ws->forget_flow(9);
  EXPECT_EQ(h.ws->tags(9, tags, 8), 0u);
  EXPECT_EQ(h.ws->fields(9, fields, 8), 0u);
}

TEST(FlowApi, ScriptStateIsPerScriptAndPerFlowAndDiesWithTheFlow) {
  const std::string body =
      "return {hooks = {protocolDetected = function() local s = flow.getScriptState()\n"
      "  s.n = (s.n or 0) + 1 print(s.n) end,\n"
      "  flowEnd = function() local s = flow.getScriptState() s.n = s.n + 10 print(s.n) end}}";
  Harness h(Files{{"flow/a.lua", body}, {"flow/b.lua", body}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  h.ws->on_protocol_detected(2, f.view(), kNow);
  h.ws->on_flow_end(1, f.view(), kNow);
  h.ws->forget_flow(1);
  h.ws->on_protocol_detected(1, f.view(), kNow);  // a new flow at the same index
  EXPECT_EQ(h.log.of("flow/a"), (std::vector<std::string>{"1", "1", "11", "1"}));
  EXPECT_EQ(h.log.of("flow/b"), (std::vector<std::string>{"1", "1", "11", "1"}));
}

TEST(FlowApi, OutsideAFlowEverythingIsOutside) {
  KeptLog log;
  const auto r =
      build_set(Files{{"flow/t.lua",
                       "print(flow.cli(), flow.bytes(), flow.dump(), flow.http(), flow.risk(), "
                       "flow.getScriptState(), flow.triggerAlert(1, 'x'), flow.setTag('x'), "
                       "flow.addField('a', 1))\nreturn {hooks = {}}"}},
                LuaConfig{}, {}, &log);
  ASSERT_TRUE(r.generation) << joined(r.errors);
  EXPECT_EQ(log.of("flow/t"),
            std::vector<std::string>{"nil\tnil\tnil\tnil\tnil\tnil\tfalse\tfalse\tfalse"});
}

TEST(FlowApi, PairsListsEveryFunction) {
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2);
  const auto lines = run_hook(f, "local n = 0 for k, v in pairs(flow) do n = n + 1 end print(n)");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "32");  // 31 functions and the tls() alias
}

TEST(FlowApi, NamesNotProvidedReadAsNilAndWarnOnce) {
  TestFlow f("10.0.0.1", 1, "10.0.0.2", 2);
  Harness h(Files{{"flow/t.lua",
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(flow.getInfo, flow.getInfo == nil)\n"
                   "  if flow.getInfo then print('x') end\n"
                   "end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/t")[0],
            "flow.getInfo is not provided by loupe (lua-api.md §9.1); read as nil");
  EXPECT_EQ(h.log.of("flow/t")[1], "nil\ttrue");
  EXPECT_EQ(h.log.of("flow/t").size(), 2u);
}

}  // namespace
}  // namespace loupe::test
