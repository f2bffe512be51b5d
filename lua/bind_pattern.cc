// The sandbox's string.find, match, gmatch and gsub (contract §6.1, §6.5,
// §6.7): the Lua glue of lua/pattern.h. Arguments, results and error
// messages are LuaJIT's (its lib_string.c, Lua 5.1 semantics, `%g` and
// `%f` included); on top, a subject longer than 1 MiB or a match past its
// step budget raises an error of kind `limit`, and a pending hard stop is
// honoured every 4,096 steps.
#include <string.h>

#include <algorithm>
#include <cstring>
#include <lua.hpp>

#include "lua/pattern.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

using pattern::Capture;
using pattern::Matcher;
using pattern::Status;

// Patterns up to a few hundred bytes compile on the C stack; longer ones
// into a userdata of the VM (its memory, counted against its limit).
constexpr size_t kStackProgram = 2048;

// LuaJIT's conversions of a number argument to a C int on x86-64 differ by
// function: string.find's and match's init truncates to int32 and turns
// anything outside it (NaN included) into INT32_MIN; gsub's count goes
// through int64 and keeps the low 32 bits (0 when outside int64).
int32_t init_arg(lua_State* L, int idx) {
  if (lua_isnoneornil(L, idx)) return 1;
  const double d = luaL_checknumber(L, idx);
  if (!(d > -2147483649.0 && d < 2147483648.0)) return INT32_MIN;
  return static_cast<int32_t>(d);
}

int32_t count_arg(lua_State* L, int idx, int32_t def) {
  if (lua_isnoneornil(L, idx)) return def;
  const double d = luaL_checknumber(L, idx);
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
  return static_cast<int32_t>(
      static_cast<uint32_t>(static_cast<uint64_t>(static_cast<int64_t>(d))));
}

// "1,048,576": the limit messages of contract §7.2. No allocation: the
// error that follows must not leave anything behind.
const char* grouped(uint64_t v, char (&buf)[32]) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  int o = 0;
  for (int i = n - 1; i >= 0; --i) {
    buf[o++] = digits[i];
    if (i > 0 && i % 3 == 0) buf[o++] = ',';
  }
  buf[o] = '\0';
  return buf;
}

void check_subject(lua_State* L, const char* fn, size_t len) {
  if (len <= pattern::kMaxSubject) return;
  char n[32];
  raise_error(L, ErrorKind::kLimit, "%s: pattern subject of %s bytes is longer than 1 MiB (limit)",
              fn, grouped(len, n));
}

[[noreturn]] void raise_lua_error(lua_State* L, const char* message) {
  luaL_error(L, "%s", message);
  __builtin_unreachable();
}

// A failed match: a malformed pattern (LuaJIT's message, kind runtime), the
// step budget (kind limit), or a hard stop that came while matching.
[[noreturn]] void fail(lua_State* L, ScriptHost* h, const char* fn, const Matcher& m, Status st,
                       size_t len) {
  if (st == Status::kStepLimit) {
    char steps[32], bytes[32];
    raise_error(L, ErrorKind::kLimit,
                "%s: pattern step limit exceeded (%s steps for a %s-byte subject)", fn,
                grouped(m.max_steps(), steps), grouped(len, bytes));
  }
  if (st == Status::kInterrupted) h->vm.raise_stop_from_c(L);
  raise_lua_error(L, pattern::message(st));
}

bool poll_vm(void* vm) { return static_cast<const Vm*>(vm)->stop_due(); }

pattern::Limits limits_for(ScriptHost* h, size_t len) {
  pattern::Limits l;
  l.max_steps = pattern::step_limit(len);
  l.poll = poll_vm;
  l.poll_ctx = &h->vm;
  return l;
}

// Capture i of the match [b, e) of `s`; the whole match when the pattern
// has no captures and i is 0.
void push_capture(lua_State* L, const Matcher& m, int i, const char* s, size_t b, size_t e) {
  if (i >= m.capture_count()) {
    if (i != 0) raise_lua_error(L, pattern::message(Status::kInvalidCaptureIndex));
    lua_pushlstring(L, s + b, e - b);
    return;
  }
  const Capture& c = m.capture(i);
  if (c.len == Capture::kUnfinished)
    raise_lua_error(L, pattern::message(Status::kUnfinishedCapture));
  if (c.len == Capture::kPosition) {
    lua_pushinteger(L, static_cast<lua_Integer>(c.start + 1));
  } else {
    lua_pushlstring(L, s + c.start, static_cast<size_t>(c.len));
  }
}

