// interface.* in the control VM (contract §4.5): selection and identity,
// kind flags, statistics, the host listings over the merged host table,
// local networks, and alerts; plus the control-only ntop.* deadline calls.
// Names loupe does not serve read as nil with the §1.5 warning.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_bind.h"

namespace loupe {
namespace {

constexpr size_t kCachedValueMax = 4096;

ControlCall* call(lua_State* L) { return host_of(L)->control; }
HostTable* hosts(lua_State* L) { return call(L)->services->hosts; }
const std::vector<std::string>& ifnames(lua_State* L) { return call(L)->services->interfaces; }

int i_get_if_names(lua_State* L) {
  lua_newtable(L);
  const auto& names = ifnames(L);
  for (size_t i = 0; i < names.size(); i++) {
    lua_pushlstring(L, names[i].data(), names[i].size());
    lua_setfield(L, -2, std::to_string(i).c_str());
  }
  return 1;
}

// An interface given as id, numeric string or name; -1 when none.
int resolve(lua_State* L, int idx) {
  const auto& names = ifnames(L);
  if (lua_isnumber(L, idx)) {  // a number or a numeric string
    const double d = lua_tonumber(L, idx);
    if (d >= 0 && std::floor(d) == d && d < static_cast<double>(names.size())) return static_cast<int>(d);
    return -1;
  }
  if (lua_type(L, idx) == LUA_TSTRING) {
    const std::string s = lua_tostring(L, idx);
    for (size_t i = 0; i < names.size(); i++)
      if (names[i] == s) return static_cast<int>(i);
  }
  return -1;
}

int i_select(lua_State* L) {
  const int id = resolve(L, 1);
  if (id < 0) raise_error(L, ErrorKind::kApi, "interface.select: unknown interface");
  call(L)->ifid = static_cast<uint16_t>(id);
  return 0;
}
int i_get_id(lua_State* L) { return lua_pushinteger(L, call(L)->ifid), 1; }
int i_first_id(lua_State* L) { return lua_pushinteger(L, 0), 1; }
int i_get_name(lua_State* L) {
  const std::string& n = ifnames(L)[call(L)->ifid];
  lua_pushlstring(L, n.data(), n.size());
  return 1;
}
int i_is_valid(lua_State* L) { return lua_pushboolean(L, resolve(L, 1) >= 0), 1; }
int i_name2id(lua_State* L) {
  arg_string(L, 1, "interface.name2id", "ifname");
  const int id = resolve(L, 1);
  if (id < 0) return lua_pushnil(L), 1;
  return lua_pushinteger(L, id), 1;
}
int i_true(lua_State* L) { return lua_pushboolean(L, 1), 1; }
int i_false(lua_State* L) { return lua_pushboolean(L, 0), 1; }
int i_nil(lua_State* L) { return lua_pushnil(L), 1; }
int i_is_pcap(lua_State* L) { return lua_pushboolean(L, call(L)->services->offline), 1; }
int i_update_freq(lua_State* L) { return lua_pushinteger(L, 1), 1; }
int i_get_stats(lua_State* L) {
  push_interface_stats(L, host_of(L));
  return 1;
}

int i_num_hosts(lua_State* L) {
  HostTable* t = hosts(L);
  return lua_pushnumber(L, t ? static_cast<double>(t->size()) : 0), 1;
}
int i_num_local_hosts(lua_State* L) {
  HostTable* t = hosts(L);
  return lua_pushnumber(L, t ? static_cast<double>(t->local_hosts()) : 0), 1;
}
int i_num_local_rx_only(lua_State* L) {
  HostTable* t = hosts(L);
  uint64_t n = 0;
  if (t) t->for_each([&](const Host& h) { n += h.is_local() && h.rx_only(); });
  return lua_pushnumber(L, static_cast<double>(n)), 1;
}

enum class Which { kAll, kLocal, kLocalNoTx, kRemote, kRemoteNoTx };

bool picks(Which w, const Host& h) {
  switch (w) {
    case Which::kAll: return true;
    case Which::kLocal: return h.is_local();
    case Which::kLocalNoTx: return h.is_local() && h.rx_only();
    case Which::kRemote: return !h.is_local();
    case Which::kRemoteNoTx: return !h.is_local() && h.rx_only();
  }
  return false;
}

// Host listings (§4.5.4): params table or ntopng's positional form.
int listing(lua_State* L, Which which, const char* fn) {
  uint32_t page = 1, per_page = 10;
  std::string sort = "bytes";
  bool asc = false;
  std::optional<std::string> only_ip;
  std::optional<double> only_vlan, only_net;
  if (lua_istable(L, 1)) {
    auto num = [&](const char* k, double lo, double hi) -> std::optional<double> {
      lua_getfield(L, 1, k);
      std::optional<double> v;
      if (lua_type(L, -1) == LUA_TNUMBER) {
        const double d = lua_tonumber(L, -1);
        if (d < lo || d > hi || std::floor(d) != d)
          raise_error(L, ErrorKind::kApi, "%s: params.%s: integer %.0f-%.0f expected", fn, k, lo, hi);
        v = d;
      } else if (!lua_isnil(L, -1)) {
        raise_error(L, ErrorKind::kApi, "%s: params.%s: integer expected, got %s", fn, k,
                    luaL_typename(L, -1));
      }
      lua_pop(L, 1);
      return v;
    };
    auto str = [&](const char* k) -> std::optional<std::string> {
      lua_getfield(L, 1, k);
      std::optional<std::string> v;
      if (lua_type(L, -1) == LUA_TSTRING) {
        v = lua_tostring(L, -1);
      } else if (!lua_isnil(L, -1)) {
        raise_error(L, ErrorKind::kApi, "%s: params.%s: string expected, got %s", fn, k,
                    luaL_typename(L, -1));
      }
      lua_pop(L, 1);
      return v;
    };
    if (auto v = num("currentPage", 1, 1e9)) page = static_cast<uint32_t>(*v);
    if (auto v = num("perPage", 1, 10000)) per_page = static_cast<uint32_t>(*v);
    if (auto v = str("sortColumn")) sort = *v;
    if (auto v = str("sortOrder")) asc = *v == "asc";
    only_ip = str("host");
    only_vlan = num("vlan", 0, 4095);
    only_net = num("network", 0, 1e6);
  } else if (!lua_isnoneornil(L, 1)) {
    // (show_details, sortColumn, maxHits, toSkip, a2zSortOrder)
    if (lua_type(L, 2) == LUA_TSTRING) sort = lua_tostring(L, 2);
    if (lua_type(L, 3) == LUA_TNUMBER) per_page = static_cast<uint32_t>(std::clamp(lua_tonumber(L, 3), 1.0, 10000.0));
    if (lua_type(L, 4) == LUA_TNUMBER) page = 1 + static_cast<uint32_t>(std::max(0.0, lua_tonumber(L, 4))) / per_page;
    if (lua_type(L, 5) == LUA_TBOOLEAN) asc = lua_toboolean(L, 5);
  }
  std::vector<const Host*> list;
  if (HostTable* t = hosts(L)) {
    t->for_each([&](const Host& h) {
      if (!picks(which, h)) return;
      if (only_ip && host_ip_string(h.key) != *only_ip) return;
      if (only_vlan && h.key.vlan != *only_vlan) return;
      if (only_net && h.network != *only_net) return;
      list.push_back(&h);
    });
  }
  auto value = [&](const Host* h) -> double {
    if (sort == "bytes.sent") return static_cast<double>(h->bytes_sent);
    if (sort == "bytes.rcvd") return static_cast<double>(h->bytes_rcvd);
    if (sort == "packets") return static_cast<double>(h->pkts_sent + h->pkts_rcvd);
    if (sort == "seen.first") return static_cast<double>(h->first_ns);
    if (sort == "seen.last") return static_cast<double>(h->last_ns);
    if (sort == "score") return host_score(host_of(L), *h);
    return static_cast<double>(h->bytes_sent + h->bytes_rcvd);
  };
  const bool by_key = sort == "ip" || sort == "name";
  std::sort(list.begin(), list.end(), [&](const Host* a, const Host* b) {
    if (by_key) return asc ? a->key < b->key : b->key < a->key;
    const double va = value(a), vb = value(b);
    if (va != vb) return asc ? va < vb : va > vb;
    return a->key < b->key;
  });
  lua_createtable(L, 0, 2);
  lua_newtable(L);
  const size_t from = static_cast<size_t>(page - 1) * per_page;
  for (size_t i = from; i < list.size() && i < from + per_page; i++) {
    push_host_info(L, host_of(L), *list[i]);
    lua_setfield(L, -2, host_key_string(list[i]->key).c_str());
  }
  lua_setfield(L, -2, "hosts");
  set_int(L, "numHosts", static_cast<double>(list.size()));
  return 1;
}

int i_hosts_info(lua_State* L) { return listing(L, Which::kAll, "interface.getHostsInfo"); }
int i_local_hosts_info(lua_State* L) { return listing(L, Which::kLocal, "interface.getLocalHostsInfo"); }
int i_local_notx(lua_State* L) { return listing(L, Which::kLocalNoTx, "interface.getLocalHostsInfoNoTX"); }
int i_remote_hosts_info(lua_State* L) { return listing(L, Which::kRemote, "interface.getRemoteHostsInfo"); }
int i_remote_notx(lua_State* L) { return listing(L, Which::kRemoteNoTx, "interface.getRemoteHostsInfoNoTX"); }

int i_rx_only_list(lua_State* L) {
  lua_newtable(L);
  int i = 0;
  if (HostTable* t = hosts(L))
    for (const HostKey& k : t->sorted_keys())
      if (t->find(k)->rx_only()) {
        const std::string s = host_key_string(k);
        lua_pushlstring(L, s.data(), s.size());
        lua_rawseti(L, -2, ++i);
      }
  return 1;
}

const Host* find_host(lua_State* L, const char* fn) {
  const std::string_view ip = arg_string(L, 1, fn, "host");
  uint16_t vlan = 0;
  if (!lua_isnoneornil(L, 2)) {
    const double d = arg_number(L, 2, fn, "vlan");
    if (d < 0 || d > 4095 || std::floor(d) != d) bad_argument(L, fn, 2, "vlan", "integer 0-4095");
    vlan = static_cast<uint16_t>(d);
  }
  const std::optional<IpAddress> a = parse_ip_address(ip);
  HostTable* t = hosts(L);
  if (!a || t == nullptr) return nullptr;
  return t->find(make_host_key(a->bytes.data(), a->family, vlan));
}

int i_is_host_active(lua_State* L) {
  return lua_pushboolean(L, find_host(L, "interface.isHostActive") != nullptr), 1;
}
int i_get_host_info(lua_State* L) {
  const Host* h = find_host(L, "interface.getHostInfo");
  if (h == nullptr) return lua_pushnil(L), 1;
  push_host_info(L, host_of(L), *h);
  return 1;
}
int i_get_host_min_info(lua_State* L) {
  const Host* h = find_host(L, "interface.getHostMinInfo");
  if (h == nullptr) return lua_pushnil(L), 1;
  lua_createtable(L, 0, 8);
  set_str(L, "ip", host_ip_string(h->key));
  set_int(L, "vlan", h->key.vlan);
  set_int(L, "bytes.sent", static_cast<double>(h->bytes_sent));
  set_int(L, "bytes.rcvd", static_cast<double>(h->bytes_rcvd));
  set_int(L, "packets.sent", static_cast<double>(h->pkts_sent));
  set_int(L, "packets.rcvd", static_cast<double>(h->pkts_rcvd));
  set_int(L, "score", host_score(host_of(L), *h));
  set_int(L, "seen.last", static_cast<double>(h->last_ns / 1'000'000'000ULL));
  return 1;
}

int i_networks_stats(lua_State* L) {
  const auto& nets = host_of(L)->gen.local.nets();
  lua_newtable(L);
  for (size_t i = 0; i < nets.size(); i++) {
    push_network_stats(L, host_of(L), static_cast<int>(i));
    lua_getfield(L, -1, "network_key");
    lua_insert(L, -2);
    lua_settable(L, -3);
  }
  return 1;
}
int i_network_stats(lua_State* L) {
  const double d = arg_number(L, 1, "interface.getNetworkStats", "network_id");
  const auto& nets = host_of(L)->gen.local.nets();
  if (d < 0 || std::floor(d) != d || d >= static_cast<double>(nets.size())) return lua_pushnil(L), 1;
  push_network_stats(L, host_of(L), static_cast<int>(d));
  return 1;
}

int i_get_alerts(lua_State* L) {
  AlertQuery q = read_alert_query(L, 1, "interface.getAlerts");
  q.ifid = call(L)->ifid;
  return push_alerts(L, host_of(L), q);
}
int i_get_engaged_alerts(lua_State* L) {
  AlertQuery q = read_alert_query(L, 1, "interface.getEngagedAlerts");
  q.ifid = call(L)->ifid;
  q.status = AlertStatusFilter::kEngaged;
  return push_alerts(L, host_of(L), q);
}

EntityAlert interface_alert(lua_State* L, const char* fn, bool store) {
  ScriptHost* h = host_of(L);
  EntityAlert a = read_alert_table(L, h, 1, fn, store);
  a.ifid = call(L)->ifid;
  lua_getfield(L, 1, "alert_entity");
  std::string entity = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "interface";
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    raise_error(L, ErrorKind::kApi, "%s: alert field 'alert_entity': string expected", fn);
  lua_pop(L, 1);
  lua_getfield(L, 1, "alert_entity_val");
  std::string val = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                        ? lua_tostring(L, -1) : "";
  lua_pop(L, 1);
  if (entity == "interface") {
    a.entity = AlertEntity::kInterface;
    a.entity_val = val.empty() ? std::to_string(a.ifid) : val;
  } else if (entity == "host") {
    if (val.empty()) raise_error(L, ErrorKind::kApi, "%s: a host alert needs 'alert_entity_val'", fn);
    a.entity = AlertEntity::kHost;
    a.entity_val = val.find('@') == std::string::npos ? val + "@0" : val;
    a.host_ip = a.entity_val.substr(0, a.entity_val.find('@'));
    a.host_vlan = static_cast<uint16_t>(std::atoi(a.entity_val.c_str() + a.entity_val.find('@') + 1));
  } else if (entity == "network") {
    a.entity = AlertEntity::kNetwork;
    const int id = call(L)->network;
    const auto& nets = h->gen.local.nets();
    if (val.empty() && id >= 0)
      val = to_string(nets[static_cast<size_t>(id)]);
    if (val.empty()) raise_error(L, ErrorKind::kApi, "%s: a network alert needs 'alert_entity_val' or a selected network", fn);
    a.entity_val = val;
    a.network_cidr = val;
    a.network_id = id;
  } else {
    raise_error(L, ErrorKind::kApi, "%s: unknown alert_entity '%s'", fn, entity.c_str());
  }
  return a;
}

int i_store(lua_State* L) {
  const EntityAlert a = interface_alert(L, "interface.storeTriggeredAlert", true);
  AlertPipeline* p = call(L)->services->alerts;
  return lua_pushboolean(L, p != nullptr && p->engage(a)), 1;
}
int i_release(lua_State* L) {
  AlertPipeline* p = call(L)->services->alerts;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    const uint64_t id = static_cast<uint64_t>(lua_tonumber(L, 1));
    return lua_pushboolean(L, p != nullptr && p->release_id(id, control_time_ns(host_of(L)))), 1;
  }
  const EntityAlert a = interface_alert(L, "interface.releaseTriggeredAlert", false);
  return lua_pushboolean(L, p != nullptr && p->release(a, a.time_ns)), 1;
}
int i_release_engaged(lua_State* L) {
  constexpr const char* kFn = "interface.releaseEngagedAlerts";
  const std::string script(arg_string(L, 1, kFn, "script_key"));
  std::optional<std::string> sub, type;
  if (!lua_isnoneornil(L, 2)) sub = std::string(arg_string(L, 2, kFn, "alert_subtype"));
  if (!lua_isnoneornil(L, 3)) type = std::string(arg_string(L, 3, kFn, "alert_type"));
  AlertPipeline* p = call(L)->services->alerts;
  const size_t n = p == nullptr ? 0
                                : p->release_matching(script, sub ? &*sub : nullptr,
                                                      type ? &*type : nullptr,
                                                      control_time_ns(host_of(L)));
  return lua_pushnumber(L, static_cast<double>(n)), 1;
}

std::string iface_cache_key(lua_State* L, std::string_view key) {
  return "interface|" + std::to_string(call(L)->ifid) + "|" + running_script_key(host_of(L)) +
         "|" + std::string(key);
}
int i_get_cached(lua_State* L) {
  const std::string_view key = arg_string(L, 1, "interface.getCachedAlertValue", "key");
  auto& cached = call(L)->state->cached;
  auto it = cached.find(iface_cache_key(L, key));
  if (it == cached.end() || (it->second.second != 0 && it->second.second <= call(L)->when)) {
    if (it != cached.end()) cached.erase(it);
    return lua_pushliteral(L, ""), 1;
  }
  lua_pushlstring(L, it->second.first.data(), it->second.first.size());
  return 1;
}
int i_set_cached(lua_State* L) {
  constexpr const char* kFn = "interface.setCachedAlertValue";
  const std::string_view key = arg_string(L, 1, kFn, "key");
  const std::string_view value = arg_string(L, 2, kFn, "value");
  if (value.size() > kCachedValueMax) bad_argument(L, kFn, 2, "value", "string of at most 4 KiB");
  uint64_t expiry = 0;
  if (!lua_isnoneornil(L, 3)) {
    const double d = arg_number(L, 3, kFn, "expiry");
    if (d < 0 || std::floor(d) != d) bad_argument(L, kFn, 3, "expiry", "integer >= 0");
    if (d > 0) expiry = call(L)->when + static_cast<uint64_t>(d);
  }
  call(L)->state->cached[iface_cache_key(L, key)] = {std::string(value), expiry};
  return 0;
}

int i_hash_tables_stats(lua_State* L) {
  HostTable* t = hosts(L);
  lua_createtable(L, 0, 2);
  lua_createtable(L, 0, 3);
  set_int(L, "entries", t ? static_cast<double>(t->size()) : 0);
  set_int(L, "evicted",
          t ? static_cast<double>(t->counters().evicted_capacity + t->counters().evicted_idle) : 0);
  lua_setfield(L, -2, "hosts");
  return 1;
}

int i_periodic_stats(lua_State* L) {
  ControlCall* c = call(L);
  lua_newtable(L);
  if (c->scripts == nullptr) return 1;
  for (const ControlScriptInfo& s : *c->scripts) {
    lua_newtable(L);
    for (int g = 0; g < kGranularities; g++) {
      if (!(s.hooks & (1u << g))) continue;
      const ControlRunStats& r = s.runs[g];
      lua_createtable(L, 0, 6);
      set_int(L, "runs", static_cast<double>(r.runs));
      set_int(L, "last_start", static_cast<double>(r.last_start));
      set_int(L, "last_duration_ms", static_cast<double>(r.last_duration_ns) / 1e6);
      set_int(L, "max_duration_ms", static_cast<double>(r.max_duration_ns) / 1e6);
      set_int(L, "skipped", static_cast<double>(r.skipped));
      set_int(L, "deadline_misses", static_cast<double>(r.deadline_misses));
      lua_setfield(L, -2, kGranularityNames[g]);
    }
    lua_setfield(L, -2, s.key.c_str());
  }
  return 1;
}

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

int n_deadline_approaching(lua_State* L) {
  ControlCall* c = call(L);
  if (c->deadline_steady_ns == 0) return lua_pushboolean(L, 0), 1;
  const uint64_t now = steady_ns();
  const uint64_t left = c->deadline_steady_ns > now ? c->deadline_steady_ns - now : 0;
  const uint64_t margin = std::min<uint64_t>(5'000'000'000ULL, c->period_ns / 10);
  return lua_pushboolean(L, left < margin), 1;
}
int n_get_deadline(lua_State* L) {
  ControlCall* c = call(L);
  if (c->deadline_steady_ns == 0) return lua_pushnil(L), 1;
  return lua_pushnumber(L, static_cast<double>(c->when + c->period_ns / 1'000'000'000ULL)), 1;
}

}  // namespace

void push_interface_stats(lua_State* L, ScriptHost* h) {
  ControlCall* c = h->control;
  const InterfaceStats s = c->services->interface_stats ? c->services->interface_stats() : InterfaceStats{};
  const std::string& name = c->services->interfaces[c->ifid];
  lua_createtable(L, 0, 16);
  set_int(L, "id", c->ifid);
  set_int(L, "ifid", c->ifid);
  set_str(L, "name", name);
  set_str(L, "type", c->services->offline ? "pcap" : "dpdk");
  set_int(L, "speed", 0);
  set_int(L, "epoch", static_cast<double>(s.epoch));
  const uint64_t drops = s.drops_missed + s.drops_errors + s.drops_no_mbuf + s.drops_ring_full + s.drops_other;
  HostTable* t = c->services->hosts;
  lua_createtable(L, 0, 12);
  set_int(L, "packets", static_cast<double>(s.packets));
  set_int(L, "bytes", static_cast<double>(s.bytes));
  set_int(L, "drops", static_cast<double>(drops));
  set_int(L, "malformed", static_cast<double>(s.malformed));
  set_int(L, "flows", static_cast<double>(s.flows));
  set_int(L, "hosts", t ? static_cast<double>(t->size()) : 0);
  set_int(L, "local_hosts", t ? static_cast<double>(t->local_hosts()) : 0);
  set_int(L, "num_new_flows", static_cast<double>(s.new_flows));
  lua_setfield(L, -2, "stats");
  lua_createtable(L, 0, 5);
  set_int(L, "missed", static_cast<double>(s.drops_missed));
  set_int(L, "errors", static_cast<double>(s.drops_errors));
  set_int(L, "no_mbuf", static_cast<double>(s.drops_no_mbuf));
  set_int(L, "ring_full", static_cast<double>(s.drops_ring_full));
  set_int(L, "other", static_cast<double>(s.drops_other));
  lua_setfield(L, -2, "drops");
  set_int(L, "throughput_bps", s.throughput_bps);
  set_int(L, "throughput_pps", s.throughput_pps);
  lua_createtable(L, static_cast<int>(s.workers.size()), 0);
  for (size_t i = 0; i < s.workers.size(); i++) {
    const InterfaceStats::Worker& w = s.workers[i];
    lua_createtable(L, 0, 6);
    set_int(L, "id", static_cast<double>(i));
    set_int(L, "packets", static_cast<double>(w.packets));
    set_int(L, "bytes", static_cast<double>(w.bytes));
    set_int(L, "drops", static_cast<double>(w.drops));
    set_int(L, "flows", static_cast<double>(w.flows));
    set_int(L, "busy_ratio", w.busy_ratio);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "workers");
}

void add_interface(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "getIfNames", i_get_if_names);
  set_fn(L, h, "getFirstInterfaceId", i_first_id);
  set_fn(L, h, "select", i_select);
  set_fn(L, h, "getId", i_get_id);
  set_fn(L, h, "getName", i_get_name);
  set_fn(L, h, "isValidIfId", i_is_valid);
  set_fn(L, h, "name2id", i_name2id);
  set_fn(L, h, "isPacketInterface", i_true);
  set_fn(L, h, "isPcapDumpInterface", i_is_pcap);
  set_fn(L, h, "isRunning", i_true);
  for (const char* f : {"isDiscoverableInterface", "isBridgeInterface", "isDatabaseViewInterface",
                        "isZMQInterface", "isView", "isViewed", "isLoopback", "isSubInterface",
                        "isSyslogInterface", "hasEBPF", "hasExternalAlerts"})
    set_fn(L, h, f, i_false);
  set_fn(L, h, "viewedBy", i_nil);
  set_fn(L, h, "getStats", i_get_stats);
  set_fn(L, h, "getStatsUpdateFreq", i_update_freq);
  set_fn(L, h, "getHashTablesStats", i_hash_tables_stats);
  set_fn(L, h, "getPeriodicActivitiesStats", i_periodic_stats);
  set_fn(L, h, "getNumHosts", i_num_hosts);
  set_fn(L, h, "getNumLocalHosts", i_num_local_hosts);
  set_fn(L, h, "getNumLocalRxOnlyHosts", i_num_local_rx_only);
  set_fn(L, h, "getHostsInfo", i_hosts_info);
  set_fn(L, h, "getLocalHostsInfo", i_local_hosts_info);
  set_fn(L, h, "getLocalHostsInfoNoTX", i_local_notx);
  set_fn(L, h, "getRemoteHostsInfo", i_remote_hosts_info);
  set_fn(L, h, "getRemoteHostsInfoNoTX", i_remote_notx);
  set_fn(L, h, "getRxOnlyHostsList", i_rx_only_list);
  set_fn(L, h, "isHostActive", i_is_host_active);
  set_fn(L, h, "getHostInfo", i_get_host_info);
  set_fn(L, h, "getHostMinInfo", i_get_host_min_info);
  set_fn(L, h, "getNetworksStats", i_networks_stats);
  set_fn(L, h, "getNetworkStats", i_network_stats);
  set_fn(L, h, "getAlerts", i_get_alerts);
  set_fn(L, h, "getEngagedAlerts", i_get_engaged_alerts);
  set_fn(L, h, "storeTriggeredAlert", i_store);
  set_fn(L, h, "releaseTriggeredAlert", i_release);
  set_fn(L, h, "releaseEngagedAlerts", i_release_engaged);
  set_fn(L, h, "getCachedAlertValue", i_get_cached);
  set_fn(L, h, "setCachedAlertValue", i_set_cached);
}

void add_ntop_control(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "isDeadlineApproaching", n_deadline_approaching);
  set_fn(L, h, "getDeadline", n_get_deadline);
}

}  // namespace loupe
