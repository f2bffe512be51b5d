// The alert pipeline (contract §4.7): de-duplication and rate limits on
// record time, the engaged-alert lifecycle, the store and its queries, the
// JSON lines it writes (parsed back), and sinks that fail.
#include "engine/control/alert_pipeline.h"

#include <gtest/gtest.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/control/syslog_sink.h"
#include "engine/flow/community_id.h"
#include "engine/flow/flow_key.h"
#include "tests/unit/engine/flow/flow_test_util.h"

namespace loupe {
namespace {

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kT0 = 1'700'000'000ULL * kSec;  // 2023-11-14T22:13:20Z

// --- A small strict JSON reader: the records must parse back. ---

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  bool has(const std::string& k) const { return fields.count(k) != 0; }
  const Json& operator[](const std::string& k) const {
    static const Json kNone;
    auto it = fields.find(k);
    return it == fields.end() ? kNone : it->second;
  }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : t_(text) {}
  // False unless `text` is exactly one JSON value.
  bool read(Json& out) {
    if (!value(out)) return false;
    space();
    return i_ == t_.size();
  }

 private:
  void space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\t' || t_[i_] == '\r'))
      ++i_;
  }
  bool literal(std::string_view w) {
    if (t_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (i_ >= t_.size() || t_[i_] != '"') return false;
    ++i_;
    while (i_ < t_.size() && t_[i_] != '"') {
      const unsigned char c = static_cast<unsigned char>(t_[i_++]);
      if (c < 0x20) return false;  // control characters must be escaped
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= t_.size()) return false;
      const char e = t_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i_ + 4 > t_.size()) return false;
          const std::string hex(t_.substr(i_, 4));
          char* end = nullptr;
          const long v = std::strtol(hex.c_str(), &end, 16);
          if (end != hex.c_str() + 4 || v > 0xff) return false;  // the writers escape bytes only
          out += static_cast<char>(v);
          i_ += 4;
          break;
        }
        default:
          return false;
      }
    }
    if (i_ >= t_.size()) return false;
    ++i_;
    return true;
  }
  bool value(Json& out) {
    space();
    if (i_ >= t_.size()) return false;
    const char c = t_[i_];
    if (c == '{') {
      out.kind = Json::kObject;
      ++i_;
      space();
      if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
      for (;;) {
        space();
        std::string k;
        if (!string(k) || out.fields.count(k) != 0) return false;  // no duplicate keys
        space();
        if (i_ >= t_.size() || t_[i_++] != ':') return false;
        if (!value(out.fields[k])) return false;
        space();
        if (i_ >= t_.size()) return false;
        if (t_[i_] == '}') return ++i_, true;
        if (t_[i_++] != ',') return false;
      }
    }
    if (c == '[') {
      out.kind = Json::kArray;
      ++i_;
      space();
      if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
      for (;;) {
        out.items.emplace_back();
        if (!value(out.items.back())) return false;
        space();
        if (i_ >= t_.size()) return false;
        if (t_[i_] == ']') return ++i_, true;
        if (t_[i_++] != ',') return false;
      }
    }
    if (c == '"') {
      out.kind = Json::kString;
      return string(out.s);
    }
    if (literal("true")) return out.kind = Json::kBool, out.b = true, true;
    if (literal("false")) return out.kind = Json::kBool, true;
    if (literal("null")) return true;
    const std::string rest(t_.substr(i_, 40));
    char* end = nullptr;
    out.n = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) return false;
    out.kind = Json::kNumber;
    i_ += static_cast<size_t>(end - rest.c_str());
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
};

Json parse(const std::string& line) {
  Json j;
  EXPECT_TRUE(JsonReader(line).read(j)) << "not one JSON value: " << line;
  return j;
}

// --- Fixtures ---

// A sink that keeps every line, so tests read what the pipeline emitted.
class KeptLines final : public AlertOutput {
 public:
  explicit KeptLines(std::vector<std::string>* lines) : lines_(lines) {}
  const char* name() const override { return "kept"; }
  void write(std::string_view line, Severity) override { lines_->emplace_back(line); }
  uint64_t written() const override { return lines_->size(); }
  uint64_t failed() const override { return 0; }

 private:
  std::vector<std::string>* lines_;
};

AlertsConfig quiet_config() {
  AlertsConfig c;
  c.file = "";  // the tests read KeptLines; the file sink has tests of its own
  c.dedup_seconds = 0;
  c.max_per_minute = 0;
  c.max_per_script_per_second = 0;
  return c;
}

