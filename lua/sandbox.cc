// The sandbox of contract §6.1/§6.2: what a script's environment holds,
// the stubs of removed facilities, locked metatables, the shared read-only
// empty table, per-script environments with their own copies of the
// namespaces, and compilation with the namespace names bound as upvalues.
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <lua.hpp>

#include "lua/http_service.h"
#include "lua/lua53_lib.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// Names a script may not reach. Each becomes a stub raising
// "<name> is not available in the loupe sandbox".
constexpr const char* kRemovedBase[] = {"setfenv", "getfenv", "newproxy", "module"};
constexpr const char* kRemovedOs[] = {"execute", "exit",    "getenv",    "remove",
                                      "rename",  "tmpname", "setlocale", "difftime"};
constexpr const char* kRemovedIo[] = {"open",   "popen",  "read",   "lines", "close",   "input",
                                      "output", "stdout", "stderr", "stdin", "tmpfile", "type"};
// Whole libraries: a table whose every field is a stub.
constexpr const char* kRemovedLibs[] = {"debug", "ffi", "jit"};

// Namespaces: each script gets a copy with a locked metatable whose __index
// warns once per name that loupe does not provide (§1.5).
constexpr const char* kNamespaces[] = {"flow", "host", "network", "interface", "ntop", "loupe"};
// Names bound as upvalues of every compiled file (§6.2), namespaces and
// library tables alike: one upvalue read instead of a global lookup.
// clang-format off
constexpr const char* kBound[] = {"flow",      "host",   "network", "interface",  "ntop",
                                  "loupe",     "string", "table",   "math",       "bit",
                                  "coroutine", "os",     "io",      "package",    "ArkimeData",
                                  "MolochData", "ArkimeHttpService", "MolochHttpService",
                                  "Arkime",    "ArkimeSession",     "Moloch",  "MolochSession"};
// clang-format on

int stub(lua_State* L) {
  raise_error(L, ErrorKind::kSandbox, "%s is not available in the loupe sandbox",
              lua_tostring(L, lua_upvalueindex(2)));
}

void push_stub(lua_State* L, ScriptHost* h, const char* name) {
  lua_pushlightuserdata(L, h);
  lua_pushstring(L, name);
  lua_pushcclosure(L, stub, 2);
}

// __index of a removed library: every field is a stub named "<lib>.<field>".
int removed_lib_index(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* lib = lua_tostring(L, lua_upvalueindex(2));
  const char* field = lua_tostring(L, 2);
  lua_pushfstring(L, "%s.%s", lib, field ? field : "?");
  push_stub(L, h, lua_tostring(L, -1));
  return 1;
}

int read_only(lua_State* L) {
  raise_error(L, ErrorKind::kSandbox, "attempt to modify read-only table");
}

// __index of a namespace copy: reached only for names loupe does not provide.
int namespace_index(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(4));
    const bool warned = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!warned) {
      lua_pushvalue(L, 2);
      lua_pushboolean(L, 1);
      lua_rawset(L, lua_upvalueindex(4));
      const int script = static_cast<int>(lua_tointeger(L, lua_upvalueindex(3)));
      std::string line = std::string(lua_tostring(L, lua_upvalueindex(2))) + "." +
                         lua_tostring(L, 2) +
                         " is not provided by loupe (lua-api.md §9.1); read as nil";
      h->log.note(script, line);
    }
  }
  lua_pushnil(L);
  return 1;
}

// Shallow copy of the table at `idx`, keeping its metatable; pushed.
void push_copy(lua_State* L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_createtable(L, 0, static_cast<int>(lua_objlen(L, idx)) + 8);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  if (lua_getmetatable(L, idx)) lua_setmetatable(L, -2);
}

void open_lib(lua_State* L, lua_CFunction open, const char* name) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

// Copies global `name` of the real globals into the table at -1.
void copy_global(lua_State* L, const char* name) {
  lua_getglobal(L, name);
  lua_setfield(L, -2, name);
}

int make_ref(lua_State* L) { return luaL_ref(L, LUA_REGISTRYINDEX); }

std::string source_without_shebang(std::string_view src) {
  std::string s(src);
  if (s.size() >= 1 && s[0] == '#') {
    // Keep the line (and so every line number) but make it a comment.
    s[0] = '-';
    s.insert(0, "-");
  }
  return s;
}

}  // namespace

ScriptHost* host_of(lua_State* L) {
  return static_cast<ScriptHost*>(lua_touserdata(L, lua_upvalueindex(1)));
}

void raise_error(lua_State* L, ErrorKind kind, const char* fmt, ...) {
  ScriptHost* h = host_of(L);
  if (h != nullptr) h->pending = kind;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  luaL_where(L, 1);
  lua_pushstring(L, buf);
  lua_concat(L, 2);
  lua_error(L);
  __builtin_unreachable();
}

