// network.* (contract §4.3): the 9 functions of the control VM. In network
// context the local network being checked is selected on entry; elsewhere
// in the control VM select() or checkContext() selects one for the rest of
// the call.
#include <algorithm>
#include <cmath>
#include <lua.hpp>

#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_bind.h"

namespace loupe {
namespace {

constexpr uint32_t kScoreCap = 65535;
constexpr size_t kCachedValueMax = 4096;

const std::vector<Cidr>& networks(ScriptHost* h) { return h->gen.local.nets(); }

int selected(lua_State* L) {
  ControlCall* c = host_of(L)->control;
  return c != nullptr ? c->network : -1;
}

int n_select(lua_State* L) {
  ScriptHost* h = host_of(L);
  ControlCall* c = h->control;
  if (lua_isnoneornil(L, 1)) {
    c->network = -1;
    return 0;
  }
  const double d = arg_number(L, 1, "network.select", "network_id");
  if (std::floor(d) != d || d < 0 || d >= static_cast<double>(networks(h).size()))
    raise_error(L, ErrorKind::kApi, "network.select: no local network with id %g", d);
  c->network = static_cast<int>(d);
  return 0;
}

int n_check_context(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view text = arg_string(L, 1, "network.checkContext", "cidr");
  const std::optional<Cidr> want = parse_network(text);
  ControlCall* c = h->control;
  c->network = -1;
  if (want) {
    const auto& nets = networks(h);
    for (size_t i = 0; i < nets.size(); i++)
      if (nets[i] == *want) c->network = static_cast<int>(i);
  }
  lua_pushboolean(L, c->network >= 0);
  return 1;
}

int n_get_network_stats(lua_State* L) {
  const int id = selected(L);
  if (id < 0) return lua_pushnil(L), 1;
  push_network_stats(L, host_of(L), id);
  return 1;
}

int n_reset_traffic_between_nets(lua_State*) { return 0; }

int n_get_alerts(lua_State* L) {
  AlertQuery q = read_alert_query(L, 1, "network.getAlerts");
  const int id = selected(L);
  if (id < 0) return lua_pushnil(L), 1;
  q.entity = AlertEntity::kNetwork;
  q.entity_val = to_string(networks(host_of(L))[static_cast<size_t>(id)]);
  return push_alerts(L, host_of(L), q);
}

EntityAlert network_alert(lua_State* L, const char* fn, bool store, int id) {
  ScriptHost* h = host_of(L);
  EntityAlert a = read_alert_table(L, h, 1, fn, store);
  a.entity = AlertEntity::kNetwork;
  a.entity_val = to_string(networks(h)[static_cast<size_t>(id)]);
  a.network_cidr = a.entity_val;
  a.network_id = id;
  a.ifid = h->control->ifid;
  return a;
}

int n_store(lua_State* L) {
  const int id = selected(L);
  if (id < 0) {
    read_alert_table(L, host_of(L), 1, "network.storeTriggeredAlert", true);
    return lua_pushboolean(L, 0), 1;
  }
  const EntityAlert a = network_alert(L, "network.storeTriggeredAlert", true, id);
  AlertPipeline* p = host_of(L)->control->services->alerts;
  lua_pushboolean(L, p != nullptr && p->engage(a));
  return 1;
}

int n_release(lua_State* L) {
  const int id = selected(L);
  if (id < 0) {
    read_alert_table(L, host_of(L), 1, "network.releaseTriggeredAlert", false);
    return lua_pushboolean(L, 0), 1;
  }
  const EntityAlert a = network_alert(L, "network.releaseTriggeredAlert", false, id);
  AlertPipeline* p = host_of(L)->control->services->alerts;
  lua_pushboolean(L, p != nullptr && p->release(a, a.time_ns));
  return 1;
}

// periodicity: 0-3 (min, 5mins, hour, day), 4 (second), or the names.
std::string periodicity(lua_State* L, int idx, const char* fn) {
  static constexpr const char* kIds[] = {"min", "5mins", "hour", "day", "second"};
  if (lua_type(L, idx) == LUA_TNUMBER) {
    const double d = lua_tonumber(L, idx);
    if (d >= 0 && d <= 4 && std::floor(d) == d) return kIds[static_cast<int>(d)];
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    const std::string s = lua_tostring(L, idx);
    for (const char* k : kIds)
      if (s == k) return s;
  }
  bad_argument(L, fn, idx, "periodicity", "0-4 or min, 5mins, hour, day, second");
}

std::string cache_key(lua_State* L, int id, std::string_view key, const std::string& per) {
  return "network|" + std::to_string(id) + "|" + running_script_key(host_of(L)) + "|" + per + "|" +
         std::string(key);
}

int n_get_cached(lua_State* L) {
  constexpr const char* kFn = "network.getCachedAlertValue";
  const std::string_view key = arg_string(L, 1, kFn, "key");
  const std::string per = periodicity(L, 2, kFn);
  const int id = selected(L);
  if (id < 0) return lua_pushliteral(L, ""), 1;
  const auto& cached = host_of(L)->control->state->cached;
  auto it = cached.find(cache_key(L, id, key, per));
  if (it == cached.end()) return lua_pushliteral(L, ""), 1;
  lua_pushlstring(L, it->second.first.data(), it->second.first.size());
  return 1;
}

int n_set_cached(lua_State* L) {
  constexpr const char* kFn = "network.setCachedAlertValue";
  const std::string_view key = arg_string(L, 1, kFn, "key");
  const std::string_view value = arg_string(L, 2, kFn, "value");
  const std::string per = periodicity(L, 3, kFn);
  if (value.size() > kCachedValueMax) bad_argument(L, kFn, 2, "value", "string of at most 4 KiB");
  const int id = selected(L);
  if (id < 0) return 0;
  host_of(L)->control->state->cached[cache_key(L, id, key, per)] = {std::string(value), 0};
  return 0;
}

}  // namespace

void push_network_stats(lua_State* L, ScriptHost* h, int id) {
  const Cidr& net = networks(h)[static_cast<size_t>(id)];
  const std::string cidr = to_string(net);
  lua_createtable(L, 0, 16);
  set_int(L, "network_id", id);
  set_str(L, "network_key", cidr);
  ControlCall* c = h->control;
  const HostTable* hosts = c != nullptr ? c->services->hosts : nullptr;
  NetDelta t;
  uint64_t n_hosts = 0;
  uint64_t score = 0;
  if (hosts != nullptr) {
    t = hosts->network(static_cast<size_t>(id)).traffic;
    n_hosts = hosts->network(static_cast<size_t>(id)).hosts;
    hosts->for_each([&](const Host& host) {
      if (host.network == id) score += host_score(h, host);
    });
  }
  set_int(L, "bytes_sent", static_cast<double>(t.bytes_sent));
  set_int(L, "bytes_rcvd", static_cast<double>(t.bytes_rcvd));
  set_int(L, "packets_sent", static_cast<double>(t.pkts_sent));
  set_int(L, "packets_rcvd", static_cast<double>(t.pkts_rcvd));
  const std::pair<const char*, std::pair<uint64_t, uint64_t>> dirs[] = {
      {"ingress", {t.ingress_bytes, t.ingress_pkts}},
      {"egress", {t.egress_bytes, t.egress_pkts}},
      {"inner", {t.inner_bytes, t.inner_pkts}}};
  for (const auto& [name, bp] : dirs) {
    lua_createtable(L, 0, 2);
    set_int(L, "bytes", static_cast<double>(bp.first));
    set_int(L, "packets", static_cast<double>(bp.second));
    lua_setfield(L, -2, name);
  }
  set_int(L, "num_hosts", static_cast<double>(n_hosts));
  set_int(L, "num_local_hosts", static_cast<double>(n_hosts));
  uint64_t engaged = 0;
  if (c != nullptr && c->services->alerts != nullptr) {
    c->services->alerts->for_each_engaged([&](const StoredAlert& s) {
      if (s.alert.entity == AlertEntity::kNetwork && s.alert.entity_val == cidr) {
        engaged++;
        score += s.alert.score;
      }
    });
  }
  set_int(L, "score", static_cast<double>(std::min<uint64_t>(score, kScoreCap)));
  set_int(L, "engaged_alerts", static_cast<double>(engaged));
}

void add_network(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "select", n_select);
  set_fn(L, h, "checkContext", n_check_context);
  set_fn(L, h, "getNetworkStats", n_get_network_stats);
  set_fn(L, h, "resetTrafficBetweenNets", n_reset_traffic_between_nets);
  set_fn(L, h, "getAlerts", n_get_alerts);
  set_fn(L, h, "storeTriggeredAlert", n_store);
  set_fn(L, h, "releaseTriggeredAlert", n_release);
  set_fn(L, h, "getCachedAlertValue", n_get_cached);
  set_fn(L, h, "setCachedAlertValue", n_set_cached);
}

}  // namespace loupe
