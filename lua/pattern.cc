// lua/pattern.h: compiling a pattern into items and character sets, and the
// backtracking matcher. The matcher's recursion follows LuaJIT's own
// (lib_string.c) call for call: one level per capture, per `?` taken, per
// retry of `*`, `+` and `-`; everything else iterates. That is what makes
// "pattern too complex" and every other error come exactly where LuaJIT
// raises them.
#include "lua/pattern.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <new>

namespace loupe::pattern {
namespace {

// Character classes as LuaJIT defines them: ASCII only, whatever the locale.
constexpr bool in_class(uint8_t letter, uint8_t c) {
  const bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
  const bool digit = c >= '0' && c <= '9';
  switch (letter | 0x20) {
    case 'a':
      return upper || lower;
    case 'c':
      return c < 32 || c == 127;
    case 'd':
      return digit;
    case 'g':
      return c > 32 && c < 127;
    case 'l':
      return lower;
    case 'p':
      return c > 32 && c < 127 && !upper && !lower && !digit;
    case 's':
      return c == ' ' || (c >= 9 && c <= 13);
    case 'u':
      return upper;
    case 'w':
      return upper || lower || digit;
    case 'x':
      return digit || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
    case 'z':
      return c == 0;
    default:
      return false;
  }
}

constexpr std::string_view kClassLetters = "acdglpsuwxzACDGLPSUWXZ";
constexpr int kClassCount = static_cast<int>(kClassLetters.size());

constexpr bool is_class_letter(uint8_t letter) {
  return kClassLetters.find(static_cast<char>(letter)) != std::string_view::npos;
}

// Letter -> its index in kClassLetters (0 for other bytes, never read).
constexpr std::array<uint8_t, 256> kClassIds = [] {
  std::array<uint8_t, 256> t{};
  for (int i = 0; i < kClassCount; ++i)
    t[static_cast<uint8_t>(kClassLetters[i])] = static_cast<uint8_t>(i);
  return t;
}();

// One set per class letter (an upper-case letter is the complement); for
// any other byte, the set holding that byte alone (`%.` is a literal dot).
struct ClassTable {
  std::array<CharSet, 256> sets{};
  constexpr ClassTable() {
    for (int l = 0; l < 256; ++l) {
      const auto letter = static_cast<uint8_t>(l);
      for (int c = 0; c < 256; ++c) {
        const auto ch = static_cast<uint8_t>(c);
        const bool in =
            is_class_letter(letter) ? in_class(letter, ch) == ((letter & 0x20) != 0) : ch == letter;
        if (in) sets[l].bits[c >> 6] |= uint64_t{1} << (c & 63);
      }
    }
  }
};
constexpr ClassTable kClasses;

constexpr std::array<bool, 256> kSpecials = [] {
  std::array<bool, 256> t{};
  for (const char c : std::string_view("^$*+?.([%-")) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

// LuaJIT reads patterns as C strings: a NUL byte ends one.
std::string_view up_to_nul(std::string_view p) {
  const void* nul = std::memchr(p.data(), 0, p.size());
  return nul == nullptr
             ? p
             : p.substr(0, static_cast<size_t>(static_cast<const char*>(nul) - p.data()));
}

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

void add_set(CharSet& to, const CharSet& from) {
  for (int i = 0; i < 4; ++i) to.bits[i] |= from.bits[i];
}

// Bits lo..hi (none when lo > hi), a word at a time: a set's cost does not
// depend on the width of its ranges.
void add_range(CharSet& s, unsigned lo, unsigned hi) {
  for (unsigned w = 0; w < 4; ++w) {
    const unsigned a = std::max(lo, w * 64), b = std::min(hi, w * 64 + 63);
    if (a > b) continue;
    s.bits[w] |= (~uint64_t{0} >> (63 - (b - a))) << (a - w * 64);
  }
}

// The index of the `]` closing the set opened at p[open], following
// LuaJIT's scan: a `^` first is skipped, the next character is taken
// whatever it is (so `[]]` holds `]`), `%` escapes the character after it.
// npos when the pattern ends first.
size_t set_close(std::string_view p, size_t open) {
  size_t j = open + 1;
  if (j < p.size() && p[j] == '^') ++j;
  for (;;) {
    if (j >= p.size()) return std::string_view::npos;
    const char c = p[j++];
    if (c == '%' && j < p.size()) ++j;
    if (j < p.size() && p[j] == ']') return j;
  }
}

// The members of the set p[open..close]. Walks the set as LuaJIT does when
// it tests one character, but once, for all 256: ranges `x-y` need a
// character after the `-` that is not the closing `]`.
CharSet set_members(std::string_view p, size_t open, size_t close) {
  CharSet s;
  size_t q = open;
  const bool negated = p[q + 1] == '^';
  if (negated) ++q;
  while (++q < close) {
    const auto c = static_cast<uint8_t>(p[q]);
    if (c == '%') {
      ++q;  // never past `close`: set_close skipped the escaped byte
      add_set(s, kClasses.sets[static_cast<uint8_t>(p[q])]);
    } else if (p[q + 1] == '-' && q + 2 < close) {
      add_range(s, c, static_cast<uint8_t>(p[q + 2]));
      q += 2;
    } else {
      s.add(c);
    }
  }
  if (negated) {
    for (uint64_t& w : s.bits) w = ~w;
  }
  return s;
}

struct Layout {
  size_t max_sets;
  size_t max_items;
  size_t sets_at;
  size_t items_at;
  size_t bytes;
};

Layout layout(std::string_view p) {
  Layout l{};
  // Every item takes at least one byte of the pattern (plus the end item);
  // a set comes with a `[`, or with a `%` naming a class not seen before.
  l.max_items = p.size() + 1;
  size_t escapes = 0;
  for (const char c : p) {
    l.max_sets += c == '[';
    escapes += c == '%';
  }
  l.max_sets += std::min<size_t>(escapes, kClassCount);
  l.sets_at = (sizeof(Program) + 7) & ~size_t{7};
  l.items_at = l.sets_at + l.max_sets * sizeof(CharSet);
  l.bytes = l.items_at + l.max_items * sizeof(Item);
  return l;
}

}  // namespace

const char* message(Status s) {
  switch (s) {
    case Status::kEndsWithPercent:
      return "malformed pattern (ends with '%')";
    case Status::kMissingBracket:
      return "malformed pattern (missing ']')";
    case Status::kMissingFrontierBracket:
      return "missing '[' after '%f' in pattern";
    case Status::kUnbalanced:
      return "unbalanced pattern";
    case Status::kInvalidCaptureIndex:
      return "invalid capture index";
    case Status::kInvalidPatternCapture:
      return "invalid pattern capture";
    case Status::kTooManyCaptures:
      return "too many captures";
    case Status::kTooComplex:
      return "pattern too complex";
    case Status::kUnfinishedCapture:
      return "unfinished capture";
    case Status::kStepLimit:
      return "pattern step limit exceeded";
    case Status::kInterrupted:
      return "pattern match interrupted";
    case Status::kMatch:
    case Status::kNoMatch:
      break;
  }
  return "";
}

bool has_specials(std::string_view pattern) {
  for (const char c : pattern) {
    if (kSpecials[static_cast<uint8_t>(c)]) return true;
  }
  return false;
}

size_t compiled_size(std::string_view pattern) { return layout(up_to_nul(pattern)).bytes; }

const Program* compile(std::string_view pattern, void* mem) {
  const std::string_view p = up_to_nul(pattern);
  const Layout l = layout(p);
  auto* base = static_cast<unsigned char*>(mem);
  auto* prog = new (base) Program;
  auto* sets = reinterpret_cast<CharSet*>(base + l.sets_at);
  auto* items = reinterpret_cast<Item*>(base + l.items_at);
  uint32_t nsets = 0, nitems = 0;
  const auto new_set = [&](const CharSet& s) {
    sets[nsets] = s;
    return nsets++;
  };
  const auto push = [&](Op op, uint8_t a = 0, uint8_t b = 0) -> Item& {
    Item& it = items[nitems++];
    it = Item{};
    it.op = op;
    it.a = a;
    it.b = b;
    return it;
  };
  const auto error = [&](Status s) { push(Op::kError, static_cast<uint8_t>(s)); };
  // One copy of each class however often the pattern uses it.
  uint32_t by_class[kClassCount];
  std::fill(std::begin(by_class), std::end(by_class), UINT32_MAX);
  const auto class_set = [&](uint8_t letter) {
    uint32_t& at = by_class[kClassIds[letter]];
    if (at == UINT32_MAX) at = new_set(kClasses.sets[letter]);
    return at;
  };

  size_t i = 0;
  const size_t n = p.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(p[i]);
    if (c == '(') {
      const bool position = i + 1 < n && p[i + 1] == ')';
      push(position ? Op::kPosition : Op::kOpen);
      i += position ? 2 : 1;
      continue;
    }
    if (c == ')') {
      push(Op::kClose);
      ++i;
      continue;
    }
    if (c == '$' && i + 1 == n) {
      push(Op::kEndAnchor);
      ++i;
      continue;
    }
    if (c == '%' && i + 1 < n) {
      const auto d = static_cast<uint8_t>(p[i + 1]);
      if (d == 'b') {
        if (i + 3 >= n) {
          error(Status::kUnbalanced);
          break;
        }
        push(Op::kBalanced, static_cast<uint8_t>(p[i + 2]), static_cast<uint8_t>(p[i + 3]));
        i += 4;
        continue;
      }
      if (d == 'f') {
        const size_t open = i + 2;
        if (open >= n || p[open] != '[') {
          error(Status::kMissingFrontierBracket);
          break;
        }
        const size_t close = set_close(p, open);
        if (close == std::string_view::npos) {
          error(Status::kMissingBracket);
          break;
        }
        push(Op::kFrontier).set = new_set(set_members(p, open, close));
        i = close + 1;
        continue;
      }
      if (is_digit(d)) {
        push(Op::kBackref, d);
        i += 2;
        continue;
      }
    }
    // A single-character item, then its quantifier if any.
    Item one;
    if (c == '%') {
      if (i + 1 >= n) {
        error(Status::kEndsWithPercent);
        break;
      }
      const auto letter = static_cast<uint8_t>(p[i + 1]);
      if (is_class_letter(letter)) {
        one.op = Op::kSet;
        one.set = class_set(letter);
      } else {
        one.op = Op::kChar;
        one.a = letter;
      }
      i += 2;
    } else if (c == '[') {
      const size_t close = set_close(p, i);
      if (close == std::string_view::npos) {
        error(Status::kMissingBracket);
        break;
      }
      one.op = Op::kSet;
      one.set = new_set(set_members(p, i, close));
      i = close + 1;
    } else {
      one.op = c == '.' ? Op::kAny : Op::kChar;
      one.a = c;
      ++i;
    }
    if (i < n) {
      switch (p[i]) {
        case '?':
          one.quant = Quant::kOptional;
          ++i;
          break;
        case '*':
          one.quant = Quant::kStar;
          ++i;
          break;
        case '+':
          one.quant = Quant::kPlus;
          ++i;
          break;
        case '-':
          one.quant = Quant::kLazy;
          ++i;
          break;
        default:
          break;
      }
    }
    items[nitems++] = one;
  }
  push(Op::kEnd);

