// ArkimeData (contract §5.7): byte search, the glob matcher (against a
// reference matcher on random cases), PCRE2 with the JIT and with the
// interpreter (results, captures, the §6.7 limits, memory from the given
// allocator); then every function and method through Lua, borrowed objects
// going stale when their callback ends, argument errors and their kinds,
// and the table in real scripts' environments. Last, strings given to
// load/loadstring get Lua 5.3 operators translated (§9.3).
#include "lua/arkime_data.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <lua.hpp>
#include <random>
#include <string>
#include <vector>

#include "lua/script_host.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

using namespace std::string_literals;
using arkime::GlobStatus;
using arkime::PcreStatus;

// ---------------------------------------------------------------------------
// Plain bytes.

TEST(ArkimeBytes, FindsTheFirstOccurrence) {
  EXPECT_EQ(arkime::find_bytes("hello world", "o"), 4u);
  EXPECT_EQ(arkime::find_bytes("hello world", "world"), 6u);
  EXPECT_EQ(arkime::find_bytes("hello world", "hello world"), 0u);
  EXPECT_EQ(arkime::find_bytes("hello world", "worlds"), arkime::npos);
  EXPECT_EQ(arkime::find_bytes("abc", "abcd"), arkime::npos);  // longer than the haystack
  EXPECT_EQ(arkime::find_bytes("abc", ""), 0u);                // empty needle: at 0
  EXPECT_EQ(arkime::find_bytes("", ""), 0u);
  EXPECT_EQ(arkime::find_bytes("", "a"), arkime::npos);
  // Binary data: NULs are bytes like any other.
  const std::string bin = "a\0b\0c\xff\0"s;
  EXPECT_EQ(arkime::find_bytes(bin, "\0c"s), 3u);
  EXPECT_EQ(arkime::find_bytes(bin, "\xff\0"s), 5u);
  EXPECT_EQ(arkime::find_bytes(bin, "\0\0"s), arkime::npos);
}

// ---------------------------------------------------------------------------
// Globs.

GlobStatus glob(std::string_view g, std::string_view d) {
  return arkime::glob_match(g, d, nullptr, nullptr);
}

TEST(ArkimeGlob, StarQuestionMarkAndLiterals) {
  const struct {
    std::string g, d;
    bool match;
  } cases[] = {
      {"", "", true},
      {"", "a", false},
      {"*", "", true},
      {"*", "anything at all", true},
      {"**", "x", true},
      {"?", "", false},
      {"?", "a", true},
      {"?", "ab", false},
      {"??", "ab", true},
      {"abc", "abc", true},
      {"abc", "abd", false},
      {"abc", "abcd", false},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"a*c", "ac", true},
      {"a*c", "abbbc", true},
      {"a*c", "abbbcd", false},
      {"a*a", "a", false},  // head and tail may not overlap
      {"a*a", "aa", true},
      {"*.example.com", "www.example.com", true},
      {"*.example.com", "example.com", false},
      {"*.example.com", "www.example.com.evil", false},
      {"GET /*", "GET /index.html", true},
      {"*ab*ab*", "abab", true},
      {"*ab*ab*", "aab", false},
      {"*a?c*", "xxabc", true},
      {"*a?c*", "xxac", false},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "aXcYb", false},
      {"a*?", "a", false},
      {"a*?", "ab", true},
      {"*?*?*", "a", false},
      {"*?*?*", "ab", true},
      // Everything other than * and ? is literal: no sets, no escapes.
      {"[ab]", "a", false},
      {"[ab]", "[ab]", true},
      {"\\*", "\\x", true},
      {"\\*", "*", false},
      // Bytes, NUL included.
      {"a\0*"s, "a\0zz"s, true},
      {"*\0"s, "abc"s, false},
      {"?\xff"s, "\x01\xff"s, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(glob(c.g, c.d), c.match ? GlobStatus::kMatch : GlobStatus::kNoMatch)
        << "glob '" << c.g << "' data '" << c.d << "'";
  }
}

