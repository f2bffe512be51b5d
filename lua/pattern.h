// Lua 5.1 string patterns as LuaJIT runs them (contract §6.1), with a step
// budget (§6.5, §6.7): the matcher behind the sandbox's string.find, match,
// gmatch and gsub. Engine-neutral: no Lua type appears here; a match reports
// its captures as offsets into the subject, and errors as a Status the
// caller turns into a Lua error (lua/bind_pattern.cc).
//
// A pattern is compiled once per call into a flat Program (items, and a
// 256-bit set per character class), then matched by a backtracking matcher
// whose recursion mirrors LuaJIT's, so that results, errors and the order in
// which they are found are the same: a malformed item is an error only when
// the matcher reaches it, as in LuaJIT, and "pattern too complex" comes at
// the same nesting depth (200).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loupe::pattern {

// Contract §6.7: the longest subject, and the steps one call may take (a
// step: one attempt of one pattern item at one subject position).
inline constexpr size_t kMaxSubject = size_t{1} << 20;
inline constexpr uint64_t kBaseSteps = 1'000'000;
inline constexpr uint64_t kStepsPerByte = 16;
inline constexpr uint64_t step_limit(size_t subject_len) {
  return kBaseSteps + kStepsPerByte * subject_len;
}
// The matcher offers to stop (a pending hard stop) this often.
inline constexpr uint64_t kPollSteps = 4096;
// LuaJIT's limits, kept so that the same patterns fail the same way.
inline constexpr int kMaxCaptures = 32;
inline constexpr int kMaxDepth = 200;

enum class Status : uint8_t {
  kMatch,
  kNoMatch,
  kEndsWithPercent,         // malformed pattern (ends with '%')
  kMissingBracket,          // malformed pattern (missing ']')
  kMissingFrontierBracket,  // missing '[' after '%f' in pattern
  kUnbalanced,              // unbalanced pattern (%b without two characters)
  kInvalidCaptureIndex,     // back-reference to a capture that is not closed
  kInvalidPatternCapture,   // ')' without an open capture
  kTooManyCaptures,         // more than 32
  kTooComplex,              // nesting deeper than 200
  kUnfinishedCapture,       // raised by callers reading an unclosed capture
  kStepLimit,               // the call's step budget is spent
  kInterrupted,             // the poll function asked to stop
};
// LuaJIT's message for a pattern error (the text after "file:line: ").
const char* message(Status s);

// What the caller of a compiled pattern sees of one capture.
// (No member initialisers: a Matcher holds 32 of them and sets each one
// before it is read.)
struct Capture {
  static constexpr int64_t kUnfinished = -1;
  static constexpr int64_t kPosition = -2;  // `()`: its value is start + 1
  size_t start;
  int64_t len;  // a length, kUnfinished or kPosition
};

struct CharSet {
  uint64_t bits[4] = {};
  bool has(uint8_t c) const { return (bits[c >> 6] >> (c & 63)) & 1; }
  void add(uint8_t c) { bits[c >> 6] |= uint64_t{1} << (c & 63); }
};

enum class Op : uint8_t {
  kChar,       // one literal byte (a)
  kAny,        // `.`
  kSet,        // a class (%a) or a bracket set ([...]): sets[set]
  kOpen,       // `(`
  kPosition,   // `()`
  kClose,      // `)`
  kBalanced,   // %bxy: a, b
  kFrontier,   // %f[set]
  kBackref,    // %0-%9: a is the digit
  kEndAnchor,  // `$` as the last character
  kEnd,        // end of the pattern: success
  kError,      // a malformed item: the Status in a, raised when reached
};
enum class Quant : uint8_t { kOne, kOptional, kStar, kPlus, kLazy };

// Eight bytes: a compiled pattern takes at most 8 bytes per pattern byte,
// plus 32 per bracket set and per distinct class.
struct Item {
  Op op = Op::kEnd;
  Quant quant = Quant::kOne;
  uint8_t a = 0;
  uint8_t b = 0;
  uint32_t set = 0;  // index in Program::sets
};

// A compiled pattern in one caller-owned block (see compile()). Movable
// only as the block it lives in is: it points into itself.
struct Program {
  const Item* items = nullptr;
  const CharSet* sets = nullptr;
  uint32_t item_count = 0;
  // What every match must start with, when the first item is a literal or
  // a set matched once or more: a search skips the positions where an
  // attempt would fail at its first step (and have no other effect).
  int first_byte = -1;  // the literal, or -1
  int first_set = -1;   // the set's index, or -1
};

// Bytes compile() needs for `pattern` (an upper bound from one scan).
size_t compiled_size(std::string_view pattern);
// Compiles `pattern` into `mem` (compiled_size(pattern) bytes, aligned to
// 8 bytes) and returns the program, which lives in `mem`.
// The pattern ends at its first NUL byte, as in LuaJIT; a leading `^` is
// the caller's business (find, match and gsub strip it, gmatch does not).
// Never fails: a malformed item compiles to an error item.
const Program* compile(std::string_view pattern, void* mem);

// Whether `pattern` holds one of the characters that make string.find
// search for a pattern rather than the plain string (LuaJIT looks at every
// byte, NULs included).
bool has_specials(std::string_view pattern);

struct Limits {
  uint64_t max_steps = step_limit(0);
  // Called every kPollSteps steps; true stops the match with kInterrupted.
  bool (*poll)(void* ctx) = nullptr;
  void* poll_ctx = nullptr;
};

// Matches one program against one subject; the step count runs across
// every attempt made through the same Matcher (one call of find, match or
// gsub, one iteration of gmatch).
class Matcher {
 public:
  Matcher(const Program& program, std::string_view subject, const Limits& limits);

  // One attempt at subject offset `at` (<= subject size). kMatch with `*end`
  // set, kNoMatch, or an error.
  Status attempt(size_t at, size_t* end);
  // Attempts at `from`, from + 1, ... up to the subject's end (only at
  // `from` when `anchored`); kMatch with the match in [*start, *end).
  Status search(size_t from, bool anchored, size_t* start, size_t* end);

  // Captures of the last match.
  int capture_count() const { return level_; }
  const Capture& capture(int i) const { return captures_[i]; }
  uint64_t steps() const { return steps_; }
  uint64_t max_steps() const { return limits_.max_steps; }

 private:
  static constexpr ptrdiff_t kFail = -1;
  static constexpr ptrdiff_t kAbort = -2;  // status_ says why

  ptrdiff_t match(size_t s, const Item* p);
  ptrdiff_t max_expand(size_t s, const Item* p);
  ptrdiff_t min_expand(size_t s, const Item* p);
  ptrdiff_t open_capture(size_t s, const Item* p, int64_t what);
  ptrdiff_t close_capture(size_t s, const Item* p);
  ptrdiff_t abort(Status s) {
    status_ = s;
    return kAbort;
  }
  bool single(const Item& it, uint8_t c) const {
    switch (it.op) {
      case Op::kChar:
        return c == it.a;
      case Op::kAny:
        return true;
      default:
        return program_.sets[it.set].has(c);
    }
  }
  // Counts n steps; false (status_ set) when the budget is spent or the
  // poll function asks to stop.
  bool step(uint64_t n = 1) {
    steps_ += n;
    return steps_ < next_check_ || check();
  }
  bool check();

  const Program& program_;
  const uint8_t* subject_;
  size_t len_;
  Limits limits_;
  uint64_t steps_ = 0;
  uint64_t next_check_;
  int level_ = 0;
  int depth_ = 0;
  Status status_ = Status::kNoMatch;
  Capture captures_[kMaxCaptures];
};

}  // namespace loupe::pattern
