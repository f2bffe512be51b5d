// What the owner of a VM calls to let its scripts use ArkimeHttpService
// (contract §5.8, §3.7; the binding is lua/bind_http_service.cc, the client
// lua/http_client.h). A VM may create services at any time, but may only
// request while a port is attached to it, and only on the thread that
// attached it: a VM that loads (control side), or that was handed back for
// its teardown, is refused.
#pragma once

#include <cstddef>
#include <cstdint>

struct lua_State;

namespace loupe {

class HttpPort;
class ScriptHost;

// Runs one reply callback: `fn` and its `nargs` arguments are on the VM's
// stack. Must pop them and run the call protected, as every call into the
// VM (budget, hard stop, error counting and its log line, hook label
// "async"), with h.script set to `script` (the script that made the
// request). null: run_async_call().
using AsyncCallFn = void (*)(void* ctx, ScriptHost& h, int script, int nargs);

// The plain way: begin_call/end_call brackets, lua_pcall, errors counted in
// async_errors() and logged through the VM's ScriptLog under the hook name
// "async".
void run_async_call(ScriptHost& h, int script, int nargs);

// Gives the VM its port, on the VM's own thread, once the VM is published
// (a worker adopting it, the control loop after building it). Replies to an
// earlier VM on the same port are dropped from then on.
void attach_http_port(ScriptHost& h, HttpPort* port);
// Before the VM's teardown: requests are refused again, pending callbacks
// never run. Also the VM's thread.
void detach_http_port(ScriptHost& h);

// Delivers up to `max` replies (workers: 64 per poll iteration; the control
// VM: between hooks), outside any call. Once the client has stopped, the
// requests it never read are answered fn(0, "", "shutdown") here. Returns
// how many callbacks ran.
size_t deliver_http_replies(ScriptHost& h, size_t max, AsyncCallFn call = nullptr,
                            void* ctx = nullptr);

// Requests of this VM whose callback has not run yet (all services).
size_t http_outstanding(ScriptHost& h);
// Errors of callbacks run by run_async_call, by ErrorKind.
uint64_t async_errors(ScriptHost& h, int kind);

// The sandbox only (lua/sandbox.cc): the VM's service state, and the
// ArkimeHttpService and MolochHttpService tables into the library
// templates at the top of the stack (each environment gets its own copy).
void add_http_service(lua_State* L, ScriptHost* h);

}  // namespace loupe
