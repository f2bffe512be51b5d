// The classifier engine (engine/classify/classifier_db.h): build on the
// control core, with its on-disk cache; scan on the packet path.
#include "engine/classify/classifier_db.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hs/hs.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace loupe {
namespace {

// Bump when the cache file or the rule-to-pattern mapping changes: it is
// hashed, so old cache files are simply never looked at again.
constexpr std::string_view kSetFormat = "loupe-classifier-set 1";
constexpr char kMagic[8] = {'L', 'O', 'U', 'P', 'E', 'H', 'S', '\n'};
constexpr size_t kDigest = 32;  // SHA-256

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void add(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  template <typename T>
  void add_value(T v) {
    add(&v, sizeof v);
  }
  // Length first, so that ("ab", "c") and ("a", "bc") differ.
  void add_string(std::string_view s) {
    add_value<uint64_t>(s.size());
    add(s.data(), s.size());
  }
  std::string finish() {
    std::string digest(kDigest, '\0');
    EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(digest.data()), nullptr);
    return digest;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha256(std::string_view data) {
  Sha256 h;
  h.add(data.data(), data.size());
  return h.finish();
}

std::string hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

// The whole file; nullopt when it is missing, unreadable or not a file (a
// directory opens and reads as empty).
std::optional<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

// What a cache file must have been made for, besides the set: the
// Hyperscan release and the CPU it tuned for (a file copied from another
// machine could lack instructions, or be slow here).
struct Platform {
  std::string version = hs_version();
  hs_platform_info_t info{};
  Platform() { hs_populate_platform(&info); }
};

// Reads a cache file's fields in order; any short read fails the whole file.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  bool value(T* v) {
    if (data_.size() < sizeof *v) return false;
    std::memcpy(v, data_.data(), sizeof *v);
    data_.remove_prefix(sizeof *v);
    return true;
  }
  bool bytes(size_t n, std::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

template <typename T>
void put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

// Everything of build() that needs ClassifierDb's private parts.
class ClassifierCompiler {
 public:
  using Pattern = ClassifierDb::Pattern;
  using RuleRef = ClassifierDb::RuleRef;
  using Proto = ClassifierDb::Proto;
  // Per protocol, pattern id -> the rules sharing it.
  using PatternRules = std::vector<std::vector<uint32_t>>;

  struct MatchContext {
    const Pattern* patterns;
    const RuleRef* refs;
    ClassifierMatch* out;
    uint32_t max_out;
    uint32_t n;
    uint8_t side;
  };

  // The match callback, on the packet path: one compare drops an occurrence
  // at a wrong offset; the rules of a right one are tested for the side.
  // Returning 1 stops the scan (out is full).
  static int on_match(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                      unsigned int /*flags*/, void* context) {
    auto* m = static_cast<MatchContext*>(context);
    const Pattern p = m->patterns[id];
    if (to != p.end) return 0;
    if (p.sides != ClassifierDb::kShared) return (p.sides & m->side) ? add(m, p.rule) : 0;
    for (const RuleRef* r = m->refs + p.rule;; ++r) {
      if ((r->sides & m->side) && add(m, r->rule)) return 1;
      if (r->last) return 0;
    }
  }
  static int add(MatchContext* m, uint32_t rule) {
    if (m->n == m->max_out) return 1;
    m->out[m->n++] = {rule, m->side};
    return 0;
  }

  static ClassifierBuild build(std::vector<ClassifierSpec> specs,
                               const std::vector<std::string>& sources,
                               const std::string& cache_dir);
  static void free_databases(ClassifierDb& db);

 private:
  static void check(const std::vector<ClassifierSpec>& specs, std::vector<std::string>* errors);
  static std::string set_hash(const std::vector<ClassifierSpec>& specs,
                              const std::vector<std::string>& sources,
                              std::vector<std::string>* warnings);
  static void map_patterns(ClassifierDb& db, PatternRules* rules_of);
  static bool compile(ClassifierDb& db, const PatternRules* rules_of,
                      std::vector<std::string>* errors);
  // Both return why the cache file was not used, nullopt when it was.
  static std::optional<std::string> load(ClassifierDb& db, std::string_view file,
                                         std::string_view set_hash);
  static std::optional<std::string> save(const ClassifierDb& db, std::string_view set_hash,
                                         const std::string& path);
};

void ClassifierCompiler::check(const std::vector<ClassifierSpec>& specs,
                               std::vector<std::string>* errors) {
  for (const ClassifierSpec& s : specs) {
    auto error = [&](std::string message) {
      errors->push_back(fmt::format("{}: classifier {:?}: {}", s.origin, s.name, message));
    };
    if (s.name.empty() || s.name.size() > kClassifierMaxName) {
      error(fmt::format("the name must be 1 to {} bytes", kClassifierMaxName));
    }
    if (s.l4 != 6 && s.l4 != 17) error(fmt::format("L4 protocol {} is not tcp or udp", s.l4));
    if (s.direction > 2) {
      error(fmt::format("direction {} is not any, client or server", s.direction));
    }
    if (s.bytes.empty() || s.bytes.size() > kClassifierMaxBytes) {
      error(fmt::format("the bytes must be 1 to {} bytes long", kClassifierMaxBytes));
    } else if (uint64_t{s.offset} + s.bytes.size() > kClassifierMaxWindow) {
      error(fmt::format("offset out of range: offset+length {} exceeds the {}-byte window",
                        uint64_t{s.offset} + s.bytes.size(), kClassifierMaxWindow));
    }
  }
}

std::string ClassifierCompiler::set_hash(const std::vector<ClassifierSpec>& specs,
                                         const std::vector<std::string>& sources,
                                         std::vector<std::string>* warnings) {
  Sha256 h;
  h.add_string(kSetFormat);
  h.add_value<uint64_t>(specs.size());
  for (const ClassifierSpec& s : specs) {
    // Not the origin: moving a rule within its file changes the file anyway.
    h.add_string(s.name);
    h.add_value(s.l4);
    h.add_value(s.direction);
    h.add_value(s.offset);
    h.add_string(s.bytes);
  }
  h.add_value<uint64_t>(sources.size());
  for (const std::string& path : sources) {
    // The contents, not the name or the time: a touched file is the same set.
    const std::optional<std::string> text = read_file(path);
    if (!text) warnings->push_back(fmt::format("{}: cannot read it for the set's hash", path));
    h.add_value<uint8_t>(text.has_value());
    h.add_string(text.value_or(""));
  }
  return h.finish();
}

// Gives each distinct (offset, bytes) of a protocol one pattern id, in rule
// order so that the same set always gets the same ids (the cache relies on
// it), and lists the rules behind each.
void ClassifierCompiler::map_patterns(ClassifierDb& db, PatternRules* rules_of) {
  std::unordered_map<std::string, uint32_t> ids[2];
  for (uint32_t i = 0; i < db.rules_.size(); ++i) {
    const ClassifierSpec& s = db.rules_[i];
    const int p = s.l4 == 6 ? 0 : 1;
    std::string key(reinterpret_cast<const char*>(&s.offset), sizeof s.offset);
    key += s.bytes;
    const auto [it, added] = ids[p].emplace(std::move(key), db.protos_[p].patterns.size());
    const uint32_t end = s.offset + static_cast<uint32_t>(s.bytes.size());
    if (added) {
      db.protos_[p].patterns.push_back({static_cast<uint16_t>(end), 0, 0, 0});
      rules_of[p].emplace_back();
    }
    rules_of[p][it->second].push_back(i);
    db.protos_[p].window = std::max(db.protos_[p].window, end);
  }
  for (int p = 0; p < 2; ++p) {
    Proto& proto = db.protos_[p];
    for (size_t id = 0; id < proto.patterns.size(); ++id) {
      Pattern& pattern = proto.patterns[id];
      const std::vector<uint32_t>& rules = rules_of[p][id];
      auto sides = [&](uint32_t rule) {
        const uint8_t direction = db.rules_[rule].direction;
        return static_cast<uint8_t>(direction == 0 ? 3 : direction);
      };
      if (rules.size() == 1) {
        pattern.sides = sides(rules[0]);
        pattern.rule = rules[0];
        continue;
      }
      pattern.sides = ClassifierDb::kShared;
      pattern.rule = static_cast<uint32_t>(proto.refs.size());
      for (uint32_t rule : rules) proto.refs.push_back({rule, sides(rule), rule == rules.back()});
    }
  }
}

bool ClassifierCompiler::compile(ClassifierDb& db, const PatternRules* rules_of,
                                 std::vector<std::string>* errors) {
  for (int p = 0; p < 2; ++p) {
    Proto& proto = db.protos_[p];
    const size_t n = proto.patterns.size();
    if (n == 0) continue;
    std::vector<const char*> expressions(n);
    std::vector<size_t> lengths(n);
    std::vector<unsigned> ids(n);
    // No HS_FLAG_SINGLEMATCH: every occurrence is reported, so one at a
    // wrong offset cannot hide the one at the right offset.
    std::vector<unsigned> flags(n, 0);
    for (size_t id = 0; id < n; ++id) {
      const ClassifierSpec& s = db.rules_[rules_of[p][id].front()];
      expressions[id] = s.bytes.data();
      lengths[id] = s.bytes.size();
      ids[id] = static_cast<unsigned>(id);
    }
    hs_compile_error_t* error = nullptr;
    if (hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                             static_cast<unsigned>(n), HS_MODE_BLOCK, nullptr, &proto.db,
                             &error) != HS_SUCCESS) {
      if (error->expression >= 0 && static_cast<size_t>(error->expression) < n) {
        for (uint32_t rule : rules_of[p][error->expression]) {
          const ClassifierSpec& s = db.rules_[rule];
          errors->push_back(
              fmt::format("{}: classifier {:?}: Hyperscan: {}", s.origin, s.name, error->message));
        }
      } else {
        errors->push_back(fmt::format("the {} classifiers: Hyperscan: {}", p == 0 ? "tcp" : "udp",
                                      error->message));
      }
      hs_free_compile_error(error);
      return false;
    }
  }
  return true;
}

// A cache file: magic, the set's hash, the Hyperscan version and platform it
// was made for, each protocol's serialized database (length 0: none), and a
// SHA-256 of all that, which catches a torn or corrupt file before Hyperscan
// reads it.
std::optional<std::string> ClassifierCompiler::load(ClassifierDb& db, std::string_view file,
                                                    std::string_view set_hash) {
  if (file.size() < sizeof kMagic + kDigest) return "truncated";
  const std::string_view body = file.substr(0, file.size() - kDigest);
  if (sha256(body) != file.substr(body.size())) return "corrupt (checksum mismatch)";
  Reader in(body);
  std::string_view magic, hash, version;
  uint32_t version_len = 0;
  hs_platform_info_t made_for{};
  if (!in.bytes(sizeof kMagic, &magic) || magic != std::string_view(kMagic, sizeof kMagic) ||
      !in.bytes(kDigest, &hash) || !in.value(&version_len) || !in.bytes(version_len, &version) ||
      !in.value(&made_for.tune) || !in.value(&made_for.cpu_features)) {
    return "not a classifier cache file";
  }
  if (hash != set_hash) return "made for another rule set";
  const Platform here;
  if (version != here.version || made_for.tune != here.info.tune ||
      made_for.cpu_features != here.info.cpu_features) {
    return fmt::format("made for another platform (Hyperscan {}, tune {}, features {:#x})", version,
                       made_for.tune, made_for.cpu_features);
  }
  for (Proto& proto : db.protos_) {
    uint64_t length = 0;
    std::string_view blob;
    if (!in.value(&length) || !in.bytes(length, &blob)) return "truncated";
    if ((length == 0) != proto.patterns.empty()) return "does not match the rules";
    if (length > 0 && hs_deserialize_database(blob.data(), blob.size(), &proto.db) != HS_SUCCESS) {
      return "refused by Hyperscan";
    }
  }
  if (!in.done()) return "trailing bytes";
  return std::nullopt;
}

std::optional<std::string> ClassifierCompiler::save(const ClassifierDb& db,
                                                    std::string_view set_hash,
                                                    const std::string& path) {
  const Platform here;
  std::string out(kMagic, sizeof kMagic);
  out += set_hash;
  put<uint32_t>(&out, static_cast<uint32_t>(here.version.size()));
  out += here.version;
  put(&out, here.info.tune);
  put(&out, here.info.cpu_features);
  for (const Proto& proto : db.protos_) {
    char* bytes = nullptr;
    size_t length = 0;
    if (proto.db != nullptr && hs_serialize_database(proto.db, &bytes, &length) != HS_SUCCESS) {
      return "cannot serialize the database";
    }
    put<uint64_t>(&out, length);
    out.append(bytes, length);
    std::free(bytes);
  }
  out += sha256(out);

  // Written aside then renamed: a reader (another loupe starting) sees the
  // old file or the whole new one, never a torn one.
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, getpid(), serial++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot create {}: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const int saved_errno = errno;
  const bool ok = done == out.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(done == out.size() ? errno : saved_errno);
    ::unlink(tmp.c_str());
    return fmt::format("cannot write {}: {}", path, why);
  }
  return std::nullopt;
}

