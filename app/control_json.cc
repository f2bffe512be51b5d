// app/control_json.h
#include "app/control_json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loupe {
namespace {

constexpr int kMaxDepth = 64;

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        }
      }
      ++i;
    } else {
      const size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
    }
  }
  out.push_back('"');
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | cp >> 6));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | cp >> 12));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | cp >> 18));
    out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  std::optional<Json> document(std::string* error) {
    std::optional<Json> v = value(0);
    if (v) {
      blanks();
      if (at_ < s_.size()) v = fail("unexpected text after the value");
    }
    if (!v && error) *error = "at byte " + std::to_string(at_) + ": " + why_;
    return v;
  }

 private:
  std::nullopt_t fail(const char* why) {
    if (why_.empty()) why_ = why;
    return std::nullopt;
  }
  void blanks() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' ||
                               s_[at_] == '\r'))
      ++at_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  std::optional<Json> value(int depth) {
    if (depth > kMaxDepth) return fail("nested too deep");
    blanks();
    if (at_ >= s_.size()) return fail("unexpected end");
    const char c = s_[at_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      std::string str;
      if (!string(str)) return std::nullopt;
      return Json(std::move(str));
    }
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return fail("unexpected character");
  }

  std::optional<Json> number() {
    const size_t start = at_;
    if (s_[at_] == '-') ++at_;
    const size_t digits = at_;
    while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
    if (at_ == digits) return fail("a number needs digits");
    if (s_[digits] == '0' && at_ - digits > 1) return fail("a number has a leading zero");
    bool integral = s_[start] != '-';
    if (at_ < s_.size() && s_[at_] == '.') {
      integral = false;
      const size_t frac = ++at_;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
      if (at_ == frac) return fail("a fraction needs digits");
    }
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      integral = false;
      ++at_;
      if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
      const size_t exp = at_;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
      if (at_ == exp) return fail("an exponent needs digits");
    }
    const std::string text(s_.substr(start, at_ - start));
    if (integral) {
      errno = 0;
      const unsigned long long u = std::strtoull(text.c_str(), nullptr, 10);
      if (errno == 0) return Json(uint64_t{u});  // else past 2^64: a double
    }
    return Json(std::strtod(text.c_str(), nullptr));
  }

  bool hex4(uint32_t* out) {
    if (at_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[at_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }

  bool string(std::string& out) {
    ++at_;  // the opening quote
    while (at_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[at_]);
      if (c == '"') {
        ++at_;
        return true;
      }
      if (c < 0x20) return fail("a control character inside a string"), false;
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++at_;
        continue;
      }
      if (++at_ >= s_.size()) break;
      const char e = s_[at_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return fail("a bad \\u escape"), false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            uint32_t lo;
            if (!literal("\\u") || !hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF)
              return fail("an unpaired surrogate"), false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("an unpaired surrogate"), false;
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return fail("a bad escape"), false;
      }
    }
    return fail("an unterminated string"), false;
  }

  std::optional<Json> array(int depth) {
    ++at_;
    Json a = Json::array();
    blanks();
    if (at_ < s_.size() && s_[at_] == ']') {
      ++at_;
      return a;
    }
    for (;;) {
      std::optional<Json> v = value(depth + 1);
      if (!v) return std::nullopt;
      a.push(std::move(*v));
      blanks();
      if (at_ >= s_.size()) return fail("an unterminated array");
      if (s_[at_] == ']') {
        ++at_;
        return a;
      }
      if (s_[at_++] != ',') return fail("',' or ']' expected");
    }
  }

  std::optional<Json> object(int depth) {
    ++at_;
    Json o = Json::object();
    blanks();
    if (at_ < s_.size() && s_[at_] == '}') {
      ++at_;
      return o;
    }
    for (;;) {
      blanks();
      if (at_ >= s_.size() || s_[at_] != '"') return fail("a member name expected");
      std::string key;
      if (!string(key)) return std::nullopt;
      blanks();
      if (at_ >= s_.size() || s_[at_++] != ':') return fail("':' expected");
      std::optional<Json> v = value(depth + 1);
      if (!v) return std::nullopt;
      o.set(key, std::move(*v));
      blanks();
      if (at_ >= s_.size()) return fail("an unterminated object");
      if (s_[at_] == '}') {
        ++at_;
        return o;
      }
      if (s_[at_++] != ',') return fail("',' or '}' expected");
    }
  }

  std::string_view s_;
  size_t at_ = 0;
  std::string why_;
};

}  // namespace

uint64_t Json::as_uint() const {
  if (type_ != Type::kNumber) return 0;
  if (integral_) return uint_;
  return double_ >= 0 && double_ < 1.8e19 ? static_cast<uint64_t>(double_) : 0;
}

const std::string& Json::as_string() const {
  static const std::string kEmpty;
  return type_ == Type::kString ? string_ : kEmpty;
}

Json& Json::set(const std::string& key, Json value) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      items_[i] = std::move(value);
      return items_[i];
    }
  }
  keys_.push_back(key);
  items_.push_back(std::move(value));
  return items_.back();
}

const Json* Json::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] == key) return &items_[i];
  return nullptr;
}

const Json& Json::operator[](std::string_view key) const {
  static const Json kNull;
  const Json* v = find(key);
  return v ? *v : kNull;
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

void Json::dump_to(std::string& out) const {
  switch (type_) {
    case Type::kNull:
      out += "null";
      break;
    case Type::kBool:
      out += bool_ ? "true" : "false";
      break;
    case Type::kNumber:
      if (integral_) {
        out += std::to_string(uint_);
      } else if (!std::isfinite(double_)) {
        out += "null";  // JSON has no NaN or infinity
      } else {
        // The shortest of 15 or 17 digits that reads back as the same value.
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.15g", double_);
        if (std::strtod(buf, nullptr) != double_) std::snprintf(buf, sizeof(buf), "%.17g", double_);
        out += buf;
      }
      break;
    case Type::kString:
      append_string(out, string_);
      break;
    case Type::kArray:
      out.push_back('[');
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out.push_back(',');
        items_[i].dump_to(out);
      }
      out.push_back(']');
      break;
    case Type::kObject:
      out.push_back('{');
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out.push_back(',');
        append_string(out, keys_[i]);
        out.push_back(':');
        items_[i].dump_to(out);
      }
      out.push_back('}');
      break;
  }
}

std::optional<Json> Json::parse(std::string_view text, std::string* error) {
  return Reader(text).document(error);
}

}  // namespace loupe