void bad_argument(lua_State* L, const char* fn, int n, const char* param, const char* expected) {
  const int t = lua_type(L, n);
  raise_error(L, ErrorKind::kApi, "%s: bad argument #%d '%s' (%s expected, got %s)", fn, n, param,
              expected, t == LUA_TNONE ? "nil" : lua_typename(L, t));
}

std::string_view arg_string(lua_State* L, int idx, const char* fn, const char* param) {
  const int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) bad_argument(L, fn, idx, param, "string");
  size_t n = 0;
  const char* s = lua_tolstring(L, idx, &n);
  return {s, n};
}

double arg_number(lua_State* L, int idx, const char* fn, const char* param) {
  const int t = lua_type(L, idx);
  if (t != LUA_TNUMBER && !(t == LUA_TSTRING && lua_isnumber(L, idx))) {
    bad_argument(L, fn, idx, param, "number");
  }
  return lua_tonumber(L, idx);
}

void set_fn(lua_State* L, ScriptHost* h, const char* name, int (*fn)(lua_State*)) {
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
}

bool must_pass(lua_State* L, ScriptHost* h, int status) {
  return status == LUA_ERRMEM || h->vm.stopping() || h->vm.alloc_failed() ||
         (lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == Vm::stop_sentinel());
}

void install_sandbox(ScriptHost& h) {
  lua_State* L = h.L();
  open_lib(L, luaopen_base, "");
  open_lib(L, luaopen_string, LUA_STRLIBNAME);
  open_lib(L, luaopen_table, LUA_TABLIBNAME);
  open_lib(L, luaopen_math, LUA_MATHLIBNAME);
  open_lib(L, luaopen_bit, LUA_BITLIBNAME);
  open_lib(L, luaopen_os, LUA_OSLIBNAME);

  // Library templates: copied into each environment.
  lua_newtable(L);
  lua_getglobal(L, "string");
  push_copy(L, -1);
  lua_remove(L, -2);
  push_stub(L, &h, "string.dump");
  lua_setfield(L, -2, "dump");
  lua_setfield(L, -2, "string");
  for (const char* lib : {"table", "math", "bit", "coroutine"}) {
    lua_getglobal(L, lib);
    push_copy(L, -1);
    lua_remove(L, -2);
    lua_setfield(L, -2, lib);
  }
  lua_newtable(L);  // os: time, clock, date only
  lua_getglobal(L, "os");
  for (const char* f : {"time", "clock", "date"}) {
    lua_getfield(L, -1, f);
    lua_setfield(L, -3, f);
  }
  lua_pop(L, 1);
  for (const char* f : kRemovedOs) {
    push_stub(L, &h, (std::string("os.") + f).c_str());
    lua_setfield(L, -2, f);
  }
  lua_setfield(L, -2, "os");
  lua_newtable(L);  // io: write only (to the log)
  for (const char* f : kRemovedIo) {
    push_stub(L, &h, (std::string("io.") + f).c_str());
    lua_setfield(L, -2, f);
  }
  lua_setfield(L, -2, "io");
  for (const char* lib : kRemovedLibs) {
    lua_newtable(L);
    lua_newtable(L);  // metatable
    lua_pushlightuserdata(L, &h);
    lua_pushstring(L, lib);
    lua_pushcclosure(L, removed_lib_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, lib);
  }
  add_libraries(L, &h);  // helpers into the string/table/math/io/coroutine templates
  add_arkime_data(L, &h);  // ArkimeData and MolochData, copied like the libraries (§5.7)
  // Arkime, ArkimeSession and their old names: worker VMs only (§1.3).
  if (h.control == nullptr) add_arkime(L, &h);
  add_http_service(L, &h);  // ArkimeHttpService and MolochHttpService (§5.8)
  h.ref_libs = make_ref(L);

  // Strings' metatable: locked, its __index a private copy of the string
  // library that no script can reach (so s:find() is always the engine's).
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.ref_libs);
  lua_getfield(L, -1, "string");
  push_copy(L, -1);
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 5);

  // Base functions.
  lua_newtable(L);
  for (const char* f :
       {"assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring", "type",
        "unpack", "rawequal", "rawget", "getmetatable", "gcinfo"}) {
    copy_global(L, f);
  }
  for (const char* f : kRemovedBase) {
    push_stub(L, &h, f);
    lua_setfield(L, -2, f);
  }
  lua_pushstring(L, "Lua 5.1");
  lua_setfield(L, -2, "_VERSION");
  add_base(L, &h);
  add_require(L, &h);
  add_lua53(L, &h);  // 5.3 operator helpers and libraries (§9.3)
  h.ref_base = make_ref(L);

  // The shared read-only empty table of flow.http() and friends.
  lua_newtable(L);
  lua_newtable(L);
  lua_pushlightuserdata(L, &h);
  lua_pushcclosure(L, read_only, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushstring(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  h.ref_empty = make_ref(L);

  for (int* ref : {&h.ref_modules, &h.ref_states, &h.ref_tags, &h.ref_fields, &h.ref_names}) {
    lua_newtable(L);
    *ref = make_ref(L);
  }
  push_json_module(L, &h);
  h.ref_json = make_ref(L);

  // Namespace templates.
  lua_newtable(L);
  lua_newtable(L);
  add_flow(L, &h);
  add_flow_tables(L, &h);
  add_flow_actions(L, &h);
  lua_setfield(L, -2, "flow");
  lua_newtable(L);
  add_ntop(L, &h);
  lua_setfield(L, -2, "ntop");
  lua_newtable(L);
  add_loupe(L, &h);
  lua_setfield(L, -2, "loupe");
  // host, network and interface are served in the control VM; in worker
  // VMs every name reads as nil (with the §1.5 warning).
  lua_newtable(L);
  if (h.control != nullptr) add_host(L, &h);
  lua_setfield(L, -2, "host");
  lua_newtable(L);
  if (h.control != nullptr) add_network(L, &h);
  lua_setfield(L, -2, "network");
  lua_newtable(L);
  if (h.control != nullptr) add_interface(L, &h);
  lua_setfield(L, -2, "interface");
  if (h.control != nullptr) {
    lua_getfield(L, -1, "ntop");
    add_ntop_control(L, &h);
    lua_pop(L, 1);
  }
  h.ref_ns = make_ref(L);
}

void push_env(ScriptHost& h, int script, bool flow_file) {
  lua_State* L = h.L();
  lua_createtable(L, 0, 64);
  const int env = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.ref_base);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, env);
  }
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.ref_libs);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    push_copy(L, -2);
    // ArkimeSession.HTTP too is the script's own: a script changing a
    // constant never changes another's.
    lua_pushliteral(L, "HTTP");
    lua_rawget(L, -2);
    if (lua_istable(L, -1)) {
      push_copy(L, -1);
      lua_setfield(L, -3, "HTTP");
    }
    lua_pop(L, 1);
    lua_rawset(L, env);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h.ref_ns);
  for (const char* ns : kNamespaces) {
    lua_getfield(L, -1, ns);
    push_copy(L, -1);
    lua_newtable(L);
    lua_pushlightuserdata(L, &h);
    lua_pushstring(L, ns);
    lua_pushinteger(L, script);
    lua_newtable(L);  // names already warned about
    lua_pushcclosure(L, namespace_index, 4);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, env, ns);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
  if (flow_file) {
    lua_newtable(L);
    lua_setfield(L, env, "callbacks");
  }
  lua_newtable(L);  // package: path and cpath may be assigned, and are ignored
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_newtable(L);
  lua_setfield(L, -2, "loaded");
  lua_setfield(L, env, "package");
}

