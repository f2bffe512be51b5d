// lua/arkime_session.h: the engine's protocol names, the registration
// functions of ArkimeSession and their resolution once the set has loaded
// (contract §5.2, §3.1 step 5), and WorkerScripts' dispatch of Arkime
// callbacks (§3.2, §3.4, §5.3).
//
// One engine event (a classified payload, a stream chunk, an HTTP event, a
// body chunk, a save) is one protected C call that binds the flow, pushes
// its session once and calls each callback of the event's list in
// registration order, each under its own lua_pcall with budget timing, as
// flow hooks are called. Pushing strings and making the flow's table may
// allocate, which is why the whole event runs protected: a memory error
// there is counted as the script's, never a panic.
#include <ndpi/ndpi_api.h>
#include <strings.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <lua.hpp>

#include "engine/classify/ndpi_detector.h"
#include "lua/arkime_data.h"
#include "lua/script_host.h"
#include "lua/tsc.h"
#include "lua/worker_scripts.h"

namespace loupe {

size_t engine_protocols(const FlowView& v, ProtocolName (&out)[3]) {
  size_t n = 0;
  auto add = [&](const char* s) {
    ProtocolName& p = out[n];
    size_t len = 0;
    for (; s[len] != '\0' && len < sizeof(p.text); ++len)
      p.text[len] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[len])));
    p.len = static_cast<uint8_t>(len);
    if (len == 0 || p.view() == "unknown") return;
    for (size_t i = 0; i < n; ++i)
      if (out[i].view() == p.view()) return;
    ++n;
  };
  char l4[8];
  l4_name(v.l4_proto(), l4, sizeof(l4));
  add(l4);
  if (v.ndpi != nullptr && v.detected()) {
    for (uint16_t id : {v.l7_master(), v.l7_app()}) {
      if (id == 0) continue;
      const char* name = ndpi_get_proto_name(v.ndpi->get(), id);
      if (name != nullptr) add(name);
    }
  }
  return n;
}

