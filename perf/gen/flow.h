// One generated flow: its identity, drawn when it starts, and the little
// state it needs to produce its next frame (sequence numbers, where each
// direction's byte stream is). Message bytes are rebuilt from the flow's seed
// on demand, so this struct is all an active flow costs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "perf/gen/generator.h"
#include "perf/gen/messages.h"
#include "perf/gen/rng.h"

namespace loupe::gen {

// What every flow shares, derived once from the GenConfig.
struct FlowParams {
  uint64_t seed = 0;
  std::optional<SizeRange> packets_per_flow;
  std::array<uint32_t, kProtocolCount> mix_cumulative{};
  uint32_t ipv6_per_10000 = 0;
  uint32_t vlan_per_10000 = 0;
  SizeRange size;
  uint32_t fixed_frame_size = 0;
  bool established = false;
  uint64_t client_host_offset = 0;
  // Client ports, and server ports of the unknown protocols (see flow.cc).
  std::vector<uint16_t> dynamic_ports;
};

FlowParams make_flow_params(const GenConfig& config);
// Flows that have distinct 5-tuples by construction with these params.
uint64_t flow_capacity(const FlowParams& params);

inline constexpr uint8_t kToServer = 0;
inline constexpr uint8_t kToClient = 1;

// Where the next segment of one direction's TCP byte stream starts: message
// number and offset in it.
struct StreamCursor {
  uint32_t message = 0;
  uint32_t offset = 0;
};

struct FlowState {
  Rng rng{0};             // per-packet choices, in packet order
  uint64_t msg_seed = 0;  // root of every message of this flow
  uint32_t packets = 0;   // frames this flow will have
  uint32_t sent = 0;
  std::array<uint32_t, 2> seq{};      // next sequence number, per direction
  std::array<uint32_t, 2> unacked{};  // bytes sent since the peer's last ACK
  std::array<StreamCursor, 2> stream{};
  uint32_t flow_label = 0;
  std::array<uint16_t, 2> ip_id{};
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint16_t vlan = 0;
  Protocol protocol = Protocol::udp;
  uint8_t handshake = 0;  // handshake frames at the start: 0-3
  uint8_t close = 0;      // closing frames at the end: 0, 1 (RST) or 3 (FIN)
  uint8_t close_initiator = kToServer;
  bool ipv6 = false;
  bool tls13 = false;
  std::array<uint8_t, 16> client_ip{};  // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> server_ip{};
};

// Largest frame next_frame() writes.
inline constexpr size_t kMaxFrame = kMaxFixedFrame + 128;

FlowState start_flow(const FlowParams& params, uint64_t index);
// Writes the flow's next frame to `frame` (kMaxFrame bytes) and returns its
// length. `scratch` is reused between calls and carries nothing across them.
size_t next_frame(const FlowParams& params, FlowState& flow, Message& scratch, uint8_t* frame);
inline bool finished(const FlowState& flow) { return flow.sent >= flow.packets; }

}  // namespace loupe::gen
