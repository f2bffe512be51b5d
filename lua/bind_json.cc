// JSON for scripts: the built-in `json`/`dkjson` module (encode, decode,
// null) with dkjson's behaviour for plain values, and the bounded encoder
// that turns triggerAlert's details table into the record's JSON.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <lua.hpp>
#include <string>

#include "lua/script_host.h"

namespace loupe {
namespace {

// The `json.null` sentinel: a unique light userdata.
const char kNull = 0;
void* null_value() { return const_cast<char*>(&kNull); }

void append_string(std::string& out, const char* s, size_t n) {
  out.push_back('"');
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out.append(buf);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_number(std::string& out, double d) {
  if (std::isnan(d) || std::isinf(d)) {
    out.append("null");  // as dkjson
    return;
  }
  char buf[32];
  if (std::floor(d) == d && std::fabs(d) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", d);
  } else {
    std::snprintf(buf, sizeof(buf), "%.17g", d);
  }
  out.append(buf);
}

struct Encoder {
  lua_State* L;
  std::string& out;
  size_t max_bytes;
  int max_depth;
  bool strict_keys;  // alert details: string keys or a sequence only
  std::string* why;

  // A table is an array when every key is a positive integer and there are
  // no more holes than values (dkjson's rule); holes encode as null.
  bool is_array(int idx, lua_Integer* max) {
    lua_Integer n = 0, hi = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      lua_pop(L, 1);
      if (lua_type(L, -1) != LUA_TNUMBER) {
        lua_pop(L, 1);
        return false;
      }
      const double k = lua_tonumber(L, -1);
      if (k < 1 || std::floor(k) != k) {
        lua_pop(L, 1);
        return false;
      }
      if (k > hi) hi = static_cast<lua_Integer>(k);
      ++n;
    }
    *max = hi;
    return hi <= n * 2;
  }

  bool value(int idx, int depth) {
    if (out.size() > max_bytes) {
      *why = "encoded value larger than the limit";
      return false;
    }
    switch (lua_type(L, idx)) {
      case LUA_TNIL:
        out.append("null");
        return true;
      case LUA_TBOOLEAN:
        out.append(lua_toboolean(L, idx) ? "true" : "false");
        return true;
      case LUA_TNUMBER:
        append_number(out, lua_tonumber(L, idx));
        return true;
      case LUA_TSTRING: {
        size_t n = 0;
        const char* s = lua_tolstring(L, idx, &n);
        append_string(out, s, n);
        return true;
      }
      case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == null_value()) {
          out.append("null");
          return true;
        }
        break;
      case LUA_TTABLE:
        return table(idx, depth);
      default:
        break;
    }
    *why = std::string("type '") + luaL_typename(L, idx) + "' is not supported by JSON";
    return false;
  }

  bool table(int idx, int depth) {
    if (depth >= max_depth) {
      *why = "nested deeper than " + std::to_string(max_depth) + " levels";
      return false;
    }
    if (!lua_checkstack(L, 4)) {
      *why = "nested too deep";
      return false;
    }
    lua_Integer n = 0;
    if (is_array(idx, &n)) {
      out.push_back('[');
      for (lua_Integer i = 1; i <= n; ++i) {
        if (i > 1) out.push_back(',');
        lua_rawgeti(L, idx, static_cast<int>(i));
        const bool ok = value(lua_gettop(L), depth + 1);
        lua_pop(L, 1);
        if (!ok) return false;
      }
      out.push_back(']');
      return true;
    }
    out.push_back('{');
    bool first = true;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      const int kt = lua_type(L, -2);
      if (kt != LUA_TSTRING && (strict_keys || kt != LUA_TNUMBER)) {
        lua_pop(L, 2);
        *why = std::string("table key of type '") + lua_typename(L, kt) +
               "' (string keys or a sequence)";
        return false;
      }
      if (!first) out.push_back(',');
      first = false;
      lua_pushvalue(L, -2);  // a copy: tolstring converts numbers in place
      size_t kn = 0;
      const char* k = lua_tolstring(L, -1, &kn);
      append_string(out, k, kn);
      lua_pop(L, 1);
      out.push_back(':');
      if (!value(lua_gettop(L), depth + 1)) {
        lua_pop(L, 2);
        return false;
      }
      lua_pop(L, 1);
    }
    out.push_back('}');
    return true;
  }
};

// A recursive-descent decoder. Pushes the value; returns false with `why`.
struct Decoder {
  lua_State* L;
  std::string_view s;
  size_t at = 0;
  int null_idx = 0;  // stack index of the value that stands for null (0: nil)
  std::string why;
  int depth = 0;

