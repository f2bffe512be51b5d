// The loader against files: the corpus of broken configs under broken/ (each
// NAME.yaml with the exact errors it must produce in NAME.expect), the
// shipped configs, --set overrides, and the edge cases of reading a file.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"

#ifndef LOUPE_SOURCE_ROOT
#error "LOUPE_SOURCE_ROOT must name the source root (the build defines it)"
#endif

namespace loupe {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = LOUPE_SOURCE_ROOT;
const fs::path kTestDir = kRoot / "tests/unit/config";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string joined(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += to_string(e) + "\n";
  return out;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == extension) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Loads `text` as file "test.yaml" with the given overrides; the errors, one per line.
std::string errors_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return joined(load_config_text(text, "test.yaml", overrides).errors);
}

Config loaded(const std::string& text, const std::vector<std::string>& overrides = {}) {
  LoadResult result = load_config_text(text, "test.yaml", overrides);
  EXPECT_TRUE(result.errors.empty()) << joined(result.errors);
  return result.config.value_or(Config{});
}

// Each broken/NAME.yaml is loaded by its absolute path; NAME.expect names it
// "broken/NAME.yaml", the path relative to this folder, so the expectations
// do not depend on where the source tree is.
TEST(ConfigLoader, BrokenCorpusGivesExactlyTheExpectedErrors) {
  const std::vector<fs::path> cases = files_in(kTestDir / "broken", ".yaml");
  ASSERT_GE(cases.size(), 20u) << "the corpus went missing from " << kTestDir / "broken";
  for (const fs::path& yaml : cases) {
    SCOPED_TRACE(yaml.string());
    fs::path expect = yaml;
    expect.replace_extension(".expect");
    ASSERT_TRUE(fs::exists(expect)) << "each broken config needs its .expect file";
    const std::string expected = read_text(expect);
    ASSERT_FALSE(expected.empty());

    const LoadResult result = load_config(yaml.string());
    EXPECT_FALSE(result.config.has_value());
    std::string actual;
    for (ConfigError e : result.errors) {
      ASSERT_EQ(e.file, yaml.string());
      e.file = "broken/" + yaml.filename().string();
      actual += to_string(e) + "\n";
    }
    EXPECT_EQ(actual, expected);
  }
}

TEST(ConfigLoader, ErrorFormat) {
  EXPECT_EQ(to_string(ConfigError{"a.yaml", 3, 7, "workers.count: boom"}),
            "a.yaml:3:7: workers.count: boom");
  EXPECT_EQ(to_string(ConfigError{"--set", 2, 15, "x: y"}), "--set:2:15: x: y");
  // No position: the form compilers use for a file they cannot read.
  EXPECT_EQ(to_string(ConfigError{"a.yaml", 0, 0, "cannot open: x"}), "a.yaml: cannot open: x");
}

TEST(ConfigLoader, MissingFileIsOneErrorWithoutPosition) {
  const std::string path = (kTestDir / "no-such-file.yaml").string();
  const LoadResult result = load_config(path, {"workers.count=4"});
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0], (ConfigError{path, 0, 0, "cannot open: No such file or directory"}));
  EXPECT_FALSE(result.config.has_value());
}

TEST(ConfigLoader, DirectoryIsAnError) {
  const LoadResult result = load_config(kTestDir.string());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(to_string(result.errors[0]), kTestDir.string() + ": cannot read: Is a directory");
}

TEST(ConfigLoader, EmptyFileIsAllDefaults) {
  EXPECT_EQ(loaded(""), Config{});
  EXPECT_EQ(loaded("# nothing but a comment\n\n"), Config{});
  EXPECT_EQ(loaded("---\n"), Config{});
}

TEST(ConfigLoader, EmptySectionsAndListsKeepDefaults) {
  // What a template with every key of a section commented out reads as.
  const Config c = loaded("workers:\nflow:\n  timeouts:\nports:\ndpdk:\n  eal_args:\n");
  EXPECT_EQ(c, Config{});
}

TEST(ConfigLoader, KeysMergeOntoDefaults) {
  const Config c = loaded("flow:\n  timeouts:\n    udp: 120\n");
  Config expected;
  expected.flow.timeouts.udp = 120;
  EXPECT_EQ(c, expected);
}

TEST(ConfigLoader, ScalarsAreReadStrictly) {
  const Config c = loaded(
      "workers: {count: 128, cpus: 0-3}\n"
      "dpdk: {huge: \"off\", rx_desc: 32768, memory_mb: 0, eal_args: [-v, \"--log-level=8\"]}\n"
      "output: {summary: False, jemalloc_stats: TRUE, flows: 123}\n");
  EXPECT_EQ(c.workers.count, 128u);
  EXPECT_EQ(c.workers.cpus, "0-3");
  EXPECT_EQ(c.dpdk.huge, HugePages::kOff);  // quoting an enum name is fine
  EXPECT_EQ(c.dpdk.rx_desc, 32768);
  EXPECT_EQ(c.dpdk.eal_args, (std::vector<std::string>{"-v", "--log-level=8"}));
  EXPECT_FALSE(c.output.summary);
  EXPECT_TRUE(c.output.jemalloc_stats);
  EXPECT_EQ(c.output.flows, "123");  // any scalar is a string
}

