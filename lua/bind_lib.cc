// Library additions of the sandbox: io.write to the log, loupe's pattern
// functions (lua/bind_pattern.cc), ntopng's string and table helpers
// (§2.9), and the simple Lua 5.3 library functions math.type, table.pack
// and table.unpack (§6.1). 5.3's math.tointeger, math.ult and table.move
// need its integer rules and come from lua/bind_lua53.cc.
#include <cmath>
#include <cstring>
#include <lua.hpp>
#include <string>

#include "lua/script_host.h"

namespace loupe {
namespace {

int io_write(lua_State* L) {
  ScriptHost* h = host_of(L);
  const int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    const std::string_view s = arg_string(L, i, "io.write", "value");
    h->log.write(h->script, s);
  }
  return 0;
}

int str_starts(lua_State* L) {
  const std::string_view s = arg_string(L, 1, "string.starts", "s");
  const std::string_view p = arg_string(L, 2, "string.starts", "prefix");
  lua_pushboolean(L, s.substr(0, p.size()) == p);
  return 1;
}

int str_ends(lua_State* L) {
  const std::string_view s = arg_string(L, 1, "string.ends", "s");
  const std::string_view p = arg_string(L, 2, "string.ends", "suffix");
  lua_pushboolean(L, s.size() >= p.size() && s.substr(s.size() - p.size()) == p);
  return 1;
}

// string.split(s, sep): plain separator (ntopng's helper); nil when the
// separator does not occur, as ntopng's lua_utils does.
int str_split(lua_State* L) {
  const std::string_view s = arg_string(L, 1, "string.split", "s");
  const std::string_view sep =
      lua_isnoneornil(L, 2) ? std::string_view(",") : arg_string(L, 2, "string.split", "sep");
  if (sep.empty() || s.find(sep) == std::string_view::npos) {
    lua_pushnil(L);
    return 1;
  }
  lua_newtable(L);
  int i = 1;
  size_t at = 0;
  for (;;) {
    const size_t next = s.find(sep, at);
    const std::string_view part = s.substr(at, next == std::string_view::npos ? s.npos : next - at);
    lua_pushlstring(L, part.data(), part.size());
    lua_rawseti(L, -2, i++);
    if (next == std::string_view::npos) break;
    at = next + sep.size();
  }
  return 1;
}

int tbl_len(lua_State* L) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    lua_pushinteger(L, 0);
    return 1;
  }
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    ++n;
    lua_pop(L, 1);
  }
  lua_pushinteger(L, n);
  return 1;
}

int tbl_empty(lua_State* L) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  const bool empty = lua_next(L, 1) == 0;
  lua_pushboolean(L, empty);
  return 1;
}

int tbl_pack(lua_State* L) {
  const int n = lua_gettop(L);
  lua_createtable(L, n, 1);
  lua_insert(L, 1);
  for (int i = n; i >= 1; --i) lua_rawseti(L, 1, i);
  lua_pushinteger(L, n);
  lua_setfield(L, 1, "n");
  return 1;
}

int tbl_unpack(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const lua_Integer i = luaL_optinteger(L, 2, 1);
  const lua_Integer e =
      lua_isnoneornil(L, 3) ? static_cast<lua_Integer>(lua_objlen(L, 1)) : luaL_checkinteger(L, 3);
  if (i > e) return 0;
  if (e - i >= 8000 || !lua_checkstack(L, static_cast<int>(e - i + 1))) {
    return luaL_error(L, "too many results to unpack");
  }
  for (lua_Integer k = i; k <= e; ++k) lua_rawgeti(L, 1, static_cast<int>(k));
  return static_cast<int>(e - i + 1);
}

constexpr double kMaxExact = 9007199254740992.0;  // 2^53

int math_type(lua_State* L) {
  luaL_checkany(L, 1);
  if (lua_type(L, 1) != LUA_TNUMBER) {
    lua_pushnil(L);
    return 1;
  }
  const double d = lua_tonumber(L, 1);
  lua_pushstring(L, std::floor(d) == d && std::fabs(d) <= kMaxExact ? "integer" : "float");
  return 1;
}

}  // namespace

void add_libraries(lua_State* L, ScriptHost* h) {
  lua_getfield(L, -1, "io");
  set_fn(L, h, "write", io_write);
  lua_pop(L, 1);
  lua_getfield(L, -1, "string");
  add_patterns(L, h);  // loupe's matcher in place of LuaJIT's (§6.1)
  set_fn(L, h, "starts", str_starts);
  set_fn(L, h, "ends", str_ends);
  set_fn(L, h, "split", str_split);
  lua_pop(L, 1);
  lua_getfield(L, -1, "table");
  set_fn(L, h, "len", tbl_len);
  set_fn(L, h, "empty", tbl_empty);
  set_fn(L, h, "pack", tbl_pack);
  set_fn(L, h, "unpack", tbl_unpack);
  lua_pop(L, 1);
  lua_getfield(L, -1, "math");
  set_fn(L, h, "type", math_type);
  lua_pop(L, 1);
}

}  // namespace loupe
