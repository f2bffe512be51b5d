// The Lua 5.3 run-time library (contract §9.3): the helpers that translated
// operators call, with 5.3's integer semantics computed on 64 bits (not
// LuaJIT's 32-bit `bit`), the utf8 library, math.maxinteger and
// math.mininteger, and 5.3's math.tointeger, math.ult and table.move.
// Results a double cannot hold exactly raise an error of kind limit rather
// than lose bits silently.
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "lua/lua53_lib.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

constexpr double kTwo63 = 9223372036854775808.0;

// The number a 5.3 arithmetic or bitwise operand stands for: numbers, and
// strings that read as numbers (5.3 converts those too).
bool operand_number(lua_State* L, int i, double* d) {
  const int t = lua_type(L, i);
  if (t != LUA_TNUMBER && !(t == LUA_TSTRING && lua_isnumber(L, i))) return false;
  *d = lua_tonumber(L, i);
  return true;
}

bool exact_integer(double d, int64_t* out) {
  if (!(d >= -kTwo63 && d < kTwo63) || std::floor(d) != d) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// An operator whose operands are not both numbers: the first operand's
// metamethod `event`, then the second's, as 5.3 looks them up; else 5.3's
// error about the first operand that is no number.
int try_metamethod(lua_State* L, const char* event, const char* doing) {
  for (int i = 1; i <= 2; ++i) {
    if (luaL_getmetafield(L, i, event)) {
      lua_pushvalue(L, 1);
      lua_pushvalue(L, 2);
      lua_call(L, 2, 1);
      return 1;
    }
  }
  double d = 0;
  const int bad = operand_number(L, 1, &d) ? 2 : 1;
  raise_error(L, ErrorKind::kRuntime, "attempt to perform %s on a %s value", doing,
              luaL_typename(L, bad));
}

// Both operands of a bitwise operator as integers; false when a metamethod
// or an error must take over. Numbers without an integer value raise 5.3's
// error here.
bool bitwise_operands(lua_State* L, int64_t* a, int64_t* b) {
  double x = 0, y = 0;
  if (!operand_number(L, 1, &x) || !operand_number(L, 2, &y)) return false;
  if (!exact_integer(x, a) || !exact_integer(y, b)) {
    raise_error(L, ErrorKind::kRuntime, "number has no integer representation");
  }
  return true;
}

// 5.3's shift: logical, negative counts shift the other way, 64 or more
// clears every bit.
int64_t shift_left(int64_t x, int64_t n) {
  const auto ux = static_cast<uint64_t>(x);
  if (n <= -64 || n >= 64) return 0;
  if (n < 0) return static_cast<int64_t>(ux >> -n);
  return static_cast<int64_t>(ux << n);
}

int l_band(lua_State* L) {
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__band", "bitwise operation");
  lua53_push_integer(L, a & b, "&");
  return 1;
}

int l_bor(lua_State* L) {
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__bor", "bitwise operation");
  lua53_push_integer(L, a | b, "|");
  return 1;
}

int l_bxor(lua_State* L) {
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__bxor", "bitwise operation");
  lua53_push_integer(L, a ^ b, "~");
  return 1;
}

// ~a: 5.3 hands a unary metamethod its operand twice.
int l_bnot(lua_State* L) {
  lua_settop(L, 1);
  lua_pushvalue(L, 1);
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__bnot", "bitwise operation");
  lua53_push_integer(L, ~a, "~");
  return 1;
}

int l_shl(lua_State* L) {
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__shl", "bitwise operation");
  lua53_push_integer(L, shift_left(a, b), "<<");
  return 1;
}

int l_shr(lua_State* L) {
  int64_t a = 0, b = 0;
  if (!bitwise_operands(L, &a, &b)) return try_metamethod(L, "__shr", "bitwise operation");
  // Negated through unsigned arithmetic: -(-2^63) wraps to itself, as in 5.3.
  lua53_push_integer(L, shift_left(a, static_cast<int64_t>(0 - static_cast<uint64_t>(b))), ">>");
  return 1;
}

// a // b. Operands that are integers to math.type (integral, within ±2^53)
// divide as 5.3's integers: floor of the exact quotient, and an error for a
// zero divisor. Any other pair divides as 5.3's floats: floor(a / b).
int l_idiv(lua_State* L) {
  double x = 0, y = 0;
  if (!operand_number(L, 1, &x) || !operand_number(L, 2, &y)) {
    return try_metamethod(L, "__idiv", "arithmetic");
  }
  const bool ints = std::floor(x) == x && std::floor(y) == y && std::fabs(x) <= kLua53MaxExact &&
                    std::fabs(y) <= kLua53MaxExact;
  if (!ints) {
    lua_pushnumber(L, std::floor(x / y));
    return 1;
  }
  const auto a = static_cast<int64_t>(x), b = static_cast<int64_t>(y);
  if (b == 0) raise_error(L, ErrorKind::kRuntime, "attempt to divide by zero");  // 5.3's words
  int64_t q = a / b;
  if (a % b != 0 && (a < 0) != (b < 0)) --q;
  lua53_push_integer(L, q, "//");
  return 1;
}

// --- math and table ----------------------------------------------------------

// math.tointeger(x): x when it is an integer to math.type (numeric strings
// included, as 5.3 converts them), else nil.
int math_tointeger(lua_State* L) {
  double d = 0;
  if (operand_number(L, 1, &d) && std::floor(d) == d && std::fabs(d) <= kLua53MaxExact) {
    lua_pushnumber(L, d);
    return 1;
  }
  luaL_checkany(L, 1);
  lua_pushnil(L);
  return 1;
}

int math_ult(lua_State* L) {
  const auto a = static_cast<uint64_t>(lua53_check_integer(L, 1));
  const auto b = static_cast<uint64_t>(lua53_check_integer(L, 2));
  lua_pushboolean(L, a < b);
  return 1;
}

// table.move(a1, f, e, t [, a2]): through metamethods, as 5.3's; copies
// backwards when the ranges overlap in one table, a2 given or not. Polls
// the hard stop, since the range is the script's to choose.
int table_move(lua_State* L) {
  ScriptHost* h = host_of(L);
  const int64_t f = lua53_check_integer(L, 2), e = lua53_check_integer(L, 3),
                t = lua53_check_integer(L, 4);
  const int dst = lua_isnoneornil(L, 5) ? 1 : 5;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, dst, LUA_TTABLE);
  if (e >= f) {
    if (!(f > 0 || e < INT64_MAX + f)) luaL_argerror(L, 3, "too many elements to move");
    const int64_t n = e - f + 1;
    if (t > INT64_MAX - n + 1) luaL_argerror(L, 4, "destination wrap around");
    const bool forward = t > e || t <= f || (dst != 1 && !lua_rawequal(L, 1, dst));
    for (int64_t k = 0; k < n; ++k) {
      if ((k & 4095) == 4095 && h->vm.stop_due()) h->vm.raise_stop_from_c(L);
      const int64_t i = forward ? k : n - 1 - k;
      lua_pushnumber(L, static_cast<double>(t + i));
      lua_pushnumber(L, static_cast<double>(f + i));
      lua_gettable(L, 1);
      lua_settable(L, dst);
    }
  }
  lua_pushvalue(L, dst);
  return 1;
}