struct Harness {
  explicit Harness(const AlertsConfig& c) : pipeline(c, nullptr) {
    pipeline.add_output(std::make_unique<KeptLines>(&lines));
  }
  std::vector<Json> records() const {
    std::vector<Json> out;
    for (const std::string& l : lines) out.push_back(parse(l));
    return out;
  }
  std::vector<std::string> lines;
  AlertPipeline pipeline;
};

EntityAlert host_alert(const std::string& ip, uint64_t t, const std::string& msg = "ports",
                       double score = 80) {
  EntityAlert a;
  a.entity = AlertEntity::kHost;
  a.script = "host/unanswered_ports";
  a.entity_val = ip + "@0";
  a.host_ip = ip;
  a.message = msg;
  a.time_ns = t;
  a.set_score(score);
  return a;
}

EntityAlert system_alert(uint64_t t, const std::string& msg, double score = 60) {
  EntityAlert a;
  a.entity = AlertEntity::kSystem;
  a.script = "loupe";
  a.message = msg;
  a.time_ns = t;
  a.set_score(score);
  return a;
}

uint64_t suppressed(const AlertPipeline& p, AlertSuppression r) {
  return p.counters().suppressed[static_cast<size_t>(r)];
}

std::string temp_path(const std::string& name) {
  std::string dir = ::testing::TempDir() + "alert_pipeline_XXXXXX";
  EXPECT_NE(::mkdtemp(dir.data()), nullptr);
  return dir + "/" + name;
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// --- De-duplication and rate limits ---

TEST(AlertPipeline, DuplicatesWithinTheWindowAreMergedAndCountedOnTheNextRecord) {
  AlertsConfig c = quiet_config();
  c.dedup_seconds = 60;
  Harness h(c);
  EXPECT_TRUE(h.pipeline.submit(system_alert(kT0, "disk slow")));
  EXPECT_FALSE(h.pipeline.submit(system_alert(kT0 + 10 * kSec, "disk slow")));
  EXPECT_FALSE(h.pipeline.submit(system_alert(kT0 + 59 * kSec, "disk slow")));
  // Another message is another key.
  EXPECT_TRUE(h.pipeline.submit(system_alert(kT0 + 20 * kSec, "disk full")));
  // 60 s after the last one written, the key is written again with the count.
  EXPECT_TRUE(h.pipeline.submit(system_alert(kT0 + 60 * kSec, "disk slow")));
  EXPECT_FALSE(h.pipeline.submit(system_alert(kT0 + 61 * kSec, "disk slow")));

  const std::vector<Json> r = h.records();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["alert"]["suppressed"].n, 0);
  EXPECT_EQ(r[1]["alert"]["message"].s, "disk full");
  EXPECT_EQ(r[1]["alert"]["suppressed"].n, 0);
  EXPECT_EQ(r[2]["alert"]["message"].s, "disk slow");
  EXPECT_EQ(r[2]["alert"]["suppressed"].n, 2);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kDedup), 3u);
  EXPECT_EQ(h.pipeline.counters().emitted_total, 3u);
}

TEST(AlertPipeline, WithoutAWindowEveryRecordIsWritten) {
  Harness h(quiet_config());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(h.pipeline.submit(system_alert(kT0, "same")));
  EXPECT_EQ(h.lines.size(), 5u);
  EXPECT_EQ(h.pipeline.counters().suppressed_total(), 0u);
}

TEST(AlertPipeline, EntityRateLimitsPerScriptEntityAndValue) {
  AlertsConfig c = quiet_config();
  c.max_per_minute = 3;
  Harness h(c);
  for (int i = 0; i < 5; ++i)
    h.pipeline.submit(host_alert("10.0.0.1", kT0 + i * kSec, "m" + std::to_string(i)));
  // Another host has a budget of its own.
  EXPECT_TRUE(h.pipeline.submit(host_alert("10.0.0.2", kT0 + 5 * kSec, "m0")));
  EXPECT_EQ(h.lines.size(), 4u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kEntityRate), 2u);
  // A minute on, m3 (limited before) is written and reports it.
  EXPECT_TRUE(h.pipeline.submit(host_alert("10.0.0.1", kT0 + 61 * kSec, "m3")));
  const Json last = parse(h.lines.back());
  EXPECT_EQ(last["alert"]["message"].s, "m3");
  EXPECT_EQ(last["alert"]["suppressed"].n, 1);
}