namespace {

// -- Registration (§5.2).

const char* reg_fn_name(ArkimeRegKind k) {
  switch (k) {
    case ArkimeRegKind::kTcpClassifier:
      return "ArkimeSession.register_tcp_classifier";
    case ArkimeRegKind::kUdpClassifier:
      return "ArkimeSession.register_udp_classifier";
    case ArkimeRegKind::kBodyFeed:
      return "ArkimeSession.register_body_feed";
    case ArkimeRegKind::kHttpOn:
      return "ArkimeSession.http_on";
    case ArkimeRegKind::kPreSave:
      return "ArkimeSession.register_pre_save";
    case ArkimeRegKind::kSave:
      return "ArkimeSession.register_save";
  }
  return "ArkimeSession";
}

void check_loading(lua_State* L, ScriptHost* h, const char* fn) {
  if (!h->loading || h->script < 0 || h->arkime == nullptr) {
    raise_error(L, ErrorKind::kApi, "%s: registration is only allowed while the file loads", fn);
  }
}

// Registers with the callback at stack index `n`: a global name, resolved
// once the set has loaded, or a function.
void add_registration(lua_State* L, ScriptHost* h, ArkimeRegSpec spec, int n) {
  ArkimeVm& a = *h->arkime;
  const char* fn = reg_fn_name(spec.kind);
  int ref = LUA_NOREF;
  if (lua_type(L, n) == LUA_TSTRING) {
    size_t len = 0;
    const char* s = lua_tolstring(L, n, &len);
    if (len == 0) bad_argument(L, fn, n, "fn", "function or global function name");
    spec.fn.assign(s, len);
  } else if (lua_isfunction(L, n)) {
    lua_pushvalue(L, n);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    bad_argument(L, fn, n, "fn", "function or global function name");
  }
  // Per VM, at most 32 callbacks of one kind (per event type, per feed).
  if (spec.kind != ArkimeRegKind::kTcpClassifier && spec.kind != ArkimeRegKind::kUdpClassifier) {
    int same = 0;
    for (const ArkimeRegSpec& r : a.regs) same += r.kind == spec.kind && r.arg == spec.arg;
    if (same >= kArkimeCallbacksPerKind) {
      if (ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref);
      raise_error(L, ErrorKind::kLimit, "%s: more than %d callbacks of one kind in a VM", fn,
                  kArkimeCallbacksPerKind);
    }
  }
  spec.script = h->script;
  luaL_where(L, 1);
  a.where.emplace_back(lua_tostring(L, -1));
  lua_pop(L, 1);
  a.regs.push_back(std::move(spec));
  a.fn_refs.push_back(ref);
}

int register_classifier(lua_State* L, ArkimeRegKind kind) {
  ScriptHost* h = host_of(L);
  const char* fn = reg_fn_name(kind);
  check_loading(L, h, fn);
  ArkimeRegSpec spec;
  spec.kind = kind;
  const std::string_view name = arg_string(L, 1, fn, "name");
  if (name.empty() || name.size() > 64) bad_argument(L, fn, 1, "name", "string of 1-64 bytes");
  const double off = arg_number(L, 2, fn, "offset");
  if (!(off >= 0 && off <= 1023) || std::floor(off) != off)
    bad_argument(L, fn, 2, "offset", "integer 0-1023");
  const std::string_view match = arg_string(L, 3, fn, "match");
  if (match.empty() || match.size() > 255) bad_argument(L, fn, 3, "match", "string of 1-255 bytes");
  if (off + static_cast<double>(match.size()) > 1024) {
    raise_error(L, ErrorKind::kApi, "%s: offset + #match must be at most 1024 (got %d)", fn,
                static_cast<int>(off) + static_cast<int>(match.size()));
  }
  spec.name.assign(name);
  spec.offset = static_cast<uint16_t>(off);
  spec.match.assign(match);
  add_registration(L, h, std::move(spec), 4);
  return 0;
}

int a_register_tcp(lua_State* L) { return register_classifier(L, ArkimeRegKind::kTcpClassifier); }
int a_register_udp(lua_State* L) { return register_classifier(L, ArkimeRegKind::kUdpClassifier); }

int a_register_body_feed(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = reg_fn_name(ArkimeRegKind::kBodyFeed);
  check_loading(L, h, fn);
  const std::string_view type = arg_string(L, 1, fn, "type");
  ArkimeRegSpec spec;
  spec.kind = ArkimeRegKind::kBodyFeed;
  if (type == "http") {
    spec.arg = 0;  // BodyFeed::kHttp
  } else if (type == "smtp") {
    spec.arg = 1;  // BodyFeed::kSmtp
  } else {
    raise_error(L, ErrorKind::kApi,
                "%s: unknown body feed type '%.*s' (expected \"http\" or \"smtp\")", fn,
                static_cast<int>(type.size()), type.data());
  }
  add_registration(L, h, std::move(spec), 2);
  return 0;
}

int a_http_on(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = reg_fn_name(ArkimeRegKind::kHttpOn);
  check_loading(L, h, fn);
  const int t = lua_type(L, 1);
  const double e =
      t == LUA_TNUMBER || (t == LUA_TSTRING && lua_isnumber(L, 1)) ? lua_tonumber(L, 1) : -1;
  if (!(e >= 1 && e <= 8) || std::floor(e) != e)
    bad_argument(L, fn, 1, "type", "ArkimeSession.HTTP value");
  ArkimeRegSpec spec;
  spec.kind = ArkimeRegKind::kHttpOn;
  spec.arg = static_cast<uint8_t>(e);
  add_registration(L, h, std::move(spec), 2);
  return 0;
}

int register_save_kind(lua_State* L, ArkimeRegKind kind) {
  ScriptHost* h = host_of(L);
  check_loading(L, h, reg_fn_name(kind));
  ArkimeRegSpec spec;
  spec.kind = kind;
  add_registration(L, h, std::move(spec), 1);
  return 0;
}

int a_register_pre_save(lua_State* L) { return register_save_kind(L, ArkimeRegKind::kPreSave); }
int a_register_save(lua_State* L) { return register_save_kind(L, ArkimeRegKind::kSave); }

}  // namespace

