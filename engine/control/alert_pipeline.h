// The alert pipeline (contract §4.7): every alert, from the workers' rings
// (flow alerts) or raised on the control side (host, network and interface
// scripts, engine events), goes through de-duplication and the rate limits,
// into the in-memory store, and to the sinks (the JSON lines file, syslog).
// Control core only; single-threaded. Times are record times (packet time,
// params.when), so an offline run gives the same output every time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/control/alert_store.h"
#include "engine/control/alert_writer.h"
#include "engine/control/alerts_config.h"
#include "lua/flow_view.h"

namespace loupe {

class NdpiModule;

// Why a record was not emitted: loupe_alerts_suppressed_total{reason}.
#define LOUPE_ALERT_SUPPRESSION_REASONS(X) \
  X(kDedup, "dedup")                       \
  X(kEntityRate, "entity_rate")            \
  X(kScriptRate, "script_rate")
// Why an alert was lost: loupe_alerts_dropped_total{reason}. ring_full is
// counted by the workers and added by the caller; engaged_full is an
// engagement refused because the engaged table is at its cap.
#define LOUPE_ALERT_DROP_REASONS(X) \
  X(kRingFull, "ring_full")         \
  X(kEngagedFull, "engaged_full")

enum class AlertSuppression : uint8_t {
#define LOUPE_X(e, n) e,
  LOUPE_ALERT_SUPPRESSION_REASONS(LOUPE_X)
#undef LOUPE_X
};
enum class AlertDrop : uint8_t {
#define LOUPE_X(e, n) e,
  LOUPE_ALERT_DROP_REASONS(LOUPE_X)
#undef LOUPE_X
};
#define LOUPE_X(e, n) +1
inline constexpr size_t kAlertSuppressionReasons = 0 LOUPE_ALERT_SUPPRESSION_REASONS(LOUPE_X);
inline constexpr size_t kAlertDropReasons = 0 LOUPE_ALERT_DROP_REASONS(LOUPE_X);
#undef LOUPE_X
const char* alert_suppression_name(AlertSuppression r);
const char* alert_drop_name(AlertDrop r);

struct AlertSinkCounters {
  std::string sink;  // "file", "syslog"
  uint64_t written = 0;
  uint64_t failed = 0;
};

// What the metrics (§7.4) and ntop.getSystemAlertsStats() (§4.4.1 #9) read.
struct AlertCounters {
  // loupe_alerts_total{script, severity}: records emitted (every lifecycle).
  std::map<std::pair<std::string, Severity>, uint64_t> emitted;
  uint64_t emitted_total = 0;
  std::array<uint64_t, kAlertSuppressionReasons> suppressed{};
  std::array<uint64_t, kAlertDropReasons> dropped{};
  std::vector<AlertSinkCounters> sinks;
  uint64_t queued = 0;  // records handed to a sink, waiting for the next flush
  // De-duplication or rate-limit state forgotten at its cap, or a merged
  // count forgotten after an hour without a record of its key.
  uint64_t keys_evicted = 0;

  uint64_t suppressed_total() const;
  uint64_t dropped_total() const;
};

// A table of string keys with the least recently used at the back: the
// limiter's state, bounded by its capacity and expired by record time.
template <typename V>
class AlertKeyTable {
 public:
  struct Entry {
    std::string key;
    uint64_t last_ns = 0;  // pipeline time of the last touch
    V value{};
  };

  explicit AlertKeyTable(size_t capacity) : capacity_(capacity) {}

  Entry* find(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &*it->second;
  }
  // The entry of `key` (a new one holds V{}), now the most recently used.
  // At capacity the least recently used goes, and is counted.
  Entry& touch(std::string_view key, uint64_t now) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      it->second->last_ns = now;
      return *it->second;
    }
    if (order_.size() >= capacity_) {
      erase_back();
      evicted_++;
    }
    order_.push_front(Entry{std::string(key), now, V{}});
    index_.emplace(order_.front().key, order_.begin());
    return order_.front();
  }
  void erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    auto node = it->second;
    index_.erase(it);
    order_.erase(node);
  }
  // Drops entries from the least recently used while `expired` says so;
  // `expired` may count what it drops.
  template <typename F>
  void expire(F expired) {
    while (!order_.empty() && expired(order_.back())) erase_back();
  }
  size_t size() const { return order_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  void erase_back() {
    index_.erase(std::string_view(order_.back().key));
    order_.pop_back();
  }

  size_t capacity_;
  std::list<Entry> order_;  // most recently used first; nodes never move
  std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
  uint64_t evicted_ = 0;
};

// De-duplication and the two rate limits (§4.7.3), on record time.
class AlertLimiter {
 public:
  struct Limits {
    uint64_t dedup_ns = 0;               // 0: no merging
    uint32_t per_minute = 0;             // per (script, entity, entity value); 0: none
    uint32_t per_script_per_second = 0;  // per script; 0: none
    size_t max_keys = 65536;             // per table
  };
  struct Verdict {
    bool emit = false;
    AlertSuppression reason = AlertSuppression::kDedup;  // when not emitted
    uint64_t suppressed = 0;  // when emitted: merged or limited since the last one of its key
  };

