// lua/cache_store.h: the trie, the store's operations, the write queue and
// the snapshot handle.
#include "lua/cache_store.h"

#include <time.h>

#include <algorithm>
#include <bit>
#include <charconv>

namespace loupe {

// A trie node. A branch node holds up to 32 children, chosen by 5 bits of
// the key's hash per level (popcount of `bitmap` below a bit is the
// child's position); a child is an entry or a deeper node. Below the last
// level (all 64 bits used) a collision node lists entries of equal hashes.
struct CacheNode {
  struct Kid {
    CacheNode* node;  // one of the two is set
    CacheEntry* entry;
  };
  uint64_t epoch = 0;
  uint32_t bitmap = 0;
  bool collision = false;
  std::vector<Kid> kids;
};

namespace {

constexpr unsigned kBits = 5;
constexpr unsigned kLastShift = 60;  // deeper levels would shift a 64-bit hash by 64 or more

uint64_t hash_key(std::string_view key) { return std::hash<std::string_view>{}(key); }

uint32_t bit_at(uint64_t hash, unsigned shift) { return 1u << ((hash >> shift) & 31u); }

size_t position(uint32_t bitmap, uint32_t bit) {
  return static_cast<size_t>(std::popcount(bitmap & (bit - 1)));
}

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool valid_key(std::string_view key) { return !key.empty() && key.size() <= kCacheMaxKey; }

// Redis's reading of an integer: optional '-', digits, nothing else.
bool parse_integer(std::string_view s, int64_t* out) {
  if (s.empty() || s.front() == '+') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// One `[...]` set at p[0] == '['. Returns the index after `]`, or 0 when
// the set is not closed (the '[' is then literal).
size_t glob_set(std::string_view p, size_t i, unsigned char c, bool* hit) {
  size_t j = i + 1;
  const bool negate = j < p.size() && p[j] == '^';
  if (negate) j++;
  bool match = false;
  bool first = true;
  while (j < p.size() && (p[j] != ']' || first)) {
    first = false;
    unsigned char lo = static_cast<unsigned char>(p[j]);
    if (lo == '\\' && j + 1 < p.size()) lo = static_cast<unsigned char>(p[++j]);
    unsigned char hi = lo;
    if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
      j += 2;
      hi = static_cast<unsigned char>(p[j]);
      if (hi == '\\' && j + 1 < p.size()) hi = static_cast<unsigned char>(p[++j]);
      if (lo > hi) std::swap(lo, hi);
    }
    if (c >= lo && c <= hi) match = true;
    j++;
  }
  if (j >= p.size()) return 0;
  *hit = match != negate;
  return j + 1;
}

// Whether one pattern item at p[i] matches byte c; `*next` is the index
// after the item.
bool glob_item(std::string_view p, size_t i, unsigned char c, size_t* next) {
  if (p[i] == '?') {
    *next = i + 1;
    return true;
  }
  if (p[i] == '[') {
    bool hit = false;
    const size_t end = glob_set(p, i, c, &hit);
    if (end != 0) {
      *next = end;
      return hit;
    }
  }
  if (p[i] == '\\' && i + 1 < p.size()) i++;
  *next = i + 1;
  return static_cast<unsigned char>(p[i]) == c;
}

void walk(const CacheNode* n, std::string_view pattern, bool all, uint64_t now_ns,
          void (*fn)(void*, const CacheEntry&), void* ctx) {
  for (const CacheNode::Kid& k : n->kids) {
    if (k.node != nullptr) {
      walk(k.node, pattern, all, now_ns, fn, ctx);
    } else if (!k.entry->expired(now_ns) && (all || cache_glob_match(pattern, k.entry->key()))) {
      fn(ctx, *k.entry);
    }
  }
}

}  // namespace

const char* cache_type_name(CacheType t) {
  static constexpr const char* kNames[] = {"string", "hash", "list", "set"};
  return kNames[static_cast<int>(t)];
}

CacheEntry::CacheEntry(std::string_view key, uint64_t hash, CacheType type, uint64_t epoch)
    : key_(key), hash_(hash), epoch_(epoch) {
  switch (type) {
    case CacheType::kString:
      value_.emplace<std::string>();
      break;
    case CacheType::kHash:
      value_.emplace<Hash>();
      break;
    case CacheType::kList:
      value_.emplace<List>();
      break;
    case CacheType::kSet:
      value_.emplace<Set>();
      break;
  }
}

bool cache_glob_is_literal(std::string_view pattern) {
  return pattern.find_first_of("*?[\\") == std::string_view::npos;
}

// Iterative matching with one backtrack point: the last `*` seen. Every
// other item matches exactly one byte, so retrying from the last star is
// enough, and the cost is at most pattern length × key length.
bool cache_glob_match(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0;
  size_t star = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = ++pi;
      star_s = si;
      continue;
    }
    size_t next = 0;
    if (pi < p.size() && glob_item(p, pi, static_cast<unsigned char>(s[si]), &next)) {
      pi = next;
      si++;
      continue;
    }
    if (star == std::string_view::npos) return false;
    pi = star;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

void cache_list_range(int64_t start, int64_t stop, size_t size, size_t* first, size_t* last) {
  const int64_t n = static_cast<int64_t>(size);
  if (start < 0) start = std::max<int64_t>(n + start, 0);
  if (stop < 0) stop = n + stop;
  if (stop >= n) stop = n - 1;
  if (start > stop || start >= n) {
    *first = *last = 0;
    return;
  }
  *first = static_cast<size_t>(start);
  *last = static_cast<size_t>(stop) + 1;
}

std::string cache_error_text(const CacheResult& r, std::string_view key, CacheType want) {
  const std::string k(key);
  switch (r.error) {
    case CacheError::kNone:
      return "";
    case CacheError::kWrongType:
      return "key '" + k + "' holds a " + cache_type_name(r.held) + ", not a " +
             cache_type_name(want);
    case CacheError::kFull:
      return "the store is full (lua.cache.max_bytes)";
    case CacheError::kTooLarge:
      return "the value of key '" + k + "' would pass " + std::to_string(kCacheMaxValue) + " bytes";
    case CacheError::kNotInteger:
      return "key '" + k + "' holds a string that is not an integer";
    case CacheError::kOverflow:
      return "incrementing key '" + k + "' would overflow";
    case CacheError::kBadKey:
      return "key of " + std::to_string(key.size()) + " bytes (1 to 256)";
  }
  return "";
}

// -- Reads over one root.

const CacheEntry* CacheTrie::find(std::string_view key, uint64_t now_ns) const {
  const uint64_t h = hash_key(key);
  const CacheNode* n = root_;
  unsigned shift = 0;
  while (n != nullptr) {
    if (n->collision) {
      for (const CacheNode::Kid& k : n->kids) {
        if (k.entry->key() == key) return k.entry->expired(now_ns) ? nullptr : k.entry;
      }
      return nullptr;
    }
    const uint32_t bit = bit_at(h, shift);
    if ((n->bitmap & bit) == 0) return nullptr;
    const CacheNode::Kid& k = n->kids[position(n->bitmap, bit)];
    if (k.entry != nullptr) {
      return k.entry->key() == key && !k.entry->expired(now_ns) ? k.entry : nullptr;
    }
    n = k.node;
    shift += kBits;
  }
  return nullptr;
}

void CacheTrie::match(std::string_view pattern, uint64_t now_ns,
                      void (*fn)(void* ctx, const CacheEntry& e), void* ctx) const {
  if (root_ == nullptr) return;
  if (cache_glob_is_literal(pattern)) {
    if (const CacheEntry* e = find(pattern, now_ns)) fn(ctx, *e);
    return;
  }
  walk(root_, pattern, pattern == "*", now_ns, fn, ctx);
}

// -- The store.

CacheStore::CacheStore(uint64_t max_bytes, Clock clock)
    : max_bytes_(max_bytes), clock_(clock ? std::move(clock) : Clock(realtime_ns)) {
  stats_.max_bytes = max_bytes;
}

static void free_tree(CacheNode* n) {
  for (CacheNode::Kid& k : n->kids) {
    if (k.node != nullptr) {
      free_tree(k.node);
    } else {
      delete k.entry;
    }
  }
  delete n;
}

CacheStore::~CacheStore() {
  if (root_ != nullptr) free_tree(root_);
  for (Garbage& g : garbage_) {
    for (CacheNode* n : g.nodes) delete n;  // alone: children are still in use or listed
    for (CacheEntry* e : g.entries) delete e;
  }
}

uint64_t CacheStore::now() const { return clock_(); }

// A node or entry leaving the live tree: freed at once when made in this
// epoch (no snapshot has it), else listed until the snapshots that may
// hold it are gone (collect()).
void CacheStore::retire(CacheNode* n) {
  if (n->epoch == epoch_) {
    delete n;
    return;
  }
  if (garbage_.empty() || garbage_.back().epoch != epoch_) garbage_.push_back({epoch_, {}, {}});
  garbage_.back().nodes.push_back(n);
  stats_.garbage++;
}

void CacheStore::retire(CacheEntry* e) {
  if (e->epoch_ == epoch_) {
    delete e;
    return;
  }
  if (garbage_.empty() || garbage_.back().epoch != epoch_) garbage_.push_back({epoch_, {}, {}});
  garbage_.back().entries.push_back(e);
  stats_.garbage++;
}

// Makes the node in `slot` writable: a node from before the last publish
// may be in a snapshot, so it is copied; its children are shared by
// pointer, so a copy is one small memcpy whatever lies below.
CacheNode* CacheStore::owned(CacheNode*& slot) {
  if (slot->epoch != epoch_) {
    CacheNode* copy = new CacheNode(*slot);
    copy->epoch = epoch_;
    retire(slot);
    slot = copy;
    stats_.nodes_copied++;
  }
  return slot;
}

static CacheNode* new_node(unsigned shift, uint64_t epoch) {
  CacheNode* n = new CacheNode();
  n->epoch = epoch;
  n->collision = shift > kLastShift;
  return n;
}

void CacheStore::place(CacheEntry* e) {
  dirty_ = true;
  if (root_ == nullptr) root_ = new_node(0, epoch_);
  CacheNode** slot = &root_;
  const uint64_t h = e->hash();
  for (unsigned shift = 0;; shift += kBits) {
    CacheNode* n = owned(*slot);
    if (n->collision) {
      for (CacheNode::Kid& k : n->kids) {
        if (k.entry->key() == e->key()) {
          retire(k.entry);
          k.entry = e;
          return;
        }
      }
      n->kids.push_back({nullptr, e});
      return;
    }
    const uint32_t bit = bit_at(h, shift);
    const size_t pos = position(n->bitmap, bit);
    if ((n->bitmap & bit) == 0) {
      n->kids.insert(n->kids.begin() + static_cast<ptrdiff_t>(pos), {nullptr, e});
      n->bitmap |= bit;
      return;
    }
    CacheNode::Kid& k = n->kids[pos];
    if (k.entry != nullptr) {
      if (k.entry->key() == e->key()) {
        retire(k.entry);
        k.entry = e;
        return;
      }
      // Another key on this path: push it one level down and go on there.
      CacheNode* sub = new_node(shift + kBits, epoch_);
      if (!sub->collision) sub->bitmap = bit_at(k.entry->hash(), shift + kBits);
      sub->kids.push_back({nullptr, k.entry});
      k.entry = nullptr;
      k.node = sub;
    }
    slot = &k.node;
  }
}

// Removes `key` (known to be present) from the subtree in `slot`; empty
// nodes below the root are removed from their parents.
void CacheStore::erase_in(CacheNode*& slot, std::string_view key, uint64_t h, unsigned shift) {
  CacheNode* n = owned(slot);
  if (n->collision) {
    for (size_t i = 0; i < n->kids.size(); ++i) {
      if (n->kids[i].entry->key() == key) {
        retire(n->kids[i].entry);
        n->kids.erase(n->kids.begin() + static_cast<ptrdiff_t>(i));
        return;
      }
    }
    return;
  }
  const uint32_t bit = bit_at(h, shift);
  const size_t pos = position(n->bitmap, bit);
  CacheNode::Kid& k = n->kids[pos];
  if (k.node != nullptr) {
    erase_in(k.node, key, h, shift + kBits);
    if (!k.node->kids.empty()) return;
    retire(k.node);
  } else {
    retire(k.entry);
  }
  n->kids.erase(n->kids.begin() + static_cast<ptrdiff_t>(pos));
  n->bitmap &= ~bit;
}

bool CacheStore::erase(std::string_view key, uint64_t hash) {
  if (root_ == nullptr) return false;
  dirty_ = true;
  erase_in(root_, key, hash, 0);
  return true;
}

// Frees what only dead snapshots could reach. Garbage of epoch e left the
// live tree during e, so it is in snapshots of versions below e only: it
// goes once no snapshot older than e is alive.
void CacheStore::collect() {
  while (!published_.empty() && published_.front().second.expired()) published_.pop_front();
  uint64_t oldest = UINT64_MAX;
  for (const auto& [version, snap] : published_) {
    if (!snap.expired()) {
      oldest = version;
      break;
    }
  }
  // Pairs with the release of the last reader's decrement: its reads of
  // the nodes happen before they are freed.
  std::atomic_thread_fence(std::memory_order_acquire);
  while (!garbage_.empty() && garbage_.front().epoch <= oldest) {
    for (CacheNode* n : garbage_.front().nodes) delete n;
    for (CacheEntry* e : garbage_.front().entries) delete e;
    stats_.garbage -= garbage_.front().nodes.size() + garbage_.front().entries.size();
    garbage_.pop_front();
  }
}

void CacheStore::remove_entry(const CacheEntry* e) {
  stats_.bytes -= e->bytes();
  stats_.keys--;
  if (e->expire_ns() != 0) {
    auto it = expiries_.find(std::pair<uint64_t, std::string>(e->expire_ns(), e->key()));
    if (it != expiries_.end()) expiries_.erase(it);
  }
  const std::string key = e->key();  // `e` may be freed by the erase
  erase(key, e->hash());
}

void CacheStore::set_expiry(CacheEntry* e, uint64_t expire_ns) {
  if (e->expire_ns_ == expire_ns) return;
  if (e->expire_ns_ != 0) {
    auto it = expiries_.find(std::pair<uint64_t, std::string>(e->expire_ns_, e->key_));
    if (it != expiries_.end()) expiries_.erase(it);
  }
  e->expire_ns_ = expire_ns;
  if (expire_ns != 0) expiries_.emplace(expire_ns, e->key_);
}

CacheEntry* CacheStore::own(const CacheEntry* e) {
  dirty_ = true;
  if (e->epoch_ == epoch_) return const_cast<CacheEntry*>(e);
  CacheEntry* copy = new CacheEntry(*e);
  copy->epoch_ = epoch_;
  stats_.entries_copied++;
  place(copy);  // retires `e`
  return copy;
}

// The entry of `key` whatever its expiry (every expiry is after time 0),
// removed first when it has expired.
const CacheEntry* CacheStore::live(std::string_view key) {
  const CacheEntry* e = find(key, 0);
  if (e != nullptr && e->expired(now())) {
    remove_entry(e);
    stats_.expired++;
    return nullptr;
  }
  return e;
}

const CacheEntry* CacheStore::read(std::string_view key) {
  stats_.reads++;
  return valid_key(key) ? live(key) : nullptr;
}

// The live entry of `key` (null: missing) for a write of `type`; false
// with the error in `r` when the key is malformed or holds another type.
bool CacheStore::target(std::string_view key, CacheType type, const CacheEntry** e,
                        CacheResult* r) {
  if (!valid_key(key)) {
    r->error = CacheError::kBadKey;
    return false;
  }
  *e = live(key);
  if (*e != nullptr && (*e)->type() != type) {
    r->error = CacheError::kWrongType;
    r->held = (*e)->type();
    return false;
  }
  return true;
}

// The writable entry for a write that makes `e`'s value (a new key's when
// `e` is null) `grow` bytes larger, or smaller when negative; null with the
// refusal in `r` when that passes either limit.
CacheEntry* CacheStore::resize(std::string_view key, const CacheEntry* e, CacheType type,
                               int64_t grow, CacheResult* r) {
  const int64_t old = e != nullptr ? static_cast<int64_t>(e->value_bytes_) : 0;
  const int64_t cost =
      grow + (e == nullptr ? static_cast<int64_t>(key.size() + kCacheKeyOverhead) : 0);
  if (grow > 0 && old + grow > static_cast<int64_t>(kCacheMaxValue)) {
    r->error = CacheError::kTooLarge;
    return nullptr;
  }
  if (cost > 0 && stats_.bytes + static_cast<uint64_t>(cost) > max_bytes_) {
    r->error = CacheError::kFull;
    return nullptr;
  }
  CacheEntry* w = e != nullptr ? own(e) : new CacheEntry(key, hash_key(key), type, epoch_);
  if (e == nullptr) {
    stats_.keys++;
    place(w);
  }
  w->value_bytes_ = static_cast<size_t>(old + grow);
  stats_.bytes += cost;
  return w;
}

// Counts a write's outcome.
CacheResult CacheStore::done(CacheResult r) {
  if (r.ok()) {
    stats_.writes++;
  } else if (r.refused()) {
    stats_.refused++;
  }
  return r;
}

// setCache, setnxCache, and incrCache's store (`keep_ttl`: the key keeps
// its expiry).
CacheResult CacheStore::put_string(std::string_view key, std::string_view value, uint64_t ttl_s,
                                   bool nx, bool keep_ttl) {
  CacheResult r;
  const CacheEntry* e = valid_key(key) ? live(key) : nullptr;
  if (e != nullptr && nx) return done(r);  // value 0: it existed, whatever it holds
  if (!target(key, CacheType::kString, &e, &r)) return done(r);
  const int64_t old = e != nullptr ? static_cast<int64_t>(e->value_bytes_) : 0;
  CacheEntry* w = resize(key, e, CacheType::kString, static_cast<int64_t>(value.size()) - old, &r);
  if (w == nullptr) return done(r);
  std::get<std::string>(w->value_).assign(value);
  if (!keep_ttl) set_expiry(w, ttl_s != 0 ? now() + ttl_s * 1'000'000'000u : 0);
  r.value = 1;
  return done(r);
}

CacheResult CacheStore::set(std::string_view key, std::string_view value, uint64_t ttl_s) {
  return put_string(key, value, ttl_s, false, false);
}

CacheResult CacheStore::setnx(std::string_view key, std::string_view value, uint64_t ttl_s) {
  return put_string(key, value, ttl_s, true, false);
}

CacheResult CacheStore::del(std::string_view key) {
  CacheResult r;
  if (!valid_key(key)) return done({CacheError::kBadKey});
  if (const CacheEntry* e = live(key)) {
    remove_entry(e);
    r.value = 1;
  }
  return done(r);
}

CacheResult CacheStore::rename(std::string_view from, std::string_view to) {
  CacheResult r;
  if (!valid_key(from) || !valid_key(to)) return done({CacheError::kBadKey});
  const CacheEntry* e = live(from);
  if (e == nullptr) return done(r);
  r.value = 1;
  if (from == to) return done(r);
  const CacheEntry* replaced = live(to);
  const int64_t cost = static_cast<int64_t>(to.size()) - static_cast<int64_t>(from.size()) -
                       (replaced != nullptr ? static_cast<int64_t>(replaced->bytes()) : 0);
  if (cost > 0 && stats_.bytes + static_cast<uint64_t>(cost) > max_bytes_) {
    return done({CacheError::kFull});
  }
  CacheEntry* moved = new CacheEntry(*e);
  moved->key_.assign(to);
  moved->hash_ = hash_key(to);
  moved->epoch_ = epoch_;
  moved->expire_ns_ = 0;
  const uint64_t expire = e->expire_ns();
  if (replaced != nullptr) remove_entry(replaced);
  remove_entry(e);
  stats_.keys++;
  stats_.bytes += moved->bytes();
  place(moved);
  set_expiry(moved, expire);
  return done(r);
}

CacheResult CacheStore::incr(std::string_view key, int64_t n) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kString, &e, &r)) return done(r);
  int64_t value = 0;
  if (e != nullptr && !parse_integer(e->str(), &value)) return done({CacheError::kNotInteger});
  if (__builtin_add_overflow(value, n, &value)) return done({CacheError::kOverflow});
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  r = put_string(key, std::string_view(buf, static_cast<size_t>(end - buf)), 0, false, true);
  if (r.ok()) r.value = value;
  return r;
}

