// lua/lua53.h: a Lua 5.3 parser (over lua/lua53_lex.h) whose only
// product is a list of text edits. The parser walks the whole grammar
// (statements, function bodies, table constructors, every expression)
// because the extent of an operand is only known from the grammar: in
// `f(x).y + 1 << n` the shift's left operand starts at `f`. It builds no
// tree: each expression reports its first and last token, and a rewritten
// operator records an opening `(__helper(` before its left operand, a `,`
// in place of the operator and `))` after its right operand. Nothing else
// of the text moves, so the output has the input's lines, and a chunk
// without 5.3 operators is never touched.
#include "lua/lua53.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lua/lua53_lex.h"

namespace loupe {
namespace {

using namespace lua53;  // NOLINT: the lexer is this file's own

// One text edit: at `offset`, insert `text` and drop `skip` source bytes.
// At one offset, closings come first (inner expressions first), then
// openings (outer expressions first), then a replaced operator.
struct Edit {
  uint32_t offset;
  int order;  // 0 prefix, 1 closing, 2 opening, 3 replacement
  int key;
  const char* text;
  uint32_t skip;
};

// Binary operator priorities of Lua 5.3 (left, right); 0: not a binary
// operator.
struct Priority {
  int left, right;
};
Priority binary_priority(int kind) {
  switch (kind) {
    case kOr:
      return {1, 1};
    case kAnd:
      return {2, 2};
    case '<':
    case '>':
    case kLe:
    case kGe:
    case kNe:
    case kEq:
      return {3, 3};
    case '|':
      return {4, 4};
    case '~':
      return {5, 5};
    case '&':
      return {6, 6};
    case kShl:
    case kShr:
      return {7, 7};
    case kConcat:
      return {9, 8};
    case '+':
    case '-':
      return {10, 10};
    case '*':
    case '/':
    case kIdiv:
    case '%':
      return {11, 11};
    case '^':
      return {14, 13};
    default:
      return {0, 0};
  }
}
constexpr int kUnaryPriority = 12;

// Index in kLua53Helpers of the helper a binary operator becomes.
int helper_of(int kind) {
  switch (kind) {
    case '&':
      return 0;
    case '|':
      return 1;
    case '~':
      return 2;
    case kShl:
      return 4;
    case kShr:
      return 5;
    case kIdiv:
      return 6;
    default:
      return -1;
  }
}
constexpr int kBnot = 3;
// "(__band(" ... : the helper names with their opening parentheses. The
// outer pair keeps `return a & b` from becoming a tail call, which would
// drop the caller's frame and so the line an error names; a 5.3 operator
// has one value, so the pair changes nothing else.
constexpr const char* kOpenings[] = {"(__band(", "(__bor(", "(__bxor(", "(__bnot(",
                                     "(__shl(",  "(__shr(", "(__idiv("};
constexpr const char kClosing[] = "))";

struct Span {
  size_t first, last;  // token indices
};

class Parser {
 public:
  Parser(std::string_view src, const std::vector<Token>& toks) : src_(src), t_(toks) {}

  void chunk() {
    block();
    if (kind() != kEof) error_expected(kEof);
  }

  std::string output() {
    std::string prefix;
    if (used_ != 0) {
      std::string names;
      for (size_t k = 0; k < std::size(kLua53Helpers); ++k) {
        if ((used_ & (1u << k)) == 0) continue;
        names.append(names.empty() ? "" : ",").append(kLua53Helpers[k]);
      }
      prefix = "local " + names + "=" + names + "; ";
      edits_.push_back({t_[0].begin, 0, 0, prefix.c_str(), 0});
    }
    std::sort(edits_.begin(), edits_.end(), [](const Edit& a, const Edit& b) {
      if (a.offset != b.offset) return a.offset < b.offset;
      if (a.order != b.order) return a.order < b.order;
      return a.key < b.key;
    });
    std::string out;
    out.reserve(src_.size() + edits_.size() * 8 + prefix.size());
    size_t pos = 0;
    for (const Edit& e : edits_) {
      out.append(src_.substr(pos, e.offset - pos));
      out.append(e.text);
      pos = e.offset + e.skip;
    }
    out.append(src_.substr(pos));
    return out;
  }

 private:
  int kind() const { return t_[i_].kind; }
  int line() const { return t_[i_].line; }
  void next() {
    if (t_[i_].kind != kEof) ++i_;
  }
  bool test_next(int k) {
    if (kind() != k) return false;
    next();
    return true;
  }
  void check_next(int k) {
    if (kind() != k) error_expected(k);
    next();
  }

  static std::string token_text(int k) {
    if (k < 256) return std::string(1, static_cast<char>(k));
    if (k >= kAnd) return std::string(kReserved[k - kAnd]);
    return kMultiText[k - kEof];
  }