// Reference: the obvious dynamic programme over (glob position, data position).
bool reference_glob(const std::string& g, const std::string& d) {
  std::vector<std::vector<char>> m(g.size() + 1, std::vector<char>(d.size() + 1, 0));
  m[g.size()][d.size()] = 1;
  for (size_t i = g.size(); i-- > 0;) {
    for (size_t j = d.size() + 1; j-- > 0;) {
      if (g[i] == '*') {
        m[i][j] = m[i + 1][j] || (j < d.size() && m[i][j + 1]);
      } else {
        m[i][j] = j < d.size() && (g[i] == '?' || g[i] == d[j]) && m[i + 1][j + 1];
      }
    }
  }
  return m[0][0] != 0;
}

TEST(ArkimeGlob, AgreesWithAReferenceMatcherOnRandomCases) {
  std::mt19937 rng(20261107);
  const char galpha[] = "ab*?";
  const char dalpha[] = "ab";
  int matches = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string g, d;
    const int gl = static_cast<int>(rng() % 8), dl = static_cast<int>(rng() % 10);
    for (int i = 0; i < gl; ++i) g += galpha[rng() % 4];
    for (int i = 0; i < dl; ++i) d += dalpha[rng() % 2];
    const bool want = reference_glob(g, d);
    matches += want;
    ASSERT_EQ(glob(g, d) == GlobStatus::kMatch, want) << "glob '" << g << "' data '" << d << "'";
  }
  EXPECT_GT(matches, 1000);  // both outcomes are well represented
  EXPECT_LT(matches, 19000);
}

TEST(ArkimeGlob, LongSearchesOfferToStop) {
  // A piece with '?' is compared at every position: 1 MiB of 'a' never holds
  // "a?b", so the search runs to the end unless the poll stops it.
  const std::string data(1 << 20, 'a');
  int polls = 0;
  auto never = [](void* n) {
    ++*static_cast<int*>(n);
    return false;
  };
  EXPECT_EQ(arkime::glob_match("*a?b*", data, never, &polls), GlobStatus::kNoMatch);
  EXPECT_GT(polls, 10);
  auto at_once = [](void*) { return true; };
  EXPECT_EQ(arkime::glob_match("*a?b*", data, at_once, nullptr), GlobStatus::kInterrupted);
  // Literal pieces are searched with memmem and never poll.
  polls = 0;
  EXPECT_EQ(arkime::glob_match("*ab*", data, never, &polls), GlobStatus::kNoMatch);
  EXPECT_EQ(polls, 0);
}

// ---------------------------------------------------------------------------
// PCRE2, once with the JIT and once with the interpreter.

// Counts what PCRE2 takes from the allocator it is given.
struct CountingMemory {
  int64_t blocks = 0;
  int64_t total = 0;
  static void* alloc(size_t n, void* ctx) {
    auto* self = static_cast<CountingMemory*>(ctx);
    ++self->blocks;
    ++self->total;
    return std::malloc(n);
  }
  static void free(void* p, void* ctx) {
    if (p != nullptr) --static_cast<CountingMemory*>(ctx)->blocks;
    std::free(p);
  }
  arkime::PcreMemory memory() { return {alloc, free, this}; }
};

class ArkimePcre : public ::testing::TestWithParam<bool> {
 protected:
  CountingMemory mem;
  std::unique_ptr<arkime::PcreContext> ctx =
      std::make_unique<arkime::PcreContext>(mem.memory(), GetParam());

  // The match's groups as "whole|g1|g2", "-" for an unset group; or the status.
  std::string run(const std::string& pattern, const std::string& subject) {
    arkime::Pcre re;
    char why[160];
    if (!re.compile(*ctx, pattern, why)) return std::string("compile: ") + why;
    const PcreStatus st = re.match(*ctx, subject);
    if (st == PcreStatus::kNoMatch) return "no match";
    if (st != PcreStatus::kMatch) return "status " + std::to_string(static_cast<int>(st));
    std::string out;
    for (uint32_t i = 0; i <= re.groups(); ++i) {
      size_t b = 0, e = 0;
      out += i ? "|" : "";
      out += re.group(i, &b, &e) ? subject.substr(b, e - b) : "-";
    }
    return out;
  }
};

