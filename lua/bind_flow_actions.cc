// flow.* actions (contract §4.1.1 #20, §4.1.5 #22–24): triggerAlert,
// getScriptState, setTag, addField. What they keep per flow lives in VM
// tables keyed by flow index (states, tags, fields), with the bits saying
// which exist in the flow's FlowScripts entry, so that forgetting a flow
// touches only what it has.
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "lua/script_host.h"

namespace loupe {
namespace {

constexpr size_t kTagMax = 128;
constexpr int kTagsPerFlow = 64;
constexpr int kValuesPerField = 64;
constexpr size_t kFieldValueMax = 1024;
constexpr size_t kDetailsMax = 16 * 1024;
constexpr int kDetailsDepth = 8;

int push_false(lua_State* L) {
  lua_pushboolean(L, 0);
  return 1;
}

void copy_bounded(char* dst, size_t cap, std::string_view s, uint16_t* len, bool* cut) {
  const size_t n = s.size() < cap ? s.size() : cap;
  std::memcpy(dst, s.data(), n);
  *len = static_cast<uint16_t>(n);
  *cut = n < s.size();
}

int f_trigger_alert(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "flow.triggerAlert";
  const double score = arg_number(L, 1, kFn, "score");
  if (std::isnan(score) || score < 0) bad_argument(L, kFn, 1, "score", "number >= 0");
  const std::string_view msg = arg_string(L, 2, kFn, "msg");
  const int dtype = lua_type(L, 3);
  std::string_view details;
  if (dtype == LUA_TTABLE) {
    std::string why;
    if (!json_encode(L, h, 3, h->scratch, kDetailsMax, kDetailsDepth, true, &why)) {
      raise_error(L, ErrorKind::kApi, "%s: bad argument #3 'details' (%s)", kFn, why.c_str());
    }
    details = h->scratch;
  } else if (dtype == LUA_TSTRING) {
    size_t n = 0;
    const char* s = lua_tolstring(L, 3, &n);
    details = {s, n};
    const size_t first = details.find_first_not_of(" \t\r\n");
    if (n > kDetailsMax || first == std::string_view::npos ||
        (details[first] != '{' && details[first] != '[') || !json_valid(L, details)) {
      raise_error(
          L, ErrorKind::kApi,
          "%s: bad argument #3 'details' (a JSON object or array of at most 16 KiB expected)", kFn);
    }
  } else if (dtype != LUA_TNIL && dtype != LUA_TNONE) {
    bad_argument(L, kFn, 3, "details", "table or JSON string");
  }
  const FlowView* v = h->view;
  if (v == nullptr || h->script < 0) return push_false(L);

  AlertRecord rec;
  const double rounded = std::floor(score + 0.5);
  if (rounded > 1000) {
    rec.flags |= AlertRecord::kScoreClamped;
    rec.score_raw = score;
    rec.score = 1000;
  } else {
    rec.score = static_cast<uint16_t>(rounded);
  }
  rec.severity = severity_of_score(rec.score);
  rec.eve_severity = eve_severity(rec.severity);
  rec.flow_id = v->flow->flow_id;
  rec.time_ns = h->now_ns;
  rec.key = v->flow->key;
  rec.client = v->cli();
  rec.icmp_type = v->flow->icmp_type;
  rec.icmp_code = v->flow->icmp_code;
  rec.worker = v->worker;
  rec.ifid = v->ifid;
  rec.script = static_cast<uint16_t>(h->script);
  rec.l7_master = v->detected() ? v->l7_master() : 0;
  rec.l7_app = v->detected() ? v->l7_app() : 0;
  bool cut = false;
  const std::string& key = h->gen.scripts[h->script].key;
  uint16_t key_len = 0;
  copy_bounded(rec.script_key, kAlertScriptKeyMax, key, &key_len, &cut);
  rec.key_len = static_cast<uint8_t>(key_len);
  if (cut) rec.flags |= AlertRecord::kKeyTruncated;
  copy_bounded(rec.message, kAlertMessageMax, msg, &rec.message_len, &cut);
  if (cut) rec.flags |= AlertRecord::kMessageTruncated;
  if (!details.empty()) {
    if (details.size() <= kAlertDetailsMax) {
      std::memcpy(rec.details, details.data(), details.size());
      rec.details_len = static_cast<uint16_t>(details.size());
    } else {
      rec.flags |= AlertRecord::kDetailsTruncated;  // no room: dropped whole, never cut
    }
  }
  // The flow's score is its highest alert score, whether or not the ring
  // took the record.
  if (h->entry != nullptr && rec.score > h->entry->score) h->entry->score = rec.score;
  const bool sent = h->alerts != nullptr && h->alerts->push(rec);
  (sent ? h->alerts_sent : h->alerts_dropped).add();
  lua_pushboolean(L, sent);
  return 1;
}

// The table private to (this script, this flow), made on first use.
int f_get_script_state(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (h->view == nullptr || h->entry == nullptr || h->script < 0) return lua_pushnil(L), 1;
  const int slot = h->gen.scripts[h->script].slot;
  if (slot < 0) {
    // A file without flow hooks (Arkime callbacks only): its session table.
    if (!push_session_table(L, h, h->flow_idx, h->script)) lua_pushnil(L);
    return 1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_states);
  lua_rawgeti(L, -1, slot + 1);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, slot + 1);
  }
  lua_rawgeti(L, -1, static_cast<int>(h->flow_idx));
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, static_cast<int>(h->flow_idx));
    h->entry->state_mask |= uint64_t{1} << slot;
  }
  return 1;
}

