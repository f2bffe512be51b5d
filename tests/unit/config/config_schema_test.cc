// The schema DSL on a test-only struct: the IP and CIDR types (which no
// loupe key uses yet), integer widths, lists of scalars, enums, nested
// sections, lists of sections, checks, and the schema's own bug detection.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "config/net_types.h"
#include "config/schema.h"
#include "config/schema_io.h"

namespace loupe::schema_test {

enum class Mode : uint8_t { kFast, kSafe };

struct Network {
  std::string name;
  Cidr prefix;

  bool operator==(const Network&) const = default;
};

struct Limits {
  uint16_t port = 4739;
  uint64_t bytes = 1;
  uint8_t ttl = 64;

  bool operator==(const Limits&) const = default;
};

IpAddress ip(const char* text) { return parse_ip_address(text).value(); }

Cidr cidr(const char* text) {
  std::string why;
  return parse_cidr(text, &why).value();
}

struct TestConfig {
  IpAddress collector = ip("127.0.0.1");
  IpAddress bind;  // not set
  Cidr management = cidr("fd00::/8");
  std::vector<Cidr> local_networks = {cidr("10.0.0.0/8"), cidr("192.168.0.0/16")};
  std::vector<IpAddress> resolvers;
  std::vector<uint32_t> weights = {1, 2};
  Mode mode = Mode::kFast;
  Limits limits;
  std::vector<Network> networks;

  bool operator==(const TestConfig&) const = default;
};

void describe(config::Section<Network>& s) {
  s.field("name", &Network::name).help("A label.");
  s.field("prefix", &Network::prefix).help("The network.");
  s.check("name is not empty", {"name"}, [](const Network& n, config::Issues& issues) {
    if (n.name.empty()) issues.error("name", "must not be empty");
  });
}

void describe(config::Section<Limits>& s) {
  s.field("port", &Limits::port).help("No range: the type's.");
  s.field("bytes", &Limits::bytes).help("All of u64.");
  s.field("ttl", &Limits::ttl).range(1, 255).help("u8.");
}

void describe(config::Section<TestConfig>& s) {
  s.field("collector", &TestConfig::collector).help("An address.");
  s.field("bind", &TestConfig::bind).help("An address, empty for any.");
  s.field("management", &TestConfig::management).help("A prefix.");
  s.field("local_networks", &TestConfig::local_networks).help("Prefixes.");
  s.field("resolvers", &TestConfig::resolvers).help("Addresses.");
  s.field("weights", &TestConfig::weights).range(1, 10).help("Small numbers.");
  s.enumeration("mode", &TestConfig::mode, {{"fast", Mode::kFast}, {"safe", Mode::kSafe}})
      .help("How.");
  s.section("limits", &TestConfig::limits).help("Integers of every width.");
  s.list("networks", &TestConfig::networks).help("Named networks.");
  s.check("collector is outside local_networks", {"collector", "local_networks"},
          [](const TestConfig& c, config::Issues& issues) {
            for (const Cidr& n : c.local_networks) {
              if (contains(n, c.collector)) {
                issues.error("collector", "must not be in local_networks (" + to_string(n) + ")");
              }
            }
          });
}

std::string errors_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  TestConfig c;
  std::string out;
  for (const ConfigError& e : config::read_yaml(c, yaml, "t.yaml", overrides)) {
    out += to_string(e) + "\n";
  }
  return out;
}

TestConfig loaded(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  TestConfig c;
  const auto errors = config::read_yaml(c, yaml, "t.yaml", overrides);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : to_string(errors[0]));
  return c;
}

