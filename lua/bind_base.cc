// Base functions of the sandbox (contract §6.1): print, load/loadstring in
// text mode with Lua 5.3 operators translated (§9.3), collectgarbage("count"),
// rawlen/rawset/setmetatable with the locked-table rules, and the
// protected-call family that lets the hard stop and memory errors through
// (§6.6).
#include <cstdio>
#include <lua.hpp>
#include <string>

#include "lua/lua53.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// tostring() of one value without calling into the script's environment,
// except for a __tostring metamethod. Appends to `out`.
void append_value(lua_State* L, int i, std::string& out) {
  switch (lua_type(L, i)) {
    case LUA_TNUMBER:
    case LUA_TSTRING: {
      size_t n = 0;
      lua_pushvalue(L, i);  // lua_tolstring converts numbers in place: use a copy
      const char* s = lua_tolstring(L, -1, &n);
      out.append(s, n);
      lua_pop(L, 1);
      return;
    }
    case LUA_TBOOLEAN:
      out.append(lua_toboolean(L, i) ? "true" : "false");
      return;
    case LUA_TNIL:
      out.append("nil");
      return;
    default:
      break;
  }
  if (luaL_callmeta(L, i, "__tostring")) {
    size_t n = 0;
    const char* s = lua_tolstring(L, -1, &n);
    if (s) out.append(s, n);
    lua_pop(L, 1);
    return;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s: %p", luaL_typename(L, i), lua_topointer(L, i));
  out.append(buf);
}

int l_print(lua_State* L) {
  ScriptHost* h = host_of(L);
  std::string line;
  const int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) line.push_back('\t');
    append_value(L, i, line);
  }
  h->log.line(h->script, line);
  return 0;
}

int l_rawlen(lua_State* L) {
  const int t = lua_type(L, 1);
  if (t != LUA_TTABLE && t != LUA_TSTRING) bad_argument(L, "rawlen", 1, "v", "table or string");
  lua_pushinteger(L, static_cast<lua_Integer>(lua_objlen(L, 1)));
  return 1;
}

bool is_shared_empty(lua_State* L, ScriptHost* h, int idx) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_empty);
  const bool same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

int l_rawset(lua_State* L) {
  ScriptHost* h = host_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (is_shared_empty(L, h, 1))
    raise_error(L, ErrorKind::kSandbox, "attempt to modify read-only table");
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

int l_setmetatable(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const int t = lua_type(L, 2);
  if (t != LUA_TNIL && t != LUA_TTABLE)
    bad_argument(L, "setmetatable", 2, "metatable", "nil or table");
  if (luaL_getmetafield(L, 1, "__metatable")) {
    raise_error(L, ErrorKind::kSandbox, "setmetatable: the metatable of this table is locked");
  }
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

int l_collectgarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "collect");
  if (std::string_view(opt) != "count") {
    raise_error(L, ErrorKind::kSandbox, "collectgarbage: option '%s' is not allowed", opt);
  }
  const int kb = lua_gc(L, LUA_GCCOUNT, 0);
  const int b = lua_gc(L, LUA_GCCOUNTB, 0);
  lua_pushnumber(L, kb + b / 1024.0);
  return 1;
}

// pcall(f, ...): as LuaJIT's, except that a hard stop or a memory error
// goes on unwinding. A caught error clears the kind engine code noted.
int l_pcall(lua_State* L) {
  ScriptHost* h = host_of(L);
  luaL_checkany(L, 1);
  const int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (status != 0) {
    if (must_pass(L, h, status)) lua_error(L);
    h->pending = ErrorKind::kNone;
  }
  lua_pushboolean(L, status == 0);
  lua_insert(L, 1);
  return lua_gettop(L);
}

// The message handler of xpcall: the script's handler, except for the hard
// stop and memory errors, which it never sees.
int xpcall_handler(lua_State* L) {
  ScriptHost* h = host_of(L);
  if (must_pass(L, h, LUA_ERRRUN)) return 1;
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int l_xpcall(lua_State* L) {
  ScriptHost* h = host_of(L);
  luaL_checkany(L, 2);
  // [f, handler, args...] -> [f, msgh, f, args...]
  lua_pushlightuserdata(L, h);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, xpcall_handler, 2);
  lua_replace(L, 2);
  lua_pushvalue(L, 1);
  lua_insert(L, 3);
  const int status = lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 2);
  if (status != 0) {
    if (must_pass(L, h, status)) lua_error(L);
    h->pending = ErrorKind::kNone;
  }
  lua_pushboolean(L, status == 0);
  lua_replace(L, 2);
  return lua_gettop(L) - 1;
}

// coroutine.resume: LuaJIT's (upvalue 2), re-raising what must pass.
int l_resume(lua_State* L) {
  ScriptHost* h = host_of(L);
  const int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  if (!lua_toboolean(L, 1) && lua_gettop(L) >= 2) {
    lua_pushvalue(L, 2);
    if (must_pass(L, h, LUA_ERRRUN)) lua_error(L);
    lua_pop(L, 1);
    h->pending = ErrorKind::kNone;
  }
  return lua_gettop(L);
}

// The function coroutine.wrap returns: resumes its coroutine (upvalue 2)
// with the resume above (upvalue 3); errors propagate as in Lua.
int wrapped_call(lua_State* L) {
  const int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(3));
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_insert(L, 1);
  lua_call(L, n + 1, LUA_MULTRET);
  if (!lua_toboolean(L, 1)) {
    lua_settop(L, 2);
    lua_error(L);
  }
  return lua_gettop(L) - 1;
}

