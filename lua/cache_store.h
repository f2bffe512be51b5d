// The ntop.* cache store (contract §4.4.3): strings, hashes, lists and sets
// under string keys, with TTLs and a size cap. The control core owns the
// store and is the only thread that changes it. Worker VMs read immutable
// snapshots of it and queue their writes; the control core applies the
// queues in order and republishes.
//
// The store is a persistent hash array mapped trie: every node and entry
// carries the epoch (publication number) it was made in. A write copies the
// nodes on its path and the entry it changes only if they predate the last
// publish, and changes them in place otherwise. Publishing freezes the
// current root and starts a new epoch, so it costs nothing itself, and the
// copying a snapshot causes is proportional to what changes after it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "engine/common/counter.h"

namespace loupe {

inline constexpr size_t kCacheMaxKey = 256;           // bytes
inline constexpr size_t kCacheMaxValue = 128 * 1024;  // bytes of one key's value
// What an entry costs beyond its bytes in the size accounting, so that
// empty strings and members are not free.
inline constexpr size_t kCacheKeyOverhead = 32;
inline constexpr size_t kCacheItemOverhead = 8;

enum class CacheType : uint8_t { kString, kHash, kList, kSet };
const char* cache_type_name(CacheType t);  // "string", "hash", "list", "set"

// One key and its value. Reachable from a snapshot means never changed
// again: a write to it after a publish works on a copy.
class CacheEntry {
 public:
  using Hash = std::map<std::string, std::string, std::less<>>;
  using List = std::vector<std::string>;
  using Set = std::set<std::string, std::less<>>;  // byte order

  CacheEntry(std::string_view key, uint64_t hash, CacheType type, uint64_t epoch);

  CacheType type() const { return static_cast<CacheType>(value_.index()); }
  const std::string& key() const { return key_; }
  uint64_t hash() const { return hash_; }
  uint64_t expire_ns() const { return expire_ns_; }  // 0: none
  bool expired(uint64_t now_ns) const { return expire_ns_ != 0 && now_ns >= expire_ns_; }
  // The value's size in the accounting (items count kCacheItemOverhead
  // each); at most kCacheMaxValue.
  size_t value_bytes() const { return value_bytes_; }
  // The whole entry's share of lua.cache.max_bytes.
  size_t bytes() const { return key_.size() + kCacheKeyOverhead + value_bytes_; }

  const std::string& str() const { return std::get<std::string>(value_); }
  const Hash& hash_fields() const { return std::get<Hash>(value_); }
  const List& list() const { return std::get<List>(value_); }
  const Set& members() const { return std::get<Set>(value_); }

 private:
  friend class CacheStore;
  std::string key_;
  uint64_t hash_;
  uint64_t expire_ns_ = 0;
  uint64_t epoch_;
  size_t value_bytes_ = 0;
  std::variant<std::string, Hash, List, Set> value_;
};

// Glob of getKeysCache: `*` any run, `?` one byte, `[abc]`, `[a-z]`, `[^x]`
// sets, `\` makes the next byte literal. A `[` without its `]` is literal.
bool cache_glob_match(std::string_view pattern, std::string_view key);
// Whether `pattern` has any of the special bytes (else it names one key).
bool cache_glob_is_literal(std::string_view pattern);
// 0-based inclusive range of lrange/ltrim, negative from the end, clamped
// to a list of `size`: [*first, *last) (empty when first >= last).
void cache_list_range(int64_t start, int64_t stop, size_t size, size_t* first, size_t* last);

struct CacheNode;

// Read-only walks over one root; shared by the store and its snapshots.
class CacheTrie {
 public:
  // The live entry of `key` at `now_ns`, or null (missing or expired).
  const CacheEntry* find(std::string_view key, uint64_t now_ns) const;
  // Calls fn(ctx, key) for every live key matching `pattern`.
  void match(std::string_view pattern, uint64_t now_ns, void (*fn)(void* ctx, const CacheEntry& e),
             void* ctx) const;
  template <class F>
  void for_each_match(std::string_view pattern, uint64_t now_ns, F&& f) const {
    using Fn = std::remove_reference_t<F>;
    match(
        pattern, now_ns, [](void* c, const CacheEntry& e) { (*static_cast<Fn*>(c))(e); },
        const_cast<void*>(static_cast<const void*>(&f)));
  }

