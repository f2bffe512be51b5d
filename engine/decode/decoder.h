// Decoder: one hot method, frame bytes in, Decoded out. Stateless and
// allocation-free; never throws. A frame it cannot make sense of returns the
// Malformed reason; the caller counts it.
#pragma once

#include <cstdint>

#include "engine/decode/decoded.h"

namespace loupe {

class Decoder {
 public:
  // Decodes an Ethernet frame of `caplen` captured bytes. Returns
  // Malformed::ok, or the first reason the frame cannot be decoded.
  // Non-IP EtherTypes return Malformed::not_ip.
  Malformed decode(const uint8_t* frame, uint32_t caplen, Decoded& out) const;
};

// Remembers the ports of first IPv4/IPv6 fragments so that later fragments of
// the same datagram are attributed to their flow. One per worker, fixed size
// (rounded up to a power of two), direct-mapped on the datagram identity:
// (src, dst, id, proto) for IPv4, (src, dst, id) for IPv6; an older entry is
// overwritten. Allocates only in the constructor.
class FragmentTracker {
 public:
  FragmentTracker(uint32_t entries, uint64_t timeout_ns);
  ~FragmentTracker();
  FragmentTracker(const FragmentTracker&) = delete;
  FragmentTracker& operator=(const FragmentTracker&) = delete;

  // For a fragment (d.is_fragment): a first fragment records its ports and
  // returns true; a non-first one gets its ports and L4 protocol from the
  // record and returns true, or returns false when no record younger than the
  // timeout exists (an orphan: the caller counts Malformed::fragment_orphan).
  bool resolve(Decoded& d, uint64_t now_ns);

 private:
  struct Entry;
  Entry* entries_;
  uint32_t mask_;
  uint64_t timeout_ns_;
};

}  // namespace loupe