TEST_P(ArkimePcre, MatchesAndCaptures) {
  ASSERT_TRUE(ctx->ok());
  EXPECT_EQ(run("a+b", "xxaab"), "aab");
  EXPECT_EQ(run("a+b", "xxaa"), "no match");
  EXPECT_EQ(run("(\\d+)-(\\d+)", "port 80-443 open"), "80-443|80|443");
  EXPECT_EQ(run("(a)|(b)", "b"), "b|-|b");   // group 1 unset
  EXPECT_EQ(run("(x)(y)?", "xz"), "x|x|-");  // a trailing unset group
  EXPECT_EQ(run("(?i)host: (\\S+)", "HOST: example.org\r\n"), "HOST: example.org|example.org");
  EXPECT_EQ(run("^GET ", "POST /"), "no match");
  EXPECT_EQ(run("", "abc"), "");
  // Bytes: no UTF mode, NULs and high bytes in subject and pattern.
  EXPECT_EQ(run("\\xff\\x00(.)", "a\xff\0zq"s), "\xff\0z|z"s);
  EXPECT_EQ(run("^.$", "\xc3\xa9"), "no match");  // two bytes, not one character
  EXPECT_EQ(run("ab)", "ab"), "compile: unmatched closing parenthesis at offset 2");
  EXPECT_EQ(run("a(b", "ab"), "compile: missing closing parenthesis at offset 3");
  EXPECT_EQ(run("(*UTF)a", "a"), "compile: using UTF is disabled by the application at offset 6");
}

TEST_P(ArkimePcre, UsesTheJitOnlyWhenAsked) {
  arkime::Pcre re;
  char why[160];
  ASSERT_TRUE(re.compile(*ctx, "a+b", why)) << why;
  if (GetParam()) {
    EXPECT_GT(re.jit_size(), 0u);
  } else {
    EXPECT_EQ(re.jit_size(), 0u);
  }
}

TEST_P(ArkimePcre, CatastrophicBacktrackingStopsAtTheMatchLimit) {
  const std::string subject = std::string(30, 'a') + "b";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(run("(a+)+$", subject), "status " + std::to_string(int(PcreStatus::kMatchLimit)));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(ms, 500);  // about 2 ms with the JIT, 15 ms without
}

TEST_P(ArkimePcre, DeepBacktrackingStopsAtTheDepthOrStackLimit) {
  const std::string subject(100000, 'a');
  const PcreStatus want = GetParam() ? PcreStatus::kJitStackLimit : PcreStatus::kDepthLimit;
  EXPECT_EQ(run("(a|b)*$", subject), "status " + std::to_string(static_cast<int>(want)));
  // The same pattern on a short subject is fine.
  EXPECT_EQ(run("(a|b)*$", "abab"), "abab|b");
}

TEST_P(ArkimePcre, TakesMemoryFromTheGivenAllocatorAndGivesItBack) {
  {
    arkime::Pcre re;
    char why[160];
    ASSERT_TRUE(re.compile(*ctx, "(\\w+)@(\\w+)\\.com", why));
    EXPECT_EQ(re.match(*ctx, "mail bob@example.com"), PcreStatus::kMatch);
    EXPECT_GE(mem.blocks, 5);  // three contexts, the code, the match data
  }
  ctx.reset();
  EXPECT_EQ(mem.blocks, 0);
  EXPECT_GE(mem.total, 5);
}

INSTANTIATE_TEST_SUITE_P(JitAndInterpreter, ArkimePcre, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Jit" : "Interpreter"; });

// ---------------------------------------------------------------------------
// Through Lua: one VM with the sandbox, chunks run in one environment (so
// that globals kept by one chunk are there for the next).

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
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, idx, &n);
      std::string out = "\"";
      for (size_t i = 0; i < n; ++i) {
        if (s[i] == '\0') {
          out += "\\0";
        } else {
          out += s[i];
        }
      }
      return out + "\"";
    }
    default:
      return luaL_typename(L, idx);
  }
}

struct DataVm {
  KeptLog log;
  Generation gen;
  std::unique_ptr<ScriptHost> host;
  int env = LUA_NOREF;
  ErrorKind kind = ErrorKind::kNone;  // of the last error

