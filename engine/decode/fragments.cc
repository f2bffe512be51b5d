// FragmentTracker: a direct-mapped table of first-fragment ports. No chains,
// no eviction list: a new datagram that hashes to a taken slot overwrites it,
// which bounds memory and work per packet at the cost of an occasional orphan.
#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include "engine/decode/decoder.h"

namespace loupe {

namespace {

constexpr uint32_t kMaxEntries = uint32_t{1} << 31;

}  // namespace

// The datagram identity: RFC 791 names (src, dst, protocol, id) for IPv4;
// RFC 8200 names (src, dst, id) for IPv6, whose key therefore has protocol 0,
// because a non-first IPv6 fragment only knows the first header of the
// fragmentable part, which may be an extension header rather than the L4
// protocol of its first fragment.
struct FragmentTracker::Entry {
  uint8_t src[16];
  uint8_t dst[16];
  uint32_t id;
  uint8_t key_proto;
  uint8_t ip_version;  // 0: free slot
  uint8_t l4_proto;    // the first fragment's L4 protocol
  uint16_t sport;
  uint16_t dport;
  uint64_t seen_ns;  // when the first fragment was seen
};

namespace {

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint8_t key_proto(const Decoded& d) { return d.ip_version == 4 ? d.l4_proto : 0; }

// Cheap rather than strong: the table is direct-mapped, so a hash collision
// costs no more than any other overwrite. The rotations keep (a, b) and
// (b, a) apart so both directions of a host pair do not share slots.
inline uint64_t hash_key(const Decoded& d) {
  uint64_t h = load64(d.src) ^ std::rotl(load64(d.src + 8), 13) ^ std::rotl(load64(d.dst), 29) ^
               std::rotl(load64(d.dst + 8), 43);
  h ^= uint64_t{d.frag_id} << 16 | uint64_t{key_proto(d)} << 8 | d.ip_version;
  h *= 0x9e3779b97f4a7c15ULL;  // Fibonacci hashing: the high bits mix everything
  return h ^ (h >> 32);
}

}  // namespace

FragmentTracker::FragmentTracker(uint32_t entries, uint64_t timeout_ns) : timeout_ns_(timeout_ns) {
  assert(entries <= kMaxEntries && "fragment table size validated at config load");
  const uint32_t size = std::bit_ceil(entries == 0 ? 1u : std::min(entries, kMaxEntries));
  // Value-initialised: ip_version 0 marks every slot free.
  entries_ = new Entry[size]();
  mask_ = size - 1;
}

FragmentTracker::~FragmentTracker() { delete[] entries_; }

bool FragmentTracker::resolve(Decoded& d, uint64_t now_ns) {
  assert(d.is_fragment && "only fragments are resolved");
  assert((d.ip_version == 4 || d.ip_version == 6) && "decoded fragments are IP");
  Entry& e = entries_[hash_key(d) & mask_];

  if (d.frag_first) {
    std::memcpy(e.src, d.src, 16);
    std::memcpy(e.dst, d.dst, 16);
    e.id = d.frag_id;
    e.key_proto = key_proto(d);
    e.ip_version = d.ip_version;
    e.l4_proto = d.l4_proto;
    e.sport = d.sport;
    e.dport = d.dport;
    e.seen_ns = now_ns;
    return true;
  }

  // A free slot has ip_version 0, which no fragment has.
  const bool same_datagram = e.ip_version == d.ip_version && e.id == d.frag_id &&
                             e.key_proto == key_proto(d) && std::memcmp(e.src, d.src, 16) == 0 &&
                             std::memcmp(e.dst, d.dst, 16) == 0;
  // A clock read earlier than the record (offline input with reordered
  // timestamps) counts as age 0, not as an enormous age.
  const uint64_t age_ns = now_ns > e.seen_ns ? now_ns - e.seen_ns : 0;
  if (!same_datagram || age_ns > timeout_ns_) return false;
  d.sport = e.sport;
  d.dport = e.dport;
  d.l4_proto = e.l4_proto;
  // The entry is kept after the last fragment (frag_more false): fragments
  // may arrive out of order, and a middle one behind the last must still
  // resolve. The slot is reclaimed by the timeout or by the next datagram
  // that hashes to it.
  return true;
}

}  // namespace loupe
