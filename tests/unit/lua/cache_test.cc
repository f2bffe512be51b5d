// The ntop.* cache family (contract §4.4.3): every function through Lua in
// a VM on the control side, TTLs on an injected clock, the size caps, type
// errors, glob patterns, snapshots (isolation, structure sharing, publish
// cost), and worker VMs' snapshot reads and queued writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <lua.hpp>
#include <map>

#include "lua/cache_store.h"
#include "lua/script_host.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

constexpr uint64_t kSec = 1'000'000'000u;
constexpr uint64_t kT0 = 1'700'000'000 * kSec;

// A clock the test moves.
struct FakeClock {
  uint64_t now = kT0;
  CacheStore::Clock fn() {
    return [this] { return now; };
  }
};

// Renders Lua values for comparisons: strings quoted, sequences as [...],
// other tables as {k=v} sorted by key.
std::string render(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      return "nil";
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.14g", lua_tonumber(L, idx));
      return buf;
    }
    case LUA_TSTRING:
      return "\"" + std::string(lua_tostring(L, idx)) + "\"";
    case LUA_TTABLE: {
      idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
      const size_t n = lua_objlen(L, idx);
      std::vector<std::string> items;
      size_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx) != 0) {
        count++;
        const std::string k =
            lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "[" + render(L, -2) + "]";
        items.push_back(k + "=" + render(L, -1));
        lua_pop(L, 1);
      }
      if (count == n) {
        std::string out = "[";
        for (size_t i = 1; i <= n; ++i) {
          lua_rawgeti(L, idx, static_cast<int>(i));
          out += (i > 1 ? "," : "") + render(L, -1);
          lua_pop(L, 1);
        }
        return out + "]";
      }
      std::sort(items.begin(), items.end());
      std::string out = "{";
      for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
      return out + "}";
    }
    default:
      return luaL_typename(L, idx);
  }
}

// One VM with the cache family bound to `access` (and nothing else wired).
struct CacheVm {
  KeptLog log;
  Generation gen;
  CacheAccess access;
  std::unique_ptr<ScriptHost> host;

  explicit CacheVm(CacheAccess a, const char* name = "control") : access(std::move(a)) {
    host = std::make_unique<ScriptHost>(name, gen, &log);
    host->cache = &access;
  }

  // Runs `src` as one chunk; its results joined by ", ", or "error: ...".
  std::string run(const std::string& src) {
    lua_State* L = host->L();
    const int base = lua_gettop(L);
    push_env(*host, -1, false);
    std::string err;
    if (!compile_script(*host, -1, src, "t.lua", &err)) {
      lua_settop(L, base);
      return "syntax: " + err;
    }
    const int fn = lua_gettop(L);
    std::string out;
    if (lua_pcall(L, 0, LUA_MULTRET, 0) != 0) {
      out = std::string("error: ") + lua_tostring(L, -1);
    } else {
      for (int i = fn; i <= lua_gettop(L); ++i) out += (i > fn ? ", " : "") + render(L, i);
    }
    lua_settop(L, base);
    return out;
  }
};

CacheAccess control_access(CacheStore* s) {
  CacheAccess a;
  a.store = s;
  a.control_vm = true;
  return a;
}

TEST(Cache, Strings) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  EXPECT_EQ(vm.run("return ntop.getCache('a'), ntop.setCache('a', 'x'), ntop.getCache('a', true)"),
            "\"\", true, \"x\"");
  EXPECT_EQ(
      vm.run("return ntop.setnxCache('a', 'y'), ntop.setnxCache('b', 'y'), ntop.getCache('a')"),
      "false, true, \"x\"");
  EXPECT_EQ(vm.run("return ntop.delCache('a'), ntop.delCache('a'), ntop.getCache('a')"),
            "true, false, \"\"");
  EXPECT_EQ(vm.run("return ntop.renameCache('b', 'c'), ntop.getCache('b'), ntop.getCache('c'), "
                   "ntop.renameCache('nope', 'd')"),
            "true, \"\", \"y\", false");
  EXPECT_EQ(vm.run("return ntop.incrCache('n'), ntop.incrCache('n', 41), ntop.incrCache('n', -50), "
                   "ntop.getCache('n')"),
            "1, 42, -8, \"-8\"");
  EXPECT_EQ(vm.run("ntop.setCache('num', 12) return ntop.getCache(12), ntop.incrCache('num', '3')"),
            "\"\", 15");
  EXPECT_EQ(vm.run("return ntop.setPref('p', 'v'), ntop.getPref('p'), ntop.getCache('p')"),
            "true, \"v\", \"v\"");
  EXPECT_EQ(vm.run("ntop.setCache('bin', 'a\\0b') return #ntop.getCache('bin')"), "3");
  // Renaming over an existing key replaces it, whatever it holds.
  EXPECT_EQ(vm.run("ntop.lpushCache('l', 'x') ntop.setCache('s', 'v') "
                   "return ntop.renameCache('s', 'l'), ntop.getCache('l'), ntop.llenCache('l')"),
            "true, \"v\", 0");
  EXPECT_EQ(store.stats().keys, 6u);  // c, n, num, p, bin, l
}