TEST(AlertPipeline, ScriptRateLimitsAllEntitiesTogether) {
  AlertsConfig c = quiet_config();
  c.max_per_script_per_second = 2;
  c.max_per_minute = 100;
  Harness h(c);
  for (int i = 0; i < 4; ++i)
    h.pipeline.submit(host_alert("10.0.0." + std::to_string(i), kT0 + i * 1000, "x"));
  EXPECT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kScriptRate), 2u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kEntityRate), 0u);
  // Another script is not affected; the next second has room again.
  EntityAlert other = host_alert("10.0.0.9", kT0 + 5000, "x");
  other.script = "host/other";
  EXPECT_TRUE(h.pipeline.submit(other));
  EXPECT_TRUE(h.pipeline.submit(host_alert("10.0.0.3", kT0 + kSec, "x")));
  EXPECT_EQ(parse(h.lines.back())["alert"]["suppressed"].n, 1);
}

TEST(AlertPipeline, ReleasesAreNeverMergedOrLimited) {
  AlertsConfig c = quiet_config();
  c.dedup_seconds = 3600;
  c.max_per_minute = 1;
  c.max_per_script_per_second = 1;
  Harness h(c);
  EXPECT_TRUE(h.pipeline.engage(host_alert("10.0.0.1", kT0)));
  // Limited (script_rate), yet engaged: a consumer learns of it on release.
  EXPECT_TRUE(h.pipeline.engage(host_alert("10.0.0.2", kT0)));
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kScriptRate), 1u);
  EXPECT_TRUE(h.pipeline.release(host_alert("10.0.0.1", 0), kT0 + 1000));
  EXPECT_TRUE(h.pipeline.release(host_alert("10.0.0.2", 0), kT0 + 2000));
  // Engaged and released again at once: the same key, still written.
  EXPECT_TRUE(h.pipeline.engage(host_alert("10.0.0.1", kT0 + 3000)));
  EXPECT_TRUE(h.pipeline.release(host_alert("10.0.0.1", 0), kT0 + 4000));
  std::vector<std::string> lifecycles;
  for (const Json& r : h.records()) lifecycles.push_back(r["alert"]["lifecycle"].s);
  EXPECT_EQ(lifecycles, (std::vector<std::string>{"engage", "release", "release", "release"}));
  // Only the two engage records were held back; no release counts as suppressed.
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kScriptRate), 1u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kDedup), 1u);
  EXPECT_EQ(suppressed(h.pipeline, AlertSuppression::kEntityRate), 0u);
}

TEST(AlertPipeline, LimiterLetsEveryReleaseThroughWithoutSpendingBudget) {
  AlertLimiter limiter(AlertLimiter::Limits{3600 * kSec, 1, 1, 64});
  const EntityAlert a = host_alert("10.0.0.1", kT0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.check(a, AlertLifecycle::kRelease).emit);
  // The releases used neither the host's minute nor the script's second.
  EXPECT_TRUE(limiter.check(a, AlertLifecycle::kStore).emit);
  const AlertLimiter::Verdict v = limiter.check(a, AlertLifecycle::kRefresh);
  EXPECT_FALSE(v.emit);
  EXPECT_EQ(v.reason, AlertSuppression::kEntityRate);
}

TEST(AlertPipeline, LimiterStateStaysBoundedAndExpires) {
  AlertLimiter limiter(AlertLimiter::Limits{60 * kSec, 10, 1000, 8});
  for (int i = 0; i < 100; ++i) {
    EntityAlert a = host_alert("10.0.1." + std::to_string(i), kT0 + i * 1000);
    EXPECT_TRUE(limiter.check(a, AlertLifecycle::kStore).emit);
  }
  EXPECT_LE(limiter.keys(), 3u * 8u);
  EXPECT_GT(limiter.evicted(), 0u);
  // Two hours later every window and de-duplication entry has expired.
  EntityAlert late = host_alert("10.0.2.1", kT0 + 7200 * kSec);
  EXPECT_TRUE(limiter.check(late, AlertLifecycle::kStore).emit);
  EXPECT_EQ(limiter.keys(), 3u);  // the late record's own three keys
}

// --- Engaged alerts ---