  DataVm() {
    host = std::make_unique<ScriptHost>("worker0", gen, &log);
    push_env(*host, -1, true);
    env = luaL_ref(host->L(), LUA_REGISTRYINDEX);
  }
  lua_State* L() const { return host->L(); }

  // Compiles `src` in the environment and leaves the function pushed.
  bool push_chunk(const std::string& src) {
    lua_rawgeti(L(), LUA_REGISTRYINDEX, env);
    std::string err;
    const bool ok = compile_script(*host, -1, src, "t.lua", &err);
    EXPECT_TRUE(ok) << err;
    lua_remove(L(), ok ? -2 : -1);
    return ok;
  }

  // Calls the function below `nargs` arguments; its results joined by
  // ", ", or "error: ...".
  std::string call(int nargs, int base) {
    host->pending = ErrorKind::kNone;
    host->vm.begin_call();
    const int rc = lua_pcall(L(), nargs, LUA_MULTRET, 0);
    host->vm.end_call();
    std::string out;
    if (rc != 0) {
      kind = host->pending == ErrorKind::kNone ? ErrorKind::kRuntime : host->pending;
      out = std::string("error: ") + (lua_tostring(L(), -1) ? lua_tostring(L(), -1) : "?");
    } else {
      kind = ErrorKind::kNone;
      for (int i = base + 1; i <= lua_gettop(L()); ++i) {
        out += (i > base + 1 ? ", " : "") + render(L(), i);
      }
    }
    lua_settop(L(), base);
    return out;
  }

  std::string run(const std::string& src) {
    const int base = lua_gettop(L());
    if (!push_chunk(src)) return "syntax";
    return call(0, base);
  }

  // Runs `src` as a callback given one borrowed object over `bytes` (as
  // `...`), then ends the callback as the engine does.
  std::string callback(const std::string& src, std::string_view bytes, bool end = true) {
    const int base = lua_gettop(L());
    if (!push_chunk(src)) return "syntax";
    ArkimeDataVm* vm = arkime_data_vm(L());
    push_borrowed_data(L(), vm, bytes.data(), bytes.size());
    std::string out = call(1, base);
    if (end) end_borrowed_data(vm);
    return out;
  }
};

TEST(ArkimeDataLua, Constructors) {
  DataVm vm;
  EXPECT_EQ(vm.run("local d = ArkimeData.new('abc') return type(d), d:get(), tostring(d)"),
            "\"userdata\", \"abc\", \"abc\"");
  EXPECT_EQ(vm.run("return ArkimeData.new(12):get(), ArkimeData.new(''):get()"), "\"12\", \"\"");
  EXPECT_EQ(vm.run("return ArkimeData.new('a\\0b'):get()"), "\"a\\0b\"");
  EXPECT_EQ(vm.run("return getmetatable(ArkimeData.new('x')), "
                   "getmetatable(ArkimeData.pcre_create('x')), "
                   "getmetatable(ArkimeData.pattern_create('x'))"),
            "\"locked\", \"locked\", \"locked\"");
  // The old name is the same API.
  EXPECT_EQ(vm.run("return MolochData.new('m'):memmem('m')"), "true, 0");
  // Compiled patterns are cached per VM by their text.
  EXPECT_EQ(
      vm.run("return rawequal(ArkimeData.pcre_create('a(b)'), ArkimeData.pcre_create('a(b)')),"
             " rawequal(ArkimeData.pcre_create('a'), ArkimeData.pcre_create('b'))"),
      "true, false");
}