  explicit AlertLimiter(const Limits& limits);

  // Whether the record goes out. A `release` is always emitted and counts
  // against no limit.
  Verdict check(const EntityAlert& a, AlertLifecycle lifecycle);

  // Keys held now, over the three tables, and state forgotten at the caps.
  size_t keys() const { return dedup_.size() + entity_.size() + script_.size(); }
  uint64_t evicted() const {
    return dedup_.evicted() + entity_.evicted() + script_.evicted() + pending_expired_;
  }

 private:
  struct DedupState {
    uint64_t last_emit_ns = 0;
    bool emitted = false;
    uint64_t pending = 0;  // merged or limited since the last emitted
  };
  struct Window {
    uint64_t start_ns = 0;
    uint32_t count = 0;
  };

  void expire();
  // True when `w` (a window of `width_ns` at `t`) has room under `max`.
  static bool has_room(Window& w, bool fresh, uint64_t t, uint64_t width_ns, uint32_t max);

  Limits limits_;
  uint64_t now_ = 0;  // the latest record time seen: workers' times interleave
  AlertKeyTable<DedupState> dedup_;
  AlertKeyTable<Window> entity_;
  AlertKeyTable<Window> script_;
  uint64_t pending_expired_ = 0;
  std::string key_;  // scratch: the key being looked up
};

class AlertPipeline {
 public:
  // Engaged alerts kept at most (host scripts engage one per host); beyond,
  // an engagement is refused and counted (dropped, engaged_full).
  static constexpr size_t kMaxEngaged = 1u << 17;

  // Opens the file sink (throws std::runtime_error when it cannot) and,
  // when enabled, syslog. `names` (may be null) gives flow alerts their
  // app_proto; `community_id_seed` is flows.community_id_seed.
  AlertPipeline(const AlertsConfig& config, const NdpiModule* names,
                uint16_t community_id_seed = 0);
  ~AlertPipeline();
  AlertPipeline(const AlertPipeline&) = delete;
  AlertPipeline& operator=(const AlertPipeline&) = delete;

  // One more sink, written after the configured ones.
  void add_output(std::unique_ptr<AlertOutput> output);

  // A flow alert or an engine event: one `store` record. True when emitted,
  // false when merged or rate-limited (counted).
  bool submit(const AlertRecord& flow_alert);
  bool submit(const EntityAlert& a);
  // Engages the alert (an `engage` record) or, when its key (script, entity,
  // entity value, alert_type, alert_subtype) is engaged, refreshes it (a
  // `refresh` record, its message, score and details replacing the old).
  // True when accepted, even if its record was merged or limited; false
  // only when the engaged table is full.
  bool engage(const EntityAlert& a);
  // Releases the engaged alert with `key`'s identity: a `release` record,
  // never merged or limited, and the alert moves to the past ones. False
  // when none was engaged.
  bool release(const EntityAlert& key, uint64_t time_ns);
  // interface.releaseTriggeredAlert(alert_id).
  bool release_id(uint64_t alert_id, uint64_t time_ns);
  // interface.releaseEngagedAlerts(script[, subtype[, type]]): how many.
  size_t release_matching(std::string_view script, const std::string* subtype,
                          const std::string* type, uint64_t time_ns);
  // The end of a host script's run: its engaged alerts of `entity` not
  // engaged or refreshed since `run_start_ns` are released. How many.
  size_t release_stale(std::string_view script, AlertEntity entity, uint64_t run_start_ns,
                       uint64_t time_ns);
  // A reload removed or disabled scripts: their engaged alerts are released.
  void release_scripts_not_in(const std::set<std::string>& keep, uint64_t time_ns);

  // host.score(), network stats: each engaged alert, in key order.
  void for_each_engaged(const std::function<void(const StoredAlert&)>& fn) const {
    store_.for_each_engaged(fn);
  }
  // §4.7.4: the page and the number of alerts matching; the pointers stay
  // valid until the pipeline is next changed.
  std::pair<std::vector<const StoredAlert*>, size_t> query(const AlertQuery& q) const {
    return store_.query(q);
  }

  // Alerts lost before they reached the pipeline (workers' full rings).
  void add_dropped(AlertDrop reason, uint64_t n);
  // Once per control-loop turn that wrote something.
  void flush();
  // SIGUSR1 (logrotate): every sink reopens; false when one could not.
  bool reopen();
  const AlertCounters& counters() const { return counters_; }
  const AlertStore& store() const { return store_; }

 private:
  // Cuts the message, defaults alert_type and the system entity value.
  static EntityAlert normalised(const EntityAlert& a);
  // Writes one emitted record to every sink and counts it.
  void emit_line(const EntityAlert& a, Severity severity);
  // Releases the engaged alert with `key` (which must be engaged).
  void release_key(const std::string& key, uint64_t time_ns);
  void sync_sinks();

  const NdpiModule* names_;
  uint16_t community_id_seed_;
  AlertLimiter limiter_;
  AlertStore store_;
  std::vector<std::unique_ptr<AlertOutput>> outputs_;
  AlertCounters counters_;
  uint64_t next_id_ = 1;
  std::string line_;  // scratch: the record's JSON line
};

}  // namespace loupe