TEST(Cache, HashesListsAndSets) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  EXPECT_EQ(vm.run("return ntop.getHashCache('h', 'f'), ntop.getHashKeysCache('h'), "
                   "ntop.getHashAllCache('h')"),
            "\"\", nil, nil");
  EXPECT_EQ(vm.run("return ntop.setHashCache('h', 'f', 'v'), ntop.setHashCache('h', 'g', 2), "
                   "ntop.getHashCache('h', 'f'), ntop.getHashCache('h', 'zz')"),
            "true, true, \"v\", \"\"");
  EXPECT_EQ(vm.run("return ntop.getHashKeysCache('h'), ntop.getHashAllCache('h')"),
            "{f=true,g=true}, {f=\"v\",g=\"2\"}");
  EXPECT_EQ(
      vm.run("return ntop.delHashCache('h', 'f'), ntop.delHashCache('h', 'f'), "
             "ntop.delHashCache('h', 'g'), ntop.getHashAllCache('h'), ntop.getKeysCache('h')"),
      "true, false, true, nil, nil");

  EXPECT_EQ(vm.run("return ntop.rpushCache('l', 'b'), ntop.lpushCache('l', 'a'), "
                   "ntop.rpushCache('l', 'c'), ntop.rpushCache('l', 'b')"),
            "1, 2, 3, 4");
  EXPECT_EQ(vm.run("return ntop.lrangeCache('l', 0, -1), ntop.lrangeCache('l', 1, 2), "
                   "ntop.lrangeCache('l', -2, 100), ntop.lrangeCache('l', 3, 1), "
                   "ntop.lrangeCache('none', 0, -1)"),
            "[\"a\",\"b\",\"c\",\"b\"], [\"b\",\"c\"], [\"c\",\"b\"], [], []");
  EXPECT_EQ(
      vm.run("return ntop.llenCache('l'), ntop.llenCache('none'), ntop.listIndexCache('l', 0), "
             "ntop.listIndexCache('l', -1), ntop.listIndexCache('l', 4)"),
      "4, 0, \"a\", \"b\", nil");
  EXPECT_EQ(vm.run("return ntop.lremCache('l', -1, 'b'), ntop.lrangeCache('l', 0, -1)"),
            "1, [\"a\",\"b\",\"c\"]");
  EXPECT_EQ(vm.run("ntop.rpushCache('l', 'a') ntop.rpushCache('l', 'a') "
                   "return ntop.lremCache('l', 2, 'a'), ntop.lrangeCache('l', 0, -1)"),
            "2, [\"b\",\"c\",\"a\"]");
  EXPECT_EQ(vm.run("ntop.rpushCache('l', 'a') "
                   "return ntop.lremCache('l', 0, 'a'), ntop.lrangeCache('l', 0, -1)"),
            "2, [\"b\",\"c\"]");
  EXPECT_EQ(vm.run("for i = 1, 5 do ntop.rpushCache('t', i) end "
                   "return ntop.ltrimCache('t', 1, -2), ntop.lrangeCache('t', 0, -1), "
                   "ntop.ltrimCache('none', 0, 1)"),
            "true, [\"2\",\"3\",\"4\"], true");
  EXPECT_EQ(vm.run("return ntop.lpopCache('t'), ntop.rpopCache('t'), ntop.rpopCache('t'), "
                   "ntop.lpopCache('t'), ntop.llenCache('t'), ntop.getKeysCache('t')"),
            "\"2\", \"4\", \"3\", nil, 0, nil");
  EXPECT_EQ(vm.run("ntop.ltrimCache('l', 5, 6) return ntop.getKeysCache('l')"), "nil");

  EXPECT_EQ(vm.run("return ntop.setMembersCache('s', 'b'), ntop.setMembersCache('s', 'a'), "
                   "ntop.setMembersCache('s', 'b'), ntop.setMembersCache('s', '\\200'), "
                   "ntop.setMembersCache('s', 'B')"),
            "true, true, false, true, true");
  // Byte order: 'B' < 'a' < 'b' < '\200'.
  EXPECT_EQ(
      vm.run("local m = ntop.getMembersCache('s') return #m, m[1], m[2], m[3], m[4] == '\\200'"),
      "4, \"B\", \"a\", \"b\", true");
  EXPECT_EQ(vm.run("return ntop.delMembersCache('s', 'a'), ntop.delMembersCache('s', 'a'), "
                   "ntop.getMembersCache('none')"),
            "true, false, nil");
}