TEST(AlertPipeline, EngageRefreshReleaseShareTheAlertId) {
  Harness h(quiet_config());
  EXPECT_TRUE(h.pipeline.engage(host_alert("10.0.0.1", kT0, "3 ports", 40)));
  EXPECT_TRUE(h.pipeline.engage(host_alert("10.0.0.1", kT0 + 60 * kSec, "9 ports", 120)));
  // While engaged: one alert, with the refresh's message and score.
  auto [engaged, n] = h.pipeline.query(AlertQuery{.status = AlertStatusFilter::kEngaged});
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(engaged[0]->alert.message, "9 ports");
  EXPECT_EQ(engaged[0]->alert.score, 120u);
  EXPECT_EQ(engaged[0]->alert.severity, Severity::kError);
  EXPECT_EQ(engaged[0]->alert.time_ns, kT0);
  EXPECT_EQ(engaged[0]->status, AlertStatus::kEngaged);

  EXPECT_TRUE(h.pipeline.release(host_alert("10.0.0.1", 0), kT0 + 120 * kSec));
  EXPECT_FALSE(h.pipeline.release(host_alert("10.0.0.1", 0), kT0 + 121 * kSec));
  EXPECT_FALSE(h.pipeline.release(host_alert("10.0.0.7", 0), kT0 + 121 * kSec));

  const std::vector<Json> r = h.records();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["alert"]["lifecycle"].s, "engage");
  EXPECT_EQ(r[1]["alert"]["lifecycle"].s, "refresh");
  EXPECT_EQ(r[2]["alert"]["lifecycle"].s, "release");
  EXPECT_EQ(r[1]["alert"]["message"].s, "9 ports");
  EXPECT_EQ(r[2]["timestamp"].s, "2023-11-14T22:15:20.000000+0000");
  EXPECT_EQ(r[0]["alert"]["id"].n, r[1]["alert"]["id"].n);
  EXPECT_EQ(r[0]["alert"]["id"].n, r[2]["alert"]["id"].n);

  auto [past, m] = h.pipeline.query(AlertQuery{.status = AlertStatusFilter::kPast});
  ASSERT_EQ(m, 1u);
  EXPECT_EQ(past[0]->status, AlertStatus::kReleased);
  EXPECT_EQ(past[0]->last_ns, kT0 + 120 * kSec);
  EXPECT_EQ(h.pipeline.store().engaged_size(), 0u);
}

TEST(AlertPipeline, SubtypeAndTypeArePartOfTheIdentity) {
  Harness h(quiet_config());
  EntityAlert a = host_alert("10.0.0.1", kT0);
  EntityAlert b = a;
  b.alert_subtype = "udp";
  EntityAlert c = a;
  c.alert_type = "scan";
  EXPECT_TRUE(h.pipeline.engage(a));
  EXPECT_TRUE(h.pipeline.engage(b));
  EXPECT_TRUE(h.pipeline.engage(c));
  EXPECT_EQ(h.pipeline.store().engaged_size(), 3u);
  // The default alert_type is the script key.
  EXPECT_EQ(parse(h.lines[0])["alert"]["alert_type"].s, "host/unanswered_ports");

  const std::string udp = "udp";
  EXPECT_EQ(h.pipeline.release_matching("host/unanswered_ports", &udp, nullptr, kT0 + kSec), 1u);
  const std::string scan = "scan";
  EXPECT_EQ(h.pipeline.release_matching("host/unanswered_ports", nullptr, &scan, kT0 + kSec), 1u);
  EXPECT_EQ(h.pipeline.release_matching("host/other", nullptr, nullptr, kT0 + kSec), 0u);
  EXPECT_EQ(h.pipeline.store().engaged_size(), 1u);
}

TEST(AlertPipeline, ReleaseByIdStaleAndRemovedScripts) {
  Harness h(quiet_config());
  h.pipeline.engage(host_alert("10.0.0.1", kT0));
  h.pipeline.engage(host_alert("10.0.0.2", kT0));
  EntityAlert net;
  net.entity = AlertEntity::kNetwork;
  net.script = "network/traffic";
  net.entity_val = "10.0.0.0/8";
  net.network_cidr = "10.0.0.0/8";
  net.network_id = 0;
  net.message = "busy";
  net.time_ns = kT0;
  net.set_score(50);
  h.pipeline.engage(net);

  // A run at kT0 + 60 s refreshes 10.0.0.2 only: 10.0.0.1 is released.
  h.pipeline.engage(host_alert("10.0.0.2", kT0 + 60 * kSec));
  EXPECT_EQ(h.pipeline.release_stale("host/unanswered_ports", AlertEntity::kHost, kT0 + 60 * kSec,
                                     kT0 + 61 * kSec),
            1u);
  uint64_t id = 0;
  h.pipeline.for_each_engaged([&](const StoredAlert& s) {
    if (s.alert.entity == AlertEntity::kHost) {
      EXPECT_EQ(s.alert.entity_val, "10.0.0.2@0");
      id = s.alert_id;
    }
  });
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(h.pipeline.release_id(id, kT0 + 62 * kSec));
  EXPECT_FALSE(h.pipeline.release_id(id, kT0 + 62 * kSec));

  // A reload without network/traffic releases its alert.
  h.pipeline.engage(host_alert("10.0.0.3", kT0 + 70 * kSec));
  h.pipeline.release_scripts_not_in({"host/unanswered_ports"}, kT0 + 80 * kSec);
  std::vector<std::string> left;
  h.pipeline.for_each_engaged([&](const StoredAlert& s) { left.push_back(s.alert.entity_val); });
  EXPECT_EQ(left, std::vector<std::string>{"10.0.0.3@0"});
  const Json last = parse(h.lines.back());
  EXPECT_EQ(last["alert"]["lifecycle"].s, "release");
  EXPECT_EQ(last["alert"]["entity"].s, "network");
}

