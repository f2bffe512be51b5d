// lua/arkime_data.h, engine-neutral half: byte search, globs, PCRE2.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lua/arkime_data.h"

#include <pcre2.h>
#include <string.h>

#include <cstdio>

namespace loupe::arkime {

size_t find_bytes(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return 0;
  if (needle.size() > hay.size()) return npos;
  // glibc's memmem is the two-way algorithm: linear whatever the needle.
  const void* at = memmem(hay.data(), hay.size(), needle.data(), needle.size());
  return at == nullptr ? npos : static_cast<size_t>(static_cast<const char*>(at) - hay.data());
}

namespace {

// Counts comparisons and asks the poll function every kGlobPollWork.
struct Work {
  bool (*poll)(void*);
  void* ctx;
  uint64_t done = 0;
  bool stop(uint64_t n) {
    done += n;
    if (done < kGlobPollWork) return false;
    done = 0;
    return poll != nullptr && poll(ctx);
  }
};

// Whether the piece (no `*`) matches the bytes at `d`, which hold at least
// piece.size() bytes.
bool piece_at(std::string_view piece, const char* d) {
  for (size_t i = 0; i < piece.size(); ++i) {
    if (piece[i] != '?' && piece[i] != d[i]) return false;
  }
  return true;
}

// Leftmost place of `piece` in data[from, to), or npos; kInterrupted
// through `*stopped`.
size_t find_piece(std::string_view data, size_t from, size_t to, std::string_view piece, Work& work,
                  bool* stopped) {
  if (piece.find('?') == std::string_view::npos) {
    const size_t at = find_bytes(data.substr(from, to - from), piece);
    return at == npos ? npos : from + at;
  }
  if (to - from < piece.size()) return npos;
  for (size_t at = from; at + piece.size() <= to; ++at) {
    if (work.stop(piece.size())) {
      *stopped = true;
      return npos;
    }
    if (piece_at(piece, data.data() + at)) return at;
  }
  return npos;
}

}  // namespace

GlobStatus glob_match(std::string_view glob, std::string_view data, bool (*poll)(void*),
                      void* poll_ctx) {
  const size_t first_star = glob.find('*');
  if (first_star == std::string_view::npos) {
    return data.size() == glob.size() && piece_at(glob, data.data()) ? GlobStatus::kMatch
                                                                     : GlobStatus::kNoMatch;
  }
  // The glob is head * middle pieces * tail: the head must start the data
  // and the tail end it, without overlapping; the middle pieces fit
  // between them in order.
  const size_t last_star = glob.rfind('*');
  const std::string_view head = glob.substr(0, first_star);
  const std::string_view tail = glob.substr(last_star + 1);
  if (data.size() < head.size() + tail.size()) return GlobStatus::kNoMatch;
  if (!piece_at(head, data.data()) || !piece_at(tail, data.data() + data.size() - tail.size())) {
    return GlobStatus::kNoMatch;
  }
  size_t lo = head.size();
  const size_t hi = data.size() - tail.size();
  Work work{poll, poll_ctx};
  size_t at = first_star + 1;
  while (at < last_star) {
    const size_t star = glob.find('*', at);
    const std::string_view piece = glob.substr(at, star - at);
    at = star + 1;
    if (piece.empty()) continue;
    bool stopped = false;
    const size_t found = find_piece(data, lo, hi, piece, work, &stopped);
    if (stopped) return GlobStatus::kInterrupted;
    if (found == npos) return GlobStatus::kNoMatch;
    lo = found + piece.size();
  }
  return GlobStatus::kMatch;
}

PcreContext::PcreContext(PcreMemory mem, bool jit) : jit_(jit) {
  general_ = pcre2_general_context_create(mem.alloc, mem.free, mem.ctx);
  if (general_ == nullptr) return;
  compile_ = pcre2_compile_context_create(general_);
  if (compile_ == nullptr) return;
  pcre2_match_context* m = pcre2_match_context_create(general_);
  if (m == nullptr) return;
  // The depth limit bounds the interpreter's backtracking frames (and so
  // its heap); the JIT ignores it and is bounded by its stack instead. The
  // match limit bounds both.
  pcre2_set_match_limit(m, kPcreMatchLimit);
  pcre2_set_depth_limit(m, kPcreDepthLimit);
  match_ = m;
}

PcreContext::~PcreContext() {
  pcre2_match_context_free(match_);
  pcre2_compile_context_free(compile_);
  pcre2_general_context_free(general_);
}

Pcre::~Pcre() {
  pcre2_match_data_free(data_);
  pcre2_code_free(code_);
}

bool Pcre::compile(const PcreContext& ctx, std::string_view pattern, char (&why)[160]) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  // Byte mode: the data is whatever the wire carried, not text.
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_NEVER_UTF, &err, &offset, ctx.compile());
  if (code_ == nullptr) {
    PCRE2_UCHAR text[120];
    if (pcre2_get_error_message(err, text, sizeof(text)) < 0) text[0] = '\0';
    std::snprintf(why, sizeof(why), "%s at offset %zu", reinterpret_cast<const char*>(text),
                  static_cast<size_t>(offset));
    return false;
  }
  // Fails where executable memory is denied (or the JIT is missing): the
  // code then runs in the interpreter, with the same results and limits.
  if (ctx.jit()) pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &groups_);
  data_ = pcre2_match_data_create_from_pattern(code_, ctx.general());
  if (data_ == nullptr) {
    std::snprintf(why, sizeof(why), "no memory for the match data");
    return false;
  }
  return true;
}

PcreStatus Pcre::match(const PcreContext& ctx, std::string_view subject) {
  const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                             0, data_, ctx.match());
  last_rc_ = rc;
  if (rc >= 0) return PcreStatus::kMatch;  // 0 cannot happen: the data fits every group
  switch (rc) {
    case PCRE2_ERROR_NOMATCH:
      return PcreStatus::kNoMatch;
    case PCRE2_ERROR_MATCHLIMIT:
      return PcreStatus::kMatchLimit;
    case PCRE2_ERROR_DEPTHLIMIT:
      return PcreStatus::kDepthLimit;
    case PCRE2_ERROR_JIT_STACKLIMIT:
      return PcreStatus::kJitStackLimit;
    case PCRE2_ERROR_NOMEMORY:
    case PCRE2_ERROR_HEAPLIMIT:
      return PcreStatus::kNoMemory;
    default:
      break;
  }
  PCRE2_UCHAR text[sizeof(message_)];
  if (pcre2_get_error_message(rc, text, sizeof(text)) < 0) text[0] = '\0';
  std::snprintf(message_, sizeof(message_), "%s", reinterpret_cast<const char*>(text));
  return PcreStatus::kError;
}

bool Pcre::group(uint32_t i, size_t* begin, size_t* end) const {
  if (last_rc_ <= 0 || i >= static_cast<uint32_t>(last_rc_)) return false;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data_);
  if (ov[2 * i] == PCRE2_UNSET) return false;
  *begin = ov[2 * i];
  // \K inside a lookahead can set the start after the end.
  *end = ov[2 * i + 1] < ov[2 * i] ? ov[2 * i] : ov[2 * i + 1];
  return true;
}

size_t Pcre::jit_size() const {
  size_t size = 0;
  if (code_ == nullptr || pcre2_pattern_info(code_, PCRE2_INFO_JITSIZE, &size) != 0) return 0;
  return size;
}

}  // namespace loupe::arkime
