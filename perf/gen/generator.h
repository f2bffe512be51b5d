// loupe-gen's core: turns a GenConfig into a deterministic stream of frames.
//
// Same config (seed included) gives the same frames, byte for byte. Frames
// are produced one at a time into a FrameSink; only the active flows (at most
// `concurrency`) have state, so a capture of any number of flows is made in
// memory proportional to the concurrency.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loupe::gen {

enum class Protocol : uint8_t { http, tls, dns, quic, tcp, udp, count };
inline constexpr size_t kProtocolCount = static_cast<size_t>(Protocol::count);
inline constexpr std::array<std::string_view, kProtocolCount> kProtocolNames = {
    "http", "tls", "dns", "quic", "tcp", "udp"};

enum class Interleave : uint8_t { random, round_robin };

struct SizeRange {
  uint32_t min = 0;
  uint32_t max = 0;
};

struct GenConfig {
  uint64_t seed = 1;
  uint64_t flows = 1000;
  // Unset: each protocol's own natural length (a DNS flow is one query and
  // its answer, an HTTP flow a few requests on one connection, ...).
  std::optional<SizeRange> packets_per_flow;
  uint64_t concurrency = 100;
  Interleave interleave = Interleave::random;
  uint64_t start_time = 1700000000;  // epoch seconds of the first frame
  uint64_t pps = 100000;             // nominal rate: frame i is at start + i / pps
  uint64_t flow_gap_us = 0;          // >0: flows start in batches of `concurrency`,
                                     // with this much idle time between batches
  std::array<uint32_t, kProtocolCount> mix = {30, 25, 20, 10, 10, 5};  // weights
  double ipv6_percent = 0;
  double vlan_percent = 0;
  SizeRange size = {64, 1400};       // payload bytes of bulk data packets
  uint32_t fixed_frame_size = 0;     // 0: natural sizes
  bool established = false;          // no TCP handshakes or closes
};

// Parses "N" or "MIN-MAX". Throws std::invalid_argument.
SizeRange parse_range(std::string_view text);
// Parses "http=30,tls=25,..."; protocols left out get weight 0. Throws
// std::invalid_argument.
std::array<uint32_t, kProtocolCount> parse_mix(std::string_view text);
// Empty when the config can be generated, else what is wrong with it.
std::string validate(const GenConfig& config);

// Limits of the options, checked by validate().
inline constexpr uint32_t kMaxBulkSize = 1440;  // one segment over IPv6 with a 1500 MTU
inline constexpr uint32_t kMinFixedFrame = 60;  // Ethernet minimum, FCS excluded
inline constexpr uint32_t kMaxFixedFrame = 9216;
inline constexpr uint32_t kMaxPacketsPerFlow = 1000000;

struct GenStats {
  uint64_t frames = 0;
  uint64_t bytes = 0;  // sum of frame lengths
  uint64_t flows = 0;
  uint64_t ipv6_flows = 0;
  uint64_t vlan_flows = 0;
  std::array<uint64_t, kProtocolCount> flows_by_protocol{};
  std::array<uint64_t, kProtocolCount> frames_by_protocol{};
};

// Where frames go: a pcap file, or memory in tests.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void write(uint64_t timestamp_us, const uint8_t* frame, size_t len) = 0;
};

// Generates the whole capture described by `config` (which must validate)
// into `sink`.
GenStats generate(const GenConfig& config, FrameSink& sink);

}  // namespace loupe::gen