 protected:
  CacheNode* root_ = nullptr;
};

// What workers read: the store frozen at one publish. Immutable; shares
// every node and entry that did not change with the store and with the
// snapshots before and after it.
class CacheSnapshot final : public CacheTrie {
 public:
  uint64_t version() const { return version_; }
  uint64_t published_ns() const { return published_ns_; }
  uint64_t keys() const { return keys_; }

 private:
  friend class CacheStore;
  uint64_t version_ = 0;
  uint64_t published_ns_ = 0;
  uint64_t keys_ = 0;
};

// Outcome of one write. `value` is the call's result: a boolean as 0/1, a
// count, a length or incrCache's new value.
enum class CacheError : uint8_t {
  kNone,
  kWrongType,   // the key holds another type (`held`)
  kFull,        // lua.cache.max_bytes would be passed
  kTooLarge,    // the key's value would pass kCacheMaxValue
  kNotInteger,  // incrCache on a value that is not an integer
  kOverflow,    // incrCache past the 64-bit range
  kBadKey,      // empty or longer than kCacheMaxKey
};
struct CacheResult {
  CacheError error = CacheError::kNone;
  CacheType held = CacheType::kString;
  int64_t value = 0;
  bool ok() const { return error == CacheError::kNone; }
  bool refused() const { return error == CacheError::kFull || error == CacheError::kTooLarge; }
};
// "key '<key>' holds a hash, not a string" and the like, for `want`.
std::string cache_error_text(const CacheResult& r, std::string_view key, CacheType want);

// Counters of getCacheStats and getCacheStatus.
struct CacheStats {
  uint64_t reads = 0;           // reads served by the store (not from snapshots)
  uint64_t writes = 0;          // writes carried out, direct or queued
  uint64_t expired = 0;         // keys removed at expiry (on access or by the sweep)
  uint64_t refused = 0;         // writes refused: store full or value too large
  uint64_t queued_applied = 0;  // queued writes applied without error
  uint64_t queued_dropped = 0;  // worker writes dropped at a full queue (as of the last apply)
  uint64_t apply_errors = 0;    // queued writes that failed when applied
  uint64_t keys = 0;
  uint64_t bytes = 0;
  uint64_t max_bytes = 0;
  uint64_t snapshots = 0;        // publishes that made a new snapshot
  uint64_t last_publish_ns = 0;  // 0: never
  uint64_t nodes_copied = 0;     // trie nodes copied by writes after a publish
  uint64_t entries_copied = 0;   // entries copied by writes after a publish
  uint64_t garbage = 0;          // nodes and entries kept for snapshots still alive
};

class CacheWriteQueue;

// The store outlives every snapshot it published: the nodes a snapshot
// reads belong to the store, which frees them once no snapshot can reach
// them (checked at each publish).
class CacheStore final : public CacheTrie {
 public:
  // Nanoseconds since the Unix epoch: wall time live, capture time offline.
  using Clock = std::function<uint64_t()>;
  // Called for each queued write that fails when applied: the script that
  // queued it and the reason, e.g. "ntop.incrCache: key 'k' holds a list,
  // not a string".
  using ApplyErrorFn = std::function<void(int script, std::string_view message)>;

  // `clock` empty: the real-time clock.
  explicit CacheStore(uint64_t max_bytes, Clock clock = {});
  ~CacheStore();
  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

  uint64_t now() const;

  // -- Reads (counted; an expired key is removed first). Null when missing.
  const CacheEntry* read(std::string_view key);
  // getKeysCache: fn for every live key matching the glob.
  template <class F>
  void keys(std::string_view pattern, F&& f) {
    stats_.reads++;
    for_each_match(pattern, now(), std::forward<F>(f));
  }

  // -- Writes. `ttl_s` 0: no expiry. Results as in the contract's table.
  CacheResult set(std::string_view key, std::string_view value, uint64_t ttl_s);
  CacheResult setnx(std::string_view key, std::string_view value, uint64_t ttl_s);
  CacheResult del(std::string_view key);
  CacheResult rename(std::string_view from, std::string_view to);
  CacheResult incr(std::string_view key, int64_t n);
  CacheResult hset(std::string_view key, std::string_view field, std::string_view value);
  CacheResult hdel(std::string_view key, std::string_view field);
  CacheResult push(std::string_view key, std::string_view value, bool front);
  // `*out` is set when value is 1 (an item was popped).
  CacheResult pop(std::string_view key, bool front, std::string* out);
  CacheResult lrem(std::string_view key, int64_t count, std::string_view value);
  CacheResult ltrim(std::string_view key, int64_t start, int64_t stop);
  CacheResult sadd(std::string_view key, std::string_view member);
  CacheResult srem(std::string_view key, std::string_view member);

