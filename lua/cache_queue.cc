// lua/cache_store.h: the queue of worker writes, their application by the
// control core, and the publication of snapshots to workers.
#include <algorithm>
#include <bit>
#include <cstring>

#include "lua/cache_store.h"

namespace loupe {

// -- The write queue.

struct CacheWriteQueue::Header {
  uint32_t slots;
  uint32_t a_len;
  uint32_t b_len;
  uint16_t key_len;
  int16_t script;
  uint8_t op;
  uint8_t pad[7];
  int64_t n1;
  int64_t n2;
};

size_t CacheWriteQueue::header_bytes() {
  static_assert(sizeof(Header) == 40, "the slot layout the header comment describes");
  return sizeof(Header);
}

const char* cache_op_function(CacheOp op) {
  static constexpr const char* kNames[] = {
      "",
      "ntop.setCache",
      "ntop.setnxCache",
      "ntop.delCache",
      "ntop.renameCache",
      "ntop.incrCache",
      "ntop.setHashCache",
      "ntop.delHashCache",
      "ntop.lpushCache",
      "ntop.rpushCache",
      "ntop.lremCache",
      "ntop.ltrimCache",
      "ntop.setMembersCache",
      "ntop.delMembersCache",
  };
  return kNames[static_cast<int>(op)];
}

CacheWriteQueue::CacheWriteQueue(uint32_t slots)
    : mask_(std::bit_ceil(std::max<size_t>(slots, 2)) - 1) {
  ring_ = std::make_unique<std::byte[]>((mask_ + 1) * kSlotBytes);
}

size_t CacheWriteQueue::slots_for(const CacheWrite& w) const {
  const size_t bytes = header_bytes() + w.key.size() + w.a.size() + w.b.size();
  return (bytes + kSlotBytes - 1) / kSlotBytes;
}

bool CacheWriteQueue::push(const CacheWrite& w) {
  const size_t cap = mask_ + 1;
  const size_t need = slots_for(w);
  // A value the store would refuse is not worth a place in the ring.
  if (need > cap / 2 || w.key.size() > kCacheMaxKey || w.a.size() > kCacheMaxValue ||
      w.b.size() > kCacheMaxValue) {
    too_long_.add();
    dropped_.add();
    return false;
  }
  uint64_t head = head_.load(std::memory_order_relaxed);
  const size_t at = head & mask_;
  const size_t pad = at + need > cap ? cap - at : 0;
  if (head + pad + need - tail_seen_ > cap) {
    tail_seen_ = tail_.load(std::memory_order_acquire);
    if (head + pad + need - tail_seen_ > cap) {
      dropped_.add();
      return false;
    }
  }
  Header h{};
  if (pad != 0) {
    h.slots = static_cast<uint32_t>(pad);
    h.op = static_cast<uint8_t>(CacheOp::kPad);
    std::memcpy(&ring_[at * kSlotBytes], &h, sizeof(h));
    head += pad;
  }
  std::byte* p = &ring_[(head & mask_) * kSlotBytes];
  h.slots = static_cast<uint32_t>(need);
  h.a_len = static_cast<uint32_t>(w.a.size());
  h.b_len = static_cast<uint32_t>(w.b.size());
  h.key_len = static_cast<uint16_t>(w.key.size());
  h.script = w.script;
  h.op = static_cast<uint8_t>(w.op);
  h.n1 = w.n1;
  h.n2 = w.n2;
  std::memcpy(p, &h, sizeof(h));
  p += sizeof(h);
  for (std::string_view s : {w.key, w.a, w.b}) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  head_.store(head + need, std::memory_order_release);
  return true;
}

bool CacheWriteQueue::peek(CacheWrite* out) {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  while (tail != head) {
    const std::byte* p = &ring_[(tail & mask_) * kSlotBytes];
    Header h;
    std::memcpy(&h, p, sizeof(h));
    if (static_cast<CacheOp>(h.op) == CacheOp::kPad) {
      tail += h.slots;
      tail_.store(tail, std::memory_order_release);
      continue;
    }
    const char* c = reinterpret_cast<const char*>(p + sizeof(h));
    out->op = static_cast<CacheOp>(h.op);
    out->script = h.script;
    out->key = {c, h.key_len};
    out->a = {c + h.key_len, h.a_len};
    out->b = {c + h.key_len + h.a_len, h.b_len};
    out->n1 = h.n1;
    out->n2 = h.n2;
    return true;
  }
  return false;
}

void CacheWriteQueue::pop() {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail == head_.load(std::memory_order_acquire)) return;
  Header h;
  std::memcpy(&h, &ring_[(tail & mask_) * kSlotBytes], sizeof(h));
  tail_.store(tail + h.slots, std::memory_order_release);
}

