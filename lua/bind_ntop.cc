// The ntop.* functions worker VMs serve in this version (getDirs, logging,
// isShuttingDown) and loupe.* (contract §4.8): data files read at load.
#include <lua.hpp>
#include <string>

#include "lua/script_host.h"

namespace loupe {
namespace {

int n_get_dirs(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string& dir = h->gen.set.dir;
  lua_createtable(L, 0, 12);
  const std::pair<const char*, std::string> kDirs[] = {
      {"scriptsdir", dir}, {"libdir", dir + "/lib"}, {"workingdir", "."}, {"etcdir", ""},
      {"sharedir", dir},   {"bindir", ""},           {"pcapdir", ""},     {"installdir", dir},
      {"scriptdir", dir},  {"callbacksdir", dir},    {"httpdocsdir", ""}, {"dbarchivedir", ""}};
  for (const auto& [k, v] : kDirs) {
    lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k);
  }
  return 1;
}

// traceEvent(level, msg) or traceEvent(msg); TRACE_DEBUG (4) lines are
// dropped: the engine logs at info level.
int n_trace_event(lua_State* L) {
  ScriptHost* h = host_of(L);
  int level = 2;
  int msg = 1;
  if (lua_gettop(L) >= 2) {
    const double l = arg_number(L, 1, "ntop.traceEvent", "level");
    if (l < 0 || l > 4 || l != static_cast<int>(l)) {
      bad_argument(L, "ntop.traceEvent", 1, "level", "integer 0-4");
    }
    level = static_cast<int>(l);
    msg = 2;
  }
  const std::string_view text = arg_string(L, msg, "ntop.traceEvent", "msg");
  if (level < 4) h->log.line(h->script, text);
  return 0;
}

int n_verbose_trace(lua_State* L) {
  arg_string(L, 1, "ntop.verboseTrace", "msg");
  return 0;  // debug level: not shown
}

int n_is_shutting_down(lua_State* L) {
  lua_pushboolean(L, 0);
  return 1;
}

// A data file name: relative, '/'-separated, no empty, "." or ".." segment.
bool valid_data_name(std::string_view n) {
  if (n.empty() || n.front() == '/' || n.back() == '/') return false;
  size_t at = 0;
  while (at <= n.size()) {
    const size_t next = n.find('/', at);
    const std::string_view seg = n.substr(at, next == n.npos ? n.npos : next - at);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (next == n.npos) break;
    at = next + 1;
  }
  return true;
}

const std::string& data_file(lua_State* L, ScriptHost* h, const char* fn) {
  const std::string_view name = arg_string(L, 1, fn, "name");
  if (!h->loading) {
    raise_error(L, ErrorKind::kApi, "%s: data files can only be read while the file loads", fn);
  }
  const std::string* content = valid_data_name(name) ? h->gen.set.find_data(name) : nullptr;
  if (content == nullptr) {
    raise_error(L, ErrorKind::kApi, "%s: no data file '%.*s' in the set (data/%.*s)", fn,
                static_cast<int>(name.size()), name.data(), static_cast<int>(name.size()),
                name.data());
  }
  return *content;
}

int l_read_list(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string& content = data_file(L, h, "loupe.read_list");
  lua_newtable(L);
  size_t at = 0;
  while (at < content.size()) {
    size_t end = content.find('\n', at);
    if (end == std::string::npos) end = content.size();
    std::string_view line(content.data() + at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos) continue;
    line = line.substr(b, line.find_last_not_of(" \t") - b + 1);
    if (line.front() == '#') continue;
    lua_pushlstring(L, line.data(), line.size());
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
  }
  return 1;
}

int l_read_file(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string& content = data_file(L, h, "loupe.read_file");
  lua_pushlstring(L, content.data(), content.size());
  return 1;
}

}  // namespace

void add_ntop(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "getDirs", n_get_dirs);
  set_fn(L, h, "traceEvent", n_trace_event);
  set_fn(L, h, "verboseTrace", n_verbose_trace);
  set_fn(L, h, "isShuttingDown", n_is_shutting_down);
  add_cache(L, h);
}

void add_loupe(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "read_list", l_read_list);
  set_fn(L, h, "read_file", l_read_file);
}

}  // namespace loupe
