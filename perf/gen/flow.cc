#include "perf/gen/flow.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <numeric>

#include "perf/gen/frame.h"

namespace loupe::gen {
namespace {

// Client IPv4 addresses 10.0.0.1-10.255.255.254, visited in a scrambled but
// one-to-one order: host = (kHostMultiplier * slot + offset) % kHostSlots + 1.
constexpr uint64_t kHostSlots = (1u << 24) - 2;
constexpr uint64_t kHostMultiplier = 2654435761;  // prime, so coprime with kHostSlots
static_assert(std::gcd(kHostMultiplier, kHostSlots) == 1);

// The IANA dynamic range (RFC 6335), less the ports Wireshark gives a
// dissector: random payload on those would be dissected as that protocol and
// flagged malformed, and a port-guessing DPI would name it too. Unknown
// protocols must look unknown.
constexpr uint16_t kDynamicFirst = 49152;
constexpr uint16_t kRegisteredDynamicPorts[] = {
    49999, 54328, 56000, 56001, 56500, 56501, 57000, 57001, 57032, 57033, 57500, 57501,
    57532, 57533, 59000, 59001, 59032, 59033, 59500, 59501, 59532, 59533, 60001};

constexpr uint16_t kVlanIds[] = {10, 20, 30, 100, 200, 300, 1000, 4000};

constexpr std::array<uint8_t, 6> kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr std::array<uint8_t, 6> kServerMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

constexpr uint16_t kWindow = 64240;
// A sender with this much unacknowledged data lets the peer speak next, so
// no segment ever fills the peer's (unscaled) window.
constexpr uint32_t kUnackedLimit = 32768;

constexpr uint64_t kTagFlow = 0x100;
constexpr uint64_t kTagClientPort = 0x101;
constexpr uint64_t kTagHostOffset = 0x102;
constexpr uint64_t kTagIpv6 = 0x103;
constexpr uint64_t kTagHost = 0x200;
constexpr uint64_t kTagSession = 0x201;
constexpr uint64_t kTagQuic = 0x202;
constexpr uint64_t kTagDns = 0x203;
constexpr uint64_t kTagDatagram = 0x204;
constexpr uint64_t kTagStream = 0x210;  // + direction

bool is_tcp(Protocol p) { return p == Protocol::http || p == Protocol::tls || p == Protocol::tcp; }

uint32_t draw_size(const SizeRange& r, Rng& rng) {
  return static_cast<uint32_t>(rng.between(r.min, r.max));
}

uint32_t per_10000(double percent) { return static_cast<uint32_t>(std::llround(percent * 100)); }

// Frames between the handshake and the close when no --packets-per-flow is
// given: what one such flow typically carries.
uint32_t natural_body(Protocol p, bool tls13, Rng& rng) {
  switch (p) {
    case Protocol::http: return 2 * static_cast<uint32_t>(rng.between(1, 4));
    case Protocol::tls: return (tls13 ? 3 : 4) + static_cast<uint32_t>(rng.between(2, 12));
    case Protocol::dns: return 2;
    case Protocol::quic: return 2 + static_cast<uint32_t>(rng.between(2, 14));
    case Protocol::tcp: return static_cast<uint32_t>(rng.between(2, 12));
    default: return static_cast<uint32_t>(rng.between(1, 8));
  }
}

HostName flow_host(const FlowState& f) {
  Rng rng(derive(f.msg_seed, kTagHost));
  return pick_host_name(rng);
}

// Message `index` of one direction of a TCP flow's byte stream.
void build_stream_message(const FlowParams& params, const FlowState& f, uint8_t dir,
                          uint32_t index, Message& m) {
  Rng rng(derive(f.msg_seed, kTagStream + dir, index));
  const uint64_t session = derive(f.msg_seed, kTagSession);
  switch (f.protocol) {
    case Protocol::http:
      if (dir == kToServer) {
        http_request(m, flow_host(f).view(), rng);
      } else {
        http_response(m, draw_size(params.size, rng), rng);
      }
      return;
    case Protocol::tls:
      if (dir == kToServer) {
        if (index == 0) return tls_client_hello(m, flow_host(f).view(), f.tls13, session);
        if (index == 1) return tls_client_finished(m, f.tls13, rng);
      } else {
        if (index == 0) {
          const auto flight = static_cast<uint32_t>(rng.between(900, 1400));
          return tls_server_hello(m, f.tls13, session, flight, rng);
        }
        if (index == 1 && !f.tls13) return tls_server_finished(m, rng);
      }
      return tls_app_data(m, draw_size(params.size, rng), rng);
    default:
      return opaque(m, draw_size(params.size, rng), rng);
  }
}

// Takes the next bytes of one direction's stream: the rest of the current
// message (natural sizes) or exactly `budget` bytes across as many messages
// as that needs (fixed frame size).
uint32_t fill_stream(const FlowParams& params, FlowState& f, uint8_t dir, uint32_t budget,
                     bool exact, Message& m, uint8_t* out) {
  StreamCursor& c = f.stream[dir];
  uint32_t total = 0;
  while (total < budget) {
    build_stream_message(params, f, dir, c.message, m);
    const uint32_t take = std::min(m.size() - c.offset, budget - total);
    m.copy(c.offset, take, out + total);
    total += take;
    c.offset += take;
    if (c.offset == m.size()) {
      ++c.message;
      c.offset = 0;
    }
    if (!exact) break;
  }
  return total;
}

// Datagram number `body` of a UDP flow; `exact` pads or cuts it to `budget`.
uint32_t fill_datagram(const FlowParams& params, const FlowState& f, uint32_t body, uint8_t dir,
                       uint32_t budget, bool exact, Message& m, uint8_t* out) {
  Rng rng(derive(f.msg_seed, kTagDatagram, body));
  const uint32_t pad_to = exact ? budget : 0;
  switch (f.protocol) {
    case Protocol::dns: {
      Rng question_rng(derive(f.msg_seed, kTagDns, body / 2));
      const DnsQuestion q = pick_dns_question(question_rng);
      if (body % 2 == 0) {
        dns_query(m, q, pad_to);
      } else {
        dns_response(m, q, rng, pad_to);
      }
      break;
    }
    case Protocol::quic: {
      const QuicIds ids = quic_ids(derive(f.msg_seed, kTagQuic));
      if (body < 2) {
        const uint32_t size = exact ? budget : static_cast<uint32_t>(rng.between(1200, 1252));
        quic_initial(m, ids, body == 0, size, rng);
      } else {
        const uint32_t size = exact ? budget : draw_size(params.size, rng);
        quic_short(m, dir == kToServer ? ids.server : ids.client, size, rng);
      }
      break;
    }
    default:
      opaque(m, exact ? budget : draw_size(params.size, rng), rng);
      break;
  }
  const uint32_t len = exact ? budget : m.size();
  const uint32_t take = std::min(len, m.size());
  m.copy(0, take, out);
  std::memset(out + take, 0, len - take);
  return len;
}

// Direction of body frame `body` (after the handshake, before the close).
uint8_t body_direction(FlowState& f, uint32_t body) {
  uint8_t dir = kToServer;
  switch (f.protocol) {
    case Protocol::http:
    case Protocol::dns:
      return body % 2 == 0 ? kToServer : kToClient;
    case Protocol::tls: {
      const uint32_t scripted = f.tls13 ? 3 : 4;  // hellos, key exchange, finished
      if (body < scripted) return body % 2 == 0 ? kToServer : kToClient;
      if (body == scripted) return kToServer;  // the first request
      dir = f.rng.chance(7000) ? kToClient : kToServer;
      break;
    }
    case Protocol::quic:
      if (body < 2) return body == 0 ? kToServer : kToClient;
      return f.rng.chance(5000) ? kToClient : kToServer;
    case Protocol::tcp:
      if (body == 0) return kToServer;
      dir = f.rng.chance(5000) ? kToClient : kToServer;
      break;
    default:
      if (body == 0) return kToServer;
      return f.rng.chance(4000) ? kToClient : kToServer;
  }
  if (f.unacked[dir] >= kUnackedLimit) dir ^= 1;
  return dir;
}

}  // namespace

FlowParams make_flow_params(const GenConfig& config) {
  FlowParams p;
  p.seed = config.seed;
  p.packets_per_flow = config.packets_per_flow;
  uint32_t sum = 0;
  for (size_t i = 0; i < kProtocolCount; ++i) {
    sum += config.mix[i];
    p.mix_cumulative[i] = sum;
  }
  p.ipv6_per_10000 = per_10000(config.ipv6_percent);
  p.vlan_per_10000 = per_10000(config.vlan_percent);
  p.size = config.size;
  p.fixed_frame_size = config.fixed_frame_size;
  p.established = config.established;
  p.client_host_offset = derive(config.seed, kTagHostOffset) % kHostSlots;
  for (uint32_t port = kDynamicFirst; port <= 0xffff; ++port) {
    if (std::find(std::begin(kRegisteredDynamicPorts), std::end(kRegisteredDynamicPorts), port) ==
        std::end(kRegisteredDynamicPorts)) {
      p.dynamic_ports.push_back(static_cast<uint16_t>(port));
    }
  }
  return p;
}

uint64_t flow_capacity(const FlowParams& params) {
  // IPv4 is the binding family: one flow per client host per port.
  return kHostSlots * params.dynamic_ports.size();
}

FlowState start_flow(const FlowParams& params, uint64_t index) {
  FlowState f;
  Rng rng(derive(params.seed, kTagFlow, index));

  // Every draw is made whatever the options, so a flow keeps its protocol,
  // family and length when an unrelated option changes.
  const uint64_t pick = rng.below(params.mix_cumulative.back());
  size_t proto = 0;
  while (params.mix_cumulative[proto] <= pick) ++proto;
  f.protocol = static_cast<Protocol>(proto);
  f.ipv6 = rng.chance(params.ipv6_per_10000);
  const uint16_t vlan = kVlanIds[rng.below(std::size(kVlanIds))];
  f.vlan = rng.chance(params.vlan_per_10000) ? vlan : 0;
  f.tls13 = rng.chance(8000);
  const bool rst = f.protocol == Protocol::tcp && rng.chance(3000);
  f.close_initiator = static_cast<uint8_t>(rng.below(2));
  const uint32_t natural = natural_body(f.protocol, f.tls13, rng);
  const uint32_t asked = params.packets_per_flow
                             ? static_cast<uint32_t>(rng.between(params.packets_per_flow->min,
                                                                 params.packets_per_flow->max))
                             : 0;

  // Client address and port from the flow index, one-to-one: IPv4 walks the
  // 16M hosts of 10/8 and takes the next port of a host on each pass; IPv6
  // puts a bijection of the index in the interface id.
  const uint64_t slot = index % kHostSlots;
  const uint64_t pass = index / kHostSlots;
  const uint64_t host = (kHostMultiplier * slot + params.client_host_offset) % kHostSlots + 1;
  const size_t ports = params.dynamic_ports.size();
  assert(pass < ports);
  const uint64_t base_port = derive(params.seed, kTagClientPort, slot) % ports;
  f.client_port = params.dynamic_ports[(base_port + pass) % ports];
  const uint64_t server = rng.between(1, 0xfffe);
  if (f.ipv6) {
    const uint64_t iid = mix64(index ^ derive(params.seed, kTagIpv6));
    f.client_ip = {0xfd, 0, 0, 0, 0, 0, 0, 1};
    for (int i = 0; i < 8; ++i) f.client_ip[8 + i] = static_cast<uint8_t>(iid >> (56 - 8 * i));
    f.server_ip = {0xfd, 0x01};
    f.server_ip[14] = static_cast<uint8_t>(server >> 8);
    f.server_ip[15] = static_cast<uint8_t>(server);
  } else {
    f.client_ip = {10, static_cast<uint8_t>(host >> 16), static_cast<uint8_t>(host >> 8),
                   static_cast<uint8_t>(host)};
    f.server_ip = {192, 168, static_cast<uint8_t>(server >> 8), static_cast<uint8_t>(server)};
  }
  const uint16_t unknown_port = params.dynamic_ports[rng.below(ports)];
  switch (f.protocol) {
    case Protocol::http: f.server_port = 80; break;
    case Protocol::tls:
    case Protocol::quic: f.server_port = 443; break;
    case Protocol::dns: f.server_port = 53; break;
    default: f.server_port = unknown_port; break;
  }

  f.seq = {static_cast<uint32_t>(rng.next()), static_cast<uint32_t>(rng.next())};
  f.ip_id = {static_cast<uint16_t>(rng.next()), static_cast<uint16_t>(rng.next())};
  f.flow_label = static_cast<uint32_t>(rng.next() & 0xfffff);
  f.msg_seed = rng.next();
  f.rng = Rng(rng.next());

  const bool tcp = is_tcp(f.protocol) && !params.established;
  f.handshake = tcp ? 3 : 0;
  f.close = tcp ? (rst ? 1 : 3) : 0;
  f.packets = params.packets_per_flow ? asked : f.handshake + natural + f.close;
  // Too few frames for the whole shape: keep the handshake and as much of the
  // body as fits; drop the close first, then cut the handshake short.
  if (f.packets <= f.handshake + f.close) f.close = 0;
  if (f.packets < f.handshake) f.handshake = static_cast<uint8_t>(f.packets);
  return f;
}

size_t next_frame(const FlowParams& params, FlowState& f, Message& scratch, uint8_t* frame) {
  assert(!finished(f));
  const bool tcp = is_tcp(f.protocol);
  const uint32_t p = f.sent;
  const uint32_t close_start = f.packets - f.close;
  uint8_t dir = kToServer;
  uint8_t flags = 0;
  bool data = false;
  bool syn = false;
  uint32_t body = 0;
  if (p < f.handshake) {
    static constexpr uint8_t kFlags[] = {kTcpSyn, kTcpSyn | kTcpAck, kTcpAck};
    dir = p == 1 ? kToClient : kToServer;
    flags = kFlags[p];
    syn = p < 2;
  } else if (p >= close_start) {
    const uint32_t step = p - close_start;
    const uint8_t a = f.close_initiator;
    if (f.close == 1) {
      dir = a;
      flags = kTcpRst | kTcpAck;
    } else {
      dir = step == 1 ? a ^ 1 : a;
      flags = step == 2 ? kTcpAck : kTcpFin | kTcpAck;
    }
  } else {
    body = p - f.handshake;
    dir = body_direction(f, body);
    data = true;
  }

  FrameHeaders h;
  h.src_mac = dir == kToServer ? kClientMac.data() : kServerMac.data();
  h.dst_mac = dir == kToServer ? kServerMac.data() : kClientMac.data();
  h.vlan = f.vlan;
  h.ipv6 = f.ipv6;
  h.src_ip = dir == kToServer ? f.client_ip.data() : f.server_ip.data();
  h.dst_ip = dir == kToServer ? f.server_ip.data() : f.client_ip.data();
  h.ttl = dir == kToServer ? 64 : 56;
  h.ip_id = f.ip_id[dir]++;
  h.flow_label = f.flow_label;
  h.tcp = tcp;
  h.src_port = dir == kToServer ? f.client_port : f.server_port;
  h.dst_port = dir == kToServer ? f.server_port : f.client_port;
  const uint16_t mss = f.ipv6 ? 1440 : 1460;
  if (syn) h.mss = mss;

  const size_t header = header_length(h);
  const uint32_t fixed = params.fixed_frame_size;
  const bool exact = fixed != 0;
  // Headers longer than the fixed size (IPv6 TCP in 60 bytes) still leave a
  // TCP data packet one byte: without data it would read as a duplicate ACK.
  const uint32_t room = fixed > header ? fixed - static_cast<uint32_t>(header) : 0;
  const uint32_t budget = exact ? std::max<uint32_t>(room, tcp ? 1 : 0) : mss;
  uint32_t len = 0;
  if (data) {
    if (tcp) {
      len = fill_stream(params, f, dir, budget, exact, scratch, frame + header);
      flags = len != 0 ? kTcpPsh | kTcpAck : kTcpAck;
    } else {
      len = fill_datagram(params, f, body, dir, budget, exact, scratch, frame + header);
    }
  }

  if (tcp) {
    h.seq = f.seq[dir];
    h.ack = (flags & kTcpAck) != 0 ? f.seq[dir ^ 1] : 0;
    h.tcp_flags = flags;
    h.window = kWindow;
    f.seq[dir] += len + (syn ? 1 : 0) + ((flags & kTcpFin) != 0 ? 1 : 0);
    f.unacked[dir] += len;
    if ((flags & kTcpAck) != 0) f.unacked[dir ^ 1] = 0;
  }
  write_headers(h, frame, len);
  size_t frame_len = header + len;
  // Frames without payload room (handshake, close) reach the fixed size with
  // Ethernet padding, as a short frame does on the wire.
  if (frame_len < fixed) {
    std::memset(frame + frame_len, 0, fixed - frame_len);
    frame_len = fixed;
  }
  ++f.sent;
  return frame_len;
}

}  // namespace loupe::gen