// --- utf8 ------------------------------------------------------------------

constexpr uint32_t kMaxUnicode = 0x10FFFF;

bool is_continuation(const char* s, size_t len, size_t i) {
  return i < len && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
}

// Decodes the sequence at s[i]: the code point and the index after it, or
// false for an invalid one (5.3's rules: at most 4 bytes, no overlong
// forms, nothing above U+10FFFF; surrogates pass).
bool utf8_decode(const char* s, size_t len, size_t i, uint32_t* code, size_t* next) {
  static constexpr uint32_t kLimits[] = {0xFFFFFFFFu, 0x80, 0x800, 0x10000u};
  unsigned c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *code = c;
    *next = i + 1;
    return true;
  }
  uint32_t res = 0;
  size_t count = 0;
  for (; c & 0x40; c <<= 1) {
    ++count;
    if (!is_continuation(s, len, i + count)) return false;
    res = (res << 6) | (static_cast<unsigned char>(s[i + count]) & 0x3F);
    if (count > 3) return false;
  }
  res |= static_cast<uint32_t>(c & 0x7F) << (count * 5);
  if (count > 3 || res > kMaxUnicode || res <= kLimits[count]) return false;
  *code = res;
  *next = i + count + 1;
  return true;
}

// A 5.3 relative string position: negative counts from the end.
int64_t relative(int64_t pos, size_t len) {
  if (pos >= 0) return pos;
  if (static_cast<uint64_t>(0) - static_cast<uint64_t>(pos) > len) return 0;
  return static_cast<int64_t>(len) + pos + 1;
}

