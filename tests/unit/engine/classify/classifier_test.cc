// The classifier engine against a brute-force reference on thousands of
// generated rules, its corner cases (offsets, overlaps, sides, protocols),
// the rule syntax and its config errors, and the compiled-set cache.
#include <gtest/gtest.h>
#include <hs/hs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/loader.h"
#include "engine/classify/classifier_config.h"
#include "engine/classify/classifier_db.h"

namespace loupe {
namespace {

namespace fs = std::filesystem;

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kClient = 1;
constexpr uint8_t kServer = 2;

ClassifierSpec spec(std::string name, uint8_t l4, uint32_t offset, std::string bytes,
                    uint8_t direction = 0) {
  return {name, l4, offset, std::move(bytes), direction, "test: " + name};
}

// A fresh directory under the system's temporary one, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "classifier_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::shared_ptr<const ClassifierDb> built(std::vector<ClassifierSpec> specs) {
  ClassifierBuild b = ClassifierDb::build(std::move(specs), {}, "");
  EXPECT_TRUE(b.errors.empty()) << b.errors.front();
  EXPECT_TRUE(b.warnings.empty());
  return b.db;
}

// A DB and the scratch of the one "worker" of a test.
struct Scanner {
  explicit Scanner(std::shared_ptr<const ClassifierDb> d) : db(std::move(d)) {
    scratch = db->make_scratch();
  }
  ~Scanner() { hs_free_scratch(scratch); }
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // The names of the matched rules, in the order scan() gives them.
  std::vector<uint32_t> operator()(uint8_t l4, uint8_t side, std::string_view payload,
                                   uint32_t max_out = 64) const {
    std::vector<ClassifierMatch> out(max_out);
    const uint32_t n =
        scan(*db, scratch, l4, side, reinterpret_cast<const uint8_t*>(payload.data()),
             static_cast<uint32_t>(payload.size()), out.data(), max_out);
    std::vector<uint32_t> rules;
    for (uint32_t i = 0; i < n; ++i) {
      EXPECT_EQ(out[i].side, side);
      rules.push_back(out[i].rule);
    }
    return rules;
  }

  std::shared_ptr<const ClassifierDb> db;
  hs_scratch_t* scratch = nullptr;
};

// What scan() must find: every rule of the protocol and side whose bytes
// sit at its offset, in rule order.
std::vector<uint32_t> reference(const std::vector<ClassifierSpec>& rules, uint8_t l4, uint8_t side,
                                std::string_view payload) {
  std::vector<uint32_t> found;
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const ClassifierSpec& r = rules[i];
    if (r.l4 != l4 || (r.direction != 0 && r.direction != side)) continue;
    if (r.offset + r.bytes.size() <= payload.size() &&
        payload.substr(r.offset, r.bytes.size()) == r.bytes) {
      found.push_back(i);
    }
  }
  return found;
}

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Classifier, ThousandsOfRulesEachFoundOnlyAtItsOffset) {
  std::mt19937_64 rng(20260101);
  std::vector<ClassifierSpec> rules;
  for (int i = 0; i < 5000; ++i) {
    const uint8_t l4 = rng() % 2 ? kTcp : kUdp;
    const uint32_t offset = rng() % 4 ? rng() % 64 : rng() % 1000;
    const size_t length = 4 + rng() % 13;
    rules.push_back(spec("r" + std::to_string(i), l4, offset, random_bytes(rng, length),
                         static_cast<uint8_t>(rng() % 3)));
  }
  const Scanner scanner(built(rules));
  uint32_t tcp_window = 0;
  for (const ClassifierSpec& r : rules) {
    if (r.l4 == kTcp) tcp_window = std::max<uint32_t>(tcp_window, r.offset + r.bytes.size());
  }
  EXPECT_EQ(scanner.db->window(kTcp), tcp_window);
  EXPECT_EQ(scanner.db->size(), 5000u);

  size_t found = 0;
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const ClassifierSpec& r = rules[i];
    SCOPED_TRACE(r.name);
    // The bytes at the offset, one byte earlier and one later.
    for (int shift : {0, -1, 1}) {
      if (r.offset == 0 && shift < 0) continue;
      std::string payload = random_bytes(rng, r.offset + r.bytes.size() + 1 + rng() % 40);
      payload.replace(r.offset + shift, r.bytes.size(), r.bytes);
      for (uint8_t l4 : {kTcp, kUdp}) {
        for (uint8_t side : {kClient, kServer}) {
          const std::vector<uint32_t> got = scanner(l4, side, payload);
          ASSERT_EQ(got, reference(rules, l4, side, payload));
          const bool expected =
              shift == 0 && l4 == r.l4 && (r.direction == 0 || r.direction == side);
          EXPECT_EQ(std::count(got.begin(), got.end(), i), expected ? 1 : 0);
          found += expected;
        }
      }
    }
  }
  EXPECT_GT(found, 5000u);  // any-direction rules count twice
}

