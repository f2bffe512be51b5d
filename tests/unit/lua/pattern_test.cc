// loupe's pattern matcher (lua/pattern.h, lua/bind_pattern.cc; contract
// §6.1, §6.5, §6.7): the same results and errors as LuaJIT's string.find,
// match, gmatch and gsub, checked case by case against LuaJIT itself in a
// plain VM; the step limit and the subject limit (kind `limit`); a long
// match giving way to the hard stop.
#include "lua/pattern.h"

#include <gtest/gtest.h>

#include <chrono>
#include <lua.hpp>
#include <random>
#include <string>
#include <vector>

#include "lua/watchdog.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------
// The differential test. One driver script runs every case and prints one
// line per call; it runs as a flow script in the sandbox (loupe's functions,
// through `string.*` and through the strings' metatable) and as a plain
// chunk in a VM with LuaJIT's libraries, and the lines must be equal.

struct Case {
  std::string s;
  std::string p;
  int init = 1;
};

// Feature by feature; subjects short enough for one log line per result.
std::vector<Case> fixed_cases() {
  const std::string mixed = "Hello, World! 123\t\n\0\x7f\xff_x-y.z [a] (b) {c} 0xFe"s;
  std::vector<Case> c = {
      // Character classes and their complements.
      {mixed, "%a+"},
      {mixed, "%A+"},
      {mixed, "%c+"},
      {mixed, "%C+"},
      {mixed, "%d+"},
      {mixed, "%D+"},
      {mixed, "%g+"},
      {mixed, "%G+"},
      {mixed, "%l+"},
      {mixed, "%L+"},
      {mixed, "%p+"},
      {mixed, "%P+"},
      {mixed, "%s+"},
      {mixed, "%S+"},
      {mixed, "%u+"},
      {mixed, "%U+"},
      {mixed, "%w+"},
      {mixed, "%W+"},
      {mixed, "%x+"},
      {mixed, "%X+"},
      {mixed, "%z"},
      {mixed, "%Z+"},
      {mixed, "%."},
      {mixed, "%%"},
      {mixed, "%-"},
      {mixed, "%e"},
      {mixed, "%]"},
      {"100%", "%d+%%"},
      {mixed, "."},
      {mixed, ".-%s"},
      // Sets.
      {mixed, "[abc]+"},
      {mixed, "[^abc]+"},
      {mixed, "[a-z]+"},
      {mixed, "[A-Z][a-z]*"},
      {mixed, "[%a_]+"},
      {mixed, "[%d%s]+"},
      {"a]b", "[]]"},
      {"a]b", "[^]]+"},
      {"a-b", "[a-]+"},
      {"a-b", "[-a]+"},
      {"x]y", "[%]]"},
      {"a%b]", "[a-%%]+"},
      {"abc", "[z-a]"},
      {"a-b_c", "[%w-]+"},
      {"a.b", "[.]"},
      {"a.b", "[%.]"},
      {mixed, "[^%s]+"},
      {mixed, "[a-f0-9]+"},
      {mixed, "[%a-]+"},
      {"x^y", "[%^]"},
      {"x^y", "[x^]+"},
      {mixed, "[%W%d]+"},
      {mixed, "[\x7f-\xff]+"},
      {"a-z", "[a%-z]+"},
      {"][", "[][]+"},
      {"a]-b", "[]-a]+"},
      // Anchors.
      {"abcabc", "^abc"},
      {"abcabc", "^b"},
      {"abcabc", "abc$"},
      {"abcabc", "c$"},
      {"", "^$"},
      {"abc", "$"},
      {"a$b", "a$b"},
      {"abc", "^"},
      {"^^a", "^^"},
      {"a^b", "%^"},
      {"x^", "x^"},
      {"abc$", "c%$"},
      {"abc", "^(a)"},
      {"abcabc", "^abc", 2},
      {"abcabc", "abc$", 2},
      {"aaa", "^a*$"},
      // Quantifiers.
      {"aaab", "a*"},
      {"aaab", "a+"},
      {"aaab", "a-"},
      {"aaab", "a?"},
      {"xaaab", ".-b"},
      {"xaaab", ".*b"},
      {"aaab", "a*b"},
      {"aaab", "a-b"},
      {"ababc", "[ab]*c"},
      {"x 12 345", "%d+"},
      {"   x", "%s*"},
      {"abc", "x*"},
      {"aaa", "(a*)"},
      {"abc", "a?b?c?"},
      {"aaa", "a-$"},
      {"<a><b>", "<(.-)>"},
      {"<a><b>", "<(.*)>"},
      {"ab", "a**"},
      {"a+b", "a+%+b"},
      {"a--b", "a%-+b"},
      {"abc", "b?c"},
      // Captures.
      {"ab", "(a)(b)"},
      {"ab", "((a)(b))"},
      {"abc", "()"},
      {"abc", "()a()", 1},
      {"aab c", "(a*(.)%w(%s*))"},
      {"hello", "(h)(e)(l)(l)(o)"},
      {"k=v, x=y", "(%w+)=(%w+)"},
      {"abc", "(b)()"},
      {"abc", "()b()", -2},
      {"  x", "^%s*()"},
      {"abc", "(a)(b)(c)()"},
      // Back-references.
      {"aa", "(a)%1"},
      {"xyyz", "(.)%1"},
      {"say \"hi\" 'x'", "([\"'])(.-)%1"},
      {"the the cat", "(%w+) %1"},
      {"abc", "()%1"},
      {"abc", "%1"},
      {"abc", "(a%1)"},
      {"abc", "%0"},
      {"abab", "(ab)%1"},
      {"abcabc", "(a)(b)(c)%3"},
      {"abcabc", "(a)(b)%3"},
      // Balanced matches.
      {"f(a(b)c) d", "%b()"},
      {"x{a{b}}}", "%b{}"},
      {"a'b'c", "%b''"},
      {"xaybyy", "%bxy"},
      {"abc", "%b"},
      {"abc", "%ba"},
      {"(a)x(b)", "%b()x"},
      {"((", "%b()"},
      {"a)b(", "%b()"},
      // Frontiers.
      {"THE (quick) fox", "%f[%a]%a+"},
      {"THE (quick) fox", "%f[%a]%a+%f[%A]"},
      {"hello world", "%f[%W]"},
      {"x", "%f[%a]"},
      {"ab", "%f[^%z]"},
      {"ab", "%f[%z]"},
      {"abc", "%f"},
      {"abc", "%fx"},
      {"abc", "%f[a"},
      {"aXb", "%f[%u]."},
      // Malformed patterns.
      {"abc", "%"},
      {"abc", "a%"},
      {"abc", "[a"},
      {"abc", "["},
      {"abc", "[^"},
      {"abc", "("},
      {"abc", "a)"},
      {"abc", ")"},
      {"abc", "(()"},
      {"abc", "%9"},
      {"abc", "((("},
      {"abc", "[%"},
      {"abc", "[]"},
      {"abc", "[^]"},
      {"xbc", "x["},
      {"abc", "x["},
      {"abc", "b%"},
      {"abc", "c%b"},
      {std::string(40, 'a'),
       [] {
         std::string p;
         for (int i = 0; i < 33; ++i) p += "(a)";
         return p;
       }()},
      {std::string(40, 'a'),
       [] {
         std::string p;
         for (int i = 0; i < 32; ++i) p += "(a)";
         return p;
       }()},
      {std::string(200, 'a'),
       [] {
         std::string p;
         for (int i = 0; i < 200; ++i) p += "a?";
         return p;
       }()},
      {std::string(199, 'a'),
       [] {
         std::string p;
         for (int i = 0; i < 199; ++i) p += "a?";
         return p;
       }()},
      // init.
      {"abcabc", "b", 2},
      {"abcabc", "b", 3},
      {"abcabc", "b", -1},
      {"abcabc", "b", -3},
      {"abcabc", "b", 0},
      {"abcabc", "b", 100},
      {"abcabc", "b", -100},
      {"abc", "", 4},
      {"abc", "", 5},
      {"abc", "()", 10},
      {"abc", "()", -10},
      {"abc", "$", 2},
      {"abc", "^b", 2},
      {"", "", 1},
      {"", "a*", 1},
      {"", ".", 1},
      // NUL bytes: the pattern ends at its first NUL.
      {"a\0b"s, "a\0b"s},
      {"a\0b"s, "a\0."s},
      {"a\0b"s, "a%z"},
      {"xy", "x\0."s},
      {"x\0."s, "x\0."s},
      {"a\0b"s, "[\0-\x1f]"s},
      {"a\0b"s, "%Z+"},
      {"\0\0"s, "%z+"},
      // Patterns that look plain to string.find.
      {"a)b", ")"},
      {"a]b", "]"},
      {"a}b", "}"},
      {"a b", " "},
      // Longer subjects.
      {"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", "Host: (%S+)"},
      {"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", "^(%u+) (%S+) HTTP/(%d)%.(%d)"},
      {"key1=val1; key2=val2; key3=val3", "(%w+)=(%w+)"},
      {"2024-06-07T12:34:56Z", "(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)"},
      {"a.b.c.d", "[^.]+"},
      {"one two  three", "%S+"},
      {"x=1,y=22,z=333", "(%a)=(%d+)"},
  };
  return c;
}

