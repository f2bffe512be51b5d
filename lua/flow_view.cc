// Engine-neutral helpers of lua/flow_view.h.
#include "lua/flow_view.h"

#include <arpa/inet.h>
#include <ndpi/ndpi_api.h>

#include <cstdio>
#include <cstring>

#include "engine/classify/ndpi_detector.h"

namespace loupe {
namespace {

// Config keeps addresses as IpAddress (family 4/6); flows as 16 bytes with
// IPv4 in the first four. Compared bit by bit up to the prefix length.
bool prefix_match(const Cidr& net, const uint8_t* addr, uint8_t ip_version) {
  if (net.address.family != ip_version) return false;
  const unsigned full = net.prefix / 8, rest = net.prefix % 8;
  if (std::memcmp(net.address.bytes.data(), addr, full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t m = static_cast<uint8_t>(0xff << (8 - rest));
  return (net.address.bytes[full] & m) == (addr[full] & m);
}

bool is_multicast(const uint8_t* a, uint8_t v) {
  return v == 4 ? (a[0] & 0xf0) == 0xe0 : a[0] == 0xff;
}

}  // namespace

bool LocalNetworks::contains(const uint8_t* addr, uint8_t ip_version) const {
  for (const Cidr& n : nets_) {
    if (prefix_match(n, addr, ip_version)) return true;
  }
  return false;
}

int LocalNetworks::most_specific(const uint8_t* addr, uint8_t ip_version) const {
  int best = -1, best_len = -1;
  for (size_t i = 0; i < nets_.size(); i++) {
    if (nets_[i].prefix > best_len && prefix_match(nets_[i], addr, ip_version)) {
      best = static_cast<int>(i);
      best_len = nets_[i].prefix;
    }
  }
  return best;
}

bool LocalNetworks::is_broadcast(const uint8_t* a, uint8_t ip_version) const {
  if (ip_version != 4) return false;
  if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) return true;
  for (const Cidr& n : nets_) {
    if (n.address.family != 4 || n.prefix >= 31 || !prefix_match(n, a, 4)) continue;
    // All host bits set.
    const uint32_t host =
        (uint32_t{a[0]} << 24 | uint32_t{a[1]} << 16 | uint32_t{a[2]} << 8 | a[3]);
    const uint32_t hostmask = n.prefix == 0 ? ~0u : (~0u >> n.prefix);
    if ((host & hostmask) == hostmask) return true;
  }
  return false;
}

size_t format_ip(const uint8_t* addr, uint8_t ip_version, char* out, size_t cap) {
  if (ip_version != 4 && ip_version != 6) {
    out[0] = 0;
    return 0;
  }
  if (inet_ntop(ip_version == 4 ? AF_INET : AF_INET6, addr, out, static_cast<socklen_t>(cap)) ==
      nullptr) {
    out[0] = 0;
    return 0;
  }
  return std::strlen(out);
}

size_t l7_name(const FlowView& v, char* out, size_t cap) {
  if (v.ndpi == nullptr || !v.detected())
    return static_cast<size_t>(std::snprintf(out, cap, "Unknown"));
  ndpi_protocol p{v.l7_master(), v.l7_app(), NDPI_PROTOCOL_CATEGORY_UNSPECIFIED};
  const char* s = ndpi_protocol2name(v.ndpi->get(), p, out, static_cast<u_int>(cap));
  return s ? std::strlen(out) : 0;
}

size_t l4_name(uint8_t proto, char* out, size_t cap) {
  const char* n = proto == 6     ? "TCP"
                  : proto == 17  ? "UDP"
                  : proto == 1   ? "ICMP"
                  : proto == 58  ? "ICMPv6"
                  : proto == 132 ? "SCTP"
                                 : nullptr;
  return static_cast<size_t>(n ? std::snprintf(out, cap, "%s", n)
                               : std::snprintf(out, cap, "%u", proto));
}

const char* direction(const FlowView& v, const LocalNetworks& nets) {
  const uint8_t ver = v.ip_version();
  if (ver != 4 && ver != 6) return "unknown";
  const bool c = nets.contains(v.cli_addr(), ver), s = nets.contains(v.srv_addr(), ver);
  return c ? (s ? "local@local" : "local@remote") : (s ? "remote@local" : "remote2remote");
}

bool is_unicast(const FlowView& v, const LocalNetworks& nets) {
  const uint8_t ver = v.ip_version();
  for (const uint8_t* a : {v.cli_addr(), v.srv_addr()}) {
    if (is_multicast(a, ver) || nets.is_broadcast(a, ver)) return false;
  }
  return true;
}

const char* severity_name(Severity s) {
  static constexpr const char* kNames[] = {"debug", "info",     "notice", "warning",
                                           "error", "critical", "alert",  "emergency"};
  const unsigned i = static_cast<unsigned>(s) - 1;
  return i < 8 ? kNames[i] : "debug";
}

}  // namespace loupe
