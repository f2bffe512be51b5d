// ArkimeHttpService for Lua (contract §5.8; also under its old name
// MolochHttpService, §5.1): ArkimeHttpService.new, service:request, and
// the VM's side of the replies (lua/http_service.h).
//
// A service is a userdata holding its limits, its count of outstanding
// requests and its canonical base URLs (the key of its pool in the HTTP
// client). Each request gets a number; the callback, the service and the
// requesting script wait in a registry table under that number until the
// reply comes back through the VM's port and deliver_http_replies() runs
// the callback. Every function has three upvalues: the host, the VM's
// HttpVmState and the services' metatable.
#include <pthread.h>

#include <cmath>
#include <cstring>
#include <lua.hpp>
#include <new>
#include <string>

#include "lua/http_client.h"
#include "lua/http_service.h"
#include "lua/http_url.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// The registry key of the VM's HttpVmState: this variable's address.
const char kStateKey = 0;

constexpr int kUpState = 2;
constexpr int kUpServiceMt = 3;

// Canonical base URLs of one service, comma-separated; the pool key.
constexpr size_t kMaxPoolKey = 4096;

constexpr const char* kNoRequests = "service:request: no requests while the file loads or unloads";

struct HttpVmState {
  HttpPort* port = nullptr;  // null: not published (loading) or handed back
  uint32_t generation = 0;
  pthread_t thread{};
  uint64_t next_id = 1;
  size_t outstanding = 0;
  int pending = LUA_NOREF;  // request number -> {fn, service, script}
  int prepare = LUA_NOREF;  // prepare_call, as a closure
  Counter errors[kErrorKinds];
};

struct Service {
  uint32_t max_requests;
  uint32_t outstanding;
  uint16_t max_connections;
  uint16_t pool_len;  // the pool key's bytes follow
  std::string_view pool() const { return {reinterpret_cast<const char*>(this + 1), pool_len}; }
};

HttpVmState* state_up(lua_State* L) {
  return static_cast<HttpVmState*>(lua_touserdata(L, lua_upvalueindex(kUpState)));
}

HttpVmState* state_of(lua_State* L) {
  lua_pushlightuserdata(L, const_cast<char*>(&kStateKey));
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* st = static_cast<HttpVmState*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return st;
}

// An integer argument within [lo, hi], or the §1.5 error.
uint32_t arg_bounded(lua_State* L, int idx, const char* fn, const char* param, uint32_t lo,
                     uint32_t hi) {
  const double v = arg_number(L, idx, fn, param);
  if (v != std::floor(v) || v < lo || v > hi) {
    raise_error(L, ErrorKind::kApi,
                "%s: bad argument #%d '%s' (integer from %u to %u expected, got %.17g)", fn, idx,
                param, lo, hi, v);
  }
  return static_cast<uint32_t>(v);
}

// The pool key of `hostports`, into key[]: every base URL parsed, allowed
// and made canonical. On failure, the message of the error to raise.
bool pool_key(std::string_view hostports, const std::vector<std::string>& allow, char* key,
              size_t* key_len, char* err, size_t err_len) {
  const char* fn = "ArkimeHttpService.new";
  size_t len = 0;
  size_t at = 0;
  bool any = false;
  while (at <= hostports.size()) {
    size_t comma = hostports.find(',', at);
    if (comma == std::string_view::npos) comma = hostports.size();
    std::string_view piece = hostports.substr(at, comma - at);
    at = comma + 1;
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t'))
      piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t')) piece.remove_suffix(1);
    if (piece.empty()) continue;
    const int shown = static_cast<int>(std::min<size_t>(piece.size(), 300));
    std::string why;
    const auto url = parse_http_url(piece, &why);
    if (!url) {
      std::snprintf(err, err_len, "%s: '%.*s' is not a base URL: %s", fn, shown, piece.data(),
                    why.c_str());
      return false;
    }
    if (!http_url_allowed(*url, allow)) {
      std::snprintf(err, err_len, "%s: '%.*s' is not allowed by lua.http.allow", fn, shown,
                    piece.data());
      return false;
    }
    const std::string canon = canonical_url(*url);
    if (len + canon.size() + 1 > kMaxPoolKey) {
      std::snprintf(err, err_len,
                    "%s: bad argument #1 'hostports' (at most %zu bytes of base URLs expected)", fn,
                    kMaxPoolKey);
      return false;
    }
    if (any) key[len++] = ',';
    std::memcpy(key + len, canon.data(), canon.size());
    len += canon.size();
    any = true;
  }
  if (!any) {
    std::snprintf(err, err_len,
                  "%s: bad argument #1 'hostports' (comma-separated base URLs expected, got '')",
                  fn);
    return false;
  }
  *key_len = len;
  return true;
}