// Random patterns and subjects over a small alphabet, so that they match
// often; at most three repetitions per pattern so that LuaJIT's own run
// stays short. Malformed tokens come in too.
std::vector<Case> random_cases(uint32_t seed, int count) {
  std::mt19937 rng(seed);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const std::string alphabet = "aab1 (_)%.A-x\0\n\xff]"s;
  const std::vector<std::string> atoms = {
      "a",  "b",  "x",  "1",    " ",      "(",     "]",   ".",    "%a",     "%d",   "%s",
      "%w", "%p", "%x", "%u",   "%l",     "%c",    "%g",  "%A",   "%S",     "%W",   "%z",
      "%.", "%%", "%(", "[ab]", "[^a-c]", "[%d_]", "[]]", "[a-]", "[%a%-]", "[^%s]"};
  const std::vector<std::string> others = {"(",    ")",      "()",     "%1", "%2", "%bab",
                                           "%b()", "%f[%w]", "%f[^a]", "$",  "^",  "%",
                                           "[a",   "%f",     "%b",     ")"};
  std::vector<Case> out;
  for (int i = 0; i < count; ++i) {
    Case c;
    const int len = pick(17);
    for (int j = 0; j < len; ++j) c.s += alphabet[pick(static_cast<int>(alphabet.size()))];
    const int items = 1 + pick(7);
    int reps = 0;
    if (pick(5) == 0) c.p += "^";
    for (int j = 0; j < items; ++j) {
      if (pick(4) == 0) {
        c.p += others[pick(static_cast<int>(others.size()))];
        continue;
      }
      c.p += atoms[pick(static_cast<int>(atoms.size()))];
      if (reps < 3 && pick(2) == 0) {
        c.p += "*+-?"[pick(4)];
        ++reps;
      }
    }
    c.init = pick(4) == 0 ? pick(41) - 20 : 1;
    out.push_back(std::move(c));
  }
  return out;
}