TEST(AlertPipeline, EngagedTableFullRefusesAndCounts) {
  AlertPipeline p(quiet_config(), nullptr);
  for (size_t i = 0; i < AlertPipeline::kMaxEngaged; ++i) {
    EntityAlert a = host_alert("h", kT0);
    a.entity_val = std::to_string(i);
    ASSERT_TRUE(p.engage(a));
  }
  EntityAlert one_more = host_alert("h", kT0);
  one_more.entity_val = "last";
  EXPECT_FALSE(p.engage(one_more));
  EXPECT_EQ(p.counters().dropped[static_cast<size_t>(AlertDrop::kEngagedFull)], 1u);
  // Refreshing one already engaged is still accepted.
  EntityAlert again = host_alert("h", kT0 + kSec);
  again.entity_val = "7";
  EXPECT_TRUE(p.engage(again));
}

// --- The store and queries ---

TEST(AlertPipeline, StoreKeepsTheNewestRecordsAndEveryEngagedAlert) {
  AlertsConfig c = quiet_config();
  c.store_size = 3;
  Harness h(c);
  h.pipeline.engage(host_alert("10.0.0.1", kT0));
  for (int i = 0; i < 5; ++i)
    h.pipeline.submit(system_alert(kT0 + (i + 1) * kSec, "event " + std::to_string(i)));
  auto [page, total] = h.pipeline.query(AlertQuery{.order_by = AlertOrderBy::kTstamp});
  EXPECT_EQ(total, 4u);
  ASSERT_EQ(page.size(), 4u);
  EXPECT_EQ(page[0]->alert.message, "event 4");
  EXPECT_EQ(page[1]->alert.message, "event 3");
  EXPECT_EQ(page[2]->alert.message, "event 2");
  EXPECT_EQ(page[3]->status, AlertStatus::kEngaged);  // the oldest, yet kept
  EXPECT_EQ(h.pipeline.store().past_size(), 3u);
}

TEST(AlertPipeline, QueryFiltersOrdersAndPages) {
  Harness h(quiet_config());
  // Scores 5 (info), 30 (notice), 70 (warning), 150 (error), 300 (emergency).
  const double scores[] = {30, 150, 5, 300, 70};
  for (int i = 0; i < 5; ++i) {
    EntityAlert a = host_alert("10.0.0." + std::to_string(i), kT0 + i * kSec, "m", scores[i]);
    a.ifid = i % 2;
    h.pipeline.submit(a);
  }
  h.pipeline.submit(system_alert(kT0 + 10 * kSec, "boot", 0));
  EntityAlert e = host_alert("10.0.0.9", kT0 + 20 * kSec, "on", 60);
  e.alert_type = "scan";
  h.pipeline.engage(e);

  auto scores_of = [](const std::vector<const StoredAlert*>& v) {
    std::vector<uint32_t> out;
    for (const StoredAlert* s : v) out.push_back(s->alert.score);
    return out;
  };
  auto [all, total] = h.pipeline.query({});
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(all.front()->alert.score, 60u);  // newest first by default

  auto [by_score, n1] = h.pipeline.query(AlertQuery{
      .script = "host/unanswered_ports", .order_by = AlertOrderBy::kScore, .ascending = true});
  EXPECT_EQ(n1, 6u);
  EXPECT_EQ(scores_of(by_score), (std::vector<uint32_t>{5, 30, 60, 70, 150, 300}));

  auto [sev, n2] = h.pipeline.query(AlertQuery{.status = AlertStatusFilter::kPast,
                                               .min_severity = Severity::kWarning,
                                               .order_by = AlertOrderBy::kSeverity});
  EXPECT_EQ(n2, 3u);
  EXPECT_EQ(scores_of(sev), (std::vector<uint32_t>{300, 150, 70}));

  auto [page2, n3] = h.pipeline.query(AlertQuery{
      .entity = AlertEntity::kHost, .page = 2, .per_page = 2, .order_by = AlertOrderBy::kScore});
  EXPECT_EQ(n3, 6u);
  EXPECT_EQ(scores_of(page2), (std::vector<uint32_t>{70, 60}));
  auto [beyond, n4] = h.pipeline.query(AlertQuery{.page = 9, .per_page = 2});
  EXPECT_EQ(n4, 7u);
  EXPECT_TRUE(beyond.empty());

  EXPECT_EQ(h.pipeline.query(AlertQuery{.alert_type = "scan"}).second, 1u);
  EXPECT_EQ(h.pipeline.query(AlertQuery{.entity_val = "10.0.0.3@0"}).first.at(0)->alert.score,
            300u);
  EXPECT_EQ(h.pipeline.query(AlertQuery{.entity = AlertEntity::kSystem}).second, 1u);
  EXPECT_EQ(h.pipeline.query(AlertQuery{.ifid = 1}).second, 2u);
  // Epochs are whole seconds, both ends included.
  const uint64_t t0 = kT0 / kSec;
  EXPECT_EQ(h.pipeline.query(AlertQuery{.epoch_begin = t0 + 1, .epoch_end = t0 + 3}).second, 3u);
  // perPage is capped at 1000 and at least 1.
  EXPECT_EQ(h.pipeline.query(AlertQuery{.per_page = 0}).first.size(), 1u);
}

