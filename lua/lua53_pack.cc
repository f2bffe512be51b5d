// string.pack, string.unpack and string.packsize with Lua 5.3's format
// language (contract §9.3): endianness `< > =`, alignment `![n]`, integers
// `b B h H l L j J T i[n] I[n]` of 1 to 16 bytes, floats `f d n`, strings
// `c[n] s[n] z`, padding `x` and `X[op]`, spaces ignored. Integers travel as
// 5.3's 64-bit integers; one that a double cannot hold exactly (beyond
// ±2^53) is an error of kind limit, both ways.
#include <climits>
#include <cstring>
#include <lua.hpp>
#include <string>

#include "lua/lua53_lib.h"
#include "lua/script_host.h"

namespace loupe {
namespace {

constexpr int kMaxIntSize = 16;
constexpr int kNativeAlign = 8;  // x86-64's largest scalar alignment
constexpr int kSizeT = 8;

enum class Opt { kInt, kUint, kFloat, kDouble, kChar, kString, kZstr, kPadding, kPadAlign, kNop };

struct Header {
  lua_State* L;
  bool little = true;  // native order on x86-64
  int max_align = 1;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int read_number(const char** fmt, int dflt) {
  if (!is_digit(**fmt)) return dflt;
  int a = 0;
  do {
    a = a * 10 + (*((*fmt)++) - '0');
  } while (is_digit(**fmt) && a <= (INT_MAX - 9) / 10);
  return a;
}

int read_size(Header& h, const char** fmt, int dflt) {
  const int sz = read_number(fmt, dflt);
  if (sz > kMaxIntSize || sz <= 0) {
    luaL_error(h.L, "integral size (%d) out of limits [1,%d]", sz, kMaxIntSize);
  }
  return sz;
}

// Reads one option; `*size` is its size in bytes (0 for none).
Opt read_option(Header& h, const char** fmt, int* size) {
  const char c = *((*fmt)++);
  *size = 0;
  switch (c) {
    case 'b':
      *size = 1;
      return Opt::kInt;
    case 'B':
      *size = 1;
      return Opt::kUint;
    case 'h':
      *size = 2;
      return Opt::kInt;
    case 'H':
      *size = 2;
      return Opt::kUint;
    case 'l':
      *size = 8;
      return Opt::kInt;
    case 'L':
      *size = 8;
      return Opt::kUint;
    case 'j':
      *size = 8;
      return Opt::kInt;
    case 'J':
      *size = 8;
      return Opt::kUint;
    case 'T':
      *size = kSizeT;
      return Opt::kUint;
    case 'f':
      *size = 4;
      return Opt::kFloat;
    case 'd':
      *size = 8;
      return Opt::kDouble;
    case 'n':
      *size = 8;
      return Opt::kDouble;
    case 'i':
      *size = read_size(h, fmt, 4);
      return Opt::kInt;
    case 'I':
      *size = read_size(h, fmt, 4);
      return Opt::kUint;
    case 's':
      *size = read_size(h, fmt, kSizeT);
      return Opt::kString;
    case 'c':
      *size = read_number(fmt, -1);
      if (*size == -1) luaL_error(h.L, "missing size for format option 'c'");
      return Opt::kChar;
    case 'z':
      return Opt::kZstr;
    case 'x':
      *size = 1;
      return Opt::kPadding;
    case 'X':
      return Opt::kPadAlign;
    case ' ':
      return Opt::kNop;
    case '<':
      h.little = true;
      return Opt::kNop;
    case '>':
      h.little = false;
      return Opt::kNop;
    case '=':
      h.little = true;
      return Opt::kNop;
    case '!':
      h.max_align = read_size(h, fmt, kNativeAlign);
      return Opt::kNop;
    default:
      luaL_error(h.L, "invalid format option '%c'", c);
  }
  return Opt::kNop;
}

// The next option, its size and the padding that aligns it at `total`.
Opt read_details(Header& h, size_t total, const char** fmt, int* size, int* pad) {
  const Opt opt = read_option(h, fmt, size);
  int align = *size;
  if (opt == Opt::kPadAlign) {
    if (**fmt == '\0' || read_option(h, fmt, &align) == Opt::kChar || align == 0) {
      luaL_argerror(h.L, 1, "invalid next option for option 'X'");
    }
  }
  if (align <= 1 || opt == Opt::kChar) {
    *pad = 0;
  } else {
    if (align > h.max_align) align = h.max_align;
    if ((align & (align - 1)) != 0)
      luaL_argerror(h.L, 1, "format asks for alignment not power of 2");
    *pad = (align - static_cast<int>(total & static_cast<size_t>(align - 1))) & (align - 1);
  }
  return opt;
}

// `size` bytes of v in the given order; bytes past the eighth extend the
// sign when `negative`.
void put_int(std::string& out, uint64_t v, bool little, int size, bool negative) {
  char buf[kMaxIntSize];
  for (int i = 0; i < size; ++i) {
    const auto byte = static_cast<char>(i < 8 ? (v >> (8 * i)) & 0xFF : (negative ? 0xFF : 0));
    buf[little ? i : size - 1 - i] = byte;
  }
  out.append(buf, static_cast<size_t>(size));
}

int64_t get_int(lua_State* L, const char* s, bool little, int size, bool is_signed) {
  uint64_t res = 0;
  const int limit = size <= 8 ? size : 8;
  for (int i = limit - 1; i >= 0; --i) {
    res <<= 8;
    res |= static_cast<unsigned char>(s[little ? i : size - 1 - i]);
  }
  if (size < 8) {
    if (is_signed) {
      const uint64_t mask = uint64_t{1} << (size * 8 - 1);
      res = (res ^ mask) - mask;
    }
  } else if (size > 8) {
    const unsigned fill = !is_signed || static_cast<int64_t>(res) >= 0 ? 0 : 0xFF;
    for (int i = limit; i < size; ++i) {
      if (static_cast<unsigned char>(s[little ? i : size - 1 - i]) != fill) {
        luaL_error(L, "%d-byte integer does not fit into Lua Integer", size);
      }
    }
  }
  return static_cast<int64_t>(res);
}

template <typename T>
void put_float(std::string& out, T v, bool little) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  if (!little) {
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(buf[i], buf[sizeof(T) - 1 - i]);
  }
  out.append(buf, sizeof(T));
}

template <typename T>
T get_float(const char* s, bool little) {
  char buf[sizeof(T)];
  std::memcpy(buf, s, sizeof(T));
  if (!little) {
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(buf[i], buf[sizeof(T) - 1 - i]);
  }
  T v;
  std::memcpy(&v, buf, sizeof(T));
  return v;
}

int str_pack(lua_State* L) {
  Header h{L};
  const char* fmt = luaL_checkstring(L, 1);
  std::string out;
  int arg = 1;
  size_t total = 0;
  while (*fmt != '\0') {
    int size = 0, pad = 0;
    const Opt opt = read_details(h, total, &fmt, &size, &pad);
    total += static_cast<size_t>(pad) + static_cast<size_t>(size);
    out.append(static_cast<size_t>(pad), '\0');
    // A missing value reads as nil, as in 5.3 (whose messages say so).
    if (++arg > lua_gettop(L)) lua_pushnil(L);
    switch (opt) {
      case Opt::kInt: {
        const int64_t n = lua53_check_integer(L, arg);
        if (size < 8) {
          const int64_t lim = int64_t{1} << (size * 8 - 1);
          if (!(-lim <= n && n < lim)) luaL_argerror(L, arg, "integer overflow");
        } else if (n > static_cast<int64_t>(kLua53MaxExact) ||
                   n < -static_cast<int64_t>(kLua53MaxExact)) {
          lua53_push_integer(L, n, "string.pack");  // raises
        }
        put_int(out, static_cast<uint64_t>(n), h.little, size, n < 0);
        break;
      }
      case Opt::kUint: {
        const int64_t n = lua53_check_integer(L, arg);
        if (size < 8) {
          if (static_cast<uint64_t>(n) >= (uint64_t{1} << (size * 8))) {
            luaL_argerror(L, arg, "unsigned overflow");
          }
        } else if (n > static_cast<int64_t>(kLua53MaxExact) ||
                   n < -static_cast<int64_t>(kLua53MaxExact)) {
          lua53_push_integer(L, n, "string.pack");  // raises
        }
        put_int(out, static_cast<uint64_t>(n), h.little, size, false);
        break;
      }
      case Opt::kFloat:
        put_float(out, static_cast<float>(luaL_checknumber(L, arg)), h.little);
        break;
      case Opt::kDouble:
        put_float(out, static_cast<double>(luaL_checknumber(L, arg)), h.little);
        break;
      case Opt::kChar: {
        size_t len = 0;
        const char* s = luaL_checklstring(L, arg, &len);
        if (len > static_cast<size_t>(size)) luaL_argerror(L, arg, "string longer than given size");
        out.append(s, len);
        out.append(static_cast<size_t>(size) - len, '\0');
        break;
      }
      case Opt::kString: {
        size_t len = 0;
        const char* s = luaL_checklstring(L, arg, &len);
        if (size < 8 && len >= (size_t{1} << (size * 8))) {
          luaL_argerror(L, arg, "string length does not fit in given size");
        }
        put_int(out, len, h.little, size, false);
        out.append(s, len);
        total += len;
        break;
      }
      case Opt::kZstr: {
        size_t len = 0;
        const char* s = luaL_checklstring(L, arg, &len);
        if (std::strlen(s) != len) luaL_argerror(L, arg, "string contains zeros");
        out.append(s, len);
        out.push_back('\0');
        total += len + 1;
        break;
      }
      case Opt::kPadding:
        out.push_back('\0');
        --arg;
        break;
      case Opt::kPadAlign:
      case Opt::kNop:
        --arg;
        break;
    }
  }
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

int str_packsize(lua_State* L) {
  Header h{L};
  const char* fmt = luaL_checkstring(L, 1);
  size_t total = 0;
  while (*fmt != '\0') {
    int size = 0, pad = 0;
    const Opt opt = read_details(h, total, &fmt, &size, &pad);
    if (opt == Opt::kString || opt == Opt::kZstr) luaL_argerror(L, 1, "variable-length format");
    total += static_cast<size_t>(pad) + static_cast<size_t>(size);
    if (total > static_cast<size_t>(INT_MAX)) luaL_argerror(L, 1, "format result too large");
  }
  lua_pushnumber(L, static_cast<double>(total));
  return 1;
}

// string.unpack(fmt, s [, pos]): the values, then the position after them.
int str_unpack(lua_State* L) {
  Header h{L};
  const char* fmt = luaL_checkstring(L, 1);
  size_t ld = 0;
  const char* data = luaL_checklstring(L, 2, &ld);
  int64_t start = lua53_opt_integer(L, 3, 1);
  if (start < 0) {
    start = static_cast<uint64_t>(0) - static_cast<uint64_t>(start) > ld
                ? 0
                : static_cast<int64_t>(ld) + start + 1;
  }
  if (start < 1 || start - 1 > static_cast<int64_t>(ld)) {
    luaL_argerror(L, 3, "initial position out of string");
  }
  size_t pos = static_cast<size_t>(start - 1);
  int n = 0;
  while (*fmt != '\0') {
    int size = 0, pad = 0;
    const Opt opt = read_details(h, pos, &fmt, &size, &pad);
    if (static_cast<size_t>(pad) + static_cast<size_t>(size) > ld - pos ||
        pos + static_cast<size_t>(pad) + static_cast<size_t>(size) > ld) {
      luaL_argerror(L, 2, "data string too short");
    }
    pos += static_cast<size_t>(pad);
    luaL_checkstack(L, 2, "too many results");
    ++n;
    switch (opt) {
      case Opt::kInt:
      case Opt::kUint:
        lua53_push_integer(L, get_int(L, data + pos, h.little, size, opt == Opt::kInt),
                           "string.unpack");
        break;
      case Opt::kFloat:
        lua_pushnumber(L, get_float<float>(data + pos, h.little));
        break;
      case Opt::kDouble:
        lua_pushnumber(L, get_float<double>(data + pos, h.little));
        break;
      case Opt::kChar:
        lua_pushlstring(L, data + pos, static_cast<size_t>(size));
        break;
      case Opt::kString: {
        const auto len = static_cast<uint64_t>(get_int(L, data + pos, h.little, size, false));
        if (len > ld - pos - static_cast<size_t>(size))
          luaL_argerror(L, 2, "data string too short");
        lua_pushlstring(L, data + pos + size, static_cast<size_t>(len));
        pos += static_cast<size_t>(len);
        break;
      }
      case Opt::kZstr: {
        // As in 5.3: the string's terminating NUL may end it (the next
        // position is then past the end).
        const size_t len = std::strlen(data + pos);
        lua_pushlstring(L, data + pos, len);
        pos += len + 1;
        break;
      }
      case Opt::kPadAlign:
      case Opt::kPadding:
      case Opt::kNop:
        --n;
        break;
    }
    pos += static_cast<size_t>(size);
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos + 1));
  return n + 1;
}

}  // namespace

void add_lua53_pack(lua_State* L, ScriptHost* h) {
  set_fn(L, h, "pack", str_pack);
  set_fn(L, h, "packsize", str_packsize);
  set_fn(L, h, "unpack", str_unpack);
}

}  // namespace loupe
