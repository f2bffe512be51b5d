// The ntop.* cache family (contract §4.4.3) over lua/cache_store.h. A VM on
// the control side calls the store directly (synchronous, read-your-writes);
// a worker VM on its worker reads its snapshot and queues its writes, and
// never waits. Which one is decided per call by ScriptHost::cache, so the
// same functions serve a worker VM while it loads and after the hand-over.
#include <cmath>
#include <cstdio>
#include <lua.hpp>
#include <string>

#include "lua/cache_store.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

// Bits of CacheAccess::warned: one warning per script and function.
enum Warn : uint8_t { kWarnStatus = 1, kWarnStats = 2, kWarnLpop = 4, kWarnRpop = 8 };

CacheStore* direct(ScriptHost* h) {
  CacheAccess* c = h->cache;
  return c != nullptr && !c->on_worker ? c->store : nullptr;
}

bool on_worker(ScriptHost* h) { return h->cache != nullptr && h->cache->on_worker; }

void warn_once(ScriptHost* h, Warn w, const char* fn, const char* why) {
  CacheAccess* c = h->cache;
  if (c == nullptr) return;
  const size_t i = static_cast<size_t>(h->script + 1);
  if (c->warned.size() <= i) c->warned.resize(i + 1);
  if ((c->warned[i] & w) != 0) return;
  c->warned[i] |= w;
  char line[160];
  std::snprintf(line, sizeof(line), "%s %s (returned nil)", fn, why);
  h->log.note(h->script, line);
}

int64_t arg_integer(lua_State* L, int idx, const char* fn, const char* param, bool non_negative) {
  const double d = arg_number(L, idx, fn, param);
  // 2^63 is the first double past int64_t.
  if (d != std::floor(d) || d < (non_negative ? 0.0 : -9223372036854775808.0) ||
      d >= 9223372036854775808.0) {
    bad_argument(L, fn, idx, param, non_negative ? "integer >= 0" : "integer");
  }
  return static_cast<int64_t>(d);
}

int64_t opt_integer(lua_State* L, int idx, const char* fn, const char* param, bool non_negative,
                    int64_t dflt) {
  return lua_isnoneornil(L, idx) ? dflt : arg_integer(L, idx, fn, param, non_negative);
}

// A key for a write: 1 to 256 bytes, else an api error.
std::string_view arg_key(lua_State* L, int idx, const char* fn, const char* param) {
  const std::string_view k = arg_string(L, idx, fn, param);
  if (k.empty() || k.size() > kCacheMaxKey) {
    raise_error(L, ErrorKind::kApi, "%s: bad argument #%d '%s' (1 to %zu bytes expected, got %zu)",
                fn, idx, param, kCacheMaxKey, k.size());
  }
  return k;
}

// The live entry of `key` for a read, from the store or the worker's
// snapshot; null when missing (a key that cannot exist is missing too).
const CacheEntry* lookup(ScriptHost* h, std::string_view key) {
  CacheAccess* c = h->cache;
  if (c == nullptr) return nullptr;
  if (!c->on_worker) return c->store != nullptr ? c->store->read(key) : nullptr;
  const CacheSnapshot* s = c->reader != nullptr ? c->reader->get() : nullptr;
  // Worker reads judge expiry on packet time, as the store does offline.
  return s != nullptr ? s->find(key, h->now_ns) : nullptr;
}

const CacheEntry* lookup_as(ScriptHost* h, std::string_view key, CacheType t) {
  const CacheEntry* e = lookup(h, key);
  return e != nullptr && e->type() == t ? e : nullptr;
}

// A direct write's result: errors raise, refusals (store full, value too
// large) are false, anything else is pushed by `push_ok`.
template <class F>
int finish(lua_State* L, const char* fn, std::string_view key, CacheType want, const CacheResult& r,
           F push_ok) {
  switch (r.error) {
    case CacheError::kNone:
      push_ok(r);
      return 1;
    case CacheError::kFull:
    case CacheError::kTooLarge:
      lua_pushboolean(L, 0);
      return 1;
    default: {
      const std::string text = cache_error_text(r, key, want);
      raise_error(L, ErrorKind::kApi, "%s: %s", fn, text.c_str());
    }
  }
}