  // -- Control loop.
  // Removes every key expired at `now_ns`; once a second. Returns how many.
  size_t sweep(uint64_t now_ns);
  // A snapshot of the store as it is; the previous one when nothing changed
  // since. Constant time: it starts a new epoch, after which the first
  // write to each node or entry copies it.
  std::shared_ptr<const CacheSnapshot> publish();
  // Applies up to `max` queued writes of one worker, in their order.
  // Returns how many were taken from the queue.
  size_t apply(CacheWriteQueue& q, const ApplyErrorFn& on_error = {}, size_t max = SIZE_MAX);

  const CacheStats& stats() const { return stats_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  bool target(std::string_view key, CacheType type, const CacheEntry** e, CacheResult* r);
  CacheEntry* resize(std::string_view key, const CacheEntry* e, CacheType type, int64_t grow,
                     CacheResult* r);
  CacheEntry* existing(std::string_view key, CacheType type, CacheResult* r);
  void shrink(CacheEntry* w, size_t gone, bool empty);
  CacheEntry* own(const CacheEntry* e);
  struct Garbage {
    uint64_t epoch;
    std::vector<CacheNode*> nodes;
    std::vector<CacheEntry*> entries;
  };
  void place(CacheEntry* e);
  CacheNode* owned(CacheNode*& slot);
  void erase_in(CacheNode*& slot, std::string_view key, uint64_t h, unsigned shift);
  bool erase(std::string_view key, uint64_t hash);
  void retire(CacheNode* n);
  void retire(CacheEntry* e);
  void collect();
  void remove_entry(const CacheEntry* e);
  void set_expiry(CacheEntry* e, uint64_t expire_ns);
  const CacheEntry* live(std::string_view key);
  CacheResult put_string(std::string_view key, std::string_view value, uint64_t ttl_s, bool nx,
                         bool keep_ttl);
  CacheResult done(CacheResult r);

  uint64_t max_bytes_;
  Clock clock_;
  uint64_t epoch_ = 1;
  bool dirty_ = true;
  std::shared_ptr<const CacheSnapshot> last_;
  // Snapshots handed out (version, weak reference), oldest first, and what
  // left the live tree in each epoch: freed once no older snapshot lives.
  std::deque<std::pair<uint64_t, std::weak_ptr<const CacheSnapshot>>> published_;
  std::deque<Garbage> garbage_;
  std::set<std::pair<uint64_t, std::string>> expiries_;  // (expire_ns, key)
  CacheStats stats_;
};

// Queued writes of worker VMs.
enum class CacheOp : uint8_t {
  kPad,  // fills the ring's tail when a record would wrap
  kSet,
  kSetNx,
  kDel,
  kRename,
  kIncr,
  kHSet,
  kHDel,
  kLPush,
  kRPush,
  kLRem,
  kLTrim,
  kSAdd,
  kSRem,
};
// "ntop.setCache" and so on: the function that queues `op`.
const char* cache_op_function(CacheOp op);

// One queued write as the control core reads it (views into the ring,
// valid until the next pop).
struct CacheWrite {
  CacheOp op = CacheOp::kPad;
  int16_t script = -1;
  std::string_view key;
  std::string_view a;  // value, field, member or the new name
  std::string_view b;  // hash value
  int64_t n1 = 0;      // ttl, increment, count, start
  int64_t n2 = 0;      // stop
};

// One worker's writes to the store: a bounded single-producer,
// single-consumer ring of 128-byte slots. A write takes one slot for its
// 40-byte header and up to 88 bytes of key and values, one more per 128
// bytes beyond. The worker never allocates or waits: a write that does not
// fit is dropped and counted.
class CacheWriteQueue {
 public:
  static constexpr size_t kSlotBytes = 128;

  // `slots` (lua.cache.queue_size) is rounded up to a power of two.
  explicit CacheWriteQueue(uint32_t slots);
  CacheWriteQueue(const CacheWriteQueue&) = delete;
  CacheWriteQueue& operator=(const CacheWriteQueue&) = delete;

