// lua/control_bind.h: alert tables, alert queries and the shared table
// layouts of the control VM (contract §4.6, §4.7.3, §4.7.4).
#include <cmath>
#include <cstring>
#include <string>

#include "engine/classify/ndpi_detector.h"
#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_bind.h"

namespace loupe {
namespace {

constexpr size_t kDetailsMax = 16 * 1024;
constexpr int kDetailsDepth = 8;
constexpr uint64_t kNs = 1'000'000'000ULL;

constexpr const char* kSeverityNames[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

// A severity given as ntopng's id (1-8) or its name; false when neither.
bool parse_severity(lua_State* L, int idx, Severity* out) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    const double d = lua_tonumber(L, idx);
    if (d >= 1 && d <= 8 && std::floor(d) == d) {
      *out = static_cast<Severity>(static_cast<int>(d));
      return true;
    }
    return false;
  }
  if (lua_type(L, idx) != LUA_TSTRING) return false;
  const char* s = lua_tostring(L, idx);
  for (int i = 0; i < 8; i++) {
    if (std::strcmp(s, kSeverityNames[i]) == 0) {
      *out = static_cast<Severity>(i + 1);
      return true;
    }
  }
  return false;
}

// The lowest score of a severity (§4.7.2).
uint32_t score_of(Severity s) {
  static constexpr uint32_t kLowest[] = {0, 1, 10, 50, 100, 200, 200, 250};
  return kLowest[static_cast<int>(s) - 1];
}

std::string opt_string(lua_State* L, int t, const char* field, const char* fn) {
  lua_getfield(L, t, field);
  std::string v;
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
    v = lua_tostring(L, -1);
  } else if (!lua_isnil(L, -1)) {
    raise_error(L, ErrorKind::kApi, "%s: alert field '%s': string expected, got %s", fn, field,
                luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return v;
}

}  // namespace

std::optional<Cidr> parse_network(std::string_view text) {
  const size_t slash = text.find('/');
  const std::optional<IpAddress> a = parse_ip_address(text.substr(0, slash));
  if (!a) return std::nullopt;
  const int max = a->family == 4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const std::string p(text.substr(slash + 1));
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    prefix = std::stoi(p);
    if (prefix > max) return std::nullopt;
  }
  Cidr c;
  c.address = *a;
  c.prefix = static_cast<uint8_t>(prefix);
  for (int bit = prefix; bit < 128; bit++)
    c.address.bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  return c;
}

std::string running_script_key(ScriptHost* h) {
  ControlCall* c = h->control;
  return c != nullptr && c->script != nullptr ? c->script->key : std::string();
}

uint64_t control_time_ns(ScriptHost* h) {
  ControlCall* c = h->control;
  return c != nullptr ? c->when * kNs : 0;
}

std::string read_details(lua_State* L, ScriptHost* h, int idx, const char* fn) {
  const int t = lua_type(L, idx);
  if (t == LUA_TNIL || t == LUA_TNONE) return {};
  if (t == LUA_TTABLE) {
    std::string why;
    if (!json_encode(L, h, idx, h->scratch, kDetailsMax, kDetailsDepth, true, &why))
      raise_error(L, ErrorKind::kApi, "%s: bad 'details' (%s)", fn, why.c_str());
    return h->scratch;
  }
  if (t == LUA_TSTRING) {
    size_t n = 0;
    const char* s = lua_tolstring(L, idx, &n);
    const std::string_view d(s, n);
    const size_t first = d.find_first_not_of(" \t\r\n");
    if (n > kDetailsMax || first == std::string_view::npos ||
        (d[first] != '{' && d[first] != '[') || !json_valid(L, d))
      raise_error(L, ErrorKind::kApi,
                  "%s: bad 'details' (a JSON object or array of at most 16 KiB expected)", fn);
    return std::string(d);
  }
  raise_error(L, ErrorKind::kApi, "%s: bad 'details' (table or JSON string expected, got %s)", fn,
              lua_typename(L, t));
}