TEST(ConfigLoader, ErrorsAreReportedInFileOrderThenOverrides) {
  EXPECT_EQ(errors_of("output:\n  summary: 1\nworkers:\n  count: 0\n", {"flow.capacity=1", "x=1"}),
            "test.yaml:2:12: output.summary: expected true or false, got \"1\"\n"
            "test.yaml:4:10: workers.count: 0 is out of range 1..128\n"
            "--set:1:15: flow.capacity: 1 is out of range 1024..67108864\n"
            "--set:2:1: x: unknown key (allowed here: workers, dpdk, ports, flow, stream, "
            "classify, output, "
            "alerts, hosts, metrics, lua, control, paths, local_networks, classifiers)\n");
}

TEST(ConfigLoader, AnErrorInAPortSuppressesOnlyTheChecksThatReadIt) {
  // The bad pci keeps its default (""): "neither devargs nor pci" would only
  // restate the first error. The empty name is a separate mistake.
  EXPECT_EQ(errors_of("ports:\n  - name: \"\"\n    pci: [1]\n"),
            "test.yaml:2:11: ports.0.name: must not be empty\n"
            "test.yaml:3:10: ports.0.pci: expected a string, got a sequence\n");
}

TEST(ConfigOverrides, SetScalarsListsAndSections) {
  const Config c =
      loaded("workers:\n  count: 2\nflow:\n  timeouts:\n    tcp: 100\n",
             {
                 "workers.count=4", "workers.cpus=0-4", "dpdk.huge=on",
                 "dpdk.eal_args=[--log-level=8, -v]", "dpdk.drivers=[]",
                 "flow.timeouts={udp: 10, icmp: 11}", "output.flows=", "output.summary=false",
                 "workers.count=8",  // later overrides win
             });
  Config expected;
  expected.workers.count = 8;
  expected.workers.cpus = "0-4";
  expected.dpdk.huge = HugePages::kOn;
  expected.dpdk.eal_args = {"--log-level=8", "-v"};
  expected.dpdk.drivers = {};
  expected.flow.timeouts.tcp = 100;  // a section value merges: the file's tcp stays
  expected.flow.timeouts.udp = 10;
  expected.flow.timeouts.icmp = 11;
  expected.output.flows = "";
  expected.output.summary = false;
  EXPECT_EQ(c, expected);
}

TEST(ConfigOverrides, SetPortsByIndex) {
  const std::string file = "ports:\n  - name: tap0\n    pci: \"0000:03:00.0\"\n";
  // Index 0 exists; index 1 (the size) appends; "=" inside the value is kept.
  const Config c = loaded(file, {"ports.0.rss=false", "ports.1.name=lab",
                                 "ports.1.devargs=net_af_packet0,iface=eth1,qpairs=2",
                                 "ports.2={name: spare, pci: 0000:04:00.0, promiscuous: false}"});
  ASSERT_EQ(c.ports.size(), 3u);
  EXPECT_EQ(c.ports[0], (PortConfig{"tap0", "", "0000:03:00.0", false, true}));
  EXPECT_EQ(c.ports[1], (PortConfig{"lab", "net_af_packet0,iface=eth1,qpairs=2", "", true, true}));
  EXPECT_EQ(c.ports[2], (PortConfig{"spare", "", "0000:04:00.0", true, false}));

  // A whole list replaces the file's.
  EXPECT_TRUE(loaded(file, {"ports=[]"}).ports.empty());
}

TEST(ConfigOverrides, Errors) {
  const std::string file = "ports:\n  - name: tap0\n    pci: \"0000:03:00.0\"\n";
  EXPECT_EQ(
      errors_of(file,
                {
                    "workers.count",
                    "=4",
                    "workers.cont=3",
                    "workers..count=3",
                    "workers.count.max=3",
                    "ports.5.name=x",
                    "ports.first.name=x",
                    "ports.0.iface=eth0",
                    "workers.count=-1",
                    "dpdk.huge=maybe",
                    "flow.capacity=[1",
                    "flow.timeouts=30",
                    "dpdk.eal_args=[a, {b: 1}]",
                    "flow={capacity: 2048, capacity: 4096}",
                    "workers.ring_size=1000",
                }),
      "--set:1:1: expected key.path=value, got \"workers.count\"\n"
      "--set:2:1: expected key.path=value, got \"=4\"\n"
      "--set:3:9: workers.cont: unknown key; did you mean \"count\"?\n"
      "--set:4:9: \"workers..count\": empty key in the path\n"
      "--set:5:15: workers.count.max: unknown key (workers.count is a u32, not a section)\n"
      "--set:6:7: ports.5: expected an item index 0..1 (ports has 1 item; 1 appends one)\n"
      "--set:7:7: ports.first: expected an item index 0..1 (ports has 1 item; 1 appends one)\n"
      "--set:8:9: ports.0.iface: unknown key (allowed here: name, devargs, pci, rss, "
      "promiscuous)\n"
      "--set:9:15: workers.count: -1 is out of range 1..128\n"
      "--set:10:11: dpdk.huge: \"maybe\" is not one of: auto, on, off\n"
      "--set:11:15: flow.capacity: YAML syntax error in the value: end of sequence flow not "
      "found\n"
      "--set:12:15: flow.timeouts: expected a mapping, got \"30\"\n"
      "--set:13:19: dpdk.eal_args.1: expected a string, got a mapping\n"
      "--set:14:23: flow.capacity: duplicate key (first at column 7)\n"
      "--set:15:19: workers.ring_size: 1000 is not a power of two (nearest: 512, 1024)\n");
}