void push_utf8(std::string& out, uint32_t x) {
  if (x < 0x80) {
    out.push_back(static_cast<char>(x));
  } else if (x < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (x >> 6)));
    out.push_back(static_cast<char>(0x80 | (x & 0x3F)));
  } else if (x < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (x >> 12)));
    out.push_back(static_cast<char>(0x80 | ((x >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (x & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (x >> 18)));
    out.push_back(static_cast<char>(0x80 | ((x >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((x >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (x & 0x3F)));
  }
}

int utf8_char(lua_State* L) {
  const int n = lua_gettop(L);
  std::string out;
  for (int i = 1; i <= n; ++i) {
    const auto code = static_cast<uint64_t>(lua53_check_integer(L, i));
    if (code > kMaxUnicode) luaL_argerror(L, i, "value out of range");
    push_utf8(out, static_cast<uint32_t>(code));
  }
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

// utf8.codepoint(s [, i [, j]])
int utf8_codepoint(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  const int64_t i = relative(lua53_opt_integer(L, 2, 1), len);
  const int64_t j = relative(lua53_opt_integer(L, 3, i), len);
  if (i < 1) luaL_argerror(L, 2, "out of range");
  if (j > static_cast<int64_t>(len)) luaL_argerror(L, 3, "out of range");
  if (i > j) return 0;
  if (j - i >= INT32_MAX) luaL_error(L, "string slice too long");
  luaL_checkstack(L, static_cast<int>(j - i + 1), "string slice too long");
  int n = 0;
  for (size_t at = static_cast<size_t>(i - 1); at < static_cast<size_t>(j);) {
    uint32_t code = 0;
    if (!utf8_decode(s, len, at, &code, &at)) luaL_error(L, "invalid UTF-8 code");
    lua_pushinteger(L, code);
    ++n;
  }
  return n;
}

// utf8.len(s [, i [, j]]): the count, or nil and the position of the first
// invalid byte.
int utf8_len(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  int64_t i = relative(lua53_opt_integer(L, 2, 1), len);
  int64_t j = relative(lua53_opt_integer(L, 3, -1), len);
  if (i < 1 || --i > static_cast<int64_t>(len)) {
    luaL_argerror(L, 2, "initial position out of string");
  }
  if (--j >= static_cast<int64_t>(len)) luaL_argerror(L, 3, "final position out of string");
  int64_t n = 0;
  while (i <= j) {
    uint32_t code = 0;
    size_t next = 0;
    if (!utf8_decode(s, len, static_cast<size_t>(i), &code, &next)) {
      lua_pushnil(L);
      lua_pushinteger(L, static_cast<lua_Integer>(i + 1));
      return 2;
    }
    i = static_cast<int64_t>(next);
    ++n;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(n));
  return 1;
}

// utf8.offset(s, n [, i]): where the n-th character from i starts.
int utf8_offset(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  int64_t n = lua53_check_integer(L, 2);
  const int64_t dflt = n >= 0 ? 1 : static_cast<int64_t>(len) + 1;
  int64_t at = relative(lua53_opt_integer(L, 3, dflt), len) - 1;
  if (at < 0 || at > static_cast<int64_t>(len)) luaL_argerror(L, 3, "position out of range");
  if (n == 0) {
    while (at > 0 && is_continuation(s, len, static_cast<size_t>(at))) --at;
  } else {
    if (is_continuation(s, len, static_cast<size_t>(at))) {
      luaL_error(L, "initial position is a continuation byte");
    }
    if (n < 0) {
      while (n < 0 && at > 0) {
        do {
          --at;
        } while (at > 0 && is_continuation(s, len, static_cast<size_t>(at)));
        ++n;
      }
    } else {
      --n;
      while (n > 0 && at < static_cast<int64_t>(len)) {
        do {
          ++at;
        } while (is_continuation(s, len, static_cast<size_t>(at)));
        --n;
      }
    }
  }
  if (n == 0) {
    lua_pushinteger(L, static_cast<lua_Integer>(at + 1));
  } else {
    lua_pushnil(L);
  }
  return 1;
}

// The iterator of utf8.codes: from the byte after the current character.
int utf8_codes_next(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  int64_t at = static_cast<int64_t>(lua_tonumber(L, 2)) - 1;
  if (at < 0) {
    at = 0;
  } else if (at < static_cast<int64_t>(len)) {
    ++at;
    while (is_continuation(s, len, static_cast<size_t>(at))) ++at;
  }
  if (at >= static_cast<int64_t>(len)) return 0;
  uint32_t code = 0;
  size_t next = 0;
  if (!utf8_decode(s, len, static_cast<size_t>(at), &code, &next) ||
      is_continuation(s, len, next)) {
    luaL_error(L, "invalid UTF-8 code");
  }
  lua_pushinteger(L, static_cast<lua_Integer>(at + 1));
  lua_pushinteger(L, code);
  return 2;
}

int utf8_codes(lua_State* L) {
  luaL_checkstring(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

// 5.3's pattern is "[\0-\x7F\xC2-\xF4][\x80-\xBF]*"; LuaJIT's patterns end
// at a NUL, so the NUL is written as %z, which matches the same bytes.
constexpr char kCharPattern[] = "[%z\x01-\x7F\xC2-\xF4][\x80-\xBF]*";

}  // namespace

int64_t lua53_check_integer(lua_State* L, int arg) {
  double d = 0;
  if (!operand_number(L, arg, &d)) luaL_typerror(L, arg, "number");
  int64_t v = 0;
  if (!exact_integer(d, &v)) luaL_argerror(L, arg, "number has no integer representation");
  return v;
}

int64_t lua53_opt_integer(lua_State* L, int arg, int64_t dflt) {
  return lua_isnoneornil(L, arg) ? dflt : lua53_check_integer(L, arg);
}

void lua53_push_integer(lua_State* L, int64_t r, const char* what) {
  if (r > static_cast<int64_t>(kLua53MaxExact) || r < -static_cast<int64_t>(kLua53MaxExact)) {
    raise_error(L, ErrorKind::kLimit,
                "lua53: result of %s exceeds 2^53 and cannot be represented on LuaJIT", what);
  }
  lua_pushnumber(L, static_cast<double>(r));
}

void add_lua53(lua_State* L, ScriptHost* h) {
  // The helpers: base names, so every environment has them.
  set_fn(L, h, "__band", l_band);
  set_fn(L, h, "__bor", l_bor);
  set_fn(L, h, "__bxor", l_bxor);
  set_fn(L, h, "__bnot", l_bnot);
  set_fn(L, h, "__shl", l_shl);
  set_fn(L, h, "__shr", l_shr);
  set_fn(L, h, "__idiv", l_idiv);

  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref_libs);
  lua_getfield(L, -1, "string");
  add_lua53_pack(L, h);
  lua_pop(L, 1);
  // The largest and smallest integers whose neighbours are all exact: every
  // integer between them has its own double, and max + 1 still does.
  lua_getfield(L, -1, "table");
  set_fn(L, h, "move", table_move);
  lua_pop(L, 1);
  lua_getfield(L, -1, "math");
  set_fn(L, h, "tointeger", math_tointeger);
  set_fn(L, h, "ult", math_ult);
  lua_pushnumber(L, kLua53MaxExact - 1);
  lua_setfield(L, -2, "maxinteger");
  lua_pushnumber(L, -kLua53MaxExact);
  lua_setfield(L, -2, "mininteger");
  lua_pop(L, 1);
  lua_newtable(L);
  set_fn(L, h, "char", utf8_char);
  set_fn(L, h, "codepoint", utf8_codepoint);
  set_fn(L, h, "len", utf8_len);
  set_fn(L, h, "offset", utf8_offset);
  lua_pushlightuserdata(L, h);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, utf8_codes_next, 1);
  lua_pushcclosure(L, utf8_codes, 2);
  lua_setfield(L, -2, "codes");
  lua_pushlstring(L, kCharPattern, sizeof(kCharPattern) - 1);
  lua_setfield(L, -2, "charpattern");
  lua_setfield(L, -2, "utf8");
  lua_pop(L, 1);

  // `fmt:unpack(s)` reaches the private string table behind strings'
  // metatable, not the script's copy.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_getfield(L, -1, "__index");
  if (lua_istable(L, -1)) add_lua53_pack(L, h);
  lua_pop(L, 3);
}

}  // namespace loupe