  void ws() {
    while (at < s.size() && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r')) ++at;
  }
  bool fail(const char* w) {
    why = w;
    return false;
  }
  bool literal(std::string_view word) {
    if (s.substr(at, word.size()) != word) return fail("invalid literal");
    at += word.size();
    return true;
  }
  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | cp >> 6));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | cp >> 12));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | cp >> 18));
      out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  bool hex4(uint32_t* v) {
    if (at + 4 > s.size()) return fail("truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s[at++];
      *v <<= 4;
      if (c >= '0' && c <= '9')
        *v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        *v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        *v |= c - 'A' + 10;
      else
        return fail("invalid \\u escape");
    }
    return true;
  }
  bool string(std::string& out) {
    ++at;  // opening quote
    while (at < s.size()) {
      const char c = s[at++];
      if (c == '"') return true;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at >= s.size()) break;
      const char e = s[at++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00 && s.substr(at, 2) == "\\u") {
            at += 2;
            uint32_t lo = 0;
            if (!hex4(&lo)) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          utf8(out, cp);
          break;
        }
        default:
          return fail("invalid escape");
      }
    }
    return fail("unterminated string");
  }
  bool value() {
    ws();
    if (at >= s.size()) return fail("unexpected end of input");
    if (++depth > 1000 || !lua_checkstack(L, 4)) return fail("nested too deep");
    bool ok = true;
    const char c = s[at];
    if (c == '{') {
      ++at;
      lua_newtable(L);
      ws();
      if (at < s.size() && s[at] == '}') {
        ++at;
      } else {
        for (;;) {
          ws();
          if (at >= s.size() || s[at] != '"') {
            ok = fail("object key expected");
            break;
          }
          std::string key;
          if (!string(key)) {
            ok = false;
            break;
          }
          ws();
          if (at >= s.size() || s[at] != ':') {
            ok = fail("':' expected");
            break;
          }
          ++at;
          lua_pushlstring(L, key.data(), key.size());
          if (!value()) {
            lua_pop(L, 1);
            ok = false;
            break;
          }
          lua_rawset(L, -3);
          ws();
          if (at < s.size() && s[at] == ',') {
            ++at;
            continue;
          }
          if (at < s.size() && s[at] == '}') {
            ++at;
            break;
          }
          ok = fail("',' or '}' expected");
          break;
        }
      }
      if (!ok) lua_pop(L, 1);
    } else if (c == '[') {
      ++at;
      lua_newtable(L);
      ws();
      if (at < s.size() && s[at] == ']') {
        ++at;
      } else {
        for (int i = 1;; ++i) {
          if (!value()) {
            ok = false;
            break;
          }
          lua_rawseti(L, -2, i);
          ws();
          if (at < s.size() && s[at] == ',') {
            ++at;
            continue;
          }
          if (at < s.size() && s[at] == ']') {
            ++at;
            break;
          }
          ok = fail("',' or ']' expected");
          break;
        }
      }
      if (!ok) lua_pop(L, 1);
    } else if (c == '"') {
      std::string str;
      ok = string(str);
      if (ok) lua_pushlstring(L, str.data(), str.size());
    } else if (c == 't') {
      ok = literal("true");
      if (ok) lua_pushboolean(L, 1);
    } else if (c == 'f') {
      ok = literal("false");
      if (ok) lua_pushboolean(L, 0);
    } else if (c == 'n') {
      ok = literal("null");
      if (ok) {
        if (null_idx != 0)
          lua_pushvalue(L, null_idx);
        else
          lua_pushnil(L);
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const std::string num(s.substr(at, 64));
      char* end = nullptr;
      const double d = std::strtod(num.c_str(), &end);
      if (end == num.c_str()) {
        ok = fail("invalid number");
      } else {
        at += static_cast<size_t>(end - num.c_str());
        lua_pushnumber(L, d);
      }
    } else {
      ok = fail("unexpected character");
    }
    --depth;
    return ok;
  }
};

int json_encode_fn(lua_State* L) {
  ScriptHost* h = host_of(L);
  luaL_checkany(L, 1);
  std::string out, why;
  Encoder e{L, out, size_t{64} << 20, 128, false, &why};
  if (!e.value(1, 0)) raise_error(L, ErrorKind::kApi, "json.encode: %s", why.c_str());
  (void)h;
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

// decode(str [, pos [, nullval]]) -> value, next position | nil, pos, message
int json_decode_fn(lua_State* L) {
  const std::string_view s = arg_string(L, 1, "json.decode", "str");
  const double pos = lua_isnoneornil(L, 2) ? 1 : arg_number(L, 2, "json.decode", "pos");
  Decoder d{L, s};
  d.at = pos >= 1 ? static_cast<size_t>(pos) - 1 : 0;
  d.null_idx = lua_isnoneornil(L, 3) ? 0 : 3;
  if (!d.value()) {
    lua_pushnil(L);
    lua_pushinteger(L, static_cast<lua_Integer>(d.at + 1));
    lua_pushstring(L, d.why.c_str());
    return 3;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(d.at + 1));
  return 2;
}

}  // namespace

bool json_encode(lua_State* L, ScriptHost*, int idx, std::string& out, size_t max_bytes,
                 int max_depth, bool strict_keys, std::string* why) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  out.clear();
  Encoder e{L, out, max_bytes, max_depth, strict_keys, why};
  const int top = lua_gettop(L);
  const bool ok = e.value(idx, 0);
  lua_settop(L, top);
  if (ok && out.size() > max_bytes) {
    *why = "encoded value larger than the limit";
    return false;
  }
  return ok;
}

bool json_valid(lua_State* L, std::string_view text) {
  Decoder d{L, text};
  const int top = lua_gettop(L);
  bool ok = d.value();
  if (ok) {
    d.ws();
    ok = d.at == text.size();
  }
  lua_settop(L, top);
  return ok;
}

void push_json_module(lua_State* L, ScriptHost* h) {
  lua_newtable(L);
  set_fn(L, h, "encode", json_encode_fn);
  set_fn(L, h, "decode", json_decode_fn);
  lua_pushlightuserdata(L, null_value());
  lua_setfield(L, -2, "null");
  lua_pushstring(L, "dkjson-compatible (loupe)");
  lua_setfield(L, -2, "version");
}

}  // namespace loupe
