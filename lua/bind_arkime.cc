// Arkime session scripts for Lua (contract §5.1, §5.4, §5.5): the Arkime
// and ArkimeSession tables (also as Moloch and MolochSession), session
// objects with their fields and methods, and what they add to a flow. The
// registration functions, field expressions and the dispatch that calls
// the registered functions are in lua/arkime_session.cc; the state both
// sides share is described in lua/arkime_session.h.
//
// A session object is a small userdata holding its flow's index and the
// serial number that flow got at its first Arkime callback. It is usable
// while that flow's ArkimeFlow entry still carries the same serial and its
// final save has not returned; it reads its flow through the flow-table
// entry the entry points to, so a session kept in a closure works after its
// callback returned.
#include <cctype>
#include <cmath>
#include <cstring>
#include <lua.hpp>
#include <new>
#include <utility>

#include "engine/flow/community_id.h"
#include "lua/arkime_data.h"
#include "lua/arkime_session.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

constexpr size_t kTagMax = 128;
constexpr int kTagsPerFlow = 64;
constexpr int kValuesPerField = 64;
constexpr size_t kFieldValueMax = 1024;
constexpr size_t kProtocolMax = 64;
constexpr int kProtocolsPerFlow = 64;
constexpr double kTwo53 = 9007199254740992.0;

constexpr const char* kEnded = "ArkimeSession: the flow of this session has ended";

struct SessionObj {
  uint32_t idx;
  uint64_t serial;
};

ArkimeVm& avm(ScriptHost* h) { return *h->arkime; }

// -- Session objects (§5.4).

// Argument `n` of a method (the object not counted, §1.5): stack index n + 1.
[[noreturn]] void bad_method_arg(lua_State* L, const char* fn, int n, const char* param,
                                 const char* expected) {
  const int t = lua_type(L, n + 1);
  raise_error(L, ErrorKind::kApi, "%s: bad argument #%d '%s' (%s expected, got %s)", fn, n, param,
              expected, t == LUA_TNONE ? "nil" : lua_typename(L, t));
}

std::string_view method_string(lua_State* L, const char* fn, int n, const char* param) {
  const int t = lua_type(L, n + 1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) bad_method_arg(L, fn, n, param, "string");
  size_t len = 0;
  const char* s = lua_tolstring(L, n + 1, &len);
  return {s, len};
}

// The flow of the session at stack index 1; raises when it is not a
// session or its flow has ended.
uint32_t session_flow(lua_State* L, ScriptHost* h, const char* fn) {
  ArkimeVm& a = avm(h);
  bool ok = false;
  if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.session_mt);
    ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  if (!ok) {
    const int t = lua_type(L, 1);
    raise_error(L, ErrorKind::kApi, "%s: bad self (session expected, got %s)", fn,
                t == LUA_TNONE ? "nil" : lua_typename(L, t));
  }
  const auto* s = static_cast<const SessionObj*>(lua_touserdata(L, 1));
  if (a.aflows == nullptr || s->idx >= a.capacity) raise_error(L, ErrorKind::kApi, "%s", kEnded);
  const ArkimeFlow& f = a.aflows[s->idx];
  if (f.serial != s->serial || (f.flags & ArkimeFlow::kEnded) || f.flow == nullptr)
    raise_error(L, ErrorKind::kApi, "%s", kEnded);
  return s->idx;
}

// The view of a session's flow: the current one when the callback is its
// flow's (metadata included), else built from its flow-table entry.
FlowView session_view(ScriptHost* h, uint32_t idx) {
  if (h->view != nullptr && h->flow_idx == idx) return *h->view;
  const ArkimeFlow& f = avm(h).aflows[idx];
  FlowView v;
  v.flow = f.flow;
  v.ndpi = h->gen.ndpi;
  v.worker = h->worker;
  v.ifid = f.ifid;
  return v;
}

// Registry table `ref`[idx], made when `create`; pushed when it exists.
bool push_indexed(lua_State* L, int ref, uint32_t idx, bool create) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_rawgeti(L, -1, static_cast<int>(idx));
  if (lua_istable(L, -1)) {
    lua_remove(L, -2);
    return true;
  }
  lua_pop(L, 1);
  if (!create) {
    lua_pop(L, 1);
    return false;
  }
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, static_cast<int>(idx));
  lua_remove(L, -2);
  return true;
}