TEST(ArkimeDataLua, Methods) {
  DataVm vm;
  vm.run("d = ArkimeData.new('GET /index.html HTTP/1.1\\r\\nHost: example.org\\r\\n')");
  EXPECT_EQ(vm.run("return d:memmem('Host')"), "true, 26");
  EXPECT_EQ(vm.run("return d:memmem('host')"), "false");
  EXPECT_EQ(vm.run("return d:memmem('')"), "true, 0");
  EXPECT_EQ(vm.run("return d:memmem('GET')"), "true, 0");
  EXPECT_EQ(vm.run("return d:memmem('\\r\\n')"), "true, 24");
  EXPECT_EQ(vm.run("return ArkimeData.new('ab'):memmem('abc')"), "false");
  EXPECT_EQ(vm.run("return ArkimeData.new(''):memmem('')"), "true, 0");
  EXPECT_EQ(vm.run("return ArkimeData.new(''):memmem('a')"), "false");
  EXPECT_EQ(vm.run("return ArkimeData.new('a\\0b\\0c'):memmem('\\0c')"), "true, 3");
  EXPECT_EQ(vm.run("local re = ArkimeData.pcre_create('Host: (\\\\S+)') "
                   "return d:pcre_ismatch(re), d:pcre_match(re)"),
            "true, true, \"Host: example.org\", \"example.org\"");
  EXPECT_EQ(vm.run("local re = ArkimeData.pcre_create('^(POST|PUT) ') "
                   "return d:pcre_ismatch(re), d:pcre_match(re)"),
            "false, false");
  EXPECT_EQ(vm.run("return d:pcre_match(ArkimeData.pcre_create('(?i)(get) (x)?(/\\\\w+)'))"),
            "true, \"GET /index\", \"GET\", nil, \"/index\"");
  EXPECT_EQ(vm.run("local p = ArkimeData.pattern_create('GET *HTTP/1.?*') "
                   "local q = ArkimeData.pattern_create('GET *') "
                   "local r = ArkimeData.pattern_create('*example.org') "
                   "return d:pattern_ismatch(p), d:pattern_ismatch(q), d:pattern_ismatch(r)"),
            "true, true, false");
  EXPECT_EQ(vm.run("local c = d:copy() return rawequal(c, d), c:get() == d:get()"), "false, true");
  EXPECT_EQ(vm.kind, ErrorKind::kNone);
}

TEST(ArkimeDataLua, ThePcreJitIsUsed) {
  DataVm vm;
  ASSERT_TRUE(vm.push_chunk("return ArkimeData.pcre_create('a+b')"));
  ASSERT_EQ(lua_pcall(vm.L(), 0, 1, 0), 0);
  const arkime::Pcre* re = to_arkime_pcre(vm.L(), -1);
  ASSERT_NE(re, nullptr);
  EXPECT_GT(re->jit_size(), 0u);
  lua_pop(vm.L(), 1);
  lua_pushstring(vm.L(), "a+b");
  EXPECT_EQ(to_arkime_pcre(vm.L(), -1), nullptr);
  lua_pop(vm.L(), 1);
}

TEST(ArkimeDataLua, ErrorsAndTheirKinds) {
  DataVm vm;
  EXPECT_EQ(vm.run("local r = ArkimeData.pcre_create('a(b')"),
            "error: t.lua:1: ArkimeData.pcre_create: missing closing parenthesis at offset 3");
  EXPECT_EQ(vm.kind, ErrorKind::kApi);
  EXPECT_EQ(vm.run("local r = ArkimeData.new()"),
            "error: t.lua:1: ArkimeData.new: bad argument #1 'str' (string expected, got nil)");
  EXPECT_EQ(vm.kind, ErrorKind::kApi);
  EXPECT_EQ(vm.run("local r = ArkimeData.pattern_create({})"),
            "error: t.lua:1: ArkimeData.pattern_create: bad argument #1 'glob' (string expected, "
            "got table)");
  EXPECT_EQ(vm.run("local d = ArkimeData.new('x')\nlocal r = d:memmem({})"),
            "error: t.lua:2: data:memmem: bad argument #1 'needle' (string expected, got table)");
  EXPECT_EQ(vm.run("local d = ArkimeData.new('x')\n"
                   "local r = d:pattern_ismatch(ArkimeData.pcre_create('x'))"),
            "error: t.lua:2: data:pattern_ismatch: bad argument #1 'pattern' (ArkimePattern "
            "expected, got ArkimePcre)");
  EXPECT_EQ(vm.kind, ErrorKind::kApi);
  EXPECT_EQ(vm.run("local r = ArkimeData.new('x'):pcre_match(ArkimeData.pattern_create('x'))"),
            "error: t.lua:1: data:pcre_match: bad argument #1 'pcre' (ArkimePcre expected, got "
            "ArkimePattern)");
  EXPECT_EQ(vm.run("local r = ArkimeData.new('x'):pcre_ismatch()"),
            "error: t.lua:1: data:pcre_ismatch: bad argument #1 'pcre' (ArkimePcre expected, got "
            "nil)");
  EXPECT_EQ(vm.run("local d = ArkimeData.new('x') local r = d.get(ArkimeData.pcre_create('x'))"),
            "error: t.lua:1: data:get: bad self (ArkimeData expected, got ArkimePcre)");
  EXPECT_EQ(vm.run("local d = ArkimeData.new('x') d.y = 1"),
            "error: t.lua:1: attempt to index local 'd' (a userdata value)");
}