TEST(Cache, StatusAndStats) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  vm.run("ntop.setCache('k', 'vvvv') ntop.getCache('k') ntop.getCache('x')");
  EXPECT_EQ(vm.run("return ntop.getCacheStatus()"),
            "{backend=\"memory\",bytes=37,keys=1,max_bytes=1048576,redis_connected=false}");
  store.publish();
  clock.now += 1500 * 1'000'000u;
  EXPECT_EQ(vm.run("return ntop.getCacheStats()"),
            "{apply_errors=0,expired=0,mirror_dropped=0,queued_applied=0,queued_dropped=0,"
            "reads=2,refused=0,snapshot_age_ms=1500,writes=1}");
}

TEST(Cache, TtlExpiresOnAccessAndInTheSweep) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  EXPECT_EQ(vm.run("return ntop.setCache('a', '1', 10), ntop.setCache('b', '2', 5), "
                   "ntop.setCache('c', '3'), ntop.setCache('d', '4', 0)"),
            "true, true, true, true");
  clock.now += 9 * kSec;
  EXPECT_EQ(vm.run("return ntop.getCache('a'), ntop.getCache('b')"), "\"1\", \"\"");
  EXPECT_EQ(store.stats().expired, 1u);  // b, on access
  clock.now += 1 * kSec;
  EXPECT_EQ(vm.run("return ntop.getCache('a'), ntop.getKeysCache('*')"), "\"\", {c=true,d=true}");
  EXPECT_EQ(store.stats().expired, 2u);
  // Writing without a TTL clears it; incrCache keeps it.
  vm.run(
      "ntop.setCache('e', '1', 3) ntop.setCache('e', '2') ntop.setCache('f', '1', 3) "
      "ntop.incrCache('f') ntop.setHashCache('g', 'x', 'y')");
  EXPECT_EQ(store.sweep(clock.now + 2 * kSec), 0u);
  EXPECT_EQ(store.sweep(clock.now + 3 * kSec), 1u);  // f
  EXPECT_EQ(vm.run("return ntop.getCache('e'), ntop.getCache('f')"), "\"2\", \"\"");
  // The sweep alone removes keys nobody reads.
  vm.run("for i = 1, 100 do ntop.setCache('t' .. i, 'v', i % 2 == 0 and 60 or 120) end");
  EXPECT_EQ(store.stats().keys, 104u);  // c, d, e, g and the hundred
  EXPECT_EQ(store.sweep(clock.now + 60 * kSec), 50u);
  EXPECT_EQ(store.stats().keys, 54u);
  EXPECT_EQ(store.sweep(clock.now + 120 * kSec), 50u);
  EXPECT_EQ(store.stats().keys, 4u);
  EXPECT_EQ(store.stats().expired, 103u);
  // A rename carries the expiry.
  vm.run("ntop.setCache('r', 'v', 5) ntop.renameCache('r', 's')");
  clock.now += 5 * kSec;
  EXPECT_EQ(vm.run("return ntop.getCache('s')"), "\"\"");
}

TEST(Cache, WritesPastTheCapsAreRefused) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  // 1 MiB: seven 128 KiB values fit with their keys, the eighth does not.
  EXPECT_EQ(vm.run("local v = string.rep('x', 128 * 1024) local ok = 0 "
                   "for i = 1, 8 do if ntop.setCache('k' .. i, v) then ok = ok + 1 end end "
                   "return ok, ntop.getCache('k8')"),
            "7, \"\"");
  EXPECT_EQ(store.stats().refused, 1u);
  EXPECT_LE(store.stats().bytes, store.max_bytes());
  // Shrinking and deleting always work; then there is room again.
  EXPECT_EQ(
      vm.run("return ntop.setCache('k1', 'small'), ntop.setCache('k8', string.rep('x', 100000))"),
      "true, true");
  // Every write that grows is refused when full: lists, hashes, sets, incr.
  EXPECT_EQ(vm.run("local big = string.rep('y', 120000) "
                   "return ntop.rpushCache('l', big), ntop.setHashCache('h', 'f', big), "
                   "ntop.setMembersCache('s', big), ntop.setCache('k9', big)"),
            "1, false, false, false");
  EXPECT_EQ(store.stats().refused, 4u);
  // One key's value is capped at 128 KiB whatever the room left.
  CacheStore roomy(64 << 20, clock.fn());
  CacheVm vm2(control_access(&roomy));
  EXPECT_EQ(vm2.run("return ntop.setCache('a', string.rep('x', 128 * 1024 + 1)), "
                    "ntop.setCache('a', string.rep('x', 128 * 1024))"),
            "false, true");
  EXPECT_EQ(vm2.run("local n = 0 for i = 1, 2000 do "
                    "if ntop.rpushCache('l', string.rep('z', 100)) then n = n + 1 end end "
                    "return n, ntop.llenCache('l')"),
            "1213, 1213");  // 131072 / (100 + 8)
}

