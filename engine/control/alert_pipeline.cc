#include "engine/control/alert_pipeline.h"

#include <algorithm>

#include "engine/classify/ndpi_detector.h"
#include "engine/control/syslog_sink.h"
#include "engine/flow/community_id.h"

namespace loupe {
namespace {

constexpr uint64_t kSecondNs = 1'000'000'000ULL;
constexpr uint64_t kMinuteNs = 60 * kSecondNs;
// A merged or limited count waits this long for the next record of its key
// to report it; after that its state goes (counted in keys_evicted).
constexpr uint64_t kPendingKeepNs = 3600 * kSecondNs;

FlowAlertFields flow_fields(const AlertRecord& r, const NdpiModule* names) {
  FlowAlertFields f;
  const FlowKey& k = r.key;
  const int c = r.client;
  char ip[64];
  f.flow_id = r.flow_id;
  f.worker = r.worker;
  f.cli_ip.assign(ip, format_ip(k.addr[c], k.ip_version, ip, sizeof(ip)));
  f.srv_ip.assign(ip, format_ip(k.addr[c ^ 1], k.ip_version, ip, sizeof(ip)));
  f.cli_port = k.port[c];
  f.srv_port = k.port[c ^ 1];
  f.l4_proto = k.proto;
  f.l7_master = r.l7_master;
  f.l7_app = r.l7_app;
  if (names != nullptr) f.l7_name = names->name(r.l7_master, r.l7_app);
  f.vlan = k.vlan[1] != 0 ? k.vlan[1] : k.vlan[0];
  return f;
}

}  // namespace

const char* alert_suppression_name(AlertSuppression r) {
  static constexpr const char* kNames[] = {
#define LOUPE_X(e, n) n,
      LOUPE_ALERT_SUPPRESSION_REASONS(LOUPE_X)
#undef LOUPE_X
  };
  return kNames[static_cast<size_t>(r)];
}

const char* alert_drop_name(AlertDrop r) {
  static constexpr const char* kNames[] = {
#define LOUPE_X(e, n) n,
      LOUPE_ALERT_DROP_REASONS(LOUPE_X)
#undef LOUPE_X
  };
  return kNames[static_cast<size_t>(r)];
}

uint64_t AlertCounters::suppressed_total() const {
  uint64_t n = 0;
  for (uint64_t v : suppressed) n += v;
  return n;
}

uint64_t AlertCounters::dropped_total() const {
  uint64_t n = 0;
  for (uint64_t v : dropped) n += v;
  return n;
}

// --- AlertLimiter ---

AlertLimiter::AlertLimiter(const Limits& limits)
    : limits_(limits),
      dedup_(limits.max_keys),
      entity_(limits.max_keys),
      script_(limits.max_keys) {}

void AlertLimiter::expire() {
  const uint64_t keep_pending = std::max(limits_.dedup_ns, kPendingKeepNs);
  dedup_.expire([&](const AlertKeyTable<DedupState>::Entry& e) {
    const uint64_t idle = now_ - e.last_ns;
    if (e.value.pending == 0) return idle >= limits_.dedup_ns;
    if (idle < keep_pending) return false;
    pending_expired_++;
    return true;
  });
  entity_.expire(
      [&](const AlertKeyTable<Window>::Entry& e) { return now_ - e.last_ns >= kMinuteNs; });
  script_.expire(
      [&](const AlertKeyTable<Window>::Entry& e) { return now_ - e.last_ns >= kSecondNs; });
}

bool AlertLimiter::has_room(Window& w, bool fresh, uint64_t t, uint64_t width_ns, uint32_t max) {
  // A record older than the window's start (workers' times interleave)
  // counts in the current window.
  if (fresh || t >= w.start_ns + width_ns) {
    w.start_ns = t;
    w.count = 0;
  }
  return w.count < max;
}

AlertLimiter::Verdict AlertLimiter::check(const EntityAlert& a, AlertLifecycle lifecycle) {
  const uint64_t t = a.time_ns;
  now_ = std::max(now_, t);
  expire();
  // A consumer always learns that an alert ended.
  if (lifecycle == AlertLifecycle::kRelease) return {true, AlertSuppression::kDedup, 0};

  // One buffer holds the three keys: the script, (script, entity, entity
  // value), and the de-duplication key, each a prefix of the next.
  key_.clear();
  key_ += a.script;
  const size_t script_len = key_.size();
  key_ += '\x1f';
  key_ += static_cast<char>('0' + static_cast<int>(a.entity));
  key_ += '\x1f';
  key_ += a.entity_val;
  const size_t entity_len = key_.size();
  key_ += '\x1f';
  key_ += a.alert_type.empty() ? a.script : a.alert_type;
  key_ += '\x1f';
  key_ += a.alert_subtype;
  key_ += '\x1f';
  key_ += static_cast<char>('0' + static_cast<int>(lifecycle));
  key_ += '\x1f';
  key_ += a.message;
  const std::string_view dedup_key(key_);
  const std::string_view entity_key(key_.data(), entity_len);
  const std::string_view script_key(key_.data(), script_len);

  AlertKeyTable<DedupState>::Entry* d = dedup_.find(dedup_key);
  if (limits_.dedup_ns != 0 && d != nullptr && d->value.emitted &&
      t < d->value.last_emit_ns + limits_.dedup_ns) {
    dedup_.touch(dedup_key, now_).value.pending++;
    return {false, AlertSuppression::kDedup, 0};
  }

  Window* entity_window = nullptr;
  Window* script_window = nullptr;
  bool limited = false;
  AlertSuppression reason = AlertSuppression::kDedup;
  if (limits_.per_minute != 0) {
    const bool fresh = entity_.find(entity_key) == nullptr;
    entity_window = &entity_.touch(entity_key, now_).value;
    if (!has_room(*entity_window, fresh, t, kMinuteNs, limits_.per_minute)) {
      limited = true;
      reason = AlertSuppression::kEntityRate;
    }
  }
  if (!limited && limits_.per_script_per_second != 0) {
    const bool fresh = script_.find(script_key) == nullptr;
    script_window = &script_.touch(script_key, now_).value;
    if (!has_room(*script_window, fresh, t, kSecondNs, limits_.per_script_per_second)) {
      limited = true;
      reason = AlertSuppression::kScriptRate;
    }
  }
  if (limited) {
    dedup_.touch(dedup_key, now_).value.pending++;
    return {false, reason, 0};
  }

  if (entity_window != nullptr) entity_window->count++;
  if (script_window != nullptr) script_window->count++;
  const uint64_t suppressed = d != nullptr ? d->value.pending : 0;
  if (limits_.dedup_ns != 0) {
    dedup_.touch(dedup_key, now_).value = DedupState{t, true, 0};
  } else if (d != nullptr) {
    dedup_.erase(dedup_key);  // nothing left to remember for this key
  }
  return {true, AlertSuppression::kDedup, suppressed};
}

// --- AlertPipeline ---

AlertPipeline::AlertPipeline(const AlertsConfig& config, const NdpiModule* names,
                             uint16_t community_id_seed)
    : names_(names),
      community_id_seed_(community_id_seed),
      limiter_(AlertLimiter::Limits{uint64_t{config.dedup_seconds} * kSecondNs,
                                    config.max_per_minute, config.max_per_script_per_second,
                                    65536}),
      store_(config.store_size, kMaxEngaged) {
  if (!config.file.empty()) outputs_.push_back(std::make_unique<AlertWriter>(config.file, names));
  if (config.syslog.enabled) outputs_.push_back(std::make_unique<SyslogSink>(config.syslog));
  sync_sinks();
}

AlertPipeline::~AlertPipeline() = default;

void AlertPipeline::add_output(std::unique_ptr<AlertOutput> output) {
  outputs_.push_back(std::move(output));
  sync_sinks();
}

EntityAlert AlertPipeline::normalised(const EntityAlert& in) {
  EntityAlert a = in;
  if (a.alert_type.empty()) a.alert_type = a.script;
  if (a.entity == AlertEntity::kSystem && a.entity_val.empty()) a.entity_val = "loupe";
  if (a.message.size() > kAlertMessageMax) {
    a.message.resize(kAlertMessageMax);
    a.message_truncated = true;
  }
  if (a.score > 1000) {
    if (!a.score_clamped) a.score_raw = a.score;
    a.score_clamped = true;
    a.score = 1000;
  }
  return a;
}

void AlertPipeline::emit_line(const EntityAlert& a, Severity severity) {
  for (auto& out : outputs_) out->write(line_, severity);
  counters_.emitted[{a.script, severity}]++;
  counters_.emitted_total++;
  sync_sinks();
}

void AlertPipeline::sync_sinks() {
  counters_.sinks.resize(outputs_.size());
  counters_.queued = 0;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    AlertSinkCounters& c = counters_.sinks[i];
    if (c.sink.empty()) c.sink = outputs_[i]->name();
    c.written = outputs_[i]->written();
    c.failed = outputs_[i]->failed();
    counters_.queued += outputs_[i]->queued();
  }
  counters_.keys_evicted = limiter_.evicted();
}