int push_captures(lua_State* L, const Matcher& m, const char* s, size_t b, size_t e, bool whole) {
  const int n = m.capture_count() == 0 && whole ? 1 : m.capture_count();
  luaL_checkstack(L, n, "too many captures");
  for (int i = 0; i < n; ++i) push_capture(L, m, i, s, b, e);
  return n;
}

// Compiles `p` (a leading `^` already taken off by the caller, if it is an
// anchor) on the stack buffer, or into a new userdata left on the stack.
const pattern::Program* compile(lua_State* L, std::string_view p, unsigned char* stack_buf) {
  const size_t need = pattern::compiled_size(p);
  void* mem = need <= kStackProgram ? stack_buf : lua_newuserdata(L, need);
  return pattern::compile(p, mem);
}

// string.find without a pattern: no steps, but never more than linear work.
// Short searches take memchr and memcmp (cheaper to start than memmem);
// long ones glibc's memmem, linear in the subject whatever the needle.
const char* plain_find(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return hay.data();
  if (needle.size() > hay.size()) return nullptr;
  if (hay.size() * needle.size() > 65536) {
    return static_cast<const char*>(memmem(hay.data(), hay.size(), needle.data(), needle.size()));
  }
  const char* at = hay.data();
  const char* last = hay.data() + (hay.size() - needle.size());
  while (at <= last) {
    at = static_cast<const char*>(std::memchr(at, needle[0], static_cast<size_t>(last - at) + 1));
    if (at == nullptr) return nullptr;
    if (std::memcmp(at + 1, needle.data() + 1, needle.size() - 1) == 0) return at;
    ++at;
  }
  return nullptr;
}

int find_aux(lua_State* L, bool find) {
  const char* fn = find ? "string.find" : "string.match";
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  int32_t init = init_arg(L, 3);
  ScriptHost* h = host_of(L);
  check_subject(L, fn, ls);
  // 1-based, negative from the end, clamped to [0, len] (Lua 5.1: an init
  // past the end searches at the end).
  if (init < 0) {
    init += static_cast<int32_t>(ls);
  } else {
    --init;
  }
  const size_t start = init < 0 ? 0 : std::min(static_cast<size_t>(init), ls);
  if (find && (lua_toboolean(L, 4) || !pattern::has_specials({p, lp}))) {
    const char* q = plain_find({s + start, ls - start}, {p, lp});
    if (q == nullptr) {
      lua_pushnil(L);
      return 1;
    }
    const auto at = static_cast<size_t>(q - s);
    lua_pushinteger(L, static_cast<lua_Integer>(at + 1));
    lua_pushinteger(L, static_cast<lua_Integer>(at + lp));
    return 2;
  }
  std::string_view pat(p, lp);
  const bool anchored = !pat.empty() && pat[0] == '^';
  if (anchored) pat.remove_prefix(1);
  alignas(8) unsigned char buf[kStackProgram];
  const pattern::Program* prog = compile(L, pat, buf);
  Matcher m(*prog, {s, ls}, limits_for(h, ls));
  size_t b = 0, e = 0;
  const Status st = m.search(start, anchored, &b, &e);
  if (st == Status::kNoMatch) {
    lua_pushnil(L);
    return 1;
  }
  if (st != Status::kMatch) fail(L, h, fn, m, st, ls);
  if (!find) return push_captures(L, m, s, b, e, true);
  lua_pushinteger(L, static_cast<lua_Integer>(b + 1));
  lua_pushinteger(L, static_cast<lua_Integer>(e));
  return 2 + push_captures(L, m, s, b, e, false);
}

int str_find(lua_State* L) { return find_aux(L, true); }
int str_match(lua_State* L) { return find_aux(L, false); }

// The iterator of gmatch. Upvalues: 1 host, 2 subject, 3 compiled pattern
// (userdata), 4 where the next search starts.
int gmatch_next(lua_State* L) {
  ScriptHost* h = host_of(L);
  size_t ls = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(2), &ls);
  const auto* prog = static_cast<const pattern::Program*>(lua_touserdata(L, lua_upvalueindex(3)));
  const auto from = static_cast<size_t>(lua_tonumber(L, lua_upvalueindex(4)));
  if (from > ls) return 0;
  Matcher m(*prog, {s, ls}, limits_for(h, ls));
  size_t b = 0, e = 0;
  const Status st = m.search(from, false, &b, &e);
  if (st == Status::kNoMatch) {
    // Searching again would find nothing again.
    lua_pushnumber(L, static_cast<lua_Number>(ls + 1));
    lua_replace(L, lua_upvalueindex(4));
    return 0;
  }
  if (st != Status::kMatch) fail(L, h, "string.gmatch", m, st, ls);
  // An empty match moves on by one byte, so that the loop ends.
  lua_pushnumber(L, static_cast<lua_Number>(e == b ? e + 1 : e));
  lua_replace(L, lua_upvalueindex(4));
  return push_captures(L, m, s, b, e, true);
}