TEST(Cache, TypeErrorsAndBadArguments) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  vm.run(
      "ntop.setHashCache('h', 'f', 'v') ntop.rpushCache('l', 'x') ntop.setCache('s', 'abc') "
      "ntop.setMembersCache('m', 'x')");
  EXPECT_EQ(vm.run("ntop.setCache('h', 'x')"),
            "error: t.lua:1: ntop.setCache: key 'h' holds a hash, not a string");
  EXPECT_EQ(vm.run("\nntop.incrCache('l')"),
            "error: t.lua:2: ntop.incrCache: key 'l' holds a list, not a string");
  EXPECT_EQ(vm.run("ntop.setHashCache('l', 'a', 'b')"),
            "error: t.lua:1: ntop.setHashCache: key 'l' holds a list, not a hash");
  EXPECT_EQ(vm.run("ntop.lpushCache('m', 'a')"),
            "error: t.lua:1: ntop.lpushCache: key 'm' holds a set, not a list");
  EXPECT_EQ(vm.run("ntop.setMembersCache('s', 'a')"),
            "error: t.lua:1: ntop.setMembersCache: key 's' holds a string, not a set");
  EXPECT_EQ(vm.run("ntop.rpopCache('h')"),
            "error: t.lua:1: ntop.rpopCache: key 'h' holds a hash, not a list");
  EXPECT_EQ(vm.run("ntop.incrCache('s')"),
            "error: t.lua:1: ntop.incrCache: key 's' holds a string that is not an integer");
  EXPECT_EQ(vm.run("ntop.setCache('big', '9223372036854775807') ntop.incrCache('big')"),
            "error: t.lua:1: ntop.incrCache: incrementing key 'big' would overflow");
  // Reads of another type return the missing value; deleting any type works.
  EXPECT_EQ(vm.run("return ntop.getCache('h'), ntop.getHashCache('l', 'x'), ntop.llenCache('h'), "
                   "ntop.getMembersCache('l'), ntop.lrangeCache('m', 0, -1), ntop.delCache('m')"),
            "\"\", \"\", 0, nil, [], true");
  EXPECT_EQ(
      vm.run("ntop.setCache('k', 'v', -1)"),
      "error: t.lua:1: ntop.setCache: bad argument #3 'ttl' (integer >= 0 expected, got number)");
  EXPECT_EQ(vm.run("ntop.incrCache('k', 1.5)"),
            "error: t.lua:1: ntop.incrCache: bad argument #2 'n' (integer expected, got number)");
  EXPECT_EQ(vm.run("ntop.setCache('k', {})"),
            "error: t.lua:1: ntop.setCache: bad argument #2 'value' (string expected, got table)");
  EXPECT_EQ(
      vm.run("ntop.setCache('', 'v')"),
      "error: t.lua:1: ntop.setCache: bad argument #1 'key' (1 to 256 bytes expected, got 0)");
  EXPECT_EQ(
      vm.run("ntop.delCache(string.rep('k', 257))"),
      "error: t.lua:1: ntop.delCache: bad argument #1 'key' (1 to 256 bytes expected, got 257)");
  EXPECT_EQ(
      vm.run("return ntop.getCache(string.rep('k', 257)), ntop.setCache(string.rep('k', 256), 1)"),
      "\"\", true");
  EXPECT_EQ(vm.run("ntop.lrangeCache('l', 0)"),
            "error: t.lua:1: ntop.lrangeCache: bad argument #3 'stop' (number expected, got nil)");
}

TEST(Cache, GlobPatterns) {
  struct Case {
    const char* pattern;
    const char* key;
    bool match;
  };
  const Case cases[] = {
      {"*", "", true},
      {"*", "anything", true},
      {"a*", "abc", true},
      {"a*", "bac", false},
      {"*c", "abc", true},
      {"a*c", "ac", true},
      {"a*c", "abcbc", true},
      {"a*c", "abcb", false},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"[ab]x", "bx", true},
      {"[ab]x", "cx", false},
      {"[a-c]", "b", true},
      {"[c-a]", "b", true},
      {"[^a-c]", "b", false},
      {"[^a-c]", "d", true},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"a\\?", "a?", true},
      {"a\\?", "ab", false},
      {"[\\]]", "]", true},
      {"[]]", "]", true},
      {"[", "[", true},
      {"a[b", "a[b", true},
      {"*.*.*", "a.b.c", true},
      {"*.*.*", "a.b", false},
      {"h:*:[0-9]*", "h:x:7y", true},
      {"h:*:[0-9]*", "h:x:y", false},
      {"**a", "xxa", true},
      {"", "", true},
      {"", "a", false},
      {"?*?", "ab", true},
      {"?*?", "a", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(cache_glob_match(c.pattern, c.key), c.match) << c.pattern << " vs " << c.key;
  }
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheVm vm(control_access(&store));
  vm.run(
      "for _, k in ipairs({'host.1.a', 'host.2.a', 'host.10.b', 'flow.1', 'h*'}) do "
      "ntop.setCache(k, 'v') end");
  EXPECT_EQ(vm.run("return ntop.getKeysCache('host.*')"),
            "{host.1.a=true,host.10.b=true,host.2.a=true}");
  EXPECT_EQ(vm.run("return ntop.getKeysCache('host.?.a')"), "{host.1.a=true,host.2.a=true}");
  EXPECT_EQ(vm.run("return ntop.getKeysCache('host.[^1]*')"), "{host.2.a=true}");
  EXPECT_EQ(vm.run("return ntop.getKeysCache('h\\\\*'), ntop.getKeysCache('flow.1'), "
                   "ntop.getKeysCache('nothing*')"),
            "{h*=true}, {flow.1=true}, nil");
}