TEST(ConfigOverrides, CrossFieldChecksSeeTheOverriddenValues) {
  // The file alone is fine; the override makes the port invalid, and the
  // error points at the override that did it.
  const std::string file = "ports:\n  - name: tap0\n    pci: \"0000:03:00.0\"\n";
  EXPECT_EQ(errors_of(file, {"ports.0.devargs=net_pcap0"}),
            "--set:1:17: ports.0: set exactly one of devargs and pci, not both\n");
  EXPECT_EQ(errors_of(file, {"ports.0.pci="}),
            "--set:1:13: ports.0: set exactly one of devargs and pci (neither is set)\n");
  // An appended port with no name: reported where the item was created.
  EXPECT_EQ(errors_of(file, {"ports.1.pci=0000:04:00.0"}),
            "--set:1:7: ports.1.name: must not be empty\n");
  // Overrides are applied before checking, so one can repair the other.
  EXPECT_EQ(errors_of(file, {"ports.0.devargs=net_pcap0", "ports.0.pci="}), "");
}

TEST(ConfigOverrides, SyntaxErrorInTheFileStillChecksOverrides) {
  EXPECT_EQ(errors_of("workers: [\n", {"workers.count=0"}),
            "test.yaml:2:1: YAML syntax error: end of sequence flow not found\n"
            "--set:1:15: workers.count: 0 is out of range 1..128\n");
}

TEST(ShippedConfigs, EveryExampleLoads) {
  std::vector<fs::path> files = files_in(kRoot / "config/examples", ".yaml");
  ASSERT_GE(files.size(), 3u);
  files.push_back(kRoot / "config/loupe.yaml");
  for (const fs::path& file : files) {
    const LoadResult result = load_config(file.string());
    EXPECT_TRUE(result.errors.empty()) << joined(result.errors);
  }
}

TEST(ShippedConfigs, ExamplesSayWhatTheirNamesSay) {
  const Config loupe = *load_config((kRoot / "config/loupe.yaml").string()).config;
  EXPECT_EQ(loupe.workers.count, 1u);
  EXPECT_TRUE(loupe.ports.empty());
  EXPECT_EQ(loupe.output.flows, "flows.json");

  const Config replay =
      *load_config((kRoot / "config/examples/offline-replay.yaml").string()).config;
  EXPECT_TRUE(replay.ports.empty());

  const Config tap10 =
      *load_config((kRoot / "config/examples/tap-10g-one-port.yaml").string()).config;
  EXPECT_EQ(tap10.workers.count, 4u);
  ASSERT_EQ(tap10.ports.size(), 1u);
  EXPECT_FALSE(tap10.ports[0].pci.empty());

  const Config tap40 =
      *load_config((kRoot / "config/examples/tap-40g-two-ports.yaml").string()).config;
  EXPECT_EQ(tap40.workers.count, 8u);
  ASSERT_EQ(tap40.ports.size(), 2u);
  EXPECT_FALSE(tap40.ports[0].pci.empty());
  EXPECT_FALSE(tap40.ports[1].pci.empty());
  EXPECT_GT(tap40.flow.capacity, Config{}.flow.capacity);
}

void collect_keys(const YAML::Node& node, const std::string& path, std::set<std::string>* keys) {
  if (!node.IsMap()) return;
  for (const auto& pair : node) {
    const std::string key = path.empty() ? pair.first.Scalar() : path + "." + pair.first.Scalar();
    keys->insert(key);
    collect_keys(pair.second, key, keys);
  }
}

TEST(ShippedConfigs, LoupeYamlHasEveryKey) {
  // The dump holds every key; the shipped file must show each one too.
  std::set<std::string> shipped;
  std::set<std::string> all;
  collect_keys(YAML::LoadFile((kRoot / "config/loupe.yaml").string()), "", &shipped);
  collect_keys(YAML::Load(dump_config(Config{})), "", &all);
  EXPECT_EQ(shipped, all);
}

}  // namespace
}  // namespace loupe