// Adds the string at stack index `v` to the set table at -1 ({[i] = s,
// [s] = true}, `count` entries); pops it. 1 added, 0 present, -1 full.
int add_to_set(lua_State* L, int v, int count, int cap) {
  lua_pushvalue(L, v);
  lua_rawget(L, -2);
  const bool present = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (present || count >= cap) {
    lua_pop(L, 1);
    return present ? 0 : -1;
  }
  lua_pushvalue(L, v);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pushvalue(L, v);
  lua_rawseti(L, -2, count + 1);
  lua_pop(L, 1);
  return 1;
}

bool add_tag(lua_State* L, ScriptHost* h, uint32_t idx, int v) {
  FlowScripts& e = avm(h).flows[idx];
  push_indexed(L, h->ref_tags, idx, true);
  const int r = add_to_set(L, v, e.tags, kTagsPerFlow);
  if (r < 0) h->tags_dropped.add();
  if (r <= 0) return false;
  ++e.tags;
  e.flags |= FlowScripts::kHasTags;
  return true;
}

bool has_engine_protocol(const FlowView& v, std::string_view p) {
  ProtocolName names[3];
  const size_t n = engine_protocols(v, names);
  for (size_t i = 0; i < n; ++i)
    if (names[i].view() == p) return true;
  return false;
}

bool add_protocol(lua_State* L, ScriptHost* h, uint32_t idx, int v) {
  ArkimeVm& a = avm(h);
  ArkimeFlow& f = a.aflows[idx];
  size_t len = 0;
  const char* s = lua_tolstring(L, v, &len);
  if (has_engine_protocol(session_view(h, idx), {s, len})) return false;
  push_indexed(L, a.ref_protocols, idx, true);
  f.flags |= ArkimeFlow::kProtocols;
  const int r = add_to_set(L, v, f.protocols, kProtocolsPerFlow);
  if (r < 0) h->fields_dropped.add();
  if (r <= 0) return false;
  ++f.protocols;
  return true;
}

bool add_value(lua_State* L, ScriptHost* h, uint32_t idx, std::string_view name, int v,
               const char* fn) {
  return add_field_value(L, h, idx, avm(h).flows[idx], name, v, fn);
}

// session:add_string / add_int: the field at stack index 2, the value
// (already converted) at 3.
int add_field(lua_State* L, bool want_string) {
  ScriptHost* h = host_of(L);
  const char* fn = want_string ? "session:add_string" : "session:add_int";
  const uint32_t idx = session_flow(L, h, fn);
  const int ft = lua_type(L, 2);
  if (ft != LUA_TSTRING && ft != LUA_TNUMBER) bad_method_arg(L, fn, 1, "field", "string or id");
  if (want_string) {
    method_string(L, fn, 2, "value");
    if (lua_type(L, 3) == LUA_TNUMBER) {
      lua_pushvalue(L, 3);
      lua_tostring(L, -1);  // converted as tostring would, on a copy
      lua_replace(L, 3);
    }
  } else {
    const int t = lua_type(L, 3);
    if (t != LUA_TNUMBER && !(t == LUA_TSTRING && lua_isnumber(L, 3)))
      bad_method_arg(L, fn, 2, "value", "integer");
    const double d = lua_tonumber(L, 3);
    if (std::floor(d) != d || std::fabs(d) > kTwo53)
      bad_method_arg(L, fn, 2, "value", "integer in +-2^53");
    lua_pushnumber(L, d);
    lua_replace(L, 3);
  }
  const int id = field_id(L, h, 2, true, fn);
  if (id < 0) {
    lua_pushvalue(L, 2);
    raise_error(L, ErrorKind::kApi, "%s: unknown or invalid field '%s'", fn, lua_tostring(L, -1));
  }
  bool added = false;
  if (const BuiltinField* b = builtin_field(id)) {
    if (!b->writable) raise_error(L, ErrorKind::kApi, "%s: field '%s' is read-only", fn, b->expr);
    const bool is_string = b->type == FieldType::kStringSet;
    if (is_string != want_string) {
      raise_error(L, ErrorKind::kApi, "%s: field '%s' holds %s", fn, b->expr,
                  is_string ? "strings" : "integers");
    }
    const size_t len = lua_objlen(L, 3);
    if (id == 1) {
      if (len == 0 || len > kProtocolMax) bad_method_arg(L, fn, 2, "value", "1-64 bytes");
      added = add_protocol(L, h, idx, 3);
    } else if (id == 2) {
      if (len == 0 || len > kTagMax) bad_method_arg(L, fn, 2, "value", "1-128 bytes");
      added = add_tag(L, h, idx, 3);
    } else {
      added = add_value(L, h, idx, b->expr, 3, fn);
    }
  } else {
    const int slot = id - ArkimeFields::kFirstId;
    ArkimeFields& uf = *h->gen.arkime_fields;
    const ArkimeFields::Type t =
        uf.settle_type(slot, want_string ? ArkimeFields::kString : ArkimeFields::kInt);
    const std::string_view name = uf.name(slot);
    if ((t == ArkimeFields::kString) != want_string) {
      raise_error(L, ErrorKind::kApi, "%s: field '%.*s' holds %s", fn,
                  static_cast<int>(name.size()), name.data(), want_string ? "integers" : "strings");
    }
    added = add_value(L, h, idx, name, 3, fn);
  }
  lua_pushboolean(L, added);
  return 1;
}

