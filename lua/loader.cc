// lua/loader.h: one VM loads the flow/ files of a set.
#include "lua/loader.h"

#include <cmath>
#include <cstring>
#include <lua.hpp>
#include <string>

#include "lua/lua53.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// ntopng 6 fixed-name files: compiled, not run; the chunk is the hook.
struct CustomName {
  const char* file;
  Hook hook;
};
constexpr CustomName kCustom[] = {
    {"custom_flow_protocol_detected_script.lua", Hook::kProtocolDetected},
    {"custom_flow_lua_script.lua", Hook::kProtocolDetected},
    {"custom_flow_periodic_script.lua", Hook::kPeriodicUpdate},
    {"custom_flow_end_script.lua", Hook::kFlowEnd},
};

// 2017 callback names and the hooks they stand for.
struct CallbackName {
  const char* name;
  Hook hook;
};
constexpr CallbackName kCallbacks[] = {
    {"flowCreate", Hook::kFlowBegin},
    {"flowBegin", Hook::kFlowBegin},
    {"flowProtocolDetected", Hook::kProtocolDetected},
    {"flowUpdate", Hook::kPeriodicUpdate},
    {"flowDelete", Hook::kFlowEnd},
    {"flowEnd", Hook::kFlowEnd},
};

constexpr std::pair<const char*, uint8_t> kL4Names[] = {{"tcp", 6},     {"udp", 17},   {"icmp", 1},
                                                        {"icmpv6", 58}, {"sctp", 132}, {"gre", 47},
                                                        {"esp", 50},    {"igmp", 2}};

// Deep copy of the table at `src` into the table at `dst` (depth-bounded).
void deep_copy(lua_State* L, int src, int dst, int depth) {
  lua_pushnil(L);
  while (lua_next(L, src) != 0) {
    lua_pushvalue(L, -2);
    if (lua_istable(L, -2) && depth < 16) {
      lua_newtable(L);
      deep_copy(L, lua_gettop(L) - 2, lua_gettop(L), depth + 1);
    } else {
      lua_pushvalue(L, -2);
    }
    lua_rawset(L, dst);
    lua_pop(L, 1);
  }
}

}  // namespace