bool valid_user_field_name(std::string_view n) {
  if (n.empty() || n.size() > ArkimeFields::kNameMax ||
      !std::isalpha(static_cast<unsigned char>(n[0])))
    return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

// -- Field expressions (§5.5, §5.6).

// The id of the expression at stack index `n` (a string or an id), or -1
// for an unknown one; a valid, unused user-field name is made when
// `create` (a full table raises the limit error).
int field_id(lua_State* L, ScriptHost* h, int n, bool create, const char* fn) {
  ArkimeVm& a = *h->arkime;
  if (lua_type(L, n) == LUA_TNUMBER) {
    const double d = lua_tonumber(L, n);
    if (std::floor(d) != d) return -1;
    if (builtin_field(static_cast<int>(d)) != nullptr) return static_cast<int>(d);
    const double slot = d - ArkimeFields::kFirstId;
    if (slot >= 0 && slot < ArkimeFields::kMax &&
        !h->gen.arkime_fields->name(static_cast<int>(slot)).empty())
      return static_cast<int>(d);
    return -1;
  }
  if (lua_type(L, n) != LUA_TSTRING) return -1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.ref_ids);
  lua_pushvalue(L, n);
  lua_rawget(L, -2);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    const int id = static_cast<int>(lua_tonumber(L, -1));
    lua_pop(L, 2);
    return id;
  }
  lua_pop(L, 1);
  size_t len = 0;
  const char* s = lua_tolstring(L, n, &len);
  const std::string_view name(s, len);
  // tcpflags.* names are case-insensitive.
  if (len > 9 && len < 32 && strncasecmp(s, "tcpflags.", 9) == 0) {
    char lower[32];
    for (size_t i = 0; i < len; ++i)
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
    for (const BuiltinField& b : kBuiltinFields) {
      if (std::string_view(b.expr) == std::string_view(lower, len)) {
        lua_pop(L, 1);
        return b.id;
      }
    }
  }
  int id = -1;
  if (valid_user_field_name(name)) {
    ArkimeFields& uf = *h->gen.arkime_fields;
    int slot = uf.find(name);
    if (slot < 0 && create) {
      slot = uf.intern(name, &a.spare);
      if (slot < 0) {
        raise_error(L, ErrorKind::kLimit, "%s: more than %d user fields in one generation", fn,
                    ArkimeFields::kMax);
      }
    }
    if (slot >= 0) {
      id = ArkimeFields::kFirstId + slot;
      lua_pushvalue(L, n);
      lua_pushinteger(L, id);
      lua_rawset(L, -3);
    }
  }
  lua_pop(L, 1);
  return id;
}

int arkime_expression_to_field_id(lua_State* L) {
  ScriptHost* h = host_of(L);
  constexpr const char* kFn = "Arkime.expression_to_fieldId";
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER)
    bad_argument(L, kFn, 1, "expression", "string");
  lua_pushinteger(L, field_id(L, h, 1, true, kFn));
  return 1;
}

void add_arkime_registration(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "register_tcp_classifier", a_register_tcp);
  set_fn(L, h, "register_udp_classifier", a_register_udp);
  set_fn(L, h, "register_body_feed", a_register_body_feed);
  set_fn(L, h, "http_on", a_http_on);
  set_fn(L, h, "register_pre_save", a_register_pre_save);
  set_fn(L, h, "register_save", a_register_save);
}

std::vector<ArkimeRegSpec> arkime_registrations(const ScriptHost& h) {
  return h.arkime != nullptr ? h.arkime->regs : std::vector<ArkimeRegSpec>{};
}