TEST(ArkimeDataLua, CatastrophicPatternsEndWithALimitError) {
  DataVm vm;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(vm.run("local d = ArkimeData.new(string.rep('a', 30) .. 'b')\n"
                   "local r = d:pcre_ismatch(ArkimeData.pcre_create('(a+)+$'))"),
            "error: t.lua:2: data:pcre_ismatch: PCRE2 match limit exceeded (1,000,000)");
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(vm.kind, ErrorKind::kLimit);
  EXPECT_LT(ms, 500);
  EXPECT_EQ(vm.run("local d = ArkimeData.new(string.rep('a', 100000))\n"
                   "local r = d:pcre_match(ArkimeData.pcre_create('(a|b)*$'))"),
            "error: t.lua:2: data:pcre_match: PCRE2 JIT stack limit exceeded");
  EXPECT_EQ(vm.kind, ErrorKind::kLimit);
  // A script may catch them, as any error that is not a hard stop or memory
  // (called by pcall itself, the method has no Lua caller to name).
  EXPECT_EQ(vm.run("local d = ArkimeData.new(string.rep('a', 30) .. 'b')\n"
                   "return pcall(d.pcre_match, d, ArkimeData.pcre_create('(a+)+$'))"),
            "false, \"data:pcre_match: PCRE2 match limit exceeded (1,000,000)\"");
}

TEST(ArkimeDataLua, BorrowedObjectsGoStaleWhenTheirCallbackEnds) {
  DataVm vm;
  std::string wire = "HTTP/1.1 200 OK";
  // During the callback: the object reads the engine's bytes in place.
  EXPECT_EQ(vm.callback("local d = ... kept = d kept_copy = d:copy() kept_text = d:get()\n"
                        "return d:get(), tostring(d), d:memmem('200')",
                        wire, false),
            "\"HTTP/1.1 200 OK\", \"HTTP/1.1 200 OK\", true, 9");
  wire[9] = '4';  // not copied: a change shows through while still valid
  EXPECT_EQ(vm.run("return kept:get()"), "\"HTTP/1.1 400 OK\"");
  end_borrowed_data(arkime_data_vm(vm.L()));
  // After it: every use of the kept object raises the contract's error.
  const std::string stale =
      "ArkimeData: object used after its callback returned; keep data:copy() or data:get()";
  for (const char* use : {"kept:get()", "kept:copy()", "kept:memmem('x')", "tostring(kept)",
                          "kept:pcre_ismatch(ArkimeData.pcre_create('x'))",
                          "kept:pcre_match(ArkimeData.pcre_create('x'))",
                          "kept:pattern_ismatch(ArkimeData.pattern_create('x'))"}) {
    EXPECT_EQ(vm.run(std::string("\nlocal r = ") + use), "error: t.lua:2: " + stale) << use;
    EXPECT_EQ(vm.kind, ErrorKind::kApi) << use;
  }
  // What was copied or turned into a string stays.
  EXPECT_EQ(vm.run("return kept_copy:get(), kept_text"),
            "\"HTTP/1.1 200 OK\", \"HTTP/1.1 200 OK\"");
  // A later callback's objects are valid during it, and the old one is still not.
  EXPECT_EQ(vm.callback("local d = ... return d:get(), pcall(kept.get, kept)", "next"),
            "\"next\", false, \"" + stale + "\"");
}