// ArkimeHttpService.new(hostports, maxConnections, maxRequests)
int service_new(lua_State* L) {
  const char* fn = "ArkimeHttpService.new";
  ScriptHost* h = host_of(L);
  const std::string_view hostports = arg_string(L, 1, fn, "hostports");
  const uint32_t max_connections = arg_bounded(L, 2, fn, "maxConnections", 1, 64);
  const uint32_t max_requests = arg_bounded(L, 3, fn, "maxRequests", 1, 10000);
  char key[kMaxPoolKey];
  size_t key_len = 0;
  char err[512];
  if (!pool_key(hostports, h->gen.config.http.allow, key, &key_len, err, sizeof(err))) {
    raise_error(L, ErrorKind::kApi, "%s", err);
  }
  auto* s = static_cast<Service*>(lua_newuserdata(L, sizeof(Service) + key_len));
  s->max_requests = max_requests;
  s->outstanding = 0;
  s->max_connections = static_cast<uint16_t>(max_connections);
  s->pool_len = static_cast<uint16_t>(key_len);
  std::memcpy(s + 1, key, key_len);
  lua_pushvalue(L, lua_upvalueindex(kUpServiceMt));
  lua_setmetatable(L, -2);
  return 1;
}

// valid_http_path with its reason copied out, so that no string is alive
// when the caller raises.
bool path_ok(std::string_view path, char* why, size_t why_len) {
  std::string reason;
  if (valid_http_path(path, &reason)) return true;
  std::snprintf(why, why_len, "%s", reason.c_str());
  return false;
}

// Pushes the environment of the running script: its own when the host
// knows it, else the calling function's (a tail call has none: nil).
void push_script_env(lua_State* L, ScriptHost* h) {
  if (h->script >= 0 && static_cast<size_t>(h->script) < h->refs.size() &&
      h->refs[h->script].env != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->refs[h->script].env);
    return;
  }
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
    lua_getfenv(L, -1);
    lua_remove(L, -2);
    return;
  }
  lua_pushnil(L);
}

// The callback argument: a function, or the name of a global function of
// the calling file (its environment), replaced by the function.
void check_callback(lua_State* L, ScriptHost* h, int idx, const char* fn) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return;
  if (lua_type(L, idx) == LUA_TSTRING) {
    push_script_env(L, h);
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, idx);
      lua_rawget(L, -2);
      if (lua_type(L, -1) == LUA_TFUNCTION) {
        lua_replace(L, idx);
        lua_pop(L, 1);
        return;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    raise_error(L, ErrorKind::kApi, "%s: bad argument #4 'fn' (no global function named '%s')", fn,
                lua_tostring(L, idx));
  }
  raise_error(L, ErrorKind::kApi, "%s: bad argument #4 'fn' (function expected, got %s)", fn,
              lua_isnone(L, idx) ? "nil" : luaL_typename(L, idx));
}

