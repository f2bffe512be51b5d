// dump_config round trips, and the committed reference is what the schemas
// generate.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/schema.h"

#ifndef LOUPE_SOURCE_ROOT
#error "LOUPE_SOURCE_ROOT must name the source root (the build defines it)"
#endif

namespace loupe {
namespace {

std::string joined(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += to_string(e) + "\n";
  return out;
}

Config round_trip(const Config& config) {
  const std::string yaml = dump_config(config);
  LoadResult result = load_config_text(yaml, "dump.yaml");
  EXPECT_TRUE(result.errors.empty()) << joined(result.errors) << yaml;
  return result.config.value_or(Config{});
}

// A valid config in which every key differs from its default.
Config everything_changed() {
  Config c;
  c.workers = {8, "0-8", 64, 8192};
  c.dpdk.eal_args = {"--log-level=pmd.net.pcap:8",
                     "a string with spaces",
                     "",
                     "123",
                     "true",
                     "~",
                     "#not a comment",
                     "quote\"d",
                     "- dash",
                     "ünïcode"};
  c.dpdk.huge = HugePages::kOff;
  c.dpdk.memory_mb = 4096;
  c.dpdk.mbufs_per_worker = 65535;
  c.dpdk.mbuf_cache = 512;
  c.dpdk.rx_desc = 4096;
  c.dpdk.drivers = {"librte_net_ixgbe.so.23"};
  c.ports = {{"tap-a", "", "0000:81:00.0", false, false},
             {"tap: b", "net_af_packet0,iface=eth1,qpairs=8", "", true, true}};
  c.flow.capacity = 1u << 20;
  c.flow.timeouts = {600, 20, 0, 120, 10, 30, 3600};
  c.flow.fragments = 8192;
  c.flow.fragment_timeout = 60;
  c.stream = {128, 64, 65536, 0};
  c.output = {"/var/lib/loupe/flows.json", 131072, false, true};
  c.classify.ndpi = {false,          40,
                     12,             2048,
                     "/etc/p.txt",   "/etc/c.txt",
                     "/etc/r.txt",   "/etc/j.csv",
                     "/etc/s.csv",   {"BitTorrent", "SSH"}};
  c.classify.metadata_mb = 16;
  c.alerts = {"/var/log/loupe/alerts.json", 1024, 5000, 30, 60, 20,
              {true, SyslogFacility::kLocal3, "loupe-lab"}};
  c.hosts = {false, 1000, 60, 4096, 2048};
  c.metrics = {false, true, *parse_ip_address("0.0.0.0"), 9100, "prometheus", "/etc/loupe/metrics.pass"};
  c.classify.classifiers = {false, "/tmp/loupe-hs"};
  c.lua.enabled = false;
  c.lua.scripts_dir = "/etc/loupe/scripts";
  // 'on' is a configuration error unless LuaJIT can interrupt compiled code.
  if (kLuajitHasCheckHook) c.lua.jit = LuaJit::kOn;
  c.lua.on_load_error = LuaLoadErrorAction::kExit;
  c.lua.memory_limit = uint64_t{256} << 20;
  c.lua.budget = {250, 1000, 10, 3, 30, 60, 600, LuaBudgetEnforce::kMeasureOnly, LuaStallAction::kLog};
  c.lua.log.lines_per_minute = 10;
  c.lua.cache = {uint64_t{16} << 20, 250, 1024};
  c.lua.http = {{"http://127.0.0.1:8080/api", "https://[2001:db8::1]/"}, 750, 4096, 2500,
                65536, uint64_t{8} << 20};
  c.lua.script_config = {{"flow/x", LuaScriptEnabled::kOff, 30, {"max_len=60"}}};
  c.control = {false, true, "/run/loupe/control.sock", "adm"};
  c.paths.workdir = "/var/lib/loupe";
  c.local_networks = {*parse_cidr("10.0.0.0/8", nullptr)};
  c.classifiers = {
      {"tls", ClassifierProto::kTcp, 0, "|16 03|", ClassifierDirection::kClient},
      {"odd: name", ClassifierProto::kUdp, 7, "\\x00\\|'\"#", ClassifierDirection::kServer}};
  return c;
}

// Every leaf the schema knows, as text, by path: a key added to a struct and
// its schema is covered by the test below without editing it.
void leaves(const config::SectionSpec& spec, const void* object, const std::string& path,
            std::map<std::string, std::string>* out) {
  for (const config::FieldSpec& f : spec.fields) {
    const std::string key = path + f.name;
    switch (f.kind) {
      case config::Kind::kSection:
        leaves(*f.section, f.const_child(object), key + ".", out);
        break;
      case config::Kind::kObjectList:
        // Items are compared with a default item.
        for (size_t i = 0; i < f.size(object); ++i) {
          leaves(*f.section, f.const_item(object, i), key + ".N.", out);
        }
        break;
      case config::Kind::kList: {
        std::string text;
        for (const config::Scalar& v : f.get_list(object))
          text += config::format_scalar(f, v) + ",";
        (*out)[key] = text;
        break;
      }
      default:
        (*out)[key] = config::format_scalar(f, f.get(object));
        break;
    }
  }
}

TEST(ConfigDump, DefaultsRoundTrip) { EXPECT_EQ(round_trip(Config{}), Config{}); }

TEST(ConfigDump, EverythingChangedRoundTrips) {
  const Config changed = everything_changed();
  // The fixture must really change every key, or the round trip proves less.
  const auto schema = config::schema_of<Config>();
  std::map<std::string, std::string> defaults;
  std::map<std::string, std::string> values;
  Config with_default_port;
  with_default_port.ports.resize(1);
  leaves(*schema, &with_default_port, "", &defaults);
  leaves(*schema, &changed, "", &values);
  for (const auto& [key, text] : defaults) {
    if (key.find(".N.") != std::string::npos) continue;  // per item, below
    if (key == "lua.jit" && !kLuajitHasCheckHook) continue;  // see everything_changed()
    EXPECT_NE(values[key], text) << key << " keeps its default in everything_changed()";
  }
  const PortConfig default_port;
  for (const PortConfig& p : changed.ports) EXPECT_NE(p, default_port);
  EXPECT_NE(changed.ports[0].rss, default_port.rss);
  EXPECT_NE(changed.ports[0].promiscuous, default_port.promiscuous);

  EXPECT_EQ(round_trip(changed), changed);
}

TEST(ConfigDump, IsBlockStyleWithEveryKey) {
  const std::string yaml = dump_config(Config{});
  EXPECT_EQ(yaml.find('{'), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("ports: []\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("\nflow:\n  capacity: 262144\n  timeouts:\n    tcp: 300\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  huge: auto\n"), std::string::npos) << yaml;
}

TEST(ConfigDump, ShippedConfigsRoundTrip) {
  for (const char* file :
       {"config/loupe.yaml", "config/examples/offline-replay.yaml",
        "config/examples/tap-10g-one-port.yaml", "config/examples/tap-40g-two-ports.yaml"}) {
    SCOPED_TRACE(file);
    const LoadResult result = load_config(std::string(LOUPE_SOURCE_ROOT) + "/" + file);
    ASSERT_TRUE(result.config.has_value()) << joined(result.errors);
    EXPECT_EQ(round_trip(*result.config), *result.config);
  }
}

TEST(ConfigReference, CommittedDocIsUpToDate) {
  const std::string path = std::string(LOUPE_SOURCE_ROOT) + "/docs/configuration.md";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_TRUE(committed.str() == config_reference_markdown())
      << "docs/configuration.md is stale: a schema changed. Regenerate it from the source root "
         "with\n    loupe --config-reference > docs/configuration.md\nand commit the result.";
}

TEST(ConfigReference, ListsEveryKeyWithTypeRangeAndDefault) {
  const std::string doc = config_reference_markdown();
  EXPECT_NE(doc.find("| `workers.count` | u32 | 1..128 | `1` |"), std::string::npos);
  EXPECT_NE(doc.find("| `workers.ring_size` | u32 | 64..16777216, power of two | `4096` |"),
            std::string::npos);
  EXPECT_NE(doc.find("| `dpdk.huge` | enum | auto, on, off | `auto` |"), std::string::npos);
  EXPECT_NE(doc.find("| `ports.N.pci` | string |"), std::string::npos);
  EXPECT_NE(doc.find("### flow.timeouts"), std::string::npos);
  EXPECT_NE(doc.find("- exactly one of devargs and pci is set"), std::string::npos);
}

}  // namespace
}  // namespace loupe
