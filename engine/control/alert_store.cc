#include "engine/control/alert_store.h"

#include <algorithm>
#include <cmath>

namespace loupe {
namespace {

constexpr const char* kEntityNames[] = {"flow", "host", "network", "interface", "system"};

bool matches(const StoredAlert& s, const AlertQuery& q) {
  const EntityAlert& a = s.alert;
  if (q.alert_type && a.alert_type != *q.alert_type) return false;
  if (q.min_severity && static_cast<uint8_t>(a.severity) < static_cast<uint8_t>(*q.min_severity))
    return false;
  if (q.entity && a.entity != *q.entity) return false;
  if (q.entity_val && a.entity_val != *q.entity_val) return false;
  if (q.script && a.script != *q.script) return false;
  if (q.ifid && a.ifid != *q.ifid) return false;
  constexpr uint64_t kSec = 1'000'000'000ULL;
  if (q.epoch_begin && a.time_ns < *q.epoch_begin * kSec) return false;
  // Inclusive: an alert at 100.4 s is within epoch_end = 100.
  if (q.epoch_end && a.time_ns >= (*q.epoch_end + 1) * kSec) return false;
  return true;
}

// Sort key of one alert for `by`; ties fall to alert_id.
uint64_t order_key(const StoredAlert& s, AlertOrderBy by) {
  switch (by) {
    case AlertOrderBy::kScore:
      return s.alert.score;
    case AlertOrderBy::kSeverity:
      return static_cast<uint8_t>(s.alert.severity);
    case AlertOrderBy::kTstamp:
      break;
  }
  return s.alert.time_ns;
}

}  // namespace

const char* alert_entity_name(AlertEntity e) {
  const unsigned i = static_cast<unsigned>(e);
  return i < std::size(kEntityNames) ? kEntityNames[i] : "system";
}

std::optional<AlertEntity> parse_alert_entity(std::string_view name) {
  for (size_t i = 0; i < std::size(kEntityNames); ++i)
    if (name == kEntityNames[i]) return static_cast<AlertEntity>(i);
  return std::nullopt;
}

const char* alert_lifecycle_name(AlertLifecycle l) {
  switch (l) {
    case AlertLifecycle::kEngage:
      return "engage";
    case AlertLifecycle::kRefresh:
      return "refresh";
    case AlertLifecycle::kRelease:
      return "release";
    case AlertLifecycle::kStore:
      break;
  }
  return "store";
}

const char* alert_status_name(AlertStatus s) {
  switch (s) {
    case AlertStatus::kEngaged:
      return "engaged";
    case AlertStatus::kReleased:
      return "released";
    case AlertStatus::kStored:
      break;
  }
  return "stored";
}

void EntityAlert::set_score(double raw) {
  if (!(raw >= 0)) raw = 0;  // NaN and negatives: the bindings refuse them before this
  const double rounded = std::round(raw);
  score_clamped = rounded > 1000;
  score_raw = score_clamped ? raw : 0;
  score = score_clamped ? 1000 : static_cast<uint32_t>(rounded);
  severity = severity_of_score(score);
}

std::string engaged_alert_key(const EntityAlert& a) {
  // The unit separator cannot appear in a script key and is escaped in
  // every JSON text, so the parts cannot run into each other.
  std::string key;
  key.reserve(a.script.size() + a.entity_val.size() + a.alert_type.size() + a.alert_subtype.size() +
              8);
  key += a.script;
  key += '\x1f';
  key += static_cast<char>('0' + static_cast<int>(a.entity));
  key += '\x1f';
  key += a.entity_val;
  key += '\x1f';
  key += a.alert_type.empty() ? a.script : a.alert_type;
  key += '\x1f';
  key += a.alert_subtype;
  return key;
}

AlertStore::AlertStore(size_t past_capacity, size_t engaged_capacity)
    : past_capacity_(past_capacity), engaged_capacity_(engaged_capacity) {}

void AlertStore::add_past(StoredAlert a) {
  if (past_capacity_ == 0) return;
  if (past_.size() >= past_capacity_) past_.pop_front();
  past_.push_back(std::move(a));
}

StoredAlert* AlertStore::add_engaged(const std::string& key, StoredAlert a) {
  if (engaged_full()) return nullptr;
  const uint64_t id = a.alert_id;
  auto [it, inserted] = engaged_.emplace(key, std::move(a));
  if (!inserted) return nullptr;  // the pipeline refreshes an engaged key; never here
  engaged_ids_[id] = key;
  return &it->second;
}

StoredAlert* AlertStore::engaged(const std::string& key) {
  auto it = engaged_.find(key);
  return it == engaged_.end() ? nullptr : &it->second;
}

const std::string* AlertStore::engaged_key(uint64_t alert_id) const {
  auto it = engaged_ids_.find(alert_id);
  return it == engaged_ids_.end() ? nullptr : &it->second;
}

std::optional<StoredAlert> AlertStore::remove_engaged(const std::string& key) {
  auto it = engaged_.find(key);
  if (it == engaged_.end()) return std::nullopt;
  StoredAlert a = std::move(it->second);
  engaged_.erase(it);
  engaged_ids_.erase(a.alert_id);
  return a;
}

std::vector<std::string> AlertStore::engaged_keys(
    const std::function<bool(const StoredAlert&)>& pick) const {
  std::vector<std::string> keys;
  for (const auto& [key, a] : engaged_)
    if (pick(a)) keys.push_back(key);
  return keys;
}

void AlertStore::for_each_engaged(const std::function<void(const StoredAlert&)>& fn) const {
  for (const auto& entry : engaged_) fn(entry.second);
}

std::pair<std::vector<const StoredAlert*>, size_t> AlertStore::query(const AlertQuery& q) const {
  std::vector<const StoredAlert*> hits;
  if (q.status != AlertStatusFilter::kEngaged)
    for (const StoredAlert& a : past_)
      if (matches(a, q)) hits.push_back(&a);
  if (q.status != AlertStatusFilter::kPast)
    for (const auto& entry : engaged_)
      if (matches(entry.second, q)) hits.push_back(&entry.second);
  const size_t total = hits.size();

  const uint32_t per_page = std::clamp<uint32_t>(q.per_page, 1, AlertQuery::kMaxPerPage);
  const uint64_t first = uint64_t{std::max<uint32_t>(q.page, 1) - 1} * per_page;
  if (first >= total) return {{}, total};
  const size_t last = static_cast<size_t>(std::min<uint64_t>(first + per_page, total));

  const AlertOrderBy by = q.order_by;
  const bool asc = q.ascending;
  auto before = [by, asc](const StoredAlert* x, const StoredAlert* y) {
    const uint64_t kx = order_key(*x, by);
    const uint64_t ky = order_key(*y, by);
    if (kx != ky) return asc ? kx < ky : kx > ky;
    return asc ? x->alert_id < y->alert_id : x->alert_id > y->alert_id;
  };
  // Only the alerts up to the page's end need their order.
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(last), hits.end(),
                    before);
  return {std::vector<const StoredAlert*>(hits.begin() + static_cast<std::ptrdiff_t>(first),
                                          hits.begin() + static_cast<std::ptrdiff_t>(last)),
          total};
}

}  // namespace loupe
