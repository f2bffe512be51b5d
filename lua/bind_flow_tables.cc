// flow.* functions that return tables (contract §4.1.1 #16–19, §4.1.3,
// §4.1.5 #31): http(), dns(), ssh(), tls_quic()/tls(), dump(), risk(). Each
// builds its table only when called, from the flow and its metadata blob; a
// flow of another protocol gets the VM's shared read-only empty table.
#include <ndpi/ndpi_api.h>

#include <cstring>
#include <lua.hpp>
#include <string>

#include "engine/classify/ndpi_detector.h"
#include "engine/flow/community_id.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

bool is_proto(const FlowView& v, std::initializer_list<uint16_t> ids) {
  if (!v.detected()) return false;
  for (uint16_t id : ids) {
    if (v.l7_master() == id || v.l7_app() == id) return true;
  }
  return false;
}

bool has_any(const MetaView& m, MetaField first, MetaField last) {
  bool found = false;
  m.for_each([&](const MetaEntry& e) { found |= e.field >= first && e.field <= last; });
  return found;
}

void set_str(lua_State* L, const MetaView& m, MetaField f, const char* key) {
  const MetaEntry e = m.find(f);
  if (e.field == MetaField::none) return;
  lua_pushlstring(L, e.value.data(), e.value.size());
  lua_setfield(L, -2, key);
}

void set_u16(lua_State* L, const MetaView& m, MetaField f, const char* key) {
  const MetaEntry e = m.find(f);
  if (e.field == MetaField::none) return;
  lua_pushnumber(L, e.u16());
  lua_setfield(L, -2, key);
}

void set_u64(lua_State* L, const MetaView& m, MetaField f, const char* key) {
  const MetaEntry e = m.find(f);
  if (e.field == MetaField::none) return;
  lua_pushnumber(L, static_cast<lua_Number>(e.u64()));
  lua_setfield(L, -2, key);
}

// Pushes the shared empty table, or a new table when `applies`. Returns
// whether a new table was pushed.
bool push_meta_table(lua_State* L, ScriptHost* h, bool applies) {
  if (!applies) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_empty);
    return false;
  }
  lua_createtable(L, 0, 8);
  return true;
}

int f_http(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const bool applies =
      is_proto(*v, {NDPI_PROTOCOL_HTTP, NDPI_PROTOCOL_HTTP_PROXY, NDPI_PROTOCOL_HTTP_CONNECT}) ||
      has_any(v->meta, MetaField::http_method, MetaField::http_status);
  if (push_meta_table(L, h, applies)) {
    set_str(L, v->meta, MetaField::http_method, "method");
    set_str(L, v->meta, MetaField::http_url, "url");
    set_str(L, v->meta, MetaField::http_content_type, "content_type");
    set_u16(L, v->meta, MetaField::http_status, "return_code");
    set_str(L, v->meta, MetaField::http_host, "server_name");
    set_str(L, v->meta, MetaField::http_user_agent, "user_agent");
  }
  return 1;
}

// Every DNS answer address, comma-separated, in the order kept.
void set_answers(lua_State* L, const MetaView& m) {
  std::string out;
  m.for_each([&](const MetaEntry& e) {
    if (e.field != MetaField::dns_answer) return;
    char buf[64];
    const size_t n = e.value.size() == 4 || e.value.size() == 16
                         ? format_ip(reinterpret_cast<const uint8_t*>(e.value.data()),
                                     e.value.size() == 4 ? 4 : 6, buf, sizeof(buf))
                         : 0;
    if (n == 0) return;
    if (!out.empty()) out.push_back(',');
    out.append(buf, n);
  });
  if (out.empty()) return;
  lua_pushlstring(L, out.data(), out.size());
  lua_setfield(L, -2, "replies_as_string");
}

int f_dns(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const bool applies = is_proto(*v, {NDPI_PROTOCOL_DNS}) ||
                       has_any(v->meta, MetaField::dns_query, MetaField::dns_answer);
  if (push_meta_table(L, h, applies)) {
    set_str(L, v->meta, MetaField::dns_query, "last_query");
    set_u16(L, v->meta, MetaField::dns_qtype, "last_query_type");
    set_u16(L, v->meta, MetaField::dns_rcode, "last_return_code");
    set_answers(L, v->meta);
    const MetaEntry q = v->meta.find(MetaField::dns_query);
    if (q.field != MetaField::none) {
      bool invalid = false;
      for (char c : q.value) {
        const unsigned char u = static_cast<unsigned char>(c);
        invalid |= !(std::isalnum(u) || c == '-' || c == '.' || c == '_');
      }
      lua_pushboolean(L, invalid);
      lua_setfield(L, -2, "invalid_chars_in_query");
    }
  }
  return 1;
}

int f_ssh(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const bool applies = is_proto(*v, {NDPI_PROTOCOL_SSH}) ||
                       has_any(v->meta, MetaField::ssh_client, MetaField::ssh_hassh_server);
  if (push_meta_table(L, h, applies)) {
    set_str(L, v->meta, MetaField::ssh_client, "client_signature");
    set_str(L, v->meta, MetaField::ssh_server, "server_signature");
    set_str(L, v->meta, MetaField::ssh_hassh_client, "hassh_client");
    set_str(L, v->meta, MetaField::ssh_hassh_server, "hassh_server");
  }
  return 1;
}