bool AlertPipeline::submit(const AlertRecord& r) {
  StoredAlert s;
  EntityAlert& a = s.alert;
  a.entity = AlertEntity::kFlow;
  a.script.assign(r.script_key_view());
  a.entity_val = community_id_v1(r.key, r.client, r.icmp_type, r.icmp_code, community_id_seed_);
  a.alert_type = a.script;
  a.message.assign(r.message_view());
  a.message_truncated = (r.flags & AlertRecord::kMessageTruncated) != 0;
  a.details.assign(r.details_view());
  a.time_ns = r.time_ns;
  a.score = r.score;
  a.score_clamped = (r.flags & AlertRecord::kScoreClamped) != 0;
  a.score_raw = r.score_raw;
  a.severity = r.severity;
  a.ifid = r.ifid;

  const AlertLimiter::Verdict v = limiter_.check(a, AlertLifecycle::kStore);
  if (!v.emit) {
    counters_.suppressed[static_cast<size_t>(v.reason)]++;
    return false;
  }
  s.alert_id = next_id_++;
  s.status = AlertStatus::kStored;
  s.last_ns = r.time_ns;
  s.flow = flow_fields(r, names_);
  line_.clear();
  AlertWriter::format(r, AlertEmission{s.alert_id, AlertLifecycle::kStore, v.suppressed, r.time_ns},
                      a.entity_val, line_, names_);
  emit_line(a, a.severity);
  store_.add_past(std::move(s));
  return true;
}

