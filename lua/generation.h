// One compiled script set, immutable once built (contract §3.1 steps 1–5
// for flow scripts): the files in memory, every flow script's format, hooks
// and gates, and the dispatch tables derived from them. Built on the control
// side; shared read-only by every worker's WorkerScripts (lua/worker_scripts.h),
// each of which builds its own VM from it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/net_types.h"
#include "lua/flow_view.h"
#include "lua/lua_config.h"
#include "lua/script_set.h"

namespace loupe {

class NdpiModule;

enum class Hook : uint8_t {
  kFlowBegin,
  kProtocolDetected,
  kStatusChanged,
  kPeriodicUpdate,
  kFlowEnd
};
inline constexpr int kHookCount = 5;
inline constexpr const char* kHookNames[kHookCount] = {
    "flowBegin", "protocolDetected", "statusChanged", "periodicUpdate", "flowEnd"};

// Arkime callback kinds (contract §1.4), counted apart from the flow hooks
// above: they have no bit in flow masks. Also the `hook` label of calls.
enum class ArkimeHook : uint8_t { kClassify, kParser, kBody, kHttp, kPreSave, kSave };
inline constexpr int kArkimeHookCount = 6;
inline constexpr const char* kArkimeHookNames[kArkimeHookCount] = {"classify", "parser",   "body",
                                                                   "http",     "pre_save", "save"};

enum class ScriptFormat : uint8_t {
  kModule,     // (a) returns { hooks = ..., gates ... }
  kCallbacks,  // (b) the 2017 `callbacks` table
  kCustom,     // (d) ntopng 6 fixed-name file: the chunk is the hook
  kNone,       // defines nothing (a lib-like file, or only Arkime registrations)
};

// Error kinds of contract §7.2; also the `kind` label of error counters.
enum class ErrorKind : uint8_t { kRuntime, kApi, kSandbox, kMemory, kHardStop, kLimit, kNone };
inline constexpr int kErrorKinds = 6;
inline constexpr const char* kErrorKindNames[kErrorKinds] = {"runtime", "api",       "sandbox",
                                                             "memory",  "hard_stop", "limit"};

inline constexpr int kMaxFlowScripts = 64;  // one bit each in a flow's mask
inline constexpr uint32_t kDefaultPeriodicSeconds = 120;

// What loading one flow/ file produced. Every worker VM must produce the
// same (compared field by field, §3.1 step 5).
struct FlowScriptSpec {
  std::string key;   // "flow/dns_tunnel"
  std::string path;  // "flow/dns_tunnel.lua"
  ScriptFormat format = ScriptFormat::kNone;
  uint8_t hooks = 0;  // bit per Hook
  bool active = false;
  // Gates; empty lists pass everything.
  std::vector<uint8_t> l4;
  std::vector<uint16_t> l7;
  bool local_only = false;
  bool handshake = false;
  uint32_t periodic_seconds = kDefaultPeriodicSeconds;
  int slot = -1;  // bit in flow masks: active with hooks; else -1

  bool same_registrations(const FlowScriptSpec& o) const {
    return key == o.key && format == o.format && hooks == o.hooks && active == o.active &&
           l4 == o.l4 && l7 == o.l7 && local_only == o.local_only && handshake == o.handshake &&
           periodic_seconds == o.periodic_seconds;
  }
};

// The gates of every slot compiled to bit sets (§3.3): a flow's mask is a
// few table reads and ANDs.
struct GateTables {
  std::array<uint64_t, 256> l4{};  // per IP protocol: slots whose L4 gate passes
  std::vector<uint64_t> l7;        // per nDPI id: slots whose L7 gate passes
  uint64_t no_l7 = 0;              // slots without an L7 gate (pass before detection)
  uint64_t local_only = 0;
  uint64_t handshake = 0;
  std::array<uint64_t, kHookCount> hooks{};
  uint64_t all = 0;
  std::array<uint32_t, kMaxFlowScripts> periodic{};  // seconds, per slot

  uint64_t l7_pass(uint16_t id) const { return id < l7.size() ? l7[id] : no_l7; }
};

// Suspensions decided on the control side (lua/supervisor.h), read by the
// workers at burst boundaries. The only mutable part of a generation.
struct ScriptHealth {
  std::atomic<uint64_t> suspended{0};  // slot bits
};

// -- Arkime session scripts (contract §5.2, §3.1 step 5).

enum class ArkimeRegKind : uint8_t {
  kTcpClassifier,
  kUdpClassifier,
  kBodyFeed,  // arg: BodyFeed (engine/stream/body_feed.h)
  kHttpOn,    // arg: HttpEvent value 1..8 (engine/stream/http_session.h)
  kPreSave,
  kSave,
};

// One registration call, as it happened while the set loaded. Every worker
// VM must make the same sequence (compared with ==).
struct ArkimeRegSpec {
  ArkimeRegKind kind = ArkimeRegKind::kSave;
  uint8_t arg = 0;
  uint16_t offset = 0;  // classifiers
  int script = -1;      // the registering file, index in Generation::scripts
  bool active = false;  // the file is enabled and its setup() did not fail
  std::string name;     // classifier name
  std::string match;    // classifier bytes
  std::string fn;       // the callback's global name; "" for a function value
  bool operator==(const ArkimeRegSpec&) const = default;
};

// What the classifier engine compiles for one Lua classifier: its index in
// Generation::arkime_classifiers is the `classifier` argument of
// WorkerScripts::on_arkime_classify.
struct ArkimeClassifierReg {
  std::string name;
  uint8_t proto = 6;  // 6 TCP, 17 UDP
  uint16_t offset = 0;
  std::string match;
  int script = -1;
};

// User fields (contract §5.5): names with ids 1000 + slot, in creation
// order, at most 256 per generation, the same in every VM of the
// generation. Fields made while loading come out the same in every VM
// because every VM runs the same code; fields made at run time by one
// worker must get the same id in the others, so the table is shared and
// filled without locks: a creator writes the name into a pool entry of its
// own, then publishes it with one compare-and-swap of the first empty slot
// pointer (release). A creator that loses the race reads the winner's name
// (acquire): the same name means the field exists, another name means it
// tries the next slot, with the same pool entry. Slots never change once
// set, so readers need no more than an acquire load per slot. Each field's
// type is fixed by the first value added, with a CAS from "untyped".
class ArkimeFields {
 public:
  static constexpr int kMax = 256;
  static constexpr int kFirstId = 1000;
  static constexpr size_t kNameMax = 64;
  enum Type : uint8_t { kUntyped, kString, kInt };
  struct Name {
    uint8_t len = 0;
    char text[kNameMax] = {};
    std::string_view view() const { return {text, len}; }
  };