int push_bool(lua_State* L, const char* fn, std::string_view key, CacheType want,
              const CacheResult& r) {
  return finish(L, fn, key, want, r,
                [L](const CacheResult& x) { lua_pushboolean(L, x.value != 0); });
}

int push_int(lua_State* L, const char* fn, std::string_view key, CacheType want,
             const CacheResult& r) {
  return finish(L, fn, key, want, r,
                [L](const CacheResult& x) { lua_pushnumber(L, static_cast<double>(x.value)); });
}

// A worker's write: queued (true) or dropped (false); with no queue (a VM
// not wired to a store) dropped.
int queue(lua_State* L, ScriptHost* h, CacheWrite w) {
  CacheWriteQueue* q = h->cache->queue;
  w.script = static_cast<int16_t>(h->script);
  lua_pushboolean(L, q != nullptr && q->push(w));
  return 1;
}

int unwired(lua_State* L) {
  lua_pushboolean(L, 0);
  return 1;
}

void push_string(lua_State* L, const std::string& s) { lua_pushlstring(L, s.data(), s.size()); }

// -- Strings.

int c_get(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, "ntop.getCache", "key");
  const CacheEntry* e = lookup_as(h, key, CacheType::kString);
  if (e != nullptr) {
    push_string(L, e->str());
  } else {
    lua_pushliteral(L, "");
  }
  return 1;
}

int set_common(lua_State* L, const char* fn, bool nx, bool with_ttl) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, fn, "key");
  const std::string_view value = arg_string(L, 2, fn, "value");
  const int64_t ttl = with_ttl ? opt_integer(L, 3, fn, "ttl", true, 0) : 0;
  if (on_worker(h)) {
    return queue(L, h, {nx ? CacheOp::kSetNx : CacheOp::kSet, 0, key, value, {}, ttl, 0});
  }
  CacheStore* s = direct(h);
  if (s == nullptr) return unwired(L);
  const uint64_t t = static_cast<uint64_t>(ttl);
  return push_bool(L, fn, key, CacheType::kString,
                   nx ? s->setnx(key, value, t) : s->set(key, value, t));
}

int c_set(lua_State* L) { return set_common(L, "ntop.setCache", false, true); }
int c_setnx(lua_State* L) { return set_common(L, "ntop.setnxCache", true, true); }
int c_set_pref(lua_State* L) { return set_common(L, "ntop.setPref", false, false); }

int c_get_pref(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, "ntop.getPref", "key");
  const CacheEntry* e = lookup_as(h, key, CacheType::kString);
  if (e != nullptr) {
    push_string(L, e->str());
  } else {
    lua_pushliteral(L, "");
  }
  return 1;
}

int c_del(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, "ntop.delCache", "key");
  if (on_worker(h)) return queue(L, h, {CacheOp::kDel, 0, key, {}, {}, 0, 0});
  CacheStore* s = direct(h);
  return s != nullptr ? push_bool(L, "ntop.delCache", key, CacheType::kString, s->del(key))
                      : unwired(L);
}

int c_rename(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view from = arg_key(L, 1, "ntop.renameCache", "old");
  const std::string_view to = arg_key(L, 2, "ntop.renameCache", "new");
  if (on_worker(h)) return queue(L, h, {CacheOp::kRename, 0, from, to, {}, 0, 0});
  CacheStore* s = direct(h);
  return s != nullptr
             ? push_bool(L, "ntop.renameCache", from, CacheType::kString, s->rename(from, to))
             : unwired(L);
}

int c_incr(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, "ntop.incrCache", "key");
  const int64_t n = opt_integer(L, 2, "ntop.incrCache", "n", false, 1);
  if (on_worker(h)) return queue(L, h, {CacheOp::kIncr, 0, key, {}, {}, n, 0});
  CacheStore* s = direct(h);
  return s != nullptr ? push_int(L, "ntop.incrCache", key, CacheType::kString, s->incr(key, n))
                      : unwired(L);
}

