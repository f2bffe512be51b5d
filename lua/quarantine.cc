// lua/quarantine.h
#include "lua/quarantine.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace loupe {
namespace {

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// One line as an entry: "<key> <hash>", any run of blanks between them.
bool parse_line(std::string_view line, QuarantineEntry* e) {
  line = trim(line);
  const size_t sp = line.find_first_of(" \t");
  if (sp == std::string_view::npos) return false;
  const std::string_view key = line.substr(0, sp);
  const std::string_view hash = trim(line.substr(sp));
  if (key.empty() || !is_hex64(hash)) return false;
  e->key.assign(key);
  e->sha256.assign(hash);
  return true;
}

// The file's lines; a missing file has none. False only when it exists and
// cannot be read.
bool read_lines(const std::string& path, std::vector<std::string>* lines, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return true;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = path + ": cannot read: " + std::strerror(errno);
    return false;
  }
  std::string line;
  while (std::getline(in, line)) lines->push_back(line);
  return true;
}

// Writes `lines` to `path` through "<path>.tmp" and a rename: a crash in
// between leaves the old file whole.
bool write_lines(const std::string& path, const std::vector<std::string>& lines,
                 std::string* error) {
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (error) *error = tmp + ": cannot create: " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (error) *error = tmp + ": cannot write: " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  // The quarantine must survive the exit (70) and the restart that follow a stall.
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = path + ": cannot replace: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

std::string sha256_hex(std::string_view content) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(content.data(), content.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::vector<QuarantineEntry> read_quarantine(const std::string& path,
                                             std::vector<std::string>* problems) {
  std::vector<QuarantineEntry> out;
  std::vector<std::string> lines;
  std::string error;
  if (!read_lines(path, &lines, &error)) {
    if (problems) problems->push_back(error);
    return out;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view l = trim(lines[i]);
    if (l.empty() || l[0] == '#') continue;
    QuarantineEntry e;
    if (parse_line(l, &e)) {
      out.push_back(std::move(e));
    } else if (problems) {
      problems->push_back(std::string(kQuarantineFileName) + ":" + std::to_string(i + 1) +
                          ": not \"<script key> <SHA-256 in hex>\"; line ignored");
    }
  }
  return out;
}

bool is_quarantined(const std::vector<QuarantineEntry>& entries, std::string_view key,
                    std::string_view content) {
  std::string hash;  // computed once, and only when the key is listed
  for (const QuarantineEntry& e : entries) {
    if (e.key != key) continue;
    if (hash.empty()) hash = sha256_hex(content);
    if (e.sha256 == hash) return true;
  }
  return false;
}

bool add_quarantine(const std::string& path, const std::string& key, std::string_view content,
                    std::string* error) {
  std::vector<std::string> lines;
  if (!read_lines(path, &lines, error)) return false;
  std::vector<std::string> kept;
  for (const std::string& l : lines) {
    QuarantineEntry e;
    if (parse_line(l, &e) && e.key == key) continue;
    kept.push_back(l);
  }
  kept.push_back(key + " " + sha256_hex(content));
  return write_lines(path, kept, error);
}

bool remove_quarantine(const std::string& path, const std::string& key, bool* found,
                       std::string* error) {
  *found = false;
  std::vector<std::string> lines;
  if (!read_lines(path, &lines, error)) return false;
  std::vector<std::string> kept;
  for (const std::string& l : lines) {
    QuarantineEntry e;
    if (parse_line(l, &e) && e.key == key) {
      *found = true;
      continue;
    }
    kept.push_back(l);
  }
  return !*found || write_lines(path, kept, error);
}

std::string quarantine_warning(const std::string& key) {
  return key + ".lua: quarantined after it stalled a worker (" + kQuarantineFileName +
         "); left out of the set until the file changes or 'loupe scripts unquarantine " + key +
         "' lifts it";
}

}  // namespace loupe
