// Private to lua/: loading the flow/ files of a set into one VM (contract
// §2.2–§2.5, §2.10, §3.1 step 3): run each file in its environment, read
// its format, hooks and gates, build its script_config table, call setup().
// The generation builder runs it on a check VM; build_worker runs it again
// on each worker's VM and compares what it found.
#pragma once

#include <string>
#include <vector>

#include "lua/generation.h"

namespace loupe {

class ScriptHost;

struct LoadReport {
  std::vector<FlowScriptSpec> specs;  // one per flow/ file, load order
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> info;
};

// Loads every flow/ file of h.gen.set into h's VM, filling h.refs. Never
// throws for script problems: they land in `out`.
void load_flow_scripts(ScriptHost& h, LoadReport& out);

// Gives each active script with hooks a bit, in load order; the 65th is an
// error of kind limit.
void assign_slots(std::vector<FlowScriptSpec>& specs, std::vector<std::string>& errors);

// script_config of one script (§2.10): the module's default_value (module
// table at stack index `mod`, 0 for none) deep-copied, with the configured
// "name=value" pairs merged over it. Returns the table's registry reference.
int build_script_config(ScriptHost& h, int mod, const LuaScriptConfig* cfg,
                        std::vector<std::string>& warnings);
const LuaScriptConfig* script_config_of(const Generation& g, const std::string& key);

// Calls teardown() of every module that has one (unload context), each
// under lua.budget.load_ms.
void run_teardowns(ScriptHost& h);

}  // namespace loupe
