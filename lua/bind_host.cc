// host.* (contract §4.2): the 23 functions, served in the control VM's host
// context, where the host being checked is bound. Everywhere else getters
// return nil, predicates false, actions nothing.
#include <algorithm>
#include <cmath>
#include <lua.hpp>

#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_bind.h"

namespace loupe {
namespace {

constexpr uint32_t kScoreCap = 65535;

Host* bound(lua_State* L) {
  ControlCall* c = host_of(L)->control;
  return c != nullptr ? c->host : nullptr;
}

int push_nil(lua_State* L) {
  lua_pushnil(L);
  return 1;
}
int push_bool(lua_State* L, bool b) {
  lua_pushboolean(L, b);
  return 1;
}
int push_num(lua_State* L, double v) {
  lua_pushnumber(L, v);
  return 1;
}

int h_ip(lua_State* L) {
  const Host* h = bound(L);
  if (h == nullptr) return push_nil(L);
  const std::string ip = host_ip_string(h->key);
  lua_pushlstring(L, ip.data(), ip.size());
  return 1;
}
int h_mac(lua_State* L) {
  if (bound(L) == nullptr) return push_nil(L);
  lua_pushliteral(L, "00:00:00:00:00:00");  // loupe keeps no MAC per host (documented)
  return 1;
}
int h_vlan(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, h->key.vlan) : push_nil(L);
}
int h_is_local(lua_State* L) {
  const Host* h = bound(L);
  return push_bool(L, h != nullptr && h->is_local());
}
bool multicast(const Host& h) {
  return h.key.ip_version == 4 ? (h.key.addr[0] & 0xf0) == 0xe0 : h.key.addr[0] == 0xff;
}
bool broadcast(lua_State* L, const Host& h) {
  if (h.key.ip_version != 4) return false;
  const LocalNetworks& nets = host_of(L)->gen.local;
  return nets.is_broadcast(h.key.addr, 4);
}
int h_is_unicast(lua_State* L) {
  const Host* h = bound(L);
  return push_bool(L, h != nullptr && !multicast(*h) && !broadcast(L, *h));
}
int h_is_multicast(lua_State* L) {
  const Host* h = bound(L);
  return push_bool(L, h != nullptr && multicast(*h));
}
int h_is_broadcast(lua_State* L) {
  const Host* h = bound(L);
  return push_bool(L, h != nullptr && broadcast(L, *h));
}
int h_is_blacklisted(lua_State* L) {
  (void)bound(L);
  return push_bool(L, false);  // no blocklist.file in this version
}
int h_is_rx_only(lua_State* L) {
  const Host* h = bound(L);
  return push_bool(L, h != nullptr && h->rx_only());
}
int h_bytes(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->bytes_sent + h->bytes_rcvd)) : push_nil(L);
}
int h_bytes_sent(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->bytes_sent)) : push_nil(L);
}
int h_bytes_rcvd(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->bytes_rcvd)) : push_nil(L);
}
int h_name(lua_State* L) { return h_ip(L); }
int h_l7(lua_State* L) {
  const Host* h = bound(L);
  if (h == nullptr || h->l7.empty()) return push_nil(L);
  push_host_l7(L, host_of(L), *h, true);
  return 1;
}
int h_peers_noreply(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->peers_noreply.estimate())) : push_nil(L);
}
int h_clients_noreply(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->clients_noreply.estimate())) : push_nil(L);
}
int h_ports_noreply(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, static_cast<double>(h->ports_noreply.estimate())) : push_nil(L);
}
int h_unidir(lua_State* L) {
  const Host* h = bound(L);
  if (h == nullptr) return push_nil(L);
  lua_createtable(L, 0, 2);
  set_int(L, "as_client", static_cast<double>(h->unidir_as_client));
  set_int(L, "as_server", static_cast<double>(h->unidir_as_server));
  return 1;
}
int h_reset_contacts(lua_State* L) {
  if (Host* h = bound(L)) h->reset_contacts();
  return 0;
}
int h_score(lua_State* L) {
  const Host* h = bound(L);
  return h ? push_num(L, host_score(host_of(L), *h)) : push_nil(L);
}

