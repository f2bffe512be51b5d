// The payload-prefix classifier engine. Every rule of a rule set (the YAML
// classifiers: and Lua's register_*_classifier, as ClassifierSpec) is
// compiled on the control core into one ClassifierDb: a Hyperscan literal
// database per L4 protocol. The DB is immutable once built and shared by
// shared_ptr between the control core and every worker; each worker scans
// with its own scratch, made on the control core (make_scratch) and handed
// over with the DB. scan() is on the packet path: no allocation, no lock.
//
// A rule matches when its bytes sit exactly at its offset in the first
// payload of a direction. Hyperscan finds the literals anywhere, every
// occurrence (no single-match mode, so an occurrence at a wrong offset never
// hides the one at the right offset); the match callback keeps the ones that
// end at offset + length.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/classify/classifier_config.h"

// Hyperscan's handles (hs/hs_common.h, hs/hs_runtime.h), so that users of
// this header need not include hs.h.
typedef struct hs_database hs_database_t;
typedef struct hs_scratch hs_scratch_t;

namespace loupe {

struct ClassifierMatch {
  uint32_t rule;  // index of the rule in the set: ClassifierDb::rule()
  uint8_t side;   // the payload's direction: 1 client, 2 server
};

class ClassifierDb;

struct ClassifierBuild {
  std::shared_ptr<const ClassifierDb> db;  // set exactly when errors is empty
  std::vector<std::string> errors;         // "origin: message", every bad rule
  // The cache could not be read or written (the set was compiled and is fine).
  std::vector<std::string> warnings;
  bool cache_used = false;  // loaded from cache_path instead of compiled
  std::string cache_path;   // "" without a usable cache directory
  // The whole build: hashing, then the cache load or the compile (and the write).
  std::chrono::microseconds elapsed{0};
};

class ClassifierDb {
 public:
  // Compiles `specs` (their order is the registration order: a rule's index
  // is its id), or loads the same set from `cache_dir`/<hash>.hsdb. The hash
  // covers every rule and the contents of each file in `sources` (the files
  // the rules came from), so an edited source is a new set. A cache file
  // that is corrupt or made for another Hyperscan or CPU is ignored and
  // rewritten; a cache that cannot be written is a warning. Several rules
  // may share a name (Arkime registers "http" once per method). Control core
  // only: it allocates and reads files; 10,000 rules compile in ~0.2 s and
  // load from the cache in ~4 ms.
  static ClassifierBuild build(std::vector<ClassifierSpec> specs,
                               const std::vector<std::string>& sources,
                               const std::string& cache_dir);

  ~ClassifierDb();
  ClassifierDb(const ClassifierDb&) = delete;
  ClassifierDb& operator=(const ClassifierDb&) = delete;

  // A scratch able to scan this DB, for one worker; the caller frees it with
  // hs_free_scratch(). nullptr for a set with no rules, which scan() accepts.
  // Throws std::runtime_error when Hyperscan cannot allocate it.
  hs_scratch_t* make_scratch() const;

  // Payload bytes scanned for a protocol: max(offset + length) over its
  // rules, 0 without any. Bytes past it cannot change a result.
  uint32_t window(uint8_t l4) const {
    const Proto* p = proto(l4);
    return p ? p->window : 0;
  }
  const ClassifierSpec& rule(uint32_t id) const { return rules_[id]; }
  uint32_t size() const { return static_cast<uint32_t>(rules_.size()); }
  const std::string& hash_hex() const { return hash_hex_; }
  // Compiled size, both databases: for the start-up log.
  size_t database_bytes() const;

 private:
  friend class ClassifierCompiler;
  friend uint32_t scan(const ClassifierDb&, hs_scratch_t*, uint8_t, uint8_t, const uint8_t*,
                       uint32_t, ClassifierMatch*, uint32_t);

  // One Hyperscan pattern id: a distinct (offset, bytes) of the protocol.
  // 8 bytes, the rule inline when it is the pattern's only one (the usual
  // case): the callback's one load for an occurrence is one cache line, and
  // with 10,000 rules it is a miss for a rare match.
  static constexpr uint8_t kShared = 0x80;
  struct Pattern {
    uint16_t end;   // offset + length: where a match must end
    uint8_t sides;  // mask of the rule's sides (1 client, 2 server); kShared: several rules
    uint8_t unused;
    uint32_t rule;  // the rule; with kShared, its first RuleRef
  };
  // The rules of a shared pattern (identical rules), in rule order.
  struct RuleRef {
    uint32_t rule;
    uint8_t sides;
    bool last;
  };
  struct Proto {
    hs_database_t* db = nullptr;
    uint32_t window = 0;
    std::vector<Pattern> patterns;
    std::vector<RuleRef> refs;
  };

  ClassifierDb() = default;
  const Proto* proto(uint8_t l4) const {
    return l4 == 6 ? &protos_[0] : l4 == 17 ? &protos_[1] : nullptr;
  }

  Proto protos_[2];  // TCP, UDP
  std::vector<ClassifierSpec> rules_;
  std::string hash_hex_;
};

// Scans the first payload of one direction of a flow (called once per
// direction): its first min(len, window(l4)) bytes. Writes the matched
// rules, in rule order (the registration order), at most max_out of them,
// and returns how many. `scratch` is the calling worker's own. Packet path:
// no allocation, no lock, never throws.
uint32_t scan(const ClassifierDb& db, hs_scratch_t* scratch, uint8_t l4, uint8_t side,
              const uint8_t* payload, uint32_t len, ClassifierMatch* out, uint32_t max_out);

}  // namespace loupe