TEST(NetTypes, ParseAndFormatAddresses) {
  EXPECT_EQ(ip("192.0.2.1").family, 4);
  EXPECT_EQ(ip("192.0.2.1").bytes[0], 192);
  EXPECT_EQ(ip("192.0.2.1").bytes[4], 0);  // IPv4 in the first 4 bytes, rest zero
  EXPECT_EQ(to_string(ip("192.0.2.1")), "192.0.2.1");
  EXPECT_EQ(ip("2001:DB8::1").family, 6);
  EXPECT_EQ(to_string(ip("2001:DB8:0:0::1")), "2001:db8::1");  // canonical text
  EXPECT_EQ(to_string(ip("::ffff:192.0.2.1")), "::ffff:192.0.2.1");
  EXPECT_EQ(to_string(IpAddress{}), "");
  for (const char* bad :
       {"", "192.0.2", "192.0.2.256", "192.0.2.1 ", " 192.0.2.1", "01.2.3.4", "1.2.3.4.5",
        "fe80::1%eth0", "2001:db8:::1", "::g", "localhost", "192.0.2.1/32"}) {
    EXPECT_FALSE(parse_ip_address(bad).has_value()) << bad;
  }
}

TEST(NetTypes, ParseCidr) {
  std::string why;
  EXPECT_EQ(to_string(cidr("10.0.0.0/8")), "10.0.0.0/8");
  EXPECT_EQ(to_string(cidr("0.0.0.0/0")), "0.0.0.0/0");
  EXPECT_EQ(to_string(cidr("192.0.2.1/32")), "192.0.2.1/32");
  EXPECT_EQ(to_string(cidr("2001:DB8::/32")), "2001:db8::/32");
  EXPECT_EQ(to_string(cidr("::/0")), "::/0");
  EXPECT_EQ(to_string(cidr("2001:db8::1/128")), "2001:db8::1/128");

  struct Bad {
    const char* text;
    const char* why;
  };
  for (const Bad& bad : {
           Bad{"10.0.0.0", "\"10.0.0.0\" is not a CIDR prefix (address/length, e.g. 10.0.0.0/8)"},
           Bad{"10.0.0/8", "\"10.0.0/8\" is not a CIDR prefix: \"10.0.0\" is not an IP address"},
           Bad{"10.0.0.0/", "\"10.0.0.0/\" is not a CIDR prefix: \"\" is not a prefix length"},
           Bad{"10.0.0.0/+8",
               "\"10.0.0.0/+8\" is not a CIDR prefix: \"+8\" is not a prefix length"},
           Bad{"10.0.0.0/8x",
               "\"10.0.0.0/8x\" is not a CIDR prefix: \"8x\" is not a prefix length"},
           Bad{"10.0.0.0/-1",
               "\"10.0.0.0/-1\" is not a CIDR prefix: \"-1\" is not a prefix length"},
           Bad{"10.0.0.0/33", "\"10.0.0.0/33\": prefix length 33 is out of range 0..32 for IPv4"},
           Bad{"2001:db8::/129",
               "\"2001:db8::/129\": prefix length 129 is out of range 0..128 for IPv6"},
           Bad{"10.1.2.3/8", "\"10.1.2.3/8\" has host bits set (did you mean 10.0.0.0/8?)"},
           Bad{"192.168.1.1/23",
               "\"192.168.1.1/23\" has host bits set (did you mean 192.168.0.0/23?)"},
           Bad{"2001:db8::1/64",
               "\"2001:db8::1/64\" has host bits set (did you mean 2001:db8::/64?)"},
       }) {
    why.clear();
    EXPECT_FALSE(parse_cidr(bad.text, &why).has_value()) << bad.text;
    EXPECT_EQ(why, bad.why);
  }
}

TEST(NetTypes, Contains) {
  EXPECT_TRUE(contains(cidr("10.0.0.0/8"), ip("10.255.0.1")));
  EXPECT_FALSE(contains(cidr("10.0.0.0/8"), ip("11.0.0.1")));
  EXPECT_TRUE(contains(cidr("192.168.0.0/23"), ip("192.168.1.200")));
  EXPECT_FALSE(contains(cidr("192.168.0.0/23"), ip("192.168.2.0")));
  EXPECT_TRUE(contains(cidr("0.0.0.0/0"), ip("203.0.113.9")));
  EXPECT_FALSE(contains(cidr("0.0.0.0/0"), ip("::1")));  // never across families
  EXPECT_TRUE(contains(cidr("2001:db8::/32"), ip("2001:db8:ffff::1")));
  EXPECT_FALSE(contains(cidr("::/0"), ip("10.0.0.1")));
  EXPECT_FALSE(contains(Cidr{}, ip("10.0.0.1")));
}