EntityAlert read_alert_table(lua_State* L, ScriptHost* h, int idx, const char* fn, bool store) {
  if (!lua_istable(L, idx)) bad_argument(L, fn, 1, "alert", "table");
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  EntityAlert a;
  a.script = running_script_key(h);
  a.time_ns = control_time_ns(h);
  a.alert_type = opt_string(L, idx, "alert_type", fn);
  if (a.alert_type.empty()) a.alert_type = a.script;
  a.alert_subtype = opt_string(L, idx, "alert_subtype", fn);
  a.message = opt_string(L, idx, "msg", fn);
  lua_getfield(L, idx, "score");
  const bool has_score = !lua_isnil(L, -1);
  double score = 0;
  if (has_score) {
    if (lua_type(L, -1) != LUA_TNUMBER || std::isnan(lua_tonumber(L, -1)) ||
        lua_tonumber(L, -1) < 0)
      raise_error(L, ErrorKind::kApi, "%s: alert field 'score': number 0-1000 expected", fn);
    score = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "alert_severity");
  Severity given = Severity::kDebug;
  const bool has_severity = !lua_isnil(L, -1);
  if (has_severity && !parse_severity(L, -1, &given))
    raise_error(L, ErrorKind::kApi, "%s: alert field 'alert_severity': unknown severity", fn);
  lua_pop(L, 1);
  if (store) {
    if (!has_score && !has_severity)
      raise_error(L, ErrorKind::kApi, "%s: the alert needs a 'score' or an 'alert_severity'", fn);
    lua_getfield(L, idx, "msg");
    const bool has_msg = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!has_msg) raise_error(L, ErrorKind::kApi, "%s: the alert needs a 'msg'", fn);
  }
  if (has_score) {
    a.set_score(score);
    if (has_severity) a.severity = given;  // recorded as given
  } else if (has_severity) {
    a.set_score(score_of(given));
    a.severity = given;
  }
  lua_getfield(L, idx, "details");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, idx, "alert_json");
  }
  a.details = read_details(L, h, lua_gettop(L), fn);
  lua_pop(L, 1);
  return a;
}