// Calls with arguments of their own (gsub replacements and counts, odd
// init and count values, bad arguments), as Lua source: `fn`, then the
// argument list.
struct Call {
  const char* fn;
  const char* args;
};
constexpr Call kCalls[] = {
    {"gsub", R"~("hello world", "o", "0", 1)~"},
    {"gsub", R"~("hello world", "(o)", "%1%1", 1)~"},
    {"gsub", R"~("abc", "%w", "%0%0")~"},
    {"gsub", R"~("abc", "", "-")~"},
    {"gsub", R"~("abc", "b", "%")~"},
    {"gsub", R"~("abc", "b", "%x")~"},
    {"gsub", R"~("abc", "b", "%%")~"},
    {"gsub", R"~("abc", "(b)", "%2")~"},
    {"gsub", R"~("abc", "b", "%1")~"},
    {"gsub", R"~("abc", "()", "%1")~"},
    {"gsub", R"~("abc", "(b", "x")~"},
    {"gsub", R"~("abc", "(b", "%1")~"},
    {"gsub", R"~("abc", "(b", {})~"},
    {"gsub", R"~("abc", "b", 5)~"},
    {"gsub", R"~("abc", "b", 1.5)~"},
    {"gsub", R"~("abc", "b", {b = true})~"},
    {"gsub", R"~("abc", "b", {b = {}})~"},
    {"gsub", R"~("abc", "b", {b = 1.5})~"},
    {"gsub", R"~("abc", "b", {b = false})~"},
    {"gsub", R"~("abc", ".", "x", -1)~"},
    {"gsub", R"~("abc", ".", "x", 0)~"},
    {"gsub", R"~("abc", ".", "x", 2.5)~"},
    {"gsub", R"~("abc", ".", "x", 2^31 + 1)~"},
    {"gsub", R"~("abc", ".", "x", 2^32 + 1)~"},
    {"gsub", R"~("abc", ".", "x", 2^64 + 1)~"},
    {"gsub", R"~("abc", ".", "x", 1/0)~"},
    {"gsub", R"~("abc", ".", "x", 0/0)~"},
    {"gsub", R"~("abc", ".", "x", "2")~"},
    {"gsub", R"~("abc", ".", "x", "z")~"},
    {"gsub", R"~("abc", ".", "x", false)~"},
    {"gsub", R"~("abc", ".", "x", nil)~"},
    {"gsub", R"~("abc", "b")~"},
    {"gsub", R"~("abc", "b", nil)~"},
    {"gsub", R"~("abc", "b", true)~"},
    {"gsub", R"~("abc", "b", true, "z")~"},
    {"gsub", R"~({}, "b", true, "z")~"},
    {"find", R"~("abc", {}, "z")~"},
    {"gmatch", R"~({}, {})~"},
    {"gsub", R"~(12345, 3, 9)~"},
    {"gsub", R"~("abc", "(b)()", function(x, y) return y end)~"},
    {"gsub", R"~("abc", "(b)", function(x) return nil end)~"},
    {"gsub", R"~("abc", "(b)", function(x) return false end)~"},
    {"gsub", R"~("abc", "(b)", function(x) return {} end)~"},
    {"gsub", R"~("abc", ".", function() error("boom") end)~"},
    {"gsub", R"~("abc", ".", function(c) return c:upper() .. c:find(".") end)~"},
    {"gsub", R"~("a,b,,c", ",", ";", 2)~"},
    {"gsub", R"~("abc", "x*", "-", 0)~"},
    {"gsub", R"~("abc", "^a*", "-")~"},
    {"gsub", R"~("abc", "^", "-")~"},
    {"gsub", R"~("abc", "$", "-")~"},
    {"gsub", R"~("a$c", "$c", "-")~"},
    {"gsub", R"~("abc", "%w*", "x")~"},
    {"gsub", R"~("hello world from Lua", "(%w+)%s*(%w+)", "%2 %1")~"},
    {"gsub", R"~("$name is $age", "%$(%w+)", {name = "Bob", age = 42})~"},
    {"gsub", R"~("abc", "", "%0")~"},
    {"gsub", R"~("x = 1", "%s*=%s*", "=")~"},
    {"find", R"~("abc", "a", 2^32 + 2)~"},
    {"find", R"~("abc", "a", 2^31 + 2)~"},
    {"find", R"~("abc", "a", 2^31 - 1)~"},
    {"find", R"~("abc", "c", -2^31)~"},
    {"find", R"~("abc", "a", 2^63)~"},
    {"find", R"~("abc", "a", 0/0)~"},
    {"find", R"~("abc", "a", 1/0)~"},
    {"find", R"~("abc", "a", -1/0)~"},
    {"find", R"~("abc", "a", -2.5)~"},
    {"find", R"~("abc", "c", -1.5)~"},
    {"find", R"~("abc", "b", 2.7)~"},
    {"find", R"~("abc", "b", "2")~"},
    {"find", R"~("abc", "b", "0x2")~"},
    {"find", R"~("abc", "b", " 2 ")~"},
    {"find", R"~("abc", "b", "z")~"},
    {"find", R"~("abc", "b", {})~"},
    {"find", R"~("abc", "b", true)~"},
    {"find", R"~("abc", "b", nil)~"},
    {"find", R"~("a.c", ".", 1, "x")~"},
    {"find", R"~("a.c", ".", 1, nil)~"},
    {"find", R"~("a.c", ".", 1, false)~"},
    {"find", R"~("a.c", ".", 1, 0)~"},
    {"find", R"~("abc", "%b()", 1, true)~"},
    {"find", R"~("a(b", "(", 1, true)~"},
    {"find", R"~("abc", "", 10, true)~"},
    {"find", R"~(123, 2)~"},
    {"find", R"~(nil, "a")~"},
    {"find", R"~("a", nil)~"},
    {"find", R"~("a", {})~"},
    {"find", R"~()~"},
    {"match", R"~("abc", "()", -1)~"},
    {"match", R"~("abc", "()", 0)~"},
    {"match", R"~("abc", "()", 5)~"},
    {"match", R"~("abc", "", 10)~"},
    {"match", R"~("abc", ")")~"},
    {"match", R"~("abc", "%")~"},
    {"match", R"~("abc")~"},
    {"match", R"~(12.5, "%d+")~"},
    {"gmatch", R"~("abc")~"},
    {"gmatch", R"~(nil, "a")~"},
};

std::string lua_literal(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 32 && c < 127 && c != '"' && c != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\%03u", c);
      out += buf;
    }
  }
  return out + "\"";
}

// The driver: a flow script whose protocolDetected hook runs everything.
// `method` also calls through the strings' metatable (s:find(p)).
std::string driver(const std::vector<Case>& cases) {
  std::string src = "local cases = {\n";
  for (const Case& c : cases) {
    src +=
        "{" + lua_literal(c.s) + ", " + lua_literal(c.p) + ", " + std::to_string(c.init) + "},\n";
  }
  src += "}\nlocal calls = {\n";
  for (const Call& c : kCalls)
    src += "{'" + std::string(c.fn) + "', function(f) return f(" + c.args + ") end},\n";
  src += R"~(}
local function esc(v)
  if type(v) ~= 'string' then return tostring(v) end
  local out = {}
  for i = 1, #v do
    local b = v:byte(i)
    out[i] = (b < 32 or b > 126 or b == 92 or b == 34) and ('\\' .. b) or string.char(b)
  end
  return '"' .. table.concat(out) .. '"'
end
local function pack(...) return {n = select('#', ...), ...} end
local function show(r)
  local out = {}
  for i = 1, r.n do out[i] = esc(r[i]) end
  return table.concat(out, ',')
end
-- Not a tail call, so that an error carries this line's position.
local function call(f, ...) local r = pack(f(...)) return r end
local function try(f, ...)
  local r = pack(pcall(call, f, ...))
  if not r[1] then return 'error: ' .. esc(r[2]) end
  return show(r[2])
end
local function collect(it)
  local out = {}
  while #out < 100 do
    local r = pack(it())
    if r.n == 0 or r[1] == nil then break end
    out[#out + 1] = show(r)
  end
  return table.concat(out, '|')
end
local tbl = {a = 'A', b = 7, ab = '<ab>', [1] = 'first', [3] = 'third', x = false}
local function fn(...)
  local n = select('#', ...)
  local a = ...
  if a == 'b' then return nil end
  return '<' .. n .. ':' .. tostring(a) .. '>'
end
local function run()
  for i, c in ipairs(cases) do
    local s, p, init = c[1], c[2], c[3]
    print(i .. ' find ' .. try(string.find, s, p, init))
    print(i .. ' :find ' .. try(function() return s:find(p, init) end))
    print(i .. ' plain ' .. try(string.find, s, p, init, true))
    print(i .. ' match ' .. try(string.match, s, p, init))
    print(i .. ' :match ' .. try(function() return s:match(p, init) end))
    print(i .. ' gmatch ' .. try(function() return collect(string.gmatch(s, p)) end))
    print(i .. ' :gmatch ' .. try(function() return collect(s:gmatch(p)) end))
    print(i .. ' gsub ' .. try(string.gsub, s, p, '<%0>'))
    print(i .. ' gsub1 ' .. try(string.gsub, s, p, '[%1]', 3))
    print(i .. ' gsubt ' .. try(string.gsub, s, p, tbl))
    print(i .. ' gsubf ' .. try(string.gsub, s, p, fn))
    print(i .. ' :gsub ' .. try(function() return s:gsub(p, '%%', init) end))
  end
  for i, c in ipairs(calls) do
    print('call ' .. i .. ' ' .. c[1] .. ' ' .. try(c[2], string[c[1]]))
  end
end
return {hooks = {protocolDetected = function() run() end}}
)~";
  return src;
}

int collect_print(lua_State* L) {
  auto* lines = static_cast<std::vector<std::string>*>(lua_touserdata(L, lua_upvalueindex(1)));
  std::string line;
  for (int i = 1; i <= lua_gettop(L); ++i) {
    size_t n = 0;
    const char* s = lua_tolstring(L, i, &n);
    if (i > 1) line += '\t';
    line.append(s, n);
  }
  lines->push_back(std::move(line));
  return 0;
}

// The same driver with LuaJIT's own library, JIT off as in loupe's VMs.
std::vector<std::string> run_plain(const std::string& src) {
  std::vector<std::string> lines;
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  lua_pushlightuserdata(L, &lines);
  lua_pushcclosure(L, collect_print, 1);
  lua_setglobal(L, "print");
  if (luaL_loadbuffer(L, src.data(), src.size(), "@flow/diff.lua") != 0 ||
      lua_pcall(L, 0, 1, 0) != 0) {
    ADD_FAILURE() << lua_tostring(L, -1);
  } else {
    lua_getfield(L, -1, "hooks");
    lua_getfield(L, -1, "protocolDetected");
    if (lua_pcall(L, 0, 0, 0) != 0) ADD_FAILURE() << lua_tostring(L, -1);
  }
  lua_close(L);
  return lines;
}

std::vector<std::string> run_sandboxed(const std::string& src) {
  LuaConfig cfg;
  cfg.log.lines_per_minute = 10'000'000;
  Harness h(Files{{"flow/diff.lua", src}}, cfg);
  EXPECT_TRUE(h.ok()) << h.errors();
  if (!h.ok()) return {};
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  for (int k = 0; k < kErrorKinds; ++k) EXPECT_EQ(h.ws->stats(0).errors[k].get(), 0u) << k;
  return h.log.of("flow/diff");
}

void expect_same(const std::vector<Case>& cases) {
  const std::string src = driver(cases);
  const auto theirs = run_plain(src);
  const auto ours = run_sandboxed(src);
  const size_t per_case = 12;
  ASSERT_EQ(theirs.size(), cases.size() * per_case + std::size(kCalls));
  ASSERT_EQ(ours.size(), theirs.size());
  int shown = 0;
  for (size_t i = 0; i < ours.size() && shown < 20; ++i) {
    if (ours[i] == theirs[i]) continue;
    ++shown;
    std::string what;
    if (i / per_case < cases.size()) {
      const Case& c = cases[i / per_case];
      what = "s=" + lua_literal(c.s) + " p=" + lua_literal(c.p) + " init=" + std::to_string(c.init);
    }
    ADD_FAILURE() << what << "\n  loupe:  " << ours[i] << "\n  LuaJIT: " << theirs[i];
  }
}

TEST(PatternDiff, FixedCasesMatchLuaJIT) {
  const auto cases = fixed_cases();
  ASSERT_GE(cases.size(), 150u);
  expect_same(cases);
}

TEST(PatternDiff, RandomCasesMatchLuaJIT) { expect_same(random_cases(20240607, 2000)); }

TEST(PatternDiff, EveryByteInEveryClassAndRange) {
  std::vector<Case> cases;
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (const char* cls : {"a", "c", "d", "g", "l", "p", "s", "u", "w", "x", "z", "A", "C", "D",
                          "G", "L", "P", "S", "U", "W", "X", "Z", "e", "q", "y", "B", "F"}) {
    const std::string p = std::string("%") + cls;
    if (p == "%B" || p == "%F") continue;  // %b and %f are items of their own
    cases.push_back({all, p + "+"});
    cases.push_back({all, "[" + p + "]+"});
    cases.push_back({all, "[^" + p + "]+"});
  }
  // Ranges across the 64-bit words of a set, and at their ends.
  for (const std::string set : {"[0-~]", "[\x01-\xfe]", "[?-A]", "[\x7f-\x80]", "[\xbf-\xc0]",
                                "[^\x40-\x7f]", "[\x3f-\x3f]", "[\xff-\xff]", "[\x01-\x3f]",
                                "[a-\xff]", "[%d-z]", "[--/]", "[%a-%z]", "[^a-zA-Z0-9]"}) {
    cases.push_back({all, set + "+"});
    cases.push_back({all, set + "*"});
  }
  expect_same(cases);
}

// ---------------------------------------------------------------------------
// Limits.

std::string hook(const std::string& body) {
  return "return {hooks = {protocolDetected = function()\n" + body + "\nend}}";
}

constexpr const char* kOther =
    "return {hooks = {protocolDetected = function() n = (n or 0) + 1 print('other', n) end}}";

TEST(PatternLimits, APathologicalPatternRaisesLimitQuickly) {
  Harness h(Files{{"flow/a_bad.lua", hook("local s = string.rep('a', 2048)\n"
                                          "string.find(s, string.rep('a*', 30) .. 'b')")},
                  {"flow/b_other.lua", kOther}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  const auto t0 = std::chrono::steady_clock::now();
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(us, 100'000);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kLimit)].get(), 1u);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kRuntime)].get(), 0u);
  EXPECT_TRUE(
      h.log.contains("flow/a_bad.lua:3: string.find: pattern step limit exceeded "
                     "(1,032,768 steps for a 2,048-byte subject)"))
      << joined(h.log.lines);
  EXPECT_EQ(h.ws->suspended(), 0u);  // an ordinary error: no suspension
  // The worker goes on: the other script ran, and runs again.
  h.ws->on_protocol_detected(2, f.view(), kNow);
  EXPECT_EQ(h.log.of("flow/b_other"), (std::vector<std::string>{"other\t1", "other\t2"}));
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kLimit)].get(), 2u);
}

TEST(PatternLimits, EveryFunctionAndTheMethodFormCountSteps) {
  // ".-.-b": quadratic per start position, cubic in all.
  Harness h(
      Files{{"flow/t.lua", hook("local s = string.rep('a', 2000)\n"
                                "for _, f in ipairs{\n"
                                "  function() local r = string.find(s, '.-.-b') return r end,\n"
                                "  function() local r = s:find('.-.-b') return r end,\n"
                                "  function() local r = s:match('.-.-b') return r end,\n"
                                "  function() local r = s:gsub('.-.-b', '') return r end,\n"
                                "  function() for x in s:gmatch('.-.-b') do end end} do\n"
                                "  print(select(2, pcall(f)))\n"
                                "end")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  const auto t0 = std::chrono::steady_clock::now();
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(ms, 500);
  const std::string tail = "pattern step limit exceeded (1,032,000 steps for a 2,000-byte subject)";
  EXPECT_EQ(h.log.of("flow/t"),
            (std::vector<std::string>{
                "flow/t.lua:4: string.find: " + tail, "flow/t.lua:5: string.find: " + tail,
                "flow/t.lua:6: string.match: " + tail, "flow/t.lua:7: string.gsub: " + tail,
                "flow/t.lua:8: string.gmatch: " + tail}));
  // Caught by the script: not counted.
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kLimit)].get(), 0u);
}

TEST(PatternLimits, ASubjectOverOneMiBRaisesLimit) {
  Harness h(
      Files{{"flow/t.lua", hook("local big = string.rep('a', 1048577)\n"
                                "local ok = string.rep('a', 1048576)\n"
                                "print(ok:find('a$'), #ok:gsub('a', 'b'))\n"
                                "for _, f in ipairs{\n"
                                "  function() local r = big:find('a', 1, true) return r end,\n"
                                "  function() local r = string.match(big, 'b') return r end,\n"
                                "  function() local r = big:gmatch('a') return r end,\n"
                                "  function() local r = big:gsub('a', 'b') return r end} do\n"
                                "  print(select(2, pcall(f)))\n"
                                "end\n"
                                "big:find('x')")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const std::string tail = "pattern subject of 1,048,577 bytes is longer than 1 MiB (limit)";
  auto lines = h.log.of("flow/t");
  ASSERT_EQ(lines.size(), 6u) << joined(lines);
  lines.pop_back();  // the uncaught one, below
  EXPECT_EQ(lines,
            (std::vector<std::string>{"1048576\t1048576", "flow/t.lua:6: string.find: " + tail,
                                      "flow/t.lua:7: string.match: " + tail,
                                      "flow/t.lua:8: string.gmatch: " + tail,
                                      "flow/t.lua:9: string.gsub: " + tail}));
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kLimit)].get(), 1u);
  EXPECT_TRUE(h.log.contains("flow/t.lua:12: string.find: " + tail));
}

TEST(PatternLimits, TheScriptsOwnStringTableCannotBypassTheMatcher) {
  // A script that replaces its string.find changes only its own copy; the
  // method form still reaches loupe's functions.
  Harness h(
      Files{{"flow/t.lua",
             hook("string.find = function() return 'mine' end\n"
                  "print(string.find('a', 'a'), ('a'):find('a'))\n"
                  "print(pcall(function() local r = string.rep('a', 2048):match(string.rep('a*', "
                  "30) .. 'b') return r end))")}});
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const auto lines = h.log.of("flow/t");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "mine\t1\t1");
  EXPECT_NE(lines[1].find("false\tflow/t.lua:4: string.match: pattern step limit exceeded"),
            std::string::npos)
      << lines[1];
}

TEST(PatternLimits, ALongMatchGivesWayToTheHardStop) {
  // 17.7 million steps on a 1 MiB subject take far longer than 2 ms: the
  // watchdog's stop reaches the matcher at one of its 4,096-step polls.
  LuaConfig cfg;
  cfg.budget.hard_worker_ms = 2;
  Harness h(Files{{"flow/a_slow.lua",
                   hook("local s = string.rep('a', 1048576)\n"
                        "print(pcall(function() local r = string.find(s, '.-.-b') return r end))")},
                  {"flow/b_other.lua", kOther}},
            cfg);
  ASSERT_TRUE(h.ok()) << h.errors();
  h.ws->bind_thread();
  Watchdog dog;
  dog.watch(h.ws->watch(), cfg.budget.hard_worker_ms);
  dog.start();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kHardStop)].get(), 1u);
  EXPECT_EQ(h.ws->stats(0).errors[static_cast<int>(ErrorKind::kLimit)].get(), 0u);
  EXPECT_TRUE(h.log.contains("flow/a_slow.lua:3: call stopped after 2 ms of CPU time"))
      << joined(h.log.lines);
  for (const std::string& l : h.log.of("flow/a_slow")) {  // pcall did not return
    EXPECT_NE(l.rfind("true", 0), 0u) << l;
    EXPECT_NE(l.rfind("false", 0), 0u) << l;
  }
  EXPECT_EQ(h.ws->suspended(), 1u);
  EXPECT_EQ(h.log.of("flow/b_other"), (std::vector<std::string>{"other\t1"}));
  EXPECT_EQ(dog.stalls(), 0u);
}