TEST(SchemaDsl, ReadsAddressesAndPrefixes) {
  const TestConfig c = loaded(
      "collector: 2001:470::10\n"
      "bind: 0.0.0.0\n"
      "management: 192.168.0.0/24\n"
      "local_networks: [172.16.0.0/12, \"2001:db8::/32\"]\n"
      "resolvers:\n  - 9.9.9.9\n  - 2620:fe::fe\n");
  EXPECT_EQ(c.collector, ip("2001:470::10"));
  EXPECT_EQ(c.bind, ip("0.0.0.0"));
  EXPECT_EQ(c.management, cidr("192.168.0.0/24"));
  EXPECT_EQ(c.local_networks, (std::vector<Cidr>{cidr("172.16.0.0/12"), cidr("2001:db8::/32")}));
  EXPECT_EQ(c.resolvers, (std::vector<IpAddress>{ip("9.9.9.9"), ip("2620:fe::fe")}));
  // "" is an address or prefix that is not set.
  EXPECT_EQ(loaded("collector: \"\"\nmanagement: \"\"\n").collector, IpAddress{});
}

TEST(SchemaDsl, AddressAndPrefixErrors) {
  EXPECT_EQ(errors_of("collector: 10.0.0.256\n"
                      "bind: [1]\n"
                      "management: 192.168.1.0/16\n"
                      "local_networks:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n  - fe80::/10\n"
                      "resolvers: 1.1.1.1\n"),
            "t.yaml:1:12: collector: \"10.0.0.256\" is not an IP address\n"
            "t.yaml:2:7: bind: expected an IP address, got a sequence\n"
            "t.yaml:3:13: management: \"192.168.1.0/16\" has host bits set (did you mean "
            "192.168.0.0/16?)\n"
            "t.yaml:6:5: local_networks.1: \"10.0.0.0/33\": prefix length 33 is out of range "
            "0..32 for IPv4\n"
            "t.yaml:8:12: resolvers: expected a list of IP addresses, got \"1.1.1.1\" (write "
            "[1.1.1.1] for a list of one)\n");
  EXPECT_EQ(
      errors_of("", {"management=10.0.0.1/8"}),
      "--set:1:12: management: \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)\n");
}

TEST(SchemaDsl, IntegerWidthsAndListRanges) {
  const TestConfig c = loaded(
      "limits: {port: 65535, bytes: 18446744073709551615, ttl: 1}\n"
      "weights: [10, 1, 5]\n");
  EXPECT_EQ(c.limits.port, 65535);
  EXPECT_EQ(c.limits.bytes, 18446744073709551615ull);
  EXPECT_EQ(c.weights, (std::vector<uint32_t>{10, 1, 5}));

  EXPECT_EQ(errors_of("limits:\n  port: 65536\n  bytes: 18446744073709551616\n  ttl: 0\n"
                      "weights: [1, 11, x]\n"),
            "t.yaml:2:9: limits.port: 65536 is out of range 0..65535\n"
            "t.yaml:3:10: limits.bytes: 18446744073709551616 is out of range "
            "0..18446744073709551615\n"
            "t.yaml:4:8: limits.ttl: 0 is out of range 1..255\n"
            "t.yaml:5:14: weights.1: 11 is out of range 1..10\n"
            "t.yaml:5:18: weights.2: expected an unsigned integer, got \"x\"\n");
}