// --- The records written ---

TEST(AlertPipeline, EntityRecordsParseBackWithTheirFields) {
  Harness h(quiet_config());
  EntityAlert a = host_alert("10.0.0.5", kT0 + 512'345'000, "say \"hi\"\n\x01", 2500);
  a.host_vlan = 7;
  a.entity_val = "10.0.0.5@7";
  a.details = "{\"ports\":[22,23]}";
  a.ifid = 2;
  h.pipeline.engage(a);
  EntityAlert net;
  net.entity = AlertEntity::kNetwork;
  net.script = "network/traffic";
  net.entity_val = "192.168.0.0/16";
  net.network_cidr = "192.168.0.0/16";
  net.network_id = 3;
  net.alert_subtype = "in";
  net.message = std::string(2000, 'x');
  net.time_ns = kT0;
  net.severity = Severity::kAlert;  // given by the script, never derived
  h.pipeline.engage(net);
  h.pipeline.submit(system_alert(kT0, "stalled", 100));

  const std::vector<Json> r = h.records();
  ASSERT_EQ(r.size(), 3u);
  const Json& host = r[0];
  EXPECT_EQ(host["timestamp"].s, "2023-11-14T22:13:20.512345+0000");
  EXPECT_EQ(host["event_type"].s, "alert");
  EXPECT_EQ(host["ifid"].n, 2);
  EXPECT_EQ(host["host"]["ip"].s, "10.0.0.5");
  EXPECT_EQ(host["host"]["vlan"].n, 7);
  EXPECT_FALSE(host.has("network"));
  const Json& al = host["alert"];
  EXPECT_EQ(al["action"].s, "allowed");
  EXPECT_EQ(al["score"].n, 1000);
  EXPECT_EQ(al["score_raw"].n, 2500);
  EXPECT_EQ(al["severity"].n, 1);
  EXPECT_EQ(al["severity_name"].s, "emergency");
  EXPECT_EQ(al["script"].s, "host/unanswered_ports");
  EXPECT_EQ(al["entity"].s, "host");
  EXPECT_EQ(al["entity_val"].s, "10.0.0.5@7");
  EXPECT_EQ(al["lifecycle"].s, "engage");
  EXPECT_EQ(al["message"].s, "say \"hi\"\n\x01");
  EXPECT_EQ(al["alert_subtype"].s, "");
  EXPECT_EQ(al["details"]["ports"].items.size(), 2u);
  EXPECT_FALSE(al.has("message_truncated"));

  const Json& n = r[1];
  EXPECT_EQ(n["network"]["cidr"].s, "192.168.0.0/16");
  EXPECT_EQ(n["network"]["id"].n, 3);
  EXPECT_EQ(n["alert"]["severity_name"].s, "alert");
  EXPECT_EQ(n["alert"]["severity"].n, 1);
  EXPECT_EQ(n["alert"]["alert_subtype"].s, "in");
  EXPECT_EQ(n["alert"]["message"].s.size(), kAlertMessageMax);
  EXPECT_TRUE(n["alert"]["message_truncated"].b);
  EXPECT_FALSE(n["alert"].has("details"));

  const Json& s = r[2]["alert"];
  EXPECT_EQ(s["entity"].s, "system");
  EXPECT_EQ(s["entity_val"].s, "loupe");
  EXPECT_EQ(s["lifecycle"].s, "store");
  EXPECT_EQ(s["severity_name"].s, "error");
  EXPECT_EQ(s["severity"].n, 2);
  EXPECT_NE(s["id"].n, al["id"].n);
}

