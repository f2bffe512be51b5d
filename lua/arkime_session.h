// Private to lua/: the state behind Arkime session scripts (contract §5):
// what a worker keeps per flow for them (ArkimeFlow), what a VM keeps for
// its registrations and sessions (ArkimeVm), the field expressions of §5.5,
// and the protocol names the engine puts in a record's "protocols".
//
// Per flow, the C++ side keeps only what dispatch tests without entering
// the VM (parsers, stopped callbacks, the end of the session) and what a
// session object needs once its callback has returned (the flow entry, a
// serial number). Everything else lives in the VM, in one table per flow
// made on the flow's first Arkime callback: its session object, its
// parsers, the callbacks stopped for it and the state tables of files that
// have no flow hooks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "lua/flow_view.h"
#include "lua/generation.h"

struct lua_State;

namespace loupe {

struct ArkimeDataVm;
class ScriptHost;

// One per flow-table index, beside FlowScripts. Zero: the flow has not met
// an Arkime callback (or was forgotten since).
struct ArkimeFlow {
  enum Flags : uint16_t {
    kTable = 1 << 0,      // the VM holds the flow's table (arkime flows[idx])
    kProtocols = 1 << 1,  // the VM holds script-added protocols (protocols[idx])
    kStopped = 1 << 2,    // some http_on or body-feed callback is stopped for the flow
    kEnded = 1 << 3,      // the final save returned: sessions are over
    kHeld = 1 << 4,       // the final save waits for outstanding operations
  };
  const Flow* flow = nullptr;  // the flow's table entry, read by kept sessions
  uint64_t serial = 0;         // which flow of this index: session objects carry it
  uint16_t flags = 0;
  uint16_t outstanding = 0;  // incr_outstanding minus decr_outstanding
  uint16_t ifid = 0;
  uint8_t parsers = 0;  // parsers registered on the flow in this VM
  uint8_t protocols = 0;
};
static_assert(sizeof(ArkimeFlow) == 24, "per-flow Arkime state is 24 bytes");

inline constexpr int kArkimeCallbacksPerKind = 32;  // per VM (§5.2)
inline constexpr int kArkimeParsersPerFlow = 8;     // per flow and VM (§5.4)

// A callback ready for dispatch: the function (registry reference), the
// file, and the registration's index (stopped marks are kept by it).
struct ArkimeCallback {
  int fn = -2;
  int script = -1;
  int reg = -1;
};

// Per VM, held by the VM itself (a userdata in its registry), made when the
// sandbox installs ArkimeSession. ScriptHost::arkime points to it.
struct ArkimeVm {
  // Registrations in call order, with the function each names (a registry
  // reference, resolved once the set has loaded) and where it was made.
  std::vector<ArkimeRegSpec> regs;
  std::vector<int> fn_refs;
  std::vector<std::string> where;  // "flow/x.lua:12: "
  // Dispatch lists, active files only, in registration order.
  std::vector<ArkimeCallback> classifiers;          // same order as Generation::arkime_classifiers
  std::array<std::vector<ArkimeCallback>, 9> http;  // by HttpEvent value (1..8)
  std::array<std::vector<ArkimeCallback>, 2> body;  // by BodyFeed
  std::vector<ArkimeCallback> pre_save, save;

  // The worker's per-flow arrays (null in the check VM: no flow ever).
  FlowScripts* flows = nullptr;
  ArkimeFlow* aflows = nullptr;
  uint32_t capacity = 0;
  uint64_t next_serial = 1;
  // decr_outstanding() brought a held flow (ArkimeFlow::kHeld) to zero:
  // the worker finishes such flows at its next poll (take_released()).
  uint32_t released = 0;
  ArkimeHook hook = ArkimeHook::kClassify;
  bool in_callback = false;  // an Arkime callback is running (hook says which)
  ArkimeDataVm* data = nullptr;
  ArkimeFields::Name* spare = nullptr;  // ArkimeFields::intern's pool entry

