// The alert pipeline's data (contract §4.7): an alert raised on the control
// side, the form every alert takes once accepted, and the in-memory store
// that getAlerts reads (§4.7.4). Control core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lua/flow_view.h"

namespace loupe {

enum class AlertEntity : uint8_t { kFlow, kHost, kNetwork, kInterface, kSystem };
// Flow alerts and engine events are `store` records; host, network and
// interface alerts are engaged, refreshed and released (§4.7.3).
enum class AlertLifecycle : uint8_t { kStore, kEngage, kRefresh, kRelease };
// What getAlerts reports: `stored` records have no lifecycle, `engaged` ones
// are still on, `released` ones ended.
enum class AlertStatus : uint8_t { kStored, kEngaged, kReleased };

// "flow", "host", "network", "interface", "system".
const char* alert_entity_name(AlertEntity e);
std::optional<AlertEntity> parse_alert_entity(std::string_view name);
// "store", "engage", "refresh", "release".
const char* alert_lifecycle_name(AlertLifecycle l);
// "stored", "engaged", "released".
const char* alert_status_name(AlertStatus s);

// An alert raised on the control side (host, network and interface scripts,
// engine events), or a flow alert once it reached the control core.
struct EntityAlert {
  AlertEntity entity = AlertEntity::kSystem;
  std::string script;      // script key ("host/unanswered_ports"); "loupe" for engine events
  std::string entity_val;  // host "<ip>@<vlan>", network CIDR, interface id; "" for system: "loupe"
  std::string alert_type;  // "" means the script key
  std::string alert_subtype;
  std::string message;   // cut at kAlertMessageMax bytes by the pipeline (message_truncated)
  std::string details;   // a JSON object or array, or ""
  uint64_t time_ns = 0;  // packet time for flow alerts, params.when for control alerts
  uint32_t score = 0;    // 0..1000
  double score_raw = 0;  // the script's score, when it was above 1000
  bool score_clamped = false;
  bool message_truncated = false;
  Severity severity = Severity::kDebug;  // from the score unless the script gave one
  uint16_t ifid = 0;
  std::string host_ip;  // host alerts: the record's "host":{ip,vlan}
  uint16_t host_vlan = 0;
  std::string network_cidr;  // network alerts: the record's "network":{cidr,id}
  int network_id = -1;

  // Score as §4.7.2 takes it: rounded, clamped to 1000 (the original kept in
  // score_raw), and the severity derived from it.
  void set_score(double raw);
};

// What a flow alert carries besides an EntityAlert's fields; its Community
// ID is the alert's entity_val.
struct FlowAlertFields {
  uint64_t flow_id = 0;
  uint16_t worker = 0;
  std::string cli_ip;
  std::string srv_ip;
  uint16_t cli_port = 0;
  uint16_t srv_port = 0;
  uint8_t l4_proto = 0;
  uint16_t l7_master = 0;
  uint16_t l7_app = 0;
  std::string l7_name;  // nDPI's joined name ("TLS.Google"); "" without nDPI's names
  uint16_t vlan = 0;    // the innermost tag, 0 when untagged
};

// One alert as the store keeps it and getAlerts returns it.
struct StoredAlert {
  uint64_t alert_id = 0;  // unique within the run; engage, refresh and release share it
  AlertStatus status = AlertStatus::kStored;
  uint64_t last_ns = 0;  // last refresh, or the release; time_ns for stored records
  EntityAlert alert;     // alert.time_ns: when it was raised (engaged alerts: first engaged)
  std::optional<FlowAlertFields> flow;  // flow alerts only
};

// §4.7.4's params, parsed and checked by the Lua binding.
enum class AlertStatusFilter : uint8_t { kAny, kEngaged, kPast };
enum class AlertOrderBy : uint8_t { kTstamp, kScore, kSeverity };

struct AlertQuery {
  static constexpr uint32_t kMaxPerPage = 1000;

  AlertStatusFilter status = AlertStatusFilter::kAny;  // past: stored and released
  std::optional<std::string> alert_type;
  std::optional<Severity> min_severity;
  std::optional<AlertEntity> entity;
  std::optional<std::string> entity_val;
  std::optional<std::string> script;
  std::optional<uint16_t> ifid;         // the selected interface
  std::optional<uint64_t> epoch_begin;  // seconds, inclusive, on the alert's time
  std::optional<uint64_t> epoch_end;    // seconds, inclusive
  uint32_t page = 1;                    // 1-based
  uint32_t per_page = 100;              // at most kMaxPerPage
  AlertOrderBy order_by = AlertOrderBy::kTstamp;
  bool ascending = false;
};

// The identity of an engaged alert: (script, entity, entity value,
// alert_type, alert_subtype), alert_type already defaulted.
std::string engaged_alert_key(const EntityAlert& a);

// The newest `past_capacity` stored and released records, and the engaged
// alerts (at most `engaged_capacity`), which eviction never touches.
// Pointers it returns stay valid until the store is next changed.
class AlertStore {
 public:
  AlertStore(size_t past_capacity, size_t engaged_capacity);

  // A stored or released record; beyond capacity the oldest past one goes.
  void add_past(StoredAlert a);
  // Adds an engaged alert under `key`; null when the engaged table is full.
  StoredAlert* add_engaged(const std::string& key, StoredAlert a);
  StoredAlert* engaged(const std::string& key);
  // The key of the engaged alert with that id; null when none is engaged.
  const std::string* engaged_key(uint64_t alert_id) const;
  // Takes the engaged alert out of the table; nullopt when none.
  std::optional<StoredAlert> remove_engaged(const std::string& key);
  // Keys of the engaged alerts `pick` selects, in key order.
  std::vector<std::string> engaged_keys(const std::function<bool(const StoredAlert&)>& pick) const;
  void for_each_engaged(const std::function<void(const StoredAlert&)>& fn) const;

  // The page `q` asks for, in its order (ties by alert_id, in the same
  // direction), and how many alerts match in all.
  std::pair<std::vector<const StoredAlert*>, size_t> query(const AlertQuery& q) const;

  size_t past_size() const { return past_.size(); }
  size_t engaged_size() const { return engaged_.size(); }
  bool engaged_full() const { return engaged_.size() >= engaged_capacity_; }

 private:
  size_t past_capacity_;
  size_t engaged_capacity_;
  std::deque<StoredAlert> past_;  // oldest first
  // Ordered: for_each_engaged and releases run in the same order every run.
  std::map<std::string, StoredAlert> engaged_;
  std::unordered_map<uint64_t, std::string> engaged_ids_;
};

}  // namespace loupe