CacheResult CacheStore::hset(std::string_view key, std::string_view field, std::string_view value) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kHash, &e, &r)) return done(r);
  int64_t grow = static_cast<int64_t>(field.size() + value.size() + kCacheItemOverhead);
  if (e != nullptr) {
    if (auto it = e->hash_fields().find(field); it != e->hash_fields().end()) {
      grow = static_cast<int64_t>(value.size()) - static_cast<int64_t>(it->second.size());
    }
  }
  CacheEntry* w = resize(key, e, CacheType::kHash, grow, &r);
  if (w == nullptr) return done(r);
  std::get<CacheEntry::Hash>(w->value_).insert_or_assign(std::string(field), std::string(value));
  r.value = 1;
  return done(r);
}

// The writable entry when `key` holds a `type` value; null otherwise (with
// the error in `r` for another type).
CacheEntry* CacheStore::existing(std::string_view key, CacheType type, CacheResult* r) {
  const CacheEntry* e = nullptr;
  return target(key, type, &e, r) && e != nullptr ? own(e) : nullptr;
}

// Takes `gone` bytes off `w`'s value; removes the key when its collection
// is `empty`, as Redis does.
void CacheStore::shrink(CacheEntry* w, size_t gone, bool empty) {
  w->value_bytes_ -= gone;
  stats_.bytes -= gone;
  if (empty) remove_entry(w);
}