TEST(PatternLimits, ALongMatchWhileLoadingStopsAtTheLoadLimit) {
  // Loads have no watchdog: the matcher's poll reads the load's CPU deadline.
  LuaConfig cfg;
  cfg.budget.load_ms = 5;
  const auto r =
      build_set(Files{{"flow/slow.lua", "string.find(string.rep('a', 1048576), '.-.-b')"}}, cfg);
  EXPECT_EQ(r.generation, nullptr);
  EXPECT_EQ(joined(r.errors),
            "flow/slow.lua: load stopped after 5 ms of CPU time (lua.budget.load_ms)\n");
}

// ---------------------------------------------------------------------------
// The engine-neutral matcher on its own.

struct Compiled {
  alignas(8) unsigned char mem[4096];
  const pattern::Program* prog;
  explicit Compiled(std::string_view p) {
    EXPECT_LE(pattern::compiled_size(p), sizeof(mem));
    prog = pattern::compile(p, mem);
  }
};

TEST(PatternMatcher, ReportsCapturesAsOffsets) {
  Compiled c("(%w+)=()(%d*)");
  pattern::Matcher m(*c.prog, "  key=42;", {});
  size_t b = 0, e = 0;
  ASSERT_EQ(m.search(0, false, &b, &e), pattern::Status::kMatch);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(e, 8u);
  ASSERT_EQ(m.capture_count(), 3);
  EXPECT_EQ(m.capture(0).start, 2u);
  EXPECT_EQ(m.capture(0).len, 3);
  EXPECT_EQ(m.capture(1).start, 6u);
  EXPECT_EQ(m.capture(1).len, pattern::Capture::kPosition);
  EXPECT_EQ(m.capture(2).len, 2);
}

