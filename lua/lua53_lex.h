// Private to lua/lua53.cc: the Lua 5.3 lexer of the translator. It only
// needs to find where each token begins and ends (and its line): strings,
// comments and long brackets are skipped whole, so nothing inside them is
// ever taken for an operator; numerals are read as LuaJIT reads them and
// judged by LuaJIT later.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::lua53 {

// Token kinds: single characters stand for themselves; the rest follow.
enum Kind : int {
  kEof = 256,
  kName,
  kNumber,
  kString,
  kEq,       // ==
  kNe,       // ~=
  kLe,       // <=
  kGe,       // >=
  kShl,      // <<
  kShr,      // >>
  kIdiv,     // //
  kConcat,   // ..
  kDots,     // ...
  kDbColon,  // ::
  // Reserved words, in the order of kReserved.
  kAnd,
  kBreak,
  kDo,
  kElse,
  kElseif,
  kEnd,
  kFalse,
  kFor,
  kFunction,
  kGoto,
  kIf,
  kIn,
  kLocal,
  kNil,
  kNot,
  kOr,
  kRepeat,
  kReturn,
  kThen,
  kTrue,
  kUntil,
  kWhile,
};

inline constexpr std::string_view kReserved[] = {
    "and",      "break",  "do",   "else", "elseif", "end",  "false", "for",
    "function", "goto",   "if",   "in",   "local",  "nil",  "not",   "or",
    "repeat",   "return", "then", "true", "until",  "while"};
inline constexpr const char* kMultiText[] = {"<eof>", "<name>", "<number>", "<string>", "==",
                                             "~=",    "<=",     ">=",       "<<",       ">>",
                                             "//",    "..",     "...",      "::"};

struct Token {
  int kind;
  uint32_t begin, end;  // byte offsets in the source
  int line;
};

// A syntax error: message without position, and the line it belongs to.
struct SyntaxError {
  std::string message;
  int line;
};

// LuaJIT's identifier characters (bytes from 0x80 included), without the
// locale lookups of <cctype>.
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_ident_start(unsigned char c) {
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? true : c == '_' || c >= 0x80;
}
inline bool is_ident(unsigned char c) { return is_ident_start(c) || is_digit(c); }

