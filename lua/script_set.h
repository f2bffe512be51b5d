// The drop-in directory read into memory (contract §2.1): flow/ scripts in
// lexical order, every code file for require/dofile/loadfile, and data/
// files for loupe.read_list/read_file. Nothing is read from disk after this.
// Built on the control side; immutable once built.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lua/quarantine.h"

namespace loupe {

struct ScriptFile {
  std::string path;  // relative to the directory: "flow/dns_tunnel.lua"
  std::string key;   // "flow/dns_tunnel"
  std::string content;
};

struct ScriptSet {
  std::string dir;
  std::vector<ScriptFile> flow;             // flow/*.lua, byte-wise name order
  std::map<std::string, std::string> code;  // every *.lua outside data/, by path
  std::map<std::string, std::string> data;  // data/ files, by path below data/
  std::string hash;                         // SHA-256 (hex) of paths, contents and extra
  // Quarantine (contract §6.5): flow scripts left out because lua-quarantine
  // lists their content (still in `code`, out of `flow`), and the load
  // warnings it gave. The keys left out are part of `hash`, so lifting a
  // quarantine makes the next SIGHUP a reload.
  std::vector<std::string> quarantined;
  std::vector<std::string> warnings;

  // A code file by path ("lib/a/b.lua"), or null.
  const std::string* find_code(std::string_view path) const;
  const std::string* find_data(std::string_view name) const;
};

inline constexpr size_t kDataFileMax = size_t{16} << 20;
inline constexpr size_t kDataDirMax = size_t{64} << 20;

// Reads `dir`. `extra` (the configuration the set depends on) goes into the
// hash. Problems are appended to `errors` as "<path>: <message>"; the set is
// usable only when none were added.
ScriptSet read_script_set(const std::string& dir, std::string_view extra,
                          std::vector<std::string>& errors);
// The same, then leaves out the flow scripts that the quarantine file
// `quarantine_file` (lua/quarantine.h; "" for none) lists with their current
// content. A missing file quarantines nothing; a line it cannot read is a
// warning, never an error.
ScriptSet read_script_set(const std::string& dir, std::string_view extra,
                          std::vector<std::string>& errors, const std::string& quarantine_file);

// A set from memory (tests, benchmarks): paths relative to a virtual dir.
ScriptSet script_set_from(std::map<std::string, std::string> files, std::string_view extra = {},
                          const std::vector<QuarantineEntry>& quarantine = {});

}  // namespace loupe
