// lua/control_scripts.h: loading host/, network/ and periodic/ files into
// the control VM, and running their hooks at each period.
#include "lua/control_scripts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "engine/control/alert_pipeline.h"
#include "engine/host/host_table.h"
#include "lua/control_bind.h"
#include "lua/http_client.h"
#include "lua/http_service.h"
#include "lua/loader.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

constexpr const char* kCustomHost = "host/custom_host_lua_script.lua";
constexpr uint64_t kNs = 1'000'000'000ULL;

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

bool control_path(const std::string& path, ControlKind* kind) {
  static constexpr std::pair<const char*, ControlKind> kDirs[] = {
      {"host/", ControlKind::kHost},
      {"network/", ControlKind::kNetwork},
      {"periodic/", ControlKind::kPeriodic}};
  for (const auto& [dir, k] : kDirs) {
    const size_t n = std::strlen(dir);
    if (path.compare(0, n, dir) == 0 && path.find('/', n) == std::string::npos &&
        path.size() > n + 4 && path.compare(path.size() - 4, 4, ".lua") == 0) {
      *kind = k;
      return true;
    }
  }
  return false;
}

struct Load {
  ScriptHost& h;
  std::vector<ControlScriptInfo>& scripts;
  std::vector<std::array<int, kGranularities>>& hooks;
  std::vector<std::string>& errors;
  std::vector<std::string>& warnings;
  lua_State* L;

  void error(size_t i, const std::string& m) { errors.push_back(scripts[i].path + ": " + m); }

  bool run_limited(size_t i, int nargs, int nres) {
    h.vm.begin_limited(h.gen.config.budget.load_ms);
    const int status = lua_pcall(L, nargs, nres, 0);
    const bool stopped = h.vm.stopping();
    const bool memory = status == LUA_ERRMEM || h.vm.alloc_failed();
    h.vm.end_limited();
    h.log.flush();
    if (status == 0) return true;
    if (stopped)
      error(i, "load stopped after " + std::to_string(h.gen.config.budget.load_ms) +
                   " ms of CPU time (lua.budget.load_ms)");
    else if (memory)
      error(i, "not enough memory (lua.memory_limit reached while loading)");
    else
      errors.push_back(lua_tostring(L, -1) ? lua_tostring(L, -1) : scripts[i].path + ": error");
    lua_pop(L, 1);
    return false;
  }

  void store(size_t i, int g, int fn_idx) {
    if (hooks[i][g] != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, hooks[i][g]);
    lua_pushvalue(L, fn_idx);
    hooks[i][g] = luaL_ref(L, LUA_REGISTRYINDEX);
    scripts[i].hooks |= static_cast<uint8_t>(1u << g);
  }

  void read_hooks(size_t i, int mod) {
    ControlScriptInfo& s = scripts[i];
    lua_getfield(L, mod, "hooks");
    const int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
      error(i, std::string("hooks: table expected, got ") + luaL_typename(L, t));
      lua_pop(L, 1);
      return;
    }
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
      const char* name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
      int which = -1;
      for (int g = 0; name && g < kGranularities; g++)
        if (std::strcmp(name, kGranularityNames[g]) == 0) which = g;
      const bool all = name && std::strcmp(name, "all") == 0;
      if (which < 0 && !all) {
        warnings.push_back(s.path + ": unknown hook '" + (name ? name : "?") + "' (ignored)");
      } else if (!lua_isfunction(L, -1)) {
        error(i, std::string("hooks.") + name + ": function expected, got " + luaL_typename(L, -1));
      } else if (which == static_cast<int>(Granularity::kSecond) && s.kind == ControlKind::kHost) {
        warnings.push_back(s.path + ": host scripts have no 'second' hook (ignored)");
      } else if (all) {
        // min, 5mins, hour, day: 'all' never includes second.
        for (int g = 1; g < kGranularities; g++)
          if (hooks[i][g] == LUA_NOREF) store(i, g, lua_gettop(L));
      } else {
        store(i, which, lua_gettop(L));
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }

  bool read_bool(size_t i, int mod, const char* field, bool dflt) {
    lua_getfield(L, mod, field);
    bool v = dflt;
    if (lua_type(L, -1) == LUA_TBOOLEAN)
      v = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
      error(i, std::string(field) + ": boolean expected, got " + luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
  }

  void load(size_t i, const std::string& content, std::vector<char>& enabled) {
    ControlScriptInfo& s = scripts[i];
    ScriptRefs& refs = h.refs[i];
    h.script = static_cast<int>(i);
    const int base = lua_gettop(L);
    push_env(h, static_cast<int>(i), false);
    const int env = lua_gettop(L);
    lua_pushvalue(L, env);
    refs.env = luaL_ref(L, LUA_REGISTRYINDEX);
    std::string err;
    if (!compile_script(h, env, content, s.path, &err)) {
      errors.push_back(err);
      lua_settop(L, base);
      return;
    }
    bool default_enabled = true;
    int mod = 0;
    if (s.path == kCustomHost) {
      // ntopng 6: the chunk itself runs once per host every minute.
      s.custom = true;
      store(i, static_cast<int>(Granularity::kMin), lua_gettop(L));
    } else {
      if (!run_limited(i, 0, 1)) {
        lua_settop(L, base);
        return;
      }
      mod = lua_gettop(L);
      lua_getfield(L, mod, "hooks");
      const bool module = lua_istable(L, mod) && !lua_isnil(L, -1);
      lua_pop(L, 1);
      if (!module) {
        warnings.push_back(s.path + ": returns no module with hooks; nothing to run");
        mod = 0;
      } else {
        read_hooks(i, mod);
        if (s.kind == ControlKind::kHost) s.local_only = read_bool(i, mod, "local_only", false);
        default_enabled = read_bool(i, mod, "default_enabled", true);
        for (const char* fn : {"setup", "teardown"}) {
          lua_getfield(L, mod, fn);
          if (lua_isfunction(L, -1)) {
            (std::strcmp(fn, "setup") == 0 ? refs.setup : refs.teardown) =
                luaL_ref(L, LUA_REGISTRYINDEX);
          } else {
            if (!lua_isnil(L, -1))
              error(i, std::string(fn) + ": function expected, got " + luaL_typename(L, -1));
            lua_pop(L, 1);
          }
        }
      }
    }
    const LuaScriptConfig* cfg = script_config_of(h.gen, s.key);
    enabled[i] = cfg != nullptr && cfg->enabled != LuaScriptEnabled::kDefault
                     ? cfg->enabled == LuaScriptEnabled::kOn
                     : default_enabled;
    refs.conf = build_script_config(h, mod, cfg, warnings);
    lua_settop(L, base);
  }

  void run(const std::vector<const std::string*>& contents) {
    std::vector<char> enabled(scripts.size(), 0);
    h.loading = true;
    for (size_t i = 0; i < scripts.size(); i++) load(i, *contents[i], enabled);
    for (size_t i = 0; i < scripts.size(); i++) {
      ControlScriptInfo& s = scripts[i];
      s.active = enabled[i] && s.hooks != 0;
      if (!enabled[i] || h.refs[i].setup == LUA_NOREF) continue;
      h.script = static_cast<int>(i);
      lua_rawgeti(L, LUA_REGISTRYINDEX, h.refs[i].setup);
      if (!run_limited(i, 0, 1)) {
        s.active = false;
        continue;
      }
      if (!lua_toboolean(L, -1)) s.active = false;
      lua_pop(L, 1);
    }
    h.loading = false;
    h.script = -1;
    h.vm.full_collect();
  }
};

int load_protected(lua_State* L) {
  auto* p = static_cast<std::pair<Load*, const std::vector<const std::string*>*>*>(
      lua_touserdata(L, 1));
  p->first->run(*p->second);
  return 0;
}

}  // namespace