inline bool is_53_operator(int kind) {
  return kind == '&' || kind == '|' || kind == '~' || kind == kShl || kind == kShr || kind == kIdiv;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {
    // A first line starting with '#' is skipped by LuaJIT's loader (and by
    // the sandbox's wrapper); it is no code.
    if (!s_.empty() && s_[0] == '#') {
      while (p_ < s_.size() && s_[p_] != '\n' && s_[p_] != '\r') ++p_;
    }
  }

  // The next token; throws SyntaxError for an unreadable one.
  Token next() {
    for (;;) {
      if (p_ >= s_.size())
        return {kEof, static_cast<uint32_t>(p_), static_cast<uint32_t>(p_), line_};
      const char c = s_[p_];
      switch (c) {
        case '\n':
        case '\r':
          newline();
          continue;
        case ' ':
        case '\t':
        case '\v':
        case '\f':
          ++p_;
          continue;
        case '-':
          if (at(1) != '-') return single();
          p_ += 2;
          if (at(0) == '[') {
            const int level = long_level();
            if (level >= 0) {
              long_bracket(level, "unfinished long comment");
              continue;
            }
          }
          while (p_ < s_.size() && s_[p_] != '\n' && s_[p_] != '\r') ++p_;
          continue;
        case '[': {
          const size_t begin = p_;
          const int level = long_level();
          if (level >= 0) {
            const int line = line_;
            long_bracket(level, "unfinished long string");
            return {kString, static_cast<uint32_t>(begin), static_cast<uint32_t>(p_), line};
          }
          if (at(1) == '=') {
            size_t end = p_ + 1;
            while (end < s_.size() && s_[end] == '=') ++end;
            fail("invalid long string delimiter", begin, end);
          }
          return single();
        }
        case '"':
        case '\'':
          return short_string();
        case '=':
          return pair('=', kEq);
        case '<':
          if (at(1) == '<') return multi(kShl, 2);
          return pair('=', kLe);
        case '>':
          if (at(1) == '>') return multi(kShr, 2);
          return pair('=', kGe);
        case '/':
          return pair('/', kIdiv);
        case '~':
          return pair('=', kNe);
        case ':':
          return pair(':', kDbColon);
        case '.':
          if (at(1) == '.') return multi(at(2) == '.' ? kDots : kConcat, at(2) == '.' ? 3 : 2);
          if (is_digit(static_cast<unsigned char>(at(1)))) return number();
          return single();
        default:
          if (is_digit(static_cast<unsigned char>(c))) return number();
          if (is_ident_start(static_cast<unsigned char>(c))) return name();
          return single();
      }
    }
  }

 private:
  char at(size_t k) const { return p_ + k < s_.size() ? s_[p_ + k] : '\0'; }

  // \n, \r, \r\n and \n\r each end one line, as in Lua.
  void newline() {
    const char c = s_[p_++];
    if (p_ < s_.size() && (s_[p_] == '\n' || s_[p_] == '\r') && s_[p_] != c) ++p_;
    ++line_;
  }

  Token make(int kind, size_t begin, int line) {
    return {kind, static_cast<uint32_t>(begin), static_cast<uint32_t>(p_), line};
  }
  Token single() {
    ++p_;
    return make(static_cast<unsigned char>(s_[p_ - 1]), p_ - 1, line_);
  }
  Token multi(int kind, size_t n) {
    const size_t begin = p_;
    p_ += n;
    return make(kind, begin, line_);
  }
  // One character, or two when the second is `second`.
  Token pair(char second, int kind) { return at(1) == second ? multi(kind, 2) : single(); }

  // Lua quotes the text read so far: `near '"abc'`.
  [[noreturn]] void fail(const char* what, size_t begin, size_t end) {
    const std::string near(s_.substr(begin, std::min<size_t>(end - begin, 40)));
    throw SyntaxError{std::string(what) + " near '" + near + "'", line_};
  }

  // At '[': the level of a long bracket `[==[`, or -1 when it is none.
  int long_level() const {
    size_t k = p_ + 1;
    while (k < s_.size() && s_[k] == '=') ++k;
    if (k < s_.size() && s_[k] == '[') return static_cast<int>(k - p_ - 1);
    return -1;
  }

  void long_bracket(int level, const char* unfinished) {
    const int start = line_;
    p_ += static_cast<size_t>(level) + 2;
    for (;;) {
      if (p_ >= s_.size()) {
        throw SyntaxError{std::string(unfinished) + " (starting at line " + std::to_string(start) +
                              ") near <eof>",
                          line_};
      }
      const char c = s_[p_];
      if (c == ']') {
        size_t k = p_ + 1;
        while (k < s_.size() && s_[k] == '=') ++k;
        if (k < s_.size() && s_[k] == ']' && static_cast<int>(k - p_ - 1) == level) {
          p_ = k + 1;
          return;
        }
        ++p_;
      } else if (c == '\n' || c == '\r') {
        newline();
      } else {
        ++p_;
      }
    }
  }

  // A quoted string: only its end matters, so an escape skips the character
  // after the backslash (a line break counts as one), and `\z` the white
  // space after it.
  Token short_string() {
    const size_t begin = p_;
    const int line = line_;
    const char quote = s_[p_++];
    for (;;) {
      if (p_ >= s_.size()) throw SyntaxError{"unfinished string near <eof>", line_};
      const char c = s_[p_];
      if (c == quote) {
        ++p_;
        return make(kString, begin, line);
      }
      if (c == '\n' || c == '\r') fail("unfinished string", begin, p_);
      if (c != '\\') {
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= s_.size()) throw SyntaxError{"unfinished string near <eof>", line_};
      const char e = s_[p_];
      if (e == '\n' || e == '\r') {
        newline();
      } else if (e == 'z') {
        ++p_;
        while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) {
          if (s_[p_] == '\n' || s_[p_] == '\r') {
            newline();
          } else {
            ++p_;
          }
        }
      } else {
        ++p_;
      }
    }
  }

  // As LuaJIT reads a numeral: identifier characters, dots, and a sign
  // right after the exponent letter. LuaJIT judges the text.
  Token number() {
    const size_t begin = p_;
    char exp = 'e';
    if (s_[p_] == '0' && (at(1) | 0x20) == 'x') exp = 'p';
    char prev = 0;
    while (p_ < s_.size()) {
      const char c = s_[p_];
      if (is_ident(static_cast<unsigned char>(c)) || c == '.' ||
          ((c == '-' || c == '+') && (prev | 0x20) == exp)) {
        prev = c;
        ++p_;
      } else {
        break;
      }
    }
    return make(kNumber, begin, line_);
  }

  Token name() {
    const size_t begin = p_;
    while (p_ < s_.size() && is_ident(static_cast<unsigned char>(s_[p_]))) ++p_;
    const std::string_view word = s_.substr(begin, p_ - begin);
    if (word.size() < 2 || word.size() > 8 || word[0] < 'a') return make(kName, begin, line_);
    for (size_t k = 0; k < std::size(kReserved); ++k) {
      if (word == kReserved[k]) return make(kAnd + static_cast<int>(k), begin, line_);
    }
    return make(kName, begin, line_);
  }

  std::string_view s_;
  size_t p_ = 0;
  int line_ = 1;
};
}  // namespace loupe::lua53