void resolve_arkime(ScriptHost& h, const std::vector<char>& active,
                    std::vector<std::string>& errors) {
  if (h.arkime == nullptr) return;
  ArkimeVm& a = *h.arkime;
  lua_State* L = h.L();
  for (size_t i = 0; i < a.regs.size(); ++i) {
    ArkimeRegSpec& r = a.regs[i];
    r.active = r.script >= 0 && static_cast<size_t>(r.script) < active.size() && active[r.script];
    if (a.fn_refs[i] != LUA_NOREF) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h.refs[r.script].env);
    lua_pushlstring(L, r.fn.data(), r.fn.size());
    lua_rawget(L, -2);
    if (lua_isfunction(L, -1)) {
      a.fn_refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
      errors.push_back(a.where[i] + reg_fn_name(r.kind) + ": '" + r.fn +
                       "' is not a global function of " + h.gen.set.flow[r.script].path + " (got " +
                       luaL_typename(L, -1) + ")");
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  for (size_t i = 0; i < a.regs.size(); ++i) {
    const ArkimeRegSpec& r = a.regs[i];
    if (!r.active || a.fn_refs[i] == LUA_NOREF) continue;
    const ArkimeCallback cb{a.fn_refs[i], r.script, static_cast<int>(i)};
    switch (r.kind) {
      case ArkimeRegKind::kTcpClassifier:
      case ArkimeRegKind::kUdpClassifier:
        a.classifiers.push_back(cb);
        break;
      case ArkimeRegKind::kBodyFeed:
        a.body[r.arg].push_back(cb);
        break;
      case ArkimeRegKind::kHttpOn:
        a.http[r.arg].push_back(cb);
        break;
      case ArkimeRegKind::kPreSave:
        a.pre_save.push_back(cb);
        break;
      case ArkimeRegKind::kSave:
        a.save.push_back(cb);
        break;
    }
  }
}

namespace {

constexpr uint64_t bit(int slot) { return uint64_t{1} << slot; }

// What one event hands its callbacks.
enum class Payload : uint8_t { kString, kBorrowed, kNil, kFinal };

struct Event {
  WorkerScripts* ws;
  uint32_t idx;
  ArkimeHook hook;
  const ArkimeCallback* list;  // null: the flow's parsers
  uint32_t count;
  Payload payload;
  bool stoppable;  // -1 or an error stops the callback for the flow
  uint8_t dir;
  bool flag;  // parsers: gap; saves: final
  const uint8_t* data;
  uint32_t len;
};

}  // namespace

// The half of WorkerScripts that runs inside the protected call.
struct ArkimeDispatch {
  static bool enabled(WorkerScripts& ws, int script) {
    const int slot = ws.gen_->scripts[script].slot;
    return slot >= 0 ? !(ws.suspended_ & bit(slot)) : ws.arkime_off_[script] == 0;
  }

  // Calls the function under `nargs` arguments; true when it returned -1
  // or raised (the callers that can stop a callback do).
  static bool call(WorkerScripts& ws, int script, ArkimeHook hook, int nargs) {
    ScriptHost& h = *ws.host_;
    lua_State* L = h.L();
    h.script = script;
    h.pending = ErrorKind::kNone;
    h.vm.begin_call();
    const uint64_t t0 = tsc_now();
    const int status = lua_pcall(L, nargs, 1, 0);
    const uint64_t ticks = tsc_now() - t0;
    h.vm.end_call();
    ScriptStats& st = ws.stats_[script];
    st.arkime_calls[static_cast<int>(hook)].add();
    st.ticks.add(ticks);
    st.duration[ws.duration_bucket(ticks)].add();
    ws.entries_.add();
    if (ticks > ws.budget_ticks_) ws.check_overrun(script, ticks);
    if (status != 0) {
      ws.handle_error(script, ws.gen_->scripts[script].slot,
                      kArkimeHookNames[static_cast<int>(hook)], status);
      return true;
    }
    const bool stop = lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == -1;
    lua_pop(L, 1);
    return stop;
  }

  static bool stopped(lua_State* L, const ArkimeFlow& f, int flow_table, int reg) {
    if (!(f.flags & ArkimeFlow::kStopped)) return false;
    lua_rawgeti(L, flow_table, kFlowStopped);
    bool s = false;
    if (lua_istable(L, -1)) {
      lua_rawgeti(L, -1, reg + 1);
      s = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return s;
  }

  static void stop(lua_State* L, ArkimeFlow& f, int flow_table, int reg) {
    lua_rawgeti(L, flow_table, kFlowStopped);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawseti(L, flow_table, kFlowStopped);
    }
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, reg + 1);
    lua_pop(L, 1);
    f.flags |= ArkimeFlow::kStopped;
  }

  // Pushes the arguments after the session; returns how many.
  static int push_payload(lua_State* L, ScriptHost& h, const Event& e) {
    switch (e.payload) {
      case Payload::kString:
        lua_pushlstring(L, reinterpret_cast<const char*>(e.data), e.len);
        break;
      case Payload::kBorrowed:
        push_borrowed_data(L, h.arkime->data, e.data, e.len);
        break;
      case Payload::kNil:
        lua_pushnil(L);
        break;
      case Payload::kFinal:
        lua_pushboolean(L, e.flag);
        return 1;
    }
    lua_pushinteger(L, e.dir);
    if (e.list == nullptr) {
      lua_pushboolean(L, e.flag);  // parsers: gap
      return 3;
    }
    return 2;
  }

  static void run_list(WorkerScripts& ws, const Event& e, int session, int flow_table) {
    ScriptHost& h = *ws.host_;
    lua_State* L = h.L();
    ArkimeFlow& f = ws.arkime_[e.idx];
    for (uint32_t i = 0; i < e.count; ++i) {
      const ArkimeCallback& cb = e.list[i];
      if (!enabled(ws, cb.script)) continue;
      if (e.stoppable && stopped(L, f, flow_table, cb.reg)) continue;
      lua_rawgeti(L, LUA_REGISTRYINDEX, cb.fn);
      lua_pushvalue(L, session);
      const int n = push_payload(L, h, e);
      const bool stop_it = call(ws, cb.script, e.hook, 1 + n);
      if (e.payload == Payload::kBorrowed) end_borrowed_data(h.arkime->data);
      if (e.stoppable && stop_it) stop(L, f, flow_table, cb.reg);
    }
  }

  // The flow's parsers, in registration order; those registered during
  // this chunk start with the next one. Stopped parsers are removed after.
  static void run_parsers(WorkerScripts& ws, const Event& e, int session, int flow_table) {
    ScriptHost& h = *ws.host_;
    lua_State* L = h.L();
    ArkimeFlow& f = ws.arkime_[e.idx];
    lua_rawgeti(L, flow_table, kFlowParsers);
    const int parsers = lua_gettop(L);
    if (!lua_istable(L, parsers)) {
      f.parsers = 0;
      lua_pop(L, 1);
      return;
    }
    const int n = f.parsers;
    bool removed = false;
    for (int i = 0; i < n; ++i) {
      lua_rawgeti(L, parsers, 2 * i + 2);
      const int script = static_cast<int>(lua_tonumber(L, -1));
      lua_pop(L, 1);
      if (!enabled(ws, script)) continue;
      lua_rawgeti(L, parsers, 2 * i + 1);
      lua_pushvalue(L, session);
      const int k = push_payload(L, h, e);
      if (call(ws, script, ArkimeHook::kParser, 1 + k)) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, parsers, 2 * i + 1);
        removed = true;
      }
    }
    if (removed) {
      int kept = 0;
      for (int i = 0; i < f.parsers; ++i) {
        lua_rawgeti(L, parsers, 2 * i + 1);
        const bool live = lua_isfunction(L, -1);
        lua_rawgeti(L, parsers, 2 * i + 2);
        if (live) {
          lua_rawseti(L, parsers, 2 * kept + 2);
          lua_rawseti(L, parsers, 2 * kept + 1);
          ++kept;
        } else {
          lua_pop(L, 2);
        }
      }
      for (int i = kept; i < f.parsers; ++i) {
        lua_pushnil(L);
        lua_rawseti(L, parsers, 2 * i + 1);
        lua_pushnil(L);
        lua_rawseti(L, parsers, 2 * i + 2);
      }
      f.parsers = static_cast<uint8_t>(kept);
    }
    lua_pop(L, 1);
  }

  static int make_dispatch(lua_State* L) {
    ArkimeVm& a = *static_cast<ArkimeVm*>(lua_touserdata(L, 1));
    lua_pushcfunction(L, protected_event);
    a.ref_dispatch = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
  }

  static int protected_event(lua_State* L) {
    const Event& e = *static_cast<const Event*>(lua_touserdata(L, 1));
    WorkerScripts& ws = *e.ws;
    ScriptHost& h = *ws.host_;
    push_session(L, &h, e.idx);
    const int session = lua_gettop(L);
    push_arkime_flow_table(L, &h, e.idx, true);
    const int flow_table = lua_gettop(L);
    if (e.list != nullptr) {
      run_list(ws, e, session, flow_table);
    } else {
      run_parsers(ws, e, session, flow_table);
    }
    return 0;
  }

  // Binds the flow for flow.* and session objects, runs the event, unbinds.
  static void run(WorkerScripts& ws, const FlowView& v, uint64_t now_ns, const Event& e) {
    ArkimeFlow& f = ws.arkime_[e.idx];
    if (f.flags & ArkimeFlow::kEnded) return;
    ScriptHost& h = *ws.host_;
    ArkimeVm& a = *h.arkime;
    if (f.serial == 0) f.serial = a.next_serial++;
    f.flow = v.flow;
    f.ifid = v.ifid;
    h.view = &v;
    h.entry = &ws.entry(e.idx, v, now_ns, false);
    h.flow_idx = e.idx;
    h.now_ns = now_ns;
    a.hook = e.hook;
    a.in_callback = true;
    lua_State* L = h.L();
    const int top = lua_gettop(L);
    // A C function made once (no closure per event, unlike lua_cpcall).
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.ref_dispatch);
    lua_pushlightuserdata(L, const_cast<Event*>(&e));
    if (lua_pcall(L, 1, 0, 0) != 0) {
      // Only our own pushes fail outside the callbacks' pcalls: memory.
      if (h.script >= 0) ws.stats_[h.script].errors[static_cast<int>(ErrorKind::kMemory)].add();
      if (e.payload == Payload::kBorrowed) end_borrowed_data(a.data);
      h.vm.clear_alloc_failed();
    }
    lua_settop(L, top);
    a.in_callback = false;
    h.view = nullptr;
    h.entry = nullptr;
    h.script = -1;
    h.log.flush();
  }
};