TEST(PatternMatcher, CountsStepsAndStopsAtTheLimit) {
  Compiled c("a*a*a*b");
  const std::string s(200, 'a');
  pattern::Limits l;
  l.max_steps = 10'000;
  pattern::Matcher m(*c.prog, s, l);
  size_t b = 0, e = 0;
  EXPECT_EQ(m.search(0, false, &b, &e), pattern::Status::kStepLimit);
  EXPECT_GT(m.steps(), 10'000u);
  EXPECT_LT(m.steps(), 10'000u + 300u);
}

TEST(PatternMatcher, PollsEveryFourThousandSteps) {
  Compiled c(".-.-b");
  const std::string s(4000, 'a');
  int polls = 0;
  pattern::Limits l;
  l.max_steps = pattern::step_limit(s.size());
  l.poll_ctx = &polls;
  l.poll = [](void* ctx) { return ++*static_cast<int*>(ctx) == 3; };
  pattern::Matcher m(*c.prog, s, l);
  size_t b = 0, e = 0;
  EXPECT_EQ(m.search(0, false, &b, &e), pattern::Status::kInterrupted);
  EXPECT_EQ(polls, 3);
  EXPECT_GE(m.steps(), 3 * pattern::kPollSteps);
  EXPECT_LT(m.steps(), 4 * pattern::kPollSteps);
}

TEST(PatternMatcher, MalformedItemsFailOnlyWhenReached) {
  Compiled c("x[");
  pattern::Matcher m(*c.prog, "abc", {});
  size_t b = 0, e = 0;
  EXPECT_EQ(m.search(0, false, &b, &e), pattern::Status::kNoMatch);
  pattern::Matcher m2(*c.prog, "axc", {});
  EXPECT_EQ(m2.search(0, false, &b, &e), pattern::Status::kMissingBracket);
}

}  // namespace
}  // namespace loupe::test
