// require, dofile and loadfile over the set in memory (contract §2.9), and
// the built-in modules: json/dkjson, lua_utils, checks, bit.
#include <lua.hpp>
#include <string>

#include "lua/lua53.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// ntopng's lua_utils helpers, defined in the requiring script's environment
// (so they print under its key and use its own io/string/table copies).
constexpr const char kLuaUtils[] = R"lua(
function tprint(v, indent)
  indent = indent or 0
  local pad = string.rep("  ", indent)
  if type(v) ~= "table" then io.write(pad, tostring(v), "\n") return end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if type(x) == "table" then
      io.write(pad, tostring(k), ":\n")
      if indent < 16 then tprint(x, indent + 1) end
    else
      io.write(pad, tostring(k), " = ", tostring(x), "\n")
    end
  end
end
function traceError(level, where, msg) ntop.traceEvent(level, msg) end
function isEmptyString(s) return s == nil or s == "" end
function ternary(c, a, b) if c then return a else return b end end
function split(s, sep)
  local out = {}
  if s == nil then return out end
  sep = sep or ","
  local at = 1
  while true do
    local i, j = string.find(s, sep, at, true)
    if not i then out[#out + 1] = string.sub(s, at) break end
    out[#out + 1] = string.sub(s, at, i - 1)
    at = j + 1
  end
  return out
end
function round(n, digits)
  local m = 10 ^ (digits or 0)
  return math.floor(n * m + 0.5) / m
end
function bytesToSize(n)
  n = tonumber(n) or 0
  local units = { "Bytes", "KB", "MB", "GB", "TB", "PB" }
  local i = 1
  while n >= 1024 and i < #units do n = n / 1024 i = i + 1 end
  if i == 1 then return string.format("%d %s", n, units[i]) end
  return string.format("%.2f %s", n, units[i])
end
function secondsToTime(n)
  n = math.floor(tonumber(n) or 0)
  local d, h, m, s = math.floor(n / 86400), math.floor(n % 86400 / 3600), math.floor(n % 3600 / 60), n % 60
  local parts = {}
  if d > 0 then parts[#parts + 1] = d .. (d == 1 and " day" or " days") end
  if h > 0 then parts[#parts + 1] = h .. " h" end
  if m > 0 then parts[#parts + 1] = m .. " min" end
  if s > 0 or #parts == 0 then parts[#parts + 1] = s .. " sec" end
  return table.concat(parts, ", ")
end
return true
)lua";

// The environment of the function calling the current C function.
void push_caller_env(lua_State* L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
    lua_getfenv(L, -1);
    lua_remove(L, -2);
  } else {
    lua_newtable(L);
  }
}

bool forbidden_module(std::string_view name) {
  return name == "ffi" || name == "jit" || name == "debug" || name == "io" || name == "os";
}

int l_require(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string name(arg_string(L, 1, "require", "name"));
  if (forbidden_module(name)) {
    raise_error(L, ErrorKind::kSandbox, "%s is not available in the loupe sandbox", name.c_str());
  }
  if (name == "json" || name == "dkjson") {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_json);
    return 1;
  }
  if (name == "lua_utils") {
    luaL_loadbuffer(L, kLuaUtils, sizeof(kLuaUtils) - 1, "=lua_utils");
    push_caller_env(L);
    lua_setfenv(L, -2);
    lua_call(L, 0, 1);
    return 1;
  }
  if (name == "checks") {
    lua_newtable(L);
    lua_newtable(L);
    static constexpr std::pair<const char*, int> kPeriods[] = {
        {"min", 0}, {"5mins", 1}, {"hour", 2}, {"day", 3}};
    for (const auto& [p, v] : kPeriods) {
      lua_pushinteger(L, v);
      lua_setfield(L, -2, p);
    }
    lua_setfield(L, -2, "periodicities");
    return 1;
  }
  if (name == "bit") {
    push_caller_env(L);
    lua_getfield(L, -1, "bit");
    return 1;
  }
  if (name.empty() || name[0] == '.' || name.find("..") != std::string::npos ||
      name.find('/') != std::string::npos) {
    raise_error(L, ErrorKind::kSandbox, "require: module name '%s' is not allowed", name.c_str());
  }
  std::string path = "lib/" + name;
  for (size_t i = 4; i < path.size(); ++i) {
    if (path[i] == '.') path[i] = '/';
  }
  path += ".lua";
  // Loaded once per VM; the value is shared by every script that asks.
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_modules);
  const int modules = lua_gettop(L);
  lua_getfield(L, modules, name.c_str());
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
      raise_error(L, ErrorKind::kRuntime, "require: loop while loading module '%s'", name.c_str());
    }
    return 1;
  }
  lua_pop(L, 1);
  const std::string* source = h->gen.set.find_code(path);
  if (source == nullptr) {
    raise_error(L, ErrorKind::kApi, "require: module '%s' not found (built-ins, %s)", name.c_str(),
                path.c_str());
  }
  lua_pushlightuserdata(L, h);  // "loading" mark
  lua_setfield(L, modules, name.c_str());
  push_env(*h, h->script, false);
  std::string err, translated;
  std::string_view code;
  if (!lua53_prepare(*source, path, &translated, &code, &err) ||  // 5.3 operators (§9.3)
      !compile_script(*h, -1, code, path, &err)) {
    lua_pushnil(L);
    lua_setfield(L, modules, name.c_str());
    lua_pushstring(L, err.c_str());
    lua_error(L);
  }
  lua_pushstring(L, name.c_str());
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, modules, name.c_str());
  return 1;
}

// Paths relative to lua.scripts_dir, inside it, outside data/.
const std::string* find_file(lua_State* L, ScriptHost* h, const char* fn, std::string_view path) {
  if (path.empty() || path[0] == '/' || path.find("..") != std::string_view::npos ||
      path.rfind("data/", 0) == 0) {
    raise_error(L, ErrorKind::kSandbox, "%s: '%.*s' is outside the scripts directory", fn,
                static_cast<int>(path.size()), path.data());
  }
  return h->gen.set.find_code(path);
}

// Compiles a set file in the caller's environment; pushes the function, or
// nil and a message.
int load_set_file(lua_State* L, ScriptHost* h, const char* fn, std::string_view path) {
  const std::string* source = find_file(L, h, fn, path);
  if (source == nullptr) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open %s", std::string(path).c_str());
    return 2;
  }
  if (!source->empty() && (*source)[0] == LUA_SIGNATURE[0]) {
    raise_error(L, ErrorKind::kSandbox, "binary chunks are not allowed");
  }
  const std::string chunk = "@" + std::string(path);
  std::string err, translated;
  std::string_view code;
  if (!lua53_prepare(*source, path, &translated, &code, &err)) {  // 5.3 operators (§9.3)
    lua_pushnil(L);
    lua_pushlstring(L, err.data(), err.size());
    return 2;
  }
  if (luaL_loadbuffer(L, code.data(), code.size(), chunk.c_str()) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  push_caller_env(L);
  lua_setfenv(L, -2);
  return 1;
}

int l_loadfile(lua_State* L) {
  ScriptHost* h = host_of(L);
  return load_set_file(L, h, "loadfile", arg_string(L, 1, "loadfile", "path"));
}

int l_dofile(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view path = arg_string(L, 1, "dofile", "path");
  lua_settop(L, 1);
  if (load_set_file(L, h, "dofile", path) == 2) lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

}  // namespace

void add_require(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "require", l_require);
  set_fn(L, h, "dofile", l_dofile);
  set_fn(L, h, "loadfile", l_loadfile);
}

}  // namespace loupe