AlertRecord flow_alert(uint64_t t, const char* msg) {
  Decoded d = test::packet("10.0.0.5", 51234, "198.51.100.7", 53, IPPROTO_UDP);
  AlertRecord r;
  r.client = make_flow_key(d, r.key);
  r.flow_id = (3ULL << 40) | 77;
  r.time_ns = t;
  r.worker = 3;
  r.ifid = 1;
  r.score = 40;
  r.severity = severity_of_score(40);
  r.eve_severity = eve_severity(r.severity);
  const std::string key = "flow/long_dns_names";
  r.key_len = static_cast<uint8_t>(key.size());
  key.copy(r.script_key, key.size());
  r.message_len = static_cast<uint16_t>(std::strlen(msg));
  std::memcpy(r.message, msg, r.message_len);
  const std::string details = "{\"length\":74}";
  r.details_len = static_cast<uint16_t>(details.size());
  details.copy(r.details, details.size());
  return r;
}

TEST(AlertPipeline, FlowAlertsKeepTheirFormatWithRealLifecycleAndSuppressed) {
  AlertsConfig c = quiet_config();
  c.dedup_seconds = 10;
  Harness h(c);
  const AlertRecord r = flow_alert(kT0, "long DNS name");
  EXPECT_TRUE(h.pipeline.submit(r));
  EXPECT_FALSE(h.pipeline.submit(flow_alert(kT0 + kSec, "long DNS name")));
  EXPECT_TRUE(h.pipeline.submit(flow_alert(kT0 + 11 * kSec, "long DNS name")));

  const std::string cid = community_id_v1(r.key, r.client, 0, 0);
  const std::vector<Json> recs = h.records();
  ASSERT_EQ(recs.size(), 2u);
  const Json& j = recs[0];
  EXPECT_EQ(j["flow_id"].n, static_cast<double>(r.flow_id));
  EXPECT_EQ(j["community_id"].s, cid);
  EXPECT_EQ(j["src_ip"].s, "10.0.0.5");
  EXPECT_EQ(j["src_port"].n, 51234);
  EXPECT_EQ(j["dest_ip"].s, "198.51.100.7");
  EXPECT_EQ(j["dest_port"].n, 53);
  EXPECT_EQ(j["proto"].s, "UDP");
  EXPECT_EQ(j["worker"].n, 3);
  EXPECT_EQ(j["alert"]["entity"].s, "flow");
  EXPECT_EQ(j["alert"]["entity_val"].s, cid);
  EXPECT_EQ(j["alert"]["lifecycle"].s, "store");
  EXPECT_EQ(j["alert"]["severity"].n, 4);
  EXPECT_EQ(j["alert"]["details"]["length"].n, 74);
  EXPECT_EQ(recs[1]["alert"]["suppressed"].n, 1);

  auto [page, total] = h.pipeline.query(AlertQuery{.entity = AlertEntity::kFlow});
  ASSERT_EQ(total, 2u);
  const StoredAlert& s = *page[1];
  ASSERT_TRUE(s.flow.has_value());
  EXPECT_EQ(s.flow->cli_ip, "10.0.0.5");
  EXPECT_EQ(s.flow->srv_ip, "198.51.100.7");
  EXPECT_EQ(s.flow->cli_port, 51234);
  EXPECT_EQ(s.flow->srv_port, 53);
  EXPECT_EQ(s.flow->l4_proto, IPPROTO_UDP);
  EXPECT_EQ(s.alert.details, "{\"length\":74}");
  EXPECT_EQ(s.alert.ifid, 1);
  // loupe_alerts_total{script, severity}
  EXPECT_EQ((h.pipeline.counters().emitted.at({"flow/long_dns_names", Severity::kNotice})), 2u);
}

// --- Sinks ---