void WorkerScripts::init_arkime() {
  const Generation& g = *gen_;
  arkime_off_.assign(g.scripts.size() + 1, 0);
  arkime_classifiers_ = static_cast<uint32_t>(g.arkime_classifiers.size());
  arkime_http_ = g.http_events;
  arkime_body_ = static_cast<uint8_t>((g.body_http ? 1 : 0) | (g.body_smtp ? 2 : 0));
  const bool any =
      arkime_classifiers_ != 0 || arkime_http_ != 0 || arkime_body_ != 0 || g.pre_save || g.save;
  if (!any || host_->arkime == nullptr) {
    arkime_classifiers_ = 0;
    arkime_http_ = arkime_body_ = 0;
    return;
  }
  ArkimeVm& a = *host_->arkime;
  lua_State* L = host_->L();
  if (lua_cpcall(L, ArkimeDispatch::make_dispatch, &a) != 0) {
    lua_pop(L, 1);  // no memory for one closure: Arkime callbacks stay off
    arkime_classifiers_ = 0;
    arkime_http_ = arkime_body_ = 0;
    return;
  }
  arkime_.reset(new ArkimeFlow[capacity_]());
  a.flows = flows_.get();
  a.aflows = arkime_.get();
  a.capacity = capacity_;
}

void WorkerScripts::arkime_classify(uint32_t idx, const FlowView& v, uint32_t classifier,
                                    const uint8_t* payload, uint32_t len, uint8_t dir,
                                    uint64_t now_ns) {
  const std::vector<ArkimeCallback>& all = host_->arkime->classifiers;
  if (classifier >= all.size()) return;
  // A list of one: the classifier that matched.
  ArkimeDispatch::run(*this, v, now_ns,
                      Event{this, idx, ArkimeHook::kClassify, &all[classifier], 1, Payload::kString,
                            false, dir, false, payload, len});
}