TEST(Cache, SnapshotsAreIsolatedFromLaterWrites) {
  FakeClock clock;
  CacheStore store(16 << 20, clock.fn());
  for (int i = 0; i < 5000; ++i) store.set("k" + std::to_string(i), "v", 0);
  store.hset("h", "f", "1");
  store.push("l", "a", false);
  store.sadd("s", "a");
  const auto s1 = store.publish();
  EXPECT_EQ(store.publish(), s1);  // nothing changed: the same snapshot
  store.set("k1", "changed", 0);
  store.set("new", "x", 0);
  store.del("k2");
  store.hset("h", "f", "2");
  store.push("l", "b", false);
  store.sadd("s", "b");
  store.set("k1", "twice", 0);  // changed in place: already copied in this epoch
  const auto s2 = store.publish();
  ASSERT_NE(s1, s2);
  EXPECT_EQ(s1->find("k1", 0)->str(), "v");
  EXPECT_EQ(s1->find("new", 0), nullptr);
  EXPECT_NE(s1->find("k2", 0), nullptr);
  EXPECT_EQ(s1->find("h", 0)->hash_fields().at("f"), "1");
  EXPECT_EQ(s1->find("l", 0)->list().size(), 1u);
  EXPECT_EQ(s1->find("s", 0)->members().size(), 1u);
  EXPECT_EQ(s1->keys(), 5003u);
  EXPECT_EQ(s2->find("k1", 0)->str(), "twice");
  EXPECT_EQ(s2->find("new", 0)->str(), "x");
  EXPECT_EQ(s2->find("k2", 0), nullptr);
  EXPECT_EQ(s2->find("h", 0)->hash_fields().at("f"), "2");
  EXPECT_EQ(s2->find("l", 0)->list().size(), 2u);
  EXPECT_EQ(s2->keys(), 5003u);
  // Unchanged entries are shared, not copied.
  EXPECT_EQ(s1->find("k3", 0), s2->find("k3", 0));
  EXPECT_NE(s1->find("k1", 0), s2->find("k1", 0));
  // Four entries were copied (k1, h, l, s); k1's second write was in place.
  EXPECT_EQ(store.stats().entries_copied, 4u);
  // Expiry in a snapshot is judged on the reader's clock.
  store.set("ttl", "v", 10);
  const auto s3 = store.publish();
  EXPECT_NE(s3->find("ttl", kT0 + 9 * kSec), nullptr);
  EXPECT_EQ(s3->find("ttl", kT0 + 10 * kSec), nullptr);
}

// Average cost of (one write + publish) while the previous snapshot is
// alive, best of several rounds (the machine is shared).
struct PublishCost {
  double ns = 0;
  double nodes = 0;  // trie nodes copied per publish cycle
};

PublishCost publish_cost(size_t keys) {
  FakeClock clock;
  CacheStore store(uint64_t{1} << 30, clock.fn());
  for (size_t i = 0; i < keys; ++i) store.set("key:" + std::to_string(i), "value", 0);
  auto snap = store.publish();
  constexpr int kRounds = 7, kIters = 2000;
  PublishCost best{1e18, 0};
  for (int r = 0; r < kRounds; ++r) {
    const uint64_t nodes0 = store.stats().nodes_copied;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kIters; ++i) {
      store.set("key:" + std::to_string((i * 7919) % keys), "v" + std::to_string(i), 0);
      snap = store.publish();
    }
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
        kIters;
    if (ns < best.ns) best.ns = ns;
    best.nodes = static_cast<double>(store.stats().nodes_copied - nodes0) / kIters;
  }
  return best;
}