int s_add_string(lua_State* L) { return add_field(L, true); }
int s_add_int(lua_State* L) { return add_field(L, false); }

int s_add_tag(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:add_tag";
  const uint32_t idx = session_flow(L, h, kFn);
  const std::string_view tag = method_string(L, kFn, 1, "tag");
  if (tag.empty() || tag.size() > kTagMax)
    bad_method_arg(L, kFn, 1, "tag", "string of 1-128 bytes");
  lua_pushlstring(L, tag.data(), tag.size());
  lua_pushboolean(L, add_tag(L, h, idx, lua_gettop(L)));
  return 1;
}

int s_add_protocol(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:add_protocol";
  const uint32_t idx = session_flow(L, h, kFn);
  const std::string_view p = method_string(L, kFn, 1, "protocol");
  if (p.empty() || p.size() > kProtocolMax)
    bad_method_arg(L, kFn, 1, "protocol", "string of 1-64 bytes");
  lua_pushlstring(L, p.data(), p.size());
  lua_pushboolean(L, add_protocol(L, h, idx, lua_gettop(L)));
  return 1;
}

int s_has_protocol(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:has_protocol";
  const uint32_t idx = session_flow(L, h, kFn);
  const std::string_view p = method_string(L, kFn, 1, "protocol");
  bool has = has_engine_protocol(session_view(h, idx), p);
  if (!has && (avm(h).aflows[idx].flags & ArkimeFlow::kProtocols) &&
      push_indexed(L, avm(h).ref_protocols, idx, false)) {
    lua_pushlstring(L, p.data(), p.size());
    lua_rawget(L, -2);
    has = !lua_isnil(L, -1);
  }
  lua_pushboolean(L, has);
  return 1;
}

int s_table(lua_State* L) {
  ScriptHost* h = host_of(L);
  const uint32_t idx = session_flow(L, h, "session:table");
  if (h->script < 0 || !push_session_table(L, h, idx, h->script)) lua_pushnil(L);
  return 1;
}

int s_incr_outstanding(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:incr_outstanding";
  const uint32_t idx = session_flow(L, h, kFn);
  ArkimeVm& a = avm(h);
  if (a.in_callback && a.hook == ArkimeHook::kSave)
    raise_error(L, ErrorKind::kApi, "%s: not allowed in a save callback", kFn);
  ArkimeFlow& f = a.aflows[idx];
  if (f.outstanding == UINT16_MAX)
    raise_error(L, ErrorKind::kLimit, "%s: more than 65535 outstanding operations", kFn);
  ++f.outstanding;
  return 0;
}

int s_decr_outstanding(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:decr_outstanding";
  const uint32_t idx = session_flow(L, h, kFn);
  ArkimeVm& a = avm(h);
  ArkimeFlow& f = a.aflows[idx];
  if (f.outstanding == 0) raise_error(L, ErrorKind::kApi, "%s: no operation is outstanding", kFn);
  if (--f.outstanding == 0 && (f.flags & ArkimeFlow::kHeld)) ++a.released;
  return 0;
}

