// The metadata blob, its pool, loupe's DNS answer reader and the EVE
// objects written from a blob.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/classify/dns_answers.h"
#include "engine/classify/l7_meta.h"
#include "engine/classify/meta_pool.h"
#include "engine/control/meta_json.h"

namespace loupe {
namespace {

TEST(MetaBlob, EntriesReadBackInOrder) {
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  b.add(MetaField::http_host, "example.org");
  b.add_u16(MetaField::http_status, 404);
  b.add(MetaField::http_url, "");  // empty values are not stored
  std::vector<MetaField> fields;
  b.view().for_each([&](const MetaEntry& e) { fields.push_back(e.field); });
  ASSERT_EQ(fields, (std::vector<MetaField>{MetaField::http_host, MetaField::http_status}));
  EXPECT_EQ(b.view().find(MetaField::http_host).value, "example.org");
  EXPECT_EQ(b.view().find(MetaField::http_status).u16(), 404);
  EXPECT_FALSE(b.view().has(MetaField::http_url));
  EXPECT_EQ(b.size(), 3u + 11 + 3 + 2);
}

TEST(MetaBlob, LongValuesAreCutAndAFullBlobCountsWhatItDrops) {
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  const std::string big(5000, 'x');
  EXPECT_TRUE(b.add(MetaField::http_url, big));
  EXPECT_EQ(b.view().find(MetaField::http_url).value.size(), kMetaMaxValue);
  EXPECT_TRUE(b.add(MetaField::tls_san, std::string(1000, 's')));  // 2030 bytes in all
  EXPECT_FALSE(b.add(MetaField::tls_subject, "sixteen bytes..."));
  EXPECT_EQ(b.dropped(), 1u);
  EXPECT_LE(b.size(), kMetaMaxBytes);
}

TEST(MetaPool, GrowsABlobAndReusesFreedBlocks) {
  MetaPool pool(1 << 20);
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  uint32_t ref = MetaPool::kNone;
  b.add(MetaField::dns_query, "a.example");
  ASSERT_TRUE(pool.append(ref, b.view()));
  EXPECT_EQ(pool.bytes_in_use(), 64u);
  b.clear();
  for (int i = 0; i < 20; i++) {
    const uint8_t addr[4] = {10, 0, 0, static_cast<uint8_t>(i)};
    b.add(MetaField::dns_answer, addr, 4);
  }
  ASSERT_TRUE(pool.append(ref, b.view()));
  EXPECT_EQ(pool.bytes_in_use(), 256u);  // 12 + 20 * 7 bytes with the header: class 256
  int answers = 0;
  pool.view(ref).for_each([&](const MetaEntry& e) { answers += e.field == MetaField::dns_answer; });
  EXPECT_EQ(answers, 20);
  EXPECT_EQ(pool.view(ref).find(MetaField::dns_query).value, "a.example");
  const uint32_t old = ref;
  pool.release(ref);
  EXPECT_EQ(ref, MetaPool::kNone);
  EXPECT_EQ(pool.bytes_in_use(), 0u);
  // The freed 256-byte block comes back for the next blob of that class.
  uint32_t again = MetaPool::kNone;
  ASSERT_TRUE(pool.append(again, b.view()));
  EXPECT_EQ(again, old);
}

TEST(MetaPool, AnExhaustedPoolRefusesAndKeepsWhatAFlowHad) {
  MetaPool pool(128);
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  b.add(MetaField::tls_sni, "one.example");
  uint32_t a = MetaPool::kNone, c = MetaPool::kNone;
  ASSERT_TRUE(pool.append(a, b.view()));
  ASSERT_TRUE(pool.append(c, b.view()));
  uint32_t d = MetaPool::kNone;
  EXPECT_FALSE(pool.append(d, b.view()));
  EXPECT_EQ(d, MetaPool::kNone);
  b.clear();
  b.add(MetaField::tls_subject, std::string(200, 's'));
  EXPECT_FALSE(pool.append(a, b.view()));  // no room to grow: a keeps its SNI
  EXPECT_EQ(pool.view(a).find(MetaField::tls_sni).value, "one.example");
  MetaPool none(0);
  EXPECT_FALSE(none.append(d, b.view()));
}

// A DNS response: one question, then `answers` of (type, rdata).
std::vector<uint8_t> dns_response(std::vector<std::pair<uint16_t, std::vector<uint8_t>>> answers,
                                  uint8_t rcode = 0) {
  std::vector<uint8_t> m = {0x12, 0x34, 0x81, static_cast<uint8_t>(0x80 | rcode), 0, 1, 0,
                            static_cast<uint8_t>(answers.size()), 0, 0, 0, 0};
  const uint8_t qname[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  // Byte by byte: GCC 12 warns falsely about range inserts into a vector
  // that grows (array-bounds).
  for (const uint8_t c : qname) m.push_back(c);
  for (auto& [type, rdata] : answers) {
    const uint8_t rr[] = {0xc0, 12, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type),
                          0, 1, 0, 0, 0, 60, 0, static_cast<uint8_t>(rdata.size())};
    for (const uint8_t c : rr) m.push_back(c);
    for (const uint8_t c : rdata) m.push_back(c);
  }
  return m;
}

std::vector<std::string> addresses(MetaView v) {
  std::vector<std::string> out;
  v.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::dns_answer) return;
    char t[INET6_ADDRSTRLEN];
    inet_ntop(e.value.size() == 4 ? AF_INET : AF_INET6, e.value.data(), t, sizeof(t));
    out.push_back(t);
  });
  return out;
}