TEST(Cache, PublishCostDoesNotGrowWithTheStore) {
  const PublishCost small = publish_cost(1'000);
  const PublishCost large = publish_cost(100'000);
  std::printf(
      "publish after a 1-key change: 1k keys %.0f ns, %.2f nodes copied; "
      "100k keys %.0f ns, %.2f nodes copied\n",
      small.ns, small.nodes, large.ns, large.nodes);
  // Copies follow the trie's depth (log32 of the size): one path, 3 or 4 nodes.
  EXPECT_LE(small.nodes, 4.0);
  EXPECT_LE(large.nodes, 5.0);
  EXPECT_GE(large.nodes, 1.0);
  // 100 times the keys; a cost proportional to the size would be 100 times
  // as much. Allow for the deeper path and cache misses.
  EXPECT_LT(large.ns, small.ns * 10) << "publishing cost grew with the store";
}

TEST(Cache, WhatSnapshotsNoLongerReachIsFreed) {
  FakeClock clock;
  CacheStore store(16 << 20, clock.fn());
  for (int i = 0; i < 1000; ++i) store.set("k" + std::to_string(i), "v", 0);
  auto held = store.publish();
  for (int i = 0; i < 100; ++i) store.set("k" + std::to_string(i), "w", 0);
  store.del("k999");
  EXPECT_GE(store.stats().garbage, 101u);  // the old entries and the copied nodes
  auto next = store.publish();
  EXPECT_GE(store.stats().garbage, 101u);  // `held` still reads them
  EXPECT_EQ(held->find("k5", 0)->str(), "v");
  EXPECT_EQ(held->find("k999", 0)->str(), "v");
  held.reset();
  store.set("k1", "x", 0);  // copies a path of `next`
  next = store.publish();
  // Only what `next`'s predecessor alone held is gone; the path copied
  // after it waits for it.
  const uint64_t waiting = store.stats().garbage;
  EXPECT_LE(waiting, 8u);
  next.reset();
  store.set("k2", "x", 0);
  next = store.publish();
  EXPECT_LE(store.stats().garbage, 8u);
  EXPECT_EQ(next->find("k1", 0)->str(), "x");
  EXPECT_EQ(next->find("k500", 0)->str(), "v");
}

// Random operations against a plain model, with snapshots kept and dropped
// at random: every snapshot must keep reading what the store held when it
// was published.
TEST(Cache, RandomOperationsMatchAModel) {
  FakeClock clock;
  CacheStore store(64 << 20, clock.fn());
  std::map<std::string, std::string> model;
  std::vector<std::pair<std::shared_ptr<const CacheSnapshot>, std::map<std::string, std::string>>>
      kept;
  uint64_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(seed >> 33);
  };
  for (int i = 0; i < 40000; ++i) {
    const std::string key = "k" + std::to_string(next() % 3000);
    switch (next() % 4) {
      case 0:
      case 1: {
        const std::string v = std::to_string(next());
        ASSERT_TRUE(store.set(key, v, 0).ok());
        model[key] = v;
        break;
      }
      case 2:
        ASSERT_EQ(store.del(key).value, model.erase(key) ? 1 : 0);
        break;
      case 3: {
        const std::string to = "k" + std::to_string(next() % 3000);
        const auto it = model.find(key);
        ASSERT_EQ(store.rename(key, to).value, it != model.end() ? 1 : 0);
        if (it != model.end() && key != to) {
          model[to] = it->second;
          model.erase(key);
        }
        break;
      }
    }
    if (next() % 200 == 0) {
      kept.emplace_back(store.publish(), model);
      if (kept.size() > 6) kept.erase(kept.begin() + static_cast<ptrdiff_t>(next() % kept.size()));
    }
  }
  ASSERT_EQ(store.stats().keys, model.size());
  for (const auto& [snap, expected] : kept) {
    ASSERT_EQ(snap->keys(), expected.size());
    size_t seen = 0;
    snap->for_each_match("*", 0, [&](const CacheEntry& e) {
      seen++;
      auto it = expected.find(e.key());
      ASSERT_NE(it, expected.end()) << e.key();
      EXPECT_EQ(e.str(), it->second);
    });
    EXPECT_EQ(seen, expected.size());
  }
  for (const auto& [k, v] : model) ASSERT_EQ(store.read(k)->str(), v);
}

TEST(Cache, SnapshotHandleFreesWhatNoWorkerHolds) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheSnapshotHandle handle;
  CacheReader worker(&handle);
  worker.refresh();
  EXPECT_EQ(worker.get(), nullptr);
  store.set("a", "1", 0);
  handle.publish(store.publish());
  worker.refresh();
  ASSERT_NE(worker.get(), nullptr);
  const CacheSnapshot* first = worker.get();
  EXPECT_EQ(first->find("a", 0)->str(), "1");
  store.set("a", "2", 0);
  handle.publish(store.publish());
  EXPECT_EQ(handle.retired(), 1u);  // the worker still reads the first one
  EXPECT_EQ(worker.get()->find("a", 0)->str(), "1");
  handle.publish(store.publish());  // unchanged: nothing new
  EXPECT_EQ(handle.retired(), 1u);
  worker.refresh();
  EXPECT_EQ(worker.get()->find("a", 0)->str(), "2");
  store.set("a", "3", 0);
  handle.publish(store.publish());
  EXPECT_EQ(handle.retired(), 1u);  // the first freed, the second held by the worker
  worker.refresh();
  store.set("a", "4", 0);
  handle.publish(store.publish());
  EXPECT_EQ(handle.retired(), 1u);
}