bool AlertPipeline::submit(const EntityAlert& in) {
  StoredAlert s;
  s.alert = normalised(in);
  const AlertLimiter::Verdict v = limiter_.check(s.alert, AlertLifecycle::kStore);
  if (!v.emit) {
    counters_.suppressed[static_cast<size_t>(v.reason)]++;
    return false;
  }
  s.alert_id = next_id_++;
  s.status = AlertStatus::kStored;
  s.last_ns = s.alert.time_ns;
  line_.clear();
  AlertWriter::format(
      s.alert, AlertEmission{s.alert_id, AlertLifecycle::kStore, v.suppressed, s.alert.time_ns},
      line_);
  emit_line(s.alert, s.alert.severity);
  store_.add_past(std::move(s));
  return true;
}

bool AlertPipeline::engage(const EntityAlert& in) {
  const EntityAlert a = normalised(in);
  const std::string key = engaged_alert_key(a);
  AlertLifecycle lifecycle = AlertLifecycle::kRefresh;
  uint64_t id = 0;
  if (StoredAlert* e = store_.engaged(key)) {
    // The refresh's message, score and details replace the old; the alert
    // keeps the time it was first engaged.
    const uint64_t first_ns = e->alert.time_ns;
    e->alert = a;
    e->alert.time_ns = first_ns;
    e->last_ns = a.time_ns;
    id = e->alert_id;
  } else {
    if (store_.engaged_full()) {
      counters_.dropped[static_cast<size_t>(AlertDrop::kEngagedFull)]++;
      return false;
    }
    lifecycle = AlertLifecycle::kEngage;
    id = next_id_++;
    store_.add_engaged(key, StoredAlert{id, AlertStatus::kEngaged, a.time_ns, a, std::nullopt});
  }
  // The alert is engaged even when its record is merged or limited.
  const AlertLimiter::Verdict v = limiter_.check(a, lifecycle);
  if (!v.emit) {
    counters_.suppressed[static_cast<size_t>(v.reason)]++;
    return true;
  }
  line_.clear();
  AlertWriter::format(a, AlertEmission{id, lifecycle, v.suppressed, a.time_ns}, line_);
  emit_line(a, a.severity);
  return true;
}