const char* tls_version_name(uint16_t v) {
  switch (v) {
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLSv1";
    case 0x0302:
      return "TLSv1.1";
    case 0x0303:
      return "TLSv1.2";
    case 0x0304:
      return "TLSv1.3";
    case 0xfeff:
      return "DTLSv1.0";
    case 0xfefd:
      return "DTLSv1.2";
    case 0xfefc:
      return "DTLSv1.3";
    default:
      return nullptr;
  }
}

int f_tls_quic(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const bool applies = is_proto(*v, {NDPI_PROTOCOL_TLS, NDPI_PROTOCOL_DTLS, NDPI_PROTOCOL_QUIC}) ||
                       has_any(v->meta, MetaField::tls_sni, MetaField::tls_not_after);
  if (push_meta_table(L, h, applies)) {
    const MetaView& m = v->meta;
    set_str(L, m, MetaField::tls_sni, "client_requested_server_name");
    set_str(L, m, MetaField::tls_san, "server_names");
    set_str(L, m, MetaField::tls_issuer, "issuerDN");
    set_str(L, m, MetaField::tls_subject, "subjectDN");
    set_str(L, m, MetaField::tls_ja3, "ja3_client");
    set_str(L, m, MetaField::tls_ja3s, "ja3_server");
    set_u64(L, m, MetaField::tls_not_before, "notBefore");
    set_u64(L, m, MetaField::tls_not_after, "notAfter");
    set_str(L, m, MetaField::tls_alpn, "alpn");
    const MetaEntry ver = m.find(MetaField::tls_version);
    if (ver.field != MetaField::none && tls_version_name(ver.u16()) != nullptr) {
      lua_pushstring(L, tls_version_name(ver.u16()));
      lua_setfield(L, -2, "version");
    }
    lua_pushboolean(L, (v->risk() >> NDPI_TLS_WEAK_CIPHER) & 1);
    lua_setfield(L, -2, "unsafe_cipher");
  }
  return 1;
}

int f_risk(lua_State* L) {
  const FlowView* v = host_of(L)->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const uint64_t risk = v->risk();
  lua_newtable(L);
  for (int i = 1; i < NDPI_MAX_RISK && i < 64; ++i) {
    if (!((risk >> i) & 1)) continue;
    const char* name = ndpi_risk2str(static_cast<ndpi_risk_enum>(i));
    lua_pushstring(L, name ? name : "unknown");
    lua_rawseti(L, -2, i);
  }
  lua_pushnumber(L, NdpiModule::risk_score(risk));
  return 2;
}

// The flow's 53-bit key: FNV-1a over the canonical key, exact as a double.
uint64_t flow_key53(const FlowKey& k) {
  uint64_t x = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const uint8_t*>(&k);
  for (size_t i = 0; i < sizeof(k); ++i) x = (x ^ p[i]) * 1099511628211ull;
  return x & ((uint64_t{1} << 53) - 1);
}

void set_num(lua_State* L, const char* key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}
void set_bool(lua_State* L, const char* key, bool v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, key);
}
void set_text(lua_State* L, const char* key, const char* s, size_t n) {
  lua_pushlstring(L, s, n);
  lua_setfield(L, -2, key);
}

// TCP flags a side sent, as far as the flow table remembers them.
int side_tcp_flags(const Flow& f, uint8_t side) {
  int flags = 0;
  if (f.tcp_seen & (kSeenSyn << side)) flags |= 0x02;
  if (f.tcp_seen & (kSeenFin << side)) flags |= 0x01;
  if (f.tcp_seen & (kSeenRst << side)) flags |= 0x04;
  return flags;
}

void dump_tags(lua_State* L, ScriptHost* h) {
  lua_newtable(L);
  if (h->entry != nullptr && (h->entry->flags & FlowScripts::kHasTags)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_tags);
    lua_rawgeti(L, -1, static_cast<int>(h->flow_idx));
    if (lua_istable(L, -1)) {
      const int n = static_cast<int>(lua_objlen(L, -1));
      for (int i = 1; i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -4, i);
      }
    }
    lua_pop(L, 2);
  }
  lua_setfield(L, -2, "tags");
}