int s_register_parser(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:register_parser";
  const uint32_t idx = session_flow(L, h, kFn);
  ArkimeVm& a = avm(h);
  if (h->script < 0) raise_error(L, ErrorKind::kApi, "%s: only inside an Arkime callback", kFn);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->refs[h->script].env);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
      raise_error(L, ErrorKind::kApi, "%s: '%s' is not a global function", kFn, lua_tostring(L, 2));
    }
    lua_replace(L, 2);
  } else if (!lua_isfunction(L, 2)) {
    bad_method_arg(L, kFn, 1, "fn", "function or global function name");
  }
  ArkimeFlow& f = a.aflows[idx];
  if (f.parsers >= kArkimeParsersPerFlow) {
    raise_error(L, ErrorKind::kLimit, "%s: more than %d parsers on one flow", kFn,
                kArkimeParsersPerFlow);
  }
  push_arkime_flow_table(L, h, idx, true);
  lua_rawgeti(L, -1, kFlowParsers);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, 2 * kArkimeParsersPerFlow, 0);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, kFlowParsers);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2 * f.parsers + 1);
  lua_pushinteger(L, h->script);
  lua_rawseti(L, -2, 2 * f.parsers + 2);
  ++f.parsers;
  return 0;
}

// The metadata the engine extracts for built-in set fields 3-11.
constexpr MetaField kMetaOf[] = {
    MetaField::http_url,        MetaField::http_method, MetaField::http_status,
    MetaField::http_user_agent, MetaField::http_host,   MetaField::dns_query,
    MetaField::tls_sni,         MetaField::tls_ja3,     MetaField::tls_ja3s};

// Appends the engine's values of a set field, from the flow's metadata.
int push_meta_values(lua_State* L, const FlowView& v, int id, int n) {
  if (id < 3 || id > 11) return n;
  const MetaField mf = kMetaOf[id - 3];
  v.meta.for_each([&](const MetaEntry& e) {
    if (e.field != mf) return;
    if (mf == MetaField::http_status) {
      lua_pushinteger(L, e.u16());
    } else {
      lua_pushlstring(L, e.value.data(), e.value.size());
    }
    lua_rawseti(L, -2, ++n);
  });
  return n;
}

// Appends the values of registry table `ref`[idx][name] (or the set
// `ref`[idx] itself when name is empty) to the array at -1.
int push_script_values(lua_State* L, int ref, uint32_t idx, std::string_view name, int n) {
  if (!push_indexed(L, ref, idx, false)) return n;
  if (!name.empty()) {
    lua_pushlstring(L, name.data(), name.size());
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      return n;
    }
  }
  const int len = static_cast<int>(lua_objlen(L, -1));
  for (int i = 1; i <= len; ++i) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 1);
  return n;
}

int s_get(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "session:get";
  const uint32_t idx = session_flow(L, h, kFn);
  const int ft = lua_type(L, 2);
  if (ft != LUA_TSTRING && ft != LUA_TNUMBER) bad_method_arg(L, kFn, 1, "field", "string or id");
  const int id = field_id(L, h, 2, false, kFn);
  if (id < 0) return lua_pushnil(L), 1;
  const FlowView v = session_view(h, idx);
  const BuiltinField* b = builtin_field(id);
  char buf[64];
  if (b != nullptr && b->type != FieldType::kStringSet && b->type != FieldType::kIntSet) {
    switch (id) {
      case 12:
      case 13: {
        const size_t n =
            format_ip(id == 12 ? v.cli_addr() : v.srv_addr(), v.ip_version(), buf, sizeof(buf));
        lua_pushlstring(L, buf, n);
        break;
      }
      case 14:
        lua_pushinteger(L, v.cli_port());
        break;
      case 15:
        lua_pushinteger(L, v.srv_port());
        break;
      case 16:
        lua_pushinteger(L, v.l4_proto());
        break;
      case 17:
        lua_pushnumber(L, static_cast<double>(v.cli2srv_packets()));
        break;
      case 18:
        lua_pushnumber(L, static_cast<double>(v.srv2cli_packets()));
        break;
      case 19:
        lua_pushnumber(L, static_cast<double>(v.cli2srv_bytes()));
        break;
      case 20:
        lua_pushnumber(L, static_cast<double>(v.srv2cli_bytes()));
        break;
      case 30: {
        const Flow& f = *v.flow;
        const std::string cid =
            community_id_v1(f.key, v.cli(), f.icmp_type, f.icmp_code, h->gen.community_id_seed);
        lua_pushlstring(L, cid.data(), cid.size());
        break;
      }
      case 31:
        lua_pushlstring(L, buf, l7_name(v, buf, sizeof(buf)));
        break;
      default:
        lua_pushnil(L);  // payload bytes and TCP flag counts: not kept by the flow table
    }
    return 1;
  }
  lua_newtable(L);
  int n = 0;
  if (id == 1) {
    ProtocolName names[3];
    const size_t k = engine_protocols(v, names);
    for (size_t i = 0; i < k; ++i) {
      lua_pushlstring(L, names[i].text, names[i].len);
      lua_rawseti(L, -2, ++n);
    }
    n = push_script_values(L, avm(h).ref_protocols, idx, {}, n);
  } else if (id == 2) {
    n = push_script_values(L, h->ref_tags, idx, {}, n);
  } else if (b != nullptr) {
    n = push_meta_values(L, v, id, n);
    n = push_script_values(L, h->ref_fields, idx, b->expr, n);
  } else {
    n = push_script_values(L, h->ref_fields, idx,
                           h->gen.arkime_fields->name(id - ArkimeFields::kFirstId), n);
  }
  if (n == 0) lua_pushnil(L);
  return 1;
}

