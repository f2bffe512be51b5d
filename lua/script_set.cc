// lua/script_set.h
#include "lua/script_set.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace loupe {
namespace fs = std::filesystem;
namespace {

bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.empty() || n[0] == '.';
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string sha256_hex(const ScriptSet& set, std::string_view extra) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  auto feed = [&](std::string_view s) {
    const uint64_t n = s.size();
    EVP_DigestUpdate(ctx, &n, sizeof(n));  // length-prefixed: no ambiguity
    EVP_DigestUpdate(ctx, s.data(), s.size());
  };
  for (const auto& [path, content] : set.code) {
    feed(path);
    feed(content);
  }
  for (const auto& [path, content] : set.data) {
    feed("data/" + path);
    feed(content);
  }
  feed(extra);
  // Only a set with quarantined files feeds more: other sets keep their hash.
  for (const std::string& key : set.quarantined) feed("quarantined:" + key);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

void index_flow(ScriptSet& set) {
  set.flow.clear();
  for (const auto& [path, content] : set.code) {  // std::map: byte-wise order
    if (path.rfind("flow/", 0) != 0 || !ends_with(path, ".lua")) continue;
    const std::string name = path.substr(5);
    if (name.find('/') != std::string::npos || name[0] == '.') continue;
    set.flow.push_back({path, path.substr(0, path.size() - 4), content});
  }
}

// Leaves out of `set.flow` the scripts `entries` quarantine, with a warning each.
void apply_quarantine(ScriptSet& set, const std::vector<QuarantineEntry>& entries) {
  if (entries.empty()) return;
  std::vector<ScriptFile> kept;
  for (ScriptFile& f : set.flow) {
    if (is_quarantined(entries, f.key, f.content)) {
      set.quarantined.push_back(f.key);
      set.warnings.push_back(quarantine_warning(f.key));
    } else {
      kept.push_back(std::move(f));
    }
  }
  set.flow = std::move(kept);
}

bool read_file(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

const std::string* ScriptSet::find_code(std::string_view path) const {
  const auto it = code.find(std::string(path));
  return it == code.end() ? nullptr : &it->second;
}

const std::string* ScriptSet::find_data(std::string_view name) const {
  const auto it = data.find(std::string(name));
  return it == data.end() ? nullptr : &it->second;
}

ScriptSet read_script_set(const std::string& dir, std::string_view extra,
                          std::vector<std::string>& errors) {
  ScriptSet set;
  set.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    errors.push_back(dir + ": lua.scripts_dir is not a directory");
    return set;
  }
  // Scripts: regular *.lua files directly inside the four script folders.
  for (const char* folder : {"flow", "host", "network", "periodic"}) {
    const fs::path d = fs::path(dir) / folder;
    if (!fs::is_directory(d, ec)) continue;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (!e.is_regular_file() || hidden(e.path()) || e.path().extension() != ".lua") continue;
      const std::string rel = std::string(folder) + "/" + e.path().filename().string();
      if (!read_file(e.path(), set.code[rel])) errors.push_back(rel + ": cannot read the file");
    }
  }
  // lib/: any depth.
  const fs::path lib = fs::path(dir) / "lib";
  if (fs::is_directory(lib, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(lib, ec)) {
      if (!e.is_regular_file() || hidden(e.path()) || e.path().extension() != ".lua") continue;
      const std::string rel = fs::relative(e.path(), dir, ec).generic_string();
      if (rel.find("/.") != std::string::npos) continue;
      if (!read_file(e.path(), set.code[rel])) errors.push_back(rel + ": cannot read the file");
    }
  }
  // data/: any depth, any name not starting with a dot; bounded.
  const fs::path data = fs::path(dir) / "data";
  size_t total = 0;
  if (fs::is_directory(data, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(data, ec)) {
      if (!e.is_regular_file() || hidden(e.path())) continue;
      const std::string rel = fs::relative(e.path(), data, ec).generic_string();
      if (rel.find("/.") != std::string::npos) continue;
      const uintmax_t size = fs::file_size(e.path(), ec);
      if (size > kDataFileMax) {
        errors.push_back("data/" + rel + ": data file larger than 16 MiB (limit)");
        continue;
      }
      total += size;
      if (!read_file(e.path(), set.data[rel]))
        errors.push_back("data/" + rel + ": cannot read the file");
    }
  }
  if (total > kDataDirMax) errors.push_back("data/: data files larger than 64 MiB in all (limit)");
  index_flow(set);
  set.hash = sha256_hex(set, extra);
  return set;
}

ScriptSet read_script_set(const std::string& dir, std::string_view extra,
                          std::vector<std::string>& errors, const std::string& quarantine_file) {
  ScriptSet set = read_script_set(dir, extra, errors);
  if (quarantine_file.empty()) return set;
  const std::vector<QuarantineEntry> entries = read_quarantine(quarantine_file, &set.warnings);
  apply_quarantine(set, entries);
  if (!set.quarantined.empty()) set.hash = sha256_hex(set, extra);
  return set;
}

ScriptSet script_set_from(std::map<std::string, std::string> files, std::string_view extra,
                          const std::vector<QuarantineEntry>& quarantine) {
  ScriptSet set;
  set.dir = "(memory)";
  for (auto& [path, content] : files) {
    if (path.rfind("data/", 0) == 0) {
      set.data[path.substr(5)] = std::move(content);
    } else {
      set.code[path] = std::move(content);
    }
  }
  index_flow(set);
  apply_quarantine(set, quarantine);
  set.hash = sha256_hex(set, extra);
  return set;
}

}  // namespace loupe
