#include "engine/flow/community_id.h"

#include <gtest/gtest.h>

#include "engine/flow/flow_key.h"
#include "tests/unit/engine/flow/flow_test_util.h"

namespace loupe {
namespace {

// The reference values published with the Community ID v1 specification.
struct Vector {
  const char* src;
  uint16_t sport;
  const char* dst;
  uint16_t dport;
  uint8_t proto;
  const char* expected;
};

constexpr Vector kVectors[] = {
    {"128.232.110.120", 34855, "66.35.250.204", 80, 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {"192.168.1.52", 54585, "8.8.8.8", 53, 17, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {"192.168.170.8", 7, "192.168.170.56", 7, 132, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {"2001:470:e5bf:dead:4957:2174:e82c:4887", 63943, "2607:f8b0:400c:c03::1a", 25, 6,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
};

TEST(CommunityIdTest, MatchesTheSpecificationVectorsInBothDirections) {
  for (const Vector& v : kVectors) {
    for (bool reverse : {false, true}) {
      Decoded d = reverse ? test::packet(v.dst, v.dport, v.src, v.sport, v.proto)
                          : test::packet(v.src, v.sport, v.dst, v.dport, v.proto);
      FlowKey k;
      const uint8_t side = make_flow_key(d, k);
      EXPECT_EQ(community_id_v1(k, side, 0, 0), v.expected) << v.src << " reverse=" << reverse;
    }
  }
}

TEST(CommunityIdTest, IcmpUsesTypeAndCounterpart) {
  Decoded d = test::packet("192.168.0.89", 0, "192.168.0.1", 0, IPPROTO_ICMP);
  FlowKey k;
  uint8_t side = make_flow_key(d, k);
  EXPECT_EQ(community_id_v1(k, side, 8, 0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
  Decoded d6 = test::packet("fe80::260:97ff:fe07:69ea", 0, "ff02::1", 0, IPPROTO_ICMPV6);
  side = make_flow_key(d6, k);
  EXPECT_EQ(community_id_v1(k, side, 134, 0), "1:pkvHqCL88/tg1k4cPigmZXUtL00=");
}

}  // namespace
}  // namespace loupe