// gmatch(s, p): `^` is a plain character here, as in Lua 5.1. The pattern is
// compiled once, into the iterator's upvalue.
int str_gmatch(lua_State* L) {
  ScriptHost* h = host_of(L);
  size_t ls = 0, lp = 0;
  luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  check_subject(L, "string.gmatch", ls);
  lua_settop(L, 2);
  lua_pushlightuserdata(L, h);
  lua_pushvalue(L, 1);
  const std::string_view pat(p, lp);
  pattern::compile(pat, lua_newuserdata(L, pattern::compiled_size(pat)));
  lua_pushnumber(L, 0);
  lua_pushcclosure(L, gmatch_next, 4);
  return 1;
}

// Appends the replacement of the match [b, e) to `out`: the string with its
// `%0`-`%9` (any other `%x` is `x`; a final `%` adds a NUL byte, as LuaJIT
// reads one past the end), the table's value at the first capture, or the
// function's result; nil or false keep the match.
void add_value(lua_State* L, luaL_Buffer* out, const Matcher& m, const char* s, size_t b, size_t e,
               int repl_type, std::string_view repl) {
  if (repl_type == LUA_TSTRING || repl_type == LUA_TNUMBER) {
    size_t i = 0;
    while (i < repl.size()) {
      const void* pct = std::memchr(repl.data() + i, '%', repl.size() - i);
      const size_t run = pct == nullptr
                             ? repl.size() - i
                             : static_cast<size_t>(static_cast<const char*>(pct) - repl.data()) - i;
      luaL_addlstring(out, repl.data() + i, run);
      i += run;
      if (i >= repl.size()) break;
      ++i;  // the '%'
      const auto c = static_cast<uint8_t>(i < repl.size() ? repl[i] : '\0');
      ++i;
      if (c < '0' || c > '9') {
        luaL_addchar(out, static_cast<char>(c));
      } else if (c == '0') {
        luaL_addlstring(out, s + b, e - b);
      } else {
        push_capture(L, m, c - '1', s, b, e);
        luaL_addvalue(out);
      }
    }
    return;
  }
  if (repl_type == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    const int n = push_captures(L, m, s, b, e, true);
    lua_call(L, n, 1);
  } else {
    push_capture(L, m, 0, s, b, e);
    lua_gettable(L, 3);
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushlstring(L, s + b, e - b);
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(out);
}

int str_gsub(lua_State* L) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const int repl_type = lua_type(L, 3);
  const int32_t max_n = count_arg(L, 4, static_cast<int32_t>(ls + 1));
  if (repl_type != LUA_TNUMBER && repl_type != LUA_TSTRING && repl_type != LUA_TFUNCTION &&
      repl_type != LUA_TTABLE) {
    luaL_argerror(L, 3, "string/function/table expected");
  }
  ScriptHost* h = host_of(L);
  check_subject(L, "string.gsub", ls);
  std::string_view repl;
  if (repl_type == LUA_TSTRING || repl_type == LUA_TNUMBER) {
    size_t lr = 0;
    const char* r = lua_tolstring(L, 3, &lr);
    repl = {r, lr};
  }
  std::string_view pat(p, lp);
  const bool anchored = !pat.empty() && pat[0] == '^';
  if (anchored) pat.remove_prefix(1);
  alignas(8) unsigned char buf[kStackProgram];
  const pattern::Program* prog = compile(L, pat, buf);
  Matcher m(*prog, {s, ls}, limits_for(h, ls));
  luaL_Buffer out;
  luaL_buffinit(L, &out);
  size_t at = 0;
  int32_t n = 0;
  while (n < max_n) {
    size_t b = 0, e = 0;
    const Status st = m.search(at, anchored, &b, &e);
    if (st == Status::kNoMatch) break;
    if (st != Status::kMatch) fail(L, h, "string.gsub", m, st, ls);
    luaL_addlstring(&out, s + at, b - at);  // what the search passed over
    at = b;
    ++n;
    add_value(L, &out, m, s, b, e, repl_type, repl);
    if (e > b) {
      at = e;
    } else if (at < ls) {
      luaL_addchar(&out, s[at++]);  // an empty match: keep the next byte
    } else {
      break;
    }
    if (anchored) break;
  }
  luaL_addlstring(&out, s + at, ls - at);
  luaL_pushresult(&out);
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace

void add_patterns(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "find", str_find);
  set_fn(L, h, "match", str_match);
  set_fn(L, h, "gmatch", str_gmatch);
  set_fn(L, h, "gsub", str_gsub);
}

}  // namespace loupe
