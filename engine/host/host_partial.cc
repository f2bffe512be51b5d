#include "engine/host/host_partial.h"

#include <arpa/inet.h>

#include <cstring>

namespace loupe {

bool HostKey::operator<(const HostKey& o) const {
  if (ip_version != o.ip_version) return ip_version < o.ip_version;
  const int c = std::memcmp(addr, o.addr, 16);
  if (c != 0) return c < 0;
  return vlan < o.vlan;
}

std::string host_ip_string(const HostKey& k) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(k.ip_version == 6 ? AF_INET6 : AF_INET, k.addr, buf, sizeof(buf)) == nullptr)
    return "?";
  return buf;
}

std::string host_key_string(const HostKey& k) {
  return host_ip_string(k) + "@" + std::to_string(k.vlan);
}

namespace {
uint32_t pow2_at_least(uint32_t n) {
  uint32_t p = 16;
  while (p < n) p <<= 1;
  return p;
}
}  // namespace

HostPartial::HostPartial(uint32_t entries, uint32_t contacts, uint32_t networks)
    : entries_(pow2_at_least(entries + entries / 7)),
      mask_(static_cast<uint32_t>(entries_.size()) - 1),
      limit_(static_cast<uint32_t>(entries_.size() - entries_.size() / 8)),
      contacts_(contacts),
      nets_(networks) {
  std::memset(entries_.data(), 0, entries_.size() * sizeof(PartialEntry));
}

PartialEntry* HostPartial::entry(const HostKey& host, uint16_t l7_master, uint16_t l7_app,
                                 int16_t network) {
  const uint32_t h = host_hash(host) ^ (uint32_t{l7_master} << 16 | l7_app) * 0x9e3779b1u;
  for (uint32_t i = h & mask_;; i = (i + 1) & mask_) {
    PartialEntry& e = entries_[i];
    if (!e.used) {
      if (used_ == limit_) {
        dropped_entries_++;
        return nullptr;
      }
      used_++;
      e.used = 1;
      e.host = host;
      e.l7_master = l7_master;
      e.l7_app = l7_app;
      e.hash = h;
      e.network = network;
      return &e;
    }
    if (e.hash == h && e.l7_master == l7_master && e.l7_app == l7_app && e.host == host) return &e;
  }
}

bool HostPartial::add_contact(const ContactEvent& c) {
  if (n_contacts_ == contacts_.size()) {
    dropped_contacts_++;
    return false;
  }
  contacts_[n_contacts_++] = c;
  return true;
}

void HostPartial::clear() {
  if (used_ != 0) std::memset(entries_.data(), 0, entries_.size() * sizeof(PartialEntry));
  used_ = 0;
  n_contacts_ = 0;
  if (net_touched_)
    for (NetDelta& n : nets_) n = NetDelta{};
  net_touched_ = false;
  dropped_entries_ = 0;
  dropped_contacts_ = 0;
  period_end_ns = 0;
}

}  // namespace loupe