// A worker VM on its worker: reads from its snapshot, writes queued.
struct WorkerSide {
  FakeClock clock;
  CacheStore store{1 << 20, clock.fn()};
  CacheSnapshotHandle handle;
  CacheReader reader{&handle};
  CacheWriteQueue queue;
  CacheVm vm;
  explicit WorkerSide(uint32_t slots = 64) : queue(slots), vm(worker_access(), "worker0") {}
  CacheAccess worker_access() {
    CacheAccess a;
    a.store = &store;
    a.reader = &reader;
    a.queue = &queue;
    a.on_worker = true;
    return a;
  }
  // What the control loop and the worker's burst boundary do.
  void cycle() {
    store.apply(queue);
    handle.publish(store.publish());
    reader.refresh();
  }
};

TEST(Cache, WorkerReadsItsSnapshotAndQueuesWrites) {
  WorkerSide w;
  w.store.set("seen", "old", 0);
  w.cycle();
  EXPECT_EQ(w.vm.run("return ntop.setCache('seen', 'new'), ntop.getCache('seen'), "
                     "ntop.rpushCache('l', 'x'), ntop.llenCache('l'), ntop.incrCache('n', 5)"),
            "true, \"old\", true, 0, true");
  EXPECT_EQ(w.store.read("seen")->str(), "old");  // not applied yet
  w.cycle();
  EXPECT_EQ(w.vm.run("return ntop.getCache('seen'), ntop.lrangeCache('l', 0, -1), "
                     "ntop.getCache('n'), ntop.getKeysCache('*')"),
            "\"new\", [\"x\"], \"5\", {l=true,n=true,seen=true}");
  // Every write function queues.
  EXPECT_EQ(w.vm.run("return ntop.setnxCache('a', '1'), ntop.delCache('seen'), "
                     "ntop.renameCache('n', 'm'), ntop.setHashCache('h', 'f', 'v'), "
                     "ntop.delHashCache('h', 'g'), ntop.lpushCache('l', 'w'), "
                     "ntop.lremCache('l', 0, 'x'), ntop.ltrimCache('l', 0, 0), "
                     "ntop.setMembersCache('s', 'm'), ntop.delMembersCache('s', 'z'), "
                     "ntop.setPref('p', 'q')"),
            "true, true, true, true, true, true, true, true, true, true, true");
  w.cycle();
  EXPECT_EQ(w.vm.run("return ntop.getCache('a'), ntop.getCache('seen'), ntop.getCache('m'), "
                     "ntop.getHashAllCache('h'), ntop.lrangeCache('l', 0, -1), "
                     "ntop.getMembersCache('s'), ntop.getPref('p')"),
            "\"1\", \"\", \"5\", {f=\"v\"}, [\"w\"], [\"m\"], \"q\"");
  EXPECT_EQ(w.store.stats().queued_applied, 14u);
  // Pops and the control-only functions: nil, one warning per script.
  EXPECT_EQ(w.vm.run("return ntop.lpopCache('l'), ntop.rpopCache('l'), ntop.lpopCache('l'), "
                     "ntop.getCacheStatus(), ntop.getCacheStats(), ntop.getCacheStatus()"),
            "nil, nil, nil, nil, nil, nil");
  EXPECT_EQ(w.vm.log.lines.size(), 4u) << joined(w.vm.log.lines);
  EXPECT_TRUE(w.vm.log.contains("ntop.lpopCache is not served in worker VMs (returned nil)"));
  EXPECT_TRUE(
      w.vm.log.contains("ntop.getCacheStats is not available in worker VMs (returned nil)"));
  EXPECT_EQ(w.store.read("l")->list().size(), 1u);
  // Expiry of snapshot reads follows the worker's packet time.
  w.store.set("t", "v", 10);
  w.cycle();
  w.vm.host->now_ns = kT0 + 9 * kSec;
  EXPECT_EQ(w.vm.run("return ntop.getCache('t')"), "\"v\"");
  w.vm.host->now_ns = kT0 + 10 * kSec;
  EXPECT_EQ(w.vm.run("return ntop.getCache('t')"), "\"\"");
}

TEST(Cache, AWorkerVmLoadingUsesTheStoreDirectly) {
  FakeClock clock;
  CacheStore store(1 << 20, clock.fn());
  CacheAccess a;
  a.store = &store;  // on the control side, but not the control VM
  CacheVm vm(a, "worker0");
  EXPECT_EQ(vm.run("return ntop.setCache('k', 'v'), ntop.getCache('k'), ntop.rpushCache('l', 1), "
                   "ntop.lpopCache('l'), ntop.getCacheStatus()"),
            "true, \"v\", 1, \"1\", nil");
  EXPECT_TRUE(vm.log.contains("ntop.getCacheStatus is not available in worker VMs"));
  // Handed over: the same VM now reads the (empty) snapshot.
  vm.access.on_worker = true;
  EXPECT_EQ(vm.run("return ntop.getCache('k')"), "\"\"");
}

