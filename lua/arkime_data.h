// ArkimeData (contract §5.7): byte buffers that scripts search without
// copying them into Lua strings, with PCRE2 and glob helpers.
//
// The first half is engine-neutral (no Lua type): plain-byte search, the
// glob matcher, and a PCRE2 pattern compiled once and matched many times
// with the limits of §6.7. The second half is what the engine calls to hand
// borrowed bytes to a Lua callback (lua/bind_arkime_data.cc): a borrowed
// object is a pointer and a length stamped with the VM's callback
// generation; ending the callback bumps the generation, so every object
// made during it turns stale at once, at the cost of one increment, and a
// script that kept one gets an error on its next use instead of reading
// memory the engine has reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

struct lua_State;
struct pcre2_real_code_8;
struct pcre2_real_match_data_8;
struct pcre2_real_general_context_8;
struct pcre2_real_match_context_8;
struct pcre2_real_compile_context_8;

namespace loupe::arkime {

// --- Plain bytes and globs ---------------------------------------------------

// Offset of the first occurrence of `needle` in `hay` (an empty needle is
// found at 0), or npos. Linear in the haystack whatever the needle.
size_t find_bytes(std::string_view hay, std::string_view needle);
inline constexpr size_t npos = static_cast<size_t>(-1);

enum class GlobStatus : uint8_t { kNoMatch, kMatch, kInterrupted };

// Whether `glob` matches the whole of `data`: `*` is any run of bytes
// (empty included), `?` exactly one byte, every other byte itself (`[`,
// `]` and `\` included: GLib's pattern specs, which Arkime uses, have no
// sets and no escapes). The stars split the glob into pieces that must
// appear in order; taking each piece at its leftmost place leaves the most
// room for the next, so no choice is ever revisited. Pieces without `?`
// are found with find_bytes (linear); pieces with `?` by comparing at each
// position, at most data × piece comparisons, which is why `poll` (may be
// null) is asked every kGlobPollWork comparisons whether to give up.
inline constexpr uint64_t kGlobPollWork = 1 << 16;
GlobStatus glob_match(std::string_view glob, std::string_view data, bool (*poll)(void*),
                      void* poll_ctx);

// --- PCRE2 -------------------------------------------------------------------

// Contract §6.7.
inline constexpr uint32_t kPcreMatchLimit = 1'000'000;
inline constexpr uint32_t kPcreDepthLimit = 10'000;

enum class PcreStatus : uint8_t {
  kMatch,
  kNoMatch,
  kMatchLimit,     // kPcreMatchLimit backtracking steps (JIT and interpreter)
  kDepthLimit,     // kPcreDepthLimit nested backtracking points (interpreter)
  kJitStackLimit,  // the JIT's machine stack (32 KiB) is full
  kNoMemory,       // the allocator refused (the VM's memory cap)
  kError,          // any other PCRE2 error: see PcreContext::message()
};

// Where PCRE2 takes memory from: pcre2_general_context's functions. The
// Lua side passes the VM's allocator, so that compiled patterns and the
// interpreter's backtracking frames count against the VM's memory cap.
struct PcreMemory {
  void* (*alloc)(size_t size, void* ctx) = nullptr;
  void (*free)(void* p, void* ctx) = nullptr;
  void* ctx = nullptr;
};

// Per VM: the contexts every compile and match uses. `jit` false skips
// pcre2_jit_compile, which is what happens by itself where the process may
// not map executable memory; it exists so that both paths can be run.
class PcreContext {
 public:
  explicit PcreContext(PcreMemory mem, bool jit = true);
  ~PcreContext();
  PcreContext(const PcreContext&) = delete;
  PcreContext& operator=(const PcreContext&) = delete;

  bool ok() const { return match_ != nullptr; }
  bool jit() const { return jit_; }

  pcre2_real_general_context_8* general() const { return general_; }
  pcre2_real_compile_context_8* compile() const { return compile_; }
  pcre2_real_match_context_8* match() const { return match_; }

 private:
  pcre2_real_general_context_8* general_ = nullptr;
  pcre2_real_compile_context_8* compile_ = nullptr;
  pcre2_real_match_context_8* match_ = nullptr;
  bool jit_;
};

// One compiled pattern with its own match data (sized for its groups, made
// at compile time), so that matching allocates nothing until the
// interpreter needs more backtracking frames than PCRE2 keeps on the stack;
// those stay in the match data for the next match. Byte mode: no UTF, and
// `(*UTF)` in the pattern is refused.
class Pcre {
 public:
  Pcre() = default;
  ~Pcre();
  Pcre(const Pcre&) = delete;
  Pcre& operator=(const Pcre&) = delete;

  // False with `*why` = "<PCRE2 message> at offset <n>" (or the reason the
  // match data could not be made).
  bool compile(const PcreContext& ctx, std::string_view pattern, char (&why)[160]);

  // The first match in `subject`. On kMatch, group(i) gives the offsets.
  PcreStatus match(const PcreContext& ctx, std::string_view subject);
  // Capture groups, not counting the whole match (group 0).
  uint32_t groups() const { return groups_; }
  // Offsets of group `i` (0: the whole match) of the last match; false when
  // the group did not take part in it.
  bool group(uint32_t i, size_t* begin, size_t* end) const;
  // PCRE2's text for the last kError status.
  const char* message() const { return message_; }

  // Bytes of machine code the JIT made; 0 when the interpreter runs it.
  size_t jit_size() const;

 private:
  pcre2_real_code_8* code_ = nullptr;
  pcre2_real_match_data_8* data_ = nullptr;
  uint32_t groups_ = 0;
  int last_rc_ = 0;
  char message_[120] = {};
};

}  // namespace loupe::arkime

// --- The Lua side (lua/bind_arkime_data.cc) ----------------------------------

namespace loupe {

// The per-VM state of ArkimeData: the PCRE2 contexts, the cache of compiled
// patterns and the callback generation. It lives in the VM (a userdata held
// by its registry, made when the sandbox installs ArkimeData), so it goes
// with the VM. Null before that.
struct ArkimeDataVm;
ArkimeDataVm* arkime_data_vm(lua_State* L);

// Pushes an ArkimeData that borrows [bytes, bytes + len) without copying:
// valid until end_borrowed_data() is called for the same VM. For the
// body-feed and HTTP-event callbacks (§5.3); the caller keeps the bytes
// alive and unchanged until then. Allocates the object (a few dozen bytes)
// in the VM, as any Lua value handed to a callback does.
void push_borrowed_data(lua_State* L, ArkimeDataVm* vm, const void* bytes, size_t len);
// When a callback that received borrowed objects has returned (or failed):
// all of them become stale; using one raises "ArkimeData: object used after
// its callback returned; keep data:copy() or data:get()" (kind api).
void end_borrowed_data(ArkimeDataVm* vm);

// The compiled pattern of the ArkimePcre at `idx`, or null for any other
// value (for inspection, e.g. whether the JIT compiled it).
const arkime::Pcre* to_arkime_pcre(lua_State* L, int idx);

}  // namespace loupe
