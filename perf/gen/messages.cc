#include "perf/gen/messages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <iterator>
#include <string>

namespace loupe::gen {
namespace {

// Appends to a message's prefix; lengths that precede their contents are
// reserved with mark*() and filled in with patch*() once the contents are in.
class PrefixWriter {
 public:
  explicit PrefixWriter(Message& m) : m_(m) { m_.clear(); }

  size_t pos() const { return m_.prefix_len; }
  void u8(uint8_t v) {
    assert(m_.prefix_len < Message::kMaxPrefix);
    m_.prefix[m_.prefix_len++] = v;
  }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u24(uint32_t v) {
    u8(static_cast<uint8_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(const uint8_t* p, size_t n) {
    assert(m_.prefix_len + n <= Message::kMaxPrefix);
    std::memcpy(m_.prefix.data() + m_.prefix_len, p, n);
    m_.prefix_len += static_cast<uint32_t>(n);
  }
  void str(std::string_view s) { bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  void random(Rng& rng, size_t n) {
    assert(m_.prefix_len + n <= Message::kMaxPrefix);
    rng.fill(m_.prefix.data() + m_.prefix_len, n);
    m_.prefix_len += static_cast<uint32_t>(n);
  }

  size_t mark16() {
    size_t at = pos();
    u16(0);
    return at;
  }
  size_t mark24() {
    size_t at = pos();
    u24(0);
    return at;
  }
  // Sets a 16-bit length to the bytes written after it, plus `extra` bytes
  // still to come (a filler tail).
  void patch16(size_t at, size_t extra = 0) { set16(at, pos() - at - 2 + extra); }
  void patch24(size_t at, size_t extra = 0) {
    size_t v = pos() - at - 3 + extra;
    m_.prefix[at] = static_cast<uint8_t>(v >> 16);
    set16(at + 1, v);
  }
  void set16(size_t at, size_t v) {
    assert(v <= 0xffff);
    m_.prefix[at] = static_cast<uint8_t>(v >> 8);
    m_.prefix[at + 1] = static_cast<uint8_t>(v);
  }

  void filler(Filler kind, uint32_t len, uint64_t seed) {
    m_.filler = kind;
    m_.filler_len = len;
    m_.filler_seed = seed;
  }

 private:
  Message& m_;
};

// Printable bytes for text bodies, so an HTTP text/html body dissects as text.
constexpr std::string_view kTextAlphabet =
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n";
static_assert(kTextAlphabet.size() == 64);

constexpr std::string_view kKnownHosts[] = {
    "www.example.com",    "api.github.com",      "www.google.com",
    "cdn.jsdelivr.net",   "www.wikipedia.org",   "login.microsoftonline.com",
    "graph.facebook.com", "fonts.gstatic.com",   "s3.amazonaws.com",
    "update.example.org",
};

constexpr std::string_view kUserAgents[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "okhttp/4.12.0",
};

// Only types whose bodies tshark shows as text or opaque data: a random
// "image/png" or "application/json" body would dissect as malformed.
constexpr std::string_view kContentTypes[] = {
    "text/html; charset=utf-8",
    "text/plain",
    "application/octet-stream",
};

constexpr std::string_view kServers[] = {"nginx/1.24.0", "Apache/2.4.57", "cloudflare", "envoy"};

constexpr uint16_t kTls13Suites[] = {0x1301, 0x1302, 0x1303};
constexpr uint16_t kTls12Suites[] = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                                     0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
constexpr uint16_t kSignatureAlgorithms[] = {0x0403, 0x0804, 0x0401, 0x0503,
                                             0x0805, 0x0501, 0x0806, 0x0601};

constexpr uint64_t kTagClientRandom = 1;
constexpr uint64_t kTagSessionId = 2;
constexpr uint64_t kTagKeyShare = 3;

template <size_t N>
std::string_view pick(const std::string_view (&list)[N], Rng& rng) {
  return list[rng.below(N)];
}

void session_bytes(uint64_t session_seed, uint64_t tag, PrefixWriter& w, size_t n) {
  Rng rng(derive(session_seed, tag));
  w.random(rng, n);
}

void write_dns_name(PrefixWriter& w, std::string_view name) {
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    assert(!label.empty() && label.size() < 64);
    w.u8(static_cast<uint8_t>(label.size()));
    w.str(label);
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  w.u8(0);
}

void write_dns_question(PrefixWriter& w, const DnsQuestion& q) {
  write_dns_name(w, q.name.view());
  w.u16(q.qtype);
  w.u16(1);  // IN
}

// Header, the name's first length byte and root label, type and class: a
// question's bytes besides its name's text.
constexpr uint32_t kDnsQuestionOverhead = 12 + 2 + 4;
// OPT RR and the Padding option's header.
constexpr uint32_t kDnsPadOverhead = 11 + 4;

// EDNS(0) OPT record with a Padding option (RFC 7830) filling the message to
// `budget`, when the budget leaves room for one; arcount_at is ARCOUNT.
void dns_pad(PrefixWriter& w, size_t arcount_at, uint32_t budget) {
  if (budget < w.pos() + kDnsPadOverhead) return;
  const uint32_t pad = budget - static_cast<uint32_t>(w.pos()) - kDnsPadOverhead;
  w.set16(arcount_at, 1);
  w.u8(0);        // root name
  w.u16(41);      // OPT
  w.u16(1232);    // UDP payload size
  w.u32(0);       // extended rcode, version, flags
  w.u16(static_cast<uint16_t>(4 + pad));
  w.u16(12);      // Padding
  w.u16(static_cast<uint16_t>(pad));
  w.filler(Filler::zero, pad, 0);
}

// The question as sent. A fixed budget too small for the query plus padding
// gets a name of the length that makes the query exactly `budget` bytes, so
// small frames still carry whole messages; query and reply both call this
// and so agree on the name.
DnsQuestion fit_dns_question(const DnsQuestion& q, uint32_t budget) {
  if (budget == 0 || budget >= kDnsQuestionOverhead + q.name.len + kDnsPadOverhead ||
      budget <= kDnsQuestionOverhead) {
    return q;  // fits with padding, or nothing fits and the caller cuts it
  }
  const uint32_t len = budget - kDnsQuestionOverhead;
  assert(len < kDnsQuestionOverhead + kDnsPadOverhead + 64);
  DnsQuestion fitted = q;
  Rng rng(derive(q.id, len));
  constexpr std::string_view kSuffix = ".test";
  const auto suffix = static_cast<uint32_t>(kSuffix.size());
  const uint32_t label = len > suffix + 1 ? len - suffix : len;
  for (uint32_t i = 0; i < label; ++i) fitted.name.text[i] = static_cast<char>('a' + rng.below(26));
  if (label != len) std::copy(kSuffix.begin(), kSuffix.end(), fitted.name.text.begin() + label);
  fitted.name.len = static_cast<uint8_t>(len);
  return fitted;
}

}  // namespace

void Message::copy(uint32_t offset, uint32_t len, uint8_t* out) const {
  assert(offset + len <= size());
  if (offset < prefix_len) {
    uint32_t n = std::min(len, prefix_len - offset);
    std::memcpy(out, prefix.data() + offset, n);
    out += n;
    offset += n;
    len -= n;
  }
  if (len == 0) return;
  uint64_t i = offset - prefix_len;
  if (filler == Filler::zero) {
    std::memset(out, 0, len);
    return;
  }
  // Byte i of the tail is byte i % 8 of word i / 8: any slice can be made
  // without generating what precedes it.
  for (uint64_t end = i + len; i < end; ++i) {
    uint64_t word = mix64(filler_seed + (i / 8) * 0x9e3779b97f4a7c15ULL);
    uint8_t b = static_cast<uint8_t>(word >> (8 * (i % 8)));
    *out++ = filler == Filler::text ? static_cast<uint8_t>(kTextAlphabet[b & 63]) : b;
  }
}

HostName pick_host_name(Rng& rng) {
  HostName h;
  std::string_view known = pick(kKnownHosts, rng);
  const uint64_t n = rng.below(100000);
  fmt::format_to_n_result<char*> r{};
  switch (rng.below(4)) {
    case 0:
    case 1:
      r.out = std::copy(known.begin(), known.end(), h.text.data());
      break;
    case 2:
      r = fmt::format_to_n(h.text.data(), h.text.size(), "host{}.test", n);
      break;
    default:
      r = fmt::format_to_n(h.text.data(), h.text.size(), "svc{}.example.org", n);
      break;
  }
  h.len = static_cast<uint8_t>(r.out - h.text.data());
  return h;
}

void http_request(Message& m, std::string_view host, Rng& rng) {
  std::string s;
  s.reserve(256);
  auto out = std::back_inserter(s);
  switch (rng.below(5)) {
    case 0: fmt::format_to(out, "GET / HTTP/1.1\r\n"); break;
    case 1: fmt::format_to(out, "GET /index.html HTTP/1.1\r\n"); break;
    case 2: fmt::format_to(out, "GET /api/v1/items/{} HTTP/1.1\r\n", rng.below(1000000)); break;
    case 3: fmt::format_to(out, "GET /static/app.{:08x}.js HTTP/1.1\r\n", rng.next() >> 32); break;
    default: fmt::format_to(out, "GET /search?q=w{} HTTP/1.1\r\n", rng.below(100000)); break;
  }
  fmt::format_to(out, "Host: {}\r\nUser-Agent: {}\r\nAccept: */*\r\n\r\n", host,
                 pick(kUserAgents, rng));
  PrefixWriter w(m);
  w.str(s);
}

void http_response(Message& m, uint32_t target_size, Rng& rng) {
  std::string_view type = pick(kContentTypes, rng);
  std::string_view server = pick(kServers, rng);
  auto header = [&](uint32_t body) {
    return fmt::format("HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                       "Server: {}\r\n\r\n",
                       type, body, server);
  };
  // The header's own length depends on the body length's digits; sizing with
  // the longest candidate keeps the total at or just under the target.
  const uint32_t longest = static_cast<uint32_t>(header(target_size).size());
  const uint32_t body = target_size > longest ? target_size - longest : 0;
  PrefixWriter w(m);
  w.str(header(body));
  w.filler(type.starts_with("text/") ? Filler::text : Filler::random, body, rng.next());
}

void tls_client_hello(Message& m, std::string_view sni, bool tls13, uint64_t session_seed) {
  PrefixWriter w(m);
  w.u8(0x16);  // handshake record
  w.u16(0x0301);
  const size_t record = w.mark16();
  w.u8(1);  // ClientHello
  const size_t hello = w.mark24();
  w.u16(0x0303);
  session_bytes(session_seed, kTagClientRandom, w, 32);
  w.u8(32);
  session_bytes(session_seed, kTagSessionId, w, 32);
  const size_t suites = w.mark16();
  if (tls13) {
    for (uint16_t s : kTls13Suites) w.u16(s);
  }
  for (uint16_t s : kTls12Suites) w.u16(s);
  w.patch16(suites);
  w.u8(1);  // compression methods: null
  w.u8(0);

  const size_t extensions = w.mark16();
  w.u16(0x0000);  // server_name
  const size_t sni_ext = w.mark16();
  const size_t sni_list = w.mark16();
  w.u8(0);  // host_name
  w.u16(static_cast<uint16_t>(sni.size()));
  w.str(sni);
  w.patch16(sni_list);
  w.patch16(sni_ext);
  w.u16(0x0017);  // extended_master_secret
  w.u16(0);
  w.u16(0xff01);  // renegotiation_info
  w.u16(1);
  w.u8(0);
  w.u16(0x000a);  // supported_groups: x25519, secp256r1, secp384r1
  w.u16(8);
  w.u16(6);
  w.u16(0x001d);
  w.u16(0x0017);
  w.u16(0x0018);
  w.u16(0x000b);  // ec_point_formats: uncompressed
  w.u16(2);
  w.u8(1);
  w.u8(0);
  w.u16(0x0023);  // session_ticket
  w.u16(0);
  w.u16(0x0010);  // ALPN
  const size_t alpn_ext = w.mark16();
  const size_t alpn_list = w.mark16();
  w.u8(2);
  w.str("h2");
  w.u8(8);
  w.str("http/1.1");
  w.patch16(alpn_list);
  w.patch16(alpn_ext);
  w.u16(0x0005);  // status_request: OCSP
  w.u16(5);
  w.u8(1);
  w.u16(0);
  w.u16(0);
  w.u16(0x000d);  // signature_algorithms
  w.u16(2 + 2 * std::size(kSignatureAlgorithms));
  w.u16(2 * std::size(kSignatureAlgorithms));
  for (uint16_t a : kSignatureAlgorithms) w.u16(a);
  if (tls13) {
    w.u16(0x0033);  // key_share: one x25519 share
    w.u16(38);
    w.u16(36);
    w.u16(0x001d);
    w.u16(32);
    session_bytes(session_seed, kTagKeyShare, w, 32);
    w.u16(0x002d);  // psk_key_exchange_modes: psk_dhe_ke
    w.u16(2);
    w.u8(1);
    w.u8(1);
    w.u16(0x002b);  // supported_versions: 1.3, 1.2
    w.u16(5);
    w.u8(4);
    w.u16(0x0304);
    w.u16(0x0303);
  }
  w.patch16(extensions);
  w.patch24(hello);
  w.patch16(record);
}

void tls_server_hello(Message& m, bool tls13, uint64_t session_seed, uint32_t target_size,
                      Rng& rng) {
  PrefixWriter w(m);
  w.u8(0x16);
  w.u16(0x0303);
  const size_t record = w.mark16();
  w.u8(2);  // ServerHello
  const size_t hello = w.mark24();
  w.u16(0x0303);
  w.random(rng, 32);
  w.u8(32);
  session_bytes(session_seed, kTagSessionId, w, 32);  // echoes the client's
  w.u16(tls13 ? 0x1301 : 0xc02f);
  w.u8(0);
  const size_t extensions = w.mark16();
  if (tls13) {
    w.u16(0x002b);  // supported_versions: 1.3
    w.u16(2);
    w.u16(0x0304);
    w.u16(0x0033);  // key_share
    w.u16(36);
    w.u16(0x001d);
    w.u16(32);
    w.random(rng, 32);
  } else {
    w.u16(0xff01);
    w.u16(1);
    w.u8(0);
    w.u16(0x0017);
    w.u16(0);
    w.u16(0x000b);
    w.u16(2);
    w.u8(1);
    w.u8(0);
    w.u16(0x0010);  // ALPN: the one protocol chosen
    w.u16(11);
    w.u16(9);
    w.u8(8);
    w.str("http/1.1");
  }
  w.patch16(extensions);
  w.patch24(hello);
  if (!tls13) {
    w.u8(14);  // ServerHelloDone, in the same record
    w.u24(0);
    w.patch16(record);
    return;
  }
  w.patch16(record);
  w.u8(0x14);  // ChangeCipherSpec (middlebox compatibility)
  w.u16(0x0303);
  w.u16(1);
  w.u8(1);
  // EncryptedExtensions, Certificate, CertificateVerify and Finished: one
  // encrypted record, so random bytes.
  constexpr uint32_t kMinFlight = 64;
  const uint32_t header = static_cast<uint32_t>(w.pos()) + 5;
  const uint32_t flight = target_size > header + kMinFlight ? target_size - header : kMinFlight;
  w.u8(0x17);
  w.u16(0x0303);
  w.u16(static_cast<uint16_t>(flight));
  w.filler(Filler::random, flight, rng.next());
}

void tls_client_finished(Message& m, bool tls13, Rng& rng) {
  PrefixWriter w(m);
  if (!tls13) {
    w.u8(0x16);  // ClientKeyExchange with an x25519 public key
    w.u16(0x0303);
    w.u16(4 + 33);
    w.u8(16);
    w.u24(33);
    w.u8(32);
    w.random(rng, 32);
  }
  w.u8(0x14);
  w.u16(0x0303);
  w.u16(1);
  w.u8(1);
  // Finished, encrypted: an application_data record in 1.3, a handshake
  // record in 1.2.
  const uint16_t len = tls13 ? 53 : 40;
  w.u8(tls13 ? 0x17 : 0x16);
  w.u16(0x0303);
  w.u16(len);
  w.filler(Filler::random, len, rng.next());
}

void tls_server_finished(Message& m, Rng& rng) {
  PrefixWriter w(m);
  w.u8(0x14);
  w.u16(0x0303);
  w.u16(1);
  w.u8(1);
  w.u8(0x16);
  w.u16(0x0303);
  w.u16(40);
  w.filler(Filler::random, 40, rng.next());
}

void tls_app_data(Message& m, uint32_t target_size, Rng& rng) {
  const uint32_t len = std::max<uint32_t>(target_size, 6) - 5;
  PrefixWriter w(m);
  w.u8(0x17);
  w.u16(0x0303);
  w.u16(static_cast<uint16_t>(len));
  w.filler(Filler::random, len, rng.next());
}

DnsQuestion pick_dns_question(Rng& rng) {
  DnsQuestion q;
  q.name = pick_host_name(rng);
  q.id = static_cast<uint16_t>(rng.next());
  q.qtype = rng.chance(3000) ? 28 : 1;
  return q;
}

void dns_query(Message& m, const DnsQuestion& asked, uint32_t budget) {
  const DnsQuestion q = fit_dns_question(asked, budget);
  PrefixWriter w(m);
  w.u16(q.id);
  w.u16(0x0100);  // standard query, recursion desired
  w.u16(1);
  w.u16(0);
  w.u16(0);
  const size_t arcount = w.mark16();
  write_dns_question(w, q);
  if (budget != 0) dns_pad(w, arcount, budget);
}

void dns_response(Message& m, const DnsQuestion& asked, Rng& rng, uint32_t budget) {
  const DnsQuestion q = fit_dns_question(asked, budget);
  uint32_t answers = static_cast<uint32_t>(rng.between(1, 3));
  if (budget != 0) {
    // A fixed frame size keeps the answers that fit, and drops one more when
    // what is left could not hold the padding record: an empty answer section
    // is a valid reply, a cut record or stray bytes are not.
    const uint32_t base = kDnsQuestionOverhead + q.name.len;
    const uint32_t answer = 12 + (q.qtype == 28 ? 16 : 4);
    const uint32_t room = budget > base ? budget - base : 0;
    answers = std::min(answers, room / answer);
    const uint32_t left = room - answers * answer;
    if (answers > 0 && left > 0 && left < kDnsPadOverhead) --answers;
  }
  PrefixWriter w(m);
  w.u16(q.id);
  w.u16(0x8180);  // response, RD, RA, no error
  w.u16(1);
  w.u16(static_cast<uint16_t>(answers));
  w.u16(0);
  const size_t arcount = w.mark16();
  write_dns_question(w, q);
  for (uint32_t i = 0; i < answers; ++i) {
    w.u16(0xc00c);  // the question's name
    w.u16(q.qtype);
    w.u16(1);
    w.u32(static_cast<uint32_t>(rng.between(30, 3600)));
    if (q.qtype == 28) {
      w.u16(16);
      w.u32(0x20010db8);  // 2001:db8::/32, documentation space
      w.random(rng, 12);
    } else {
      w.u16(4);
      w.u8(198);  // 198.51.100.0/24, documentation space
      w.u8(51);
      w.u8(100);
      w.u8(static_cast<uint8_t>(rng.between(1, 254)));
    }
  }
  if (budget != 0) dns_pad(w, arcount, budget);
}

QuicIds quic_ids(uint64_t seed) {
  QuicIds ids;
  Rng rng(seed);
  rng.fill(ids.client.data(), ids.client.size());
  rng.fill(ids.server.data(), ids.server.size());
  rng.fill(ids.initial_dcid.data(), ids.initial_dcid.size());
  return ids;
}

void quic_initial(Message& m, const QuicIds& ids, bool from_client, uint32_t size, Rng& rng) {
  // Below this the packet could not carry a packet number and the 16-byte
  // sample header protection needs; a smaller budget truncates the packet.
  constexpr uint32_t kMinProtected = 4 + 16;
  PrefixWriter w(m);
  w.u8(0xc3);  // long header, fixed bit, Initial, 4-byte packet number
  w.u32(1);    // version 1
  const auto& dcid = from_client ? ids.initial_dcid : ids.client;
  const auto& scid = from_client ? ids.client : ids.server;
  w.u8(8);
  w.bytes(dcid.data(), dcid.size());
  w.u8(8);
  w.bytes(scid.data(), scid.size());
  w.u8(0);  // token length
  const uint32_t header = static_cast<uint32_t>(w.pos()) + 2;
  const uint32_t protected_len =
      std::min<uint32_t>(std::max(size > header ? size - header : 0, kMinProtected), 16383);
  w.u16(static_cast<uint16_t>(0x4000 | protected_len));  // 2-byte varint
  w.filler(Filler::random, protected_len, rng.next());
}

void quic_short(Message& m, const std::array<uint8_t, 8>& dcid, uint32_t size, Rng& rng) {
  constexpr uint32_t kMinProtected = 4 + 16;
  PrefixWriter w(m);
  w.u8(static_cast<uint8_t>(0x40 | (rng.next() & 0x3f)));  // short header, fixed bit
  w.bytes(dcid.data(), dcid.size());
  const uint32_t header = static_cast<uint32_t>(w.pos());
  w.filler(Filler::random, std::max(size > header ? size - header : 0, kMinProtected), rng.next());
}

void opaque(Message& m, uint32_t size, Rng& rng) {
  PrefixWriter w(m);
  if (size == 0) return;
  // Heuristic dissectors key on the first bytes: RTP/RTCP version 2 is
  // 0x80-0xbf, WireGuard 1-4, TLS/DTLS records 0x14-0x18, QUIC long headers
  // 0xc0+, CLTP 0x4? second, Thrift 0x80/0x82 first or fifth, classic STUN a
  // length in bytes 2-3 that matches the datagram. A first byte of 0x05-0x13,
  // a third of 0x24-0x3f (a length above any payload) and the rest of the
  // first eight below 0x40 match none of them, so random bytes stay unknown
  // to tshark (and to a DPI's guesses).
  const uint32_t head = std::min<uint32_t>(size, 8);
  for (uint32_t i = 0; i < head; ++i) {
    w.u8(static_cast<uint8_t>(i == 0 ? rng.between(0x05, 0x13)
                              : i == 2 ? rng.between(0x24, 0x3f)
                                       : rng.below(0x40)));
  }
  w.filler(Filler::random, size - head, rng.next());
}

}  // namespace loupe::gen