  [[noreturn]] void error(const std::string& msg) {
    const Token& tk = t_[i_];
    std::string near;
    if (tk.kind == kEof) {
      near = "<eof>";
    } else {
      near =
          "'" + std::string(src_.substr(tk.begin, std::min<size_t>(tk.end - tk.begin, 40))) + "'";
    }
    throw SyntaxError{msg + " near " + near, tk.line};
  }
  [[noreturn]] void error_expected(int k) {
    error(k == kName ? std::string("<name> expected") : "'" + token_text(k) + "' expected");
  }
  void check_match(int what, int who, int where) {
    if (kind() == what) {
      next();
      return;
    }
    if (where == line()) error_expected(what);
    error("'" + token_text(what) + "' expected (to close '" + token_text(who) + "' at line " +
          std::to_string(where) + ")");
  }

  static bool block_follow(int k, bool with_until) {
    return k == kElse || k == kElseif || k == kEnd || k == kEof || (with_until && k == kUntil);
  }

  void block() {
    while (!block_follow(kind(), true)) {
      if (kind() == kReturn) {
        next();
        if (!block_follow(kind(), true) && kind() != ';') explist();
        test_next(';');
        return;
      }
      statement();
    }
  }

  void statement() {
    const int ln = line();
    switch (kind()) {
      case ';':
        next();
        return;
      case kIf:
        do {
          next();
          expr();
          check_next(kThen);
          block();
        } while (kind() == kElseif);
        if (test_next(kElse)) block();
        check_match(kEnd, kIf, ln);
        return;
      case kWhile:
        next();
        expr();
        check_next(kDo);
        block();
        check_match(kEnd, kWhile, ln);
        return;
      case kDo:
        next();
        block();
        check_match(kEnd, kDo, ln);
        return;
      case kFor:
        next();
        check_next(kName);
        if (test_next('=')) {
          expr();
          check_next(',');
          expr();
          if (test_next(',')) expr();
        } else if (kind() == ',' || kind() == kIn) {
          while (test_next(',')) check_next(kName);
          check_next(kIn);
          explist();
        } else {
          error("'=' or 'in' expected");
        }
        check_next(kDo);
        block();
        check_match(kEnd, kFor, ln);
        return;
      case kRepeat:
        next();
        block();
        check_match(kUntil, kRepeat, ln);
        expr();
        return;
      case kFunction:
        next();
        check_next(kName);
        while (test_next('.')) check_next(kName);
        if (test_next(':')) check_next(kName);
        body(ln);
        return;
      case kLocal:
        next();
        if (test_next(kFunction)) {
          check_next(kName);
          body(ln);
          return;
        }
        do {
          check_next(kName);
        } while (test_next(','));
        if (test_next('=')) explist();
        return;
      case kDbColon:
        next();
        check_next(kName);
        check_next(kDbColon);
        return;
      case kBreak:
        next();
        return;
      case kGoto:
        next();
        check_next(kName);
        return;
      default: {
        bool call = false;
        suffixedexp(&call);
        if (kind() == '=' || kind() == ',') {
          while (test_next(',')) suffixedexp(&call);
          check_next('=');
          explist();
        } else if (!call) {
          error("syntax error");
        }
        return;
      }
    }
  }

  void body(int ln) {
    check_next('(');
    if (kind() != ')') {
      do {
        if (test_next(kDots)) break;
        if (kind() != kName) error("<name> or '...' expected");
        next();
      } while (test_next(','));
    }
    check_next(')');
    block();
    check_match(kEnd, kFunction, ln);
  }

  void explist() {
    expr();
    while (test_next(',')) expr();
  }

  Span expr() { return subexpr(0); }

  Span subexpr(int limit) {
    Span s;
    const int k = kind();
    if (k == kNot || k == '-' || k == '#' || k == '~') {
      const size_t op = i_;
      next();
      const Span e = subexpr(kUnaryPriority);
      if (k == '~') {
        const int key = ++seq_;
        edits_.push_back({t_[op].begin, 3, key, kOpenings[kBnot], 1});
        edits_.push_back({t_[e.last].end, 1, key, kClosing, 0});
        used_ |= 1u << kBnot;
      }
      s = {op, e.last};
    } else {
      s = simpleexp();
    }
    for (;;) {
      const int op_kind = kind();
      const Priority p = binary_priority(op_kind);
      if (p.left <= limit) break;
      const size_t op = i_;
      next();
      const Span r = subexpr(p.right);
      const int h = helper_of(op_kind);
      if (h >= 0) {
        const int key = ++seq_;
        edits_.push_back({t_[s.first].begin, 2, -key, kOpenings[h], 0});
        edits_.push_back({t_[op].begin, 3, key, ",", t_[op].end - t_[op].begin});
        edits_.push_back({t_[r.last].end, 1, key, kClosing, 0});
        used_ |= 1u << h;
      }
      s = {s.first, r.last};
    }
    return s;
  }

