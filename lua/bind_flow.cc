// flow.* scalar accessors (contract §4.1.1 #1–15, §4.1.5 #25–30). Each reads
// the flow of the current call through the host's view pointer and pushes
// one number, boolean or string; outside a flow hook each returns nil.
#include <cmath>
#include <lua.hpp>

#include "engine/flow/community_id.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

inline const FlowView* view(lua_State* L) { return host_of(L)->view; }

int nil(lua_State* L) {
  lua_pushnil(L);
  return 1;
}

int push_ip(lua_State* L, const uint8_t* addr, uint8_t version) {
  char buf[64];
  const size_t n = format_ip(addr, version, buf, sizeof(buf));
  lua_pushlstring(L, buf, n);
  return 1;
}

#define LOUPE_FLOW_NUMBER(fn, expr)                   \
  int fn(lua_State* L) {                              \
    const FlowView* v = view(L);                      \
    if (v == nullptr) return nil(L);                  \
    lua_pushnumber(L, static_cast<lua_Number>(expr)); \
    return 1;                                         \
  }

LOUPE_FLOW_NUMBER(f_cli_port, v->cli_port())
LOUPE_FLOW_NUMBER(f_srv_port, v->srv_port())
LOUPE_FLOW_NUMBER(f_vlan_id, v->vlan())
LOUPE_FLOW_NUMBER(f_bytes, v->bytes())
LOUPE_FLOW_NUMBER(f_cli2srv_bytes, v->cli2srv_bytes())
LOUPE_FLOW_NUMBER(f_srv2cli_bytes, v->srv2cli_bytes())
LOUPE_FLOW_NUMBER(f_protocol, v->l4_proto())
LOUPE_FLOW_NUMBER(f_l7_master_proto, v->detected() ? v->l7_master() : 0)
LOUPE_FLOW_NUMBER(f_l7_proto, v->detected() ? v->l7_app() : 0)
LOUPE_FLOW_NUMBER(f_packets, v->packets())
LOUPE_FLOW_NUMBER(f_cli2srv_packets, v->cli2srv_packets())
LOUPE_FLOW_NUMBER(f_srv2cli_packets, v->srv2cli_packets())
// Packet times in epoch seconds with a microsecond fraction.
LOUPE_FLOW_NUMBER(f_first_seen, std::floor(v->flow->first_ns / 1e3) / 1e6)
LOUPE_FLOW_NUMBER(f_last_seen, std::floor(v->flow->last_ns / 1e3) / 1e6)
#undef LOUPE_FLOW_NUMBER

int f_cli(lua_State* L) {
  const FlowView* v = view(L);
  return v == nullptr ? nil(L) : push_ip(L, v->cli_addr(), v->ip_version());
}

int f_srv(lua_State* L) {
  const FlowView* v = view(L);
  return v == nullptr ? nil(L) : push_ip(L, v->srv_addr(), v->ip_version());
}

// nDPI builds the joined name with a formatted print; the VM keeps each
// name it made, by id pair, so a script asking on every flow pays a lookup.
int f_l7_proto_name(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return nil(L);
  const int key = v->detected() ? (v->l7_master() << 16 | v->l7_app()) : 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_names);
  lua_rawgeti(L, -1, key);
  if (lua_type(L, -1) == LUA_TSTRING) return 1;
  lua_pop(L, 1);
  char buf[64];
  const size_t n = l7_name(*v, buf, sizeof(buf));
  lua_pushlstring(L, buf, n);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, key);
  return 1;
}

int f_direction(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (h->view == nullptr) return nil(L);
  lua_pushstring(L, direction(*h->view, h->gen.local));
  return 1;
}

int f_is_oneway(lua_State* L) {
  const FlowView* v = view(L);
  if (v == nullptr) return nil(L);
  lua_pushboolean(L, v->is_oneway());
  return 1;
}

int f_is_unicast(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (h->view == nullptr) return nil(L);
  lua_pushboolean(L, is_unicast(*h->view, h->gen.local));
  return 1;
}

int f_community_id(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return nil(L);
  const std::string id = community_id_v1(v->flow->key, v->cli(), v->flow->icmp_type,
                                         v->flow->icmp_code, h->gen.community_id_seed);
  lua_pushlstring(L, id.data(), id.size());
  return 1;
}

}  // namespace

void add_flow(lua_State* L, ScriptHost* h) {
  static constexpr std::pair<const char*, int (*)(lua_State*)> kFns[] = {
      {"cli", f_cli},
      {"cli_port", f_cli_port},
      {"srv", f_srv},
      {"srv_port", f_srv_port},
      {"vlan_id", f_vlan_id},
      {"bytes", f_bytes},
      {"cli2srv_bytes", f_cli2srv_bytes},
      {"srv2cli_bytes", f_srv2cli_bytes},
      {"protocol", f_protocol},
      {"l7_master_proto", f_l7_master_proto},
      {"l7_proto", f_l7_proto},
      {"l7_proto_name", f_l7_proto_name},
      {"direction", f_direction},
      {"is_oneway", f_is_oneway},
      {"is_unicast", f_is_unicast},
      {"packets", f_packets},
      {"cli2srv_packets", f_cli2srv_packets},
      {"srv2cli_packets", f_srv2cli_packets},
      {"first_seen", f_first_seen},
      {"last_seen", f_last_seen},
      {"community_id", f_community_id},
  };
  for (const auto& [name, fn] : kFns) set_fn(L, h, name, fn);
}

}  // namespace loupe