AlertQuery read_alert_query(lua_State* L, int idx, const char* fn) {
  AlertQuery q;
  if (lua_isnoneornil(L, idx)) return q;
  if (!lua_istable(L, idx)) bad_argument(L, fn, 1, "params", "table");
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  auto str = [&](const char* k, std::optional<std::string>* out) {
    lua_getfield(L, idx, k);
    if (lua_type(L, -1) == LUA_TSTRING) {
      *out = lua_tostring(L, -1);
    } else if (!lua_isnil(L, -1)) {
      raise_error(L, ErrorKind::kApi, "%s: params.%s: string expected, got %s", fn, k,
                  luaL_typename(L, -1));
    }
    lua_pop(L, 1);
  };
  auto num = [&](const char* k, double lo, double hi, double* out) -> bool {
    lua_getfield(L, idx, k);
    bool got = false;
    if (lua_type(L, -1) == LUA_TNUMBER) {
      const double d = lua_tonumber(L, -1);
      if (d < lo || d > hi || std::floor(d) != d)
        raise_error(L, ErrorKind::kApi, "%s: params.%s: integer %.0f-%.0f expected", fn, k, lo, hi);
      *out = d;
      got = true;
    } else if (!lua_isnil(L, -1)) {
      raise_error(L, ErrorKind::kApi, "%s: params.%s: integer expected, got %s", fn, k,
                  luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return got;
  };
  std::optional<std::string> s;
  str("status", &s);
  if (s) {
    if (*s == "engaged") q.status = AlertStatusFilter::kEngaged;
    else if (*s == "past") q.status = AlertStatusFilter::kPast;
    else if (*s == "any") q.status = AlertStatusFilter::kAny;
    else raise_error(L, ErrorKind::kApi, "%s: params.status: 'engaged', 'past' or 'any' expected", fn);
  }
  str("alert_type", &q.alert_type);
  lua_getfield(L, idx, "alert_severity");
  if (!lua_isnil(L, -1)) {
    Severity sev;
    if (!parse_severity(L, -1, &sev))
      raise_error(L, ErrorKind::kApi, "%s: params.alert_severity: unknown severity", fn);
    q.min_severity = sev;
  }
  lua_pop(L, 1);
  s.reset();
  str("entity", &s);
  if (s) {
    q.entity = parse_alert_entity(*s);
    if (!q.entity) raise_error(L, ErrorKind::kApi, "%s: params.entity: unknown entity '%s'", fn, s->c_str());
  }
  str("entity_val", &q.entity_val);
  str("script", &q.script);
  double d = 0;
  if (num("epoch_begin", 0, 9e15, &d)) q.epoch_begin = static_cast<uint64_t>(d);
  if (num("epoch_end", 0, 9e15, &d)) q.epoch_end = static_cast<uint64_t>(d);
  if (num("page", 1, 1e9, &d) || num("currentPage", 1, 1e9, &d)) q.page = static_cast<uint32_t>(d);
  if (num("perPage", 1, AlertQuery::kMaxPerPage, &d)) q.per_page = static_cast<uint32_t>(d);
  s.reset();
  str("order_by", &s);
  if (s) {
    if (*s == "tstamp") q.order_by = AlertOrderBy::kTstamp;
    else if (*s == "score") q.order_by = AlertOrderBy::kScore;
    else if (*s == "severity") q.order_by = AlertOrderBy::kSeverity;
    else raise_error(L, ErrorKind::kApi, "%s: params.order_by: 'tstamp', 'score' or 'severity' expected", fn);
  }
  s.reset();
  str("order", &s);
  if (s) {
    if (*s == "asc") q.ascending = true;
    else if (*s == "desc") q.ascending = false;
    else raise_error(L, ErrorKind::kApi, "%s: params.order: 'asc' or 'desc' expected", fn);
  }
  return q;
}

int push_alerts(lua_State* L, ScriptHost* h, const AlertQuery& q) {
  ControlCall* c = h->control;
  if (c == nullptr || c->services->alerts == nullptr) {
    lua_newtable(L);
    lua_pushinteger(L, 0);
    return 2;
  }
  const auto [page, total] = c->services->alerts->query(q);
  lua_createtable(L, static_cast<int>(page.size()), 0);
  int i = 0;
  for (const StoredAlert* s : page) {
    const EntityAlert& a = s->alert;
    lua_createtable(L, 0, 24);
    set_int(L, "alert_id", static_cast<double>(s->alert_id));
    set_int(L, "tstamp", static_cast<double>(a.time_ns) / 1e9);
    set_str(L, "script", a.script);
    set_str(L, "entity", alert_entity_name(a.entity));
    set_str(L, "entity_val", a.entity_val);
    set_int(L, "score", a.score);
    set_str(L, "severity", severity_name(a.severity));
    set_int(L, "severity_id", static_cast<int>(a.severity));
    set_str(L, "msg", a.message);
    if (!a.details.empty()) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_json);
      lua_getfield(L, -1, "decode");
      lua_remove(L, -2);
      lua_pushlstring(L, a.details.data(), a.details.size());
      lua_call(L, 1, 1);
      lua_setfield(L, -2, "details");
    }
    set_str(L, "alert_type", a.alert_type.empty() ? a.script : a.alert_type);
    set_str(L, "alert_subtype", a.alert_subtype);
    set_str(L, "status", alert_status_name(s->status));
    set_int(L, "ifid", a.ifid);
    if (s->flow) {
      const FlowAlertFields& f = *s->flow;
      set_str(L, "cli_ip", f.cli_ip);
      set_int(L, "cli_port", f.cli_port);
      set_str(L, "srv_ip", f.srv_ip);
      set_int(L, "srv_port", f.srv_port);
      set_int(L, "l4_proto", f.l4_proto);
      set_str(L, "l7_proto", f.l7_name);
      set_int(L, "vlan", f.vlan);
      set_str(L, "community_id", a.entity_val);
    }
    lua_rawseti(L, -2, ++i);
  }
  lua_pushnumber(L, static_cast<double>(total));
  return 2;
}

