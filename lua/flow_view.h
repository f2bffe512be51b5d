// What a flow script may read of a flow and do to it, in engine terms. No
// Lua type appears here: the worker fills a FlowView per event from its own
// structures, and the Lua glue (lua/bind_*.cc) reads only through it. Alerts
// leave as fixed-size AlertRecords through an AlertSink (a ring on the
// worker), log lines through a LogSink. The per-flow state the engine keeps
// for scripts (FlowScripts) lives in an array owned by the engine, indexed
// like the flow table, because the flow entry has no room for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "config/net_types.h"
#include "engine/classify/l7_meta.h"
#include "engine/flow/flow.h"

namespace loupe {

class NdpiModule;

// The configured local networks: locality gates and flow.direction().
class LocalNetworks {
 public:
  LocalNetworks() = default;
  explicit LocalNetworks(std::vector<Cidr> nets) : nets_(std::move(nets)) {}

  bool empty() const { return nets_.empty(); }
  // `addr` as in a FlowKey: network order, IPv4 in the first 4 bytes.
  bool contains(const uint8_t* addr, uint8_t ip_version) const;
  // Index of the most specific network holding `addr` (several may nest),
  // or -1.
  int most_specific(const uint8_t* addr, uint8_t ip_version) const;
  // 255.255.255.255, or the last address of a configured IPv4 network.
  bool is_broadcast(const uint8_t* addr, uint8_t ip_version) const;
  const std::vector<Cidr>& nets() const { return nets_; }

 private:
  std::vector<Cidr> nets_;
};

// One flow as scripts see it during one event. Built by the worker on its
// stack; valid for that call only.
struct FlowView {
  const Flow* flow = nullptr;
  MetaView meta;                     // the flow's L7 metadata blob (may be empty)
  const NdpiModule* ndpi = nullptr;  // names of protocols, categories; may be null
  uint16_t worker = 0;
  uint16_t ifid = 0;  // capture port

  uint8_t cli() const { return flow->client; }
  uint8_t srv() const { return flow->client ^ 1; }
  const uint8_t* cli_addr() const { return flow->key.addr[cli()]; }
  const uint8_t* srv_addr() const { return flow->key.addr[srv()]; }
  uint8_t ip_version() const { return flow->key.ip_version; }
  uint16_t cli_port() const { return flow->key.port[cli()]; }
  uint16_t srv_port() const { return flow->key.port[srv()]; }
  uint8_t l4_proto() const { return flow->key.proto; }
  // The innermost 802.1Q tag: the key keeps (outer, inner), 0 when absent.
  uint16_t vlan() const { return flow->key.vlan[1] ? flow->key.vlan[1] : flow->key.vlan[0]; }
  uint64_t cli2srv_bytes() const { return flow->bytes[cli()]; }
  uint64_t srv2cli_bytes() const { return flow->bytes[srv()]; }
  uint64_t bytes() const { return flow->bytes[0] + flow->bytes[1]; }
  uint64_t cli2srv_packets() const { return flow->pkts[cli()]; }
  uint64_t srv2cli_packets() const { return flow->pkts[srv()]; }
  uint64_t packets() const { return flow->pkts[0] + flow->pkts[1]; }
  bool is_oneway() const { return flow->pkts[0] == 0 || flow->pkts[1] == 0; }
  bool detected() const { return flow->l7_status == kL7Done; }
  uint16_t l7_master() const { return flow->l7.master; }
  uint16_t l7_app() const { return flow->l7.app; }
  uint64_t risk() const { return flow->l7.risk; }
  // TCP: SYN seen from both sides and data both ways (the flow table's
  // "established"); other protocols always pass.
  bool handshake_ok() const {
    if (flow->key.proto != 6) return true;
    return (flow->tcp_seen & (kSeenSyn | kSeenSyn << 1)) == (kSeenSyn | kSeenSyn << 1) &&
           flow->state != FlowState::kNew;
  }
};

// Text forms used by the bindings; each writes into the caller's buffer and
// returns its length (never allocates).
size_t format_ip(const uint8_t* addr, uint8_t ip_version, char* out, size_t cap);
// "TLS.Google", "DNS", "Unknown" (nDPI's joined name); "Unknown" without a module.
size_t l7_name(const FlowView& v, char* out, size_t cap);
// "TCP", "UDP", "ICMP", "ICMPv6", "SCTP", or the decimal number.
size_t l4_name(uint8_t proto, char* out, size_t cap);
// "local@local", "local@remote", "remote@local", "remote2remote".
const char* direction(const FlowView& v, const LocalNetworks& nets);
bool is_unicast(const FlowView& v, const LocalNetworks& nets);

// Alert severity on ntopng's scale (contract §4.7.2); values are ntopng's ids.
enum class Severity : uint8_t {
  kDebug = 1,
  kInfo,
  kNotice,
  kWarning,
  kError,
  kCritical,
  kAlert,
  kEmergency
};
inline Severity severity_of_score(uint32_t score) {
  if (score == 0) return Severity::kDebug;
  if (score < 10) return Severity::kInfo;
  if (score < 50) return Severity::kNotice;
  if (score < 100) return Severity::kWarning;
  if (score < 200) return Severity::kError;
  if (score < 250) return Severity::kCritical;
  return Severity::kEmergency;
}
// EVE's alert.severity: 1 is the highest.
inline uint8_t eve_severity(Severity s) {
  switch (s) {
    case Severity::kWarning:
      return 3;
    case Severity::kError:
      return 2;
    case Severity::kCritical:
    case Severity::kAlert:
    case Severity::kEmergency:
      return 1;
    default:
      return 4;
  }
}
const char* severity_name(Severity s);

// One flow alert, as plain fixed-size data so that it can travel through a
// DPDK ring by copy. Strings are NUL-padded and carry their length.
inline constexpr size_t kAlertMessageMax = 1024;
inline constexpr size_t kAlertDetailsMax = 832;
inline constexpr size_t kAlertScriptKeyMax = 96;

struct AlertRecord {
  enum Flags : uint8_t {
    kScoreClamped = 1 << 0,      // score_raw holds the script's value (> 1000)
    kMessageTruncated = 1 << 1,  // message cut at kAlertMessageMax bytes
    kDetailsTruncated = 1 << 2,  // details too long for the record: dropped
    kKeyTruncated = 1 << 3,
  };
  uint64_t flow_id = 0;
  uint64_t time_ns = 0;  // packet time of the event
  FlowKey key{};         // canonical key; `client` names the client side
  double score_raw = 0;  // the script's score when above 1000
  uint16_t worker = 0;
  uint16_t script = 0;  // index of the script in its generation
  uint16_t score = 0;   // 0..1000
  uint16_t l7_master = 0;
  uint16_t l7_app = 0;
  uint16_t message_len = 0;
  uint16_t details_len = 0;  // 0: no details; else a JSON object or array
  uint16_t ifid = 0;
  uint8_t client = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  Severity severity = Severity::kDebug;
  uint8_t eve_severity = 4;
  uint8_t flags = 0;
  uint8_t key_len = 0;
  char script_key[kAlertScriptKeyMax] = {0};
  char message[kAlertMessageMax] = {0};
  char details[kAlertDetailsMax] = {0};

