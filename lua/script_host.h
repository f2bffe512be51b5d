// Private to lua/: the context block of one VM. Every C function the
// sandbox binds carries a pointer to it as upvalue 1, so a binding finds
// the flow of the current call with one upvalue read (contract §8.2: no
// global, no userdata made per call). Owned by a WorkerScripts (or by the
// generation builder's check VM); one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/counter.h"
#include "lua/flow_view.h"
#include "lua/generation.h"
#include "lua/script_log.h"
#include "lua/vm.h"

struct lua_State;

namespace loupe {

struct CacheAccess;

struct ControlCall;
struct ArkimeVm;

// Registry references a VM keeps per script file.
struct ScriptRefs {
  std::array<int, kHookCount> hooks;
  int conf;      // script_config table
  int env;       // the script's environment
  int teardown;  // module teardown(), or none
  int setup;
  ScriptRefs();
};

class ScriptHost {
 public:
  // `control` is set for the control VM: its host, network and interface
  // namespaces are served (lua/control_scripts.h).
  ScriptHost(std::string vm_name, const Generation& gen, LogSink* log,
             ControlCall* control = nullptr);
  ~ScriptHost();
  ScriptHost(const ScriptHost&) = delete;
  ScriptHost& operator=(const ScriptHost&) = delete;

  lua_State* L() const { return vm.L(); }

  Vm vm;
  ScriptLog log;
  const Generation& gen;

  // The call in progress. `view` is null outside flow hooks (load, unload):
  // flow.* then returns its "outside" values.
  const FlowView* view = nullptr;
  FlowScripts* entry = nullptr;
  uint32_t flow_idx = 0;
  uint64_t now_ns = 0;
  int script = -1;       // running script, or the file being loaded
  bool loading = false;  // the load context: loupe.read_* allowed
  // Kind of the error engine code is raising (api, sandbox, limit); cleared
  // when a script catches an error.
  ErrorKind pending = ErrorKind::kNone;

  AlertSink* alerts = nullptr;
  uint16_t worker = 0;
  // The ntop.* cache store as this VM reaches it (lua/cache_store.h); set
  // by the owner of the store. Null: reads miss and writes return false.
  CacheAccess* cache = nullptr;
  ControlCall* control = nullptr;  // the control VM's call state; null in worker VMs
  // Arkime registrations and sessions (lua/arkime_session.h); worker and
  // check VMs only.
  ArkimeVm* arkime = nullptr;

  // Registry references made by install_sandbox().
  int ref_empty = -2;            // the shared read-only empty table
  int ref_base = -2;             // base functions copied into every environment
  int ref_libs = -2;             // library templates: string, table, ...
  int ref_ns = -2;               // namespace templates: flow, ntop, loupe, ...
  int ref_modules = -2;          // lib/ modules loaded in this VM, by name
  int ref_json = -2;             // the json module table
  int ref_states = -2;           // [script + 1] = { [flow index] = state table }
  int ref_tags = -2;             // [flow index] = { [i] = tag, [tag] = true }
  int ref_fields = -2;           // [flow index] = { [name] = { values } }
  int ref_names = -2;            // [master << 16 | app] = nDPI joined name, made once
  std::vector<ScriptRefs> refs;  // per script index

  // Counters the bindings bump (read by the control side).
  Counter alerts_sent;
  Counter alerts_dropped;  // the alert ring was full, or no sink
  Counter tags_dropped;
  Counter fields_dropped;