// service:request(method, path, data, fn)
int service_request(lua_State* L) {
  const char* fn = "service:request";
  ScriptHost* h = host_of(L);
  HttpVmState* st = state_up(L);
  Service* s = nullptr;
  if (lua_getmetatable(L, 1)) {
    if (lua_rawequal(L, -1, lua_upvalueindex(kUpServiceMt))) {
      s = static_cast<Service*>(lua_touserdata(L, 1));
    }
    lua_pop(L, 1);
  }
  if (s == nullptr) {
    raise_error(L, ErrorKind::kApi, "%s: bad self (ArkimeHttpService expected, got %s)", fn,
                lua_isnone(L, 1) ? "nil" : luaL_typename(L, 1));
  }
  // Arguments are numbered without the object (§1.5): method is at index 2.
  auto string_arg = [&](int n, const char* param) -> std::string_view {
    const int t = lua_type(L, n + 1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
      raise_error(L, ErrorKind::kApi, "%s: bad argument #%d '%s' (string expected, got %s)", fn, n,
                  param, lua_isnone(L, n + 1) ? "nil" : luaL_typename(L, n + 1));
    }
    size_t len = 0;
    const char* p = lua_tolstring(L, n + 1, &len);
    return {p, len};
  };
  const std::string_view method = string_arg(1, "method");
  if (!valid_http_method(method)) {
    raise_error(L, ErrorKind::kApi,
                "%s: bad argument #1 'method' (upper-case token expected, got '%.64s')", fn,
                lua_tostring(L, 2));
  }
  const std::string_view path = string_arg(2, "path");
  char why[160];
  if (!path_ok(path, why, sizeof(why))) {
    raise_error(L, ErrorKind::kApi,
                "%s: bad argument #2 'path' (a path that %s expected, got '%.200s')", fn, why,
                lua_tostring(L, 3));
  }
  const std::string_view data = string_arg(3, "data");
  check_callback(L, h, 5, fn);
  if (h->loading || st->port == nullptr || !pthread_equal(st->thread, pthread_self())) {
    raise_error(L, ErrorKind::kApi, "%s", kNoRequests);
  }
  HttpPort& port = *st->port;
  if (s->outstanding >= s->max_requests || port.stopped()) {
    port.counters.refused.add();
    lua_pushboolean(L, 0);
    return 1;
  }
  // The pending entry first: whatever Lua allocation fails here, nothing
  // was queued yet.
  const uint64_t id = st->next_id;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->pending);
  lua_pushnumber(L, static_cast<lua_Number>(id));
  lua_createtable(L, 3, 0);
  lua_pushvalue(L, 5);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 2);
  lua_pushinteger(L, h->script);
  lua_rawseti(L, -2, 3);
  lua_rawset(L, -3);
  HttpRequest r;
  r.id = id;
  r.generation = st->generation;
  r.max_connections = s->max_connections;
  r.pool = s->pool();
  r.method = method;
  r.path = path;
  r.data = data;
  if (!port.submit(r)) {
    lua_pushnumber(L, static_cast<lua_Number>(id));
    lua_pushnil(L);
    lua_rawset(L, -3);  // removing a key never allocates
    lua_pushboolean(L, 0);
    return 1;
  }
  ++st->next_id;
  ++s->outstanding;
  ++st->outstanding;
  lua_pushboolean(L, 1);
  return 1;
}

// What deliver_http_replies hands prepare_call, and what it learns.
struct Prepare {
  const HttpReply* reply;
  int script;
};

// In a protected call: takes the reply's pending entry and leaves
// fn, code, body, err on the stack (nothing when the entry is gone). The
// counts drop before the body is copied, so that a memory error there
// loses the callback but never a service's slot.
int prepare_call(lua_State* L) {
  auto* p = static_cast<Prepare*>(lua_touserdata(L, 1));
  HttpVmState* st = state_up(L);
  const HttpReply& r = *p->reply;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->pending);  // 2
  lua_pushnumber(L, static_cast<lua_Number>(r.id));
  lua_rawget(L, 2);  // 3
  if (!lua_istable(L, 3)) return 0;
  lua_rawgeti(L, 3, 2);
  auto* s = static_cast<Service*>(lua_touserdata(L, -1));
  if (s != nullptr && s->outstanding > 0) --s->outstanding;
  lua_rawgeti(L, 3, 3);
  p->script = static_cast<int>(lua_tointeger(L, -1));
  lua_pushnumber(L, static_cast<lua_Number>(r.id));
  lua_pushnil(L);
  lua_rawset(L, 2);
  if (st->outstanding > 0) --st->outstanding;
  lua_rawgeti(L, 3, 1);
  lua_pushinteger(L, r.code);
  lua_pushlstring(L, r.body.data(), r.body.size());
  if (r.error == HttpError::kNone) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, kHttpErrorNames[static_cast<int>(r.error)]);
  }
  return 4;
}

int state_gc(lua_State* L) {
  static_cast<HttpVmState*>(lua_touserdata(L, 1))->~HttpVmState();
  return 0;
}

void push_closure(lua_State* L, ScriptHost* h, HttpVmState* st, int service_mt, lua_CFunction f) {
  lua_pushlightuserdata(L, h);
  lua_pushlightuserdata(L, st);
  lua_rawgeti(L, LUA_REGISTRYINDEX, service_mt);
  lua_pushcclosure(L, f, 3);
}

}  // namespace

void run_async_call(ScriptHost& h, int script, int nargs) {
  lua_State* L = h.L();
  h.script = script;
  h.pending = ErrorKind::kNone;
  h.vm.begin_call();
  const int status = lua_pcall(L, nargs, 0, 0);
  h.vm.end_call();
  h.log.flush();
  if (status != 0) {
    ErrorKind kind;
    if (h.vm.stopping() ||
        (lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == Vm::stop_sentinel())) {
      kind = ErrorKind::kHardStop;
    } else if (status == LUA_ERRMEM || h.vm.alloc_failed()) {
      kind = ErrorKind::kMemory;
    } else {
      kind = h.pending != ErrorKind::kNone ? h.pending : ErrorKind::kRuntime;
    }
    HttpVmState* st = state_of(L);
    if (st != nullptr) st->errors[static_cast<int>(kind)].add();
    if (h.log.error_due(script)) {
      // Only a string is read as is: converting anything else would allocate
      // outside a protected call.
      const std::string message =
          kind == ErrorKind::kHardStop ? "call stopped (hard stop)"
          : kind == ErrorKind::kMemory ? "not enough memory (in " + h.vm.name() + ")"
          : lua_type(L, -1) == LUA_TSTRING
              ? std::string(lua_tostring(L, -1))
              : std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
      h.log.error(script, "async", "", message);
    }
    lua_pop(L, 1);
    h.vm.clear_alloc_failed();
    h.pending = ErrorKind::kNone;
  }
  h.script = -1;
}