  std::string_view script_key_view() const { return {script_key, key_len}; }
  std::string_view message_view() const { return {message, message_len}; }
  std::string_view details_view() const { return {details, details_len}; }
};
static_assert(sizeof(AlertRecord) <= 2048, "an alert record must stay within 2 KiB");

// Where a worker's alerts go: its alert ring. Never waits: false when full.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual bool push(const AlertRecord& record) = 0;
};

// Where script log lines go (already prefixed `lua[worker3] flow/x: `, no
// newline). On a worker this is its log ring; while a VM loads, the log.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void write(std::string_view line) = 0;
};

// What the engine keeps per flow for the scripts of one generation: one
// entry per flow-table index, in an array owned by the worker's scripts.
// `gen` is the generation number that computed the entry; any other value
// means "not seen by this generation yet" and is recomputed at the next event.
struct FlowScripts {
  enum Flags : uint16_t {
    kBorn = 1 << 0,          // flowBegin happened under this generation
    kProtoPending = 1 << 1,  // protocolDetected still to be delivered
    kTwhPending = 1 << 2,    // handshake gate: recompute the mask when it completes
    kCliLocal = 1 << 3,
    kSrvLocal = 1 << 4,
    kHasTags = 1 << 5,
    kHasFields = 1 << 6,
    kEnded = 1 << 7,  // flowEnd delivered
  };
  uint64_t mask = 0;        // scripts whose gates pass, bit i = script i
  uint64_t state_mask = 0;  // scripts holding a getScriptState() table
  uint64_t risk_seen = 0;   // risks statusChanged has reported
  uint32_t gen = 0;
  uint32_t periodic_last = 0;  // flow age (s) of the last periodic check
  uint32_t periodic_next = 0;  // flow age (s) of the next periodicUpdate due
  uint16_t score = 0;          // flow score: the highest alert score
  uint16_t score_seen = 0;     // the score statusChanged has reported
  uint16_t flags = 0;
  uint8_t tags = 0;
  uint8_t pad = 0;
};
static_assert(sizeof(FlowScripts) == 48, "per-flow script state is 48 bytes");

}  // namespace loupe