TEST(Classifier, OccurrenceAtAWrongOffsetDoesNotHideTheRightOne) {
  const Scanner scanner(built({spec("late", kTcp, 10, "WXYZ"), spec("aaaa", kTcp, 3, "aaaa")}));
  EXPECT_EQ(scanner(kTcp, kClient, "WXYZ......WXYZ.."), std::vector<uint32_t>{0});
  EXPECT_EQ(scanner(kTcp, kClient, "WXYZWXYZWXYZ...."), std::vector<uint32_t>{});
  // Overlapping occurrences of a self-overlapping literal: ends 4..8, the rule's is 7.
  EXPECT_EQ(scanner(kTcp, kClient, "aaaaaaaa"), std::vector<uint32_t>{1});
  EXPECT_EQ(scanner(kTcp, kClient, "aaaaaa"), std::vector<uint32_t>{});
}

TEST(Classifier, OverlappingRulesAllMatchInRuleOrder) {
  const std::vector<ClassifierSpec> rules = {
      spec("abcd@2", kTcp, 2, "abcd"),       spec("abcd@0", kTcp, 0, "abcd"),
      spec("abc@0", kTcp, 0, "abc"),         spec("bcd@1", kTcp, 1, "bcd"),
      spec("abcdabcd", kTcp, 0, "abcdabcd"), spec("cd@2", kTcp, 2, "cd"),
      spec("abcd@4", kTcp, 4, "abcd")};
  const Scanner scanner(built(rules));
  // Hyperscan reports by end offset (abc, abcd, bcd, cd, ...); scan() gives rule order.
  const std::string payload = "abcdabcd";
  EXPECT_EQ(scanner(kTcp, kServer, payload), (std::vector<uint32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(scanner(kTcp, kServer, payload), reference(rules, kTcp, kServer, payload));
  EXPECT_EQ(scanner(kTcp, kServer, "xxabcd"), (std::vector<uint32_t>{0}));
  // A payload shorter than a rule's end cannot hold it.
  EXPECT_EQ(scanner(kTcp, kServer, "abcdabc"), (std::vector<uint32_t>{1, 2, 3, 5}));
}

TEST(Classifier, SidesAndProtocolsAreKeptApart) {
  const Scanner scanner(built({spec("any", kTcp, 0, "HELO"), spec("client", kTcp, 0, "HELO", 1),
                               spec("server", kTcp, 0, "HELO", 2), spec("udp", kUdp, 0, "HELO"),
                               spec("udp-server", kUdp, 1, "ELO", 2)}));
  EXPECT_EQ(scanner(kTcp, kClient, "HELO x"), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(scanner(kTcp, kServer, "HELO x"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(scanner(kUdp, kClient, "HELO x"), (std::vector<uint32_t>{3}));
  EXPECT_EQ(scanner(kUdp, kServer, "HELO x"), (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(scanner(132, kClient, "HELO x"), (std::vector<uint32_t>{}));  // SCTP: no rules
  EXPECT_EQ(scanner.db->window(kTcp), 4u);
  EXPECT_EQ(scanner.db->window(kUdp), 4u);
  EXPECT_EQ(scanner.db->window(1), 0u);
  EXPECT_EQ(scanner.db->rule(4).name, "udp-server");
}

TEST(Classifier, ScansOnlyTheWindowAndStopsWhenFull) {
  const Scanner scanner(built({spec("a", kTcp, 0, "ab"), spec("b", kTcp, 1, "b"),
                               spec("c", kTcp, 0, "a"), spec("d", kTcp, 8, "zz")}));
  EXPECT_EQ(scanner.db->window(kTcp), 10u);
  const std::string long_payload = "ab......zz" + std::string(2000, 'z');
  EXPECT_EQ(scanner(kTcp, kClient, long_payload), (std::vector<uint32_t>{0, 1, 2, 3}));
  // Room for two: the scan stops at the second match it finds (by end offset).
  EXPECT_EQ(scanner(kTcp, kClient, long_payload, 2).size(), 2u);
  EXPECT_EQ(scanner(kTcp, kClient, ""), (std::vector<uint32_t>{}));
}

TEST(Classifier, AnEmptySetScansNothing) {
  ClassifierBuild b = ClassifierDb::build({}, {}, "");
  ASSERT_TRUE(b.db);
  EXPECT_EQ(b.db->size(), 0u);
  EXPECT_EQ(b.db->make_scratch(), nullptr);
  ClassifierMatch out[4];
  const uint8_t payload[] = {1, 2, 3};
  EXPECT_EQ(scan(*b.db, nullptr, kTcp, kClient, payload, 3, out, 4), 0u);
  EXPECT_EQ(b.db->window(kTcp), 0u);
}

TEST(Classifier, BadRulesAreErrorsNamingTheirOrigin) {
  ClassifierBuild b = ClassifierDb::build(
      {spec("ok", kTcp, 0, "ok"), spec("", kTcp, 0, "x"), spec("empty", kTcp, 0, ""),
       spec("far", kUdp, 1020, "abcde"), spec("icmp", 1, 0, "x"),
       spec("long", kTcp, 0, std::string(256, 'x')), spec("dir", kTcp, 0, "x", 3)},
      {}, "");
  EXPECT_FALSE(b.db);
  EXPECT_EQ(b.errors,
            (std::vector<std::string>{
                "test: : classifier \"\": the name must be 1 to 64 bytes",
                "test: empty: classifier \"empty\": the bytes must be 1 to 255 bytes long",
                "test: far: classifier \"far\": offset out of range: offset+length 1025 "
                "exceeds the 1024-byte window",
                "test: icmp: classifier \"icmp\": L4 protocol 1 is not tcp or udp",
                "test: long: classifier \"long\": the bytes must be 1 to 255 bytes long",
                "test: dir: classifier \"dir\": direction 3 is not any, client or server",
            }));
}

TEST(Classifier, IdenticalRulesShareAPatternAndAllMatch) {
  const Scanner scanner(built({spec("one", kTcp, 0, "GET "), spec("two", kTcp, 0, "GET ", 1),
                               spec("three", kTcp, 0, "GET ", 2), spec("one", kTcp, 0, "POST")}));
  EXPECT_EQ(scanner(kTcp, kClient, "GET / HTTP/1.1"), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(scanner(kTcp, kServer, "GET / HTTP/1.1"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(scanner(kTcp, kClient, "POST / HTTP/1.1"), (std::vector<uint32_t>{3}));
}

// The rule syntax.

std::string decoded(std::string_view text) {
  std::string why;
  std::optional<std::string> bytes = decode_classifier_bytes(text, &why);
  EXPECT_TRUE(bytes) << text << ": " << why;
  return bytes.value_or("<error>");
}

std::string decode_error(std::string_view text) {
  std::string why;
  EXPECT_FALSE(decode_classifier_bytes(text, &why)) << text;
  return why;
}

TEST(ClassifierBytes, EscapesAndHexBlocksDecode) {
  EXPECT_EQ(decoded("GET "), "GET ");
  EXPECT_EQ(decoded("|16 03 01|"), "\x16\x03\x01");
  EXPECT_EQ(decoded("|160301|"), "\x16\x03\x01");
  EXPECT_EQ(decoded("a|0d 0A|b"), "a\r\nb");
  EXPECT_EQ(decoded("\\x16\\x03\\xfF"), "\x16\x03\xff");
  EXPECT_EQ(decoded("\\\\\\\"\\n\\r\\t"), "\\\"\n\r\t");
  EXPECT_EQ(decoded("a\\0b"), std::string("a\0b", 3));
  EXPECT_EQ(decoded("|00|"), std::string(1, '\0'));
  EXPECT_EQ(decoded("a\\|b"), "a|b");
  EXPECT_EQ(decoded("\\||41|\\|"), "|A|");
}

TEST(ClassifierBytes, MistakesAreNamed) {
  EXPECT_EQ(decode_error("ab\\q"),
            "bad escape \\q at character 3 (allowed: \\xHH \\\\ \\\" \\n \\r \\t \\0 \\|)");
  EXPECT_EQ(decode_error("\\x1"), "bad escape \\x1 at character 1 (\\x takes two hex digits)");
  EXPECT_EQ(decode_error("\\xg0"), "bad escape \\xg0 at character 1 (\\x takes two hex digits)");
  EXPECT_EQ(decode_error("abc\\"), "unfinished escape at character 4 (a backslash is \\\\)");
  EXPECT_EQ(decode_error("a|16 03"),
            "unterminated hex block at character 2 (a literal pipe is \\|)");
  EXPECT_EQ(decode_error("|16 0|"),
            "lone hex digit '0' in hex block at character 5 (write two digits per byte)");
  EXPECT_EQ(decode_error("|16 zz|"), "bad hex digit 'z' in hex block at character 5");
  EXPECT_EQ(decode_error("ab||"), "empty hex block at character 3");
}

// The YAML rules, through the real loader.

LoadResult load_yaml(const std::string& text) {
  TempDir dir;
  const fs::path file = dir.path() / "rules.yaml";
  write_file(file, text);
  LoadResult result = load_config(file.string());
  for (ConfigError& e : result.errors) e.file = fs::path(e.file).filename().string();
  return result;
}

std::vector<std::string> error_lines(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& e : result.errors) lines.push_back(to_string(e));
  return lines;
}

TEST(ClassifierConfig, RulesLoadAndDecode) {
  const LoadResult result = load_yaml(R"(classify:
  classifiers:
    enabled: false
    cache_dir: /tmp/hs
classifiers:
  - name: tls
    bytes: '|16 03|'
  - name: dns-reply
    proto: udp
    offset: 2
    bytes: '\x81\x80'
    direction: server
  - name: http
    bytes: GET\x20
    direction: client
  - name: http
    bytes: 'POST '
    direction: client
)");
  ASSERT_TRUE(result.config) << error_lines(result).front();
  const Config& c = *result.config;
  EXPECT_FALSE(c.classify.classifiers.enabled);
  EXPECT_EQ(c.classify.classifiers.cache_dir, "/tmp/hs");
  const std::vector<ClassifierSpec> specs = classifier_specs(c.classifiers, "rules.yaml");
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].bytes, "\x16\x03");
  EXPECT_EQ(specs[0].l4, kTcp);
  EXPECT_EQ(specs[0].direction, 0);
  EXPECT_EQ(specs[1].bytes, "\x81\x80");
  EXPECT_EQ(specs[1].l4, kUdp);
  EXPECT_EQ(specs[1].offset, 2u);
  EXPECT_EQ(specs[1].direction, kServer);
  EXPECT_EQ(specs[1].origin, "rules.yaml: classifiers.1");
  EXPECT_EQ(specs[2].bytes, "GET ");
  EXPECT_EQ(specs[2].direction, kClient);

  const Scanner scanner(built(specs));
  EXPECT_EQ(scanner(kTcp, kClient, "\x16\x03\x01\x02"), std::vector<uint32_t>{0});
  EXPECT_EQ(scanner(kUdp, kServer, "\x12\x34\x81\x80"), std::vector<uint32_t>{1});
  EXPECT_EQ(scanner(kTcp, kClient, "POST /"), std::vector<uint32_t>{3});
}

TEST(ClassifierConfig, BadRulesAreReportedAtTheirPosition) {
  const LoadResult result = load_yaml(R"(classifiers:
  - name: ""
    bytes: abc
  - name: esc
    bytes: 'a\qb'
  - name: hex
    bytes: '|16 03'
  - name: far
    offset: 1020
    bytes: abcdefgh
  - name: empty
    bytes: ''
  - name: tls
    bytes: '|16 03|'
  - name: tls
    offset: 1
    bytes: '|16 03|'
  - name: tls
    proto: udp
    bytes: '|16 03|'
  - name: tls
    bytes: '\x16|03|'
  - name: big
    offset: 1024
    bytes: a
  - name: proto
    proto: icmp
    bytes: a
)");
  EXPECT_FALSE(result.config);
  EXPECT_EQ(error_lines(result),
            (std::vector<std::string>{
                "rules.yaml:2:11: classifiers.0.name: must not be empty",
                "rules.yaml:5:12: classifiers.1.bytes: bad escape \\q at character 2 (allowed: "
                "\\xHH \\\\ \\\" \\n \\r \\t \\0 \\|)",
                "rules.yaml:7:12: classifiers.2.bytes: unterminated hex block at character 1 (a "
                "literal pipe is \\|)",
                "rules.yaml:9:13: classifiers.3.offset: offset out of range: offset+length 1028 "
                "exceeds the 1024-byte window",
                "rules.yaml:12:12: classifiers.4.bytes: must not be empty",
                "rules.yaml:21:11: classifiers.8.name: duplicate classifier rule \"tls\" (same "
                "as classifiers.5)",
                "rules.yaml:24:13: classifiers.9.offset: 1024 is out of range 0..1023",
                "rules.yaml:27:12: classifiers.10.proto: \"icmp\" is not one of: tcp, udp",
            }));
}

// The cache.

std::vector<ClassifierSpec> cached_rules(int n) {
  std::mt19937_64 rng(7);
  std::vector<ClassifierSpec> rules;
  for (int i = 0; i < n; ++i) {
    rules.push_back(spec("c" + std::to_string(i), i % 3 ? kTcp : kUdp, rng() % 32,
                         random_bytes(rng, 4 + rng() % 8)));
  }
  return rules;
}

TEST(ClassifierCache, SecondBuildLoadsWhatTheFirstWrote) {
  TempDir dir;
  const fs::path cache = dir.path() / "cache" / "hs";  // created on demand
  const fs::path source = dir.path() / "rules.yaml";
  write_file(source, "rules v1");
  const std::vector<ClassifierSpec> rules = cached_rules(500);

  ClassifierBuild first = ClassifierDb::build(rules, {source.string()}, cache.string());
  ASSERT_TRUE(first.db);
  EXPECT_TRUE(first.warnings.empty());
  EXPECT_FALSE(first.cache_used);
  EXPECT_EQ(first.cache_path, (cache / (first.db->hash_hex() + ".hsdb")).string());
  EXPECT_TRUE(fs::exists(first.cache_path));
  EXPECT_EQ(first.db->hash_hex().size(), 64u);

  ClassifierBuild second = ClassifierDb::build(rules, {source.string()}, cache.string());
  ASSERT_TRUE(second.db);
  EXPECT_TRUE(second.warnings.empty());
  EXPECT_TRUE(second.cache_used);
  EXPECT_EQ(second.db->hash_hex(), first.db->hash_hex());
  EXPECT_EQ(second.db->database_bytes(), first.db->database_bytes());
  EXPECT_EQ(second.db->window(kTcp), first.db->window(kTcp));

  // The loaded set finds what the compiled one finds.
  const Scanner compiled(first.db);
  const Scanner loaded(second.db);
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string payload(64, '.');
    payload.replace(rules[i].offset, rules[i].bytes.size(), rules[i].bytes);
    EXPECT_EQ(loaded(rules[i].l4, kClient, payload), compiled(rules[i].l4, kClient, payload));
    EXPECT_EQ(loaded(rules[i].l4, kClient, payload),
              reference(rules, rules[i].l4, kClient, payload));
  }
}

TEST(ClassifierCache, AChangedRuleOrSourceIsANewSet) {
  TempDir dir;
  const fs::path source = dir.path() / "script.lua";
  write_file(source, "-- v1");
  std::vector<ClassifierSpec> rules = cached_rules(50);
  const std::string cache = dir.path().string();

  const ClassifierBuild base = ClassifierDb::build(rules, {source.string()}, cache);
  ASSERT_TRUE(base.db);

  rules[10].bytes.back() ^= 1;
  const ClassifierBuild edited = ClassifierDb::build(rules, {source.string()}, cache);
  ASSERT_TRUE(edited.db);
  EXPECT_FALSE(edited.cache_used);
  EXPECT_NE(edited.db->hash_hex(), base.db->hash_hex());

  rules[10].bytes.back() ^= 1;
  rules[10].direction = 2;
  const ClassifierBuild redirected = ClassifierDb::build(rules, {source.string()}, cache);
  EXPECT_FALSE(redirected.cache_used);
  EXPECT_NE(redirected.db->hash_hex(), base.db->hash_hex());
  rules[10].direction = 0;

  write_file(source, "-- v2");
  const ClassifierBuild new_source = ClassifierDb::build(rules, {source.string()}, cache);
  ASSERT_TRUE(new_source.db);
  EXPECT_FALSE(new_source.cache_used);
  EXPECT_NE(new_source.db->hash_hex(), base.db->hash_hex());

  // Back to v1 (a new file time, the same content): the first set again.
  write_file(source, "-- v1");
  const ClassifierBuild again = ClassifierDb::build(rules, {source.string()}, cache);
  EXPECT_TRUE(again.cache_used);
  EXPECT_EQ(again.db->hash_hex(), base.db->hash_hex());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()),
            4 + 1);  // four sets and the source
}

TEST(ClassifierCache, ACorruptFileIsIgnoredAndRewritten) {
  TempDir dir;
  const std::vector<ClassifierSpec> rules = cached_rules(200);
  const ClassifierBuild first = ClassifierDb::build(rules, {}, dir.path().string());
  ASSERT_TRUE(first.db);
  const std::string good = read_file(first.cache_path);

  for (const std::string& bad :
       {good.substr(0, good.size() / 2), std::string(), std::string("not a cache file"),
        good.substr(0, 100) + char(good[100] ^ 0x40) + good.substr(101)}) {
    write_file(first.cache_path, bad);
    const ClassifierBuild rebuilt = ClassifierDb::build(rules, {}, dir.path().string());
    ASSERT_TRUE(rebuilt.db);
    EXPECT_FALSE(rebuilt.cache_used);
    ASSERT_EQ(rebuilt.warnings.size(), 1u);
    EXPECT_NE(rebuilt.warnings[0].find("compiled again and rewritten"), std::string::npos)
        << rebuilt.warnings[0];
    EXPECT_EQ(read_file(first.cache_path), good);
    EXPECT_TRUE(ClassifierDb::build(rules, {}, dir.path().string()).cache_used);
  }
}

TEST(ClassifierCache, AnUnusableCacheDirIsAWarningNotAFailure) {
  TempDir dir;
  const fs::path file = dir.path() / "a-file";
  write_file(file, "x");
  const std::vector<ClassifierSpec> rules = cached_rules(20);
  const ClassifierBuild b = ClassifierDb::build(rules, {}, (file / "cache").string());
  ASSERT_TRUE(b.db);
  EXPECT_TRUE(b.errors.empty());
  ASSERT_EQ(b.warnings.size(), 1u);
  EXPECT_NE(b.warnings[0].find("cannot create the cache directory"), std::string::npos)
      << b.warnings[0];
  EXPECT_FALSE(b.cache_used);
  EXPECT_EQ(b.cache_path, "");
  const Scanner scanner(b.db);
  std::string payload(64, '.');
  payload.replace(rules[3].offset, rules[3].bytes.size(), rules[3].bytes);
  EXPECT_EQ(scanner(rules[3].l4, kServer, payload), std::vector<uint32_t>{3});

  // A cache file that cannot be written (a directory is in its way; the
  // tests run as root, so permissions would not stop them).
  const fs::path cache = dir.path() / "cache";
  fs::create_directories(cache / (b.db->hash_hex() + ".hsdb"));
  const ClassifierBuild blocked = ClassifierDb::build(rules, {}, cache.string());
  ASSERT_TRUE(blocked.db);
  EXPECT_FALSE(blocked.cache_used);
  ASSERT_EQ(blocked.warnings.size(), 1u);
  EXPECT_NE(blocked.warnings[0].find("the set works without its cache"), std::string::npos)
      << blocked.warnings[0];
  EXPECT_EQ(std::distance(fs::directory_iterator(cache), fs::directory_iterator()), 1);

  // A source that cannot be read is hashed as missing, with a warning.
  const ClassifierBuild no_source =
      ClassifierDb::build(rules, {(dir.path() / "gone.lua").string()}, "");
  ASSERT_TRUE(no_source.db);
  EXPECT_EQ(no_source.warnings.size(), 1u);
}

}  // namespace
}  // namespace loupe