CacheResult CacheStore::hdel(std::string_view key, std::string_view field) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kHash, &e, &r) || e == nullptr) return done(r);
  auto it = e->hash_fields().find(field);
  if (it == e->hash_fields().end()) return done(r);
  const size_t gone = it->first.size() + it->second.size() + kCacheItemOverhead;
  CacheEntry* w = own(e);
  auto& fields = std::get<CacheEntry::Hash>(w->value_);
  fields.erase(fields.find(field));
  shrink(w, gone, fields.empty());
  r.value = 1;
  return done(r);
}

CacheResult CacheStore::push(std::string_view key, std::string_view value, bool front) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kList, &e, &r)) return done(r);
  const int64_t grow = static_cast<int64_t>(value.size() + kCacheItemOverhead);
  CacheEntry* w = resize(key, e, CacheType::kList, grow, &r);
  if (w == nullptr) return done(r);
  auto& list = std::get<CacheEntry::List>(w->value_);
  list.emplace(front ? list.begin() : list.end(), value);
  r.value = static_cast<int64_t>(list.size());
  return done(r);
}

CacheResult CacheStore::pop(std::string_view key, bool front, std::string* out) {
  CacheResult r;
  CacheEntry* w = existing(key, CacheType::kList, &r);
  if (w == nullptr) return done(r);
  auto& list = std::get<CacheEntry::List>(w->value_);
  auto it = front ? list.begin() : list.end() - 1;
  *out = std::move(*it);
  list.erase(it);
  shrink(w, out->size() + kCacheItemOverhead, list.empty());
  r.value = 1;
  return done(r);
}