void WorkerScripts::arkime_stream(uint32_t idx, const FlowView& v, uint8_t dir, const uint8_t* data,
                                  uint32_t len, bool gap, uint64_t now_ns) {
  ArkimeDispatch::run(*this, v, now_ns,
                      Event{this, idx, ArkimeHook::kParser, nullptr, 0, Payload::kString, false,
                            dir, gap, data, len});
}

void WorkerScripts::arkime_http(uint32_t idx, const FlowView& v, uint8_t dir, uint8_t event,
                                const uint8_t* data, uint32_t len, uint64_t now_ns) {
  const std::vector<ArkimeCallback>& list = host_->arkime->http[event];
  ArkimeDispatch::run(
      *this, v, now_ns,
      Event{this, idx, ArkimeHook::kHttp, list.data(), static_cast<uint32_t>(list.size()),
            data != nullptr ? Payload::kBorrowed : Payload::kNil, true, dir, false, data, len});
}

void WorkerScripts::arkime_feed(uint32_t idx, const FlowView& v, uint8_t feed, uint8_t dir,
                                const uint8_t* data, uint32_t len, uint64_t now_ns) {
  const std::vector<ArkimeCallback>& list = host_->arkime->body[feed];
  ArkimeDispatch::run(
      *this, v, now_ns,
      Event{this, idx, ArkimeHook::kBody, list.data(), static_cast<uint32_t>(list.size()),
            Payload::kBorrowed, true, dir, false, data, len});
}