void attach_http_port(ScriptHost& h, HttpPort* port) {
  HttpVmState* st = state_of(h.L());
  if (st == nullptr) return;
  st->port = port;
  st->generation = port != nullptr ? port->attach() : 0;
  st->thread = pthread_self();
}

void detach_http_port(ScriptHost& h) {
  HttpVmState* st = state_of(h.L());
  if (st != nullptr) st->port = nullptr;
}

size_t http_outstanding(ScriptHost& h) {
  HttpVmState* st = state_of(h.L());
  return st != nullptr ? st->outstanding : 0;
}

uint64_t async_errors(ScriptHost& h, int kind) {
  HttpVmState* st = state_of(h.L());
  return st != nullptr && kind >= 0 && kind < kErrorKinds ? st->errors[kind].get() : 0;
}

size_t deliver_http_replies(ScriptHost& h, size_t max, AsyncCallFn call, void* ctx) {
  lua_State* L = h.L();
  HttpVmState* st = state_of(L);
  if (st == nullptr || st->port == nullptr || !st->port->has_work()) return 0;
  HttpPort& port = *st->port;
  size_t ran = 0;
  // Stale replies are cheap to drop, but bounded too: a poll iteration
  // never spends long here.
  for (size_t seen = 0; ran < max && seen < 4 * max + 16; ++seen) {
    HttpReply r;
    bool from_ring = port.next_reply(&r);
    if (!from_ring) {
      HttpRequest q;
      if (!port.next_unread_request(&q)) break;
      r.id = q.id;
      r.generation = q.generation;
      r.error = HttpError::kShutdown;
      port.counters.shutdown_vm.add();
    }
    if (r.generation != st->generation) {
      if (from_ring) {
        port.counters.reload.add();
        port.pop_reply();
      } else {
        port.pop_unread_request();
      }
      continue;
    }
    const int top = lua_gettop(L);
    Prepare p{&r, -1};
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->prepare);
    lua_pushlightuserdata(L, &p);
    const int status = lua_pcall(L, 1, LUA_MULTRET, 0);
    // The body is in the VM now (or lost): the ring's copy can go.
    if (from_ring) {
      port.pop_reply();
    } else {
      port.pop_unread_request();
    }
    if (status != 0) {
      st->errors[static_cast<int>(ErrorKind::kMemory)].add();
      h.log.note(p.script, "a reply was lost: not enough memory (in " + h.vm.name() + ")");
      lua_settop(L, top);
      h.vm.clear_alloc_failed();
      continue;
    }
    if (lua_gettop(L) != top + 4) {
      lua_settop(L, top);
      continue;
    }
    port.counters.delivered.add();
    ++ran;
    if (call != nullptr) {
      call(ctx, h, p.script, 3);
    } else {
      run_async_call(h, p.script, 3);
    }
    lua_settop(L, top);
  }
  return ran;
}

void add_http_service(lua_State* L, ScriptHost* h) {
  auto* st = new (lua_newuserdata(L, sizeof(HttpVmState))) HttpVmState();
  lua_newtable(L);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushlightuserdata(L, const_cast<char*>(&kStateKey));
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  st->pending = luaL_ref(L, LUA_REGISTRYINDEX);

  // The services' metatable, locked; its methods through __index.
  lua_newtable(L);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  const int service_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, service_mt);
  lua_newtable(L);
  push_closure(L, h, st, service_mt, service_request);
  lua_setfield(L, -2, "request");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  push_closure(L, h, st, service_mt, prepare_call);
  st->prepare = luaL_ref(L, LUA_REGISTRYINDEX);

  // The table, into the library templates at -1, under both names.
  lua_newtable(L);
  push_closure(L, h, st, service_mt, service_new);
  lua_setfield(L, -2, "new");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "ArkimeHttpService");
  lua_setfield(L, -2, "MolochHttpService");
}

}  // namespace loupe