int build_script_config(ScriptHost& h, int mod, const LuaScriptConfig* cfg,
                        std::vector<std::string>& warnings) {
  lua_State* L = h.L();
  lua_newtable(L);
  const int conf = lua_gettop(L);
  if (mod != 0) {
    lua_pushstring(L, "default_value");
    lua_rawget(L, mod);
    if (lua_istable(L, -1)) deep_copy(L, lua_gettop(L), conf, 0);
    lua_pop(L, 1);
  }
  if (cfg != nullptr) {
    for (const std::string& pair : cfg->config) {
      const size_t eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) {
        warnings.push_back("lua.script_config.\"" + cfg->script + "\": config entry '" + pair +
                           "' is not name=value (ignored)");
        continue;
      }
      const std::string name = pair.substr(0, eq), value = pair.substr(eq + 1);
      // Walk (and make) the nested tables of a dotted name.
      lua_pushvalue(L, conf);
      size_t at = 0;
      for (size_t dot; (dot = name.find('.', at)) != std::string::npos; at = dot + 1) {
        const std::string part = name.substr(at, dot - at);
        lua_getfield(L, -1, part.c_str());
        if (!lua_istable(L, -1)) {
          lua_pop(L, 1);
          lua_newtable(L);
          lua_pushvalue(L, -1);
          lua_setfield(L, -3, part.c_str());
        }
        lua_remove(L, -2);
      }
      // The value: JSON when it parses, else the text as written.
      lua_rawgeti(L, LUA_REGISTRYINDEX, h.ref_json);
      lua_getfield(L, -1, "decode");
      lua_remove(L, -2);
      lua_pushlstring(L, value.data(), value.size());
      lua_call(L, 1, 2);
      const bool whole = lua_tonumber(L, -1) == static_cast<double>(value.size() + 1);
      lua_pop(L, 1);
      if (lua_isnil(L, -1) || !whole) {
        lua_pop(L, 1);
        lua_pushlstring(L, value.data(), value.size());
      }
      lua_setfield(L, -2, name.substr(at).c_str());
      lua_pop(L, 1);
    }
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

const LuaScriptConfig* script_config_of(const Generation& g, const std::string& key) {
  for (const LuaScriptConfig& c : g.config.script_config)
    if (c.script == key) return &c;
  return nullptr;
}

namespace {

struct Loader {
  ScriptHost& h;
  LoadReport& out;
  lua_State* L;

  const ScriptFile& file(int i) const { return h.gen.set.flow[i]; }
  void error(int i, const std::string& msg) { out.errors.push_back(file(i).path + ": " + msg); }

  // Runs the function under the stack top (with nargs above it) with the
  // load limits. On failure pops and records the error.
  bool run_limited(int i, int nargs, int nres) {
    h.vm.begin_limited(h.gen.config.budget.load_ms);
    const int status = lua_pcall(L, nargs, nres, 0);
    const bool stopped = h.vm.stopping();
    const bool memory = status == LUA_ERRMEM || h.vm.alloc_failed();
    h.vm.end_limited();
    h.log.flush();
    if (status == 0) return true;
    if (stopped) {
      error(i, "load stopped after " + std::to_string(h.gen.config.budget.load_ms) +
                   " ms of CPU time (lua.budget.load_ms)");
    } else if (memory) {
      error(i, "not enough memory (lua.memory_limit reached while loading)");
    } else {
      const char* msg = lua_tostring(L, -1);
      out.errors.push_back(msg ? msg : file(i).path + ": error object is not a string");
    }
    lua_pop(L, 1);
    return false;
  }

  void rawfield(int t, const char* name) {
    lua_pushstring(L, name);
    lua_rawget(L, t);
  }

  // Pushes nothing; true when the field at the top is absent or of `type`.
  bool type_ok(int i, const char* field, int want) {
    const int t = lua_type(L, -1);
    if (t == LUA_TNIL || t == want) return true;
    error(i, std::string(field) + ": " + lua_typename(L, want) + " expected, got " +
                 lua_typename(L, t));
    return false;
  }

  void store_hook(ScriptRefs& refs, FlowScriptSpec& spec, Hook hook, int fn_idx) {
    const int k = static_cast<int>(hook);
    if (refs.hooks[k] != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, refs.hooks[k]);
    lua_pushvalue(L, fn_idx);
    refs.hooks[k] = luaL_ref(L, LUA_REGISTRYINDEX);
    spec.hooks |= static_cast<uint8_t>(1u << k);
  }

  bool l4_entry(int i, int idx, FlowScriptSpec& spec) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
      const double d = lua_tonumber(L, idx);
      if (d >= 0 && d <= 255 && std::floor(d) == d) {
        spec.l4.push_back(static_cast<uint8_t>(d));
        return true;
      }
    } else if (lua_type(L, idx) == LUA_TSTRING) {
      std::string name = lua_tostring(L, idx);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const auto& [n, p] : kL4Names) {
        if (name == n) {
          spec.l4.push_back(p);
          return true;
        }
      }
    }
    lua_pushvalue(L, idx);
    error(i, std::string("l4_proto: unknown L4 protocol '") +
                 (lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, idx)) + "'");
    lua_pop(L, 1);
    return false;
  }

  bool l7_entry(int i, int idx, FlowScriptSpec& spec) {
    if (lua_type(L, idx) != LUA_TSTRING) {
      error(i, std::string("l7_proto: string expected, got ") + luaL_typename(L, idx));
      return false;
    }
    std::string name = lua_tostring(L, idx);
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto it = h.gen.l7_ids.find(lower);
    if (it == h.gen.l7_ids.end()) {
      error(i, "l7_proto: unknown nDPI protocol '" + name + "'");
      return false;
    }
    spec.l7.push_back(it->second);
    return true;
  }

  // A gate given as one value or an array of them.
  template <typename Fn>
  void gate_list(int mod, const char* field, Fn&& entry) {
    rawfield(mod, field);
    const int v = lua_gettop(L);
    if (lua_istable(L, v)) {
      const int n = static_cast<int>(lua_objlen(L, v));
      for (int k = 1; k <= n; ++k) {
        lua_rawgeti(L, v, k);
        entry(lua_gettop(L));
        lua_pop(L, 1);
      }
    } else if (!lua_isnil(L, v)) {
      entry(v);
    }
    lua_pop(L, 1);
  }

  bool read_bool(int i, int mod, const char* field, bool dflt) {
    rawfield(mod, field);
    bool v = dflt;
    if (type_ok(i, field, LUA_TBOOLEAN) && !lua_isnil(L, -1)) v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
  }

  // Format (a): the returned table's hooks and gates.
  void read_module(int i, int mod, int env, FlowScriptSpec& spec, ScriptRefs& refs,
                   bool* default_enabled) {
    spec.format = ScriptFormat::kModule;
    rawfield(mod, "hooks");
    const int hooks = lua_gettop(L);
    if (!lua_istable(L, hooks)) {
      error(i, std::string("hooks: table expected, got ") + luaL_typename(L, hooks));
    } else {
      lua_pushnil(L);
      while (lua_next(L, hooks) != 0) {
        const char* name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
        int which = -1;
        for (int k = 0; name && k < kHookCount; ++k) {
          if (std::strcmp(name, kHookNames[k]) == 0) which = k;
        }
        const bool all = name && std::strcmp(name, "all") == 0;
        if (which < 0 && !all) {
          out.warnings.push_back(file(i).path + ": unknown hook '" + (name ? name : "?") +
                                 "' (ignored)");
        } else if (!lua_isfunction(L, -1)) {
          error(i,
                std::string("hooks.") + name + ": function expected, got " + luaL_typename(L, -1));
        } else if (all) {
          for (int k = 0; k < kHookCount; ++k) {
            if (refs.hooks[k] == LUA_NOREF)
              store_hook(refs, spec, static_cast<Hook>(k), lua_gettop(L));
          }
        } else {
          store_hook(refs, spec, static_cast<Hook>(which), lua_gettop(L));
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    gate_list(mod, "l4_proto", [&](int idx) { l4_entry(i, idx, spec); });
    gate_list(mod, "l7_proto", [&](int idx) { l7_entry(i, idx, spec); });
    spec.local_only = read_bool(i, mod, "local_only", false);
    spec.handshake = read_bool(i, mod, "three_way_handshake_ok", false);
    *default_enabled = read_bool(i, mod, "default_enabled", true);
    rawfield(mod, "periodic_update_seconds");
    if (type_ok(i, "periodic_update_seconds", LUA_TNUMBER) && !lua_isnil(L, -1)) {
      const double p = lua_tonumber(L, -1);
      if (p < 5 || std::floor(p) != p || p > 86400.0 * 365) {
        error(i, "periodic_update_seconds: integer >= 5 expected, got " +
                     std::string(lua_tostring(L, -1)));
      } else {
        spec.periodic_seconds = static_cast<uint32_t>(p);
      }
    }
    lua_pop(L, 1);
    rawfield(mod, "default_value");
    type_ok(i, "default_value", LUA_TTABLE);
    lua_pop(L, 1);
    for (const char* fn : {"setup", "teardown"}) {
      rawfield(mod, fn);
      if (type_ok(i, fn, LUA_TFUNCTION) && lua_isfunction(L, -1)) {
        (std::strcmp(fn, "setup") == 0 ? refs.setup : refs.teardown) =
            luaL_ref(L, LUA_REGISTRYINDEX);
      } else {
        lua_pop(L, 1);
      }
    }
    if (!spec.l7.empty() && (spec.hooks & (1u << static_cast<int>(Hook::kFlowBegin)))) {
      out.warnings.push_back(file(i).path +
                             ": flowBegin is never called in a script with an l7_proto gate");
      spec.hooks &= static_cast<uint8_t>(~(1u << static_cast<int>(Hook::kFlowBegin)));
    }
    const int top = lua_gettop(L);
    rawfield(env, "callbacks");
    bool callbacks = false;
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      callbacks = lua_next(L, -2) != 0;
    }
    lua_settop(L, top);
    if (callbacks) {
      out.warnings.push_back(file(i).path +
                             ": both a hooks module and a callbacks table; the module wins");
    }
  }

  // Format (b): callback functions by their 2017 names.
  bool read_callbacks(int i, int tbl, FlowScriptSpec& spec, ScriptRefs& refs) {
    if (!lua_istable(L, tbl)) return false;
    bool any = false;
    for (const CallbackName& c : kCallbacks) {
      rawfield(tbl, c.name);
      if (lua_isfunction(L, -1)) {
        store_hook(refs, spec, c.hook, lua_gettop(L));
        any = true;
      } else if (!lua_isnil(L, -1)) {
        error(i, std::string("callbacks.") + c.name + ": function expected, got " +
                     luaL_typename(L, -1));
      }
      lua_pop(L, 1);
    }
    if (any) spec.format = ScriptFormat::kCallbacks;
    return any;
  }

  void build_conf(int i, int mod, const LuaScriptConfig* cfg, ScriptRefs& refs) {
    (void)i;
    refs.conf = build_script_config(h, mod, cfg, out.warnings);
  }

  const LuaScriptConfig* config_of(const std::string& key) const {
    for (const LuaScriptConfig& c : h.gen.config.script_config) {
      if (c.script == key) return &c;
    }
    return nullptr;
  }

  void load_file(int i, bool* enabled) {
    const ScriptFile& f = file(i);
    FlowScriptSpec& spec = out.specs[i];
    ScriptRefs& refs = h.refs[i];
    h.script = i;
    const int base = lua_gettop(L);
    push_env(h, i, true);
    const int env = lua_gettop(L);
    lua_pushvalue(L, env);
    refs.env = luaL_ref(L, LUA_REGISTRYINDEX);
    std::string err, translated;
    std::string_view code;
    if (!lua53_prepare(f.content, f.path, &translated, &code, &err) ||  // 5.3 operators (§9.3)
        !compile_script(h, env, code, f.path, &err)) {
      out.errors.push_back(err);
      lua_settop(L, base);
      return;
    }
    const LuaScriptConfig* cfg = config_of(f.key);
    const std::string name = f.path.substr(f.path.rfind('/') + 1);
    bool default_enabled = true;
    int mod = 0;
    bool is_custom = false;
    for (const CustomName& c : kCustom) {
      if (name != c.file) continue;
      store_hook(refs, spec, c.hook, lua_gettop(L));
      spec.format = ScriptFormat::kCustom;
      is_custom = true;
    }
    if (!is_custom) {
      if (!run_limited(i, 0, 1)) {
        lua_settop(L, base);
        return;
      }
      const int res = lua_gettop(L);
      bool module = false;
      if (lua_istable(L, res)) {
        rawfield(res, "hooks");
        module = !lua_isnil(L, -1);
        lua_pop(L, 1);
      }
      if (module) {
        read_module(i, res, env, spec, refs, &default_enabled);
        mod = res;
      } else {
        bool any = lua_istable(L, res) && read_callbacks(i, res, spec, refs);
        if (!any) {
          rawfield(env, "callbacks");
          any = read_callbacks(i, lua_gettop(L), spec, refs);
          lua_pop(L, 1);
        }
        bool arkime = false;  // a file of Arkime registrations only is format (c)
        for (const ArkimeRegSpec& r : arkime_registrations(h)) arkime |= r.script == i;
        if (!any && !arkime) out.warnings.push_back(f.path + ": defines no flow hooks");
        // A file that is not a module may say so with a global, as a
        // module does with its field (loupe's addition): shipped examples
        // stay off until lua.script_config turns them on.
        rawfield(env, "default_enabled");
        if (lua_type(L, -1) == LUA_TBOOLEAN) default_enabled = lua_toboolean(L, -1);
        lua_pop(L, 1);
      }
    }
    if (spec.format == ScriptFormat::kCallbacks || spec.format == ScriptFormat::kCustom) {
      out.info.push_back(f.key + ": no gates: its hooks run for every flow");
    }
    if (cfg != nullptr && cfg->periodic_update_seconds != 0) {
      spec.periodic_seconds = cfg->periodic_update_seconds;
    }
    *enabled = cfg != nullptr && cfg->enabled != LuaScriptEnabled::kDefault
                   ? cfg->enabled == LuaScriptEnabled::kOn
                   : default_enabled;
    build_conf(i, mod, cfg, refs);
    lua_settop(L, base);
    h.vm.full_collect();
  }

  void run() {
    const size_t n = h.gen.set.flow.size();
    std::vector<char> enabled(n, 0);
    h.loading = true;
    for (size_t i = 0; i < n; ++i) {
      bool e = false;
      load_file(static_cast<int>(i), &e);
      enabled[i] = e;
    }
    // setup() of each module, once the whole set is loaded. `on` says which
    // files are enabled and set up, for their Arkime registrations.
    std::vector<char> on(n, 0);
    for (size_t i = 0; i < n; ++i) {
      FlowScriptSpec& spec = out.specs[i];
      ScriptRefs& refs = h.refs[i];
      spec.active = enabled[i] && spec.hooks != 0;
      if (!enabled[i]) {
        out.info.push_back(spec.key + ": disabled; inactive");
        continue;
      }
      on[i] = 1;
      if (refs.setup == LUA_NOREF) continue;
      h.script = static_cast<int>(i);
      lua_rawgeti(L, LUA_REGISTRYINDEX, refs.setup);
      if (!run_limited(static_cast<int>(i), 0, 1)) {
        spec.active = false;
        on[i] = 0;
        continue;
      }
      if (!lua_toboolean(L, -1)) {
        spec.active = false;
        on[i] = 0;
        out.info.push_back(spec.key + ": setup() returned a false value; inactive");
      }
      lua_pop(L, 1);
    }
    h.loading = false;
    h.script = -1;
    // Arkime callback names resolve in their file's environment now that
    // every file ran (§3.1 step 5).
    resolve_arkime(h, on, out.errors);
    for (const LuaScriptConfig& c : h.gen.config.script_config) {
      if (c.script.rfind("flow/", 0) != 0) continue;
      bool found = false;
      for (const FlowScriptSpec& s : out.specs) found |= s.key == c.script;
      if (!found)
        out.warnings.push_back("lua.script_config.\"" + c.script + "\": no such script in the set");
    }
    h.vm.full_collect();
    if (h.vm.used() > h.vm.limit()) {
      out.errors.push_back("lua: memory in use after loading (" + std::to_string(h.vm.used()) +
                           " bytes) is above lua.memory_limit");
    }
  }
};

int load_protected(lua_State* L) {
  static_cast<Loader*>(lua_touserdata(L, 1))->run();
  return 0;
}

}  // namespace

