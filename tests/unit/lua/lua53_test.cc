// Lua 5.3 code on LuaJIT (contract §9.3): the translator's output for each
// precedence level, text it must leave alone, line numbers, its syntax
// errors; the run-time helpers' errors and limits in the sandbox; and the
// oracle test, which runs tests/data/lua53_cases.lua under Debian's lua5.3
// and in loupe's sandbox and compares the printed lines.
#include "lua/lua53.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "build_info.h"
#include "tests/unit/lua/lua_test_util.h"

namespace loupe::test {
namespace {

using Status = Lua53Translation::Status;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Expected texts are written as `__band(a , b)`; the translator puts each
// helper call in one more pair of parentheses, `(__band(a , b))`, which
// this adds.
std::string wrapped(std::string_view want) {
  std::string out;
  std::vector<bool> helper;  // per open parenthesis: a helper call's
  for (size_t i = 0; i < want.size(); ++i) {
    if (want.compare(i, 2, "__") == 0) {
      const size_t open = want.find('(', i);
      out += "(" + std::string(want.substr(i, open - i + 1));
      helper.push_back(true);
      i = open;
    } else if (want[i] == '(') {
      out += '(';
      helper.push_back(false);
    } else if (want[i] == ')') {
      out += helper.back() ? "))" : ")";
      helper.pop_back();
    } else {
      out += want[i];
    }
  }
  return out;
}

// The translation of `src`, without the prefix that binds the helpers.
std::string body(std::string_view src) {
  const Lua53Translation t = translate_lua53(src, "t.lua");
  EXPECT_EQ(t.status, Status::kTranslated) << src << "\n" << t.error;
  const size_t at = t.text.find("; ");
  EXPECT_EQ(t.text.rfind("local __", 0), 0u) << t.text;
  return at == std::string::npos ? t.text : t.text.substr(at + 2);
}

TEST(Lua53Translator, FollowsTheLua53PrecedenceTable) {
  const std::pair<const char*, const char*> cases[] = {
      {"x = a & b", "x = __band(a , b)"},
      {"x = a&b", "x = __band(a,b)"},
      {"x = a | b & c", "x = __bor(a , __band(b , c))"},
      {"x = a & b | c", "x = __bor(__band(a , b) , c)"},
      {"x = a | b ~ c", "x = __bor(a , __bxor(b , c))"},
      {"x = a ~ b & c", "x = __bxor(a , __band(b , c))"},
      {"x = a & b << c", "x = __band(a , __shl(b , c))"},
      {"x = a >> b & c", "x = __band(__shr(a , b) , c)"},
      {"x = a << b .. c", "x = __shl(a , b .. c)"},
      {"x = a .. b << c", "x = __shl(a .. b , c)"},
      {"x = a << b + c", "x = __shl(a , b + c)"},
      {"x = a + b // c", "x = a + __idiv(b , c)"},
      {"x = a // b * c", "x = __idiv(a , b) * c"},
      {"x = a * b // c", "x = __idiv(a * b , c)"},
      {"x = a // b ^ c", "x = __idiv(a , b ^ c)"},
      {"x = -a // b", "x = __idiv(-a , b)"},
      {"x = ~a + b", "x = __bnot(a) + b"},
      {"x = ~a ^ b", "x = __bnot(a ^ b)"},
      {"x = ~~a", "x = __bnot(__bnot(a))"},
      {"x = - ~a", "x = - __bnot(a)"},
      {"x = not a & b", "x = __band(not a , b)"},
      {"x = #a << 1", "x = __shl(#a , 1)"},
      {"x = a < b | c", "x = a < __bor(b , c)"},
      {"x = a ~= b ~ c", "x = a ~= __bxor(b , c)"},
      {"x = a or b & c and d", "x = a or __band(b , c) and d"},
      {"x = a ~ b ~ c", "x = __bxor(__bxor(a , b) , c)"},
      {"x = a << b >> c", "x = __shr(__shl(a , b) , c)"},
      {"x = a // b // c", "x = __idiv(__idiv(a , b) , c)"},
      {"x = (a | b) & c", "x = __band((__bor(a , b)) , c)"},
      {"x = f(a)[1].b:c(d) & 1", "x = __band(f(a)[1].b:c(d) , 1)"},
      {"x = {a & b, [c | d] = e // f; g = ~h}",
       "x = {__band(a , b), [__bor(c , d)] = __idiv(e , f); g = __bnot(h)}"},
      {"f(a >> 1, function(x) return x ~ 1 end)",
       "f(__shr(a , 1), function(x) return __bxor(x , 1) end)"},
      {"for i = a & 1, b | 2 do end", "for i = __band(a , 1), __bor(b , 2) do end"},
      {"repeat local y = a until y // 2", "repeat local y = a until __idiv(y , 2)"},
      {"return f{a & 1}:g'x' << 1", "return __shl(f{__band(a , 1)}:g'x' , 1)"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(body(in), wrapped(want)) << in;
}

TEST(Lua53Translator, BindsOnlyTheHelpersItUses) {
  const Lua53Translation t = translate_lua53("-- c\nx = a // b | c", "t.lua");
  ASSERT_EQ(t.status, Status::kTranslated);
  EXPECT_EQ(t.text, "-- c\nlocal __bor,__idiv=__bor,__idiv; x = (__bor((__idiv(a , b)) , c))");
}

TEST(Lua53Translator, LeavesStringsAndCommentsAlone) {
  const std::string src =
      "x = \"a & b\" .. 'c | d' .. [[e ~ f]] .. [==[ ]] << ]=] >> ]==] -- g // h\n"
      "--[[ i & j\n k ~ l ]] y = \"\\\"& \\\\\" .. 'it\\'s | ~' .. \"\\z\n   ~\" .. '\\\n|'\n"
      "--[=[ ]] ~ ]=] z = 1 & 2";
  const std::string want =
      "x = \"a & b\" .. 'c | d' .. [[e ~ f]] .. [==[ ]] << ]=] >> ]==] -- g // h\n"
      "--[[ i & j\n k ~ l ]] y = \"\\\"& \\\\\" .. 'it\\'s | ~' .. \"\\z\n   ~\" .. '\\\n|'\n"
      "--[=[ ]] ~ ]=] z = (__band(1 , 2))";
  EXPECT_EQ(body(src), want);
}

TEST(Lua53Translator, FilesWithoutNewOperatorsComeOutUnchanged) {
  const char* sources[] = {
      "x = a ~= b; y = a / b; z = a < b and a > c",
      "s = 'http://example.com/a//b' -- a & b, c | d, e << f\n--[[ ~x ]] t = [==[ >> ]==]",
      "#!/usr/bin/lua\nx = 1 ~= 2",
      "goto done\n::done::\nlocal f = function(...) return select('#', ...) end",
      "y = 'unfinished\nx = 1 & 2",  // LuaJIT reports this file's error better
      "",
  };
  for (const char* src : sources) {
    const Lua53Translation t = translate_lua53(src, "t.lua");
    EXPECT_EQ(t.status, Status::kUnchanged) << src;
    EXPECT_TRUE(t.text.empty());
  }
  EXPECT_FALSE(lua53_needs_translation(sources[1]));
  EXPECT_TRUE(lua53_needs_translation("x = a // b"));
  EXPECT_TRUE(lua53_needs_translation("x = ~a"));
}

TEST(Lua53Translator, ShippedScriptsNeedNoTranslation) {
  const std::string dir = std::string(LOUPE_SOURCE_ROOT) + "/scripts/flow";
  std::vector<std::string> sources;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".lua") continue;
    sources.push_back(read_file(e.path()));
    const Lua53Translation t = translate_lua53(sources.back(), e.path().string());
    EXPECT_EQ(t.status, Status::kUnchanged) << e.path();
  }
  ASSERT_FALSE(sources.empty());
  // What the loader pays per file and VM: reported, not asserted.
  size_t bytes = 0;
  for (const std::string& s : sources) bytes += s.size();
  constexpr int kRounds = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  size_t unchanged = 0;
  for (int r = 0; r < kRounds; ++r) {
    for (const std::string& s : sources) {
      unchanged += translate_lua53(s, "x").status == Status::kUnchanged;
    }
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
      (static_cast<double>(kRounds) * static_cast<double>(sources.size()));
  EXPECT_EQ(unchanged, kRounds * sources.size());
  std::cout << "translation of a shipped flow script: " << ns << " ns per file (" << sources.size()
            << " files, " << bytes << " bytes)\n";
}

TEST(Lua53Translator, KeepsEveryTokenOnItsLine) {
  const std::string src = "x = a\n  & b\n  | c\ny = ~\nd // (e\n<< f)\n";
  const std::string out = body(src);
  EXPECT_EQ(
      out,
      wrapped("x = __bor(__band(a\n  , b)\n  , c)\ny = __idiv(__bnot(\nd) , (__shl(e\n, f)))\n"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), std::count(src.begin(), src.end(), '\n'));
}

TEST(Lua53Translator, ReportsSyntaxErrorsInLuasWords) {
  const std::pair<const char*, const char*> cases[] = {
      {"x = a &\n\nend", "t.lua:3: unexpected symbol near 'end'"},
      {"x = a & b\nif x then\n", "t.lua:3: 'end' expected (to close 'if' at line 2) near <eof>"},
      {"x = a & b\nf(\n1 2)", "t.lua:3: ')' expected (to close '(' at line 2) near '2'"},
      {"x = 1 & 2\ny = 'abc\n", "t.lua:2: unfinished string near ''abc'"},
      {"x = 1 & 2\n--[[ never\nclosed",
       "t.lua:3: unfinished long comment (starting at line 2) near <eof>"},
      {"x = 1 & 2\ny = [==x", "t.lua:2: invalid long string delimiter near '[=='"},
      {"x = 1 | 2 y", "t.lua:1: syntax error near <eof>"},
      {"for a & b do end", "t.lua:1: '=' or 'in' expected near '&'"},
      {"x = a // b\nlocal function (x) end", "t.lua:2: <name> expected near '('"},
  };
  for (const auto& [in, want] : cases) {
    const Lua53Translation t = translate_lua53(in, "t.lua");
    EXPECT_EQ(t.status, Status::kError) << in;
    EXPECT_EQ(t.error, want) << in;
  }
}

// --- In the sandbox -----------------------------------------------------------

// The lines a protocolDetected hook with `body` prints, and its harness.
struct HookRun {
  std::unique_ptr<Harness> h;
  std::vector<std::string> lines;
  explicit HookRun(const std::string& hook_body, const std::string& top = "") {
    Files files{{"flow/t.lua",
                 top + "return {hooks = {protocolDetected = function()\n" + hook_body + "\nend}}"}};
    h = std::make_unique<Harness>(files);
    EXPECT_TRUE(h->ok()) << h->errors();
    if (!h->ok()) return;
    TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
    h->ws->on_protocol_detected(1, f.view(), kNow);
    lines = h->log.of("flow/t");
  }
  uint64_t errors(ErrorKind k) const { return h->ws->stats(0).errors[static_cast<int>(k)].get(); }
};

TEST(Lua53Sandbox, ErrorsNameTheUsersLine) {
  // A runtime error after multi-line 5.3 expressions, and one LuaJIT's
  // loader finds in translated text.
  Harness h(Files{{"flow/t.lua",
                   "local m = 0xF0\n  | 0x0F\n  & (1 << 3)\nlocal d = 7 // 2\n"
                   "error('boom ' .. m .. ' ' .. d)\nreturn {}"}});
  EXPECT_NE(h.errors().find("flow/t.lua:5: boom 248 3"), std::string::npos) << h.errors();
  Harness g(Files{{"flow/t.lua", "local m = 1 ~ 2\n\ngoto nowhere\nreturn {}"}});
  EXPECT_NE(g.errors().find("flow/t.lua:3:"), std::string::npos) << g.errors();
  Harness s(Files{{"flow/t.lua", "local m = 1 ~ 2\nlocal x = = 1\nreturn {}"}});
  EXPECT_NE(s.errors().find("flow/t.lua:2: unexpected symbol near '='"), std::string::npos)
      << s.errors();
}

TEST(Lua53Sandbox, OperandErrorsAreRuntimeErrorsAtTheLine) {
  HookRun r(
      "print(select(2, pcall(function() return 1.5 & 1 end)))\n"
      "print(select(2, pcall(function() return {} | 1 end)))\n"
      "print(select(2, pcall(function() return 7 // 0 end)))\n"
      "local x = 2 ^ 63\nprint(select(2, pcall(function() return x >> 1 end)))\n"
      "print(2 ^ 60 & 0xFF, -2 ^ 63 >> 63, 2 ^ 53 + 2 & 2)");
  ASSERT_EQ(r.lines.size(), 5u);
  EXPECT_EQ(r.lines[0], "flow/t.lua:2: number has no integer representation");
  EXPECT_EQ(r.lines[1], "flow/t.lua:3: attempt to perform bitwise operation on a table value");
  EXPECT_EQ(r.lines[2], "flow/t.lua:4: attempt to divide by zero");
  EXPECT_EQ(r.lines[3], "flow/t.lua:6: number has no integer representation");
  EXPECT_EQ(r.lines[4], "0\t1\t2") << "operands may go beyond 2^53, up to the int64 range";
}

TEST(Lua53Sandbox, ResultsBeyond2To53AreLimitErrors) {
  const char* exprs[] = {"1 << 62",
                         "-1 >> 1",
                         "~0 ~ (1 << 63)",
                         "1 << 63",
                         "1 << 54",
                         "-1 << 54",
                         "string.unpack('<j', ('\\255'):rep(7) .. '\\127')",
                         "string.pack('j', 2 ^ 53 + 2)"};
  for (const char* e : exprs) {
    HookRun r(std::string("print(pcall(function() local v = ") + e + " return v end))");
    ASSERT_EQ(r.lines.size(), 1u) << e;
    EXPECT_NE(r.lines[0].find("false\tflow/t.lua:2: lua53: result of "), std::string::npos)
        << e << ": " << r.lines[0];
    EXPECT_NE(r.lines[0].find(" exceeds 2^53 and cannot be represented on LuaJIT"),
              std::string::npos)
        << e;
  }
  HookRun edge(
      "print(string.format('%d %d %d %d', 1 << 53, -1 << 53, -1 >> 11, ~(-1 >> 11)))\n"
      "print(pcall(function() return (1 << 53) | 1 end))");
  ASSERT_EQ(edge.lines.size(), 2u);
  EXPECT_EQ(edge.lines[0], "9007199254740992 -9007199254740992 9007199254740991 -9007199254740992");
  EXPECT_EQ(edge.lines[1],
            "false\tflow/t.lua:3: lua53: result of | exceeds 2^53 and cannot be "
            "represented on LuaJIT");
  // Uncaught, the error counts as kind limit.
  HookRun uncaught("local x = 1 << 60");
  EXPECT_EQ(uncaught.errors(ErrorKind::kLimit), 1u);
  EXPECT_EQ(uncaught.errors(ErrorKind::kRuntime), 0u);
}

TEST(Lua53Sandbox, IntegerRangeAndHelpersInEveryEnvironment) {
  Files files{{"flow/t.lua",
               "local m = require('m53')\nreturn {hooks = {protocolDetected = "
               "function()\nprint(('%d %d'):format(math.maxinteger, math.mininteger), "
               "math.type(math.maxinteger + 1))\nprint(type(utf8), "
               "('<i2'):unpack('\\1\\0'))\nprint(m.f(6))\nend}}"},
              {"lib/m53.lua", "return { f = function(x) return x // 4, x << 2, ~x end }"}};
  Harness h(files);
  ASSERT_TRUE(h.ok()) << h.errors();
  TestFlow f("10.0.0.1", 1000, "10.0.0.2", 80);
  h.ws->on_protocol_detected(1, f.view(), kNow);
  const auto lines = h.log.of("flow/t");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "9007199254740991 -9007199254740992\tinteger");
  EXPECT_EQ(lines[1], "table\t1\t3");
  EXPECT_EQ(lines[2], "1\t24\t-7");
}

// --- The oracle ----------------------------------------------------------------

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

TEST(Lua53Oracle, SameLinesAsDebiansLua53) {
  const std::string path = std::string(LOUPE_SOURCE_ROOT) + "/tests/data/lua53_cases.lua";
  if (std::system("command -v lua5.3 >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "lua5.3 is not installed (Debian package lua5.3): oracle not run";
  }
  std::string expected;
  {
    FILE* p = popen(("lua5.3 '" + path + "' 2>&1").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) expected.append(buf, n);
    ASSERT_EQ(pclose(p), 0) << expected;
  }
  const std::vector<std::string> want = split_lines(expected);
  ASSERT_GT(want.size(), 100u);

  LuaConfig cfg;
  cfg.log.lines_per_minute = 100000;
  Files files{{"flow/lua53_cases.lua", read_file(path) + "\nreturn {}"}};
  KeptLog log;
  const GenerationResult res = build_set(files, cfg, {}, &log);
  ASSERT_TRUE(res.errors.empty()) << joined(res.errors);
  std::vector<std::string> got = log.of("flow/lua53_cases");
  // The check VM runs the file once; keep its lines only.
  got.resize(std::min(got.size(), want.size()));
  ASSERT_EQ(got.size(), want.size()) << joined(got);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "case line " << i + 1;
}

}  // namespace
}  // namespace loupe::test