TEST(Cache, FullQueueDropsAndCounts) {
  WorkerSide w(16);  // 16 slots of 128 bytes
  EXPECT_EQ(w.vm.run("local n = 0 for i = 1, 20 do "
                     "if ntop.setCache('k' .. i, 'v') then n = n + 1 end end return n"),
            "16");
  EXPECT_EQ(w.queue.dropped(), 4u);
  EXPECT_EQ(w.store.stats().queued_dropped, 0u);  // known at the next apply
  w.cycle();
  EXPECT_EQ(w.store.stats().queued_dropped, 4u);
  EXPECT_EQ(w.store.stats().queued_applied, 16u);
  EXPECT_EQ(w.vm.run("return ntop.getCache('k16'), ntop.getCache('k17')"), "\"v\", \"\"");
  // Longer than half the ring: refused at once, counted.
  EXPECT_EQ(w.vm.run("return ntop.setCache('big', string.rep('x', 1200)), "
                     "ntop.setCache('ok', string.rep('x', 900))"),
            "false, true");
  EXPECT_EQ(w.queue.too_long(), 1u);
  EXPECT_EQ(w.queue.dropped(), 5u);
}

TEST(Cache, QueuedWritesApplyInOrderAndErrorsAreCounted) {
  WorkerSide w(256);
  w.vm.host->script = -1;
  EXPECT_EQ(
      w.vm.run("ntop.setCache('k', 'a') ntop.rpushCache('l', '1') ntop.setCache('k', 'b') "
               "ntop.rpushCache('l', '2') ntop.incrCache('l') ntop.lpushCache('l', '0') "
               "ntop.setHashCache('k', 'f', 'v') ntop.delCache('k') ntop.setnxCache('k', 'c') "
               "ntop.setCache('x', 'abc') ntop.incrCache('x') return true"),
      "true");
  std::vector<std::string> errors;
  const size_t n = w.store.apply(w.queue, [&](int script, std::string_view msg) {
    errors.push_back(std::to_string(script) + " " + std::string(msg));
  });
  EXPECT_EQ(n, 11u);
  EXPECT_EQ(w.store.read("k")->str(), "c");
  const auto& l = w.store.read("l")->list();
  EXPECT_EQ(std::vector<std::string>(l.begin(), l.end()),
            (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(w.store.stats().apply_errors, 3u);
  EXPECT_EQ(w.store.stats().queued_applied, 8u);
  EXPECT_EQ(joined(errors),
            "-1 ntop.incrCache: key 'l' holds a list, not a string\n"
            "-1 ntop.setHashCache: key 'k' holds a string, not a hash\n"
            "-1 ntop.incrCache: key 'x' holds a string that is not an integer\n");
  // A store full at apply time is an apply error too.
  CacheStore tiny(1 << 20, w.clock.fn());
  CacheWriteQueue q(16384);  // 2 MiB: room for all twelve
  const std::string big(100 * 1024, 'x');
  for (int i = 0; i < 12; ++i) q.push({CacheOp::kSet, 3, "k" + std::to_string(i), big, {}, 0, 0});
  tiny.apply(q);
  EXPECT_EQ(tiny.stats().queued_applied, 10u);
  EXPECT_EQ(tiny.stats().apply_errors, 2u);
  EXPECT_EQ(tiny.stats().refused, 2u);
}

TEST(Cache, QueueWrapsAroundWithRecordsOfEverySize) {
  CacheWriteQueue q(32);
  uint64_t pushed = 0, popped = 0;
  CacheWrite got;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key" + std::to_string(i);
    const std::string value(static_cast<size_t>((i * 37) % 700), static_cast<char>('a' + i % 26));
    if (q.push({CacheOp::kHSet, static_cast<int16_t>(i % 7), key, value, "b", i, -i})) pushed++;
    // Drain every tenth round so that the ring fills up and wraps.
    if (i % 10 == 0) {
      while (q.peek(&got)) {
        const int j = static_cast<int>(got.n1);
        ASSERT_EQ(got.key, "key" + std::to_string(j));
        ASSERT_EQ(got.a.size(), static_cast<size_t>((j * 37) % 700));
        ASSERT_TRUE(got.a.empty() || got.a.front() == static_cast<char>('a' + j % 26));
        ASSERT_EQ(got.b, "b");
        ASSERT_EQ(got.n2, -j);
        ASSERT_EQ(got.script, j % 7);
        ASSERT_EQ(got.op, CacheOp::kHSet);
        q.pop();
        popped++;
      }
    }
  }
  while (q.peek(&got)) {
    q.pop();
    popped++;
  }
  EXPECT_EQ(pushed, popped);
  EXPECT_EQ(pushed + q.dropped(), 2000u);
  EXPECT_GT(q.dropped(), 0u);
  EXPECT_EQ(q.pending(), 0u);
}

}  // namespace
}  // namespace loupe::test