int l_wrap(lua_State* L) {
  ScriptHost* h = host_of(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(2));  // coroutine.create
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  lua_pushlightuserdata(L, h);
  lua_insert(L, -2);
  lua_pushvalue(L, lua_upvalueindex(3));  // our resume
  lua_pushcclosure(L, wrapped_call, 3);
  return 1;
}

// How Lua names chunk `name` in messages ("[string \"...\"]", a path, or
// the text after '='): read back from an empty chunk of that name, so that
// translation errors are worded as LuaJIT's own syntax errors.
std::string chunk_label(lua_State* L, const char* name) {
  std::string label = name;
  if (luaL_loadbuffer(L, "", 0, name) == 0) {
    lua_Debug ar;
    if (lua_getinfo(L, ">S", &ar)) label = ar.short_src;
  } else {
    lua_pop(L, 1);
  }
  return label;
}

// Text-only compilation in the caller's environment (or `env`). Lua 5.3
// operators are translated first, as in files (§9.3). A translated chunk
// gets the helpers it calls as upvalues of a wrapper (on its first line,
// so line numbers hold) rather than from its environment, which may be a
// table of the script's that has none of them.
int compile_text(lua_State* L, ScriptHost* h, std::string_view text, const char* name, int env) {
  if (!text.empty() && text[0] == LUA_SIGNATURE[0]) {
    raise_error(L, ErrorKind::kSandbox, "binary chunks are not allowed");
  }
  std::string translated, err;
  std::string_view code;
  if (!lua53_prepare(text, "", &translated, &code, &err)) {
    lua_pushnil(L);
    const std::string message = chunk_label(L, name) + err;
    lua_pushlstring(L, message.data(), message.size());
    return 2;
  }
  const bool wrap = !translated.empty();
  if (wrap) {
    std::string wrapped = "local ";
    for (size_t i = 0; i < std::size(kLua53Helpers); ++i) {
      wrapped.append(i ? "," : "").append(kLua53Helpers[i]);
    }
    wrapped.append("=... return function(...) ").append(translated).append("\nend");
    translated = std::move(wrapped);
    code = translated;
  }
  if (luaL_loadbuffer(L, code.data(), code.size(), name) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (env != 0) {
    lua_pushvalue(L, env);
  } else {
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
      lua_getfenv(L, -1);
      lua_remove(L, -2);
    } else {
      lua_newtable(L);  // no Lua caller: an empty environment
    }
  }
  lua_setfenv(L, -2);
  if (wrap) {
    // The chunk itself is made by the wrapper, and inherits its environment.
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_base);
    const int base = lua_gettop(L);
    for (const char* helper : kLua53Helpers) lua_getfield(L, base, helper);
    lua_remove(L, base);
    lua_call(L, static_cast<int>(std::size(kLua53Helpers)), 1);
  }
  return 1;
}

// load(chunk [, chunkname [, mode [, env]]]): chunk a string or a function
// returning pieces.
int l_load(lua_State* L) {
  ScriptHost* h = host_of(L);
  std::string text;
  if (lua_type(L, 1) == LUA_TFUNCTION) {
    for (;;) {
      lua_pushvalue(L, 1);
      lua_call(L, 0, 1);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      size_t n = 0;
      const char* s = lua_tolstring(L, -1, &n);
      if (s == nullptr) bad_argument(L, "load", 1, "chunk", "reader returning strings");
      if (n == 0) {
        lua_pop(L, 1);
        break;
      }
      text.append(s, n);
      lua_pop(L, 1);
    }
  } else {
    text = std::string(arg_string(L, 1, "load", "chunk"));
  }
  if (lua_type(L, 3) == LUA_TSTRING && std::string_view(lua_tostring(L, 3)) == "b") {
    raise_error(L, ErrorKind::kSandbox, "binary chunks are not allowed");
  }
  const char* name =
      luaL_optstring(L, 2, lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : "=(load)");
  const int env = lua_type(L, 4) == LUA_TTABLE ? 4 : 0;
  return compile_text(L, h, text, name, env);
}

int l_loadstring(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view text = arg_string(L, 1, "loadstring", "chunk");
  const char* name = luaL_optstring(L, 2, lua_tostring(L, 1));
  return compile_text(L, h, text, name, 0);
}

}  // namespace

void add_base(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "print", l_print);
  set_fn(L, h, "rawlen", l_rawlen);
  set_fn(L, h, "rawset", l_rawset);
  set_fn(L, h, "setmetatable", l_setmetatable);
  set_fn(L, h, "collectgarbage", l_collectgarbage);
  set_fn(L, h, "pcall", l_pcall);
  set_fn(L, h, "xpcall", l_xpcall);
  set_fn(L, h, "load", l_load);
  set_fn(L, h, "loadstring", l_loadstring);
  // ntopng's log levels (§4.4.2).
  static constexpr std::pair<const char*, int> kTrace[] = {
      {"TRACE_ERROR", 0}, {"TRACE_WARNING", 1}, {"TRACE_NORMAL", 2}, {"TRACE_INFO", 3},
      {"TRACE_DEBUG", 4}, {"TRACE_CONSOLE", 0}, {"TRACE_FILE", 1}};
  for (const auto& [name, level] : kTrace) {
    lua_pushinteger(L, level);
    lua_setfield(L, -2, name);
  }
  // coroutine.resume and wrap in the library template.
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_libs);
  lua_getfield(L, -1, "coroutine");
  lua_pushlightuserdata(L, h);
  lua_getfield(L, -2, "resume");
  lua_pushcclosure(L, l_resume, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "resume");
  // stack: libs, coroutine, our resume
  lua_pushlightuserdata(L, h);
  lua_getfield(L, -3, "create");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_wrap, 3);
  lua_setfield(L, -3, "wrap");
  lua_pop(L, 3);
}

}  // namespace loupe