  // Registry references.
  int ref_flows = -2;      // [flow idx] = { session, parsers, stopped, states }
  int ref_protocols = -2;  // [flow idx] = { [i] = name, [name] = true }
  int ref_ids = -2;        // field expression -> id, built-ins and user fields seen
  int session_mt = -2;
  int ref_dispatch = -2;  // the C function one event runs in (protected)
};

// Slots of a flow's table (array part: no string keys to intern).
inline constexpr int kFlowSession = 1;  // the session object
inline constexpr int kFlowParsers = 2;  // { fn, script, fn, script, ... }
inline constexpr int kFlowStopped = 3;  // { [reg + 1] = true }
inline constexpr int kFlowStates = 4;   // { [script + 1] = state table } for files without a slot

// -- Field expressions (§5.5).

enum class FieldType : uint8_t { kStringSet, kIntSet, kIp, kInt, kString };
struct BuiltinField {
  int id;
  const char* expr;
  FieldType type;
  bool writable;
};
inline constexpr BuiltinField kBuiltinFields[] = {
    {1, "protocols", FieldType::kStringSet, true},
    {2, "tags", FieldType::kStringSet, true},
    {3, "http.uri", FieldType::kStringSet, true},
    {4, "http.method", FieldType::kStringSet, true},
    {5, "http.statuscode", FieldType::kIntSet, true},
    {6, "http.user-agent", FieldType::kStringSet, true},
    {7, "host.http", FieldType::kStringSet, true},
    {8, "dns.host", FieldType::kStringSet, true},
    {9, "tls.sni", FieldType::kStringSet, true},
    {10, "tls.ja3", FieldType::kStringSet, true},
    {11, "tls.ja3s", FieldType::kStringSet, true},
    {12, "ip.src", FieldType::kIp, false},
    {13, "ip.dst", FieldType::kIp, false},
    {14, "port.src", FieldType::kInt, false},
    {15, "port.dst", FieldType::kInt, false},
    {16, "ip.protocol", FieldType::kInt, false},
    {17, "packets.src", FieldType::kInt, false},
    {18, "packets.dst", FieldType::kInt, false},
    {19, "bytes.src", FieldType::kInt, false},
    {20, "bytes.dst", FieldType::kInt, false},
    {21, "databytes.src", FieldType::kInt, false},
    {22, "databytes.dst", FieldType::kInt, false},
    {23, "tcpflags.syn", FieldType::kInt, false},
    {24, "tcpflags.syn-ack", FieldType::kInt, false},
    {25, "tcpflags.ack", FieldType::kInt, false},
    {26, "tcpflags.psh", FieldType::kInt, false},
    {27, "tcpflags.rst", FieldType::kInt, false},
    {28, "tcpflags.fin", FieldType::kInt, false},
    {29, "tcpflags.urg", FieldType::kInt, false},
    {30, "community_id", FieldType::kString, false},
    {31, "l7.proto", FieldType::kString, false},
};
inline constexpr int kBuiltinFieldCount = static_cast<int>(std::size(kBuiltinFields));
// The built-in field of `id`, or null.
inline const BuiltinField* builtin_field(int id) {
  return id >= 1 && id <= kBuiltinFieldCount ? &kBuiltinFields[id - 1] : nullptr;
}
// ^[A-Za-z][A-Za-z0-9_.-]{0,63}$ (built-in names are told apart before).
bool valid_user_field_name(std::string_view name);

// -- Protocols (§5.4 #10, §5.5).

// The names the engine puts first in a record's "protocols": the lower-case
// L4 name, then the lower-case nDPI master and application names once
// detection ended (neither "unknown" nor a repeat). Never allocates.
struct ProtocolName {
  char text[32];
  uint8_t len;
  std::string_view view() const { return {text, len}; }
};
size_t engine_protocols(const FlowView& v, ProtocolName (&out)[3]);

// -- Between the dispatch (arkime_session.cc) and the bindings (bind_arkime.cc).

// The id of the field expression at stack index `n` (a string or an id),
// or -1 for an unknown one; a valid, unused user-field name is made when
// `create` (a full table raises the limit error naming `fn`).
int field_id(lua_State* L, ScriptHost* h, int n, bool create, const char* fn);
// Arkime.expression_to_fieldId (§5.6).
int arkime_expression_to_field_id(lua_State* L);
// The six registration functions of ArkimeSession into the table at -1.
void add_arkime_registration(lua_State* L, ScriptHost* h);
// Pushes the session object of flow `idx` (made once per flow, kept in its
// table). May allocate: inside a protected call only.
void push_session(lua_State* L, ScriptHost* h, uint32_t idx);
// Pushes the flow's table, made when `create` (then returns true); pushes
// nothing and returns false when absent and not made.
bool push_arkime_flow_table(lua_State* L, ScriptHost* h, uint32_t idx, bool create);

}  // namespace loupe
