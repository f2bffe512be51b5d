// lua/script_host.h: the context block's construction and teardown.
#include "lua/script_host.h"

#include <lua.hpp>
#include <stdexcept>

namespace loupe {

ScriptRefs::ScriptRefs() : conf(LUA_NOREF), env(LUA_NOREF), teardown(LUA_NOREF), setup(LUA_NOREF) {
  hooks.fill(LUA_NOREF);
}

namespace {
int install_protected(lua_State* L) {
  install_sandbox(*static_cast<ScriptHost*>(lua_touserdata(L, 1)));
  return 0;
}
}  // namespace

ScriptHost::ScriptHost(std::string vm_name, const Generation& g, LogSink* sink,
                       ControlCall* control_call)
    : vm(vm_name, g.config.memory_limit),
      log(vm_name, g.config.log.lines_per_minute, sink != nullptr ? sink : &stderr_log_sink()),
      gen(g),
      control(control_call) {
  scratch.reserve(16 * 1024 + 64);
  if (lua_cpcall(vm.L(), install_protected, this) != 0) {
    const char* msg = lua_tostring(vm.L(), -1);
    throw std::runtime_error(std::string("lua: cannot build the sandbox of ") + vm_name + ": " +
                             (msg ? msg : "error"));
  }
}

ScriptHost::~ScriptHost() = default;

}  // namespace loupe