void ClassifierCompiler::free_databases(ClassifierDb& db) {
  for (Proto& proto : db.protos_) {
    hs_free_database(proto.db);
    proto.db = nullptr;
  }
}

ClassifierBuild ClassifierCompiler::build(std::vector<ClassifierSpec> specs,
                                          const std::vector<std::string>& sources,
                                          const std::string& cache_dir) {
  const auto start = std::chrono::steady_clock::now();
  ClassifierBuild result;
  auto finish = [&]() -> ClassifierBuild {
    result.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    return std::move(result);
  };
  check(specs, &result.errors);
  if (!result.errors.empty()) return finish();

  const std::string hash = set_hash(specs, sources, &result.warnings);
  std::shared_ptr<ClassifierDb> db(new ClassifierDb);
  db->rules_ = std::move(specs);
  db->hash_hex_ = hex(hash);
  PatternRules rules_of[2];
  map_patterns(*db, rules_of);

  if (!cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    if (ec) {
      result.warnings.push_back(
          fmt::format("{}: cannot create the cache directory: {}; compiling without the cache",
                      cache_dir, ec.message()));
    } else {
      result.cache_path = (std::filesystem::path(cache_dir) / (db->hash_hex_ + ".hsdb")).string();
    }
  }
  if (!result.cache_path.empty()) {
    if (std::optional<std::string> file = read_file(result.cache_path)) {
      if (std::optional<std::string> why = load(*db, *file, hash)) {
        free_databases(*db);
        result.warnings.push_back(
            fmt::format("{}: {}; compiled again and rewritten", result.cache_path, *why));
      } else {
        result.cache_used = true;
      }
    }
  }
  if (!result.cache_used) {
    if (!compile(*db, rules_of, &result.errors)) return finish();
    if (!result.cache_path.empty()) {
      if (std::optional<std::string> why = save(*db, hash, result.cache_path)) {
        result.warnings.push_back(fmt::format("{}; the set works without its cache", *why));
      }
    }
  }
  result.db = std::move(db);
  return finish();
}