  std::string scratch;  // JSON encoding of alert details; capacity kept
};

// The host of a bound C function (upvalue 1).
ScriptHost* host_of(lua_State* L);

// Raises a Lua error of `kind` with the calling line's position:
// "<file>:<line>: <message>". Never returns.
[[noreturn]] void raise_error(lua_State* L, ErrorKind kind, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
// "<file>:<line>: <fn>: bad argument #<n> '<param>' (<expected> expected, got <actual>)".
[[noreturn]] void bad_argument(lua_State* L, const char* fn, int n, const char* param,
                               const char* expected);

// Argument readers of contract §1.5: strings accept numbers, numbers accept
// numeric strings, nothing else converts.
std::string_view arg_string(lua_State* L, int idx, const char* fn, const char* param);
double arg_number(lua_State* L, int idx, const char* fn, const char* param);

// Sets t[name] = C closure of fn with the host as upvalue 1 (t at -1).
void set_fn(lua_State* L, ScriptHost* h, const char* name, int (*fn)(lua_State*));

// The sandbox (lua/sandbox.cc): base environment, stubs, locked tables.
void install_sandbox(ScriptHost& h);
// Pushes a fresh environment for script `script` (index, or -1 for a lib
// module): base functions and the script's own copies of the libraries and
// namespaces. `flow_file` adds the predefined empty `callbacks` table.
void push_env(ScriptHost& h, int script, bool flow_file);
// Compiles `source` in text mode as `path` (chunk name "@path") in the
// environment at `env_idx`, with the namespace names bound as upvalues
// (§6.2), and pushes the resulting function. On a syntax error pushes
// nothing and returns false with `*err` = "path:line: message".
bool compile_script(ScriptHost& h, int env_idx, std::string_view source, const std::string& path,
                    std::string* err);
// True when the error value at the top of the stack (caught by a pcall
// with `status`) must go on unwinding: a hard stop or a memory error.
bool must_pass(lua_State* L, ScriptHost* h, int status);

// Bindings, one file per API area; each adds its functions to the table at
// the top of the stack.
void add_base(lua_State* L, ScriptHost* h);          // bind_base.cc: base functions (to ref_base)
void add_libraries(lua_State* L, ScriptHost* h);     // bind_lib.cc: string/table/math/os/io extras
void add_arkime_data(lua_State* L, ScriptHost* h);   // bind_arkime_data.cc: ArkimeData (§5.7)
void add_patterns(lua_State* L, ScriptHost* h);      // bind_pattern.cc: find/match/gmatch/gsub
void add_require(lua_State* L, ScriptHost* h);       // bind_require.cc: require, dofile, loadfile
void add_flow(lua_State* L, ScriptHost* h);          // bind_flow.cc: scalar accessors
void add_flow_tables(lua_State* L, ScriptHost* h);   // bind_flow_tables.cc
void add_flow_actions(lua_State* L, ScriptHost* h);  // bind_flow_actions.cc
void add_ntop(lua_State* L, ScriptHost* h);          // bind_ntop.cc: the ntop subset
// fields[idx][name] gets the value at stack index `v` (a string, or an
// integral number): flow.addField and session:add_string/add_int. False
// when present already or over the per-field limit (counted); a value of
// the other type than the field's raises an error of kind api naming `fn`.
bool add_field_value(lua_State* L, ScriptHost* h, uint32_t idx, FlowScripts& e,
                     std::string_view name, int v, const char* fn);
void add_cache(lua_State* L, ScriptHost* h);         // bind_cache.cc: the ntop cache family
void add_loupe(lua_State* L, ScriptHost* h);         // bind_ntop.cc: loupe.*
// The control VM only (h->control set):
void add_host(lua_State* L, ScriptHost* h);       // bind_host.cc: host.*
void add_network(lua_State* L, ScriptHost* h);    // bind_network.cc: network.*
void add_interface(lua_State* L, ScriptHost* h);  // bind_interface.cc: interface.*
void add_ntop_control(lua_State* L, ScriptHost* h);  // bind_interface.cc: control-only ntop.*
// Worker VMs only: Arkime, ArkimeSession and their old names (§5.1) into
// the library templates at -1; makes h->arkime.
void add_arkime(lua_State* L, ScriptHost* h);  // bind_arkime.cc
// Once the whole set has loaded (§3.1 step 5): resolves every Arkime
// callback name in its file's environment (errors appended, "<path>:<line>:
// <message>"), marks each registration active as its file is (`active`,
// per script), and builds the VM's dispatch lists. Protected call only.
void resolve_arkime(ScriptHost& h, const std::vector<char>& active,
                    std::vector<std::string>& errors);
// The registrations the VM made (empty without ArkimeSession).
std::vector<ArkimeRegSpec> arkime_registrations(const ScriptHost& h);
// Pushes the state table of (`script`, flow `idx`) that session:table()
// returns, made on first use: the flow.getScriptState() table for a file
// with a slot, else one kept with the flow's Arkime state. False (nothing
// pushed) outside a flow. Protected call only.
bool push_session_table(lua_State* L, ScriptHost* h, uint32_t idx, int script);
void push_json_module(lua_State* L, ScriptHost* h);  // bind_json.cc
// Encodes the value at `idx` as JSON into `out` (string keys or sequences,
// depth <= max_depth, at most max_bytes). False with `*why` otherwise.
bool json_encode(lua_State* L, ScriptHost* h, int idx, std::string& out, size_t max_bytes,
                 int max_depth, bool strict_keys, std::string* why);
// Whether `text` is one well-formed JSON value (decoded on L, then dropped).
bool json_valid(lua_State* L, std::string_view text);

}  // namespace loupe