  prog->items = items;
  prog->sets = sets;
  prog->item_count = nitems;
  const Item& first = items[0];
  if (first.quant == Quant::kOne || first.quant == Quant::kPlus) {
    if (first.op == Op::kChar) prog->first_byte = first.a;
    if (first.op == Op::kSet) prog->first_set = static_cast<int>(first.set);
  }
  return prog;
}

Matcher::Matcher(const Program& program, std::string_view subject, const Limits& limits)
    : program_(program),
      subject_(reinterpret_cast<const uint8_t*>(subject.data())),
      len_(subject.size()),
      limits_(limits),
      next_check_(std::min(kPollSteps, limits.max_steps + 1)) {}

bool Matcher::check() {
  if (steps_ > limits_.max_steps) {
    status_ = Status::kStepLimit;
    return false;
  }
  if (limits_.poll != nullptr && limits_.poll(limits_.poll_ctx)) {
    status_ = Status::kInterrupted;
    return false;
  }
  next_check_ = std::min(steps_ + kPollSteps, limits_.max_steps + 1);
  return true;
}

Status Matcher::attempt(size_t at, size_t* end) {
  level_ = 0;
  depth_ = 0;
  const ptrdiff_t r = match(at, program_.items);
  if (r >= 0) {
    *end = static_cast<size_t>(r);
    return Status::kMatch;
  }
  return r == kFail ? Status::kNoMatch : status_;
}

Status Matcher::search(size_t from, bool anchored, size_t* start, size_t* end) {
  size_t s = from;
  for (;;) {
    if (!anchored && program_.first_byte >= 0) {
      const void* q = s < len_ ? std::memchr(subject_ + s, program_.first_byte, len_ - s) : nullptr;
      if (q == nullptr) return Status::kNoMatch;
      s = static_cast<size_t>(static_cast<const uint8_t*>(q) - subject_);
    } else if (!anchored && program_.first_set >= 0) {
      const CharSet& set = program_.sets[program_.first_set];
      while (s < len_ && !set.has(subject_[s])) ++s;
      if (s == len_) return Status::kNoMatch;
    }
    const Status st = attempt(s, end);
    if (st != Status::kNoMatch) {
      *start = s;
      return st;
    }
    if (anchored || s >= len_) return Status::kNoMatch;
    ++s;
  }
}

ptrdiff_t Matcher::match(size_t s, const Item* p) {
  if (++depth_ > kMaxDepth) return abort(Status::kTooComplex);
  const auto leave = [this](ptrdiff_t r) {
    --depth_;
    return r;
  };
  for (;;) {
    if (!step()) return kAbort;
    const Item& it = *p;
    switch (it.op) {
      case Op::kOpen:
        return leave(open_capture(s, p + 1, Capture::kUnfinished));
      case Op::kPosition:
        return leave(open_capture(s, p + 1, Capture::kPosition));
      case Op::kClose:
        return leave(close_capture(s, p + 1));
      case Op::kEnd:
        return leave(static_cast<ptrdiff_t>(s));
      case Op::kEndAnchor:
        return leave(s == len_ ? static_cast<ptrdiff_t>(s) : kFail);
      case Op::kError:
        return abort(static_cast<Status>(it.a));
      case Op::kBalanced: {
        if (s >= len_ || subject_[s] != it.a) return leave(kFail);
        size_t e = s + 1;
        int open = 1;
        for (; e < len_; ++e) {
          if (subject_[e] == it.b) {
            if (--open == 0) break;
          } else if (subject_[e] == it.a) {
            ++open;
          }
        }
        if (!step(e - s)) return kAbort;  // one step per byte scanned
        if (e >= len_) return leave(kFail);
        s = e + 1;
        ++p;
        continue;
      }
      case Op::kFrontier: {
        const CharSet& set = program_.sets[it.set];
        const uint8_t before = s == 0 ? 0 : subject_[s - 1];
        const uint8_t at = s < len_ ? subject_[s] : 0;
        if (set.has(before) || !set.has(at)) return leave(kFail);
        ++p;
        continue;
      }
      case Op::kBackref: {
        const int l = it.a - '1';
        if (l < 0 || l >= level_ || captures_[l].len == Capture::kUnfinished) {
          return abort(Status::kInvalidCaptureIndex);
        }
        const Capture& c = captures_[l];
        // A position capture has no text: LuaJIT compares a length of
        // SIZE_MAX - 1, which never fits.
        if (c.len == Capture::kPosition) return leave(kFail);
        const auto n = static_cast<size_t>(c.len);
        if (len_ - s < n) return leave(kFail);
        // Long comparisons cost a step per 16 bytes, but only once their
        // first 16 bytes agree: most fail there, at the cost of one step.
        const size_t head = std::min<size_t>(n, 16);
        if (std::memcmp(subject_ + c.start, subject_ + s, head) != 0) return leave(kFail);
        if (n > head) {
          if (!step(n / 16)) return kAbort;
          if (std::memcmp(subject_ + c.start + head, subject_ + s + head, n - head) != 0) {
            return leave(kFail);
          }
        }
        s += n;
        ++p;
        continue;
      }
      case Op::kChar:
      case Op::kAny:
      case Op::kSet: {
        const bool m = s < len_ && single(it, subject_[s]);
        switch (it.quant) {
          case Quant::kOne:
            if (!m) return leave(kFail);
            ++s;
            ++p;
            continue;
          case Quant::kOptional:
            if (m) {
              const ptrdiff_t r = match(s + 1, p + 1);
              if (r != kFail) return leave(r);
            }
            ++p;
            continue;
          case Quant::kStar:
            return leave(max_expand(s, p));
          case Quant::kPlus:
            return leave(m ? max_expand(s + 1, p) : kFail);
          case Quant::kLazy:
            return leave(min_expand(s, p));
        }
      }
    }
    return abort(Status::kTooComplex);  // unreachable: every op is handled
  }
}

ptrdiff_t Matcher::max_expand(size_t s, const Item* p) {
  const Item& it = *p;
  size_t i = 0;
  switch (it.op) {
    case Op::kAny:
      i = len_ - s;
      break;
    case Op::kChar:
      while (s + i < len_ && subject_[s + i] == it.a) ++i;
      break;
    default: {
      const CharSet& set = program_.sets[it.set];
      while (s + i < len_ && set.has(subject_[s + i])) ++i;
    }
  }
  if (!step(i)) return kAbort;  // one step per repetition taken
  for (;;) {
    const ptrdiff_t r = match(s + i, p + 1);
    if (r != kFail || i == 0) return r;
    --i;
  }
}

ptrdiff_t Matcher::min_expand(size_t s, const Item* p) {
  for (;;) {
    const ptrdiff_t r = match(s, p + 1);
    if (r != kFail) return r;
    if (s >= len_ || !single(*p, subject_[s])) return kFail;
    ++s;
    if (!step()) return kAbort;
  }
}

ptrdiff_t Matcher::open_capture(size_t s, const Item* p, int64_t what) {
  if (level_ >= kMaxCaptures) return abort(Status::kTooManyCaptures);
  captures_[level_] = Capture{s, what};
  ++level_;
  const ptrdiff_t r = match(s, p);
  if (r == kFail) --level_;
  return r;
}

ptrdiff_t Matcher::close_capture(size_t s, const Item* p) {
  int l = level_ - 1;
  while (l >= 0 && captures_[l].len != Capture::kUnfinished) --l;
  if (l < 0) return abort(Status::kInvalidPatternCapture);
  captures_[l].len = static_cast<int64_t>(s - captures_[l].start);
  const ptrdiff_t r = match(s, p);
  if (r == kFail) captures_[l].len = Capture::kUnfinished;
  return r;
}

}  // namespace loupe::pattern