void push_host_l7(lua_State* L, ScriptHost* h, const Host& host, bool with_ntopng_names) {
  lua_createtable(L, 0, static_cast<int>(host.l7.size()));
  for (const auto& [id, s] : host.l7) {
    const uint16_t master = static_cast<uint16_t>(id >> 16), app = static_cast<uint16_t>(id);
    const std::string name = h->gen.ndpi != nullptr ? h->gen.ndpi->name(master, app) : "Unknown";
    lua_createtable(L, 0, 10);
    set_int(L, "bytes.sent", static_cast<double>(s.bytes_sent));
    set_int(L, "bytes.rcvd", static_cast<double>(s.bytes_rcvd));
    set_int(L, "packets.sent", static_cast<double>(s.pkts_sent));
    set_int(L, "packets.rcvd", static_cast<double>(s.pkts_rcvd));
    set_int(L, "num_flows", static_cast<double>(s.flows));
    if (with_ntopng_names) {
      set_int(L, "bytes_sent", static_cast<double>(s.bytes_sent));
      set_int(L, "bytes_rcvd", static_cast<double>(s.bytes_rcvd));
      set_int(L, "flows", static_cast<double>(s.flows));
    }
    lua_setfield(L, -2, name.c_str());
  }
}

namespace {
// The host info table's `ndpi` field, built on first access.
int host_info_index(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (lua_type(L, 2) != LUA_TSTRING || std::strcmp(lua_tostring(L, 2), "ndpi") != 0) return 0;
  HostKey* k = static_cast<HostKey*>(lua_touserdata(L, lua_upvalueindex(2)));
  ControlCall* c = h->control;
  const Host* host = c && c->services->hosts ? c->services->hosts->find(*k) : nullptr;
  if (host == nullptr) return 0;
  push_host_l7(L, h, *host, false);
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "ndpi");
  return 1;
}
}  // namespace

void push_host_info(lua_State* L, ScriptHost* h, const Host& host) {
  ControlCall* c = h->control;
  lua_createtable(L, 0, 40);
  const std::string ip = host_ip_string(host.key);
  set_str(L, "key", host_key_string(host.key));
  set_str(L, "ip", ip);
  set_int(L, "vlan", host.key.vlan);
  set_str(L, "mac", "00:00:00:00:00:00");
  set_str(L, "name", ip);
  set_int(L, "ifid", c ? c->ifid : 0);
  const bool local = host.is_local();
  set_bool(L, "localhost", local);
  set_bool(L, "is_local", local);
  const uint8_t* a = host.key.addr;
  const bool v4 = host.key.ip_version == 4;
  const bool multicast = v4 ? (a[0] & 0xf0) == 0xe0 : a[0] == 0xff;
  set_bool(L, "is_multicast", multicast);
  set_bool(L, "is_broadcast", v4 && a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
  set_bool(L, "is_blacklisted", false);
  set_bool(L, "is_rx_only", host.rx_only());
  const bool priv = v4 ? (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
                          (a[0] == 192 && a[1] == 168) || (a[0] == 100 && (a[1] & 0xc0) == 64))
                       : (a[0] & 0xfe) == 0xfc;
  set_bool(L, "privatehost", priv);
  set_int(L, "seen.first", static_cast<double>(host.first_ns / kNs));
  set_int(L, "seen.last", static_cast<double>(host.last_ns / kNs));
  set_int(L, "duration", static_cast<double>((host.last_ns - host.first_ns) / kNs));
  set_int(L, "bytes.sent", static_cast<double>(host.bytes_sent));
  set_int(L, "bytes.rcvd", static_cast<double>(host.bytes_rcvd));
  set_int(L, "packets.sent", static_cast<double>(host.pkts_sent));
  set_int(L, "packets.rcvd", static_cast<double>(host.pkts_rcvd));
  set_int(L, "active_flows.as_client", static_cast<double>(host.active_as_client()));
  set_int(L, "active_flows.as_server", static_cast<double>(host.active_as_server()));
  set_int(L, "num_flows.as_client", static_cast<double>(host.flows_as_client));
  set_int(L, "num_flows.as_server", static_cast<double>(host.flows_as_server));
  set_int(L, "score", static_cast<double>(host_score(h, host)));
  set_int(L, "num_alerts", static_cast<double>(host_engaged_alerts(h, host)));
  if (local && c != nullptr && c->services->hosts != nullptr) {
    set_int(L, "network_id", host.network);
    const auto& nets = c->services->hosts->networks();
    set_str(L, "network_key", to_string(nets[static_cast<size_t>(host.network)]));
  }
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, h);
  HostKey* k = static_cast<HostKey*>(lua_newuserdata(L, sizeof(HostKey)));
  *k = host.key;
  lua_pushcclosure(L, host_info_index, 2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

}  // namespace loupe
