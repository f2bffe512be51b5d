// The quarantine of scripts that stalled a worker (contract §6.5): the file
// `lua-quarantine` under paths.workdir holds one line per quarantined
// script, its key and the SHA-256 of the content that stalled:
//
//   flow/slow_regex 3f9a...e1
//
// At set load a flow script whose key is listed with its current content's
// hash is left out of the set (a load warning); an edited file no longer
// matches and loads. `loupe scripts unquarantine <key>` removes the line.
// Read and written on the control side only (the set build, the control
// socket, the CLI, and the watchdog's stall path just before the exit).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loupe {

inline constexpr const char* kQuarantineFileName = "lua-quarantine";

struct QuarantineEntry {
  std::string key;     // "flow/slow_regex"
  std::string sha256;  // 64 lower-case hex digits

  bool operator==(const QuarantineEntry&) const = default;
};

// SHA-256 of `content`, 64 lower-case hex digits.
std::string sha256_hex(std::string_view content);

// The entries of `path`, in file order. A missing file is an empty
// quarantine; blank lines and lines starting with '#' are skipped; a line
// that is not "<key> <64 hex digits>" is skipped and described in `problems`
// ("lua-quarantine:3: ...") when it is given.
std::vector<QuarantineEntry> read_quarantine(const std::string& path,
                                             std::vector<std::string>* problems = nullptr);

// Whether `entries` quarantine this content of `key`.
bool is_quarantined(const std::vector<QuarantineEntry>& entries, std::string_view key,
                    std::string_view content);

// Records `key` with the hash of `content` (replacing an older line of the
// same key). The file is rewritten through a temporary file and a rename,
// so a reader never sees half of it. False, with `error` set, when the file
// cannot be written.
bool add_quarantine(const std::string& path, const std::string& key, std::string_view content,
                    std::string* error);

// Removes every line of `key`. `found` says whether there was one; the file
// is left untouched when there was none. False, with `error` set, when the
// file cannot be read or rewritten.
bool remove_quarantine(const std::string& path, const std::string& key, bool* found,
                       std::string* error);

// The load warning of a file left out (contract §7.1), e.g.
// "flow/x.lua: quarantined after it stalled a worker (lua-quarantine); ..."
std::string quarantine_warning(const std::string& key);

}  // namespace loupe