ClassifierBuild ClassifierDb::build(std::vector<ClassifierSpec> specs,
                                    const std::vector<std::string>& sources,
                                    const std::string& cache_dir) {
  return ClassifierCompiler::build(std::move(specs), sources, cache_dir);
}

ClassifierDb::~ClassifierDb() { ClassifierCompiler::free_databases(*this); }

hs_scratch_t* ClassifierDb::make_scratch() const {
  hs_scratch_t* scratch = nullptr;
  for (const Proto& proto : protos_) {
    // One scratch grown to fit both databases.
    if (proto.db != nullptr && hs_alloc_scratch(proto.db, &scratch) != HS_SUCCESS) {
      hs_free_scratch(scratch);
      throw std::runtime_error("classifiers: cannot allocate a Hyperscan scratch");
    }
  }
  return scratch;
}

size_t ClassifierDb::database_bytes() const {
  size_t total = 0;
  for (const Proto& proto : protos_) {
    size_t size = 0;
    if (proto.db != nullptr && hs_database_size(proto.db, &size) == HS_SUCCESS) total += size;
  }
  return total;
}

uint32_t scan(const ClassifierDb& db, hs_scratch_t* scratch, uint8_t l4, uint8_t side,
              const uint8_t* payload, uint32_t len, ClassifierMatch* out, uint32_t max_out) {
  const ClassifierDb::Proto* p = db.proto(l4);
  if (p == nullptr || p->db == nullptr || len == 0 || max_out == 0) return 0;
  ClassifierCompiler::MatchContext m{p->patterns.data(), p->refs.data(), out, max_out, 0, side};
  [[maybe_unused]] const hs_error_t rc =
      hs_scan(p->db, reinterpret_cast<const char*>(payload), std::min(len, p->window), 0, scratch,
              &ClassifierCompiler::on_match, &m);
  // Anything else is a bug: a scratch not made for this DB, or shared.
  assert(rc == HS_SUCCESS || rc == HS_SCAN_TERMINATED);
  // Hyperscan reports by end offset; rules are called in registration order.
  for (uint32_t i = 1; i < m.n; ++i) {
    const ClassifierMatch x = out[i];
    uint32_t j = i;
    for (; j > 0 && out[j - 1].rule > x.rule; --j) out[j] = out[j - 1];
    out[j] = x;
  }
  return m.n;
}

}  // namespace loupe