int h_trigger_alert(lua_State* L) {
  ScriptHost* sh = host_of(L);
  constexpr const char* kFn = "host.triggerAlert";
  const double score = arg_number(L, 1, kFn, "score");
  if (std::isnan(score) || score < 0) bad_argument(L, kFn, 1, "score", "number >= 0");
  const std::string_view msg = arg_string(L, 2, kFn, "msg");
  std::string details = read_details(L, sh, 3, kFn);
  ControlCall* c = sh->control;
  Host* h = bound(L);
  if (h == nullptr || c->services->alerts == nullptr) return push_bool(L, false);
  EntityAlert a;
  a.entity = AlertEntity::kHost;
  a.script = c->script->key;
  a.alert_type = a.script;
  a.entity_val = host_key_string(h->key);
  a.host_ip = host_ip_string(h->key);
  a.host_vlan = h->key.vlan;
  a.message = std::string(msg);
  a.details = std::move(details);
  a.time_ns = c->when * 1'000'000'000ULL;
  a.ifid = c->ifid;
  a.set_score(score);
  const bool ok = c->services->alerts->engage(a);
  if (ok) {
    c->raised = true;
    c->script_state->engaged[static_cast<int>(c->granularity)].insert(a.entity_val);
  }
  return push_bool(L, ok);
}

int h_is_first_check_run(lua_State* L) {
  ControlCall* c = host_of(L)->control;
  const Host* h = bound(L);
  if (h == nullptr) return push_bool(L, false);
  // The run marks the host visited after the call: true for every call of
  // this script on this host's first run (any granularity).
  return push_bool(L, c->script_state->visited.count(h->key) == 0);
}

int h_skip_visited_host(lua_State* L) {
  constexpr const char* kFn = "host.skipVisitedHost";
  bool skip = true;
  if (!lua_isnoneornil(L, 1)) {
    if (lua_type(L, 1) != LUA_TBOOLEAN) bad_argument(L, kFn, 1, "skip", "boolean");
    skip = lua_toboolean(L, 1);
  }
  uint64_t until = 0;
  if (!lua_isnoneornil(L, 2)) {
    const double d = arg_number(L, 2, kFn, "skip_until");
    if (d < 0 || std::floor(d) != d) bad_argument(L, kFn, 2, "skip_until", "integer epoch");
    until = static_cast<uint64_t>(d);
  }
  ControlCall* c = host_of(L)->control;
  const Host* h = bound(L);
  if (h == nullptr) return 0;
  if (skip)
    c->script_state->skip[h->key] = until;
  else
    c->script_state->skip.erase(h->key);
  return 0;
}

}  // namespace

uint32_t host_engaged_alerts(ScriptHost* h, const Host& host) {
  ControlCall* c = h->control;
  if (c == nullptr || c->services->alerts == nullptr) return 0;
  const std::string key = host_key_string(host.key);
  uint32_t n = 0;
  c->services->alerts->for_each_engaged([&](const StoredAlert& s) {
    if (s.alert.entity == AlertEntity::kHost && s.alert.entity_val == key) n++;
  });
  return n;
}

uint32_t host_score(ScriptHost* h, const Host& host) {
  ControlCall* c = h->control;
  if (c == nullptr) return 0;
  uint64_t score = host.last_minute_flow_score(c->when * 1'000'000'000ULL);
  if (c->services->alerts != nullptr) {
    const std::string key = host_key_string(host.key);
    c->services->alerts->for_each_engaged([&](const StoredAlert& s) {
      if (s.alert.entity == AlertEntity::kHost && s.alert.entity_val == key)
        score += s.alert.score;
    });
  }
  return static_cast<uint32_t>(std::min<uint64_t>(score, kScoreCap));
}

void add_host(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "ip", h_ip);
  set_fn(L, h, "mac", h_mac);
  set_fn(L, h, "name", h_name);
  set_fn(L, h, "vlan_id", h_vlan);
  set_fn(L, h, "is_local", h_is_local);
  set_fn(L, h, "is_unicast", h_is_unicast);
  set_fn(L, h, "is_multicast", h_is_multicast);
  set_fn(L, h, "is_broadcast", h_is_broadcast);
  set_fn(L, h, "is_blacklisted", h_is_blacklisted);
  set_fn(L, h, "is_rx_only", h_is_rx_only);
  set_fn(L, h, "bytes", h_bytes);
  set_fn(L, h, "bytes_sent", h_bytes_sent);
  set_fn(L, h, "bytes_rcvd", h_bytes_rcvd);
  set_fn(L, h, "l7", h_l7);
  set_fn(L, h, "getNumContactedPeersAsClientTCPUDPNoTX", h_peers_noreply);
  set_fn(L, h, "getNumContactsFromPeersAsServerTCPUDPNoTX", h_clients_noreply);
  set_fn(L, h, "getNumContactedTCPUDPServerPortsNoTX", h_ports_noreply);
  set_fn(L, h, "getUnidirectionalTCPUDPFlowsStats", h_unidir);
  set_fn(L, h, "resetHostContacts", h_reset_contacts);
  set_fn(L, h, "score", h_score);
  set_fn(L, h, "triggerAlert", h_trigger_alert);
  set_fn(L, h, "isFirstCheckRun", h_is_first_check_run);
  set_fn(L, h, "skipVisitedHost", h_skip_visited_host);
}

}  // namespace loupe