// flow.triggerAlert on the session's flow: the flow binding points to that
// flow for the call, and back whatever happens.
int s_trigger_alert(lua_State* L) {
  ScriptHost* h = host_of(L);
  const uint32_t idx = session_flow(L, h, "session:trigger_alert");
  lua_settop(L, 4);  // score, msg, details (nil when absent)
  const FlowView v = session_view(h, idx);
  const FlowView* view = h->view;
  FlowScripts* entry = h->entry;
  const uint32_t flow_idx = h->flow_idx;
  h->view = &v;
  h->entry = &avm(h).flows[idx];
  h->flow_idx = idx;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_ns);
  lua_getfield(L, -1, "flow");
  lua_getfield(L, -1, "triggerAlert");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  const int status = lua_pcall(L, 3, 1, 0);
  h->view = view;
  h->entry = entry;
  h->flow_idx = flow_idx;
  if (status != 0) lua_error(L);  // the same error object, its kind still pending
  return 1;
}

constexpr std::pair<const char*, lua_CFunction> kMethods[] = {
    {"add_string", s_add_string},
    {"add_int", s_add_int},
    {"add_tag", s_add_tag},
    {"add_protocol", s_add_protocol},
    {"has_protocol", s_has_protocol},
    {"table", s_table},
    {"incr_outstanding", s_incr_outstanding},
    {"decr_outstanding", s_decr_outstanding},
    {"register_parser", s_register_parser},
    {"get", s_get},
    {"trigger_alert", s_trigger_alert},
};

// __index of sessions: the five fields (and their old names), then the
// methods (upvalue 2).
int session_index(lua_State* L) {
  ScriptHost* h = host_of(L);
  const uint32_t idx = session_flow(L, h, "ArkimeSession");
  size_t len = 0;
  const char* k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : "";
  const std::string_view key(k, len);
  const FlowView v = session_view(h, idx);
  char buf[64];
  if (key == "ipProtocol" || key == "protocol") {
    const size_t n = l4_name(v.l4_proto(), buf, sizeof(buf));
    for (size_t i = 0; i < n; ++i)
      buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(buf[i])));
    lua_pushlstring(L, buf, n);
  } else if (key == "srcIp" || key == "addr1" || key == "dstIp" || key == "addr2") {
    const bool src = key == "srcIp" || key == "addr1";
    const size_t n = format_ip(src ? v.cli_addr() : v.srv_addr(), v.ip_version(), buf, sizeof(buf));
    lua_pushlstring(L, buf, n);
  } else if (key == "srcPort" || key == "port1") {
    lua_pushinteger(L, v.cli_port());
  } else if (key == "dstPort" || key == "port2") {
    lua_pushinteger(L, v.srv_port());
  } else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));
  }
  return 1;
}

int session_newindex(lua_State* L) {
  raise_error(L, ErrorKind::kApi, "ArkimeSession: session fields are read-only");
}

int session_tostring(lua_State* L) {
  const auto* s = static_cast<const SessionObj*>(lua_touserdata(L, 1));
  lua_pushfstring(L, "ArkimeSession: flow %d", static_cast<int>(s->idx));
  return 1;
}

int arkime_vm_gc(lua_State* L) {
  static_cast<ArkimeVm*>(lua_touserdata(L, 1))->~ArkimeVm();
  return 0;
}

const char kVmKey = 0;  // registry key of the VM's ArkimeVm userdata

}  // namespace