TEST(ArkimeDataLua, OwnedBytesCountAgainstTheVm) {
  DataVm vm;
  vm.run("collectgarbage('count')");
  const uint64_t before = vm.host->vm.used();
  // string.rep's own 1 MiB string is garbage after the call, the copy is kept.
  vm.run("big = ArkimeData.new(string.rep('x', 1048576))");
  EXPECT_GE(vm.host->vm.used(), before + (1u << 20));
  EXPECT_EQ(vm.run("return #big:get()"), "1048576");
}

TEST(ArkimeDataLua, CompiledPatternsLiveInTheVmAndAreCollected) {
  DataVm vm;
  vm.host->vm.full_collect();
  const uint64_t before = vm.host->vm.used();
  // PCRE2's memory comes from the VM's allocator: 200 patterns kept.
  vm.run(
      "kept = {} for i = 1, 200 do "
      "kept[i] = ArkimeData.pcre_create(string.rep('(a|b)', 20) .. i) end");
  const uint64_t held = vm.host->vm.used();
  EXPECT_GT(held, before + 200 * 1000);
  // Dropped, they are collected (the cache holds them weakly) and freed.
  vm.run("kept = nil");
  vm.host->vm.full_collect();
  vm.host->vm.full_collect();
  EXPECT_LT(vm.host->vm.used(), before + (held - before) / 10);
  // And compiled again on demand.
  EXPECT_EQ(vm.run("return ArkimeData.new('ab1'):pcre_ismatch(ArkimeData.pcre_create("
                   "string.rep('(a|b)', 20) .. 1))"),
            "false");
  EXPECT_EQ(vm.run("return ArkimeData.new('ab1'):pcre_ismatch(ArkimeData.pcre_create('b1'))"),
            "true");
}

TEST(ArkimeDataLua, EveryScriptHasItsOwnCopy) {
  Harness h(Files{{"flow/a.lua",
                   "ArkimeData.new = nil\n"
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(ArkimeData.new, ArkimeData.pcre_create ~= nil)\n"
                   "end}}"},
                  {"flow/b.lua",
                   "local re = ArkimeData.pcre_create('^(\\\\w+)')\n"
                   "return {hooks = {protocolDetected = function()\n"
                   "  print(ArkimeData.new('hello world'):pcre_match(re))\n"
                   "end}}"}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(joined(h.log.of("flow/a")), "nil\ttrue\n");
  EXPECT_EQ(joined(h.log.of("flow/b")), "true\thello\thello\n");
}

// ---------------------------------------------------------------------------
// load and loadstring translate Lua 5.3 operators (§9.3), like files.

TEST(LoadLua53, StringsGivenToLoadAreTranslated) {
  DataVm vm;
  EXPECT_EQ(vm.run("return load('return 5 & 3')(), loadstring('return 1 << 4 | 1')(), "
                   "load('return 7 // 2')()"),
            "1, 17, 3");
  // The helpers come with the chunk, whatever its environment holds.
  EXPECT_EQ(vm.run("return load('return x ~ 1', 'c', 't', {x = 4})()"), "5");
  EXPECT_EQ(vm.run("__band = nil return load('return 6 & 3')()"), "2");
  // Arguments and line numbers are the chunk's own.
  EXPECT_EQ(vm.run("return load('local a, b = ... return a | b')(8, 1)"), "9");
  EXPECT_EQ(vm.run("return pcall(load('local a = 1 & 1\\n\\nerror(\"here\")', '=chunk'))"),
            "false, \"chunk:3: here\"");
  // Text without 5.3 operators compiles as written.
  EXPECT_EQ(vm.run("return load('return ...')(4, 5)"), "4, 5");
}

TEST(LoadLua53, TranslationErrorsAreReturnedLikeSyntaxErrors) {
  DataVm vm;
  EXPECT_EQ(vm.run("return load('x = 1 & (2')"),
            "nil, \"[string \"x = 1 & (2\"]:1: ')' expected near <eof>\"");
  EXPECT_EQ(vm.run("return select('#', loadstring('return 1 &', '=named'))"), "2");
  const std::string n = vm.run("return select(2, loadstring('return 1 &', '=named'))");
  EXPECT_EQ(n.rfind("\"named:1: ", 0), 0u) << n;
  EXPECT_EQ(vm.kind, ErrorKind::kNone);
}

}  // namespace
}  // namespace loupe::test