void AlertPipeline::release_key(const std::string& key, uint64_t time_ns) {
  std::optional<StoredAlert> s = store_.remove_engaged(key);
  if (!s) return;
  s->status = AlertStatus::kReleased;
  s->last_ns = time_ns;
  EntityAlert timed = s->alert;
  timed.time_ns = time_ns;  // the limiter's clock: the release's time
  const AlertLimiter::Verdict v = limiter_.check(timed, AlertLifecycle::kRelease);
  line_.clear();
  AlertWriter::format(
      s->alert, AlertEmission{s->alert_id, AlertLifecycle::kRelease, v.suppressed, time_ns}, line_);
  emit_line(s->alert, s->alert.severity);
  store_.add_past(std::move(*s));
}

bool AlertPipeline::release(const EntityAlert& key_alert, uint64_t time_ns) {
  const std::string key = engaged_alert_key(normalised(key_alert));
  if (store_.engaged(key) == nullptr) return false;
  release_key(key, time_ns);
  return true;
}

bool AlertPipeline::release_id(uint64_t alert_id, uint64_t time_ns) {
  const std::string* key = store_.engaged_key(alert_id);
  if (key == nullptr) return false;
  release_key(std::string(*key), time_ns);  // a copy: releasing erases the original
  return true;
}

size_t AlertPipeline::release_matching(std::string_view script, const std::string* subtype,
                                       const std::string* type, uint64_t time_ns) {
  const std::vector<std::string> keys = store_.engaged_keys([&](const StoredAlert& s) {
    return s.alert.script == script && (subtype == nullptr || s.alert.alert_subtype == *subtype) &&
           (type == nullptr || s.alert.alert_type == *type);
  });
  for (const std::string& k : keys) release_key(k, time_ns);
  return keys.size();
}

size_t AlertPipeline::release_stale(std::string_view script, AlertEntity entity,
                                    uint64_t run_start_ns, uint64_t time_ns) {
  const std::vector<std::string> keys = store_.engaged_keys([&](const StoredAlert& s) {
    return s.alert.script == script && s.alert.entity == entity && s.last_ns < run_start_ns;
  });
  for (const std::string& k : keys) release_key(k, time_ns);
  return keys.size();
}

void AlertPipeline::release_scripts_not_in(const std::set<std::string>& keep, uint64_t time_ns) {
  const std::vector<std::string> keys = store_.engaged_keys(
      [&](const StoredAlert& s) { return keep.find(s.alert.script) == keep.end(); });
  for (const std::string& k : keys) release_key(k, time_ns);
}

void AlertPipeline::add_dropped(AlertDrop reason, uint64_t n) {
  counters_.dropped[static_cast<size_t>(reason)] += n;
}

void AlertPipeline::flush() {
  for (auto& out : outputs_) out->flush();
  sync_sinks();
}

bool AlertPipeline::reopen() {
  bool ok = true;
  for (auto& out : outputs_) ok = out->reopen() && ok;
  sync_sinks();
  return ok;
}

}  // namespace loupe