TEST(SchemaDsl, EnumsSectionsAndListsOfSections) {
  const TestConfig c = loaded("mode: safe\nnetworks:\n  - {name: lab, prefix: 10.1.0.0/16}\n",
                              {"networks.1.name=dmz", "networks.1.prefix=2001:db8:1::/48"});
  EXPECT_EQ(c.mode, Mode::kSafe);
  EXPECT_EQ(c.networks,
            (std::vector<Network>{{"lab", cidr("10.1.0.0/16")}, {"dmz", cidr("2001:db8:1::/48")}}));
  EXPECT_EQ(errors_of("mode: quick\nnetworks:\n  - prefix: 10.0.0.0/8\n"),
            "t.yaml:1:7: mode: \"quick\" is not one of: fast, safe\n"
            "t.yaml:3:5: networks.0.name: must not be empty\n");
}

TEST(SchemaDsl, ChecksRunOnTheFinalValuesAndSkipBrokenInputs) {
  EXPECT_EQ(errors_of("collector: 10.1.2.3\n"),
            "t.yaml:1:12: collector: must not be in local_networks (10.0.0.0/8)\n");
  // The check reads local_networks; a bad item there means its verdict
  // would rest on the old list, so only the item's error is reported.
  EXPECT_EQ(errors_of("collector: 10.1.2.3\nlocal_networks: [bad]\n"),
            "t.yaml:2:18: local_networks.0: \"bad\" is not a CIDR prefix (address/length, e.g. "
            "10.0.0.0/8)\n");
  // A default that violates a check has no position: the file alone is named.
  EXPECT_EQ(errors_of("", {"local_networks=[127.0.0.0/8]"}),
            "t.yaml: collector: must not be in local_networks (127.0.0.0/8)\n");
}

TEST(SchemaDsl, WriteReadRoundTrip) {
  TestConfig c;
  c.collector = ip("2001:db8::10");
  c.management = Cidr{};
  c.local_networks = {};
  c.resolvers = {ip("::1"), ip("10.0.0.53")};
  c.weights = {3};
  c.mode = Mode::kSafe;
  c.limits = {1, 18446744073709551615ull, 255};
  c.networks = {{"x", cidr("::/0")}};
  const std::string yaml = config::write_yaml(c);
  EXPECT_EQ(loaded(yaml), c) << yaml;
  EXPECT_EQ(loaded(config::write_yaml(TestConfig{})), TestConfig{});
}

TEST(SchemaDsl, ReferenceShowsTypesAndDefaults) {
  const std::string doc = config::reference_markdown(*config::schema_of<TestConfig>());
  EXPECT_NE(doc.find("| `collector` | IP address | IPv4 or IPv6 address, \"\" for none | "
                     "`127.0.0.1` | An address. |"),
            std::string::npos)
      << doc;
  EXPECT_NE(doc.find("| `local_networks` | list of CIDRs | address/length with zero host bits, "
                     "\"\" for none | `[10.0.0.0/8, 192.168.0.0/16]` | Prefixes. |"),
            std::string::npos)
      << doc;
  EXPECT_NE(doc.find("| `limits.port` | u16 | 0..65535 | `4739` |"), std::string::npos) << doc;
  EXPECT_NE(doc.find("| `networks.N.prefix` | CIDR |"), std::string::npos) << doc;
  EXPECT_NE(doc.find("| `mode` | enum | fast, safe | `fast` |"), std::string::npos) << doc;
}

struct Buggy {
  uint16_t small = 1;
  uint32_t number = 1;
  std::string text;
};

TEST(SchemaDsl, SchemaBugsThrowWhenTheSchemaIsBuilt) {
  config::SectionSpec spec;
  config::Section<Buggy> s(spec);
  EXPECT_THROW(s.field("small", &Buggy::small).range(0, 65536), std::logic_error);
  EXPECT_THROW(s.field("small", &Buggy::small), std::logic_error);  // repeated name
  EXPECT_THROW(s.field("a.b", &Buggy::number), std::logic_error);
  EXPECT_THROW(s.field("text", &Buggy::text).range(1, 2), std::logic_error);
  EXPECT_THROW(s.field("number", &Buggy::number).range(5, 4), std::logic_error);
  EXPECT_THROW(s.check("reads a missing field", {"nope"}, [](const Buggy&, config::Issues&) {}),
               std::logic_error);
}

}  // namespace loupe::schema_test