void load_flow_scripts(ScriptHost& h, LoadReport& out) {
  const auto& files = h.gen.set.flow;
  out.specs.assign(files.size(), FlowScriptSpec{});
  h.refs.assign(files.size(), ScriptRefs{});
  std::vector<std::string> keys;
  for (size_t i = 0; i < files.size(); ++i) {
    out.specs[i].key = files[i].key;
    out.specs[i].path = files[i].path;
    keys.push_back(files[i].key);
  }
  h.log.set_keys(keys);
  Loader loader{h, out, h.L()};
  // Everything between the scripts' own protected runs (reading their
  // tables, building configs) is protected too: nothing reaches a panic.
  if (lua_cpcall(h.L(), load_protected, &loader) != 0) {
    const char* msg = lua_tostring(h.L(), -1);
    out.errors.push_back(std::string("lua: loading stopped: ") + (msg ? msg : "error"));
    lua_pop(h.L(), 1);
    h.loading = false;
    h.script = -1;
  }
}

void assign_slots(std::vector<FlowScriptSpec>& specs, std::vector<std::string>& errors) {
  int next = 0;
  for (FlowScriptSpec& s : specs) {
    s.slot = -1;
    if (!s.active || s.hooks == 0) continue;
    if (next == kMaxFlowScripts) {
      errors.push_back(s.path +
                       ": more than 64 active flow scripts with hooks in one generation (limit)");
      continue;
    }
    s.slot = next++;
  }
}

namespace {
int teardown_protected(lua_State* L) {
  ScriptHost& h = *static_cast<ScriptHost*>(lua_touserdata(L, 1));
  for (size_t i = 0; i < h.refs.size(); ++i) {
    if (h.refs[i].teardown == LUA_NOREF) continue;
    h.script = static_cast<int>(i);
    lua_rawgeti(L, LUA_REGISTRYINDEX, h.refs[i].teardown);
    h.vm.begin_limited(h.gen.config.budget.load_ms);
    if (lua_pcall(L, 0, 0, 0) != 0) {
      const char* msg = lua_tostring(L, -1);
      h.log.note(static_cast<int>(i), std::string("teardown failed: ") + (msg ? msg : "error"));
      lua_pop(L, 1);
    }
    h.vm.end_limited();
    h.log.flush();
  }
  h.script = -1;
  return 0;
}
}  // namespace

void run_teardowns(ScriptHost& h) {
  if (lua_cpcall(h.L(), teardown_protected, &h) != 0) lua_pop(h.L(), 1);
}

}  // namespace loupe