CacheResult CacheStore::lrem(std::string_view key, int64_t count, std::string_view value) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kList, &e, &r) || e == nullptr) return done(r);
  if (std::find(e->list().begin(), e->list().end(), value) == e->list().end()) return done(r);
  CacheEntry* w = own(e);
  auto& list = std::get<CacheEntry::List>(w->value_);
  const uint64_t limit = count == 0  ? UINT64_MAX
                         : count > 0 ? static_cast<uint64_t>(count)
                                     : 0 - static_cast<uint64_t>(count);
  uint64_t removed = 0;
  auto hit = [&](const std::string& s) { return s == value && removed < limit && ++removed; };
  if (count >= 0) {
    list.erase(std::remove_if(list.begin(), list.end(), hit), list.end());
  } else {  // from the tail: the kept items end up at the back
    list.erase(list.begin(), std::remove_if(list.rbegin(), list.rend(), hit).base());
  }
  shrink(w, removed * (value.size() + kCacheItemOverhead), list.empty());
  r.value = static_cast<int64_t>(removed);
  return done(r);
}

CacheResult CacheStore::ltrim(std::string_view key, int64_t start, int64_t stop) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kList, &e, &r)) return done(r);
  r.value = 1;
  if (e == nullptr) return done(r);
  size_t first = 0, last = 0;
  cache_list_range(start, stop, e->list().size(), &first, &last);
  if (first == 0 && last == e->list().size()) return done(r);
  CacheEntry* w = own(e);
  auto& list = std::get<CacheEntry::List>(w->value_);
  size_t gone = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i < first || i >= last) gone += list[i].size() + kCacheItemOverhead;
  }
  list.erase(list.begin() + static_cast<ptrdiff_t>(last), list.end());
  list.erase(list.begin(), list.begin() + static_cast<ptrdiff_t>(first));
  shrink(w, gone, list.empty());
  return done(r);
}