std::unique_ptr<ControlScripts> ControlScripts::build(std::shared_ptr<const Generation> gen,
                                                      ControlServices* services,
                                                      ControlState* state,
                                                      std::vector<std::string>* errors,
                                                      std::vector<std::string>* warnings) {
  std::unique_ptr<ControlScripts> cs(new ControlScripts());
  std::vector<const std::string*> contents;
  for (const auto& [path, content] : gen->set.code) {
    ControlKind kind;
    if (!control_path(path, &kind)) continue;
    ControlScriptInfo s;
    s.path = path;
    s.key = path.substr(0, path.size() - 4);
    s.kind = kind;
    cs->scripts_.push_back(std::move(s));
    contents.push_back(&content);
  }
  if (cs->scripts_.empty()) return nullptr;
  cs->gen_ = gen;
  cs->services_ = services;
  cs->state_ = state;
  // Top-level code runs on the builder's thread: it sees no host table and
  // no alert store (the control loop owns those), only empty stand-ins.
  static const ControlServices kLoading;
  ControlServices loading = kLoading;
  ControlState scratch;
  cs->call_.services = &loading;
  cs->call_.state = &scratch;
  cs->call_.scripts = &cs->scripts_;
  cs->host_ = std::make_unique<ScriptHost>("control", *gen, gen->log, &cs->call_);
  ScriptHost& h = *cs->host_;
  h.refs.assign(cs->scripts_.size(), ScriptRefs{});
  std::array<int, kGranularities> none;
  none.fill(LUA_NOREF);
  cs->hooks_.assign(cs->scripts_.size(), none);
  std::vector<std::string> keys;
  for (const ControlScriptInfo& s : cs->scripts_) keys.push_back(s.key);
  h.log.set_keys(keys);
  const size_t before = errors->size();
  Load load{h, cs->scripts_, cs->hooks_, *errors, *warnings, h.L()};
  std::pair<Load*, const std::vector<const std::string*>*> arg{&load, &contents};
  if (lua_cpcall(h.L(), load_protected, &arg) != 0) {
    errors->push_back(std::string("lua: loading the control scripts stopped: ") +
                      (lua_tostring(h.L(), -1) ? lua_tostring(h.L(), -1) : "error"));
    lua_pop(h.L(), 1);
  }
  if (h.vm.used() > h.vm.limit())
    errors->push_back("lua: control VM memory in use after loading is above lua.memory_limit");
  cs->call_.services = services;
  cs->call_.state = state;
  h.cache = services->cache;  // after loading: the store belongs to the control thread
  if (errors->size() != before) return nullptr;
  for (const ControlScriptInfo& s : cs->scripts_)
    if (s.active) cs->granularities_ |= s.hooks;
  return cs;
}

ControlScripts::~ControlScripts() {
  if (host_) run_teardowns(*host_);
}

void ControlScripts::attach_http(HttpPort* port) {
  http_port_ = port;
  if (port != nullptr) attach_http_port(*host_, port);
}

void ControlScripts::deliver_async(size_t max) {
  if (http_port_ != nullptr && http_port_->has_work()) deliver_http_replies(*host_, max);
}

uint64_t ControlScripts::memory_bytes() const { return host_->vm.used(); }
uint64_t ControlScripts::memory_limit() const { return host_->vm.limit(); }

namespace {

// __index of params: entity_info is built on first access.
int params_index(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (lua_type(L, 2) != LUA_TSTRING || std::strcmp(lua_tostring(L, 2), "entity_info") != 0)
    return 0;
  ControlCall* c = h->control;
  if (c->host != nullptr)
    push_host_info(L, h, *c->host);
  else if (c->network_ctx && c->network >= 0)
    push_network_stats(L, h, c->network);
  else
    push_interface_stats(L, h);
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "entity_info");
  return 1;
}

}  // namespace