int c_keys(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view pattern = arg_string(L, 1, "ntop.getKeysCache", "pattern");
  lua_newtable(L);
  const int t = lua_gettop(L);
  size_t n = 0;
  auto add = [L, t, &n](const CacheEntry& e) {
    push_string(L, e.key());
    lua_pushboolean(L, 1);
    lua_rawset(L, t);
    n++;
  };
  CacheAccess* c = h->cache;
  if (c != nullptr && c->on_worker) {
    const CacheSnapshot* snap = c->reader != nullptr ? c->reader->get() : nullptr;
    if (snap != nullptr) snap->for_each_match(pattern, h->now_ns, add);
  } else if (c != nullptr && c->store != nullptr) {
    c->store->keys(pattern, add);
  }
  if (n == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  return 1;
}

// -- Control-only status and counters.

void set_number(lua_State* L, const char* name, uint64_t v) {
  lua_pushnumber(L, static_cast<double>(v));
  lua_setfield(L, -2, name);
}

// The store of the control VM, or null after a warning (worker VMs, loading
// or not: these functions are marked C).
CacheStore* control_store(lua_State* L, ScriptHost* h, Warn w, const char* fn) {
  CacheAccess* c = h->cache;
  if (c == nullptr || !c->control_vm) {
    warn_once(h, w, fn, "is not available in worker VMs");
    lua_pushnil(L);
    return nullptr;
  }
  if (c->store == nullptr) lua_pushnil(L);
  return c->store;
}

int c_status(lua_State* L) {
  ScriptHost* h = host_of(L);
  CacheStore* s = control_store(L, h, kWarnStatus, "ntop.getCacheStatus");
  if (s == nullptr) return 1;
  lua_createtable(L, 0, 5);
  lua_pushliteral(L, "memory");
  lua_setfield(L, -2, "backend");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "redis_connected");
  set_number(L, "keys", s->stats().keys);
  set_number(L, "bytes", s->stats().bytes);
  set_number(L, "max_bytes", s->max_bytes());
  return 1;
}

int c_stats(lua_State* L) {
  ScriptHost* h = host_of(L);
  CacheStore* s = control_store(L, h, kWarnStats, "ntop.getCacheStats");
  if (s == nullptr) return 1;
  const CacheStats& st = s->stats();
  lua_createtable(L, 0, 9);
  set_number(L, "reads", st.reads);
  set_number(L, "writes", st.writes);
  set_number(L, "expired", st.expired);
  set_number(L, "refused", st.refused);
  set_number(L, "queued_applied", st.queued_applied);
  set_number(L, "queued_dropped", st.queued_dropped);
  set_number(L, "apply_errors", st.apply_errors);
  set_number(L, "mirror_dropped", 0);  // no Redis mirror in this version
  const uint64_t now = s->now();
  const uint64_t age = st.last_publish_ns != 0 && now > st.last_publish_ns
                           ? (now - st.last_publish_ns) / 1'000'000u
                           : 0;
  set_number(L, "snapshot_age_ms", age);
  return 1;
}

// -- Hashes.

int c_hget(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, "ntop.getHashCache", "key");
  const std::string_view field = arg_string(L, 2, "ntop.getHashCache", "field");
  const CacheEntry* e = lookup_as(h, key, CacheType::kHash);
  if (e != nullptr) {
    auto it = e->hash_fields().find(field);
    if (it != e->hash_fields().end()) {
      push_string(L, it->second);
      return 1;
    }
  }
  lua_pushliteral(L, "");
  return 1;
}

int c_hset(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.setHashCache";
  const std::string_view key = arg_key(L, 1, fn, "key");
  const std::string_view field = arg_string(L, 2, fn, "field");
  const std::string_view value = arg_string(L, 3, fn, "value");
  if (on_worker(h)) return queue(L, h, {CacheOp::kHSet, 0, key, field, value, 0, 0});
  CacheStore* s = direct(h);
  return s != nullptr ? push_bool(L, fn, key, CacheType::kHash, s->hset(key, field, value))
                      : unwired(L);
}