void WorkerScripts::arkime_pre_save(uint32_t idx, const FlowView& v, bool final,
                                    uint64_t now_ns) {
  const ArkimeFlow& f = arkime_[idx];
  if (f.flags & ArkimeFlow::kEnded) return;
  const ArkimeVm& a = *host_->arkime;
  if (!a.pre_save.empty())
    ArkimeDispatch::run(*this, v, now_ns,
                        Event{this, idx, ArkimeHook::kPreSave, a.pre_save.data(),
                              static_cast<uint32_t>(a.pre_save.size()), Payload::kFinal, false, 0,
                              final, nullptr, 0});
}

void WorkerScripts::arkime_save(uint32_t idx, const FlowView& v, bool final, uint64_t now_ns) {
  ArkimeFlow& f = arkime_[idx];
  if (f.flags & ArkimeFlow::kEnded) return;
  f.flags &= ~ArkimeFlow::kHeld;
  const ArkimeVm& a = *host_->arkime;
  if (!a.save.empty())
    ArkimeDispatch::run(
        *this, v, now_ns,
        Event{this, idx, ArkimeHook::kSave, a.save.data(), static_cast<uint32_t>(a.save.size()),
              Payload::kFinal, false, 0, final, nullptr, 0});
  if (!final || f.serial == 0) return;
  // The session is over: what scripts kept for it goes now; tags, fields
  // and protocols stay for the record until forget_flow().
  f.flags |= ArkimeFlow::kEnded;
  f.parsers = 0;
  if (f.flags & ArkimeFlow::kTable) {
    lua_State* L = host_->L();
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.ref_flows);
    lua_pushnil(L);
    lua_rawseti(L, -2, static_cast<int>(idx));  // the key exists: no allocation
    lua_pop(L, 1);
    f.flags &= ~(ArkimeFlow::kTable | ArkimeFlow::kStopped);
  }
}

bool WorkerScripts::take_released() {
  if (arkime_ == nullptr || host_->arkime->released == 0) return false;
  host_->arkime->released = 0;
  return true;
}

void WorkerScripts::forget_arkime(uint32_t idx) {
  ArkimeFlow& f = arkime_[idx];
  const ArkimeVm& a = *host_->arkime;
  lua_State* L = host_->L();
  // Only keys that exist are cleared: setting nil there never allocates.
  if (f.flags & ArkimeFlow::kTable) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.ref_flows);
    lua_pushnil(L);
    lua_rawseti(L, -2, static_cast<int>(idx));
    lua_pop(L, 1);
  }
  if (f.flags & ArkimeFlow::kProtocols) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, a.ref_protocols);
    lua_pushnil(L);
    lua_rawseti(L, -2, static_cast<int>(idx));
    lua_pop(L, 1);
  }
  f = ArkimeFlow{};
}

size_t WorkerScripts::protocols(uint32_t idx, std::string_view* out, size_t cap) const {
  if (arkime_ == nullptr || !(arkime_[idx].flags & ArkimeFlow::kProtocols)) return 0;
  lua_State* L = host_->L();
  const int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, host_->arkime->ref_protocols);
  lua_rawgeti(L, -1, static_cast<int>(idx));
  size_t n = 0;
  if (lua_istable(L, -1)) {
    const size_t len = lua_objlen(L, -1);
    for (size_t i = 1; i <= len && n < cap; ++i) {
      lua_rawgeti(L, -1, static_cast<int>(i));
      size_t l = 0;
      const char* s = lua_tolstring(L, -1, &l);  // a string held by the table: stays valid
      if (s != nullptr) out[n++] = {s, l};
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return n;
}

}  // namespace loupe