bool ControlScripts::invoke(size_t i, Granularity g, uint64_t when, bool final) {
  ScriptHost& h = *host_;
  lua_State* L = h.L();
  ControlScriptInfo& s = scripts_[i];
  const int gi = static_cast<int>(g);
  lua_rawgeti(L, LUA_REGISTRYINDEX, hooks_[i][gi]);
  // params (§3.5)
  lua_createtable(L, 0, 10);
  lua_pushstring(L, kGranularityNames[gi]);
  lua_setfield(L, -2, "granularity");
  lua_pushnumber(L, static_cast<double>(when));
  lua_setfield(L, -2, "when");
  lua_pushinteger(L, call_.ifid);
  lua_setfield(L, -2, "ifid");
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.refs[i].conf);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "check_config");
  lua_setfield(L, -2, "user_script_config");
  lua_pushlstring(L, s.key.data(), s.key.size());
  lua_setfield(L, -2, "script_key");
  lua_pushboolean(L, final);
  lua_setfield(L, -2, "final");
  lua_createtable(L, 0, 2);
  if (call_.host != nullptr) {
    lua_pushliteral(L, "host");
    lua_setfield(L, -2, "entity_type");
    const std::string v = host_key_string(call_.host->key);
    lua_pushlstring(L, v.data(), v.size());
  } else if (call_.network_ctx) {
    lua_pushliteral(L, "network");
    lua_setfield(L, -2, "entity_type");
    const Cidr& n = gen_->local.nets()[static_cast<size_t>(call_.network)];
    const std::string v = to_string(n);
    lua_pushlstring(L, v.data(), v.size());
  } else {
    lua_pushliteral(L, "interface");
    lua_setfield(L, -2, "entity_type");
    lua_pushstring(L, std::to_string(call_.ifid).c_str());
  }
  lua_setfield(L, -2, "entity_val");
  lua_setfield(L, -2, "alert_entity");
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, &h);
  lua_pushcclosure(L, params_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  h.script = static_cast<int>(i);
  h.pending = ErrorKind::kNone;
  h.vm.begin_limited(gen_->config.budget.load_ms);
  const int status = lua_pcall(L, 1, 0, 0);
  const bool stopped = h.vm.stopping();
  const bool memory = status == LUA_ERRMEM || h.vm.alloc_failed();
  h.vm.end_limited();
  s.calls[gi]++;
  if (status != 0) {
    ErrorKind kind = stopped ? ErrorKind::kHardStop
                     : memory ? ErrorKind::kMemory
                              : (h.pending != ErrorKind::kNone ? h.pending : ErrorKind::kRuntime);
    s.errors[static_cast<int>(kind)]++;
    if (h.log.error_due(static_cast<int>(i))) {
      std::string message;
      if (kind == ErrorKind::kHardStop)
        message = "call stopped after " + std::to_string(gen_->config.budget.load_ms) +
                  " ms of CPU time (lua.budget.load_ms)";
      else if (kind == ErrorKind::kMemory)
        message = "not enough memory (lua.memory_limit reached in control)";
      else
        message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object)";
      std::string where = call_.host ? host_key_string(call_.host->key) : std::string();
      h.log.error(static_cast<int>(i), kGranularityNames[gi], where, message);
    }
    lua_pop(L, 1);
    h.vm.clear_alloc_failed();
    h.pending = ErrorKind::kNone;
    if (kind == ErrorKind::kMemory) h.vm.full_collect();
  }
  h.log.flush();
  h.script = -1;
  return status == 0;
}

void ControlScripts::run_hosts(Granularity g, uint64_t when, bool final, uint64_t deadline) {
  HostTable* table = services_->hosts;
  const int gi = static_cast<int>(g);
  std::vector<size_t> scripts;
  for (size_t i = 0; i < scripts_.size(); i++)
    if (scripts_[i].kind == ControlKind::kHost && scripts_[i].active &&
        hooks_[i][gi] != LUA_NOREF)
      scripts.push_back(i);
  if (scripts.empty()) return;
  std::vector<std::set<std::string>> raised(scripts.size());
  const std::vector<HostKey> keys = table ? table->sorted_keys() : std::vector<HostKey>{};
  size_t done = 0;
  for (const HostKey& k : keys) {
    if (steady_ns() >= deadline) break;
    Host* host = table->find(k);
    for (size_t n = 0; n < scripts.size(); n++) {
      const size_t i = scripts[n];
      ControlScriptInfo& s = scripts_[i];
      if (s.local_only && !host->is_local()) continue;
      ControlState::PerScript& st = state_->scripts[s.key];
      if (auto it = st.skip.find(k); it != st.skip.end()) {
        if (it->second == 0 || it->second > when) continue;
        st.skip.erase(it);
      }
      call_.script = &s;
      call_.script_state = &st;
      call_.host = host;
      call_.network = host->network;
      call_.network_ctx = false;
      call_.raised = false;
      invoke(i, g, when, final);
      if (call_.raised) raised[n].insert(host_key_string(k));
      st.visited.insert(k);
    }
    done++;
  }
  call_.host = nullptr;
  call_.network = -1;
  // A host alert not raised again by this run of its script ends.
  for (size_t n = 0; n < scripts.size(); n++) {
    ControlScriptInfo& s = scripts_[scripts[n]];
    ControlState::PerScript& st = state_->scripts[s.key];
    std::set<std::string>& engaged = st.engaged[gi];
    for (auto it = engaged.begin(); it != engaged.end();) {
      if (raised[n].count(*it) != 0) {
        ++it;
        continue;
      }
      if (services_->alerts != nullptr) {
        EntityAlert a;
        a.entity = AlertEntity::kHost;
        a.script = s.key;
        a.alert_type = s.key;
        a.entity_val = *it;
        services_->alerts->release(a, when * kNs);
      }
      it = engaged.erase(it);
    }
    ControlRunStats& r = s.runs[gi];
    r.skipped += keys.size() - done;
    if (done < keys.size()) r.deadline_misses++;
  }
}