int c_hdel(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.delHashCache";
  const std::string_view key = arg_key(L, 1, fn, "key");
  const std::string_view field = arg_string(L, 2, fn, "field");
  if (on_worker(h)) return queue(L, h, {CacheOp::kHDel, 0, key, field, {}, 0, 0});
  CacheStore* s = direct(h);
  return s != nullptr ? push_bool(L, fn, key, CacheType::kHash, s->hdel(key, field)) : unwired(L);
}

int hash_table(lua_State* L, const char* fn, bool values) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, fn, "key");
  const CacheEntry* e = lookup_as(h, key, CacheType::kHash);
  if (e == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, static_cast<int>(e->hash_fields().size()));
  for (const auto& [f, v] : e->hash_fields()) {
    push_string(L, f);
    if (values) {
      push_string(L, v);
    } else {
      lua_pushboolean(L, 1);
    }
    lua_rawset(L, -3);
  }
  return 1;
}

int c_hkeys(lua_State* L) { return hash_table(L, "ntop.getHashKeysCache", false); }
int c_hall(lua_State* L) { return hash_table(L, "ntop.getHashAllCache", true); }

// -- Lists.

int push_common(lua_State* L, const char* fn, bool front) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, fn, "key");
  const std::string_view value = arg_string(L, 2, fn, "value");
  if (on_worker(h)) {
    return queue(L, h, {front ? CacheOp::kLPush : CacheOp::kRPush, 0, key, value, {}, 0, 0});
  }
  CacheStore* s = direct(h);
  return s != nullptr ? push_int(L, fn, key, CacheType::kList, s->push(key, value, front))
                      : unwired(L);
}

int c_lpush(lua_State* L) { return push_common(L, "ntop.lpushCache", true); }
int c_rpush(lua_State* L) { return push_common(L, "ntop.rpushCache", false); }

int pop_common(lua_State* L, const char* fn, bool front) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, fn, "key");
  CacheStore* s = direct(h);
  if (s == nullptr) {
    // The pop's result depends on the store at write time: not served from
    // a snapshot.
    if (on_worker(h))
      warn_once(h, front ? kWarnLpop : kWarnRpop, fn, "is not served in worker VMs");
    lua_pushnil(L);
    return 1;
  }
  std::string out;
  const CacheResult r = s->pop(key, front, &out);
  if (!r.ok()) {
    const std::string text = cache_error_text(r, key, CacheType::kList);
    raise_error(L, ErrorKind::kApi, "%s: %s", fn, text.c_str());
  }
  if (r.value != 0) {
    push_string(L, out);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

int c_lpop(lua_State* L) { return pop_common(L, "ntop.lpopCache", true); }
int c_rpop(lua_State* L) { return pop_common(L, "ntop.rpopCache", false); }

int c_lrem(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.lremCache";
  const std::string_view key = arg_key(L, 1, fn, "key");
  const int64_t count = arg_integer(L, 2, fn, "count", false);
  const std::string_view value = arg_string(L, 3, fn, "value");
  if (on_worker(h)) return queue(L, h, {CacheOp::kLRem, 0, key, value, {}, count, 0});
  CacheStore* s = direct(h);
  return s != nullptr ? push_int(L, fn, key, CacheType::kList, s->lrem(key, count, value))
                      : unwired(L);
}

int c_ltrim(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.ltrimCache";
  const std::string_view key = arg_key(L, 1, fn, "key");
  const int64_t start = arg_integer(L, 2, fn, "start", false);
  const int64_t stop = arg_integer(L, 3, fn, "stop", false);
  if (on_worker(h)) return queue(L, h, {CacheOp::kLTrim, 0, key, {}, {}, start, stop});
  CacheStore* s = direct(h);
  return s != nullptr ? push_bool(L, fn, key, CacheType::kList, s->ltrim(key, start, stop))
                      : unwired(L);
}

int c_lrange(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.lrangeCache";
  const std::string_view key = arg_string(L, 1, fn, "key");
  const int64_t start = arg_integer(L, 2, fn, "start", false);
  const int64_t stop = arg_integer(L, 3, fn, "stop", false);
  const CacheEntry* e = lookup_as(h, key, CacheType::kList);
  size_t first = 0, last = 0;
  if (e != nullptr) cache_list_range(start, stop, e->list().size(), &first, &last);
  lua_createtable(L, static_cast<int>(last - first), 0);
  for (size_t i = first; i < last; ++i) {
    push_string(L, e->list()[i]);
    lua_rawseti(L, -2, static_cast<int>(i - first + 1));
  }
  return 1;
}

int c_llen(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, "ntop.llenCache", "key");
  const CacheEntry* e = lookup_as(h, key, CacheType::kList);
  lua_pushnumber(L, e != nullptr ? static_cast<double>(e->list().size()) : 0.0);
  return 1;
}