CacheResult CacheStore::sadd(std::string_view key, std::string_view member) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kSet, &e, &r)) return done(r);
  if (e != nullptr && e->members().count(member) != 0) return done(r);
  const int64_t grow = static_cast<int64_t>(member.size() + kCacheItemOverhead);
  CacheEntry* w = resize(key, e, CacheType::kSet, grow, &r);
  if (w == nullptr) return done(r);
  std::get<CacheEntry::Set>(w->value_).emplace(member);
  r.value = 1;
  return done(r);
}

CacheResult CacheStore::srem(std::string_view key, std::string_view member) {
  CacheResult r;
  const CacheEntry* e = nullptr;
  if (!target(key, CacheType::kSet, &e, &r) || e == nullptr) return done(r);
  if (e->members().count(member) == 0) return done(r);
  CacheEntry* w = own(e);
  auto& set = std::get<CacheEntry::Set>(w->value_);
  set.erase(set.find(member));
  shrink(w, member.size() + kCacheItemOverhead, set.empty());
  r.value = 1;
  return done(r);
}

size_t CacheStore::sweep(uint64_t now_ns) {
  size_t n = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now_ns) {
    const std::string key = expiries_.begin()->second;
    const CacheEntry* e = find(key, 0);
    if (e != nullptr && e->expire_ns() == expiries_.begin()->first) {
      remove_entry(e);  // removes the index entry too
    } else {
      expiries_.erase(expiries_.begin());
    }
    stats_.expired++;
    n++;
  }
  return n;
}

std::shared_ptr<const CacheSnapshot> CacheStore::publish() {
  if (!dirty_ && last_ != nullptr) return last_;
  auto s = std::make_shared<CacheSnapshot>();
  s->root_ = root_;
  s->version_ = epoch_;
  stats_.snapshots++;
  s->published_ns_ = now();
  s->keys_ = stats_.keys;
  stats_.last_publish_ns = s->published_ns_;
  epoch_++;
  dirty_ = false;
  last_ = s;
  published_.emplace_back(s->version_, s);
  collect();
  return s;
}

}  // namespace loupe
