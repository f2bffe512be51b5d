// Private to lua/: what the control VM's bindings (bind_host.cc,
// bind_network.cc, bind_interface.cc) share: the call state, alert tables
// (§4.7.3) and queries (§4.7.4), and the shared table layouts of §4.6.
#pragma once

#include <lua.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/net_types.h"
#include "engine/control/alert_store.h"
#include "lua/control_scripts.h"
#include "lua/script_host.h"

namespace loupe {

struct Host;

inline ControlCall* control_of(ScriptHost* h) { return h->control; }
// network.checkContext's argument: like parse_cidr (config/net_types.h),
// but normalised ("10.1.2.3/8" -> 10.0.0.0/8) where parse_cidr refuses host
// bits, and a bare address is a host prefix. nullopt when malformed.
std::optional<Cidr> parse_network(std::string_view text);

// The running control script's key ("" when none).
std::string running_script_key(ScriptHost* h);
// Now, as the control clock says it: the period being run (params.when), in ns.
uint64_t control_time_ns(ScriptHost* h);

// Optional `details` at `idx` (table or JSON text, as flow.triggerAlert);
// "" when absent.
std::string read_details(lua_State* L, ScriptHost* h, int idx, const char* fn);
// The alert table of storeTriggeredAlert / releaseTriggeredAlert at `idx`.
// `store`: msg is required. Entity fields are the caller's to set.
EntityAlert read_alert_table(lua_State* L, ScriptHost* h, int idx, const char* fn, bool store);
// getAlerts' params at `idx` (absent: defaults); errors of kind api.
AlertQuery read_alert_query(lua_State* L, int idx, const char* fn);
// Pushes the array of alert tables and the total; returns 2.
int push_alerts(lua_State* L, ScriptHost* h, const AlertQuery& q);

// host.score(): engaged host alerts' scores plus the last completed
// minute's flow alert scores, capped at 65535; and the engaged host alerts.
uint32_t host_score(ScriptHost* h, const Host& host);
uint32_t host_engaged_alerts(ScriptHost* h, const Host& host);

// §4.6.1, §4.6.4, §4.6.3.
void push_host_info(lua_State* L, ScriptHost* h, const Host& host);
void push_network_stats(lua_State* L, ScriptHost* h, int network_id);
void push_interface_stats(lua_State* L, ScriptHost* h);
// host.l7() / the host info's ndpi table: { [name] = nDPI stats entry }.
void push_host_l7(lua_State* L, ScriptHost* h, const Host& host, bool with_ntopng_names);

// Sets t[k] = v on the table at -1.
inline void set_int(lua_State* L, const char* k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}
inline void set_bool(lua_State* L, const char* k, bool v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}
inline void set_str(lua_State* L, const char* k, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, k);
}

}  // namespace loupe
