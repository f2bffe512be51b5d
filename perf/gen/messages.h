// Application messages of loupe-gen: HTTP/1.1, TLS records, DNS, QUIC
// packets and opaque payloads.
//
// A message is a structured prefix plus an unstructured tail (an encrypted
// record's contents, a body, padding) whose bytes are computed from a seed on
// demand. Every message is rebuilt from its flow's seed when a packet needs
// bytes of it, so active flows hold no message bytes between packets, and a
// small slice of a big message costs only the slice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "perf/gen/rng.h"

namespace loupe::gen {

enum class Filler : uint8_t { zero, random, text };

struct Message {
  static constexpr size_t kMaxPrefix = 1024;

  std::array<uint8_t, kMaxPrefix> prefix;
  uint32_t prefix_len = 0;
  uint32_t filler_len = 0;
  uint64_t filler_seed = 0;
  Filler filler = Filler::zero;

  uint32_t size() const { return prefix_len + filler_len; }
  void clear() {
    prefix_len = 0;
    filler_len = 0;
    filler = Filler::zero;
  }
  // Copies bytes [offset, offset + len) of the message to out.
  void copy(uint32_t offset, uint32_t len, uint8_t* out) const;
};

// A DNS name or TLS/HTTP host, kept inline so building one allocates nothing.
struct HostName {
  std::array<char, 64> text;
  uint8_t len = 0;
  std::string_view view() const { return {text.data(), len}; }
};

// Drawn from a few well-known names and generated ones ("host123.test").
HostName pick_host_name(Rng& rng);

// HTTP/1.1 GET with Host and User-Agent.
void http_request(Message& m, std::string_view host, Rng& rng);
// "200 OK" with Content-Type and Content-Length; about target_size bytes in
// all (never less than its header).
void http_response(Message& m, uint32_t target_size, Rng& rng);

// TLS. session_seed is shared by both ends of one connection so the server
// can echo the client's session id.
void tls_client_hello(Message& m, std::string_view sni, bool tls13, uint64_t session_seed);
// ServerHello, then CCS and the encrypted rest of the flight (1.3) or
// ServerHelloDone (1.2).
void tls_server_hello(Message& m, bool tls13, uint64_t session_seed, uint32_t target_size,
                      Rng& rng);
// 1.3: CCS + encrypted Finished. 1.2: ClientKeyExchange + CCS + encrypted Finished.
void tls_client_finished(Message& m, bool tls13, Rng& rng);
// 1.2 only: CCS + encrypted Finished.
void tls_server_finished(Message& m, Rng& rng);
// One application_data record of target_size bytes (at least 6).
void tls_app_data(Message& m, uint32_t target_size, Rng& rng);

struct DnsQuestion {
  HostName name;
  uint16_t id = 0;
  uint16_t qtype = 1;  // 1 A, 28 AAAA
};
DnsQuestion pick_dns_question(Rng& rng);
// budget != 0 pads the message with an EDNS(0) Padding option (RFC 7830) up
// to budget bytes when there is room for one.
void dns_query(Message& m, const DnsQuestion& q, uint32_t budget);
void dns_response(Message& m, const DnsQuestion& q, Rng& rng, uint32_t budget);

// QUIC version 1. The payload after the header is random: real Initials are
// encrypted, and so look the same to anything without the keys.
struct QuicIds {
  std::array<uint8_t, 8> client;  // client's source CID, the server's target
  std::array<uint8_t, 8> server;  // server's source CID, the client's 1-RTT target
  std::array<uint8_t, 8> initial_dcid;  // client's first, random destination CID
};
QuicIds quic_ids(uint64_t seed);
// Long-header Initial of exactly `size` bytes (its Length field says so).
void quic_initial(Message& m, const QuicIds& ids, bool from_client, uint32_t size, Rng& rng);
// Short-header (1-RTT) packet of exactly `size` bytes.
void quic_short(Message& m, const std::array<uint8_t, 8>& dcid, uint32_t size, Rng& rng);

// Random bytes: payloads of protocols the DPI should not recognise.
void opaque(Message& m, uint32_t size, Rng& rng);

}  // namespace loupe::gen