int f_dump(lua_State* L) {
  ScriptHost* h = host_of(L);
  const FlowView* v = h->view;
  if (v == nullptr) return lua_pushnil(L), 1;
  const Flow& f = *v->flow;
  char buf[128];
  lua_createtable(L, 0, 48);
  set_text(L, "cli.ip", buf, format_ip(v->cli_addr(), v->ip_version(), buf, sizeof(buf)));
  set_text(L, "srv.ip", buf, format_ip(v->srv_addr(), v->ip_version(), buf, sizeof(buf)));
  set_num(L, "cli.port", v->cli_port());
  set_num(L, "srv.port", v->srv_port());
  set_num(L, "vlan", v->vlan());
  set_text(L, "proto.l4", buf, l4_name(v->l4_proto(), buf, sizeof(buf)));
  set_num(L, "proto.l4_id", v->l4_proto());
  set_text(L, "proto.ndpi", buf, l7_name(*v, buf, sizeof(buf)));
  set_num(L, "proto.ndpi_id", v->detected() ? v->l7_app() : 0);
  set_num(L, "proto.ndpi_master_id", v->detected() ? v->l7_master() : 0);
  const char* breed = "Unrated";
  const char* category = "Unspecified";
  if (v->ndpi != nullptr) {
    ndpi_detection_module_struct* mod = v->ndpi->get();
    const uint16_t id = v->l7_app() ? v->l7_app() : v->l7_master();
    const char* b = ndpi_get_proto_breed_name(mod, ndpi_get_proto_breed(mod, id));
    if (b != nullptr) breed = b;
    const char* c =
        ndpi_category_get_name(mod, static_cast<ndpi_protocol_category_t>(f.l7.category));
    if (c != nullptr) category = c;
  }
  lua_pushstring(L, breed);
  lua_setfield(L, -2, "proto.ndpi_breed");
  lua_pushstring(L, category);
  lua_setfield(L, -2, "proto.ndpi_cat");
  set_num(L, "proto.ndpi_cat_id", f.l7.category);
  set_num(L, "bytes", static_cast<double>(v->bytes()));
  set_num(L, "packets", static_cast<double>(v->packets()));
  set_num(L, "cli2srv.bytes", static_cast<double>(v->cli2srv_bytes()));
  set_num(L, "srv2cli.bytes", static_cast<double>(v->srv2cli_bytes()));
  set_num(L, "cli2srv.packets", static_cast<double>(v->cli2srv_packets()));
  set_num(L, "srv2cli.packets", static_cast<double>(v->srv2cli_packets()));
  const uint64_t first = f.first_ns / 1'000'000'000u, last = f.last_ns / 1'000'000'000u;
  set_num(L, "seen.first", static_cast<double>(first));
  set_num(L, "seen.last", static_cast<double>(last));
  set_num(L, "duration", static_cast<double>(last - first));
  lua_pushstring(L, direction(*v, h->gen.local));
  lua_setfield(L, -2, "direction");
  set_bool(L, "is_oneway", v->is_oneway());
  const std::string cid =
      community_id_v1(f.key, v->cli(), f.icmp_type, f.icmp_code, h->gen.community_id_seed);
  set_text(L, "community_id", cid.data(), cid.size());
  set_num(L, "ifid", v->ifid);
  set_num(L, "key", static_cast<double>(flow_key53(f.key)));
  set_num(L, "flow_id", static_cast<double>(f.flow_id));
  set_num(L, "score", h->entry != nullptr ? h->entry->score : 0);
  dump_tags(L, h);
  if (v->l4_proto() == 6) {
    set_num(L, "cli2srv.tcp_flags", side_tcp_flags(f, v->cli()));
    set_num(L, "srv2cli.tcp_flags", side_tcp_flags(f, v->srv()));
    const bool rst = f.tcp_seen & (kSeenRst | kSeenRst << 1);
    set_bool(L, "tcp_established", f.state == FlowState::kEstablished);
    set_bool(L, "tcp_connecting", f.state == FlowState::kNew);
    set_bool(L, "tcp_closed", f.state == FlowState::kClosed);
    set_bool(L, "tcp_reset", rst);
  }
  if (v->l4_proto() == 1 || v->l4_proto() == 58) {
    lua_createtable(L, 0, 2);
    set_num(L, "type", f.icmp_type);
    set_num(L, "code", f.icmp_code);
    lua_setfield(L, -2, "icmp");
  }
  const MetaView& m = v->meta;
  for (MetaField name : {MetaField::http_host, MetaField::tls_sni, MetaField::dns_query}) {
    const MetaEntry e = m.find(name);
    if (e.field == MetaField::none) continue;
    set_text(L, "host_server_name", e.value.data(), e.value.size());
    break;
  }
  set_str(L, m, MetaField::http_method, "protos.http.last_method");
  set_str(L, m, MetaField::http_url, "protos.http.last_url");
  set_u16(L, m, MetaField::http_status, "protos.http.last_return_code");
  set_str(L, m, MetaField::http_host, "protos.http.server_name");
  set_str(L, m, MetaField::dns_query, "protos.dns.last_query");
  set_str(L, m, MetaField::ssh_client, "protos.ssh.client_signature");
  set_str(L, m, MetaField::ssh_server, "protos.ssh.server_signature");
  set_str(L, m, MetaField::tls_ja3, "protos.ssl.ja3.client_hash");
  set_str(L, m, MetaField::tls_ja3s, "protos.ssl.ja3.server_hash");
  return 1;
}

}  // namespace

void add_flow_tables(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "http", f_http);
  set_fn(L, h, "dns", f_dns);
  set_fn(L, h, "ssh", f_ssh);
  set_fn(L, h, "tls_quic", f_tls_quic);
  set_fn(L, h, "tls", f_tls_quic);  // ntopng's older name
  set_fn(L, h, "dump", f_dump);
  set_fn(L, h, "risk", f_risk);
}

}  // namespace loupe