int c_lindex(lua_State* L) {
  ScriptHost* h = host_of(L);
  const char* fn = "ntop.listIndexCache";
  const std::string_view key = arg_string(L, 1, fn, "key");
  int64_t index = arg_integer(L, 2, fn, "index", false);
  const CacheEntry* e = lookup_as(h, key, CacheType::kList);
  const int64_t n = e != nullptr ? static_cast<int64_t>(e->list().size()) : 0;
  if (index < 0) index += n;
  if (index < 0 || index >= n) {
    lua_pushnil(L);
  } else {
    push_string(L, e->list()[static_cast<size_t>(index)]);
  }
  return 1;
}

// -- Sets.

int member_common(lua_State* L, const char* fn, bool add) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_key(L, 1, fn, "key");
  const std::string_view member = arg_string(L, 2, fn, "member");
  if (on_worker(h)) {
    return queue(L, h, {add ? CacheOp::kSAdd : CacheOp::kSRem, 0, key, member, {}, 0, 0});
  }
  CacheStore* s = direct(h);
  if (s == nullptr) return unwired(L);
  return push_bool(L, fn, key, CacheType::kSet, add ? s->sadd(key, member) : s->srem(key, member));
}

int c_sadd(lua_State* L) { return member_common(L, "ntop.setMembersCache", true); }
int c_srem(lua_State* L) { return member_common(L, "ntop.delMembersCache", false); }

int c_smembers(lua_State* L) {
  ScriptHost* h = host_of(L);
  const std::string_view key = arg_string(L, 1, "ntop.getMembersCache", "key");
  const CacheEntry* e = lookup_as(h, key, CacheType::kSet);
  if (e == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, static_cast<int>(e->members().size()), 0);
  int i = 0;
  for (const std::string& m : e->members()) {
    push_string(L, m);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

}  // namespace

void add_cache(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "getCache", c_get);
  set_fn(L, h, "setCache", c_set);
  set_fn(L, h, "setnxCache", c_setnx);
  set_fn(L, h, "delCache", c_del);
  set_fn(L, h, "renameCache", c_rename);
  set_fn(L, h, "incrCache", c_incr);
  set_fn(L, h, "getKeysCache", c_keys);
  set_fn(L, h, "getCacheStatus", c_status);
  set_fn(L, h, "getCacheStats", c_stats);
  set_fn(L, h, "getHashCache", c_hget);
  set_fn(L, h, "setHashCache", c_hset);
  set_fn(L, h, "delHashCache", c_hdel);
  set_fn(L, h, "getHashKeysCache", c_hkeys);
  set_fn(L, h, "getHashAllCache", c_hall);
  set_fn(L, h, "lpushCache", c_lpush);
  set_fn(L, h, "rpushCache", c_rpush);
  set_fn(L, h, "lpopCache", c_lpop);
  set_fn(L, h, "rpopCache", c_rpop);
  set_fn(L, h, "lremCache", c_lrem);
  set_fn(L, h, "ltrimCache", c_ltrim);
  set_fn(L, h, "lrangeCache", c_lrange);
  set_fn(L, h, "llenCache", c_llen);
  set_fn(L, h, "listIndexCache", c_lindex);
  set_fn(L, h, "setMembersCache", c_sadd);
  set_fn(L, h, "delMembersCache", c_srem);
  set_fn(L, h, "getMembersCache", c_smembers);
  set_fn(L, h, "getPref", c_get_pref);
  set_fn(L, h, "setPref", c_set_pref);
}

}  // namespace loupe