  // Slot of `name`, or -1.
  int find(std::string_view name) const;
  // Slot of `name`, made if absent; -1 when all 256 are taken. `spare` is
  // the caller's (one per VM) unused pool entry, kept across calls.
  int intern(std::string_view name, Name** spare);
  // Name of a published slot ("" for an empty one).
  std::string_view name(int slot) const;
  Type type(int slot) const {
    return static_cast<Type>(types_[slot].load(std::memory_order_acquire));
  }
  // Types an untyped field; returns the field's type afterwards.
  Type settle_type(int slot, Type want);
  int size() const;  // published slots

 private:
  std::array<std::atomic<const Name*>, kMax> slots_{};
  std::array<std::atomic<uint8_t>, kMax> types_{};
  std::array<Name, 2 * kMax> pool_{};
  std::atomic<uint32_t> pool_next_{0};
};

struct GenerationInputs {
  LuaConfig config;
  std::vector<Cidr> local_networks;
  const NdpiModule* ndpi = nullptr;  // protocol names for l7_proto gates; outlives the generation
  bool offline = false;
  uint32_t number = 1;
  std::string scripts_dir;  // "" reads lua_scripts_dir(config)
  uint16_t community_id_seed = 0;
  LogSink* log = nullptr;  // lines printed while loading; null: stderr
  // What else the set depends on, as the caller reads it: the contents of
  // blocklist.file and nDPI's list files, the classifiers configuration.
  // It only enters the set's hash (§3.1 step 1).
  std::string hash_extra;
  std::string quarantine_file;  // lua-quarantine under paths.workdir; "" reads none
};

class Generation {
 public:
  uint32_t number = 0;
  std::string hash;
  ScriptSet set;
  LuaConfig config;
  LocalNetworks local;
  bool offline = false;
  bool enforce = false;  // overruns make strikes (lua.budget.enforce resolved)
  uint16_t community_id_seed = 0;
  const NdpiModule* ndpi = nullptr;
  LogSink* log = nullptr;
  std::vector<FlowScriptSpec> scripts;  // every flow/ file, load order
  std::array<int16_t, kMaxFlowScripts> slot_script{};
  int slots = 0;
  GateTables gates;
  std::unordered_map<std::string, uint16_t> l7_ids;  // lower-case nDPI name -> id
  std::shared_ptr<ScriptHealth> health = std::make_shared<ScriptHealth>();

  // Arkime registrations of the check VM; every worker VM made the same.
  std::vector<ArkimeRegSpec> arkime_regs;
  // What the engine reads, from the active files' registrations only:
  std::vector<ArkimeClassifierReg> arkime_classifiers;  // registration order
  uint8_t http_events = 0;  // bit (event - 1) per HttpEvent with an http_on callback
  bool body_http = false;   // a "http" body feed
  bool body_smtp = false;   // a "smtp" body feed
  bool pre_save = false;    // a pre-save callback
  bool save = false;        // a save callback
  // User fields, shared by the generation's VMs (the other mutable part).
  std::shared_ptr<ArkimeFields> arkime_fields = std::make_shared<ArkimeFields>();

  int script_of_slot(int slot) const { return slot_script[slot]; }
};

struct GenerationResult {
  std::shared_ptr<const Generation> generation;  // null when the set was rejected
  std::vector<std::string> errors;               // "<key>.lua:<line>: <message>"
  std::vector<std::string> warnings;
  std::vector<std::string> info;
};

// Reads lua.scripts_dir and builds the set (steps 1–5). Never throws for a
// bad set: the errors say why it was rejected, every one of them.
GenerationResult build_generation(const GenerationInputs& in);
// The same from files in memory (tests, benchmarks).
GenerationResult build_generation(const GenerationInputs& in, ScriptSet set);

// The hash a build of `in` would have, from reading the files only: equal to
// the active generation's, a SIGHUP is a no-op ("set unchanged"). "" when the
// directory cannot be read (errors appended).
std::string script_set_hash(const GenerationInputs& in, std::vector<std::string>& errors);

// "generation G active: flow N files; W warnings" (contract §7.1).
std::string generation_summary(const GenerationResult& r);

}  // namespace loupe
