// What one worker learned about hosts during one period (about a second):
// traffic per (host, L7 protocol), flows started and ended by role, contacts
// that got no answer, and per local network traffic. A worker fills one; at
// the period's end it hands it to the control core through a HostMailbox and
// goes on with the spare; the control core merges it into the HostTable
// (host_table.h), clears it and gives it back. Fixed capacity, allocated at
// start: a full partial drops and counts, never grows on the packet path.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "engine/host/host_key.h"

namespace loupe {

// One (host, L7 protocol) of one period. "Sent" is by the host.
struct PartialEntry {
  HostKey host;
  uint16_t l7_master;
  uint16_t l7_app;
  uint32_t hash;
  uint32_t used;  // 0: free slot
  uint64_t bytes_sent, bytes_rcvd, pkts_sent, pkts_rcvd;
  uint32_t flows_as_client, flows_as_server;  // flows that started
  uint32_t ended_as_client, ended_as_server;  // flows that ended
  uint32_t unidir_as_client, unidir_as_server;  // TCP/UDP flows that ended one-way
  uint32_t l7_flows;  // flows counted for this L7 protocol (once each)
  int16_t network;    // local network id, -1 for remote hosts
  uint16_t pad;
  uint64_t first_ns, last_ns;
};

// A TCP/UDP flow that ended with no packet from its server.
struct ContactEvent {
  HostKey client;
  HostKey server;
  uint16_t server_port;
  uint8_t proto;
};

// Traffic of one local network in one period (contract §4.6.4).
struct NetDelta {
  uint64_t bytes_sent = 0, bytes_rcvd = 0, pkts_sent = 0, pkts_rcvd = 0;
  uint64_t ingress_bytes = 0, ingress_pkts = 0;
  uint64_t egress_bytes = 0, egress_pkts = 0;
  uint64_t inner_bytes = 0, inner_pkts = 0;
};

class HostPartial {
 public:
  // `entries` is rounded up to a power of two; the table fills to 7/8.
  HostPartial(uint32_t entries, uint32_t contacts, uint32_t networks);

  // The entry of (host, protocol), made when absent; null when full.
  PartialEntry* entry(const HostKey& host, uint16_t l7_master, uint16_t l7_app, int16_t network);
  // False (and counted) when the contact list is full.
  bool add_contact(const ContactEvent& c);
  NetDelta& network(int id) { return nets_[static_cast<size_t>(id)]; }

  void clear();
  bool empty() const { return used_ == 0 && n_contacts_ == 0 && !net_touched_; }
  void touch_networks() { net_touched_ = true; }

  // Control core: what the partial holds.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const PartialEntry& e : entries_)
      if (e.used) fn(e);
  }
  const ContactEvent* contacts() const { return contacts_.data(); }
  uint32_t contact_count() const { return n_contacts_; }
  const std::vector<NetDelta>& networks() const { return nets_; }
  uint32_t used() const { return used_; }
  uint64_t dropped_entries() const { return dropped_entries_; }
  uint64_t dropped_contacts() const { return dropped_contacts_; }
  uint64_t period_end_ns = 0;  // the worker's clock when it handed the partial over

 private:
  std::vector<PartialEntry> entries_;
  uint32_t mask_;
  uint32_t limit_;
  uint32_t used_ = 0;
  std::vector<ContactEvent> contacts_;
  uint32_t n_contacts_ = 0;
  std::vector<NetDelta> nets_;
  bool net_touched_ = false;
  uint64_t dropped_entries_ = 0;
  uint64_t dropped_contacts_ = 0;
};

// Two partials per worker, passed back and forth through two one-slot
// mailboxes: `full` (worker to control core) and `spare` (back). The worker
// never waits: when the control core has not returned the spare yet, it
// keeps filling the partial it has and hands it over at a later period.
class HostMailbox {
 public:
  // Worker: hands `p` over when the control core took the previous one and
  // a spare is back; returns the partial to fill next (p itself when not).
  HostPartial* exchange(HostPartial* p) {
    if (full_.load(std::memory_order_acquire) != nullptr) return p;
    HostPartial* next = spare_.exchange(nullptr, std::memory_order_acq_rel);
    if (next == nullptr) return p;
    full_.store(p, std::memory_order_release);
    return next;
  }
  // Control core: the partial to merge, or null.
  HostPartial* take() { return full_.exchange(nullptr, std::memory_order_acq_rel); }
  // Control core: a merged, cleared partial goes back. The spare slot is
  // empty whenever the control core holds one (there are exactly two).
  void give_back(HostPartial* p) { spare_.store(p, std::memory_order_release); }
  // Whoever destroys the worker: what is in transit.
  HostPartial* leftover_full() { return full_.exchange(nullptr); }
  HostPartial* leftover_spare() { return spare_.exchange(nullptr); }

 private:
  std::atomic<HostPartial*> full_{nullptr};
  std::atomic<HostPartial*> spare_{nullptr};
};

}  // namespace loupe