void ControlScripts::run_plain(ControlKind kind, Granularity g, uint64_t when, bool final,
                               uint64_t deadline) {
  const int gi = static_cast<int>(g);
  const size_t nets = gen_->local.nets().size();
  for (size_t i = 0; i < scripts_.size(); i++) {
    ControlScriptInfo& s = scripts_[i];
    if (s.kind != kind || !s.active || hooks_[i][gi] == LUA_NOREF) continue;
    call_.script = &s;
    call_.script_state = &state_->scripts[s.key];
    call_.host = nullptr;
    if (kind == ControlKind::kNetwork) {
      size_t done = 0;
      for (size_t n = 0; n < nets; n++) {
        if (steady_ns() >= deadline) break;
        call_.network = static_cast<int>(n);
        call_.network_ctx = true;
        invoke(i, g, when, final);
        done++;
      }
      s.runs[gi].skipped += nets - done;
      if (done < nets) s.runs[gi].deadline_misses++;
    } else {
      call_.network = -1;
      call_.network_ctx = false;
      call_.ifid = 0;
      invoke(i, g, when, final);
    }
  }
  call_.network = -1;
  call_.network_ctx = false;
}

std::vector<ControlSchedule::Due> ControlSchedule::advance(uint64_t now_s) {
  std::vector<Due> due;
  if (last_ == 0) {
    last_ = now_s;
    return due;
  }
  if (now_s <= last_) return due;
  for (int g = 0; g < kGranularities; g++) {
    const uint64_t p = kGranularitySeconds[g];
    const uint64_t latest = now_s - now_s % p;
    if (latest <= last_) continue;
    const uint64_t crossed = (latest - (last_ - last_ % p)) / p;
    const uint64_t runs = std::min<uint64_t>(crossed, kMaxCatchUp);
    skipped_[g] += crossed - runs;
    for (uint64_t k = runs; k-- > 0;) due.push_back({static_cast<Granularity>(g), latest - k * p});
  }
  // In time order, the finer granularity first at the same boundary.
  std::stable_sort(due.begin(), due.end(), [](const Due& a, const Due& b) { return a.when < b.when; });
  last_ = now_s;
  return due;
}

void ControlScripts::run(Granularity g, uint64_t when, bool final) {
  const int gi = static_cast<int>(g);
  if (!(granularities_ & (1u << gi))) return;
  const uint64_t start = steady_ns();
  const uint64_t period = uint64_t{kGranularitySeconds[gi]} * kNs;
  const uint64_t deadline = start + period;
  call_.when = when;
  call_.granularity = g;
  call_.deadline_steady_ns = deadline;
  call_.period_ns = period;
  call_.ifid = 0;
  run_hosts(g, when, final, deadline);
  run_plain(ControlKind::kNetwork, g, when, final, deadline);
  run_plain(ControlKind::kPeriodic, g, when, final, deadline);
  const uint64_t took = steady_ns() - start;
  for (ControlScriptInfo& s : scripts_) {
    if (!s.active || !(s.hooks & (1u << gi))) continue;
    ControlRunStats& r = s.runs[gi];
    r.runs++;
    r.last_start = when;
    r.last_duration_ns = took;
    if (took > r.max_duration_ns) r.max_duration_ns = took;
  }
  call_.deadline_steady_ns = 0;
  call_.script = nullptr;
}

}  // namespace loupe