bool push_arkime_flow_table(lua_State* L, ScriptHost* h, uint32_t idx, bool create) {
  ArkimeVm& a = avm(h);
  if (!(a.aflows[idx].flags & ArkimeFlow::kTable) && !create) return false;
  push_indexed(L, a.ref_flows, idx, true);
  a.aflows[idx].flags |= ArkimeFlow::kTable;
  return true;
}

void push_session(lua_State* L, ScriptHost* h, uint32_t idx) {
  ArkimeVm& a = avm(h);
  push_arkime_flow_table(L, h, idx, true);
  lua_rawgeti(L, -1, kFlowSession);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    auto* s = static_cast<SessionObj*>(lua_newuserdata(L, sizeof(SessionObj)));
    s->idx = idx;
    s->serial = a.aflows[idx].serial;
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.session_mt);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, kFlowSession);
  }
  lua_remove(L, -2);
}

bool push_session_table(lua_State* L, ScriptHost* h, uint32_t idx, int script) {
  if (h->arkime == nullptr || h->arkime->aflows == nullptr || script < 0) return false;
  const int slot = h->gen.scripts.empty() ? -1 : h->gen.scripts[script].slot;
  int holder;
  if (slot >= 0) {  // the table flow.getScriptState() returns
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_states);
    lua_rawgeti(L, -1, slot + 1);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, slot + 1);
    }
    lua_remove(L, -2);
    holder = static_cast<int>(idx);
    h->arkime->flows[idx].state_mask |= uint64_t{1} << slot;
  } else {
    // Kept with the flow's Arkime state, which only a flow that met an
    // Arkime callback has (and forget_flow() frees).
    if (h->arkime->aflows[idx].serial == 0) return false;
    push_arkime_flow_table(L, h, idx, true);
    lua_rawgeti(L, -1, kFlowStates);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, kFlowStates);
    }
    lua_remove(L, -2);
    holder = script + 1;
  }
  lua_rawgeti(L, -1, holder);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, holder);
  }
  lua_remove(L, -2);
  return true;
}

void add_arkime(lua_State* L, ScriptHost* h) {
  auto* a = new (lua_newuserdata(L, sizeof(ArkimeVm))) ArkimeVm();
  lua_newtable(L);
  lua_pushcfunction(L, arkime_vm_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushlightuserdata(L, const_cast<char*>(&kVmKey));
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  h->arkime = a;
  a->data = arkime_data_vm(L);
  for (int* ref : {&a->ref_flows, &a->ref_protocols, &a->ref_ids}) {
    lua_newtable(L);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref_ids);
  for (const BuiltinField& b : kBuiltinFields) {
    lua_pushinteger(L, b.id);
    lua_setfield(L, -2, b.expr);
  }
  lua_pop(L, 1);

  // ArkimeSession: registration, HTTP constants, and the methods (callable
  // as ArkimeSession.add_tag(session, tag) too, as in Arkime).
  lua_newtable(L);
  const int session = lua_gettop(L);
  add_arkime_registration(L, h);
  lua_newtable(L);
  constexpr const char* kEvents[] = {
      "MESSAGE_BEGIN",    "URL",  "HEADER_FIELD",    "HEADER_FIELD_RAW", "HEADER_VALUE",
      "HEADERS_COMPLETE", "BODY", "MESSAGE_COMPLETE"};
  for (int i = 0; i < 8; ++i) {
    lua_pushinteger(L, i + 1);
    lua_setfield(L, -2, kEvents[i]);
  }
  lua_setfield(L, session, "HTTP");
  lua_newtable(L);  // methods, for __index
  for (const auto& [name, fn] : kMethods) {
    set_fn(L, h, name, fn);
    lua_getfield(L, -1, name);
    lua_setfield(L, session, name);
  }
  lua_newtable(L);  // the sessions' metatable, locked
  lua_pushlightuserdata(L, h);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, session_index, 2);
  lua_setfield(L, -2, "__index");
  set_fn(L, h, "__newindex", session_newindex);
  lua_pushcfunction(L, session_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushstring(L, "locked");
  lua_setfield(L, -2, "__metatable");
  a->session_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);  // methods
  lua_pushvalue(L, session);
  lua_setfield(L, session - 1, "ArkimeSession");
  lua_setfield(L, -2, "MolochSession");

  lua_newtable(L);
  set_fn(L, h, "expression_to_fieldId", arkime_expression_to_field_id);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "Arkime");
  lua_setfield(L, -2, "Moloch");
}

}  // namespace loupe