  // -- Worker side. False when the ring is full or the write is longer
  // than half the ring (both counted in dropped()).
  bool push(const CacheWrite& w);
  uint64_t dropped() const { return dropped_.get(); }
  uint64_t too_long() const { return too_long_.get(); }

  // -- Control side.
  bool peek(CacheWrite* out);  // the oldest write, if any
  void pop();
  size_t pending() const;  // slots in use
  size_t capacity() const { return mask_ + 1; }

 private:
  friend class CacheStore;
  struct Header;
  static size_t header_bytes();
  size_t slots_for(const CacheWrite& w) const;

  std::unique_ptr<std::byte[]> ring_;
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // next slot the worker writes
  uint64_t tail_seen_ = 0;                     // worker's cached copy of tail_
  Counter dropped_;
  Counter too_long_;
  alignas(64) std::atomic<uint64_t> tail_{0};  // next slot the control core reads
  uint64_t dropped_reported_ = 0;              // control side: part of dropped_ in the stats
};

class CacheReader;

// Where the control core publishes snapshots and workers pick them up,
// with quiescent-state reclamation: each worker's reader announces the
// version it holds whenever it refreshes (at burst boundaries, outside any
// script call); a snapshot older than every announcement is released here,
// on the control side. A worker never locks, allocates or frees.
class CacheSnapshotHandle {
 public:
  CacheSnapshotHandle();
  ~CacheSnapshotHandle();
  CacheSnapshotHandle(const CacheSnapshotHandle&) = delete;
  CacheSnapshotHandle& operator=(const CacheSnapshotHandle&) = delete;

  // Control side: make `s` the one workers pick up next (nothing when it is
  // the current one), then release what no reader can hold any more.
  void publish(std::shared_ptr<const CacheSnapshot> s);
  size_t retired() const { return kept_.empty() ? 0 : kept_.size() - 1; }  // older ones kept

  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  friend class CacheReader;
  void reclaim();

  std::atomic<const CacheSnapshot*> latest_{nullptr};
  std::atomic<uint64_t> version_{0};
  // Control side only: published snapshots not yet released, oldest first
  // (the last is latest_), and the readers.
  std::deque<std::shared_ptr<const CacheSnapshot>> kept_;
  std::vector<const CacheReader*> readers_;
};

// A worker's current snapshot. Built and destroyed on the control side
// (it registers with the handle); refresh() and get() on the worker.
class CacheReader {
 public:
  explicit CacheReader(CacheSnapshotHandle* handle);
  ~CacheReader();
  CacheReader(const CacheReader&) = delete;
  CacheReader& operator=(const CacheReader&) = delete;

  // The quiescent point: picks up a newer snapshot if one was published.
  // One atomic load when nothing changed.
  void refresh() {
    const uint64_t v = handle_->version();
    if (v == seen_) return;
    // Announce before looking: the control side then keeps every snapshot
    // from version v on, and the one loaded next is at least that new.
    holding_.store(v, std::memory_order_seq_cst);
    current_ = handle_->latest_.load(std::memory_order_seq_cst);
    seen_ = current_->version();
    holding_.store(seen_, std::memory_order_release);
  }
  const CacheSnapshot* get() const { return current_; }

 private:
  friend class CacheSnapshotHandle;
  CacheSnapshotHandle* handle_;
  const CacheSnapshot* current_ = nullptr;
  uint64_t seen_ = 0;
  // The oldest version this reader may still read; 0 before its first
  // snapshot (nothing older than it is released meanwhile).
  std::atomic<uint64_t> holding_{0};
};

// How one VM reaches the store (ScriptHost::cache). On the control side
// (the control VM; a worker VM while it loads or unloads) calls go to
// `store`; a worker VM on its worker reads `reader` and queues to `queue`.
// The owner sets on_worker when it hands the VM over and clears it when it
// gets it back.
struct CacheAccess {
  CacheStore* store = nullptr;
  CacheReader* reader = nullptr;
  CacheWriteQueue* queue = nullptr;
  bool control_vm = false;  // getCacheStatus/getCacheStats are served only here
  bool on_worker = false;
  // Functions already warned about, per script (bit per function), so that
  // each warns once per script and VM.
  std::vector<uint8_t> warned;
};

}  // namespace loupe