TEST(AlertPipeline, FileSinkWritesLinesAtFlushAndReopens) {
  AlertsConfig c = quiet_config();
  c.file = temp_path("alerts.json");
  AlertPipeline p(c, nullptr);
  p.submit(system_alert(kT0, "one"));
  p.submit(system_alert(kT0, "two"));
  EXPECT_EQ(p.counters().queued, 2u);
  ASSERT_EQ(p.counters().sinks.size(), 1u);
  EXPECT_EQ(p.counters().sinks[0].sink, "file");
  EXPECT_EQ(p.counters().sinks[0].written, 0u);
  p.flush();
  EXPECT_EQ(p.counters().queued, 0u);
  EXPECT_EQ(p.counters().sinks[0].written, 2u);

  // logrotate moved the file away: writing goes on in a new one.
  ASSERT_EQ(std::rename(c.file.c_str(), (c.file + ".1").c_str()), 0);
  p.submit(system_alert(kT0, "three"));
  EXPECT_TRUE(p.reopen());  // "three" goes to the old file first
  p.submit(system_alert(kT0, "four"));
  p.flush();
  const std::vector<std::string> old_lines = file_lines(c.file + ".1");
  const std::vector<std::string> new_lines = file_lines(c.file);
  ASSERT_EQ(old_lines.size(), 3u);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_EQ(parse(old_lines[2])["alert"]["message"].s, "three");
  EXPECT_EQ(parse(new_lines[0])["alert"]["message"].s, "four");
  EXPECT_EQ(p.counters().sinks[0].written, 4u);
  EXPECT_EQ(p.counters().sinks[0].failed, 0u);
}

TEST(AlertPipeline, AFailingSinkIsCountedAndNeverThrows) {
  AlertsConfig c = quiet_config();
  c.file = "/dev/full";  // every write fails with ENOSPC
  AlertPipeline p(c, nullptr);
  std::vector<std::string> kept;
  p.add_output(std::make_unique<KeptLines>(&kept));
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(p.submit(system_alert(kT0, std::to_string(i))));
  EXPECT_NO_THROW(p.flush());
  EXPECT_EQ(p.counters().sinks[0].written, 0u);
  EXPECT_EQ(p.counters().sinks[0].failed, 3u);
  // The other sink is not affected, and the alerts are still counted and stored.
  EXPECT_EQ(p.counters().sinks[1].written, 3u);
  EXPECT_EQ(p.counters().emitted_total, 3u);
  EXPECT_EQ(p.store().past_size(), 3u);
  p.submit(system_alert(kT0, "again"));
  p.flush();
  EXPECT_EQ(p.counters().sinks[0].failed, 4u);
}

TEST(AlertPipeline, AnUnopenableFileIsAStartError) {
  AlertsConfig c = quiet_config();
  c.file = "/nonexistent-dir/alerts.json";
  EXPECT_THROW({ AlertPipeline p(c, nullptr); }, std::runtime_error);
}

TEST(AlertPipeline, SyslogSinkIsConfiguredAndMapsSeverities) {
  AlertsConfig c = quiet_config();
  c.syslog.enabled = true;
  c.syslog.facility = SyslogFacility::kLocal5;
  // Nothing is sent: a unit test leaves the machine's system log alone.
  AlertPipeline p(c, nullptr);
  ASSERT_EQ(p.counters().sinks.size(), 1u);
  EXPECT_EQ(p.counters().sinks[0].sink, "syslog");
  EXPECT_EQ(p.counters().sinks[0].written, 0u);
  EXPECT_EQ(SyslogSink::facility(SyslogFacility::kLocal5), LOG_LOCAL5);
  EXPECT_EQ(SyslogSink::priority(Severity::kWarning), LOG_WARNING);
  EXPECT_EQ(SyslogSink::priority(Severity::kError), LOG_ERR);
  EXPECT_EQ(SyslogSink::priority(Severity::kDebug), LOG_DEBUG);
  // Never LOG_EMERG: it is broadcast to every terminal.
  EXPECT_EQ(SyslogSink::priority(Severity::kEmergency), LOG_ALERT);
}

TEST(AlertPipeline, RingDropsAddedByTheCaller) {
  AlertPipeline p(quiet_config(), nullptr);
  p.add_dropped(AlertDrop::kRingFull, 5);
  p.add_dropped(AlertDrop::kRingFull, 2);
  EXPECT_EQ(p.counters().dropped_total(), 7u);
  EXPECT_STREQ(alert_drop_name(AlertDrop::kRingFull), "ring_full");
  EXPECT_STREQ(alert_suppression_name(AlertSuppression::kScriptRate), "script_rate");
}

}  // namespace
}  // namespace loupe