  Span simpleexp() {
    const size_t first = i_;
    switch (kind()) {
      case kNumber:
      case kString:
      case kNil:
      case kTrue:
      case kFalse:
      case kDots:
        next();
        return {first, first};
      case '{':
        constructor();
        return {first, i_ - 1};
      case kFunction: {
        const int ln = line();
        next();
        body(ln);
        return {first, i_ - 1};
      }
      default: {
        bool call = false;
        return suffixedexp(&call);
      }
    }
  }

  Span primaryexp() {
    const size_t first = i_;
    if (kind() == kName) {
      next();
      return {first, first};
    }
    if (kind() == '(') {
      const int ln = line();
      next();
      expr();
      check_match(')', '(', ln);
      return {first, i_ - 1};
    }
    error("unexpected symbol");
  }

  Span suffixedexp(bool* call) {
    const Span p = primaryexp();
    *call = false;
    for (;;) {
      switch (kind()) {
        case '.':
          next();
          check_next(kName);
          *call = false;
          break;
        case '[':
          next();
          expr();
          check_next(']');
          *call = false;
          break;
        case ':':
          next();
          check_next(kName);
          funcargs();
          *call = true;
          break;
        case '(':
        case kString:
        case '{':
          funcargs();
          *call = true;
          break;
        default:
          return {p.first, i_ - 1};
      }
    }
  }

  void funcargs() {
    const int ln = line();
    switch (kind()) {
      case '(':
        next();
        if (kind() != ')') explist();
        check_match(')', '(', ln);
        return;
      case '{':
        constructor();
        return;
      case kString:
        next();
        return;
      default:
        error("function arguments expected");
    }
  }

  void constructor() {
    const int ln = line();
    check_next('{');
    while (kind() != '}') {
      if (kind() == kName && t_[i_ + 1].kind == '=') {
        next();
        next();
        expr();
      } else if (kind() == '[') {
        next();
        expr();
        check_next(']');
        check_next('=');
        expr();
      } else {
        expr();
      }
      if (!test_next(',') && !test_next(';')) break;
    }
    check_match('}', '{', ln);
  }

  std::string_view src_;
  const std::vector<Token>& t_;
  size_t i_ = 0;
  std::vector<Edit> edits_;
  int seq_ = 0;
  uint32_t used_ = 0;
};

// No byte sequence that could be a 5.3 operator: no need to lex at all.
bool may_hold_operator(std::string_view s) {
  for (size_t k = 0; k < s.size(); ++k) {
    switch (s[k]) {
      case '&':
      case '|':
        return true;
      case '~':
        if (k + 1 >= s.size() || s[k + 1] != '=') return true;
        break;
      case '<':
      case '>':
      case '/':
        if (k + 1 < s.size() && s[k + 1] == s[k]) return true;
        break;
      default:
        break;
    }
  }
  return false;
}

}  // namespace

bool lua53_needs_translation(std::string_view source) {
  if (!may_hold_operator(source)) return false;
  Lexer lex(source);
  try {
    for (Token t = lex.next(); t.kind != kEof; t = lex.next()) {
      if (is_53_operator(t.kind)) return true;
    }
  } catch (const SyntaxError&) {
  }
  return false;
}

Lua53Translation translate_lua53(std::string_view source, std::string_view path) {
  Lua53Translation out;
  if (!may_hold_operator(source)) return out;
  std::vector<Token> toks;
  bool any = false;
  Lexer lex(source);
  try {
    for (;;) {
      toks.push_back(lex.next());
      any |= is_53_operator(toks.back().kind);
      if (toks.back().kind == kEof) break;
    }
  } catch (const SyntaxError& e) {
    // Before any 5.3 operator, LuaJIT's message about the same text is as
    // good as ours; after one, LuaJIT would stop at the operator instead.
    if (!any) return out;
    out.status = Lua53Translation::Status::kError;
    out.error = std::string(path) + ":" + std::to_string(e.line) + ": " + e.message;
    return out;
  }
  if (!any) return out;
  Parser parser(source, toks);
  try {
    parser.chunk();
  } catch (const SyntaxError& e) {
    out.status = Lua53Translation::Status::kError;
    out.error = std::string(path) + ":" + std::to_string(e.line) + ": " + e.message;
    return out;
  }
  out.status = Lua53Translation::Status::kTranslated;
  out.text = parser.output();
  return out;
}

bool lua53_prepare(std::string_view source, std::string_view path, std::string* storage,
                   std::string_view* code, std::string* err) {
  Lua53Translation t = translate_lua53(source, path);
  switch (t.status) {
    case Lua53Translation::Status::kUnchanged:
      *code = source;
      return true;
    case Lua53Translation::Status::kTranslated:
      *storage = std::move(t.text);
      *code = *storage;
      return true;
    case Lua53Translation::Status::kError:
      break;
  }
  *err = std::move(t.error);
  return false;
}

}  // namespace loupe