TEST(DnsAnswers, EveryAddressInResponseOrderCnamesSkipped) {
  std::vector<uint8_t> v6(16, 0);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[15] = 1;
  const auto m = dns_response({{5, {3, 'c', 'd', 'n', 0xc0, 12}},
                               {1, {192, 0, 2, 1}},
                               {28, v6},
                               {1, {192, 0, 2, 2}}});
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  const DnsResponse r = parse_dns_answers(m.data(), static_cast<uint32_t>(m.size()), false, b);
  EXPECT_TRUE(r.is_response);
  EXPECT_EQ(r.answers, 3);
  EXPECT_EQ(addresses(b.view()),
            (std::vector<std::string>{"192.0.2.1", "2001::1", "192.0.2.2"}));
}

TEST(DnsAnswers, QueriesTruncationAndTcpFraming) {
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  auto m = dns_response({{1, {192, 0, 2, 1}}, {1, {192, 0, 2, 2}}}, 3);
  // Cut inside the second answer: the first is kept.
  DnsResponse r = parse_dns_answers(m.data(), static_cast<uint32_t>(m.size() - 2), false, b);
  EXPECT_EQ(r.rcode, 3);
  EXPECT_EQ(addresses(b.view()), std::vector<std::string>{"192.0.2.1"});
  b.clear();
  // A query adds nothing.
  m[2] = 0x01;
  EXPECT_FALSE(parse_dns_answers(m.data(), static_cast<uint32_t>(m.size()), false, b).is_response);
  EXPECT_EQ(b.size(), 0u);
  // Over TCP the message follows its two-byte length.
  m[2] = 0x81;
  std::vector<uint8_t> tcp = {0, static_cast<uint8_t>(m.size())};
  for (const uint8_t c : m) tcp.push_back(c);
  r = parse_dns_answers(tcp.data(), static_cast<uint32_t>(tcp.size()), true, b);
  EXPECT_EQ(r.answers, 2);
  // A name pointing nowhere, a header cut short: nothing read, no crash.
  b.clear();
  for (uint32_t len = 0; len < m.size(); len++) parse_dns_answers(m.data(), len, false, b);
}

TEST(MetaJson, EveObjectsFromABlob) {
  uint8_t buf[kMetaMaxBytes];
  MetaBuilder b(buf);
  b.add(MetaField::dns_query, "www.example");
  b.add_u16(MetaField::dns_qtype, 28);
  b.add_u16(MetaField::dns_rcode, 0);
  const uint8_t a[4] = {192, 0, 2, 7};
  b.add(MetaField::dns_answer, a, 4);
  b.add(MetaField::tls_ja3, "abc");
  b.add_u64(MetaField::tls_not_after, 86400);
  const char match[] = "\x02" "my-proto";
  b.add(MetaField::classifier, match, sizeof(match) - 1);
  std::string out;
  append_meta_json(out, b.view());
  EXPECT_EQ(out,
            ",\"dns\":{\"rrname\":\"www.example\",\"rrtype\":\"AAAA\",\"rcode\":\"NOERROR\","
            "\"answers\":[\"192.0.2.7\"]},\"tls\":{\"ja3\":{\"hash\":\"abc\"},"
            "\"notafter\":\"1970-01-02T00:00:00\"},\"classifiers\":[{\"name\":\"my-proto\","
            "\"side\":\"server\"}]");
  out.clear();
  append_meta_json(out, MetaView());
  EXPECT_EQ(out, "");
  // Answers without a query (nDPI had no name): the object holds them alone.
  b.clear();
  b.add(MetaField::dns_answer, a, 4);
  b.add(MetaField::dns_answer, a, 4);
  append_meta_json(out, b.view());
  EXPECT_EQ(out, ",\"dns\":{\"answers\":[\"192.0.2.7\",\"192.0.2.7\"]}");
  std::string s;
  append_json_string(s, std::string_view("a\"b\\\x01\xff", 6));
  EXPECT_EQ(s, "\"a\\\"b\\\\\\u0001\\u00ff\"");
}

}  // namespace
}  // namespace loupe