bool compile_script(ScriptHost& h, int env_idx, std::string_view source, const std::string& path,
                    std::string* err) {
  lua_State* L = h.L();
  env_idx = env_idx < 0 ? lua_gettop(L) + env_idx + 1 : env_idx;
  if (!source.empty() && source[0] == LUA_SIGNATURE[0]) {
    *err = path + ": binary chunks are not allowed";
    return false;
  }
  const std::string chunk = "@" + path;
  // The file alone first: its syntax errors read exactly as the user wrote it.
  if (luaL_loadbuffer(L, source.data(), source.size(), chunk.c_str()) != 0) {
    *err = lua_tostring(L, -1) ? lua_tostring(L, -1) : "syntax error";
    lua_pop(L, 1);
    return false;
  }
  // Then wrapped: the prefix shares the file's first line, so every line
  // number stays; the outer function receives the namespace copies and
  // returns the file's body as a closure that sees them as upvalues.
  std::string wrapped = "local ";
  for (size_t i = 0; i < std::size(kBound); ++i) wrapped.append(i ? "," : "").append(kBound[i]);
  wrapped.append("=... return function(...) ");
  wrapped.append(source_without_shebang(source));
  wrapped.append("\nend");
  if (luaL_loadbuffer(L, wrapped.data(), wrapped.size(), chunk.c_str()) != 0) {
    // Cannot happen for a file that compiled alone short of limits (upvalue
    // count); the unbound chunk then serves, reaching names through _G.
    lua_pop(L, 1);
    lua_pushvalue(L, env_idx);
    lua_setfenv(L, -3);
    return true;
  }
  lua_remove(L, -2);
  lua_pushvalue(L, env_idx);
  lua_setfenv(L, -2);
  for (const char* name : kBound) lua_getfield(L, env_idx, name);
  if (lua_pcall(L, static_cast<int>(std::size(kBound)), 1, 0) != 0) {
    *err = path + ": " + (lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot bind");
    lua_pop(L, 1);
    return false;
  }
  return true;
}

}  // namespace loupe