// Pushes registry table `ref`[flow index], made when `create`; returns
// whether one was pushed.
bool push_flow_table(lua_State* L, ScriptHost* h, int ref, bool create) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_rawgeti(L, -1, static_cast<int>(h->flow_idx));
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
  lua_rawseti(L, -3, static_cast<int>(h->flow_idx));
  lua_remove(L, -2);
  return true;
}

int f_set_tag(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "flow.setTag";
  const std::string_view name = arg_string(L, 1, kFn, "name");
  if (name.empty() || name.size() > kTagMax) {
    bad_argument(L, kFn, 1, "name", "non-empty string of at most 128 bytes");
  }
  if (h->view == nullptr || h->entry == nullptr) return push_false(L);
  push_flow_table(L, h, h->ref_tags, true);
  lua_pushvalue(L, 1);
  lua_rawget(L, -2);
  if (!lua_isnil(L, -1)) return push_false(L);
  lua_pop(L, 1);
  if (h->entry->tags >= kTagsPerFlow) {
    h->tags_dropped.add();
    return push_false(L);
  }
  lua_pushlstring(L, name.data(), name.size());
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pushlstring(L, name.data(), name.size());
  lua_rawseti(L, -2, ++h->entry->tags);
  h->entry->flags |= FlowScripts::kHasTags;
  lua_pushboolean(L, 1);
  return 1;
}

bool valid_field_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || n.front() == '.' || n.back() == '.') return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

// addField(name, value): fields[flow][name] = { values... } of one type.
int f_add_field(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "flow.addField";
  const std::string_view name = arg_string(L, 1, kFn, "name");
  if (!valid_field_name(name)) bad_argument(L, kFn, 1, "name", "field name of [A-Za-z0-9_.-]");
  const int vt = lua_type(L, 2);
  const bool is_string = vt == LUA_TSTRING;
  if (vt == LUA_TNUMBER) {
    const double d = lua_tonumber(L, 2);
    if (std::floor(d) != d) bad_argument(L, kFn, 2, "value", "string or integer");
  } else if (!is_string) {
    bad_argument(L, kFn, 2, "value", "string or integer");
  }
  if (h->view == nullptr || h->entry == nullptr) return push_false(L);
  lua_pushboolean(L, add_field_value(L, h, h->flow_idx, *h->entry, name, 2, kFn));
  return 1;
}

}  // namespace

bool add_field_value(lua_State* L, ScriptHost* h, uint32_t idx, FlowScripts& e,
                     std::string_view name, int v, const char* fn) {
  v = v < 0 ? lua_gettop(L) + v + 1 : v;
  const bool is_string = lua_type(L, v) == LUA_TSTRING;
  const int top = lua_gettop(L);
  // fields[idx], made on first use.
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_fields);
  lua_rawgeti(L, -1, static_cast<int>(idx));
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, static_cast<int>(idx));
  }
  lua_pushlstring(L, name.data(), name.size());
  lua_rawget(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlstring(L, name.data(), name.size());
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  const int values = lua_gettop(L);
  const int n = static_cast<int>(lua_objlen(L, values));
  if (n > 0) {
    lua_rawgeti(L, values, 1);
    const bool had_string = lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 1);
    if (had_string != is_string) {
      raise_error(L, ErrorKind::kApi, "%s: field '%.*s' holds %s", fn,
                  static_cast<int>(name.size()), name.data(), had_string ? "strings" : "integers");
    }
  }
  size_t len = 0;
  const char* s = is_string ? lua_tolstring(L, v, &len) : nullptr;
  if (is_string && len > kFieldValueMax) {
    lua_pushlstring(L, s, kFieldValueMax);
    lua_replace(L, v);
    h->fields_dropped.add();  // counted as truncated
  }
  bool added = false;
  bool present = false;
  for (int i = 1; i <= n && !present; ++i) {
    lua_rawgeti(L, values, i);
    present = lua_rawequal(L, -1, v);
    lua_pop(L, 1);
  }
  if (!present && n >= kValuesPerField) {
    h->fields_dropped.add();
  } else if (!present) {
    lua_pushvalue(L, v);
    lua_rawseti(L, values, n + 1);
    e.flags |= FlowScripts::kHasFields;
    added = true;
  }
  lua_settop(L, top);
  return added;
}

void add_flow_actions(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "triggerAlert", f_trigger_alert);
  set_fn(L, h, "getScriptState", f_get_script_state);
  set_fn(L, h, "setTag", f_set_tag);
  set_fn(L, h, "addField", f_add_field);
}

}  // namespace loupe
