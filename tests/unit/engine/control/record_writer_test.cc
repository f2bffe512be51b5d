#include "engine/control/record_writer.h"

#include <gtest/gtest.h>

#include "engine/flow/community_id.h"
#include "engine/flow/flow_key.h"
#include "tests/unit/engine/flow/flow_test_util.h"

namespace loupe {
namespace {

FlowRecord record_for(const Decoded& first) {
  FlowRecord r{};
  r.client = make_flow_key(first, r.key);
  r.flow_id = (5ULL << 7) | 2;
  r.first_ns = 1'700'000'000'123'456'789ULL;
  r.last_ns = r.first_ns + 2'500'000'000ULL;
  r.pkts[r.client] = 3;
  r.pkts[r.client ^ 1] = 2;
  r.bytes[r.client] = 300;
  r.bytes[r.client ^ 1] = 1200;
  r.state = FlowState::kClosed;
  r.reason = EndReason::tcp_fin;
  return r;
}

TEST(RecordWriterTest, EveFlowRecordFromTheClientsPointOfView) {
  Decoded d = test::packet("192.168.1.2", 443, "10.0.0.1", 51000);
  std::swap(d.src, d.dst);  // the client is 10.0.0.1:51000 -> 192.168.1.2:443
  std::swap(d.sport, d.dport);
  d.vlan[0] = 10;
  d.vlan[1] = 20;
  std::string json;
  RecordWriter::format(record_for(d), {}, json);
  EXPECT_EQ(json,
            "{\"timestamp\":\"2023-11-14T22:13:22.623456+0000\",\"flow_id\":642,"
            "\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"src_port\":51000,"
            "\"dest_ip\":\"192.168.1.2\",\"dest_port\":443,\"proto\":\"TCP\",\"vlan\":[10,20],"
            "\"community_id\":\"" +
                community_id_v1(record_for(d).key, record_for(d).client, 0, 0) +
                "\",\"flow\":{\"pkts_toserver\":3,\"pkts_toclient\":2,\"bytes_toserver\":300,"
                "\"bytes_toclient\":1200,\"start\":\"2023-11-14T22:13:20.123456+0000\","
                "\"end\":\"2023-11-14T22:13:22.623456+0000\",\"age\":2,\"state\":\"closed\","
                "\"reason\":\"tcp_fin\"}}");
}

TEST(RecordWriterTest, IcmpHasTypeAndNoPorts) {
  FlowRecord r = record_for(test::packet("10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_ICMP));
  r.icmp_type = 8;
  std::string json;
  RecordWriter::format(r, {}, json);
  EXPECT_NE(json.find("\"proto\":\"ICMP\",\"icmp_type\":8,\"icmp_code\":0"), std::string::npos);
  EXPECT_EQ(json.find("src_port"), std::string::npos);
  EXPECT_EQ(json.find("vlan"), std::string::npos);
}

}  // namespace
}  // namespace loupe