size_t CacheWriteQueue::pending() const {
  return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
}

// -- The control core applies one worker's queue.

size_t CacheStore::apply(CacheWriteQueue& q, const ApplyErrorFn& on_error, size_t max) {
  size_t n = 0;
  CacheWrite w;
  std::string popped;
  while (n < max && q.peek(&w)) {
    CacheResult r;
    CacheType want = CacheType::kString;
    switch (w.op) {
      case CacheOp::kSet:
        r = set(w.key, w.a, static_cast<uint64_t>(w.n1));
        break;
      case CacheOp::kSetNx:
        r = setnx(w.key, w.a, static_cast<uint64_t>(w.n1));
        break;
      case CacheOp::kDel:
        r = del(w.key);
        break;
      case CacheOp::kRename:
        r = rename(w.key, w.a);
        break;
      case CacheOp::kIncr:
        r = incr(w.key, w.n1);
        break;
      case CacheOp::kHSet:
        r = hset(w.key, w.a, w.b), want = CacheType::kHash;
        break;
      case CacheOp::kHDel:
        r = hdel(w.key, w.a), want = CacheType::kHash;
        break;
      case CacheOp::kLPush:
        r = push(w.key, w.a, true), want = CacheType::kList;
        break;
      case CacheOp::kRPush:
        r = push(w.key, w.a, false), want = CacheType::kList;
        break;
      case CacheOp::kLRem:
        r = lrem(w.key, w.n1, w.a), want = CacheType::kList;
        break;
      case CacheOp::kLTrim:
        r = ltrim(w.key, w.n1, w.n2), want = CacheType::kList;
        break;
      case CacheOp::kSAdd:
        r = sadd(w.key, w.a), want = CacheType::kSet;
        break;
      case CacheOp::kSRem:
        r = srem(w.key, w.a), want = CacheType::kSet;
        break;
      case CacheOp::kPad:
        break;
    }
    if (r.ok()) {
      stats_.queued_applied++;
    } else {
      stats_.apply_errors++;
      if (on_error) {
        on_error(w.script,
                 std::string(cache_op_function(w.op)) + ": " + cache_error_text(r, w.key, want));
      }
    }
    q.pop();
    n++;
  }
  const uint64_t dropped = q.dropped();
  stats_.queued_dropped += dropped - q.dropped_reported_;
  q.dropped_reported_ = dropped;
  return n;
}

// -- Publication to workers.

CacheSnapshotHandle::CacheSnapshotHandle() = default;
CacheSnapshotHandle::~CacheSnapshotHandle() = default;

void CacheSnapshotHandle::publish(std::shared_ptr<const CacheSnapshot> s) {
  if (s != nullptr && s->version() != version_.load(std::memory_order_relaxed)) {
    latest_.store(s.get(), std::memory_order_seq_cst);
    version_.store(s->version(), std::memory_order_seq_cst);
    kept_.push_back(std::move(s));
  }
  reclaim();
}

// Versions only grow, so a reader holding version h (or about to load one
// at least that new) reads nothing older: every snapshot older than the
// smallest announcement, except the latest, is released. A reader that
// has not read yet announces 0 and holds everything back.
void CacheSnapshotHandle::reclaim() {
  uint64_t oldest = UINT64_MAX;
  for (const CacheReader* r : readers_) {
    oldest = std::min(oldest, r->holding_.load(std::memory_order_seq_cst));
  }
  while (kept_.size() > 1 && kept_.front()->version() < oldest) kept_.pop_front();
}

CacheReader::CacheReader(CacheSnapshotHandle* handle) : handle_(handle) {
  handle_->readers_.push_back(this);
}

CacheReader::~CacheReader() { std::erase(handle_->readers_, this); }

}  // namespace loupe
